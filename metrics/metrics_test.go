package metrics_test

import (
	"context"
	"fmt"
	"io"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/ghl-graphql/gateway/metrics"
	"github.com/ghl-graphql/gateway/server"
	"github.com/ghl-graphql/gateway/upstream"
)

// gather returns the registry's families by name.
func gather(t *testing.T, m *metrics.Metrics) map[string]*dto.MetricFamily {
	t.Helper()
	fams, err := m.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]*dto.MetricFamily{}
	for _, f := range fams {
		out[f.GetName()] = f
	}
	return out
}

// labels returns the distinct values of label among name's series.
func labels(fams map[string]*dto.MetricFamily, name, label string) map[string]float64 {
	out := map[string]float64{}
	for _, m := range fams[name].GetMetric() {
		for _, l := range m.GetLabel() {
			if l.GetName() == label {
				switch {
				case m.Counter != nil:
					out[l.GetValue()] += m.Counter.GetValue()
				case m.Histogram != nil:
					out[l.GetValue()] += float64(m.Histogram.GetSampleCount())
				}
			}
		}
	}
	return out
}

func TestOperationLabels(t *testing.T) {
	tests := map[string]struct {
		name, want string
	}{
		"a name":               {"ContactSnapshot", "ContactSnapshot"},
		"none":                 {"", metrics.Anonymous},
		"not a GraphQL name":   {"drop table; --", metrics.Other},
		"an email":             {"jane@example.com", metrics.Other},
		"leading digit":        {"1Op", metrics.Other},
		"longer than 64":       {strings.Repeat("a", 65), metrics.Other},
		"underscore and digit": {"_op2", "_op2"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			m := metrics.New(metrics.Config{})
			m.GraphQLRequest(context.Background(), server.RequestDone{Operation: tc.name, Outcome: server.OutcomeOK, Duration: time.Millisecond})
			got := labels(gather(t, m), "gateway_graphql_requests_total", "operation")
			if got[tc.want] != 1 {
				t.Errorf("operation %q counted as %v, want under %q", tc.name, got, tc.want)
			}
		})
	}
}

func TestLabelSetsCapped(t *testing.T) {
	m := metrics.New(metrics.Config{MaxOperations: 10, MaxLocations: 5, Operations: []string{"Persisted"}})
	for i := range 1000 {
		m.GraphQLRequest(context.Background(), server.RequestDone{Operation: fmt.Sprintf("Op%d", i), Outcome: server.OutcomeOK})
		m.BudgetWait(fmt.Sprintf("loc%04d", i), time.Millisecond, i%2 == 0)
	}
	m.GraphQLRequest(context.Background(), server.RequestDone{Operation: "Persisted", Outcome: server.OutcomeOK})
	fams := gather(t, m)
	ops := labels(fams, "gateway_graphql_requests_total", "operation")
	if len(ops) != 10+2 { // the cap, other, anonymous
		t.Errorf("%d operation labels: %v", len(ops), ops)
	}
	if ops["Persisted"] != 1 {
		t.Errorf("the persisted operation lost its label: %v", ops)
	}
	if ops[metrics.Other] != 1000-9 {
		t.Errorf("other: %v, want %d", ops[metrics.Other], 1000-9)
	}
	locs := labels(fams, "gateway_rate_budget_wait_seconds", "location")
	if len(locs) != 5+3 { // the cap, other, unconfirmed, none
		t.Errorf("%d location labels: %v", len(locs), locs)
	}
	if locs[metrics.Other] != 1000-5 {
		t.Errorf("other location: %v waits, want %d", locs[metrics.Other], 1000-5)
	}
	if refused := labels(fams, "gateway_rate_budget_refusals_total", "location"); refused[metrics.Other]+refused["loc0000"]+refused["loc0002"]+refused["loc0004"] != 500 {
		t.Errorf("refusals %v, want 500 in all", refused)
	}
}

func TestCredentialKeysNeverLabels(t *testing.T) {
	m := metrics.New(metrics.Config{})
	key := upstream.CredentialBudgetKey("0123456789abcdef")
	m.BudgetWait(key, 0, true)
	m.BudgetWait("", 0, false)
	srv := httptest.NewServer(m.Handler())
	defer srv.Close()
	resp, err := srv.Client().Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	text := string(b)
	if strings.Contains(text, "0123456789abcdef") {
		t.Error("a credential's hash is a label")
	}
	for _, want := range []string{`gateway_rate_budget_refusals_total{location="unconfirmed"} 1`, `location="none"`, "go_goroutines", "process_cpu_seconds_total"} {
		if !strings.Contains(text, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}

func TestRegistriesAreSeparate(t *testing.T) {
	a, b := metrics.New(metrics.Config{}), metrics.New(metrics.Config{})
	a.OAuthRefresh("ok")
	a.OAuthRefresh("made-up")
	refreshes := labels(gather(t, a), "gateway_oauth_refreshes_total", "outcome")
	if refreshes["ok"] != 1 || refreshes[metrics.Other] != 1 || len(refreshes) != 5 {
		t.Errorf("refreshes %v", refreshes)
	}
	if got := labels(gather(t, b), "gateway_oauth_refreshes_total", "outcome"); got["ok"] != 0 {
		t.Errorf("the second gateway's registry counted the first's refresh: %v", got)
	}
	// Neither touched the process-wide default registry.
	fams, _ := prometheus.DefaultGatherer.Gather()
	for _, f := range fams {
		if strings.HasPrefix(f.GetName(), "gateway_") {
			t.Errorf("%s is in the default registry", f.GetName())
		}
	}
}

func TestUpstreamStatusLabels(t *testing.T) {
	m := metrics.New(metrics.Config{})
	for _, s := range []int{200, 404, 429, 503, 0, 999} {
		m.Attempt(upstream.OpGetContact, s, time.Millisecond)
	}
	m.Attempt(upstream.Operation{ID: "not-an-operation"}, 200, time.Millisecond)
	m.Retry(upstream.OpGetContact)
	fams := gather(t, m)
	codes := labels(fams, "gateway_upstream_requests_total", "code")
	want := map[string]float64{"200": 2, "404": 1, "429": 1, "503": 1, "none": 2}
	for k, v := range want {
		if codes[k] != v {
			t.Errorf("code %s: %v, want %v (all: %v)", k, codes[k], v, codes)
		}
	}
	if ops := labels(fams, "gateway_upstream_requests_total", "operation"); ops[metrics.Other] != 1 || ops["get-contact"] != 6 {
		t.Errorf("operations %v", ops)
	}
	if r := labels(fams, "gateway_upstream_retries_total", "operation"); r["get-contact"] != 1 {
		t.Errorf("retries %v", r)
	}
}
