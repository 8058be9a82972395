// This file covers credentials: a call without a token source, with a token
// source that fails or yields an empty token, is ErrUnauthorized and sends
// nothing; ContextWithTokenSource overrides the client's source for one call
// only, and concurrent calls with different tokens each send their own.

package upstream

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"golang.org/x/oauth2"
)

// errTokenSource fails every Token call.
type errTokenSource struct{ err error }

func (s errTokenSource) Token() (*oauth2.Token, error) { return nil, s.err }

// nilTokenSource returns no token and no error.
type nilTokenSource struct{}

func (nilTokenSource) Token() (*oauth2.Token, error) { return nil, nil }

func TestCredentialFailures(t *testing.T) {
	errRefresh := errors.New("refresh token revoked")
	tests := []struct {
		name      string
		client    []Option // replaces the setup's token source when set
		ctx       func(context.Context) context.Context
		wantCause error
	}{
		{name: "no token source", client: []Option{WithTokenSource(nil)}},
		{name: "token source fails", client: []Option{WithTokenSource(errTokenSource{errRefresh})}, wantCause: errRefresh},
		{name: "empty access token", client: []Option{WithTokenSource(oauth2.StaticTokenSource(&oauth2.Token{}))}},
		{name: "nil token", client: []Option{WithTokenSource(nilTokenSource{})}},
		{
			name: "context source fails, client source ignored",
			ctx: func(ctx context.Context) context.Context {
				return ContextWithTokenSource(ctx, errTokenSource{errRefresh})
			},
			wantCause: errRefresh,
		},
		{
			name:   "nil context source falls back to a missing client source",
			client: []Option{WithTokenSource(nil)},
			ctx:    func(ctx context.Context) context.Context { return ContextWithTokenSource(ctx, nil) },
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := setup(t, tt.client...)
			env.handle("GET /contacts/{contactId}", func(w http.ResponseWriter, r *http.Request) {
				writeJSON(w, 200, fixture(t, "contact.json"))
			})
			ctx := t.Context()
			if tt.ctx != nil {
				ctx = tt.ctx(ctx)
			}
			got, resp, err := env.client.Contacts.Get(ctx, tContactID)
			if !errors.Is(err, ErrUnauthorized) {
				t.Fatalf("err = %v, want ErrUnauthorized", err)
			}
			if got != nil || resp != nil {
				t.Errorf("got %v, %v with an error", got, resp)
			}
			testSentinel(t, err, ErrUnauthorized)
			if tt.wantCause != nil && !errors.Is(err, tt.wantCause) {
				t.Errorf("err = %v, want it to wrap %v", err, tt.wantCause)
			}
			e := asError(t, err)
			if e.Op != OpGetContact.ID || e.Method != "GET" || e.Path != "/contacts/"+tContactID {
				t.Errorf("Error = %+v, want Op, Method and Path of get-contact", e)
			}
			if e.RequestSent || e.Retryable {
				t.Errorf("RequestSent = %v, Retryable = %v; want false, false", e.RequestSent, e.Retryable)
			}
			env.wantNoRequest()
		})
	}
}

// TestContextWithTokenSource runs calls at the same time, each with its own
// token (and one with the client's), and checks that each request carried
// its own. The handler holds every request until all have arrived, so the
// calls really overlap.
func TestContextWithTokenSource(t *testing.T) {
	const n = 3
	env := setup(t)
	arrived := make(chan struct{}, n)
	release := make(chan struct{})
	var mu sync.Mutex
	seen := map[string]string{} // contactId -> Authorization
	env.handle("GET /contacts/{contactId}", func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen[r.PathValue("contactId")] = r.Header.Get("Authorization")
		mu.Unlock()
		arrived <- struct{}{}
		select {
		case <-release:
		case <-r.Context().Done():
			return
		}
		writeJSON(w, 200, fixture(t, "contact.json"))
	})

	calls := map[string]string{ // contactId -> token to use ("" for the client's)
		"contact-a": "tok-A",
		"contact-b": "tok-B",
		"contact-c": "",
	}
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for id, tok := range calls {
		wg.Go(func() {
			ctx := t.Context()
			if tok != "" {
				ctx = ContextWithTokenSource(ctx, oauth2.StaticTokenSource(&oauth2.Token{AccessToken: tok}))
			}
			if _, _, err := env.client.Contacts.Get(ctx, id); err != nil {
				errs <- fmt.Errorf("%s: %w", id, err)
			}
		})
	}
	for range n {
		select {
		case <-arrived:
		case <-t.Context().Done():
			t.Fatal("test ended before every call arrived")
		}
	}
	close(release)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	want := map[string]string{
		"contact-a": "Bearer tok-A",
		"contact-b": "Bearer tok-B",
		"contact-c": "Bearer " + testToken,
	}
	mu.Lock()
	defer mu.Unlock()
	for id, w := range want {
		if seen[id] != w {
			t.Errorf("%s sent Authorization %q, want %q", id, seen[id], w)
		}
	}

	// The override was for those calls only: the next call uses the client's.
	ts, ok := TokenSourceFromContext(t.Context())
	if ok || ts != nil {
		t.Errorf("TokenSourceFromContext of a plain context = %v, %v", ts, ok)
	}
}

// TestContextWithTokenSourceWithoutClientSource: pass-through mode, where
// the client has no source of its own and every call brings its token.
func TestContextWithTokenSourceWithoutClientSource(t *testing.T) {
	env := setup(t, WithTokenSource(nil))
	env.handle("GET /contacts/{contactId}", func(w http.ResponseWriter, r *http.Request) {
		testHeader(t, r, "Authorization", "Bearer pit-7f3c")
		writeJSON(w, 200, fixture(t, "contact.json"))
	})
	ctx := ContextWithTokenSource(t.Context(), oauth2.StaticTokenSource(&oauth2.Token{AccessToken: "pit-7f3c"}))
	if _, _, err := env.client.Contacts.Get(ctx, tContactID); err != nil {
		t.Fatal(err)
	}
	if _, _, err := env.client.Contacts.Get(t.Context(), tContactID); !errors.Is(err, ErrUnauthorized) {
		t.Fatalf("call without a token: err = %v, want ErrUnauthorized", err)
	}
	if n := len(env.requests()); n != 1 {
		t.Errorf("server saw %d requests, want 1", n)
	}
}

// TestRedirectDoesNotCarryToken: an answer that redirects to another host
// must not make the client hand that host the bearer token. (The client
// follows redirects; net/http drops Authorization across hosts, and this
// test pins that the client keeps it so, e.g. by not re-adding the header
// in a CheckRedirect or a transport.)
func TestRedirectDoesNotCarryToken(t *testing.T) {
	var mu sync.Mutex
	var otherSaw []string
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		otherSaw = append(otherSaw, r.Header.Get("Authorization"))
		mu.Unlock()
		writeJSON(w, 200, fixture(t, "contact.json"))
	}))
	t.Cleanup(other.Close)
	// Same machine, another host name: 127.0.0.1 -> localhost.
	otherURL := strings.Replace(other.URL, "127.0.0.1", "localhost", 1)

	env := setup(t)
	env.handle("GET /contacts/{contactId}", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, otherURL+"/contacts/"+tContactID, http.StatusTemporaryRedirect)
	})
	env.client.Contacts.Get(t.Context(), tContactID) // outcome aside, only the token matters
	mu.Lock()
	defer mu.Unlock()
	if len(otherSaw) == 0 {
		t.Log("the client did not follow the redirect")
	}
	for _, a := range otherSaw {
		if strings.Contains(a, testToken) {
			t.Errorf("the redirect target received the token: Authorization %q", a)
		}
	}
}
