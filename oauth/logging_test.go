// This file checks that the Manager's log, and the errors it returns,
// never hold a token, the client secret or an authorization code, across
// every path that logs: install, refused state, refresh, transient failure,
// a store that refuses the new pair, and invalid_grant.

package oauth

import (
	"context"
	"net/url"
	"strings"
	"testing"
)

func TestNoSecretsInLogs(t *testing.T) {
	e := newEnv(t)
	store := &faultyStore{MemoryStore: NewMemoryStore()}
	m := e.manager(store)
	secrets := map[string]string{"client secret": testClientSecret}
	var errs []string
	keep := func(what string, err error) {
		if err != nil {
			errs = append(errs, what+": "+err.Error())
		}
	}
	remember := func(prefix string) Tokens {
		tok, err := store.MemoryStore.Get(context.Background(), e.loc)
		if err != nil {
			t.Fatal(err)
		}
		secrets[prefix+" access token"] = tok.AccessToken
		secrets[prefix+" refresh token"] = tok.RefreshToken
		return tok
	}

	// Install, with the code remembered.
	state, cookie := startInstall(t, m)
	code := e.sb.AuthorizationCode(testClientID, e.loc, testScopes...)
	secrets["code"] = code
	secrets["state"] = state
	if rec := callback(t, m, url.Values{"code": {code}, "state": {state}}, cookie); rec.Code != 200 {
		t.Fatalf("callback %d", rec.Code)
	}
	installed := remember("installed")
	// A refused callback, and a replayed code.
	callback(t, m, url.Values{"code": {code}, "state": {"forged"}}, cookie)
	state2, cookie2 := startInstall(t, m)
	callback(t, m, url.Values{"code": {code}, "state": {state2}}, cookie2)

	// A transient failure, then a refresh.
	e.expire(installed.Expiry)
	e.failTokens.Store(1)
	_, err := m.Token(context.Background(), e.loc)
	keep("transient", err)
	_, err = m.Token(context.Background(), e.loc)
	keep("refresh", err)
	refreshed := remember("refreshed")

	// The store refuses the next pair: its tokens exist only in memory.
	e.expire(refreshed.Expiry)
	store.failPut.Store(true)
	_, err = m.Token(context.Background(), e.loc)
	keep("put failure", err)
	unsaved, _, _ := m.current(context.Background(), e.loc)
	secrets["unsaved access token"] = unsaved.AccessToken
	secrets["unsaved refresh token"] = unsaved.RefreshToken
	store.failPut.Store(false)
	_, err = m.Token(context.Background(), e.loc)
	keep("recovered", err)

	// 401 from the API, then invalid_grant.
	e.sb.ExpireAccessTokens(e.loc)
	keep("401", e.getContact(e.client(m, e.loc)))
	remember("after 401")
	e.sb.RevokeRefreshTokens(e.loc)
	e.sb.ExpireAccessTokens(e.loc)
	keep("invalid_grant via API", e.getContact(e.client(m, e.loc)))
	_, err = m.Token(context.Background(), e.loc)
	keep("invalid_grant", err)

	logs := e.logs.String()
	for _, want := range []string{"oauth: installed", "access token refreshed", "REFRESHED TOKENS NOT STORED", "needs a new install", "callback refused", "refresh failed", "stored after an earlier failure", "level=ERROR"} {
		if !strings.Contains(logs, want) {
			t.Errorf("the log lacks %q:\n%s", want, logs)
		}
	}
	if !strings.Contains(logs, e.loc) {
		t.Error("the log never names the location")
	}
	wantNoSecret(t, logs, secrets)
	wantNoSecret(t, strings.Join(errs, "\n"), secrets)
	if len(errs) < 3 {
		t.Errorf("expected errors from the failure paths, got %v", errs)
	}
}
