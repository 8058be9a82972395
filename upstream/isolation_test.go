// This file covers failure isolation (issue 10): breakers per tenant and
// for the host on a failure rate over a window with a minimum number of
// calls, a call's retries counted once, a probe with a single attempt, one
// tenant failing or slow never opening another's breaker nor the host's,
// several failing tenants opening the host's, a bystander's calls going
// through (and closing) a host's breaker that had not seen it fail, and the
// bound on the tenants' breakers kept. Every
// test runs on a fake clock; the upstream is a test server whose answer
// depends on the contact ID asked for.

package upstream

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// isoEnv is a test server that answers get-contact by the ID's prefix:
// "ok…" 200, "fail…" 503 without Retry-After, "slow…" not before the client
// gives up; hits counts the requests per ID prefix.
type isoEnv struct {
	*testEnv
	mu   sync.Mutex
	hits map[string]int
}

func newIsoEnv(t *testing.T, opts ...Option) *isoEnv {
	env := &isoEnv{testEnv: setup(t, opts...), hits: map[string]int{}}
	env.client.jitter = func(time.Duration) time.Duration { return 0 }
	env.handle("GET /contacts/{contactId}", func(w http.ResponseWriter, r *http.Request) {
		id := r.PathValue("contactId")
		kind, _, _ := strings.Cut(id, "-")
		env.mu.Lock()
		env.hits[id]++
		env.mu.Unlock()
		switch kind {
		case "ok":
			writeJSON(w, 200, fixture(t, "contact.json"))
		case "slow":
			env.block(r)
		default:
			writeJSON(w, 503, []byte(`{"statusCode":503,"message":"Service Unavailable"}`))
		}
	})
	return env
}

// get reads contact kind-loc as tenant loc. A slow read is given 20 ms, so
// that it times out; the others have no deadline, so that no machine is too
// slow for them.
func (env *isoEnv) get(loc, kind string) error {
	ctx := ContextWithBudgetKey(env.t.Context(), loc)
	if kind == "slow" {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, 20*time.Millisecond)
		defer cancel()
	}
	_, _, err := env.client.Contacts.Get(ctx, kind+"-"+loc)
	return err
}

func (env *isoEnv) hitsOf(loc, kind string) int {
	env.mu.Lock()
	defer env.mu.Unlock()
	return env.hits[kind+"-"+loc]
}

// isoStep is n calls of tenant loc, of a kind ("ok", "fail", "slow"), each
// expected to end with want (nil: success).
type isoStep struct {
	loc, kind string
	n         int
	want      error
}

func TestBreakerIsolation(t *testing.T) {
	tests := []struct {
		name  string
		steps []isoStep
		// wantLocs are the tenants' breaker states at the end; wantHost the host's.
		wantLocs map[string]string
		wantHost string
	}{
		{
			name: "A failing while B and C call: only A's opens",
			steps: []isoStep{
				{loc: "B", kind: "ok", n: 3}, {loc: "C", kind: "ok", n: 3},
				{loc: "A", kind: "fail", n: 4, want: ErrServer}, {loc: "A", kind: "fail", n: 6, want: ErrUnavailable},
				{loc: "B", kind: "ok", n: 3}, {loc: "C", kind: "ok", n: 3},
			},
			wantLocs: map[string]string{"A": BreakerOpen, "B": BreakerClosed, "C": BreakerClosed},
			wantHost: BreakerClosed,
		},
		{
			name: "A slow while B calls: only A's opens",
			steps: []isoStep{
				{loc: "B", kind: "ok", n: 2},
				{loc: "A", kind: "slow", n: 4, want: ErrTimeout}, {loc: "A", kind: "slow", n: 2, want: ErrUnavailable},
				{loc: "B", kind: "ok", n: 5},
			},
			wantLocs: map[string]string{"A": BreakerOpen, "B": BreakerClosed},
			wantHost: BreakerClosed,
		},
		{
			name: "two slow searches of A: below MinCalls, nothing opens",
			steps: []isoStep{
				{loc: "A", kind: "slow", n: 2, want: ErrTimeout}, {loc: "B", kind: "ok", n: 5}, {loc: "A", kind: "ok", n: 1},
			},
			wantLocs: map[string]string{"A": BreakerClosed, "B": BreakerClosed},
			wantHost: BreakerClosed,
		},
		{
			name: "A failing, the only active tenant: the host opens too",
			steps: []isoStep{
				{loc: "A", kind: "fail", n: 4, want: ErrServer}, {loc: "A", kind: "ok", n: 1, want: ErrUnavailable},
			},
			wantLocs: map[string]string{"A": BreakerOpen},
			wantHost: BreakerOpen,
		},
		{
			name: "a host a lone tenant opened: a bystander's calls go, and close it",
			steps: []isoStep{
				{loc: "A", kind: "fail", n: 4, want: ErrServer}, {loc: "B", kind: "ok", n: 3},
				{loc: "A", kind: "ok", n: 1, want: ErrUnavailable},
			},
			wantLocs: map[string]string{"A": BreakerOpen, "B": BreakerClosed},
			wantHost: BreakerClosed,
		},
		{
			name: "three of four tenants failing: the host opens, tenants' own stay below MinCalls",
			steps: []isoStep{
				{loc: "B", kind: "ok", n: 1},
				{loc: "L1", kind: "fail", n: 2, want: ErrServer}, {loc: "L2", kind: "fail", n: 2, want: ErrServer},
				{loc: "L3", kind: "fail", n: 1, want: ErrServer},
				// Opened by L1..L3: they wait out the cool-down.
				{loc: "L1", kind: "ok", n: 1, want: ErrUnavailable}, {loc: "L3", kind: "ok", n: 1, want: ErrUnavailable},
				// B was healthy: its call goes, finds the host failing, and B
				// then waits too.
				{loc: "B", kind: "fail", n: 1, want: ErrServer}, {loc: "B", kind: "ok", n: 2, want: ErrUnavailable},
			},
			wantLocs: map[string]string{"B": BreakerClosed, "L1": BreakerClosed, "L2": BreakerClosed, "L3": BreakerClosed},
			wantHost: BreakerOpen,
		},
		{
			name: "two of four tenants failing: fewer than HostMinLocations, the host stays closed",
			steps: []isoStep{
				{loc: "B", kind: "ok", n: 1}, {loc: "C", kind: "ok", n: 1},
				{loc: "L1", kind: "fail", n: 4, want: ErrServer}, {loc: "L2", kind: "fail", n: 4, want: ErrServer},
				{loc: "B", kind: "ok", n: 2}, {loc: "C", kind: "ok", n: 2},
			},
			wantLocs: map[string]string{"B": BreakerClosed, "C": BreakerClosed, "L1": BreakerOpen, "L2": BreakerOpen},
			wantHost: BreakerClosed,
		},
		{
			name: "three of seven tenants failing: under FailureRatio of them, the host stays closed",
			steps: []isoStep{
				{loc: "B", kind: "ok", n: 1}, {loc: "C", kind: "ok", n: 1}, {loc: "D", kind: "ok", n: 1}, {loc: "E", kind: "ok", n: 1},
				{loc: "L1", kind: "fail", n: 4, want: ErrServer}, {loc: "L2", kind: "fail", n: 4, want: ErrServer},
				{loc: "L3", kind: "fail", n: 4, want: ErrServer},
				{loc: "B", kind: "ok", n: 1}, {loc: "E", kind: "ok", n: 1},
			},
			wantLocs: map[string]string{"B": BreakerClosed, "E": BreakerClosed, "L1": BreakerOpen, "L3": BreakerOpen},
			wantHost: BreakerClosed,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk := newFakeClock()
			env := newIsoEnv(t,
				WithCircuitBreaker(BreakerConfig{MinCalls: 4, HostMinLocations: 3, CoolDown: time.Minute, Now: clk.Now}))
			for i, s := range tt.steps {
				for j := range s.n {
					before := env.hitsOf(s.loc, s.kind)
					err := env.get(s.loc, s.kind)
					if s.want == nil && err != nil || s.want != nil && !errors.Is(err, s.want) {
						t.Fatalf("step %d (%s %s), call %d: err = %v, want %v", i, s.loc, s.kind, j, err, s.want)
					}
					if errors.Is(s.want, ErrUnavailable) && env.hitsOf(s.loc, s.kind) != before {
						t.Errorf("step %d: a refused call reached the server", i)
					}
				}
			}
			for loc, want := range tt.wantLocs {
				if got := env.client.LocationBreakerState(loc); got != want {
					t.Errorf("tenant %s: state %q, want %q", loc, got, want)
				}
			}
			if got := env.client.BreakerState(); got != tt.wantHost {
				t.Errorf("host: state %q, want %q", got, tt.wantHost)
			}
		})
	}
}

// TestBreakerFailureRate checks the opening rule on calls without retries:
// at least MinCalls calls in the window, at least FailureRatio of them
// failed; calls older than the window no longer count.
func TestBreakerFailureRate(t *testing.T) {
	const window = 10 * time.Second
	tests := []struct {
		name string
		// script: S a success, F a failure, + the clock moves on a window.
		script   string
		minCalls int
		ratio    float64
		want     string
	}{
		{name: "failures below MinCalls", script: "FFF", minCalls: 4, ratio: 0.5, want: BreakerClosed},
		{name: "MinCalls failures", script: "FFFF", minCalls: 4, ratio: 0.5, want: BreakerOpen},
		{name: "half failed at MinCalls", script: "SFSF", minCalls: 4, ratio: 0.5, want: BreakerOpen},
		{name: "two of five failed", script: "SSSFF", minCalls: 4, ratio: 0.5, want: BreakerClosed},
		{name: "three of six failed", script: "SSSFFF", minCalls: 4, ratio: 0.5, want: BreakerOpen},
		{name: "a stricter ratio", script: "SSSFFF", minCalls: 4, ratio: 0.6, want: BreakerClosed},
		{name: "ratio 1: every call must fail", script: "FFFSFFFS", minCalls: 4, ratio: 1, want: BreakerClosed},
		{name: "ratio 1, all failed", script: "FFFF", minCalls: 4, ratio: 1, want: BreakerOpen},
		{name: "failures a window ago no longer count", script: "FFF+F", minCalls: 4, ratio: 0.5, want: BreakerClosed},
		{name: "successes a window ago no longer count", script: "SSSSSS+FFFF", minCalls: 4, ratio: 0.5, want: BreakerOpen},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk := newFakeClock()
			env := newIsoEnv(t, WithCircuitBreaker(BreakerConfig{
				Window: window, MinCalls: tt.minCalls, FailureRatio: tt.ratio, CoolDown: time.Hour, Now: clk.Now}))
			for i, c := range tt.script {
				if env.client.BreakerState() != BreakerClosed {
					t.Fatalf("open before call %d of %q", i, tt.script)
				}
				switch c {
				case 'S':
					if err := env.get("A", "ok"); err != nil {
						t.Fatal(err)
					}
				case 'F':
					if err := env.get("A", "fail"); !errors.Is(err, ErrServer) {
						t.Fatalf("err = %v, want ErrServer", err)
					}
				case '+':
					clk.Advance(window)
				}
			}
			if got := env.client.LocationBreakerState("A"); got != tt.want {
				t.Errorf("after %q: state %q, want %q", tt.script, got, tt.want)
			}
		})
	}
}

// TestBreakerCountsRetriesOnce checks that a breaker is told one verdict
// per call: a call that succeeded on a retry is a success, a call that
// failed every attempt one failure.
func TestBreakerCountsRetriesOnce(t *testing.T) {
	tests := []struct {
		name     string
		steps    []step // per attempt, every call alike
		calls    int
		want     string
		attempts int // seen by the server in all
	}{
		{name: "success on the third attempt, 10 calls: 20 failed attempts, no failed call", steps: []step{err503, err503, ok200},
			calls: 10, want: BreakerClosed, attempts: 30},
		{name: "every attempt fails, MinCalls-1 calls: still closed", steps: []step{err503}, calls: 3, want: BreakerClosed, attempts: 9},
		{name: "every attempt fails, MinCalls calls: open", steps: []step{err503}, calls: 4, want: BreakerOpen, attempts: 12},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk := newFakeClock()
			env := setup(t, WithRetryPolicy(RetryPolicy{MaxAttempts: 3}),
				WithCircuitBreaker(BreakerConfig{MinCalls: 4, CoolDown: time.Hour, Now: clk.Now}))
			var n atomic.Int64
			env.handle("GET /contacts/{contactId}", func(w http.ResponseWriter, r *http.Request) {
				i := int(n.Add(1)-1) % len(tt.steps)
				if s := tt.steps[i]; s.status == 200 {
					writeJSON(w, 200, fixture(t, "contact.json"))
					return
				}
				writeJSON(w, 503, []byte(`{"statusCode":503,"message":"scripted"}`))
			})
			for range tt.calls {
				env.client.Contacts.Get(t.Context(), tContactID)
			}
			if got := env.client.BreakerState(); got != tt.want {
				t.Errorf("state %q, want %q", got, tt.want)
			}
			if got := int(n.Load()); got != tt.attempts {
				t.Errorf("server saw %d attempts, want %d", got, tt.attempts)
			}
		})
	}
}

// TestBreakerSteady30PercentServerErrors is the measurement at the
// client: 30% of attempts answer 5xx, drawn from a seeded source; with
// three attempts a call fails with probability 0.3³ = 2.7%, far under the
// failure ratio, so the breaker stays closed and nearly every call succeeds.
// An attempt-counting breaker (5 consecutive failed attempts) opened here.
func TestBreakerSteady30PercentServerErrors(t *testing.T) {
	const calls = 300
	clk := newFakeClock()
	env := setup(t, WithRetryPolicy(RetryPolicy{MaxAttempts: 3}), WithCircuitBreaker(BreakerConfig{CoolDown: time.Hour, Now: clk.Now}))
	var (
		mu       sync.Mutex
		rng      = rand.New(rand.NewPCG(10, 10))
		attempts int
		faults   int
		runs     int // longest run of failed attempts in a row
		run      int
	)
	env.handle("GET /contacts/{contactId}", func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		attempts++
		fail := rng.Float64() < 0.3
		if fail {
			faults++
			run++
			runs = max(runs, run)
		} else {
			run = 0
		}
		mu.Unlock()
		if fail {
			writeJSON(w, 500, []byte(`{"statusCode":500,"message":"injected"}`))
			return
		}
		writeJSON(w, 200, fixture(t, "contact.json"))
	})
	ok := 0
	for i := range calls {
		_, _, err := env.client.Contacts.Get(t.Context(), tContactID)
		switch {
		case err == nil:
			ok++
		case errors.Is(err, ErrUnavailable):
			t.Fatalf("call %d refused by the breaker (state %s)", i, env.client.BreakerState())
		}
		clk.Advance(100 * time.Millisecond) // 300 calls over 30 s: one window
	}
	t.Logf("%d of %d calls succeeded; %d of %d attempts failed, at most %d in a row", ok, calls, faults, attempts, runs)
	if st := env.client.BreakerState(); st != BreakerClosed {
		t.Errorf("state %q, want closed", st)
	}
	if runs < 5 {
		t.Errorf("at most %d failed attempts in a row: the seed no longer shows what opened the old breaker", runs)
	}
	// Expected 97.3%; the seeded draws give a fixed count.
	if ok < calls*95/100 {
		t.Errorf("%d of %d calls succeeded, want at least 95%%", ok, calls)
	}
}

// TestBreakerProbeHasOneAttempt checks that the probe of a half-open
// circuit is not retried: a failed probe re-opens it after one attempt.
func TestBreakerProbeHasOneAttempt(t *testing.T) {
	clk := newFakeClock()
	env := newIsoEnv(t, WithRetryPolicy(RetryPolicy{MaxAttempts: 3}),
		WithCircuitBreaker(BreakerConfig{MinCalls: 2, CoolDown: time.Minute, Now: clk.Now}))
	for range 2 {
		if err := env.get("A", "fail"); !errors.Is(err, ErrServer) {
			t.Fatal(err)
		}
	}
	if got := env.hitsOf("A", "fail"); got != 6 {
		t.Fatalf("%d attempts before opening, want 6", got)
	}
	clk.Advance(time.Minute)
	err := env.get("A", "fail")
	if e := asError(t, err); !errors.Is(err, ErrServer) || e.Attempts != 1 {
		t.Errorf("probe: err = %v after %d attempts, want one 503", err, e.Attempts)
	}
	if got := env.hitsOf("A", "fail"); got != 7 {
		t.Errorf("%d attempts, want 7 (one probe)", got)
	}
	if got := env.client.LocationBreakerState("A"); got != BreakerOpen {
		t.Errorf("state %q after a failed probe, want open", got)
	}
}

// TestBreakerPrunesIdleLocations checks the bound on tenants' breakers: a
// tenant beyond MaxLocations has none (its calls still go), closed ones
// idle for a window are dropped, open ones only a cool-down later.
func TestBreakerPrunesIdleLocations(t *testing.T) {
	const window, coolDown = 10 * time.Second, 20 * time.Second
	clk := newFakeClock()
	env := newIsoEnv(t, WithCircuitBreaker(BreakerConfig{
		Window: window, MinCalls: 2, CoolDown: coolDown, MaxLocations: 3, HostMinLocations: 3, Now: clk.Now}))
	count := func() int { return env.client.breaker.locationCount() }
	for _, loc := range []string{"L1", "L2"} {
		if err := env.get(loc, "ok"); err != nil {
			t.Fatal(err)
		}
	}
	for range 2 {
		env.get("F", "fail")
	}
	if got := env.client.LocationBreakerState("F"); got != BreakerOpen {
		t.Fatalf("F: state %q, want open", got)
	}
	if got := count(); got != 3 {
		t.Fatalf("%d breakers, want 3", got)
	}
	// Full: a fourth tenant has no breaker of its own, and is served.
	for range 3 {
		if err := env.get("L4", "fail"); !errors.Is(err, ErrServer) {
			t.Fatalf("L4 beyond the bound: err = %v, want its 503 (no breaker of its own)", err)
		}
	}
	if got := count(); got != 3 {
		t.Errorf("%d breakers after a fourth tenant, want 3 (the bound)", got)
	}
	// A window later the idle closed ones go; the open one stays.
	clk.Advance(window)
	if err := env.get("L5", "ok"); err != nil {
		t.Fatal(err)
	}
	if got, want := count(), 2; got != want {
		t.Errorf("%d breakers a window later, want %d (F, open, and L5)", got, want)
	}
	if got := env.client.LocationBreakerState("F"); got != BreakerHalfOpen && got != BreakerOpen {
		t.Errorf("F pruned while its evidence was recent: state %q", got)
	}
	// A cool-down later, F's evidence is too old to keep.
	clk.Advance(coolDown)
	if err := env.get("L6", "ok"); err != nil {
		t.Fatal(err)
	}
	if got := count(); got != 1 {
		t.Errorf("%d breakers after a window and a cool-down idle, want 1 (L6)", got)
	}
	if got := env.client.LocationBreakerState("F"); got != BreakerClosed {
		t.Errorf("F: state %q after pruning, want closed", got)
	}
}

// TestBreakerConcurrentTenants runs failing and healthy tenants at once
// under -race: the healthy ones are never refused.
func TestBreakerConcurrentTenants(t *testing.T) {
	clk := newFakeClock()
	env := newIsoEnv(t, WithRetryPolicy(RetryPolicy{MaxAttempts: 2}),
		WithCircuitBreaker(BreakerConfig{MinCalls: 4, CoolDown: time.Minute, Now: clk.Now}))
	var wg, active sync.WaitGroup
	var refusedHealthy atomic.Int64
	active.Add(7)
	for g := range 8 {
		wg.Go(func() {
			loc := fmt.Sprintf("T%d", g)
			if g == 0 {
				// T0 starts failing once the others are active: alone,
				// it would open the host's breaker too.
				active.Wait()
				for range 20 {
					env.get(loc, "fail")
				}
				return
			}
			for i := range 20 {
				if err := env.get(loc, "ok"); err != nil {
					refusedHealthy.Add(1)
				}
				if i == 0 {
					active.Done()
				}
			}
		})
	}
	wg.Wait()
	if n := refusedHealthy.Load(); n != 0 {
		t.Errorf("%d calls of healthy tenants failed", n)
	}
	if got := env.client.LocationBreakerState("T0"); got != BreakerOpen {
		t.Errorf("T0: state %q, want open", got)
	}
	if got := env.client.BreakerState(); got != BreakerClosed {
		t.Errorf("host: state %q, want closed", got)
	}
}

func TestBreakerConfig(t *testing.T) {
	c, err := NewClient(WithCircuitBreaker(BreakerConfig{}))
	if err != nil {
		t.Fatal(err)
	}
	want := BreakerConfig{Window: DefaultBreakerWindow, MinCalls: DefaultBreakerMinCalls, FailureRatio: DefaultBreakerFailureRatio,
		CoolDown: DefaultBreakerCoolDown, HostMinLocations: DefaultBreakerHostMinLocations, MaxLocations: DefaultBreakerMaxLocations}
	got := c.breaker.cfg
	if got.Now == nil {
		t.Error("no clock by default")
	}
	got.Now = nil
	if !reflect.DeepEqual(got, want) {
		t.Errorf("config = %+v, want the defaults %+v", got, want)
	}
	if st := c.BreakerState(); st != BreakerClosed {
		t.Errorf("new breaker state %q, want closed", st)
	}
	if st := c.LocationBreakerState("never-seen"); st != BreakerClosed {
		t.Errorf("unknown tenant state %q, want closed", st)
	}
	for _, ratio := range []float64{1.01, 2} {
		if _, err := NewClient(WithCircuitBreaker(BreakerConfig{FailureRatio: ratio})); err == nil {
			t.Errorf("failure ratio %v accepted", ratio)
		}
	}
}

// Cancelled calls say nothing: a probe the caller cancelled frees the slot.
func TestBreakerCancelledProbeFreesTheSlot(t *testing.T) {
	clk := newFakeClock()
	env := newIsoEnv(t, WithCircuitBreaker(BreakerConfig{MinCalls: 2, CoolDown: time.Minute, Now: clk.Now}))
	for range 2 {
		env.get("A", "fail")
	}
	clk.Advance(time.Minute)
	ctx, cancel := context.WithCancel(ContextWithBudgetKey(t.Context(), "A"))
	cancel()
	if _, _, err := env.client.Contacts.Get(ctx, "ok-A"); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled probe: err = %v", err)
	}
	if got := env.client.LocationBreakerState("A"); got != BreakerHalfOpen {
		t.Errorf("state %q after a cancelled probe, want half-open", got)
	}
	if err := env.get("A", "ok"); err != nil {
		t.Fatalf("next probe: %v", err)
	}
	if got := env.client.LocationBreakerState("A"); got != BreakerClosed {
		t.Errorf("state %q after a successful probe, want closed", got)
	}
}
