// This file refreshes hot answers shortly before they expire, on spare
// budget only, so that the answers steady traffic reads never go cold.
//
// Hot means read recently: a read of an answer in the last part of its
// time-to-live (the refresh-ahead window, Ahead × TTL) starts a background
// refresh of it, once per stored answer. The Reader remembers how to fetch
// each answer it stored (a bounded LRU of closures); an answer it has
// forgotten is not refreshed, and simply expires.
//
// Spare means the location's budget has more than (1 − Share) × WindowMax
// slots free right now, counting the refreshes already in flight: a
// refresh never takes a slot a waiting request needs (a waiter holds a
// reservation, which the budget's Remaining counts as used, so Remaining is
// 0 whenever anyone waits), and refreshes together never spend more than
// Share of a window.
//
// A refresh runs in the background with the credential of the read that
// started it (its token source and budget key), through the same flight as
// foreground reads of the answer, so a foreground miss joins it instead of
// calling again, and a refresh joins a foreground call already running.

package loaders

import (
	"context"
	"fmt"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/golang-lru/v2/simplelru"

	"github.com/ghl-graphql/gateway/auth"
	"github.com/ghl-graphql/gateway/upstream"
)

// Defaults of RefreshConfig.
const (
	// DefaultRefreshAhead: refresh in the last fifth of an answer's life
	// (the last 6 s of a 30 s contact).
	DefaultRefreshAhead = 0.2
	// DefaultRefreshShare: refreshes use at most a fifth of a window, and
	// only while more than four fifths of it are free.
	DefaultRefreshShare = 0.2
	// DefaultRefreshHotKeys bounds the answers the Reader knows how to
	// refresh (each a small closure and its request: a few hundred bytes).
	DefaultRefreshHotKeys = 10_000
)

// RefreshConfig configures refresh-ahead. The zero value switches it off.
type RefreshConfig struct {
	// Ahead is the share of an answer's time-to-live, before it expires, in
	// which a read of it starts a refresh (0.2: the last fifth). 0 switches
	// refresh-ahead off; it must be below 1.
	Ahead float64
	// Share is the share of the location's rate window that refreshes may
	// use: a refresh goes only while more than (1 − Share) × WindowMax
	// slots are free. 0 means DefaultRefreshShare; at most 1.
	Share float64
	// WindowMax is the budget's calls per window (the -rate-max); 0 means
	// upstream.DefaultBudgetMax.
	WindowMax int
	// HotKeys bounds how many answers the Reader remembers how to refresh;
	// 0 means DefaultRefreshHotKeys.
	HotKeys int
}

// normalize fills the defaults and checks the ranges.
func (c *RefreshConfig) normalize() error {
	if c.Ahead == 0 {
		return nil
	}
	if math.IsNaN(c.Ahead) || c.Ahead < 0 || c.Ahead >= 1 {
		return fmt.Errorf("loaders: refresh-ahead share %v outside [0, 1)", c.Ahead)
	}
	if c.Share == 0 {
		c.Share = DefaultRefreshShare
	}
	if math.IsNaN(c.Share) || c.Share < 0 || c.Share > 1 {
		return fmt.Errorf("loaders: refresh budget share %v outside (0, 1]", c.Share)
	}
	if c.WindowMax <= 0 {
		c.WindowMax = upstream.DefaultBudgetMax
	}
	if c.HotKeys <= 0 {
		c.HotKeys = DefaultRefreshHotKeys
	}
	return nil
}

// refresher is the Reader's refresh-ahead state.
type refresher struct {
	cfg RefreshConfig
	// reserve is the slots of a window refreshes leave to foreground reads.
	reserve int

	mu       sync.Mutex
	hot      *simplelru.LRU[string, *hotEntry]
	inflight map[string]int // refreshes in flight, by budget key
	wg       sync.WaitGroup

	started, noSpare, stored atomic.Uint64
}

// hotEntry is how to refresh one stored answer.
type hotEntry struct {
	req       request
	fetch     func(context.Context) (any, *upstream.Response, error)
	budgetKey string
	// startedFor is the expiry of the answer a refresh was last started
	// for: one refresh per stored answer.
	startedFor time.Time
	// nextTry: a refresh refused for want of spare budget is tried again
	// by a read no sooner than this.
	nextTry time.Time
}

func (rf *refresher) init(cfg RefreshConfig) {
	rf.cfg = cfg
	if cfg.Ahead == 0 {
		return
	}
	rf.reserve = cfg.WindowMax - int(math.Floor(cfg.Share*float64(cfg.WindowMax)))
	rf.hot, _ = simplelru.NewLRU[string, *hotEntry](cfg.HotKeys, nil)
	rf.inflight = map[string]int{}
}

func (rf *refresher) on() bool { return rf.hot != nil }

// lead is how long before an answer of this time-to-live expires its
// refresh-ahead window opens; 0 when refresh-ahead is off.
func (rf *refresher) lead(ttl time.Duration) time.Duration {
	if !rf.on() {
		return 0
	}
	return time.Duration(float64(ttl) * rf.cfg.Ahead)
}

// remember records how to refresh the answer just stored for req.
func (rf *refresher) remember(ctx context.Context, req request, fetch func(context.Context) (any, *upstream.Response, error)) {
	if !rf.on() {
		return
	}
	h := &hotEntry{req: req, fetch: fetch, budgetKey: upstream.BudgetKeyFromContext(ctx)}
	rf.mu.Lock()
	rf.hot.Add(req.key, h)
	rf.mu.Unlock()
}

// rememberContact records how to refresh a contact a listing stored.
func (rf *refresher) rememberContact(ctx context.Context, r *Reader, req request, id string) {
	if !rf.on() {
		return
	}
	rf.remember(ctx, req, func(ctx context.Context) (any, *upstream.Response, error) {
		return r.client.Contacts.Get(ctx, id)
	})
}

// touch records in t an answer read for req that expires at expires.
func (r *Reader) touch(t *Touched, req request, expires time.Time) {
	if t != nil {
		t.noteAhead(req, expires, r.refresh.lead(req.ttl))
	}
}

// ahead starts a refresh of req's answer, read now, when it is in its
// refresh-ahead window. Outside the window (nearly every read) it costs a
// clock reading.
func (r *Reader) ahead(ctx context.Context, req request, expires time.Time) {
	lead := r.refresh.lead(req.ttl)
	if lead <= 0 || r.now().Before(expires.Add(-lead)) {
		return
	}
	r.maybeRefresh(ctx, req.key, expires)
}

// RefreshAhead starts refreshes of the answers under keys that are in
// their refresh-ahead window: a stored response built from them was served
// (the whole-response cache calls it once the response is due).
func (r *Reader) RefreshAhead(ctx context.Context, keys []string) {
	if !r.refresh.on() || r.cache == nil || skipCache(ctx) {
		return
	}
	for _, key := range keys {
		if _, _, expires, ok := r.cache.GetStale(key); ok {
			r.maybeRefresh(ctx, key, expires)
		}
	}
}

// maybeRefresh starts a background refresh of the answer under key (which
// expires at expires) if the Reader knows how to fetch it, it is in its
// window, no refresh was started for it yet, and the budget has spare.
func (r *Reader) maybeRefresh(ctx context.Context, key string, expires time.Time) {
	rf := &r.refresh
	now := r.now()
	rf.mu.Lock()
	h, ok := rf.hot.Get(key)
	if !ok || !now.Before(expires) || now.Before(expires.Add(-rf.lead(h.req.ttl))) ||
		h.startedFor.Equal(expires) || now.Before(h.nextTry) {
		rf.mu.Unlock()
		return
	}
	bk := upstream.BudgetKeyFromContext(ctx)
	if bk == "" {
		bk = h.budgetKey
	}
	if left := r.client.RateRemaining(bk); left >= 0 && left-rf.inflight[bk] <= rf.reserve {
		h.nextTry = now.Add(rf.lead(h.req.ttl) / 8)
		rf.mu.Unlock()
		rf.noSpare.Add(1)
		return
	}
	rf.inflight[bk]++
	h.startedFor = expires
	rf.wg.Add(1)
	rf.mu.Unlock()

	rctx := context.WithoutCancel(ctx)
	if _, ok := upstream.TokenSourceFromContext(rctx); !ok {
		if cred, ok := auth.FromContext(rctx); ok {
			rctx = upstream.ContextWithTokenSource(rctx, cred.TokenSource())
		}
	}
	if upstream.BudgetKeyFromContext(rctx) != bk {
		rctx = upstream.ContextWithBudgetKey(rctx, bk)
	}
	// A refresh is worth nothing once the answer has expired and
	// foreground reads fetch it themselves.
	rctx, cancel := context.WithTimeout(rctx, max(rf.lead(h.req.ttl), time.Second))
	rf.started.Add(1)
	go func() {
		defer rf.wg.Done()
		defer cancel()
		defer func() {
			rf.mu.Lock()
			if rf.inflight[bk]--; rf.inflight[bk] <= 0 {
				delete(rf.inflight, bk)
			}
			rf.mu.Unlock()
		}()
		_, err := r.flight.do(rctx, h.req.key, func(callCtx context.Context) (any, error) {
			return r.fetchAndStore(callCtx, h.req, h.fetch)
		})
		if err == nil {
			rf.stored.Add(1)
		}
	}()
}

// WaitRefreshes waits for the refreshes in flight to end, e.g. before the
// process exits.
func (r *Reader) WaitRefreshes() { r.refresh.wg.Wait() }
