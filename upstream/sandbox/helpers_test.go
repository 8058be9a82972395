// This file holds the test fixtures: a sandbox behind httptest, a real
// upstream client pointed at it, and helpers for raw requests and errors.

package sandbox_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"golang.org/x/oauth2"

	"github.com/ghl-graphql/gateway/upstream"
	"github.com/ghl-graphql/gateway/upstream/sandbox"
)

// env is a running sandbox and a client for its first location.
type env struct {
	s     *sandbox.Server
	srv   *httptest.Server
	c     *upstream.Client
	loc   string // Locations()[0], the client's location
	other string // Locations()[1]
}

func newEnv(t *testing.T, cfg sandbox.Config) *env {
	t.Helper()
	s, err := sandbox.New(cfg)
	if err != nil {
		t.Fatalf("sandbox.New: %v", err)
	}
	srv := httptest.NewServer(s)
	t.Cleanup(srv.Close)
	e := &env{s: s, srv: srv, loc: s.Locations()[0]}
	if len(s.Locations()) > 1 {
		e.other = s.Locations()[1]
	}
	e.c = e.client(t, s.DefaultToken())
	return e
}

// client returns a client that authenticates with token.
func (e *env) client(t *testing.T, token string, opts ...upstream.Option) *upstream.Client {
	t.Helper()
	opts = append([]upstream.Option{
		upstream.WithBaseURL(e.srv.URL),
		upstream.WithTokenSource(oauth2.StaticTokenSource(&oauth2.Token{AccessToken: token})),
	}, opts...)
	c, err := upstream.NewClient(opts...)
	if err != nil {
		t.Fatalf("NewClient: %v", err)
	}
	return c
}

// raw sends a request without the client; headers nil means a valid
// Version and the default token.
func (e *env) raw(t *testing.T, method, path string, headers map[string]string, body string) (*http.Response, string) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(context.Background(), method, e.srv.URL+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if headers == nil {
		headers = map[string]string{"Version": upstream.APIVersion, "Authorization": "Bearer " + e.s.DefaultToken()}
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := e.srv.Client().Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(b)
}

// seeded returns the i-th oldest seeded contact of the client's location.
func (e *env) seeded(t *testing.T, i int) sandbox.Contact {
	t.Helper()
	ids := e.s.ContactIDs(e.loc)
	c, ok := e.s.Contact(ids[i])
	if !ok {
		t.Fatalf("seeded contact %d missing", i)
	}
	return c
}

var uniq atomic.Int64

// fresh creates a new contact with a unique email in the client's location.
func (e *env) fresh(t *testing.T) *upstream.Contact {
	t.Helper()
	n := uniq.Add(1)
	c, _, err := e.c.Contacts.Create(context.Background(), &upstream.CreateContactRequest{
		LocationID: e.loc, FirstName: "Test", LastName: fmt.Sprintf("Person%d", n),
		Email: fmt.Sprintf("test.person%d@example.com", n), Phone: fmt.Sprintf("+1555%07d", n),
		Tags: []string{"fixture"},
	})
	if err != nil {
		t.Fatalf("create fixture contact: %v", err)
	}
	return c
}

// wantErr fails unless err is an *upstream.Error matching kind.
func wantErr(t *testing.T, err, kind error) *upstream.Error {
	t.Helper()
	if err == nil {
		t.Fatalf("got no error, want %v", kind)
	}
	if !errors.Is(err, kind) {
		t.Fatalf("got %v, want %v", err, kind)
	}
	var ue *upstream.Error
	if !errors.As(err, &ue) {
		t.Fatalf("error %T is not an *upstream.Error", err)
	}
	return ue
}

// wantMessage fails unless one of the error's messages contains sub.
func wantMessage(t *testing.T, ue *upstream.Error, sub string) {
	t.Helper()
	if !slices.ContainsFunc(ue.Messages, func(m string) bool { return strings.Contains(m, sub) }) {
		t.Fatalf("messages %q lack %q", ue.Messages, sub)
	}
}

func must[T any](t *testing.T) func(v T, _ *upstream.Response, err error) T {
	return func(v T, _ *upstream.Response, err error) T {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
}

// done fails the test on the error of a call that answers nothing else.
func done(t *testing.T) func(*upstream.Response, error) {
	return func(_ *upstream.Response, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
}

var bg = context.Background()
