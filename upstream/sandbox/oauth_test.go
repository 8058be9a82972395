// This file tests the sandbox's OAuth token endpoint: both grants, every
// error answer, refresh-token rotation, uninstall, and the access tokens'
// lifetime and early expiry as the Contacts API sees them.

package sandbox_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ghl-graphql/gateway/auth"
	"github.com/ghl-graphql/gateway/internal/fakeclock"
	"github.com/ghl-graphql/gateway/upstream"
	"github.com/ghl-graphql/gateway/upstream/sandbox"
)

const (
	testClientID     = "client-1"
	testClientSecret = "secret-1"
)

// oauthEnv is a sandbox with a registered client and a settable clock.
func oauthEnv(t *testing.T) (*env, *fakeclock.Clock) {
	t.Helper()
	clock := fakeclock.New(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
	cfg := sandboxConfig()
	cfg.Now = clock.Now
	e := newEnv(t, cfg)
	e.s.RegisterOAuthClient(testClientID, testClientSecret)
	return e, clock
}

// tokenAnswer is the decoded answer of the token endpoint, success or error.
type tokenAnswer struct {
	AccessToken  string `json:"access_token"`
	TokenType    string `json:"token_type"`
	ExpiresIn    int64  `json:"expires_in"`
	RefreshToken string `json:"refresh_token"`
	Scope        string `json:"scope"`
	UserType     string `json:"userType"`
	LocationID   string `json:"locationId"`
	CompanyID    string `json:"companyId"`
	UserID       string `json:"userId"`
	Error        string `json:"error"`
	Description  string `json:"error_description"`
}

// postToken sends a form to the token endpoint, without a Version header.
func (e *env) postToken(t *testing.T, form url.Values) (int, tokenAnswer) {
	t.Helper()
	resp, err := e.srv.Client().PostForm(e.srv.URL+"/oauth/token", form)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var a tokenAnswer
	if err := json.NewDecoder(resp.Body).Decode(&a); err != nil {
		t.Fatalf("decode answer (%d): %v", resp.StatusCode, err)
	}
	if resp.StatusCode == http.StatusOK && resp.Header.Get("Cache-Control") != "no-store" {
		t.Errorf("Cache-Control %q, want no-store", resp.Header.Get("Cache-Control"))
	}
	return resp.StatusCode, a
}

// form builds a token request of the test client.
func form(kv ...string) url.Values {
	v := url.Values{"client_id": {testClientID}, "client_secret": {testClientSecret}, "user_type": {"Location"}}
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i+1] == "" {
			v.Del(kv[i])
		} else {
			v.Set(kv[i], kv[i+1])
		}
	}
	return v
}

// install exchanges a fresh code of the location for a token pair.
func (e *env) install(t *testing.T, scopes ...string) tokenAnswer {
	t.Helper()
	code := e.s.AuthorizationCode(testClientID, e.loc, scopes...)
	status, a := e.postToken(t, form("grant_type", "authorization_code", "code", code, "redirect_uri", "https://app.example/cb"))
	if status != http.StatusOK {
		t.Fatalf("exchange: %d %+v", status, a)
	}
	return a
}

// wantAPI checks what the Contacts API answers to token.
func (e *env) wantAPI(t *testing.T, token string, wantStatus int, wantMessage string) {
	t.Helper()
	resp, text := e.raw(t, http.MethodGet, "/contacts/"+e.seeded(t, 0).ID,
		map[string]string{"Version": upstream.APIVersion, "Authorization": "Bearer " + token}, "")
	if resp.StatusCode != wantStatus {
		t.Fatalf("API answered %d %s, want %d", resp.StatusCode, text, wantStatus)
	}
	if wantMessage != "" && text != wantMessage {
		t.Fatalf("API answered %s, want %s", text, wantMessage)
	}
}

const invalidJWT = `{"statusCode":401,"message":"Invalid JWT","error":"Unauthorized"}`

func TestOAuthAuthorizationCodeGrant(t *testing.T) {
	e, _ := oauthEnv(t)
	a := e.install(t, sandbox.ScopeContactsWrite, sandbox.ScopeContactsRead, sandbox.ScopeContactsRead)
	if a.TokenType != "Bearer" || a.ExpiresIn != 86399 || a.UserType != "Location" || a.LocationID != e.loc ||
		a.CompanyID == "" || a.UserID == "" || a.RefreshToken == "" || a.AccessToken == "" {
		t.Fatalf("answer %+v", a)
	}
	if a.Scope != "contacts.readonly contacts.write" {
		t.Errorf("scope %q", a.Scope)
	}
	claims, ok := auth.ParseAccessToken(a.AccessToken)
	if !ok || claims.LocationID != e.loc || !slices.Equal(claims.Scopes, []string{"contacts.readonly", "contacts.write"}) {
		t.Errorf("access token claims %+v, %v", claims, ok)
	}
	e.wantAPI(t, a.AccessToken, http.StatusOK, "")
	if e.s.Refreshes() != 0 {
		t.Errorf("Refreshes %d after an exchange", e.s.Refreshes())
	}
	// Two installs of one location get distinct pairs.
	b := e.install(t, sandbox.ScopeContactsRead)
	if b.AccessToken == a.AccessToken || b.RefreshToken == a.RefreshToken {
		t.Error("a second install repeated the first's tokens")
	}
}

func TestOAuthRefreshGrantRotates(t *testing.T) {
	e, _ := oauthEnv(t)
	a := e.install(t, sandbox.ScopeContactsRead)
	status, b := e.postToken(t, form("grant_type", "refresh_token", "refresh_token", a.RefreshToken))
	if status != http.StatusOK || b.AccessToken == "" || b.RefreshToken == "" || b.LocationID != e.loc || b.Scope != "contacts.readonly" {
		t.Fatalf("refresh: %d %+v", status, b)
	}
	if b.AccessToken == a.AccessToken || b.RefreshToken == a.RefreshToken {
		t.Fatal("refresh did not rotate the pair")
	}
	if e.s.Refreshes() != 1 {
		t.Fatalf("Refreshes %d, want 1", e.s.Refreshes())
	}
	// The old refresh token is dead; the new one works, once.
	status, c := e.postToken(t, form("grant_type", "refresh_token", "refresh_token", a.RefreshToken))
	if status != http.StatusBadRequest || c.Error != "invalid_grant" || c.Description == "" {
		t.Fatalf("reused refresh token: %d %+v", status, c)
	}
	if status, _ := e.postToken(t, form("grant_type", "refresh_token", "refresh_token", b.RefreshToken)); status != http.StatusOK {
		t.Fatalf("new refresh token: %d", status)
	}
	if e.s.Refreshes() != 2 {
		t.Fatalf("Refreshes %d, want 2 (a refused grant does not count)", e.s.Refreshes())
	}
	// Access tokens issued before keep working until they expire.
	e.wantAPI(t, a.AccessToken, http.StatusOK, "")
	e.wantAPI(t, b.AccessToken, http.StatusOK, "")
}

func TestOAuthTokenErrors(t *testing.T) {
	e, clock := oauthEnv(t)
	live := e.install(t, sandbox.ScopeContactsRead).RefreshToken
	e.s.RegisterOAuthClient("client-2", "secret-2")
	foreignCode := e.s.AuthorizationCode("client-2", e.loc, sandbox.ScopeContactsRead)
	usedCode := e.s.AuthorizationCode(testClientID, e.loc, sandbox.ScopeContactsRead)
	if status, _ := e.postToken(t, form("grant_type", "authorization_code", "code", usedCode)); status != http.StatusOK {
		t.Fatalf("first exchange: %d", status)
	}
	expiredCode := e.s.AuthorizationCode(testClientID, e.loc, sandbox.ScopeContactsRead)
	revokedLoc := e.other
	revokedCode := e.s.AuthorizationCode(testClientID, revokedLoc, sandbox.ScopeContactsRead)
	e.s.RevokeRefreshTokens(revokedLoc)

	tests := []struct {
		name       string
		form       url.Values
		before     func()
		wantStatus int
		wantError  string
	}{
		{name: "unknown client", form: form("client_id", "nobody", "grant_type", "refresh_token", "refresh_token", live),
			wantStatus: 401, wantError: "invalid_client"},
		{name: "wrong secret", form: form("client_secret", "wrong", "grant_type", "refresh_token", "refresh_token", live),
			wantStatus: 401, wantError: "invalid_client"},
		{name: "missing secret", form: form("client_secret", "", "grant_type", "refresh_token", "refresh_token", live),
			wantStatus: 400, wantError: "invalid_request"},
		{name: "missing user_type", form: form("user_type", "", "grant_type", "refresh_token", "refresh_token", live),
			wantStatus: 400, wantError: "invalid_request"},
		{name: "company user_type", form: form("user_type", "Company", "grant_type", "refresh_token", "refresh_token", live),
			wantStatus: 400, wantError: "invalid_request"},
		{name: "missing grant_type", form: form("refresh_token", live), wantStatus: 400, wantError: "invalid_request"},
		{name: "client_credentials", form: form("grant_type", "client_credentials"), wantStatus: 400, wantError: "unsupported_grant_type"},
		{name: "missing code", form: form("grant_type", "authorization_code"), wantStatus: 400, wantError: "invalid_request"},
		{name: "unknown code", form: form("grant_type", "authorization_code", "code", "code-nope"), wantStatus: 400, wantError: "invalid_grant"},
		{name: "used code", form: form("grant_type", "authorization_code", "code", usedCode), wantStatus: 400, wantError: "invalid_grant"},
		{name: "another client's code", form: form("grant_type", "authorization_code", "code", foreignCode), wantStatus: 400, wantError: "invalid_grant"},
		{name: "expired code", form: form("grant_type", "authorization_code", "code", expiredCode),
			before: func() { clock.Advance(11 * time.Minute) }, wantStatus: 400, wantError: "invalid_grant"},
		{name: "uninstalled location's code", form: form("grant_type", "authorization_code", "code", revokedCode), wantStatus: 400, wantError: "invalid_grant"},
		{name: "missing refresh token", form: form("grant_type", "refresh_token"), wantStatus: 400, wantError: "invalid_request"},
		{name: "unknown refresh token", form: form("grant_type", "refresh_token", "refresh_token", "rt-nope"), wantStatus: 400, wantError: "invalid_grant"},
		{name: "another client's refresh token", form: form("client_id", "client-2", "client_secret", "secret-2", "grant_type", "refresh_token", "refresh_token", live),
			wantStatus: 400, wantError: "invalid_grant"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.before != nil {
				tt.before()
			}
			status, a := e.postToken(t, tt.form)
			if status != tt.wantStatus || a.Error != tt.wantError || a.AccessToken != "" {
				t.Fatalf("got %d %+v, want %d %s", status, a, tt.wantStatus, tt.wantError)
			}
		})
	}
	// None of the refusals spent the live refresh token (not even another
	// client's attempt with it).
	if status, _ := e.postToken(t, form("grant_type", "refresh_token", "refresh_token", live)); status != http.StatusOK {
		t.Fatalf("live refresh token after the refusals: %d", status)
	}
	if e.s.Refreshes() != 1 {
		t.Fatalf("Refreshes %d, want 1", e.s.Refreshes())
	}
}

func TestOAuthRequestShape(t *testing.T) {
	e, _ := oauthEnv(t)
	t.Run("GET", func(t *testing.T) {
		resp, text := e.raw(t, http.MethodGet, "/oauth/token", map[string]string{}, "")
		if resp.StatusCode != http.StatusNotFound || !strings.Contains(text, "Cannot GET /oauth/token") {
			t.Fatalf("%d %s", resp.StatusCode, text)
		}
	})
	t.Run("JSON body", func(t *testing.T) {
		resp, text := e.raw(t, http.MethodPost, "/oauth/token", map[string]string{}, `{"grant_type":"refresh_token"}`)
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(text, `"error":"invalid_request"`) {
			t.Fatalf("%d %s", resp.StatusCode, text)
		}
	})
	t.Run("no code for unknown client or location", func(t *testing.T) {
		if c := e.s.AuthorizationCode("nobody", e.loc); c != "" {
			t.Errorf("code %q for an unregistered client", c)
		}
		if c := e.s.AuthorizationCode(testClientID, "no-such-location"); c != "" {
			t.Errorf("code %q for an unknown location", c)
		}
	})
}

func TestOAuthUninstall(t *testing.T) {
	e, _ := oauthEnv(t)
	a := e.install(t, sandbox.ScopeContactsRead)
	e.s.RevokeRefreshTokens(e.loc)
	status, b := e.postToken(t, form("grant_type", "refresh_token", "refresh_token", a.RefreshToken))
	if status != http.StatusBadRequest || b.Error != "invalid_grant" {
		t.Fatalf("refresh after uninstall: %d %+v", status, b)
	}
	// A new install works again.
	e.install(t, sandbox.ScopeContactsRead)
}

func TestOAuthAccessTokenExpiry(t *testing.T) {
	e, clock := oauthEnv(t)
	t.Run("lifetime", func(t *testing.T) {
		e.s.SetAccessTokenLifetime(time.Hour)
		t.Cleanup(func() { e.s.SetAccessTokenLifetime(0) })
		a := e.install(t, sandbox.ScopeContactsRead)
		if a.ExpiresIn != 3599 {
			t.Fatalf("expires_in %d, want 3599", a.ExpiresIn)
		}
		clock.Advance(59 * time.Minute)
		e.wantAPI(t, a.AccessToken, http.StatusOK, "")
		clock.Advance(time.Minute)
		e.wantAPI(t, a.AccessToken, http.StatusUnauthorized, invalidJWT)
		// The refresh token outlives its access token.
		if status, b := e.postToken(t, form("grant_type", "refresh_token", "refresh_token", a.RefreshToken)); status != http.StatusOK {
			t.Fatalf("refresh: %d %+v", status, b)
		} else {
			e.wantAPI(t, b.AccessToken, http.StatusOK, "")
		}
	})
	t.Run("ExpireAccessTokens", func(t *testing.T) {
		a := e.install(t, sandbox.ScopeContactsRead)
		e.wantAPI(t, a.AccessToken, http.StatusOK, "")
		e.s.ExpireAccessTokens(e.loc)
		e.wantAPI(t, a.AccessToken, http.StatusUnauthorized, invalidJWT)
		// The client sees a 401 it may refresh for, not a scope refusal.
		_, _, err := e.client(t, a.AccessToken).Contacts.Get(bg, e.seeded(t, 0).ID)
		wantMessage(t, wantErr(t, err, upstream.ErrUnauthorized), "Invalid JWT")
		// Seed tokens never expire; refresh tokens survive.
		e.wantAPI(t, e.s.DefaultToken(), http.StatusOK, "")
		status, b := e.postToken(t, form("grant_type", "refresh_token", "refresh_token", a.RefreshToken))
		if status != http.StatusOK {
			t.Fatalf("refresh: %d", status)
		}
		e.wantAPI(t, b.AccessToken, http.StatusOK, "")
	})
	t.Run("expired tokens are forgotten a day later", func(t *testing.T) {
		a := e.install(t, sandbox.ScopeContactsRead)
		e.s.ExpireAccessTokens(e.loc)
		clock.Advance(25 * time.Hour)
		e.install(t, sandbox.ScopeContactsRead) // a later issue prunes
		e.wantAPI(t, a.AccessToken, http.StatusUnauthorized, `{"statusCode":401,"message":"Invalid token: access token is invalid","error":"Unauthorized"}`)
	})
}
