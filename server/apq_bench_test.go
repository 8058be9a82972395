// Benchmark of automatic persisted queries: a hash-hit request against the
// same request with its full text, in throughput and in bytes sent
// (go test -run=^$ -bench=APQ -benchmem ./server/).

package server

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/ghl-graphql/gateway/upstream"
	"github.com/ghl-graphql/gateway/upstream/sandbox"
)

// apqBenchQuery is a CRM view's snapshot, as a frontend writes it.
const apqBenchQuery = `query ContactSnapshot($id: ID!) {
  contact(id: $id) {
    id name firstName lastName email phone companyName tags dateAdded dateUpdated
    customFields { fieldId value }
    tasks { id title body dueDate completed }
    notes { id body dateAdded }
    appointments { id title startTime endTime status }
  }
}`

func BenchmarkAPQ(b *testing.B) {
	sb, err := sandbox.New(sandbox.Config{ContactsPerLocation: 20})
	if err != nil {
		b.Fatal(err)
	}
	up := httptest.NewServer(sb)
	b.Cleanup(up.Close)
	client, err := upstream.NewClient(upstream.WithBaseURL(up.URL))
	if err != nil {
		b.Fatal(err)
	}
	token := sb.DefaultToken()
	vars := map[string]any{"id": sb.ContactIDs(sb.Locations()[0])[0]}
	pq := map[string]any{"persistedQuery": map[string]any{"version": 1, "sha256Hash": hashQuery(apqBenchQuery)}}
	full, _ := json.Marshal(map[string]any{"query": apqBenchQuery, "variables": vars, "extensions": pq})
	plain, _ := json.Marshal(map[string]any{"query": apqBenchQuery, "variables": vars})
	hashOnly, _ := json.Marshal(map[string]any{"variables": vars, "extensions": pq})
	for _, cache := range []struct {
		name string
		off  bool
	}{{"response-cache", false}, {"executed", true}} {
		h, err := New(Config{Client: client, NoResponseCache: cache.off})
		if err != nil {
			b.Fatal(err)
		}
		send := func(body []byte) *httptest.ResponseRecorder {
			r := httptest.NewRequest(http.MethodPost, GraphQLPath, bytes.NewReader(body))
			r.Header.Set("Content-Type", "application/json")
			r.Header.Set("Authorization", "Bearer "+token)
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, r)
			return rec
		}
		if rec := send(full); rec.Code != 200 || bytes.Contains(rec.Body.Bytes(), []byte(`"errors"`)) { // registers, warms
			b.Fatalf("warm-up: %d %s", rec.Code, rec.Body)
		}
		for _, kind := range []struct {
			name string
			body []byte
		}{{"plain-text", plain}, {"text-and-hash", full}, {"hash-hit", hashOnly}} {
			b.Run(cache.name+"/"+kind.name, func(b *testing.B) {
				if rec := send(kind.body); bytes.Contains(rec.Body.Bytes(), []byte(`"errors"`)) {
					b.Fatalf("%s", rec.Body)
				}
				b.ReportAllocs()
				for b.Loop() {
					send(kind.body)
				}
				b.ReportMetric(float64(len(kind.body)), "req-bytes")
			})
		}
	}
}
