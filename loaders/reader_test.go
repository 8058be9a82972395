// Tests for the shared Reader and the per-request loaders: coalescing,
// the per-location bound, cache keys per credential, no-cache, and what a
// request records for the response cache.

package loaders

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ghl-graphql/gateway/auth"
	"github.com/ghl-graphql/gateway/cache"
	"github.com/ghl-graphql/gateway/upstream"
	"github.com/ghl-graphql/gateway/upstream/sandbox"
)

// gate wraps the sandbox: it counts calls and calls in flight, and holds
// every call until released.
type gate struct {
	next     http.Handler
	calls    atomic.Int64
	cur, max atomic.Int64
	release  chan struct{}
}

func (g *gate) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	g.calls.Add(1)
	n := g.cur.Add(1)
	for {
		m := g.max.Load()
		if n <= m || g.max.CompareAndSwap(m, n) {
			break
		}
	}
	if g.release != nil {
		select {
		case <-g.release:
		case <-r.Context().Done():
		}
	}
	g.next.ServeHTTP(w, r)
	g.cur.Add(-1)
}

type env struct {
	sb     *sandbox.Server
	gate   *gate
	reader *Reader
	ctx    context.Context // carries the default credential
	ids    []string
}

func newEnv(t *testing.T, hold bool, mut func(*Config)) *env {
	t.Helper()
	sb, err := sandbox.New(sandbox.Config{Seed: 3, ContactsPerLocation: 30})
	if err != nil {
		t.Fatal(err)
	}
	g := &gate{next: sb}
	if hold {
		g.release = make(chan struct{})
	}
	srv := httptest.NewServer(g)
	t.Cleanup(srv.Close)
	client, err := upstream.NewClient(upstream.WithBaseURL(srv.URL))
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{Client: client, Cache: cache.NewLRU(1 << 20)}
	if mut != nil {
		mut(&cfg)
	}
	r, err := NewReader(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return &env{sb: sb, gate: g, reader: r, ctx: credCtx(sb.DefaultToken()), ids: sb.ContactIDs(sb.Locations()[0])}
}

// credCtx is a request context carrying tok as the credential and as the
// upstream token, as the gateway's middleware and resolvers set them.
func credCtx(tok string) context.Context {
	cred := auth.NewBearer(tok, "")
	ctx := auth.WithCredential(context.Background(), cred)
	return upstream.ContextWithTokenSource(ctx, cred.TokenSource())
}

func TestCoalescingSurvivesTheLeaderLeaving(t *testing.T) {
	e := newEnv(t, true, nil)
	id := e.ids[0]
	leaderCtx, cancelLeader := context.WithCancel(e.ctx)
	leaderErr := make(chan error, 1)
	go func() {
		_, err := e.reader.Contact(leaderCtx, id)
		leaderErr <- err
	}()
	for e.gate.calls.Load() == 0 {
		time.Sleep(time.Millisecond) // wait for the leader's call to reach the upstream
	}
	var wg sync.WaitGroup
	var failed atomic.Int64
	for range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if c, err := e.reader.Contact(e.ctx, id); err != nil || c.ID != id {
				failed.Add(1)
			}
		}()
	}
	key := e.reader.contactRequest(e.ctx, "contact", id).key
	for waiters(&e.reader.flight, key) < 21 {
		runtime.Gosched() // until every follower has joined the leader's call
	}
	cancelLeader()
	if err := <-leaderErr; !errors.Is(err, context.Canceled) {
		t.Errorf("leader: %v, want context.Canceled", err)
	}
	close(e.gate.release)
	wg.Wait()
	if failed.Load() != 0 {
		t.Errorf("%d followers failed after the leader left", failed.Load())
	}
	if got := e.gate.calls.Load(); got != 1 {
		t.Errorf("21 concurrent reads made %d calls, want 1", got)
	}
}

func TestPerLocationBound(t *testing.T) {
	e := newEnv(t, false, func(c *Config) { c.MaxConcurrentPerLocation = 3 })
	e.sb.SetLatency(20*time.Millisecond, 0)
	var wg sync.WaitGroup
	for _, id := range e.ids[:12] {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := e.reader.Tasks(e.ctx, id); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if got := e.gate.max.Load(); got > 3 {
		t.Errorf("%d calls in flight for one location, bound is 3", got)
	}
	if got := e.gate.calls.Load(); got != 12 {
		t.Errorf("%d calls, want 12", got)
	}
}

func TestCacheKeysAndNoCache(t *testing.T) {
	e := newEnv(t, false, nil)
	id := e.ids[1]
	for range 3 {
		if _, err := e.reader.Notes(e.ctx, id); err != nil {
			t.Fatal(err)
		}
	}
	if got := e.gate.calls.Load(); got != 1 {
		t.Fatalf("3 reads made %d calls, want 1", got)
	}
	// Another credential of the same location has its own entry.
	other := credCtx(e.sb.AccessToken(e.sb.Locations()[0], sandbox.ScopeContactsRead))
	if _, err := e.reader.Notes(other, id); err != nil {
		t.Fatal(err)
	}
	if got := e.gate.calls.Load(); got != 2 {
		t.Errorf("a second credential was served from the first one's entry")
	}
	// no-cache reads go upstream, and refresh the entry.
	if _, err := e.reader.Notes(WithoutCache(e.ctx), id); err != nil {
		t.Fatal(err)
	}
	if got := e.gate.calls.Load(); got != 3 {
		t.Errorf("no-cache read served from cache")
	}
	// Invalidate evicts the contact's entries of every credential.
	e.reader.Invalidate("", id)
	e.reader.Notes(e.ctx, id)
	e.reader.Notes(other, id)
	if got := e.gate.calls.Load(); got != 5 {
		t.Errorf("after Invalidate: %d calls, want 5", got)
	}
	// Without a credential nothing is cached or shared, and the client refuses.
	if _, err := e.reader.Notes(context.Background(), id); !errors.Is(err, upstream.ErrUnauthorized) {
		t.Errorf("no credential: %v", err)
	}
}

func TestLoadersDeduplicateWithinARequest(t *testing.T) {
	e := newEnv(t, false, func(c *Config) { c.Cache = nil }) // per-request only
	l := New(e.reader)
	var wg sync.WaitGroup
	for range 10 {
		for _, id := range e.ids[:3] {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if _, err := l.Appointments(e.ctx, id); err != nil {
					t.Error(err)
				}
			}()
		}
	}
	wg.Wait()
	if got := e.gate.calls.Load(); got != 3 {
		t.Errorf("30 loads of 3 contacts made %d calls, want 3", got)
	}
	// A missing contact is that key's error only.
	_, err := l.Contact(e.ctx, "no-such-contact")
	if !errors.Is(err, upstream.ErrNotFound) {
		t.Errorf("missing contact: %v", err)
	}
	// Forget makes the next load go upstream again.
	l.Forget(e.ids[0])
	l.Appointments(e.ctx, e.ids[0])
	if got := e.gate.calls.Load(); got != 5 {
		t.Errorf("after Forget: %d calls, want 5", got)
	}
}

func TestTouchedRecordsTagsAndEarliestExpiry(t *testing.T) {
	e := newEnv(t, false, func(c *Config) {
		c.TTLs = TTLs{Contact: time.Hour, Lists: time.Minute, Search: time.Hour}
	})
	ctx, touched := WithTouched(e.ctx)
	start := time.Now()
	e.reader.Contact(ctx, e.ids[0])
	e.reader.Tasks(ctx, e.ids[1])
	tags, expires, ok := touched.Result()
	// Both contacts' broad tags, the contact object's and the task list's
	// (of the contact and of the location) fine ones (evict.go).
	if !ok || len(tags) != 5 || !slices.Contains(tags, tagContact(e.ids[0])) || !slices.Contains(tags, tagContact(e.ids[1])) {
		t.Fatalf("Result = %v, %v, %v", tags, expires, ok)
	}
	if expires.Before(start.Add(time.Minute)) || expires.After(time.Now().Add(time.Minute)) {
		t.Errorf("expiry %v is not the tasks' (one minute)", expires.Sub(start))
	}
	touched.MarkUncacheable()
	if _, _, ok := touched.Result(); ok {
		t.Error("an uncacheable response would be stored")
	}
	// A read that bypasses the cache for lack of one makes the response uncacheable.
	e2 := newEnv(t, false, func(c *Config) { c.Cache = nil })
	ctx, touched = WithTouched(e2.ctx)
	e2.reader.Contact(ctx, e2.ids[0])
	if _, _, ok := touched.Result(); ok {
		t.Error("a response read without a cache would be stored")
	}
}

func TestNoCacheRequested(t *testing.T) {
	for hdr, want := range map[string]bool{
		"no-cache": true, "No-Cache": true, "max-age=0": true, "private, no-store": true,
		"max-age=60": false, "": false,
	} {
		h := http.Header{}
		if hdr != "" {
			h.Set("Cache-Control", hdr)
		}
		if got := NoCacheRequested(h); got != want {
			t.Errorf("Cache-Control %q: %v, want %v", hdr, got, want)
		}
	}
	if !NoCacheRequested(http.Header{"Pragma": {"no-cache"}}) {
		t.Error("Pragma: no-cache ignored")
	}
}

// lateCache is an LRU whose next Gets miss as if they had looked just before
// another caller's answer was stored.
type lateCache struct {
	*cache.LRU
	misses atomic.Int32
}

func (c *lateCache) Get(key string) (any, time.Time, bool) {
	if c.misses.Add(-1) >= 0 {
		return nil, time.Time{}, false
	}
	return c.LRU.Get(key)
}

// A caller that looked in the cache just before a shared call stored its
// answer, and reaches the flights just after that call ended, must not call
// the upstream again (it once did, under load: 5 calls for 4 resources).
func TestReadBetweenCacheMissAndFlightMakesNoSecondCall(t *testing.T) {
	late := &lateCache{LRU: cache.NewLRU(1 << 20)}
	e := newEnv(t, false, func(c *Config) { c.Cache = late })
	id := e.ids[0]
	if _, err := e.reader.Notes(e.ctx, id); err != nil {
		t.Fatal(err)
	}
	_, stored, ok := late.LRU.Get(e.reader.contactRequest(e.ctx, "notes", id).key)
	if !ok {
		t.Fatal("the first read's answer was not cached")
	}

	late.misses.Store(1) // the second read's own look in the cache misses
	ctx, touched := WithTouched(e.ctx)
	notes, err := e.reader.Notes(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if got := e.gate.calls.Load(); got != 1 {
		t.Errorf("two reads, the second after the first was cached: %d upstream calls, want 1", got)
	}
	if len(notes) == 0 {
		t.Error("the second read returned no notes")
	}
	// The response cache must not keep the answer longer than the entry
	// it came from lives.
	if _, expires, _ := touched.Result(); !expires.Equal(stored) {
		t.Errorf("touched expiry %v, want the cached entry's %v", expires, stored)
	}
}
