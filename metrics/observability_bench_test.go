// Issue 15's figure: warm snapshots with metrics and tracing (1% of traces
// kept) both on, against both off, in one run, the two gateways taking
// turns in blocks so that both see the same machine.
//
//	go test -run='^$' -bench=WarmSnapshotObservability -benchtime=400x ./metrics/

package metrics_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/ghl-graphql/gateway/metrics"
	"github.com/ghl-graphql/gateway/server"
	"github.com/ghl-graphql/gateway/tracing"
	"github.com/ghl-graphql/gateway/upstream"
	"github.com/ghl-graphql/gateway/upstream/sandbox"
)

// observedGateway returns a gateway over upURL with metrics m and tracing
// tr when they are not nil.
func observedGateway(b *testing.B, upURL string, m *metrics.Metrics, tr *tracing.Tracing, noResponseCache bool) http.Handler {
	b.Helper()
	opts := []upstream.Option{upstream.WithBaseURL(upURL), upstream.WithRateBudget(upstream.NewLocalBudget(upstream.BudgetConfig{}))}
	if m != nil {
		opts = append(opts, upstream.WithObserver(m))
	}
	if tr != nil {
		opts = append(opts, tr.UpstreamOptions(http.DefaultClient)...)
	}
	client, err := upstream.NewClient(opts...)
	if err != nil {
		b.Fatal(err)
	}
	cfg := server.Config{Client: client, NoResponseCache: noResponseCache, Tracing: tr}
	if m != nil {
		cfg.Observer = m
		m.WatchClient(client)
	}
	h, err := server.New(cfg)
	if err != nil {
		b.Fatal(err)
	}
	return h
}

// snapshotBench is a sandbox upstream and a function that serves one warm
// snapshot request through a gateway, failing the benchmark on an error.
func snapshotBench(b *testing.B) (upURL string, serve func(http.Handler)) {
	b.Helper()
	sb, err := sandbox.New(sandbox.Config{ContactsPerLocation: 20})
	if err != nil {
		b.Fatal(err)
	}
	up := httptest.NewServer(sb)
	b.Cleanup(up.Close)
	payload, _ := json.Marshal(map[string]any{"query": `query Snapshot($id: ID!) { contact(id: $id) {
		id name email phone tags customFields { fieldId value }
		tasks { id title dueDate completed } notes { id body dateAdded } appointments { id title startTime status } } }`,
		"operationName": "Snapshot", "variables": map[string]any{"id": sb.ContactIDs(sb.Locations()[0])[0]}})
	token := sb.DefaultToken()
	return up.URL, func(h http.Handler) {
		r := httptest.NewRequest(http.MethodPost, server.GraphQLPath, bytes.NewReader(payload))
		r.Header.Set("Content-Type", "application/json")
		r.Header.Set("Authorization", "Bearer "+token)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, r)
		if rec.Code != http.StatusOK || bytes.Contains(rec.Body.Bytes(), []byte(`"errors"`)) {
			b.Fatalf("%d %s", rec.Code, rec.Body)
		}
	}
}

// BenchmarkWarmSnapshotObservability reports throughput-on/off, the median
// over blocks of the throughput with metrics and tracing on over that with
// both off (goal: at least 0.9).
func BenchmarkWarmSnapshotObservability(b *testing.B) {
	for _, bc := range []struct {
		name            string
		noResponseCache bool
	}{{"response-cache", false}, {"executed", true}} {
		b.Run(bc.name, func(b *testing.B) {
			upURL, serve := snapshotBench(b)
			tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(tracetest.NewInMemoryExporter()),
				sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.TraceIDRatioBased(0.01))))
			b.Cleanup(func() { _ = tp.Shutdown(b.Context()) })
			off := observedGateway(b, upURL, nil, nil, bc.noResponseCache)
			on := observedGateway(b, upURL, metrics.New(metrics.Config{}), tracing.New(tp), bc.noResponseCache)
			for range 3 { // warm both
				serve(off)
				serve(on)
			}
			const block = 50
			run := func(h http.Handler) time.Duration {
				start := time.Now()
				for range block {
					serve(h)
				}
				return time.Since(start)
			}
			var ratios []float64
			var tOff, tOn time.Duration
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				var dOff, dOn time.Duration
				if i%2 == 0 {
					dOff, dOn = run(off), run(on)
				} else {
					dOn, dOff = run(on), run(off)
				}
				tOff, tOn = tOff+dOff, tOn+dOn
				ratios = append(ratios, float64(dOff)/float64(dOn))
			}
			n := float64(len(ratios) * block)
			slices.Sort(ratios)
			b.ReportMetric(float64(tOff.Nanoseconds())/n, "ns-off/req")
			b.ReportMetric(float64(tOn.Nanoseconds())/n, "ns-on/req")
			b.ReportMetric(ratios[len(ratios)/2], "throughput-on/off")
		})
	}
}
