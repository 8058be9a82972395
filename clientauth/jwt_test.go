// Tests of the JWT verifier: the three accepted key types, every claim
// check, the algorithm-confusion attacks, the PEM path and the JWK Set
// cache (refresh on unknown kid, periodic refresh, rate limiting, stale
// keys kept on failure), all against a loopback httptest server and an
// injected clock.

package clientauth

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/ghl-graphql/gateway/internal/fakeclock"
)

// Keys are made once: RSA generation is slow under -race.
var (
	testKeysOnce sync.Once
	rsaKey       *rsa.PrivateKey
	rsaKey2      *rsa.PrivateKey
	rsaAttacker  *rsa.PrivateKey
	ecKey        *ecdsa.PrivateKey
	edKey        ed25519.PrivateKey
)

func testKeys(t testing.TB) {
	t.Helper()
	testKeysOnce.Do(func() {
		var err error
		must := func(e error) {
			if e != nil && err == nil {
				err = e
			}
		}
		var e error
		rsaKey, e = rsa.GenerateKey(rand.Reader, 2048)
		must(e)
		rsaKey2, e = rsa.GenerateKey(rand.Reader, 2048)
		must(e)
		rsaAttacker, e = rsa.GenerateKey(rand.Reader, 2048)
		must(e)
		ecKey, e = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		must(e)
		_, edKey, e = ed25519.GenerateKey(rand.Reader)
		must(e)
		if err != nil {
			panic(err)
		}
	})
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

// publicJWK renders k's public half as a JWK.
func publicJWK(kid string, k crypto.PrivateKey) map[string]any {
	switch k := k.(type) {
	case *rsa.PrivateKey:
		return map[string]any{"kty": "RSA", "kid": kid, "use": "sig", "alg": "RS256",
			"n": b64(k.N.Bytes()), "e": b64(big.NewInt(int64(k.E)).Bytes())}
	case *ecdsa.PrivateKey:
		pt, _ := k.PublicKey.Bytes() // 0x04 || x || y
		return map[string]any{"kty": "EC", "kid": kid, "crv": "P-256", "x": b64(pt[1:33]), "y": b64(pt[33:])}
	case ed25519.PrivateKey:
		return map[string]any{"kty": "OKP", "kid": kid, "crv": "Ed25519", "x": b64(k.Public().(ed25519.PublicKey))}
	}
	panic("unsupported key")
}

func publicPEM(t testing.TB, k crypto.PrivateKey) []byte {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(k.(crypto.Signer).Public())
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
}

// jwksServer serves a JWK Set that tests change, counting fetches.
type jwksServer struct {
	*httptest.Server
	mu     sync.Mutex
	keys   []map[string]any
	status int
	hits   atomic.Int32
	block  chan struct{} // when non-nil, requests wait on it
	// arrived gets a value when a request starts waiting on block.
	arrived chan struct{}
}

func newJWKSServer(t *testing.T, keys ...map[string]any) *jwksServer {
	t.Helper()
	s := &jwksServer{keys: keys, status: http.StatusOK, arrived: make(chan struct{}, 16)}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.hits.Add(1)
		s.mu.Lock()
		block, status := s.block, s.status
		body, _ := json.Marshal(map[string]any{"keys": s.keys})
		s.mu.Unlock()
		if block != nil {
			s.arrived <- struct{}{}
			select {
			case <-block:
			case <-r.Context().Done():
				return
			}
		}
		w.Header().Set("Content-Type", "application/jwk-set+json")
		w.WriteHeader(status)
		w.Write(body)
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *jwksServer) setKeys(keys ...map[string]any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.keys = keys
}

func (s *jwksServer) setStatus(code int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.status = code
}

const (
	testIssuer   = "https://id.example.test/"
	testAudience = "ghl-gateway"
)

// claimsAt returns valid claims for a token issued at now.
func claimsAt(now time.Time) jwt.MapClaims {
	return jwt.MapClaims{
		"sub":        "user-42",
		"iss":        testIssuer,
		"aud":        testAudience,
		"iat":        now.Unix(),
		"exp":        now.Add(time.Hour).Unix(),
		"locationId": "locXYZ",
		"role":       "write",
	}
}

func sign(t testing.TB, method jwt.SigningMethod, key any, kid string, claims jwt.MapClaims) string {
	t.Helper()
	tok := jwt.NewWithClaims(method, claims)
	if kid != "" {
		tok.Header["kid"] = kid
	}
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatalf("sign %s: %v", method.Alg(), err)
	}
	return s
}

// newTestVerifier builds a verifier on srv with clock and the test
// issuer/audience.
func newTestVerifier(t *testing.T, srv *jwksServer, clock *fakeclock.Clock, tweak func(*JWTConfig)) *JWTVerifier {
	t.Helper()
	cfg := JWTConfig{
		JWKSURL:    srv.URL + "/.well-known/jwks.json",
		Issuer:     testIssuer,
		Audience:   testAudience,
		HTTPClient: srv.Client(),
		Now:        clock.Now,
	}
	if tweak != nil {
		tweak(&cfg)
	}
	v, err := NewJWTVerifier(t.Context(), cfg)
	if err != nil {
		t.Fatalf("NewJWTVerifier: %v", err)
	}
	return v
}

func TestJWTVerifyAccepts(t *testing.T) {
	t.Parallel()
	testKeys(t)
	clock := newFakeClock()
	srv := newJWKSServer(t, publicJWK("rsa1", rsaKey), publicJWK("ec1", ecKey), publicJWK("ed1", edKey))
	v := newTestVerifier(t, srv, clock, nil)
	now := clock.Now()

	within := claimsAt(now)
	within["exp"] = now.Add(-10 * time.Second).Unix() // inside the 30s leeway
	audList := claimsAt(now)
	audList["aud"] = []string{"other", testAudience}
	readRole := claimsAt(now)
	readRole["role"] = "read"

	tests := []struct {
		name  string
		token string
		want  Principal
	}{
		{"RS256", sign(t, jwt.SigningMethodRS256, rsaKey, "rsa1", claimsAt(now)), Principal{KindJWT, "user-42", "locXYZ", RoleWrite}},
		{"ES256", sign(t, jwt.SigningMethodES256, ecKey, "ec1", claimsAt(now)), Principal{KindJWT, "user-42", "locXYZ", RoleWrite}},
		{"EdDSA", sign(t, jwt.SigningMethodEdDSA, edKey, "ed1", claimsAt(now)), Principal{KindJWT, "user-42", "locXYZ", RoleWrite}},
		{"no kid tries the keys of its alg", sign(t, jwt.SigningMethodES256, ecKey, "", claimsAt(now)), Principal{KindJWT, "user-42", "locXYZ", RoleWrite}},
		{"expired within leeway", sign(t, jwt.SigningMethodRS256, rsaKey, "rsa1", within), Principal{KindJWT, "user-42", "locXYZ", RoleWrite}},
		{"audience list", sign(t, jwt.SigningMethodRS256, rsaKey, "rsa1", audList), Principal{KindJWT, "user-42", "locXYZ", RoleWrite}},
		{"read role", sign(t, jwt.SigningMethodRS256, rsaKey, "rsa1", readRole), Principal{KindJWT, "user-42", "locXYZ", RoleRead}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, err := v.Verify(t.Context(), tc.token)
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if p != tc.want {
				t.Errorf("Principal = %+v, want %+v", p, tc.want)
			}
		})
	}
	if n := srv.hits.Load(); n != 1 {
		t.Errorf("JWK Set fetched %d times, want 1 (cached)", n)
	}
}

// hs256WithKeyBytes forges the classic confusion attack: an HS256 token
// whose HMAC key is the verifier's public key bytes.
func hs256WithKeyBytes(t testing.TB, secret []byte, kid string, claims jwt.MapClaims) string {
	t.Helper()
	return sign(t, jwt.SigningMethodHS256, secret, kid, claims)
}

func noneToken(t testing.TB, kid string, claims jwt.MapClaims) string {
	t.Helper()
	return sign(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, kid, claims)
}

func TestJWTVerifyRefuses(t *testing.T) {
	t.Parallel()
	testKeys(t)
	clock := newFakeClock()
	srv := newJWKSServer(t, publicJWK("rsa1", rsaKey), publicJWK("ec1", ecKey),
		// A symmetric key in the set must never become a verification key.
		map[string]any{"kty": "oct", "kid": "hmac", "k": b64([]byte("shared-secret-shared-secret-1234"))},
		// Nor an encryption key.
		func() map[string]any { j := publicJWK("enc1", rsaKey2); j["use"] = "enc"; return j }(),
	)
	v := newTestVerifier(t, srv, clock, nil)
	now := clock.Now()
	with := func(mod func(jwt.MapClaims)) jwt.MapClaims {
		c := claimsAt(now)
		mod(c)
		return c
	}
	rs := func(c jwt.MapClaims) string { return sign(t, jwt.SigningMethodRS256, rsaKey, "rsa1", c) }

	tests := []struct {
		name  string
		token string
	}{
		{"expired", rs(with(func(c jwt.MapClaims) { c["exp"] = now.Add(-time.Minute).Unix() }))},
		{"no exp", rs(with(func(c jwt.MapClaims) { delete(c, "exp") }))},
		{"not yet valid", rs(with(func(c jwt.MapClaims) { c["nbf"] = now.Add(time.Minute).Unix() }))},
		{"wrong issuer", rs(with(func(c jwt.MapClaims) { c["iss"] = "https://evil.test/" }))},
		{"no issuer", rs(with(func(c jwt.MapClaims) { delete(c, "iss") }))},
		{"wrong audience", rs(with(func(c jwt.MapClaims) { c["aud"] = "another-app" }))},
		{"no audience", rs(with(func(c jwt.MapClaims) { delete(c, "aud") }))},
		{"no sub", rs(with(func(c jwt.MapClaims) { delete(c, "sub") }))},
		{"sub with newline", rs(with(func(c jwt.MapClaims) { c["sub"] = "user\nFAKE audit line" }))},
		{"missing location", rs(with(func(c jwt.MapClaims) { delete(c, "locationId") }))},
		{"empty location", rs(with(func(c jwt.MapClaims) { c["locationId"] = "" }))},
		{"numeric location", rs(with(func(c jwt.MapClaims) { c["locationId"] = 123 }))},
		{"location with path", rs(with(func(c jwt.MapClaims) { c["locationId"] = "../admin" }))},
		{"missing role", rs(with(func(c jwt.MapClaims) { delete(c, "role") }))},
		{"bad role", rs(with(func(c jwt.MapClaims) { c["role"] = "admin" }))},
		{"role in capitals", rs(with(func(c jwt.MapClaims) { c["role"] = "Write" }))},
		{"role as list", rs(with(func(c jwt.MapClaims) { c["role"] = []string{"write"} }))},
		{"wrong key, right kid", sign(t, jwt.SigningMethodRS256, rsaAttacker, "rsa1", claimsAt(now))},
		{"wrong key, no kid", sign(t, jwt.SigningMethodRS256, rsaAttacker, "", claimsAt(now))},
		{"unknown kid", sign(t, jwt.SigningMethodRS256, rsaAttacker, "attacker", claimsAt(now))},
		{"encryption key", sign(t, jwt.SigningMethodRS256, rsaKey2, "enc1", claimsAt(now))},
		{"alg none", noneToken(t, "rsa1", claimsAt(now))},
		{"alg none without kid", noneToken(t, "", claimsAt(now))},
		{"HS256 keyed with the public PEM", hs256WithKeyBytes(t, publicPEM(t, rsaKey), "rsa1", claimsAt(now))},
		{"HS256 keyed with the modulus", hs256WithKeyBytes(t, rsaKey.N.Bytes(), "rsa1", claimsAt(now))},
		{"HS256 keyed with an oct JWK", hs256WithKeyBytes(t, []byte("shared-secret-shared-secret-1234"), "hmac", claimsAt(now))},
		{"ES256 under an RSA kid", sign(t, jwt.SigningMethodES256, ecKey, "rsa1", claimsAt(now))},
		{"RS256 under an EC kid", sign(t, jwt.SigningMethodRS256, rsaKey, "ec1", claimsAt(now))},
		{"PS256 (not accepted)", sign(t, jwt.SigningMethodPS256, rsaKey, "rsa1", claimsAt(now))},
		{"RS512 (not accepted)", sign(t, jwt.SigningMethodRS512, rsaKey, "rsa1", claimsAt(now))},
		{"kid not a string", func() string {
			tok := jwt.NewWithClaims(jwt.SigningMethodRS256, claimsAt(now))
			tok.Header["kid"] = 7
			s, _ := tok.SignedString(rsaKey)
			return s
		}()},
		{"tampered payload", func() string {
			parts := strings.Split(rs(claimsAt(now)), ".")
			c := claimsAt(now)
			c["role"] = "write"
			c["locationId"] = "otherLoc"
			b, _ := json.Marshal(c)
			parts[1] = b64(b)
			return strings.Join(parts, ".")
		}()},
		{"garbage", "a.b.c"},
		{"empty", ""},
		{"huge", strings.Repeat("a", maxJWTLen) + ".b.c"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, err := v.Verify(t.Context(), tc.token)
			if !errors.Is(err, ErrInvalidCredential) {
				t.Fatalf("Verify = %+v, %v; want ErrInvalidCredential", p, err)
			}
			t.Logf("refused: %v", err)
			if p != (Principal{}) {
				t.Errorf("a refusal returned principal %+v", p)
			}
		})
	}
}

func TestJWTVerifierWithoutIssuerOrAudience(t *testing.T) {
	t.Parallel()
	testKeys(t)
	clock := newFakeClock()
	srv := newJWKSServer(t, publicJWK("rsa1", rsaKey))
	v := newTestVerifier(t, srv, clock, func(c *JWTConfig) {
		c.Issuer, c.Audience = "", ""
		c.LocationClaim, c.RoleClaim = "https://app.test/location", "gw_role"
		c.Leeway = -1 // none
	})
	c := claimsAt(clock.Now())
	delete(c, "iss")
	delete(c, "aud")
	c["https://app.test/location"], c["gw_role"] = "locCustom", "read"
	p, err := v.Verify(t.Context(), sign(t, jwt.SigningMethodRS256, rsaKey, "rsa1", c))
	if err != nil || p.LocationID != "locCustom" || p.Role != RoleRead {
		t.Fatalf("Verify with custom claims = %+v, %v", p, err)
	}
	// The default claim names no longer count.
	if _, err := v.Verify(t.Context(), sign(t, jwt.SigningMethodRS256, rsaKey, "rsa1", claimsAt(clock.Now()))); !errors.Is(err, ErrInvalidCredential) {
		t.Errorf("token with only the default claim names accepted: %v", err)
	}
	// With no leeway, a token one second past exp is refused.
	c["exp"] = clock.Now().Add(-time.Second).Unix()
	if _, err := v.Verify(t.Context(), sign(t, jwt.SigningMethodRS256, rsaKey, "rsa1", c)); !errors.Is(err, ErrInvalidCredential) {
		t.Errorf("expired token accepted with no leeway: %v", err)
	}
}

// TestJWKSRefreshOnUnknownKID covers a key rotation: a token with a kid
// the cache lacks triggers a fetch, at most once per cooldown.
func TestJWKSRefreshOnUnknownKID(t *testing.T) {
	t.Parallel()
	testKeys(t)
	clock := newFakeClock()
	srv := newJWKSServer(t, publicJWK("rsa1", rsaKey))
	v := newTestVerifier(t, srv, clock, func(c *JWTConfig) { c.JWKSRefreshCooldown = time.Minute })
	tok2 := sign(t, jwt.SigningMethodRS256, rsaKey2, "rsa2", claimsAt(clock.Now()))

	// The provider has not published rsa2 yet: refused. The start-up
	// fetch was just now, so the cooldown keeps this from fetching.
	if _, err := v.Verify(t.Context(), tok2); !errors.Is(err, ErrInvalidCredential) {
		t.Fatalf("token of an unpublished key accepted: %v", err)
	}
	if n := srv.hits.Load(); n != 1 {
		t.Fatalf("fetches = %d, want 1 (cooldown)", n)
	}

	srv.setKeys(publicJWK("rsa1", rsaKey), publicJWK("rsa2", rsaKey2))
	clock.Advance(30 * time.Second)
	if _, err := v.Verify(t.Context(), tok2); !errors.Is(err, ErrInvalidCredential) {
		t.Fatalf("unknown kid refreshed within the cooldown: %v", err)
	}
	if n := srv.hits.Load(); n != 1 {
		t.Fatalf("fetches = %d, want 1 (still in cooldown)", n)
	}

	clock.Advance(30 * time.Second)
	p, err := v.Verify(t.Context(), tok2)
	if err != nil || p.Subject != "user-42" {
		t.Fatalf("after the cooldown the rotated key was not picked up: %+v, %v", p, err)
	}
	if n := srv.hits.Load(); n != 2 {
		t.Fatalf("fetches = %d, want 2", n)
	}

	// Made-up kids right after a fetch cost no fetch at all.
	for i := range 20 {
		tok := sign(t, jwt.SigningMethodRS256, rsaAttacker, "junk"+string(rune('a'+i)), claimsAt(clock.Now()))
		if _, err := v.Verify(t.Context(), tok); !errors.Is(err, ErrInvalidCredential) {
			t.Fatalf("junk kid accepted: %v", err)
		}
	}
	if n := srv.hits.Load(); n != 2 {
		t.Errorf("junk kids caused %d fetches, want none", n-2)
	}
}

// TestJWKSPeriodicRefresh checks that a key withdrawn from the set stops
// verifying once the cache is older than the refresh interval, and that a
// failed refresh keeps the keys it had.
func TestJWKSPeriodicRefresh(t *testing.T) {
	t.Parallel()
	testKeys(t)
	clock := newFakeClock()
	srv := newJWKSServer(t, publicJWK("rsa1", rsaKey), publicJWK("rsa2", rsaKey2))
	v := newTestVerifier(t, srv, clock, func(c *JWTConfig) {
		c.JWKSRefreshInterval = 10 * time.Minute
		c.JWKSRefreshCooldown = time.Minute
	})
	verify := func(key *rsa.PrivateKey, kid string) error {
		c := claimsAt(clock.Now())
		_, err := v.Verify(t.Context(), sign(t, jwt.SigningMethodRS256, key, kid, c))
		return err
	}

	// The provider is down at refresh time: the keys it had still verify.
	srv.setStatus(http.StatusServiceUnavailable)
	clock.Advance(10 * time.Minute)
	if err := verify(rsaKey2, "rsa2"); err != nil {
		t.Fatalf("a failed refresh dropped the cached keys: %v", err)
	}
	if n := srv.hits.Load(); n != 2 {
		t.Fatalf("fetches = %d, want 2 (one periodic attempt)", n)
	}
	// Further requests within the cooldown do not hammer the provider.
	for range 5 {
		if err := verify(rsaKey, "rsa1"); err != nil {
			t.Fatal(err)
		}
	}
	if n := srv.hits.Load(); n != 2 {
		t.Fatalf("fetches = %d, want 2 (cooldown after a failure)", n)
	}

	// The provider is back and has withdrawn rsa2.
	srv.setStatus(http.StatusOK)
	srv.setKeys(publicJWK("rsa1", rsaKey))
	clock.Advance(time.Minute)
	if err := verify(rsaKey2, "rsa2"); !errors.Is(err, ErrInvalidCredential) {
		t.Fatalf("withdrawn key still verifies after the refresh: %v", err)
	}
	if err := verify(rsaKey, "rsa1"); err != nil {
		t.Fatalf("remaining key refused: %v", err)
	}
}

// TestJWKSFetchIsContextBounded checks that a caller whose context ends
// stops waiting for a slow JWK Set, that the fetch it started goes on and
// serves the others without a second fetch, and that a caller whose
// context is already over starts no fetch at all.
func TestJWKSFetchIsContextBounded(t *testing.T) {
	t.Parallel()
	testKeys(t)
	clock := newFakeClock()
	srv := newJWKSServer(t, publicJWK("rsa1", rsaKey))
	v := newTestVerifier(t, srv, clock, nil)

	release := make(chan struct{})
	srv.mu.Lock()
	srv.block = release
	srv.keys = append(srv.keys, publicJWK("rsa2", rsaKey2))
	srv.mu.Unlock()
	clock.Advance(defaultJWKSCD)
	tok2 := sign(t, jwt.SigningMethodRS256, rsaKey2, "rsa2", claimsAt(clock.Now()))

	over, cancelOver := context.WithCancel(t.Context())
	cancelOver()
	if _, err := v.Verify(over, tok2); !errors.Is(err, ErrInvalidCredential) || !errors.Is(err, context.Canceled) {
		t.Fatalf("Verify with an ended context = %v, want ErrInvalidCredential wrapping context.Canceled", err)
	}
	if n := srv.hits.Load(); n != 1 {
		t.Fatalf("an ended context started a fetch (%d fetches)", n)
	}

	impatient, cancel := context.WithCancel(t.Context())
	impatientDone := make(chan error, 1)
	go func() {
		_, err := v.Verify(impatient, tok2)
		impatientDone <- err
	}()
	<-srv.arrived // the fetch is under way and stuck
	cancel()
	if err := <-impatientDone; !errors.Is(err, ErrInvalidCredential) || !errors.Is(err, context.Canceled) {
		t.Fatalf("impatient Verify = %v, want ErrInvalidCredential wrapping context.Canceled", err)
	}

	patientDone := make(chan error, 1)
	go func() {
		_, err := v.Verify(t.Context(), tok2)
		patientDone <- err
	}()
	close(release)
	if err := <-patientDone; err != nil {
		t.Fatalf("Verify sharing the slow fetch: %v", err)
	}
	if n := srv.hits.Load(); n != 2 {
		t.Errorf("fetches = %d, want 2: the patient caller should use the running fetch", n)
	}
}

func TestJWTConcurrentVerify(t *testing.T) {
	t.Parallel()
	testKeys(t)
	clock := newFakeClock()
	srv := newJWKSServer(t, publicJWK("rsa1", rsaKey), publicJWK("ec1", ecKey))
	v := newTestVerifier(t, srv, clock, func(c *JWTConfig) { c.JWKSRefreshCooldown = time.Millisecond })
	good := sign(t, jwt.SigningMethodES256, ecKey, "ec1", claimsAt(clock.Now()))
	var wg sync.WaitGroup
	errs := make(chan error, 400)
	for i := range 8 {
		wg.Go(func() {
			for j := range 25 {
				if _, err := v.Verify(t.Context(), good); err != nil {
					errs <- err
				}
				// Unknown kids and clock moves force refreshes to race
				// with the verifications.
				bad := sign(t, jwt.SigningMethodES256, ecKey, "nope", claimsAt(clock.Now()))
				if _, err := v.Verify(t.Context(), bad); !errors.Is(err, ErrInvalidCredential) {
					errs <- err
				}
				if (i+j)%5 == 0 {
					clock.Advance(time.Millisecond)
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func TestJWTVerifierFromPEM(t *testing.T) {
	t.Parallel()
	testKeys(t)
	clock := newFakeClock()
	now := clock.Now()

	cert := func() []byte {
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "idp"},
			NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour)}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, ecKey.Public(), ecKey)
		if err != nil {
			t.Fatal(err)
		}
		return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	}()
	pkcs1 := pem.EncodeToMemory(&pem.Block{Type: "RSA PUBLIC KEY", Bytes: x509.MarshalPKCS1PublicKey(&rsaKey.PublicKey)})

	tests := []struct {
		name   string
		pem    []byte
		good   string
		refuse map[string]string
	}{
		{
			name: "RSA", pem: publicPEM(t, rsaKey),
			good: sign(t, jwt.SigningMethodRS256, rsaKey, "any-kid", claimsAt(now)),
			refuse: map[string]string{
				"HS256 keyed with the PEM": hs256WithKeyBytes(t, publicPEM(t, rsaKey), "", claimsAt(now)),
				"alg none":                 noneToken(t, "", claimsAt(now)),
				"wrong key":                sign(t, jwt.SigningMethodRS256, rsaAttacker, "", claimsAt(now)),
				"EC token":                 sign(t, jwt.SigningMethodES256, ecKey, "", claimsAt(now)),
				"expired":                  sign(t, jwt.SigningMethodRS256, rsaKey, "", jwt.MapClaims{"sub": "s", "iss": testIssuer, "aud": testAudience, "exp": now.Add(-time.Hour).Unix(), "locationId": "l", "role": "read"}),
			},
		},
		{
			name: "RSA PKCS1", pem: pkcs1,
			good:   sign(t, jwt.SigningMethodRS256, rsaKey, "", claimsAt(now)),
			refuse: map[string]string{"HS256 keyed with the PEM": hs256WithKeyBytes(t, pkcs1, "", claimsAt(now))},
		},
		{
			name: "ECDSA certificate", pem: cert,
			good: sign(t, jwt.SigningMethodES256, ecKey, "", claimsAt(now)),
			refuse: map[string]string{
				"HS256 keyed with the certificate": hs256WithKeyBytes(t, cert, "", claimsAt(now)),
				"RSA token":                        sign(t, jwt.SigningMethodRS256, rsaKey, "", claimsAt(now)),
			},
		},
		{
			name: "Ed25519", pem: publicPEM(t, edKey),
			good: sign(t, jwt.SigningMethodEdDSA, edKey, "", claimsAt(now)),
			refuse: map[string]string{
				"HS256 keyed with the PEM": hs256WithKeyBytes(t, publicPEM(t, edKey), "", claimsAt(now)),
				"missing location": sign(t, jwt.SigningMethodEdDSA, edKey, "", func() jwt.MapClaims {
					c := claimsAt(now)
					delete(c, "locationId")
					return c
				}()),
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v, err := NewJWTVerifier(t.Context(), JWTConfig{PublicKeyPEM: tc.pem, Issuer: testIssuer, Audience: testAudience, Now: clock.Now})
			if err != nil {
				t.Fatalf("NewJWTVerifier: %v", err)
			}
			if p, err := v.Verify(t.Context(), tc.good); err != nil || p.LocationID != "locXYZ" {
				t.Fatalf("Verify(good) = %+v, %v", p, err)
			}
			for name, tok := range tc.refuse {
				if _, err := v.Verify(t.Context(), tok); !errors.Is(err, ErrInvalidCredential) {
					t.Errorf("%s: Verify = %v, want ErrInvalidCredential", name, err)
				}
			}
		})
	}
}

func TestNewJWTVerifierRefusesBadConfig(t *testing.T) {
	t.Parallel()
	testKeys(t)
	okSrv := newJWKSServer(t, publicJWK("rsa1", rsaKey))
	notFound := newJWKSServer(t)
	notFound.setStatus(http.StatusNotFound)
	onlyOct := newJWKSServer(t, map[string]any{"kty": "oct", "k": "c2VjcmV0"})
	badJSON := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.Write([]byte("<html>")) }))
	t.Cleanup(badJSON.Close)
	huge := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Write([]byte(`{"keys":["`))
		w.Write([]byte(strings.Repeat("a", maxJWKSBytes)))
		w.Write([]byte(`"]}`))
	}))
	t.Cleanup(huge.Close)

	small, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	p384, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	privDER, _ := x509.MarshalPKCS8PrivateKey(ecKey)
	privatePEM := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: privDER})
	cancelled, cancel := context.WithCancel(t.Context())
	cancel()

	tests := []struct {
		name string
		cfg  JWTConfig
		ctx  context.Context
	}{
		{"neither key source", JWTConfig{}, nil},
		{"both key sources", JWTConfig{JWKSURL: okSrv.URL, PublicKeyPEM: publicPEM(t, rsaKey)}, nil},
		{"not PEM", JWTConfig{PublicKeyPEM: []byte("ssh-rsa AAAA")}, nil},
		{"private key PEM", JWTConfig{PublicKeyPEM: privatePEM}, nil},
		{"two PEM blocks", JWTConfig{PublicKeyPEM: append(publicPEM(t, rsaKey), publicPEM(t, ecKey)...)}, nil},
		{"RSA 1024", JWTConfig{PublicKeyPEM: publicPEM(t, small)}, nil},
		{"P-384", JWTConfig{PublicKeyPEM: publicPEM(t, p384)}, nil},
		{"http to a remote host", JWTConfig{JWKSURL: "http://idp.example.test/jwks.json"}, nil},
		{"ftp", JWTConfig{JWKSURL: "ftp://idp.example.test/jwks.json"}, nil},
		{"no host", JWTConfig{JWKSURL: "https:///jwks.json"}, nil},
		{"404", JWTConfig{JWKSURL: notFound.URL, HTTPClient: notFound.Client()}, nil},
		{"not JSON", JWTConfig{JWKSURL: badJSON.URL, HTTPClient: badJSON.Client()}, nil},
		{"no usable key", JWTConfig{JWKSURL: onlyOct.URL, HTTPClient: onlyOct.Client()}, nil},
		{"oversized JWK Set", JWTConfig{JWKSURL: huge.URL, HTTPClient: huge.Client()}, nil},
		{"context already over", JWTConfig{JWKSURL: okSrv.URL, HTTPClient: okSrv.Client()}, cancelled},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := tc.ctx
			if ctx == nil {
				ctx = t.Context()
			}
			if v, err := NewJWTVerifier(ctx, tc.cfg); err == nil {
				t.Fatalf("NewJWTVerifier succeeded: %+v", v)
			}
		})
	}
}

func TestParseJWKSSkipsUnusableKeys(t *testing.T) {
	t.Parallel()
	testKeys(t)
	rsaWrongAlg := publicJWK("rsa-hs", rsaKey)
	rsaWrongAlg["alg"] = "HS256"
	ecWrongCurve := publicJWK("ec-384", ecKey)
	ecWrongCurve["crv"] = "P-384"
	ecOffCurve := publicJWK("ec-off", ecKey)
	ecOffCurve["y"] = ecOffCurve["x"]
	set, _ := json.Marshal(map[string]any{"keys": []any{
		rsaWrongAlg, ecWrongCurve, ecOffCurve,
		map[string]any{"kty": "oct", "kid": "sym", "k": "c2VjcmV0"},
		map[string]any{"kty": "RSA", "kid": "bad-e", "n": b64(rsaKey.N.Bytes()), "e": b64([]byte{2})},
		"not an object",
		publicJWK("good", edKey),
	}})
	keys, err := parseJWKS(set)
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 1 || keys[0].kid != "good" || keys[0].alg != algEdDSA {
		t.Errorf("parseJWKS kept %+v, want only the Ed25519 key", keys)
	}
}

func TestDefaultJWKSClientRedirects(t *testing.T) {
	t.Parallel()
	req := func(u string) *http.Request { return httptest.NewRequest("GET", u, nil) }
	https, plain := req("https://idp.test/jwks"), req("http://idp.test/jwks")
	tests := []struct {
		name      string
		allowHTTP bool
		next      *http.Request
		via       []*http.Request
		ok        bool
	}{
		{"https to https", false, https, []*http.Request{https}, true},
		{"https to http", false, plain, []*http.Request{https}, false},
		{"https to http when allowed", true, plain, []*http.Request{https}, true},
		{"http to http", false, plain, []*http.Request{plain}, true},
		{"too many", false, https, []*http.Request{https, https, https, https, https}, false},
	}
	for _, tc := range tests {
		c := defaultJWKSClient(tc.allowHTTP)
		if c.Timeout <= 0 {
			t.Fatal("the default JWKS client has no timeout")
		}
		if err := c.CheckRedirect(tc.next, tc.via); (err == nil) != tc.ok {
			t.Errorf("%s: CheckRedirect = %v, want ok=%v", tc.name, err, tc.ok)
		}
	}
}
