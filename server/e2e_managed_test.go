// End-to-end test of managed mode over every mutation: clients with the
// read role, by API key or JWT, are refused each one before any upstream
// call, while the write role gets through.

package server_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/ghl-graphql/gateway/clientauth"
	"github.com/ghl-graphql/gateway/oauth"
	"github.com/ghl-graphql/gateway/server"
	"github.com/ghl-graphql/gateway/upstream/sandbox"
)

// managedClients are the credentials of a managed gateway's clients.
type managedClients struct {
	readKey, writeKey string
	readJWT, writeJWT string
}

// newManagedE2E starts an e2e gateway in managed mode (the sandbox is
// HighLevel's OAuth server too), installs location A through the gateway's
// own routes, and returns clients of A with each role.
func newManagedE2E(t *testing.T) (*e2e, managedClients) {
	t.Helper()
	return newManagedE2EAt(t, nil)
}

// newManagedE2EAt is newManagedE2E with the OAuth manager's clock (nil:
// time.Now) and more options (not withServerFor, which it sets).
func newManagedE2EAt(t *testing.T, now func() time.Time, opts ...e2eOption) (*e2e, managedClients) {
	t.Helper()
	keys, err := clientauth.OpenKeyStore(filepath.Join(t.TempDir(), "keys.json"))
	if err != nil {
		t.Fatal(err)
	}
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	der, _ := x509.MarshalPKIXPublicKey(pub)
	verifier, err := clientauth.NewJWTVerifier(context.Background(), clientauth.JWTConfig{
		PublicKeyPEM: pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), Audience: "contacts-app",
	})
	if err != nil {
		t.Fatal(err)
	}
	e := newE2E(t, append(opts, withServerFor(func(cfg *server.Config, sb *sandbox.Server, upstreamURL string) {
		sb.RegisterOAuthClient("app", "app-secret")
		mgr, err := oauth.NewManager(oauth.Config{
			ClientID: "app", ClientSecret: "app-secret", RedirectURL: "http://gateway.test/oauth/callback",
			Scopes: []string{sandbox.ScopeContactsRead, sandbox.ScopeContactsWrite}, TokenURL: upstreamURL + "/oauth/token",
			Now: now,
		}, oauth.NewMemoryStore())
		if err != nil {
			t.Fatal(err)
		}
		cfg.Managed = &server.Managed{OAuth: mgr, Clients: &clientauth.Authenticator{Keys: keys, JWT: verifier}}
	}))...)

	// The admin's install through the gateway's routes.
	if res, err := e.sb.Install(e.gw.URL+"/oauth/install", e.gw.URL+"/oauth/callback", e.locA); err != nil || res.Status != http.StatusOK {
		t.Fatalf("install: status %d, %v", res.Status, err)
	}

	var c managedClients
	c.readKey, _, _ = keys.Create("dashboard", e.locA, clientauth.RoleRead)
	c.writeKey, _, _ = keys.Create("backend", e.locA, clientauth.RoleWrite)
	sign := func(role string) string {
		tok, err := jwt.NewWithClaims(jwt.SigningMethodEdDSA, jwt.MapClaims{
			"sub": "user-" + role, "aud": "contacts-app", "locationId": e.locA, "role": role,
			"exp": time.Now().Add(time.Hour).Unix(),
		}).SignedString(priv)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	c.readJWT, c.writeJWT = sign("read"), sign("write")
	return e, c
}

func TestE2EManagedReadRoleRefusedEveryMutation(t *testing.T) {
	t.Parallel()
	e, clients := newManagedE2E(t)
	f := e.setup(t)
	snapshot := e.contact(t, f.contactID)
	muts := mutationCases()
	for _, rc := range muts {
		field := strings.TrimPrefix(rc.field, "Mutation.")
		var vars map[string]any
		if rc.vars != nil {
			vars = rc.vars(e, f)
		}
		for who, cred := range map[string]string{"read key": clients.readKey, "read JWT": clients.readJWT} {
			t.Run(who+"/"+field, func(t *testing.T) {
				before := e.counters()
				r := e.send(request{token: cred, query: rc.query, vars: vars})
				e.wantNoCalls(t, before)
				ge := r.wantError(t, http.StatusOK, "FORBIDDEN", field)
				if !strings.Contains(ge.Message, "contacts.write") {
					t.Errorf("message %q does not say what is missing", ge.Message)
				}
			})
		}
	}
	for op := range muts {
		if n := e.sb.Applied(op); n != 0 {
			t.Errorf("%s applied %d times for read-role clients", op, n)
		}
	}
	if after := e.contact(t, f.contactID); !sameJSON(after, snapshot) {
		t.Errorf("the contact changed under read-role clients:\nbefore %+v\nafter  %+v", snapshot, after)
	}

	// The same clients read, and the write role writes, with the install's tokens.
	read := `query($id: ID!) { contact(id: $id) { id } }`
	for _, cred := range []string{clients.readKey, clients.readJWT} {
		e.send(request{token: cred, query: read, vars: map[string]any{"id": f.contactID}}).ok(t)
	}
	tag := `mutation($id: ID!, $t: String!) { addContactTags(contactId: $id, tags: [$t]) { tags } }`
	for i, cred := range []string{clients.writeKey, clients.writeJWT} {
		before := e.counters()
		e.send(request{token: cred, query: tag, vars: map[string]any{"id": f.contactID, "t": "managed-" + string(rune('a'+i))}}).ok(t)
		e.wantOnly(t, before, "add-tags")
	}
}

func TestE2EManagedThousandRequestsOneRefresh(t *testing.T) {
	t.Parallel()
	var skew atomic.Int64 // how far the manager's clock is ahead
	e, clients := newManagedE2EAt(t, func() time.Time { return time.Now().Add(time.Duration(skew.Load())) })
	ids := e.sb.ContactIDs(e.locA)
	// Full snapshots of every contact, uncached: 160 distinct upstream
	// reads, many of them in flight at once, each needing a token.
	snapshot := `query($id: ID!) { contact(id: $id) { id tasks { id } notes { id } appointments { id } } }`
	burst := func(t *testing.T) {
		t.Helper()
		calls := e.sb.TotalCalls()
		defer func() {
			// Not one coalesced call: every contact's four reads went up.
			if n := e.sb.TotalCalls() - calls; n < 4*int64(len(ids)) {
				t.Errorf("the burst made %d upstream calls, want at least %d", n, 4*len(ids))
			}
		}()
		var wg sync.WaitGroup
		var failed atomic.Int64
		var first atomic.Value
		for i := range 1000 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				r := e.send(request{token: clients.readKey, query: snapshot, vars: map[string]any{"id": ids[i%len(ids)]},
					header: http.Header{"Cache-Control": {"no-cache"}}})
				if r.Status != http.StatusOK || len(r.Errors) > 0 {
					failed.Add(1)
					first.CompareAndSwap(nil, r.Body)
				}
			}()
		}
		wg.Wait()
		if n := failed.Load(); n > 0 {
			t.Fatalf("%d of 1,000 requests failed, e.g. %v", n, first.Load())
		}
	}

	t.Run("the upstream says the token expired", func(t *testing.T) {
		e.sb.ExpireAccessTokens(e.locA) // 401 to every call with the old token
		before := e.sb.Refreshes()
		burst(t)
		if got := e.sb.Refreshes() - before; got != 1 {
			t.Errorf("1,000 concurrent requests after a 401: %d refreshes, want 1", got)
		}
	})
	t.Run("the gateway sees the token expire", func(t *testing.T) {
		skew.Store(int64(48 * time.Hour)) // past the access token's expiry
		before := e.sb.Refreshes()
		burst(t)
		if got := e.sb.Refreshes() - before; got != 1 {
			t.Errorf("1,000 concurrent requests with an expired token: %d refreshes, want 1", got)
		}
	})
}
