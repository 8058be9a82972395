// This file holds the settings of the cache the replicas share on Redis
// (issue 13, loaders/shared.go): how short lifetimes are while Redis is
// down, the lease and wait of a cold read fetched once for all replicas,
// how long a write waits for the replicas to acknowledge its eviction, and
// how many evictions are remembered while Redis is away. The connection
// itself (-redis-url, -redis-op-timeout) is redis.go's.

package main

import (
	"flag"
	"fmt"
	"log/slog"
	"time"

	"github.com/ghl-graphql/gateway/loaders"
	"github.com/ghl-graphql/gateway/redisx"
)

// redisCacheConfig is the shared cache's settings.
type redisCacheConfig struct {
	degradedTTL time.Duration
	lease       time.Duration
	leaseWait   time.Duration
	ackWait     time.Duration
	maxPending  int
}

// registerRedisCacheFlags declares the shared cache's flags.
func registerRedisCacheFlags(fs *flag.FlagSet, c *redisCacheConfig) {
	fs.DurationVar(&c.degradedTTL, "redis-cache-degraded-ttl", loaders.DefaultDegradedTTL, "with -redis-url set but Redis down: the longest an answer is cached (other replicas' writes cannot reach this one then)")
	fs.DurationVar(&c.lease, "redis-cache-lease", loaders.DefaultLeaseFor, "lease of the replica fetching a cold answer for all; a replica that dies holding it frees the answer after this")
	fs.DurationVar(&c.leaseWait, "redis-cache-lease-wait", loaders.DefaultLeaseWait, "longest a replica waits for another's fetch of a cold answer before fetching itself; 0 switches cross-replica single-flight off")
	fs.DurationVar(&c.ackWait, "redis-cache-ack-wait", 0, "longest a write waits for every replica to acknowledge its cache eviction; 0: -redis-op-timeout")
	fs.IntVar(&c.maxPending, "redis-cache-max-pending", loaders.DefaultMaxPendingEvictions, "evictions remembered while Redis is down, replayed when it is back; past it every shared answer is dropped instead")
}

// validate names the first bad shared cache setting.
func (c redisCacheConfig) validate() error {
	for name, d := range map[string]time.Duration{"redis-cache-degraded-ttl": c.degradedTTL, "redis-cache-lease": c.lease} {
		if d <= 0 {
			return fmt.Errorf("%s %v: must be positive", setting(name), d)
		}
	}
	for name, d := range map[string]time.Duration{"redis-cache-lease-wait": c.leaseWait, "redis-cache-ack-wait": c.ackWait} {
		if d < 0 {
			return fmt.Errorf("%s %v: must not be negative", setting(name), d)
		}
	}
	if c.leaseWait >= c.lease {
		return fmt.Errorf("%s %v: must be shorter than %s %v (past the lease nobody fetches for the waiters)",
			setting("redis-cache-lease-wait"), c.leaseWait, setting("redis-cache-lease"), c.lease)
	}
	if c.maxPending < 1 {
		return fmt.Errorf("%s %d: must be at least 1", setting("redis-cache-max-pending"), c.maxPending)
	}
	return nil
}

// shared returns server.Config.SharedCache for conn; nil (no sharing)
// without a connection.
func (c redisCacheConfig) shared(conn *redisx.Conn, logger *slog.Logger) *loaders.SharedConfig {
	if conn == nil {
		return nil
	}
	leaseWait := c.leaseWait
	if leaseWait == 0 {
		leaseWait = -1 // off: SharedConfig's 0 is the default
	}
	return &loaders.SharedConfig{Conn: conn, DegradedTTL: c.degradedTTL, LeaseFor: c.lease, LeaseWait: leaseWait,
		AckWait: c.ackWait, MaxPendingEvictions: c.maxPending, Logger: logger}
}
