// Package redisx connects the gateway's replicas through Redis (issue 13):
// the client built from one URL (standalone, Sentinel or Cluster), the
// names of keys (a prefix, and a hash tag per location so that every
// script over a location touches one Cluster slot), and the health that
// the degraded modes follow. The shared pieces themselves (budget, tokens,
// caches, events, webhook de-duplication, APQ) live beside what they share
// and take a *Conn.
package redisx

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// Defaults of Config.
const (
	// DefaultPrefix starts every key the gateway writes.
	DefaultPrefix = "ghlgw:"
	// DefaultOpTimeout bounds every Redis command a request waits on: past
	// it the caller takes its degraded path instead of waiting longer.
	DefaultOpTimeout = 250 * time.Millisecond
	// DefaultProbeEvery is how often a replica that lost Redis pings it:
	// often enough that it is back within about a second of Redis.
	DefaultProbeEvery = 500 * time.Millisecond
	// DefaultHeartbeatEvery is how often a replica says in Redis that it is
	// alive; it counts as gone after three missed beats (ReplicaTTL).
	DefaultHeartbeatEvery = 2 * time.Second
)

// replicaTTLBeats: a replica counts as alive this many heartbeats after
// its last one, so one late beat does not change the count (and with it
// every replica's degraded share of the budget).
const replicaTTLBeats = 3

// Config says where Redis is and how the gateway names its keys there.
type Config struct {
	// URL is redis:// or rediss:// (standalone; add ?addr=host:port for
	// more nodes with a mode), with ?mode=cluster for Redis Cluster or
	// ?mode=sentinel&master_name=NAME for Sentinel.
	URL string
	// Prefix starts every key (default DefaultPrefix).
	Prefix string
	// OpTimeout bounds each command a request waits on (default
	// DefaultOpTimeout).
	OpTimeout time.Duration
	// Replicas is how many gateway replicas to assume, at least, share the
	// budget when Redis cannot say (the degraded budget is 1/Replicas() of
	// the limit); the heartbeat count replaces it when higher. 0 means 1.
	// It is a floor so that replicas that started while Redis was down,
	// and never saw one another, still split the budget.
	Replicas int
	// ReplicaID names this replica in the heartbeat set (default: random).
	ReplicaID string
	// ProbeEvery is how often Redis is pinged while it is down (default
	// DefaultProbeEvery).
	ProbeEvery time.Duration
	// HeartbeatEvery is how often this replica records itself as alive
	// (default DefaultHeartbeatEvery).
	HeartbeatEvery time.Duration
}

// Conn is one replica's connection to the shared Redis.
type Conn struct {
	client      redis.UniversalClient
	prefix      string
	opTimeout   time.Duration
	replicas    atomic.Int64 // last count seen in Redis, at least minReplicas
	minReplicas int

	up       atomic.Bool
	closed   atomic.Bool
	mu       sync.Mutex
	onChange []func(up bool)
	// events are the transitions not yet delivered to onChange, in order;
	// delivering is set while a goroutine delivers them.
	events     []bool
	delivering bool

	replicaID      string
	probeEvery     time.Duration
	heartbeatEvery time.Duration
	stop           context.CancelFunc
	loops          sync.WaitGroup
	closeOnce      sync.Once
}

// ParseURL turns a Redis URL into go-redis's universal options.
func ParseURL(raw string) (*redis.UniversalOptions, error) {
	u, err := url.Parse(raw)
	if err != nil {
		// url.Error repeats the URL, password included: keep only why.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, fmt.Errorf("redis url: %w", err)
	}
	if u.Scheme != "redis" && u.Scheme != "rediss" {
		return nil, fmt.Errorf("redis url: scheme %q: want redis or rediss", u.Scheme)
	}
	q := u.Query()
	mode := q.Get("mode")
	q.Del("mode")
	u.RawQuery = q.Encode()
	switch mode {
	case "", "standalone":
		o, err := redis.ParseURL(u.String())
		if err != nil {
			return nil, fmt.Errorf("redis url: %w", err)
		}
		return &redis.UniversalOptions{Addrs: []string{o.Addr}, DB: o.DB, Username: o.Username,
			Password: o.Password, TLSConfig: o.TLSConfig, Protocol: o.Protocol}, nil
	case "cluster":
		o, err := redis.ParseClusterURL(u.String())
		if err != nil {
			return nil, fmt.Errorf("redis url: %w", err)
		}
		return &redis.UniversalOptions{Addrs: o.Addrs, Username: o.Username, Password: o.Password,
			TLSConfig: o.TLSConfig, Protocol: o.Protocol, IsClusterMode: true}, nil
	case "sentinel":
		o, err := redis.ParseFailoverURL(u.String())
		if err != nil {
			return nil, fmt.Errorf("redis url: %w", err)
		}
		if o.MasterName == "" {
			return nil, errors.New("redis url: mode=sentinel needs master_name")
		}
		return &redis.UniversalOptions{Addrs: o.SentinelAddrs, MasterName: o.MasterName, DB: o.DB,
			Username: o.Username, Password: o.Password, SentinelUsername: o.SentinelUsername,
			SentinelPassword: o.SentinelPassword, TLSConfig: o.TLSConfig, Protocol: o.Protocol}, nil
	default:
		return nil, fmt.Errorf("redis url: mode %q: want standalone, cluster or sentinel", mode)
	}
}

// Open connects to Redis. It does not fail when Redis is down: the
// gateway starts degraded and recovers when Redis comes back (see Up).
// It fails only on a configuration that can never work.
func Open(ctx context.Context, cfg Config) (*Conn, error) {
	opts, err := ParseURL(cfg.URL)
	if err != nil {
		return nil, err
	}
	if cfg.Prefix == "" {
		cfg.Prefix = DefaultPrefix
	}
	if strings.ContainsAny(cfg.Prefix, "{} \r\n") {
		return nil, fmt.Errorf("redis prefix %q: must not hold braces or spaces", cfg.Prefix)
	}
	if cfg.OpTimeout <= 0 {
		cfg.OpTimeout = DefaultOpTimeout
	}
	opts.DialTimeout = max(cfg.OpTimeout, time.Second)
	opts.ReadTimeout = cfg.OpTimeout
	opts.WriteTimeout = cfg.OpTimeout
	// The callers retry, or degrade, by themselves: a retry inside the
	// client would only stretch a request's wait on a dead Redis.
	opts.MaxRetries = -1
	// One dial per attempt, for the same reason (the probe loop redials).
	opts.DialerRetries = 1
	if cfg.ProbeEvery <= 0 {
		cfg.ProbeEvery = DefaultProbeEvery
	}
	if cfg.HeartbeatEvery <= 0 {
		cfg.HeartbeatEvery = DefaultHeartbeatEvery
	}
	if cfg.ReplicaID == "" {
		var b [8]byte
		_, _ = rand.Read(b[:])
		cfg.ReplicaID = hex.EncodeToString(b[:])
	}
	c := &Conn{client: redis.NewUniversalClient(opts), prefix: cfg.Prefix, opTimeout: cfg.OpTimeout,
		replicaID: cfg.ReplicaID, probeEvery: cfg.ProbeEvery, heartbeatEvery: cfg.HeartbeatEvery}
	c.minReplicas = max(cfg.Replicas, 1)
	c.replicas.Store(int64(c.minReplicas))
	pctx, cancel := context.WithTimeout(ctx, opts.DialTimeout)
	defer cancel()
	c.up.Store(c.client.Ping(pctx).Err() == nil)
	lctx, stop := context.WithCancel(context.WithoutCancel(ctx))
	c.stop = stop
	if c.up.Load() {
		c.heartbeat(lctx)
	}
	c.loops.Add(2)
	go c.probeLoop(lctx)
	go c.heartbeatLoop(lctx)
	return c, nil
}

// probeLoop pings Redis while it is down, so that a replica with no
// traffic to Redis (every piece degraded) still sees it come back.
func (c *Conn) probeLoop(ctx context.Context) {
	defer c.loops.Done()
	t := time.NewTicker(c.probeEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if c.Up() {
			continue
		}
		pctx, cancel := c.WithTimeout(ctx)
		err := c.client.Ping(pctx).Err()
		cancel()
		if ctx.Err() != nil {
			return
		}
		c.Report(err)
	}
}

// heartbeatLoop records this replica as alive and counts the live ones.
// Its outcome is reported too, so that Redis going away is noticed within
// a beat even when nothing else talks to it.
func (c *Conn) heartbeatLoop(ctx context.Context) {
	defer c.loops.Done()
	t := time.NewTicker(c.heartbeatEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		c.heartbeat(ctx)
	}
}

// heartbeatScript records ARGV[1] as seen now (Redis's clock, so that the
// replicas' clocks need not agree), forgets members older than ARGV[2] ms,
// and returns how many are left.
var heartbeatScript = redis.NewScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local ttl = tonumber(ARGV[2])
redis.call('ZADD', KEYS[1], now, ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - ttl)
redis.call('PEXPIRE', KEYS[1], ttl)
return redis.call('ZCARD', KEYS[1])
`)

// heartbeat runs heartbeatScript once. When Redis does not answer, the
// last count stays (it is what the degraded budget divides by).
func (c *Conn) heartbeat(ctx context.Context) {
	hctx, cancel := c.WithTimeout(ctx)
	defer cancel()
	ttl := replicaTTLBeats * c.heartbeatEvery
	n, err := heartbeatScript.Run(hctx, c.client, []string{c.replicasKey()}, c.replicaID, ttl.Milliseconds()).Int()
	if ctx.Err() != nil {
		return
	}
	c.Report(err)
	if err == nil {
		c.SetReplicas(n)
	}
}

func (c *Conn) replicasKey() string { return c.GlobalKey("replicas") }

// ReplicaID names this replica in the heartbeat set.
func (c *Conn) ReplicaID() string { return c.replicaID }

// Client is the go-redis client, for the packages that keep shared state.
func (c *Conn) Client() redis.UniversalClient { return c.client }

// OpTimeout is how long a request may wait on one Redis command.
func (c *Conn) OpTimeout() time.Duration { return c.opTimeout }

// WithTimeout bounds ctx by the per-command timeout.
func (c *Conn) WithTimeout(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, c.opTimeout)
}

// Key names a key of one location: prefix, the location as a hash tag,
// then parts. Every key of a location lands in one Cluster slot, so that
// a script may touch several.
func (c *Conn) Key(locationID string, parts ...string) string {
	return c.prefix + "{" + locationID + "}:" + strings.Join(parts, ":")
}

// GlobalKey names a key that belongs to no location.
func (c *Conn) GlobalKey(parts ...string) string {
	return c.prefix + strings.Join(parts, ":")
}

// Channel names a pub/sub channel.
func (c *Conn) Channel(parts ...string) string {
	return c.GlobalKey(append([]string{"ch"}, parts...)...)
}

// Up reports whether the last contact with Redis succeeded.
func (c *Conn) Up() bool { return c.up.Load() }

// Replicas is how many replicas share Redis, as the heartbeat last saw
// them (it stays while Redis is down), never below Config.Replicas or 1.
func (c *Conn) Replicas() int { return int(max(c.replicas.Load(), 1)) }

// SetReplicas records the number of live replicas seen (by the heartbeat),
// never below Config.Replicas.
func (c *Conn) SetReplicas(n int) { c.replicas.Store(int64(max(n, c.minReplicas))) }

// OnChange registers f to run (on a goroutine of its own, one transition
// after the other in order) each time Redis goes
// down or comes back; a component that may have missed messages while
// Redis was away (cache invalidations) resets itself on up.
func (c *Conn) OnChange(f func(up bool)) {
	c.mu.Lock()
	c.onChange = append(c.onChange, f)
	c.mu.Unlock()
}

// Report records the outcome of a command: components call it with the
// error of what they sent, so that Up follows every replica's experience
// without a probe per request. Errors that Redis itself answered (a
// script's error, redis.Nil) do not make it down.
func (c *Conn) Report(err error) {
	if c.closed.Load() {
		// Commands fail once the client is closed: that is no outage.
		return
	}
	up := err == nil || errors.Is(err, redis.Nil) || isServerReply(err)
	if c.up.Swap(up) == up {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.events = append(c.events, up)
	if c.delivering {
		return
	}
	c.delivering = true
	// One goroutine delivers the transitions in the order they happened,
	// so a callback never hears "up" before the "down" that preceded it,
	// and Report never waits for a callback.
	go func() {
		for {
			c.mu.Lock()
			if len(c.events) == 0 {
				c.delivering = false
				c.mu.Unlock()
				return
			}
			ev := c.events[0]
			c.events = c.events[1:]
			fs := append([]func(bool){}, c.onChange...)
			c.mu.Unlock()
			for _, f := range fs {
				f(ev)
			}
		}
	}()
}

func isServerReply(err error) bool {
	var re redis.Error
	return errors.As(err, &re) && !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, context.Canceled)
}

// Close stops the probe and the heartbeat, takes this replica out of the
// count (so that the others' degraded share grows at once), and closes
// the client.
func (c *Conn) Close() error {
	var err error
	c.closeOnce.Do(func() {
		c.closed.Store(true)
		c.stop()
		c.loops.Wait()
		ctx, cancel := c.WithTimeout(context.Background())
		_ = c.client.ZRem(ctx, c.replicasKey(), c.replicaID).Err()
		cancel()
		err = c.client.Close()
	})
	return err
}

// RouteClientLog sends go-redis's own log lines (a failed dial on every
// probe while Redis is down, for one) to logger at debug level: the
// transitions, which say what matters, are logged by the gateway once
// each. go-redis has one logger per process, so this is process-wide.
func RouteClientLog(logger *slog.Logger) {
	redis.SetLogger(slogPrintf{logger})
}

type slogPrintf struct{ l *slog.Logger }

func (s slogPrintf) Printf(ctx context.Context, format string, v ...any) {
	s.l.DebugContext(ctx, "redis client: "+fmt.Sprintf(format, v...))
}
