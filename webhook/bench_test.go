package webhook

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ghl-graphql/gateway/events"
)

// BenchmarkAcceptVerified measures verified webhook acceptance: signature
// check, parse, window, seen-set, enqueue and answer, in parallel, with
// the workers applying a no-op. Goal: ≥ 5,000/s (see docs/design.md).
func BenchmarkAcceptVerified(b *testing.B) {
	var applied atomic.Int64
	now := time.Now()
	r, err := New(Config{Ed25519Keys: []ed25519.PublicKey{testKeys.ed.Public().(ed25519.PublicKey)},
		Apply: func(context.Context, events.Change) { applied.Add(1) }, QueueDepth: 1 << 14, Now: func() time.Time { return now }})
	if err != nil {
		b.Fatal(err)
	}
	defer r.Drain(context.Background())
	// Pre-signed bodies, one per iteration (each webhookId is new), so the
	// benchmark measures the receiver, not the signer.
	bodies := make([][]byte, b.N)
	sigs := make([]string, b.N)
	for i := range bodies {
		bodies[i] = payload("ContactUpdate", fmt.Sprintf("c%d", i%997), now, fmt.Sprintf("w%d", i))
		sigs[i] = SignEd25519(testKeys.ed, bodies[i])
	}
	var next atomic.Int64
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := next.Add(1) - 1
			req := httptest.NewRequest(http.MethodPost, Path, bytes.NewReader(bodies[i]))
			req.Header.Set(HeaderSignature, sigs[i])
			w := httptest.NewRecorder()
			r.ServeHTTP(w, req)
			if w.Code != http.StatusOK {
				b.Fatalf("status %d", w.Code)
			}
		}
	})
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "webhooks/s")
}
