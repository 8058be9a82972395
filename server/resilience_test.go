// Resilience tests of HighLevel's "good citizen" issue, end to end through
// HTTP: a GraphQL client → the gateway's handler (httptest) → its upstream
// client (rate budget, retries, circuit breaker) → the sandbox (httptest),
// all on loopback. upstream/citizen_test.go proves the same properties at
// the client level; these prove that they survive the gateway around it
// (loaders, coalescing, the cost check, the response cache, the error
// presenter).
//
// Every test is bounded in count and in time, asserts counts, codes and
// lower bounds only (never an upper bound on elapsed time), and checks with
// goleak that no goroutine outlives it. They are not parallel: goleak and
// the goroutine counts need the process to themselves.

package server_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/ghl-graphql/gateway/internal/fakeclock"
	"github.com/ghl-graphql/gateway/server"
	"github.com/ghl-graphql/gateway/upstream"
	"github.com/ghl-graphql/gateway/upstream/sandbox"
)

// rsRetries is the gateway's retry policy with a short base delay, so that
// the tests stay fast; a 503's Retry-After still stretches a backoff to 1 s.
var rsRetries = upstream.RetryPolicy{MaxAttempts: 3, BaseDelay: 10 * time.Millisecond, MaxDelay: 200 * time.Millisecond}

// rsSnapshot is a contact's snapshot: one get-contact and three lists, cost 4.
const rsSnapshot = `query($id: ID!) { contact(id: $id) { id name email tags
	tasks { id title } notes { id body } appointments { id title } } }`

// rsOne reads one contact: one get-contact, cost 1.
const rsOne = `query($id: ID!) { contact(id: $id) { id name } }`

// rsNoLeaks fails t if goroutines started during the test outlive it.
// Registered first, it runs after every other cleanup (servers, transports).
func rsNoLeaks(t *testing.T) {
	t.Helper()
	opt := goleak.IgnoreCurrent()
	t.Cleanup(func() { goleak.VerifyNone(t, opt) })
}

// rsCall is what the watch saw of one upstream request.
type rsCall struct {
	path    string
	arrived time.Time
	status  int // 0 when no answer was written (dropped, or cancelled)
	// cancelled: the request's context was done before the handler returned
	// (the server cancels it only after the handler returns otherwise).
	cancelled bool
}

// rsWatch wraps the sandbox and records every request: arrival time, path,
// status, whether it was cancelled, and how many are in flight.
type rsWatch struct {
	next     http.Handler
	arrivals chan struct{} // one token per arrival, never blocking

	mu       sync.Mutex
	calls    []rsCall
	inFlight int
}

func newRSWatch(next http.Handler) *rsWatch {
	return &rsWatch{next: next, arrivals: make(chan struct{}, 1024)}
}

func (w *rsWatch) ServeHTTP(rw http.ResponseWriter, r *http.Request) {
	c := rsCall{path: r.URL.Path, arrived: time.Now()}
	w.mu.Lock()
	w.inFlight++
	w.mu.Unlock()
	select {
	case w.arrivals <- struct{}{}:
	default:
	}
	sw := &rsStatusWriter{ResponseWriter: rw}
	defer func() {
		c.status = sw.status
		c.cancelled = r.Context().Err() != nil
		w.mu.Lock()
		w.inFlight--
		w.calls = append(w.calls, c)
		w.mu.Unlock()
	}()
	w.next.ServeHTTP(sw, r)
}

// snapshot returns the finished calls and the number still in flight.
func (w *rsWatch) snapshot() ([]rsCall, int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Clone(w.calls), w.inFlight
}

// count returns how many finished calls answered status.
func (w *rsWatch) count(status int) int {
	calls, _ := w.snapshot()
	n := 0
	for _, c := range calls {
		if c.status == status {
			n++
		}
	}
	return n
}

// rsStatusWriter records the status written; it can still be hijacked,
// which the sandbox's dropped connections need.
type rsStatusWriter struct {
	http.ResponseWriter
	status int
}

func (w *rsStatusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *rsStatusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

func (w *rsStatusWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	return http.NewResponseController(w.ResponseWriter).Hijack()
}

func (w *rsStatusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// rsConfig configures an rsEnv.
type rsConfig struct {
	seed       int64
	contacts   int
	locations  int // the sandbox's; 0 for its default
	clientOpts []upstream.Option
	server     func(*server.Config)
	// dial, when set, replaces the upstream transport's dialer; sandboxAddr
	// is where the sandbox listens.
	dial func(ctx context.Context, sandboxAddr string) (net.Conn, error)
	// wrap, when set, wraps the sandbox inside the watch.
	wrap func(http.Handler) http.Handler
}

// rsEnv is a sandbox behind a watch, and a gateway in front of it.
type rsEnv struct {
	sb     *sandbox.Server
	watch  *rsWatch
	up     *httptest.Server
	client *upstream.Client
	// hc is the upstream client's HTTP client; dials counts its dials.
	hc    *http.Client
	dials atomic.Int64
	gw    *httptest.Server
	// gwc talks to the gateway, on a transport of its own.
	gwc   *http.Client
	loc   string
	token string
}

func newRSEnv(t *testing.T, cfg rsConfig) *rsEnv {
	t.Helper()
	if cfg.seed == 0 {
		cfg.seed = 1
	}
	if cfg.contacts == 0 {
		cfg.contacts = 40
	}
	sb, err := sandbox.New(sandbox.Config{Seed: cfg.seed, ContactsPerLocation: cfg.contacts, Locations: cfg.locations})
	if err != nil {
		t.Fatal(err)
	}
	var inner http.Handler = sb
	if cfg.wrap != nil {
		inner = cfg.wrap(sb)
	}
	e := &rsEnv{sb: sb, watch: newRSWatch(inner), loc: sb.Locations()[0], token: sb.DefaultToken()}
	e.up = httptest.NewServer(e.watch)
	t.Cleanup(e.up.Close)
	sandboxAddr := e.up.Listener.Addr().String()

	var d net.Dialer
	tr := upstream.NewTransport()
	tr.Proxy = nil
	tr.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		e.dials.Add(1)
		if cfg.dial != nil {
			return cfg.dial(ctx, sandboxAddr)
		}
		return d.DialContext(ctx, network, addr)
	}
	e.hc = &http.Client{Transport: tr, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	t.Cleanup(e.hc.CloseIdleConnections)
	e.client, err = upstream.NewClient(append([]upstream.Option{upstream.WithBaseURL(e.up.URL), upstream.WithHTTPClient(e.hc)}, cfg.clientOpts...)...)
	if err != nil {
		t.Fatal(err)
	}
	scfg := server.Config{Client: e.client}
	if cfg.server != nil {
		cfg.server(&scfg)
	}
	h, err := server.New(scfg)
	if err != nil {
		t.Fatal(err)
	}
	e.gw = httptest.NewServer(h)
	t.Cleanup(e.gw.Close)
	gtr := &http.Transport{MaxIdleConns: 64, MaxIdleConnsPerHost: 64}
	e.gwc = &http.Client{Transport: gtr}
	t.Cleanup(gtr.CloseIdleConnections)
	return e
}

// rsErr is one entry of a GraphQL response's errors.
type rsErr struct {
	Message    string         `json:"message"`
	Path       []any          `json:"path"`
	Extensions map[string]any `json:"extensions"`
}

func (e rsErr) code() string {
	c, _ := e.Extensions["code"].(string)
	return c
}

// path is the error's path joined with dots ("contact.notes").
func (e rsErr) path() string {
	parts := make([]string, len(e.Path))
	for i, p := range e.Path {
		parts[i] = fmt.Sprint(p)
	}
	return strings.Join(parts, ".")
}

// retryAfter is extensions.retryAfter, and whether it is a whole number of
// seconds of at least 1.
func (e rsErr) retryAfter() (float64, bool) {
	ra, ok := e.Extensions["retryAfter"].(float64)
	return ra, ok && ra >= 1 && ra == float64(int64(ra))
}

// rsAnswer is a GraphQL answer as the client sees it.
type rsAnswer struct {
	status int
	body   string
	data   map[string]any // nil when data is null or absent
	errors []rsErr
}

// contact returns data.contact as an object; nil when null.
func (a rsAnswer) contact() map[string]any {
	c, _ := a.data["contact"].(map[string]any)
	return c
}

// gql POSTs a GraphQL request to the gateway with the env's token.
func (e *rsEnv) gql(ctx context.Context, query string, vars map[string]any, header http.Header) (rsAnswer, error) {
	body, err := json.Marshal(map[string]any{"query": query, "variables": vars})
	if err != nil {
		return rsAnswer{}, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, e.gw.URL+server.GraphQLPath, bytes.NewReader(body))
	if err != nil {
		return rsAnswer{}, err
	}
	for k, v := range header {
		req.Header[k] = v
	}
	req.Header.Set("Content-Type", "application/json")
	if req.Header.Get("Authorization") == "" {
		req.Header.Set("Authorization", "Bearer "+e.token)
	}
	resp, err := e.gwc.Do(req)
	if err != nil {
		return rsAnswer{}, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return rsAnswer{}, err
	}
	out := rsAnswer{status: resp.StatusCode, body: string(raw)}
	var env struct {
		Data   json.RawMessage `json:"data"`
		Errors []rsErr         `json:"errors"`
	}
	if err := json.Unmarshal(raw, &env); err != nil {
		return out, fmt.Errorf("answer is not JSON (status %d): %q", resp.StatusCode, raw)
	}
	out.errors = env.Errors
	if len(env.Data) > 0 && string(env.Data) != "null" {
		if err := json.Unmarshal(env.Data, &out.data); err != nil {
			return out, fmt.Errorf("data is not an object: %s", env.Data)
		}
	}
	if strings.Contains(out.body, e.token) || strings.Contains(out.body, "goroutine ") {
		return out, fmt.Errorf("answer leaks a token or a stack trace: %s", out.body)
	}
	return out, nil
}

// mustGQL is gql that fails t on a transport error; not for goroutines.
func (e *rsEnv) mustGQL(t *testing.T, query string, vars map[string]any) rsAnswer {
	t.Helper()
	a, err := e.gql(t.Context(), query, vars, nil)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// rsFullSnapshot reports why a, the answer to rsSnapshot for id, is not a
// complete snapshot without errors; nil when it is.
func rsFullSnapshot(a rsAnswer, id string) error {
	if len(a.errors) > 0 || a.status != http.StatusOK {
		return fmt.Errorf("status %d, errors: %s", a.status, a.body)
	}
	c := a.contact()
	if c == nil || c["id"] != id {
		return fmt.Errorf("contact is not %s: %s", id, a.body)
	}
	for _, f := range []string{"tasks", "notes", "appointments"} {
		if _, ok := c[f].([]any); !ok {
			return fmt.Errorf("contact.%s is not a list: %s", f, a.body)
		}
	}
	return nil
}

// rsClosedAddr returns a loopback address where nothing listens: dials to
// it are refused (ECONNREFUSED) at once.
func rsClosedAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	return addr
}

// 1. Faults on reads: with three attempts, a 10% fault rate (5xx, dropped
// connections, malformed answers; or answers slower than the upstream
// timeout) does not reach the client; what does reach it is a coded error
// on the failing field, the rest of the data intact.
func TestResilienceFaultsOnReads(t *testing.T) {
	rsNoLeaks(t)
	const n = 150

	// Deterministic: only get-contact draws faults (an Ops filter skips the
	// RNG for the other operations) and the snapshots run one after another,
	// so the seeded draws replay. A get-contact failing all three attempts
	// has probability 1/1000 per read, so some seeds do draw it over 150
	// reads: seed 4 does, at the 7th snapshot (a 503 three times, answered
	// UPSTREAM_ERROR at contact). Seeds 1, 2, 3, 5 and 6 do not (each run
	// 15 times under -race); the test uses 3.
	t.Run("5xx, drop, malformed on get-contact: every snapshot succeeds", func(t *testing.T) {
		rsNoLeaks(t)
		e := newRSEnv(t, rsConfig{seed: 3, contacts: n, clientOpts: []upstream.Option{
			upstream.WithRetryPolicy(rsRetries),
			upstream.WithCircuitBreaker(upstream.BreakerConfig{MinCalls: 5, CoolDown: time.Second}),
			upstream.WithRateBudget(upstream.NewLocalBudget(upstream.BudgetConfig{Max: 100_000, Interval: time.Second})),
		}})
		e.sb.SetFaults(sandbox.Faults{Rate: 0.1, Ops: []string{upstream.OpGetContact.ID},
			Kinds: []sandbox.FaultKind{sandbox.FaultServerError, sandbox.FaultDrop, sandbox.FaultMalformed}})
		ids := e.sb.ContactIDs(e.loc)[:n]
		for i, id := range ids {
			a := e.mustGQL(t, rsSnapshot, map[string]any{"id": id})
			if err := rsFullSnapshot(a, id); err != nil {
				t.Errorf("snapshot %d (%s): %v", i, id, err)
			}
		}
		// The faults did happen (every fault costs one more call), and the
		// retries absorbed them.
		if got := e.sb.Calls(upstream.OpGetContact.ID); got <= n {
			t.Errorf("%d get-contact calls for %d snapshots: no fault was injected", got, n)
		}
		for _, op := range []string{upstream.OpListTasks.ID, upstream.OpListNotes.ID, upstream.OpListAppointments.ID} {
			if got := e.sb.Calls(op); got != n {
				t.Errorf("%s called %d times, want %d (no fault on it)", op, got, n)
			}
		}
		if st := e.client.BreakerState(); st != upstream.BreakerClosed {
			t.Errorf("breaker %s after the run, want closed", st)
		}
	})

	// Concurrent, faults on the three lists: the draws no longer replay, so
	// a list may fail all its attempts. Whatever fails must be that list
	// alone, coded UPSTREAM_ERROR, with the contact and the other lists
	// present.
	t.Run("5xx, drop, malformed on the lists, concurrent: partial data", func(t *testing.T) {
		rsNoLeaks(t)
		e := newRSEnv(t, rsConfig{seed: 5, contacts: n, clientOpts: []upstream.Option{
			upstream.WithRetryPolicy(rsRetries),
			upstream.WithCircuitBreaker(upstream.BreakerConfig{MinCalls: 5, CoolDown: time.Second}),
		}})
		lists := map[string]string{"tasks": upstream.OpListTasks.ID, "notes": upstream.OpListNotes.ID, "appointments": upstream.OpListAppointments.ID}
		e.sb.SetFaults(sandbox.Faults{Rate: 0.1, Ops: []string{upstream.OpListTasks.ID, upstream.OpListNotes.ID, upstream.OpListAppointments.ID},
			Kinds: []sandbox.FaultKind{sandbox.FaultServerError, sandbox.FaultDrop, sandbox.FaultMalformed}})
		ids := e.sb.ContactIDs(e.loc)[:n]
		answers := make([]rsAnswer, n)
		errs := make([]error, n)
		var wg sync.WaitGroup
		const workers = 10
		for w := range workers {
			wg.Go(func() {
				for i := w; i < n; i += workers {
					answers[i], errs[i] = e.gql(t.Context(), rsSnapshot, map[string]any{"id": ids[i]}, nil)
				}
			})
		}
		wg.Wait()
		failed := 0
		for i, a := range answers {
			if errs[i] != nil {
				t.Errorf("snapshot %d: %v", i, errs[i])
				continue
			}
			if len(a.errors) == 0 {
				if err := rsFullSnapshot(a, ids[i]); err != nil {
					t.Errorf("snapshot %d: %v", i, err)
				}
				continue
			}
			failed++
			c := a.contact()
			if c == nil || c["id"] != ids[i] || c["name"] == nil {
				t.Errorf("snapshot %d: the contact is missing beside a failed list: %s", i, a.body)
				continue
			}
			failedLists := map[string]bool{}
			for _, ge := range a.errors {
				list := strings.TrimPrefix(ge.path(), "contact.")
				op, isList := lists[list]
				switch {
				case ge.code() != "UPSTREAM_ERROR":
					t.Errorf("snapshot %d: code %q, want UPSTREAM_ERROR: %s", i, ge.code(), a.body)
				case !isList:
					t.Errorf("snapshot %d: error at %q, only the lists may fail: %s", i, ge.path(), a.body)
				case ge.Extensions["operation"] != op:
					t.Errorf("snapshot %d: error of %v at %s, want %s", i, ge.Extensions["operation"], ge.path(), op)
				}
				failedLists[list] = true
			}
			for list := range lists {
				v, present := c[list]
				if failedLists[list] && (!present || v != nil) {
					t.Errorf("snapshot %d: failed %s = %v (present %v), want null", i, list, v, present)
				}
				if _, ok := v.([]any); !failedLists[list] && !ok {
					t.Errorf("snapshot %d: %s = %v, want the list beside the failed one", i, list, v)
				}
			}
		}
		// A list fails with probability about 1/1000 (all three attempts),
		// so a few of 450 may; many would mean retries did not happen.
		if failed > 5 {
			t.Errorf("%d of %d snapshots had a failed list, want at most a few", failed, n)
		}
		calls := e.sb.Calls(upstream.OpListTasks.ID) + e.sb.Calls(upstream.OpListNotes.ID) + e.sb.Calls(upstream.OpListAppointments.ID)
		if calls <= 3*n {
			t.Errorf("%d list calls for %d snapshots: no fault was injected", calls, n)
		}
		t.Logf("%d of %d snapshots lost a list; %d list calls", failed, n, calls)
	})

	// A list that fails every attempt: the error is coded for its cause,
	// sits on that list alone, and the rest of the snapshot is there.
	t.Run("a list failing every attempt: coded error, partial data", func(t *testing.T) {
		rsNoLeaks(t)
		for _, tc := range []struct {
			kind sandbox.FaultKind
			code string
		}{
			{sandbox.FaultMalformed, "UPSTREAM_ERROR"},
			{sandbox.FaultSlow, "UPSTREAM_TIMEOUT"},
			{sandbox.FaultDrop, "UPSTREAM_ERROR"},
		} {
			t.Run(string(tc.kind), func(t *testing.T) {
				e := newRSEnv(t, rsConfig{clientOpts: []upstream.Option{
					upstream.WithRetryPolicy(rsRetries), upstream.WithTimeout(150 * time.Millisecond)}})
				e.sb.SetFaults(sandbox.Faults{Rate: 1, Kinds: []sandbox.FaultKind{tc.kind}, SlowDelay: time.Minute,
					Ops: []string{upstream.OpListNotes.ID}})
				id := e.sb.ContactIDs(e.loc)[2]
				a := e.mustGQL(t, rsSnapshot, map[string]any{"id": id})
				if len(a.errors) != 1 {
					t.Fatalf("want one error; body %s", a.body)
				}
				ge := a.errors[0]
				if ge.code() != tc.code || ge.path() != "contact.notes" || ge.Extensions["operation"] != upstream.OpListNotes.ID {
					t.Errorf("error %q at %q (%v), want %s at contact.notes: %s", ge.code(), ge.path(), ge.Extensions["operation"], tc.code, a.body)
				}
				c := a.contact()
				if c == nil || c["id"] != id || c["name"] == nil {
					t.Fatalf("the contact is missing beside the failed notes: %s", a.body)
				}
				if v, present := c["notes"]; !present || v != nil {
					t.Errorf("notes = %v (present %v), want null", v, present)
				}
				for _, f := range []string{"tasks", "appointments"} {
					if _, ok := c[f].([]any); !ok {
						t.Errorf("%s = %v, want the list beside the failed notes", f, c[f])
					}
				}
				// Three attempts; a dropped GET on a reused connection may
				// also be re-sent once by net/http itself.
				calls := e.sb.Calls(upstream.OpListNotes.ID)
				if calls < int64(rsRetries.MaxAttempts) || (tc.kind != sandbox.FaultDrop && calls != int64(rsRetries.MaxAttempts)) {
					t.Errorf("get-all-notes called %d times, want %d attempts", calls, rsRetries.MaxAttempts)
				}
			})
		}
	})

	// Slow answers past the upstream timeout: the attempt times out and is
	// repeated. Sequential and filtered to get-contact, so the draws replay.
	t.Run("slow past the upstream timeout on get-contact: every snapshot succeeds", func(t *testing.T) {
		rsNoLeaks(t)
		const n = 100
		e := newRSEnv(t, rsConfig{seed: 3, contacts: n, clientOpts: []upstream.Option{
			upstream.WithRetryPolicy(rsRetries),
			upstream.WithTimeout(150 * time.Millisecond),
			upstream.WithCircuitBreaker(upstream.BreakerConfig{MinCalls: 5, CoolDown: time.Second}),
		}})
		// SlowDelay far past the timeout; the sandbox stops waiting when the
		// client gives up, so no handler outlives its call.
		e.sb.SetFaults(sandbox.Faults{Rate: 0.1, Ops: []string{upstream.OpGetContact.ID},
			Kinds: []sandbox.FaultKind{sandbox.FaultSlow}, SlowDelay: time.Minute})
		ids := e.sb.ContactIDs(e.loc)[:n]
		for i, id := range ids {
			a := e.mustGQL(t, rsSnapshot, map[string]any{"id": id})
			if err := rsFullSnapshot(a, id); err != nil {
				for _, ge := range a.errors {
					if ge.code() != "UPSTREAM_TIMEOUT" {
						t.Errorf("snapshot %d: code %q, want UPSTREAM_TIMEOUT", i, ge.code())
					}
				}
				t.Errorf("snapshot %d (%s): %v", i, id, err)
			}
		}
		if got := e.sb.Calls(upstream.OpGetContact.ID); got <= n {
			t.Errorf("%d get-contact calls for %d snapshots: no slow answer was injected", got, n)
		}
		// Every slow call was given up by the client: none answered.
		calls, _ := e.watch.snapshot()
		slow := 0
		for _, c := range calls {
			if c.cancelled {
				slow++
				if c.status != 0 {
					t.Errorf("a call given up by the client was answered %d", c.status)
				}
			}
		}
		if want := int(e.sb.Calls(upstream.OpGetContact.ID)) - n; slow != want {
			t.Errorf("%d calls given up by the client, want %d (one per repeated get-contact)", slow, want)
		}
	})
}

// 2. Ten times the budget for one location: the gateway's budget matches
// the upstream's limit, so the upstream never answers 429, and what the
// budget cannot afford before the request's deadline is refused fast with
// RATE_LIMITED; a warm query keeps being answered from the cache.
func TestResilienceTenTimesTheBudget(t *testing.T) {
	rsNoLeaks(t)
	const (
		limit      = 10
		interval   = 500 * time.Millisecond
		goroutines = 20
		each       = 10
	)
	budget := upstream.NewLocalBudget(upstream.BudgetConfig{Max: limit, Interval: interval})
	e := newRSEnv(t, rsConfig{contacts: 250,
		clientOpts: []upstream.Option{upstream.WithRateBudget(budget), upstream.WithRetryPolicy(rsRetries)},
		// Long enough that a call the budget let go finishes on a loaded
		// machine (at 300 ms, 7 of 200 reads of a CI run beside other
		// builds ran out of time after their slot, UPSTREAM_TIMEOUT);
		// short enough that most excess reads find no slot within it.
		server: func(c *server.Config) { c.RequestTimeout = 600 * time.Millisecond },
	})
	e.sb.SetRateLimit(sandbox.RateLimit{Max: limit, Interval: interval})
	ids := e.sb.ContactIDs(e.loc)
	warmID := ids[len(ids)-1]
	warmVars := map[string]any{"id": warmID}
	if err := rsFullSnapshot(e.mustGQL(t, rsSnapshot, warmVars), warmID); err != nil {
		t.Fatalf("warm-up snapshot: %v", err)
	}

	// 200 distinct cold reads over about a second, ten times the 20 calls
	// a second the budget allows, paced (one read per goroutine every
	// 100 ms) so that every window sees the excess. Each goroutine stops
	// after its share or after 6 s.
	type outcome struct {
		id  string
		a   rsAnswer
		err error
	}
	outcomes := make([][]outcome, goroutines)
	start := time.Now()
	stop := start.Add(6 * time.Second)
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			for i := range each {
				if time.Now().After(stop) {
					return
				}
				if d := time.Until(start.Add(time.Duration(i)*100*time.Millisecond + time.Duration(g)*5*time.Millisecond)); d > 0 {
					time.Sleep(d)
				}
				id := ids[g*each+i]
				a, err := e.gql(context.Background(), rsOne, map[string]any{"id": id}, nil)
				outcomes[g] = append(outcomes[g], outcome{id: id, a: a, err: err})
			}
		})
	}
	// Meanwhile the warm query, repeated.
	loadDone := make(chan struct{})
	var warm []outcome
	var warmWG sync.WaitGroup
	warmWG.Go(func() {
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		for range 80 {
			select {
			case <-loadDone:
				return
			case <-tick.C:
			}
			a, err := e.gql(context.Background(), rsSnapshot, warmVars, nil)
			warm = append(warm, outcome{id: warmID, a: a, err: err})
		}
	})
	wg.Wait()
	close(loadDone)
	warmWG.Wait()

	// Every answer is data, or RATE_LIMITED with retryAfter.
	var ok, refused, total int
	codes := map[string]int{}
	for _, mine := range outcomes {
		for _, o := range mine {
			total++
			if o.err != nil {
				t.Errorf("%s: %v", o.id, o.err)
				continue
			}
			if len(o.a.errors) == 0 {
				if c := o.a.contact(); c == nil || c["id"] != o.id {
					t.Errorf("%s: no error and no contact: %s", o.id, o.a.body)
				}
				ok++
				continue
			}
			refused++
			for _, ge := range o.a.errors {
				codes[ge.code()]++
				if ge.code() != "RATE_LIMITED" {
					t.Errorf("%s: code %q, want RATE_LIMITED: %s", o.id, ge.code(), o.a.body)
					continue
				}
				if ra, good := ge.retryAfter(); !good {
					t.Errorf("%s: RATE_LIMITED with retryAfter %v, want whole seconds ≥ 1", o.id, ra)
				}
			}
		}
	}
	t.Logf("%d reads: %d answered, %d refused; error codes %v", total, ok, refused, codes)
	if total != goroutines*each {
		t.Errorf("%d reads sent, want %d (a goroutine ran out of time)", total, goroutines*each)
	}
	if ok < limit {
		t.Errorf("%d reads answered, want at least the first window's %d", ok, limit)
	}

	// The upstream never refused a call, and never saw more than the
	// limit in any interval.
	calls, inFlight := e.watch.snapshot()
	if n := e.watch.count(http.StatusTooManyRequests); n != 0 {
		t.Errorf("the sandbox answered 429 %d times, want 0", n)
	}
	if inFlight != 0 {
		t.Errorf("%d upstream calls still in flight", inFlight)
	}
	arrivals := make([]time.Time, len(calls))
	for i, c := range calls {
		arrivals[i] = c.arrived
	}
	slices.SortFunc(arrivals, func(a, b time.Time) int { return a.Compare(b) })
	// The budget frees a slot an interval after the answer of the call that
	// held it, and the watch stamps a call before the sandbox counts it; so
	// the (limit+1)th arrival after any arrival comes a whole interval later,
	// which keeps every sliding window, and the sandbox's fixed windows, at
	// the limit.
	for i := 0; i+limit < len(arrivals); i++ {
		if gap := arrivals[i+limit].Sub(arrivals[i]); gap < interval {
			t.Errorf("calls %d..%d reached the sandbox within %v: %d calls in one %v window", i, i+limit, gap, limit+1, interval)
		}
	}

	// The warm query was answered, from the cache, throughout.
	if len(warm) < 5 {
		t.Errorf("the warm query ran %d times during the load, want at least 5", len(warm))
	}
	for i, o := range warm {
		if o.err != nil {
			t.Errorf("warm %d: %v", i, o.err)
		} else if err := rsFullSnapshot(o.a, warmID); err != nil {
			t.Errorf("warm %d: %v", i, err)
		}
	}
	warmCalls := 0
	for _, c := range calls {
		if strings.Contains(c.path, warmID) {
			warmCalls++
		}
	}
	if warmCalls != 4 {
		t.Errorf("the warm contact was fetched %d times, want 4 (its first snapshot only)", warmCalls)
	}

	// Memory stays bounded.
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	if ms.HeapAlloc > 200<<20 {
		t.Errorf("heap after the run: %d MB, want < 200 MB", ms.HeapAlloc>>20)
	}
}

// 3. Writes with an unknown outcome are never repeated and say so; a write
// refused before it was sent is repeated, and applied once.
func TestResilienceWrites(t *testing.T) {
	rsNoLeaks(t)
	const create = `mutation($email: String) { createContact(input: {firstName: "Once", email: $email}) { contact { id email } } }`

	// wantWriteError checks the only error of a failed createContact.
	wantWriteError := func(t *testing.T, a rsAnswer, outcome string) {
		t.Helper()
		if len(a.errors) != 1 {
			t.Fatalf("want one error; body %s", a.body)
		}
		ge := a.errors[0]
		if ge.code() != "UPSTREAM_ERROR" || ge.path() != "createContact" {
			t.Errorf("error %q at %q, want UPSTREAM_ERROR at createContact: %s", ge.code(), ge.path(), a.body)
		}
		if got := ge.Extensions["writeOutcome"]; got != outcome {
			t.Errorf("writeOutcome = %v, want %s: %s", got, outcome, a.body)
		}
		// createContact is non-null (ContactPayload!): its null takes data with it.
		if a.data != nil {
			t.Errorf("data = %v, want null", a.data)
		}
	}

	t.Run("dropped after the write: UNKNOWN, applied once, sent once", func(t *testing.T) {
		rsNoLeaks(t)
		e := newRSEnv(t, rsConfig{clientOpts: []upstream.Option{upstream.WithRetryPolicy(rsRetries)}})
		e.sb.SetFaults(sandbox.Faults{Rate: 1, Kinds: []sandbox.FaultKind{sandbox.FaultDropAfterWrite}, Ops: []string{upstream.OpCreateContact.ID}})
		a := e.mustGQL(t, create, map[string]any{"email": "dropped@example.com"})
		wantWriteError(t, a, "UNKNOWN")
		if c, ap := e.sb.Calls(upstream.OpCreateContact.ID), e.sb.Applied(upstream.OpCreateContact.ID); c != 1 || ap != 1 {
			t.Errorf("create-contact sent %d times, applied %d times; want 1 and 1", c, ap)
		}
	})

	// Issue 11: an upsert that may create a duplicate is a create; before,
	// the table's "idempotent" made it retried into a second contact.
	t.Run("upsert allowing duplicates, dropped after the write: UNKNOWN, one contact", func(t *testing.T) {
		rsNoLeaks(t)
		e := newRSEnv(t, rsConfig{clientOpts: []upstream.Option{upstream.WithRetryPolicy(rsRetries)}})
		e.sb.SetFaults(sandbox.Faults{Rate: 1, Max: 1, Kinds: []sandbox.FaultKind{sandbox.FaultDropAfterWrite}, Ops: []string{upstream.OpUpsertContact.ID}})
		a := e.mustGQL(t, `mutation { upsertContact(input: {firstName: "Twice", email: "twice@example.com"}, allowDuplicate: true) { contact { id } } }`, nil)
		if len(a.errors) != 1 || a.errors[0].Extensions["writeOutcome"] != "UNKNOWN" {
			t.Errorf("want one error with writeOutcome UNKNOWN: %s", a.body)
		}
		if c, ap := e.sb.Calls(upstream.OpUpsertContact.ID), e.sb.Applied(upstream.OpUpsertContact.ID); c != 1 || ap != 1 {
			t.Errorf("upsert-contact sent %d times, applied %d times; want 1 and 1", c, ap)
		}
	})

	t.Run("5xx on a create: UNKNOWN, not repeated", func(t *testing.T) {
		rsNoLeaks(t)
		e := newRSEnv(t, rsConfig{clientOpts: []upstream.Option{upstream.WithRetryPolicy(rsRetries)}})
		e.sb.SetFaults(sandbox.Faults{Rate: 1, Kinds: []sandbox.FaultKind{sandbox.FaultServerError}, Ops: []string{upstream.OpCreateContact.ID}})
		a := e.mustGQL(t, create, map[string]any{"email": "five@example.com"})
		// The sandbox did not apply it, but a 5xx does not say so: the
		// client must look before writing again.
		wantWriteError(t, a, "UNKNOWN")
		if c, ap := e.sb.Calls(upstream.OpCreateContact.ID), e.sb.Applied(upstream.OpCreateContact.ID); c != 1 || ap != 0 {
			t.Errorf("create-contact sent %d times, applied %d times; want 1 and 0", c, ap)
		}
	})

	t.Run("refused before sending, then reachable: repeated, applied once", func(t *testing.T) {
		rsNoLeaks(t)
		closed := rsClosedAddr(t)
		var (
			first    atomic.Bool
			firstErr atomic.Pointer[error]
			d        net.Dialer
		)
		e := newRSEnv(t, rsConfig{
			clientOpts: []upstream.Option{upstream.WithRetryPolicy(rsRetries)},
			dial: func(ctx context.Context, sandboxAddr string) (net.Conn, error) {
				if first.CompareAndSwap(false, true) {
					c, err := d.DialContext(ctx, "tcp", closed)
					firstErr.Store(&err)
					return c, err
				}
				return d.DialContext(ctx, "tcp", sandboxAddr)
			},
		})
		a := e.mustGQL(t, create, map[string]any{"email": "refused-once@example.com"})
		if p := firstErr.Load(); p == nil || !errors.Is(*p, syscall.ECONNREFUSED) {
			t.Fatalf("first dial: %v, want ECONNREFUSED", p)
		}
		if len(a.errors) > 0 {
			t.Fatalf("createContact failed: %s", a.body)
		}
		id, _ := a.data["createContact"].(map[string]any)["contact"].(map[string]any)["id"].(string)
		if c, ok := e.sb.Contact(id); !ok || c.Email != "refused-once@example.com" {
			t.Errorf("created contact %q not in the sandbox (%v)", id, ok)
		}
		if c, ap := e.sb.Calls(upstream.OpCreateContact.ID), e.sb.Applied(upstream.OpCreateContact.ID); c != 1 || ap != 1 {
			t.Errorf("create-contact reached the sandbox %d times, applied %d times; want 1 and 1", c, ap)
		}
		if got := e.dials.Load(); got != 2 {
			t.Errorf("%d dials, want 2 (refused, then the sandbox)", got)
		}
	})

	t.Run("refused every time: NOT_APPLIED after three attempts", func(t *testing.T) {
		rsNoLeaks(t)
		closed := rsClosedAddr(t)
		var d net.Dialer
		e := newRSEnv(t, rsConfig{
			clientOpts: []upstream.Option{upstream.WithRetryPolicy(rsRetries)},
			dial: func(ctx context.Context, _ string) (net.Conn, error) {
				return d.DialContext(ctx, "tcp", closed)
			},
		})
		a := e.mustGQL(t, create, map[string]any{"email": "never@example.com"})
		wantWriteError(t, a, "NOT_APPLIED")
		if got := e.dials.Load(); got != int64(rsRetries.MaxAttempts) {
			t.Errorf("%d dials, want %d (every attempt, since none was sent)", got, rsRetries.MaxAttempts)
		}
		if c := e.sb.Calls(upstream.OpCreateContact.ID); c != 0 {
			t.Errorf("create-contact reached the sandbox %d times, want 0", c)
		}
	})
}

// 4. Upstream down: the breaker opens after a few failed calls (each
// counted once, whatever its retries); then queries fail at once with
// UPSTREAM_UNAVAILABLE, without a dial and without piling up goroutines,
// and /readyz says the circuit is open: the one location calling is all the
// host's traffic, so its failures are the host's. When the upstream is back
// and the cool-down over, one query closes it again.
func TestResilienceUpstreamDown(t *testing.T) {
	rsNoLeaks(t)
	const coolDown = time.Minute
	clock := fakeclock.New(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	closed := rsClosedAddr(t)
	var (
		isUp atomic.Bool
		d    net.Dialer
	)
	e := newRSEnv(t, rsConfig{contacts: 60,
		clientOpts: []upstream.Option{
			upstream.WithRetryPolicy(rsRetries),
			upstream.WithCircuitBreaker(upstream.BreakerConfig{MinCalls: 3, CoolDown: coolDown, Now: clock.Now}),
			upstream.WithRateBudget(upstream.NewLocalBudget(upstream.BudgetConfig{Max: 1000, Interval: time.Second})),
		},
		// The upstream's host refuses connections until isUp.
		dial: func(ctx context.Context, sandboxAddr string) (net.Conn, error) {
			if isUp.Load() {
				return d.DialContext(ctx, "tcp", sandboxAddr)
			}
			return d.DialContext(ctx, "tcp", closed)
		},
	})
	ids := e.sb.ContactIDs(e.loc)
	// readyz asks a fresh handler (each caches its answer for 2 s).
	readyz := func(t *testing.T) (int, string) {
		t.Helper()
		h, err := server.New(server.Config{Client: e.client, Ready: server.UpstreamReady(e.client, e.hc)})
		if err != nil {
			t.Fatal(err)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, server.ReadyPath, nil))
		return rec.Code, rec.Body.String()
	}

	// A few failing queries open the breaker.
	for i := 0; e.client.BreakerState() != upstream.BreakerOpen; i++ {
		if i == 3 {
			t.Fatalf("breaker still %s after %d failed queries (MinCalls 3: one failed call each, whatever its attempts)", e.client.BreakerState(), i)
		}
		a := e.mustGQL(t, rsOne, map[string]any{"id": ids[i]})
		if len(a.errors) != 1 || (a.errors[0].code() != "UPSTREAM_ERROR" && a.errors[0].code() != "UPSTREAM_UNAVAILABLE") {
			t.Fatalf("query %d with the upstream down: %s", i, a.body)
		}
	}
	if got := e.dials.Load(); got < 3 {
		t.Errorf("%d dials before the breaker opened, want at least 3 failures", got)
	}
	if code, body := readyz(t); code != http.StatusServiceUnavailable || !strings.Contains(body, "circuit") {
		t.Errorf("/readyz with the circuit open = %d %s, want 503 mentioning the circuit", code, body)
	}

	// 50 concurrent queries: all refused at once, no dial.
	e.gwc.CloseIdleConnections()
	dialsBefore := e.dials.Load()
	goroutinesBefore := runtime.NumGoroutine()
	const n = 50
	answers := make([]rsAnswer, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			answers[i], errs[i] = e.gql(context.Background(), rsOne, map[string]any{"id": ids[5+i]}, nil)
		})
	}
	wg.Wait()
	for i, a := range answers {
		if errs[i] != nil {
			t.Errorf("query %d: %v", i, errs[i])
			continue
		}
		if len(a.errors) != 1 || a.errors[0].code() != "UPSTREAM_UNAVAILABLE" {
			t.Errorf("query %d with the circuit open: %s, want UPSTREAM_UNAVAILABLE", i, a.body)
			continue
		}
		// The clock stands still: the whole cool-down is left.
		if ra, good := a.errors[0].retryAfter(); !good || ra != coolDown.Seconds() {
			t.Errorf("query %d: retryAfter %v, want %v", i, a.errors[0].Extensions["retryAfter"], coolDown.Seconds())
		}
	}
	if got := e.dials.Load() - dialsBefore; got != 0 {
		t.Errorf("%d dials with the circuit open, want 0", got)
	}
	if c := e.sb.TotalCalls(); c != 0 {
		t.Errorf("the sandbox saw %d calls while down", c)
	}
	// The gateway holds no goroutine for the refused queries: once the
	// client's connections are closed, the count settles back (polled, for
	// the connections' goroutines to end; slack for the runtime's own).
	e.gwc.CloseIdleConnections()
	var goroutinesAfter int
	for range 100 {
		if goroutinesAfter = runtime.NumGoroutine(); goroutinesAfter <= goroutinesBefore+3 {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if goroutinesAfter > goroutinesBefore+3 {
		t.Errorf("goroutines grew from %d to %d with the circuit open", goroutinesBefore, goroutinesAfter)
	}

	// The upstream comes back; before the cool-down is over nothing goes.
	isUp.Store(true)
	a := e.mustGQL(t, rsOne, map[string]any{"id": ids[55]})
	if len(a.errors) != 1 || a.errors[0].code() != "UPSTREAM_UNAVAILABLE" {
		t.Errorf("query before the cool-down is over: %s, want UPSTREAM_UNAVAILABLE", a.body)
	}
	if got := e.dials.Load() - dialsBefore; got != 0 {
		t.Errorf("%d dials before the cool-down was over, want 0", got)
	}

	// After the cool-down, one query probes, succeeds, and closes it.
	clock.Advance(coolDown + time.Second)
	if st := e.client.BreakerState(); st != upstream.BreakerHalfOpen {
		t.Errorf("breaker %s after the cool-down, want half-open", st)
	}
	a = e.mustGQL(t, rsOne, map[string]any{"id": ids[57]})
	if len(a.errors) > 0 || a.contact()["id"] != ids[57] {
		t.Errorf("query after the cool-down: %s", a.body)
	}
	if st := e.client.BreakerState(); st != upstream.BreakerClosed {
		t.Errorf("breaker %s after a successful probe, want closed", st)
	}
	if err := rsFullSnapshot(e.mustGQL(t, rsSnapshot, map[string]any{"id": ids[58]}), ids[58]); err != nil {
		t.Errorf("snapshot with the circuit closed: %v", err)
	}
	if code, body := readyz(t); code != http.StatusOK {
		t.Errorf("/readyz with the upstream back = %d %s, want 200", code, body)
	}
}

// 5. A client that disconnects cancels the upstream calls its query made:
// every one of them sees its context cancelled before it would have ended.
func TestResilienceClientDisconnectCancelsUpstreamCalls(t *testing.T) {
	rsNoLeaks(t)
	e := newRSEnv(t, rsConfig{clientOpts: []upstream.Option{upstream.WithRetryPolicy(rsRetries)}})
	e.sb.SetLatency(2*time.Second, 0)
	id := e.sb.ContactIDs(e.loc)[0]

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		_, err := e.gql(ctx, rsSnapshot, map[string]any{"id": id}, nil)
		done <- err
	}()
	// Disconnect once the snapshot's four calls are at the sandbox (and no
	// sooner than 100 ms), so that there is something to cancel.
	minWait := time.After(100 * time.Millisecond)
	for range 4 {
		select {
		case <-e.watch.arrivals:
		case <-time.After(5 * time.Second):
			t.Fatal("the snapshot's calls did not reach the sandbox")
		}
	}
	<-minWait
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Errorf("client request: %v, want context.Canceled", err)
	}

	// Wait (bounded) for the calls to end; then every one must have ended
	// because it was cancelled, not because its latency was over.
	var calls []rsCall
	for range 150 {
		var inFlight int
		if calls, inFlight = e.watch.snapshot(); inFlight == 0 && len(calls) >= 4 {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if len(calls) != 4 {
		t.Fatalf("%d upstream calls ended, want the snapshot's 4", len(calls))
	}
	if got := e.sb.TotalCalls(); got != 4 {
		t.Errorf("the sandbox saw %d calls, want 4", got)
	}
	for _, c := range calls {
		if !c.cancelled {
			t.Errorf("upstream call %s ran to its end (status %d) after the client had gone", c.path, c.status)
		}
		if c.status != 0 {
			t.Errorf("upstream call %s was answered %d, want no answer", c.path, c.status)
		}
	}
}

// Was: the upstream calls of reads run without the request's deadline, so
// neither the rate budget nor the retries can refuse fast what cannot
// finish in time. loaders/flight.go starts every shared read under
// context.WithCancel(context.WithoutCancel(ctx)): WithoutCancel drops the
// deadline along with the cancellation. upstream.LocalBudget.Wait then sees
// no deadline and waits up to MaxWait (30 s) for a slot instead of
// returning RATE_LIMITED with a retryAfter, and Client.Do's retryFits lets
// a backoff (a Retry-After) run past the deadline instead of returning the
// last error. Either way the request waits out its whole RequestTimeout and
// its field is answered UPSTREAM_TIMEOUT ("the request ran out of time"),
// without a retryAfter; the flight is only cancelled when its last waiter
// leaves. The upfront cost check hides the first case when requests come
// one at a time (TestResilienceTenTimesTheBudget), not when several pass
// it at once, before any of them has taken a slot.
//
// Fixed in loaders/flight.go (flights.do): the shared call keeps the first
// caller's deadline; callers who join later have deadlines at most the
// flight's age later.
func TestRegressionReadsLoseTheRequestDeadline(t *testing.T) {
	rsNoLeaks(t)

	t.Run("a burst past the budget waits out the deadline instead of RATE_LIMITED", func(t *testing.T) {
		rsNoLeaks(t)
		const limit, burst = 10, 30
		budget := upstream.NewLocalBudget(upstream.BudgetConfig{Max: limit, Interval: 500 * time.Millisecond})
		e := newRSEnv(t, rsConfig{contacts: burst,
			clientOpts: []upstream.Option{upstream.WithRateBudget(budget), upstream.WithRetryPolicy(rsRetries)},
			server:     func(c *server.Config) { c.RequestTimeout = 300 * time.Millisecond },
		})
		e.sb.SetRateLimit(sandbox.RateLimit{Max: limit, Interval: 500 * time.Millisecond})
		ids := e.sb.ContactIDs(e.loc)
		gate := make(chan struct{})
		answers := make([]rsAnswer, burst)
		errs := make([]error, burst)
		var wg sync.WaitGroup
		for i := range burst {
			wg.Go(func() {
				<-gate
				answers[i], errs[i] = e.gql(context.Background(), rsOne, map[string]any{"id": ids[i]}, nil)
			})
		}
		close(gate)
		wg.Wait()
		ok, codes := 0, map[string]int{}
		for i, a := range answers {
			switch {
			case errs[i] != nil:
				t.Errorf("read %d: %v", i, errs[i])
			case len(a.errors) == 0:
				ok++
			default:
				ge := a.errors[0]
				codes[ge.code()]++
				if _, good := ge.retryAfter(); ge.code() != "RATE_LIMITED" || !good {
					codes["bad"]++
				}
			}
		}
		if codes["bad"] > 0 {
			t.Errorf("%d reads at once, budget %d: %d answered, errors %v; want every other one RATE_LIMITED with retryAfter "+
				"(UPSTREAM_TIMEOUT: the read waited for a slot until its request's deadline, which its call did not know)",
				burst, limit, ok, codes)
		}
		if n := e.watch.count(http.StatusTooManyRequests); n != 0 {
			t.Errorf("the sandbox answered 429 %d times, want 0", n)
		}
	})

	t.Run("a retry that cannot start before the deadline is waited for", func(t *testing.T) {
		rsNoLeaks(t)
		// get-contact answers 503 with Retry-After: 5, far past the
		// request's 300 ms: the retry cannot fit, so the 503 should be
		// answered at once.
		e := newRSEnv(t, rsConfig{
			clientOpts: []upstream.Option{upstream.WithRetryPolicy(rsRetries)},
			server:     func(c *server.Config) { c.RequestTimeout = 300 * time.Millisecond },
			wrap: func(next http.Handler) http.Handler {
				return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					if r.Method == http.MethodGet && strings.HasPrefix(r.URL.Path, "/contacts/") && strings.Count(r.URL.Path, "/") == 2 {
						w.Header().Set("Retry-After", "5")
						w.Header().Set("Content-Type", "application/json")
						w.WriteHeader(http.StatusServiceUnavailable)
						_, _ = io.WriteString(w, `{"statusCode":503,"message":"Service Unavailable","error":"Service Unavailable"}`)
						return
					}
					next.ServeHTTP(w, r)
				})
			},
		})
		a := e.mustGQL(t, rsOne, map[string]any{"id": e.sb.ContactIDs(e.loc)[0]})
		if len(a.errors) != 1 {
			t.Fatalf("want one error; body %s", a.body)
		}
		if ge := a.errors[0]; ge.code() != "UPSTREAM_ERROR" || ge.Extensions["upstreamStatus"] != float64(503) {
			t.Errorf("error %q (upstreamStatus %v), want UPSTREAM_ERROR with the 503 "+
				"(UPSTREAM_TIMEOUT: the call slept toward a retry its request's deadline left no room for): %s",
				ge.code(), ge.Extensions["upstreamStatus"], a.body)
		}
		if n := e.watch.count(http.StatusServiceUnavailable); n != 1 {
			t.Errorf("get-contact answered 503 %d times, want 1 (no retry fits)", n)
		}
	})
}
