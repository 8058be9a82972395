// Package clientauth authenticates the gateway's own clients in "managed"
// mode, where the gateway holds HighLevel's tokens and its clients never see
// them. A client proves who it is with a gateway API key (keys.go) or with a
// JWT from the app's own identity provider (jwt.go); either way it becomes a
// Principal bound to one location and one role. Authenticator
// (authenticator.go) picks the right check for a request, and
// RunKeysCommand (cli.go) is the `gateway keys` sub-command.
//
// This file holds the Principal, its roles, the errors every check shares
// and the context helpers that carry a Principal through a request.
package clientauth

import (
	"context"
	"errors"
	"fmt"
)

// Role is what a principal may do: read only, or read and write.
type Role string

// The roles a principal can hold. Mutations need RoleWrite.
const (
	RoleRead  Role = "read"
	RoleWrite Role = "write"
)

// ParseRole returns the role named s, which must be "read" or "write"
// exactly: a lenient parse ("Write", "rw") would let a typo in a key or a
// token claim grant or withhold writes silently.
func ParseRole(s string) (Role, error) {
	switch r := Role(s); r {
	case RoleRead, RoleWrite:
		return r, nil
	}
	return "", fmt.Errorf(`role %q: must be %q or %q`, truncate(s, 32), RoleRead, RoleWrite)
}

// Valid reports whether r is RoleRead or RoleWrite.
func (r Role) Valid() bool { return r == RoleRead || r == RoleWrite }

// Principal is an authenticated client of the gateway.
type Principal struct {
	// Kind is how the client authenticated: KindAPIKey or KindJWT.
	Kind string
	// Subject is what the audit log records: the key's ID (never its
	// secret) or the JWT's sub claim.
	Subject string
	// LocationID is the one HighLevel location the client may act on.
	LocationID string
	// Role is RoleRead or RoleWrite.
	Role Role
}

// The values of Principal.Kind.
const (
	KindAPIKey = "api-key"
	KindJWT    = "jwt"
)

// CanWrite reports whether the principal may run mutations.
func (p Principal) CanWrite() bool { return p.Role == RoleWrite }

// ErrInvalidCredential is returned, wrapped with details, for every
// credential that is refused: malformed, unknown, revoked, expired, badly
// signed or lacking a location or role. The details are for logs and never
// contain a secret; what a client is told should be this error's text only,
// so that a guesser learns nothing about why it failed.
var ErrInvalidCredential = errors.New("clientauth: invalid credential")

// ErrNoCredential is returned when a request carries no credential at all,
// so that the server can answer 401 with a challenge rather than 403.
var ErrNoCredential = errors.New("clientauth: no credential")

type principalKey struct{}

// WithPrincipal returns a context carrying p, for resolvers and the audit
// log further down the request.
func WithPrincipal(ctx context.Context, p Principal) context.Context {
	return context.WithValue(ctx, principalKey{}, p)
}

// PrincipalFromContext returns the principal WithPrincipal stored in ctx.
func PrincipalFromContext(ctx context.Context) (Principal, bool) {
	p, ok := ctx.Value(principalKey{}).(Principal)
	return p, ok
}

// invalid wraps ErrInvalidCredential with a detail. Callers pass only
// details that are safe to log: never a secret or a whole token.
func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrInvalidCredential}, args...)...)
}

// truncate shortens an attacker-supplied string before it goes into an
// error, so that a huge header cannot bloat the logs.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// validLocationID reports whether s looks like a HighLevel location ID.
// HighLevel's IDs are short and alphanumeric; refusing anything else keeps
// a hostile key name or token claim out of upstream URLs and log lines.
func validLocationID(s string) bool {
	if len(s) == 0 || len(s) > 128 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}
