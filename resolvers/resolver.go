// Package resolvers maps GraphQL fields to Contacts API calls. Resolver is
// the dependency root; the *.resolvers.go files hold the bodies gqlgen keeps
// when it regenerates; helpers live in their own files.
package resolvers

import (
	"context"
	"errors"
	"log/slog"

	"github.com/ghl-graphql/gateway/auth"
	"github.com/ghl-graphql/gateway/errcode"
	"github.com/ghl-graphql/gateway/loaders"
	"github.com/ghl-graphql/gateway/upstream"
)

// Resolver is the root resolver: what every field needs to reach the upstream.
type Resolver struct {
	client          *upstream.Client
	reader          *loaders.Reader
	logger          *slog.Logger
	defaultLocation string
	subs            *subscriptions // nil: no subscriptions (EnableSubscriptions)
	onWrite         func(context.Context, WriteResult)
	limits          Limits
}

// Config configures a Resolver.
type Config struct {
	// Client calls the Contacts API.
	Client *upstream.Client
	// Reader serves reads through the shared cache, with coalescing
	// (required). Requests get per-request loaders over it from
	// loaders.Middleware.
	Reader *loaders.Reader
	// Logger receives internal errors; nil discards them.
	Logger *slog.Logger
	// DefaultLocationID is the location used when neither the argument, the
	// credential nor the X-Location-Id header names one (a gateway that
	// serves a single sub-account sets it).
	DefaultLocationID string
	// OnWrite, when not nil, gets the outcome of every write (the audit log).
	OnWrite func(context.Context, WriteResult)
	// Limits bound the IDs, free text and lists of every field's arguments;
	// zero fields take DefaultLimits'. They are enforced by CheckArguments,
	// which the GraphQL handler must install.
	Limits Limits
}

// New returns the root resolver.
func New(cfg Config) (*Resolver, error) {
	if cfg.Client == nil {
		return nil, errors.New("resolvers: nil upstream client")
	}
	if cfg.Reader == nil {
		return nil, errors.New("resolvers: nil reader")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if err := cfg.Limits.Validate(); err != nil {
		return nil, err
	}
	return &Resolver{client: cfg.Client, reader: cfg.Reader, logger: cfg.Logger, defaultLocation: cfg.DefaultLocationID,
		limits: cfg.Limits.withDefaults(), onWrite: cfg.OnWrite}, nil
}

// upstreamContext returns ctx carrying the request's credential for the
// upstream client, and the rate budget its calls count against, or
// errUnauthenticated when the request has none.
func upstreamContext(ctx context.Context) (context.Context, auth.Credential, error) {
	cred, ok := auth.FromContext(ctx)
	if !ok {
		return ctx, auth.Credential{}, errUnauthenticated
	}
	ctx = upstream.ContextWithTokenSource(ctx, cred.TokenSource())
	return upstream.ContextWithBudgetKey(ctx, BudgetKey(cred)), cred, nil
}

// BudgetKey is the rate budget (and the per-location bound on concurrent
// calls) a credential's calls count against: its location once the upstream
// has confirmed the credential belongs to it, else a small budget of the
// credential's own (see auth.Credential.BudgetKey). What a client claims (a
// header, an unverified JWT, the locationId argument) chooses defaults only.
func BudgetKey(cred auth.Credential) string {
	return cred.BudgetKey()
}

// writeContext is upstreamContext for mutations: a credential known to lack
// contacts.write is refused here, before any upstream call.
func writeContext(ctx context.Context) (context.Context, auth.Credential, error) {
	ctx, cred, err := upstreamContext(ctx)
	if err != nil {
		return ctx, cred, err
	}
	if allowed, known := cred.MayWrite(); known && !allowed {
		return ctx, cred, &authError{code: errcode.CodeForbidden, msg: "forbidden: the credential lacks the contacts.write scope"}
	}
	return ctx, cred, nil
}

// location picks the location of a call: the argument, else the
// credential's, else the configured default.
func (r *Resolver) location(cred auth.Credential, arg *string) (string, error) {
	if arg != nil && *arg != "" {
		if err := checkIDLimit("locationId", *arg, r.limits.IDBytes); err != nil {
			return "", err
		}
		if cred.LocationID != "" && cred.LocationID != *arg {
			return "", &authError{code: errcode.CodeForbidden, msg: "forbidden: the credential belongs to another location"}
		}
		return *arg, nil
	}
	if cred.LocationID != "" {
		// It may come from the X-Location-Id header: held to the rules of
		// a locationId argument before it goes into an upstream call.
		if err := checkIDLimit("the credential's location (X-Location-Id)", cred.LocationID, r.limits.IDBytes); err != nil {
			return "", err
		}
		return cred.LocationID, nil
	}
	if r.defaultLocation != "" {
		return r.defaultLocation, nil
	}
	return "", badInput("locationId is required: the credential does not name its location; pass locationId or send the X-Location-Id header")
}
