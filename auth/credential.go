// Package auth holds the caller's credential for one GraphQL request: the
// upstream token, the location it is bound to and its scopes, and how they
// travel through a request's context; and Learned, what the upstream's
// answers revealed about tokens that do not describe themselves.
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

	"github.com/ghl-graphql/gateway/upstream"
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
	// token), for cache keys and logs. Credentials with the same ID share
	// cached answers, so it must change whenever what may be read does.
	ID string
	// Subject names who is acting, for the audit log: a gateway API key's
	// ID or a JWT's subject in managed mode; ID in pass-through mode.
	Subject string
	// Rejected reports that the upstream refused this token the last time
	// it was sent: nothing cached is served to it until it is accepted again.
	Rejected bool
	// Unconfirmed reports that the upstream has not accepted this token
	// within the confirmation interval (Learned.SetConfirmInterval): one
	// upstream call must succeed with it before cached answers are served
	// to it, so that long cache lifetimes (webhooks on) do not let a
	// revoked token keep reading.
	Unconfirmed bool

	source oauth2.TokenSource
	// opaque: the token says nothing about itself (a Private Integration
	// Token), so its location and write permission are learned from the
	// upstream's answers (see Learned).
	opaque bool
	// writeRefused: the upstream recently refused this opaque token a write
	// for want of contacts.write.
	writeRefused bool
	// confirmed: the upstream has shown that the credential belongs to
	// LocationID (managed installs by construction; a bearer token once an
	// answer confirmed it, see Learned). Until then LocationID is only a
	// claim, good for defaults but not for spending the location's budget.
	confirmed bool
}

// Confirmed reports whether the upstream has confirmed that the credential
// belongs to LocationID.
func (c Credential) Confirmed() bool { return c.confirmed && c.LocationID != "" }

// BudgetKey is the rate budget, and the bound on concurrent upstream calls,
// that the credential's calls count against: HighLevel limits each
// location, so its location once the upstream has confirmed it; until then
// a small budget of the credential's own, so that no claim (a header, an
// unverified JWT, an argument) can spend another location's.
func (c Credential) BudgetKey() string {
	if c.Confirmed() {
		return c.LocationID
	}
	return upstream.CredentialBudgetKey(c.ID)
}

// NewBearer returns the credential of a bearer token. locationID, when not
// empty, is the location the caller says the token is bound to; a token
// that names its own location (a HighLevel OAuth access token) wins.
func NewBearer(token, locationID string) Credential {
	id := TokenID(token)
	c := Credential{LocationID: locationID, ID: id, Subject: id,
		source: oauth2.StaticTokenSource(&oauth2.Token{AccessToken: token, TokenType: "Bearer"})}
	claims, ok := ParseAccessToken(token)
	if !ok {
		c.opaque = true
		return c
	}
	if claims.LocationID != "" {
		c.LocationID = claims.LocationID
	}
	c.Scopes = claims.Scopes
	return c
}

// NewManaged returns the credential of a managed-mode client: the gateway
// calls the upstream with the location's own tokens (ts), and the client's
// role decides whether it may write. Every client of a location reads the
// same data with the same token, so they share cached answers.
func NewManaged(locationID string, ts oauth2.TokenSource, canWrite bool, subject string) Credential {
	scopes := []string{ScopeContactsRead}
	if canWrite {
		scopes = append(scopes, ScopeContactsWrite)
	}
	// The gateway's own install of the location: confirmed by construction.
	return Credential{LocationID: locationID, Scopes: scopes, ID: "install:" + locationID, Subject: subject, source: ts, confirmed: true}
}

// TokenSource returns the credential's upstream token source.
func (c Credential) TokenSource() oauth2.TokenSource {
	return c.source
}

// MayWrite reports whether the credential may use contacts.write: known is
// false when neither its scopes nor the upstream's answers tell, and the
// upstream decides.
func (c Credential) MayWrite() (allowed, known bool) {
	if c.writeRefused {
		return false, true
	}
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

// hasSpace reports whether s holds a space, tab, CR or LF. It is
// strings.ContainsAny(s, " \t\r\n") at the speed of four vectorized byte
// searches: ContainsAny tests a set byte by byte, a tenth as fast, and a
// token is checked on every request.
func hasSpace(s string) bool {
	return strings.IndexByte(s, ' ') >= 0 || strings.IndexByte(s, '\t') >= 0 ||
		strings.IndexByte(s, '\r') >= 0 || strings.IndexByte(s, '\n') >= 0
}

// ErrMalformedAuthorization is returned for an Authorization header that is
// present but not "Bearer <token>".
var ErrMalformedAuthorization = errors.New(`the Authorization header must be "Bearer <token>"`)

// DefaultMaxTokenBytes is the longest bearer token accepted by default.
// HighLevel's OAuth access tokens (JWTs) are about 1 KB and Private
// Integration Tokens a few dozen bytes; anything far longer is not a
// HighLevel credential, and keeping it would cost memory.
const DefaultMaxTokenBytes = 4 << 10

// ErrTokenTooLong is returned for a bearer token longer than the limit.
var ErrTokenTooLong = errors.New("the bearer token is too long to be a HighLevel credential")

// BearerToken returns the token of the request's Authorization header; ""
// with no error when there is no header. A token longer than
// DefaultMaxTokenBytes is ErrTokenTooLong; see BearerTokenLimit.
func BearerToken(r *http.Request) (string, error) {
	return BearerTokenLimit(r, DefaultMaxTokenBytes)
}

// BearerTokenLimit is BearerToken with a limit of maxBytes on the token's
// length (<= 0 means DefaultMaxTokenBytes). The header's length is checked
// before anything else is done with it, so a huge header costs nothing.
func BearerTokenLimit(r *http.Request, maxBytes int) (string, error) {
	if maxBytes <= 0 {
		maxBytes = DefaultMaxTokenBytes
	}
	h := strings.TrimSpace(r.Header.Get("Authorization"))
	if h == "" {
		return "", nil
	}
	// "Bearer " plus the token plus some spaces: anything longer cannot
	// hold a token within the limit.
	if len(h) > maxBytes+len("Bearer ")+16 {
		return "", ErrTokenTooLong
	}
	scheme, tok, ok := strings.Cut(h, " ")
	tok = strings.TrimSpace(tok)
	if !ok || !strings.EqualFold(scheme, "Bearer") || tok == "" || hasSpace(tok) {
		return "", ErrMalformedAuthorization
	}
	if len(tok) > maxBytes {
		return "", ErrTokenTooLong
	}
	return tok, nil
}
