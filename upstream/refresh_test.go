// This file covers the refresh after a 401: a token source that implements
// Refresher is asked once to replace the token the upstream refused, and the
// call is repeated once with the new token, outside the retry policy; a
// failed refresh or a second 401 ends the call; a scope refusal and a
// source that cannot refresh change nothing.

package upstream

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"

	"go.uber.org/goleak"
	"golang.org/x/oauth2"
)

// refreshingSource is a fake Refresher: Token returns the current token,
// Refresh replaces it with the next generation when given the current one.
type refreshingSource struct {
	mu        sync.Mutex
	current   string
	gen       int
	refreshes []string // the stale tokens Refresh was given
	ctxValues []any    // the value of ctxKey in each Refresh's context
	err       error    // Refresh's answer, when set
}

type ctxKey struct{}

func newRefreshingSource() *refreshingSource { return &refreshingSource{current: "tok-0"} }

func (s *refreshingSource) Token() (*oauth2.Token, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return &oauth2.Token{AccessToken: s.current}, nil
}

func (s *refreshingSource) Refresh(ctx context.Context, stale *oauth2.Token) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.refreshes = append(s.refreshes, stale.AccessToken)
	s.ctxValues = append(s.ctxValues, ctx.Value(ctxKey{}))
	if s.err != nil {
		return s.err
	}
	if stale.AccessToken == s.current {
		s.gen++
		s.current = fmt.Sprintf("tok-%d", s.gen)
	}
	return nil
}

func (s *refreshingSource) stales() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.refreshes...)
}

// authScript answers each request by the bearer token it carries.
type authScript struct {
	mu     sync.Mutex
	seen   []string
	answer func(token string, nth int) step
}

func (a *authScript) handler(t *testing.T, fixtureName string) http.HandlerFunc {
	body := fixture(t, fixtureName)
	return func(w http.ResponseWriter, r *http.Request) {
		tok := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
		a.mu.Lock()
		a.seen = append(a.seen, tok)
		nth := 0
		for _, s := range a.seen {
			if s == tok {
				nth++
			}
		}
		a.mu.Unlock()
		s := a.answer(tok, nth)
		switch {
		case s.status < 300:
			writeJSON(w, s.status, body)
		case s.status == 401 && s.header["scope"] != "":
			writeJSON(w, 401, []byte(`{"statusCode":401,"message":"The token is not authorized for this scope.","error":"Unauthorized"}`))
		case s.status == 401:
			writeJSON(w, 401, []byte(`{"statusCode":401,"message":"Invalid JWT","error":"Unauthorized"}`))
		default:
			writeJSON(w, s.status, []byte(`{"statusCode":`+fmt.Sprint(s.status)+`,"message":"scripted"}`))
		}
	}
}

func (a *authScript) tokens() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]string(nil), a.seen...)
}

// onlyFresh accepts every token but tok-0.
func onlyFresh(token string, _ int) step {
	if token == "tok-0" {
		return step{status: 401}
	}
	return ok200
}

func TestRefreshAfter401(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	errRevoked := errors.New("re-consent required")
	scopeRefusal := step{status: 401, header: map[string]string{"scope": "1"}}
	tests := []struct {
		name         string
		call         retryCall
		policy       RetryPolicy
		answer       func(token string, nth int) step
		refreshErr   error
		wantErr      error
		wantTokens   []string // the tokens the server saw, in order
		wantStales   []string // the tokens Refresh was given
		wantAttempts int      // of the error, when one is expected
	}{
		{name: "read refreshed and repeated", call: retryGet, answer: onlyFresh,
			wantTokens: []string{"tok-0", "tok-1"}, wantStales: []string{"tok-0"}},
		{name: "create refreshed and repeated (a 401 applied nothing)", call: retryCreate, answer: onlyFresh,
			wantTokens: []string{"tok-0", "tok-1"}, wantStales: []string{"tok-0"}},
		{name: "refresh fails", call: retryGet, answer: onlyFresh, refreshErr: errRevoked,
			wantErr: errRevoked, wantTokens: []string{"tok-0"}, wantStales: []string{"tok-0"}, wantAttempts: 1},
		{name: "second 401 is final", call: retryGet, policy: fastRetries,
			answer:  func(string, int) step { return step{status: 401} },
			wantErr: ErrUnauthorized, wantTokens: []string{"tok-0", "tok-1"}, wantStales: []string{"tok-0"}, wantAttempts: 2},
		{name: "scope refusal is not refreshed", call: retryGet,
			answer:  func(string, int) step { return scopeRefusal },
			wantErr: ErrForbidden, wantTokens: []string{"tok-0"}, wantAttempts: 1},
		{name: "repeat does not count against the policy", call: retryGet, policy: fastRetries,
			answer: func(tok string, nth int) step {
				if tok == "tok-0" {
					return step{status: 401}
				}
				if nth <= 2 {
					return err503
				}
				return ok200
			},
			wantTokens: []string{"tok-0", "tok-1", "tok-1", "tok-1"}, wantStales: []string{"tok-0"}},
		{name: "policy still bounds the repeats", call: retryGet, policy: fastRetries,
			answer: func(tok string, nth int) step {
				if tok == "tok-0" {
					return step{status: 401}
				}
				return err503
			},
			wantErr: ErrServer, wantTokens: []string{"tok-0", "tok-1", "tok-1", "tok-1"}, wantStales: []string{"tok-0"}, wantAttempts: 4},
		{name: "retried 5xx then 401 refreshes once", call: retryGet, policy: fastRetries,
			answer: func(tok string, nth int) step {
				if tok == "tok-0" && nth == 1 {
					return err503
				}
				return onlyFresh(tok, nth)
			},
			wantTokens: []string{"tok-0", "tok-0", "tok-1"}, wantStales: []string{"tok-0"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := newRefreshingSource()
			src.err = tt.refreshErr
			opts := []Option{WithTokenSource(src)}
			if tt.policy.MaxAttempts > 0 {
				opts = append(opts, WithRetryPolicy(tt.policy))
			}
			env := setup(t, opts...)
			script := &authScript{answer: tt.answer}
			env.handle(tt.call.route, script.handler(t, tt.call.fixture))

			ctx := context.WithValue(t.Context(), ctxKey{}, "call-ctx")
			err := tt.call.do(ctx, env.client)
			if tt.wantErr == nil {
				if err != nil {
					t.Fatalf("err = %v", err)
				}
			} else {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("err = %v, want %v", err, tt.wantErr)
				}
				if e := asError(t, err); e.Attempts != tt.wantAttempts {
					t.Errorf("Attempts = %d, want %d", e.Attempts, tt.wantAttempts)
				}
			}
			if got := script.tokens(); fmt.Sprint(got) != fmt.Sprint(tt.wantTokens) {
				t.Errorf("server saw tokens %v, want %v", got, tt.wantTokens)
			}
			if got := src.stales(); fmt.Sprint(got) != fmt.Sprint(tt.wantStales) {
				t.Errorf("Refresh given %v, want %v", got, tt.wantStales)
			}
			for _, v := range src.ctxValues {
				if v != "call-ctx" {
					t.Errorf("Refresh got a context without the call's values: %v", v)
				}
			}
		})
	}
}

func TestRefreshFailureMessage(t *testing.T) {
	src := newRefreshingSource()
	src.err = errors.New("the install needs consent again: re-run /oauth/install")
	env := setup(t, WithTokenSource(src))
	env.handle(retryGet.route, (&authScript{answer: onlyFresh}).handler(t, retryGet.fixture))
	_, _, err := env.client.Contacts.Get(t.Context(), tContactID)
	if !errors.Is(err, ErrUnauthorized) || !strings.Contains(err.Error(), "re-run /oauth/install") {
		t.Fatalf("err = %v, want ErrUnauthorized naming the refresh failure", err)
	}
	if e := asError(t, err); e.StatusCode != 401 || e.Retryable {
		t.Errorf("Error = %+v, want the 401, not retryable", e)
	}
}

func TestRefreshNeedsRefresher(t *testing.T) {
	// A static source (pass-through tokens) cannot refresh: one attempt.
	env := setup(t, WithTokenSource(oauth2.StaticTokenSource(&oauth2.Token{AccessToken: "tok-0"})))
	script := &authScript{answer: onlyFresh}
	env.handle(retryGet.route, script.handler(t, retryGet.fixture))
	_, _, err := env.client.Contacts.Get(t.Context(), tContactID)
	if !errors.Is(err, ErrUnauthorized) || len(script.tokens()) != 1 {
		t.Fatalf("err = %v after %d requests, want ErrUnauthorized after 1", err, len(script.tokens()))
	}
}

func TestRefreshContextSource(t *testing.T) {
	// The source of the call's context is the one refreshed, not the client's.
	clientSrc, callSrc := newRefreshingSource(), newRefreshingSource()
	env := setup(t, WithTokenSource(clientSrc))
	script := &authScript{answer: onlyFresh}
	env.handle(retryGet.route, script.handler(t, retryGet.fixture))
	if _, _, err := env.client.Contacts.Get(ContextWithTokenSource(t.Context(), callSrc), tContactID); err != nil {
		t.Fatal(err)
	}
	if len(clientSrc.stales()) != 0 || len(callSrc.stales()) != 1 {
		t.Fatalf("refreshes: client source %v, call source %v", clientSrc.stales(), callSrc.stales())
	}
}

func TestRefreshConcurrent401s(t *testing.T) {
	// Every call that met the 401 asks once, with the token it sent; the
	// source decides that only the first changes anything.
	src := newRefreshingSource()
	env := setup(t, WithTokenSource(src))
	env.handle(retryGet.route, (&authScript{answer: onlyFresh}).handler(t, retryGet.fixture))
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() {
			if _, _, err := env.client.Contacts.Get(t.Context(), tContactID); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	for _, s := range src.stales() {
		if s != "tok-0" {
			t.Fatalf("Refresh given %q", s)
		}
	}
	if tok, _ := src.Token(); tok.AccessToken != "tok-1" {
		t.Fatalf("token %q, want tok-1 (one generation)", tok.AccessToken)
	}
}
