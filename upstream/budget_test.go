// This file covers LocalBudget, mostly on a fake clock: the sliding window
// never lets more than Max calls into any Interval-long window and never
// refuses a call it could let go (a property check over random call
// patterns); the daily cap; corrections from the rate headers (a lower
// X-RateLimit-Remaining, a lower daily remainder, a smaller announced window
// adopted, a larger one ignored); a 429 draining the budget; stamping a call
// at its answer; per-key isolation; eviction of idle keys. With the real
// clock: Wait refuses at once when the deadline is too close, waits when it
// allows (a lower bound only), and returns on cancellation, leaving nothing
// behind.

package upstream

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/ghl-graphql/gateway/internal/fakeclock"
)

// newFakeClock is the clock of these tests.
func newFakeClock() *fakeclock.Clock {
	return fakeclock.New(time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC))
}

// fakeBudget returns a budget on clk that never waits: with MaxWait 1ns, a
// call that cannot go now is refused, so that a test on a fake clock never
// sleeps.
func fakeBudget(clk *fakeclock.Clock, cfg BudgetConfig) *LocalBudget {
	cfg.MaxWait, cfg.Now = time.Nanosecond, clk.Now
	return NewLocalBudget(cfg)
}

// take makes one call on key as Client.Do would: wait for a slot, then
// report an answer at once (status 200, no headers). It returns Wait's error.
func take(b RateBudget, key string) error {
	if err := b.Wait(context.Background(), key); err != nil {
		return err
	}
	b.Observe(key, unknownRate, 200, 0)
	return nil
}

// wantRefused checks that err is the budget's refusal with RetryAfter want
// (any positive value when want is 0).
func wantRefused(t *testing.T, err error, want time.Duration) {
	t.Helper()
	if err == nil {
		t.Fatalf("Wait let the call go, want a refusal")
	}
	e := asError(t, err)
	if !errors.Is(err, ErrRateLimited) || e.RequestSent || e.StatusCode != 0 {
		t.Fatalf("err = %v (RequestSent %v, status %d), want ErrRateLimited, not sent", err, e.RequestSent, e.StatusCode)
	}
	if (want == 0 && e.RetryAfter <= 0) || (want != 0 && e.RetryAfter != want) {
		t.Fatalf("RetryAfter = %v, want %v", e.RetryAfter, want)
	}
}

// rate makes a Rate with the burst fields given and the rest unknown.
func rate(max, remaining int, interval time.Duration) Rate {
	return Rate{Max: max, Remaining: remaining, Interval: interval, DailyLimit: -1, DailyRemaining: -1}
}

func TestLocalBudgetSlidingWindowProperty(t *testing.T) {
	const (
		max      = 5
		interval = time.Second
	)
	for seed := uint64(1); seed <= 8; seed++ {
		t.Run(fmt.Sprint("seed ", seed), func(t *testing.T) {
			clk := newFakeClock()
			b := fakeBudget(clk, BudgetConfig{Max: max, Interval: interval, Daily: 1 << 30})
			rng := rand.New(rand.NewPCG(seed, 42))
			var grants []time.Time
			for i := range 3000 {
				// Bursts (steps of a few ms) mixed with pauses.
				step := time.Duration(rng.Int64N(int64(10 * time.Millisecond)))
				if rng.IntN(3) == 0 {
					step = time.Duration(rng.Int64N(int64(700 * time.Millisecond)))
				}
				clk.Advance(step)
				now := clk.Now()
				inWindow := 0
				for _, g := range grants {
					if g.After(now.Add(-interval)) {
						inWindow++
					}
				}
				err := take(b, "loc")
				switch {
				case err == nil && inWindow >= max:
					t.Fatalf("call %d let go with %d calls in the last interval", i, inWindow)
				case err != nil && inWindow < max:
					t.Fatalf("call %d refused with only %d calls in the last interval: %v", i, inWindow, err)
				case err != nil:
					// The slot frees when the oldest of the last max calls
					// leaves the window: RetryAfter says exactly when.
					wantRefused(t, err, grants[len(grants)-max].Add(interval).Sub(now))
				default:
					grants = append(grants, now)
				}
			}
			// Any max+1 consecutive calls span at least one interval.
			for i := max; i < len(grants); i++ {
				if d := grants[i].Sub(grants[i-max]); d < interval {
					t.Fatalf("calls %d..%d within %v", i-max, i, d)
				}
			}
			if len(grants) < 500 {
				t.Errorf("only %d calls let go: the pattern does not exercise the window", len(grants))
			}
		})
	}
}

func TestLocalBudgetCorrections(t *testing.T) {
	tests := []struct {
		name string
		cfg  BudgetConfig
		run  func(t *testing.T, b *LocalBudget, clk *fakeclock.Clock)
	}{
		{
			name: "daily cap, until the next UTC day",
			cfg:  BudgetConfig{Max: 100, Interval: time.Second, Daily: 5},
			run: func(t *testing.T, b *LocalBudget, clk *fakeclock.Clock) {
				for i := range 5 {
					if err := take(b, "loc"); err != nil {
						t.Fatalf("call %d: %v", i, err)
					}
					clk.Advance(time.Minute)
				}
				if got := b.Remaining("loc"); got != 0 {
					t.Errorf("Remaining = %d, want 0", got)
				}
				// The clock is at 12:05 UTC: the day ends in 11h55m.
				wantRefused(t, take(b, "loc"), 11*time.Hour+55*time.Minute)
				clk.Advance(11*time.Hour + 55*time.Minute)
				if err := take(b, "loc"); err != nil {
					t.Fatalf("first call of the next day: %v", err)
				}
				if got := b.Remaining("loc"); got != 4 {
					t.Errorf("Remaining = %d, want 4", got)
				}
			},
		},
		{
			name: "a lower X-RateLimit-Remaining takes the difference",
			cfg:  BudgetConfig{Max: 10, Interval: 10 * time.Second},
			run: func(t *testing.T, b *LocalBudget, clk *fakeclock.Clock) {
				if err := b.Wait(t.Context(), "loc"); err != nil {
					t.Fatal(err)
				}
				// Others used 4 of the window: the upstream has 5 left, not 9.
				b.Observe("loc", rate(10, 5, 10*time.Second), 200, 0)
				if got := b.Remaining("loc"); got != 5 {
					t.Fatalf("Remaining = %d, want 5", got)
				}
				for i := range 5 {
					if err := take(b, "loc"); err != nil {
						t.Fatalf("call %d: %v", i, err)
					}
				}
				wantRefused(t, take(b, "loc"), 10*time.Second)
			},
		},
		{
			name: "a higher X-RateLimit-Remaining changes nothing",
			cfg:  BudgetConfig{Max: 10, Interval: 10 * time.Second},
			run: func(t *testing.T, b *LocalBudget, clk *fakeclock.Clock) {
				for range 3 {
					if err := b.Wait(t.Context(), "loc"); err != nil {
						t.Fatal(err)
					}
					b.Observe("loc", rate(10, 9, 10*time.Second), 200, 0)
				}
				if got := b.Remaining("loc"); got != 7 {
					t.Errorf("Remaining = %d, want 7", got)
				}
			},
		},
		{
			name: "a lower X-RateLimit-Daily-Remaining",
			cfg:  BudgetConfig{Max: 10, Interval: time.Second, Daily: 1000},
			run: func(t *testing.T, b *LocalBudget, clk *fakeclock.Clock) {
				if err := b.Wait(t.Context(), "loc"); err != nil {
					t.Fatal(err)
				}
				b.Observe("loc", Rate{Max: -1, Remaining: -1, Interval: -1, DailyLimit: 1000, DailyRemaining: 3}, 200, 0)
				if got := b.Remaining("loc"); got != 3 {
					t.Fatalf("Remaining = %d, want 3", got)
				}
				for range 3 {
					if err := take(b, "loc"); err != nil {
						t.Fatal(err)
					}
				}
				wantRefused(t, take(b, "loc"), 12*time.Hour)
			},
		},
		{
			name: "a smaller announced Max is adopted",
			cfg:  BudgetConfig{Max: 10, Interval: time.Second},
			run: func(t *testing.T, b *LocalBudget, clk *fakeclock.Clock) {
				if err := b.Wait(t.Context(), "loc"); err != nil {
					t.Fatal(err)
				}
				b.Observe("loc", rate(4, 3, time.Second), 200, 0)
				if got := b.Remaining("loc"); got != 3 {
					t.Fatalf("Remaining = %d, want 3", got)
				}
				for range 3 {
					if err := take(b, "loc"); err != nil {
						t.Fatal(err)
					}
				}
				wantRefused(t, take(b, "loc"), time.Second)
			},
		},
		{
			name: "a longer announced Interval is adopted",
			cfg:  BudgetConfig{Max: 10, Interval: time.Second},
			run: func(t *testing.T, b *LocalBudget, clk *fakeclock.Clock) {
				for i := range 10 {
					if err := b.Wait(t.Context(), "loc"); err != nil {
						t.Fatalf("call %d: %v", i, err)
					}
					b.Observe("loc", rate(10, 9-i, 2*time.Second), 200, 0)
				}
				clk.Advance(1500 * time.Millisecond)
				wantRefused(t, take(b, "loc"), 500*time.Millisecond)
				clk.Advance(500 * time.Millisecond)
				if err := take(b, "loc"); err != nil {
					t.Fatalf("after the announced interval: %v", err)
				}
			},
		},
		{
			name: "a larger announced budget is ignored",
			cfg:  BudgetConfig{Max: 10, Interval: time.Second},
			run: func(t *testing.T, b *LocalBudget, clk *fakeclock.Clock) {
				for i := range 10 {
					if err := b.Wait(t.Context(), "loc"); err != nil {
						t.Fatalf("call %d: %v", i, err)
					}
					b.Observe("loc", rate(1_000_000, 999_999-i, time.Second), 200, 0)
				}
				wantRefused(t, take(b, "loc"), time.Second)
			},
		},
		{
			name: "a smaller announced daily limit is adopted",
			cfg:  BudgetConfig{Max: 10, Interval: time.Second, Daily: 1000},
			run: func(t *testing.T, b *LocalBudget, clk *fakeclock.Clock) {
				if err := b.Wait(t.Context(), "loc"); err != nil {
					t.Fatal(err)
				}
				b.Observe("loc", Rate{Max: -1, Remaining: -1, Interval: -1, DailyLimit: 2, DailyRemaining: -1}, 200, 0)
				if err := take(b, "loc"); err != nil {
					t.Fatal(err)
				}
				wantRefused(t, take(b, "loc"), 12*time.Hour)
			},
		},
		{
			name: "a 429 empties the budget until Retry-After",
			cfg:  BudgetConfig{Max: 10, Interval: time.Second},
			run: func(t *testing.T, b *LocalBudget, clk *fakeclock.Clock) {
				if err := b.Wait(t.Context(), "loc"); err != nil {
					t.Fatal(err)
				}
				b.Observe("loc", rate(10, 0, time.Second), 429, 3*time.Second)
				if got := b.Remaining("loc"); got != 0 {
					t.Errorf("Remaining = %d, want 0", got)
				}
				wantRefused(t, take(b, "loc"), 3*time.Second)
				clk.Advance(3 * time.Second)
				if err := take(b, "loc"); err != nil {
					t.Fatalf("after Retry-After: %v", err)
				}
			},
		},
		{
			name: "a 429 without Retry-After empties it for the interval",
			cfg:  BudgetConfig{Max: 10, Interval: 2 * time.Second},
			run: func(t *testing.T, b *LocalBudget, clk *fakeclock.Clock) {
				if err := b.Wait(t.Context(), "loc"); err != nil {
					t.Fatal(err)
				}
				b.Observe("loc", unknownRate, 429, 0)
				wantRefused(t, take(b, "loc"), 2*time.Second)
				clk.Advance(2 * time.Second)
				if err := take(b, "loc"); err != nil {
					t.Fatalf("after the interval: %v", err)
				}
			},
		},
		{
			name: "a call counts from its answer, when the upstream may have counted it",
			cfg:  BudgetConfig{Max: 1, Interval: time.Second},
			run: func(t *testing.T, b *LocalBudget, clk *fakeclock.Clock) {
				if err := b.Wait(t.Context(), "loc"); err != nil {
					t.Fatal(err)
				}
				clk.Advance(500 * time.Millisecond)
				b.Observe("loc", unknownRate, 200, 0)
				clk.Advance(600 * time.Millisecond)
				// Sent 1.1s ago, answered 0.6s ago: the slot frees in 0.4s.
				wantRefused(t, take(b, "loc"), 400*time.Millisecond)
			},
		},
		{
			name: "a call still in flight holds its slot past the interval",
			cfg:  BudgetConfig{Max: 1, Interval: time.Second},
			run: func(t *testing.T, b *LocalBudget, clk *fakeclock.Clock) {
				if err := b.Wait(t.Context(), "loc"); err != nil {
					t.Fatal(err)
				}
				clk.Advance(1500 * time.Millisecond)
				if got := b.Remaining("loc"); got != 0 {
					t.Errorf("Remaining = %d while the call is in flight, want 0", got)
				}
				wantRefused(t, take(b, "loc"), 0)
				b.Observe("loc", unknownRate, 200, 0)
				clk.Advance(time.Second)
				if err := take(b, "loc"); err != nil {
					t.Fatalf("an interval after the answer: %v", err)
				}
			},
		},
		{
			name: "keys are isolated",
			cfg:  BudgetConfig{Max: 2, Interval: time.Second},
			run: func(t *testing.T, b *LocalBudget, clk *fakeclock.Clock) {
				for range 2 {
					if err := take(b, "a"); err != nil {
						t.Fatal(err)
					}
				}
				wantRefused(t, take(b, "a"), time.Second)
				if got := b.Remaining("b"); got != 2 {
					t.Errorf("Remaining(b) = %d, want 2", got)
				}
				if err := take(b, "b"); err != nil {
					t.Fatalf("key b: %v", err)
				}
				b.Observe("b", unknownRate, 429, time.Minute)
				if got := b.Remaining("a"); got != 0 {
					t.Errorf("Remaining(a) = %d, want 0", got)
				}
				clk.Advance(time.Second)
				if got := b.Remaining("a"); got != 2 {
					t.Errorf("Remaining(a) = %d after a 429 on b, want 2", got)
				}
			},
		},
		{
			name: "idle keys are evicted after a day",
			cfg:  BudgetConfig{Max: 2, Interval: time.Second},
			run: func(t *testing.T, b *LocalBudget, clk *fakeclock.Clock) {
				for i := range 100 {
					if err := take(b, fmt.Sprint("old-", i)); err != nil {
						t.Fatal(err)
					}
				}
				clk.Advance(2 * time.Hour)
				if err := take(b, "recent"); err != nil {
					t.Fatal(err)
				}
				if got := b.keyCount(); got != 101 {
					t.Fatalf("%d keys, want 101", got)
				}
				clk.Advance(23 * time.Hour)
				if err := take(b, "new"); err != nil {
					t.Fatal(err)
				}
				// The 100 old keys were idle for 25h; "recent" for 23h.
				if got := b.keyCount(); got != 2 {
					t.Errorf("%d keys after a day, want 2 (recent, new)", got)
				}
				if got := b.Remaining("old-1"); got != 2 {
					t.Errorf("Remaining of an evicted key = %d, want the full budget", got)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk := newFakeClock()
			tt.run(t, fakeBudget(clk, tt.cfg), clk)
		})
	}
}

// TestLocalBudgetWaitRealTime uses the real clock, asserting only lower
// bounds on time.
func TestLocalBudgetWaitRealTime(t *testing.T) {
	t.Run("refuses at once when the deadline is too close", func(t *testing.T) {
		b := NewLocalBudget(BudgetConfig{Max: 1, Interval: 2 * time.Second})
		if err := take(b, "loc"); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(t.Context(), time.Second)
		defer cancel()
		err := b.Wait(ctx, "loc")
		// It did not wait for the deadline to say no.
		if ctx.Err() != nil {
			t.Errorf("Wait returned after the deadline")
		}
		wantRefused(t, err, 0)
		if ra := asError(t, err).RetryAfter; ra <= time.Second || ra > 2*time.Second {
			t.Errorf("RetryAfter = %v, want within (1s, 2s]", ra)
		}
	})
	t.Run("refuses at once past MaxWait without a deadline", func(t *testing.T) {
		b := NewLocalBudget(BudgetConfig{Max: 1, Interval: time.Hour, MaxWait: time.Minute})
		if err := take(b, "loc"); err != nil {
			t.Fatal(err)
		}
		wantRefused(t, b.Wait(context.Background(), "loc"), 0)
	})
	t.Run("waits when the deadline allows", func(t *testing.T) {
		const interval = 150 * time.Millisecond
		b := NewLocalBudget(BudgetConfig{Max: 1, Interval: interval})
		start := time.Now()
		if err := take(b, "loc"); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		defer cancel()
		if err := b.Wait(ctx, "loc"); err != nil {
			t.Fatalf("Wait: %v", err)
		}
		if elapsed := time.Since(start); elapsed < interval {
			t.Errorf("second call went %v after the first, want at least %v", elapsed, interval)
		}
	})
	t.Run("an answer wakes a waiter held by a call in flight", func(t *testing.T) {
		const interval = 100 * time.Millisecond
		b := NewLocalBudget(BudgetConfig{Max: 1, Interval: interval})
		if err := b.Wait(t.Context(), "loc"); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			done <- b.Wait(ctx, "loc")
		}()
		time.Sleep(interval / 2)
		answered := time.Now()
		b.Observe("loc", unknownRate, 200, 0)
		if err := <-done; err != nil {
			t.Fatalf("waiter: %v", err)
		}
		if elapsed := time.Since(answered); elapsed < interval {
			t.Errorf("waiter went %v after the answer, want at least %v", elapsed, interval)
		}
	})
	t.Run("cancellation ends the wait and frees its place", func(t *testing.T) {
		defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
		b := NewLocalBudget(BudgetConfig{Max: 1, Interval: time.Hour, MaxWait: 2 * time.Hour})
		if err := take(b, "loc"); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error, 1)
		go func() { done <- b.Wait(ctx, "loc") }()
		time.Sleep(20 * time.Millisecond)
		cancel()
		select {
		case err := <-done:
			if !errors.Is(err, context.Canceled) || errors.Is(err, ErrRateLimited) {
				t.Fatalf("err = %v, want context.Canceled", err)
			}
			asError(t, err)
		case <-time.After(10 * time.Second):
			t.Fatal("Wait did not return after cancellation")
		}
		b.mu.Lock()
		kb := b.keys["loc"]
		reserved, entries := kb.reserved, len(kb.entries)
		b.mu.Unlock()
		if reserved != 0 || entries != 1 {
			t.Errorf("after cancellation: %d reservations, %d entries; want 0, 1", reserved, entries)
		}
	})
	t.Run("an already cancelled context", func(t *testing.T) {
		b := NewLocalBudget(BudgetConfig{})
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		if err := b.Wait(ctx, "loc"); !errors.Is(err, context.Canceled) {
			t.Fatalf("err = %v, want context.Canceled", err)
		}
		if got := b.Remaining("loc"); got != DefaultBudgetMax {
			t.Errorf("Remaining = %d, want %d", got, DefaultBudgetMax)
		}
	})
	t.Run("concurrent callers share the window", func(t *testing.T) {
		defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
		const (
			max      = 10
			interval = 50 * time.Millisecond
			callers  = 20
			each     = 5
		)
		b := NewLocalBudget(BudgetConfig{Max: max, Interval: interval})
		start := time.Now()
		var wg sync.WaitGroup
		errs := make(chan error, callers*each)
		for range callers {
			wg.Go(func() {
				for range each {
					ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
					if err := b.Wait(ctx, "loc"); err != nil {
						errs <- err
					} else {
						b.Observe("loc", unknownRate, 200, 0)
					}
					cancel()
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Errorf("Wait: %v", err)
		}
		// 100 calls at 10 per 50ms need at least 9 full intervals.
		if elapsed := time.Since(start); elapsed < 9*interval {
			t.Errorf("%d calls took %v, want at least %v", callers*each, elapsed, 9*interval)
		}
	})
}

func TestNewLocalBudgetDefaults(t *testing.T) {
	b := NewLocalBudget(BudgetConfig{Max: -1, Interval: -time.Second})
	if b.cfg.Max != DefaultBudgetMax || b.cfg.Interval != DefaultBudgetInterval || b.cfg.Daily != DefaultBudgetDaily ||
		b.cfg.MaxWait != DefaultBudgetMaxWait || b.cfg.Now == nil {
		t.Errorf("config = %+v, want the defaults", b.cfg)
	}
	if got := b.Remaining("never-seen"); got != DefaultBudgetMax {
		t.Errorf("Remaining of an unseen key = %d, want %d", got, DefaultBudgetMax)
	}
}

func TestBudgetKeyContext(t *testing.T) {
	if got := BudgetKeyFromContext(t.Context()); got != "" {
		t.Errorf("key of a bare context = %q, want \"\"", got)
	}
	ctx := ContextWithBudgetKey(t.Context(), "loc-1")
	if got := BudgetKeyFromContext(ctx); got != "loc-1" {
		t.Errorf("key = %q, want loc-1", got)
	}
}

// Capacity is what the gateway checks a query's cost against before
// running it: what a request can spend before its deadline.
func TestBudgetCapacity(t *testing.T) {
	clk := newFakeClock()
	b := fakeBudget(clk, BudgetConfig{Max: 10, Interval: time.Second, Daily: 35})
	ctx := context.Background()
	for range 4 {
		if err := b.Wait(ctx, "loc"); err != nil {
			t.Fatal(err)
		}
		b.Observe("loc", Rate{Max: -1, Remaining: -1, Interval: -1, DailyLimit: -1, DailyRemaining: -1}, 200, 0)
	}
	tests := []struct {
		d    time.Duration
		want int
	}{
		{0, 6},                      // what is left of this window
		{999 * time.Millisecond, 6}, // no whole window yet
		{time.Second, 16},           // plus one window
		{2 * time.Second, 26},       // plus two
		{10 * time.Second, 31},      // the day has 31 left
	}
	for _, tc := range tests {
		if got := b.Capacity("loc", tc.d); got != tc.want {
			t.Errorf("Capacity(%v) = %d, want %d", tc.d, got, tc.want)
		}
	}
	if got := b.Capacity("fresh", 0); got != 10 {
		t.Errorf("a fresh key's capacity = %d, want 10", got)
	}
	// After a 429, nothing until Retry-After has passed.
	b.Observe("loc", Rate{Max: -1, Remaining: -1, Interval: -1, DailyLimit: -1, DailyRemaining: -1}, 429, 3*time.Second)
	if got := b.Capacity("loc", 2*time.Second); got != 0 {
		t.Errorf("capacity inside a 429 block = %d, want 0", got)
	}
	if got := b.Capacity("loc", 4*time.Second); got < 10 {
		t.Errorf("capacity after the block = %d, want at least a window", got)
	}
}
