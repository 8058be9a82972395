// This file covers the circuit breakers on a fake clock. A tenant's breaker
// (per budget key) and the host's count Do calls, not attempts, and open on
// a failure rate over a sliding window with a minimum number of calls
// (dials to a closed port, 5xx, timeouts); then every call fails at once
// with ErrUnavailable, without dialling, without a budget slot and without
// leaking goroutines; after the cool-down exactly one probe goes out, with
// one attempt, while the others still fail fast; the probe's failure
// re-opens it and its success closes it. Retries inside Do stop when a
// circuit opens. 4xx, 429, malformed answers and the caller's cancellation
// do not count as failures. One tenant failing or slow never opens another
// tenant's breaker nor the host's while others are active; failures from
// several tenants open the host's; idle tenants' breakers are pruned.

package upstream

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// contactHandler answers get-contact with the fixture.
func contactHandler(t *testing.T) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /contacts/{contactId}", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 200, fixture(t, "contact.json"))
	})
	return mux
}

func wantUnavailable(t *testing.T, err error, retryAfter time.Duration) {
	t.Helper()
	if !errors.Is(err, ErrUnavailable) {
		t.Fatalf("err = %v, want ErrUnavailable", err)
	}
	e := asError(t, err)
	if e.RequestSent || e.Retryable || e.Attempts != 0 || e.StatusCode != 0 {
		t.Errorf("Error = %+v; want not sent, not retryable, no attempt", e)
	}
	if e.RetryAfter != retryAfter {
		t.Errorf("RetryAfter = %v, want %v", e.RetryAfter, retryAfter)
	}
	if e.Op != OpGetContact.ID {
		t.Errorf("Op = %q, want %q", e.Op, OpGetContact.ID)
	}
}

func TestBreakerClosedPort(t *testing.T) {
	leakOpts := goleak.IgnoreCurrent()
	t.Cleanup(func() { goleak.VerifyNone(t, leakOpts) })

	const (
		threshold = 5 // calls, all failing: MinCalls at any ratio
		coolDown  = 10 * time.Second
	)
	clk := newFakeClock()
	addr := refusingAddr(t)
	dc := newDialCounter()
	budget := NewLocalBudget(BudgetConfig{Max: 1000, Interval: time.Second})
	c := clientAt(t, addr, dc,
		WithCircuitBreaker(BreakerConfig{MinCalls: threshold, CoolDown: coolDown, Now: clk.Now}),
		WithRateBudget(budget))
	get := func(ctx context.Context) error { _, _, err := c.Contacts.Get(ctx, tContactID); return err }

	for i := range threshold {
		if c.BreakerState() != BreakerClosed {
			t.Fatalf("state %q after %d failures, want closed", c.BreakerState(), i)
		}
		if err := get(t.Context()); !errors.Is(err, ErrConnection) {
			t.Fatalf("call %d: err = %v, want ErrConnection", i, err)
		}
	}
	if got := c.BreakerState(); got != BreakerOpen {
		t.Fatalf("state %q after %d failures, want open", got, threshold)
	}

	// Open: 100 calls fail at once, with no dial and no budget slot.
	remaining := c.RateRemaining("")
	for range 100 {
		wantUnavailable(t, get(t.Context()), coolDown)
	}
	if got := dc.dials.Load(); got != threshold {
		t.Errorf("%d dials, want %d: an open breaker must not touch the network", got, threshold)
	}
	if got := c.RateRemaining(""); got != remaining {
		t.Errorf("RateRemaining went from %d to %d: an open breaker must not take budget slots", remaining, got)
	}
	clk.Advance(4 * time.Second)
	wantUnavailable(t, get(t.Context()), 6*time.Second)

	// Cool-down over: one probe, which fails, re-opens it for a full cool-down.
	clk.Advance(6 * time.Second)
	if got := c.BreakerState(); got != BreakerHalfOpen {
		t.Fatalf("state %q after the cool-down, want half-open", got)
	}
	if err := get(t.Context()); !errors.Is(err, ErrConnection) {
		t.Fatalf("probe: err = %v, want ErrConnection", err)
	}
	if got := dc.dials.Load(); got != threshold+1 {
		t.Errorf("%d dials, want %d (one probe)", got, threshold+1)
	}
	if got := c.BreakerState(); got != BreakerOpen {
		t.Fatalf("state %q after a failed probe, want open", got)
	}
	wantUnavailable(t, get(t.Context()), coolDown)

	// The upstream comes back. The probe is held in the handler while other
	// calls try: they fail fast, and only the probe reaches the server.
	var hits atomic.Int64
	arrived, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	srv := serveAt(t, addr, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if hits.Add(1) == 1 {
			once.Do(func() { close(arrived) })
			<-release
		}
		contactHandler(t).ServeHTTP(w, r)
	}))
	defer srv.Close()
	defer dc.transport.CloseIdleConnections()
	clk.Advance(coolDown)
	probe := make(chan error, 1)
	go func() { probe <- get(context.Background()) }()
	<-arrived
	var wg sync.WaitGroup
	errs := make([]error, 20)
	for i := range errs {
		wg.Go(func() { errs[i] = get(t.Context()) })
	}
	wg.Wait()
	close(release)
	for _, err := range errs {
		// While the probe is out, the others are told to come back soon.
		wantUnavailable(t, err, time.Second)
	}
	if err := <-probe; err != nil {
		t.Fatalf("probe: %v", err)
	}
	if got := c.BreakerState(); got != BreakerClosed {
		t.Fatalf("state %q after a successful probe, want closed", got)
	}
	for i := range 10 {
		if err := get(t.Context()); err != nil {
			t.Fatalf("call %d after closing: %v", i, err)
		}
	}
	if got := hits.Load(); got != 11 {
		t.Errorf("server saw %d calls, want 11 (the probe and 10)", got)
	}
}

// TestBreakerStopsRetries checks that a call in flight stops retrying when
// other calls open the circuit meanwhile, and that its late verdict does
// not count against the circuit it left in.
func TestBreakerStopsRetries(t *testing.T) {
	clk := newFakeClock()
	env := setup(t, WithRetryPolicy(RetryPolicy{MaxAttempts: 5, BaseDelay: time.Millisecond}),
		WithCircuitBreaker(BreakerConfig{MinCalls: 2, CoolDown: time.Minute, Now: clk.Now}))
	var healthy atomic.Bool
	var slowHits, badHits atomic.Int64
	arrived, release := make(chan struct{}), make(chan struct{})
	env.handle("GET /contacts/{contactId}", func(w http.ResponseWriter, r *http.Request) {
		switch {
		case healthy.Load():
			writeJSON(w, 200, fixture(t, "contact.json"))
			return
		case r.PathValue("contactId") == "slow":
			if slowHits.Add(1) == 1 {
				close(arrived)
				<-release
			}
		default:
			badHits.Add(1)
		}
		writeJSON(w, 503, []byte(`{"statusCode":503,"message":"Service Unavailable"}`))
	})
	slow := make(chan error, 1)
	go func() { _, _, err := env.client.Contacts.Get(t.Context(), "slow"); slow <- err }()
	<-arrived
	// Two calls, five failed attempts each, open the circuit: two failures.
	for i := range 2 {
		_, _, err := env.client.Contacts.Get(t.Context(), tContactID)
		if e := asError(t, err); !errors.Is(err, ErrServer) || e.Attempts != 5 {
			t.Fatalf("call %d: err = %v after %d attempts, want the 5th 503", i, err, e.Attempts)
		}
	}
	if got := env.client.BreakerState(); got != BreakerOpen {
		t.Fatalf("state %q after 2 failed calls (MinCalls 2), want open", got)
	}
	close(release)
	err := <-slow
	if !errors.Is(err, ErrServer) {
		t.Fatalf("slow call: err = %v, want its 503", err)
	}
	if e := asError(t, err); e.Attempts != 1 || slowHits.Load() != 1 {
		t.Errorf("slow call: Attempts = %d, server saw %d; want 1, 1: retries stop when the circuit opens", e.Attempts, slowHits.Load())
	}
	_, _, err = env.client.Contacts.Get(t.Context(), tContactID)
	wantUnavailable(t, err, time.Minute)

	healthy.Store(true)
	clk.Advance(time.Minute)
	if _, _, err := env.client.Contacts.Get(t.Context(), tContactID); err != nil {
		t.Fatalf("probe: %v", err)
	}
	if got := env.client.BreakerState(); got != BreakerClosed {
		t.Errorf("state %q, want closed", got)
	}
}

// TestBreakerIgnoresNonFailures checks that answers which show the upstream
// alive, and the caller's own cancellation, never open the breaker.
func TestBreakerIgnoresNonFailures(t *testing.T) {
	tests := []struct {
		name    string
		handler func(env *testEnv) http.HandlerFunc
		ctx     func(t *testing.T) context.Context
		wantErr error
	}{
		{name: "404", wantErr: ErrNotFound, handler: func(*testEnv) http.HandlerFunc {
			return func(w http.ResponseWriter, r *http.Request) {
				writeJSON(w, 404, []byte(`{"statusCode":404,"message":"Not found"}`))
			}
		}},
		{name: "429", wantErr: ErrRateLimited, handler: func(*testEnv) http.HandlerFunc {
			return func(w http.ResponseWriter, r *http.Request) {
				writeJSON(w, 429, []byte(`{"statusCode":429,"message":"Too many"}`))
			}
		}},
		{name: "401", wantErr: ErrUnauthorized, handler: func(*testEnv) http.HandlerFunc {
			return func(w http.ResponseWriter, r *http.Request) {
				writeJSON(w, 401, []byte(`{"statusCode":401,"message":"Invalid"}`))
			}
		}},
		{name: "malformed 200", wantErr: ErrMalformedResponse, handler: func(*testEnv) http.HandlerFunc {
			return func(w http.ResponseWriter, r *http.Request) { writeJSON(w, 200, []byte(`{"contact":`)) }
		}},
		{
			name: "caller cancellation", wantErr: context.Canceled,
			handler: func(env *testEnv) http.HandlerFunc {
				return func(w http.ResponseWriter, r *http.Request) { env.block(r) }
			},
			ctx: func(t *testing.T) context.Context {
				ctx, cancel := context.WithTimeout(t.Context(), time.Hour)
				time.AfterFunc(20*time.Millisecond, cancel)
				return ctx
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := setup(t, WithCircuitBreaker(BreakerConfig{MinCalls: 2, CoolDown: time.Hour}))
			env.handle("GET /contacts/{contactId}", tt.handler(env))
			for i := range 5 {
				ctx := t.Context()
				if tt.ctx != nil {
					ctx = tt.ctx(t)
				}
				if _, _, err := env.client.Contacts.Get(ctx, tContactID); !errors.Is(err, tt.wantErr) {
					t.Fatalf("call %d: err = %v, want %v", i, err, tt.wantErr)
				}
			}
			if got := env.client.BreakerState(); got != BreakerClosed {
				t.Errorf("state %q after 5 × %s, want closed", got, tt.name)
			}
		})
	}
}
