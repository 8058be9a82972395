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
	"errors"
	"fmt"
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
)

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
	// Replicas is how many gateway replicas to assume share the budget
	// when Redis cannot say (the degraded budget is 1/Replicas of the
	// limit); 0 means 1 until a heartbeat in Redis has been seen.
	Replicas int
}

// Conn is one replica's connection to the shared Redis.
type Conn struct {
	client    redis.UniversalClient
	prefix    string
	opTimeout time.Duration
	replicas  atomic.Int64 // last count seen in Redis, or Config.Replicas

	up        atomic.Bool
	mu        sync.Mutex
	onChange  []func(up bool)
	closeOnce sync.Once
}

// ParseURL turns a Redis URL into go-redis's universal options.
func ParseURL(raw string) (*redis.UniversalOptions, error) {
	u, err := url.Parse(raw)
	if err != nil {
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
	c := &Conn{client: redis.NewUniversalClient(opts), prefix: cfg.Prefix, opTimeout: cfg.OpTimeout}
	c.replicas.Store(int64(max(cfg.Replicas, 1)))
	pctx, cancel := context.WithTimeout(ctx, opts.DialTimeout)
	defer cancel()
	c.up.Store(c.client.Ping(pctx).Err() == nil)
	return c, nil
}

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

// Replicas is how many replicas share Redis, as last seen, at least 1.
func (c *Conn) Replicas() int { return int(max(c.replicas.Load(), 1)) }

// SetReplicas records the number of live replicas seen (by the heartbeat).
func (c *Conn) SetReplicas(n int) { c.replicas.Store(int64(max(n, 1))) }

// OnChange registers f to run (on its own goroutine) each time Redis goes
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
	up := err == nil || errors.Is(err, redis.Nil) || isServerReply(err)
	if c.up.Swap(up) == up {
		return
	}
	c.mu.Lock()
	fs := append([]func(bool){}, c.onChange...)
	c.mu.Unlock()
	for _, f := range fs {
		go f(up)
	}
}

func isServerReply(err error) bool {
	var re redis.Error
	return errors.As(err, &re) && !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, context.Canceled)
}

// Close closes the client.
func (c *Conn) Close() error {
	var err error
	c.closeOnce.Do(func() { err = c.client.Close() })
	return err
}
