package server

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestReadyzDegraded: a gateway serving degraded (Redis down) stays ready
// (200) and says why; one whose upstream check fails is unavailable.
func TestReadyzDegraded(t *testing.T) {
	down := func() []string { return []string{"redis: unreachable", "rate budget local at 1/3"} }
	cases := map[string]struct {
		check    func(context.Context) error
		degraded func() []string
		code     int
		body     map[string]any
	}{
		"no hooks": {code: 200, body: map[string]any{"status": "ready"}},
		"not degraded": {degraded: func() []string { return nil }, code: 200,
			body: map[string]any{"status": "ready"}},
		"degraded": {degraded: down, code: 200,
			body: map[string]any{"status": "degraded", "degraded": []any{"redis: unreachable", "rate budget local at 1/3"}}},
		"degraded with a healthy upstream": {check: func(context.Context) error { return nil }, degraded: down, code: 200,
			body: map[string]any{"status": "degraded", "degraded": []any{"redis: unreachable", "rate budget local at 1/3"}}},
		"upstream down": {check: func(context.Context) error { return errors.New("breaker open") }, degraded: down, code: 503,
			body: map[string]any{"status": "unavailable", "error": "breaker open"}},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			readyHandler(tc.check, tc.degraded).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, ReadyPath, nil))
			if rec.Code != tc.code {
				t.Errorf("status %d, want %d", rec.Code, tc.code)
			}
			var got map[string]any
			if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(tc.body, got); d != "" {
				t.Errorf("body (-want +got):\n%s", d)
			}
		})
	}
}
