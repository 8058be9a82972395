// This file holds the Authenticator, which reads a request's credential
// and sends it to the API key store or the JWT verifier by its shape.

package clientauth

import (
	"context"
	"net/http"
	"strings"
)

// APIKeyHeader is the header a client may send its API key in instead of
// Authorization, for tools that reserve Authorization for something else.
const APIKeyHeader = "X-API-Key"

// Authenticator authenticates the gateway's clients by API key, JWT or
// both. A nil field turns that kind of credential off.
type Authenticator struct {
	// Keys checks gateway API keys ("gk_…").
	Keys *KeyStore
	// JWT checks JWTs from the app's identity provider.
	JWT *JWTVerifier
	// MaxTokenBytes is the longest API key or JWT looked at; a longer one
	// is refused before it is parsed. 0 means DefaultMaxTokenBytes.
	MaxTokenBytes int
}

// DefaultMaxTokenBytes is Authenticator's default MaxTokenBytes: an API key
// is 59 bytes and identity providers' JWTs are one or two KB.
const DefaultMaxTokenBytes = 4 << 10

// Authenticate returns the principal of r's credential, read from
// "Authorization: Bearer <token>" or "X-API-Key: <key>". A token starting
// "gk_" is an API key, one with two dots a JWT; anything else, or both
// headers at once, is refused with ErrInvalidCredential. No credential at
// all is ErrNoCredential.
func (a *Authenticator) Authenticate(ctx context.Context, r *http.Request) (Principal, error) {
	authz := strings.TrimSpace(r.Header.Get("Authorization"))
	apiKey := strings.TrimSpace(r.Header.Get(APIKeyHeader))
	limit := a.MaxTokenBytes
	if limit <= 0 {
		limit = DefaultMaxTokenBytes
	}
	switch {
	case authz == "" && apiKey == "":
		return Principal{}, ErrNoCredential
	case len(authz) > limit+len("Bearer ")+16 || len(apiKey) > limit:
		// Checked first, so that nothing is done with a huge value.
		return Principal{}, invalid("credential longer than %d bytes", limit)
	case authz != "" && apiKey != "":
		// Two credentials that might name different principals: refusing
		// is the only answer that cannot pick the wrong one.
		return Principal{}, invalid("both Authorization and %s given", APIKeyHeader)
	case apiKey != "":
		if !strings.HasPrefix(apiKey, keyPrefix) {
			return Principal{}, invalid("%s does not hold a gateway API key", APIKeyHeader)
		}
		return a.authenticateKey(apiKey)
	}
	scheme, token, ok := strings.Cut(authz, " ")
	token = strings.TrimSpace(token)
	if !ok || !strings.EqualFold(scheme, "Bearer") || token == "" || strings.ContainsAny(token, " \t\r\n") {
		return Principal{}, invalid(`the Authorization header must be "Bearer <token>"`)
	}
	if len(token) > limit {
		return Principal{}, invalid("credential longer than %d bytes", limit)
	}
	switch {
	case strings.HasPrefix(token, keyPrefix):
		return a.authenticateKey(token)
	case strings.Count(token, ".") == 2:
		if a.JWT == nil {
			return Principal{}, invalid("JWT authentication is not enabled")
		}
		return a.JWT.Verify(ctx, token)
	}
	return Principal{}, invalid("bearer token is neither a gateway API key nor a JWT")
}

// authenticateKey checks an API key if keys are enabled.
func (a *Authenticator) authenticateKey(token string) (Principal, error) {
	if a.Keys == nil {
		return Principal{}, invalid("API key authentication is not enabled")
	}
	return a.Keys.Authenticate(token)
}
