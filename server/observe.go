// This file lets metrics watch the gateway (issue 15): New hands an
// Observer the parts whose counters it reads at scrape time, and reports
// each GraphQL request when it ends, with its operation and outcome. The
// server imports no metrics library; package metrics implements Observer.

package server

import (
	"context"
	"maps"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/ghl-graphql/gateway/auth"
	"github.com/ghl-graphql/gateway/cache"
	"github.com/ghl-graphql/gateway/events"
	"github.com/ghl-graphql/gateway/loaders"
)

// Outcomes of a GraphQL request, as reported to Observer.GraphQLRequest.
const (
	// OutcomeOK: an answer without errors (a whole-response cache hit too).
	OutcomeOK = "ok"
	// OutcomePartial: data and errors.
	OutcomePartial = "partial"
	// OutcomeError: errors and no data.
	OutcomeError = "error"
	// OutcomeRefused: refused before execution (credential, body, limits,
	// persisted-only, overload), with an HTTP status of 400 or more.
	OutcomeRefused = "refused"
)

// Observer watches the gateway, for metrics. Its methods must be quick:
// GraphQLRequest runs on the request's goroutine.
type Observer interface {
	// Mounted is called once by New with the parts whose counters the
	// observer reads when it is scraped.
	Mounted(Parts)
	// GraphQLRequest reports a GraphQL request over HTTP (not a
	// subscription, over WebSocket or SSE) when it ends.
	GraphQLRequest(ctx context.Context, r RequestDone)
}

// RequestDone describes a finished GraphQL request.
type RequestDone struct {
	// Operation is the operation name as the client or the document gave
	// it ("" when none: anonymous). It is the client's: the observer
	// bounds the set it keeps.
	Operation string
	// Outcome is one of the Outcome* values.
	Outcome string
	// Duration is how long the request took.
	Duration time.Duration
	// Errors counts the answer's errors by extensions.code; nil when none.
	Errors map[string]int
	// BudgetRefused reports that the request was refused before execution
	// because the rate budget of BudgetKey could not pay for it (the
	// query limiter's RATE_LIMITED; refusals inside an upstream call are
	// reported by upstream.Observer.BudgetWait).
	BudgetRefused bool
	BudgetKey     string
}

// Parts are the gateway's components whose counters metrics read.
type Parts struct {
	// Cache is the shared cache of upstream answers, which holds the whole
	// responses too; nil when it is off.
	Cache cache.Cache
	// Reader is the shared reader (stale answers, refresh-ahead, flights).
	Reader *loaders.Reader
	// Bus carries changes to subscriptions; nil when they are off.
	Bus events.Bus
	// Webhooks is the webhook endpoint; nil when it is off.
	Webhooks *Webhooks
	// ResponseCache, APQ and Credentials return the lookups of the
	// whole-response cache, the in-memory APQ store and the cache of
	// parsed bearer credentials; each is nil when that cache is off (or,
	// for APQ, a store of another kind).
	ResponseCache, APQ, Credentials func() CacheStats
}

// CacheStats are a cache's counters since it was made.
type CacheStats struct {
	Hits, Misses, Evictions uint64
	// Entries and Bytes describe what it holds now (zero when unknown).
	Entries int
	Bytes   int64
}

// withObserver reports each GraphQL request to obs; it runs inside the
// request log, whose requestOutcome it reads.
func withObserver(obs Observer, next http.Handler) http.Handler {
	if obs == nil {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Subscriptions (WebSocket, SSE) last as long as they are open:
		// the subscriptions gauge counts them, not the request metrics.
		if r.URL.Path != GraphQLPath || isWebSocketUpgrade(r) || isEventStream(r) {
			next.ServeHTTP(w, r)
			return
		}
		// Inside the request log, its state has the status written (every
		// write passes through its recorder) and the outcome: no recorder
		// of our own is needed.
		var start time.Time
		var status *int
		if st := stateFrom(r.Context()); st != nil {
			start = st.start // the request log's clock reading, microseconds before ours would be
			next.ServeHTTP(w, r)
			status = &st.rec.status
		} else {
			start = time.Now()
			rec := &statusOnly{ResponseWriter: w, status: http.StatusOK}
			next.ServeHTTP(rec, r)
			status = &rec.status
		}
		done := RequestDone{Outcome: OutcomeOK}
		if o := outcomeFrom(r.Context()); o != nil {
			done = o.summary(*status)
		} else if *status >= 400 {
			done.Outcome = OutcomeRefused
		}
		done.Duration = time.Since(start)
		obs.GraphQLRequest(r.Context(), done)
	})
}

// summary describes a finished request, but for its duration.
func (o *requestOutcome) summary(status int) RequestDone {
	o.mu.Lock()
	defer o.mu.Unlock()
	d := RequestDone{Operation: o.operation, Outcome: OutcomeOK, BudgetRefused: o.budgetRefused, BudgetKey: o.budgetKey}
	switch {
	case !o.executed && status >= 400:
		d.Outcome = OutcomeRefused
	case o.errors > 0 && o.noData:
		d.Outcome = OutcomeError
	case o.errors > 0:
		d.Outcome = OutcomePartial
	}
	if len(o.codes) > 0 {
		d.Errors = maps.Clone(o.codes)
	}
	return d
}

// noteBudgetRefused records that the query limiter refused the request
// for want of the rate budget of the request's credential.
func noteBudgetRefused(ctx context.Context) {
	o := outcomeFrom(ctx)
	if o == nil {
		return
	}
	var key string
	if cred, ok := auth.FromContext(ctx); ok {
		key = cred.BudgetKey()
	}
	o.mu.Lock()
	o.budgetRefused, o.budgetKey = true, key
	o.mu.Unlock()
}

// statusOnly remembers the status written.
type statusOnly struct {
	http.ResponseWriter
	status int
}

func (s *statusOnly) WriteHeader(code int) {
	s.status = code
	s.ResponseWriter.WriteHeader(code)
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (s *statusOnly) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// hitCounter counts a cache's lookups.
type hitCounter struct{ hits, misses atomic.Uint64 }

// stats returns the counts.
func (h *hitCounter) stats() CacheStats {
	return CacheStats{Hits: h.hits.Load(), Misses: h.misses.Load()}
}

// stats returns the byteLRU's counters.
func (c *byteLRU[K, V]) stats() CacheStats {
	c.mu.Lock()
	defer c.mu.Unlock()
	return CacheStats{Hits: c.hits, Misses: c.misses, Evictions: c.evictions, Entries: len(c.entries), Bytes: int64(c.bytes)}
}
