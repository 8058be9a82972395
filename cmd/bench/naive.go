// This file is the benchmark's naive baseline: the gateway's schema and
// GraphQL handler (server.NewGraphQLHandler), with the fields of the
// snapshot resolved the way a first implementation would: each field that
// needs data makes its own upstream call, one field at a time, with no
// dataloaders, no coalescing and no cache. It lives in the benchmark so
// that the gateway itself has one read path.

package main

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/99designs/gqlgen/graphql"

	"github.com/ghl-graphql/gateway/auth"
	"github.com/ghl-graphql/gateway/graph"
	"github.com/ghl-graphql/gateway/graph/model"
	"github.com/ghl-graphql/gateway/loaders"
	"github.com/ghl-graphql/gateway/resolvers"
	"github.com/ghl-graphql/gateway/server"
	"github.com/ghl-graphql/gateway/upstream"
)

// newNaiveHandler returns the naive baseline's /graphql handler.
func newNaiveHandler(client *upstream.Client) (http.Handler, error) {
	// The gateway's resolvers answer what the baseline does not override
	// (the snapshot never asks for it).
	reader, err := loaders.NewReader(loaders.Config{Client: client})
	if err != nil {
		return nil, err
	}
	gateway, err := resolvers.New(resolvers.Config{Client: client, Reader: reader})
	if err != nil {
		return nil, err
	}
	gql := server.NewGraphQLHandler(naiveRoot{ResolverRoot: gateway, client: client}, slog.New(slog.DiscardHandler), false)
	gql.AroundOperations(oneFieldAtATime)
	gql.AroundFields(lockField)
	mux := http.NewServeMux()
	mux.Handle(server.GraphQLPath, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if tok, err := auth.BearerToken(r); err == nil && tok != "" {
			r = r.WithContext(auth.WithCredential(r.Context(), auth.NewBearer(tok, r.Header.Get(server.HeaderLocationID))))
		}
		gql.ServeHTTP(w, r)
	}))
	return mux, nil
}

type fieldLockKey struct{}

// oneFieldAtATime gives each operation a lock that lockField takes around
// every resolver, so that the baseline makes its calls in sequence.
func oneFieldAtATime(ctx context.Context, next graphql.OperationHandler) graphql.ResponseHandler {
	return next(context.WithValue(ctx, fieldLockKey{}, &sync.Mutex{}))
}

func lockField(ctx context.Context, next graphql.Resolver) (any, error) {
	if fc := graphql.GetFieldContext(ctx); fc != nil && fc.IsResolver {
		if mu, ok := ctx.Value(fieldLockKey{}).(*sync.Mutex); ok {
			mu.Lock()
			defer mu.Unlock()
		}
	}
	return next(ctx)
}

// naiveRoot overrides the resolvers of the snapshot's fields.
type naiveRoot struct {
	graph.ResolverRoot
	client *upstream.Client
}

func (n naiveRoot) Query() graph.QueryResolver {
	return naiveQuery{QueryResolver: n.ResolverRoot.Query(), client: n.client}
}

func (n naiveRoot) Contact() graph.ContactResolver {
	return naiveContact{ContactResolver: n.ResolverRoot.Contact(), client: n.client}
}

type naiveQuery struct {
	graph.QueryResolver
	client *upstream.Client
}

type naiveContact struct {
	graph.ContactResolver
	client *upstream.Client
}

// callContext gives a call the request's token.
func callContext(ctx context.Context) (context.Context, error) {
	cred, ok := auth.FromContext(ctx)
	if !ok {
		return ctx, errors.New("no credential")
	}
	return upstream.ContextWithTokenSource(ctx, cred.TokenSource()), nil
}

func (q naiveQuery) Contact(ctx context.Context, id string) (*model.Contact, error) {
	ctx, err := callContext(ctx)
	if err != nil {
		return nil, err
	}
	c, _, err := q.client.Contacts.Get(ctx, id)
	if err != nil {
		return nil, err
	}
	name := c.Name
	if name == "" {
		name = strings.TrimSpace(c.FirstName + " " + c.LastName)
	}
	m := &model.Contact{
		ID: c.ID, LocationID: c.LocationID, Name: &name, FirstName: &c.FirstName, LastName: &c.LastName,
		Email: &c.Email, Phone: &c.Phone, CompanyName: &c.CompanyName, Tags: c.Tags, Dnd: c.DND,
		DateAdded: naiveTime(c.DateAdded), DateUpdated: naiveTime(c.DateUpdated),
		CustomFields: make([]model.CustomFieldValue, 0, len(c.CustomFields)),
	}
	for _, f := range c.CustomFields {
		m.CustomFields = append(m.CustomFields, model.CustomFieldValue{FieldID: f.ID, Value: f.Value})
	}
	return m, nil
}

func (n naiveContact) Tasks(ctx context.Context, obj *model.Contact, _ *bool) ([]model.Task, error) {
	ctx, err := callContext(ctx)
	if err != nil {
		return nil, err
	}
	tasks, _, err := n.client.Tasks.List(ctx, obj.ID)
	if err != nil {
		return nil, err
	}
	out := make([]model.Task, 0, len(tasks))
	for _, t := range tasks {
		out = append(out, model.Task{ID: t.ID, ContactID: obj.ID, Title: t.Title, Body: &t.Body,
			DueDate: naiveTime(t.DueDate), Completed: t.Completed})
	}
	return out, nil
}

func (n naiveContact) Notes(ctx context.Context, obj *model.Contact) ([]model.Note, error) {
	ctx, err := callContext(ctx)
	if err != nil {
		return nil, err
	}
	notes, _, err := n.client.Notes.List(ctx, obj.ID)
	if err != nil {
		return nil, err
	}
	out := make([]model.Note, 0, len(notes))
	for _, x := range notes {
		out = append(out, model.Note{ID: x.ID, ContactID: obj.ID, Body: x.Body, DateAdded: naiveTime(x.DateAdded)})
	}
	return out, nil
}

func (n naiveContact) Appointments(ctx context.Context, obj *model.Contact) ([]model.Appointment, error) {
	ctx, err := callContext(ctx)
	if err != nil {
		return nil, err
	}
	events, _, err := n.client.Appointments.List(ctx, obj.ID)
	if err != nil {
		return nil, err
	}
	out := make([]model.Appointment, 0, len(events))
	for _, a := range events {
		out = append(out, model.Appointment{ID: a.ID, Title: &a.Title, StartTime: &a.StartTime,
			EndTime: &a.EndTime, Status: &a.Status})
	}
	return out, nil
}

// naiveTime reads an API instant, nil when absent or unreadable.
func naiveTime(s string) *time.Time {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return nil
	}
	return &t
}
