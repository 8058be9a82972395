// This file keeps Learned's shared facts in Redis (issue 13), so that a
// Private Integration Token the upstream confirmed on one replica is
// confirmed on all of them.

package auth

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/ghl-graphql/gateway/redisx"
)

// DefaultLearnedRedisTTL is how long a token's facts stay in Redis after
// they last changed: a token that went unused for that long is learned
// again from its next answer, as a forgotten one is locally.
const DefaultLearnedRedisTTL = time.Hour

// RedisLearned is the SharedFacts of replicas: one key per token (named
// by a hash of the credential ID, itself a hash of the token: never the
// token), a JSON value with an expiry. Each command waits at most the
// connection's timeout; while Redis is down (as the connection last saw
// it) reads are not even tried, and each replica learns by itself
// (degraded: each spends its own unconfirmed calls, as one replica
// always did).
type RedisLearned struct {
	conn     *redisx.Conn
	ttl      time.Duration
	logger   *slog.Logger
	degraded atomic.Bool
}

var _ SharedFacts = (*RedisLearned)(nil)

// NewRedisLearned returns the shared facts on conn, kept for ttl (<= 0:
// DefaultLearnedRedisTTL); logger gets a line when Redis is lost and found
// again (nil discards).
func NewRedisLearned(conn *redisx.Conn, ttl time.Duration, logger *slog.Logger) *RedisLearned {
	if ttl <= 0 {
		ttl = DefaultLearnedRedisTTL
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &RedisLearned{conn: conn, ttl: ttl, logger: logger}
}

func (r *RedisLearned) key(id string) string {
	sum := sha256.Sum256([]byte("learned:" + id))
	return r.conn.GlobalKey("learned", hex.EncodeToString(sum[:16]))
}

// Load implements SharedFacts.
func (r *RedisLearned) Load(ctx context.Context, id string) (SharedFact, bool) {
	if !r.conn.Up() {
		return SharedFact{}, false
	}
	rctx, cancel := r.conn.WithTimeout(ctx)
	defer cancel()
	b, err := r.conn.Client().Get(rctx, r.key(id)).Bytes()
	r.conn.Report(err)
	if err != nil && !errors.Is(err, redis.Nil) {
		r.transition(true, err)
		return SharedFact{}, false
	}
	r.transition(false, nil)
	var f SharedFact
	if err != nil || json.Unmarshal(b, &f) != nil {
		return SharedFact{}, false
	}
	return f, true
}

// Store implements SharedFacts.
func (r *RedisLearned) Store(ctx context.Context, id string, f SharedFact) {
	b, err := json.Marshal(f)
	if err != nil {
		return
	}
	rctx, cancel := r.conn.WithTimeout(ctx)
	defer cancel()
	err = r.conn.Client().Set(rctx, r.key(id), b, r.ttl).Err()
	r.conn.Report(err)
	r.transition(err != nil, err)
}

// Degraded reports whether the last command failed.
func (r *RedisLearned) Degraded() bool { return r.degraded.Load() }

func (r *RedisLearned) transition(down bool, err error) {
	if r.degraded.Swap(down) == down {
		return
	}
	if down {
		r.logger.Warn("auth: Redis unreachable: degraded, token facts learned on this replica only", "error", err.Error())
		return
	}
	r.logger.Info("auth: Redis reachable: token facts shared again")
}
