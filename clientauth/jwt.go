// This file holds the check of JWTs issued by the app's own identity
// provider, for mobile backends: signature against a configured JWK Set or
// public key, validity times, issuer and audience, and the claims that name
// the client's location and role.

package clientauth

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/golang-jwt/jwt/v5"
)

// Defaults of JWTConfig.
const (
	DefaultLocationClaim = "locationId"
	DefaultRoleClaim     = "role"
	DefaultLeeway        = 30 * time.Second
)

// maxJWTLen bounds what is parsed; real tokens are a few KB.
const maxJWTLen = 16 << 10

// maxSubjectLen bounds the sub recorded in the audit log.
const maxSubjectLen = 256

// JWTConfig configures a JWTVerifier. Exactly one of JWKSURL and
// PublicKeyPEM must be set.
type JWTConfig struct {
	// JWKSURL is the identity provider's JWK Set, fetched over https (or
	// http to loopback), cached and refreshed.
	JWKSURL string
	// PublicKeyPEM is a single verification key: PKIX "PUBLIC KEY", PKCS #1
	// "RSA PUBLIC KEY" or a "CERTIFICATE". Tokens' kid is then ignored.
	PublicKeyPEM []byte
	// Issuer, when set, must equal the token's iss.
	Issuer string
	// Audience, when set, must be among the token's aud. Set it whenever
	// the provider issues tokens for other apps too, or their tokens
	// would be accepted here.
	Audience string
	// LocationClaim names the claim holding the location ID; default
	// "locationId".
	LocationClaim string
	// RoleClaim names the claim holding "read" or "write"; default "role".
	RoleClaim string
	// Leeway is the clock skew allowed on exp and nbf: 0 means the default
	// 30s, a negative value means none.
	Leeway time.Duration
	// HTTPClient fetches the JWK Set; the default has a 10s timeout and
	// does not follow redirects off https.
	HTTPClient *http.Client
	// Now is the clock; default time.Now. Tests inject one.
	Now func() time.Time
	// JWKSRefreshInterval is how old the cached JWK Set may get before a
	// lookup fetches it again; default 15 minutes.
	JWKSRefreshInterval time.Duration
	// JWKSRefreshCooldown is the least time between two fetches, whatever
	// triggers them (an unknown kid, a failed fetch); default 1 minute.
	JWKSRefreshCooldown time.Duration
	// AllowInsecureJWKSURL permits a plain-http JWKSURL to a host other
	// than loopback, e.g. a provider inside the same cluster network.
	AllowInsecureJWKSURL bool
}

// JWTVerifier checks JWTs from the app's identity provider. It is safe for
// concurrent use and needs no closing.
type JWTVerifier struct {
	parser        *jwt.Parser
	locationClaim string
	roleClaim     string
	static        *verificationKey // from PublicKeyPEM
	jwks          *jwksCache       // from JWKSURL
}

// NewJWTVerifier checks cfg and, for a JWK Set, fetches it once within ctx,
// so that a wrong URL fails at start-up rather than on the first request.
func NewJWTVerifier(ctx context.Context, cfg JWTConfig) (*JWTVerifier, error) {
	if (cfg.JWKSURL == "") == (len(cfg.PublicKeyPEM) == 0) {
		return nil, errors.New("clientauth: set exactly one of JWKSURL and PublicKeyPEM")
	}
	if cfg.LocationClaim == "" {
		cfg.LocationClaim = DefaultLocationClaim
	}
	if cfg.RoleClaim == "" {
		cfg.RoleClaim = DefaultRoleClaim
	}
	switch {
	case cfg.Leeway == 0:
		cfg.Leeway = DefaultLeeway
	case cfg.Leeway < 0:
		cfg.Leeway = 0
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.JWKSRefreshInterval <= 0 {
		cfg.JWKSRefreshInterval = defaultJWKSEv
	}
	if cfg.JWKSRefreshCooldown <= 0 {
		cfg.JWKSRefreshCooldown = defaultJWKSCD
	}

	opts := []jwt.ParserOption{
		// Fixes the algorithms before any key is chosen: "none" and HMAC
		// never reach a key, whatever the token's header says.
		jwt.WithValidMethods(acceptedAlgs),
		jwt.WithExpirationRequired(),
		jwt.WithLeeway(cfg.Leeway),
		jwt.WithTimeFunc(cfg.Now),
		jwt.WithStrictDecoding(),
	}
	if cfg.Issuer != "" {
		opts = append(opts, jwt.WithIssuer(cfg.Issuer))
	}
	if cfg.Audience != "" {
		opts = append(opts, jwt.WithAudience(cfg.Audience))
	}
	v := &JWTVerifier{
		parser:        jwt.NewParser(opts...),
		locationClaim: cfg.LocationClaim,
		roleClaim:     cfg.RoleClaim,
	}

	if len(cfg.PublicKeyPEM) > 0 {
		k, err := parsePublicKeyPEM(cfg.PublicKeyPEM)
		if err != nil {
			return nil, fmt.Errorf("clientauth: PublicKeyPEM: %w", err)
		}
		v.static = &k
		return v, nil
	}

	if err := checkJWKSURL(cfg.JWKSURL, cfg.AllowInsecureJWKSURL); err != nil {
		return nil, fmt.Errorf("clientauth: %w", err)
	}
	client := cfg.HTTPClient
	if client == nil {
		client = defaultJWKSClient(cfg.AllowInsecureJWKSURL)
	}
	v.jwks = &jwksCache{
		url:          cfg.JWKSURL,
		client:       client,
		now:          cfg.Now,
		refreshEvery: cfg.JWKSRefreshInterval,
		cooldown:     cfg.JWKSRefreshCooldown,
	}
	if err := v.jwks.refresh(ctx); err != nil {
		return nil, fmt.Errorf("clientauth: %w", err)
	}
	return v, nil
}

// Verify checks token and returns its principal. Every refusal wraps
// ErrInvalidCredential.
func (v *JWTVerifier) Verify(ctx context.Context, token string) (Principal, error) {
	if len(token) > maxJWTLen {
		return Principal{}, invalid("jwt longer than %d bytes", maxJWTLen)
	}
	claims := jwt.MapClaims{}
	if _, err := v.parser.ParseWithClaims(token, claims, v.keyfunc(ctx)); err != nil {
		return Principal{}, invalid("jwt: %w", err)
	}
	sub, err := claims.GetSubject()
	if err != nil || sub == "" {
		return Principal{}, invalid("jwt: no sub claim")
	}
	if !printable(sub) || len(sub) > maxSubjectLen {
		return Principal{}, invalid("jwt: sub claim is not printable or longer than %d bytes", maxSubjectLen)
	}
	rawLoc, present := claims[v.locationClaim]
	loc, isString := rawLoc.(string)
	switch {
	case !present || loc == "" && isString:
		return Principal{}, invalid("jwt: no %s claim", v.locationClaim)
	case !isString:
		return Principal{}, invalid("jwt: %s claim is not a string", v.locationClaim)
	case !validLocationID(loc):
		return Principal{}, invalid("jwt: malformed %s claim", v.locationClaim)
	}
	roleStr, _ := claims[v.roleClaim].(string)
	role, err := ParseRole(roleStr)
	if err != nil {
		return Principal{}, invalid("jwt: %s claim: %w", v.roleClaim, err)
	}
	return Principal{Kind: KindJWT, Subject: sub, LocationID: loc, Role: role}, nil
}

// keyfunc picks the key for a token whose alg the parser already limited
// to acceptedAlgs. The key must be bound to that very alg: an RSA key is
// never handed to an ES256 or EdDSA check, nor the other way round.
func (v *JWTVerifier) keyfunc(ctx context.Context) jwt.Keyfunc {
	return func(t *jwt.Token) (any, error) {
		alg := t.Method.Alg()
		if v.static != nil {
			if v.static.alg != alg {
				return nil, fmt.Errorf("token alg %s does not match the configured %s key", alg, v.static.alg)
			}
			return v.static.key, nil
		}
		rawKID, hasKID := t.Header["kid"]
		kid, isString := rawKID.(string)
		if hasKID && !isString {
			return nil, errors.New("kid header is not a string")
		}
		keys, err := v.jwks.lookup(ctx, kid, hasKID, alg)
		if err != nil {
			return nil, err
		}
		if len(keys) == 1 {
			return keys[0].key, nil
		}
		// No kid, or a kid shared by several keys: any of them may verify.
		set := jwt.VerificationKeySet{}
		for _, k := range keys {
			set.Keys = append(set.Keys, k.key)
		}
		return set, nil
	}
}

// printable reports whether s is valid UTF-8 without control characters,
// so that a sub cannot forge lines in the audit log.
func printable(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if !unicode.IsPrint(r) {
			return false
		}
	}
	return true
}
