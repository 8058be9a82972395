package main

import (
	"testing"
	"time"

	"github.com/ghl-graphql/gateway/loaders"
)

// TestRedisCacheConfig: the shared cache's flags, their checks, and the
// loaders.SharedConfig they make.
func TestRedisCacheConfig(t *testing.T) {
	for name, tc := range map[string]struct {
		args    []string
		env     map[string]string
		wantErr string
		check   func(t *testing.T, c redisCacheConfig)
	}{
		"defaults": {check: func(t *testing.T, c redisCacheConfig) {
			if c.degradedTTL != loaders.DefaultDegradedTTL || c.lease != loaders.DefaultLeaseFor ||
				c.leaseWait != loaders.DefaultLeaseWait || c.ackWait != 0 || c.maxPending != loaders.DefaultMaxPendingEvictions {
				t.Errorf("defaults = %+v", c)
			}
			if c.shared(nil, nil) != nil {
				t.Error("no connection: want no shared cache")
			}
		}},
		"flags": {args: []string{"-redis-cache-degraded-ttl", "2s", "-redis-cache-lease", "3s", "-redis-cache-lease-wait", "1s",
			"-redis-cache-ack-wait", "100ms", "-redis-cache-max-pending", "7"},
			check: func(t *testing.T, c redisCacheConfig) {
				if c.degradedTTL != 2*time.Second || c.lease != 3*time.Second || c.leaseWait != time.Second ||
					c.ackWait != 100*time.Millisecond || c.maxPending != 7 {
					t.Errorf("parsed = %+v", c)
				}
			}},
		"env": {env: map[string]string{"GATEWAY_REDIS_CACHE_DEGRADED_TTL": "1s"}, check: func(t *testing.T, c redisCacheConfig) {
			if c.degradedTTL != time.Second {
				t.Errorf("degraded TTL = %v", c.degradedTTL)
			}
		}},
		"zero degraded ttl":    {args: []string{"-redis-cache-degraded-ttl", "0s"}, wantErr: "-redis-cache-degraded-ttl"},
		"zero lease":           {args: []string{"-redis-cache-lease", "0s"}, wantErr: "-redis-cache-lease"},
		"negative wait":        {args: []string{"-redis-cache-lease-wait", "-1s"}, wantErr: "-redis-cache-lease-wait"},
		"wait past the lease":  {args: []string{"-redis-cache-lease", "1s", "-redis-cache-lease-wait", "2s"}, wantErr: "-redis-cache-lease-wait"},
		"negative ack wait":    {args: []string{"-redis-cache-ack-wait", "-1ms"}, wantErr: "-redis-cache-ack-wait"},
		"no pending evictions": {args: []string{"-redis-cache-max-pending", "0"}, wantErr: "-redis-cache-max-pending"},
	} {
		t.Run(name, func(t *testing.T) {
			c, ok := parseConfigCase(t, tc.args, tc.env, tc.wantErr)
			if ok {
				tc.check(t, c.redisCache)
			}
		})
	}
}
