// Tests for stale answers and refresh-ahead, on a fake clock: the cache,
// the Reader and the rate budget all read it, so expiries, stale bounds and
// budget windows move only when a test says so.

package loaders

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ghl-graphql/gateway/cache"
	"github.com/ghl-graphql/gateway/internal/fakeclock"
	"github.com/ghl-graphql/gateway/upstream"
	"github.com/ghl-graphql/gateway/upstream/sandbox"
)

// staleEnv is a Reader over the sandbox with a small rate budget, a circuit
// breaker and a switch that makes the upstream fail, all on one fake clock.
type staleEnv struct {
	clock  *fakeclock.Clock
	sb     *sandbox.Server
	budget *upstream.LocalBudget
	reader *Reader
	ids    []string
	tok    string
	direct *upstream.Client // the sandbox without budget or breaker

	calls   atomic.Int64
	failing atomic.Bool   // answer 503 instead of the sandbox
	hold    chan struct{} // when not nil, calls wait for it
	mu      sync.Mutex
	auths   []string // Authorization of each call
}

const (
	testTTL    = 30 * time.Second
	testWindow = time.Hour // the budget's window: spent means spent for the test
)

func (e *staleEnv) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	e.calls.Add(1)
	e.mu.Lock()
	e.auths = append(e.auths, r.Header.Get("Authorization"))
	hold := e.hold
	e.mu.Unlock()
	if hold != nil {
		select {
		case <-hold:
		case <-r.Context().Done():
		}
	}
	if e.failing.Load() {
		http.Error(w, `{"message":"down"}`, http.StatusServiceUnavailable)
		return
	}
	e.sb.ServeHTTP(w, r)
}

// newStaleEnv builds the env; budget's zero fields take the test's
// defaults: a window of testWindow, and a MaxWait of a millisecond.
func newStaleEnv(t *testing.T, budget upstream.BudgetConfig, mut func(*Config)) *staleEnv {
	t.Helper()
	sb, err := sandbox.New(sandbox.Config{Seed: 5, ContactsPerLocation: 10})
	if err != nil {
		t.Fatal(err)
	}
	e := &staleEnv{clock: fakeclock.New(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)), sb: sb,
		ids: sb.ContactIDs(sb.Locations()[0]), tok: sb.DefaultToken()}
	srv := httptest.NewServer(e)
	t.Cleanup(srv.Close)
	// MaxWait is tiny and the window long: a call the budget cannot let go
	// at once is refused at once, as the bounded budget wait does.
	if budget.Interval == 0 {
		budget.Interval = testWindow
	}
	if budget.MaxWait == 0 {
		budget.MaxWait = time.Millisecond
	}
	budget.Now = e.clock.Now
	e.budget = upstream.NewLocalBudget(budget)
	client, err := upstream.NewClient(upstream.WithBaseURL(srv.URL), upstream.WithRateBudget(e.budget),
		upstream.WithRetryPolicy(upstream.RetryPolicy{MaxAttempts: 1}),
		upstream.WithCircuitBreaker(upstream.BreakerConfig{MinCalls: 1, FailureRatio: 1, CoolDown: time.Hour, Now: e.clock.Now}))
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{Client: client, Cache: cache.NewLRUWithClock(1<<20, e.clock.Now), Now: e.clock.Now,
		TTLs: TTLs{Contact: testTTL, Lists: testTTL, Search: testTTL}, StaleFor: time.Minute}
	if mut != nil {
		mut(&cfg)
	}
	if e.direct, err = upstream.NewClient(upstream.WithBaseURL(srv.URL)); err != nil {
		t.Fatal(err)
	}
	if e.reader, err = NewReader(cfg); err != nil {
		t.Fatal(err)
	}
	return e
}

// request returns the context of a new GraphQL request with its loaders,
// sending header.
func (e *staleEnv) request(header http.Header) (context.Context, *Loaders) {
	l := New(e.reader)
	l.stale.maxStale, l.stale.hasMax = MaxStale(header)
	return WithLoaders(credCtx(e.tok), l), l
}

// staleAge reports whether the request of l was served key's answer stale, and its age.
func staleAge(l *Loaders, key string) (time.Duration, bool) {
	l.stale.mu.Lock()
	defer l.stale.mu.Unlock()
	age, ok := l.stale.byKey[key]
	return age, ok
}

func TestStaleAnswers(t *testing.T) {
	for _, tc := range []struct {
		name   string
		after  time.Duration // since the answer was fetched
		header http.Header
		// second runs after the first read; by default it spends the rest
		// of the budget (Max 2) with a read of another contact.
		second    func(t *testing.T, e *staleEnv, id string)
		wantStale bool
		wantErr   error // when not stale: nil is a fresh hit
	}{
		{name: "within the TTL: fresh, nothing marked", after: testTTL - time.Second},
		{name: "past the TTL, budget spent: stale", after: testTTL + 10*time.Second, wantStale: true},
		{name: "at the stale bound: stale", after: testTTL + time.Minute, wantStale: true},
		{name: "past the stale bound: RATE_LIMITED", after: testTTL + time.Minute + time.Second, wantErr: upstream.ErrRateLimited},
		{name: "max-stale=0: RATE_LIMITED", after: testTTL + time.Second,
			header: http.Header{"Cache-Control": {"max-stale=0"}}, wantErr: upstream.ErrRateLimited},
		{name: "within max-stale=20: stale", after: testTTL + 20*time.Second,
			header: http.Header{"Cache-Control": {"max-age=60, max-stale=20"}}, wantStale: true},
		{name: "past max-stale=20: RATE_LIMITED", after: testTTL + 21*time.Second,
			header: http.Header{"Cache-Control": {"max-stale=20"}}, wantErr: upstream.ErrRateLimited},
		{name: "max-stale without a value: the gateway's bound", after: testTTL + time.Minute,
			header: http.Header{"Cache-Control": {"max-stale"}}, wantStale: true},
		{name: "no-cache: nothing cached, not even stale", after: testTTL + time.Second,
			header: http.Header{"Cache-Control": {"no-cache"}}, wantErr: upstream.ErrRateLimited},
		{name: "evicted by a write: never stale", after: testTTL + time.Second, wantErr: upstream.ErrRateLimited,
			second: func(t *testing.T, e *staleEnv, id string) {
				spend(t, e)
				e.reader.Invalidate(e.sb.Locations()[0], id)
			}},
		{name: "circuit open: stale", after: testTTL + time.Second, wantStale: true,
			second: func(t *testing.T, e *staleEnv, id string) {
				e.failing.Store(true) // one failure opens the breaker
				if _, err := e.reader.Contact(credCtx(e.tok), e.ids[5]); !errors.Is(err, upstream.ErrServer) {
					t.Fatalf("breaker-opening read: %v", err)
				}
				e.failing.Store(false)
			}},
		{name: "a 404 is never hidden by a stale copy", after: testTTL + time.Second, wantErr: upstream.ErrNotFound,
			second: func(t *testing.T, e *staleEnv, id string) {
				// Deleted elsewhere; the budget has a slot for the read.
				if _, err := e.direct.Contacts.Delete(credCtx(e.tok), id); err != nil {
					t.Fatal(err)
				}
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newStaleEnv(t, upstream.BudgetConfig{Max: 2}, nil)
			id := e.ids[0]
			fetched := e.clock.Now()
			if _, err := e.reader.Contact(credCtx(e.tok), id); err != nil {
				t.Fatal(err)
			}
			if tc.second != nil {
				tc.second(t, e, id)
			} else {
				spend(t, e)
			}
			e.clock.Set(fetched.Add(tc.after))
			ctx, l := e.request(tc.header)
			if NoCacheRequested(tc.header) {
				ctx = WithoutCache(ctx)
			}
			calls := e.calls.Load()
			c, err := e.reader.Contact(ctx, id)
			key := e.reader.contactRequest(ctx, "contact", id).key
			age, stale := staleAge(l, key)
			switch {
			case tc.wantStale:
				if err != nil || c == nil || c.ID != id {
					t.Fatalf("got %v, %v; want the stale contact", c, err)
				}
				if !stale || age != tc.after {
					t.Errorf("stale mark: %v (age %v), want age %v", stale, age, tc.after)
				}
				if got := e.reader.Stats().StaleServed; got != 1 {
					t.Errorf("StaleServed = %d, want 1", got)
				}
			case tc.wantErr != nil:
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("err = %v, want %v", err, tc.wantErr)
				}
				if stale || e.reader.Stats().StaleServed != 0 {
					t.Error("an error case was served stale")
				}
			default:
				if err != nil || stale || e.calls.Load() != calls {
					t.Errorf("fresh hit: err %v, stale %v, %d calls", err, stale, e.calls.Load()-calls)
				}
			}
		})
	}
}

// spend reads another contact, spending the budget's last slot.
func spend(t *testing.T, e *staleEnv) {
	t.Helper()
	if _, err := e.reader.Contact(credCtx(e.tok), e.ids[1]); err != nil {
		t.Fatal(err)
	}
	if left := e.budget.Remaining(""); left != 0 {
		t.Fatalf("budget has %d left, want it spent", left)
	}
}

// A stale answer is served only to a request that can mark it: a Reader
// call outside any request's loaders gets the error.
func TestStaleNeedsARequestToMark(t *testing.T) {
	e := newStaleEnv(t, upstream.BudgetConfig{Max: 2}, nil)
	e.reader.Contact(credCtx(e.tok), e.ids[0])
	spend(t, e)
	e.clock.Advance(testTTL + time.Second)
	if _, err := e.reader.Contact(credCtx(e.tok), e.ids[0]); !errors.Is(err, upstream.ErrRateLimited) {
		t.Errorf("unmarkable read: %v, want RATE_LIMITED", err)
	}
	// And a Reader with staleness off never serves it.
	off := newStaleEnv(t, upstream.BudgetConfig{Max: 2}, func(c *Config) { c.StaleFor = -1 })
	off.reader.Contact(credCtx(off.tok), off.ids[0])
	spend(t, off)
	off.clock.Advance(testTTL + time.Second)
	ctx, _ := off.request(nil)
	if _, err := off.reader.Contact(ctx, off.ids[0]); !errors.Is(err, upstream.ErrRateLimited) {
		t.Errorf("staleness off: %v, want RATE_LIMITED", err)
	}
}

func TestMaxStale(t *testing.T) {
	forever := time.Duration(1<<63 - 1)
	for _, tc := range []struct {
		header string
		bound  time.Duration
		ok     bool
	}{
		{"", 0, false},
		{"no-cache", 0, false},
		{"max-stale=0", 0, true},
		{"max-stale=15", 15 * time.Second, true},
		{"Max-Stale = 15", 15 * time.Second, true},
		{`max-stale="30"`, 30 * time.Second, true},
		{"max-age=10, max-stale=5", 5 * time.Second, true},
		{"max-stale", forever, true},
		{"max-stale=-1", 0, true},
		{"max-stale=abc", 0, true},
		{"max-stale=99999999999999999999", 0, true},
		{"max-stale=9999999999999", forever, true},
	} {
		h := http.Header{}
		if tc.header != "" {
			h.Set("Cache-Control", tc.header)
		}
		bound, ok := MaxStale(h)
		if bound != tc.bound || ok != tc.ok {
			t.Errorf("%q: %v, %v; want %v, %v", tc.header, bound, ok, tc.bound, tc.ok)
		}
	}
}

// feed is a ChangeFeed that vouches for everything until changed is set.
type feed struct{ changed atomic.Bool }

func (f *feed) Unchanged(tags []string, since time.Time) bool { return !f.changed.Load() }

// With a change feed, an answer past its TTL that no event touched is
// fresh: served without a call and without a stale mark.
func TestChangeFeedKeepsUntouchedAnswersFresh(t *testing.T) {
	f := &feed{}
	e := newStaleEnv(t, upstream.BudgetConfig{Max: 10}, func(c *Config) { c.Changes = f })
	id := e.ids[0]
	e.reader.Contact(credCtx(e.tok), id)
	e.clock.Advance(testTTL + 30*time.Second)
	ctx, l := e.request(nil)
	calls := e.calls.Load()
	if _, err := e.reader.Contact(ctx, id); err != nil {
		t.Fatal(err)
	}
	if e.calls.Load() != calls {
		t.Error("an answer the feed vouches for was fetched again")
	}
	if _, stale := staleAge(l, e.reader.contactRequest(ctx, "contact", id).key); stale {
		t.Error("an answer the feed vouches for was marked stale")
	}
	f.changed.Store(true)
	if _, err := e.reader.Contact(ctx, id); err != nil {
		t.Fatal(err)
	}
	if e.calls.Load() != calls+1 {
		t.Error("an answer the feed no longer vouches for was not fetched")
	}
}

// A call the budget cannot let go before the request's deadline is refused
// at once with RATE_LIMITED (and a stale copy, if kept, is served), rather
// than left waiting into the request's timeout.
func TestUnaffordableCallRefusedAtOnce(t *testing.T) {
	e := newStaleEnv(t, upstream.BudgetConfig{Max: 1, Interval: 10 * time.Second}, nil)
	e.reader.Contact(credCtx(e.tok), e.ids[0]) // the window's only call
	e.clock.Advance(9 * time.Second)           // its slot frees in 1 s, after the deadline below
	ctx, cancel := context.WithTimeout(credCtx(e.tok), 500*time.Millisecond)
	defer cancel()
	_, err := e.reader.Contact(ctx, e.ids[1])
	var ue *upstream.Error
	if !errors.As(err, &ue) || !errors.Is(err, upstream.ErrRateLimited) || ue.RetryAfter < time.Second || ue.RequestSent {
		t.Fatalf("err = %#v, want RATE_LIMITED with a retryAfter, nothing sent", err)
	}
	if ctx.Err() != nil {
		t.Error("the refusal waited for the deadline")
	}
	if e.calls.Load() != 1 {
		t.Errorf("%d calls, want 1", e.calls.Load())
	}
}

// HighLevel's own 429 (other apps spent the location's budget) serves the
// kept answer like our budget's refusal does.
func TestStaleOnUpstream429(t *testing.T) {
	e := newStaleEnv(t, upstream.BudgetConfig{Max: 100}, nil)
	id := e.ids[0]
	e.sb.SetRateLimit(sandbox.RateLimit{Max: 2, Interval: time.Hour})
	e.reader.Contact(credCtx(e.tok), id) // the budget learns HighLevel's window: one call left
	// Another app spends it, unknown to the budget.
	if _, _, err := e.direct.Contacts.Get(credCtx(e.tok), e.ids[2]); err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(testTTL + time.Second)
	ctx, l := e.request(nil)
	c, err := e.reader.Contact(ctx, id)
	if err != nil || c.ID != id {
		t.Fatalf("got %v, %v; want the stale contact", c, err)
	}
	if got := e.calls.Load(); got != 3 {
		t.Errorf("%d calls, want 3: the last one refused by HighLevel", got)
	}
	if _, stale := staleAge(l, e.reader.contactRequest(ctx, "contact", id).key); !stale {
		t.Error("not marked stale")
	}
}

// FuzzMaxStale: any Cache-Control header parses without panicking, to a
// bound that is never negative, and to none when ok is false.
func FuzzMaxStale(f *testing.F) {
	for _, s := range []string{"", "max-stale", "max-stale=0", "max-stale=15", `max-stale="7"`, "no-cache, max-stale=-3",
		"max-stale=99999999999999999999", "MAX-STALE = 1", "max-stale=1e3", "=,=,max-stale=", "max-stale=\x00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		bound, ok := MaxStale(http.Header{"Cache-Control": {v}})
		if bound < 0 || (!ok && bound != 0) {
			t.Errorf("MaxStale(%q) = %v, %v", v, bound, ok)
		}
	})
}
