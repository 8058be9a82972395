// Package metrics exposes what the gateway does as Prometheus metrics
// (issue 15). Each gateway builds its own registry (never the global
// default), with the Go runtime and process collectors beside the
// gateway's own.
//
// Two kinds of metrics live here. Counters that must be taken when
// something happens (a GraphQL request, an upstream attempt, a retry, a
// budget wait, a token refresh, an accepted webhook) come through small
// hooks: Metrics implements upstream.Observer and server.Observer, and its
// OAuthRefresh and WebhookAccepted methods fit oauth.Config.OnRefresh and
// webhook.Config.OnAccepted. Everything a component already counts (the
// caches, the reader's flights and stale answers, the bus, the webhook
// receiver, the breakers and rate budgets) is read from its Stats at
// scrape time, so the request path pays nothing for it.
//
// Every label set is bounded: operation names and locations are kept for
// the first MaxOperations and MaxLocations seen (or named up front), the
// rest count as "other"; no label ever holds a token, a credential hash or
// contact data.
package metrics

import (
	"context"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/ghl-graphql/gateway/oauth"
	"github.com/ghl-graphql/gateway/server"
	"github.com/ghl-graphql/gateway/upstream"
	"github.com/ghl-graphql/gateway/webhook"
)

// Defaults of Config.
const (
	// DefaultMaxOperations bounds the distinct operation-name labels.
	DefaultMaxOperations = 100
	// DefaultMaxLocations bounds the distinct location labels (locations
	// are few per install; the cap guards against a flood of made-up ones).
	DefaultMaxLocations = 100
	// maxErrorCodes bounds the error-code labels; errcode has about 30.
	maxErrorCodes = 64
)

// Label values with a fixed meaning.
const (
	// Other is the label of every name past a cap, or not a valid name.
	Other = "other"
	// Anonymous is the operation label of a request that names none.
	Anonymous = "anonymous"
	// Unconfirmed is the location label of calls made with a credential
	// whose location the upstream has not confirmed (the budget key is a
	// token hash, which is never a label).
	Unconfirmed = "unconfirmed"
	// NoLocation is the location label of calls made under no budget key.
	NoLocation = "none"
)

// Config configures Metrics.
type Config struct {
	// MaxOperations bounds the operation label set; 0 means DefaultMaxOperations.
	MaxOperations int
	// MaxLocations bounds the location label set; 0 means DefaultMaxLocations.
	MaxLocations int
	// Operations are operation names known up front (the persisted
	// operations' names): they take their places in the set first.
	Operations []string
}

// Metrics holds one gateway's registry and metrics. It is safe for
// concurrent use.
type Metrics struct {
	reg  *prometheus.Registry
	ops  *labelSet[*opMetrics]
	locs *labelSet[*locMetrics]

	graphqlRequests *prometheus.CounterVec
	graphqlDuration *prometheus.HistogramVec
	graphqlErrors   *prometheus.CounterVec
	codes           *labelSet[prometheus.Counter]

	upstreamRequests *prometheus.CounterVec
	upstreamDuration *prometheus.HistogramVec
	upstreamRetries  *prometheus.CounterVec
	upstreamOps      map[string]*upstreamOp // by operation ID, fixed at New

	budgetWait     *prometheus.HistogramVec
	budgetRefusals *prometheus.CounterVec

	refreshes      *prometheus.CounterVec
	webhookEvents  *prometheus.CounterVec
	webhookByType  map[string]prometheus.Counter // fixed at New
	webhookUnknown prometheus.Counter

	mu     sync.Mutex
	parts  server.Parts
	client *upstream.Client
}

// opMetrics are the bound series of one operation label.
type opMetrics struct {
	outcomes map[string]prometheus.Counter
	duration prometheus.Observer
}

// locMetrics are the bound series of one location label.
type locMetrics struct {
	wait     prometheus.Observer
	refusals prometheus.Counter
}

// upstreamOp holds one upstream operation's bound series.
type upstreamOp struct {
	label    string
	duration prometheus.Observer
	retries  prometheus.Counter
	mu       sync.Mutex
	byStatus map[int]prometheus.Counter
}

// Latency buckets: GraphQL requests run from microseconds (a cached
// answer) to the request timeout; upstream calls from milliseconds to the
// upstream timeout; budget waits from nothing to the most a request waits.
var (
	requestBuckets  = []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60}
	upstreamBuckets = []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30}
	waitBuckets     = []float64{.001, .01, .05, .1, .25, .5, 1, 2.5, 5, 10}
)

// graphqlOutcomes are every outcome server reports.
var graphqlOutcomes = []string{server.OutcomeOK, server.OutcomePartial, server.OutcomeError, server.OutcomeRefused}

// refreshOutcomes are every outcome oauth reports.
var refreshOutcomes = []string{oauth.RefreshOK, oauth.RefreshReconsent, oauth.RefreshFailed, oauth.RefreshNotPersisted}

// New returns a gateway's Metrics, with its own registry.
func New(cfg Config) *Metrics {
	if cfg.MaxOperations <= 0 {
		cfg.MaxOperations = DefaultMaxOperations
	}
	if cfg.MaxLocations <= 0 {
		cfg.MaxLocations = DefaultMaxLocations
	}
	m := &Metrics{reg: prometheus.NewRegistry()}
	m.graphqlRequests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "gateway_graphql_requests_total",
		Help: "GraphQL requests over HTTP by operation name (capped; past the cap: other) and outcome (ok, partial, error, refused).",
	}, []string{"operation", "outcome"})
	m.graphqlDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "gateway_graphql_request_duration_seconds", Help: "Duration of GraphQL requests over HTTP by operation name.",
		Buckets: requestBuckets,
	}, []string{"operation"})
	m.graphqlErrors = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "gateway_graphql_errors_total", Help: "Errors in GraphQL answers by extensions.code (RATE_LIMITED, NOT_FOUND, ...).",
	}, []string{"code"})
	m.upstreamRequests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "gateway_upstream_requests_total",
		Help: "Exchanges with the Contacts API (each attempt) by operation ID, status class (2xx..5xx, none) and status code (none: no answer).",
	}, []string{"operation", "status_class", "code"})
	m.upstreamDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "gateway_upstream_request_duration_seconds", Help: "Duration of each exchange with the Contacts API by operation ID.",
		Buckets: upstreamBuckets,
	}, []string{"operation"})
	m.upstreamRetries = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "gateway_upstream_retries_total", Help: "Upstream attempts repeated under the retry policy, by operation ID.",
	}, []string{"operation"})
	m.budgetWait = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "gateway_rate_budget_wait_seconds", Help: "Waits for a slot of a location's rate budget (one per attempt), by location (capped).",
		Buckets: waitBuckets,
	}, []string{"location"})
	m.budgetRefusals = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "gateway_rate_budget_refusals_total", Help: "Upstream calls the rate budget refused (RATE_LIMITED), by location (capped).",
	}, []string{"location"})
	m.refreshes = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "gateway_oauth_refreshes_total", Help: "OAuth token refreshes sent to HighLevel, by outcome (ok, reconsent, error, not_persisted).",
	}, []string{"outcome"})
	m.webhookEvents = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "gateway_webhook_events_total", Help: "Accepted webhooks by event type (unknown: verified but of a type the gateway ignores).",
	}, []string{"type"})
	m.reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		m.graphqlRequests, m.graphqlDuration, m.graphqlErrors,
		m.upstreamRequests, m.upstreamDuration, m.upstreamRetries,
		m.budgetWait, m.budgetRefusals, m.refreshes, m.webhookEvents,
		&partsCollector{m: m},
	)

	m.ops = newLabelSet(cfg.MaxOperations, m.newOp)
	m.ops.fixed(Other)
	m.ops.fixed(Anonymous)
	m.AddOperations(cfg.Operations)
	m.codes = newLabelSet(maxErrorCodes, func(code string) prometheus.Counter { return m.graphqlErrors.WithLabelValues(code) })
	m.codes.fixed(Other)
	m.locs = newLabelSet(cfg.MaxLocations, m.newLoc)
	m.locs.fixed(Other)
	m.locs.fixed(Unconfirmed)
	m.locs.fixed(NoLocation)

	m.upstreamOps = map[string]*upstreamOp{}
	for _, op := range upstream.Operations() {
		m.upstreamOps[op.ID] = &upstreamOp{
			label:    op.ID,
			duration: m.upstreamDuration.WithLabelValues(op.ID),
			retries:  m.upstreamRetries.WithLabelValues(op.ID),
			byStatus: map[int]prometheus.Counter{},
		}
	}
	m.upstreamOps[Other] = &upstreamOp{label: Other, duration: m.upstreamDuration.WithLabelValues(Other),
		retries: m.upstreamRetries.WithLabelValues(Other), byStatus: map[int]prometheus.Counter{}}
	for _, o := range refreshOutcomes {
		m.refreshes.WithLabelValues(o)
	}
	m.webhookByType = map[string]prometheus.Counter{}
	for _, t := range webhook.Types() {
		m.webhookByType[t] = m.webhookEvents.WithLabelValues(t)
	}
	m.webhookUnknown = m.webhookEvents.WithLabelValues("unknown")
	return m
}

func (m *Metrics) newOp(label string) *opMetrics {
	o := &opMetrics{outcomes: map[string]prometheus.Counter{}, duration: m.graphqlDuration.WithLabelValues(label)}
	for _, out := range graphqlOutcomes {
		o.outcomes[out] = m.graphqlRequests.WithLabelValues(label, out)
	}
	return o
}

func (m *Metrics) newLoc(label string) *locMetrics {
	return &locMetrics{wait: m.budgetWait.WithLabelValues(label), refusals: m.budgetRefusals.WithLabelValues(label)}
}

// AddOperations gives names (the persisted operations') labels of their
// own, as far as the cap allows, before any request is seen.
func (m *Metrics) AddOperations(names []string) {
	for _, name := range names {
		if validOperationName(name) {
			m.ops.get(name)
		}
	}
}

// Registry returns the gateway's registry, e.g. to add collectors.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Handler serves the registry in Prometheus' text (or OpenMetrics) format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}

// WatchClient makes the scrape read c's breakers and rate budgets (for
// the locations seen). The client reports its calls through
// upstream.WithObserver(m), given when it is made.
func (m *Metrics) WatchClient(c *upstream.Client) {
	m.mu.Lock()
	m.client = c
	m.mu.Unlock()
}

// Mounted implements server.Observer: the scrape reads parts' counters.
func (m *Metrics) Mounted(parts server.Parts) {
	m.mu.Lock()
	m.parts = parts
	m.mu.Unlock()
}

// GraphQLRequest implements server.Observer.
func (m *Metrics) GraphQLRequest(_ context.Context, r server.RequestDone) {
	label := r.Operation
	switch {
	case r.Operation == "":
		label = Anonymous
	case !validOperationName(r.Operation):
		label = Other
	}
	o := m.ops.get(label)
	c, ok := o.outcomes[r.Outcome]
	if !ok {
		c = o.outcomes[server.OutcomeError]
	}
	c.Inc()
	o.duration.Observe(r.Duration.Seconds())
	for code, n := range r.Errors {
		m.codes.get(errorCodeLabel(code)).Add(float64(n))
	}
	if r.BudgetRefused {
		m.location(r.BudgetKey).refusals.Inc()
	}
}

// errorCodeLabel is code when it looks like one of ours (upper case and
// underscores, as errcode's), else Other.
func errorCodeLabel(code string) string {
	if code == "" || len(code) > 40 {
		return Other
	}
	for i := 0; i < len(code); i++ {
		if c := code[i]; !(c == '_' || c >= 'A' && c <= 'Z') {
			return Other
		}
	}
	return code
}

// Attempt implements upstream.Observer.
func (m *Metrics) Attempt(op upstream.Operation, status int, d time.Duration) {
	u := m.upstreamOp(op)
	u.duration.Observe(d.Seconds())
	if status < 100 || status > 599 {
		status = 0
	}
	u.mu.Lock()
	c, ok := u.byStatus[status]
	if !ok {
		class, code := "none", "none"
		if status != 0 {
			class, code = strconv.Itoa(status/100)+"xx", strconv.Itoa(status)
		}
		c = m.upstreamRequests.WithLabelValues(u.label, class, code)
		u.byStatus[status] = c
	}
	u.mu.Unlock()
	c.Inc()
}

// upstreamOp returns op's series; an operation outside the API's table
// (none is made today) counts as other.
func (m *Metrics) upstreamOp(op upstream.Operation) *upstreamOp {
	if u, ok := m.upstreamOps[op.ID]; ok {
		return u
	}
	return m.upstreamOps[Other]
}

// Retry implements upstream.Observer.
func (m *Metrics) Retry(op upstream.Operation) { m.upstreamOp(op).retries.Inc() }

// BudgetWait implements upstream.Observer.
func (m *Metrics) BudgetWait(key string, d time.Duration, refused bool) {
	l := m.location(key)
	l.wait.Observe(d.Seconds())
	if refused {
		l.refusals.Inc()
	}
}

// location returns the series of a budget key's location label.
func (m *Metrics) location(key string) *locMetrics {
	switch {
	case key == "":
		return m.locs.get(NoLocation)
	case len(key) >= len(upstream.CredentialKeyPrefix) && key[:len(upstream.CredentialKeyPrefix)] == upstream.CredentialKeyPrefix:
		return m.locs.get(Unconfirmed)
	case !validLocation(key):
		return m.locs.get(Other)
	}
	return m.locs.getKeyed(key)
}

// OAuthRefresh counts a token refresh; it fits oauth.Config.OnRefresh.
func (m *Metrics) OAuthRefresh(outcome string) {
	known := false
	for _, o := range refreshOutcomes {
		known = known || o == outcome
	}
	if !known {
		outcome = Other
	}
	m.refreshes.WithLabelValues(outcome).Inc()
}

// WebhookAccepted counts an accepted webhook by its type; it fits
// webhook.Config.OnAccepted.
func (m *Metrics) WebhookAccepted(eventType string) {
	if c, ok := m.webhookByType[eventType]; ok {
		c.Inc()
		return
	}
	m.webhookUnknown.Inc()
}

// validOperationName reports whether s is a GraphQL name ([_A-Za-z][_0-9A-Za-z]*)
// of at most 64 bytes: anything else is not a name a client's code gave.
func validOperationName(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '_', c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z':
		case c >= '0' && c <= '9' && i > 0:
		default:
			return false
		}
	}
	return true
}

// validLocation reports whether s looks like a location ID (HighLevel's
// are 20 alphanumerics): at most 64 bytes of letters, digits, - and _.
func validLocation(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c == '_' || c == '-' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}
