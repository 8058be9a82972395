// Tests that every error has one shape, whether the HTTP layer refuses the
// request, gqlgen refuses the operation (parse, validation, cost, budget)
// or a field fails during execution.

package server

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/ghl-graphql/gateway/errcode"
	"github.com/ghl-graphql/gateway/upstream"
)

func TestEveryErrorHasOneShape(t *testing.T) {
	up, calls := stubUpstream(t)
	client, err := upstream.NewClient(upstream.WithBaseURL(up.URL),
		upstream.WithRateBudget(upstream.NewLocalBudget(upstream.BudgetConfig{Max: 2, Interval: time.Hour})))
	if err != nil {
		t.Fatal(err)
	}
	h, err := New(Config{Client: client, MaxBodyBytes: 4096, Limits: QueryLimits{MaxDepth: 4}})
	if err != nil {
		t.Fatal(err)
	}
	persisted := newTestHandler(t, up.URL, func(c *Config) {
		c.PersistedOperations = PersistedOperations{hashQuery("{ __typename }"): "{ __typename }"}
	})
	snapshot := `{"query":"{ contact(id: \"c1\") { id tasks { id } notes { id } } }"}`
	req := func(method, contentType, body, auth string) *http.Request {
		r := httptest.NewRequest(method, GraphQLPath, strings.NewReader(body))
		if contentType != "" {
			r.Header.Set("Content-Type", contentType)
		}
		if auth != "" {
			r.Header.Set("Authorization", auth)
		}
		return r
	}
	tests := map[string]struct {
		h          http.Handler
		req        *http.Request
		wantStatus int
		wantCode   string
		wantExt    []string // extra extensions of the error
		executed   bool     // gqlgen answered: top-level extensions allowed
	}{
		"malformed JSON (HTTP layer)": {req: req("POST", "application/json", `{"query": `, "Bearer t"), wantStatus: 400, wantCode: errcode.CodeBadRequest},
		"method (HTTP layer)":         {req: req("PUT", "application/json", snapshot, "Bearer t"), wantStatus: 405, wantCode: errcode.CodeBadRequest},
		"media type (HTTP layer)":     {req: req("POST", "text/plain", snapshot, "Bearer t"), wantStatus: 415, wantCode: errcode.CodeBadRequest},
		"body size (HTTP layer)": {req: req("POST", "application/json", `{"query":"`+strings.Repeat(" ", 5000)+`{ __typename }"}`, "Bearer t"),
			wantStatus: 413, wantCode: errcode.CodeBadUserInput},
		"malformed credential (HTTP layer)": {req: req("POST", "application/json", snapshot, "Basic abc"), wantStatus: 401, wantCode: errcode.CodeUnauthenticated},
		"not on the allow-list (HTTP layer)": {h: persisted, req: req("POST", "application/json", snapshot, "Bearer t"),
			wantStatus: 400, wantCode: errcode.CodePersistedOnly},
		"parse (gqlgen)": {req: req("POST", "application/json", `{"query":"{ contact(id: "}`, "Bearer t"),
			wantStatus: 200, wantCode: errcode.CodeParseFailed, executed: true},
		// Deep only through a fragment, which the pre-scan does not follow:
		// the cost check after validation refuses it, with the cost.
		"too deep (cost check)": {req: req("POST", "application/json", `{"query":"{ contact(id: \"c1\") { ...F } } fragment F on Contact { business { contacts { nodes { id } } } }"}`, "Bearer t"),
			wantStatus: 200, wantCode: errcode.CodeQueryTooComplex, wantExt: []string{"cost"}, executed: true},
		// Deep as written: the pre-scan refuses it before parsing, when no
		// cost is known yet.
		"too deep (pre-scan)": {req: req("POST", "application/json", `{"query":"{ contact(id: \"c1\") { business { contacts { nodes { id } } } } }"}`, "Bearer t"),
			wantStatus: 200, wantCode: errcode.CodeQueryTooComplex, executed: true},
		// Cost 2 with one of the window's 2 calls spent (below): the window
		// could pay it, not before the wait allowed, so it is refused.
		"over the budget (cost check)": {req: req("POST", "application/json", `{"query":"mutation { addContactTags(contactId: \"c1\", tags: [\"x\"]) { contact { id } } }"}`, "Bearer t"),
			wantStatus: 200, wantCode: errcode.CodeRateLimited, wantExt: []string{"cost", "retryAfter"}, executed: true},
		"failing field (execution)": {req: req("POST", "application/json", `{"query":"{ contact(id: \"\") { id } }"}`, "Bearer t"),
			wantStatus: 200, wantCode: errcode.CodeBadUserInput, executed: true},
	}
	// Spend one call of the credential's window of 2 (an hour long).
	spend := httptest.NewRecorder()
	h.ServeHTTP(spend, req("POST", "application/json", `{"query":"{ contact(id: \"c1\") { id } }"}`, "Bearer t"))
	if calls.Load() != 1 {
		t.Fatalf("%d calls to spend one slot: %s", calls.Load(), spend.Body)
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			handler := tc.h
			if handler == nil {
				handler = h
			}
			before := calls.Load()
			rec := httptest.NewRecorder()
			handler.ServeHTTP(rec, tc.req)
			if rec.Code != tc.wantStatus {
				t.Errorf("status %d, want %d", rec.Code, tc.wantStatus)
			}
			if !tc.executed && rec.Code != errcode.Status(tc.wantCode) && rec.Code != 405 && rec.Code != 413 && rec.Code != 415 {
				t.Errorf("status %d is neither %s's (%d) nor a documented refinement", rec.Code, tc.wantCode, errcode.Status(tc.wantCode))
			}
			if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
				t.Errorf("Content-Type %q", ct)
			}
			var top map[string]json.RawMessage
			if err := json.Unmarshal(rec.Body.Bytes(), &top); err != nil {
				t.Fatalf("body %s: %v", rec.Body, err)
			}
			for k := range top {
				// Refusals before execution carry only the request's ID there.
				if k != "errors" && k != "data" && !(k == "extensions" && (tc.executed || onlyRequestID(top[k]))) {
					t.Errorf("top-level key %q in %s", k, rec.Body)
				}
			}
			// A refused request has no data entry (GraphQL spec §7.1.2).
			if d, ok := top["data"]; ok && !tc.executed {
				t.Errorf("data = %s on a refusal, want no data entry", d)
			}
			var errs []map[string]json.RawMessage
			if err := json.Unmarshal(top["errors"], &errs); err != nil || len(errs) != 1 {
				t.Fatalf("errors %s: %v", top["errors"], err)
			}
			for k := range errs[0] {
				if k != "message" && k != "extensions" && k != "path" && k != "locations" {
					t.Errorf("error key %q", k)
				}
			}
			var ext map[string]any
			json.Unmarshal(errs[0]["extensions"], &ext)
			if ext["code"] != tc.wantCode || errcode.Status(tc.wantCode) == 500 {
				t.Errorf("extensions %v, want declared code %s", ext, tc.wantCode)
			}
			for _, k := range tc.wantExt {
				if _, ok := ext[k]; !ok {
					t.Errorf("extensions %v lack %s", ext, k)
				}
			}
			if len(ext) != 1+len(tc.wantExt) {
				t.Errorf("extensions %v, want code and %v", ext, tc.wantExt)
			}
			if calls.Load() != before {
				t.Error("a refused request reached the upstream")
			}
		})
	}
}

// TestRefusalSaysWhenToRetry: an HTTP-layer refusal with retryAfter sends
// Retry-After too, from the same number.
func TestRefusalSaysWhenToRetry(t *testing.T) {
	rec := httptest.NewRecorder()
	writeError(rec, httptest.NewRequest("POST", GraphQLPath, nil), errcode.RateLimited("too many requests from this client", 1500*time.Millisecond))
	if rec.Code != http.StatusTooManyRequests || rec.Header().Get("Retry-After") != "2" {
		t.Errorf("status %d, Retry-After %q; want 429 and 2", rec.Code, rec.Header().Get("Retry-After"))
	}
	if !strings.Contains(rec.Body.String(), `"retryAfter":2`) || !strings.Contains(rec.Body.String(), `"code":"RATE_LIMITED"`) {
		t.Errorf("body %s", rec.Body)
	}
}

// onlyRequestID reports whether an extensions object holds requestId alone.
func onlyRequestID(raw json.RawMessage) bool {
	var ext map[string]any
	if json.Unmarshal(raw, &ext) != nil {
		return false
	}
	_, ok := ext["requestId"]
	return ok && len(ext) == 1
}
