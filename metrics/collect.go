// This file reads, at scrape time, what the gateway's components already
// count: the caches, the reader (flights, stale answers, refresh-ahead),
// the subscription bus, the webhook receiver, the breakers and the rate
// budgets. Nothing here runs on a request's path.

package metrics

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/ghl-graphql/gateway/events"
	"github.com/ghl-graphql/gateway/server"
	"github.com/ghl-graphql/gateway/upstream"
)

// Cache labels.
const (
	// CacheShared is the shared cache of upstream answers; it holds the
	// whole responses too, so its entries and bytes include theirs.
	CacheShared = "shared"
	// CacheResponse is the whole-response cache's lookups.
	CacheResponse = "response"
	// CacheAPQ is the in-memory store of automatic persisted queries.
	CacheAPQ = "apq"
	// CacheCredentials is the cache of parsed bearer credentials.
	CacheCredentials = "credentials"
)

func desc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc(name, help, labels, nil)
}

var (
	cacheHits      = desc("gateway_cache_hits_total", "Cache lookups that found an entry, by cache (shared, response, apq, credentials).", "cache")
	cacheMisses    = desc("gateway_cache_misses_total", "Cache lookups that found nothing, by cache.", "cache")
	cacheEvictions = desc("gateway_cache_evictions_total", "Entries evicted to make room, by cache.", "cache")
	cacheEntries   = desc("gateway_cache_entries", "Entries held now, by cache.", "cache")
	cacheBytes     = desc("gateway_cache_bytes", "Bytes held now (as the cache weighs them), by cache.", "cache")
	cacheInval     = desc("gateway_cache_invalidations_total", "Invalidations (writes, webhooks) of the shared cache.")
	staleServed    = desc("gateway_cache_stale_served_total", "Answers served stale (budget spent or circuit open).")
	refreshAhead   = desc("gateway_cache_refresh_ahead_total", "Refresh-ahead of hot answers by result (started, no_spare, stored).", "result")
	flights        = desc("gateway_upstream_flights_total", "Upstream calls the reader started.")
	coalesced      = desc("gateway_upstream_coalesced_total", "Callers who joined an identical upstream call under way instead of calling.")
	subsOpen       = desc("gateway_subscriptions_open", "Subscriptions open now.")
	eventsPub      = desc("gateway_events_published_total", "Changes published on the subscription bus.")
	eventsRedis    = desc("gateway_events_redis_total", "Changes between replicas through Redis, by outcome (sent, send_failed, received, suppressed).", "outcome")
	eventsDropped  = desc("gateway_events_dropped_subscribers_total", "Subscribers dropped for falling behind.")
	webhookVerif   = desc("gateway_webhook_verifications_total", "Webhooks received, by outcome (accepted, duplicate, ignored, refused) and refusal reason.", "outcome", "reason")
	webhookQueued  = desc("gateway_webhook_queue_depth", "Accepted webhooks waiting to be applied.")
	hostBreaker    = desc("gateway_upstream_breaker_state", "The upstream host's circuit breaker: 0 closed, 1 half-open, 2 open.")
	locBreaker     = desc("gateway_upstream_location_breaker_state", "A location's circuit breaker (capped set of locations): 0 closed, 1 half-open, 2 open.", "location")
	budgetLeft     = desc("gateway_rate_budget_remaining", "Calls a location may make now without waiting (capped set of locations).", "location")
	locationsSeen  = desc("gateway_metrics_locations", "Locations with labels of their own (the rest count as other).")
	operationsSeen = desc("gateway_metrics_operations", "Operation names with labels of their own (the rest count as other).")
)

// partsCollector collects the components' counters.
type partsCollector struct{ m *Metrics }

// Describe implements prometheus.Collector.
func (c *partsCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{cacheHits, cacheMisses, cacheEvictions, cacheEntries, cacheBytes, cacheInval,
		staleServed, refreshAhead, flights, coalesced, subsOpen, eventsPub, eventsDropped, webhookVerif, webhookQueued,
		hostBreaker, locBreaker, budgetLeft, locationsSeen, operationsSeen, eventsRedis} {
		ch <- d
	}
}

// statser is a bus that counts (events.Local, and any bus with the same Stats).
type statser interface{ Stats() events.Stats }

// redisStatser is the bus replicas share on Redis (events.Redis).
type redisStatser interface{ Stats() events.RedisStats }

// Collect implements prometheus.Collector.
func (c *partsCollector) Collect(ch chan<- prometheus.Metric) {
	m := c.m
	m.mu.Lock()
	parts, client := m.parts, m.client
	m.mu.Unlock()

	counter := func(d *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	cacheSeries := func(name string, s server.CacheStats) {
		counter(cacheHits, s.Hits, name)
		counter(cacheMisses, s.Misses, name)
		if name == CacheResponse {
			return // its entries live in the shared cache, and are counted there
		}
		counter(cacheEvictions, s.Evictions, name)
		gauge(cacheEntries, float64(s.Entries), name)
		gauge(cacheBytes, float64(s.Bytes), name)
	}
	if parts.Cache != nil {
		s := parts.Cache.Stats()
		cacheSeries(CacheShared, server.CacheStats{Hits: s.Hits, Misses: s.Misses, Evictions: s.Evictions, Entries: s.Entries, Bytes: s.Bytes})
		counter(cacheInval, s.Invalidations)
	}
	for name, f := range map[string]func() server.CacheStats{CacheResponse: parts.ResponseCache, CacheAPQ: parts.APQ, CacheCredentials: parts.Credentials} {
		if f != nil {
			cacheSeries(name, f())
		}
	}
	if parts.Reader != nil {
		s := parts.Reader.Stats()
		counter(staleServed, s.StaleServed)
		counter(refreshAhead, s.RefreshStarted, "started")
		counter(refreshAhead, s.RefreshNoSpare, "no_spare")
		counter(refreshAhead, s.RefreshStored, "stored")
		counter(flights, s.Flights)
		counter(coalesced, s.Coalesced)
	}
	busStats, hasBus := events.Stats{}, false
	switch b := parts.Bus.(type) {
	case statser:
		busStats, hasBus = b.Stats(), true
	case redisStatser: // the replicas' bus: its own fan-out counts, plus the trips through Redis
		s := b.Stats()
		busStats, hasBus = s.Local, true
		counter(eventsRedis, s.Sent, "sent")
		counter(eventsRedis, s.SendFailed, "send_failed")
		counter(eventsRedis, s.Received, "received")
		counter(eventsRedis, s.Suppressed, "suppressed")
	}
	if hasBus {
		gauge(subsOpen, float64(busStats.Subscribers))
		counter(eventsPub, busStats.Published)
		counter(eventsDropped, busStats.Dropped)
	}
	if parts.Webhooks != nil {
		s := parts.Webhooks.Stats()
		counter(webhookVerif, s.Accepted, "accepted", "")
		counter(webhookVerif, s.Duplicates, "duplicate", "")
		var ignored uint64
		for _, n := range s.Unknown {
			ignored += n
		}
		counter(webhookVerif, ignored, "ignored", "")
		for reason, n := range s.Refused { // reasons are webhook's fixed Reason* constants
			counter(webhookVerif, n, "refused", reason)
		}
		gauge(webhookQueued, float64(s.Queued))
	}
	if client != nil {
		gauge(hostBreaker, breakerValue(client.BreakerState()))
		for _, loc := range m.locs.names() {
			gauge(locBreaker, breakerValue(client.LocationBreakerState(loc)), loc)
			if n := client.RateRemaining(loc); n >= 0 {
				gauge(budgetLeft, float64(n), loc)
			}
		}
	}
	gauge(locationsSeen, float64(m.locs.size()))
	gauge(operationsSeen, float64(m.ops.size()))
}

// breakerValue maps a breaker state to the gauge's number.
func breakerValue(state string) float64 {
	switch state {
	case upstream.BreakerOpen:
		return 2
	case upstream.BreakerHalfOpen:
		return 1
	}
	return 0
}
