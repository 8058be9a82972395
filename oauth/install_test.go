// This file tests the install flow: the redirect to the consent page and
// its state cookie, the callback's exchange and stored install, every
// refused state (with no exchange), refused consent, re-installs, the
// escaped page, HighLevel answers without a location, and NewManager's checks.

package oauth

import (
	"context"
	"crypto/tls"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestInstallRedirect(t *testing.T) {
	e := newEnv(t)
	m := e.manager(nil)
	rec := httptest.NewRecorder()
	m.InstallHandler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "http://gateway.test/oauth/install", nil))
	if rec.Code != http.StatusFound {
		t.Fatalf("status %d", rec.Code)
	}
	u, err := url.Parse(rec.Header().Get("Location"))
	if err != nil {
		t.Fatal(err)
	}
	if u.Scheme+"://"+u.Host+u.Path != "https://marketplace.test/v2/oauth/chooselocation" {
		t.Errorf("redirect to %s", u)
	}
	q := u.Query()
	want := map[string]string{
		"response_type": "code", "client_id": testClientID, "redirect_uri": testRedirectURL,
		"scope": "contacts.readonly contacts.write", "loginWindowOpenMode": "self",
	}
	for k, v := range want {
		if q.Get(k) != v {
			t.Errorf("%s = %q, want %q", k, q.Get(k), v)
		}
	}
	if strings.Contains(rec.Header().Get("Location"), testClientSecret) {
		t.Error("the redirect carries the client secret")
	}
	cookies := rec.Result().Cookies()
	if len(cookies) != 1 {
		t.Fatalf("cookies %v", cookies)
	}
	c := cookies[0]
	if c.Name != stateCookie || c.Value == "" || c.Value != q.Get("state") || !c.HttpOnly ||
		c.SameSite != http.SameSiteLaxMode || c.Secure || c.Path != "/oauth/callback" || c.MaxAge != 600 {
		t.Errorf("cookie %+v, state %q", c, q.Get("state"))
	}
	// Every install gets its own state.
	if s2, _ := startInstall(t, m); s2 == q.Get("state") {
		t.Error("two installs share a state")
	}

	t.Run("Secure over TLS", func(t *testing.T) {
		req := httptest.NewRequest(http.MethodGet, "https://gateway.test/oauth/install", nil)
		req.TLS = &tls.ConnectionState{}
		rec := httptest.NewRecorder()
		m.InstallHandler().ServeHTTP(rec, req)
		if c := rec.Result().Cookies()[0]; !c.Secure {
			t.Error("cookie not Secure over TLS")
		}
	})
	t.Run("Secure with an https redirect URL", func(t *testing.T) {
		cfg := e.config()
		cfg.RedirectURL = "https://gw.example/hl/callback"
		m, err := NewManager(cfg, NewMemoryStore())
		if err != nil {
			t.Fatal(err)
		}
		_, c := startInstall(t, m)
		if !c.Secure || c.Path != "/hl/callback" {
			t.Errorf("cookie %+v", c)
		}
	})
	t.Run("POST", func(t *testing.T) {
		rec := httptest.NewRecorder()
		m.InstallHandler().ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/oauth/install", nil))
		if rec.Code != http.StatusMethodNotAllowed {
			t.Errorf("status %d", rec.Code)
		}
	})
}

func TestInstallCallback(t *testing.T) {
	e := newEnv(t)
	m := e.manager(nil)
	state, cookie := startInstall(t, m)
	code := e.sb.AuthorizationCode(testClientID, e.loc, testScopes...)
	rec := callback(t, m, url.Values{"code": {code}, "state": {state}}, cookie)
	if rec.Code != http.StatusOK {
		t.Fatalf("status %d: %s", rec.Code, rec.Body)
	}
	if !strings.Contains(rec.Body.String(), "installed for location "+e.loc) ||
		!strings.HasPrefix(rec.Header().Get("Content-Type"), "text/html") {
		t.Errorf("page %q (%s)", rec.Body, rec.Header().Get("Content-Type"))
	}
	if rec.Header().Get("Referrer-Policy") != "no-referrer" || rec.Header().Get("Cache-Control") != "no-store" {
		t.Errorf("headers %v", rec.Header())
	}
	if c := rec.Result().Cookies(); len(c) != 1 || c[0].Name != stateCookie || c[0].MaxAge >= 0 {
		t.Errorf("state cookie not cleared: %v", c)
	}
	if n := e.tokenRequests.Load(); n != 1 {
		t.Errorf("%d token requests, want 1", n)
	}

	tok, err := m.store.Get(context.Background(), e.loc)
	if err != nil {
		t.Fatal(err)
	}
	if tok.AccessToken == "" || tok.RefreshToken == "" || tok.LocationID != e.loc || tok.CompanyID == "" ||
		tok.UserID == "" || !slices.Equal(tok.Scopes, testScopes) || tok.NeedsConsent {
		t.Errorf("stored %v", tok)
	}
	if want := e.clock.Now().Add(86399 * time.Second); !tok.Expiry.Equal(want) {
		t.Errorf("expiry %v, want %v (the Manager's clock)", tok.Expiry, want)
	}
	if got, _ := m.Installed(context.Background()); !slices.Equal(got, []string{e.loc}) {
		t.Errorf("Installed %v", got)
	}
	st, err := m.Status(context.Background(), e.loc)
	if err != nil || st.LocationID != e.loc || st.NeedsConsent || st.Unsaved || !st.Expiry.Equal(tok.Expiry) {
		t.Errorf("Status %+v, %v", st, err)
	}

	// The client's calls succeed with the installed token, without a refresh.
	if err := e.getContact(e.client(m, e.loc)); err != nil {
		t.Fatal(err)
	}
	if e.sb.Refreshes() != 0 {
		t.Errorf("%d refreshes", e.sb.Refreshes())
	}

	t.Run("replayed callback", func(t *testing.T) {
		// The browser dropped the cookie; the same URL again is refused
		// before any exchange.
		before := e.tokenRequests.Load()
		if rec := callback(t, m, url.Values{"code": {code}, "state": {state}}, nil); rec.Code != http.StatusBadRequest {
			t.Errorf("status %d", rec.Code)
		}
		if e.tokenRequests.Load() != before {
			t.Error("a replayed callback reached the token endpoint")
		}
	})
	t.Run("re-install overwrites", func(t *testing.T) {
		again := e.install(m)
		if again.AccessToken == tok.AccessToken || again.RefreshToken == tok.RefreshToken {
			t.Fatal("the re-install kept the old pair")
		}
		if err := e.getContact(e.client(m, e.loc)); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("unknown location", func(t *testing.T) {
		if _, err := m.Token(context.Background(), "no-such-location"); !errors.Is(err, ErrNotInstalled) {
			t.Errorf("err = %v", err)
		}
		if _, err := m.Status(context.Background(), "no-such-location"); !errors.Is(err, ErrNotInstalled) {
			t.Errorf("err = %v", err)
		}
	})
}

func TestCallbackRefusesBadState(t *testing.T) {
	e := newEnv(t)
	m := e.manager(nil)
	state, cookie := startInstall(t, m)
	code := e.sb.AuthorizationCode(testClientID, e.loc, testScopes...)

	otherCfg := e.config()
	otherCfg.StateKey = []byte("another key, another key, another")
	other, err := NewManager(otherCfg, NewMemoryStore())
	if err != nil {
		t.Fatal(err)
	}
	forged, forgedCookie := startInstall(t, other)
	payload, _, _ := strings.Cut(state, ".")

	tests := []struct {
		name   string
		state  string
		cookie *http.Cookie
		before func()
		after  func()
	}{
		{name: "missing state", state: "", cookie: cookie},
		{name: "missing cookie", state: state, cookie: nil},
		{name: "cookie of another install", state: state, cookie: &http.Cookie{Name: stateCookie, Value: forged}},
		{name: "signed with another key", state: forged, cookie: forgedCookie},
		{name: "malformed", state: "not-a-state", cookie: &http.Cookie{Name: stateCookie, Value: "not-a-state"}},
		{name: "signature cut", state: payload + ".", cookie: &http.Cookie{Name: stateCookie, Value: payload + "."}},
		{name: "expired", state: state, cookie: cookie,
			before: func() { e.clock.Advance(stateTTL) }, after: func() { e.clock.Advance(-stateTTL) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.before != nil {
				tt.before()
			}
			if tt.after != nil {
				defer tt.after()
			}
			q := url.Values{"code": {code}}
			if tt.state != "" {
				q.Set("state", tt.state)
			}
			rec := callback(t, m, q, tt.cookie)
			if rec.Code != http.StatusBadRequest || !strings.Contains(rec.Body.String(), "/oauth/install") {
				t.Errorf("status %d: %s", rec.Code, rec.Body)
			}
			if n := e.tokenRequests.Load(); n != 0 {
				t.Errorf("%d token requests, want none", n)
			}
			if locs, _ := m.Installed(context.Background()); len(locs) != 0 {
				t.Errorf("installed %v", locs)
			}
		})
	}
	t.Run("consent refused", func(t *testing.T) {
		rec := callback(t, m, url.Values{"error": {"access_denied"}, "state": {state}}, cookie)
		if rec.Code != http.StatusBadRequest || e.tokenRequests.Load() != 0 {
			t.Errorf("status %d, %d token requests", rec.Code, e.tokenRequests.Load())
		}
	})
	t.Run("no code", func(t *testing.T) {
		rec := callback(t, m, url.Values{"state": {state}}, cookie)
		if rec.Code != http.StatusBadRequest || e.tokenRequests.Load() != 0 {
			t.Errorf("status %d, %d token requests", rec.Code, e.tokenRequests.Load())
		}
	})
	t.Run("the unspent code still installs", func(t *testing.T) {
		rec := callback(t, m, url.Values{"code": {code}, "state": {state}}, cookie)
		if rec.Code != http.StatusOK {
			t.Fatalf("status %d: %s", rec.Code, rec.Body)
		}
	})
	t.Run("used code", func(t *testing.T) {
		rec := callback(t, m, url.Values{"code": {code}, "state": {state}}, cookie)
		if rec.Code != http.StatusBadRequest || !strings.Contains(rec.Body.String(), "code is invalid") {
			t.Errorf("status %d: %s", rec.Code, rec.Body)
		}
	})
}

// fakeTokenEndpoint answers every token request with body.
func fakeTokenEndpoint(t *testing.T, status int, body string) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		w.Write([]byte(body))
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestCallbackAnswers(t *testing.T) {
	e := newEnv(t)
	tests := []struct {
		name       string
		status     int
		body       string
		wantStatus int
		wantBody   string
	}{
		{name: "location ID is escaped", status: 200,
			body:       `{"access_token":"a","refresh_token":"r","expires_in":86399,"locationId":"<b>x</b>&\"","userType":"Location"}`,
			wantStatus: 200, wantBody: "installed for location &lt;b&gt;x&lt;/b&gt;&amp;&#34;."},
		{name: "agency token", status: 200,
			body:       `{"access_token":"a","refresh_token":"r","expires_in":86399,"companyId":"c","userType":"Company"}`,
			wantStatus: http.StatusBadGateway, wantBody: "names no location"},
		{name: "no refresh token", status: 200,
			body:       `{"access_token":"a","expires_in":86399,"locationId":"l"}`,
			wantStatus: http.StatusBadGateway, wantBody: "no refresh token"},
		{name: "token endpoint down", status: 503, body: `{"statusCode":503}`,
			wantStatus: http.StatusBadGateway, wantBody: "token endpoint failed"},
		{name: "wrong client secret", status: 401, body: `{"error":"invalid_client"}`,
			wantStatus: http.StatusBadGateway, wantBody: "token endpoint failed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := fakeTokenEndpoint(t, tt.status, tt.body)
			cfg := e.config()
			cfg.TokenURL, cfg.HTTPClient = srv.URL, srv.Client()
			store := NewMemoryStore()
			m, err := NewManager(cfg, store)
			if err != nil {
				t.Fatal(err)
			}
			state, cookie := startInstall(t, m)
			rec := callback(t, m, url.Values{"code": {"c"}, "state": {state}}, cookie)
			if rec.Code != tt.wantStatus || !strings.Contains(rec.Body.String(), tt.wantBody) {
				t.Fatalf("status %d: %s", rec.Code, rec.Body)
			}
			if locs, _ := store.Locations(context.Background()); (len(locs) == 1) != (tt.wantStatus == 200) {
				t.Errorf("stored %v", locs)
			}
		})
	}
}

func TestCallbackStoreFailure(t *testing.T) {
	e := newEnv(t)
	store := &faultyStore{MemoryStore: NewMemoryStore()}
	store.failPut.Store(true)
	m := e.manager(store)
	state, cookie := startInstall(t, m)
	rec := callback(t, m, url.Values{"code": {e.sb.AuthorizationCode(testClientID, e.loc, testScopes...)}, "state": {state}}, cookie)
	if rec.Code != http.StatusInternalServerError || strings.Contains(rec.Body.String(), "installed for") {
		t.Fatalf("status %d: %s", rec.Code, rec.Body)
	}
}

func TestNewManagerChecks(t *testing.T) {
	e := newEnv(t)
	tests := []struct {
		name   string
		change func(*Config)
	}{
		{name: "no client ID", change: func(c *Config) { c.ClientID = "" }},
		{name: "no client secret", change: func(c *Config) { c.ClientSecret = "" }},
		{name: "no scopes", change: func(c *Config) { c.Scopes = nil }},
		{name: "relative redirect", change: func(c *Config) { c.RedirectURL = "/oauth/callback" }},
		{name: "bad token URL", change: func(c *Config) { c.TokenURL = "ftp://x/token" }},
		{name: "bad auth URL", change: func(c *Config) { c.AuthURL = "://" }},
		{name: "short state key", change: func(c *Config) { c.StateKey = []byte("short") }},
		{name: "negative refresh before", change: func(c *Config) { c.RefreshBefore = -time.Second }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := e.config()
			tt.change(&cfg)
			if _, err := NewManager(cfg, NewMemoryStore()); err == nil {
				t.Fatal("no error")
			}
		})
	}
	t.Run("nil store", func(t *testing.T) {
		if _, err := NewManager(e.config(), nil); err == nil {
			t.Fatal("no error")
		}
	})
	t.Run("defaults", func(t *testing.T) {
		m, err := NewManager(Config{ClientID: "id", ClientSecret: "s", RedirectURL: testRedirectURL, Scopes: testScopes}, NewMemoryStore())
		if err != nil {
			t.Fatal(err)
		}
		if m.cfg.AuthURL != DefaultAuthURL || m.cfg.TokenURL != DefaultTokenURL || m.cfg.RefreshBefore != DefaultRefreshBefore ||
			len(m.cfg.StateKey) != 32 || m.hc.Timeout != DefaultTokenRequestTimeout {
			t.Errorf("config %+v", m.cfg)
		}
	})
}
