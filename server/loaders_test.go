// Tests that prove what the loaders and the shared cache buy, by counting
// the sandbox's calls (never by timing): a cold snapshot is 4 calls all in
// flight at once, a warm one is 0, 100 concurrent identical snapshots are 4
// in all, a list is one search plus one round of nested calls, every
// mutation leaves the cache fresh, and credentials never share answers.

package server

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ghl-graphql/gateway/upstream"
	"github.com/ghl-graphql/gateway/upstream/sandbox"
)

// inflight wraps the sandbox and records how many matching calls it served
// at once. With a barrier set, each matching call waits until that many are
// in flight (or a generous deadline passes), so the maximum proves which
// calls were sent together without measuring any time.
type inflight struct {
	next    http.Handler
	mu      sync.Mutex
	cur     int
	max     int
	barrier int
	match   func(*http.Request) bool
	arrived chan struct{}
	opened  bool
}

func (f *inflight) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	if f.match != nil && !f.match(r) {
		f.mu.Unlock()
		f.next.ServeHTTP(w, r)
		return
	}
	f.cur++
	f.max = max(f.max, f.cur)
	barrier, arrived := f.barrier, f.arrived
	if barrier > 0 && f.cur >= barrier && !f.opened {
		f.opened = true
		close(arrived)
	}
	f.mu.Unlock()
	if barrier > 0 {
		select {
		case <-arrived:
		case <-time.After(5 * time.Second):
		case <-r.Context().Done():
		}
	}
	f.next.ServeHTTP(w, r)
	f.mu.Lock()
	f.cur--
	f.mu.Unlock()
}

// expect makes the next calls that match (all when match is nil) wait for
// one another until n are in flight, and resets the maximum.
func (f *inflight) expect(n int, match func(*http.Request) bool) {
	f.mu.Lock()
	f.barrier, f.match, f.arrived, f.opened, f.max = n, match, make(chan struct{}), false, 0
	f.mu.Unlock()
}

func (f *inflight) maxInFlight() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.max
}

// notSearch matches every call but the search.
func notSearch(r *http.Request) bool { return !strings.HasSuffix(r.URL.Path, "/contacts/search") }

type cacheEnv struct {
	sb       *sandbox.Server
	flight   *inflight
	gw       *httptest.Server
	loc      string
	token    string
	contacts []string
}

func newCacheEnv(t *testing.T, mut func(*Config)) *cacheEnv {
	t.Helper()
	sb, err := sandbox.New(sandbox.Config{Seed: 7, ContactsPerLocation: 40})
	if err != nil {
		t.Fatal(err)
	}
	flight := &inflight{next: sb}
	up := httptest.NewServer(flight)
	t.Cleanup(up.Close)
	client, err := upstream.NewClient(upstream.WithBaseURL(up.URL))
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{Client: client}
	if mut != nil {
		mut(&cfg)
	}
	h, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	gw := httptest.NewServer(h)
	t.Cleanup(gw.Close)
	loc := sb.Locations()[0]
	return &cacheEnv{sb: sb, flight: flight, gw: gw, loc: loc, token: sb.DefaultToken(), contacts: sb.ContactIDs(loc)}
}

type result struct {
	Data   map[string]json.RawMessage `json:"data"`
	Errors []struct {
		Message    string         `json:"message"`
		Extensions map[string]any `json:"extensions"`
	} `json:"errors"`
}

// query runs a GraphQL request with the env's token unless token is set.
func (e *cacheEnv) query(t *testing.T, q string, opts ...func(*http.Request)) result {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"query": q})
	req, _ := http.NewRequest(http.MethodPost, e.gw.URL+GraphQLPath, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+e.token)
	for _, o := range opts {
		o(req)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out result
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatal(err)
	}
	return out
}

func (e *cacheEnv) mustQuery(t *testing.T, q string, opts ...func(*http.Request)) result {
	t.Helper()
	out := e.query(t, q, opts...)
	if len(out.Errors) > 0 {
		t.Fatalf("query %s: errors %+v", q, out.Errors)
	}
	return out
}

func withToken(tok string) func(*http.Request) {
	return func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+tok) }
}

func snapshotQuery(id string) string {
	return fmt.Sprintf(`{ contact(id: %q) { id name email tags
		tasks { id title dueDate completed } notes { id body } appointments { id title startTime } } }`, id)
}

func TestSnapshotCalls(t *testing.T) {
	e := newCacheEnv(t, nil)
	id := e.contacts[3]

	e.flight.expect(4, nil)
	e.mustQuery(t, snapshotQuery(id))
	if got := e.sb.TotalCalls(); got != 4 {
		t.Fatalf("cold snapshot: %d upstream calls, want 4 (%v)", got, e.sb.AllCalls())
	}
	for _, op := range []string{"get-contact", "get-all-tasks", "get-all-notes", "get-appointments-for-contact"} {
		if e.sb.Calls(op) != 1 {
			t.Errorf("%s called %d times", op, e.sb.Calls(op))
		}
	}
	if got := e.flight.maxInFlight(); got != 4 {
		t.Errorf("cold snapshot: at most %d calls in flight together, want all 4 (one round trip)", got)
	}

	e.flight.expect(0, nil)
	e.mustQuery(t, snapshotQuery(id))
	if got := e.sb.TotalCalls(); got != 4 {
		t.Errorf("warm snapshot made %d calls, want 0", got-4)
	}

	// A client that asks for fresh data gets it.
	e.mustQuery(t, snapshotQuery(id), func(r *http.Request) { r.Header.Set("Cache-Control", "no-cache") })
	if got := e.sb.TotalCalls(); got != 8 {
		t.Errorf("no-cache snapshot made %d calls, want 4", got-4)
	}
}

func TestConcurrentIdenticalSnapshotsCoalesce(t *testing.T) {
	e := newCacheEnv(t, nil)
	e.sb.SetLatency(50*time.Millisecond, 0) // so that the requests overlap
	id := e.contacts[5]
	var wg sync.WaitGroup
	var failed atomic.Int64
	for range 100 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if out := e.query(t, snapshotQuery(id)); len(out.Errors) > 0 || len(out.Data["contact"]) < 10 {
				failed.Add(1)
			}
		}()
	}
	wg.Wait()
	if failed.Load() > 0 {
		t.Fatalf("%d of 100 snapshots failed", failed.Load())
	}
	if got := e.sb.TotalCalls(); got != 4 {
		t.Errorf("100 concurrent identical cold snapshots: %d upstream calls, want 4 (%v)", got, e.sb.AllCalls())
	}
}

func TestListCalls(t *testing.T) {
	e := newCacheEnv(t, nil)
	out := e.mustQuery(t, `{ contacts(first: 20) { nodes { id tasks { id } notes { id } } } }`)
	var conn struct {
		Nodes []struct{ ID string } `json:"nodes"`
	}
	if err := json.Unmarshal(out.Data["contacts"], &conn); err != nil || len(conn.Nodes) != 20 {
		t.Fatalf("contacts: %v, %d nodes", err, len(conn.Nodes))
	}
	if got := e.sb.TotalCalls(); got != 41 {
		t.Errorf("cold list: %d calls, want 1 search + 40 nested (%v)", got, e.sb.AllCalls())
	}

	// Run again cold, with a barrier of 40: the nested calls must all be in
	// flight together (the second of two round trips).
	e.sb.ResetCounters()
	e.flight.expect(40, notSearch)
	e.mustQuery(t, `{ contacts(first: 20) { nodes { id tasks { id } notes { id } } } }`,
		func(r *http.Request) { r.Header.Set("Cache-Control", "no-cache") })
	if got := e.flight.maxInFlight(); got != 40 {
		t.Errorf("nested calls of a list: at most %d in flight together, want 40", got)
	}

	// A contact a search returned is not fetched again.
	e.sb.ResetCounters()
	e.mustQuery(t, fmt.Sprintf(`{ contact(id: %q) { id name email } }`, conn.Nodes[7].ID))
	if got := e.sb.Calls("get-contact"); got != 0 {
		t.Errorf("contact returned by a search fetched again: %d calls", got)
	}
}

// jsonField digs a value out of a result: path of object keys.
func jsonField(t *testing.T, raw json.RawMessage, path ...string) any {
	t.Helper()
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatal(err)
	}
	for _, p := range path {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[p]
	}
	return v
}

func TestReadAfterWriteIsFresh(t *testing.T) {
	e := newCacheEnv(t, nil)
	ids := e.contacts
	full := func(id string) string {
		return fmt.Sprintf(`{ contact(id: %q) { id name email tags followers businessId
			tasks { id title completed } notes { id body } } }`, id)
	}
	read := func(t *testing.T, id string) json.RawMessage {
		t.Helper()
		return e.mustQuery(t, full(id)).Data["contact"]
	}
	firstTask := func(t *testing.T, id string) string {
		t.Helper()
		out := e.mustQuery(t, `mutation { createTask(contactId: "`+id+`", input: {title: "seed", dueDate: "2026-05-01T10:00:00Z"}) { task { id } } }`)
		return jsonField(t, out.Data["createTask"], "task", "id").(string)
	}
	firstNote := func(t *testing.T, id string) string {
		t.Helper()
		out := e.mustQuery(t, `mutation { createNote(contactId: "`+id+`", input: {body: "seed"}) { note { id } } }`)
		return jsonField(t, out.Data["createNote"], "note", "id").(string)
	}
	contains := func(raw json.RawMessage, s string) bool { return strings.Contains(string(raw), s) }

	tests := []struct {
		name  string
		id    string
		setup func(t *testing.T) map[string]string // IDs the mutation needs
		write string                               // mutation, with {{key}} placeholders
		fresh func(t *testing.T, after json.RawMessage) bool
	}{
		{name: "updateContact", id: ids[0], write: `mutation { updateContact(id: "{{id}}", input: {firstName: "Renamed"}) { contact { id } } }`,
			fresh: func(t *testing.T, a json.RawMessage) bool { return contains(a, "Renamed") }},
		{name: "updateContact clears", id: ids[1], write: `mutation { updateContact(id: "{{id}}", input: {email: null}) { contact { id } } }`,
			fresh: func(t *testing.T, a json.RawMessage) bool { return jsonField(t, a, "email") == nil }},
		{name: "upsertContact", id: ids[2], setup: func(t *testing.T) map[string]string {
			c, _ := e.sb.Contact(ids[2])
			return map[string]string{"email": c.Email}
		}, write: `mutation { upsertContact(input: {email: "{{email}}", lastName: "Upserted"}) { contact { id } } }`,
			fresh: func(t *testing.T, a json.RawMessage) bool { return contains(a, "Upserted") }},
		{name: "createTask", id: ids[3], write: `mutation { createTask(contactId: "{{id}}", input: {title: "Fresh task", dueDate: "2026-05-01T10:00:00Z"}) { task { id } } }`,
			fresh: func(t *testing.T, a json.RawMessage) bool { return contains(a, "Fresh task") }},
		{name: "updateTask", id: ids[4], setup: func(t *testing.T) map[string]string { return map[string]string{"task": firstTask(t, ids[4])} },
			write: `mutation { updateTask(contactId: "{{id}}", id: "{{task}}", input: {title: "Retitled"}) { task { id } } }`,
			fresh: func(t *testing.T, a json.RawMessage) bool { return contains(a, "Retitled") }},
		{name: "setTaskCompleted", id: ids[5], setup: func(t *testing.T) map[string]string { return map[string]string{"task": firstTask(t, ids[5])} },
			write: `mutation { setTaskCompleted(contactId: "{{id}}", id: "{{task}}", completed: true) { task { id } } }`,
			fresh: func(t *testing.T, a json.RawMessage) bool {
				for _, x := range jsonField(t, a, "tasks").([]any) {
					if m := x.(map[string]any); m["title"] == "seed" {
						return m["completed"] == true
					}
				}
				return false
			}},
		{name: "deleteTask", id: ids[6], setup: func(t *testing.T) map[string]string { return map[string]string{"task": firstTask(t, ids[6])} },
			write: `mutation { deleteTask(contactId: "{{id}}", id: "{{task}}") { success } }`,
			fresh: func(t *testing.T, a json.RawMessage) bool { return !contains(a, `"seed"`) }},
		{name: "createNote", id: ids[7], write: `mutation { createNote(contactId: "{{id}}", input: {body: "Fresh note"}) { note { id } } }`,
			fresh: func(t *testing.T, a json.RawMessage) bool { return contains(a, "Fresh note") }},
		{name: "updateNote", id: ids[8], setup: func(t *testing.T) map[string]string { return map[string]string{"note": firstNote(t, ids[8])} },
			write: `mutation { updateNote(contactId: "{{id}}", id: "{{note}}", input: {body: "Rewritten"}) { note { id } } }`,
			fresh: func(t *testing.T, a json.RawMessage) bool { return contains(a, "Rewritten") }},
		{name: "deleteNote", id: ids[9], setup: func(t *testing.T) map[string]string { return map[string]string{"note": firstNote(t, ids[9])} },
			write: `mutation { deleteNote(contactId: "{{id}}", id: "{{note}}") { success } }`,
			fresh: func(t *testing.T, a json.RawMessage) bool { return !contains(a, `"seed"`) }},
		{name: "addContactTags", id: ids[10], write: `mutation { addContactTags(contactId: "{{id}}", tags: ["fresh-tag"]) { tags } }`,
			fresh: func(t *testing.T, a json.RawMessage) bool { return contains(a, "fresh-tag") }},
		{name: "removeContactTags", id: ids[11], setup: func(t *testing.T) map[string]string {
			e.mustQuery(t, `mutation { addContactTags(contactId: "`+ids[11]+`", tags: ["doomed"]) { tags } }`)
			return nil
		}, write: `mutation { removeContactTags(contactId: "{{id}}", tags: ["doomed"]) { tags } }`,
			fresh: func(t *testing.T, a json.RawMessage) bool { return !contains(a, "doomed") }},
		{name: "addContactFollowers", id: ids[12], write: `mutation { addContactFollowers(contactId: "{{id}}", followers: ["user-fresh"]) { followers } }`,
			fresh: func(t *testing.T, a json.RawMessage) bool { return contains(a, "user-fresh") }},
		{name: "removeContactFollowers", id: ids[13], setup: func(t *testing.T) map[string]string {
			e.mustQuery(t, `mutation { addContactFollowers(contactId: "`+ids[13]+`", followers: ["user-doomed"]) { followers } }`)
			return nil
		}, write: `mutation { removeContactFollowers(contactId: "{{id}}", followers: ["user-doomed"]) { followers } }`,
			fresh: func(t *testing.T, a json.RawMessage) bool { return !contains(a, "user-doomed") }},
		{name: "bulkUpdateContactTags", id: ids[14], write: `mutation { bulkUpdateContactTags(input: {action: ADD, contactIds: ["{{id}}"], tags: ["bulk-fresh"]}) { success } }`,
			fresh: func(t *testing.T, a json.RawMessage) bool { return contains(a, "bulk-fresh") }},
		{name: "bulkSetContactsBusiness", id: ids[15], write: `mutation { bulkSetContactsBusiness(input: {contactIds: ["{{id}}"], businessId: "biz-fresh"}) { success } }`,
			fresh: func(t *testing.T, a json.RawMessage) bool { return contains(a, "biz-fresh") }},
		{name: "deleteContact", id: ids[16], write: `mutation { deleteContact(id: "{{id}}") { success } }`,
			fresh: func(t *testing.T, a json.RawMessage) bool { return string(a) == "null" }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			vars := map[string]string{"id": tc.id}
			if tc.setup != nil {
				for k, v := range tc.setup(t) {
					vars[k] = v
				}
			}
			read(t, tc.id) // warm the cache
			write := tc.write
			for k, v := range vars {
				write = strings.ReplaceAll(write, "{{"+k+"}}", v)
			}
			e.mustQuery(t, write)
			after := e.query(t, full(tc.id)).Data["contact"]
			if !tc.fresh(t, after) {
				t.Errorf("read after %s is stale: %s", tc.name, after)
			}
		})
	}

	// Campaigns and workflows have no read of their own: they must still
	// evict the contact, so the next read goes upstream.
	for _, w := range []string{
		`mutation { addContactToCampaign(contactId: "{{id}}", campaignId: "camp1") { success } }`,
		`mutation { removeContactFromCampaign(contactId: "{{id}}", campaignId: "camp1") { success } }`,
		`mutation { removeContactFromAllCampaigns(contactId: "{{id}}") { success } }`,
		`mutation { addContactToWorkflow(contactId: "{{id}}", workflowId: "wf1") { success } }`,
		`mutation { removeContactFromWorkflow(contactId: "{{id}}", workflowId: "wf1") { success } }`,
	} {
		id := ids[20]
		read(t, id)
		before := e.sb.Calls("get-contact")
		e.mustQuery(t, strings.ReplaceAll(w, "{{id}}", id))
		read(t, id)
		if e.sb.Calls("get-contact") != before+1 {
			t.Errorf("%s left the contact cached", w)
		}
	}

	// A new contact shows up in a search cached before it was created.
	search := `{ contacts(first: 5, query: "Zebediah") { totalCount nodes { id } } }`
	if n := jsonField(t, e.mustQuery(t, search).Data["contacts"], "totalCount"); n != float64(0) {
		t.Fatalf("totalCount before create = %v", n)
	}
	e.mustQuery(t, `mutation { createContact(input: {firstName: "Zebediah", email: "zeb@example.com"}) { contact { id } } }`)
	if n := jsonField(t, e.mustQuery(t, search).Data["contacts"], "totalCount"); n != float64(1) {
		t.Errorf("search after createContact is stale: totalCount %v", n)
	}

	// Within one request: a mutation's payload reads the contact afresh.
	id := ids[21]
	read(t, id)
	out := e.mustQuery(t, `mutation { addContactTags(contactId: "`+id+`", tags: ["same-request"]) { contact { tags } } }`)
	if !strings.Contains(string(out.Data["addContactTags"]), "same-request") {
		t.Errorf("payload contact is stale: %s", out.Data["addContactTags"])
	}
}

func TestCredentialsNeverShareCachedAnswers(t *testing.T) {
	e := newCacheEnv(t, nil)
	other := e.sb.Locations()[1]
	otherToken := e.sb.AccessToken(other, sandbox.ScopeContactsRead, sandbox.ScopeContactsWrite)
	id := e.contacts[0]

	e.mustQuery(t, snapshotQuery(id)) // cached for location A's credential
	before := e.sb.Calls("get-contact")
	out := e.query(t, snapshotQuery(id), withToken(otherToken))
	if string(out.Data["contact"]) != "null" || len(out.Errors) == 0 || out.Errors[0].Extensions["code"] != "NOT_FOUND" {
		t.Errorf("location B read location A's contact: %s %+v", out.Data["contact"], out.Errors)
	}
	if e.sb.Calls("get-contact") != before+1 {
		t.Errorf("location B's read was not sent upstream")
	}

	// Another credential of the same location has its own entries too.
	readOnly := e.sb.AccessToken(e.loc, sandbox.ScopeContactsRead)
	before = e.sb.Calls("get-contact")
	e.mustQuery(t, snapshotQuery(id), withToken(readOnly))
	if e.sb.Calls("get-contact") != before+1 {
		t.Errorf("a second credential was served the first one's cache")
	}

	// Searches are keyed by credential as well, and B cannot name A's location.
	e.mustQuery(t, `{ contacts(first: 3) { nodes { id } } }`)
	out = e.query(t, `{ contacts(first: 3, locationId: "`+e.loc+`") { nodes { id } } }`, withToken(otherToken))
	if len(out.Errors) == 0 || out.Errors[0].Extensions["code"] != "FORBIDDEN" {
		t.Errorf("location B searched location A: %+v", out.Errors)
	}
	// And a token the upstream rejects is never served from the cache.
	out = e.query(t, snapshotQuery(id), withToken("forged"))
	if string(out.Data["contact"]) != "null" || out.Errors[0].Extensions["code"] != "UNAUTHENTICATED" {
		t.Errorf("unknown token: %s %+v", out.Data["contact"], out.Errors)
	}
}

func TestCacheDisabled(t *testing.T) {
	e := newCacheEnv(t, func(c *Config) { c.CacheMaxBytes = -1 })
	id := e.contacts[2]
	e.mustQuery(t, snapshotQuery(id))
	e.mustQuery(t, snapshotQuery(id))
	if got := e.sb.TotalCalls(); got != 8 {
		t.Errorf("without the shared cache: %d calls for two snapshots, want 8", got)
	}
}

func TestConcurrentReadsNeverCoalesceAcrossCredentials(t *testing.T) {
	e := newCacheEnv(t, nil)
	tokenB := e.sb.AccessToken(e.sb.Locations()[1], sandbox.ScopeContactsRead)
	id := e.contacts[6] // location A's
	var mu sync.Mutex
	callsBy := map[string]int{}
	// Both credentials' calls must be in flight together: had B joined A's
	// call, only one would arrive and the barrier would not open.
	e.flight.expect(2, func(r *http.Request) bool {
		if !strings.HasSuffix(r.URL.Path, "/contacts/"+id) {
			return false
		}
		mu.Lock()
		callsBy[r.Header.Get("Authorization")]++
		mu.Unlock()
		return true
	})
	q := fmt.Sprintf(`{ contact(id: %q) { id email } }`, id)
	var wg sync.WaitGroup
	var leaked, failedA atomic.Int64
	for i := range 40 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if i%2 == 0 {
				if out := e.query(t, q); len(out.Errors) > 0 {
					failedA.Add(1)
				}
				return
			}
			out := e.query(t, q, withToken(tokenB))
			if string(out.Data["contact"]) != "null" || len(out.Errors) == 0 || out.Errors[0].Extensions["code"] != "NOT_FOUND" {
				leaked.Add(1)
			}
		}()
	}
	wg.Wait()
	if leaked.Load() > 0 || failedA.Load() > 0 {
		t.Fatalf("%d of B's reads saw A's contact; %d of A's reads failed", leaked.Load(), failedA.Load())
	}
	// A's 20 reads share one call (then the cache); B's refusals are not
	// cached, so B may call more than once, but always with its own token.
	mu.Lock()
	defer mu.Unlock()
	if a, b := callsBy["Bearer "+e.token], callsBy["Bearer "+tokenB]; a != 1 || b < 1 || len(callsBy) != 2 {
		t.Errorf("upstream calls by credential: A %d (want 1), B %d (want ≥ 1); %d credentials seen", a, b, len(callsBy))
	}
	if got := e.flight.maxInFlight(); got < 2 {
		t.Errorf("at most %d calls in flight together: B's read waited for A's", got)
	}
}
