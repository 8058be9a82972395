// This file holds the per-request dataloaders: within one GraphQL request,
// each distinct resource is fetched at most once, and the fetches that
// resolvers ask for at about the same time go out together.

package loaders

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/vikstrous/dataloadgen"

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

// Loaders are one request's dataloaders.
type Loaders struct {
	Contact      *dataloadgen.Loader[string, *upstream.Contact]
	Tasks        *dataloadgen.Loader[string, []upstream.Task]
	Notes        *dataloadgen.Loader[string, []upstream.Note]
	Appointments *dataloadgen.Loader[string, []upstream.Appointment]
	Task         *dataloadgen.Loader[ChildKey, *upstream.Task]
	Note         *dataloadgen.Loader[ChildKey, *upstream.Note]
}

// New returns fresh loaders over r, for one request.
func New(r *Reader) *Loaders {
	opt := dataloadgen.WithWait(batchWait)
	return &Loaders{
		Contact:      dataloadgen.NewMappedLoader(each(r.Contact), opt),
		Tasks:        dataloadgen.NewMappedLoader(each(r.Tasks), opt),
		Notes:        dataloadgen.NewMappedLoader(each(r.Notes), opt),
		Appointments: dataloadgen.NewMappedLoader(each(r.Appointments), opt),
		Task: dataloadgen.NewMappedLoader(each(func(ctx context.Context, k ChildKey) (*upstream.Task, error) {
			return r.Task(ctx, k.ContactID, k.ID)
		}), opt),
		Note: dataloadgen.NewMappedLoader(each(func(ctx context.Context, k ChildKey) (*upstream.Note, error) {
			return r.Note(ctx, k.ContactID, k.ID)
		}), opt),
	}
}

// each turns a one-key fetch into a batch fetch that runs the keys
// concurrently (the Reader bounds the concurrency per location) and reports
// each key's own error.
func each[K comparable, V any](fetch func(context.Context, K) (V, error)) func(context.Context, []K) (map[K]V, error) {
	return func(ctx context.Context, keys []K) (map[K]V, error) {
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
	for _, id := range contactIDs {
		l.Contact.Clear(id)
		l.Tasks.Clear(id)
		l.Notes.Clear(id)
		l.Appointments.Clear(id)
	}
	// Single tasks and notes are keyed by pairs; drop them all.
	l.Task.ClearAll()
	l.Note.ClearAll()
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

// Middleware gives every request fresh loaders over r, and honours a
// client's Cache-Control: no-cache.
func Middleware(r *Reader, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		ctx := WithLoaders(req.Context(), New(r))
		if noCache(req.Header) {
			ctx = WithoutCache(ctx)
		}
		next.ServeHTTP(w, req.WithContext(ctx))
	})
}

// noCache reports whether the request asks not to be served from a cache.
func noCache(h http.Header) bool {
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
