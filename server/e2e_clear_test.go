package server_test

import (
	"testing"

	"github.com/ghl-graphql/gateway/errcode"
)

// TestE2EClearingMeansWhatHighLevelAccepts (issue 11): through GraphQL, a
// null on a clearable field empties it in the upstream (read back from the
// sandbox, which keeps a value when it is sent a null the spec forbids),
// and a null on a field HighLevel cannot clear is BAD_USER_INPUT before any
// call. The SDL documents each field the same way.
func TestE2EClearingMeansWhatHighLevelAccepts(t *testing.T) {
	t.Parallel()
	e := newE2E(t)
	f := e.setup(t)
	id := f.contactID

	// Give the fields a value first, so that clearing them shows.
	e.gql(e.token, `mutation($id: ID!) { updateContact(id: $id, input: {postalCode: "35061", country: "US", tags: ["a", "b"]}) { contact { id } } }`,
		map[string]any{"id": id}).ok(t)
	if c := e.contact(t, id); c.PostalCode == "" || c.Country == "" || len(c.Tags) == 0 {
		t.Fatalf("setting up: %+v", c)
	}
	e.gql(e.token, `mutation($id: ID!) { updateContact(id: $id, input: {postalCode: null, country: null, tags: null}) { contact { id } } }`,
		map[string]any{"id": id}).ok(t)
	if c := e.contact(t, id); c.PostalCode != "" || c.Country != "" || len(c.Tags) != 0 {
		t.Errorf("after clearing: postalCode %q, country %q, tags %v; want all empty", c.PostalCode, c.Country, c.Tags)
	}

	// A task's body and a note's title clear; read back from the upstream.
	task := e.gql(e.token, `mutation($c: ID!) { createTask(contactId: $c, input: {title: "T", body: "details", dueDate: "2030-01-01T00:00:00Z"}) { task { id } } }`,
		map[string]any{"c": id}).ok(t)
	taskID, _ := task.get("createTask.task.id").(string)
	e.gql(e.token, `mutation($c: ID!, $id: ID!) { updateTask(contactId: $c, id: $id, input: {body: null}) { task { id } } }`,
		map[string]any{"c": id, "id": taskID}).ok(t)
	if got, _, err := e.client.Tasks.Get(e.ctx(e.token), id, taskID); err != nil || got.Body != "" {
		t.Errorf("task body after clearing: %+v, %v; want empty", got, err)
	}
	note := e.gql(e.token, `mutation($c: ID!) { createNote(contactId: $c, input: {body: "B", title: "a title"}) { note { id } } }`,
		map[string]any{"c": id}).ok(t)
	noteID, _ := note.get("createNote.note.id").(string)
	e.gql(e.token, `mutation($c: ID!, $id: ID!) { updateNote(contactId: $c, id: $id, input: {title: null}) { note { id } } }`,
		map[string]any{"c": id, "id": noteID}).ok(t)
	if got, _, err := e.client.Notes.Get(e.ctx(e.token), id, noteID); err != nil || got.Title != "" {
		t.Errorf("note title after clearing: %+v, %v; want empty", got, err)
	}

	// Fields HighLevel cannot clear: refused before any call.
	refused := map[string]string{
		"contact dnd":                `mutation($c: ID!) { updateContact(id: $c, input: {dnd: null}) { contact { id } } }`,
		"contact dndSettings":        `mutation($c: ID!) { updateContact(id: $c, input: {dndSettings: null}) { contact { id } } }`,
		"contact inboundDndSettings": `mutation($c: ID!) { updateContact(id: $c, input: {inboundDndSettings: null}) { contact { id } } }`,
		"contact customFields":       `mutation($c: ID!) { updateContact(id: $c, input: {customFields: null}) { contact { id } } }`,
		"task title":                 `mutation($c: ID!, $t: ID!) { updateTask(contactId: $c, id: $t, input: {title: null}) { task { id } } }`,
		"task dueDate":               `mutation($c: ID!, $t: ID!) { updateTask(contactId: $c, id: $t, input: {dueDate: null}) { task { id } } }`,
		"task completed":             `mutation($c: ID!, $t: ID!) { updateTask(contactId: $c, id: $t, input: {completed: null}) { task { id } } }`,
		"note body":                  `mutation($c: ID!, $n: ID!) { updateNote(contactId: $c, id: $n, input: {body: null}) { note { id } } }`,
		"note pinned":                `mutation($c: ID!, $n: ID!) { updateNote(contactId: $c, id: $n, input: {pinned: null}) { note { id } } }`,
	}
	for name, query := range refused {
		t.Run(name, func(t *testing.T) {
			before := e.counters()
			r := e.gql(e.token, query, map[string]any{"c": id, "t": taskID, "n": noteID})
			if code := r.code(t); code != errcode.CodeBadUserInput {
				t.Errorf("code %q, want %s; body %s", code, errcode.CodeBadUserInput, r.Body)
			}
			e.wantNoCalls(t, before)
		})
	}
}
