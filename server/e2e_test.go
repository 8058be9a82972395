// End-to-end tests: the gateway's real HTTP handler in front of the
// in-process sandbox Contacts API, both behind httptest servers, driven with
// GraphQL over HTTP. Every effect is checked on the sandbox side (its state
// and its per-operation call counters), not only in the GraphQL answer.
//
// This file holds the harness and the read tests; e2e_mutations_test.go,
// e2e_coverage_test.go and e2e_errors_test.go hold the rest.
//
// Each test builds its own sandbox and gateway, so tests may run in
// parallel; subtests that share one are sequential, since they compare
// call counters.

package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/ghl-graphql/gateway/server"
	"github.com/ghl-graphql/gateway/upstream"
	"github.com/ghl-graphql/gateway/upstream/sandbox"
)

// contactsPerLocation is the seeded size of each sandbox location.
const contactsPerLocation = 40

// e2e is one sandbox and one gateway in front of it.
type e2e struct {
	t  *testing.T
	sb *sandbox.Server
	up *httptest.Server
	gw *httptest.Server
	// client calls the sandbox directly, for setup and as the oracle of
	// what the gateway should have answered.
	client *upstream.Client
	// locA is Locations()[0], the location of token; locB is the other.
	locA, locB string
	// token is sb.DefaultToken(): a read+write JWT of locA.
	token string
}

type e2eConfig struct {
	clientOpts []upstream.Option
	server     func(*server.Config)
	serverFor  func(*server.Config, *sandbox.Server, string)
	upstream   func(http.Handler) http.Handler
	// fullListings makes the sandbox's search and listing items whole
	// contacts, as HighLevel's spec does not promise; by default they carry
	// only ContactsSearchSchema's fields, as the spec says (issue 11).
	fullListings bool
}

type e2eOption func(*e2eConfig)

// withUpstreamMiddleware wraps the sandbox's handler, e.g. to watch calls.
func withUpstreamMiddleware(mw func(http.Handler) http.Handler) e2eOption {
	return func(c *e2eConfig) { c.upstream = mw }
}

// withFullListings makes the sandbox answer searches and listings with whole
// contacts, for tests about something other than completeness.
func withFullListings() e2eOption {
	return func(c *e2eConfig) { c.fullListings = true }
}

// withServer changes the gateway's server.Config.
func withServer(f func(*server.Config)) e2eOption {
	return func(c *e2eConfig) { c.server = f }
}

// withServerFor changes the gateway's server.Config knowing the sandbox and
// its URL, e.g. to make the sandbox the OAuth server of managed mode.
func withServerFor(f func(cfg *server.Config, sb *sandbox.Server, upstreamURL string)) e2eOption {
	return func(c *e2eConfig) { c.serverFor = f }
}

// withClientOptions adds options to the gateway's upstream client.
func withClientOptions(opts ...upstream.Option) e2eOption {
	return func(c *e2eConfig) { c.clientOpts = append(c.clientOpts, opts...) }
}

func newE2E(t *testing.T, opts ...e2eOption) *e2e {
	t.Helper()
	var cfg e2eConfig
	for _, o := range opts {
		o(&cfg)
	}
	sb, err := sandbox.New(sandbox.Config{Seed: 1, ContactsPerLocation: contactsPerLocation, StrictListItems: !cfg.fullListings})
	if err != nil {
		t.Fatal(err)
	}
	var upHandler http.Handler = sb
	if cfg.upstream != nil {
		upHandler = cfg.upstream(sb)
	}
	up := httptest.NewServer(upHandler)
	t.Cleanup(up.Close)

	client, err := upstream.NewClient(append([]upstream.Option{upstream.WithBaseURL(up.URL)}, cfg.clientOpts...)...)
	if err != nil {
		t.Fatal(err)
	}
	scfg := server.Config{Client: client, Introspection: true}
	if cfg.server != nil {
		cfg.server(&scfg)
	}
	if cfg.serverFor != nil {
		cfg.serverFor(&scfg, sb, up.URL)
	}
	h, err := server.New(scfg)
	if err != nil {
		t.Fatal(err)
	}
	gw := httptest.NewServer(h)
	t.Cleanup(gw.Close)

	direct, err := upstream.NewClient(upstream.WithBaseURL(up.URL))
	if err != nil {
		t.Fatal(err)
	}
	locs := sb.Locations()
	if len(locs) < 2 {
		t.Fatalf("sandbox has %d locations, want 2", len(locs))
	}
	return &e2e{t: t, sb: sb, up: up, gw: gw, client: direct, locA: locs[0], locB: locs[1], token: sb.DefaultToken()}
}

// ctx returns a context whose direct upstream calls authenticate with token.
func (e *e2e) ctx(token string) context.Context {
	return upstream.ContextWithTokenSource(context.Background(), oauth2.StaticTokenSource(&oauth2.Token{AccessToken: token}))
}

// gqlError is one entry of a GraphQL response's errors.
type gqlError struct {
	Message    string         `json:"message"`
	Path       []any          `json:"path"`
	Extensions map[string]any `json:"extensions"`
}

// response is a GraphQL answer as the client sees it.
type response struct {
	Status int
	Body   string
	// Data is the decoded data object; nil when data is null or absent.
	Data   map[string]any
	Errors []gqlError
}

// request is one HTTP request to /graphql.
type request struct {
	token      string // sent as "Authorization: Bearer <token>" when not empty
	locationID string // sent as X-Location-Id when not empty
	query      string
	vars       map[string]any
	rawBody    string // sent as is instead of query and vars when not empty
	header     http.Header
}

// gql POSTs a GraphQL request with a bearer token.
func (e *e2e) gql(token, query string, vars map[string]any) response {
	e.t.Helper()
	return e.send(request{token: token, query: query, vars: vars})
}

// gqlLoc is gql with an X-Location-Id header.
func (e *e2e) gqlLoc(token, locationID, query string, vars map[string]any) response {
	e.t.Helper()
	return e.send(request{token: token, locationID: locationID, query: query, vars: vars})
}

// send POSTs req and decodes the answer. Every answer is checked for leaks:
// no bearer token and no Go stack trace may reach a client.
func (e *e2e) send(req request) response {
	e.t.Helper()
	body := req.rawBody
	if body == "" {
		b, err := json.Marshal(map[string]any{"query": req.query, "variables": req.vars})
		if err != nil {
			e.t.Fatal(err)
		}
		body = string(b)
	}
	hreq, err := http.NewRequest(http.MethodPost, e.gw.URL+server.GraphQLPath, strings.NewReader(body))
	if err != nil {
		e.t.Fatal(err)
	}
	hreq.Header.Set("Content-Type", "application/json")
	if req.token != "" {
		hreq.Header.Set("Authorization", "Bearer "+req.token)
	}
	if req.locationID != "" {
		hreq.Header.Set(server.HeaderLocationID, req.locationID)
	}
	hreq.Header.Set("X-Request-Id", "e2e") // answers compared byte for byte carry the same ID
	for k, v := range req.header {
		hreq.Header[k] = v
	}
	resp, err := e.gw.Client().Do(hreq)
	if err != nil {
		e.t.Fatalf("POST %s: %v", server.GraphQLPath, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	out := response{Status: resp.StatusCode, Body: string(raw)}
	checkNoLeak(e.t, out.Body, req.token, e.sb.DefaultToken())
	var env struct {
		Data   json.RawMessage `json:"data"`
		Errors []gqlError      `json:"errors"`
	}
	if err := json.Unmarshal(raw, &env); err != nil {
		e.t.Fatalf("answer is not JSON (status %d): %q", resp.StatusCode, raw)
	}
	out.Errors = env.Errors
	if len(env.Data) > 0 && string(env.Data) != "null" {
		if err := json.Unmarshal(env.Data, &out.Data); err != nil {
			e.t.Fatalf("data is not an object: %s", env.Data)
		}
	}
	return out
}

// checkNoLeak fails if body holds one of the tokens or a Go stack trace.
func checkNoLeak(t *testing.T, body string, tokens ...string) {
	t.Helper()
	for _, tok := range tokens {
		if tok != "" && strings.Contains(body, tok) {
			t.Errorf("answer leaks a bearer token: %s", body)
		}
	}
	for _, s := range []string{"goroutine ", ".go:"} {
		if strings.Contains(body, s) {
			t.Errorf("answer leaks a stack trace or source position (%q): %s", s, body)
		}
	}
}

// ok fails the test unless the answer is a 200 without errors.
func (r response) ok(t *testing.T) response {
	t.Helper()
	if r.Status != http.StatusOK || len(r.Errors) > 0 {
		t.Fatalf("status %d, errors %+v; body %s", r.Status, r.Errors, r.Body)
	}
	return r
}

// code returns the extensions.code of the only error, failing unless there
// is exactly one.
func (r response) code(t *testing.T) string {
	t.Helper()
	if len(r.Errors) != 1 {
		t.Fatalf("want exactly one error, got %d; body %s", len(r.Errors), r.Body)
	}
	c, _ := r.Errors[0].Extensions["code"].(string)
	return c
}

// wantError checks status, the only error's code and, when path is given,
// its path.
func (r response) wantError(t *testing.T, status int, code string, path ...any) gqlError {
	t.Helper()
	if r.Status != status {
		t.Errorf("status = %d, want %d; body %s", r.Status, status, r.Body)
	}
	if got := r.code(t); got != code {
		t.Fatalf("code = %q, want %q; body %s", got, code, r.Body)
	}
	if path != nil && !reflect.DeepEqual(normalizePath(r.Errors[0].Path), normalizePath(path)) {
		t.Errorf("path = %v, want %v", r.Errors[0].Path, path)
	}
	return r.Errors[0]
}

// normalizePath makes JSON-decoded and literal paths comparable.
func normalizePath(p []any) []string {
	out := make([]string, len(p))
	for i, v := range p {
		out[i] = fmt.Sprint(v)
	}
	return out
}

// get returns the value at a dotted path of data ("contact.tasks.0.id").
func (r response) get(path string) any { return dig(r.Data, path) }

// dig follows a dotted path of object keys and list indexes.
func dig(v any, path string) any {
	if path == "" {
		return v
	}
	for _, part := range strings.Split(path, ".") {
		switch x := v.(type) {
		case map[string]any:
			v = x[part]
		case []any:
			i, err := strconv.Atoi(part)
			if err != nil || i < 0 || i >= len(x) {
				return nil
			}
			v = x[i]
		default:
			return nil
		}
	}
	return v
}

// str returns v as a string; "" for null.
func str(v any) string {
	s, _ := v.(string)
	return s
}

// list returns v as a list; nil for null.
func list(v any) []any {
	l, _ := v.([]any)
	return l
}

// num returns v as an int.
func num(v any) int {
	f, _ := v.(float64)
	return int(f)
}

// strs returns a list of strings.
func strs(v any) []string {
	out := []string{}
	for _, x := range list(v) {
		out = append(out, str(x))
	}
	return out
}

// field returns the key of every object of a list.
func field(v any, key string) []string {
	out := []string{}
	for _, x := range list(v) {
		out = append(out, str(dig(x, key)))
	}
	return out
}

// instant parses an RFC 3339 time; the zero time for "".
func instant(t *testing.T, s string) time.Time {
	t.Helper()
	if s == "" {
		return time.Time{}
	}
	v, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		t.Fatalf("not an RFC 3339 time: %q", s)
	}
	return v
}

// sameJSON reports whether a and b encode to the same JSON value.
func sameJSON(a, b any) bool {
	norm := func(v any) any {
		raw, err := json.Marshal(v)
		if err != nil {
			return err.Error()
		}
		var out any
		_ = json.Unmarshal(raw, &out)
		return out
	}
	return reflect.DeepEqual(norm(a), norm(b))
}

// counters is a snapshot of the sandbox's per-operation call counters.
type counters map[string]int64

func (e *e2e) counters() counters { return e.sb.AllCalls() }

// moved returns the operations whose counter changed since c, with the change.
func (e *e2e) moved(c counters) map[string]int64 {
	out := map[string]int64{}
	for op, n := range e.sb.AllCalls() {
		if d := n - c[op]; d != 0 {
			out[op] = d
		}
	}
	return out
}

// wantNoCalls fails if any upstream operation was called since c.
func (e *e2e) wantNoCalls(t *testing.T, c counters) {
	t.Helper()
	if m := e.moved(c); len(m) > 0 {
		t.Errorf("upstream calls were made: %v", m)
	}
}

// wantOnly fails unless each of ops was called at least once since c, and
// no other operation was.
func (e *e2e) wantOnly(t *testing.T, c counters, ops ...string) {
	t.Helper()
	m := e.moved(c)
	for _, op := range ops {
		if m[op] < 1 {
			t.Errorf("%s was not called; calls since: %v", op, m)
		}
		delete(m, op)
	}
	if len(m) > 0 {
		t.Errorf("unexpected upstream calls: %v", m)
	}
}

// wantExactly fails unless the calls since c are exactly want.
func (e *e2e) wantExactly(t *testing.T, c counters, want map[string]int64) {
	t.Helper()
	if m := e.moved(c); !reflect.DeepEqual(m, want) {
		t.Errorf("upstream calls = %v, want %v", m, want)
	}
}

// contact returns the sandbox's copy of a contact, failing if it is gone.
func (e *e2e) contact(t *testing.T, id string) sandbox.Contact {
	t.Helper()
	c, ok := e.sb.Contact(id)
	if !ok {
		t.Fatalf("sandbox has no contact %s", id)
	}
	return c
}

// contactsOf returns the sandbox's contacts of a location, oldest first.
func (e *e2e) contactsOf(t *testing.T, loc string) []sandbox.Contact {
	t.Helper()
	var out []sandbox.Contact
	for _, id := range e.sb.ContactIDs(loc) {
		out = append(out, e.contact(t, id))
	}
	return out
}

// fixture is seed data the tests need, found (or made) through the
// sandbox directly before the counters are reset.
type fixture struct {
	// contactID has open and completed tasks, notes, appointments, tags,
	// custom fields and a business with other contacts.
	contactID  string
	taskID     string
	noteID     string
	businessID string
	tasks      []upstream.Task
	notes      []upstream.Note
	appts      []upstream.Appointment
}

// setup finds the fixture and resets the sandbox's counters.
func (e *e2e) setup(t *testing.T) fixture {
	t.Helper()
	ctx := e.ctx(e.token)
	type candidate struct {
		fixture
		score int
	}
	var best *candidate
	for _, c := range e.contactsOf(t, e.locA) {
		tasks, _, err := e.client.Tasks.List(ctx, c.ID)
		if err != nil {
			t.Fatal(err)
		}
		notes, _, err := e.client.Notes.List(ctx, c.ID)
		if err != nil {
			t.Fatal(err)
		}
		appts, _, err := e.client.Appointments.List(ctx, c.ID)
		if err != nil {
			t.Fatal(err)
		}
		if len(appts) == 0 {
			continue // appointments cannot be made through the API
		}
		score := len(notes) + len(c.Tags) + len(c.CustomFields)
		if c.BusinessID != "" {
			score += 10
		}
		for _, done := range []bool{true, false} {
			if slices.ContainsFunc(tasks, func(x upstream.Task) bool { return x.Completed == done }) {
				score += 5
			}
		}
		if best == nil || score > best.score {
			best = &candidate{fixture{contactID: c.ID, tasks: tasks, notes: notes, appts: appts}, score}
		}
	}
	if best == nil {
		t.Fatal("no seeded contact has appointments")
	}
	f := best.fixture
	c := e.contact(t, f.contactID)
	// Make what the seed did not give.
	for _, done := range []bool{true, false} {
		if !slices.ContainsFunc(f.tasks, func(x upstream.Task) bool { return x.Completed == done }) {
			if _, _, err := e.client.Tasks.Create(ctx, f.contactID, &upstream.CreateTaskRequest{
				Title: "fixture task", DueDate: "2025-07-01T10:00:00.000Z", Completed: done}); err != nil {
				t.Fatal(err)
			}
		}
	}
	if len(f.notes) == 0 {
		if _, _, err := e.client.Notes.Create(ctx, f.contactID, &upstream.CreateNoteRequest{Body: "fixture note"}); err != nil {
			t.Fatal(err)
		}
	}
	if c.BusinessID == "" {
		b := e.sb.Businesses(e.locA)[0]
		if _, _, err := e.client.Bulk.UpdateBusiness(ctx, &upstream.BulkBusinessRequest{
			LocationID: e.locA, IDs: []string{f.contactID}, BusinessID: &b}); err != nil {
			t.Fatal(err)
		}
	}
	if len(c.Tags) == 0 {
		if _, _, err := e.client.Contacts.AddTags(ctx, f.contactID, []string{"fixture"}); err != nil {
			t.Fatal(err)
		}
	}
	var err error
	if f.tasks, _, err = e.client.Tasks.List(ctx, f.contactID); err != nil {
		t.Fatal(err)
	}
	if f.notes, _, err = e.client.Notes.List(ctx, f.contactID); err != nil {
		t.Fatal(err)
	}
	f.taskID, f.noteID = f.tasks[0].ID, f.notes[0].ID
	f.businessID = e.contact(t, f.contactID).BusinessID
	e.sb.ResetCounters()
	return f
}

// snapshotQuery reads a contact with everything attached to it.
const snapshotQuery = `query Snapshot($id: ID!, $taskId: ID!, $noteId: ID!) {
  contact(id: $id) {
    id locationId name firstName lastName email phone companyName address1 city state
    postalCode country timezone website source type gender dateOfBirth assignedTo dnd
    dndSettings {
      call { status message code } email { status message code } sms { status message code }
      whatsApp { status message code } gmb { status message code } fb { status message code }
    }
    inboundDndSettings { all { status message } }
    tags followers
    customFields { fieldId value }
    businessId
    business { id contacts(first: 100) { totalCount nodes { id businessId } } }
    attributionSource { url medium }
    keyword dateAdded dateUpdated lastActivity
    tasks { id contactId title body assignedTo dueDate completed }
    done: tasks(completed: true) { id completed }
    open: tasks(completed: false) { id completed }
    task(id: $taskId) { id contactId title completed }
    notes { id contactId body title color pinned userId dateAdded }
    note(id: $noteId) { id contactId body }
    appointments { id contactId calendarId locationId title status appointmentStatus startTime endTime
      address notes assignedUserId users assignedResources groupId dateAdded dateUpdated }
  }
}`

func TestE2EContactSnapshot(t *testing.T) {
	t.Parallel()
	e := newE2E(t)
	f := e.setup(t)
	want := e.contact(t, f.contactID)

	before := e.counters()
	r := e.gql(e.token, snapshotQuery, map[string]any{"id": f.contactID, "taskId": f.taskID, "noteId": f.noteID}).ok(t)
	e.wantOnly(t, before, "get-contact", "get-all-tasks", "get-task", "get-all-notes", "get-note",
		"get-appointments-for-contact", "get-contacts-by-businessId")

	got := r.get("contact")
	t.Run("scalars", func(t *testing.T) {
		for name, w := range map[string]string{
			"id": want.ID, "locationId": want.LocationID, "name": want.Name, "firstName": want.FirstName,
			"lastName": want.LastName, "email": want.Email, "phone": want.Phone, "companyName": want.CompanyName,
			"address1": want.Address1, "city": want.City, "state": want.State, "postalCode": want.PostalCode,
			"country": want.Country, "timezone": want.Timezone, "website": want.Website, "source": want.Source,
			"type": want.Type, "gender": want.Gender, "dateOfBirth": string(want.DateOfBirth),
			"assignedTo": want.AssignedTo, "businessId": want.BusinessID, "keyword": want.Keyword,
		} {
			v := dig(got, name)
			if w == "" {
				if v != nil {
					t.Errorf("%s = %v, want null", name, v)
				}
				continue
			}
			if str(v) != w {
				t.Errorf("%s = %v, want %q", name, v, w)
			}
		}
		if dig(got, "dnd") != want.DND {
			t.Errorf("dnd = %v, want %v", dig(got, "dnd"), want.DND)
		}
		for name, w := range map[string]string{"dateAdded": want.DateAdded, "dateUpdated": want.DateUpdated, "lastActivity": want.LastActivity} {
			if g := instant(t, str(dig(got, name))); !g.Equal(instant(t, w)) {
				t.Errorf("%s = %v, want %s", name, dig(got, name), w)
			}
		}
		if want.InboundDNDSettings == nil && dig(got, "inboundDndSettings") != nil {
			t.Errorf("inboundDndSettings = %v, want null", dig(got, "inboundDndSettings"))
		}
		if a := want.AttributionSource; a == nil {
			if dig(got, "attributionSource") != nil {
				t.Errorf("attributionSource = %v, want null", dig(got, "attributionSource"))
			}
		} else if str(dig(got, "attributionSource.url")) != a.URL || str(dig(got, "attributionSource.medium")) != a.Medium {
			t.Errorf("attributionSource = %v, want %+v", dig(got, "attributionSource"), *a)
		}
		if !slices.Equal(strs(dig(got, "tags")), want.Tags) || len(want.Tags) == 0 {
			t.Errorf("tags = %v, want %v (non-empty)", dig(got, "tags"), want.Tags)
		}
		if !slices.Equal(strs(dig(got, "followers")), append([]string{}, want.Followers...)) {
			t.Errorf("followers = %v, want %v", dig(got, "followers"), want.Followers)
		}
	})
	t.Run("dndSettings", func(t *testing.T) {
		ds := dig(got, "dndSettings")
		if want.DNDSettings == nil {
			if ds != nil {
				t.Errorf("dndSettings = %v, want null", ds)
			}
			return
		}
		for name, s := range map[string]*sandbox.DNDSetting{"call": want.DNDSettings.Call, "email": want.DNDSettings.Email,
			"sms": want.DNDSettings.SMS, "whatsApp": want.DNDSettings.WhatsApp, "gmb": want.DNDSettings.GMB, "fb": want.DNDSettings.FB} {
			g := dig(ds, name)
			if s == nil {
				if g != nil {
					t.Errorf("dndSettings.%s = %v, want null", name, g)
				}
				continue
			}
			if str(dig(g, "status")) != strings.ToUpper(s.Status) || str(dig(g, "message")) != s.Message || str(dig(g, "code")) != s.Code {
				t.Errorf("dndSettings.%s = %v, want %+v", name, g, *s)
			}
		}
	})
	t.Run("customFields", func(t *testing.T) {
		var wantFields []map[string]any
		for _, cf := range want.CustomFields {
			wantFields = append(wantFields, map[string]any{"fieldId": cf.ID, "value": cf.Value})
		}
		if len(wantFields) == 0 {
			wantFields = []map[string]any{}
		}
		if !sameJSON(dig(got, "customFields"), wantFields) {
			t.Errorf("customFields = %v, want %v", dig(got, "customFields"), wantFields)
		}
	})
	t.Run("business", func(t *testing.T) {
		if str(dig(got, "business.id")) != want.BusinessID {
			t.Fatalf("business = %v, want id %s", dig(got, "business"), want.BusinessID)
		}
		var members []string
		for _, c := range e.contactsOf(t, e.locA) {
			if c.BusinessID == want.BusinessID {
				members = append(members, c.ID)
			}
		}
		gotIDs := field(dig(got, "business.contacts.nodes"), "id")
		slices.Sort(gotIDs)
		slices.Sort(members)
		if !slices.Equal(gotIDs, members) || num(dig(got, "business.contacts.totalCount")) != len(members) {
			t.Errorf("business contacts = %v (total %v), want %v", gotIDs, dig(got, "business.contacts.totalCount"), members)
		}
	})
	t.Run("tasks", func(t *testing.T) {
		all := list(dig(got, "tasks"))
		if len(all) != len(f.tasks) {
			t.Fatalf("tasks = %d, want %d", len(all), len(f.tasks))
		}
		var wantDone, wantOpen []string
		for i, w := range f.tasks {
			g := all[i]
			if str(dig(g, "id")) != w.ID || str(dig(g, "title")) != w.Title || str(dig(g, "body")) != w.Body ||
				dig(g, "completed") != w.Completed || str(dig(g, "contactId")) != f.contactID ||
				!instant(t, str(dig(g, "dueDate"))).Equal(instant(t, w.DueDate)) {
				t.Errorf("tasks[%d] = %v, want %+v", i, g, w)
			}
			if w.Completed {
				wantDone = append(wantDone, w.ID)
			} else {
				wantOpen = append(wantOpen, w.ID)
			}
		}
		if ids := field(dig(got, "done"), "id"); !slices.Equal(ids, wantDone) || len(ids) == 0 {
			t.Errorf("tasks(completed: true) = %v, want %v (non-empty)", ids, wantDone)
		}
		if ids := field(dig(got, "open"), "id"); !slices.Equal(ids, wantOpen) || len(ids) == 0 {
			t.Errorf("tasks(completed: false) = %v, want %v (non-empty)", ids, wantOpen)
		}
		if str(dig(got, "task.id")) != f.taskID || str(dig(got, "task.title")) != f.tasks[0].Title {
			t.Errorf("task(id) = %v, want %+v", dig(got, "task"), f.tasks[0])
		}
	})
	t.Run("notes", func(t *testing.T) {
		all := list(dig(got, "notes"))
		if len(all) != len(f.notes) || len(all) == 0 {
			t.Fatalf("notes = %d, want %d", len(all), len(f.notes))
		}
		for i, w := range f.notes {
			g := all[i]
			if str(dig(g, "id")) != w.ID || str(dig(g, "body")) != w.Body || str(dig(g, "title")) != w.Title ||
				str(dig(g, "color")) != w.Color || dig(g, "pinned") != w.Pinned || str(dig(g, "userId")) != w.UserID ||
				!instant(t, str(dig(g, "dateAdded"))).Equal(instant(t, w.DateAdded)) {
				t.Errorf("notes[%d] = %v, want %+v", i, g, w)
			}
		}
		if str(dig(got, "note.id")) != f.noteID || str(dig(got, "note.body")) != f.notes[0].Body {
			t.Errorf("note(id) = %v, want %+v", dig(got, "note"), f.notes[0])
		}
	})
	t.Run("appointments", func(t *testing.T) {
		all := list(dig(got, "appointments"))
		if len(all) != len(f.appts) || len(all) == 0 {
			t.Fatalf("appointments = %d, want %d", len(all), len(f.appts))
		}
		for i, w := range f.appts {
			g := all[i]
			if str(dig(g, "id")) != w.ID || str(dig(g, "contactId")) != w.ContactID || str(dig(g, "calendarId")) != w.CalendarID ||
				str(dig(g, "title")) != w.Title || str(dig(g, "status")) != w.Status || str(dig(g, "startTime")) != w.StartTime ||
				str(dig(g, "endTime")) != w.EndTime || !slices.Equal(strs(dig(g, "users")), append([]string{}, w.Users...)) {
				t.Errorf("appointments[%d] = %v, want %+v", i, g, w)
			}
		}
	})
}

// connectionFields selects everything of a ContactConnection.
const connectionFields = `totalCount
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
    edges { cursor node { id locationId dateAdded lastName tags } }
    nodes { id }`

// page is one page of a connection, checked for consistency.
type page struct {
	ids       []string
	total     int
	hasNext   bool
	endCursor string
}

// readPage checks a connection's internal consistency and returns it.
func readPage(t *testing.T, conn any, wantPrevious bool) page {
	t.Helper()
	edges := list(dig(conn, "edges"))
	p := page{ids: field(edges, "node.id"), total: num(dig(conn, "totalCount")),
		hasNext: dig(conn, "pageInfo.hasNextPage") == true, endCursor: str(dig(conn, "pageInfo.endCursor"))}
	if nodes := field(dig(conn, "nodes"), "id"); !slices.Equal(nodes, p.ids) {
		t.Errorf("nodes %v differ from edges %v", nodes, p.ids)
	}
	if got := dig(conn, "pageInfo.hasPreviousPage"); got != wantPrevious {
		t.Errorf("hasPreviousPage = %v, want %v", got, wantPrevious)
	}
	if len(edges) > 0 {
		if str(dig(conn, "pageInfo.startCursor")) != str(dig(edges[0], "cursor")) ||
			p.endCursor != str(dig(edges[len(edges)-1], "cursor")) {
			t.Errorf("pageInfo cursors %v do not match the edges", dig(conn, "pageInfo"))
		}
		for i, ed := range edges {
			if str(dig(ed, "cursor")) == "" {
				t.Errorf("edge %d has no cursor", i)
			}
		}
	}
	return p
}

// pageThrough pages a connection at root field `root` with first: n until
// hasNextPage is false, and returns the IDs in order. The first page's total
// is the total every page must report.
func (e *e2e) pageThrough(t *testing.T, query, root string, vars map[string]any, n int) []string {
	t.Helper()
	var ids []string
	var after any
	total := -1
	for i := 0; ; i++ {
		if i > 200 {
			t.Fatal("paging does not end")
		}
		v := map[string]any{"first": n, "after": after}
		for k, x := range vars {
			v[k] = x
		}
		r := e.gql(e.token, query, v).ok(t)
		p := readPage(t, r.get(root), i > 0)
		if total < 0 {
			total = p.total
		} else if p.total != total {
			t.Errorf("page %d: totalCount = %d, first page said %d", i, p.total, total)
		}
		if len(p.ids) > n {
			t.Errorf("page %d holds %d contacts, more than first: %d", i, len(p.ids), n)
		}
		ids = append(ids, p.ids...)
		if !p.hasNext {
			if len(ids) != total {
				t.Errorf("paging visited %d contacts, totalCount says %d", len(ids), total)
			}
			return ids
		}
		if len(p.ids) == 0 {
			t.Fatalf("page %d is empty but hasNextPage is true", i)
		}
		after = p.endCursor
	}
}

// wantEachOnce fails unless got holds every ID of want exactly once.
func wantEachOnce(t *testing.T, got, want []string) {
	t.Helper()
	seen := map[string]int{}
	for _, id := range got {
		seen[id]++
		if seen[id] == 2 {
			t.Errorf("contact %s visited more than once", id)
		}
	}
	for _, id := range want {
		if seen[id] == 0 {
			t.Errorf("contact %s never visited", id)
		}
	}
	if len(seen) != len(want) {
		t.Errorf("visited %d distinct contacts, want %d", len(seen), len(want))
	}
}

func TestE2EContactsSearch(t *testing.T) {
	t.Parallel()
	e := newE2E(t, withFullListings()) // counts the paging calls only
	all := e.contactsOf(t, e.locA)
	allIDs := e.sb.ContactIDs(e.locA)
	if len(allIDs) != contactsPerLocation {
		t.Fatalf("location has %d contacts, want %d", len(allIDs), contactsPerLocation)
	}
	const q = `query($query: String, $filters: [ContactFilter!], $sort: [ContactSort!], $first: Int, $after: String) {
  contacts(query: $query, filters: $filters, sort: $sort, first: $first, after: $after) { ` + connectionFields + ` }
}`

	t.Run("paging visits every contact once", func(t *testing.T) {
		for name, sortArg := range map[string]any{
			"default order":  nil,
			"lastName asc":   []any{map[string]any{"field": "lastName", "direction": "ASC"}},
			"dateAdded desc": []any{map[string]any{"field": "dateAdded", "direction": "DESC"}},
		} {
			t.Run(name, func(t *testing.T) {
				before := e.counters()
				ids := e.pageThrough(t, q, "contacts", map[string]any{"sort": sortArg}, 7)
				wantEachOnce(t, ids, allIDs)
				e.wantExactly(t, before, map[string]int64{"search-contacts-advanced": int64((len(allIDs) + 6) / 7)})
			})
		}
	})

	t.Run("sort", func(t *testing.T) {
		for _, dir := range []string{"ASC", "DESC"} {
			t.Run(dir, func(t *testing.T) {
				r := e.gql(e.token, q, map[string]any{"first": 100, "sort": []any{map[string]any{"field": "dateAdded", "direction": dir}}}).ok(t)
				nodes := list(r.get("contacts.edges"))
				if len(nodes) != len(allIDs) {
					t.Fatalf("got %d contacts, want %d", len(nodes), len(allIDs))
				}
				var prev time.Time
				for i, n := range nodes {
					d := instant(t, str(dig(n, "node.dateAdded")))
					if i > 0 && ((dir == "ASC" && d.Before(prev)) || (dir == "DESC" && d.After(prev))) {
						t.Errorf("%s order broken at %d: %v after %v", dir, i, d, prev)
					}
					prev = d
				}
				if dir == "ASC" && !slices.Equal(field(nodes, "node.id"), allIDs) {
					// ContactIDs is oldest first, ties by ID: the same as dateAdded ASC.
					t.Errorf("ASC order = %v, want %v", field(nodes, "node.id"), allIDs)
				}
			})
		}
	})

	t.Run("free text", func(t *testing.T) {
		target := all[len(all)/2]
		r := e.gql(e.token, q, map[string]any{"query": target.Email, "first": 100}).ok(t)
		if ids := field(r.get("contacts.nodes"), "id"); !slices.Equal(ids, []string{target.ID}) || num(r.get("contacts.totalCount")) != 1 {
			t.Errorf("query by email %s = %v (total %v), want [%s]", target.Email, ids, r.get("contacts.totalCount"), target.ID)
		}
		var want []string
		needle := strings.ToLower(target.LastName)
		for _, c := range all {
			for _, s := range []string{c.Name, c.FirstName, c.LastName, c.Email, c.Phone, c.CompanyName} {
				if strings.Contains(strings.ToLower(s), needle) {
					want = append(want, c.ID)
					break
				}
			}
		}
		r = e.gql(e.token, q, map[string]any{"query": target.LastName, "first": 100}).ok(t)
		got := field(r.get("contacts.nodes"), "id")
		slices.Sort(got)
		slices.Sort(want)
		if !slices.Equal(got, want) || num(r.get("contacts.totalCount")) != len(want) {
			t.Errorf("query %q = %v (total %v), want %v", target.LastName, got, r.get("contacts.totalCount"), want)
		}
	})

	t.Run("filters with an OR group and a RANGE", func(t *testing.T) {
		// The middle half of the location by dateAdded.
		dates := make([]time.Time, 0, len(all))
		for _, c := range all {
			dates = append(dates, instant(t, c.DateAdded))
		}
		sort.Slice(dates, func(i, j int) bool { return dates[i].Before(dates[j]) })
		gte, lt := dates[len(dates)/4], dates[3*len(dates)/4]
		tagA, tagB := "vip", "customer"
		var want []string
		for _, c := range all {
			d := instant(t, c.DateAdded)
			hasTag := slices.ContainsFunc(c.Tags, func(s string) bool { return strings.EqualFold(s, tagA) || strings.EqualFold(s, tagB) })
			if hasTag && !d.Before(gte) && d.Before(lt) {
				want = append(want, c.ID)
			}
		}
		filters := []any{
			map[string]any{"group": "OR", "filters": []any{
				map[string]any{"field": "tags", "operator": "EQ", "value": tagA},
				map[string]any{"field": "tags", "operator": "EQ", "value": tagB},
			}},
			map[string]any{"field": "dateAdded", "operator": "RANGE", "range": map[string]any{
				"gte": gte.Format(time.RFC3339Nano), "lt": lt.Format(time.RFC3339Nano)}},
		}
		before := e.counters()
		r := e.gql(e.token, q, map[string]any{"filters": filters, "first": 100}).ok(t)
		e.wantExactly(t, before, map[string]int64{"search-contacts-advanced": 1})
		got := field(r.get("contacts.nodes"), "id")
		slices.Sort(got)
		slices.Sort(want)
		if len(want) == 0 {
			t.Fatal("the filter matches nothing in the seed data; pick other tags")
		}
		if !slices.Equal(got, want) || num(r.get("contacts.totalCount")) != len(want) {
			t.Errorf("filtered = %v (total %v), want %v", got, r.get("contacts.totalCount"), want)
		}
		for _, n := range list(r.get("contacts.edges")) {
			tags := strs(dig(n, "node.tags"))
			if !slices.Contains(tags, tagA) && !slices.Contains(tags, tagB) {
				t.Errorf("contact %s has neither tag: %v", dig(n, "node.id"), tags)
			}
		}
	})

	t.Run("every contact belongs to the location", func(t *testing.T) {
		// Only fields a listing carries: a page of 500 that selects one it
		// lacks (lastName) may read each contact whole and costs 501.
		const q = `query($first: Int) { contacts(first: $first) {
  totalCount pageInfo { hasNextPage } edges { node { id locationId } } } }`
		r := e.gql(e.token, q, map[string]any{"first": 500}).ok(t)
		for _, l := range field(r.get("contacts.edges"), "node.locationId") {
			if l != e.locA {
				t.Errorf("contact of location %s in %s's search", l, e.locA)
			}
		}
		if num(r.get("contacts.totalCount")) != len(allIDs) || r.get("contacts.pageInfo.hasNextPage") != false {
			t.Errorf("pageInfo %v, total %v", r.get("contacts.pageInfo"), r.get("contacts.totalCount"))
		}
	})
}

func TestE2EContactsByBusiness(t *testing.T) {
	t.Parallel()
	e := newE2E(t, withFullListings()) // counts the paging calls only
	members := map[string][]string{}
	for _, c := range e.contactsOf(t, e.locA) {
		if c.BusinessID != "" {
			members[c.BusinessID] = append(members[c.BusinessID], c.ID)
		}
	}
	var biz string
	for b, ids := range members {
		if len(ids) > len(members[biz]) || (len(ids) == len(members[biz]) && b < biz) {
			biz = b
		}
	}
	if len(members[biz]) < 2 {
		t.Fatalf("no business with 2 contacts in the seed: %v", members)
	}
	const q = `query($b: ID!, $first: Int, $after: String) {
  contactsByBusiness(businessId: $b, first: $first, after: $after) { ` + connectionFields + ` }
}`
	for _, n := range []int{1, 2, 100} {
		t.Run(fmt.Sprintf("first %d", n), func(t *testing.T) {
			before := e.counters()
			ids := e.pageThrough(t, q, "contactsByBusiness", map[string]any{"b": biz}, n)
			wantEachOnce(t, ids, members[biz])
			e.wantExactly(t, before, map[string]int64{"get-contacts-by-businessId": int64((len(members[biz]) + n - 1) / n)})
		})
	}
	t.Run("unknown business", func(t *testing.T) {
		r := e.gql(e.token, q, map[string]any{"b": "000000000000000000000000"}).ok(t)
		if num(r.get("contactsByBusiness.totalCount")) != 0 || len(list(r.get("contactsByBusiness.nodes"))) != 0 {
			t.Errorf("unknown business has contacts: %v", r.get("contactsByBusiness"))
		}
	})
}

func TestE2EContactsLegacyList(t *testing.T) {
	t.Parallel()
	e := newE2E(t, withFullListings()) // counts the paging calls only
	const q = `query($first: Int, $after: String) {
  contactsLegacyList(first: $first, after: $after) { ` + connectionFields + ` }
}`
	before := e.counters()
	ids := e.pageThrough(t, q, "contactsLegacyList", nil, 9)
	// Oldest first: the order of ContactIDs.
	if want := e.sb.ContactIDs(e.locA); !slices.Equal(ids, want) {
		t.Errorf("legacy list order = %v, want %v", ids, want)
	}
	e.wantExactly(t, before, map[string]int64{"get-contacts": int64((contactsPerLocation + 8) / 9)})
}

func TestE2EDuplicateContact(t *testing.T) {
	t.Parallel()
	type dupCase struct {
		vars func(e *e2e, all, other []sandbox.Contact) map[string]any
		want func(all []sandbox.Contact) string // contact ID, "" for null
	}
	byEmail, byPhone := 3, 11
	tests := map[string]dupCase{
		"by email": {
			vars: func(_ *e2e, all, _ []sandbox.Contact) map[string]any {
				return map[string]any{"email": all[byEmail].Email}
			},
			want: func(all []sandbox.Contact) string { return all[byEmail].ID },
		},
		"by email, other case": {
			vars: func(_ *e2e, all, _ []sandbox.Contact) map[string]any {
				return map[string]any{"email": strings.ToUpper(all[byEmail].Email)}
			},
			want: func(all []sandbox.Contact) string { return all[byEmail].ID },
		},
		"by phone": {
			vars: func(_ *e2e, all, _ []sandbox.Contact) map[string]any {
				return map[string]any{"phone": all[byPhone].Phone}
			},
			want: func(all []sandbox.Contact) string { return all[byPhone].ID },
		},
		"email wins over phone": {
			vars: func(_ *e2e, all, _ []sandbox.Contact) map[string]any {
				return map[string]any{"email": all[byEmail].Email, "phone": all[byPhone].Phone}
			},
			want: func(all []sandbox.Contact) string { return all[byEmail].ID },
		},
		"none by email": {
			vars: func(*e2e, []sandbox.Contact, []sandbox.Contact) map[string]any {
				return map[string]any{"email": "nobody-at-all@example.com"}
			},
		},
		"none by phone": {
			vars: func(*e2e, []sandbox.Contact, []sandbox.Contact) map[string]any {
				return map[string]any{"phone": "+15550000000"}
			},
		},
		"another location's email": {
			vars: func(_ *e2e, _, other []sandbox.Contact) map[string]any {
				return map[string]any{"email": other[0].Email}
			},
		},
	}
	const q = `query($email: String, $phone: String) { duplicateContact(email: $email, phone: $phone) { id email phone } }`
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			e := newE2E(t) // nothing cached from another case
			all, other := e.contactsOf(t, e.locA), e.contactsOf(t, e.locB)
			before := e.counters()
			r := e.gql(e.token, q, tc.vars(e, all, other)).ok(t)
			e.wantExactly(t, before, map[string]int64{"get-duplicate-contact": 1})
			got := r.get("duplicateContact")
			if tc.want == nil {
				if got != nil {
					t.Errorf("duplicateContact = %v, want null", got)
				}
				return
			}
			if want := tc.want(all); str(dig(got, "id")) != want {
				t.Errorf("duplicateContact = %v, want %s", got, want)
			}
		})
	}
}

func TestE2ETaskAndNote(t *testing.T) {
	t.Parallel()
	e := newE2E(t)
	f := e.setup(t)
	const q = `query($c: ID!, $t: ID!, $n: ID!) {
  task(contactId: $c, id: $t) { id contactId title body completed dueDate }
  note(contactId: $c, id: $n) { id contactId body title pinned }
}`
	before := e.counters()
	r := e.gql(e.token, q, map[string]any{"c": f.contactID, "t": f.taskID, "n": f.noteID}).ok(t)
	e.wantExactly(t, before, map[string]int64{"get-task": 1, "get-note": 1})
	wt, wn := f.tasks[0], f.notes[0]
	if str(r.get("task.id")) != wt.ID || str(r.get("task.title")) != wt.Title || r.get("task.completed") != wt.Completed ||
		str(r.get("task.contactId")) != f.contactID || !instant(t, str(r.get("task.dueDate"))).Equal(instant(t, wt.DueDate)) {
		t.Errorf("task = %v, want %+v", r.get("task"), wt)
	}
	if str(r.get("note.id")) != wn.ID || str(r.get("note.body")) != wn.Body || r.get("note.pinned") != wn.Pinned ||
		str(r.get("note.contactId")) != f.contactID {
		t.Errorf("note = %v, want %+v", r.get("note"), wn)
	}
	// A known contact, an unknown task.
	r = e.gql(e.token, `query($c: ID!) { task(contactId: $c, id: "nosuchtask") { id } }`, map[string]any{"c": f.contactID})
	r.wantError(t, http.StatusOK, "NOT_FOUND", "task")
}

// childrenOracle returns each contact's task, note and appointment IDs, read
// from the sandbox directly.
func (e *e2e) childrenOracle(t *testing.T, ids []string) map[string][3][]string {
	t.Helper()
	ctx := e.ctx(e.token)
	out := map[string][3][]string{}
	for _, id := range ids {
		tasks, _, err := e.client.Tasks.List(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		notes, _, err := e.client.Notes.List(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		appts, _, err := e.client.Appointments.List(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		var c [3][]string
		for _, x := range tasks {
			c[0] = append(c[0], x.ID)
		}
		for _, x := range notes {
			c[1] = append(c[1], x.ID)
		}
		for _, x := range appts {
			c[2] = append(c[2], x.ID)
		}
		out[id] = c
	}
	return out
}

// checkChildren compares a contact's tasks, notes and appointments with the oracle.
func checkChildren(t *testing.T, node any, want map[string][3][]string) {
	t.Helper()
	id := str(dig(node, "id"))
	w, ok := want[id]
	if !ok {
		t.Errorf("unexpected contact %s", id)
		return
	}
	for i, name := range []string{"tasks", "notes", "appointments"} {
		got := field(dig(node, name), "id")
		if !slices.Equal(got, append([]string{}, w[i]...)) {
			t.Errorf("contact %s %s = %v, want %v", id, name, got, w[i])
		}
		for _, owner := range field(dig(node, name), "contactId") {
			if owner != id {
				t.Errorf("contact %s lists %s of contact %s", id, name, owner)
			}
		}
	}
}

// A listing with every contact's children: each contact must get its own
// tasks, notes and appointments, however the gateway batches the calls.
func TestE2EBatchedChildren(t *testing.T) {
	t.Parallel()
	e := newE2E(t)
	ids := e.sb.ContactIDs(e.locA)
	want := e.childrenOracle(t, ids)
	e.sb.ResetCounters()
	const q = `{ contacts(first: 100) { nodes { id tasks { id contactId } notes { id contactId } appointments { id contactId } } } }`
	before := e.counters()
	r := e.gql(e.token, q, nil).ok(t)
	e.wantOnly(t, before, "search-contacts-advanced", "get-all-tasks", "get-all-notes", "get-appointments-for-contact")
	if m := e.moved(before); m["get-all-tasks"] > int64(len(ids)) || m["get-all-notes"] > int64(len(ids)) {
		t.Errorf("more child calls than contacts: %v", m)
	}
	nodes := list(r.get("contacts.nodes"))
	if len(nodes) != len(ids) {
		t.Fatalf("%d contacts, want %d", len(nodes), len(ids))
	}
	for _, n := range nodes {
		checkChildren(t, n, want)
	}
}

// Many clients at once, with two credentials of the location, reading
// overlapping contacts in different orders: every answer must be the
// sandbox's truth. Run with -race, this is also the data-race test of the
// request path.
func TestE2EConcurrentReads(t *testing.T) {
	t.Parallel()
	e := newE2E(t)
	ids := e.sb.ContactIDs(e.locA)
	want := e.childrenOracle(t, ids)
	pit := e.sb.Token(e.locA, sandbox.ScopeContactsRead)
	const q = `query($id: ID!) { contact(id: $id) { id email tasks { id contactId } notes { id contactId } appointments { id contactId } } }`
	const clients = 8
	type failure struct {
		id   string
		body string
	}
	fails := make(chan failure, clients*len(ids))
	var wg sync.WaitGroup
	for c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			order := slices.Clone(ids)
			if c%2 == 1 {
				slices.Reverse(order)
			}
			for i, id := range order {
				if (i+c)%3 == 0 {
					continue // not everyone reads everything
				}
				body, _ := json.Marshal(map[string]any{"query": q, "variables": map[string]any{"id": id}})
				req, _ := http.NewRequest(http.MethodPost, e.gw.URL+server.GraphQLPath, bytes.NewReader(body))
				req.Header.Set("Content-Type", "application/json")
				if c%2 == 0 {
					req.Header.Set("Authorization", "Bearer "+e.token)
				} else {
					req.Header.Set("Authorization", "Bearer "+pit)
					req.Header.Set(server.HeaderLocationID, e.locA)
				}
				resp, err := e.gw.Client().Do(req)
				if err != nil {
					fails <- failure{id, err.Error()}
					continue
				}
				raw, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				fails <- failure{id, string(raw)}
			}
		}()
	}
	wg.Wait()
	close(fails)
	n := 0
	for f := range fails {
		n++
		var out struct {
			Data   map[string]any `json:"data"`
			Errors []gqlError     `json:"errors"`
		}
		if err := json.Unmarshal([]byte(f.body), &out); err != nil || len(out.Errors) > 0 {
			t.Errorf("contact %s: %s", f.id, f.body)
			continue
		}
		node := out.Data["contact"]
		if str(dig(node, "id")) != f.id || str(dig(node, "email")) != e.contact(t, f.id).Email {
			t.Errorf("asked for %s, got %v", f.id, node)
		}
		checkChildren(t, node, want)
	}
	if n == 0 {
		t.Fatal("no answers")
	}
}
