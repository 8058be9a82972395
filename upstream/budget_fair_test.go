// This file covers what issues 10 and 16 added to LocalBudget, on a fake
// clock whose timers fire only when the test advances it: the wait bound
// (one allowance per request, shared by its calls) and the retryAfter of a
// refusal; fair shares between clients and requests; priorities; and keys
// trusted only once confirmed (a credential's own small budget, one call in
// flight until its first answer, its calls moved to the location on
// confirmation, idle keys pruned).

package upstream

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/ghl-graphql/gateway/internal/fakeclock"
)

// fakeTimers are timers on a fake clock: they fire when Advance passes
// their time. armed counts the timers waiting, so that a test knows when
// its waiters are asleep.
type fakeTimers struct {
	clk  *fakeclock.Clock
	mu   sync.Mutex
	cond *sync.Cond
	list []*fakeTimer
}

type fakeTimer struct {
	at time.Time
	c  chan time.Time
}

func newFakeTimers(clk *fakeclock.Clock) *fakeTimers {
	f := &fakeTimers{clk: clk}
	f.cond = sync.NewCond(&f.mu)
	return f
}

func (f *fakeTimers) Timer(d time.Duration) (<-chan time.Time, func() bool) {
	t := &fakeTimer{at: f.clk.Now().Add(d), c: make(chan time.Time, 1)}
	f.mu.Lock()
	f.list = append(f.list, t)
	f.cond.Broadcast()
	f.mu.Unlock()
	return t.c, func() bool { return f.remove(t) }
}

func (f *fakeTimers) remove(t *fakeTimer) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i, x := range f.list {
		if x == t {
			f.list = append(f.list[:i], f.list[i+1:]...)
			f.cond.Broadcast()
			return true
		}
	}
	return false
}

// Advance moves the clock and fires the timers it passes.
func (f *fakeTimers) Advance(d time.Duration) {
	f.clk.Advance(d)
	now := f.clk.Now()
	f.mu.Lock()
	defer f.mu.Unlock()
	kept := f.list[:0]
	for _, t := range f.list {
		if !t.at.After(now) {
			t.c <- now
			continue
		}
		kept = append(kept, t)
	}
	f.list = kept
	f.cond.Broadcast()
}

// waitArmed blocks until n timers are waiting (n waiters asleep).
func (f *fakeTimers) waitArmed(n int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for len(f.list) != n {
		f.cond.Wait()
	}
}

// sleepyBudget is a budget on a fake clock whose waits sleep on fake timers.
func sleepyBudget(cfg BudgetConfig) (*LocalBudget, *fakeTimers) {
	ft := newFakeTimers(newFakeClock())
	cfg.Now, cfg.Timer = ft.clk.Now, ft.Timer
	return NewLocalBudget(cfg), ft
}

// request returns a context of one request of client.
func request(client string, p Priority, maxWait time.Duration) context.Context {
	return ContextWithBudgetRequest(context.Background(), BudgetRequest{Client: client, Priority: p, MaxWait: maxWait})
}

// fill takes n slots of key and answers them at once.
func fill(t *testing.T, b *LocalBudget, key string, n int) {
	t.Helper()
	for i := range n {
		if err := take(b, key); err != nil {
			t.Fatalf("slot %d: %v", i, err)
		}
	}
}

func TestBudgetWaitBound(t *testing.T) {
	t.Run("refused at once past the bound, retryAfter the real time to the slot", func(t *testing.T) {
		b, ft := sleepyBudget(BudgetConfig{Max: 2, Interval: 10 * time.Second, MaxWait: 2 * time.Second})
		fill(t, b, "loc", 2)
		ft.Advance(time.Second)
		// The next slot frees in 9 s, past the 2 s bound: no wait at all.
		wantRefused(t, b.Wait(context.Background(), "loc"), 9*time.Second)
		ft.Advance(7 * time.Second)
		// Now in 2 s: within the bound, so it waits, and goes then.
		done := make(chan error, 1)
		go func() { done <- b.Wait(context.Background(), "loc") }()
		ft.waitArmed(1)
		ft.Advance(2 * time.Second)
		if err := <-done; err != nil {
			t.Fatalf("a wait within the bound: %v", err)
		}
	})
	t.Run("a request's calls share one allowance", func(t *testing.T) {
		b, ft := sleepyBudget(BudgetConfig{Max: 1, Interval: 2 * time.Second, MaxWait: time.Hour})
		ctx := request("c", PriorityInteractive, 3*time.Second)
		fill(t, b, "loc", 1)
		// The first call waits 2 s of the request's 3 s.
		done := make(chan error, 1)
		go func() { done <- b.Wait(ctx, "loc") }()
		ft.waitArmed(1)
		ft.Advance(2 * time.Second)
		if err := <-done; err != nil {
			t.Fatalf("first call: %v", err)
		}
		b.Observe("loc", unknownRate, 200, 0)
		// The second's slot is 2 s away, the request has 1 s left: refused
		// at once, though the budget's own MaxWait is an hour.
		wantRefused(t, b.Wait(ctx, "loc"), 2*time.Second)
		if left, ok := BudgetWaitLeft(ctx, ft.clk.Now()); !ok || left != time.Second {
			t.Errorf("allowance left = %v, %v; want 1s", left, ok)
		}
		// Another request of the same client has its own allowance.
		go func() { done <- b.Wait(request("c", PriorityInteractive, 3*time.Second), "loc") }()
		ft.waitArmed(1)
		ft.Advance(2 * time.Second)
		if err := <-done; err != nil {
			t.Fatalf("another request: %v", err)
		}
	})
	t.Run("parallel waits of a request count once", func(t *testing.T) {
		b, ft := sleepyBudget(BudgetConfig{Max: 2, Interval: time.Second, MaxWait: time.Hour})
		ctx := request("c", PriorityInteractive, 1500*time.Millisecond)
		fill(t, b, "loc", 2)
		done := make(chan error, 2)
		for range 2 {
			go func() { done <- b.Wait(ctx, "loc") }()
		}
		ft.waitArmed(2)
		ft.Advance(time.Second)
		for range 2 {
			if err := <-done; err != nil {
				t.Fatalf("parallel wait: %v", err)
			}
		}
		if left, _ := BudgetWaitLeft(ctx, ft.clk.Now()); left != 500*time.Millisecond {
			t.Errorf("allowance left = %v after two parallel 1 s waits, want 500ms", left)
		}
	})
	t.Run("a waiter pushed past its bound is refused when pushed", func(t *testing.T) {
		b, ft := sleepyBudget(BudgetConfig{Max: 1, Interval: time.Second, MaxWait: time.Hour})
		fill(t, b, "loc", 1)
		// bulk's call waits for the slot in 1 s, within its 1.5 s.
		done := make(chan error, 1)
		go func() { done <- b.Wait(request("bulk", PriorityBackground, 1500*time.Millisecond), "loc") }()
		ft.waitArmed(1)
		// An interactive call comes first: bulk's slot is now 2 s away.
		go func() { _ = b.Wait(request("ui", PriorityInteractive, 5*time.Second), "loc") }()
		err := <-done // without the clock moving
		wantRefused(t, err, 2*time.Second)
		ft.waitArmed(1)
		ft.Advance(time.Second)
	})
}

func TestBudgetFairShares(t *testing.T) {
	// One slot per second; a greedy client has ten calls waiting (ten
	// requests, or one request with ten calls), then an interactive user
	// asks once. First come, first served would make the user wait ten
	// seconds; round-robin serves it second, whatever the backlog.
	for _, oneRequest := range []bool{false, true} {
		t.Run(fmt.Sprint("greedy in one request: ", oneRequest), func(t *testing.T) {
			b, ft := sleepyBudget(BudgetConfig{Max: 1, Interval: time.Second, MaxWait: time.Hour})
			fill(t, b, "loc", 1)
			order := make(chan string, 11)
			var wg sync.WaitGroup
			call := func(ctx context.Context, who string) {
				wg.Go(func() {
					if err := b.Wait(ctx, "loc"); err != nil {
						t.Errorf("%s: %v", who, err)
						order <- who
						return
					}
					b.Observe("loc", unknownRate, 200, 0)
					order <- who
				})
			}
			greedy := request("greedy", PriorityInteractive, time.Minute)
			for i := range 10 {
				if !oneRequest {
					greedy = request("greedy", PriorityInteractive, time.Minute)
				}
				call(greedy, fmt.Sprint("greedy-", i))
				ft.waitArmed(i + 1)
			}
			call(request("user", PriorityInteractive, time.Minute), "user")
			ft.waitArmed(11)
			for n := range 11 {
				ft.Advance(time.Second)
				who := <-order
				if who == "user" && n > 1 {
					t.Errorf("the user went %d-th, after %d greedy calls", n+1, n)
				}
				ft.waitArmed(10 - n)
			}
			wg.Wait()
		})
	}
	t.Run("round-robin between a client's requests", func(t *testing.T) {
		b, ft := sleepyBudget(BudgetConfig{Max: 1, Interval: time.Second, MaxWait: time.Hour})
		fill(t, b, "loc", 1)
		order := make(chan string, 6)
		var wg sync.WaitGroup
		reqA, reqB := request("c", PriorityInteractive, time.Minute), request("c", PriorityInteractive, time.Minute)
		for i, w := range []struct {
			ctx  context.Context
			name string
		}{{reqA, "a"}, {reqA, "a"}, {reqA, "a"}, {reqB, "b"}, {reqB, "b"}, {reqB, "b"}} {
			wg.Go(func() {
				if err := b.Wait(w.ctx, "loc"); err != nil {
					t.Errorf("%s: %v", w.name, err)
				}
				b.Observe("loc", unknownRate, 200, 0)
				order <- w.name
			})
			ft.waitArmed(i + 1)
		}
		var got string
		for n := range 6 {
			ft.Advance(time.Second)
			got += <-order
			ft.waitArmed(5 - n)
		}
		wg.Wait()
		if got != "ababab" {
			t.Errorf("served %q, want the requests in turn (ababab)", got)
		}
	})
}

func TestBudgetPriority(t *testing.T) {
	b, ft := sleepyBudget(BudgetConfig{Max: 1, Interval: time.Second, MaxWait: time.Hour})
	fill(t, b, "loc", 1)
	order := make(chan string, 4)
	var wg sync.WaitGroup
	start := func(ctx context.Context, who string, armed int) {
		wg.Go(func() {
			if err := b.Wait(ctx, "loc"); err != nil {
				t.Errorf("%s: %v", who, err)
			}
			b.Observe("loc", unknownRate, 200, 0)
			order <- who
		})
		ft.waitArmed(armed)
	}
	// A background sync of three calls waits; an interactive request (of
	// the same client, even) comes later and goes first.
	sync := request("c", PriorityBackground, time.Minute)
	start(sync, "bg", 1)
	start(sync, "bg", 2)
	start(sync, "bg", 3)
	start(request("c", PriorityInteractive, time.Minute), "ui", 4)
	var got string
	for n := range 4 {
		ft.Advance(time.Second)
		got += <-order + " "
		ft.waitArmed(3 - n)
	}
	wg.Wait()
	if got != "ui bg bg bg " {
		t.Errorf("served %q, want the interactive call first", got)
	}
}

func TestBudgetUnconfirmedCredential(t *testing.T) {
	cred := CredentialBudgetKey("tok")
	t.Run("one call in flight until the first answer, then a small window", func(t *testing.T) {
		b, ft := sleepyBudget(BudgetConfig{Max: 100, Interval: 10 * time.Second, UnconfirmedMax: 3, MaxWait: time.Hour})
		if err := b.Wait(context.Background(), cred); err != nil {
			t.Fatal(err)
		}
		if got := b.Remaining(cred); got != 0 {
			t.Errorf("Remaining with the first call in flight = %d, want 0", got)
		}
		done := make(chan error, 1)
		go func() { done <- b.Wait(context.Background(), cred) }()
		ft.waitArmed(1)
		select {
		case err := <-done:
			t.Fatalf("a second call went before the first answer: %v", err)
		default:
		}
		// Its answer (any status but 401) wakes the second at once.
		b.Observe(cred, unknownRate, 404, 0)
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		b.Observe(cred, unknownRate, 200, 0)
		if err := take(b, cred); err != nil {
			t.Fatal(err)
		}
		// Three calls fill the credential's own window. A fourth waits for
		// the confirmation that would move it to the location's line, up to
		// its allowance, and is refused then with the time to the slot.
		go func() { done <- b.Wait(request("c", PriorityInteractive, time.Second), cred) }()
		ft.waitArmed(1)
		ft.Advance(time.Second)
		wantRefused(t, <-done, 9*time.Second)
		if max, _ := b.Limit(cred); max != 3 {
			t.Errorf("Limit of a credential key = %d, want 3", max)
		}
		// A 401 makes it one call at a time again.
		ft.Advance(9 * time.Second)
		if err := b.Wait(context.Background(), cred); err != nil {
			t.Fatal(err)
		}
		b.Observe(cred, unknownRate, 401, 0)
		if err := b.Wait(context.Background(), cred); err != nil {
			t.Fatal(err)
		}
		if got := b.Remaining(cred); got != 0 {
			t.Errorf("Remaining after a 401 with a call in flight = %d, want 0", got)
		}
	})
	t.Run("confirmation moves its calls to the location, and its waiters", func(t *testing.T) {
		b, ft := sleepyBudget(BudgetConfig{Max: 6, Interval: 10 * time.Second, UnconfirmedMax: 3, MaxWait: time.Hour})
		fill(t, b, "loc", 2)
		fill(t, b, cred, 3) // answered 200: accepted, not yet located
		done := make(chan error, 1)
		go func() { done <- b.Wait(context.Background(), cred) }()
		ft.waitArmed(1)
		b.Confirm(cred, "loc")
		// The waiter moved to the location's line and took its last slot.
		if err := <-done; err != nil {
			t.Fatalf("waiter after Confirm: %v", err)
		}
		if got := b.Remaining("loc"); got != 0 {
			t.Errorf("location Remaining = %d, want 0: 2 + 3 moved + 1", got)
		}
		// Its answer, reported under the old key, lands in the location's window.
		b.Observe(cred, unknownRate, 200, 0)
		if got, loc := b.Remaining(cred), b.Remaining("loc"); got != loc {
			t.Errorf("Remaining(credential) = %d, location %d: the key must name the location's", got, loc)
		}
		wantRefused(t, b.Wait(request("c", PriorityInteractive, time.Second), cred), 10*time.Second)
		if got := b.keyCount(); got != 1 {
			t.Errorf("%d keys after Confirm, want 1", got)
		}
	})
	t.Run("idle credential keys are pruned after two intervals", func(t *testing.T) {
		b, ft := sleepyBudget(BudgetConfig{Max: 5, Interval: time.Second})
		for i := range 50 {
			fill(t, b, CredentialBudgetKey(fmt.Sprint(i)), 1)
		}
		fill(t, b, "loc", 1)
		ft.Advance(2*time.Second + time.Millisecond)
		fill(t, b, "loc", 1)
		if got := b.keyCount(); got != 1 {
			t.Errorf("%d keys, want 1 (the location's)", got)
		}
	})
}

// A refused budget wait is one the client sees as RATE_LIMITED, not sent.
func TestBudgetRefusalIsNotSent(t *testing.T) {
	b, _ := sleepyBudget(BudgetConfig{Max: 1, Interval: 10 * time.Second})
	fill(t, b, "loc", 1)
	err := b.Wait(context.Background(), "loc")
	var e *Error
	if !errors.As(err, &e) || !errors.Is(err, ErrRateLimited) || e.RequestSent || !e.Retryable {
		t.Fatalf("err = %v, want a retryable ErrRateLimited not sent", err)
	}
}

// Anyone can make credential keys with made-up tokens: they are capped, and
// idle ones make room.
func TestBudgetCredentialKeysCapped(t *testing.T) {
	b, ft := sleepyBudget(BudgetConfig{Max: 5, Interval: time.Second})
	for i := range maxCredentialKeys {
		fill(t, b, CredentialBudgetKey(fmt.Sprint(i)), 1)
	}
	wantRefused(t, b.Wait(context.Background(), CredentialBudgetKey("one more")), time.Second)
	// A location's key is never refused for it.
	fill(t, b, "loc", 1)
	ft.Advance(2*time.Second + time.Millisecond)
	fill(t, b, CredentialBudgetKey("one more"), 1)
	if got := b.keyCount(); got != 2 {
		t.Errorf("%d keys after the idle ones were swept, want 2", got)
	}
}

// Capacity counts the slots that free as the window's calls expire, not
// only whole windows: what a request allowed to wait d can still spend.
func TestBudgetCapacitySlides(t *testing.T) {
	b, ft := sleepyBudget(BudgetConfig{Max: 10, Interval: 10 * time.Second})
	fill(t, b, "loc", 4)
	ft.Advance(5 * time.Second)
	fill(t, b, "loc", 6)
	for _, tc := range []struct {
		d    time.Duration
		want int
	}{
		{0, 0},
		{2 * time.Second, 0},
		{5 * time.Second, 4}, // the first four leave the window
		{9 * time.Second, 4},
		{10 * time.Second, 10}, // all ten have left: one whole window
		{15 * time.Second, 14},
	} {
		if got := b.Capacity("loc", tc.d); got != tc.want {
			t.Errorf("Capacity(%v) = %d, want %d", tc.d, got, tc.want)
		}
	}
}

// BenchmarkBudgetRefusalBehindALine measures a call refused at once while
// 200 calls of 20 clients wait in the line (the common event under overload).
func BenchmarkBudgetRefusalBehindALine(b *testing.B) {
	budget := NewLocalBudget(BudgetConfig{Max: 1, Interval: time.Hour, MaxWait: time.Hour})
	if err := budget.Wait(context.Background(), "loc"); err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for i := range 200 {
		wctx := ContextWithBudgetRequest(ctx, BudgetRequest{Client: fmt.Sprint("c", i%20), MaxWait: 1000 * time.Hour})
		wg.Go(func() { _ = budget.Wait(wctx, "loc") })
	}
	for {
		budget.mu.Lock()
		n := budget.keys["loc"].reserved
		budget.mu.Unlock()
		if n == 200 {
			break
		}
		time.Sleep(time.Millisecond)
	}
	b.ResetTimer()
	for range b.N {
		if err := budget.Wait(request("newcomer", PriorityInteractive, time.Millisecond), "loc"); err == nil {
			b.Fatal("a call went")
		}
	}
	b.StopTimer()
	cancel()
	wg.Wait()
}

// TestBudgetCompletingYields: within one client and priority, a call that
// only completes an answer (ContextCompleting: a contact's list) waits
// behind calls that give an answer its data, whatever the arrival order;
// and a completing call pushed past its bound by them is refused at once.
func TestBudgetCompletingYields(t *testing.T) {
	b, ft := sleepyBudget(BudgetConfig{Max: 1, Interval: time.Second, MaxWait: time.Hour})
	fill(t, b, "loc", 1)
	order := make(chan string, 4)
	errs := make(chan error, 4)
	var wg sync.WaitGroup
	call := func(ctx context.Context, who string) {
		wg.Go(func() {
			err := b.Wait(ctx, "loc")
			if err == nil {
				b.Observe("loc", unknownRate, 200, 0)
			}
			errs <- err
			order <- who
		})
	}
	// Three requests' lists arrive first (each may wait 10 s)...
	for i := range 3 {
		call(ContextCompleting(request("c", PriorityInteractive, 10*time.Second)), fmt.Sprint("list-", i))
		ft.waitArmed(i + 1)
	}
	// ...then a contact read of a fourth request.
	call(request("c", PriorityInteractive, 10*time.Second), "contact")
	ft.waitArmed(4)
	ft.Advance(time.Second)
	if who := <-order; who != "contact" {
		t.Errorf("first served: %s, want the contact (the lists only complete answers that have data)", who)
	}
	if err := <-errs; err != nil {
		t.Fatalf("contact: %v", err)
	}
	for i := range 3 {
		ft.waitArmed(3 - i)
		ft.Advance(time.Second)
		if who := <-order; who == "contact" {
			t.Fatalf("the contact went after a list")
		}
		if err := <-errs; err != nil {
			t.Errorf("list: %v", err)
		}
	}
	wg.Wait()

	t.Run("a completing waiter pushed past its bound is refused", func(t *testing.T) {
		b, ft := sleepyBudget(BudgetConfig{Max: 1, Interval: time.Second, MaxWait: time.Hour})
		fill(t, b, "loc", 1)
		done := make(chan error, 1)
		go func() {
			done <- b.Wait(ContextCompleting(request("c", PriorityInteractive, 1500*time.Millisecond)), "loc")
		}()
		ft.waitArmed(1)
		go func() { _ = b.Wait(request("c", PriorityInteractive, 5*time.Second), "loc") }()
		wantRefused(t, <-done, 2*time.Second)
		ft.waitArmed(1)
		ft.Advance(time.Second)
	})
}

// TestBudgetCompletingShare: completing calls fill at most their share of
// a window, even with slots free; the rest stays for calls that give
// answers their data; a share of 1 lets them fill it.
func TestBudgetCompletingShare(t *testing.T) {
	b, ft := sleepyBudget(BudgetConfig{Max: 4, Interval: 10 * time.Second, MaxWait: time.Second, CompletingShare: 0.5})
	list := func() error {
		ctx := ContextCompleting(request("c", PriorityInteractive, time.Second))
		err := b.Wait(ctx, "loc")
		if err == nil {
			b.Observe("loc", unknownRate, 200, 0)
		}
		return err
	}
	for i := range 2 {
		if err := list(); err != nil {
			t.Fatalf("completing call %d within its share: %v", i, err)
		}
	}
	ft.Advance(time.Second)
	// Two slots are free, but they are the data-giving calls' half: the
	// third list is refused, its retry the time until the first list's
	// slot leaves the window.
	wantRefused(t, list(), 9*time.Second)
	for i := range 2 {
		if err := b.Wait(request("c", PriorityInteractive, time.Second), "loc"); err != nil {
			t.Fatalf("contact read %d in the reserved half: %v", i, err)
		}
		b.Observe("loc", unknownRate, 200, 0)
	}

	t.Run("share 0 (unset): the whole window", func(t *testing.T) {
		b, _ := sleepyBudget(BudgetConfig{Max: 4, Interval: 10 * time.Second, MaxWait: time.Second})
		for i := range 4 {
			if err := b.Wait(ContextCompleting(context.Background()), "loc"); err != nil {
				t.Fatalf("completing call %d: %v", i, err)
			}
		}
	})
}
