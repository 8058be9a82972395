// Tests of the Authenticator's routing: which header, which shape of
// token, which checker, and what a missing or ambiguous credential gives.

package clientauth

import (
	"errors"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/golang-jwt/jwt/v5"
)

func TestAuthenticatorRouting(t *testing.T) {
	t.Parallel()
	testKeys(t)
	clock := newFakeClock()
	ks := openTestStore(t, filepath.Join(t.TempDir(), "keys.json"), clock)
	apiKey, k := mustCreate(t, ks, "app", "locKey", RoleRead)
	srv := newJWKSServer(t, publicJWK("rsa1", rsaKey))
	v := newTestVerifier(t, srv, clock, nil)
	token := sign(t, jwt.SigningMethodRS256, rsaKey, "rsa1", claimsAt(clock.Now()))

	both := &Authenticator{Keys: ks, JWT: v}
	keyPrincipal := Principal{KindAPIKey, k.ID, "locKey", RoleRead}
	jwtPrincipal := Principal{KindJWT, "user-42", "locXYZ", RoleWrite}

	tests := []struct {
		name    string
		a       *Authenticator
		headers map[string]string
		want    Principal
		wantErr error
	}{
		{"api key as bearer", both, map[string]string{"Authorization": "Bearer " + apiKey}, keyPrincipal, nil},
		{"api key in X-API-Key", both, map[string]string{"X-API-Key": apiKey}, keyPrincipal, nil},
		{"lower-case scheme", both, map[string]string{"Authorization": "bearer " + apiKey}, keyPrincipal, nil},
		{"jwt as bearer", both, map[string]string{"Authorization": "Bearer " + token}, jwtPrincipal, nil},
		{"no credential", both, nil, Principal{}, ErrNoCredential},
		{"blank headers", both, map[string]string{"Authorization": "  ", "X-API-Key": ""}, Principal{}, ErrNoCredential},
		{"both headers", both, map[string]string{"Authorization": "Bearer " + token, "X-API-Key": apiKey}, Principal{}, ErrInvalidCredential},
		{"basic scheme", both, map[string]string{"Authorization": "Basic dXNlcjpwYXNz"}, Principal{}, ErrInvalidCredential},
		{"bearer without token", both, map[string]string{"Authorization": "Bearer"}, Principal{}, ErrInvalidCredential},
		{"bearer with two tokens", both, map[string]string{"Authorization": "Bearer " + apiKey + " " + apiKey}, Principal{}, ErrInvalidCredential},
		{"opaque token", both, map[string]string{"Authorization": "Bearer pit-1234567890"}, Principal{}, ErrInvalidCredential},
		{"one dot", both, map[string]string{"Authorization": "Bearer a.b"}, Principal{}, ErrInvalidCredential},
		{"three dots", both, map[string]string{"Authorization": "Bearer a.b.c.d"}, Principal{}, ErrInvalidCredential},
		{"jwt in X-API-Key", both, map[string]string{"X-API-Key": token}, Principal{}, ErrInvalidCredential},
		{"bad api key", both, map[string]string{"Authorization": "Bearer gk_nope"}, Principal{}, ErrInvalidCredential},
		{"keys disabled", &Authenticator{JWT: v}, map[string]string{"Authorization": "Bearer " + apiKey}, Principal{}, ErrInvalidCredential},
		{"keys disabled, X-API-Key", &Authenticator{JWT: v}, map[string]string{"X-API-Key": apiKey}, Principal{}, ErrInvalidCredential},
		{"jwt disabled", &Authenticator{Keys: ks}, map[string]string{"Authorization": "Bearer " + token}, Principal{}, ErrInvalidCredential},
		{"jwt only", &Authenticator{JWT: v}, map[string]string{"Authorization": "Bearer " + token}, jwtPrincipal, nil},
		{"nothing enabled", &Authenticator{}, map[string]string{"Authorization": "Bearer " + token}, Principal{}, ErrInvalidCredential},
		// Length caps (issue 10): a credential over MaxTokenBytes is refused
		// before it is parsed, whatever it holds.
		{"jwt at the length limit", &Authenticator{JWT: v, MaxTokenBytes: len(token)}, map[string]string{"Authorization": "Bearer " + token}, jwtPrincipal, nil},
		{"jwt one byte over the limit", &Authenticator{JWT: v, MaxTokenBytes: len(token) - 1}, map[string]string{"Authorization": "Bearer " + token}, Principal{}, ErrInvalidCredential},
		{"api key over the limit", &Authenticator{Keys: ks, MaxTokenBytes: len(apiKey) - 1}, map[string]string{"X-API-Key": apiKey}, Principal{}, ErrInvalidCredential},
		{"900 KB bearer, default limit", both, map[string]string{"Authorization": "Bearer " + strings.Repeat("a", 900<<10) + ".b.c"}, Principal{}, ErrInvalidCredential},
		{"900 KB X-API-Key, default limit", both, map[string]string{"X-API-Key": "gk_" + strings.Repeat("a", 900<<10)}, Principal{}, ErrInvalidCredential},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest("POST", "/graphql", nil)
			for h, val := range tc.headers {
				r.Header.Set(h, val)
			}
			p, err := tc.a.Authenticate(t.Context(), r)
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("Authenticate = %+v, %v; want %v", p, err, tc.wantErr)
				}
				if errors.Is(tc.wantErr, ErrNoCredential) == errors.Is(err, ErrInvalidCredential) {
					t.Errorf("error %v is both or neither of no/invalid credential", err)
				}
				return
			}
			if err != nil || p != tc.want {
				t.Fatalf("Authenticate = %+v, %v; want %+v", p, err, tc.want)
			}
		})
	}
}

func TestPrincipalContext(t *testing.T) {
	t.Parallel()
	if _, ok := PrincipalFromContext(t.Context()); ok {
		t.Error("empty context has a principal")
	}
	p := Principal{KindJWT, "s", "loc", RoleWrite}
	got, ok := PrincipalFromContext(WithPrincipal(t.Context(), p))
	if !ok || got != p || !got.CanWrite() {
		t.Errorf("PrincipalFromContext = %+v, %v", got, ok)
	}
	if (Principal{Role: RoleRead}).CanWrite() || (Principal{}).CanWrite() {
		t.Error("a read or empty principal can write")
	}
}
