// The cost of metrics on the gateway's hottest path, in one run: a warm
// snapshot served with metrics on and off, alternately, so that both see
// the same machine load.
//
//	go test -run='^$' -bench=WarmSnapshotMetrics -benchtime=20000x ./metrics/

package metrics_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/ghl-graphql/gateway/metrics"
	"github.com/ghl-graphql/gateway/server"
	"github.com/ghl-graphql/gateway/upstream/sandbox"
)

// benchGateway returns a gateway over upURL, with metrics when m is not
// nil (observability_bench_test.go's, without tracing).
func benchGateway(b *testing.B, upURL string, m *metrics.Metrics, noResponseCache bool) http.Handler {
	return observedGateway(b, upURL, m, nil, noResponseCache)
}

// BenchmarkWarmSnapshotMetrics reports on/off, the throughput with
// metrics on over the throughput with them off (goal: at least 0.9).
func BenchmarkWarmSnapshotMetrics(b *testing.B) {
	for _, bc := range []struct {
		name            string
		noResponseCache bool
	}{{"response-cache", false}, {"executed", true}} {
		b.Run(bc.name, func(b *testing.B) {
			sb, err := sandbox.New(sandbox.Config{ContactsPerLocation: 20})
			if err != nil {
				b.Fatal(err)
			}
			up := httptest.NewServer(sb)
			defer up.Close()
			m := metrics.New(metrics.Config{})
			off, on := benchGateway(b, up.URL, nil, bc.noResponseCache), benchGateway(b, up.URL, m, bc.noResponseCache)
			payload, _ := json.Marshal(map[string]any{"query": `query Snapshot($id: ID!) { contact(id: $id) {
				id name email phone tags customFields { fieldId value }
				tasks { id title dueDate completed } notes { id body dateAdded } appointments { id title startTime status } } }`,
				"operationName": "Snapshot", "variables": map[string]any{"id": sb.ContactIDs(sb.Locations()[0])[0]}})
			token := sb.DefaultToken()
			serve := func(h http.Handler) {
				r := httptest.NewRequest(http.MethodPost, server.GraphQLPath, bytes.NewReader(payload))
				r.Header.Set("Content-Type", "application/json")
				r.Header.Set("Authorization", "Bearer "+token)
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, r)
				if rec.Code != http.StatusOK || bytes.Contains(rec.Body.Bytes(), []byte(`"errors"`)) {
					b.Fatalf("%d %s", rec.Code, rec.Body)
				}
			}
			for range 3 { // warm both: the first answers are fetched and stored
				serve(off)
				serve(on)
			}
			var tOff, tOn time.Duration
			i := 0
			b.ReportAllocs()
			for b.Loop() {
				// Alternate which goes first, so neither always meets a warm CPU cache.
				first, second, tFirst, tSecond := off, on, &tOff, &tOn
				if i%2 == 1 {
					first, second, tFirst, tSecond = on, off, &tOn, &tOff
				}
				i++
				start := time.Now()
				serve(first)
				mid := time.Now()
				serve(second)
				*tFirst += mid.Sub(start)
				*tSecond += time.Since(mid)
			}
			b.ReportMetric(float64(tOff.Nanoseconds())/float64(i), "off-ns/req")
			b.ReportMetric(float64(tOn.Nanoseconds())/float64(i), "on-ns/req")
			b.ReportMetric(float64(tOff)/float64(tOn), "on/off")
			// The metrics counted what they served.
			fams, err := m.Registry().Gather()
			if err != nil {
				b.Fatal(err)
			}
			var found bool
			for _, f := range fams {
				found = found || f.GetName() == "gateway_graphql_requests_total"
			}
			if !found {
				b.Fatal("no request counted")
			}
		})
	}
}
