// Benchmarks of the gateway's hot paths, in-process (no network):
// go test -run=^$ -bench=. -benchmem ./server/

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

// benchHandler returns the gateway over a sandbox, and a warm snapshot request.
func benchHandler(b *testing.B, mut func(*Config)) (http.Handler, func() *http.Request) {
	b.Helper()
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
	cfg := Config{Client: client}
	if mut != nil {
		mut(&cfg)
	}
	h, err := New(cfg)
	if err != nil {
		b.Fatal(err)
	}
	payload, _ := json.Marshal(map[string]any{"query": `query($id: ID!) { contact(id: $id) {
		id name email phone tags customFields { fieldId value }
		tasks { id title dueDate completed } notes { id body dateAdded } appointments { id title startTime status } } }`,
		"variables": map[string]any{"id": sb.ContactIDs(sb.Locations()[0])[0]}})
	token := sb.DefaultToken()
	newReq := func() *http.Request {
		r := httptest.NewRequest(http.MethodPost, GraphQLPath, bytes.NewReader(payload))
		r.Header.Set("Content-Type", "application/json")
		r.Header.Set("Authorization", "Bearer "+token)
		return r
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, newReq())
	if rec.Code != http.StatusOK || bytes.Contains(rec.Body.Bytes(), []byte(`"errors"`)) {
		b.Fatalf("warm-up: %d %s", rec.Code, rec.Body)
	}
	return h, newReq
}

// BenchmarkWarmSnapshot: a snapshot answered from the response cache.
func BenchmarkWarmSnapshot(b *testing.B) {
	h, newReq := benchHandler(b, nil)
	b.ReportAllocs()
	for b.Loop() {
		h.ServeHTTP(httptest.NewRecorder(), newReq())
	}
}

// BenchmarkWarmSnapshotExecuted: a snapshot executed from cached upstream
// answers (no response cache): the cost of gqlgen's execution.
func BenchmarkWarmSnapshotExecuted(b *testing.B) {
	h, newReq := benchHandler(b, func(c *Config) { c.NoResponseCache = true })
	b.ReportAllocs()
	for b.Loop() {
		h.ServeHTTP(httptest.NewRecorder(), newReq())
	}
}
