// This file is the one write path: every mutation is a write value that
// Resolver.write runs through the same steps, in the same order:
// permission, location, limits, the call, eviction once the outcome is
// known, and a WriteResult (the audit line). A write's outcome is a value,
// not only an error, so that a worker that runs writes later (a durable
// queue of writes waiting for the rate budget) can call the same function
// and store what it did.

package resolvers

import (
	"context"
	"errors"
	"slices"
	"time"

	"github.com/99designs/gqlgen/graphql"

	"github.com/ghl-graphql/gateway/graph/model"
	"github.com/ghl-graphql/gateway/upstream"
)

// writeSpec is one write, as a value the write path runs.
type writeSpec struct {
	// op names the write for the audit log; "" takes the GraphQL field's name.
	op string
	// scoped writes name their location before the call (creates, upsert,
	// bulk writes): from location (the locationId argument), the
	// credential or the default, and are refused without one. Others use
	// the credential's location, for eviction and the audit log.
	scoped   bool
	location *string
	// contacts are the contacts the arguments name: audited, and evicted
	// once the write may have changed them.
	contacts []string
	// others are the other records the arguments name (task, note,
	// campaign, workflow, business): audited.
	others []string
	// limits is the verdict of the argument checks that need no location;
	// build, when set, checks what needs it and builds the request.
	limits error
	build  func(loc string) error
	// call makes the upstream call and returns the IDs of the records it
	// created (or, for an upsert, matched).
	call func(ctx context.Context, loc string) (created []string, err error)
}

// WriteResult is what one write did.
type WriteResult struct {
	// Operation is the mutation.
	Operation string
	// Subject and Location are who wrote, and where.
	Subject, Location string
	// Targets are the records the arguments named, then those the write
	// created.
	Targets []string
	// Outcome is upstream.WriteApplied, WriteNotApplied or WriteUnknown
	// (sent, but no definite answer: look before writing again).
	Outcome string
	// Err is why the write was not (surely) applied; nil when it was.
	Err error
	// Duration is how long the write path took.
	Duration time.Duration
}

// write runs w: the one write path of every mutation.
func (r *Resolver) write(ctx context.Context, w writeSpec) (res WriteResult) {
	start := time.Now()
	res = WriteResult{Operation: w.op, Targets: slices.Concat(w.contacts, w.others), Outcome: upstream.WriteNotApplied}
	if fc := graphql.GetFieldContext(ctx); res.Operation == "" && fc != nil {
		res.Operation = fc.Field.Name
	}
	defer func() {
		res.Duration = time.Since(start)
		if r.onWrite != nil {
			r.onWrite(ctx, res)
		}
	}()
	// 1. Permission: a credential known to lack contacts.write makes no call.
	ctx, cred, err := writeContext(ctx)
	res.Subject, res.Location = cred.Subject, cred.LocationID
	if err != nil {
		res.Err = err
		return res
	}
	// 2. Location.
	if w.scoped {
		if res.Location, err = r.location(cred, w.location); err != nil {
			res.Err = err
			return res
		}
	}
	// 3. Limits, and the request.
	if err = w.limits; err == nil && w.build != nil {
		err = w.build(res.Location)
	}
	if err != nil {
		res.Err = err
		return res
	}
	// 4. The call.
	created, err := w.call(ctx, res.Location)
	res.Targets = append(res.Targets, created...)
	res.Err, res.Outcome = err, outcomeOf(err)
	// 5. Eviction, once the outcome is known: whatever may have changed,
	// which includes a failure that may have been applied. The created IDs
	// go too (an upsert may have matched a cached contact).
	if res.Outcome != upstream.WriteNotApplied {
		r.changed(ctx, res.Location, slices.Concat(w.contacts, created)...)
	}
	return res
}

// outcomeOf says whether a write that the path called was carried out.
func outcomeOf(err error) string {
	if err == nil {
		return upstream.WriteApplied
	}
	var up *upstream.Error
	if errors.As(err, &up) && up.WriteOutcome() != "" {
		return up.WriteOutcome()
	}
	return upstream.WriteUnknown
}

// apply runs w with a typed call, and returns the mutation's payload made
// from the call's answer when the write was applied.
func apply[T, P any](ctx context.Context, r *Resolver, w writeSpec, call func(context.Context, string) (T, error),
	created func(T) []string, payload func(T) *P) (*P, error) {
	var answer T
	w.call = func(ctx context.Context, loc string) (ids []string, err error) {
		if answer, err = call(ctx, loc); err == nil && created != nil {
			ids = created(answer)
		}
		return ids, err
	}
	if res := r.write(ctx, w); res.Err != nil {
		return nil, res.Err
	}
	return payload(answer), nil
}

// ids lists the non-empty IDs.
func ids(id ...string) []string {
	return slices.DeleteFunc(slices.Clone(id), func(s string) bool { return s == "" })
}

// deleted is the payload of a delete.
func deleted(id string) func(*upstream.Response) *model.DeletePayload {
	return func(*upstream.Response) *model.DeletePayload {
		return &model.DeletePayload{DeletedID: id, Success: true}
	}
}

// answer drops the upstream's *Response from a client method's answer.
func answer[T any](v T, _ *upstream.Response, err error) (T, error) { return v, err }

// firstError is the first failed check of a write's arguments.
func firstError(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}
