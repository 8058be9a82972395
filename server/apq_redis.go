// This file shares automatic persisted queries between replicas (issue
// 13): a client registers its query on whichever replica its request
// reached, and its next hash-only request may reach another; without a
// shared store every replica answers PersistedQueryNotFound once per
// operation and client.

package server

import (
	"context"
	"errors"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/ghl-graphql/gateway/redisx"
)

// Defaults of RedisAPQConfig.
const (
	// DefaultRedisAPQTTL is how long a registered query stays in Redis
	// after it was last registered or used: Redis's memory is bounded by
	// the operations clients used in a day, not by all they ever sent.
	DefaultRedisAPQTTL = 24 * time.Hour
	// DefaultRedisAPQMaxQueryBytes is the longest query kept in Redis;
	// longer ones stay in the replica's own store (the request body limit
	// already bounds them).
	DefaultRedisAPQMaxQueryBytes = 64 << 10
)

// RedisAPQConfig bounds the shared store; zero fields take the defaults.
type RedisAPQConfig struct {
	// TTL is each entry's lifetime in Redis, renewed on use.
	TTL time.Duration
	// MaxQueryBytes is the longest query shared.
	MaxQueryBytes int
	// Logger gets a line when Redis is lost and found again (nil discards).
	Logger *slog.Logger
}

// RedisAPQ is the APQStore of replicas: the replica's own store first,
// then Redis (GETEX renews the entry's lifetime), whose answer is kept
// locally; Put writes both. When Redis does not answer within the
// connection's timeout, the replica's own store is all there is
// (degraded: a query registered on another replica is PersistedQueryNotFound
// here, and the client sends it again, which Apollo's and urql's clients
// do by themselves).
type RedisAPQ struct {
	conn     *redisx.Conn
	local    APQStore
	cfg      RedisAPQConfig
	degraded atomic.Bool
}

var _ APQStore = (*RedisAPQ)(nil)

// NewRedisAPQ returns the shared store on conn over local (nil: an
// in-memory store of DefaultAPQCacheBytes).
func NewRedisAPQ(conn *redisx.Conn, local APQStore, cfg RedisAPQConfig) *RedisAPQ {
	if local == nil {
		local = NewAPQCache(DefaultAPQCacheBytes)
	}
	if cfg.TTL <= 0 {
		cfg.TTL = DefaultRedisAPQTTL
	}
	if cfg.MaxQueryBytes <= 0 {
		cfg.MaxQueryBytes = DefaultRedisAPQMaxQueryBytes
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &RedisAPQ{conn: conn, local: local, cfg: cfg}
}

func (s *RedisAPQ) key(hash string) string { return s.conn.GlobalKey("apq", hash) }

// Get implements APQStore.
func (s *RedisAPQ) Get(ctx context.Context, hash string) (string, bool, error) {
	if q, ok, err := s.local.Get(ctx, hash); ok || err != nil {
		return q, ok, err
	}
	if _, ok := apqKey(hash); !ok {
		return "", false, nil
	}
	rctx, cancel := s.conn.WithTimeout(ctx)
	defer cancel()
	q, err := s.conn.Client().GetEx(rctx, s.key(hash), s.cfg.TTL).Result()
	s.conn.Report(err)
	switch {
	case errors.Is(err, redis.Nil):
		s.transition(false, nil)
		return "", false, nil
	case err != nil:
		s.transition(true, err)
		return "", false, nil // not known here: the client sends the query
	}
	s.transition(false, nil)
	if hashQuery(q) != hash {
		return "", false, nil // not what the hash names: never run it
	}
	_ = s.local.Put(ctx, hash, q)
	return q, true, nil
}

// Put implements APQStore.
func (s *RedisAPQ) Put(ctx context.Context, hash, query string) error {
	if err := s.local.Put(ctx, hash, query); err != nil {
		return err
	}
	if _, ok := apqKey(hash); !ok || len(query) > s.cfg.MaxQueryBytes {
		return nil
	}
	rctx, cancel := s.conn.WithTimeout(ctx)
	defer cancel()
	err := s.conn.Client().Set(rctx, s.key(hash), query, s.cfg.TTL).Err()
	s.conn.Report(err)
	s.transition(err != nil, err)
	return nil // kept locally: the degraded path needs no warning per request
}

// Degraded reports whether the last command failed.
func (s *RedisAPQ) Degraded() bool { return s.degraded.Load() }

func (s *RedisAPQ) transition(down bool, err error) {
	if s.degraded.Swap(down) == down {
		return
	}
	if down {
		s.cfg.Logger.Warn("apq: Redis unreachable: degraded, persisted queries known on this replica only", "error", err.Error())
		return
	}
	s.cfg.Logger.Info("apq: Redis reachable: persisted queries shared again")
}
