// This file writes the audit log: one structured line per mutation, saying
// who did what to which records (those the arguments named and those the
// write created), with what outcome, and how long it took. The write path
// (resolvers.Resolver's) hands every write's outcome here; tokens and input
// values never appear: only IDs.

package server

import (
	"context"
	"log/slog"

	"github.com/ghl-graphql/gateway/resolvers"
)

// auditWrites returns the write path's OnWrite hook that logs every write
// to log.
func auditWrites(log *slog.Logger) func(context.Context, resolvers.WriteResult) {
	return func(ctx context.Context, w resolvers.WriteResult) {
		attrs := []any{"operation", w.Operation, "duration", w.Duration, "who", w.Subject, "location", w.Location,
			"targets", w.Targets}
		if w.Err == nil {
			attrs = append(attrs, "outcome", "ok")
		} else {
			code, _ := resolvers.Classify(w.Err)
			attrs = append(attrs, "outcome", "error", "code", code, "writeOutcome", w.Outcome)
		}
		if requestID := RequestID(ctx); requestID != "" {
			attrs = append(attrs, "requestId", requestID)
		}
		log.InfoContext(ctx, "mutation", attrs...)
	}
}
