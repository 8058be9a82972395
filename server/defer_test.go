package server_test

import (
	"encoding/json"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/ghl-graphql/gateway/server"
)

// deferQuery asks for a contact with its slow lists deferred.
const deferQuery = `query Snapshot($id: ID!) {
  contact(id: $id) {
    id
    firstName
    ... @defer(label: "lists") {
      tasks { id title }
      notes { id body }
    }
  }
}`

// part is one part of an incremental answer.
type part struct {
	Data        map[string]any `json:"data"`
	Errors      []gqlError     `json:"errors"`
	HasNext     *bool          `json:"hasNext"`
	Incremental []struct {
		Data   map[string]any `json:"data"`
		Errors []gqlError     `json:"errors"`
		Path   []any          `json:"path"`
		Label  string         `json:"label"`
	} `json:"incremental"`
}

// multipartStream POSTs body accepting multipart/mixed and returns the
// answer's header and a reader of its parts; next returns the next part,
// or false at the end.
func multipartStream(t *testing.T, e *e2e, body string) (*http.Response, func() (part, []byte, bool)) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, e.gw.URL+server.GraphQLPath, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	// What Apollo Client sends for an operation with @defer.
	req.Header.Set("Accept", "multipart/mixed;deferSpec=20220824,application/json")
	req.Header.Set("Authorization", "Bearer "+e.token)
	req.Header.Set("X-Request-Id", "e2e") // answers compared byte for byte carry the same ID
	resp, err := e.gw.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	mt, params, err := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/mixed" {
		raw, _ := io.ReadAll(resp.Body)
		t.Fatalf("Content-Type %q (%v), status %d, body %s", resp.Header.Get("Content-Type"), err, resp.StatusCode, raw)
	}
	mr := multipart.NewReader(resp.Body, params["boundary"])
	return resp, func() (part, []byte, bool) {
		t.Helper()
		p, err := mr.NextPart()
		if err == io.EOF {
			return part{}, nil, false
		}
		if err != nil {
			t.Fatalf("next part: %v", err)
		}
		if ct := p.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
			t.Fatalf("part Content-Type %q", ct)
		}
		raw, err := io.ReadAll(p)
		if err != nil {
			t.Fatal(err)
		}
		var out part
		if err := json.Unmarshal(raw, &out); err != nil {
			t.Fatalf("part is not JSON: %q", raw)
		}
		checkNoLeak(t, string(raw), e.token)
		return out, raw, true
	}
}

func deferBody(t *testing.T, id string) string {
	t.Helper()
	b, err := json.Marshal(map[string]any{"query": deferQuery, "variables": map[string]any{"id": id}})
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// gateTasks holds every task listing until release is closed, and counts
// the listings: the barrier that proves the contact is sent before the
// deferred lists are fetched.
func gateTasks(release <-chan struct{}, seen *atomic.Int64) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method == http.MethodGet && strings.HasSuffix(r.URL.Path, "/tasks") {
				seen.Add(1)
				<-release
			}
			next.ServeHTTP(w, r)
		})
	}
}

// TestDeferMultipartContactFirst: over multipart/mixed the contact arrives
// in the first part while the task listing is still held upstream; the
// lists follow in an increment at the contact's path, then the stream ends.
func TestDeferMultipartContactFirst(t *testing.T) {
	release := make(chan struct{})
	var once sync.Once
	open := func() { once.Do(func() { close(release) }) }
	var seen atomic.Int64
	e := newE2E(t, withUpstreamMiddleware(gateTasks(release, &seen)))
	t.Cleanup(open) // registered after newE2E's: runs before the servers close
	id := e.sb.ContactIDs(e.locA)[0]
	c := e.contact(t, id)

	resp, next := multipartStream(t, e, deferBody(t, id))
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d", resp.StatusCode)
	}
	first, raw, ok := next()
	if !ok {
		t.Fatal("no first part")
	}
	// The first part was read while the tasks call is still held: the
	// gate has not been opened yet.
	if first.HasNext == nil || !*first.HasNext {
		t.Fatalf("first part hasNext = %v, want true: %s", first.HasNext, raw)
	}
	if len(first.Errors) > 0 {
		t.Fatalf("first part errors: %s", raw)
	}
	contact, _ := first.Data["contact"].(map[string]any)
	if contact["id"] != id || contact["firstName"] != c.FirstName {
		t.Fatalf("first part contact = %v, want id %s firstName %q", contact, id, c.FirstName)
	}
	// No null placeholders: Apollo's cache would take them for the answer.
	for _, f := range []string{"tasks", "notes"} {
		if _, has := contact[f]; has {
			t.Fatalf("first part carries the deferred %s: %s", f, raw)
		}
	}
	open()

	var got map[string]any
	var last part
	for {
		p, raw, ok := next()
		if !ok {
			break
		}
		last = p
		for _, inc := range p.Incremental {
			if len(inc.Errors) > 0 {
				t.Fatalf("increment errors: %s", raw)
			}
			if inc.Label != "lists" || len(inc.Path) != 1 || inc.Path[0] != "contact" {
				t.Fatalf("increment label %q path %v: %s", inc.Label, inc.Path, raw)
			}
			got = inc.Data
		}
	}
	if last.HasNext == nil || *last.HasNext {
		t.Fatalf("last part hasNext = %v, want false", last.HasNext)
	}
	if got == nil {
		t.Fatal("no increment carried the deferred lists")
	}
	if _, ok := got["tasks"].([]any); !ok {
		t.Fatalf("increment tasks = %v", got["tasks"])
	}
	if _, ok := got["notes"].([]any); !ok {
		t.Fatalf("increment notes = %v", got["notes"])
	}
	if seen.Load() != 1 {
		t.Fatalf("task listings = %d, want 1", seen.Load())
	}
}

// failTasks answers every task listing 500.
func failTasks(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet && strings.HasSuffix(r.URL.Path, "/tasks") {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusInternalServerError)
			_, _ = io.WriteString(w, `{"statusCode":500,"message":"Internal Server Error"}`)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// TestDeferIncrementCarriesItsErrors: a deferred field that fails puts its
// error in its own increment, with a code and the full path; the first
// part has none.
func TestDeferIncrementCarriesItsErrors(t *testing.T) {
	e := newE2E(t, withUpstreamMiddleware(failTasks))
	id := e.sb.ContactIDs(e.locA)[0]
	_, next := multipartStream(t, e, deferBody(t, id))
	first, raw, ok := next()
	if !ok || len(first.Errors) > 0 || first.Data["contact"] == nil {
		t.Fatalf("first part: %s", raw)
	}
	var errs []gqlError
	for {
		p, _, ok := next()
		if !ok {
			break
		}
		if len(p.Errors) > 0 {
			t.Fatalf("errors outside the increment: %v", p.Errors)
		}
		for _, inc := range p.Incremental {
			errs = append(errs, inc.Errors...)
		}
	}
	if len(errs) == 0 {
		t.Fatal("the failed tasks listing left no error in any increment")
	}
	for _, err := range errs {
		if err.Extensions["code"] == nil {
			t.Errorf("increment error without extensions.code: %+v", err)
		}
		if p := strings.Join(normalizePath(err.Path), "."); p != "contact.tasks" {
			t.Errorf("increment error path %q, want contact.tasks", p)
		}
	}
}

// TestDeferAnsweredWholeWithoutMultipart: a client that does not accept
// multipart/mixed (plain JSON POST, GET) gets the deferred fields in the
// one answer, without hasNext.
func TestDeferAnsweredWholeWithoutMultipart(t *testing.T) {
	e := newE2E(t)
	id := e.sb.ContactIDs(e.locA)[0]
	check := func(t *testing.T, status int, raw []byte) {
		t.Helper()
		var p part
		if err := json.Unmarshal(raw, &p); err != nil {
			t.Fatalf("status %d, not JSON: %s", status, raw)
		}
		if status != http.StatusOK || len(p.Errors) > 0 || p.HasNext != nil {
			t.Fatalf("status %d, answer %s", status, raw)
		}
		contact, _ := p.Data["contact"].(map[string]any)
		if contact["id"] != id {
			t.Fatalf("contact = %v", contact)
		}
		for _, f := range []string{"tasks", "notes"} {
			if _, ok := contact[f].([]any); !ok {
				t.Fatalf("%s = %v, want a list: %s", f, contact[f], raw)
			}
		}
	}
	t.Run("POST application/json", func(t *testing.T) {
		r := e.send(request{token: e.token, query: deferQuery, vars: map[string]any{"id": id}})
		check(t, r.Status, []byte(r.Body))
	})
	t.Run("GET", func(t *testing.T) {
		vars, _ := json.Marshal(map[string]any{"id": id})
		u := e.gw.URL + server.GraphQLPath + "?query=" + url.QueryEscape(deferQuery) + "&variables=" + url.QueryEscape(string(vars))
		req, _ := http.NewRequest(http.MethodGet, u, nil)
		req.Header.Set("Authorization", "Bearer "+e.token)
		req.Header.Set("Accept", "multipart/mixed, application/json") // GET cannot stream: answered whole
		resp, err := e.gw.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		raw, _ := io.ReadAll(resp.Body)
		check(t, resp.StatusCode, raw)
	})
}

// TestDeferResponseCache: a repeated multipart answer comes from the
// response cache: the same parts, no upstream call.
func TestDeferResponseCache(t *testing.T) {
	e := newE2E(t)
	id := e.sb.ContactIDs(e.locA)[0]
	read := func() string {
		_, next := multipartStream(t, e, deferBody(t, id))
		var all []string
		for {
			_, raw, ok := next()
			if !ok {
				break
			}
			all = append(all, string(raw))
		}
		return strings.Join(all, "\n")
	}
	cold := read()
	before := e.counters()
	warm := read()
	e.wantNoCalls(t, before)
	if warm != cold {
		t.Fatalf("warm answer differs:\n%s\nvs\n%s", warm, cold)
	}
}

// TestDeferCostLimit: deferred selections count toward the cost limit like
// any other; over it, the multipart request is refused before any call.
func TestDeferCostLimit(t *testing.T) {
	e := newE2E(t, withServer(func(c *server.Config) { c.Limits.MaxCost = 2 }))
	id := e.sb.ContactIDs(e.locA)[0]
	before := e.counters()
	req, _ := http.NewRequest(http.MethodPost, e.gw.URL+server.GraphQLPath, strings.NewReader(deferBody(t, id)))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "multipart/mixed;deferSpec=20220824,application/json")
	req.Header.Set("Authorization", "Bearer "+e.token)
	resp, err := e.gw.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if !strings.Contains(string(raw), `"QUERY_TOO_COMPLEX"`) {
		t.Fatalf("status %d, answer %s: want a cost refusal", resp.StatusCode, raw)
	}
	e.wantNoCalls(t, before)
}

// TestDeferSharedDocumentUnchanged: the parsed document is shared through
// the query cache, so answering it whole (a copy without @defer) must not
// change it for a later streamed request, nor the reverse.
func TestDeferSharedDocumentUnchanged(t *testing.T) {
	e := newE2E(t, withServer(func(c *server.Config) { c.NoResponseCache = true }))
	id := e.sb.ContactIDs(e.locA)[0]
	streamed := func() (increments int) {
		_, next := multipartStream(t, e, deferBody(t, id))
		for {
			p, _, ok := next()
			if !ok {
				return increments
			}
			increments += len(p.Incremental)
		}
	}
	whole := func() {
		r := e.send(request{token: e.token, query: deferQuery, vars: map[string]any{"id": id}})
		if r.Status != http.StatusOK || len(r.Errors) > 0 || !strings.Contains(r.Body, `"tasks":[`) || strings.Contains(r.Body, "hasNext") {
			t.Fatalf("whole answer: %d %s", r.Status, r.Body)
		}
	}
	for i := 0; i < 2; i++ {
		whole()
		if n := streamed(); n == 0 {
			t.Fatalf("round %d: the streamed answer has no increment after a whole one", i)
		}
	}
}

// TestDeferInLists: a fragment deferred inside a list gives one increment
// per item, at the item's path, and the first part's items carry none of
// the deferred fields; a field selected both deferred and not stays.
func TestDeferInLists(t *testing.T) {
	e := newE2E(t, withFullListings())
	q := `{ contacts(first: 3) { nodes { id email ... @defer { email tasks { id } } } } }`
	b, _ := json.Marshal(map[string]any{"query": q})
	_, next := multipartStream(t, e, string(b))
	first, raw, ok := next()
	if !ok {
		t.Fatal("no first part")
	}
	nodes, _ := first.Data["contacts"].(map[string]any)["nodes"].([]any)
	if len(nodes) != 3 {
		t.Fatalf("first part: %s", raw)
	}
	for _, n := range nodes {
		m := n.(map[string]any)
		if _, has := m["tasks"]; has {
			t.Fatalf("first part item carries deferred tasks: %s", raw)
		}
		if _, has := m["email"]; !has {
			t.Fatalf("first part item lost email, selected outside the fragment too: %s", raw)
		}
	}
	paths := map[string]bool{}
	for {
		p, raw, ok := next()
		if !ok {
			break
		}
		for _, inc := range p.Incremental {
			if _, ok := inc.Data["tasks"].([]any); !ok {
				t.Fatalf("increment without tasks: %s", raw)
			}
			paths[strings.Join(normalizePath(inc.Path), ".")] = true
		}
	}
	for i := range 3 {
		if p := "contacts.nodes." + strconv.Itoa(i); !paths[p] {
			t.Errorf("no increment at %s (got %v)", p, paths)
		}
	}
}
