// Tests for refresh-ahead: it spends only spare budget, never a slot a
// waiting request needs, and shares its call with foreground reads.

package loaders

import (
	"context"
	"errors"
	"runtime"
	"testing"
	"time"

	"github.com/ghl-graphql/gateway/upstream"
)

func TestRefreshAheadSpendsOnlySpare(t *testing.T) {
	// Four calls per window; refreshes may use half: they go only while
	// more than two slots are free. The window opens 15 s before expiry.
	e := newStaleEnv(t, upstream.BudgetConfig{Max: 4}, func(c *Config) {
		c.Refresh = RefreshConfig{Ahead: 0.5, Share: 0.5, WindowMax: 4}
	})
	id := e.ids[0]
	t0 := e.clock.Now()
	if _, err := e.reader.Contact(credCtx(e.tok), id); err != nil { // call 1: 3 left
		t.Fatal(err)
	}
	read := func(at time.Duration) {
		t.Helper()
		e.clock.Set(t0.Add(at))
		ctx, l := e.request(nil)
		if _, err := l.Contact(ctx, id); err != nil {
			t.Fatalf("read at %v: %v", at, err)
		}
		e.reader.WaitRefreshes()
	}
	steps := []struct {
		at                       time.Duration
		calls                    int64
		started, noSpare, stored uint64
	}{
		{at: 10 * time.Second, calls: 1},                                                     // before the window: nothing
		{at: 20 * time.Second, calls: 2, started: 1, stored: 1},                              // in it, 3 free > 2: refreshed
		{at: 21 * time.Second, calls: 2, started: 1, stored: 1},                              // the new answer (to 50 s) is not due
		{at: 31 * time.Second, calls: 2, started: 1, stored: 1},                              // past the first expiry: still fresh
		{at: 40 * time.Second, calls: 2, started: 1, noSpare: 1, stored: 1},                  // due (from 35 s), but 2 free is no spare
		{at: 40*time.Second + time.Millisecond, calls: 2, started: 1, noSpare: 1, stored: 1}, // not asked again so soon
	}
	for _, s := range steps {
		read(s.at)
		st := e.reader.Stats()
		if got := e.calls.Load(); got != s.calls || st.RefreshStarted != s.started || st.RefreshNoSpare != s.noSpare || st.RefreshStored != s.stored {
			t.Errorf("after the read at %v: %d calls, %+v; want %d calls, started %d, no spare %d, stored %d",
				s.at, got, st, s.calls, s.started, s.noSpare, s.stored)
		}
		if st.StaleServed != 0 {
			t.Errorf("at %v: %d stale answers; refresh-ahead should keep the answer fresh", s.at, st.StaleServed)
		}
	}
}

// While a request waits for a slot, refresh-ahead takes none: the waiter's
// reservation leaves the budget nothing spare.
func TestRefreshNeverTakesAWaitersSlot(t *testing.T) {
	// A 10 s window of 2 calls, answers living 10 s, refreshed in their last 2 s.
	e := newStaleEnv(t, upstream.BudgetConfig{Max: 2, Interval: 10 * time.Second}, func(c *Config) {
		c.TTLs = TTLs{Contact: 10 * time.Second, Lists: 10 * time.Second, Search: 10 * time.Second}
		c.Refresh = RefreshConfig{Ahead: 0.2, Share: 1, WindowMax: 2}
	})
	a, b, c := e.ids[0], e.ids[1], e.ids[2]
	e.reader.Contact(credCtx(e.tok), a)
	e.reader.Contact(credCtx(e.tok), b) // the window is full until 10 s
	e.clock.Advance(9500 * time.Millisecond)

	// A request for c waits for the slot that frees in half a second.
	// Capacity over a year is what the day has left, which a waiter's
	// reservation takes one from.
	const year = 365 * 24 * time.Hour
	dayLeft := e.budget.Capacity("", year)
	// The request may wait up to a minute for its slot (the budget's own
	// MaxWait here is a millisecond, for the other requests).
	waitCtx, cancel := context.WithTimeout(
		upstream.ContextWithBudgetRequest(credCtx(e.tok), upstream.BudgetRequest{MaxWait: time.Minute}), time.Minute)
	defer cancel()
	waiterDone := make(chan error, 1)
	go func() {
		_, err := e.reader.Contact(waitCtx, c)
		waiterDone <- err
	}()
	for e.budget.Capacity("", year) == dayLeft {
		select {
		case err := <-waiterDone:
			t.Fatalf("the waiter did not wait: %v", err)
		default:
		}
		runtime.Gosched() // until the waiter holds its place in line
	}

	// a is in its refresh window and hot, but the only free slot is the waiter's.
	ctx, l := e.request(nil)
	if _, err := l.Contact(ctx, a); err != nil {
		t.Fatal(err)
	}
	e.reader.WaitRefreshes()
	if st := e.reader.Stats(); st.RefreshStarted != 0 || st.RefreshNoSpare != 1 {
		t.Errorf("with a request waiting: %+v, want no refresh started and one refused for want of spare", st)
	}
	if got := e.calls.Load(); got != 2 {
		t.Errorf("%d calls, want the 2 foreground ones", got)
	}
	select {
	case err := <-waiterDone:
		t.Fatalf("the waiter gave up: %v", err)
	default:
	}
	cancel()
	if err := <-waiterDone; !errors.Is(err, context.Canceled) {
		t.Errorf("waiter: %v", err)
	}
}

// A refresh and a foreground read of the same answer make one call, sent
// with the credential of the read that started the refresh.
func TestRefreshCoalescesWithForegroundReads(t *testing.T) {
	e := newStaleEnv(t, upstream.BudgetConfig{Max: 10}, func(c *Config) {
		c.Refresh = RefreshConfig{Ahead: 0.5, WindowMax: 10}
	})
	id := e.ids[0]
	t0 := e.clock.Now()
	e.reader.Contact(credCtx(e.tok), id)

	hold := make(chan struct{})
	e.mu.Lock()
	e.hold = hold
	e.mu.Unlock()
	e.clock.Set(t0.Add(20 * time.Second))
	ctx, l := e.request(nil)
	if _, err := l.Contact(ctx, id); err != nil { // fresh, and starts the refresh
		t.Fatal(err)
	}
	for e.calls.Load() != 2 {
		runtime.Gosched() // until the refresh's call is at the upstream
	}

	e.clock.Set(t0.Add(31 * time.Second)) // expired: a foreground miss
	ctx2, l2 := e.request(nil)
	got := make(chan error, 1)
	go func() {
		_, err := l2.Contact(ctx2, id)
		got <- err
	}()
	key := e.reader.contactRequest(ctx, "contact", id).key
	for waiters(&e.reader.flight, key) != 2 {
		runtime.Gosched() // until the foreground read has joined the refresh
	}
	close(hold)
	if err := <-got; err != nil {
		t.Fatal(err)
	}
	e.reader.WaitRefreshes()
	if n := e.calls.Load(); n != 2 {
		t.Errorf("%d calls, want 2: the foreground read should share the refresh's", n)
	}
	e.mu.Lock()
	auth := e.auths[1]
	e.mu.Unlock()
	if auth != "Bearer "+e.tok {
		t.Errorf("the refresh sent %q, want the reading credential's token", auth)
	}
	if _, stale := staleAge(l2, key); stale {
		t.Error("the shared answer was marked stale")
	}
}

func TestRefreshConfig(t *testing.T) {
	for _, tc := range []struct {
		cfg RefreshConfig
		ok  bool
	}{
		{RefreshConfig{}, true},
		{RefreshConfig{Ahead: 0.2}, true},
		{RefreshConfig{Ahead: 1}, false},
		{RefreshConfig{Ahead: -0.1}, false},
		{RefreshConfig{Ahead: 0.2, Share: 1.5}, false},
		{RefreshConfig{Ahead: 0.2, Share: -1}, false},
	} {
		c := tc.cfg
		if err := c.normalize(); (err == nil) != tc.ok {
			t.Errorf("%+v: %v", tc.cfg, err)
		}
	}
	c := RefreshConfig{Ahead: 0.2}
	c.normalize()
	if c.Share != DefaultRefreshShare || c.WindowMax != upstream.DefaultBudgetMax || c.HotKeys != DefaultRefreshHotKeys {
		t.Errorf("defaults: %+v", c)
	}
}

// The Reader remembers how to refresh at most HotKeys answers; the least
// recently stored are forgotten and simply expire.
func TestRefreshBookkeepingIsBounded(t *testing.T) {
	e := newStaleEnv(t, upstream.BudgetConfig{Max: 100}, func(c *Config) {
		c.Refresh = RefreshConfig{Ahead: 0.5, WindowMax: 100, HotKeys: 3}
	})
	for _, id := range e.ids[:5] {
		e.reader.Contact(credCtx(e.tok), id)
	}
	if n := e.reader.refresh.hot.Len(); n != 3 {
		t.Fatalf("%d answers remembered, want 3", n)
	}
	e.clock.Advance(20 * time.Second)
	for _, id := range e.ids[:5] {
		ctx, l := e.request(nil)
		l.Contact(ctx, id)
	}
	e.reader.WaitRefreshes()
	if st := e.reader.Stats(); st.RefreshStarted != 3 {
		t.Errorf("%d refreshes, want 3 (the remembered answers)", st.RefreshStarted)
	}
}
