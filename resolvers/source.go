// This file is where resolvers read: always through the request's
// dataloaders and the shared Reader (cache, coalescing, per-location
// limits); there is no second read path. It also holds changed, which the
// write path calls so that no cached answer outlives a write.

package resolvers

import (
	"context"

	"github.com/ghl-graphql/gateway/loaders"
	"github.com/ghl-graphql/gateway/upstream"
)

// loaders returns the request's dataloaders; a call outside a GraphQL
// request that has none (a worker running the write path, a test) gets
// fresh ones over the same shared Reader, so every read takes one path.
func (r *Resolver) loaders(ctx context.Context) *loaders.Loaders {
	if l := loaders.For(ctx); l != nil {
		return l
	}
	return loaders.New(r.reader)
}

func (r *Resolver) loadContact(ctx context.Context, id string) (*upstream.Contact, error) {
	return r.loaders(ctx).Contact(ctx, id)
}

func (r *Resolver) loadTasks(ctx context.Context, contactID string) ([]upstream.Task, error) {
	return r.loaders(ctx).Tasks(ctx, contactID)
}

func (r *Resolver) loadNotes(ctx context.Context, contactID string) ([]upstream.Note, error) {
	return r.loaders(ctx).Notes(ctx, contactID)
}

func (r *Resolver) loadAppointments(ctx context.Context, contactID string) ([]upstream.Appointment, error) {
	return r.loaders(ctx).Appointments(ctx, contactID)
}

func (r *Resolver) loadTask(ctx context.Context, contactID, id string) (*upstream.Task, error) {
	return r.loaders(ctx).Task(ctx, loaders.ChildKey{ContactID: contactID, ID: id})
}

func (r *Resolver) loadNote(ctx context.Context, contactID, id string) (*upstream.Note, error) {
	return r.loaders(ctx).Note(ctx, loaders.ChildKey{ContactID: contactID, ID: id})
}

func (r *Resolver) search(ctx context.Context, req *upstream.SearchContactsRequest) (*upstream.SearchResult, error) {
	res, err := r.reader.Search(ctx, req)
	if err == nil {
		primeContacts(ctx, res.Contacts)
	}
	return res, err
}

func (r *Resolver) listByBusiness(ctx context.Context, businessID string, opts upstream.ListByBusinessOptions) (*upstream.ContactList, error) {
	l, err := r.reader.ListByBusiness(ctx, businessID, opts)
	if err == nil {
		primeContacts(ctx, l.Contacts)
	}
	return l, err
}

func (r *Resolver) listLegacy(ctx context.Context, opts upstream.ListOptions) (*upstream.ContactList, error) {
	l, err := r.reader.List(ctx, opts)
	if err == nil {
		primeContacts(ctx, l.Contacts)
	}
	return l, err
}

func (r *Resolver) findDuplicate(ctx context.Context, locationID, email, phone string) (*upstream.Contact, error) {
	return r.reader.FindDuplicate(ctx, locationID, email, phone)
}

// primeContacts hands contacts a listing returned to the request's contact
// loader, so that a field reading one of them again costs no call.
func primeContacts(ctx context.Context, contacts []upstream.Contact) {
	l := loaders.For(ctx)
	if l == nil {
		return
	}
	for i := range contacts {
		l.PrimeContact(&contacts[i])
	}
}

// changed makes the gateway forget what a write to these contacts of this
// location (may be "" when unknown) made stale: in the shared cache and in
// this request's loaders. Mutations call it after the upstream call, also
// when it failed, since a failed write may still have been applied.
func (r *Resolver) changed(ctx context.Context, locationID string, contactIDs ...string) {
	r.reader.Invalidate(locationID, contactIDs...)
	if l := loaders.For(ctx); l != nil {
		l.Forget(contactIDs...)
	}
}
