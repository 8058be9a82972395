// End-to-end tests of every mutation: each one's effect is checked in the
// sandbox's state (sb.Contact, sb.Campaigns, sb.Workflows) or by a later
// GraphQL read, and each must make exactly its one upstream call.

package server_test

import (
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/ghl-graphql/gateway/upstream"
)

// mutate runs a mutation that must succeed with exactly the upstream calls
// in want (the mutation's own operation, once, plus any read its selection
// needs).
func (e *e2e) mutate(t *testing.T, query string, vars map[string]any, want map[string]int64) response {
	t.Helper()
	before := e.counters()
	r := e.gql(e.token, query, vars).ok(t)
	e.wantExactly(t, before, want)
	return r
}

func TestE2EContactMutations(t *testing.T) {
	t.Parallel()
	e := newE2E(t)
	var id string // the contact createContact makes; later steps use it

	t.Run("createContact", func(t *testing.T) {
		r := e.mutate(t, `mutation($in: CreateContactInput!) {
  createContact(input: $in) { contact { id locationId firstName lastName name email phone companyName city tags customFields { fieldId value } dnd dndSettings { sms { status } } } }
}`, map[string]any{"in": map[string]any{
			"firstName": "Ada", "lastName": "Lovelace", "email": "ada.lovelace@example.org", "phone": "+14155550100",
			"companyName": "Analytical Engines", "address1": "1 Babbage Row", "city": "London", "postalCode": "SW1A 1AA",
			"country": "GB", "source": "e2e test", "tags": []any{"math", "pioneer"},
			"customFields": []any{map[string]any{"key": "contact.lead_score", "value": 42}},
			"dndSettings":  map[string]any{"sms": map[string]any{"status": "ACTIVE", "message": "no texts"}},
		}}, map[string]int64{"create-contact": 1})
		id = str(r.get("createContact.contact.id"))
		if id == "" {
			t.Fatalf("no contact ID: %s", r.Body)
		}
		if e.sb.Applied("create-contact") != 1 {
			t.Errorf("create-contact applied %d times", e.sb.Applied("create-contact"))
		}
		c := e.contact(t, id)
		if c.LocationID != e.locA || c.FirstName != "Ada" || c.LastName != "Lovelace" || c.Email != "ada.lovelace@example.org" ||
			c.Phone != "+14155550100" || c.CompanyName != "Analytical Engines" || c.City != "London" ||
			c.Address1 != "1 Babbage Row" || c.PostalCode != "SW1A 1AA" || c.Country != "GB" || c.Source != "e2e test" ||
			!slices.Equal(c.Tags, []string{"math", "pioneer"}) {
			t.Errorf("sandbox contact = %+v", c)
		}
		if len(c.CustomFields) != 1 || !sameJSON(c.CustomFields[0].Value, 42) {
			t.Errorf("custom fields = %+v, want lead_score 42", c.CustomFields)
		}
		if c.DNDSettings == nil || c.DNDSettings.SMS == nil || c.DNDSettings.SMS.Status != upstream.DNDActive || c.DNDSettings.SMS.Message != "no texts" {
			t.Errorf("dndSettings = %+v", c.DNDSettings)
		}
		// The payload is what HighLevel stored.
		if str(r.get("createContact.contact.name")) != "Ada Lovelace" || str(r.get("createContact.contact.locationId")) != e.locA ||
			str(r.get("createContact.contact.dndSettings.sms.status")) != "ACTIVE" ||
			!sameJSON(r.get("createContact.contact.customFields"), []any{map[string]any{"fieldId": c.CustomFields[0].ID, "value": 42}}) {
			t.Errorf("payload = %v", r.get("createContact.contact"))
		}
	})
	if id == "" {
		t.FailNow()
	}

	t.Run("updateContact: left out keeps, null clears", func(t *testing.T) {
		before := e.contact(t, id)
		r := e.mutate(t, `mutation($id: ID!, $in: UpdateContactInput!) {
  updateContact(id: $id, input: $in) { contact { id city address1 postalCode email tags } }
}`, map[string]any{"id": id, "in": map[string]any{"city": "Cambridge", "address1": nil, "postalCode": nil}},
			map[string]int64{"update-contact": 1})
		c := e.contact(t, id)
		if c.City != "Cambridge" || c.Address1 != "" || c.PostalCode != "" {
			t.Errorf("set/cleared fields: city %q address1 %q postalCode %q", c.City, c.Address1, c.PostalCode)
		}
		if c.Email != before.Email || c.Phone != before.Phone || c.FirstName != before.FirstName ||
			c.Country != before.Country || !slices.Equal(c.Tags, before.Tags) || len(c.CustomFields) != len(before.CustomFields) {
			t.Errorf("fields left out changed: before %+v, after %+v", before, c)
		}
		if str(r.get("updateContact.contact.city")) != "Cambridge" || r.get("updateContact.contact.address1") != nil ||
			str(r.get("updateContact.contact.email")) != before.Email {
			t.Errorf("payload = %v", r.get("updateContact.contact"))
		}
	})

	t.Run("upsertContact creates, then updates by email", func(t *testing.T) {
		const q = `mutation($in: CreateContactInput!) { upsertContact(input: $in) { created contact { id email city } } }`
		r := e.mutate(t, q, map[string]any{"in": map[string]any{"email": "grace.hopper@example.org", "firstName": "Grace", "city": "Arlington"}},
			map[string]int64{"upsert-contact": 1})
		newID := str(r.get("upsertContact.contact.id"))
		if r.get("upsertContact.created") != true || newID == "" {
			t.Fatalf("first upsert = %v, want created", r.get("upsertContact"))
		}
		if c := e.contact(t, newID); c.City != "Arlington" || c.FirstName != "Grace" || c.LocationID != e.locA {
			t.Errorf("sandbox contact after create = %+v", c)
		}
		r = e.mutate(t, q, map[string]any{"in": map[string]any{"email": "grace.hopper@example.org", "city": "New York"}},
			map[string]int64{"upsert-contact": 1})
		if r.get("upsertContact.created") != false || str(r.get("upsertContact.contact.id")) != newID {
			t.Errorf("second upsert = %v, want the same contact, created false", r.get("upsertContact"))
		}
		if c := e.contact(t, newID); c.City != "New York" || c.FirstName != "Grace" {
			t.Errorf("sandbox contact after update = %+v", c)
		}
		r = e.mutate(t, `mutation($in: CreateContactInput!) { upsertContact(input: $in, allowDuplicate: true) { created contact { id email } } }`,
			map[string]any{"in": map[string]any{"email": "grace.hopper@example.org", "firstName": "Grace II"}},
			map[string]int64{"upsert-contact": 1})
		if twin := str(r.get("upsertContact.contact.id")); r.get("upsertContact.created") != true || twin == newID || twin == "" {
			t.Errorf("upsert with allowDuplicate = %v, want a new contact", r.get("upsertContact"))
		} else if c := e.contact(t, twin); c.FirstName != "Grace II" || c.Email != "grace.hopper@example.org" {
			t.Errorf("sandbox twin = %+v", c)
		}
		if n := e.sb.Applied("upsert-contact"); n != 3 {
			t.Errorf("upsert applied %d times, want 3", n)
		}
	})

	t.Run("tags", func(t *testing.T) {
		r := e.mutate(t, `mutation($id: ID!) { addContactTags(contactId: $id, tags: ["vip", "math"]) { contactId tags contact { id tags } } }`,
			map[string]any{"id": id}, map[string]int64{"add-tags": 1, "get-contact": 1})
		want := []string{"math", "pioneer", "vip"}
		if got := e.contact(t, id).Tags; !sameSet(got, want) {
			t.Errorf("sandbox tags = %v, want %v", got, want)
		}
		if !sameSet(strs(r.get("addContactTags.tags")), want) || !sameSet(strs(r.get("addContactTags.contact.tags")), want) ||
			str(r.get("addContactTags.contactId")) != id {
			t.Errorf("payload = %v", r.get("addContactTags"))
		}
		r = e.mutate(t, `mutation($id: ID!) { removeContactTags(contactId: $id, tags: ["math"]) { tags contact { tags } } }`,
			map[string]any{"id": id}, map[string]int64{"remove-tags": 1, "get-contact": 1})
		want = []string{"pioneer", "vip"}
		if got := e.contact(t, id).Tags; !sameSet(got, want) {
			t.Errorf("sandbox tags = %v, want %v", got, want)
		}
		if !sameSet(strs(r.get("removeContactTags.tags")), want) || !sameSet(strs(r.get("removeContactTags.contact.tags")), want) {
			t.Errorf("payload = %v", r.get("removeContactTags"))
		}
		// Without contact selected, no read.
		e.mutate(t, `mutation($id: ID!) { addContactTags(contactId: $id, tags: ["x"]) { tags } }`,
			map[string]any{"id": id}, map[string]int64{"add-tags": 1})
	})

	t.Run("followers", func(t *testing.T) {
		r := e.mutate(t, `mutation($id: ID!) { addContactFollowers(contactId: $id, followers: ["user-a", "user-b"]) { contactId followers changed contact { followers } } }`,
			map[string]any{"id": id}, map[string]int64{"add-followers-contact": 1, "get-contact": 1})
		if got := e.contact(t, id).Followers; !sameSet(got, []string{"user-a", "user-b"}) {
			t.Errorf("sandbox followers = %v", got)
		}
		if !sameSet(strs(r.get("addContactFollowers.followers")), []string{"user-a", "user-b"}) ||
			!sameSet(strs(r.get("addContactFollowers.changed")), []string{"user-a", "user-b"}) ||
			!sameSet(strs(r.get("addContactFollowers.contact.followers")), []string{"user-a", "user-b"}) {
			t.Errorf("payload = %v", r.get("addContactFollowers"))
		}
		r = e.mutate(t, `mutation($id: ID!) { removeContactFollowers(contactId: $id, followers: ["user-a"]) { followers changed } }`,
			map[string]any{"id": id}, map[string]int64{"remove-followers-contact": 1})
		if got := e.contact(t, id).Followers; !sameSet(got, []string{"user-b"}) {
			t.Errorf("sandbox followers = %v", got)
		}
		if !sameSet(strs(r.get("removeContactFollowers.followers")), []string{"user-b"}) ||
			!sameSet(strs(r.get("removeContactFollowers.changed")), []string{"user-a"}) {
			t.Errorf("payload = %v", r.get("removeContactFollowers"))
		}
	})

	t.Run("campaigns", func(t *testing.T) {
		const add = `mutation($id: ID!, $c: ID!) { addContactToCampaign(contactId: $id, campaignId: $c) { contactId campaignId success } }`
		for _, c := range []string{"camp-1", "camp-2", "camp-3"} {
			r := e.mutate(t, add, map[string]any{"id": id, "c": c}, map[string]int64{"add-contact-to-campaign": 1})
			if str(r.get("addContactToCampaign.campaignId")) != c || r.get("addContactToCampaign.success") != true ||
				str(r.get("addContactToCampaign.contactId")) != id {
				t.Errorf("payload = %v", r.get("addContactToCampaign"))
			}
		}
		if got := e.sb.Campaigns(id); !slices.Equal(got, []string{"camp-1", "camp-2", "camp-3"}) {
			t.Errorf("campaigns = %v", got)
		}
		r := e.mutate(t, `mutation($id: ID!) { removeContactFromCampaign(contactId: $id, campaignId: "camp-2") { campaignId success } }`,
			map[string]any{"id": id}, map[string]int64{"remove-contact-from-campaign": 1})
		if str(r.get("removeContactFromCampaign.campaignId")) != "camp-2" || r.get("removeContactFromCampaign.success") != true {
			t.Errorf("payload = %v", r.get("removeContactFromCampaign"))
		}
		if got := e.sb.Campaigns(id); !slices.Equal(got, []string{"camp-1", "camp-3"}) {
			t.Errorf("campaigns = %v", got)
		}
		// A campaign ID equal to the literal segment of the sibling route
		// would remove the contact from every campaign (issue 11).
		before := e.counters()
		e.gql(e.token, `mutation($id: ID!) { removeContactFromCampaign(contactId: $id, campaignId: "removeAll") { success } }`,
			map[string]any{"id": id}).wantError(t, http.StatusOK, "BAD_USER_INPUT", "removeContactFromCampaign")
		e.wantNoCalls(t, before)
		if got := e.sb.Campaigns(id); !slices.Equal(got, []string{"camp-1", "camp-3"}) {
			t.Errorf("campaigns after campaignId removeAll = %v", got)
		}
		r = e.mutate(t, `mutation($id: ID!) { removeContactFromAllCampaigns(contactId: $id) { contactId campaignId success } }`,
			map[string]any{"id": id}, map[string]int64{"remove-contact-from-every-campaign": 1})
		if r.get("removeContactFromAllCampaigns.campaignId") != nil || r.get("removeContactFromAllCampaigns.success") != true {
			t.Errorf("payload = %v", r.get("removeContactFromAllCampaigns"))
		}
		if got := e.sb.Campaigns(id); len(got) != 0 {
			t.Errorf("campaigns after removing all = %v", got)
		}
	})

	t.Run("workflows", func(t *testing.T) {
		start := time.Date(2025, 7, 1, 9, 30, 0, 0, time.FixedZone("", 3600)).Format(time.RFC3339)
		r := e.mutate(t, `mutation($id: ID!, $at: DateTime) { addContactToWorkflow(contactId: $id, workflowId: "wf-1", eventStartTime: $at) { contactId workflowId success } }`,
			map[string]any{"id": id, "at": start}, map[string]int64{"add-contact-to-workflow": 1})
		if str(r.get("addContactToWorkflow.workflowId")) != "wf-1" || r.get("addContactToWorkflow.success") != true {
			t.Errorf("payload = %v", r.get("addContactToWorkflow"))
		}
		e.mutate(t, `mutation($id: ID!) { addContactToWorkflow(contactId: $id, workflowId: "wf-2") { success } }`,
			map[string]any{"id": id}, map[string]int64{"add-contact-to-workflow": 1})
		if got := e.sb.Workflows(id); !slices.Equal(got, []string{"wf-1", "wf-2"}) {
			t.Errorf("workflows = %v", got)
		}
		r = e.mutate(t, `mutation($id: ID!, $at: DateTime) { removeContactFromWorkflow(contactId: $id, workflowId: "wf-1", eventStartTime: $at) { workflowId success } }`,
			map[string]any{"id": id, "at": start}, map[string]int64{"delete-contact-from-workflow": 1})
		if str(r.get("removeContactFromWorkflow.workflowId")) != "wf-1" || r.get("removeContactFromWorkflow.success") != true {
			t.Errorf("payload = %v", r.get("removeContactFromWorkflow"))
		}
		if got := e.sb.Workflows(id); !slices.Equal(got, []string{"wf-2"}) {
			t.Errorf("workflows = %v", got)
		}
	})

	t.Run("deleteContact", func(t *testing.T) {
		r := e.mutate(t, `mutation($id: ID!) { deleteContact(id: $id) { deletedId success } }`,
			map[string]any{"id": id}, map[string]int64{"delete-contact": 1})
		if str(r.get("deleteContact.deletedId")) != id || r.get("deleteContact.success") != true {
			t.Errorf("payload = %v", r.get("deleteContact"))
		}
		if _, ok := e.sb.Contact(id); ok {
			t.Error("the sandbox still has the contact")
		}
		e.gql(e.token, `query($id: ID!) { contact(id: $id) { id } }`, map[string]any{"id": id}).
			wantError(t, http.StatusOK, "NOT_FOUND", "contact")
	})
}

func TestE2ETaskAndNoteMutations(t *testing.T) {
	t.Parallel()
	e := newE2E(t)
	f := e.setup(t)
	cid := f.contactID
	readTask := func(t *testing.T, taskID string) response {
		t.Helper()
		return e.gql(e.token, `query($c: ID!, $t: ID!) { task(contactId: $c, id: $t) { id title body completed dueDate assignedTo } }`,
			map[string]any{"c": cid, "t": taskID})
	}
	readNote := func(t *testing.T, noteID string) response {
		t.Helper()
		return e.gql(e.token, `query($c: ID!, $n: ID!) { note(contactId: $c, id: $n) { id body title color pinned } }`,
			map[string]any{"c": cid, "n": noteID})
	}

	var taskID string
	t.Run("createTask", func(t *testing.T) {
		r := e.mutate(t, `mutation($c: ID!, $in: CreateTaskInput!) { createTask(contactId: $c, input: $in) { task { id contactId title body dueDate completed } } }`,
			map[string]any{"c": cid, "in": map[string]any{"title": "Send the proposal", "body": "v2 with pricing", "dueDate": "2025-08-01T15:00:00Z"}},
			map[string]int64{"create-task": 1})
		taskID = str(r.get("createTask.task.id"))
		if taskID == "" || str(r.get("createTask.task.contactId")) != cid || r.get("createTask.task.completed") != false ||
			!instant(t, str(r.get("createTask.task.dueDate"))).Equal(time.Date(2025, 8, 1, 15, 0, 0, 0, time.UTC)) {
			t.Fatalf("payload = %v", r.get("createTask"))
		}
		if e.sb.Applied("create-task") != 1 {
			t.Errorf("create-task applied %d times", e.sb.Applied("create-task"))
		}
		got := readTask(t, taskID).ok(t)
		if str(got.get("task.title")) != "Send the proposal" || str(got.get("task.body")) != "v2 with pricing" {
			t.Errorf("read back = %v", got.get("task"))
		}
		r = e.gql(e.token, `query($c: ID!) { contact(id: $c) { tasks { id } } }`, map[string]any{"c": cid}).ok(t)
		if !slices.Contains(field(r.get("contact.tasks"), "id"), taskID) {
			t.Errorf("contact.tasks lacks the new task: %v", r.get("contact.tasks"))
		}
	})
	if taskID == "" {
		t.FailNow()
	}
	t.Run("updateTask keeps what is left out", func(t *testing.T) {
		r := e.mutate(t, `mutation($c: ID!, $t: ID!) { updateTask(contactId: $c, id: $t, input: {title: "Send the final proposal"}) { task { id title body } } }`,
			map[string]any{"c": cid, "t": taskID}, map[string]int64{"update-task": 1})
		if str(r.get("updateTask.task.title")) != "Send the final proposal" || str(r.get("updateTask.task.body")) != "v2 with pricing" {
			t.Errorf("payload = %v", r.get("updateTask"))
		}
		got := readTask(t, taskID).ok(t)
		if str(got.get("task.title")) != "Send the final proposal" || str(got.get("task.body")) != "v2 with pricing" ||
			!instant(t, str(got.get("task.dueDate"))).Equal(time.Date(2025, 8, 1, 15, 0, 0, 0, time.UTC)) {
			t.Errorf("read back = %v", got.get("task"))
		}
	})
	t.Run("setTaskCompleted", func(t *testing.T) {
		for _, done := range []bool{true, false, true} {
			r := e.mutate(t, `mutation($c: ID!, $t: ID!, $d: Boolean!) { setTaskCompleted(contactId: $c, id: $t, completed: $d) { task { id completed } } }`,
				map[string]any{"c": cid, "t": taskID, "d": done}, map[string]int64{"update-task-completed": 1})
			if r.get("setTaskCompleted.task.completed") != done {
				t.Errorf("payload = %v, want completed %v", r.get("setTaskCompleted"), done)
			}
			if got := readTask(t, taskID).ok(t); got.get("task.completed") != done {
				t.Errorf("read back = %v, want completed %v", got.get("task"), done)
			}
		}
		r := e.gql(e.token, `query($c: ID!) { contact(id: $c) { done: tasks(completed: true) { id } open: tasks(completed: false) { id } } }`,
			map[string]any{"c": cid}).ok(t)
		if !slices.Contains(field(r.get("contact.done"), "id"), taskID) || slices.Contains(field(r.get("contact.open"), "id"), taskID) {
			t.Errorf("completed task filed wrongly: %v", r.get("contact"))
		}
	})
	t.Run("deleteTask", func(t *testing.T) {
		r := e.mutate(t, `mutation($c: ID!, $t: ID!) { deleteTask(contactId: $c, id: $t) { deletedId success } }`,
			map[string]any{"c": cid, "t": taskID}, map[string]int64{"delete-task": 1})
		if str(r.get("deleteTask.deletedId")) != taskID || r.get("deleteTask.success") != true {
			t.Errorf("payload = %v", r.get("deleteTask"))
		}
		readTask(t, taskID).wantError(t, http.StatusOK, "NOT_FOUND", "task")
	})

	var noteID string
	t.Run("createNote", func(t *testing.T) {
		r := e.mutate(t, `mutation($c: ID!) { createNote(contactId: $c, input: {body: "Called, left a message.", title: "Call", color: "#FFAA00", pinned: true}) { note { id contactId body title color pinned } } }`,
			map[string]any{"c": cid}, map[string]int64{"create-note": 1})
		noteID = str(r.get("createNote.note.id"))
		if noteID == "" || str(r.get("createNote.note.contactId")) != cid || r.get("createNote.note.pinned") != true {
			t.Fatalf("payload = %v", r.get("createNote"))
		}
		got := readNote(t, noteID).ok(t)
		if str(got.get("note.body")) != "Called, left a message." || str(got.get("note.color")) != "#FFAA00" || str(got.get("note.title")) != "Call" {
			t.Errorf("read back = %v", got.get("note"))
		}
	})
	if noteID == "" {
		t.FailNow()
	}
	t.Run("updateNote keeps what is left out", func(t *testing.T) {
		r := e.mutate(t, `mutation($c: ID!, $n: ID!) { updateNote(contactId: $c, id: $n, input: {body: "Called back; booked a demo.", pinned: false}) { note { id body pinned title } } }`,
			map[string]any{"c": cid, "n": noteID}, map[string]int64{"update-note": 1})
		if str(r.get("updateNote.note.body")) != "Called back; booked a demo." || r.get("updateNote.note.pinned") != false {
			t.Errorf("payload = %v", r.get("updateNote"))
		}
		got := readNote(t, noteID).ok(t)
		if str(got.get("note.body")) != "Called back; booked a demo." || got.get("note.pinned") != false ||
			str(got.get("note.title")) != "Call" || str(got.get("note.color")) != "#FFAA00" {
			t.Errorf("read back = %v", got.get("note"))
		}
	})
	t.Run("deleteNote", func(t *testing.T) {
		r := e.mutate(t, `mutation($c: ID!, $n: ID!) { deleteNote(contactId: $c, id: $n) { deletedId success } }`,
			map[string]any{"c": cid, "n": noteID}, map[string]int64{"delete-note": 1})
		if str(r.get("deleteNote.deletedId")) != noteID || r.get("deleteNote.success") != true {
			t.Errorf("payload = %v", r.get("deleteNote"))
		}
		readNote(t, noteID).wantError(t, http.StatusOK, "NOT_FOUND", "note")
		r = e.gql(e.token, `query($c: ID!) { contact(id: $c) { notes { id } } }`, map[string]any{"c": cid}).ok(t)
		if slices.Contains(field(r.get("contact.notes"), "id"), noteID) {
			t.Errorf("contact.notes still holds the deleted note")
		}
	})
}

func TestE2EBulkMutations(t *testing.T) {
	t.Parallel()
	e := newE2E(t)
	ids := e.sb.ContactIDs(e.locA)
	a, b := ids[0], ids[1]
	const unknown = "nosuchcontact0000000"
	const tagsQ = `mutation($in: BulkUpdateContactTagsInput!) {
  bulkUpdateContactTags(input: $in) { success errorCount results { contactId success message previousTags tagsAdded tagsRemoved } }
}`
	result := func(r response, id string) any {
		for _, x := range list(r.get("bulkUpdateContactTags.results")) {
			if str(dig(x, "contactId")) == id {
				return x
			}
		}
		t.Fatalf("no result for %s: %v", id, r.get("bulkUpdateContactTags.results"))
		return nil
	}

	t.Run("ADD with an unknown contact", func(t *testing.T) {
		oldA := e.contact(t, a).Tags
		r := e.mutate(t, tagsQ, map[string]any{"in": map[string]any{"action": "ADD", "contactIds": []any{a, b, unknown}, "tags": []any{"bulk-1", "bulk-2"}}},
			map[string]int64{"create-association": 1})
		if r.get("bulkUpdateContactTags.success") != false || num(r.get("bulkUpdateContactTags.errorCount")) != 1 ||
			len(list(r.get("bulkUpdateContactTags.results"))) != 3 {
			t.Errorf("payload = %v", r.get("bulkUpdateContactTags"))
		}
		if x := result(r, unknown); dig(x, "success") != false || str(dig(x, "message")) == "" {
			t.Errorf("unknown contact's result = %v, want not successful with a message", x)
		}
		ra := result(r, a)
		if dig(ra, "success") != true || !sameSet(strs(dig(ra, "previousTags")), oldA) {
			t.Errorf("result of %s = %v, previous tags want %v", a, ra, oldA)
		}
		for _, id := range []string{a, b} {
			tags := e.contact(t, id).Tags
			if !slices.Contains(tags, "bulk-1") || !slices.Contains(tags, "bulk-2") {
				t.Errorf("contact %s tags = %v, want bulk-1 and bulk-2", id, tags)
			}
			if x := result(r, id); !sameSet(strs(dig(x, "tagsAdded")), []string{"bulk-1", "bulk-2"}) {
				t.Errorf("tagsAdded of %s = %v", id, dig(x, "tagsAdded"))
			}
		}
	})
	t.Run("REMOVE", func(t *testing.T) {
		r := e.mutate(t, tagsQ, map[string]any{"in": map[string]any{"action": "REMOVE", "contactIds": []any{a, b}, "tags": []any{"bulk-1"}}},
			map[string]int64{"create-association": 1})
		if r.get("bulkUpdateContactTags.success") != true || num(r.get("bulkUpdateContactTags.errorCount")) != 0 {
			t.Errorf("payload = %v", r.get("bulkUpdateContactTags"))
		}
		for _, id := range []string{a, b} {
			tags := e.contact(t, id).Tags
			if slices.Contains(tags, "bulk-1") || !slices.Contains(tags, "bulk-2") {
				t.Errorf("contact %s tags = %v, want bulk-2 without bulk-1", id, tags)
			}
			if x := result(r, id); !slices.Equal(strs(dig(x, "tagsRemoved")), []string{"bulk-1"}) {
				t.Errorf("tagsRemoved of %s = %v", id, dig(x, "tagsRemoved"))
			}
		}
	})
	t.Run("REMOVE removeAllTags", func(t *testing.T) {
		oldB := e.contact(t, b).Tags
		r := e.mutate(t, tagsQ, map[string]any{"in": map[string]any{"action": "REMOVE", "contactIds": []any{b}, "removeAllTags": true}},
			map[string]int64{"create-association": 1})
		if tags := e.contact(t, b).Tags; len(tags) != 0 {
			t.Errorf("contact %s tags = %v, want none", b, tags)
		}
		if x := result(r, b); !sameSet(strs(dig(x, "tagsRemoved")), oldB) {
			t.Errorf("tagsRemoved = %v, want %v", dig(x, "tagsRemoved"), oldB)
		}
		if !slices.Contains(e.contact(t, a).Tags, "bulk-2") {
			t.Error("a contact not listed lost its tags")
		}
	})

	t.Run("bulkSetContactsBusiness", func(t *testing.T) {
		biz := e.sb.Businesses(e.locA)[0]
		const q = `mutation($in: BulkSetContactsBusinessInput!) { bulkSetContactsBusiness(input: $in) { success contactIds } }`
		r := e.mutate(t, q, map[string]any{"in": map[string]any{"contactIds": []any{a, b}, "businessId": biz}},
			map[string]int64{"add-remove-contact-from-business": 1})
		if r.get("bulkSetContactsBusiness.success") != true || !sameSet(strs(r.get("bulkSetContactsBusiness.contactIds")), []string{a, b}) {
			t.Errorf("payload = %v", r.get("bulkSetContactsBusiness"))
		}
		for _, id := range []string{a, b} {
			if got := e.contact(t, id).BusinessID; got != biz {
				t.Errorf("contact %s business = %q, want %q", id, got, biz)
			}
		}
		r = e.gql(e.token, `query($id: ID!) { contact(id: $id) { business { id contacts(first: 100) { nodes { id } } } } }`, map[string]any{"id": a}).ok(t)
		if str(r.get("contact.business.id")) != biz || !slices.Contains(field(r.get("contact.business.contacts.nodes"), "id"), b) {
			t.Errorf("read back = %v", r.get("contact.business"))
		}

		r = e.mutate(t, q, map[string]any{"in": map[string]any{"contactIds": []any{a}, "businessId": nil}},
			map[string]int64{"add-remove-contact-from-business": 1})
		if r.get("bulkSetContactsBusiness.success") != true {
			t.Errorf("payload = %v", r.get("bulkSetContactsBusiness"))
		}
		if got := e.contact(t, a).BusinessID; got != "" {
			t.Errorf("contact %s business = %q after clearing", a, got)
		}
		if got := e.contact(t, b).BusinessID; got != biz {
			t.Errorf("contact %s not listed lost its business: %q", b, got)
		}
		r = e.gql(e.token, `query($id: ID!) { contact(id: $id) { businessId business { id } } }`, map[string]any{"id": a}).ok(t)
		if r.get("contact.businessId") != nil || r.get("contact.business") != nil {
			t.Errorf("read back = %v, want no business", r.get("contact"))
		}
	})
}

// sameSet reports whether a and b hold the same strings, ignoring order.
func sameSet(a, b []string) bool {
	x, y := slices.Clone(a), slices.Clone(b)
	slices.Sort(x)
	slices.Sort(y)
	return slices.Equal(slices.Compact(x), slices.Compact(y)) && len(x) == len(y)
}
