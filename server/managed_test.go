// Tests for managed mode end to end: the sandbox acts as HighLevel's OAuth
// server, an admin installs the app through the gateway's own routes, and
// clients use gateway API keys and JWTs bound to a location and a role.

package server

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/ghl-graphql/gateway/clientauth"
	"github.com/ghl-graphql/gateway/oauth"
	"github.com/ghl-graphql/gateway/upstream"
	"github.com/ghl-graphql/gateway/upstream/sandbox"
)

type managedEnv struct {
	sb       *sandbox.Server
	gw       *httptest.Server
	store    *oauth.MemoryStore
	locA     string
	locB     string
	writeKey string
	readKey  string
	keyB     string
	jwtKey   ed25519.PrivateKey
}

func newManagedEnv(t *testing.T) *managedEnv {
	t.Helper()
	sb, err := sandbox.New(sandbox.Config{Seed: 11, ContactsPerLocation: 10})
	if err != nil {
		t.Fatal(err)
	}
	sb.RegisterOAuthClient("client-1", "secret-1")
	up := httptest.NewServer(sb)
	t.Cleanup(up.Close)

	stateKey := make([]byte, 32)
	rand.Read(stateKey)
	store := oauth.NewMemoryStore()
	mgr, err := oauth.NewManager(oauth.Config{
		ClientID: "client-1", ClientSecret: "secret-1",
		RedirectURL: "http://gateway.test/oauth/callback",
		Scopes:      []string{"contacts.readonly", "contacts.write"},
		TokenURL:    up.URL + "/oauth/token", StateKey: stateKey,
	}, store)
	if err != nil {
		t.Fatal(err)
	}

	keys, err := clientauth.OpenKeyStore(filepath.Join(t.TempDir(), "keys.json"))
	if err != nil {
		t.Fatal(err)
	}
	locA, locB := sb.Locations()[0], sb.Locations()[1]
	writeKey, _, _ := keys.Create("backend", locA, clientauth.RoleWrite)
	readKey, _, _ := keys.Create("dashboard", locA, clientauth.RoleRead)
	keyB, _, _ := keys.Create("other", locB, clientauth.RoleWrite)

	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	der, _ := x509.MarshalPKIXPublicKey(pub)
	verifier, err := clientauth.NewJWTVerifier(context.Background(), clientauth.JWTConfig{
		PublicKeyPEM: pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}),
	})
	if err != nil {
		t.Fatal(err)
	}

	client, err := upstream.NewClient(upstream.WithBaseURL(up.URL))
	if err != nil {
		t.Fatal(err)
	}
	h, err := New(Config{Client: client, Managed: &Managed{OAuth: mgr, Clients: &clientauth.Authenticator{Keys: keys, JWT: verifier}}})
	if err != nil {
		t.Fatal(err)
	}
	gw := httptest.NewServer(h)
	t.Cleanup(gw.Close)
	e := &managedEnv{sb: sb, gw: gw, store: store, locA: locA, locB: locB, writeKey: writeKey, readKey: readKey, keyB: keyB, jwtKey: priv}
	e.install(t, locA)
	return e
}

// install runs the install flow through the gateway: /oauth/install, then
// the callback HighLevel's consent page would send the admin to.
func (e *managedEnv) install(t *testing.T, loc string) {
	t.Helper()
	res, err := e.sb.Install(e.gw.URL+"/oauth/install", e.gw.URL+"/oauth/callback", loc)
	if err != nil {
		t.Fatal(err)
	}
	if res.Consent.Query().Get("client_id") != "client-1" {
		t.Fatalf("consent URL %s", res.Consent)
	}
	if res.Status != http.StatusOK {
		t.Fatalf("callback: status %d", res.Status)
	}
}

func (e *managedEnv) jwtFor(t *testing.T, loc, role string) string {
	t.Helper()
	tok, err := jwt.NewWithClaims(jwt.SigningMethodEdDSA, jwt.MapClaims{
		"sub": "user-42", "locationId": loc, "role": role, "exp": time.Now().Add(time.Hour).Unix(),
	}).SignedString(e.jwtKey)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func (e *managedEnv) query(t *testing.T, token, q string) (int, result, string) {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"query": q})
	req, _ := http.NewRequest(http.MethodPost, e.gw.URL+GraphQLPath, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var buf bytes.Buffer
	buf.ReadFrom(resp.Body)
	var out result
	json.Unmarshal(buf.Bytes(), &out)
	return resp.StatusCode, out, buf.String()
}

func code(out result) any {
	if len(out.Errors) == 0 {
		return nil
	}
	return out.Errors[0].Extensions["code"]
}

func TestManagedMode(t *testing.T) {
	e := newManagedEnv(t)
	idA := e.sb.ContactIDs(e.locA)[0]
	idB := e.sb.ContactIDs(e.locB)[0]
	stored, err := e.store.Get(context.Background(), e.locA)
	if err != nil || stored.AccessToken == "" {
		t.Fatalf("install stored nothing: %v", err)
	}
	snapshot := `{ contact(id: "` + idA + `") { id name tasks { id } } }`
	mutation := `mutation { addContactTags(contactId: "` + idA + `", tags: ["managed"]) { tags } }`

	tests := map[string]struct {
		token      string
		query      string
		wantStatus int
		wantCode   any // nil for success
		zeroCalls  bool
	}{
		"write key reads":           {token: e.writeKey, query: snapshot, wantStatus: 200},
		"write key writes":          {token: e.writeKey, query: mutation, wantStatus: 200},
		"read key reads":            {token: e.readKey, query: snapshot, wantStatus: 200},
		"read key cannot write":     {token: e.readKey, query: mutation, wantStatus: 200, wantCode: "FORBIDDEN", zeroCalls: true},
		"JWT reads":                 {token: e.jwtFor(t, e.locA, "read"), query: snapshot, wantStatus: 200},
		"read JWT cannot write":     {token: e.jwtFor(t, e.locA, "read"), query: mutation, wantStatus: 200, wantCode: "FORBIDDEN", zeroCalls: true},
		"write JWT writes":          {token: e.jwtFor(t, e.locA, "write"), query: mutation, wantStatus: 200},
		"no credential":             {query: snapshot, wantStatus: 200, wantCode: "UNAUTHENTICATED", zeroCalls: true},
		"forged key":                {token: "gk_AAAAAAAAAAAA_" + strings.Repeat("x", 43), query: snapshot, wantStatus: 401, wantCode: "UNAUTHENTICATED", zeroCalls: true},
		"HighLevel token is no key": {token: stored.AccessToken, query: snapshot, wantStatus: 401, wantCode: "UNAUTHENTICATED", zeroCalls: true},
		"A's key, B's contact":      {token: e.writeKey, query: `{ contact(id: "` + idB + `") { id } }`, wantStatus: 200, wantCode: "NOT_FOUND"},
		"A's key names location B":  {token: e.writeKey, query: `{ contacts(locationId: "` + e.locB + `") { nodes { id } } }`, wantStatus: 200, wantCode: "FORBIDDEN", zeroCalls: true},
		"B not installed":           {token: e.keyB, query: `{ contact(id: "` + idB + `") { id } }`, wantStatus: 200, wantCode: "UNAUTHENTICATED", zeroCalls: true},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			before := e.sb.TotalCalls()
			status, out, raw := e.query(t, tc.token, tc.query)
			if status != tc.wantStatus || code(out) != tc.wantCode {
				t.Fatalf("status %d code %v, want %d %v: %s", status, code(out), tc.wantStatus, tc.wantCode, raw)
			}
			if tc.zeroCalls && e.sb.TotalCalls() != before {
				t.Errorf("refused request reached the upstream")
			}
			if strings.Contains(raw, stored.AccessToken) || strings.Contains(raw, stored.RefreshToken) {
				t.Errorf("a HighLevel token reached a client")
			}
		})
	}
	_, out, _ := e.query(t, e.keyB, `{ contact(id: "`+idB+`") { id } }`)
	if !strings.Contains(out.Errors[0].Message, "/oauth/install") {
		t.Errorf("not-installed message does not say what to do: %s", out.Errors[0].Message)
	}
}

func TestManagedModeNeedsReconsent(t *testing.T) {
	e := newManagedEnv(t)
	e.sb.RevokeRefreshTokens(e.locA) // the app was uninstalled at HighLevel
	e.sb.ExpireAccessTokens(e.locA)
	q := `{ contact(id: "` + e.sb.ContactIDs(e.locA)[1] + `") { id } }`
	_, out, _ := e.query(t, e.writeKey, q)
	if code(out) != "UNAUTHENTICATED" || !strings.Contains(out.Errors[0].Message, "consent") {
		t.Fatalf("after invalid_grant: %+v", out.Errors)
	}
	refreshes := e.sb.Refreshes()
	calls := e.sb.TotalCalls()
	_, out, _ = e.query(t, e.writeKey, q)
	if code(out) != "UNAUTHENTICATED" || e.sb.Refreshes() != refreshes || e.sb.TotalCalls() != calls {
		t.Errorf("a location needing consent was retried upstream: %+v", out.Errors)
	}
	// Installing again brings it back.
	e.install(t, e.locA)
	if _, out, _ := e.query(t, e.writeKey, q); len(out.Errors) != 0 {
		t.Errorf("after re-install: %+v", out.Errors)
	}
}
