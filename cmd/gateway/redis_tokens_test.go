// Tests of the settings of the token store on Redis (issue 13).

package main

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ghl-graphql/gateway/oauth"
	"github.com/ghl-graphql/gateway/redisx/redistest"
)

func TestRedisTokenSettings(t *testing.T) {
	for _, tc := range []struct {
		name    string
		args    []string
		env     map[string]string
		want    redisTokenConfig
		wantErr string
	}{
		{name: "defaults", want: redisTokenConfig{lease: oauth.DefaultLockLease, localTTL: oauth.DefaultLocalTTL, readCache: oauth.DefaultReadCache}},
		{name: "from the environment",
			env:  map[string]string{"GATEWAY_REDIS_ACCEPT_NO_PERSISTENCE": "true", "GATEWAY_REDIS_TOKEN_LOCK_LEASE": "30s", "GATEWAY_REDIS_TOKEN_LOCAL_TTL": "0", "GATEWAY_REDIS_TOKEN_READ_CACHE": "0"},
			want: redisTokenConfig{acceptNoPersistence: true, lease: 30 * time.Second}},
		{name: "flags", args: []string{"-redis-accept-no-persistence", "-redis-token-lock-lease", "1s", "-redis-token-local-ttl", "1m", "-redis-token-read-cache", "250ms"},
			want: redisTokenConfig{acceptNoPersistence: true, lease: time.Second, localTTL: time.Minute, readCache: 250 * time.Millisecond}},
		{name: "lease too short", args: []string{"-redis-token-lock-lease", "100ms"}, wantErr: "-redis-token-lock-lease"},
		{name: "negative read cache", args: []string{"-redis-token-read-cache", "-1ms"}, wantErr: "-redis-token-read-cache"},
		{name: "negative local TTL", env: map[string]string{"GATEWAY_REDIS_TOKEN_LOCAL_TTL": "-1s"}, wantErr: "GATEWAY_REDIS_TOKEN_LOCAL_TTL"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, ok := parseConfigCase(t, tc.args, tc.env, tc.wantErr)
			if !ok {
				return
			}
			if c.redisTokens != tc.want {
				t.Errorf("settings %+v, want %+v", c.redisTokens, tc.want)
			}
		})
	}
}

// TestRedisTokenStore builds managed mode's token store on the tests'
// shared Redis, which persists nothing: refused, naming the flag that
// accepts it; accepted with the flag. Without a connection, the file.
func TestRedisTokenStore(t *testing.T) {
	ctx := context.Background()
	cfg := &config{oauthStoreKey: strings.Repeat("ab", 32), oauthStore: filepath.Join(t.TempDir(), "tokens.enc"),
		redisTokens: redisTokenConfig{lease: oauth.DefaultLockLease, localTTL: oauth.DefaultLocalTTL, readCache: oauth.DefaultReadCache}}
	if s, err := cfg.tokenStore(ctx, nil, nil); err != nil {
		t.Fatal(err)
	} else if _, ok := s.(*oauth.FileStore); !ok {
		t.Errorf("without Redis: a %T, want the file store", s)
	}

	conn := redistest.SharedConns(t, 1)[0] // the rest needs a Redis
	p, err := oauth.CheckRedisPersistence(ctx, conn.Client())
	if err != nil {
		t.Fatal(err)
	}
	if !p.AOF && !p.RDB {
		_, err := cfg.tokenStore(ctx, conn, nil)
		if !errors.Is(err, oauth.ErrNoPersistence) || !strings.Contains(err.Error(), "-redis-accept-no-persistence") {
			t.Errorf("on a Redis that persists nothing: %v, want a refusal naming -redis-accept-no-persistence", err)
		}
	}
	cfg.redisTokens.acceptNoPersistence = true
	s, err := cfg.tokenStore(ctx, conn, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := s.(*oauth.RedisStore); !ok {
		t.Errorf("with Redis: a %T, want the Redis store", s)
	}
	if locs, err := s.Locations(ctx); err != nil || len(locs) != 0 {
		t.Errorf("a new prefix lists %v, %v", locs, err)
	}
}
