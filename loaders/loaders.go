// This file holds the per-request dataloaders: within one GraphQL request,
// each distinct resource is fetched at most once, and the fetches that
// resolvers ask for at about the same time go out together.

package loaders

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vikstrous/dataloadgen"

	"github.com/ghl-graphql/gateway/auth"
	"github.com/ghl-graphql/gateway/upstream"
)

// batchWait is how long a loader gathers keys before fetching. The API has
// no batch endpoints, so a batch buys nothing but de-duplication and
// concurrency; a long wait would only add latency to every snapshot.
const batchWait = 250 * time.Microsecond

// ChildKey names a task or note of a contact.
type ChildKey struct {
	ContactID, ID string
}

// Loaders are one request's dataloaders. Each Load first looks in the shared
// cache, synchronously, so a warm read never waits for a batch.
type Loaders struct {
	reader       *Reader
	stale        staleSet
	query        atomic.Bool // the request runs a query (MarkQuery)
	contact      *dataloadgen.Loader[string, *upstream.Contact]
	tasks        *dataloadgen.Loader[string, []upstream.Task]
	notes        *dataloadgen.Loader[string, []upstream.Note]
	appointments *dataloadgen.Loader[string, []upstream.Appointment]
	task         *dataloadgen.Loader[ChildKey, *upstream.Task]
	note         *dataloadgen.Loader[ChildKey, *upstream.Note]

	// listed holds the partial contacts this request's listings returned
	// (see upstream.Contact.Fields): never handed out as whole contacts.
	listedMu sync.Mutex
	listed   map[string]*upstream.Contact
}

// New returns fresh loaders over r, for one request.
func New(r *Reader) *Loaders {
	opt := dataloadgen.WithWait(batchWait)
	return &Loaders{
		reader:       r,
		contact:      dataloadgen.NewMappedLoader(each(r.Contact), opt),
		tasks:        dataloadgen.NewMappedLoader(each(completing(r.Tasks)), opt),
		notes:        dataloadgen.NewMappedLoader(each(completing(r.Notes)), opt),
		appointments: dataloadgen.NewMappedLoader(each(completing(r.Appointments)), opt),
		task: dataloadgen.NewMappedLoader(each(func(ctx context.Context, k ChildKey) (*upstream.Task, error) {
			return r.Task(ctx, k.ContactID, k.ID)
		}), opt),
		note: dataloadgen.NewMappedLoader(each(func(ctx context.Context, k ChildKey) (*upstream.Note, error) {
			return r.Note(ctx, k.ContactID, k.ID)
		}), opt),
	}
}

// load reads from the shared cache if it can, else through loader.
func load[K comparable, V any](ctx context.Context, l *Loaders, loader *dataloadgen.Loader[K, V], req request, key K) (V, error) {
	if v, ok := cached[V](ctx, l.reader, req); ok {
		return v, nil
	}
	v, err := loader.Load(ctx, key)
	if err == nil {
		// The batch that read it ran on another field's context: mark this
		// field if what it got was stale.
		l.stale.markField(ctx, req.key)
	}
	return v, err
}

// Contact loads one whole contact.
func (l *Loaders) Contact(ctx context.Context, id string) (*upstream.Contact, error) {
	return load(ctx, l, l.contact, l.reader.contactRequest(ctx, "contact", id), id)
}

// ContactCarrying returns a contact that carries every field in need: the
// whole contact when it is cached, else one a listing returned (in this
// request or, through the shared cache, an earlier one) if that carries
// need, else the whole contact, loaded. The warm path (whole contact
// cached) costs what Contact costs.
func (l *Loaders) ContactCarrying(ctx context.Context, id string, need upstream.ContactFields) (*upstream.Contact, error) {
	req := l.reader.contactRequest(ctx, "contact", id)
	if v, ok := cached[*upstream.Contact](ctx, l.reader, req); ok {
		return v, nil
	}
	c := l.listedContact(ctx, id)
	if c != nil {
		l.reader.prime.listedRead(ctx, c.Carries(need))
		if c.Carries(need) {
			return c, nil
		}
	} else {
		// Neither copy: the location's listing may bring this contact and
		// the next misses in one call.
		l.reader.primeOnMiss(ctx)
	}
	c, err := l.contact.Load(ctx, id)
	if err == nil {
		l.stale.markField(ctx, req.key) // as load does: the batch ran on another context
		return c, nil
	}
	if lc, ok := l.reader.staleListed(ctx, id, need, err); ok {
		return lc, nil
	}
	return nil, err
}

// listedContact is the partial contact a listing returned, nil if none.
func (l *Loaders) listedContact(ctx context.Context, id string) *upstream.Contact {
	l.listedMu.Lock()
	c := l.listed[id]
	l.listedMu.Unlock()
	if c != nil {
		return c
	}
	c, _ = cached[*upstream.Contact](ctx, l.reader, l.reader.contactRequest(ctx, listedKind, id))
	return c
}

// Contacts loads whole contacts, in one batch: the ones the shared cache
// lacks go out together, each coalesced with identical calls of other
// requests. errs is nil when every load succeeded, else errs[i] is ids[i]'s.
func (l *Loaders) Contacts(ctx context.Context, ids []string) (contacts []*upstream.Contact, errs []error) {
	contacts = make([]*upstream.Contact, len(ids))
	thunks := make([]func() (*upstream.Contact, error), len(ids))
	keys := make([]string, len(ids))
	for i, id := range ids {
		req := l.reader.contactRequest(ctx, "contact", id)
		if v, ok := cached[*upstream.Contact](ctx, l.reader, req); ok {
			contacts[i] = v
			continue
		}
		keys[i] = req.key
		thunks[i] = l.contact.LoadThunk(ctx, id)
	}
	for i, thunk := range thunks {
		if thunk == nil {
			continue
		}
		c, err := thunk()
		if err != nil {
			if errs == nil {
				errs = make([]error, len(ids))
			}
			errs[i] = err
			continue
		}
		contacts[i] = c
		l.stale.markField(ctx, keys[i])
	}
	return contacts, errs
}

// Tasks loads a contact's tasks.
func (l *Loaders) Tasks(ctx context.Context, contactID string) ([]upstream.Task, error) {
	return load(ctx, l, l.tasks, l.reader.contactRequest(ctx, "tasks", contactID), contactID)
}

// Notes loads a contact's notes.
func (l *Loaders) Notes(ctx context.Context, contactID string) ([]upstream.Note, error) {
	return load(ctx, l, l.notes, l.reader.contactRequest(ctx, "notes", contactID), contactID)
}

// Appointments loads a contact's appointments.
func (l *Loaders) Appointments(ctx context.Context, contactID string) ([]upstream.Appointment, error) {
	return load(ctx, l, l.appointments, l.reader.contactRequest(ctx, "appointments", contactID), contactID)
}

// Task loads one task of a contact.
func (l *Loaders) Task(ctx context.Context, k ChildKey) (*upstream.Task, error) {
	return load(ctx, l, l.task, l.reader.contactRequest(ctx, "task", k.ContactID, k.ID), k)
}

// Note loads one note of a contact.
func (l *Loaders) Note(ctx context.Context, k ChildKey) (*upstream.Note, error) {
	return load(ctx, l, l.note, l.reader.contactRequest(ctx, "note", k.ContactID, k.ID), k)
}

// Resources a contact's snapshot can start loading early (see Start).
const (
	StartTasks        = "tasks"
	StartNotes        = "notes"
	StartAppointments = "appointments"
)

// Start begins loading contactID's resource of this kind (StartTasks, …)
// without waiting for it, so that it shares a round trip with whatever is
// loaded now; a later Load of it gets the same answer. It does nothing when
// the shared cache already has it.
func (l *Loaders) Start(ctx context.Context, kind, contactID string) {
	switch kind {
	case StartTasks:
		if _, ok := cached[[]upstream.Task](ctx, l.reader, l.reader.contactRequest(ctx, kind, contactID)); !ok {
			l.tasks.LoadThunk(ctx, contactID)
		}
	case StartNotes:
		if _, ok := cached[[]upstream.Note](ctx, l.reader, l.reader.contactRequest(ctx, kind, contactID)); !ok {
			l.notes.LoadThunk(ctx, contactID)
		}
	case StartAppointments:
		if _, ok := cached[[]upstream.Appointment](ctx, l.reader, l.reader.contactRequest(ctx, kind, contactID)); !ok {
			l.appointments.LoadThunk(ctx, contactID)
		}
	}
}

// StartTask begins loading one task, like Start.
func (l *Loaders) StartTask(ctx context.Context, k ChildKey) { l.task.LoadThunk(ctx, k) }

// StartNote begins loading one note, like Start.
func (l *Loaders) StartNote(ctx context.Context, k ChildKey) { l.note.LoadThunk(ctx, k) }

// PrimeContact hands the loaders a contact a listing returned: a whole one
// to the contact loader; a partial one aside, where only ContactCarrying
// looks, so that Contact never returns a contact with fields missing.
func (l *Loaders) PrimeContact(c *upstream.Contact) {
	if !c.Partial() {
		l.contact.Prime(c.ID, c)
		return
	}
	l.listedMu.Lock()
	defer l.listedMu.Unlock()
	if l.listed == nil {
		l.listed = map[string]*upstream.Contact{}
	}
	l.listed[c.ID] = c
}

// completing marks the calls of fetch as completing an answer: a
// contact's lists are only ever read as fields of a contact, so an answer
// that lacks them still has data (the contact), and while the budget is
// short they wait behind the calls that give answers their data
// (upstream.ContextCompleting).
func completing[K comparable, V any](fetch func(context.Context, K) (V, error)) func(context.Context, K) (V, error) {
	return func(ctx context.Context, k K) (V, error) { return fetch(upstream.ContextCompleting(ctx), k) }
}

// each turns a one-key fetch into a batch fetch that runs the keys
// concurrently (the Reader bounds the concurrency per location) and reports
// each key's own error.
func each[K comparable, V any](fetch func(context.Context, K) (V, error)) func(context.Context, []K) (map[K]V, error) {
	return func(ctx context.Context, keys []K) (map[K]V, error) {
		ctx = context.WithValue(ctx, batchKey{}, true)
		var (
			mu   sync.Mutex
			wg   sync.WaitGroup
			vals = make(map[K]V, len(keys))
			errs dataloadgen.MappedFetchError[K]
		)
		for _, k := range keys {
			wg.Add(1)
			go func() {
				defer wg.Done()
				v, err := fetch(ctx, k)
				mu.Lock()
				defer mu.Unlock()
				if err != nil {
					if errs == nil {
						errs = dataloadgen.MappedFetchError[K]{}
					}
					errs[k] = err
					return
				}
				vals[k] = v
			}()
		}
		wg.Wait()
		if errs != nil {
			return vals, errs
		}
		return vals, nil
	}
}

// Forget drops what this request loaded about the contacts, so that a later
// field of the same request (mutations run in order) reads them afresh.
func (l *Loaders) Forget(contactIDs ...string) {
	l.listedMu.Lock()
	for _, id := range contactIDs {
		delete(l.listed, id)
	}
	l.listedMu.Unlock()
	for _, id := range contactIDs {
		l.contact.Clear(id)
		l.tasks.Clear(id)
		l.notes.Clear(id)
		l.appointments.Clear(id)
	}
	// Single tasks and notes are keyed by pairs; drop them all.
	l.task.ClearAll()
	l.note.ClearAll()
}

type loadersKey struct{}

// For returns the request's loaders, nil when the request has none (the
// gateway then calls the upstream directly).
func For(ctx context.Context) *Loaders {
	l, _ := ctx.Value(loadersKey{}).(*Loaders)
	return l
}

// WithLoaders returns ctx carrying l.
func WithLoaders(ctx context.Context, l *Loaders) context.Context {
	return context.WithValue(ctx, loadersKey{}, l)
}

// Middleware gives every request fresh loaders over r, and serves nothing
// from the cache to a client that sends Cache-Control: no-cache or whose
// token the upstream last rejected. Cache-Control: max-stale bounds the
// stale answers the request may get (see MaxStale).
func Middleware(r *Reader, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		l := New(r)
		l.stale.maxStale, l.stale.hasMax = MaxStale(req.Header)
		ctx := WithLoaders(req.Context(), l)
		cred, ok := auth.FromContext(ctx)
		if NoCacheRequested(req.Header) || (ok && cred.Rejected) {
			ctx = WithoutCache(ctx)
		} else if ok && cred.Unconfirmed {
			ctx = withConfirmation(ctx)
		}
		next.ServeHTTP(w, req.WithContext(ctx))
	})
}

// NoCacheRequested reports whether a request asks not to be served from a
// cache (Cache-Control: no-cache, no-store or max-age=0; Pragma: no-cache).
func NoCacheRequested(h http.Header) bool {
	for _, v := range h.Values("Cache-Control") {
		for _, d := range strings.Split(v, ",") {
			switch strings.ToLower(strings.TrimSpace(d)) {
			case "no-cache", "no-store", "max-age=0":
				return true
			}
		}
	}
	return strings.EqualFold(strings.TrimSpace(h.Get("Pragma")), "no-cache")
}
