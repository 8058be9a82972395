// This file holds the settings of Redis, which the gateway's replicas share
// (issue 13), and sharedState, built once in serve(): the connection, and
// the pieces that hang off it. Without -redis-url nothing here connects to
// anything, and every piece stays in process as before.

package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/ghl-graphql/gateway/redisx"
	"github.com/ghl-graphql/gateway/upstream"
)

// redisConfig is the Redis settings.
type redisConfig struct {
	url       string
	prefix    string
	opTimeout time.Duration
	replicas  int
}

// registerRedisFlags declares the Redis flags.
func registerRedisFlags(fs *flag.FlagSet, c *redisConfig) {
	fs.StringVar(&c.url, "redis-url", "", "Redis the replicas share (redis:// or rediss://; ?mode=cluster&addr=host:port... for Cluster, ?mode=sentinel&master_name=NAME for Sentinel); empty: everything stays in this process")
	fs.StringVar(&c.prefix, "redis-prefix", redisx.DefaultPrefix, "start of every Redis key and channel the gateway uses (no braces or spaces)")
	fs.DurationVar(&c.opTimeout, "redis-op-timeout", redisx.DefaultOpTimeout, "longest a request waits on one Redis command; past it the piece serves degraded")
	fs.IntVar(&c.replicas, "replicas", 1, "gateway replicas to assume, at least, share the rate budget when Redis cannot say (each keeps 1/N of it while Redis is down); the heartbeat count in Redis replaces it when higher")
}

// validate names the first bad Redis setting; a URL that can never work
// is a start-up error, a Redis that is down is not.
func (c redisConfig) validate() error {
	if c.url != "" {
		if _, err := redisx.ParseURL(c.url); err != nil {
			// The error never repeats the URL, which may hold a password.
			return fmt.Errorf("%s: %w", setting("redis-url"), err)
		}
	}
	if c.prefix == "" || strings.ContainsAny(c.prefix, "{} \t\r\n") {
		return fmt.Errorf("%s %q: must be non-empty, without braces or spaces", setting("redis-prefix"), c.prefix)
	}
	if c.opTimeout <= 0 {
		return fmt.Errorf("%s %v: must be positive", setting("redis-op-timeout"), c.opTimeout)
	}
	if c.replicas < 1 {
		return fmt.Errorf("%s %d: must be at least 1", setting("replicas"), c.replicas)
	}
	return nil
}

// sharedState is what the replicas share through Redis, built once in
// serve(). conn is nil without -redis-url: then every method returns the
// in-process piece, so callers need not ask. A shared piece (token store,
// event bus, webhook seen-set, APQ, cache) is built from conn by a method
// of its own, beside the piece it replaces, and registers with
// addDegraded what /readyz should say while Redis is down.
type sharedState struct {
	conn   *redisx.Conn
	logger *slog.Logger

	mu       sync.Mutex
	degraded []func() string
}

// openShared connects to Redis when c.url is set. A Redis that does not
// answer is no error: the gateway starts degraded and recovers when it
// comes back.
func (c redisConfig) openShared(ctx context.Context, logger *slog.Logger) (*sharedState, error) {
	s := &sharedState{logger: logger}
	if c.url == "" {
		return s, nil
	}
	redisx.RouteClientLog(logger)
	conn, err := redisx.Open(ctx, redisx.Config{URL: c.url, Prefix: c.prefix, OpTimeout: c.opTimeout, Replicas: c.replicas})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", setting("redis-url"), err)
	}
	s.conn = conn
	conn.OnChange(func(up bool) {
		if up {
			logger.Info("redis: reachable again, shared state resumes")
		} else {
			logger.Warn("redis: unreachable, serving degraded (see /readyz)", "op_timeout", c.opTimeout)
		}
	})
	if conn.Up() {
		logger.Info("redis: connected, state shared between replicas", "prefix", c.prefix, "replicas", conn.Replicas())
	} else {
		logger.Warn("redis: unreachable at start, serving degraded until it answers", "replicas", conn.Replicas())
	}
	s.addDegraded(func() string {
		if conn.Up() {
			return ""
		}
		return "redis unreachable: serving without shared state"
	})
	return s, nil
}

// addDegraded registers f, which says why a piece serves degraded ("" when
// it does not), for /readyz.
func (s *sharedState) addDegraded(f func() string) {
	s.mu.Lock()
	s.degraded = append(s.degraded, f)
	s.mu.Unlock()
}

// degradedReasons is server.Config.Degraded: what serves degraded now.
func (s *sharedState) degradedReasons() []string {
	s.mu.Lock()
	fs := append([]func() string{}, s.degraded...)
	s.mu.Unlock()
	var why []string
	for _, f := range fs {
		if w := f(); w != "" {
			why = append(why, w)
		}
	}
	return why
}

// rateBudget is the rate budget: shared through Redis when there is one,
// else in process.
func (s *sharedState) rateBudget(cfg upstream.BudgetConfig) upstream.RateBudget {
	if s.conn == nil {
		return upstream.NewLocalBudget(cfg)
	}
	b := upstream.NewRedisBudget(s.conn, cfg, s.logger)
	s.addDegraded(b.Degraded)
	return b
}

// close closes the connection (nothing without Redis).
func (s *sharedState) close() {
	if s.conn != nil {
		_ = s.conn.Close()
	}
}
