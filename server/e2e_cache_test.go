// End-to-end tests of what any caching between requests must preserve:
// a read after a write sees the write, whoever made it, and an answer
// fetched with one credential is never served to another.

package server_test

import (
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/ghl-graphql/gateway/upstream/sandbox"
)

func TestE2EReadsAfterWrites(t *testing.T) {
	t.Parallel()
	e := newE2E(t)
	ids := e.sb.ContactIDs(e.locA)
	x := ids[5]
	pit := e.sb.Token(e.locA, sandbox.ScopeContactsRead, sandbox.ScopeContactsWrite)
	read := func(t *testing.T, query string, vars map[string]any) response {
		t.Helper()
		return e.gql(e.token, query, vars).ok(t)
	}
	const contactQ = `query($id: ID!) { contact(id: $id) { id city tags followers businessId
  tasks { id completed } notes { id body } } }`
	xv := map[string]any{"id": x}

	t.Run("updateContact by the same credential", func(t *testing.T) {
		read(t, contactQ, xv)
		e.gql(e.token, `mutation($id: ID!) { updateContact(id: $id, input: {city: "Reykjavik"}) { contact { id } } }`, xv).ok(t)
		if got := str(read(t, contactQ, xv).get("contact.city")); got != "Reykjavik" {
			t.Errorf("city after update = %q", got)
		}
	})
	t.Run("updateContact by another credential of the location", func(t *testing.T) {
		read(t, contactQ, xv)
		e.gqlLoc(pit, e.locA, `mutation($id: ID!) { updateContact(id: $id, input: {city: "Tromso"}) { contact { id } } }`, xv).ok(t)
		if got := str(read(t, contactQ, xv).get("contact.city")); got != "Tromso" {
			t.Errorf("city after another credential's update = %q", got)
		}
	})
	t.Run("tags, single and bulk", func(t *testing.T) {
		const filtered = `{ contacts(filters: [{field: "tags", operator: EQ, value: "fresh-tag"}]) { totalCount nodes { id } } }`
		read(t, contactQ, xv)
		if n := num(read(t, filtered, nil).get("contacts.totalCount")); n != 0 {
			t.Fatalf("fresh-tag already on %d contacts", n)
		}
		e.gql(e.token, `mutation($id: ID!) { addContactTags(contactId: $id, tags: ["fresh-tag"]) { tags } }`, xv).ok(t)
		if tags := strs(read(t, contactQ, xv).get("contact.tags")); !slices.Contains(tags, "fresh-tag") {
			t.Errorf("tags after add = %v", tags)
		}
		if got := field(read(t, filtered, nil).get("contacts.nodes"), "id"); !slices.Equal(got, []string{x}) {
			t.Errorf("search by the new tag = %v, want [%s]", got, x)
		}
		e.gql(e.token, `mutation($id: ID!) { bulkUpdateContactTags(input: {action: REMOVE, contactIds: [$id], tags: ["fresh-tag"]}) { success } }`, xv).ok(t)
		if tags := strs(read(t, contactQ, xv).get("contact.tags")); slices.Contains(tags, "fresh-tag") {
			t.Errorf("tags after bulk remove = %v", tags)
		}
		if n := num(read(t, filtered, nil).get("contacts.totalCount")); n != 0 {
			t.Errorf("search by the removed tag finds %d contacts", n)
		}
	})
	t.Run("followers", func(t *testing.T) {
		read(t, contactQ, xv)
		e.gql(e.token, `mutation($id: ID!) { addContactFollowers(contactId: $id, followers: ["fresh-user"]) { followers } }`, xv).ok(t)
		if f := strs(read(t, contactQ, xv).get("contact.followers")); !slices.Contains(f, "fresh-user") {
			t.Errorf("followers after add = %v", f)
		}
		e.gql(e.token, `mutation($id: ID!) { removeContactFollowers(contactId: $id, followers: ["fresh-user"]) { followers } }`, xv).ok(t)
		if f := strs(read(t, contactQ, xv).get("contact.followers")); slices.Contains(f, "fresh-user") {
			t.Errorf("followers after remove = %v", f)
		}
	})
	t.Run("tasks", func(t *testing.T) {
		n := len(list(read(t, contactQ, xv).get("contact.tasks")))
		r := e.gql(e.token, `mutation($id: ID!) { createTask(contactId: $id, input: {title: "Fresh", dueDate: "2025-09-01T09:00:00Z"}) { task { id } } }`, xv).ok(t)
		tid := str(r.get("createTask.task.id"))
		if got := field(read(t, contactQ, xv).get("contact.tasks"), "id"); len(got) != n+1 || !slices.Contains(got, tid) {
			t.Errorf("tasks after create = %v, want %d with %s", got, n+1, tid)
		}
		tv := map[string]any{"id": x, "t": tid}
		const taskQ = `query($id: ID!, $t: ID!) { task(contactId: $id, id: $t) { id title completed } }`
		read(t, taskQ, tv)
		e.gql(e.token, `mutation($id: ID!, $t: ID!) { setTaskCompleted(contactId: $id, id: $t, completed: true) { task { id } } }`, tv).ok(t)
		if got := read(t, taskQ, tv).get("task.completed"); got != true {
			t.Errorf("task completed after setTaskCompleted = %v", got)
		}
		e.gql(e.token, `mutation($id: ID!, $t: ID!) { updateTask(contactId: $id, id: $t, input: {title: "Fresher"}) { task { id } } }`, tv).ok(t)
		if got := str(read(t, taskQ, tv).get("task.title")); got != "Fresher" {
			t.Errorf("task title after update = %q", got)
		}
		e.gql(e.token, `mutation($id: ID!, $t: ID!) { deleteTask(contactId: $id, id: $t) { success } }`, tv).ok(t)
		e.gql(e.token, taskQ, tv).wantError(t, http.StatusOK, "NOT_FOUND", "task")
		if got := field(read(t, contactQ, xv).get("contact.tasks"), "id"); slices.Contains(got, tid) {
			t.Errorf("tasks after delete = %v", got)
		}
	})
	t.Run("notes", func(t *testing.T) {
		n := len(list(read(t, contactQ, xv).get("contact.notes")))
		r := e.gql(e.token, `mutation($id: ID!) { createNote(contactId: $id, input: {body: "Fresh note"}) { note { id } } }`, xv).ok(t)
		nid := str(r.get("createNote.note.id"))
		if got := field(read(t, contactQ, xv).get("contact.notes"), "id"); len(got) != n+1 || !slices.Contains(got, nid) {
			t.Errorf("notes after create = %v, want %d with %s", got, n+1, nid)
		}
		nv := map[string]any{"id": x, "n": nid}
		const noteQ = `query($id: ID!, $n: ID!) { note(contactId: $id, id: $n) { id body } }`
		read(t, noteQ, nv)
		e.gql(e.token, `mutation($id: ID!, $n: ID!) { updateNote(contactId: $id, id: $n, input: {body: "Edited note"}) { note { id } } }`, nv).ok(t)
		if got := str(read(t, noteQ, nv).get("note.body")); got != "Edited note" {
			t.Errorf("note body after update = %q", got)
		}
		e.gql(e.token, `mutation($id: ID!, $n: ID!) { deleteNote(contactId: $id, id: $n) { success } }`, nv).ok(t)
		e.gql(e.token, noteQ, nv).wantError(t, http.StatusOK, "NOT_FOUND", "note")
		if got := field(read(t, contactQ, xv).get("contact.notes"), "id"); slices.Contains(got, nid) {
			t.Errorf("notes after delete = %v", got)
		}
	})
	t.Run("business membership", func(t *testing.T) {
		biz := e.sb.Businesses(e.locA)[0]
		bv := map[string]any{"b": biz}
		const byBiz = `query($b: ID!) { contactsByBusiness(businessId: $b, first: 100) { totalCount nodes { id } } }`
		before := field(read(t, byBiz, bv).get("contactsByBusiness.nodes"), "id")
		read(t, contactQ, xv)
		if slices.Contains(before, x) {
			t.Fatalf("%s already in business %s", x, biz)
		}
		e.gql(e.token, `mutation($id: ID!, $b: ID) { bulkSetContactsBusiness(input: {contactIds: [$id], businessId: $b}) { success } }`,
			map[string]any{"id": x, "b": biz}).ok(t)
		if got := field(read(t, byBiz, bv).get("contactsByBusiness.nodes"), "id"); !slices.Contains(got, x) || len(got) != len(before)+1 {
			t.Errorf("business contacts after attaching %s = %v", x, got)
		}
		if got := str(read(t, contactQ, xv).get("contact.businessId")); got != biz {
			t.Errorf("businessId after attaching = %q", got)
		}
		e.gql(e.token, `mutation($id: ID!) { bulkSetContactsBusiness(input: {contactIds: [$id], businessId: null}) { success } }`, xv).ok(t)
		if got := field(read(t, byBiz, bv).get("contactsByBusiness.nodes"), "id"); slices.Contains(got, x) {
			t.Errorf("business contacts after detaching %s = %v", x, got)
		}
		if got := read(t, contactQ, xv).get("contact.businessId"); got != nil {
			t.Errorf("businessId after detaching = %v", got)
		}
	})
	t.Run("create and delete show in listings", func(t *testing.T) {
		const counts = `query($email: String) {
  contacts { totalCount }
  contactsLegacyList { totalCount }
  duplicateContact(email: $email) { id }
}`
		ev := map[string]any{"email": "fresh.contact@example.org"}
		r := read(t, counts, ev)
		search, legacy := num(r.get("contacts.totalCount")), num(r.get("contactsLegacyList.totalCount"))
		if r.get("duplicateContact") != nil {
			t.Fatalf("duplicate before create: %v", r.get("duplicateContact"))
		}
		r = e.gql(e.token, `mutation { createContact(input: {firstName: "Fresh", email: "fresh.contact@example.org"}) { contact { id } } }`, nil).ok(t)
		id := str(r.get("createContact.contact.id"))
		r = read(t, counts, ev)
		if num(r.get("contacts.totalCount")) != search+1 || num(r.get("contactsLegacyList.totalCount")) != legacy+1 ||
			str(r.get("duplicateContact.id")) != id {
			t.Errorf("after create: %v, want totals %d, %d and duplicate %s", r.Data, search+1, legacy+1, id)
		}
		read(t, contactQ, map[string]any{"id": id})
		e.gql(e.token, `mutation($id: ID!) { deleteContact(id: $id) { success } }`, map[string]any{"id": id}).ok(t)
		e.gql(e.token, `query($id: ID!) { contact(id: $id) { id } }`, map[string]any{"id": id}).wantError(t, http.StatusOK, "NOT_FOUND", "contact")
		r = read(t, counts, ev)
		if num(r.get("contacts.totalCount")) != search || num(r.get("contactsLegacyList.totalCount")) != legacy || r.get("duplicateContact") != nil {
			t.Errorf("after delete: %v, want totals %d, %d and no duplicate", r.Data, search, legacy)
		}
	})
	t.Run("upsert shows in the contact", func(t *testing.T) {
		email := e.contact(t, x).Email
		read(t, contactQ, xv)
		r := e.gql(e.token, `mutation($e: String) { upsertContact(input: {email: $e, city: "Bergen"}) { created contact { id } } }`,
			map[string]any{"e": email}).ok(t)
		if r.get("upsertContact.created") != false || str(r.get("upsertContact.contact.id")) != x {
			t.Fatalf("upsert = %v, want an update of %s", r.get("upsertContact"), x)
		}
		if got := str(read(t, contactQ, xv).get("contact.city")); got != "Bergen" {
			t.Errorf("city after upsert = %q", got)
		}
	})
}

func TestE2ECredentialsAreNotSharedThroughCaches(t *testing.T) {
	t.Parallel()
	e := newE2E(t)
	f := e.setup(t)
	secret := e.contact(t, f.contactID)
	const q = `query($id: ID!, $email: String, $b: ID!) {
  contact(id: $id) { id email tasks { id } notes { id } appointments { id } }
  duplicateContact(email: $email) { id email }
  contacts(first: 5) { totalCount nodes { id email } }
  contactsByBusiness(businessId: $b) { totalCount nodes { id email } }
  contactsLegacyList(first: 5) { totalCount nodes { id email } }
}`
	vars := map[string]any{"id": f.contactID, "email": secret.Email, "b": f.businessID}
	// The rightful credential reads everything, twice, so that any cache holds it.
	for range 2 {
		e.gql(e.token, q, vars).ok(t)
	}
	pitB := e.sb.Token(e.locB, sandbox.ScopeContactsRead, sandbox.ScopeContactsWrite)
	tests := map[string]struct {
		req  request
		code string
	}{
		"unknown opaque token naming the location": {
			req:  request{token: "pit-11111111-2222-3333-4444-555555555555", locationID: e.locA},
			code: "UNAUTHENTICATED",
		},
		"forged JWT naming the location": {
			req:  request{token: forgedJWT(e.locA)},
			code: "UNAUTHENTICATED",
		},
		"another location's opaque token naming the location": {
			req: request{token: pitB, locationID: e.locA},
			// The contact reads answer NOT_FOUND, the listings FORBIDDEN.
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			tc.req.query, tc.req.vars = q, vars
			before := e.counters()
			r := e.send(tc.req)
			if strings.Contains(r.Body, secret.Email) || strings.Contains(r.Body, f.contactID) {
				t.Errorf("another credential was served the contact: %s", r.Body)
			}
			if r.get("contact") != nil || r.get("duplicateContact") != nil {
				t.Errorf("data = %v, want none", r.Data)
			}
			if len(r.Errors) == 0 {
				t.Fatalf("no errors: %s", r.Body)
			}
			for _, ge := range r.Errors {
				c, _ := ge.Extensions["code"].(string)
				ok := c == tc.code
				if tc.code == "" {
					ok = c == "NOT_FOUND" || c == "FORBIDDEN"
				}
				if !ok {
					t.Errorf("error %v: code %q", ge.Path, c)
				}
			}
			if len(e.moved(before)) == 0 {
				t.Error("answered without asking the upstream")
			}
		})
	}
}

// A write whose answer is lost may still have been applied: what the
// gateway remembers of the contact must not outlive it.
func TestE2EReadsAfterFailedWrites(t *testing.T) {
	t.Parallel()
	for _, kind := range []sandbox.FaultKind{sandbox.FaultMalformed, sandbox.FaultDropAfterWrite} {
		t.Run(string(kind), func(t *testing.T) {
			t.Parallel()
			e := newE2E(t)
			x := e.sb.ContactIDs(e.locA)[2]
			xv := map[string]any{"id": x}
			const readQ = `query($id: ID!) { contact(id: $id) { id tags } }`
			e.gql(e.token, readQ, xv).ok(t)
			e.sb.SetFaults(sandbox.Faults{Rate: 1, Kinds: []sandbox.FaultKind{kind}, Ops: []string{"add-tags"}})
			r := e.gql(e.token, `mutation($id: ID!) { addContactTags(contactId: $id, tags: ["applied-anyway"]) { tags } }`, xv)
			r.wantError(t, http.StatusOK, "UPSTREAM_ERROR", "addContactTags")
			if e.sb.Applied("add-tags") != 1 {
				t.Fatalf("the sandbox applied the write %d times", e.sb.Applied("add-tags"))
			}
			e.sb.SetFaults(sandbox.Faults{})
			if tags := strs(e.gql(e.token, readQ, xv).ok(t).get("contact.tags")); !slices.Contains(tags, "applied-anyway") {
				t.Errorf("tags after a write that was applied = %v", tags)
			}
		})
	}
}
