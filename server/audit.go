// This file writes the audit log: one structured line per mutation, saying
// who did what to which records, with what outcome, and how long it took.
// Tokens and input values never appear: only IDs.

package server

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/99designs/gqlgen/graphql"

	"github.com/ghl-graphql/gateway/auth"
	"github.com/ghl-graphql/gateway/graph/model"
	"github.com/ghl-graphql/gateway/resolvers"
	"github.com/ghl-graphql/gateway/upstream"
)

// idArgs are the arguments that name the records a mutation touches.
var idArgs = []string{"id", "contactId", "campaignId", "workflowId"}

// auditMutations returns a field middleware that logs every root mutation
// field to log.
func auditMutations(log *slog.Logger) graphql.FieldMiddleware {
	return func(ctx context.Context, next graphql.Resolver) (any, error) {
		fc := graphql.GetFieldContext(ctx)
		if fc == nil || fc.Object != "Mutation" {
			return next(ctx)
		}
		start := time.Now()
		res, err := next(ctx)

		attrs := []any{"operation", fc.Field.Name, "duration", time.Since(start)}
		if cred, ok := auth.FromContext(ctx); ok {
			attrs = append(attrs, "who", cred.Subject, "location", cred.LocationID)
		} else {
			attrs = append(attrs, "who", "")
		}
		attrs = append(attrs, "targets", auditTargets(fc.Args))
		if err == nil {
			attrs = append(attrs, "outcome", "ok")
		} else {
			code, _ := resolvers.Classify(err)
			attrs = append(attrs, "outcome", "error", "code", code)
			var up *upstream.Error
			if errors.As(err, &up) && up.WriteOutcome() != "" {
				attrs = append(attrs, "writeOutcome", up.WriteOutcome())
			}
		}
		if requestID := RequestID(ctx); requestID != "" {
			attrs = append(attrs, "requestId", requestID)
		}
		log.InfoContext(ctx, "mutation", attrs...)
		return res, err
	}
}

// auditTargets collects the record IDs among a mutation's arguments,
// including the contactIds of bulk inputs.
func auditTargets(args map[string]any) []string {
	var ids []string
	for _, name := range idArgs {
		if v, ok := args[name].(string); ok && v != "" {
			ids = append(ids, v)
		}
	}
	switch v := args["input"].(type) {
	case model.BulkUpdateContactTagsInput:
		ids = append(ids, v.ContactIds...)
	case model.BulkSetContactsBusinessInput:
		ids = append(ids, v.ContactIds...)
	}
	return ids
}
