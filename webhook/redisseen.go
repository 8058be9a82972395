// This file is the SeenSet that replicas share (issue 13): HighLevel may
// deliver a webhook, or retry it, to any replica behind the load balancer,
// and the replay guard must hold across all of them.

package webhook

import (
	"context"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/ghl-graphql/gateway/redisx"
)

// RedisSeen is the SeenSet in Redis: Add is SET NX PX (one round trip,
// atomic, the key expiring with the timestamp window), Forget is DEL. Every
// ID is also kept in a MemorySeen, the degraded path: when Redis cannot be
// reached within the connection's timeout, the replica guards replays by
// itself. The risk of that mode: a replay (or HighLevel's retry) delivered
// to two replicas during an outage is applied on both. That is harmless
// here, because applying a webhook only evicts cached data and publishes
// an event (server/webhooks.go: Apply is reader.Evict and bus.Publish, both
// idempotent for subscribers who resolve the current object); it never
// writes to HighLevel. Safe for concurrent use.
type RedisSeen struct {
	conn     *redisx.Conn
	local    *MemorySeen
	now      func() time.Time
	logger   *slog.Logger
	degraded atomic.Bool
}

var _ SeenSet = (*RedisSeen)(nil)

// NewRedisSeen returns the shared SeenSet on conn, falling back to local
// (nil: a MemorySeen of DefaultSeenMax IDs) while Redis is away. now is
// the clock that turns expiries into lifetimes (nil: time.Now); logger
// gets a line when the fallback starts and ends (nil discards).
func NewRedisSeen(conn *redisx.Conn, local *MemorySeen, now func() time.Time, logger *slog.Logger) *RedisSeen {
	if now == nil {
		now = time.Now
	}
	if local == nil {
		local = NewMemorySeen(DefaultSeenMax, now)
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &RedisSeen{conn: conn, local: local, now: now, logger: logger}
}

func (s *RedisSeen) key(id string) string { return s.conn.GlobalKey("webhook", "seen", id) }

// Add implements SeenSet: Redis decides; the local set only records, or
// decides alone while Redis is away.
func (s *RedisSeen) Add(ctx context.Context, id string, until time.Time) (bool, error) {
	ttl := until.Sub(s.now())
	if ttl < time.Millisecond {
		ttl = time.Millisecond // the window refuses it soon by itself
	}
	rctx, cancel := s.conn.WithTimeout(ctx)
	defer cancel()
	added, err := s.conn.Client().SetNX(rctx, s.key(id), 1, ttl).Result()
	s.conn.Report(err)
	if err != nil {
		s.transition(true, err)
		return s.local.Add(ctx, id, until)
	}
	s.transition(false, nil)
	if added {
		// Remembered here too, for the replays that come during an outage.
		_, _ = s.local.Add(ctx, id, until)
	}
	return added, nil
}

// Forget implements SeenSet, in both sets.
func (s *RedisSeen) Forget(ctx context.Context, id string) error {
	_ = s.local.Forget(ctx, id)
	rctx, cancel := s.conn.WithTimeout(ctx)
	defer cancel()
	err := s.conn.Client().Del(rctx, s.key(id)).Err()
	s.conn.Report(err)
	if err != nil {
		// The key expires with the window; until then HighLevel's retry on
		// another replica counts as a replay (its retry here does not).
		s.transition(true, err)
	}
	return nil
}

// Degraded reports whether the last command failed (replays guarded per
// replica).
func (s *RedisSeen) Degraded() bool { return s.degraded.Load() }

func (s *RedisSeen) transition(down bool, err error) {
	if s.degraded.Swap(down) == down {
		return
	}
	if down {
		s.logger.Warn("webhook: Redis unreachable: degraded, webhookIds de-duplicated on this replica only", "error", err.Error())
		return
	}
	s.logger.Info("webhook: Redis reachable: webhookIds de-duplicated across replicas again")
}
