// The cost of metrics on the gateway's hottest path, in one run: a warm
// snapshot served with metrics on and off, alternately, so that both see
// the same machine load.
//
//	go test -run='^$' -bench=WarmSnapshotMetrics -benchtime=20000x ./metrics/

package metrics_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/ghl-graphql/gateway/metrics"
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
			upURL, serve := snapshotBench(b)
			m := metrics.New(metrics.Config{})
			off, on := benchGateway(b, upURL, nil, bc.noResponseCache), benchGateway(b, upURL, m, bc.noResponseCache)
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
