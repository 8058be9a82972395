// This file holds the rate limiter: per location, a fixed window of Max calls
// per Interval and a cap per UTC day, and the X-RateLimit-* headers every
// answer carries.

package sandbox

import (
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// What the headers say when a limit is off: large, so that a client's
// budgeting never holds back, and constant, so that they read as "plenty".
const (
	unlimitedMax      = 1_000_000
	unlimitedDaily    = 1_000_000_000
	defaultInterval   = 10 * time.Second
	rateLimitDayWidth = 24 * time.Hour
)

func (r RateLimit) validate() error {
	if r.Max < 0 || r.Daily < 0 || r.Interval < 0 {
		return fmt.Errorf("%w: rate limit fields must not be negative", ErrInvalidConfig)
	}
	return nil
}

func (r RateLimit) normalized() RateLimit {
	r.Max, r.Daily = max(r.Max, 0), max(r.Daily, 0)
	if r.Interval <= 0 {
		r.Interval = defaultInterval
	}
	return r
}

// rateState is what the rate-limit headers of one answer say.
type rateState struct {
	max, remaining        int
	interval              time.Duration
	daily, dailyRemaining int
}

func (st rateState) setHeaders(h http.Header) {
	h.Set(headerRateLimitMax, strconv.Itoa(st.max))
	h.Set(headerRateLimitRemaining, strconv.Itoa(st.remaining))
	h.Set(headerRateLimitInterval, strconv.FormatInt(st.interval.Milliseconds(), 10))
	h.Set(headerRateLimitDaily, strconv.Itoa(st.daily))
	h.Set(headerRateLimitDailyRemaining, strconv.Itoa(st.dailyRemaining))
}

// bucket is one location's use of its windows.
type bucket struct {
	windowStart time.Time
	inWindow    int
	day         time.Time
	inDay       int
}

type limiter struct {
	mu      sync.Mutex
	cfg     RateLimit
	buckets map[string]*bucket
}

func newLimiter(r RateLimit) *limiter {
	return &limiter{cfg: r.normalized(), buckets: map[string]*bucket{}}
}

func (l *limiter) set(r RateLimit) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.cfg, l.buckets = r.normalized(), map[string]*bucket{}
}

// nominal is the state shown to a request that is not counted against any
// location (unauthenticated, unrouted): the full budget.
func (l *limiter) nominal() rateState {
	l.mu.Lock()
	defer l.mu.Unlock()
	st := rateState{max: unlimitedMax, interval: l.cfg.Interval, daily: unlimitedDaily}
	if l.cfg.Max > 0 {
		st.max = l.cfg.Max
	}
	if l.cfg.Daily > 0 {
		st.daily = l.cfg.Daily
	}
	st.remaining, st.dailyRemaining = st.max, st.daily
	return st
}

// take counts one call of loc at now. It returns the state after the call
// and, when the call is refused, how long until it would be allowed.
func (l *limiter) take(loc string, now time.Time) (rateState, time.Duration, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	cfg := l.cfg
	st := rateState{max: unlimitedMax, remaining: unlimitedMax, interval: cfg.Interval,
		daily: unlimitedDaily, dailyRemaining: unlimitedDaily}
	if cfg.Max == 0 && cfg.Daily == 0 {
		return st, 0, true
	}
	b := l.buckets[loc]
	if b == nil {
		b = &bucket{}
		l.buckets[loc] = b
	}
	if b.windowStart.IsZero() || !now.Before(b.windowStart.Add(cfg.Interval)) {
		b.windowStart, b.inWindow = now, 0
	}
	if day := now.UTC().Truncate(rateLimitDayWidth); !b.day.Equal(day) {
		b.day, b.inDay = day, 0
	}
	var wait time.Duration
	if cfg.Max > 0 && b.inWindow >= cfg.Max {
		wait = b.windowStart.Add(cfg.Interval).Sub(now)
	}
	if cfg.Daily > 0 && b.inDay >= cfg.Daily {
		wait = max(wait, b.day.Add(rateLimitDayWidth).Sub(now))
	}
	allowed := !(cfg.Max > 0 && b.inWindow >= cfg.Max) && !(cfg.Daily > 0 && b.inDay >= cfg.Daily)
	if allowed {
		b.inWindow++
		b.inDay++
	}
	if cfg.Max > 0 {
		st.max, st.remaining = cfg.Max, max(cfg.Max-b.inWindow, 0)
	}
	if cfg.Daily > 0 {
		st.daily, st.dailyRemaining = cfg.Daily, max(cfg.Daily-b.inDay, 0)
	}
	if !allowed {
		return st, max(wait, time.Millisecond), false
	}
	return st, 0, true
}
