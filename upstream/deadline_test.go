// This file covers the deadline rules of Client.Do (issue 10): a retry
// starts only when its backoff and a useful attempt (RetryPolicy.MinAttempt,
// capped at the client's timeout) fit before the call's deadline, and every
// attempt is bounded by the smaller of the client's timeout and the time
// left. The upstream is an in-memory transport that answers 503 and records
// the deadline each attempt carried; the margins are hours against seconds,
// so no assertion depends on how fast the machine is.

package upstream

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/oauth2"
)

// deadlineTransport answers every request 503 and records its deadline.
type deadlineTransport struct {
	mu        sync.Mutex
	deadlines []time.Time // zero: none
}

func (d *deadlineTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	dl, _ := r.Context().Deadline()
	d.mu.Lock()
	d.deadlines = append(d.deadlines, dl)
	d.mu.Unlock()
	return &http.Response{StatusCode: 503, Header: http.Header{"Content-Type": {"application/json"}},
		Body: io.NopCloser(strings.NewReader(`{"statusCode":503,"message":"down"}`)), Request: r}, nil
}

func (d *deadlineTransport) seen() []time.Time {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]time.Time(nil), d.deadlines...)
}

func deadlineClient(t *testing.T, tr http.RoundTripper, opts ...Option) *Client {
	t.Helper()
	c, err := NewClient(append([]Option{
		WithBaseURL("http://upstream.test/"),
		WithTokenSource(oauth2.StaticTokenSource(&oauth2.Token{AccessToken: testToken})),
		WithHTTPClient(&http.Client{Transport: tr}),
	}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestRetryNeedsAUsefulAttempt(t *testing.T) {
	tests := []struct {
		name       string
		timeout    time.Duration // the client's; 0 for none
		minAttempt time.Duration
		baseDelay  time.Duration // every backoff is the full ceiling
		deadline   time.Duration // the call's; 0 for none
		want       int           // attempts
	}{
		{name: "time left under MinAttempt: no retry", timeout: time.Hour, minAttempt: time.Hour, deadline: 30 * time.Minute, want: 1},
		{name: "time left over MinAttempt: retried", timeout: time.Hour, minAttempt: time.Second, deadline: time.Hour, want: 3},
		{name: "backoff plus MinAttempt past the deadline: no retry", timeout: time.Hour, minAttempt: 40 * time.Minute,
			baseDelay: 30 * time.Minute, deadline: time.Hour, want: 1},
		{name: "MinAttempt capped at the client's timeout", timeout: time.Second, minAttempt: 10 * time.Hour, deadline: time.Hour, want: 3},
		{name: "default MinAttempt: 300ms left is not enough", timeout: time.Hour, deadline: DefaultRetryMinAttempt * 3 / 5, want: 1},
		{name: "default MinAttempt: an hour left is", timeout: time.Hour, deadline: time.Hour, want: 3},
		{name: "no deadline: retried", timeout: time.Hour, minAttempt: time.Hour, want: 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr := &deadlineTransport{}
			c := deadlineClient(t, tr, WithTimeout(tt.timeout),
				WithRetryPolicy(RetryPolicy{MaxAttempts: 3, BaseDelay: tt.baseDelay, MinAttempt: tt.minAttempt}))
			// The backoff is its ceiling, but nothing sleeps: a retry that
			// would wait is refused, or waits 0.
			c.jitter = func(ceiling time.Duration) time.Duration { return ceiling }
			ctx := t.Context()
			if tt.deadline > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, tt.deadline)
				defer cancel()
			}
			_, _, err := c.Contacts.Get(ctx, tContactID)
			if !errors.Is(err, ErrServer) {
				t.Fatalf("err = %v, want the 503", err)
			}
			if e := asError(t, err); e.Attempts != tt.want || len(tr.seen()) != tt.want {
				t.Errorf("Attempts = %d, transport saw %d; want %d", e.Attempts, len(tr.seen()), tt.want)
			}
			if ctx.Err() != nil {
				t.Error("returned after the deadline; want the last error at once")
			}
		})
	}
}

func TestWithRetryPolicyRefusesNegativeMinAttempt(t *testing.T) {
	if _, err := NewClient(WithRetryPolicy(RetryPolicy{MaxAttempts: 2, MinAttempt: -time.Second})); err == nil {
		t.Error("negative MinAttempt accepted")
	}
}

func TestAttemptTimeoutIsTheSmallerOfTimeoutAndTimeLeft(t *testing.T) {
	tests := []struct {
		name     string
		timeout  time.Duration
		deadline time.Duration // the call's; 0 for none
		// want: "call" (the call's deadline exactly), "timeout" (now +
		// timeout), "none".
		want string
	}{
		{name: "time left shorter than the timeout", timeout: time.Hour, deadline: time.Minute, want: "call"},
		{name: "timeout shorter than the time left", timeout: time.Minute, deadline: time.Hour, want: "timeout"},
		{name: "no call deadline", timeout: time.Minute, want: "timeout"},
		{name: "no timeout: the call's deadline", deadline: time.Minute, want: "call"},
		{name: "neither", want: "none"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr := &deadlineTransport{}
			c := deadlineClient(t, tr, WithTimeout(tt.timeout))
			ctx := t.Context()
			if tt.deadline > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, tt.deadline)
				defer cancel()
			}
			callDeadline, _ := ctx.Deadline()
			before := time.Now()
			c.Contacts.Get(ctx, tContactID)
			after := time.Now()
			seen := tr.seen()
			if len(seen) != 1 {
				t.Fatalf("%d attempts, want 1", len(seen))
			}
			got := seen[0]
			switch tt.want {
			case "call":
				if !got.Equal(callDeadline) {
					t.Errorf("attempt deadline %v, want the call's %v", got, callDeadline)
				}
			case "timeout":
				if got.Before(before.Add(tt.timeout)) || got.After(after.Add(tt.timeout)) {
					t.Errorf("attempt deadline %v, want the timeout's, in [%v, %v]", got, before.Add(tt.timeout), after.Add(tt.timeout))
				}
			case "none":
				if !got.IsZero() {
					t.Errorf("attempt deadline %v, want none", got)
				}
			}
		})
	}
}
