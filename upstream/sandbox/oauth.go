// This file holds the sandbox's OAuth server: HighLevel's token endpoint
// (POST /oauth/token) with its authorization_code and refresh_token grants,
// rotating refresh tokens, access tokens that expire, and the knobs tests use
// to act as the consent page (AuthorizationCode), to uninstall an app
// (RevokeRefreshTokens) and to make access tokens die early
// (ExpireAccessTokens).
//
// The endpoint follows apps/oauth.json and RFC 6749's error answers: a
// form-encoded body with client_id, client_secret, grant_type and user_type,
// answered with HighLevel's token JSON. Each refresh returns a new refresh
// token and kills the one it was given, as HighLevel does, so a client that
// loses the new one loses the install.

package sandbox

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"fmt"
	"html/template"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

const (
	// oauthTokenPath is HighLevel's token endpoint.
	oauthTokenPath = "/oauth/token"
	// ConsentPath is the sandbox's marketplace consent page, HighLevel's
	// /oauth/chooselocation: a gateway in managed mode sends the admin's
	// browser there (its -oauth-auth-url) to install the app.
	ConsentPath = "/oauth/chooselocation"
	// DefaultAccessTokenLifetime is how long an access token issued by the
	// token endpoint works unless SetAccessTokenLifetime says otherwise: a
	// day, like HighLevel's.
	DefaultAccessTokenLifetime = 24 * time.Hour
	// authorizationCodeTTL is how long a code from AuthorizationCode may be
	// exchanged; the consent page's codes are short-lived.
	authorizationCodeTTL = 10 * time.Minute
	// expiredTokenRetention is how long an expired access token is still
	// recognised (and answered "Invalid JWT") before it is forgotten.
	expiredTokenRetention = 24 * time.Hour
	// maxTokenRequestBytes bounds the form of a token request.
	maxTokenRequestBytes = 64 << 10
)

// oauthGrant is what a code or a refresh token stands for: one install of a
// client on a location, with its scopes.
type oauthGrant struct {
	client   string
	location string
	scopes   []string // sorted, de-duplicated
}

// authCode is an authorization code not yet exchanged.
type authCode struct {
	grant   oauthGrant
	expires time.Time
}

// oauthServer is the token endpoint's state.
type oauthServer struct {
	mu       sync.Mutex
	clients  map[string]string // client ID → secret
	codes    map[string]authCode
	refresh  map[string]oauthGrant // live refresh tokens
	access   map[string][]string   // location → access tokens the endpoint issued
	lifetime time.Duration

	refreshes atomic.Int64
}

func newOAuthServer() *oauthServer {
	return &oauthServer{
		clients:  map[string]string{},
		codes:    map[string]authCode{},
		refresh:  map[string]oauthGrant{},
		access:   map[string][]string{},
		lifetime: DefaultAccessTokenLifetime,
	}
}

// RegisterOAuthClient registers a marketplace app's client ID and secret
// with the token endpoint (registering an ID again replaces its secret).
func (s *Server) RegisterOAuthClient(id, secret string) {
	s.oauth.mu.Lock()
	defer s.oauth.mu.Unlock()
	s.oauth.clients[id] = secret
}

// AuthorizationCode returns what HighLevel's consent page hands the app's
// redirect URI when a user installs the app clientID on locationID with the
// given scopes: a code the token endpoint exchanges once, within ten
// minutes. It returns "" for an unregistered client or an unknown location.
func (s *Server) AuthorizationCode(clientID, locationID string, scopes ...string) string {
	set, ok := s.scopeSet(locationID, scopes)
	if !ok {
		return ""
	}
	o := s.oauth
	o.mu.Lock()
	defer o.mu.Unlock()
	if _, ok := o.clients[clientID]; !ok {
		return ""
	}
	code := "code-" + rand.Text()
	o.codes[code] = authCode{grant: oauthGrant{client: clientID, location: locationID, scopes: set},
		expires: s.now().Add(authorizationCodeTTL)}
	return code
}

// InstallResult is what Install saw.
type InstallResult struct {
	// Consent is the consent page's URL, as the gateway built it.
	Consent *url.URL
	// Code is the authorization code handed to the callback.
	Code string
	// Status is the callback's answer.
	Status int
}

// Install plays the admin's browser and HighLevel's consent page for an
// app install that a gateway starts at installURL (its /oauth/install): it
// takes the redirect to the consent page, grants locationID the scopes
// asked for there to the client named there, and delivers the code and the
// state to callbackURL, with the cookies the install set.
func (s *Server) Install(installURL, callbackURL, locationID string) (InstallResult, error) {
	var out InstallResult
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := noRedirect.Get(installURL)
	if err != nil {
		return out, err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound {
		return out, fmt.Errorf("install: status %d, want a redirect to the consent page", resp.StatusCode)
	}
	if out.Consent, err = url.Parse(resp.Header.Get("Location")); err != nil {
		return out, fmt.Errorf("install: consent URL: %w", err)
	}
	q := out.Consent.Query()
	if q.Get("state") == "" {
		return out, fmt.Errorf("install: consent URL %s has no state", out.Consent)
	}
	out.Code = s.AuthorizationCode(q.Get("client_id"), locationID, strings.Fields(q.Get("scope"))...)
	if out.Code == "" {
		return out, fmt.Errorf("install: consent refused for client %q on location %q", q.Get("client_id"), locationID)
	}
	req, err := http.NewRequest(http.MethodGet, callbackURL+"?"+url.Values{"code": {out.Code}, "state": {q.Get("state")}}.Encode(), nil)
	if err != nil {
		return out, err
	}
	for _, c := range resp.Cookies() {
		req.AddCookie(c)
	}
	cb, err := http.DefaultClient.Do(req)
	if err != nil {
		return out, err
	}
	cb.Body.Close()
	out.Status = cb.StatusCode
	return out, nil
}

// SetAccessTokenLifetime sets how long later access tokens of the token
// endpoint work; d <= 0 restores DefaultAccessTokenLifetime. Tokens already
// issued keep their expiry.
func (s *Server) SetAccessTokenLifetime(d time.Duration) {
	if d <= 0 {
		d = DefaultAccessTokenLifetime
	}
	s.oauth.mu.Lock()
	defer s.oauth.mu.Unlock()
	s.oauth.lifetime = d
}

// Refreshes returns the number of successful refresh_token grants.
func (s *Server) Refreshes() int64 { return s.oauth.refreshes.Load() }

// RevokeRefreshTokens kills every refresh token and unexchanged code of the
// location, as an uninstall of the app does: a later refresh answers
// invalid_grant. Access tokens already issued work until they expire.
func (s *Server) RevokeRefreshTokens(locationID string) {
	o := s.oauth
	o.mu.Lock()
	defer o.mu.Unlock()
	for tok, g := range o.refresh {
		if g.location == locationID {
			delete(o.refresh, tok)
		}
	}
	for code, c := range o.codes {
		if c.grant.location == locationID {
			delete(o.codes, code)
		}
	}
}

// ExpireAccessTokens makes every access token the token endpoint issued for
// the location expired at once, so that the API answers 401 "Invalid JWT"
// to them: what a client sees when it holds a token past its lifetime, e.g.
// after a crash. Refresh tokens stay valid. Tokens from AccessToken and
// Token, which never expire, are not affected.
func (s *Server) ExpireAccessTokens(locationID string) {
	o := s.oauth
	o.mu.Lock()
	defer o.mu.Unlock()
	s.tokMu.Lock()
	defer s.tokMu.Unlock()
	now := s.now()
	for _, tok := range o.access[locationID] {
		if info, ok := s.tokens[tok]; ok && now.Before(info.expires) {
			info.expires = now
			s.tokens[tok] = info
		}
	}
}

// tokenAnswer is HighLevel's answer to a successful token request.
type tokenAnswer struct {
	AccessToken        string `json:"access_token"`
	TokenType          string `json:"token_type"`
	ExpiresIn          int64  `json:"expires_in"`
	RefreshToken       string `json:"refresh_token"`
	Scope              string `json:"scope"`
	UserType           string `json:"userType"`
	LocationID         string `json:"locationId"`
	CompanyID          string `json:"companyId"`
	UserID             string `json:"userId"`
	IsBulkInstallation bool   `json:"isBulkInstallation"`
}

// oauthErrorBody is RFC 6749's error answer.
type oauthErrorBody struct {
	Error       string `json:"error"`
	Description string `json:"error_description,omitempty"`
}

// writeOAuthError answers an RFC 6749 error.
func writeOAuthError(w http.ResponseWriter, status int, code, desc string) {
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, status, oauthErrorBody{Error: code, Description: desc})
}

// serveOAuthToken serves POST /oauth/token.
func (s *Server) serveOAuthToken(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		// NestJS's answer for a route it does not have with that method.
		writeJSON(w, http.StatusNotFound, errorBody{StatusCode: http.StatusNotFound, Message: "Cannot " + r.Method + " " + oauthTokenPath})
		return
	}
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "application/x-www-form-urlencoded" {
		writeOAuthError(w, http.StatusBadRequest, "invalid_request", "the body must be application/x-www-form-urlencoded")
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxTokenRequestBytes)
	if err := r.ParseForm(); err != nil {
		writeOAuthError(w, http.StatusBadRequest, "invalid_request", "the form cannot be read")
		return
	}
	f := r.PostForm
	clientID, secret := f.Get("client_id"), f.Get("client_secret")
	if clientID == "" || secret == "" {
		writeOAuthError(w, http.StatusBadRequest, "invalid_request", "client_id and client_secret are required")
		return
	}

	o := s.oauth
	o.mu.Lock()
	defer o.mu.Unlock()
	want, known := o.clients[clientID]
	if !known || subtle.ConstantTimeCompare([]byte(want), []byte(secret)) != 1 {
		writeOAuthError(w, http.StatusUnauthorized, "invalid_client", "unknown client or wrong client secret")
		return
	}
	grantType := f.Get("grant_type")
	switch grantType {
	case "authorization_code", "refresh_token":
	case "":
		writeOAuthError(w, http.StatusBadRequest, "invalid_request", "grant_type is required")
		return
	default:
		writeOAuthError(w, http.StatusBadRequest, "unsupported_grant_type", "grant_type must be authorization_code or refresh_token")
		return
	}
	switch ut := f.Get("user_type"); ut {
	case "Location":
	case "":
		writeOAuthError(w, http.StatusBadRequest, "invalid_request", "user_type is required")
		return
	default:
		writeOAuthError(w, http.StatusBadRequest, "invalid_request", "the sandbox issues user_type Location tokens only")
		return
	}

	now := s.now()
	var g oauthGrant
	if grantType == "authorization_code" {
		code := f.Get("code")
		if code == "" {
			writeOAuthError(w, http.StatusBadRequest, "invalid_request", "code is required")
			return
		}
		c, ok := o.codes[code]
		// A code is single use: it is spent by any attempt to exchange it.
		delete(o.codes, code)
		switch {
		case !ok || !now.Before(c.expires):
			writeOAuthError(w, http.StatusBadRequest, "invalid_grant", "the authorization code is invalid, expired or already used")
			return
		case c.grant.client != clientID:
			writeOAuthError(w, http.StatusBadRequest, "invalid_grant", "the authorization code was issued to another client")
			return
		}
		g = c.grant
	} else {
		rt := f.Get("refresh_token")
		if rt == "" {
			writeOAuthError(w, http.StatusBadRequest, "invalid_request", "refresh_token is required")
			return
		}
		got, ok := o.refresh[rt]
		switch {
		case !ok:
			writeOAuthError(w, http.StatusBadRequest, "invalid_grant", "the refresh token is invalid, already used or revoked")
			return
		case got.client != clientID:
			writeOAuthError(w, http.StatusBadRequest, "invalid_grant", "the refresh token was issued to another client")
			return
		}
		// Rotation: the refresh token given is dead from now on.
		delete(o.refresh, rt)
		o.refreshes.Add(1)
		g = got
	}

	refresh := "rt-" + rand.Text() + rand.Text()
	o.refresh[refresh] = g
	lifetime := o.lifetime
	expires := now.Add(lifetime)
	claims := s.jwtClaims(g.location, g.scopes, g.client, now)
	claims["exp"] = expires.Unix()
	// Unique per issue, so that a refresh never hands out a token equal to
	// one it replaces.
	claims["jti"] = rand.Text()
	access := s.signJWT(claims)
	o.access[g.location] = append(s.liveAccessTokens(o.access[g.location], now), access)
	s.issueUntil(access, g.location, g.scopes, expires)

	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, tokenAnswer{
		AccessToken:  access,
		TokenType:    "Bearer",
		ExpiresIn:    max(1, int64(lifetime/time.Second)-1), // HighLevel answers 86399 for its day
		RefreshToken: refresh,
		Scope:        strings.Join(g.scopes, " "),
		UserType:     "Location",
		LocationID:   g.location,
		CompanyID:    s.companyID(),
		UserID:       s.installerID(g.location),
	})
}

// liveAccessTokens drops the tokens of toks that expired over a day ago,
// from the list and from the token table, so that a long-running sandbox
// does not keep every token it ever issued; until then an expired token
// still gets its "Invalid JWT" answer. The caller holds oauth.mu.
func (s *Server) liveAccessTokens(toks []string, now time.Time) []string {
	s.tokMu.Lock()
	defer s.tokMu.Unlock()
	return slices.DeleteFunc(toks, func(tok string) bool {
		info, ok := s.tokens[tok]
		if ok && (info.expires.IsZero() || now.Sub(info.expires) < expiredTokenRetention) {
			return false
		}
		delete(s.tokens, tok)
		return true
	})
}

// companyID is the agency that owns the sandbox's locations, stable for a seed.
func (s *Server) companyID() string {
	return stableID(fmt.Sprintf("sandbox-company|%d", s.seed))
}

// installerID is the user who installed the app on the location, stable
// for a seed.
func (s *Server) installerID(locationID string) string {
	return stableID(fmt.Sprintf("sandbox-user|%d|%s", s.seed, locationID))
}

// stableID derives an ID of HighLevel's length (20 characters) from key.
func stableID(key string) string {
	sum := sha256.Sum256([]byte(key))
	return hex.EncodeToString(sum[:10])
}

// consentPage is the sandbox's install page: one button per location.
var consentPage = template.Must(template.New("consent").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Sandbox: install {{.Client}}</title>
<style>body{font-family:system-ui,sans-serif;max-width:40rem;margin:3rem auto;padding:0 1rem}
a.loc{display:block;margin:.5rem 0;padding:.75rem 1rem;border:1px solid #888;border-radius:.5rem;text-decoration:none}</style>
</head><body>
<h1>Install “{{.Client}}”</h1>
<p>This is the built-in sandbox playing HighLevel's marketplace consent page. The app asks for: <code>{{.Scope}}</code>.</p>
<p>Choose the location (sub-account) to install it on:</p>
{{range .Choices}}<a class="loc" href="{{.URL}}">Location <code>{{.ID}}</code></a>
{{end}}</body></html>
`))

// serveConsent serves GET /oauth/chooselocation: without a location
// parameter, the page of locations to choose from; with one (the choice),
// a redirect to the app's redirect_uri with a fresh authorization code
// and the state it was given, as HighLevel's page does once the user
// approves.
func (s *Server) serveConsent(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet {
		writeJSON(w, http.StatusNotFound, errorBody{StatusCode: http.StatusNotFound, Message: "Cannot " + r.Method + " " + ConsentPath})
		return
	}
	q := r.URL.Query()
	clientID, state, scope := q.Get("client_id"), q.Get("state"), q.Get("scope")
	redirect, err := url.Parse(q.Get("redirect_uri"))
	switch {
	case q.Get("response_type") != "code":
		http.Error(w, "response_type must be code", http.StatusBadRequest)
		return
	case err != nil || (redirect.Scheme != "http" && redirect.Scheme != "https") || redirect.Host == "":
		http.Error(w, "redirect_uri must be an absolute http(s) URL", http.StatusBadRequest)
		return
	}
	s.oauth.mu.Lock()
	_, known := s.oauth.clients[clientID]
	s.oauth.mu.Unlock()
	if !known {
		http.Error(w, fmt.Sprintf("no app with client_id %q is registered with the sandbox", clientID), http.StatusBadRequest)
		return
	}
	if loc := q.Get("location"); loc != "" {
		code := s.AuthorizationCode(clientID, loc, strings.Fields(scope)...)
		if code == "" {
			http.Error(w, fmt.Sprintf("the sandbox has no location %q", loc), http.StatusBadRequest)
			return
		}
		back := redirect.Query()
		back.Set("code", code)
		if state != "" {
			back.Set("state", state)
		}
		redirect.RawQuery = back.Encode()
		http.Redirect(w, r, redirect.String(), http.StatusFound)
		return
	}
	type choice struct{ ID, URL string }
	var choices []choice
	for _, loc := range s.Locations() {
		c := url.Values{}
		for k, v := range q {
			c[k] = v
		}
		c.Set("location", loc)
		choices = append(choices, choice{ID: loc, URL: ConsentPath + "?" + c.Encode()})
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	_ = consentPage.Execute(w, map[string]any{"Client": clientID, "Scope": scope, "Choices": choices})
}
