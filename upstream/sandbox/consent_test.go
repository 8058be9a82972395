// This file tests the sandbox's consent page (GET /oauth/chooselocation),
// which lets managed mode be tried without a HighLevel account.

package sandbox_test

import (
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/ghl-graphql/gateway/upstream/sandbox"
)

func TestConsentPage(t *testing.T) {
	e, _ := oauthEnv(t)
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	get := func(q url.Values) (*http.Response, string) {
		t.Helper()
		resp, err := noRedirect.Get(e.srv.URL + sandbox.ConsentPath + "?" + q.Encode())
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, string(b)
	}
	ask := url.Values{"response_type": {"code"}, "client_id": {testClientID}, "state": {"st-1"},
		"redirect_uri": {"http://127.0.0.1:9/oauth/callback?keep=1"}, "scope": {"contacts.readonly contacts.write"}}

	// The page offers every location.
	resp, page := get(ask)
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
		t.Fatalf("page: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	for _, loc := range e.s.Locations() {
		if !strings.Contains(page, "location="+loc) {
			t.Errorf("the page offers no link for location %s:\n%s", loc, page)
		}
	}

	// Choosing a location redirects to the app with a code and the state;
	// the code is exchanged once for the location's tokens with the scopes.
	loc := e.s.Locations()[1]
	choose := url.Values{}
	for k, v := range ask {
		choose[k] = v
	}
	choose.Set("location", loc)
	resp, _ = get(choose)
	if resp.StatusCode != http.StatusFound {
		t.Fatalf("choice: status %d", resp.StatusCode)
	}
	back, err := url.Parse(resp.Header.Get("Location"))
	if err != nil || back.Host != "127.0.0.1:9" || back.Path != "/oauth/callback" || back.Query().Get("state") != "st-1" ||
		back.Query().Get("keep") != "1" || back.Query().Get("code") == "" {
		t.Fatalf("redirect %v (%v)", back, err)
	}
	status, tok := e.postToken(t, form("client_id", testClientID, "client_secret", testClientSecret,
		"grant_type", "authorization_code", "user_type", "Location", "code", back.Query().Get("code")))
	if status != http.StatusOK || tok.LocationID != loc || tok.Scope != "contacts.readonly contacts.write" {
		t.Fatalf("exchange: %d %+v", status, tok)
	}

	// Refusals.
	for name, tc := range map[string]struct{ key, value string }{
		"unregistered client": {"client_id", "someone-else"},
		"no redirect":         {"redirect_uri", ""},
		"relative redirect":   {"redirect_uri", "/oauth/callback"},
		"implicit flow":       {"response_type", "token"},
		"unknown location":    {"location", "nowhere"},
	} {
		q := url.Values{}
		for k, v := range choose {
			q[k] = v
		}
		q.Set(tc.key, tc.value)
		if resp, _ := get(q); resp.StatusCode != http.StatusBadRequest {
			t.Errorf("%s: status %d, want 400", name, resp.StatusCode)
		}
	}
}

func TestAccessTokenLifetimeConfig(t *testing.T) {
	cfg := sandboxConfig()
	cfg.AccessTokenLifetime = 90 * time.Second
	e := newEnv(t, cfg)
	e.s.RegisterOAuthClient(testClientID, testClientSecret)
	if tok := e.install(t, "contacts.readonly"); tok.ExpiresIn != 89 {
		t.Errorf("expires_in %d, want 89", tok.ExpiresIn)
	}
	cfg.AccessTokenLifetime = -time.Second
	if _, err := sandbox.New(cfg); err == nil {
		t.Error("a negative lifetime was accepted")
	}
}
