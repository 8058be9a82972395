// Benchmarks of the warm paths with refresh-ahead on, as the binary runs
// by default: go test -run=^$ -bench=RefreshAhead -benchmem ./server/

package server

import (
	"net/http/httptest"
	"testing"

	"github.com/ghl-graphql/gateway/loaders"
)

// BenchmarkWarmSnapshotRefreshAhead: BenchmarkWarmSnapshot with the
// binary's refresh-ahead settings (a hit reads the clock to see whether
// its answers are due).
func BenchmarkWarmSnapshotRefreshAhead(b *testing.B) {
	h, newReq := benchHandler(b, func(c *Config) {
		c.Refresh = loaders.RefreshConfig{Ahead: loaders.DefaultRefreshAhead}
	})
	b.ReportAllocs()
	for b.Loop() {
		h.ServeHTTP(httptest.NewRecorder(), newReq())
	}
}

// BenchmarkWarmSnapshotExecutedRefreshAhead: BenchmarkWarmSnapshotExecuted
// with refresh-ahead on (each answer read is noted for the response cache's
// refreshes).
func BenchmarkWarmSnapshotExecutedRefreshAhead(b *testing.B) {
	h, newReq := benchHandler(b, func(c *Config) {
		c.NoResponseCache = true
		c.Refresh = loaders.RefreshConfig{Ahead: loaders.DefaultRefreshAhead}
	})
	b.ReportAllocs()
	for b.Loop() {
		h.ServeHTTP(httptest.NewRecorder(), newReq())
	}
}
