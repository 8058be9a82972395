// End-to-end tests of failures: partial data, every error code with the
// upstream calls it may (or must not) cost, IDs that try to leave their
// path segment, and how a request's location is chosen.

package server_test

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vektah/gqlparser/v2"
	"github.com/vektah/gqlparser/v2/ast"

	"github.com/ghl-graphql/gateway/server"
	"github.com/ghl-graphql/gateway/upstream"
	"github.com/ghl-graphql/gateway/upstream/sandbox"
)

func TestE2EPartialData(t *testing.T) {
	t.Parallel()
	e := newE2E(t)
	f := e.setup(t)
	e.sb.SetFaults(sandbox.Faults{Rate: 1, Kinds: []sandbox.FaultKind{sandbox.FaultServerError}, Ops: []string{"get-all-notes"}})
	before := e.counters()
	r := e.gql(e.token, `query($id: ID!) { contact(id: $id) { id name tasks { id } notes { id } appointments { id } } }`,
		map[string]any{"id": f.contactID})
	e.wantOnly(t, before, "get-contact", "get-all-tasks", "get-all-notes", "get-appointments-for-contact")
	ge := r.wantError(t, http.StatusOK, "UPSTREAM_ERROR", "contact", "notes")
	if ge.Message == "" {
		t.Error("the error has no message")
	}
	if str(r.get("contact.id")) != f.contactID || str(r.get("contact.name")) == "" {
		t.Errorf("contact = %v, want it despite the notes failing", r.get("contact"))
	}
	if got := field(r.get("contact.tasks"), "id"); len(got) != len(f.tasks) {
		t.Errorf("tasks = %v, want %d", got, len(f.tasks))
	}
	if len(list(r.get("contact.appointments"))) != len(f.appts) {
		t.Errorf("appointments = %v, want %d", r.get("contact.appointments"), len(f.appts))
	}
	contact, _ := r.get("contact").(map[string]any)
	if v, present := contact["notes"]; !present || v != nil {
		t.Errorf("notes = %v (present %v), want null", v, present)
	}
}

// errorCase is one request that must fail with one error code.
type errorCase struct {
	opts  []e2eOption
	setup func(t *testing.T, e *e2e, f fixture)
	req   func(e *e2e, f fixture) request
	// status and code of the answer; path of the error when not nil.
	status int
	code   string
	path   []any
	// calls is the operation the failure costs one call of; "" for none at all.
	calls string
	check func(t *testing.T, e *e2e, r response)
}

func (tc errorCase) run(t *testing.T) {
	t.Helper()
	e := newE2E(t, tc.opts...)
	f := e.setup(t)
	if tc.setup != nil {
		tc.setup(t, e, f)
	}
	req := tc.req(e, f)
	before := e.counters()
	r := e.send(req)
	if tc.calls == "" {
		e.wantNoCalls(t, before)
	} else {
		e.wantOnly(t, before, tc.calls)
	}
	r.wantError(t, tc.status, tc.code, tc.path...)
	if msg := r.Errors[0].Message; msg == "" {
		t.Error("the error has no message")
	}
	if tc.check != nil {
		tc.check(t, e, r)
	}
}

// q is a request with the default token.
func q(query string, vars map[string]any) func(*e2e, fixture) request {
	return func(e *e2e, _ fixture) request { return request{token: e.token, query: query, vars: vars} }
}

// qc is q with the fixture's contact as $id.
func qc(query string) func(*e2e, fixture) request {
	return func(e *e2e, f fixture) request {
		return request{token: e.token, query: query, vars: map[string]any{"id": f.contactID}}
	}
}

func TestE2EErrorCodes(t *testing.T) {
	t.Parallel()
	tests := map[string]errorCase{
		"NOT_FOUND: unknown contact": {
			req:    q(`{ contact(id: "nosuchcontact0000000") { id } }`, nil),
			status: 200, code: "NOT_FOUND", path: []any{"contact"}, calls: "get-contact",
		},
		"NOT_FOUND: unknown note of a known contact": {
			req:    qc(`query($id: ID!) { note(contactId: $id, id: "nosuchnote") { id } }`),
			status: 200, code: "NOT_FOUND", path: []any{"note"}, calls: "get-note",
		},
		"UNAUTHENTICATED: no token": {
			req: func(e *e2e, f fixture) request {
				return request{query: `query($id: ID!) { contact(id: $id) { id } }`, vars: map[string]any{"id": f.contactID}}
			},
			status: 200, code: "UNAUTHENTICATED", path: []any{"contact"},
		},
		"UNAUTHENTICATED: unknown opaque token": {
			req: func(e *e2e, f fixture) request {
				return request{token: "pit-00000000-0000-0000-0000-000000000000", locationID: e.locA,
					query: `query($id: ID!) { contact(id: $id) { id } }`, vars: map[string]any{"id": f.contactID}}
			},
			status: 200, code: "UNAUTHENTICATED", path: []any{"contact"}, calls: "get-contact",
		},
		"UNAUTHENTICATED: forged JWT naming a real location": {
			req: func(e *e2e, f fixture) request {
				return request{token: forgedJWT(e.locA), query: `query($id: ID!) { contact(id: $id) { id } }`, vars: map[string]any{"id": f.contactID}}
			},
			status: 200, code: "UNAUTHENTICATED", path: []any{"contact"}, calls: "get-contact",
		},
		"FORBIDDEN: read-only JWT, mutation refused before any call": {
			req: func(e *e2e, f fixture) request {
				return request{token: e.sb.AccessToken(e.locA, sandbox.ScopeContactsRead),
					query: `mutation($id: ID!) { addContactTags(contactId: $id, tags: ["x"]) { tags } }`, vars: map[string]any{"id": f.contactID}}
			},
			status: 200, code: "FORBIDDEN", path: []any{"addContactTags"},
		},
		"FORBIDDEN: read-only opaque token, the upstream's scope refusal": {
			req: func(e *e2e, f fixture) request {
				return request{token: e.sb.Token(e.locA, sandbox.ScopeContactsRead), locationID: e.locA,
					query: `mutation($id: ID!) { addContactTags(contactId: $id, tags: ["x"]) { tags } }`, vars: map[string]any{"id": f.contactID}}
			},
			status: 200, code: "FORBIDDEN", path: []any{"addContactTags"}, calls: "add-tags",
			check: func(t *testing.T, e *e2e, r response) {
				if e.sb.Applied("add-tags") != 0 {
					t.Error("the refused write was applied")
				}
			},
		},
		"FORBIDDEN: locationId of another location": {
			req: func(e *e2e, f fixture) request {
				return request{token: e.token, query: `query($l: ID) { contacts(locationId: $l) { totalCount } }`, vars: map[string]any{"l": e.locB}}
			},
			status: 200, code: "FORBIDDEN", path: []any{"contacts"},
		},
		"RATE_LIMITED with retryAfter": {
			setup: func(t *testing.T, e *e2e, f fixture) {
				e.sb.SetRateLimit(sandbox.RateLimit{Max: 3, Interval: time.Hour})
				// Three other contacts, so that no answer can come from a cache.
				var n int
				for _, id := range e.sb.ContactIDs(e.locA) {
					if id == f.contactID || n == 3 {
						continue
					}
					e.gql(e.token, `query($id: ID!) { contact(id: $id) { id } }`, map[string]any{"id": id}).ok(t)
					n++
				}
			},
			req:    qc(`query($id: ID!) { contact(id: $id) { id } }`),
			status: 200, code: "RATE_LIMITED", path: []any{"contact"}, calls: "get-contact",
			check: func(t *testing.T, e *e2e, r response) {
				ra, ok := r.Errors[0].Extensions["retryAfter"].(float64)
				if !ok || ra < 1 || ra > 3600 || ra != float64(int(ra)) {
					t.Errorf("retryAfter = %v, want whole seconds in 1..3600", r.Errors[0].Extensions["retryAfter"])
				}
			},
		},
		"UPSTREAM_TIMEOUT": {
			opts:   []e2eOption{withClientOptions(upstream.WithTimeout(100 * time.Millisecond))},
			setup:  func(t *testing.T, e *e2e, f fixture) { e.sb.SetLatency(time.Minute, 0) },
			req:    qc(`query($id: ID!) { contact(id: $id) { id } }`),
			status: 200, code: "UPSTREAM_TIMEOUT", path: []any{"contact"}, calls: "get-contact",
		},
		"UPSTREAM_TIMEOUT: the request's own deadline": {
			// The client's own timeout only keeps a call that outlives its
			// request (see TestRegressionAbandonedUpstreamCallKeepsRunning) short.
			opts: []e2eOption{withServer(func(c *server.Config) { c.RequestTimeout = 100 * time.Millisecond }),
				withClientOptions(upstream.WithTimeout(2 * time.Second))},
			setup:  func(t *testing.T, e *e2e, f fixture) { e.sb.SetLatency(time.Minute, 0) },
			req:    qc(`query($id: ID!) { contact(id: $id) { id } }`),
			status: 200, code: "UPSTREAM_TIMEOUT", path: []any{"contact"}, calls: "get-contact",
		},
		"BAD_USER_INPUT: HighLevel refuses a duplicate email": {
			req: func(e *e2e, f fixture) request {
				return request{token: e.token, query: `mutation($e: String) { createContact(input: {firstName: "Twin", email: $e}) { contact { id } } }`,
					vars: map[string]any{"e": e.contact(e.t, f.contactID).Email}}
			},
			status: 200, code: "BAD_USER_INPUT", path: []any{"createContact"}, calls: "create-contact",
			check: func(t *testing.T, e *e2e, r response) {
				if n := e.sb.Applied("create-contact"); n != 0 {
					t.Errorf("the duplicate was created (%d)", n)
				}
			},
		},
		"UPSTREAM_ERROR: a create whose answer is lost is not repeated": {
			setup: func(t *testing.T, e *e2e, f fixture) {
				e.sb.SetFaults(sandbox.Faults{Rate: 1, Kinds: []sandbox.FaultKind{sandbox.FaultDropAfterWrite}, Ops: []string{"create-contact"}})
			},
			req:    q(`mutation { createContact(input: {firstName: "Once", email: "once@example.org"}) { contact { id } } }`, nil),
			status: 200, code: "UPSTREAM_ERROR", path: []any{"createContact"}, calls: "create-contact",
			check: func(t *testing.T, e *e2e, r response) {
				if c, a := e.sb.Calls("create-contact"), e.sb.Applied("create-contact"); c != 1 || a != 1 {
					t.Errorf("create-contact sent %d times, applied %d times; want 1 and 1", c, a)
				}
			},
		},
		"UPSTREAM_ERROR: malformed answer": {
			setup: func(t *testing.T, e *e2e, f fixture) {
				e.sb.SetFaults(sandbox.Faults{Rate: 1, Kinds: []sandbox.FaultKind{sandbox.FaultMalformed}, Ops: []string{"get-contact"}})
			},
			req:    qc(`query($id: ID!) { contact(id: $id) { id } }`),
			status: 200, code: "UPSTREAM_ERROR", path: []any{"contact"}, calls: "get-contact",
		},
		"UPSTREAM_ERROR: dropped connection": {
			setup: func(t *testing.T, e *e2e, f fixture) {
				e.sb.SetFaults(sandbox.Faults{Rate: 1, Kinds: []sandbox.FaultKind{sandbox.FaultDrop}, Ops: []string{"get-contact"}})
			},
			req:    qc(`query($id: ID!) { contact(id: $id) { id } }`),
			status: 200, code: "UPSTREAM_ERROR", path: []any{"contact"}, calls: "get-contact",
		},
		"UPSTREAM_ERROR: server error on a write": {
			setup: func(t *testing.T, e *e2e, f fixture) {
				e.sb.SetFaults(sandbox.Faults{Rate: 1, Kinds: []sandbox.FaultKind{sandbox.FaultServerError}, Ops: []string{"create-note"}})
			},
			req:    qc(`mutation($id: ID!) { createNote(contactId: $id, input: {body: "x"}) { note { id } } }`),
			status: 200, code: "UPSTREAM_ERROR", path: []any{"createNote"}, calls: "create-note",
		},
		// Request errors are 200 under application/json (GraphQL over HTTP).
		"GRAPHQL_PARSE_FAILED": {
			req:    q(`{ contact(id: "x" { id }`, nil),
			status: 200, code: "GRAPHQL_PARSE_FAILED",
		},
		"GRAPHQL_VALIDATION_FAILED: unknown enum value": {
			req:    q(`mutation { bulkUpdateContactTags(input: {action: SOMETIMES, contactIds: ["a"], tags: ["t"]}) { success } }`, nil),
			status: 200, code: "GRAPHQL_VALIDATION_FAILED",
		},
		"GRAPHQL_VALIDATION_FAILED: enum value in a variable": {
			req: q(`query($s: [ContactSort!]) { contacts(sort: $s) { totalCount } }`,
				map[string]any{"s": []any{map[string]any{"field": "dateAdded", "direction": "SIDEWAYS"}}}),
			status: 200, code: "GRAPHQL_VALIDATION_FAILED",
		},
		"GRAPHQL_VALIDATION_FAILED: wrong variable type": {
			req:    q(`query($n: Int) { contacts(first: $n) { totalCount } }`, map[string]any{"n": "ten"}),
			status: 200, code: "GRAPHQL_VALIDATION_FAILED",
		},
		"GRAPHQL_VALIDATION_FAILED: unknown field": {
			req:    q(`{ contact(id: "x") { id password } }`, nil),
			status: 200, code: "GRAPHQL_VALIDATION_FAILED",
		},
		"BAD_REQUEST: malformed JSON body": {
			req: func(e *e2e, f fixture) request {
				return request{token: e.token, rawBody: `{"query": "{ contact(id: \"x\") { id } }"`}
			},
			status: 400, code: "BAD_REQUEST",
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			tc.run(t)
		})
	}
}

// forgedJWT is a JWT-shaped token that names loc with every scope but that
// the upstream never issued.
func forgedJWT(loc string) string {
	enc := base64.RawURLEncoding.EncodeToString
	payload, _ := json.Marshal(map[string]any{"authClass": "Location", "authClassId": loc,
		"oauthMeta": map[string]any{"scopes": []string{"contacts.readonly", "contacts.write"}}})
	return enc([]byte(`{"alg":"HS256","typ":"JWT"}`)) + "." + enc(payload) + "." + enc([]byte("not the signature"))
}

func TestE2EBadUserInput(t *testing.T) {
	t.Parallel()
	e := newE2E(t)
	f := e.setup(t)
	long := strings.Repeat("x", 129)
	notACursor := base64.RawURLEncoding.EncodeToString([]byte(`{"x":1}`))
	tests := map[string]struct {
		query string
		vars  map[string]any
		path  string
	}{
		"createContact: bad email":                      {query: `mutation { createContact(input: {email: "not-an-email"}) { contact { id } } }`, path: "createContact"},
		"updateContact: bad email":                      {query: `mutation($id: ID!) { updateContact(id: $id, input: {email: "a@b"}) { contact { id } } }`, path: "updateContact"},
		"upsertContact: bad phone":                      {query: `mutation { upsertContact(input: {phone: "call me"}) { created } }`, path: "upsertContact"},
		"duplicateContact: bad email":                   {query: `{ duplicateContact(email: "nope@") { id } }`, path: "duplicateContact"},
		"duplicateContact: neither":                     {query: `{ duplicateContact { id } }`, path: "duplicateContact"},
		"createContact: no identity":                    {query: `mutation { createContact(input: {city: "Oslo"}) { contact { id } } }`, path: "createContact"},
		"upsertContact: no email, phone":                {query: `mutation { upsertContact(input: {firstName: "A"}) { created } }`, path: "upsertContact"},
		"contact: empty ID":                             {query: `{ contact(id: "") { id } }`, path: "contact"},
		"contact: blank ID":                             {query: `{ contact(id: "   ") { id } }`, path: "contact"},
		"contact: ID ..":                                {query: `{ contact(id: "..") { id } }`, path: "contact"},
		"contact: ID .":                                 {query: `{ contact(id: ".") { id } }`, path: "contact"},
		"contact: ID too long":                          {query: `query($id: ID!) { contact(id: $id) { id } }`, vars: map[string]any{"id": long}, path: "contact"},
		"contact: control character":                    {query: `query($id: ID!) { contact(id: $id) { id } }`, vars: map[string]any{"id": "a\nb"}, path: "contact"},
		"deleteContact: ID ..":                          {query: `mutation { deleteContact(id: "..") { success } }`, path: "deleteContact"},
		"task: empty contactId":                         {query: `{ task(contactId: "", id: "t") { id } }`, path: "task"},
		"contacts: invalid cursor":                      {query: `{ contacts(after: "not a cursor!") { totalCount } }`, path: "contacts"},
		"contacts: forged cursor":                       {query: `query($a: String) { contacts(after: $a) { totalCount } }`, vars: map[string]any{"a": notACursor}, path: "contacts"},
		"contactsByBusiness: bad cursor":                {query: `{ contactsByBusiness(businessId: "b", after: "%%%") { totalCount } }`, path: "contactsByBusiness"},
		"contactsLegacyList: bad cursor":                {query: `{ contactsLegacyList(after: "%%%") { totalCount } }`, path: "contactsLegacyList"},
		"contacts: first 0":                             {query: `{ contacts(first: 0) { totalCount } }`, path: "contacts"},
		"contacts: first 501":                           {query: `{ contacts(first: 501) { totalCount } }`, path: "contacts"},
		"contacts: first -1":                            {query: `{ contacts(first: -1) { totalCount } }`, path: "contacts"},
		"contactsByBusiness: first 101":                 {query: `{ contactsByBusiness(businessId: "b", first: 101) { totalCount } }`, path: "contactsByBusiness"},
		"contactsLegacyList: first 101":                 {query: `{ contactsLegacyList(first: 101) { totalCount } }`, path: "contactsLegacyList"},
		"contacts: filter without operator":             {query: `{ contacts(filters: [{field: "email"}]) { totalCount } }`, path: "contacts"},
		"contacts: filter without value":                {query: `{ contacts(filters: [{field: "email", operator: EQ}]) { totalCount } }`, path: "contacts"},
		"contacts: empty group":                         {query: `{ contacts(filters: [{group: OR, filters: []}]) { totalCount } }`, path: "contacts"},
		"contacts: RANGE without range":                 {query: `{ contacts(filters: [{field: "dateAdded", operator: RANGE}]) { totalCount } }`, path: "contacts"},
		"contacts: unknown sort field":                  {query: `{ contacts(sort: [{field: "password"}]) { totalCount } }`, path: "contacts"},
		"addContactTags: tags []":                       {query: `mutation($id: ID!) { addContactTags(contactId: $id, tags: []) { tags } }`, path: "addContactTags"},
		"removeContactTags: empty tag":                  {query: `mutation($id: ID!) { removeContactTags(contactId: $id, tags: [" "]) { tags } }`, path: "removeContactTags"},
		"addContactFollowers: []":                       {query: `mutation($id: ID!) { addContactFollowers(contactId: $id, followers: []) { followers } }`, path: "addContactFollowers"},
		"bulkUpdateContactTags: tags []":                {query: `mutation($id: ID!) { bulkUpdateContactTags(input: {action: ADD, contactIds: [$id], tags: []}) { success } }`, path: "bulkUpdateContactTags"},
		"bulkUpdateContactTags: no IDs":                 {query: `mutation { bulkUpdateContactTags(input: {action: ADD, contactIds: [], tags: ["t"]}) { success } }`, path: "bulkUpdateContactTags"},
		"bulkUpdateContactTags: removeAllTags with ADD": {query: `mutation($id: ID!) { bulkUpdateContactTags(input: {action: ADD, contactIds: [$id], removeAllTags: true}) { success } }`, path: "bulkUpdateContactTags"},
		"bulkSetContactsBusiness: no IDs":               {query: `mutation { bulkSetContactsBusiness(input: {contactIds: [], businessId: "b"}) { success } }`, path: "bulkSetContactsBusiness"},
		"createTask: empty title":                       {query: `mutation($id: ID!) { createTask(contactId: $id, input: {title: " ", dueDate: "2025-07-01T10:00:00Z"}) { task { id } } }`, path: "createTask"},
		"updateTask: null title":                        {query: `mutation($id: ID!) { updateTask(contactId: $id, id: "t", input: {title: null}) { task { id } } }`, path: "updateTask"},
		"createNote: empty body":                        {query: `mutation($id: ID!) { createNote(contactId: $id, input: {body: ""}) { note { id } } }`, path: "createNote"},
		"updateNote: null body":                         {query: `mutation($id: ID!) { updateNote(contactId: $id, id: "n", input: {body: null}) { note { id } } }`, path: "updateNote"},
		"addContactToCampaign: ID ..":                   {query: `mutation($id: ID!) { addContactToCampaign(contactId: $id, campaignId: "..") { success } }`, path: "addContactToCampaign"},
		"addContactToWorkflow: empty ID":                {query: `mutation($id: ID!) { addContactToWorkflow(contactId: $id, workflowId: "") { success } }`, path: "addContactToWorkflow"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			vars := map[string]any{"id": f.contactID}
			for k, v := range tc.vars {
				vars[k] = v
			}
			if !strings.Contains(tc.query, "$id") {
				delete(vars, "id")
			}
			before := e.counters()
			r := e.gql(e.token, tc.query, vars)
			e.wantNoCalls(t, before)
			ge := r.wantError(t, http.StatusOK, "BAD_USER_INPUT", tc.path)
			if r.get(tc.path) != nil {
				t.Errorf("%s = %v, want null", tc.path, r.get(tc.path))
			}
			if ge.Message == "" || ge.Message == "internal server error" {
				t.Errorf("message %q does not say what is wrong", ge.Message)
			}
		})
	}
	// A nested field's bad input fails that field only, after its parent's call.
	t.Run("nested field: Business.contacts first 0", func(t *testing.T) {
		before := e.counters()
		r := e.gql(e.token, `query($id: ID!) { contact(id: $id) { id business { contacts(first: 0) { totalCount } } } }`,
			map[string]any{"id": f.contactID})
		e.wantExactly(t, before, map[string]int64{"get-contact": 1})
		r.wantError(t, http.StatusOK, "BAD_USER_INPUT", "contact", "business", "contacts")
		if str(r.get("contact.id")) != f.contactID {
			t.Errorf("contact = %v, want it despite the nested error", r.get("contact"))
		}
	})
}

// mutationCases are the coverage map's mutations: one valid request each.
func mutationCases() map[string]reach {
	out := map[string]reach{}
	for op, rc := range operationFields {
		if strings.HasPrefix(rc.field, "Mutation.") {
			out[op] = rc
		}
	}
	return out
}

func TestE2EReadOnlyCredentials(t *testing.T) {
	t.Parallel()
	muts := mutationCases()
	// Every mutation of the schema is in the coverage map, so every one is tried.
	schema, err := gqlparser.LoadSchema(&ast.Source{Name: "schema.graphqls", Input: server.SchemaSDL()})
	if err != nil {
		t.Fatal(err)
	}
	var inMap []string
	for _, rc := range muts {
		inMap = append(inMap, strings.TrimPrefix(rc.field, "Mutation."))
	}
	for _, fd := range schema.Mutation.Fields {
		if !slices.Contains(inMap, fd.Name) {
			t.Errorf("mutation %s is not in the coverage map", fd.Name)
		}
	}
	e := newE2E(t)
	f := e.setup(t)
	snapshot := e.contact(t, f.contactID)
	jwtRO := e.sb.AccessToken(e.locA, sandbox.ScopeContactsRead)
	pitRO := e.sb.Token(e.locA, sandbox.ScopeContactsRead)
	var sentOpaque int64
	for op, rc := range muts {
		field := strings.TrimPrefix(rc.field, "Mutation.")
		var vars map[string]any
		if rc.vars != nil {
			vars = rc.vars(e, f)
		}
		t.Run("read-only JWT/"+field, func(t *testing.T) {
			before := e.counters()
			r := e.send(request{token: jwtRO, query: rc.query, vars: vars})
			e.wantNoCalls(t, before)
			r.wantError(t, http.StatusOK, "FORBIDDEN", field)
			checkNoLeak(t, r.Body, jwtRO)
		})
		t.Run("read-only opaque token/"+field, func(t *testing.T) {
			// Only the upstream can tell what an opaque token may do: the
			// first mutation is sent and refused, and the gateway, having
			// learned the token lacks contacts.write, refuses the rest itself.
			before := e.counters()
			r := e.send(request{token: pitRO, locationID: e.locA, query: rc.query, vars: vars})
			if sentOpaque == 0 {
				e.wantExactly(t, before, map[string]int64{op: 1})
			} else {
				e.wantNoCalls(t, before)
			}
			sentOpaque += e.moved(before)[op]
			r.wantError(t, http.StatusOK, "FORBIDDEN", field)
			checkNoLeak(t, r.Body, pitRO)
		})
	}
	if sentOpaque != 1 {
		t.Errorf("the read-only opaque token's mutations reached the upstream %d times, want once", sentOpaque)
	}
	for op := range muts {
		if n := e.sb.Applied(op); n != 0 {
			t.Errorf("%s applied %d times with read-only credentials", op, n)
		}
	}
	if after := e.contact(t, f.contactID); !sameJSON(after, snapshot) {
		t.Errorf("the contact changed under read-only credentials:\nbefore %+v\nafter  %+v", snapshot, after)
	}
	// The same token reads.
	e.send(request{token: pitRO, locationID: e.locA, query: `query($id: ID!) { contact(id: $id) { id } }`,
		vars: map[string]any{"id": f.contactID}}).ok(t)
	e.gql(jwtRO, `query($id: ID!) { contact(id: $id) { id } }`, map[string]any{"id": f.contactID}).ok(t)
}

func TestE2EOtherLocationArgument(t *testing.T) {
	t.Parallel()
	e := newE2E(t)
	f := e.setup(t)
	tests := map[string]struct {
		query string
		path  string
	}{
		"contacts":                {`query($l: ID) { contacts(locationId: $l) { totalCount } }`, "contacts"},
		"contactsByBusiness":      {`query($l: ID, $b: ID!) { contactsByBusiness(businessId: $b, locationId: $l) { totalCount } }`, "contactsByBusiness"},
		"duplicateContact":        {`query($l: ID) { duplicateContact(email: "a@example.com", locationId: $l) { id } }`, "duplicateContact"},
		"contactsLegacyList":      {`query($l: ID) { contactsLegacyList(locationId: $l) { totalCount } }`, "contactsLegacyList"},
		"createContact":           {`mutation($l: ID) { createContact(input: {locationId: $l, firstName: "X"}) { contact { id } } }`, "createContact"},
		"upsertContact":           {`mutation($l: ID) { upsertContact(input: {locationId: $l, email: "x@example.com"}) { created } }`, "upsertContact"},
		"bulkUpdateContactTags":   {`mutation($l: ID, $c: ID!) { bulkUpdateContactTags(input: {action: ADD, contactIds: [$c], tags: ["t"], locationId: $l}) { success } }`, "bulkUpdateContactTags"},
		"bulkSetContactsBusiness": {`mutation($l: ID, $c: ID!) { bulkSetContactsBusiness(input: {contactIds: [$c], businessId: null, locationId: $l}) { success } }`, "bulkSetContactsBusiness"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			vars := map[string]any{"l": e.locB}
			if strings.Contains(tc.query, "$b") {
				vars["b"] = f.businessID
			}
			if strings.Contains(tc.query, "$c") {
				vars["c"] = f.contactID
			}
			before := e.counters()
			r := e.gql(e.token, tc.query, vars)
			e.wantNoCalls(t, before)
			r.wantError(t, http.StatusOK, "FORBIDDEN", tc.path)
		})
	}
}

// rootFieldsWithoutToken are requests for every root field, run without a
// credential: each must fail UNAUTHENTICATED, with no upstream call.
var rootFieldsWithoutToken = map[string]string{
	"contact":            `{ contact(id: "c") { id } }`,
	"contacts":           `{ contacts { totalCount } }`,
	"contactsByBusiness": `{ contactsByBusiness(businessId: "b") { totalCount } }`,
	"duplicateContact":   `{ duplicateContact(email: "a@example.com") { id } }`,
	"task":               `{ task(contactId: "c", id: "t") { id } }`,
	"note":               `{ note(contactId: "c", id: "n") { id } }`,
	"contactsLegacyList": `{ contactsLegacyList { totalCount } }`,
	"createContact":      `mutation { createContact(input: {firstName: "X"}) { contact { id } } }`,
	"deleteContact":      `mutation { deleteContact(id: "c") { success } }`,
	"addContactTags":     `mutation { addContactTags(contactId: "c", tags: ["t"]) { tags } }`,
}

func TestE2EUnauthenticatedRootFields(t *testing.T) {
	t.Parallel()
	e := newE2E(t)
	for name, query := range rootFieldsWithoutToken {
		t.Run(name, func(t *testing.T) {
			before := e.counters()
			r := e.gql("", query, nil)
			e.wantNoCalls(t, before)
			r.wantError(t, http.StatusOK, "UNAUTHENTICATED", name)
		})
	}
}

func TestE2EIDsStayInTheirPathSegment(t *testing.T) {
	t.Parallel()
	e := newE2E(t)
	f := e.setup(t)
	hostile := []string{"a/../../oauth/token", "x?y=1", "a#b", "%2e%2e", "../" + f.contactID, f.contactID + "/tasks",
		"search/duplicate", "..%2F..%2Foauth", "a b", "🙂"}
	for _, id := range hostile {
		t.Run("contact/"+id, func(t *testing.T) {
			before := e.counters()
			r := e.gql(e.token, `query($id: ID!) { contact(id: $id) { id } }`, map[string]any{"id": id})
			e.wantExactly(t, before, map[string]int64{"get-contact": 1})
			r.wantError(t, http.StatusOK, "NOT_FOUND", "contact")
		})
		t.Run("task id/"+id, func(t *testing.T) {
			before := e.counters()
			r := e.gql(e.token, `query($c: ID!, $id: ID!) { task(contactId: $c, id: $id) { id } }`, map[string]any{"c": f.contactID, "id": id})
			e.wantExactly(t, before, map[string]int64{"get-task": 1})
			r.wantError(t, http.StatusOK, "NOT_FOUND", "task")
		})
		t.Run("task contactId/"+id, func(t *testing.T) {
			before := e.counters()
			r := e.gql(e.token, `query($c: ID!, $id: ID!) { task(contactId: $c, id: $id) { id } }`, map[string]any{"c": id, "id": f.taskID})
			e.wantExactly(t, before, map[string]int64{"get-task": 1})
			r.wantError(t, http.StatusOK, "NOT_FOUND", "task")
		})
	}
	// Dot segments, and IDs equal to a literal segment of a route (which
	// would reach another operation), are refused before any call.
	for _, id := range []string{"..", ".", "search", "removeAll", "UPSERT"} {
		t.Run("contact/"+id, func(t *testing.T) {
			before := e.counters()
			r := e.gql(e.token, `query($id: ID!) { contact(id: $id) { id } }`, map[string]any{"id": id})
			e.wantNoCalls(t, before)
			r.wantError(t, http.StatusOK, "BAD_USER_INPUT", "contact")
		})
		t.Run("task/"+id, func(t *testing.T) {
			before := e.counters()
			r := e.gql(e.token, `query($c: ID!, $id: ID!) { task(contactId: $c, id: $id) { id } }`, map[string]any{"c": f.contactID, "id": id})
			e.wantNoCalls(t, before)
			r.wantError(t, http.StatusOK, "BAD_USER_INPUT", "task")
		})
	}
	// The hostile IDs reached nothing: the fixture's contact is unchanged and
	// still readable.
	e.gql(e.token, `query($id: ID!) { contact(id: $id) { id tasks { id } } }`, map[string]any{"id": f.contactID}).ok(t)
}

func TestE2ELocationDefaulting(t *testing.T) {
	t.Parallel()
	e := newE2E(t)
	idA := e.sb.ContactIDs(e.locA)[0]
	pit := e.sb.Token(e.locA, sandbox.ScopeContactsRead, sandbox.ScopeContactsWrite)
	jwtB := e.sb.AccessToken(e.locB, sandbox.ScopeContactsRead, sandbox.ScopeContactsWrite)
	const search = `{ contacts(first: 500) { totalCount nodes { locationId } } }`

	t.Run("JWT names its location", func(t *testing.T) {
		r := e.gql(e.token, search, nil).ok(t)
		if num(r.get("contacts.totalCount")) != contactsPerLocation {
			t.Errorf("totalCount = %v", r.get("contacts.totalCount"))
		}
		for _, l := range field(r.get("contacts.nodes"), "locationId") {
			if l != e.locA {
				t.Errorf("contact of %s", l)
			}
		}
	})
	t.Run("JWT ignores X-Location-Id", func(t *testing.T) {
		r := e.gqlLoc(e.token, e.locB, search, nil).ok(t)
		for _, l := range field(r.get("contacts.nodes"), "locationId") {
			if l != e.locA {
				t.Errorf("contact of %s", l)
			}
		}
	})
	t.Run("opaque token without X-Location-Id", func(t *testing.T) {
		before := e.counters()
		r := e.gql(pit, search, nil)
		e.wantNoCalls(t, before)
		ge := r.wantError(t, http.StatusOK, "BAD_USER_INPUT", "contacts")
		if !strings.Contains(ge.Message, "locationId") {
			t.Errorf("message %q does not name locationId", ge.Message)
		}
	})
	t.Run("opaque token with X-Location-Id", func(t *testing.T) {
		r := e.gqlLoc(pit, e.locA, search, nil).ok(t)
		if num(r.get("contacts.totalCount")) != contactsPerLocation {
			t.Errorf("totalCount = %v", r.get("contacts.totalCount"))
		}
		r = e.gqlLoc(pit, e.locA, `{ contactsLegacyList(first: 1) { totalCount } }`, nil).ok(t)
		if num(r.get("contactsLegacyList.totalCount")) != contactsPerLocation {
			t.Errorf("legacy totalCount = %v", r.get("contactsLegacyList.totalCount"))
		}
	})
	t.Run("opaque token with the locationId argument", func(t *testing.T) {
		r := e.gql(pit, `query($l: ID) { contacts(locationId: $l, first: 1) { totalCount } }`, map[string]any{"l": e.locA}).ok(t)
		if num(r.get("contacts.totalCount")) != contactsPerLocation {
			t.Errorf("totalCount = %v", r.get("contacts.totalCount"))
		}
	})
	t.Run("new opaque token with another location's header", func(t *testing.T) {
		// Nothing is known of this token yet: the upstream refuses it.
		before := e.counters()
		r := e.gqlLoc(e.sb.Token(e.locA, sandbox.ScopeContactsRead), e.locB, search, nil)
		e.wantOnly(t, before, "search-contacts-advanced")
		r.wantError(t, http.StatusOK, "FORBIDDEN", "contacts")
	})
	t.Run("known opaque token with another location's header", func(t *testing.T) {
		// pit's answers showed it belongs to A: refused before any call.
		before := e.counters()
		r := e.gqlLoc(pit, e.locB, search, nil)
		e.wantNoCalls(t, before)
		r.wantError(t, http.StatusForbidden, "FORBIDDEN")
	})
	t.Run("JWT of B cannot read A's contact", func(t *testing.T) {
		// A reads it first, so that a shared cache holds it. (Only scalar
		// fields: a child read still in flight after B's NOT_FOUND would be
		// counted against the next subtest.)
		const q = `query($id: ID!) { contact(id: $id) { id email } }`
		e.gql(e.token, q, map[string]any{"id": idA}).ok(t)
		before := e.counters()
		r := e.gql(jwtB, q, map[string]any{"id": idA})
		for op, n := range e.moved(before) {
			if op != "get-contact" || n != 1 {
				t.Errorf("upstream calls: %s %d times", op, n)
			}
		}
		r.wantError(t, http.StatusOK, "NOT_FOUND", "contact")
		if r.get("contact") != nil {
			t.Errorf("B read A's contact: %v", r.get("contact"))
		}
		checkNoLeak(t, r.Body, jwtB)
	})
	t.Run("JWT of B cannot search A", func(t *testing.T) {
		before := e.counters()
		r := e.gql(jwtB, `query($l: ID) { contacts(locationId: $l) { totalCount } }`, map[string]any{"l": e.locA})
		e.wantNoCalls(t, before)
		r.wantError(t, http.StatusOK, "FORBIDDEN", "contacts")
	})
	t.Run("JWT of B cannot change A's contact", func(t *testing.T) {
		tags := e.contact(t, idA).Tags
		before := e.counters()
		r := e.gql(jwtB, `mutation($id: ID!) { addContactTags(contactId: $id, tags: ["from-b"]) { tags } }`, map[string]any{"id": idA})
		e.wantOnly(t, before, "add-tags")
		r.wantError(t, http.StatusOK, "NOT_FOUND", "addContactTags")
		if got := e.contact(t, idA).Tags; !sameSet(got, tags) {
			t.Errorf("tags changed from %v to %v", tags, got)
		}
	})
}
