// This file is where resolvers read: through the request's dataloaders and
// the shared cache when the gateway has them, straight from the upstream
// client when it has not (the baseline the benchmark compares against). It
// also holds changed, which every mutation calls so that no cached answer
// outlives a write.

package resolvers

import (
	"context"

	"github.com/ghl-graphql/gateway/loaders"
	"github.com/ghl-graphql/gateway/upstream"
)

func (r *Resolver) loadContact(ctx context.Context, id string) (*upstream.Contact, error) {
	if l := loaders.For(ctx); l != nil {
		return l.Contact(ctx, id)
	}
	c, _, err := r.client.Contacts.Get(ctx, id)
	return c, err
}

func (r *Resolver) loadTasks(ctx context.Context, contactID string) ([]upstream.Task, error) {
	if l := loaders.For(ctx); l != nil {
		return l.Tasks(ctx, contactID)
	}
	t, _, err := r.client.Tasks.List(ctx, contactID)
	return t, err
}

func (r *Resolver) loadNotes(ctx context.Context, contactID string) ([]upstream.Note, error) {
	if l := loaders.For(ctx); l != nil {
		return l.Notes(ctx, contactID)
	}
	n, _, err := r.client.Notes.List(ctx, contactID)
	return n, err
}

func (r *Resolver) loadAppointments(ctx context.Context, contactID string) ([]upstream.Appointment, error) {
	if l := loaders.For(ctx); l != nil {
		return l.Appointments(ctx, contactID)
	}
	a, _, err := r.client.Appointments.List(ctx, contactID)
	return a, err
}

func (r *Resolver) loadTask(ctx context.Context, contactID, id string) (*upstream.Task, error) {
	if l := loaders.For(ctx); l != nil {
		return l.Task(ctx, loaders.ChildKey{ContactID: contactID, ID: id})
	}
	t, _, err := r.client.Tasks.Get(ctx, contactID, id)
	return t, err
}

func (r *Resolver) loadNote(ctx context.Context, contactID, id string) (*upstream.Note, error) {
	if l := loaders.For(ctx); l != nil {
		return l.Note(ctx, loaders.ChildKey{ContactID: contactID, ID: id})
	}
	n, _, err := r.client.Notes.Get(ctx, contactID, id)
	return n, err
}

func (r *Resolver) search(ctx context.Context, req *upstream.SearchContactsRequest) (*upstream.SearchResult, error) {
	if r.reader == nil {
		res, _, err := r.client.Contacts.Search(ctx, req)
		return res, err
	}
	res, err := r.reader.Search(ctx, req)
	if err == nil {
		primeContacts(ctx, res.Contacts)
	}
	return res, err
}

func (r *Resolver) listByBusiness(ctx context.Context, businessID string, opts upstream.ListByBusinessOptions) (*upstream.ContactList, error) {
	if r.reader == nil {
		l, _, err := r.client.Contacts.ListByBusiness(ctx, businessID, opts)
		return l, err
	}
	l, err := r.reader.ListByBusiness(ctx, businessID, opts)
	if err == nil {
		primeContacts(ctx, l.Contacts)
	}
	return l, err
}

func (r *Resolver) listLegacy(ctx context.Context, opts upstream.ListOptions) (*upstream.ContactList, error) {
	if r.reader == nil {
		l, _, err := r.client.Contacts.List(ctx, opts)
		return l, err
	}
	l, err := r.reader.List(ctx, opts)
	if err == nil {
		primeContacts(ctx, l.Contacts)
	}
	return l, err
}

func (r *Resolver) findDuplicate(ctx context.Context, locationID, email, phone string) (*upstream.Contact, error) {
	if r.reader == nil {
		c, _, err := r.client.Contacts.FindDuplicate(ctx, locationID, email, phone)
		return c, err
	}
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
	if r.reader != nil {
		r.reader.Invalidate(locationID, contactIDs...)
	}
	if l := loaders.For(ctx); l != nil {
		l.Forget(contactIDs...)
	}
}

// mutate runs a write that changes the given contacts: it refuses a
// credential known to lack contacts.write before any call, runs write, and
// then evicts what the write made stale, whether or not it succeeded (a
// failed write may still have been applied).
func (r *Resolver) mutate(ctx context.Context, write func(context.Context) error, contactIDs ...string) error {
	ctx, cred, err := writeContext(ctx)
	if err != nil {
		return err
	}
	err = write(ctx)
	r.changed(ctx, cred.LocationID, contactIDs...)
	return err
}
