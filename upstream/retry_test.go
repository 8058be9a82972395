// This file covers the retries of Client.Do against test servers scripted
// per attempt: what is repeated (reads on 5xx, 429, malformed answers;
// idempotent writes on 5xx; creates only on 429 or when the connection was
// refused) and what is not (a create answered 5xx or cut, any malformed
// write, a 404); Retry-After as a lower bound on the wait; no retry past the
// caller's deadline; the Attempts, RequestSent and WriteOutcome of the final
// error; one budget slot per attempt; one debug line per retry.

package upstream

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/oauth2"
)

// step is one scripted answer.
type step struct {
	status    int
	header    map[string]string
	malformed bool // a 2xx answer cut in half
}

var (
	ok200    = step{status: 200}
	ok201    = step{status: 201}
	cut200   = step{status: 200, malformed: true}
	err500   = step{status: 500}
	err502   = step{status: 502}
	err503   = step{status: 503}
	err503RA = step{status: 503, header: map[string]string{"Retry-After": "1"}}
	err429RA = step{status: 429, header: map[string]string{"Retry-After": "1"}}
	err404   = step{status: 404}
)

// retryCall is a call a retry test makes.
type retryCall struct {
	route   string
	fixture string
	do      func(ctx context.Context, c *Client) error
}

var (
	retryGet = retryCall{route: "GET /contacts/{contactId}", fixture: "contact.json",
		do: func(ctx context.Context, c *Client) error { _, _, err := c.Contacts.Get(ctx, tContactID); return err }}
	retryCreate = retryCall{route: "POST /contacts/", fixture: "contact_created.json",
		do: func(ctx context.Context, c *Client) error {
			_, _, err := c.Contacts.Create(ctx, &CreateContactRequest{LocationID: tLocationID, Email: "rosan@deos.com"})
			return err
		}}
	retryUpdate = retryCall{route: "PUT /contacts/{contactId}", fixture: "contact_updated.json",
		do: func(ctx context.Context, c *Client) error {
			_, _, err := c.Contacts.Update(ctx, tContactID, &UpdateContactRequest{FirstName: Set("Rosan")})
			return err
		}}
	retrySearch = retryCall{route: "POST /contacts/search", fixture: "search.json",
		do: func(ctx context.Context, c *Client) error {
			_, _, err := c.Contacts.Search(ctx, &SearchContactsRequest{LocationID: tLocationID})
			return err
		}}
)

// scripted registers a handler for call that answers attempt i with
// steps[i] (the last step repeats), and returns the attempt counter.
func scripted(t *testing.T, env *testEnv, call retryCall, steps []step) *atomic.Int64 {
	var n atomic.Int64
	body := fixture(t, call.fixture)
	env.handle(call.route, func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		i := int(n.Add(1)) - 1
		s := steps[min(i, len(steps)-1)]
		for k, v := range s.header {
			w.Header().Set(k, v)
		}
		switch {
		case s.malformed:
			writeJSON(w, s.status, body[:len(body)/2])
		case s.status < 300:
			writeJSON(w, s.status, body)
		default:
			writeJSON(w, s.status, []byte(`{"statusCode":`+strconv.Itoa(s.status)+`,"message":"scripted"}`))
		}
	})
	return &n
}

// fastRetries retries thrice with backoffs of a few milliseconds.
var fastRetries = RetryPolicy{MaxAttempts: 3, BaseDelay: time.Millisecond, MaxDelay: 5 * time.Millisecond}

func TestRetries(t *testing.T) {
	tests := []struct {
		name     string
		call     retryCall
		steps    []step
		policy   RetryPolicy
		deadline time.Duration // for the call's context; 0 for none
		// maxJitter makes every backoff the longest full jitter allows.
		maxJitter    bool
		wantAttempts int // seen by the server
		wantErr      error
		wantOutcome  string
		wantMinTime  time.Duration
	}{
		{name: "503, 503, 200: success on the third attempt", call: retryGet, steps: []step{err503, err503, ok200}, wantAttempts: 3},
		{name: "429 with Retry-After 1 waits at least 1s", call: retryGet, steps: []step{err429RA, ok200}, wantAttempts: 2, wantMinTime: time.Second},
		{name: "503 with Retry-After 1 waits at least 1s", call: retryGet, steps: []step{err503RA, ok200}, wantAttempts: 2, wantMinTime: time.Second},
		{
			name: "no retry past the deadline: Retry-After longer than the time left", call: retryGet,
			steps: []step{err503RA, ok200}, deadline: 300 * time.Millisecond, wantAttempts: 1, wantErr: ErrServer,
		},
		{
			name: "no retry past the deadline: backoff longer than the time left", call: retryGet,
			steps: []step{err500, ok200}, policy: RetryPolicy{MaxAttempts: 3, BaseDelay: time.Second}, maxJitter: true,
			deadline: 300 * time.Millisecond, wantAttempts: 1, wantErr: ErrServer,
		},
		{name: "every attempt fails", call: retryGet, steps: []step{err503}, wantAttempts: 3, wantErr: ErrServer},
		{name: "404 is not retried", call: retryGet, steps: []step{err404, ok200}, wantAttempts: 1, wantErr: ErrNotFound},
		{name: "malformed 200 on a read is retried", call: retryGet, steps: []step{cut200, ok200}, wantAttempts: 2},
		{name: "search is a read: 500 retried", call: retrySearch, steps: []step{err500, ok200}, wantAttempts: 2},
		{name: "malformed search answer retried", call: retrySearch, steps: []step{cut200, ok200}, wantAttempts: 2},
		{name: "PUT 502 then 200 is retried", call: retryUpdate, steps: []step{err502, ok200}, wantAttempts: 2},
		{
			name: "PUT 502 then 404: the first may have applied", call: retryUpdate, steps: []step{err502, err404},
			wantAttempts: 2, wantErr: ErrNotFound, wantOutcome: WriteUnknown,
		},
		{
			name: "malformed 200 on a PUT is not retried", call: retryUpdate, steps: []step{cut200, ok200},
			wantAttempts: 1, wantErr: ErrMalformedResponse, wantOutcome: WriteApplied,
		},
		{
			name: "create answered 503 is not retried", call: retryCreate, steps: []step{err503, ok201},
			wantAttempts: 1, wantErr: ErrServer, wantOutcome: WriteUnknown,
		},
		{
			name: "malformed 201 on a create is not retried", call: retryCreate, steps: []step{{status: 201, malformed: true}, ok201},
			wantAttempts: 1, wantErr: ErrMalformedResponse, wantOutcome: WriteApplied,
		},
		{name: "create answered 429 is retried: refused before any work", call: retryCreate, steps: []step{{status: 429}, ok201}, wantAttempts: 2},
		{
			name: "create refused three times by 429", call: retryCreate, steps: []step{{status: 429}},
			wantAttempts: 3, wantErr: ErrRateLimited, wantOutcome: WriteNotApplied,
		},
		{name: "one attempt by default", call: retryGet, steps: []step{err503, ok200}, policy: RetryPolicy{MaxAttempts: 1}, wantAttempts: 1, wantErr: ErrServer},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			policy := tt.policy
			if policy.MaxAttempts == 0 {
				policy = fastRetries
			}
			env := setup(t, WithRetryPolicy(policy))
			if tt.maxJitter {
				env.client.jitter = func(ceiling time.Duration) time.Duration { return ceiling }
			}
			hits := scripted(t, env, tt.call, tt.steps)
			ctx := t.Context()
			if tt.deadline > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, tt.deadline)
				defer cancel()
			}
			start := time.Now()
			err := tt.call.do(ctx, env.client)
			elapsed := time.Since(start)
			if got := int(hits.Load()); got != tt.wantAttempts {
				t.Errorf("server saw %d attempts, want %d", got, tt.wantAttempts)
			}
			if elapsed < tt.wantMinTime {
				t.Errorf("call took %v, want at least %v", elapsed, tt.wantMinTime)
			}
			if tt.wantErr == nil {
				if err != nil {
					t.Fatalf("err = %v, want success", err)
				}
				return
			}
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if tt.deadline > 0 && ctx.Err() != nil {
				t.Errorf("returned after the deadline; want the last error at once")
			}
			e := asError(t, err)
			if e.Attempts != tt.wantAttempts {
				t.Errorf("Attempts = %d, want %d", e.Attempts, tt.wantAttempts)
			}
			if !e.RequestSent {
				t.Errorf("RequestSent = false for answered attempts")
			}
			if got := e.WriteOutcome(); got != tt.wantOutcome {
				t.Errorf("WriteOutcome() = %q, want %q", got, tt.wantOutcome)
			}
			if tt.wantAttempts > 1 && !strings.Contains(err.Error(), "attempts") {
				t.Errorf("Error() = %q, want it to say how many attempts", err.Error())
			}
		})
	}
}

// refusingAddr returns an address on which nothing listens.
func refusingAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// dialCounter is a transport whose dials are counted, and which can run a
// hook after each dial.
type dialCounter struct {
	dials     atomic.Int64
	afterDial func(n int64)
	transport *http.Transport
}

func newDialCounter() *dialCounter {
	dc := &dialCounter{transport: NewTransport()}
	var d net.Dialer
	dc.transport.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		n := dc.dials.Add(1)
		conn, err := d.DialContext(ctx, network, addr)
		if dc.afterDial != nil {
			dc.afterDial(n)
		}
		return conn, err
	}
	return dc
}

// clientAt returns a client for http://addr/ whose transport is dc's.
func clientAt(t *testing.T, addr string, dc *dialCounter, opts ...Option) *Client {
	t.Helper()
	all := append([]Option{
		WithBaseURL("http://" + addr + "/"),
		WithTokenSource(oauth2.StaticTokenSource(&oauth2.Token{AccessToken: testToken})),
		WithHTTPClient(&http.Client{Transport: dc.transport}),
	}, opts...)
	c, err := NewClient(all...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(dc.transport.CloseIdleConnections)
	return c
}

// serveAt starts an HTTP server with h on addr.
func serveAt(t *testing.T, addr string, h http.Handler) *httptest.Server {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("listen on %s again: %v", addr, err)
	}
	srv := httptest.NewUnstartedServer(h)
	srv.Listener.Close()
	srv.Listener = ln
	srv.Start()
	return srv
}

func TestRetryRefusedConnection(t *testing.T) {
	t.Run("a create to a closed port is retried: never sent", func(t *testing.T) {
		dc := newDialCounter()
		c := clientAt(t, refusingAddr(t), dc, WithRetryPolicy(fastRetries))
		err := retryCreate.do(t.Context(), c)
		if !errors.Is(err, ErrConnection) {
			t.Fatalf("err = %v, want ErrConnection", err)
		}
		e := asError(t, err)
		if e.Attempts != fastRetries.MaxAttempts || dc.dials.Load() != int64(fastRetries.MaxAttempts) {
			t.Errorf("Attempts = %d, dials = %d; want %d each", e.Attempts, dc.dials.Load(), fastRetries.MaxAttempts)
		}
		if e.RequestSent || !e.Retryable {
			t.Errorf("RequestSent = %v, Retryable = %v; want false, true", e.RequestSent, e.Retryable)
		}
		if got := e.WriteOutcome(); got != WriteNotApplied {
			t.Errorf("WriteOutcome() = %q, want %q", got, WriteNotApplied)
		}
	})
	t.Run("a create succeeds once the port accepts, on attempt 2", func(t *testing.T) {
		addr := refusingAddr(t)
		var creates atomic.Int64
		mux := http.NewServeMux()
		mux.HandleFunc("POST /contacts/{$}", func(w http.ResponseWriter, r *http.Request) {
			io.Copy(io.Discard, r.Body)
			creates.Add(1)
			writeJSON(w, 201, fixture(t, "contact_created.json"))
		})
		dc := newDialCounter()
		var once sync.Once
		dc.afterDial = func(n int64) {
			// The first dial was refused; from now on the port accepts.
			once.Do(func() { t.Cleanup(serveAt(t, addr, mux).Close) })
		}
		c := clientAt(t, addr, dc, WithRetryPolicy(fastRetries))
		if err := retryCreate.do(t.Context(), c); err != nil {
			t.Fatalf("create: %v", err)
		}
		if got := creates.Load(); got != 1 {
			t.Errorf("server created %d contacts, want 1", got)
		}
		if got := dc.dials.Load(); got != 2 {
			t.Errorf("%d dials, want 2", got)
		}
	})
}

func TestRetryTakesBudgetSlots(t *testing.T) {
	b := NewLocalBudget(BudgetConfig{Max: 10, Interval: 10 * time.Second})
	env := setup(t, WithRetryPolicy(fastRetries), WithRateBudget(b))
	hits := scripted(t, env, retryGet, []step{err503, err503, ok200})
	ctx := ContextWithBudgetKey(t.Context(), tLocationID)
	if err := retryGet.do(ctx, env.client); err != nil {
		t.Fatal(err)
	}
	if hits.Load() != 3 {
		t.Fatalf("%d attempts, want 3", hits.Load())
	}
	if got := env.client.RateRemaining(tLocationID); got != 7 {
		t.Errorf("RateRemaining = %d after 3 attempts, want 7", got)
	}
	if got := env.client.RateRemaining("other"); got != 10 {
		t.Errorf("RateRemaining(other) = %d, want 10", got)
	}
}

func TestRetryBudgetRefusal(t *testing.T) {
	t.Run("first attempt refused: nothing sent", func(t *testing.T) {
		b := NewLocalBudget(BudgetConfig{Max: 1, Interval: time.Hour})
		env := setup(t, WithRateBudget(b))
		hits := scripted(t, env, retryCreate, []step{ok201})
		if err := retryCreate.do(t.Context(), env.client); err != nil {
			t.Fatal(err)
		}
		err := retryCreate.do(t.Context(), env.client)
		if !errors.Is(err, ErrRateLimited) {
			t.Fatalf("err = %v, want ErrRateLimited", err)
		}
		e := asError(t, err)
		if e.RequestSent || e.Attempts != 0 || e.RetryAfter <= 0 || e.Op != OpCreateContact.ID || e.StatusCode != 0 {
			t.Errorf("Error = %+v; want not sent, 0 attempts, RetryAfter > 0, Op create-contact", e)
		}
		if got := e.WriteOutcome(); got != WriteNotApplied {
			t.Errorf("WriteOutcome() = %q, want %q", got, WriteNotApplied)
		}
		if hits.Load() != 1 {
			t.Errorf("server saw %d calls, want 1", hits.Load())
		}
	})
	t.Run("retry refused: the last upstream error stands", func(t *testing.T) {
		b := NewLocalBudget(BudgetConfig{Max: 1, Interval: time.Hour})
		env := setup(t, WithRetryPolicy(fastRetries), WithRateBudget(b))
		hits := scripted(t, env, retryGet, []step{err503, ok200})
		err := retryGet.do(t.Context(), env.client)
		if !errors.Is(err, ErrServer) {
			t.Fatalf("err = %v, want the 503", err)
		}
		if e := asError(t, err); e.Attempts != 1 || hits.Load() != 1 {
			t.Errorf("Attempts = %d, server saw %d; want 1, 1", e.Attempts, hits.Load())
		}
	})
}

func TestNoBudgetByDefault(t *testing.T) {
	env := setup(t)
	if got := env.client.RateRemaining(tLocationID); got != -1 {
		t.Errorf("RateRemaining without a budget = %d, want -1", got)
	}
	if got := env.client.BreakerState(); got != BreakerClosed {
		t.Errorf("BreakerState without a breaker = %q, want %q", got, BreakerClosed)
	}
}

func TestRetryLogging(t *testing.T) {
	var buf syncBuffer
	logger := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	env := setup(t, WithRetryPolicy(fastRetries), WithLogger(logger))
	scripted(t, env, retryDuplicate, []step{err503, err502, ok200})
	if _, _, err := env.client.Contacts.FindDuplicate(t.Context(), tLocationID, "jane.secret@example.org", "+15550001111"); err != nil {
		t.Fatal(err)
	}
	var retries []string
	for _, line := range strings.Split(buf.String(), "\n") {
		if strings.Contains(line, "upstream retry") {
			retries = append(retries, line)
		}
	}
	if len(retries) != 2 {
		t.Fatalf("%d retry lines, want 2:\n%s", len(retries), buf.String())
	}
	for i, line := range retries {
		for _, want := range []string{"op=get-duplicate-contact", "attempt=" + string(rune('2'+i)), "delay=", "cause="} {
			if !strings.Contains(line, want) {
				t.Errorf("retry line %q lacks %q", line, want)
			}
		}
	}
	for _, f := range []string{testToken, "jane.secret", "5550001111", "locationId="} {
		if strings.Contains(buf.String(), f) {
			t.Errorf("log shows %q:\n%s", f, buf.String())
		}
	}
}

// retryDuplicate is the duplicate look-up, whose query carries an email and a phone.
var retryDuplicate = retryCall{route: "GET /contacts/search/duplicate", fixture: "duplicate.json"}

func TestWithRetryPolicyRefusals(t *testing.T) {
	for _, p := range []RetryPolicy{{MaxAttempts: 0}, {MaxAttempts: -1}, {MaxAttempts: 2, BaseDelay: -1}, {MaxAttempts: 2, MaxDelay: -1}} {
		if _, err := NewClient(WithRetryPolicy(p)); err == nil {
			t.Errorf("WithRetryPolicy(%+v) accepted", p)
		}
	}
}

func TestBackoff(t *testing.T) {
	c, err := NewClient(WithRetryPolicy(RetryPolicy{MaxAttempts: 10, BaseDelay: 100 * time.Millisecond, MaxDelay: 2 * time.Second}))
	if err != nil {
		t.Fatal(err)
	}
	c.jitter = func(ceiling time.Duration) time.Duration { return ceiling }
	for _, tt := range []struct {
		n          int
		retryAfter time.Duration
		want       time.Duration
	}{
		{1, 0, 100 * time.Millisecond},
		{2, 0, 200 * time.Millisecond},
		{3, 0, 400 * time.Millisecond},
		{5, 0, 1600 * time.Millisecond},
		{6, 0, 2 * time.Second},
		{60, 0, 2 * time.Second},
		{1, 3 * time.Second, 3 * time.Second},
	} {
		if got := c.backoff(tt.n, tt.retryAfter); got != tt.want {
			t.Errorf("backoff(%d, %v) = %v, want %v", tt.n, tt.retryAfter, got, tt.want)
		}
	}
	// Full jitter: the draw is within [0, ceiling], and not constant.
	c.jitter = fullJitter
	seen := map[time.Duration]bool{}
	for range 200 {
		d := c.backoff(3, 0)
		if d < 0 || d > 400*time.Millisecond {
			t.Fatalf("backoff(3) = %v, outside [0, 400ms]", d)
		}
		seen[d] = true
	}
	if len(seen) < 10 {
		t.Errorf("backoff drew only %d distinct values in 200 draws", len(seen))
	}
}
