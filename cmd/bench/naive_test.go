package main

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/ghl-graphql/gateway/server"
	"github.com/ghl-graphql/gateway/upstream"
	"github.com/ghl-graphql/gateway/upstream/sandbox"
)

// inFlight counts the calls a handler serves at the same time.
type inFlight struct {
	next     http.Handler
	mu       sync.Mutex
	now, max int
}

func (f *inFlight) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	f.now++
	f.max = max(f.max, f.now)
	f.mu.Unlock()
	defer func() { f.mu.Lock(); f.now--; f.mu.Unlock() }()
	f.next.ServeHTTP(w, r)
}

// TestNaiveBaselineMakesOneCallPerField: the baseline the warm throughput
// is measured against makes every call of every snapshot, one at a time.
func TestNaiveBaselineMakesOneCallPerField(t *testing.T) {
	sb, err := sandbox.New(sandbox.Config{Seed: 3, ContactsPerLocation: 5})
	if err != nil {
		t.Fatal(err)
	}
	flight := &inFlight{next: sb}
	up := httptest.NewServer(flight)
	defer up.Close()
	client, err := upstream.NewClient(upstream.WithBaseURL(up.URL))
	if err != nil {
		t.Fatal(err)
	}
	h, err := newNaiveHandler(client)
	if err != nil {
		t.Fatal(err)
	}
	id := sb.ContactIDs(sb.Locations()[0])[1]
	body, _ := json.Marshal(map[string]any{"query": snapshotQuery, "variables": map[string]any{"id": id}})
	for range 2 {
		req := httptest.NewRequest(http.MethodPost, server.GraphQLPath, strings.NewReader(string(body)))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+sb.DefaultToken())
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != 200 || strings.Contains(rec.Body.String(), `"errors"`) || !strings.Contains(rec.Body.String(), `"tasks":[`) {
			t.Fatalf("snapshot: %d %s", rec.Code, rec.Body)
		}
	}
	if got := sb.TotalCalls(); got != 8 {
		t.Errorf("naive: %d calls for two snapshots, want 8", got)
	}
	if flight.max != 1 {
		t.Errorf("naive: %d calls in flight together, want 1 (sequential)", flight.max)
	}
}
