// This file holds managed mode: the gateway holds each location's HighLevel
// tokens itself (package oauth), so browsers and phones never see them; its
// own clients authenticate with gateway API keys or JWTs of the app's
// identity provider (package clientauth), each bound to a location and a
// role.

package server

import (
	"errors"
	"net/http"
	"strings"

	"github.com/ghl-graphql/gateway/auth"
	"github.com/ghl-graphql/gateway/clientauth"
	"github.com/ghl-graphql/gateway/errcode"
	"github.com/ghl-graphql/gateway/oauth"
)

// Managed configures managed mode.
type Managed struct {
	// OAuth holds the locations' HighLevel tokens and serves the install flow.
	OAuth *oauth.Manager
	// Clients authenticates the gateway's clients.
	Clients *clientauth.Authenticator
	// InstallPath and CallbackPath are where the install flow is served;
	// CallbackPath must be the path of the OAuth redirect URL. Defaults
	// /oauth/install and /oauth/callback.
	InstallPath, CallbackPath string
}

// withPrincipal authenticates a managed-mode client and gives the request
// the credential of its location's install: the location's tokens, and
// write permission only for the write role. A request with no credential
// still runs (introspection needs none); fields that call the upstream
// then fail with UNAUTHENTICATED.
func withPrincipal(m *Managed, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, err := m.Clients.Authenticate(r.Context(), r)
		switch {
		case errors.Is(err, clientauth.ErrNoCredential):
			next.ServeHTTP(w, r)
			return
		case err != nil:
			msg := "invalid credential: send Authorization: Bearer <gateway API key or JWT>"
			// A HighLevel token sent to managed mode (the sandbox's printed
			// one, say): say why it is refused (issue 17).
			if tok, terr := auth.BearerToken(r); terr == nil {
				if _, isHighLevel := auth.ParseAccessToken(tok); isHighLevel || strings.HasPrefix(tok, "pit-") {
					msg = "this is a HighLevel token: in managed mode the gateway holds the locations' HighLevel tokens itself; send a gateway API key (gateway keys create) or a JWT of your identity provider"
				}
			}
			writeError(w, r, errcode.New(errcode.CodeUnauthenticated, "%s", msg))
			return
		}
		ctx := clientauth.WithPrincipal(r.Context(), p)
		cred := auth.NewManaged(p.LocationID, m.OAuth.TokenSourceContext(ctx, p.LocationID), p.CanWrite(), p.Kind+":"+p.Subject)
		next.ServeHTTP(w, r.WithContext(auth.WithCredential(ctx, cred)))
	})
}
