// This file covers the circuit breaker on a fake clock: it opens after
// FailureThreshold consecutive failures (dials to a closed port, 5xx), then
// fails every call at once with ErrUnavailable, without dialling, without a
// budget slot and without leaking goroutines; after the cool-down exactly one
// probe goes out while the others still fail fast; the probe's failure
// re-opens it and its success closes it. Retries inside Do stop when it
// opens. 4xx, 429, malformed answers and the caller's cancellation do not
// count as failures.

package upstream

import (
	"context"
	"errors"
	"io"
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
		threshold = 5
		coolDown  = 10 * time.Second
	)
	clk := newFakeClock()
	addr := refusingAddr(t)
	dc := newDialCounter()
	budget := NewLocalBudget(BudgetConfig{Max: 1000, Interval: time.Second})
	c := clientAt(t, addr, dc,
		WithCircuitBreaker(BreakerConfig{FailureThreshold: threshold, CoolDown: coolDown, Now: clk.Now}),
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

func TestBreakerStopsRetries(t *testing.T) {
	clk := newFakeClock()
	env := setup(t, WithRetryPolicy(RetryPolicy{MaxAttempts: 5, BaseDelay: time.Millisecond}),
		WithCircuitBreaker(BreakerConfig{FailureThreshold: 2, CoolDown: time.Minute, Now: clk.Now}))
	var healthy atomic.Bool
	var hits atomic.Int64
	env.handle("GET /contacts/{contactId}", func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		if healthy.Load() {
			writeJSON(w, 200, fixture(t, "contact.json"))
			return
		}
		writeJSON(w, 503, []byte(`{"statusCode":503,"message":"Service Unavailable"}`))
	})
	_, _, err := env.client.Contacts.Get(t.Context(), tContactID)
	if !errors.Is(err, ErrServer) {
		t.Fatalf("err = %v, want the last 503", err)
	}
	if e := asError(t, err); e.Attempts != 2 || hits.Load() != 2 {
		t.Errorf("Attempts = %d, server saw %d; want 2, 2: retries stop when the breaker opens", e.Attempts, hits.Load())
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
			env := setup(t, WithCircuitBreaker(BreakerConfig{FailureThreshold: 2, CoolDown: time.Hour}))
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

// TestBreakerSuccessResets checks that failures must be consecutive.
func TestBreakerSuccessResets(t *testing.T) {
	env := setup(t, WithCircuitBreaker(BreakerConfig{FailureThreshold: 3, CoolDown: time.Hour}))
	var n atomic.Int64
	env.handle("GET /contacts/{contactId}", func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		if n.Add(1)%3 == 0 {
			writeJSON(w, 200, fixture(t, "contact.json"))
			return
		}
		writeJSON(w, 500, []byte(`{"statusCode":500,"message":"Internal"}`))
	})
	for range 12 {
		env.client.Contacts.Get(t.Context(), tContactID)
	}
	if got := env.client.BreakerState(); got != BreakerClosed {
		t.Errorf("state %q after failures always broken by a success, want closed", got)
	}
}

func TestBreakerDefaults(t *testing.T) {
	c, err := NewClient(WithCircuitBreaker(BreakerConfig{}))
	if err != nil {
		t.Fatal(err)
	}
	if c.breaker.cfg.FailureThreshold != DefaultBreakerFailureThreshold || c.breaker.cfg.CoolDown != DefaultBreakerCoolDown || c.breaker.cfg.Now == nil {
		t.Errorf("config = %+v, want the defaults", c.breaker.cfg)
	}
	if got := c.BreakerState(); got != BreakerClosed {
		t.Errorf("new breaker state %q, want closed", got)
	}
}
