// This file holds the fixtures of the package's tests: the sandbox as
// HighLevel (API and token endpoint) behind httptest, with a count of token
// requests and a knob to fail them; a settable clock; a Manager pointed at
// the sandbox; the install flow driven like a browser; stores that fail or
// lock on demand; and a leak check over the whole run.

package oauth

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/ghl-graphql/gateway/internal/fakeclock"
	"github.com/ghl-graphql/gateway/upstream"
	"github.com/ghl-graphql/gateway/upstream/sandbox"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const (
	testClientID     = "app-client-id"
	testClientSecret = "app-client-secret-s3cr3t"
	testRedirectURL  = "http://gateway.test/oauth/callback"
	testAuthURL      = "https://marketplace.test/v2/oauth/chooselocation?loginWindowOpenMode=self"
)

var testScopes = []string{sandbox.ScopeContactsRead, sandbox.ScopeContactsWrite}

// env is the sandbox as HighLevel, a clock for the Managers, and a log.
type env struct {
	t     *testing.T
	sb    *sandbox.Server
	srv   *httptest.Server
	clock *fakeclock.Clock
	loc   string
	// tokenRequests counts requests to /oauth/token; failTokens makes the
	// next that many answer 503 without reaching the sandbox; holdTokens,
	// when set, is waited on before a token request is served.
	tokenRequests atomic.Int64
	failTokens    atomic.Int64
	holdTokens    atomic.Pointer[chan struct{}]
	logs          *syncBuffer
}

// syncBuffer is a bytes.Buffer safe for concurrent writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

func newEnv(t *testing.T) *env {
	t.Helper()
	sb, err := sandbox.New(sandbox.Config{Seed: 3, ContactsPerLocation: 5})
	if err != nil {
		t.Fatal(err)
	}
	sb.RegisterOAuthClient(testClientID, testClientSecret)
	e := &env{t: t, sb: sb, clock: fakeclock.New(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)), loc: sb.Locations()[0], logs: &syncBuffer{}}
	e.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/oauth/token" {
			e.tokenRequests.Add(1)
			if hold := e.holdTokens.Load(); hold != nil {
				<-*hold
			}
			if e.failTokens.Add(-1) >= 0 {
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(http.StatusServiceUnavailable)
				w.Write([]byte(`{"statusCode":503,"message":"Service Unavailable"}`))
				return
			}
			e.failTokens.Store(0)
		}
		sb.ServeHTTP(w, r)
	}))
	t.Cleanup(e.srv.Close)
	return e
}

// config returns the Managers' configuration: the sandbox's token
// endpoint, the env's clock and log.
func (e *env) config() Config {
	return Config{
		ClientID:     testClientID,
		ClientSecret: testClientSecret,
		RedirectURL:  testRedirectURL,
		Scopes:       testScopes,
		AuthURL:      testAuthURL,
		TokenURL:     e.srv.URL + "/oauth/token",
		HTTPClient:   e.srv.Client(),
		StateKey:     []byte("0123456789abcdef0123456789abcdef"),
		Logger:       slog.New(slog.NewTextHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Now:          e.clock.Now,
	}
}

// manager returns a Manager on store (a new MemoryStore when nil).
func (e *env) manager(store Store) *Manager {
	e.t.Helper()
	if store == nil {
		store = NewMemoryStore()
	}
	m, err := NewManager(e.config(), store)
	if err != nil {
		e.t.Fatal(err)
	}
	return m
}

// startInstall runs InstallHandler and returns its state and cookie.
func startInstall(t *testing.T, m *Manager) (state string, cookie *http.Cookie) {
	t.Helper()
	rec := httptest.NewRecorder()
	m.InstallHandler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "http://gateway.test/oauth/install", nil))
	if rec.Code != http.StatusFound {
		t.Fatalf("install answered %d", rec.Code)
	}
	loc, err := url.Parse(rec.Header().Get("Location"))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range rec.Result().Cookies() {
		if c.Name == stateCookie {
			cookie = c
		}
	}
	if cookie == nil {
		t.Fatal("install set no state cookie")
	}
	return loc.Query().Get("state"), cookie
}

// callback runs CallbackHandler with the query and cookie (nil: none).
func callback(t *testing.T, m *Manager, query url.Values, cookie *http.Cookie) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, "http://gateway.test/oauth/callback?"+query.Encode(), nil)
	if cookie != nil {
		req.AddCookie(&http.Cookie{Name: cookie.Name, Value: cookie.Value})
	}
	rec := httptest.NewRecorder()
	m.CallbackHandler().ServeHTTP(rec, req)
	return rec
}

// install runs the whole install flow of the env's location through m, as
// a browser would, and returns the stored tokens.
func (e *env) install(m *Manager) Tokens {
	e.t.Helper()
	state, cookie := startInstall(e.t, m)
	code := e.sb.AuthorizationCode(testClientID, e.loc, testScopes...)
	rec := callback(e.t, m, url.Values{"code": {code}, "state": {state}}, cookie)
	if rec.Code != http.StatusOK {
		e.t.Fatalf("callback answered %d: %s", rec.Code, rec.Body)
	}
	t, err := m.store.Get(context.Background(), e.loc)
	if err != nil {
		e.t.Fatal(err)
	}
	return t
}

// client returns an upstream client for the location, authenticated by m.
func (e *env) client(m *Manager, loc string) *upstream.Client {
	e.t.Helper()
	c, err := upstream.NewClient(upstream.WithBaseURL(e.srv.URL), upstream.WithHTTPClient(e.srv.Client()),
		upstream.WithTokenSource(m.TokenSource(loc)))
	if err != nil {
		e.t.Fatal(err)
	}
	return c
}

// getContact reads a seeded contact of the location through c.
func (e *env) getContact(c *upstream.Client) error {
	_, _, err := c.Contacts.Get(context.Background(), e.sb.ContactIDs(e.loc)[0])
	return err
}

// refreshWorks reports whether the sandbox accepts refresh (spending it).
func (e *env) refreshWorks(refresh string) bool {
	e.t.Helper()
	resp, err := e.srv.Client().PostForm(e.srv.URL+"/oauth/token", url.Values{
		"grant_type": {"refresh_token"}, "refresh_token": {refresh}, "client_id": {testClientID},
		"client_secret": {testClientSecret}, "user_type": {"Location"},
	})
	if err != nil {
		e.t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// expire moves the clock past the point where tokens expiring at exp are refreshed.
func (e *env) expire(exp time.Time) { e.clock.Set(exp.Add(-DefaultRefreshBefore + time.Second)) }

// faultyStore is a MemoryStore whose Put fails while failPut is set.
type faultyStore struct {
	*MemoryStore
	failPut atomic.Bool
	puts    atomic.Int64
}

var errDiskFull = errors.New("disk full")

func (s *faultyStore) Put(ctx context.Context, loc string, t Tokens) error {
	s.puts.Add(1)
	if s.failPut.Load() {
		return errDiskFull
	}
	return s.MemoryStore.Put(ctx, loc, t)
}

// lockingStore is a MemoryStore with a Locker that counts its locks and
// checks they never overlap per location.
type lockingStore struct {
	*MemoryStore
	mu     sync.Mutex
	held   map[string]bool
	locks  atomic.Int64
	overlp atomic.Bool
}

func (s *lockingStore) Lock(ctx context.Context, loc string) (func(), error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.held[loc] {
		s.overlp.Store(true)
	}
	s.held[loc] = true
	s.locks.Add(1)
	return func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		s.held[loc] = false
	}, nil
}

// wantNoSecret fails when text holds any of secrets.
func wantNoSecret(t *testing.T, text string, secrets map[string]string) {
	t.Helper()
	for what, s := range secrets {
		if s != "" && strings.Contains(text, s) {
			t.Errorf("the %s appears in:\n%s", what, text)
		}
	}
}
