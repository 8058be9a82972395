// Tests for CORS, the persisted-operations-only mode, the audit log, and
// that no secret reaches a log.

package server

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ghl-graphql/gateway/errcode"
	"github.com/ghl-graphql/gateway/upstream"
	"github.com/ghl-graphql/gateway/upstream/sandbox"
)

func TestCORS(t *testing.T) {
	up, _ := stubUpstream(t)
	h := newTestHandler(t, up.URL, func(c *Config) { c.CORSOrigins = []string{"https://app.example.com"} })
	tests := map[string]struct {
		method, origin string
		preflight      bool
		wantStatus     int
		wantAllow      string
	}{
		"allowed preflight":    {method: http.MethodOptions, origin: "https://app.example.com", preflight: true, wantStatus: 204, wantAllow: "https://app.example.com"},
		"other preflight":      {method: http.MethodOptions, origin: "https://evil.example", preflight: true, wantStatus: 403},
		"allowed request":      {method: http.MethodPost, origin: "https://app.example.com", wantStatus: 200, wantAllow: "https://app.example.com"},
		"other origin request": {method: http.MethodPost, origin: "https://evil.example", wantStatus: 200},
		"no origin (server)":   {method: http.MethodPost, wantStatus: 200},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			r := post(`{"query":"{ __typename }"}`, "")
			r.Method = tc.method
			if tc.origin != "" {
				r.Header.Set("Origin", tc.origin)
			}
			if tc.preflight {
				r.Header.Set("Access-Control-Request-Method", "POST")
				r.Header.Set("Access-Control-Request-Headers", "authorization, content-type")
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, r)
			if rec.Code != tc.wantStatus {
				t.Fatalf("status %d, want %d", rec.Code, tc.wantStatus)
			}
			if got := rec.Header().Get("Access-Control-Allow-Origin"); got != tc.wantAllow {
				t.Errorf("Allow-Origin = %q, want %q", got, tc.wantAllow)
			}
			if tc.preflight && tc.wantStatus == 204 && !strings.Contains(rec.Header().Get("Access-Control-Allow-Headers"), "Authorization") {
				t.Errorf("preflight does not allow Authorization")
			}
		})
	}
	client, _ := upstream.NewClient(upstream.WithBaseURL(up.URL))
	if _, err := New(Config{Client: client, CORSOrigins: []string{"app.example.com"}}); err == nil {
		t.Error("an origin without a scheme was accepted")
	}
}

func TestPersistedOperationsOnly(t *testing.T) {
	allowed := `query Snap($id: ID!) { contact(id: $id) { id name } }`
	dir := t.TempDir()
	file := filepath.Join(dir, "ops.json")
	b, _ := json.Marshal([]string{allowed})
	os.WriteFile(file, b, 0o600)
	ops, err := LoadPersistedOperations(file)
	if err != nil {
		t.Fatal(err)
	}
	e := newCacheEnv(t, func(c *Config) { c.PersistedOperations = ops })
	id := e.contacts[0]
	send := func(body map[string]any) result {
		t.Helper()
		raw, _ := json.Marshal(body)
		req, _ := http.NewRequest(http.MethodPost, e.gw.URL+GraphQLPath, bytes.NewReader(raw))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+e.token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out result
		json.NewDecoder(resp.Body).Decode(&out)
		return out
	}
	vars := map[string]any{"id": id}
	byText := send(map[string]any{"query": allowed, "variables": vars})
	byHash := send(map[string]any{"variables": vars, "extensions": map[string]any{"persistedQuery": map[string]any{"version": 1, "sha256Hash": hashQuery(allowed)}}})
	for name, out := range map[string]result{"by text": byText, "by hash": byHash} {
		if len(out.Errors) > 0 || !strings.Contains(string(out.Data["contact"]), id) {
			t.Errorf("allowed operation %s: %s %+v", name, out.Data["contact"], out.Errors)
		}
	}
	before := e.sb.TotalCalls()
	for name, body := range map[string]map[string]any{
		"other query":  {"query": `{ contacts { nodes { id } } }`},
		"unknown hash": {"extensions": map[string]any{"persistedQuery": map[string]any{"sha256Hash": strings.Repeat("0", 64)}}},
		"nothing":      {"variables": vars},
	} {
		out := send(body)
		want := errcode.CodePersistedOnly
		if name == "unknown hash" {
			// APQ's answer, so that Apollo's link sends the text, which the
			// allow-list then refuses (TestAPQWithAllowList).
			want = errcode.CodePersistedQueryNotFound
		}
		if len(out.Errors) != 1 || out.Errors[0].Extensions["code"] != want {
			t.Errorf("%s: %+v", name, out.Errors)
		}
	}
	if e.sb.TotalCalls() != before {
		t.Error("a refused operation reached the upstream")
	}
	// A list whose hash does not match its query is refused at load.
	bad := filepath.Join(dir, "bad.json")
	os.WriteFile(bad, []byte(`{"`+strings.Repeat("a", 64)+`": "{ __typename }"}`), 0o600)
	if _, err := LoadPersistedOperations(bad); err == nil {
		t.Error("a mismatched hash was accepted")
	}
}

func TestAuditLogAndNoSecretsInLogs(t *testing.T) {
	var audit, logs bytes.Buffer
	auditLog := slog.New(slog.NewJSONHandler(&audit, nil))
	logger := slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	sb, err := sandbox.New(sandbox.Config{Seed: 9, ContactsPerLocation: 10})
	if err != nil {
		t.Fatal(err)
	}
	up := httptest.NewServer(sb)
	t.Cleanup(up.Close)
	client, _ := upstream.NewClient(upstream.WithBaseURL(up.URL), upstream.WithLogger(logger))
	h, err := New(Config{Client: client, Logger: logger, AuditLog: auditLog})
	if err != nil {
		t.Fatal(err)
	}
	gw := httptest.NewServer(h)
	t.Cleanup(gw.Close)
	token := sb.DefaultToken()
	readOnly := sb.Token(sb.Locations()[0], sandbox.ScopeContactsRead)
	id := sb.ContactIDs(sb.Locations()[0])[0]
	do := func(tok, q string) {
		body, _ := json.Marshal(map[string]any{"query": q})
		req, _ := http.NewRequest(http.MethodPost, gw.URL+GraphQLPath, bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+tok)
		req.Header.Set("X-Location-Id", sb.Locations()[0])
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	do(token, `mutation { addContactTags(contactId: "`+id+`", tags: ["audited"]) { tags } }`)
	do(token, `mutation { bulkUpdateContactTags(input: {action: ADD, contactIds: ["`+id+`", "other"], tags: ["t"]}) { success } }`)
	do(readOnly, `mutation { deleteContact(id: "`+id+`") { success } }`) // refused upstream: 401 scope
	do(token, `{ contact(id: "`+id+`") { id } }`)                        // a query: not audited
	do("forged-token", `{ contact(id: "x") { id } }`)

	var lines []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(audit.String()), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("audit line %q: %v", l, err)
		}
		lines = append(lines, m)
	}
	if len(lines) != 3 {
		t.Fatalf("%d audit lines, want one per mutation (3):\n%s", len(lines), audit.String())
	}
	if lines[0]["operation"] != "addContactTags" || lines[0]["outcome"] != "ok" || lines[0]["location"] != sb.Locations()[0] ||
		!strings.Contains(toJSON(lines[0]["targets"]), id) || lines[0]["who"] == "" || lines[0]["duration"] == nil {
		t.Errorf("audit line = %v", lines[0])
	}
	if !strings.Contains(toJSON(lines[1]["targets"]), "other") {
		t.Errorf("bulk targets missing: %v", lines[1])
	}
	if lines[2]["outcome"] != "error" || lines[2]["code"] != "FORBIDDEN" || lines[2]["writeOutcome"] != "NOT_APPLIED" {
		t.Errorf("refused mutation audit line = %v", lines[2])
	}
	for _, secret := range []string{token, readOnly, "forged-token"} {
		for name, buf := range map[string]*bytes.Buffer{"audit": &audit, "logs": &logs} {
			if strings.Contains(buf.String(), secret) {
				t.Errorf("%s log contains a token", name)
			}
		}
	}
	if logs.Len() == 0 {
		t.Error("no logs captured: the grep proves nothing")
	}
}

func toJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}
