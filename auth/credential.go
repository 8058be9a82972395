// Package auth holds the caller's credential for one GraphQL request: the
// upstream token, the location it is bound to and its scopes, and how they
// travel through a request's context.
package auth

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"slices"
	"strings"

	"golang.org/x/oauth2"
)

// HighLevel scopes that govern the Contacts API.
const (
	ScopeContactsRead  = "contacts.readonly"
	ScopeContactsWrite = "contacts.write"
)

// Credential is what a request authenticates with upstream.
type Credential struct {
	// LocationID is the location the credential is bound to; "" when unknown
	// (an opaque Private Integration Token with no X-Location-Id header).
	LocationID string
	// Scopes are the token's scopes; nil when unknown.
	Scopes []string
	// ID identifies the credential without revealing it (a hash of the
	// token), for cache keys and logs.
	ID string

	token string
}

// NewBearer returns the credential of a bearer token. locationID, when not
// empty, is the location the caller says the token is bound to; a token
// that names its own location (a HighLevel OAuth access token) wins.
func NewBearer(token, locationID string) Credential {
	c := Credential{token: token, LocationID: locationID, ID: TokenID(token)}
	if claims, ok := ParseAccessToken(token); ok {
		if claims.LocationID != "" {
			c.LocationID = claims.LocationID
		}
		c.Scopes = claims.Scopes
	}
	return c
}

// TokenSource returns the token as an oauth2.TokenSource for the upstream client.
func (c Credential) TokenSource() oauth2.TokenSource {
	return oauth2.StaticTokenSource(&oauth2.Token{AccessToken: c.token, TokenType: "Bearer"})
}

// MayWrite reports whether the credential is known to lack contacts.write:
// known is false when the scopes are unknown, and the upstream decides.
func (c Credential) MayWrite() (allowed, known bool) {
	if c.Scopes == nil {
		return true, false
	}
	return slices.Contains(c.Scopes, ScopeContactsWrite), true
}

// TokenID returns a stable identifier of a token that does not reveal it.
func TokenID(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:8])
}

type credentialKey struct{}

// WithCredential returns a context carrying c.
func WithCredential(ctx context.Context, c Credential) context.Context {
	return context.WithValue(ctx, credentialKey{}, c)
}

// FromContext returns the request's credential.
func FromContext(ctx context.Context) (Credential, bool) {
	c, ok := ctx.Value(credentialKey{}).(Credential)
	return c, ok
}

// ErrMalformedAuthorization is returned for an Authorization header that is
// present but not "Bearer <token>".
var ErrMalformedAuthorization = errors.New(`the Authorization header must be "Bearer <token>"`)

// BearerToken returns the token of the request's Authorization header; ""
// with no error when there is no header.
func BearerToken(r *http.Request) (string, error) {
	h := strings.TrimSpace(r.Header.Get("Authorization"))
	if h == "" {
		return "", nil
	}
	scheme, tok, ok := strings.Cut(h, " ")
	tok = strings.TrimSpace(tok)
	if !ok || !strings.EqualFold(scheme, "Bearer") || tok == "" || strings.ContainsAny(tok, " \t\r\n") {
		return "", ErrMalformedAuthorization
	}
	return tok, nil
}
