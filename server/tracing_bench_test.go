package server

import (
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/ghl-graphql/gateway/tracing"
)

// BenchmarkWarmSnapshotTracing: warm snapshots with tracing on (1% of
// traces kept, spans to memory) against off, in the same run, the two
// handlers taking turns so that both see the same machine: with the
// response cache (a hit runs no resolver) and without it (executed from
// cached answers: the operation span and the resolver check on every
// field). Reports each one's ns/op and on/off throughput ratios.
//
//	go test -run '^$' -bench WarmSnapshotTracing -benchtime 400x ./server/
func BenchmarkWarmSnapshotTracing(b *testing.B) {
	for _, mode := range []struct {
		name string
		mut  func(*Config)
	}{
		{"response-cache", func(*Config) {}},
		{"executed", func(c *Config) { c.NoResponseCache = true }},
	} {
		b.Run(mode.name, func(b *testing.B) {
			tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(tracetest.NewInMemoryExporter()),
				sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.TraceIDRatioBased(0.01))))
			b.Cleanup(func() { _ = tp.Shutdown(b.Context()) })
			off, newOff := benchHandler(b, mode.mut)
			on, newOn := benchHandler(b, func(c *Config) { mode.mut(c); c.Tracing = tracing.New(tp) })
			// Blocks of requests, the handlers taking turns (and turns about
			// who goes first); the ratio reported is the median of the
			// blocks', which a neighbour's burst on a shared machine moves
			// less than a sum would.
			const block = 50
			serve := func(h http.Handler, newReq func() *http.Request) time.Duration {
				start := time.Now()
				for range block {
					h.ServeHTTP(httptest.NewRecorder(), newReq())
				}
				return time.Since(start)
			}
			var tOff, tOn time.Duration
			var ratios []float64
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				var dOff, dOn time.Duration
				if i%2 == 0 {
					dOff = serve(off, newOff)
					dOn = serve(on, newOn)
				} else {
					dOn = serve(on, newOn)
					dOff = serve(off, newOff)
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
