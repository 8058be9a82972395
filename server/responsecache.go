// This file holds the whole-response cache: a warm query is answered with
// the bytes of an earlier identical answer, without running the executor.
// A response is stored only when it is a query's, carries no error (but the
// rate budget's, briefly: see noErrorsCached), and was built wholly from
// cached upstream answers; it is tagged with those
// answers' tags, so the writes that evict them evict it too, and it expires
// when the first of them would.

package server

import (
	"bytes"
	"context"
	"crypto/sha256"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/ghl-graphql/gateway/auth"
	"github.com/ghl-graphql/gateway/errcode"
	"github.com/ghl-graphql/gateway/loaders"
)

// DefaultPartialCacheTTL bounds how long a partial answer whose only errors
// are RATE_LIMITED is stored (Config.PartialCacheTTL), never past the
// refusal's retryAfter: one HighLevel rate window, after which the budget
// has turned over. Its retryAfter numbers are rewritten at each hit
// (countdown.go), so a stored copy tells the wait left, not the wait then.
const DefaultPartialCacheTTL = 10 * time.Second

// maxCachedResponse bounds a stored response; larger ones are served, not kept.
const maxCachedResponse = 1 << 20

// cachedResponse is a stored answer.
type cachedResponse struct {
	contentType string
	body        []byte
	// keys are the cache keys of the upstream answers it was built from,
	// and refreshAt when the first of them is due for refresh-ahead: hits
	// after it start their refreshes, since a hit reads no answer itself.
	keys      []string
	refreshAt time.Time
	// step and next pace the hits that look for due answers: at most about
	// eight looks per refresh window, not one per hit.
	step time.Duration
	next atomic.Int64 // unix nanoseconds
	// requestID is where body holds its request's ID, and operation the
	// operation's name, for the request log (requestlog.go) and the
	// metrics of its hits (observe.go).
	requestID requestIDSpot
	operation string
	// rateLimited is the RATE_LIMITED errors of a stored partial answer,
	// for the request log of its hits.
	rateLimited int
	// waits are the retryAfter numbers of a stored partial answer, which
	// hits rewrite as the answer ages (countdown.go).
	waits *countdowns
	// staleSince is, for an answer with parts served stale, the earliest
	// end of time-to-live among them: a hit is as far past it as the
	// answer is past its time-to-live, which the client's max-stale bounds.
	staleSince time.Time
}

// withResponseCache answers repeated identical queries of one credential
// from reader's cache. A response with parts served stale is stored only
// while its stale marks still read the same (see loaders' noteStale), and
// is served only within the client's max-stale; one with errors only when
// they are all RATE_LIMITED (see noErrorsCached). Stored responses
// themselves are never kept past their time-to-live.
func withResponseCache(reader *loaders.Reader, counts *hitCounter, next http.Handler) http.Handler {
	c := reader.Cache()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		cred, ok := auth.FromContext(r.Context())
		// A token the upstream rejected gets nothing cached, and leaves
		// nothing: its next answer decides whether it is still good.
		if !ok || cred.Rejected || (r.Method != http.MethodPost && r.Method != http.MethodGet) {
			next.ServeHTTP(w, r)
			return
		}
		var req []byte
		if r.Method == http.MethodPost {
			body, ok := requestBody(r)
			if !ok {
				next.ServeHTTP(w, r)
				return
			}
			req = body
		} else {
			req = []byte(r.URL.RawQuery)
		}
		key := responseCacheKey(cred.ID, cred.LocationID, r.Method, headerValue(r.Header, "Content-Type"),
			headerValue(r.Header, "Accept"), sha256.Sum256(req)) // warmpath.go: one allocation
		var maxStale time.Duration
		var boundsStale bool
		if len(r.Header["Cache-Control"]) > 0 {
			maxStale, boundsStale = loaders.MaxStale(r.Header)
		}
		if boundsStale {
			// A client that bounds staleness gets answers of its own: one
			// refusing stale data must not store the refusal over the stale
			// answer everyone else is served, nor read that one.
			key += "\x1fmax-stale"
		}

		// An unconfirmed credential (webhooks on, not accepted by the
		// upstream lately) is confirmed by the loaders before anything
		// cached is served to it.
		if !noCacheRequested(r.Header) && !cred.Unconfirmed {
			if v, _, ok := c.Get(key); ok && staleWithin(v.(*cachedResponse), boundsStale, maxStale, reader.Now) {
				counts.hits.Add(1)
				resp := v.(*cachedResponse)
				if resp.keys != nil {
					if now := reader.Now(); !now.Before(resp.refreshAt) && now.UnixNano() >= resp.next.Load() {
						resp.next.Store(now.Add(resp.step).UnixNano())
						reader.RefreshAhead(r.Context(), resp.keys)
					}
				}
				if resp.rateLimited > 0 {
					countStoredErrors(r.Context(), resp.rateLimited)
				}
				w.Header().Set("Content-Type", resp.contentType)
				markCached(r.Context(), resp.operation)
				if resp.waits != nil {
					resp.waits.write(r.Context(), w, resp, reader.Now()) // waits as of now, too
				} else {
					resp.requestID.write(r.Context(), w, resp.body) // this request's ID, not the first one's
				}
				return
			}
			counts.misses.Add(1)
		}

		epoch := c.Epoch()
		ctx, touched := loaders.WithTouched(r.Context())
		rec := &teeWriter{ResponseWriter: w, status: http.StatusOK}
		next.ServeHTTP(rec, r.WithContext(ctx))
		if rec.status != http.StatusOK || rec.overflow {
			return
		}
		tags, expires, ok := touched.Result()
		if !ok {
			return
		}
		ttl := expires.Sub(reader.Now())
		resp := &cachedResponse{contentType: rec.Header().Get("Content-Type"), body: rec.buf.Bytes()}
		resp.requestID = findRequestID(resp.body, RequestID(r.Context()))
		resp.operation = requestOperation(ctx)
		resp.keys, resp.refreshAt = touched.Refresh()
		resp.rateLimited = touched.PartialErrors()
		resp.staleSince = touched.StaleSince()
		if resp.rateLimited > 0 {
			if waits, ok := findCountdowns(resp.body, resp.rateLimited, reader.Now()); ok && requestIDsAfter(resp.requestID, waits.end) {
				resp.waits = &waits
			} else {
				ttl = min(ttl, countdownFallback)
			}
		}
		resp.step = max(expires.Sub(resp.refreshAt)/8, time.Millisecond)
		c.Set(key, resp, len(resp.body)+len(resp.keys)*64, ttl, tags, epoch)
	})
}

// staleWithin reports whether a stored response may be served to a client
// whose Cache-Control bounds staleness at maxStale (when bounded): always
// for one without stale parts; for one with, only within the bound.
func staleWithin(resp *cachedResponse, bounded bool, maxStale time.Duration, now func() time.Time) bool {
	if resp.staleSince.IsZero() || !bounded {
		return true
	}
	return maxStale > 0 && now().Sub(resp.staleSince) <= maxStale
}

// teeWriter passes a response through and keeps a copy of its body.
type teeWriter struct {
	http.ResponseWriter
	status   int
	buf      bytes.Buffer
	overflow bool
}

func (t *teeWriter) WriteHeader(code int) {
	t.status = code
	t.ResponseWriter.WriteHeader(code)
}

func (t *teeWriter) Write(b []byte) (int, error) {
	if !t.overflow {
		if t.buf.Len()+len(b) > maxCachedResponse {
			t.overflow = true
			t.buf = bytes.Buffer{}
		} else {
			t.buf.Write(b)
		}
	}
	return t.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (t *teeWriter) Unwrap() http.ResponseWriter { return t.ResponseWriter }

// onlyQueriesCached marks a request's response uncacheable unless it is a
// query's.
func onlyQueriesCached(ctx context.Context, next graphql.OperationHandler) graphql.ResponseHandler {
	if t := loaders.TouchedFrom(ctx); t != nil {
		if op := graphql.GetOperationContext(ctx).Operation; op == nil || op.Operation != ast.Query {
			t.MarkUncacheable()
		}
	}
	return next(ctx)
}

// noErrorsCached marks a response with errors (partial data included)
// uncacheable, except a partial answer whose every error is the rate
// budget's RATE_LIMITED (partialTTL > 0): the same query would get the same
// answer until the refused calls could go, so it is stored until the
// soonest of them could (the refusal's retryAfter), and no longer than
// partialTTL. Under a spent budget most answers are such partial ones
// (a contact, its lists RATE_LIMITED), and executing each again costs
// twenty times a stored answer.
func noErrorsCached(partialTTL time.Duration, now func() time.Time) func(context.Context, graphql.ResponseHandler) *graphql.Response {
	return func(ctx context.Context, next graphql.ResponseHandler) *graphql.Response {
		resp := next(ctx)
		t := loaders.TouchedFrom(ctx)
		if t == nil || (resp != nil && len(resp.Errors) == 0) {
			return resp
		}
		if resp != nil && partialTTL > 0 && onlyRateLimited(resp.Errors) {
			if retry, ok := t.Refused(); ok {
				t.Partial(now().Add(min(retry, partialTTL)), len(resp.Errors))
				return resp
			}
		}
		t.MarkUncacheable()
		return resp
	}
}

// onlyRateLimited reports whether every error is RATE_LIMITED.
func onlyRateLimited(errs gqlerror.List) bool {
	for _, e := range errs {
		if code, _ := e.Extensions["code"].(string); code != errcode.CodeRateLimited {
			return false
		}
	}
	return true
}

// staleMarks adds extensions.stale to a response with parts served stale:
// [{path, ageSeconds}], the GraphQL path of each field whose data is older
// than its time-to-live and the age of that data.
func staleMarks(ctx context.Context, next graphql.ResponseHandler) *graphql.Response {
	resp := next(ctx)
	if resp == nil {
		return nil
	}
	if marks := loaders.StaleMarks(ctx); marks != nil {
		if resp.Extensions == nil {
			resp.Extensions = map[string]any{}
		}
		resp.Extensions["stale"] = marks
	}
	return resp
}

// cacheFirst is the extension that lets a query run when the rate budget
// cannot afford its whole cost: the gateway may answer it from what it
// holds (fresh, or marked stale), and each field that needs a call the
// budget refuses fails alone with RATE_LIMITED. Refusing the whole query
// before it runs would turn a warm snapshot into an error the moment the
// budget is spent. Mutations are still refused up front. It must be used
// before the queryLimiter, whose budget cacheFirstBudget wraps.
type cacheFirst struct{}

var _ graphql.OperationContextMutator = cacheFirst{}

func (cacheFirst) ExtensionName() string                   { return "CacheFirst" }
func (cacheFirst) Validate(graphql.ExecutableSchema) error { return nil }

// MutateOperationContext marks a query's request for cacheFirstBudget.
func (cacheFirst) MutateOperationContext(ctx context.Context, oc *graphql.OperationContext) *gqlerror.Error {
	if oc.Operation != nil && oc.Operation.Operation == ast.Query {
		loaders.MarkQuery(ctx)
	}
	return nil
}

// cacheFirstBudget reports no budget for a query that cacheFirst marked,
// so that it is not refused before it runs.
func cacheFirstBudget(b budgetFunc) budgetFunc {
	return func(ctx context.Context, cost int) (int, time.Duration, bool) {
		if loaders.IsQuery(ctx) {
			return 0, 0, false
		}
		return b(ctx, cost)
	}
}

// countStoredErrors tells the request log that a stored partial answer was
// served: n RATE_LIMITED errors, with data.
func countStoredErrors(ctx context.Context, n int) {
	o, _ := ctx.Value(outcomeKey{}).(*requestOutcome)
	if o == nil {
		return
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	for range n {
		o.count(errcode.CodeRateLimited)
	}
}
