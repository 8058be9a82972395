// This file is the Bus of several replicas (issue 13): a change published
// on any replica reaches the subscribers of every replica, once each.
//
// Each replica delivers its own publishes to its own subscribers at once
// (through a Local, which keeps the per-process fan-out and its
// slow-subscriber policy) and sends them to Redis pub/sub, on a channel per
// location, tagged with the replica's origin ID. One subscriber per replica
// (PSUBSCRIBE over the locations' channels) delivers the others' changes to
// the local fan-out and skips its own echo: so a change is delivered once
// per subscriber whichever replica learned it, and a replica whose Redis is
// down still serves its own subscribers (degraded: no cross-replica events,
// logged when it starts and when it ends). Redis pub/sub is at most once: a
// change published while a replica's subscription is down does not reach
// that replica, which is what the degraded mode documents.

package events

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/ghl-graphql/gateway/redisx"
)

// Defaults of RedisConfig.
const (
	// DefaultRedisHealthInterval is how long the subscriber waits for a
	// message before it pings Redis to learn whether the subscription is
	// still alive (a partition closes no connection).
	DefaultRedisHealthInterval = 5 * time.Second
	// DefaultRedisRetry is the wait between attempts to subscribe again
	// while Redis is away.
	DefaultRedisRetry = 500 * time.Millisecond
)

// RedisConfig configures a Redis bus. Zero fields take the defaults.
type RedisConfig struct {
	// Logger gets a line when cross-replica delivery stops and when it
	// resumes; nil discards.
	Logger *slog.Logger
	// HealthInterval is DefaultRedisHealthInterval when 0.
	HealthInterval time.Duration
	// Retry is DefaultRedisRetry when 0.
	Retry time.Duration
	// EchoWindow is how long a gateway mutation's change and the webhook
	// HighLevel sends for the same change count as one (see EchoFilter):
	// DefaultEchoWindow when 0, negative switches the suppression off.
	EchoWindow time.Duration
	// Now is the echo filter's clock; nil means time.Now.
	Now func() time.Time
}

// Redis is the Bus of several replicas sharing a Redis. Safe for
// concurrent use; Close ends it.
type Redis struct {
	conn    *redisx.Conn
	local   *Local
	echo    *EchoFilter
	origin  string
	pattern string
	cfg     RedisConfig
	logger  *slog.Logger

	// subscribed: the subscription to the other replicas' changes is live;
	// sendOK: the last publish reached Redis. Cross-replica delivery works
	// when both hold; the log line follows their conjunction.
	subscribed, sendOK atomic.Bool
	degraded           atomic.Bool
	logMu              sync.Mutex

	cancel context.CancelFunc
	done   chan struct{}
	psMu   sync.Mutex
	ps     *redis.PubSub // the current subscription, closed by Close

	// onRemote, when set, runs on each other replica's change before it
	// is delivered (OnRemote).
	onRemote atomic.Pointer[func(Change)]

	sent, sendFailed, received, echoes, suppressed, undecodable atomic.Uint64
}

var _ Bus = (*Redis)(nil)

// wireChange is a Change on the wire, with the replica that published it.
type wireChange struct {
	Origin string `json:"o"`
	Change Change `json:"c"`
}

// NewRedis returns the bus of the replicas sharing conn and starts its
// subscriber; Close stops it. It does not wait for Redis: until the
// subscription is up (Connected), publishes reach this replica's
// subscribers only.
func NewRedis(conn *redisx.Conn, cfg RedisConfig) *Redis {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.HealthInterval <= 0 {
		cfg.HealthInterval = DefaultRedisHealthInterval
	}
	if cfg.Retry <= 0 {
		cfg.Retry = DefaultRedisRetry
	}
	var id [8]byte
	_, _ = rand.Read(id[:])
	ctx, cancel := context.WithCancel(context.Background())
	b := &Redis{conn: conn, local: NewLocal(), origin: hex.EncodeToString(id[:]),
		pattern: escapeGlob(conn.Channel("events")) + ":*", cfg: cfg, logger: cfg.Logger,
		cancel: cancel, done: make(chan struct{})}
	if cfg.EchoWindow >= 0 {
		b.echo = NewEchoFilter(cfg.EchoWindow, cfg.Now)
	}
	// Assumed up (degraded false, sendOK true) until a failure says
	// otherwise, so that a start with Redis up logs nothing and one with
	// Redis down logs the degraded mode.
	b.sendOK.Store(true)
	go b.run(ctx)
	return b
}

// channel is the pub/sub channel of a location's changes.
func (b *Redis) channel(loc string) string { return b.conn.Channel("events", loc) }

// Publish delivers c to this replica's subscribers at once and sends it to
// the other replicas through Redis, waiting at most the connection's
// per-command timeout, and not at all while the subscription is down.
// When Redis cannot be reached the change stays on this replica
// (degraded) and Publish still succeeds: what the caller could do about
// it, the bus already did.
func (b *Redis) Publish(ctx context.Context, c Change) error {
	if c.LocationID == "" {
		return ErrNoLocation
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := b.deliver(c); err != nil {
		return err
	}
	if !b.subscribed.Load() {
		// The subscription is down, so Redis most likely is: a publish
		// would only make the caller (a mutation's answer, a webhook
		// worker) wait out the timeout. The subscriber's retries find
		// Redis again.
		b.sendFailed.Add(1)
		return nil
	}
	msg, err := json.Marshal(wireChange{Origin: b.origin, Change: c})
	if err != nil {
		return err
	}
	rctx, cancel := b.conn.WithTimeout(context.WithoutCancel(ctx))
	defer cancel()
	err = b.conn.Client().Publish(rctx, b.channel(c.LocationID), msg).Err()
	b.conn.Report(err)
	if err != nil {
		b.sendFailed.Add(1)
		b.sendOK.Store(false)
		b.health(err)
		return nil
	}
	b.sent.Add(1)
	if !b.sendOK.Swap(true) {
		b.health(nil)
	}
	return nil
}

// deliver offers c to this replica's subscribers, unless it is the echo of
// a change already delivered (EchoFilter).
func (b *Redis) deliver(c Change) error {
	if b.echo != nil && !b.echo.Pass(c) {
		b.suppressed.Add(1)
		return nil
	}
	return b.local.Publish(context.Background(), c)
}

// Subscribe implements Bus: the subscription is to this replica's fan-out,
// which gets every replica's changes.
func (b *Redis) Subscribe(ctx context.Context, locationID string, filter func(Change) bool, buffer int) (<-chan Change, func()) {
	return b.local.Subscribe(ctx, locationID, filter, buffer)
}

// run is the subscriber: it subscribes, delivers the other replicas'
// changes, pings when the line is quiet, and subscribes again on a fresh
// connection after a failure or an unanswered ping, until ctx ends.
func (b *Redis) run(ctx context.Context) {
	defer close(b.done)
	for ctx.Err() == nil {
		ps := b.conn.Client().PSubscribe(ctx, b.pattern)
		b.psMu.Lock()
		b.ps = ps
		if ctx.Err() != nil { // Close ran before ps was stored
			b.psMu.Unlock()
			_ = ps.Close()
			return
		}
		b.psMu.Unlock()
		err := b.listen(ctx, ps)
		_ = ps.Close()
		if ctx.Err() != nil {
			return
		}
		b.conn.Report(err)
		b.subscribed.Store(false)
		b.health(err)
		t := time.NewTimer(b.cfg.Retry)
		select {
		case <-ctx.Done():
		case <-t.C:
		}
		t.Stop()
	}
}

// errNoPong ends a subscription whose ping went unanswered.
var errNoPong = errors.New("events: Redis did not answer a ping on the subscription")

// listen delivers the messages of ps until it fails.
func (b *Redis) listen(ctx context.Context, ps *redis.PubSub) error {
	pinged := false
	for {
		msg, err := ps.ReceiveTimeout(ctx, b.cfg.HealthInterval)
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if !isTimeout(err) {
				return err
			}
			if pinged {
				return errNoPong
			}
			// Quiet: ask for a pong, which arrives as a message.
			if err := ps.Ping(ctx); err != nil {
				return err
			}
			pinged = true
			continue
		}
		pinged = false
		switch m := msg.(type) {
		case *redis.Subscription:
			if m.Kind == "psubscribe" {
				b.conn.Report(nil)
				// Redis answers again: publishing may resume too.
				b.sendOK.Store(true)
				if !b.subscribed.Swap(true) {
					b.health(nil)
				}
			}
		case *redis.Pong:
			b.conn.Report(nil)
		case *redis.Message:
			b.receive(m.Payload)
		}
	}
}

// receive delivers one message of another replica.
func (b *Redis) receive(payload string) {
	var w wireChange
	if err := json.Unmarshal([]byte(payload), &w); err != nil || w.Change.LocationID == "" {
		b.undecodable.Add(1)
		return
	}
	if w.Origin == b.origin {
		b.echoes.Add(1) // delivered when it was published
		return
	}
	b.received.Add(1)
	if f := b.onRemote.Load(); f != nil {
		(*f)(w.Change)
	}
	_ = b.deliver(w.Change)
}

// OnRemote makes f run on every change another replica published, before
// this replica's subscribers get it: the gateway evicts what the change
// made stale in this replica's cache there, so that a subscriber resolving
// the object reads it fresh. f runs on the subscriber goroutine and must
// not block.
func (b *Redis) OnRemote(f func(Change)) { b.onRemote.Store(&f) }

// health logs a change of the cross-replica delivery's state: degraded
// when either direction fails, recovered when both work again.
func (b *Redis) health(err error) {
	b.logMu.Lock()
	defer b.logMu.Unlock()
	up := b.subscribed.Load() && b.sendOK.Load()
	if b.degraded.Load() == !up {
		return
	}
	b.degraded.Store(!up)
	if up {
		b.logger.Info("events: Redis reachable: changes reach the subscribers of every replica")
		return
	}
	msg := "unknown"
	if err != nil {
		msg = err.Error()
	}
	b.logger.Warn("events: Redis unreachable: degraded, changes reach this replica's subscribers only", "error", msg)
}

// Connected reports whether changes currently travel between replicas:
// the subscription is live and the last publish reached Redis.
func (b *Redis) Connected() bool { return b.subscribed.Load() && b.sendOK.Load() }

// Close stops the subscriber and ends every subscription. It does not
// close the shared connection.
func (b *Redis) Close() {
	b.cancel()
	// A blocked read watches deadlines, not the context: closing the
	// subscription ends it now.
	b.psMu.Lock()
	if b.ps != nil {
		_ = b.ps.Close()
	}
	b.psMu.Unlock()
	<-b.done
	b.local.Close()
}

// Closed reports whether Close was called.
func (b *Redis) Closed() bool { return b.local.Closed() }

// RedisStats are a Redis bus's counters since it was made.
type RedisStats struct {
	// Local is the replica's own fan-out.
	Local Stats
	// Sent reached Redis; SendFailed did not, or were not sent while the
	// subscription was down (delivered on this replica only).
	Sent, SendFailed uint64
	// Received came from other replicas; Echoes were this replica's own,
	// skipped; Suppressed were echoes of one change told twice (a
	// mutation's and its webhook's); Undecodable were not changes.
	Received, Echoes, Suppressed, Undecodable uint64
	// Connected is Connected().
	Connected bool
}

// Stats returns the bus's counters.
func (b *Redis) Stats() RedisStats {
	return RedisStats{Local: b.local.Stats(), Sent: b.sent.Load(), SendFailed: b.sendFailed.Load(),
		Received: b.received.Load(), Echoes: b.echoes.Load(), Suppressed: b.suppressed.Load(),
		Undecodable: b.undecodable.Load(), Connected: b.Connected()}
}

// isTimeout reports a read that timed out (the line was quiet).
func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// escapeGlob escapes the characters PSUBSCRIBE reads as a pattern, so that
// a prefix holding one matches only itself.
func escapeGlob(s string) string {
	var sb strings.Builder
	for _, r := range s {
		if strings.ContainsRune(`*?[]\`, r) {
			sb.WriteByte('\\')
		}
		sb.WriteRune(r)
	}
	return sb.String()
}
