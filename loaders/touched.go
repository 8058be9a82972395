// This file records, per request, which cached answers a response was built
// from: their invalidation tags and the earliest time one of them expires.
// The whole-response cache stores a response under those tags, for no
// longer than that, so it is evicted by the same writes and never outlives
// the answers it holds.

package loaders

import (
	"context"
	"errors"
	"slices"
	"sync"
	"time"

	"github.com/ghl-graphql/gateway/upstream"
)

// Touched collects what one request read. It is safe for concurrent use:
// resolvers run in parallel.
type Touched struct {
	mu          sync.Mutex
	tags        map[string]struct{}
	expires     time.Time
	uncacheable bool
	// refreshAt is when the first answer read enters its refresh-ahead
	// window; keys are the answers' cache keys, to refresh them from a
	// stored response's hits.
	refreshAt time.Time
	keys      []string
	// refusals counts the reads the rate budget refused (RATE_LIMITED),
	// and retry is the soonest their calls could go.
	refusals int
	retry    time.Duration
	// partialErrors is the RATE_LIMITED errors of a partial answer stored
	// (see Partial).
	partialErrors int
	// staleSince is the earliest end of time-to-live among the answers
	// served stale (zero when none): a stored response holding them is as
	// far past its time-to-live as that, which each client's max-stale is
	// checked against when it is served.
	staleSince time.Time
}

type touchedKey struct{}

// WithTouched returns ctx recording the request's reads into a new Touched.
func WithTouched(ctx context.Context) (context.Context, *Touched) {
	t := &Touched{tags: map[string]struct{}{}}
	return context.WithValue(ctx, touchedKey{}, t), t
}

// TouchedFrom returns the request's Touched, nil when it records none.
func TouchedFrom(ctx context.Context) *Touched {
	t, _ := ctx.Value(touchedKey{}).(*Touched)
	return t
}

// note records an answer read for req that stays valid until expires.
func (t *Touched) note(req request, expires time.Time) {
	t.noteAhead(req, expires, 0)
}

// noteAhead is note for a Reader that refreshes answers lead before they
// expire.
func (t *Touched) noteAhead(req request, expires time.Time, lead time.Duration) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, tag := range req.tags {
		t.tags[tag] = struct{}{}
	}
	if t.expires.IsZero() || expires.Before(t.expires) {
		t.expires = expires
	}
	if lead > 0 {
		if at := expires.Add(-lead); t.refreshAt.IsZero() || at.Before(t.refreshAt) {
			t.refreshAt = at
		}
		t.keys = append(t.keys, req.key)
	}
}

// noteStale records an answer read for req that was served stale: stored
// when fetched, expired at expires, served at now, and kept no later than
// dropAt. A response holding it may be stored while every stale mark it
// carries still reads the same: until the answer's age in whole seconds
// (extensions.stale's ageSeconds) would grow, and never past dropAt. So a
// stored stale answer is, to the byte, what executing the query again
// would give while the budget stays spent, and executing is what costs:
// under a spent budget most answers are such.
func (t *Touched) noteStale(req request, stored, expires, now, dropAt time.Time) {
	age := now.Sub(stored)
	until := stored.Add((age/time.Second + 1) * time.Second)
	if dropAt.Before(until) {
		until = dropAt
	}
	t.note(req, until) // its tags, and the bound on the stored response's life
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.staleSince.IsZero() || expires.Before(t.staleSince) {
		t.staleSince = expires
	}
}

// StaleSince is the earliest end of time-to-live among the answers served
// stale to the request (see noteStale); zero when none was.
func (t *Touched) StaleSince() time.Time {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.staleSince
}

// Refresh returns the cache keys of the answers read, and when the first of
// them is due for a refresh ahead of its expiry; none when the Reader does
// not refresh ahead.
func (t *Touched) Refresh() (keys []string, at time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	// Fields that read the same answer noted it each; a stored response
	// needs it once.
	slices.Sort(t.keys)
	t.keys = slices.Compact(t.keys)
	return t.keys, t.refreshAt
}

// MarkUncacheable records that the response must not be stored: it is not
// a query's, it carries errors, or part of it came from outside the cache.
func (t *Touched) MarkUncacheable() {
	t.mu.Lock()
	t.uncacheable = true
	t.mu.Unlock()
}

// Result returns the tags and expiry to store the response with; ok is
// false when it must not be stored. A response that read nothing has no
// tag to be evicted by and is not stored, unless it is a refusal (Partial):
// it holds no data a write could make wrong, and the same query would be
// refused again until the calls could go.
func (t *Touched) Result() (tags []string, expires time.Time, ok bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.uncacheable || (len(t.tags) == 0 && t.partialErrors == 0) || t.expires.IsZero() {
		return nil, time.Time{}, false
	}
	tags = make([]string, 0, len(t.tags))
	for tag := range t.tags {
		tags = append(tags, tag)
	}
	return tags, t.expires, true
}

// noteRefusal records a read that failed with err, when err is the rate
// budget's refusal: the response then has a RATE_LIMITED part, which the
// same query would get again until the call could go.
func (t *Touched) noteRefusal(err error) {
	var ue *upstream.Error
	if t == nil || !errors.Is(err, upstream.ErrRateLimited) || !errors.As(err, &ue) || ue.RetryAfter <= 0 {
		return
	}
	t.mu.Lock()
	if t.refusals == 0 || ue.RetryAfter < t.retry {
		t.retry = ue.RetryAfter
	}
	t.refusals++
	t.mu.Unlock()
}

// Refused reports whether the rate budget refused some of the request's
// reads, and the soonest time, from the refusal, at which one of their
// calls could go.
func (t *Touched) Refused() (retry time.Duration, ok bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.retry, t.refusals > 0
}

// Partial records that the response is a partial answer with this many
// RATE_LIMITED errors, and bounds its expiry at until: it is worth storing
// only until the calls its missing parts need could go.
func (t *Touched) Partial(until time.Time, rateLimited int) {
	t.mu.Lock()
	if t.expires.IsZero() || until.Before(t.expires) {
		t.expires = until
	}
	t.partialErrors = rateLimited
	t.mu.Unlock()
}

// PartialErrors is what Partial recorded: the RATE_LIMITED errors of the
// response, 0 for a whole answer.
func (t *Touched) PartialErrors() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.partialErrors
}
