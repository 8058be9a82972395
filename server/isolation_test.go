// End-to-end tests of failure isolation (issue 10), through the gateway's
// handler to the sandbox: one location whose upstream calls fail or hang
// opens its own breaker only, while other locations keep being answered and
// /readyz stays ready; when several locations fail, the host's breaker
// opens and /readyz answers 503; a steady 30% of 5xx with retries on leaves
// the breakers closed and most snapshots whole. Counts and codes only; the
// breakers' clock is fake.

package server_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ghl-graphql/gateway/internal/fakeclock"
	"github.com/ghl-graphql/gateway/server"
	"github.com/ghl-graphql/gateway/upstream"
	"github.com/ghl-graphql/gateway/upstream/sandbox"
)

// isoTokens counts the upstream calls made with each token, and makes the
// calls of the failing tokens answer 503 (or hang until the client gives
// up, when slow).
type isoTokens struct {
	mu      sync.Mutex
	failing map[string]bool
	slow    bool
	calls   map[string]int
}

func (f *isoTokens) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tok := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
		f.mu.Lock()
		f.calls[tok]++
		failing := f.failing[tok]
		f.mu.Unlock()
		switch {
		case !failing:
			next.ServeHTTP(w, r)
		case f.slow:
			<-r.Context().Done()
		default:
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = w.Write([]byte(`{"statusCode":503,"message":"Service Unavailable"}`))
		}
	})
}

func (f *isoTokens) callsOf(tok string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls[tok]
}

// readyzOf asks a fresh handler's /readyz (each caches its answer for 2 s).
func readyzOf(t *testing.T, e *rsEnv) (int, string) {
	t.Helper()
	h, err := server.New(server.Config{Client: e.client, Ready: server.UpstreamReady(e.client, e.hc)})
	if err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, server.ReadyPath, nil))
	return rec.Code, rec.Body.String()
}

func TestResilienceFailureIsolation(t *testing.T) {
	rsNoLeaks(t)
	tests := []struct {
		name    string
		failing []int // indexes of the failing locations among 3
		slow    bool
		// snapshots: the failing locations read snapshots (four calls at
		// once) rather than one contact (one call).
		snapshots bool
		// wantHost is the host's breaker at the end; /readyz follows it.
		wantHost string
		// wantHostFirst, when set, is the host's breaker after the first query.
		wantHostFirst string
	}{
		{name: "one location answered 503: only its breaker opens", failing: []int{0}, wantHost: upstream.BreakerClosed},
		{name: "one location's calls hang: only its breaker opens", failing: []int{0}, slow: true, wantHost: upstream.BreakerClosed},
		{
			// Location 0 goes first: its four failing calls are all the
			// host's traffic, so the host's breaker opens with its own;
			// location 1 has not failed, so its calls still go, and their
			// success closes the host's.
			name:    "one location's snapshots fail before others call: the others' calls close the host's breaker",
			failing: []int{0}, snapshots: true, wantHostFirst: upstream.BreakerOpen, wantHost: upstream.BreakerClosed,
		},
		{name: "every location failing: the host's breaker opens", failing: []int{0, 1, 2}, wantHost: upstream.BreakerOpen},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rsNoLeaks(t)
			clock := fakeclock.New(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
			f := &isoTokens{failing: map[string]bool{}, slow: tt.slow, calls: map[string]int{}}
			e := newRSEnv(t, rsConfig{locations: 3, wrap: f.wrap, clientOpts: []upstream.Option{
				upstream.WithRetryPolicy(rsRetries),
				upstream.WithTimeout(500 * time.Millisecond), // a healthy call must never reach it, even on a loaded CI machine
				upstream.WithCircuitBreaker(upstream.BreakerConfig{MinCalls: 3, CoolDown: time.Minute, Now: clock.Now}),
			}})
			locs := e.sb.Locations()
			if len(locs) != 3 {
				t.Fatalf("%d locations, want 3", len(locs))
			}
			tokens := make([]string, 3)
			isFailing := make([]bool, 3)
			for i, loc := range locs {
				tokens[i] = e.sb.Token(loc, sandbox.ScopeContactsRead, sandbox.ScopeContactsWrite)
			}
			// Each tenant has been served before it starts failing, so its
			// credential is confirmed: an unconfirmed one gets one call in
			// flight at a time (budget trust), which would make how many of
			// its first query's calls reach the upstream depend on timing.
			// Then the breakers' window forgets those calls.
			for i, loc := range locs {
				a, err := e.gql(t.Context(), rsOne, map[string]any{"id": e.sb.ContactIDs(loc)[10]},
					http.Header{"Authorization": {"Bearer " + tokens[i]}})
				if err != nil || len(a.errors) != 0 {
					t.Fatalf("warm-up of location %d: %v %s", i, err, a.body)
				}
			}
			clock.Advance(time.Hour)
			for _, i := range tt.failing {
				f.failing[tokens[i]] = true
				isFailing[i] = true
			}
			// Round-robin, so that every location is active while the
			// failing ones fail: 4 rounds; a failing location's breaker
			// (MinCalls 3) is open by the 4th.
			opened := make([]bool, 3)
			for round := range 4 {
				for i, loc := range locs {
					id := e.sb.ContactIDs(loc)[round]
					before := f.callsOf(tokens[i])
					// A failing location reads one contact, one call a
					// query; a healthy one its snapshot, four.
					query := rsSnapshot
					if isFailing[i] && !tt.snapshots {
						query = rsOne
					}
					a, err := e.gql(t.Context(), query, map[string]any{"id": id},
						http.Header{"Authorization": {"Bearer " + tokens[i]}})
					if err != nil {
						t.Fatal(err)
					}
					if round == 0 && i == 0 && tt.wantHostFirst != "" {
						if got := e.client.BreakerState(); got != tt.wantHostFirst {
							t.Errorf("host's breaker %s after the first query, want %s", got, tt.wantHostFirst)
						}
					}
					if !isFailing[i] {
						if err := rsFullSnapshot(a, id); err != nil {
							t.Errorf("round %d, healthy location %d: %v", round, i, err)
						}
						continue
					}
					if len(a.errors) != 1 {
						t.Fatalf("round %d, failing location %d: want one error: %s", round, i, a.body)
					}
					switch code := a.errors[0].code(); code {
					case "UPSTREAM_UNAVAILABLE":
						// The query that saw the breaker open may have made
						// calls before; the next ones make none.
						wasOpen := opened[i]
						opened[i] = true
						if got := f.callsOf(tokens[i]); wasOpen && got != before {
							t.Errorf("round %d, location %d: refused by its breaker, yet %d upstream calls", round, i, got-before)
						}
					case "UPSTREAM_ERROR", "UPSTREAM_TIMEOUT":
						if opened[i] {
							t.Errorf("round %d, location %d: called again after its breaker refused: %s", round, i, a.body)
						}
					default:
						t.Errorf("round %d, failing location %d: code %s: %s", round, i, code, a.body)
					}
				}
			}
			for _, i := range tt.failing {
				if !opened[i] {
					t.Errorf("failing location %d was never refused by a breaker", i)
				}
			}
			if got := e.client.BreakerState(); got != tt.wantHost {
				t.Errorf("host's breaker %s, want %s", got, tt.wantHost)
			}
			code, body := readyzOf(t, e)
			switch tt.wantHost {
			case upstream.BreakerOpen:
				if code != http.StatusServiceUnavailable || !strings.Contains(body, "circuit") {
					t.Errorf("/readyz with the host's circuit open = %d %s, want 503", code, body)
				}
			default:
				if code != http.StatusOK {
					t.Errorf("/readyz with one location failing = %d %s, want 200", code, body)
				}
			}
		})
	}
}

// stripRetryAfter drops the sandbox's Retry-After (its 503s ask for 1 s),
// so that retries follow the policy's short backoff and the test is quick.
func stripRetryAfter(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		next.ServeHTTP(noRetryAfter{w}, r)
	})
}

type noRetryAfter struct{ http.ResponseWriter }

func (w noRetryAfter) WriteHeader(code int) {
	w.Header().Del("Retry-After")
	w.ResponseWriter.WriteHeader(code)
}

func (w noRetryAfter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// The measurement: at a steady 30% of upstream 5xx, with the
// gateway's three attempts, a call fails with probability 2.7% and a
// snapshot (four calls) about one time in ten; the breakers, which count
// calls, stay closed and no query is refused. The attempt-counting breaker
// opened on 5 failed attempts in a row and refused most snapshots.
func TestResilienceSteady30PercentServerErrors(t *testing.T) {
	rsNoLeaks(t)
	const n = 40
	clock := fakeclock.New(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	e := newRSEnv(t, rsConfig{seed: 7, contacts: n, wrap: stripRetryAfter, clientOpts: []upstream.Option{
		upstream.WithRetryPolicy(rsRetries),
		upstream.WithCircuitBreaker(upstream.BreakerConfig{CoolDown: time.Minute, Now: clock.Now}),
		upstream.WithRateBudget(upstream.NewLocalBudget(upstream.BudgetConfig{Max: 100_000, Interval: time.Second})),
	}})
	e.sb.SetFaults(sandbox.Faults{Rate: 0.3, Kinds: []sandbox.FaultKind{sandbox.FaultServerError}})
	whole, refused := 0, 0
	for i, id := range e.sb.ContactIDs(e.loc)[:n] {
		a := e.mustGQL(t, rsSnapshot, map[string]any{"id": id})
		if rsFullSnapshot(a, id) == nil {
			whole++
		}
		for _, ge := range a.errors {
			if ge.code() == "UPSTREAM_UNAVAILABLE" {
				refused++
			} else if ge.code() != "UPSTREAM_ERROR" {
				t.Errorf("snapshot %d: code %s: %s", i, ge.code(), a.body)
			}
		}
		clock.Advance(500 * time.Millisecond)
	}
	served := e.watch.count(http.StatusOK)
	faults := e.watch.count(http.StatusInternalServerError) + e.watch.count(http.StatusBadGateway) + e.watch.count(http.StatusServiceUnavailable)
	t.Logf("%d of %d snapshots whole; %d upstream answers 2xx, %d 5xx", whole, n, served, faults)
	if refused != 0 {
		t.Errorf("%d fields refused by the breaker, want 0", refused)
	}
	if st := e.client.BreakerState(); st != upstream.BreakerClosed {
		t.Errorf("host's breaker %s, want closed", st)
	}
	if faults < n {
		t.Errorf("only %d injected 5xx: the faults did not happen", faults)
	}
	if whole < n*3/4 {
		t.Errorf("%d of %d snapshots whole, want at least three in four (retries complete about nine in ten)", whole, n)
	}
}
