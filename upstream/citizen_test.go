// This file holds the fault tests of HighLevel's "good citizen" issue, at
// the client level against the sandbox (httptest.NewServer(sandbox)): reads
// survive 10% of 5xx answers with three attempts; a create whose connection
// drops after the write is applied exactly once and reported UNKNOWN after a
// single attempt; a rate budget matched to the sandbox's limit never draws a
// 429, whether the excess calls are refused fast or wait into later windows.
// Every test checks that no goroutine outlives it.
//
// It is an external test package: the sandbox imports upstream.

package upstream_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"
	"golang.org/x/oauth2"

	"github.com/ghl-graphql/gateway/upstream"
	"github.com/ghl-graphql/gateway/upstream/sandbox"
)

// gatewayRetries is the policy the gateway's command configures.
var gatewayRetries = upstream.RetryPolicy{MaxAttempts: 3, BaseDelay: 100 * time.Millisecond, MaxDelay: 2 * time.Second}

// verifyNoLeaks fails t if goroutines started during the test outlive it.
// Registered first, it runs after every other cleanup (servers, transports).
func verifyNoLeaks(t *testing.T) {
	opt := goleak.IgnoreCurrent()
	t.Cleanup(func() { goleak.VerifyNone(t, opt) })
}

// statusCounter wraps a handler and counts the statuses it answers.
type statusCounter struct {
	h  http.Handler
	mu sync.Mutex
	n  map[int]int
}

func (s *statusCounter) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	sw := &statusWriter{ResponseWriter: w}
	defer func() {
		s.mu.Lock()
		s.n[sw.status]++
		s.mu.Unlock()
	}()
	s.h.ServeHTTP(sw, r)
}

func (s *statusCounter) count(status int) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.n[status]
}

// statusWriter records the status written; it can still be hijacked, which
// the sandbox's dropped connections need.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

func (w *statusWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	return http.NewResponseController(w.ResponseWriter).Hijack()
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// sandboxEnv is a sandbox served over HTTP and a client of its first location.
type sandboxEnv struct {
	sb       *sandbox.Server
	statuses *statusCounter
	client   *upstream.Client
	location string
}

func newSandboxEnv(t *testing.T, seed int64, opts ...upstream.Option) *sandboxEnv {
	t.Helper()
	sb, err := sandbox.New(sandbox.Config{Seed: seed, ContactsPerLocation: 50})
	if err != nil {
		t.Fatal(err)
	}
	sc := &statusCounter{h: sb, n: map[int]int{}}
	srv := httptest.NewServer(sc)
	t.Cleanup(srv.Close)
	loc := sb.Locations()[0]
	hc := upstream.NewHTTPClient()
	t.Cleanup(hc.CloseIdleConnections)
	all := append([]upstream.Option{
		upstream.WithBaseURL(srv.URL),
		upstream.WithHTTPClient(hc),
		upstream.WithTokenSource(oauth2.StaticTokenSource(&oauth2.Token{
			AccessToken: sb.Token(loc, sandbox.ScopeContactsRead, sandbox.ScopeContactsWrite)})),
	}, opts...)
	c, err := upstream.NewClient(all...)
	if err != nil {
		t.Fatal(err)
	}
	return &sandboxEnv{sb: sb, statuses: sc, client: c, location: loc}
}

func TestReadsSurviveServerErrors(t *testing.T) {
	verifyNoLeaks(t)
	const readsPerSeed = 50
	var calls atomic.Int64
	t.Run("seeds", func(t *testing.T) {
		// Four sandboxes in parallel, each read sequentially so that its
		// seeded fault draws replay exactly. With a 10% fault rate a read
		// fails all three attempts with probability 0.1%, so some seeds do
		// draw it: seed 4 does, at its 7th read. These seeds do not.
		for _, seed := range []int64{1, 2, 3, 5} {
			t.Run(fmt.Sprint("seed ", seed), func(t *testing.T) {
				t.Parallel()
				env := newSandboxEnv(t, seed, upstream.WithRetryPolicy(gatewayRetries))
				env.sb.SetFaults(sandbox.Faults{Rate: 0.1, Kinds: []sandbox.FaultKind{sandbox.FaultServerError}, Ops: []string{upstream.OpGetContact.ID}})
				ids := env.sb.ContactIDs(env.location)
				for i := range readsPerSeed {
					id := ids[i%len(ids)]
					c, _, err := env.client.Contacts.Get(t.Context(), id)
					if err != nil {
						t.Fatalf("read %d (%s): %v", i, id, err)
					}
					if c.ID != id {
						t.Fatalf("read %d: got contact %s, want %s", i, c.ID, id)
					}
				}
				calls.Add(env.sb.Calls(upstream.OpGetContact.ID))
				if got := env.statuses.count(http.StatusOK); got != readsPerSeed {
					t.Errorf("sandbox answered 200 %d times, want %d", got, readsPerSeed)
				}
			})
		}
	})
	// The faults did happen, and the retries absorbed them.
	if n := calls.Load(); n <= 4*readsPerSeed {
		t.Errorf("%d calls for %d reads: no fault was injected", n, 4*readsPerSeed)
	}
}

func TestCreateDroppedAfterWriteIsAppliedOnce(t *testing.T) {
	verifyNoLeaks(t)
	env := newSandboxEnv(t, 1, upstream.WithRetryPolicy(gatewayRetries))
	env.sb.SetFaults(sandbox.Faults{Rate: 1, Kinds: []sandbox.FaultKind{sandbox.FaultDropAfterWrite}, Ops: []string{upstream.OpCreateContact.ID}})
	_, _, err := env.client.Contacts.Create(t.Context(), &upstream.CreateContactRequest{LocationID: env.location, Email: "once@example.com"})
	var e *upstream.Error
	if !errors.As(err, &e) || !errors.Is(err, upstream.ErrConnection) {
		t.Fatalf("err = %v, want an *upstream.Error matching ErrConnection", err)
	}
	if got := e.WriteOutcome(); got != upstream.WriteUnknown {
		t.Errorf("WriteOutcome() = %q, want %q", got, upstream.WriteUnknown)
	}
	if e.Attempts != 1 || !e.RequestSent || e.Retryable {
		t.Errorf("Attempts = %d, RequestSent = %v, Retryable = %v; want 1, true, false", e.Attempts, e.RequestSent, e.Retryable)
	}
	if got := env.sb.Applied(upstream.OpCreateContact.ID); got != 1 {
		t.Errorf("create applied %d times, want exactly 1", got)
	}
	if got := env.sb.Calls(upstream.OpCreateContact.ID); got != 1 {
		t.Errorf("sandbox saw %d creates, want 1", got)
	}
}

func TestBudgetMatchedToLimitDrawsNo429(t *testing.T) {
	tests := []struct {
		name              string
		max               int
		interval          time.Duration
		goroutines, each  int
		deadline          time.Duration
		wantAllSucceed    bool
		wantMinSuccessful int
	}{
		{
			// The excess is refused fast, without a call.
			name: "200 calls, 20 per second, 200ms deadlines", max: 20, interval: time.Second,
			goroutines: 20, each: 10, deadline: 200 * time.Millisecond, wantMinSuccessful: 20,
		},
		{
			// The excess waits into later windows, where sending ahead of
			// the upstream's window would draw 429s.
			name: "80 calls, 10 per 200ms, long deadlines", max: 10, interval: 200 * time.Millisecond,
			goroutines: 16, each: 5, deadline: 10 * time.Second, wantAllSucceed: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			verifyNoLeaks(t)
			budget := upstream.NewLocalBudget(upstream.BudgetConfig{Max: tt.max, Interval: tt.interval})
			env := newSandboxEnv(t, 1, upstream.WithRateBudget(budget), upstream.WithRetryPolicy(gatewayRetries))
			env.sb.SetRateLimit(sandbox.RateLimit{Max: tt.max, Interval: tt.interval})
			ids := env.sb.ContactIDs(env.location)

			var ok, refused atomic.Int64
			var wg sync.WaitGroup
			errs := make(chan error, tt.goroutines*tt.each)
			for g := range tt.goroutines {
				wg.Go(func() {
					for i := range tt.each {
						ctx, cancel := context.WithTimeout(upstream.ContextWithBudgetKey(context.Background(), env.location), tt.deadline)
						_, _, err := env.client.Contacts.Get(ctx, ids[(g*tt.each+i)%len(ids)])
						cancel()
						var e *upstream.Error
						switch {
						case err == nil:
							ok.Add(1)
						case errors.Is(err, upstream.ErrRateLimited) && errors.As(err, &e) && e.StatusCode == 0 && !e.RequestSent && e.RetryAfter > 0:
							refused.Add(1)
						default:
							errs <- err
						}
					}
				})
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Errorf("call neither succeeded nor was refused by the budget: %v", err)
			}
			if got := env.statuses.count(http.StatusTooManyRequests); got != 0 {
				t.Errorf("sandbox answered 429 %d times, want 0", got)
			}
			total := int64(tt.goroutines * tt.each)
			if ok.Load()+refused.Load() != total {
				t.Errorf("%d succeeded + %d refused, want %d in all", ok.Load(), refused.Load(), total)
			}
			if tt.wantAllSucceed && ok.Load() != total {
				t.Errorf("%d of %d calls succeeded, want all", ok.Load(), total)
			}
			if ok.Load() < int64(tt.wantMinSuccessful) {
				t.Errorf("%d calls succeeded, want at least %d", ok.Load(), tt.wantMinSuccessful)
			}
			if got := env.sb.Calls(upstream.OpGetContact.ID); got != ok.Load() {
				t.Errorf("sandbox saw %d calls for %d successes: refused calls must not reach it", got, ok.Load())
			}
		})
	}
}
