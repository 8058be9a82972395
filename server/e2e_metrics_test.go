// End-to-end tests of the Prometheus metrics (issue 15): a scripted
// workload against the sandbox (cold snapshot, warm snapshot, mutation,
// upstream errors, a rate-limited call, a token refresh), after which
// /metrics is read over HTTP and each counter must have moved by exactly
// what the workload did, with the sandbox's own call counters as the
// oracle of the upstream ones. Also: no token, email or phone of the
// workload in the metrics' text, the operation label set capped, and
// every metric the Grafana dashboard queries present.

package server_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/ghl-graphql/gateway/auth"
	"github.com/ghl-graphql/gateway/clientauth"
	"github.com/ghl-graphql/gateway/metrics"
	"github.com/ghl-graphql/gateway/oauth"
	"github.com/ghl-graphql/gateway/server"
	"github.com/ghl-graphql/gateway/upstream"
	"github.com/ghl-graphql/gateway/upstream/sandbox"
)

// scraped is one read of /metrics.
type scraped struct {
	text     string
	families map[string]*dto.MetricFamily
}

// scrape GETs url and parses the text format.
func scrape(t *testing.T, url string) scraped {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d", url, resp.StatusCode)
	}
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(strings.NewReader(string(raw)))
	if err != nil {
		t.Fatalf("parse /metrics: %v", err)
	}
	return scraped{text: string(raw), families: fams}
}

// sum adds the values of name's series whose labels include want (a
// histogram's value is its count).
func (s scraped) sum(name string, want map[string]string) float64 {
	f := s.families[name]
	if f == nil {
		return 0
	}
	var total float64
	for _, m := range f.Metric {
		if !hasLabels(m, want) {
			continue
		}
		switch {
		case m.Counter != nil:
			total += m.Counter.GetValue()
		case m.Gauge != nil:
			total += m.Gauge.GetValue()
		case m.Histogram != nil:
			total += float64(m.Histogram.GetSampleCount())
		}
	}
	return total
}

// series is the number of name's series.
func (s scraped) series(name string) int {
	if f := s.families[name]; f != nil {
		return len(f.Metric)
	}
	return 0
}

// labelValues returns the values name's series give label.
func (s scraped) labelValues(name, label string) []string {
	var out []string
	if f := s.families[name]; f != nil {
		for _, m := range f.Metric {
			for _, l := range m.Label {
				if l.GetName() == label {
					out = append(out, l.GetValue())
				}
			}
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

func hasLabels(m *dto.Metric, want map[string]string) bool {
	for k, v := range want {
		found := false
		for _, l := range m.Label {
			if l.GetName() == k && l.GetValue() == v {
				found = true
			}
		}
		if !found {
			return false
		}
	}
	return true
}

// L is a label set.
type L = map[string]string

// metricsGateway is an e2e gateway whose metrics are served by mh.
type metricsGateway struct {
	*hooked
	m  *metrics.Metrics
	mh *httptest.Server
}

func (g *metricsGateway) scrape(t *testing.T) scraped {
	t.Helper()
	return scrape(t, g.mh.URL)
}

// newMetricsGateway is a webhook-enabled e2e gateway (the sandbox delivers
// its webhooks) with metrics, a rate budget and retries.
func newMetricsGateway(t *testing.T) *metricsGateway {
	t.Helper()
	m := metrics.New(metrics.Config{})
	h := newHookedWith(t, sandbox.WebhookConfig{}, func(w *server.Webhooks) { w.Receiver.OnAccepted = m.WebhookAccepted },
		withClientOptions(upstream.WithObserver(m), upstream.WithRateBudget(upstream.NewLocalBudget(upstream.BudgetConfig{})),
			upstream.WithRetryPolicy(upstream.RetryPolicy{MaxAttempts: 2, BaseDelay: time.Millisecond})),
		withServerFor(func(c *server.Config, _ *sandbox.Server, _ string) {
			c.Observer = m
			m.WatchClient(c.Client)
			c.BudgetMaxWait = 200 * time.Millisecond
		}))
	mh := httptest.NewServer(m.Handler())
	t.Cleanup(mh.Close)
	return &metricsGateway{hooked: h, m: m, mh: mh}
}

// delta is what moved between two scrapes.
type delta struct{ before, after scraped }

func (d delta) of(name string, labels L) float64 {
	return d.after.sum(name, labels) - d.before.sum(name, labels)
}

// wantUpstreamLikeSandbox checks that, per operation, the upstream
// exchanges counted equal the calls the sandbox received.
func (g *metricsGateway) wantUpstreamLikeSandbox(t *testing.T, d delta, calls counters) {
	t.Helper()
	moved := g.moved(calls)
	for _, op := range upstream.Operations() {
		got := d.of("gateway_upstream_requests_total", L{"operation": op.ID})
		if int64(got) != moved[op.ID] {
			t.Errorf("%s: metrics counted %v exchanges, the sandbox got %d calls", op.ID, got, moved[op.ID])
		}
		if h := d.of("gateway_upstream_request_duration_seconds", L{"operation": op.ID}); h != got {
			t.Errorf("%s: %v latency observations for %v exchanges", op.ID, h, got)
		}
	}
}

func TestE2EMetricsWorkload(t *testing.T) {
	t.Parallel()
	g := newMetricsGateway(t)
	f := g.setup(t)
	contact := g.contact(t, f.contactID)
	snapshot := `query Snapshot($id: ID!) { contact(id: $id) { id email phone tasks { id } notes { id } appointments { id } } }`
	vars := map[string]any{"id": f.contactID}
	req := func(q string, v map[string]any, name string) request {
		b, _ := json.Marshal(map[string]any{"query": q, "variables": v, "operationName": name})
		return request{token: g.token, rawBody: string(b)}
	}

	// step runs one part of the workload and returns what moved.
	step := func(t *testing.T, do func()) (delta, counters) {
		t.Helper()
		before, calls := g.scrape(t), g.counters()
		do()
		return delta{before, g.scrape(t)}, calls
	}

	t.Run("cold snapshot", func(t *testing.T) {
		d, calls := step(t, func() { g.send(req(snapshot, vars, "Snapshot")).ok(t) })
		g.wantUpstreamLikeSandbox(t, d, calls)
		wantMoved(t, d, "gateway_graphql_requests_total", L{"operation": "Snapshot", "outcome": "ok"}, 1)
		wantMoved(t, d, "gateway_graphql_requests_total", nil, 1)
		wantMoved(t, d, "gateway_graphql_request_duration_seconds", L{"operation": "Snapshot"}, 1)
		for _, op := range []string{"get-contact", "get-all-tasks", "get-all-notes", "get-appointments-for-contact"} {
			wantMoved(t, d, "gateway_upstream_requests_total", L{"operation": op, "status_class": "2xx", "code": "200"}, 1)
		}
		// An unconfirmed credential (webhooks on) is not looked up at all.
		if n := d.of("gateway_cache_misses_total", L{"cache": "response"}); n > 1 {
			t.Errorf("one cold request: %v response-cache misses", n)
		}
		wantMoved(t, d, "gateway_cache_hits_total", L{"cache": "response"}, 0)
		wantMoved(t, d, "gateway_upstream_flights_total", nil, float64(sumCalls(g.moved(calls))))
		wantMoved(t, d, "gateway_rate_budget_wait_seconds", nil, float64(sumCalls(g.moved(calls))))
		wantMoved(t, d, "gateway_upstream_retries_total", nil, 0)
	})
	t.Run("warm snapshot", func(t *testing.T) {
		d, calls := step(t, func() { g.send(req(snapshot, vars, "Snapshot")).ok(t) })
		g.wantNoCalls(t, calls)
		g.wantUpstreamLikeSandbox(t, d, calls)
		wantMoved(t, d, "gateway_graphql_requests_total", L{"operation": "Snapshot", "outcome": "ok"}, 1)
		wantMoved(t, d, "gateway_cache_hits_total", L{"cache": "response"}, 1)
		wantMoved(t, d, "gateway_cache_misses_total", L{"cache": "response"}, 0)
		wantMoved(t, d, "gateway_upstream_requests_total", nil, 0)
	})
	t.Run("mutation and its webhook", func(t *testing.T) {
		tag := `mutation Tag($id: ID!) { addContactTags(contactId: $id, tags: ["metrics"]) { tags } }`
		d, calls := step(t, func() {
			g.send(req(tag, vars, "Tag")).ok(t)
			g.applied(t, "ContactTagUpdate")
		})
		g.wantUpstreamLikeSandbox(t, d, calls)
		wantMoved(t, d, "gateway_graphql_requests_total", L{"operation": "Tag", "outcome": "ok"}, 1)
		wantMoved(t, d, "gateway_upstream_requests_total", L{"operation": "add-tags", "status_class": "2xx"}, 1)
		if d.of("gateway_cache_invalidations_total", nil) < 1 {
			t.Error("a write invalidated nothing in the shared cache")
		}
		wantMoved(t, d, "gateway_webhook_events_total", L{"type": "ContactTagUpdate"}, 1)
		wantMoved(t, d, "gateway_webhook_verifications_total", L{"outcome": "accepted"}, 1)
	})
	t.Run("upstream 404", func(t *testing.T) {
		d, calls := step(t, func() {
			r := g.send(req(`query Missing { contact(id: "nosuchcontact000") { id } }`, nil, "Missing"))
			r.wantError(t, http.StatusOK, "NOT_FOUND", "contact")
		})
		g.wantUpstreamLikeSandbox(t, d, calls)
		wantMoved(t, d, "gateway_graphql_requests_total", L{"operation": "Missing", "outcome": "error"}, 1)
		wantMoved(t, d, "gateway_upstream_requests_total", L{"operation": "get-contact", "status_class": "4xx", "code": "404"}, 1)
		wantMoved(t, d, "gateway_upstream_retries_total", nil, 0)
		wantMoved(t, d, "gateway_graphql_errors_total", L{"code": "NOT_FOUND"}, 1)
	})
	t.Run("upstream 5xx, retried", func(t *testing.T) {
		g.sb.SetFaults(sandbox.Faults{Rate: 1, Max: 1, Ops: []string{"get-contact"}})
		defer g.sb.SetFaults(sandbox.Faults{})
		d, calls := step(t, func() {
			g.send(request{token: g.token, query: `query Again($id: ID!) { contact(id: $id) { id } }`, vars: vars,
				header: http.Header{"Cache-Control": {"no-cache"}}}).ok(t)
		})
		g.wantUpstreamLikeSandbox(t, d, calls)
		wantMoved(t, d, "gateway_upstream_requests_total", L{"operation": "get-contact", "status_class": "5xx"}, 1)
		wantMoved(t, d, "gateway_upstream_requests_total", L{"operation": "get-contact", "status_class": "2xx"}, 1)
		wantMoved(t, d, "gateway_upstream_retries_total", L{"operation": "get-contact"}, 1)
		wantMoved(t, d, "gateway_graphql_requests_total", L{"operation": "Again", "outcome": "ok"}, 1)
	})
	t.Run("a subscription", func(t *testing.T) {
		before := g.scrape(t)
		body, _ := json.Marshal(map[string]any{"query": `subscription Watch($id: ID!) { contactChanged(id: $id) { kind } }`,
			"variables": vars, "operationName": "Watch"})
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		hreq, _ := http.NewRequestWithContext(ctx, http.MethodPost, g.gw.URL+server.GraphQLPath, strings.NewReader(string(body)))
		hreq.Header.Set("Content-Type", "application/json")
		hreq.Header.Set("Accept", "text/event-stream")
		hreq.Header.Set("Authorization", "Bearer "+g.token)
		resp, err := g.gw.Client().Do(hreq)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("subscribe: %d", resp.StatusCode)
		}
		open := func(want float64) scraped {
			t.Helper()
			for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) { // a hang guard
				s := g.scrape(t)
				if s.sum("gateway_subscriptions_open", nil) == want {
					return s
				}
				if time.Now().After(deadline) {
					t.Fatalf("gateway_subscriptions_open stays %v, want %v", s.sum("gateway_subscriptions_open", nil), want)
				}
			}
		}
		during := open(before.sum("gateway_subscriptions_open", nil) + 1)
		cancel()
		open(before.sum("gateway_subscriptions_open", nil))
		// A subscription is not a request of the request metrics.
		wantMoved(t, delta{before, during}, "gateway_graphql_requests_total", nil, 0)
	})

	t.Run("rate-limited", func(t *testing.T) {
		// The sandbox allows no more calls this hour: its answers say so, and
		// the budget refuses what it cannot send before the request's wait.
		g.sb.SetRateLimit(sandbox.RateLimit{Max: 1, Interval: time.Hour})
		defer g.sb.SetRateLimit(sandbox.RateLimit{})
		var refusedHere int
		d, calls := step(t, func() {
			for i := 0; i < 4; i++ {
				before := g.sb.TotalCalls()
				r := g.send(request{token: g.token, query: `query Limited($id: ID!) { contact(id: $id) { id } }`, vars: vars,
					header: http.Header{"Cache-Control": {"no-cache"}}})
				if len(r.Errors) > 0 && r.code(t) == "RATE_LIMITED" && g.sb.TotalCalls() == before {
					refusedHere++
				}
			}
		})
		g.wantUpstreamLikeSandbox(t, d, calls)
		if refusedHere == 0 {
			t.Fatal("no call was refused by the budget")
		}
		wantMoved(t, d, "gateway_rate_budget_refusals_total", nil, float64(refusedHere))
		wantMoved(t, d, "gateway_graphql_errors_total", L{"code": "RATE_LIMITED"}, float64(refusedHere))
		wantMoved(t, d, "gateway_graphql_requests_total", L{"operation": "Limited"}, 4)
		if got := d.after.sum("gateway_rate_budget_remaining", L{"location": g.locA}); got != 0 {
			t.Errorf("budget remaining of %s after the limit: %v, want 0", g.locA, got)
		}
	})

	after := g.scrape(t)
	t.Run("gauges and bounded labels", func(t *testing.T) {
		if locs := after.labelValues("gateway_rate_budget_remaining", "location"); !slices.Contains(locs, g.locA) {
			t.Errorf("no budget gauge for %s: %v", g.locA, locs)
		}
		if after.series("gateway_upstream_breaker_state") != 1 || after.sum("gateway_upstream_breaker_state", nil) != 0 {
			t.Errorf("host breaker gauge: %d series, value %v; want one, closed", after.series("gateway_upstream_breaker_state"),
				after.sum("gateway_upstream_breaker_state", nil))
		}
		for _, name := range []string{"go_goroutines", "process_cpu_seconds_total", "gateway_subscriptions_open",
			"gateway_cache_bytes", "gateway_cache_entries"} {
			if after.families[name] == nil {
				t.Errorf("%s missing", name)
			}
		}
		ops := after.labelValues("gateway_graphql_requests_total", "operation")
		for _, o := range ops {
			if !slices.Contains([]string{"Snapshot", "Tag", "Missing", "Again", "Limited", metrics.Other, metrics.Anonymous}, o) {
				t.Errorf("operation label %q was never sent", o)
			}
		}
	})
	t.Run("no secret or contact data", func(t *testing.T) {
		secrets := map[string]string{"token": g.token, "token hash": auth.TokenID(g.token),
			"contact ID": f.contactID, "email": contact.Email, "phone": contact.Phone}
		for what, v := range secrets {
			if v != "" && strings.Contains(after.text, v) {
				t.Errorf("/metrics shows the workload's %s %q", what, v)
			}
		}
		// The phone as digits only, should a label ever normalise it.
		if digits := regexp.MustCompile(`\D`).ReplaceAllString(contact.Phone, ""); len(digits) > 6 && strings.Contains(after.text, digits) {
			t.Errorf("/metrics shows the phone's digits %q", digits)
		}
	})
	t.Run("the dashboard's metrics exist", func(t *testing.T) {
		for _, name := range dashboardMetrics(t) {
			if after.families[name] == nil {
				t.Errorf("the dashboard queries %s, which /metrics does not have", name)
			}
		}
	})
}

// wantMoved checks one counter's delta.
func wantMoved(t *testing.T, d delta, name string, labels L, want float64) {
	t.Helper()
	if got := d.of(name, labels); got != want {
		t.Errorf("%s%v moved by %v, want %v", name, labels, got, want)
	}
}

// dashboardMetrics returns the metric names the dashboard's expressions use.
func dashboardMetrics(t *testing.T) []string {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("..", "deploy", "grafana", "dashboard.json"))
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(raw, &dash); err != nil {
		t.Fatalf("dashboard.json: %v", err)
	}
	names := map[string]bool{}
	re := regexp.MustCompile(`\b(gateway|go|process)_[a-zA-Z0-9_]+`)
	for _, p := range dash.Panels {
		if len(p.Targets) == 0 && p.Title != "" {
			continue // a row
		}
		for _, tg := range p.Targets {
			for _, n := range re.FindAllString(tg.Expr, -1) {
				for _, suffix := range []string{"_bucket", "_sum", "_count"} {
					if base, ok := strings.CutSuffix(n, suffix); ok && strings.HasSuffix(base, "_seconds") {
						n = base
					}
				}
				names[n] = true
			}
		}
	}
	if len(names) < 15 {
		t.Fatalf("the dashboard queries only %d metrics: %v", len(names), slices.Sorted(maps.Keys(names)))
	}
	return slices.Sorted(maps.Keys(names))
}

// TestE2EMetricsOperationLabelsCapped: 1,000 distinct operation names keep
// at most the cap's labels of their own; the rest count as other.
func TestE2EMetricsOperationLabelsCapped(t *testing.T) {
	t.Parallel()
	const limit = 20
	m := metrics.New(metrics.Config{MaxOperations: limit})
	e := newE2E(t, withServer(func(c *server.Config) { c.Observer = m }))
	mh := httptest.NewServer(m.Handler())
	t.Cleanup(mh.Close)
	for i := range 1000 {
		name := fmt.Sprintf("Op%04d", i)
		b, _ := json.Marshal(map[string]any{"query": "query " + name + " { __typename }", "operationName": name})
		e.send(request{rawBody: string(b)}).ok(t)
	}
	s := scrape(t, mh.URL)
	ops := s.labelValues("gateway_graphql_requests_total", "operation")
	if len(ops) > limit+2 { // the cap, other and anonymous
		t.Errorf("%d operation labels after 1,000 names, cap %d", len(ops), limit)
	}
	if got := s.sum("gateway_graphql_requests_total", L{"operation": metrics.Other}); got != 1000-limit {
		t.Errorf("other counted %v requests, want %d", got, 1000-limit)
	}
	if got := s.sum("gateway_graphql_requests_total", nil); got != 1000 {
		t.Errorf("%v requests counted, want 1000", got)
	}
	if got := s.sum("gateway_metrics_operations", nil); got != limit {
		t.Errorf("gateway_metrics_operations %v, want %d", got, limit)
	}
	if n := s.series("gateway_graphql_request_duration_seconds"); n > limit+2 {
		t.Errorf("%d latency series, cap %d", n, limit)
	}
}

// TestE2EMetricsTokenRefresh: in managed mode, a token the upstream says
// expired is refreshed once, and counted once as ok.
func TestE2EMetricsTokenRefresh(t *testing.T) {
	t.Parallel()
	m := metrics.New(metrics.Config{})
	keys, err := clientauth.OpenKeyStore(filepath.Join(t.TempDir(), "keys.json"))
	if err != nil {
		t.Fatal(err)
	}
	e := newE2E(t, withClientOptions(upstream.WithObserver(m)), withServerFor(func(cfg *server.Config, sb *sandbox.Server, upstreamURL string) {
		sb.RegisterOAuthClient("app", "app-secret")
		mgr, err := oauth.NewManager(oauth.Config{
			ClientID: "app", ClientSecret: "app-secret", RedirectURL: "http://gateway.test/oauth/callback",
			Scopes: []string{sandbox.ScopeContactsRead, sandbox.ScopeContactsWrite}, TokenURL: upstreamURL + "/oauth/token",
			OnRefresh: m.OAuthRefresh,
		}, oauth.NewMemoryStore())
		if err != nil {
			t.Fatal(err)
		}
		cfg.Managed = &server.Managed{OAuth: mgr, Clients: &clientauth.Authenticator{Keys: keys}}
		cfg.Observer = m
		m.WatchClient(cfg.Client)
	}))
	mh := httptest.NewServer(m.Handler())
	t.Cleanup(mh.Close)
	if res, err := e.sb.Install(e.gw.URL+"/oauth/install", e.gw.URL+"/oauth/callback", e.locA); err != nil || res.Status != http.StatusOK {
		t.Fatalf("install: status %d, %v", res.Status, err)
	}
	key, _, err := keys.Create("backend", e.locA, clientauth.RoleRead)
	if err != nil {
		t.Fatal(err)
	}
	id := e.sb.ContactIDs(e.locA)[0]
	q := `query Refreshed($id: ID!) { contact(id: $id) { id } }`

	before := scrape(t, mh.URL)
	refreshes := e.sb.Refreshes()
	e.sb.ExpireAccessTokens(e.locA) // the next call with the old token gets 401
	e.send(request{token: key, query: q, vars: map[string]any{"id": id}}).ok(t)
	after := scrape(t, mh.URL)
	d := delta{before, after}
	if got := e.sb.Refreshes() - refreshes; got != 1 {
		t.Fatalf("the sandbox saw %d refreshes, want 1", got)
	}
	wantMoved(t, d, "gateway_oauth_refreshes_total", L{"outcome": oauth.RefreshOK}, 1)
	wantMoved(t, d, "gateway_oauth_refreshes_total", nil, 1)
	wantMoved(t, d, "gateway_upstream_requests_total", L{"operation": "get-contact", "code": "401"}, 1)
	wantMoved(t, d, "gateway_upstream_requests_total", L{"operation": "get-contact", "code": "200"}, 1)
	// The repeat after a refresh is not a retry of the policy.
	wantMoved(t, d, "gateway_upstream_retries_total", nil, 0)
	wantMoved(t, d, "gateway_graphql_requests_total", L{"operation": "Refreshed", "outcome": "ok"}, 1)
	if strings.Contains(after.text, key) {
		t.Error("/metrics shows the client's API key")
	}
}

// TestE2EMetricsCoalescedCalls: identical concurrent snapshots share their
// upstream calls; every reader call either starts a flight or joins one,
// and the flights are the calls the sandbox got.
func TestE2EMetricsCoalescedCalls(t *testing.T) {
	t.Parallel()
	m := metrics.New(metrics.Config{})
	e := newE2E(t, withClientOptions(upstream.WithObserver(m)), withServer(func(c *server.Config) { c.Observer = m }))
	mh := httptest.NewServer(m.Handler())
	t.Cleanup(mh.Close)
	id := e.sb.ContactIDs(e.locA)[0]
	q := `query Snap($id: ID!) { contact(id: $id) { id tasks { id } notes { id } appointments { id } } }`
	// Warm the credential up: its first call confirms its location alone.
	e.send(request{token: e.token, query: q, vars: map[string]any{"id": id}}).ok(t)

	e.sb.SetLatency(100*time.Millisecond, 0) // the calls overlap, so most are shared
	defer e.sb.SetLatency(0, 0)
	const n = 10
	before, calls := scrape(t, mh.URL), e.counters()
	errs := make(chan string, n)
	for range n {
		go func() {
			r := e.send(request{token: e.token, query: q, vars: map[string]any{"id": id}, header: http.Header{"Cache-Control": {"no-cache"}}})
			if r.Status != http.StatusOK || len(r.Errors) > 0 {
				errs <- r.Body
				return
			}
			errs <- ""
		}()
	}
	for range n {
		if b := <-errs; b != "" {
			t.Fatalf("a snapshot failed: %s", b)
		}
	}
	d := delta{before, scrape(t, mh.URL)}
	sent := sumCalls(e.moved(calls))
	wantMoved(t, d, "gateway_upstream_flights_total", nil, float64(sent))
	wantMoved(t, d, "gateway_upstream_requests_total", nil, float64(sent))
	// Four reads per snapshot, each a flight of its own or a join.
	wantMoved(t, d, "gateway_upstream_flights_total", nil, 4*n-d.of("gateway_upstream_coalesced_total", nil))
	if d.of("gateway_upstream_coalesced_total", nil) == 0 {
		t.Error("no call was coalesced")
	}
	wantMoved(t, d, "gateway_graphql_requests_total", L{"operation": "Snap", "outcome": "ok"}, n)
}
