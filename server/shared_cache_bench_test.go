// Benchmark of what the Redis-shared cache costs a warm snapshot (issue 13):
// one replica with and without Redis configured, in one run, so the ratio
// needs no baseline from another machine:
// REDIS_URL=redis://127.0.0.1:6379/0 go test -run=^$ -bench=SharedCache ./server/

package server

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/ghl-graphql/gateway/loaders"
	"github.com/ghl-graphql/gateway/redisx/redistest"
)

// BenchmarkWarmSnapshotSharedCache reports ns/op of a warm snapshot on a
// replica without Redis (local-ns/op) and with the shared cache on Redis
// (redis-ns/op), and their ratio (redis/local): with the response cache,
// and executed from the local cache of answers (no response cache). Warm
// reads are served by the local level, so Redis should cost them nothing.
func BenchmarkWarmSnapshotSharedCache(b *testing.B) {
	conn := redistest.SharedConns(b, 1)[0]
	for _, mode := range []struct {
		name       string
		noResponse bool
	}{{"response cache", false}, {"executed", true}} {
		b.Run(mode.name, func(b *testing.B) {
			local, newLocal := benchHandler(b, func(c *Config) { c.NoResponseCache = mode.noResponse })
			shared, newShared := benchHandler(b, func(c *Config) {
				c.NoResponseCache = mode.noResponse
				c.SharedCache = &loaders.SharedConfig{Conn: conn}
			})
			var tLocal, tShared time.Duration
			run := func(h http.Handler, newReq func() *http.Request) time.Duration {
				start := time.Now()
				h.ServeHTTP(httptest.NewRecorder(), newReq())
				return time.Since(start)
			}
			n := 0
			for b.Loop() {
				// Alternating, in both orders, so both see the same machine
				// load and neither always runs first.
				if n%2 == 0 {
					tLocal += run(local, newLocal)
					tShared += run(shared, newShared)
				} else {
					tShared += run(shared, newShared)
					tLocal += run(local, newLocal)
				}
				n++
			}
			b.ReportMetric(float64(tLocal.Nanoseconds())/float64(n), "local-ns/op")
			b.ReportMetric(float64(tShared.Nanoseconds())/float64(n), "redis-ns/op")
			b.ReportMetric(float64(tShared)/float64(tLocal), "redis/local")
		})
	}
}
