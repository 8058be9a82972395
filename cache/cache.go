// Package cache holds the gateway's shared cache of upstream answers: an LRU
// bounded in bytes, with a time-to-live per entry, tags for invalidation, and
// a write epoch so that an answer fetched before a write is never stored
// after it. An entry may be kept for a while past its time-to-live, so that
// it can be served, marked stale, when no fresh answer can be had (the rate
// budget is spent); an entry evicted by Invalidate is gone at once, so
// nothing a write changed is ever served stale.
//
// Cache is an interface so that a later store (Redis, shared by replicas)
// can take the place of the in-memory LRU.
package cache

import (
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/golang-lru/v2/simplelru"
)

// Cache stores decoded upstream answers. Values are shared between the
// requests that read them: callers must not modify them.
type Cache interface {
	// Get returns the value stored under key and when it expires, if present
	// and not expired.
	Get(key string) (v any, expires time.Time, ok bool)
	// Set stores v under key for ttl, weighing size bytes, tagged with tags
	// for Invalidate. It stores nothing, and returns false, when an
	// invalidation happened since epoch (from Epoch, read before the value
	// was fetched): the value may be stale already.
	Set(key string, v any, size int, ttl time.Duration, tags []string, epoch uint64) bool
	// SetStale is Set for an answer that may be served stale: the entry is
	// kept for keep past ttl (as long as the bytes allow), where GetStale,
	// but not Get, finds it.
	SetStale(key string, v any, size int, ttl, keep time.Duration, tags []string, epoch uint64) bool
	// GetStale returns the entry stored under key, fresh or kept past its
	// time-to-live, with when it was stored and when it expired (or expires).
	GetStale(key string) (v any, stored, expires time.Time, ok bool)
	// Invalidate removes every entry carrying one of tags and advances the epoch.
	Invalidate(tags ...string)
	// Epoch returns the current write epoch.
	Epoch() uint64
	// Stats returns counters, for metrics and tests.
	Stats() Stats
}

// Stats are the cache's counters.
type Stats struct {
	Hits, Misses, Sets, Evictions, Invalidations uint64
	// Entries and Bytes describe what the cache holds now.
	Entries int
	Bytes   int64
}

// entryOverhead is what an entry costs beyond its value's own size: the map
// slot, list element, key and tag bookkeeping, roughly.
const entryOverhead = 256

type entry struct {
	value   any
	size    int64
	stored  time.Time
	expires time.Time
	// dropAt is the last instant the entry is kept: expires, or later for
	// an entry kept to be served stale.
	dropAt time.Time
	tags   []string
}

// gone reports whether e is no longer kept at now: past its expiry if it
// was not kept for stale answers, past dropAt if it was.
func (e *entry) gone(now time.Time) bool {
	if e.dropAt.Equal(e.expires) {
		return !now.Before(e.expires)
	}
	return now.After(e.dropAt)
}

// LRU is the in-memory Cache: least recently used entries go first when the
// byte budget is full. It is safe for concurrent use.
type LRU struct {
	mu       sync.Mutex
	lru      *simplelru.LRU[string, *entry]
	maxBytes int64
	bytes    int64
	byTag    map[string]map[string]struct{}
	epoch    atomic.Uint64
	now      func() time.Time

	hits, misses, sets, evictions, invalidations atomic.Uint64
}

// NewLRU returns an LRU that holds at most maxBytes (entry sizes plus a
// fixed overhead each).
func NewLRU(maxBytes int64) *LRU {
	return NewLRUWithClock(maxBytes, nil)
}

// NewLRUWithClock is NewLRU reading the time from now (nil: time.Now), for
// tests with a fake clock.
func NewLRUWithClock(maxBytes int64, now func() time.Time) *LRU {
	if now == nil {
		now = time.Now
	}
	c := &LRU{maxBytes: maxBytes, byTag: map[string]map[string]struct{}{}, now: now}
	// The byte budget, not the count, bounds the cache.
	c.lru, _ = simplelru.NewLRU[string, *entry](math.MaxInt32, c.onEvict)
	return c
}

// onEvict keeps the byte count and the tag index in step with the LRU; it
// runs with c.mu held.
func (c *LRU) onEvict(key string, e *entry) {
	c.bytes -= e.size
	for _, t := range e.tags {
		if keys := c.byTag[t]; keys != nil {
			delete(keys, key)
			if len(keys) == 0 {
				delete(c.byTag, t)
			}
		}
	}
}

// Get implements Cache.
func (c *LRU) Get(key string) (any, time.Time, bool) {
	c.mu.Lock()
	e, ok := c.lru.Get(key)
	if ok {
		if now := c.now(); !now.Before(e.expires) {
			// Past its time-to-live: a miss, kept for GetStale until dropAt.
			if e.gone(now) {
				c.lru.Remove(key)
			}
			ok = false
		}
	}
	c.mu.Unlock()
	if !ok {
		c.misses.Add(1)
		return nil, time.Time{}, false
	}
	c.hits.Add(1)
	return e.value, e.expires, true
}

// GetStale implements Cache.
func (c *LRU) GetStale(key string) (any, time.Time, time.Time, bool) {
	c.mu.Lock()
	e, ok := c.lru.Get(key)
	if ok && e.gone(c.now()) {
		c.lru.Remove(key)
		ok = false
	}
	c.mu.Unlock()
	if !ok {
		return nil, time.Time{}, time.Time{}, false
	}
	return e.value, e.stored, e.expires, true
}

// Set implements Cache.
func (c *LRU) Set(key string, v any, size int, ttl time.Duration, tags []string, epoch uint64) bool {
	return c.SetStale(key, v, size, ttl, 0, tags, epoch)
}

// SetStale implements Cache.
func (c *LRU) SetStale(key string, v any, size int, ttl, keep time.Duration, tags []string, epoch uint64) bool {
	if ttl <= 0 {
		return false
	}
	now := c.now()
	e := &entry{value: v, size: int64(size) + entryOverhead, stored: now, expires: now.Add(ttl), tags: tags}
	e.dropAt = e.expires
	if keep > 0 {
		e.dropAt = e.expires.Add(keep)
	}
	if e.size > c.maxBytes {
		return false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	// Checked under the lock that Invalidate takes too, so no invalidation
	// can slip between the check and the store.
	if c.epoch.Load() != epoch {
		return false
	}
	c.lru.Remove(key)
	c.lru.Add(key, e)
	c.bytes += e.size
	for _, t := range tags {
		keys := c.byTag[t]
		if keys == nil {
			keys = map[string]struct{}{}
			c.byTag[t] = keys
		}
		keys[key] = struct{}{}
	}
	for c.bytes > c.maxBytes {
		if _, _, ok := c.lru.RemoveOldest(); !ok {
			break
		}
		c.evictions.Add(1)
	}
	c.sets.Add(1)
	return true
}

// Invalidate implements Cache.
func (c *LRU) Invalidate(tags ...string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.epoch.Add(1)
	c.invalidations.Add(1)
	for _, t := range tags {
		for key := range c.byTag[t] {
			c.lru.Remove(key)
		}
	}
}

// Epoch implements Cache.
func (c *LRU) Epoch() uint64 { return c.epoch.Load() }

// Stats implements Cache.
func (c *LRU) Stats() Stats {
	c.mu.Lock()
	entries, bytes := c.lru.Len(), c.bytes
	c.mu.Unlock()
	return Stats{
		Hits: c.hits.Load(), Misses: c.misses.Load(), Sets: c.sets.Load(),
		Evictions: c.evictions.Load(), Invalidations: c.invalidations.Load(),
		Entries: entries, Bytes: bytes,
	}
}

// Purge removes every entry and advances the epoch, so that no answer
// fetched before it is stored after it. A replica that may have missed
// invalidations (its Redis connection came back, issue 13) purges its
// local cache.
func (c *LRU) Purge() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.epoch.Add(1)
	c.invalidations.Add(1)
	c.lru.Purge()
	c.bytes = 0
	clear(c.byTag)
}

// Cap shortens every entry's time-to-live to at most d from now. Entries
// kept for stale answers stay kept as long as before, so they can still be
// served marked stale. A replica that loses Redis caps what it holds,
// since writes on other replicas no longer reach it (issue 13's degraded
// mode: local cache with short lifetimes).
func (c *LRU) Cap(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	limit := c.now().Add(d)
	for _, key := range c.lru.Keys() {
		e, ok := c.lru.Peek(key)
		if !ok || !e.expires.After(limit) {
			continue
		}
		// A copy, not a change in place: readers hold entries past the lock.
		ne := *e
		if ne.dropAt.Equal(ne.expires) {
			// Not kept for stale answers: it goes at the new expiry.
			ne.dropAt = limit
		}
		ne.expires = limit
		c.lru.Add(key, &ne)
	}
}
