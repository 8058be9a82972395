// Tests for the frontend protocol (issue 14): automatic persisted queries,
// batched requests, the media types of GraphQL over HTTP, and CORS with
// real clients' headers. The real clients themselves run in node_test.go.

package server_test

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ghl-graphql/gateway/server"
)

func sha(q string) string {
	s := sha256.Sum256([]byte(q))
	return hex.EncodeToString(s[:])
}

// apqBody is a POST body: the query (when not empty) and its persisted-query
// extension.
func apqBody(query, hash string) string {
	m := map[string]any{"extensions": map[string]any{"persistedQuery": map[string]any{"version": 1, "sha256Hash": hash}}}
	if query != "" {
		m["query"] = query
	}
	b, _ := json.Marshal(m)
	return string(b)
}

// getGQL sends a GET to /graphql with params.
func (e *e2e) getGQL(t *testing.T, params url.Values, header http.Header) response {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, e.gw.URL+server.GraphQLPath+"?"+params.Encode(), nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+e.token)
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := e.gw.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	out := response{Status: resp.StatusCode, Body: string(raw)}
	var env struct {
		Data   map[string]any `json:"data"`
		Errors []gqlError     `json:"errors"`
	}
	if err := json.Unmarshal(raw, &env); err != nil {
		t.Fatalf("answer is not JSON (status %d): %q", resp.StatusCode, raw)
	}
	out.Data, out.Errors = env.Data, env.Errors
	return out
}

func TestAPQ(t *testing.T) {
	const q = `query Apq { contacts(first: 2) { edges { node { id } } } }`
	const other = `query Other { contacts(first: 1) { totalCount } }`
	graphqlResponse := http.Header{"Accept": {"application/graphql-response+json"}}
	e := newE2E(t)
	steps := []struct {
		name    string
		body    string
		header  http.Header
		status  int
		code    string
		message string
		edges   int
	}{
		{name: "unknown hash: PersistedQueryNotFound, 200 under application/json", body: apqBody("", sha(q)),
			status: 200, code: "PERSISTED_QUERY_NOT_FOUND", message: "PersistedQueryNotFound"},
		{name: "unknown hash under graphql-response+json: 400", body: apqBody("", sha(q)), header: graphqlResponse,
			status: 400, code: "PERSISTED_QUERY_NOT_FOUND", message: "PersistedQueryNotFound"},
		{name: "hash that is not the query's: refused", body: apqBody(q, sha(other)),
			status: 200, code: "PERSISTED_QUERY_HASH_MISMATCH"},
		{name: "the mismatch registered nothing", body: apqBody("", sha(other)),
			status: 200, code: "PERSISTED_QUERY_NOT_FOUND"},
		{name: "query with its hash: runs and registers", body: apqBody(q, sha(q)), status: 200, edges: 2},
		{name: "hash alone: runs", body: apqBody("", sha(q)), status: 200, edges: 2},
		{name: "upper-case hash: the same", body: apqBody("", strings.ToUpper(sha(q))), status: 200, edges: 2},
		{name: "hash not 64 hex digits", body: apqBody("", "abc"), status: 400, code: "BAD_REQUEST"},
		{name: "version 2", body: `{"extensions":{"persistedQuery":{"version":2,"sha256Hash":"` + sha(q) + `"}}}`,
			status: 400, code: "BAD_REQUEST"},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			r := e.send(request{token: e.token, rawBody: s.body, header: s.header})
			if r.Status != s.status {
				t.Fatalf("status %d, want %d; %s", r.Status, s.status, r.Body)
			}
			if s.code != "" {
				if r.code(t) != s.code {
					t.Fatalf("code %s, want %s; %s", r.code(t), s.code, r.Body)
				}
				if s.message != "" && r.Errors[0].Message != s.message {
					t.Errorf("message %q, want %q (Apollo's link reads it)", r.Errors[0].Message, s.message)
				}
				if strings.Contains(r.Body, `"data"`) {
					t.Errorf("a request error has a data entry: %s", r.Body)
				}
				return
			}
			if got := len(list(r.get("contacts.edges"))); got != s.edges {
				t.Errorf("edges %d, want %d; %s", got, s.edges, r.Body)
			}
		})
	}
	t.Run("GET with the hash alone", func(t *testing.T) {
		ext := `{"persistedQuery":{"version":1,"sha256Hash":"` + sha(q) + `"}}`
		r := e.getGQL(t, url.Values{"extensions": {ext}}, nil)
		if r.Status != 200 || len(list(r.get("contacts.edges"))) != 2 {
			t.Fatalf("status %d: %s", r.Status, r.Body)
		}
		ext = `{"persistedQuery":{"version":1,"sha256Hash":"` + sha("{ unknown }") + `"}}`
		if r := e.getGQL(t, url.Values{"extensions": {ext}}, nil); r.code(t) != "PERSISTED_QUERY_NOT_FOUND" {
			t.Errorf("unknown hash by GET: %s", r.Body)
		}
	})
}

func TestAPQSwitchedOff(t *testing.T) {
	e := newE2E(t, withServer(func(c *server.Config) { c.APQCacheBytes = -1 }))
	const q = `{ contacts(first: 1) { totalCount } }`
	r := e.send(request{token: e.token, rawBody: apqBody("", sha(q))})
	if r.Status != 200 || r.code(t) != "PERSISTED_QUERY_NOT_SUPPORTED" || r.Errors[0].Message != "PersistedQueryNotSupported" {
		t.Fatalf("hash alone with APQ off: %d %s", r.Status, r.Body)
	}
	// Apollo's link, told so, sends the query with its hash: it runs.
	if r := e.send(request{token: e.token, rawBody: apqBody(q, sha(q))}); r.Status != 200 || len(r.Errors) != 0 {
		t.Fatalf("query with hash, APQ off: %d %s", r.Status, r.Body)
	}
}

// TestAPQCacheBounded: the in-memory store holds at most its bytes, least
// recently used out first.
func TestAPQCacheBounded(t *testing.T) {
	ctx := t.Context()
	queries := []string{strings.Repeat("a", 300), strings.Repeat("b", 300), strings.Repeat("c", 300)}
	c := server.NewAPQCache(900) // two entries of 300 bytes and their overhead
	for _, q := range queries[:2] {
		if err := c.Put(ctx, sha(q), q); err != nil {
			t.Fatal(err)
		}
	}
	if _, ok, _ := c.Get(ctx, sha(queries[0])); !ok { // a is now the most recent
		t.Fatal("a missing")
	}
	_ = c.Put(ctx, sha(queries[2]), queries[2])
	for i, want := range []bool{true, false, true} {
		if _, ok, _ := c.Get(ctx, sha(queries[i])); ok != want {
			t.Errorf("query %d kept = %v, want %v", i, ok, want)
		}
	}
}

// TestAPQWithAllowList: with the allow-list on, only listed operations run,
// by hash or by text; APQ resolves listed hashes and keeps nothing else.
func TestAPQWithAllowList(t *testing.T) {
	const listed = `query Listed { contacts(first: 1) { totalCount } }`
	const unlisted = `query Unlisted { contacts(first: 2) { totalCount } }`
	path := filepath.Join(t.TempDir(), "ops.json")
	b, _ := json.Marshal([]string{listed})
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	ops, err := server.LoadPersistedOperations(path)
	if err != nil {
		t.Fatal(err)
	}
	e := newE2E(t, withServer(func(c *server.Config) { c.PersistedOperations = ops }))
	tests := []struct {
		name, body, code string
	}{
		{"listed hash, never registered: runs", apqBody("", sha(listed)), ""},
		{"listed text: runs", `{"query":` + string(mustJSON(json.Marshal(listed))) + `}`, ""},
		{"unlisted hash: not found (the link then sends the text)", apqBody("", sha(unlisted)), "PERSISTED_QUERY_NOT_FOUND"},
		{"unlisted text with its hash: not allowed", apqBody(unlisted, sha(unlisted)), "PERSISTED_QUERY_NOT_ALLOWED"},
		{"and it was not kept", apqBody("", sha(unlisted)), "PERSISTED_QUERY_NOT_FOUND"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := e.send(request{token: e.token, rawBody: tc.body})
			if tc.code == "" {
				r.ok(t)
				if r.get("contacts.totalCount") == nil {
					t.Errorf("no data: %s", r.Body)
				}
				return
			}
			if got := r.code(t); got != tc.code {
				t.Errorf("code %s, want %s; %s", got, tc.code, r.Body)
			}
		})
	}
}

func mustJSON[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// sendBatch POSTs a batch and decodes the array of answers.
func (e *e2e) sendBatch(t *testing.T, body string) (int, []response, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, e.gw.URL+server.GraphQLPath, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+e.token)
	resp, err := e.gw.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var items []struct {
		Data   map[string]any `json:"data"`
		Errors []gqlError     `json:"errors"`
	}
	if json.Unmarshal(raw, &items) != nil {
		return resp.StatusCode, nil, string(raw)
	}
	out := make([]response, len(items))
	for i, it := range items {
		out[i] = response{Status: resp.StatusCode, Data: it.Data, Errors: it.Errors}
	}
	return resp.StatusCode, out, string(raw)
}

func TestBatch(t *testing.T) {
	op := func(q string) string { return `{"query":` + string(mustJSON(json.Marshal(q))) + `}` }
	batch := func(ops ...string) string { return "[" + strings.Join(ops, ",") + "]" }
	first := func(n int) string {
		return op(`{ contacts(first: ` + string(rune('0'+n)) + `) { edges { node { id } } } }`)
	}

	t.Run("answers in order, each its own errors", func(t *testing.T) {
		e := newE2E(t)
		status, answers, raw := e.sendBatch(t, batch(first(3), op(`{ contact(id: "") { id } }`), op(`{ nope }`), first(1)))
		if status != 200 || len(answers) != 4 {
			t.Fatalf("status %d, %d answers: %s", status, len(answers), raw)
		}
		if n := len(list(answers[0].get("contacts.edges"))); n != 3 {
			t.Errorf("answer 0: %d edges, want 3", n)
		}
		if c := answers[1].code(t); c != "BAD_USER_INPUT" {
			t.Errorf("answer 1: code %s, want BAD_USER_INPUT", c)
		}
		if c := answers[2].code(t); c != "GRAPHQL_VALIDATION_FAILED" {
			t.Errorf("answer 2: code %s, want GRAPHQL_VALIDATION_FAILED", c)
		}
		if n := len(list(answers[3].get("contacts.edges"))); n != 1 {
			t.Errorf("answer 3: %d edges, want 1", n)
		}
	})
	t.Run("over the cap: refused whole, no upstream call", func(t *testing.T) {
		e := newE2E(t, withServer(func(c *server.Config) { c.MaxBatch = 2 }))
		before := e.counters()
		r := e.send(request{token: e.token, rawBody: batch(first(1), first(1), first(1))})
		if r.Status != 400 || r.code(t) != "BAD_REQUEST" || r.Errors[0].Extensions["maxBatch"] != float64(2) {
			t.Fatalf("status %d: %s", r.Status, r.Body)
		}
		e.wantNoCalls(t, before)
		if status, answers, raw := e.sendBatch(t, batch(first(1), first(2))); status != 200 || len(answers) != 2 {
			t.Fatalf("a batch at the cap: %d %s", status, raw)
		}
	})
	t.Run("the default cap", func(t *testing.T) {
		e := newE2E(t)
		ops := make([]string, server.DefaultMaxBatch+1)
		for i := range ops {
			ops[i] = first(1)
		}
		if r := e.send(request{token: e.token, rawBody: batch(ops...)}); r.Status != 400 || r.code(t) != "BAD_REQUEST" {
			t.Fatalf("status %d: %s", r.Status, r.Body)
		}
	})
	t.Run("the cost limit applies to the batch as a whole", func(t *testing.T) {
		// Each search costs 1 upstream call; three fit one by one, not together.
		e := newE2E(t, withServer(func(c *server.Config) {
			c.Limits.MaxCost = 2
			c.NoResponseCache = true
		}))
		for n := 1; n <= 3; n++ { // each alone is within the limit
			e.send(request{token: e.token, rawBody: first(n)}).ok(t)
		}
		status, answers, raw := e.sendBatch(t, batch(first(1), first(2), first(3)))
		if status != 200 || len(answers) != 3 {
			t.Fatalf("status %d: %s", status, raw)
		}
		for i := range 2 {
			if len(answers[i].Errors) != 0 {
				t.Errorf("answer %d: %+v", i, answers[i].Errors)
			}
		}
		if c := answers[2].code(t); c != "QUERY_TOO_COMPLEX" || !strings.Contains(answers[2].Errors[0].Message, "batch") {
			t.Errorf("answer 2: %+v, want QUERY_TOO_COMPLEX for the batch", answers[2].Errors)
		}
	})
	t.Run("refused shapes", func(t *testing.T) {
		e := newE2E(t)
		for name, body := range map[string]string{"empty": `[]`, "not objects": `[1]`, "not JSON": `[{"query": }]`} {
			r := e.send(request{token: e.token, rawBody: body})
			if r.Status != 400 || r.code(t) != "BAD_REQUEST" {
				t.Errorf("%s: status %d %s", name, r.Status, r.Body)
			}
		}
	})
	t.Run("switched off", func(t *testing.T) {
		e := newE2E(t, withServer(func(c *server.Config) { c.MaxBatch = -1 }))
		if r := e.send(request{token: e.token, rawBody: batch(first(1))}); r.Status != 400 || r.code(t) != "BAD_REQUEST" {
			t.Fatalf("status %d: %s", r.Status, r.Body)
		}
	})
	t.Run("hash-only operations in a batch", func(t *testing.T) {
		e := newE2E(t)
		q := `{ contacts(first: 2) { edges { node { id } } } }`
		_, answers, raw := e.sendBatch(t, batch(apqBody("", sha(q)), apqBody(q, sha(q)), apqBody("", sha(q))))
		if len(answers) != 3 || answers[0].code(t) != "PERSISTED_QUERY_NOT_FOUND" ||
			len(list(answers[1].get("contacts.edges"))) != 2 || len(list(answers[2].get("contacts.edges"))) != 2 {
			t.Fatalf("%s", raw)
		}
	})
}

// TestMediaTypes: what Accept chooses, and how request errors are answered
// under each media type.
func TestMediaTypes(t *testing.T) {
	e := newE2E(t)
	tests := []struct {
		accept, wantType string
		query            string
		status           int
		wantData         bool
	}{
		{"", "application/json", `{ __typename }`, 200, true},
		{"*/*", "application/json", `{ __typename }`, 200, true},
		{"application/graphql-response+json", "application/graphql-response+json", `{ __typename }`, 200, true},
		{"application/json;q=0.5, application/graphql-response+json", "application/graphql-response+json", `{ __typename }`, 200, true},
		{"application/graphql-response+json;q=0.2, application/json", "application/json", `{ __typename }`, 200, true},
		{"text/html", "application/json", `{ __typename }`, 200, true},
		{"application/json", "application/json", `{ nope }`, 200, false},
		{"application/graphql-response+json", "application/graphql-response+json", `{ nope }`, 400, false},
		{"application/graphql-response+json", "application/graphql-response+json", `{ nope `, 400, false},
	}
	for _, tc := range tests {
		t.Run(tc.accept+" "+tc.query, func(t *testing.T) {
			r := e.send(request{token: e.token, query: tc.query, header: http.Header{"Accept": {tc.accept}}})
			if r.Status != tc.status {
				t.Errorf("status %d, want %d: %s", r.Status, tc.status, r.Body)
			}
			if got := strings.Contains(r.Body, `"data"`); got != tc.wantData {
				t.Errorf("data entry present = %v, want %v: %s", got, tc.wantData, r.Body)
			}
		})
	}
	t.Run("Content-Type", func(t *testing.T) {
		for _, tc := range tests {
			req, _ := http.NewRequest(http.MethodPost, e.gw.URL+server.GraphQLPath, strings.NewReader(`{"query":"{ __typename }"}`))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Accept", tc.accept)
			resp, err := e.gw.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if got := resp.Header.Get("Content-Type"); got != tc.wantType {
				t.Errorf("Accept %q: Content-Type %q, want %q", tc.accept, got, tc.wantType)
			}
		}
	})
	t.Run("GET mutation: 405 with Allow", func(t *testing.T) {
		r := e.getGQL(t, url.Values{"query": {`mutation { deleteContact(id: "x") { success } }`}}, nil)
		if r.Status != 405 || r.code(t) != "BAD_REQUEST" {
			t.Fatalf("status %d: %s", r.Status, r.Body)
		}
		req, _ := http.NewRequest(http.MethodGet, e.gw.URL+server.GraphQLPath+"?query="+url.QueryEscape(`mutation { deleteContact(id: "x") { success } }`), nil)
		resp, err := e.gw.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if got := resp.Header.Get("Allow"); got != "POST" {
			t.Errorf("Allow %q, want POST", got)
		}
	})
}

// TestCORSRealClients: a preflight with Apollo's, urql's and tracing
// headers is allowed and cached; the list and the max age are settings.
func TestCORSRealClients(t *testing.T) {
	const origin = "https://app.example.com"
	preflight := func(t *testing.T, e *e2e, headers string) *http.Response {
		t.Helper()
		req, _ := http.NewRequest(http.MethodOptions, e.gw.URL+server.GraphQLPath, nil)
		req.Header.Set("Origin", origin)
		req.Header.Set("Access-Control-Request-Method", "POST")
		req.Header.Set("Access-Control-Request-Headers", headers)
		resp, err := e.gw.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	allowed := func(resp *http.Response) map[string]bool {
		m := map[string]bool{}
		for h := range strings.SplitSeq(resp.Header.Get("Access-Control-Allow-Headers"), ",") {
			m[strings.ToLower(strings.TrimSpace(h))] = true
		}
		return m
	}
	t.Run("defaults", func(t *testing.T) {
		e := newE2E(t, withServer(func(c *server.Config) { c.CORSOrigins = []string{origin} }))
		resp := preflight(t, e, "content-type,authorization,apollographql-client-name,apollographql-client-version,apollo-require-preflight,traceparent,x-request-id")
		if resp.StatusCode != 204 || resp.Header.Get("Access-Control-Allow-Origin") != origin {
			t.Fatalf("status %d, headers %v", resp.StatusCode, resp.Header)
		}
		got := allowed(resp)
		for _, h := range []string{"content-type", "authorization", "accept", "apollographql-client-name", "apollographql-client-version",
			"apollo-require-preflight", "x-apollo-operation-name", "traceparent", "tracestate", "x-request-id", "x-location-id"} {
			if !got[h] {
				t.Errorf("%s not allowed: %s", h, resp.Header.Get("Access-Control-Allow-Headers"))
			}
		}
		if ma := resp.Header.Get("Access-Control-Max-Age"); ma != "7200" {
			t.Errorf("Max-Age %q, want 7200 (the default)", ma)
		}
	})
	t.Run("configured", func(t *testing.T) {
		e := newE2E(t, withServer(func(c *server.Config) {
			c.CORSOrigins = []string{origin}
			c.CORSAllowHeaders = []string{"Content-Type", "X-Custom"}
			c.CORSMaxAge = 90 * time.Second
		}))
		resp := preflight(t, e, "x-custom")
		got := allowed(resp)
		if !got["x-custom"] || got["apollographql-client-name"] || len(got) != 2 {
			t.Errorf("allowed %v", got)
		}
		if ma := resp.Header.Get("Access-Control-Max-Age"); ma != "90" {
			t.Errorf("Max-Age %q, want 90", ma)
		}
	})
	t.Run("no max age", func(t *testing.T) {
		e := newE2E(t, withServer(func(c *server.Config) {
			c.CORSOrigins = []string{origin}
			c.CORSMaxAge = -1
		}))
		if ma := preflight(t, e, "content-type").Header.Get("Access-Control-Max-Age"); ma != "" {
			t.Errorf("Max-Age %q, want none", ma)
		}
	})
	t.Run("bad header names refused at start", func(t *testing.T) {
		if err := server.CheckCORSHeaders([]string{"X-Ok", "bad header"}); err == nil {
			t.Error("a header name with a space was accepted")
		}
		if err := server.CheckCORSHeaders(server.DefaultCORSAllowHeaders); err != nil {
			t.Error(err)
		}
	})
}
