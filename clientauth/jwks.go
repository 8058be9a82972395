// This file holds the verification keys of the JWT check: parsing a JWK
// Set or a PEM public key into keys of the three accepted kinds, and the
// cache that fetches a JWK Set, refreshes it periodically and on an
// unknown kid, and rate-limits those fetches.
//
// It is written here rather than taken from a JWKS library because the
// gateway needs an injectable clock (so refresh and rate limiting are
// tested without sleeping), fetches bounded by the request's context with
// no background goroutine to stop, a cap on the response size, and an
// unknown kid that fails fast during the cooldown instead of queueing the
// request behind a rate limiter.

package clientauth

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

// The signature algorithms accepted, one per key type. Anything else —
// "none", HMAC (whose "secret" an attacker could take from the public
// key), RSA-PSS, other curves — is refused before a key is looked up.
const (
	algRS256 = "RS256"
	algES256 = "ES256"
	algEdDSA = "EdDSA"
)

var acceptedAlgs = []string{algRS256, algES256, algEdDSA}

const (
	minRSABits    = 2048
	maxJWKSBytes  = 1 << 20
	jwksTimeout   = 10 * time.Second
	defaultJWKSEv = 15 * time.Minute
	defaultJWKSCD = time.Minute
)

// verificationKey is a public key with the one algorithm it may verify.
type verificationKey struct {
	kid string
	alg string
	key crypto.PublicKey
}

// newVerificationKey checks that k is of an accepted kind and strength and
// binds it to its algorithm, so that a token cannot pick another one.
func newVerificationKey(kid string, k crypto.PublicKey) (verificationKey, error) {
	switch k := k.(type) {
	case *rsa.PublicKey:
		if k.N.BitLen() < minRSABits {
			return verificationKey{}, fmt.Errorf("RSA key of %d bits; at least %d needed", k.N.BitLen(), minRSABits)
		}
		return verificationKey{kid: kid, alg: algRS256, key: k}, nil
	case *ecdsa.PublicKey:
		if k.Curve != elliptic.P256() {
			return verificationKey{}, fmt.Errorf("ECDSA key on %s; only P-256 (ES256) is accepted", k.Curve.Params().Name)
		}
		return verificationKey{kid: kid, alg: algES256, key: k}, nil
	case ed25519.PublicKey:
		if len(k) != ed25519.PublicKeySize {
			return verificationKey{}, errors.New("malformed Ed25519 key")
		}
		return verificationKey{kid: kid, alg: algEdDSA, key: k}, nil
	}
	return verificationKey{}, fmt.Errorf("unsupported key type %T; RSA, ECDSA P-256 or Ed25519 needed", k)
}

// parsePublicKeyPEM reads one public key (PKIX "PUBLIC KEY", PKCS #1 "RSA
// PUBLIC KEY" or the key of a "CERTIFICATE"). A private key is refused
// rather than reduced to its public half: it should not be in the
// gateway's configuration at all.
func parsePublicKeyPEM(b []byte) (verificationKey, error) {
	block, rest := pem.Decode(b)
	if block == nil {
		return verificationKey{}, errors.New("no PEM block found")
	}
	if next, _ := pem.Decode(rest); next != nil {
		return verificationKey{}, errors.New("more than one PEM block; configure exactly one public key")
	}
	var (
		k   crypto.PublicKey
		err error
	)
	switch block.Type {
	case "PUBLIC KEY":
		k, err = x509.ParsePKIXPublicKey(block.Bytes)
	case "RSA PUBLIC KEY":
		k, err = x509.ParsePKCS1PublicKey(block.Bytes)
	case "CERTIFICATE":
		var cert *x509.Certificate
		if cert, err = x509.ParseCertificate(block.Bytes); err == nil {
			k = cert.PublicKey
		}
	default:
		if strings.Contains(block.Type, "PRIVATE") {
			return verificationKey{}, fmt.Errorf("PEM block %q is a private key; configure the public key", block.Type)
		}
		return verificationKey{}, fmt.Errorf("unsupported PEM block %q", block.Type)
	}
	if err != nil {
		return verificationKey{}, fmt.Errorf("parse %s: %w", block.Type, err)
	}
	return newVerificationKey("", k)
}

// jwk is the part of a JSON Web Key (RFC 7517/7518/8037) read here.
type jwk struct {
	Kty string `json:"kty"`
	Kid string `json:"kid"`
	Use string `json:"use"`
	Alg string `json:"alg"`
	Crv string `json:"crv"`
	N   string `json:"n"`
	E   string `json:"e"`
	X   string `json:"x"`
	Y   string `json:"y"`
}

// parseJWKS reads a JWK Set. Keys that are not for signatures, of another
// kind, or malformed are skipped rather than failing the set, so that an
// identity provider publishing an extra key type does not lock every
// client out; a set with no usable key at all is an error.
func parseJWKS(b []byte) ([]verificationKey, error) {
	var set struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(b, &set); err != nil {
		return nil, fmt.Errorf("decode JWK Set: %w", err)
	}
	var keys []verificationKey
	for _, raw := range set.Keys {
		var j jwk
		if json.Unmarshal(raw, &j) != nil {
			continue
		}
		if k, err := j.verificationKey(); err == nil {
			keys = append(keys, k)
		}
	}
	if len(keys) == 0 {
		return nil, errors.New("JWK Set has no usable RS256, ES256 or EdDSA signing key")
	}
	return keys, nil
}

// verificationKey converts a JWK. A JWK that names an algorithm must name
// the one its key type is bound to.
func (j jwk) verificationKey() (verificationKey, error) {
	if j.Use != "" && j.Use != "sig" {
		return verificationKey{}, fmt.Errorf("use %q", j.Use)
	}
	var k crypto.PublicKey
	switch j.Kty {
	case "RSA":
		n, err1 := base64.RawURLEncoding.DecodeString(j.N)
		e, err2 := base64.RawURLEncoding.DecodeString(j.E)
		if err1 != nil || err2 != nil || len(n) == 0 || len(e) == 0 || len(e) > 4 {
			return verificationKey{}, errors.New("malformed RSA JWK")
		}
		exp := new(big.Int).SetBytes(e)
		if exp.Int64() < 3 || exp.Bit(0) == 0 {
			return verificationKey{}, errors.New("malformed RSA exponent")
		}
		k = &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: int(exp.Int64())}
	case "EC":
		if j.Crv != "P-256" {
			return verificationKey{}, fmt.Errorf("curve %q", j.Crv)
		}
		x, err1 := base64.RawURLEncoding.DecodeString(j.X)
		y, err2 := base64.RawURLEncoding.DecodeString(j.Y)
		if err1 != nil || err2 != nil || len(x) != 32 || len(y) != 32 {
			return verificationKey{}, errors.New("malformed EC JWK")
		}
		pk, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), append(append([]byte{4}, x...), y...))
		if err != nil {
			return verificationKey{}, err // not on the curve
		}
		k = pk
	case "OKP":
		x, err := base64.RawURLEncoding.DecodeString(j.X)
		if j.Crv != "Ed25519" || err != nil || len(x) != ed25519.PublicKeySize {
			return verificationKey{}, errors.New("malformed or unsupported OKP JWK")
		}
		k = ed25519.PublicKey(x)
	default:
		return verificationKey{}, fmt.Errorf("kty %q", j.Kty)
	}
	vk, err := newVerificationKey(j.Kid, k)
	if err != nil {
		return verificationKey{}, err
	}
	if j.Alg != "" && j.Alg != vk.alg {
		return verificationKey{}, fmt.Errorf("alg %q for a key of %s", j.Alg, vk.alg)
	}
	return vk, nil
}

// errCooldown is returned by refresh when a fetch was tried too recently.
var errCooldown = errors.New("JWK Set fetched too recently to fetch again")

// jwksCache holds the keys of one JWK Set URL. It has no goroutine of its
// own: a lookup refreshes the set when it is older than refreshEvery, or
// when a token names a kid the set lacks (a key rotation), but starts a
// fetch at most once per cooldown, so that tokens with made-up kids cannot
// turn the gateway into a flood against the identity provider.
type jwksCache struct {
	url          string
	client       *http.Client
	now          func() time.Time
	refreshEvery time.Duration
	cooldown     time.Duration

	mu          sync.Mutex
	keys        []verificationKey
	fetchedAt   time.Time     // last successful fetch
	lastAttempt time.Time     // last fetch started
	inflight    chan struct{} // closed when the running fetch ends
	lastErr     error         // of the last fetch that ended
}

// lookup returns the keys that may verify a token with this kid (when it
// has one) and alg. Keys survive a failed refresh: an identity provider's
// outage should not log everyone out, and the tokens they signed still
// expire on their own.
func (c *jwksCache) lookup(ctx context.Context, kid string, hasKID bool, alg string) ([]verificationKey, error) {
	c.mu.Lock()
	stale := !c.now().Before(c.fetchedAt.Add(c.refreshEvery))
	c.mu.Unlock()
	if stale {
		_ = c.refresh(ctx)
	}
	keys := c.match(kid, hasKID, alg)
	if len(keys) == 0 && hasKID {
		// Perhaps the provider rotated its keys since the last fetch.
		if err := c.refresh(ctx); err != nil {
			return nil, fmt.Errorf("no %s key with kid %q in the JWK Set (not refreshed: %w)", alg, truncate(kid, 64), err)
		}
		keys = c.match(kid, hasKID, alg)
	}
	if len(keys) == 0 {
		if hasKID {
			return nil, fmt.Errorf("no %s key with kid %q in the JWK Set", alg, truncate(kid, 64))
		}
		return nil, fmt.Errorf("no %s key in the JWK Set", alg)
	}
	return keys, nil
}

// match returns the cached keys for kid (any, without one) and alg.
func (c *jwksCache) match(kid string, hasKID bool, alg string) []verificationKey {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []verificationKey
	for _, k := range c.keys {
		if k.alg == alg && (!hasKID || k.kid == kid) {
			out = append(out, k)
		}
	}
	return out
}

// refresh fetches the set unless a fetch is running, whose result it then
// waits for, or one started less than cooldown ago. The fetch runs apart
// from the caller, bounded by jwksTimeout, so that one impatient caller
// does not abort the fetch for everyone waiting on it; each caller stops
// waiting when its own ctx ends.
func (c *jwksCache) refresh(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		// Nobody would wait for the result; don't start a fetch.
		return fmt.Errorf("waiting for the JWK Set: %w", err)
	}
	c.mu.Lock()
	ch := c.inflight
	if ch == nil {
		now := c.now()
		if !c.lastAttempt.IsZero() && !now.Before(c.lastAttempt) && now.Sub(c.lastAttempt) < c.cooldown {
			c.mu.Unlock()
			return errCooldown
		}
		c.lastAttempt = now
		ch = make(chan struct{})
		c.inflight = ch
		go c.fetchInto(context.WithoutCancel(ctx), ch)
	}
	c.mu.Unlock()
	select {
	case <-ch:
		c.mu.Lock()
		defer c.mu.Unlock()
		return c.lastErr
	case <-ctx.Done():
		return fmt.Errorf("waiting for the JWK Set: %w", ctx.Err())
	}
}

// fetchInto runs one fetch and publishes its outcome.
func (c *jwksCache) fetchInto(ctx context.Context, done chan struct{}) {
	keys, err := c.fetch(ctx)
	c.mu.Lock()
	if err == nil {
		c.keys = keys
		c.fetchedAt = c.now()
	}
	c.lastErr = err
	c.inflight = nil
	c.mu.Unlock()
	close(done)
}

// fetch GETs and parses the JWK Set.
func (c *jwksCache) fetch(ctx context.Context) ([]verificationKey, error) {
	ctx, cancel := context.WithTimeout(ctx, jwksTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.url, nil)
	if err != nil {
		return nil, fmt.Errorf("fetch JWK Set: %w", err)
	}
	req.Header.Set("Accept", "application/jwk-set+json, application/json")
	resp, err := c.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("fetch JWK Set: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("fetch JWK Set: HTTP status %d", resp.StatusCode)
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxJWKSBytes+1))
	if err != nil {
		return nil, fmt.Errorf("fetch JWK Set: %w", err)
	}
	if len(b) > maxJWKSBytes {
		return nil, fmt.Errorf("fetch JWK Set: response larger than %d bytes", maxJWKSBytes)
	}
	return parseJWKS(b)
}

// checkJWKSURL refuses a JWK Set URL that an attacker on the network could
// answer: plain HTTP is accepted only to loopback, or when allowed.
func checkJWKSURL(raw string, allowHTTP bool) error {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("JWKSURL: %w", err)
	}
	if u.Host == "" {
		return fmt.Errorf("JWKSURL %q has no host", raw)
	}
	switch u.Scheme {
	case "https":
		return nil
	case "http":
		if allowHTTP || isLoopback(u.Hostname()) {
			return nil
		}
		return fmt.Errorf("JWKSURL %q: plain http to a non-loopback host can be spoofed; use https or set AllowInsecureJWKSURL", raw)
	}
	return fmt.Errorf("JWKSURL %q: scheme must be https", raw)
}

// isLoopback reports whether host is localhost or a loopback address.
func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// defaultJWKSClient has a timeout, unlike http.DefaultClient, and refuses a
// redirect that would leave https.
func defaultJWKSClient(allowHTTP bool) *http.Client {
	return &http.Client{
		Timeout: jwksTimeout,
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if len(via) >= 5 {
				return errors.New("too many redirects")
			}
			if req.URL.Scheme != "https" && via[0].URL.Scheme == "https" && !allowHTTP {
				return errors.New("refusing a redirect from https to " + req.URL.Scheme)
			}
			return nil
		},
	}
}
