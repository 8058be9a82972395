package main

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/ghl-graphql/gateway/redisx"
	"github.com/ghl-graphql/gateway/redisx/redistest"
	"github.com/ghl-graphql/gateway/upstream"
)

// TestRedisConfig: the flags, their defaults and their checks; a bad URL
// is a start-up error, and none of it needs a Redis.
func TestRedisConfig(t *testing.T) {
	for name, tc := range map[string]struct {
		args    []string
		env     map[string]string
		wantErr string
		want    redisConfig
	}{
		"defaults": {want: redisConfig{prefix: redisx.DefaultPrefix, opTimeout: redisx.DefaultOpTimeout, replicas: 1}},
		"flags": {args: []string{"-redis-url", "redis://cache:6379/1", "-redis-prefix", "gw1:", "-redis-op-timeout", "100ms", "-replicas", "3"},
			want: redisConfig{url: "redis://cache:6379/1", prefix: "gw1:", opTimeout: 100 * time.Millisecond, replicas: 3}},
		"environment": {env: map[string]string{"GATEWAY_REDIS_URL": "redis://n1:7000?mode=cluster&addr=n2:7000", "GATEWAY_REPLICAS": "2"},
			want: redisConfig{url: "redis://n1:7000?mode=cluster&addr=n2:7000", prefix: redisx.DefaultPrefix, opTimeout: redisx.DefaultOpTimeout, replicas: 2}},
		"bad scheme":         {args: []string{"-redis-url", "http://cache:6379"}, wantErr: "-redis-url"},
		"bad mode":           {args: []string{"-redis-url", "redis://cache?mode=ring"}, wantErr: "-redis-url"},
		"sentinel no master": {args: []string{"-redis-url", "redis://s:26379?mode=sentinel"}, wantErr: "-redis-url"},
		"brace in prefix":    {args: []string{"-redis-prefix", "gw{1}:"}, wantErr: "-redis-prefix"},
		"empty prefix":       {args: []string{"-redis-prefix", ""}, wantErr: "-redis-prefix"},
		"zero op timeout":    {args: []string{"-redis-op-timeout", "0s"}, wantErr: "-redis-op-timeout"},
		"zero replicas":      {args: []string{"-replicas", "0"}, wantErr: "-replicas"},
	} {
		t.Run(name, func(t *testing.T) {
			c, ok := parseConfigCase(t, tc.args, tc.env, tc.wantErr)
			if !ok {
				return
			}
			if c.redis != tc.want {
				t.Errorf("redis config %+v, want %+v", c.redis, tc.want)
			}
		})
	}
}

// TestRedisURLErrorHidesPassword: the start-up error of a bad URL does not
// print the password it may carry.
func TestRedisURLErrorHidesPassword(t *testing.T) {
	_, err := parseConfig([]string{"-redis-url", "redis://u:hunter2@cache:port"}, env(nil), devNull(t))
	if err == nil || strings.Contains(err.Error(), "hunter2") {
		t.Errorf("err = %v: want an error without the password", err)
	}
}

// TestSharedStateWithoutRedis: without -redis-url the budget is the local
// one and nothing is degraded.
func TestSharedStateWithoutRedis(t *testing.T) {
	s, err := redisConfig{prefix: redisx.DefaultPrefix, opTimeout: time.Second, replicas: 1}.openShared(context.Background(), slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer s.close()
	if _, ok := s.rateBudget(upstream.BudgetConfig{}).(*upstream.LocalBudget); !ok {
		t.Error("rate budget without Redis is not a LocalBudget")
	}
	if why := s.degradedReasons(); len(why) != 0 {
		t.Errorf("degraded without Redis: %q", why)
	}
}

// TestSharedStateDegraded: with Redis configured and down, /readyz's
// reasons name Redis and the budget; with Redis up, none.
func TestSharedStateDegraded(t *testing.T) {
	url := redistest.URL(t)
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	down, err := redisConfig{url: "redis://127.0.0.1:1/0", prefix: "x:", opTimeout: 50 * time.Millisecond, replicas: 3}.openShared(context.Background(), logger)
	if err != nil {
		t.Fatal(err)
	}
	defer down.close()
	if _, ok := down.rateBudget(upstream.BudgetConfig{}).(*upstream.RedisBudget); !ok {
		t.Error("rate budget with -redis-url is not a RedisBudget")
	}
	why := down.degradedReasons()
	if len(why) != 2 || !strings.Contains(why[0], "redis") || !strings.Contains(why[1], "1/3") {
		t.Errorf("degraded reasons %q, want Redis's and the budget's (1/3)", why)
	}

	up, err := redisConfig{url: url, prefix: redistest.Prefix(t, url), opTimeout: time.Second, replicas: 1}.openShared(context.Background(), logger)
	if err != nil {
		t.Fatal(err)
	}
	defer up.close()
	up.rateBudget(upstream.BudgetConfig{})
	if why := up.degradedReasons(); len(why) != 0 {
		t.Errorf("degraded with Redis up: %q", why)
	}
}
