// End-to-end tests of issue 10's input defences, through the real handler
// and the sandbox: each argument cap (at the limit the call goes up, one
// over it is refused with BAD_USER_INPUT naming the argument and the limit,
// and the sandbox's call counters do not move); control characters in IDs
// and tags; another location's IDs answered exactly as unknown ones, in
// pass-through and managed mode, whether the upstream answers them 403 (as
// HighLevel does), 404 (as the sandbox does) or serves them; cursors bound
// to the listing that made them; and hasNextPage never without a usable
// endCursor, on every connection, to the last page.

package server_test

import (
	"encoding/json"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/ghl-graphql/gateway/auth"
	"github.com/ghl-graphql/gateway/resolvers"
	"github.com/ghl-graphql/gateway/server"
	"github.com/ghl-graphql/gateway/upstream"
	"github.com/ghl-graphql/gateway/upstream/sandbox"
)

// smallInputLimits keep the e2e payloads small; resolvers' own tests run
// every cap at its default too.
var smallInputLimits = resolvers.Limits{IDBytes: 24, QueryBytes: 16, ShortTextBytes: 32, TextBytes: 64,
	EmailBytes: 24, PhoneBytes: 16, TagBytes: 10, CustomFieldValueBytes: 20, Tags: 3, BulkIDs: 2, Followers: 2,
	CustomFields: 2, Filters: 3, FilterDepth: 2, FilterValues: 3, SortFields: 2}

var noCache = http.Header{"Cache-Control": {"no-cache"}}

func TestE2EInputCaps(t *testing.T) {
	t.Parallel()
	e := newE2E(t, withServer(func(c *server.Config) { c.InputLimits = smallInputLimits }))
	f := e.setup(t)
	others := e.sb.ContactIDs(e.locA)
	l := smallInputLimits
	rep := strings.Repeat
	nItems := func(n int, f func(i int) any) []any {
		out := make([]any, n)
		for i := range out {
			out[i] = f(i)
		}
		return out
	}
	email := func(n int) string { return rep("a", n-len("@example.com")) + "@example.com" }
	phone := func(n int) string { return "+1 555 010 " + rep("0", n-len("+1 555 010 ")) }
	exists := map[string]any{"field": "email", "operator": "EXISTS"}
	tests := []struct {
		name  string
		limit int
		path  string // what the refusal names
		op    string // the upstream operation an accepted request calls
		query string
		vars  func(n int) map[string]any
	}{
		{"contact ID", l.IDBytes, "id", "get-contact", `query($v: ID!) { contact(id: $v) { id } }`,
			func(n int) map[string]any { return map[string]any{"v": rep("x", n)} }},
		{"search query", l.QueryBytes, "query", "search-contacts-advanced", `query($v: String) { contacts(query: $v) { totalCount } }`,
			func(n int) map[string]any { return map[string]any{"v": rep("q", n)} }},
		{"name on update", l.ShortTextBytes, "input.firstName", "update-contact",
			`mutation($id: ID!, $v: String) { updateContact(id: $id, input: {firstName: $v}) { contact { id } } }`,
			func(n int) map[string]any { return map[string]any{"id": f.contactID, "v": rep("n", n)} }},
		{"name on create", l.ShortTextBytes, "input.firstName", "create-contact",
			`mutation($v: String) { createContact(input: {firstName: $v}) { contact { id } } }`,
			func(n int) map[string]any { return map[string]any{"v": rep("n", n)} }},
		{"note body on create", l.TextBytes, "input.body", "create-note",
			`mutation($id: ID!, $v: String!) { createNote(contactId: $id, input: {body: $v}) { note { id } } }`,
			func(n int) map[string]any { return map[string]any{"id": f.contactID, "v": rep("b", n)} }},
		{"note body on update", l.TextBytes, "input.body", "update-note",
			`mutation($id: ID!, $note: ID!, $v: String) { updateNote(contactId: $id, id: $note, input: {body: $v}) { note { id } } }`,
			func(n int) map[string]any {
				return map[string]any{"id": f.contactID, "note": f.noteID, "v": rep("b", n)}
			}},
		{"task body on update", l.TextBytes, "input.body", "update-task",
			`mutation($id: ID!, $task: ID!, $v: String) { updateTask(contactId: $id, id: $task, input: {body: $v}) { task { id } } }`,
			func(n int) map[string]any {
				return map[string]any{"id": f.contactID, "task": f.taskID, "v": rep("b", n)}
			}},
		{"email on update", l.EmailBytes, "input.email", "update-contact",
			`mutation($id: ID!, $v: String) { updateContact(id: $id, input: {email: $v}) { contact { id } } }`,
			func(n int) map[string]any { return map[string]any{"id": f.contactID, "v": email(n)} }},
		{"phone on update", l.PhoneBytes, "input.phone", "update-contact",
			`mutation($id: ID!, $v: String) { updateContact(id: $id, input: {phone: $v}) { contact { id } } }`,
			func(n int) map[string]any { return map[string]any{"id": f.contactID, "v": phone(n)} }},
		{"tag", l.TagBytes, "tags[0]", "add-tags",
			`mutation($id: ID!, $v: String!) { addContactTags(contactId: $id, tags: [$v]) { tags } }`,
			func(n int) map[string]any { return map[string]any{"id": f.contactID, "v": rep("t", n)} }},
		{"tags", l.Tags, "tags", "add-tags",
			`mutation($id: ID!, $v: [String!]!) { addContactTags(contactId: $id, tags: $v) { tags } }`,
			func(n int) map[string]any {
				return map[string]any{"id": f.contactID, "v": nItems(n, func(i int) any { return "cap" + strconv.Itoa(i) })}
			}},
		{"bulk contact IDs", l.BulkIDs, "input.contactIds", "create-association",
			`mutation($v: [ID!]!) { bulkUpdateContactTags(input: {action: ADD, contactIds: $v, tags: ["bulk"]}) { success } }`,
			func(n int) map[string]any {
				return map[string]any{"v": nItems(n, func(i int) any { return others[i] })}
			}},
		{"followers", l.Followers, "followers", "add-followers-contact",
			`mutation($id: ID!, $v: [ID!]!) { addContactFollowers(contactId: $id, followers: $v) { changed } }`,
			func(n int) map[string]any {
				return map[string]any{"id": f.contactID, "v": nItems(n, func(i int) any { return "user" + strconv.Itoa(i) })}
			}},
		{"custom fields", l.CustomFields, "input.customFields", "update-contact",
			`mutation($id: ID!, $v: [CustomFieldInput!]) { updateContact(id: $id, input: {customFields: $v}) { contact { id } } }`,
			func(n int) map[string]any {
				return map[string]any{"id": f.contactID, "v": nItems(n, func(i int) any { return map[string]any{"key": "contact.k" + strconv.Itoa(i), "value": "v"} })}
			}},
		{"custom field value", l.CustomFieldValueBytes, "input.customFields[0].value", "update-contact",
			`mutation($id: ID!, $v: JSON) { updateContact(id: $id, input: {customFields: [{key: "contact.k", value: $v}]}) { contact { id } } }`,
			func(n int) map[string]any { return map[string]any{"id": f.contactID, "v": rep("v", n-2)} }},
		{"filters", l.Filters, "filters", "search-contacts-advanced",
			`query($v: [ContactFilter!]) { contacts(filters: $v) { totalCount } }`,
			func(n int) map[string]any { return map[string]any{"v": nItems(n, func(int) any { return exists })} }},
		{"filter depth", l.FilterDepth, "filters[0]", "search-contacts-advanced",
			`query($v: [ContactFilter!]) { contacts(filters: $v) { totalCount } }`,
			func(n int) map[string]any {
				var v any = exists
				for range n - 1 {
					v = map[string]any{"group": "OR", "filters": []any{v}}
				}
				return map[string]any{"v": []any{v}}
			}},
		{"filter values", l.FilterValues, "filters[0].value", "search-contacts-advanced",
			`query($v: JSON) { contacts(filters: [{field: "tags", operator: EQ, value: $v}]) { totalCount } }`,
			func(n int) map[string]any {
				return map[string]any{"v": nItems(n, func(i int) any { return "t" + strconv.Itoa(i) })}
			}},
		{"sort entries", l.SortFields, "sort", "search-contacts-advanced",
			`query($v: [ContactSort!]) { contacts(sort: $v) { totalCount } }`,
			func(n int) map[string]any {
				fields := []string{"dateAdded", "firstName", "lastName", "email"}
				return map[string]any{"v": nItems(n, func(i int) any { return map[string]any{"field": fields[i]} })}
			}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := e.counters()
			r := e.send(request{token: e.token, query: tc.query, vars: tc.vars(tc.limit), header: noCache})
			if e.moved(before)[tc.op] < 1 {
				t.Errorf("at the limit (%d): %s was not called; answer %s", tc.limit, tc.op, r.Body)
			}
			if strings.Contains(r.Body, "over the limit") {
				t.Errorf("at the limit (%d): refused: %s", tc.limit, r.Body)
			}
			before = e.counters()
			r = e.send(request{token: e.token, query: tc.query, vars: tc.vars(tc.limit + 1), header: noCache})
			e.wantNoCalls(t, before)
			ge := r.wantError(t, http.StatusOK, "BAD_USER_INPUT")
			if !strings.HasPrefix(ge.Message, tc.path) || !strings.Contains(ge.Message, strconv.Itoa(tc.limit)) {
				t.Errorf("message %q does not name %s and the limit %d", ge.Message, tc.path, tc.limit)
			}
		})
	}
}

// TestE2ETextLimitOnUpdates: the default 64 KB body limit holds on updates
// as on creates (it used to apply to creates only).
func TestE2ETextLimitOnUpdates(t *testing.T) {
	t.Parallel()
	e := newE2E(t)
	f := e.setup(t)
	max := resolvers.DefaultLimits.TextBytes
	for _, tc := range []struct{ name, query string }{
		{"createNote", `mutation($id: ID!, $v: String!) { createNote(contactId: $id, input: {body: $v}) { note { id } } }`},
		{"updateNote", `mutation($id: ID!, $x: ID!, $v: String) { updateNote(contactId: $id, id: $x, input: {body: $v}) { note { id } } }`},
		{"createTask", `mutation($id: ID!, $v: String) { createTask(contactId: $id, input: {title: "t", body: $v, dueDate: "2026-01-01T00:00:00Z"}) { task { id } } }`},
		{"updateTask", `mutation($id: ID!, $x: ID!, $v: String) { updateTask(contactId: $id, id: $x, input: {body: $v}) { task { id } } }`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			x := f.noteID
			if strings.Contains(tc.name, "Task") {
				x = f.taskID
			}
			vars := map[string]any{"id": f.contactID, "v": strings.Repeat("b", max+1)}
			if strings.Contains(tc.query, "$x") {
				vars["x"] = x
			}
			before := e.counters()
			r := e.gql(e.token, tc.query, vars)
			e.wantNoCalls(t, before)
			ge := r.wantError(t, http.StatusOK, "BAD_USER_INPUT", tc.name)
			if !strings.Contains(ge.Message, "input.body") || !strings.Contains(ge.Message, strconv.Itoa(max)) {
				t.Errorf("message %q", ge.Message)
			}
			vars["v"] = strings.Repeat("b", max)
			e.gql(e.token, tc.query, vars).ok(t)
		})
	}
}

func TestE2EControlCharacters(t *testing.T) {
	t.Parallel()
	e := newE2E(t)
	f := e.setup(t)
	tests := []struct {
		name, query string
		vars        map[string]any
	}{
		{"contact ID with NUL", `query($v: ID!) { contact(id: $v) { id } }`, map[string]any{"v": f.contactID + "\x00"}},
		{"contact ID with a newline", `query($v: ID!) { contact(id: $v) { id } }`, map[string]any{"v": "a\nb"}},
		{"contact ID with zero-width space", `query($v: ID!) { contact(id: $v) { id } }`, map[string]any{"v": f.contactID + "\u200b"}},
		{"task contactId with bidi override", `query($v: ID!) { task(contactId: $v, id: "t") { id } }`, map[string]any{"v": "\u202e" + f.contactID}},
		{"location ID with ESC", `query($v: ID) { contacts(locationId: $v) { totalCount } }`, map[string]any{"v": e.locA + "\x1b"}},
		{"tag contactId with a control", `mutation($v: ID!) { addContactTags(contactId: $v, tags: ["x"]) { tags } }`, map[string]any{"v": "c\x01"}},
		{"follower with line separator", `mutation($id: ID!, $v: ID!) { addContactFollowers(contactId: $id, followers: [$v]) { changed } }`, map[string]any{"id": f.contactID, "v": "u\u2028"}},
		{"bulk contact ID with DEL", `mutation($v: ID!) { bulkSetContactsBusiness(input: {contactIds: [$v]}) { success } }`, map[string]any{"v": "c\x7f"}},
		{"added tag with NUL", `mutation($id: ID!, $v: String!) { addContactTags(contactId: $id, tags: [$v]) { tags } }`, map[string]any{"id": f.contactID, "v": "vip\x00"}},
		{"added tag with a newline", `mutation($id: ID!, $v: String!) { addContactTags(contactId: $id, tags: [$v]) { tags } }`, map[string]any{"id": f.contactID, "v": "vip\nadmin"}},
		{"removed tag with bidi override", `mutation($id: ID!, $v: String!) { removeContactTags(contactId: $id, tags: [$v]) { tags } }`, map[string]any{"id": f.contactID, "v": "\u202evip"}},
		{"created tag with BEL", `mutation($v: String!) { createContact(input: {name: "x", tags: [$v]}) { contact { id } } }`, map[string]any{"v": "\x07"}},
		{"updated tag with a C1 control", `mutation($id: ID!, $v: String!) { updateContact(id: $id, input: {tags: [$v]}) { contact { id } } }`, map[string]any{"id": f.contactID, "v": "a\u0085"}},
		{"bulk tag with a tab", `mutation($id: ID!, $v: String!) { bulkUpdateContactTags(input: {action: ADD, contactIds: [$id], tags: [$v]}) { success } }`, map[string]any{"id": f.contactID, "v": "a\tb"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := e.counters()
			r := e.send(request{token: e.token, query: tc.query, vars: tc.vars, header: noCache})
			e.wantNoCalls(t, before)
			r.wantError(t, http.StatusOK, "BAD_USER_INPUT")
		})
	}
	// A nested field's bad ID fails that field alone, and its read is not
	// started with the contact's.
	before := e.counters()
	r := e.send(request{token: e.token, query: `query($id: ID!, $v: ID!) { contact(id: $id) { id task(id: $v) { id } } }`,
		vars: map[string]any{"id": f.contactID, "v": "t\t1"}, header: noCache})
	e.wantExactly(t, before, map[string]int64{"get-contact": 1})
	r.wantError(t, http.StatusOK, "BAD_USER_INPUT", "contact", "task")
	if str(r.get("contact.id")) != f.contactID {
		t.Errorf("contact = %v", r.get("contact"))
	}
	// An emoji tag (with a zero-width joiner) is a tag.
	r = e.gql(e.token, `mutation($id: ID!) { addContactTags(contactId: $id, tags: ["👩‍💻"]) { tags } }`, map[string]any{"id": f.contactID}).ok(t)
	if !slices.Contains(strs(r.get("addContactTags.tags")), "👩‍💻") {
		t.Errorf("tags = %v", r.get("addContactTags.tags"))
	}
}

// highLevelLocationRefusal makes the sandbox answer a request about
// another location's contact (of Locations()[1], whose tokens the tests do
// not use) as HighLevel does, 403, rather than the sandbox's 404.
func highLevelLocationRefusal(next http.Handler) http.Handler {
	sb := next.(*sandbox.Server)
	locB := sb.Locations()[1]
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		claims, _ := auth.ParseAccessToken(strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer "))
		if id, ok := contactInPath(r.URL.EscapedPath()); ok && claims.LocationID != locB && slices.Contains(sb.ContactIDs(locB), id) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusForbidden)
			_, _ = io.WriteString(w, `{"statusCode":403,"message":"The token does not have access to this location."}`)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// lenientUpstream serves GET /contacts/{id} of another location's contact
// (of Locations()[1]) whatever the token: an upstream that does not check.
func lenientUpstream(next http.Handler) http.Handler {
	sb := next.(*sandbox.Server)
	locB := sb.Locations()[1]
	tokenB := sb.AccessToken(locB, sandbox.ScopeContactsRead)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if id, ok := contactInPath(r.URL.EscapedPath()); ok && r.Method == http.MethodGet &&
			r.URL.EscapedPath() == "/contacts/"+id && slices.Contains(sb.ContactIDs(locB), id) {
			r = r.Clone(r.Context())
			r.Header.Set("Authorization", "Bearer "+tokenB)
		}
		next.ServeHTTP(w, r)
	})
}

// contactInPath returns the contact ID of a /contacts/{contactId}... path.
func contactInPath(p string) (string, bool) {
	rest, ok := strings.CutPrefix(p, "/contacts/")
	if !ok {
		return "", false
	}
	id, _, _ := strings.Cut(rest, "/")
	switch id {
	case "", "search", "upsert", "bulk", "business":
		return "", false
	}
	return id, true
}

// TestE2ENoExistenceOracle: a contact of another location (its children
// too, by read and by write) answers exactly as an unknown ID: the same
// HTTP status and the same bytes (message, path, extensions), in
// pass-through and managed mode, whatever the upstream says of it.
func TestE2ENoExistenceOracle(t *testing.T) {
	t.Parallel()
	upstreams := map[string]func(http.Handler) http.Handler{
		"sandbox 404":   nil,
		"HighLevel 403": highLevelLocationRefusal,
		"lenient 200":   lenientUpstream,
	}
	queries := map[string]string{
		"snapshot":    `query($c: ID!, $t: ID!) { contact(id: $c) { id email tasks { id } notes { id } appointments { id } task(id: $t) { id } } }`,
		"task":        `query($c: ID!, $t: ID!) { task(contactId: $c, id: $t) { id title } }`,
		"note":        `query($c: ID!, $t: ID!) { note(contactId: $c, id: $t) { id body } }`,
		"tags":        `mutation($c: ID!, $t: String!) { addContactTags(contactId: $c, tags: [$t]) { tags } }`,
		"task update": `mutation($c: ID!, $t: ID!) { updateTask(contactId: $c, id: $t, input: {title: "x"}) { task { id } } }`,
		"delete":      `mutation($c: ID!) { deleteContact(id: $c) { success } }`,
	}
	for upName, mw := range upstreams {
		for _, mode := range []string{"pass-through", "managed"} {
			t.Run(upName+"/"+mode, func(t *testing.T) {
				t.Parallel()
				var opts []e2eOption
				if mw != nil {
					opts = append(opts, withUpstreamMiddleware(mw))
				}
				var e *e2e
				var token string
				if mode == "managed" {
					var clients managedClients
					e, clients = newManagedE2EAt(t, nil, opts...)
					token = clients.writeKey
				} else {
					e = newE2E(t, opts...)
					token = e.token
				}
				theirs := e.sb.ContactIDs(e.locB)[0]
				tasks, _, err := e.client.Tasks.List(e.ctx(e.sb.AccessToken(e.locB, sandbox.ScopeContactsRead)), theirs)
				if err != nil {
					t.Fatal(err)
				}
				unknown, unknownTask := strings.Repeat("u", len(theirs)), "unknownTask000000000"
				theirTask := unknownTask
				if len(tasks) > 0 {
					theirTask = tasks[0].ID
				}
				for name, q := range queries {
					t.Run(name, func(t *testing.T) {
						vars := func(c, task string) map[string]any {
							v := map[string]any{"c": c}
							if strings.Contains(q, "$t") {
								v["t"] = task
							}
							return v
						}
						a := e.send(request{token: token, query: q, vars: vars(unknown, unknownTask), header: noCache})
						b := e.send(request{token: token, query: q, vars: vars(theirs, theirTask), header: noCache})
						if a.Status != b.Status || a.Body != b.Body {
							t.Errorf("unknown ID:          %d %s\nother location's ID: %d %s", a.Status, a.Body, b.Status, b.Body)
						}
						if c := b.code(t); c != "NOT_FOUND" {
							t.Errorf("code %s, want NOT_FOUND: %s", c, b.Body)
						}
						if strings.Contains(b.Body, theirs) || strings.Contains(b.Body, "access to this location") {
							t.Errorf("the answer tells: %s", b.Body)
						}
					})
				}
				if _, ok := e.sb.Contact(theirs); !ok {
					t.Error("the other location's contact was deleted")
				}
			})
		}
	}
}

func TestE2ECursorBoundToItsListing(t *testing.T) {
	t.Parallel()
	e := newE2E(t)
	f := e.setup(t)
	page := func(q string, vars map[string]any, path string) string {
		t.Helper()
		r := e.send(request{token: e.token, query: q, vars: vars, header: noCache}).ok(t)
		c := str(r.get(path + ".pageInfo.endCursor"))
		if c == "" || r.get(path+".pageInfo.hasNextPage") != true {
			t.Fatalf("no next page: %s", r.Body)
		}
		return c
	}
	const search = `query($q: String, $f: [ContactFilter!], $s: [ContactSort!], $after: String) {
  contacts(query: $q, filters: $f, sort: $s, first: 2, after: $after) { pageInfo { hasNextPage endCursor } nodes { id } } }`
	const legacy = `query($after: String) { contactsLegacyList(first: 2, after: $after) { pageInfo { hasNextPage endCursor } nodes { id } } }`
	const business = `query($b: ID!, $after: String) { contactsByBusiness(businessId: $b, first: 1, after: $after) { pageInfo { hasNextPage endCursor } nodes { id } } }`
	vip := []any{map[string]any{"field": "email", "operator": "EXISTS"}}
	newest := []any{map[string]any{"field": "dateAdded", "direction": "DESC"}}
	searchCursor := page(search, map[string]any{"f": vip, "s": newest}, "contacts")
	legacyCursor := page(legacy, nil, "contactsLegacyList")
	// The business of the fixture has other contacts? Any business with two.
	businessCursor := ""
	for _, b := range append([]string{f.businessID}, e.sb.Businesses(e.locA)...) {
		r := e.send(request{token: e.token, query: business, vars: map[string]any{"b": b}, header: noCache}).ok(t)
		if r.get("contactsByBusiness.pageInfo.hasNextPage") == true {
			businessCursor = str(r.get("contactsByBusiness.pageInfo.endCursor"))
			f.businessID = b
			break
		}
	}
	if businessCursor == "" {
		t.Fatal("no business with two contacts")
	}
	tests := []struct {
		name, query string
		vars        map[string]any
		ok          bool
	}{
		{"search cursor, same search", search, map[string]any{"f": vip, "s": newest, "after": searchCursor}, true},
		{"search cursor, another query", search, map[string]any{"q": "a", "f": vip, "s": newest, "after": searchCursor}, false},
		{"search cursor, without the filters", search, map[string]any{"s": newest, "after": searchCursor}, false},
		{"search cursor, another sort", search, map[string]any{"f": vip, "s": []any{map[string]any{"field": "dateAdded"}}, "after": searchCursor}, false},
		{"search cursor, default sort", search, map[string]any{"f": vip, "after": searchCursor}, false},
		{"search cursor on the legacy list", legacy, map[string]any{"after": searchCursor}, false},
		{"legacy cursor, same list", legacy, map[string]any{"after": legacyCursor}, true},
		{"legacy cursor on a search", search, map[string]any{"after": legacyCursor}, false},
		{"business cursor, same business", business, map[string]any{"b": f.businessID, "after": businessCursor}, true},
		{"business cursor on another business", business, map[string]any{"b": "otherBusiness0000000", "after": businessCursor}, false},
		{"business cursor on a search", search, map[string]any{"after": businessCursor}, false},
		{"unbound cursor", search, map[string]any{"after": upstream.SearchCursor{Offset: 2}.Encode()}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := e.counters()
			r := e.send(request{token: e.token, query: tc.query, vars: tc.vars, header: noCache})
			if tc.ok {
				r.ok(t)
				return
			}
			e.wantNoCalls(t, before)
			ge := r.wantError(t, http.StatusOK, "BAD_USER_INPUT")
			if !strings.HasPrefix(ge.Message, "after") {
				t.Errorf("message %q does not name after", ge.Message)
			}
		})
	}
}

// inflateTotals makes the upstream's search and listing answers claim five
// more results than they hold: the last page then looks short of the total,
// and used to answer hasNextPage true with a null endCursor.
func inflateTotals(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := r.URL.EscapedPath()
		if p != "/contacts/search" && p != "/contacts/" && !strings.HasPrefix(p, "/contacts/business/") {
			next.ServeHTTP(w, r)
			return
		}
		rec := &bufferedWriter{header: http.Header{}}
		next.ServeHTTP(rec, r)
		var body map[string]any
		if rec.status == http.StatusOK && json.Unmarshal(rec.body, &body) == nil {
			for _, k := range []string{"total", "count"} {
				if n, ok := body[k].(float64); ok {
					body[k] = n + 5
				}
			}
			if m, ok := body["meta"].(map[string]any); ok {
				if n, ok := m["total"].(float64); ok {
					m["total"] = n + 5
				}
			}
			rec.body, _ = json.Marshal(body)
		}
		for k, v := range rec.header {
			w.Header()[k] = v
		}
		if rec.status == 0 {
			rec.status = http.StatusOK
		}
		w.Header().Set("Content-Length", strconv.Itoa(len(rec.body)))
		w.WriteHeader(rec.status)
		_, _ = w.Write(rec.body)
	})
}

type bufferedWriter struct {
	header http.Header
	status int
	body   []byte
}

func (b *bufferedWriter) Header() http.Header { return b.header }
func (b *bufferedWriter) WriteHeader(s int)   { b.status = s }
func (b *bufferedWriter) Write(p []byte) (int, error) {
	if b.status == 0 {
		b.status = http.StatusOK
	}
	b.body = append(b.body, p...)
	return len(p), nil
}

// TestE2EPagingEndsOnEveryConnection pages every connection of the schema
// to its end, as a client does (follow endCursor while hasNextPage), with
// exact totals and with totals the upstream overstates: every page with
// hasNextPage has an endCursor, the walk ends, and it sees each contact
// once.
func TestE2EPagingEndsOnEveryConnection(t *testing.T) {
	t.Parallel()
	for _, inflated := range []bool{false, true} {
		name := "exact totals"
		var opts []e2eOption
		if inflated {
			name = "overstated totals"
			opts = append(opts, withUpstreamMiddleware(inflateTotals))
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			e := newE2E(t, opts...)
			f := e.setup(t)
			// The business with the most contacts.
			counts := map[string]int{}
			for _, c := range e.contactsOf(t, e.locA) {
				if c.BusinessID != "" {
					counts[c.BusinessID]++
				}
			}
			biz := f.businessID
			for b, n := range counts {
				if n > counts[biz] {
					biz = b
				}
			}
			var bizContact string
			for _, c := range e.contactsOf(t, e.locA) {
				if c.BusinessID == biz {
					bizContact = c.ID
				}
			}
			connections := []struct {
				name, query, path string
				vars              map[string]any
				want              int
			}{
				{"contacts", `query($after: String) { contacts(first: 7, after: $after) { totalCount pageInfo { hasNextPage endCursor } edges { cursor node { id } } } }`,
					"contacts", nil, contactsPerLocation},
				{"contacts sorted, filtered", `query($after: String) { contacts(first: 3, after: $after, sort: [{field: "firstName"}], filters: [{field: "email", operator: EXISTS}]) { totalCount pageInfo { hasNextPage endCursor } edges { cursor node { id } } } }`,
					"contacts", nil, -1},
				{"contactsLegacyList", `query($after: String) { contactsLegacyList(first: 6, after: $after) { totalCount pageInfo { hasNextPage endCursor } edges { cursor node { id } } } }`,
					"contactsLegacyList", nil, contactsPerLocation},
				{"contactsByBusiness", `query($b: ID!, $after: String) { contactsByBusiness(businessId: $b, first: 2, after: $after) { totalCount pageInfo { hasNextPage endCursor } edges { cursor node { id } } } }`,
					"contactsByBusiness", map[string]any{"b": biz}, counts[biz]},
				{"Business.contacts", `query($c: ID!, $after: String) { contact(id: $c) { business { contacts(first: 2, after: $after) { totalCount pageInfo { hasNextPage endCursor } edges { cursor node { id } } } } } }`,
					"contact.business.contacts", map[string]any{"c": bizContact}, counts[biz]},
			}
			for _, cn := range connections {
				t.Run(cn.name, func(t *testing.T) {
					var after any
					seen := map[string]bool{}
					pages := 0
					for {
						pages++
						if pages > contactsPerLocation+2 {
							t.Fatalf("paging does not end after %d pages", pages)
						}
						vars := map[string]any{"after": after}
						for k, v := range cn.vars {
							vars[k] = v
						}
						r := e.send(request{token: e.token, query: cn.query, vars: vars}).ok(t)
						conn := r.get(cn.path)
						edges := list(dig(conn, "edges"))
						for _, ed := range edges {
							id := str(dig(ed, "node.id"))
							if seen[id] {
								t.Errorf("page %d repeats %s", pages, id)
							}
							seen[id] = true
						}
						end := dig(conn, "pageInfo.endCursor")
						if len(edges) > 0 && str(end) != str(dig(edges[len(edges)-1], "cursor")) {
							t.Errorf("page %d: endCursor %v is not the last edge's cursor", pages, end)
						}
						if dig(conn, "pageInfo.hasNextPage") != true {
							break
						}
						if str(end) == "" {
							t.Fatalf("page %d: hasNextPage with endCursor %v", pages, end)
						}
						after = end
					}
					if cn.want >= 0 && len(seen) != cn.want {
						t.Errorf("saw %d contacts in %d pages, want %d", len(seen), pages, cn.want)
					}
					if len(seen) == 0 {
						t.Error("saw no contacts")
					}
				})
			}
		})
	}
}

// TestE2ELocationHeaderCapped: a location named by X-Location-Id is held to
// the rules of a locationId argument before any call. (Control characters
// cannot be sent in a header: net/http refuses them on both sides.)
func TestE2ELocationHeaderCapped(t *testing.T) {
	t.Parallel()
	e := newE2E(t)
	pit := e.sb.Token(e.locA, sandbox.ScopeContactsRead)
	for name, loc := range map[string]string{
		"too long":             strings.Repeat("L", resolvers.DefaultLimits.IDBytes+1),
		"with a bidi override": "\u202e" + e.locA,
	} {
		t.Run(name, func(t *testing.T) {
			before := e.counters()
			r := e.send(request{token: pit, locationID: loc, query: `{ contacts { totalCount } }`, header: noCache})
			e.wantNoCalls(t, before)
			if r.Status == http.StatusOK {
				r.wantError(t, http.StatusOK, "BAD_USER_INPUT", "contacts")
			} else if len(r.Errors) == 0 {
				t.Errorf("status %d without errors: %s", r.Status, r.Body)
			}
		})
	}
}
