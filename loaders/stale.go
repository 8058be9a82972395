// This file serves stale answers when no fresh one can be had: the cache
// keeps answers for a while past their time-to-live, and when the fresh
// fetch is refused because the location's rate budget is spent (or the
// upstream answered 429), or the circuit breaker is open, the kept answer is
// served instead of the error, and the request records where (the GraphQL
// path of the field) and how old it is, for extensions.stale. Anything else
// (a 404, a 401, a 5xx, bad input) is passed on as it is: those say
// something about the data or the credential that an old copy cannot hide.
//
// Nothing a write evicted is ever served stale: Invalidate removes kept
// entries too, and the write epoch keeps answers fetched before a write out.

package loaders

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"

	"github.com/ghl-graphql/gateway/upstream"
)

// DefaultStaleFor is how long, past its time-to-live, an answer is kept to
// be served stale when the budget is spent or the upstream is unavailable.
const DefaultStaleFor = 5 * time.Minute

// ChangeFeed tells whether cached answers are known to be unchanged. With
// HighLevel's webhooks on (issue 12), a change made anywhere arrives as an
// event that evicts what it touched (Reader.Invalidate), so an answer no
// event has touched since it was fetched is still right however old: the
// Reader serves such an answer as fresh, past its time-to-live (within what
// the cache keeps, Config.StaleFor), without calling the upstream.
type ChangeFeed interface {
	// Unchanged reports whether nothing tagged with any of tags can have
	// changed since since: the feed has been connected all along and no
	// event named them. When in doubt (a gap in the feed) it must say false.
	Unchanged(tags []string, since time.Time) bool
}

// StaleMark says that the data of one field of a response is stale: the
// GraphQL path of the field and the age of the answer it was built from
// (seconds since it was fetched from the upstream, rounded down).
type StaleMark struct {
	Path       ast.Path `json:"path"`
	AgeSeconds int64    `json:"ageSeconds"`
}

// staleSet is what one request served stale.
type staleSet struct {
	// maxStale is the client's bound on staleness (Cache-Control:
	// max-stale=N), when hasMax.
	maxStale time.Duration
	hasMax   bool

	mu sync.Mutex
	// byKey holds the age of each answer served stale, by cache key, so
	// that every field that reads it gets its own mark.
	byKey map[string]time.Duration
	marks []StaleMark
	paths map[string]struct{}
}

// record notes that the answer under key was served stale at this age.
func (s *staleSet) record(key string, age time.Duration) {
	s.mu.Lock()
	if s.byKey == nil {
		s.byKey = map[string]time.Duration{}
	}
	s.byKey[key] = age
	s.mu.Unlock()
}

// markField marks the field of ctx as stale if the answer under key was
// served stale to this request.
func (s *staleSet) markField(ctx context.Context, key string) {
	s.mu.Lock()
	age, ok := s.byKey[key]
	s.mu.Unlock()
	if ok {
		s.mark(ctx, age)
	}
}

// mark records the field of ctx as stale at this age, once per path.
func (s *staleSet) mark(ctx context.Context, age time.Duration) {
	fc := graphql.GetFieldContext(ctx)
	if fc == nil {
		return
	}
	path := fc.Path()
	p := path.String()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.paths == nil {
		s.paths = map[string]struct{}{}
	}
	if _, dup := s.paths[p]; dup {
		return
	}
	s.paths[p] = struct{}{}
	s.marks = append(s.marks, StaleMark{Path: path, AgeSeconds: int64(age / time.Second)})
}

// MarkQuery records that the request of ctx runs a query, which the
// gateway may answer, in part or whole, from what it holds (see IsQuery).
func MarkQuery(ctx context.Context) {
	if l := For(ctx); l != nil {
		l.query.Store(true)
	}
}

// IsQuery reports whether MarkQuery marked the request of ctx.
func IsQuery(ctx context.Context) bool {
	l := For(ctx)
	return l != nil && l.query.Load()
}

// StaleMarks returns the stale marks of the request of ctx, in the order
// they were made; nil when nothing was served stale.
func StaleMarks(ctx context.Context) []StaleMark {
	l := For(ctx)
	if l == nil {
		return nil
	}
	l.stale.mu.Lock()
	defer l.stale.mu.Unlock()
	if len(l.stale.marks) == 0 {
		return nil
	}
	return append([]StaleMark(nil), l.stale.marks...)
}

// MaxStale reads the client's bound on staleness from Cache-Control:
// max-stale=N (seconds) bounds how long past its time-to-live an answer may
// be, max-stale=0 refuses stale answers, and max-stale without a value
// takes whatever the gateway keeps. ok is false when the request says
// nothing (the gateway's bound applies). A malformed value refuses stale
// answers: a client that tried to bound them wants fresh data.
func MaxStale(h http.Header) (bound time.Duration, ok bool) {
	for _, v := range h.Values("Cache-Control") {
		for _, d := range strings.Split(v, ",") {
			d = strings.TrimSpace(d)
			name, val, hasVal := strings.Cut(d, "=")
			if !strings.EqualFold(strings.TrimSpace(name), "max-stale") {
				continue
			}
			if !hasVal {
				return time.Duration(1<<63 - 1), true
			}
			n, err := strconv.ParseInt(strings.Trim(strings.TrimSpace(val), `"`), 10, 64)
			if err != nil || n < 0 {
				return 0, true
			}
			if n > int64((1<<63-1)/time.Second) {
				return time.Duration(1<<63 - 1), true
			}
			return time.Duration(n) * time.Second, true
		}
	}
	return 0, false
}

// staleAllowed reports whether err says only that no fresh answer can be
// had now: the budget (or HighLevel) refused for the rate limit, or the
// circuit breaker is open.
func staleAllowed(err error) bool {
	return errors.Is(err, upstream.ErrRateLimited) || errors.Is(err, upstream.ErrUnavailable)
}

type batchKey struct{}

// inBatch reports whether ctx is a dataloader batch's, whose field is not
// the one that asked (the loader marks the asking field itself).
func inBatch(ctx context.Context) bool {
	_, ok := ctx.Value(batchKey{}).(bool)
	return ok
}

// serveStale returns the answer kept for req when err says no fresh one can
// be had, the answer is within the gateway's and the client's bounds, and
// the request can mark it; it records the mark, and bounds how long the
// response may be stored (Touched.noteStale).
func (r *Reader) serveStale(ctx context.Context, req request, err error) (any, bool) {
	if r.cache == nil || r.staleFor <= 0 || skipCache(ctx) || !staleAllowed(err) {
		return nil, false
	}
	l := For(ctx)
	if l == nil {
		// Nowhere to mark it: the client must not get old data unmarked.
		return nil, false
	}
	v, stored, expires, ok := r.cache.GetStale(req.key)
	if !ok {
		return nil, false
	}
	now := r.now()
	touched := TouchedFrom(ctx)
	if now.Before(expires) {
		// Another call stored a fresh answer meanwhile.
		r.touch(touched, req, expires)
		return v, true
	}
	bound := r.staleFor
	if l.stale.hasMax {
		if l.stale.maxStale <= 0 {
			return nil, false
		}
		bound = min(bound, l.stale.maxStale)
	}
	if now.Sub(expires) > bound {
		return nil, false
	}
	age := now.Sub(stored)
	l.stale.record(req.key, age)
	if !inBatch(ctx) {
		l.stale.mark(ctx, age)
	}
	if touched != nil {
		touched.noteStale(req, stored, expires, now, expires.Add(r.staleFor))
	}
	r.staleServed.Add(1)
	return v, true
}

// canFallBack reports whether, were req's call refused for the rate
// limit, serveStale would serve a kept answer: the cache keeps one past its
// time-to-live and within the gateway's and the client's bounds, and the
// request can mark it.
func (r *Reader) canFallBack(ctx context.Context, req request) bool {
	if r.cache == nil || r.staleFor <= 0 || skipCache(ctx) {
		return false
	}
	l := For(ctx)
	if l == nil || (l.stale.hasMax && l.stale.maxStale <= 0) {
		return false
	}
	_, _, expires, ok := r.cache.GetStale(req.key)
	if !ok {
		return false
	}
	bound := r.staleFor
	if l.stale.hasMax {
		bound = min(bound, l.stale.maxStale)
	}
	now := r.now()
	return !now.Before(expires) && now.Sub(expires) <= bound
}

// unchanged returns the answer kept for req, as fresh, when the change feed
// says nothing it holds has changed since it was fetched.
func (r *Reader) unchanged(ctx context.Context, req request) (any, bool) {
	if r.changes == nil || r.cache == nil || skipCache(ctx) {
		return nil, false
	}
	v, stored, _, ok := r.cache.GetStale(req.key)
	if !ok || !r.changes.Unchanged(req.tags, stored) {
		return nil, false
	}
	if t := TouchedFrom(ctx); t != nil {
		// Fresh until the next event or one more time-to-live, whichever
		// comes first: an event evicts the stored response by its tags.
		t.note(req, r.now().Add(req.ttl))
	}
	return v, true
}

// staleListed serves, when err says no fresh answer can be had, the listed
// copy of contact id kept past its time-to-live, if it carries need: as
// serveStale does for the whole contact, within the same bounds and marked.
func (r *Reader) staleListed(ctx context.Context, id string, need upstream.ContactFields, err error) (*upstream.Contact, bool) {
	if r.cache == nil || !staleAllowed(err) {
		return nil, false
	}
	req := r.contactRequest(ctx, listedKind, id)
	v, _, _, ok := r.cache.GetStale(req.key)
	if !ok {
		return nil, false
	}
	if c, _ := v.(*upstream.Contact); c == nil || !c.Carries(need) {
		return nil, false
	}
	v, ok = r.serveStale(ctx, req, err)
	if !ok {
		return nil, false
	}
	return v.(*upstream.Contact), true
}
