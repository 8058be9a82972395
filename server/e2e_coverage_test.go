// The coverage test: every operation of the Contacts API is reachable from
// the GraphQL schema, through a field named here, and a request selecting
// that field does call the operation.

package server_test

import (
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/vektah/gqlparser/v2"
	"github.com/vektah/gqlparser/v2/ast"

	"github.com/ghl-graphql/gateway/server"
	"github.com/ghl-graphql/gateway/upstream"
)

// reach says how a GraphQL request reaches one operation.
type reach struct {
	// field is the schema coordinate "Type.field" that makes the call.
	field string
	// query selects field; vars builds its variables from the fixture.
	query string
	vars  func(e *e2e, f fixture) map[string]any
}

// operationFields maps each of the 32 operation IDs to the field that reaches it.
var operationFields = map[string]reach{
	"search-contacts-advanced": {field: "Query.contacts",
		query: `{ contacts(first: 5) { totalCount nodes { id } } }`},
	"get-duplicate-contact": {field: "Query.duplicateContact",
		query: `query($email: String) { duplicateContact(email: $email) { id } }`,
		vars: func(e *e2e, f fixture) map[string]any {
			return map[string]any{"email": e.contactsOf(e.t, e.locA)[0].Email}
		}},
	"get-all-tasks": {field: "Contact.tasks",
		query: `query($id: ID!) { contact(id: $id) { tasks { id } } }`, vars: contactVar},
	"create-task": {field: "Mutation.createTask",
		query: `mutation($id: ID!) { createTask(contactId: $id, input: {title: "Call", dueDate: "2025-07-01T10:00:00Z"}) { task { id } } }`, vars: contactVar},
	"get-task": {field: "Query.task",
		query: `query($id: ID!, $t: ID!) { task(contactId: $id, id: $t) { id } }`, vars: taskVars},
	"update-task": {field: "Mutation.updateTask",
		query: `mutation($id: ID!, $t: ID!) { updateTask(contactId: $id, id: $t, input: {title: "Renamed"}) { task { id } } }`, vars: taskVars},
	"delete-task": {field: "Mutation.deleteTask",
		query: `mutation($id: ID!, $t: ID!) { deleteTask(contactId: $id, id: $t) { success } }`, vars: taskVars},
	"update-task-completed": {field: "Mutation.setTaskCompleted",
		query: `mutation($id: ID!, $t: ID!) { setTaskCompleted(contactId: $id, id: $t, completed: true) { task { completed } } }`, vars: taskVars},
	"get-appointments-for-contact": {field: "Contact.appointments",
		query: `query($id: ID!) { contact(id: $id) { appointments { id } } }`, vars: contactVar},
	"add-tags": {field: "Mutation.addContactTags",
		query: `mutation($id: ID!) { addContactTags(contactId: $id, tags: ["covered"]) { tags } }`, vars: contactVar},
	"remove-tags": {field: "Mutation.removeContactTags",
		query: `mutation($id: ID!) { removeContactTags(contactId: $id, tags: ["covered"]) { tags } }`, vars: contactVar},
	"get-all-notes": {field: "Contact.notes",
		query: `query($id: ID!) { contact(id: $id) { notes { id } } }`, vars: contactVar},
	"create-note": {field: "Mutation.createNote",
		query: `mutation($id: ID!) { createNote(contactId: $id, input: {body: "Hello"}) { note { id } } }`, vars: contactVar},
	"get-note": {field: "Query.note",
		query: `query($id: ID!, $n: ID!) { note(contactId: $id, id: $n) { id } }`, vars: noteVars},
	"update-note": {field: "Mutation.updateNote",
		query: `mutation($id: ID!, $n: ID!) { updateNote(contactId: $id, id: $n, input: {body: "Changed"}) { note { id } } }`, vars: noteVars},
	"delete-note": {field: "Mutation.deleteNote",
		query: `mutation($id: ID!, $n: ID!) { deleteNote(contactId: $id, id: $n) { success } }`, vars: noteVars},
	"create-association": {field: "Mutation.bulkUpdateContactTags",
		query: `mutation($id: ID!) { bulkUpdateContactTags(input: {action: ADD, contactIds: [$id], tags: ["covered"]}) { success } }`, vars: contactVar},
	"add-remove-contact-from-business": {field: "Mutation.bulkSetContactsBusiness",
		query: `mutation($id: ID!, $b: ID) { bulkSetContactsBusiness(input: {contactIds: [$id], businessId: $b}) { success } }`,
		vars:  func(e *e2e, f fixture) map[string]any { return map[string]any{"id": f.contactID, "b": f.businessID} }},
	"get-contact": {field: "Query.contact",
		query: `query($id: ID!) { contact(id: $id) { id } }`, vars: contactVar},
	"update-contact": {field: "Mutation.updateContact",
		query: `mutation($id: ID!) { updateContact(id: $id, input: {city: "Oslo"}) { contact { id } } }`, vars: contactVar},
	"delete-contact": {field: "Mutation.deleteContact",
		query: `mutation($id: ID!) { deleteContact(id: $id) { success } }`, vars: contactVar},
	"upsert-contact": {field: "Mutation.upsertContact",
		query: `mutation { upsertContact(input: {email: "covered@example.org"}) { created } }`},
	"get-contacts-by-businessId": {field: "Business.contacts",
		query: `query($id: ID!) { contact(id: $id) { business { contacts { totalCount } } } }`, vars: contactVar},
	"add-followers-contact": {field: "Mutation.addContactFollowers",
		query: `mutation($id: ID!) { addContactFollowers(contactId: $id, followers: ["u1"]) { followers } }`, vars: contactVar},
	"remove-followers-contact": {field: "Mutation.removeContactFollowers",
		query: `mutation($id: ID!) { removeContactFollowers(contactId: $id, followers: ["u1"]) { followers } }`, vars: contactVar},
	"add-contact-to-campaign": {field: "Mutation.addContactToCampaign",
		query: `mutation($id: ID!) { addContactToCampaign(contactId: $id, campaignId: "c1") { success } }`, vars: contactVar},
	"remove-contact-from-campaign": {field: "Mutation.removeContactFromCampaign",
		query: `mutation($id: ID!) { removeContactFromCampaign(contactId: $id, campaignId: "c1") { success } }`, vars: contactVar},
	"remove-contact-from-every-campaign": {field: "Mutation.removeContactFromAllCampaigns",
		query: `mutation($id: ID!) { removeContactFromAllCampaigns(contactId: $id) { success } }`, vars: contactVar},
	"add-contact-to-workflow": {field: "Mutation.addContactToWorkflow",
		query: `mutation($id: ID!) { addContactToWorkflow(contactId: $id, workflowId: "w1") { success } }`, vars: contactVar},
	"delete-contact-from-workflow": {field: "Mutation.removeContactFromWorkflow",
		query: `mutation($id: ID!) { removeContactFromWorkflow(contactId: $id, workflowId: "w1") { success } }`, vars: contactVar},
	"create-contact": {field: "Mutation.createContact",
		query: `mutation { createContact(input: {firstName: "Covered", email: "covered-create@example.org"}) { contact { id } } }`},
	"get-contacts": {field: "Query.contactsLegacyList",
		query: `{ contactsLegacyList(first: 5) { totalCount nodes { id } } }`},
}

func contactVar(_ *e2e, f fixture) map[string]any { return map[string]any{"id": f.contactID} }
func taskVars(_ *e2e, f fixture) map[string]any {
	return map[string]any{"id": f.contactID, "t": f.taskID}
}
func noteVars(_ *e2e, f fixture) map[string]any {
	return map[string]any{"id": f.contactID, "n": f.noteID}
}

// selectedFields returns the "Type.field" coordinates a validated query selects.
func selectedFields(doc *ast.QueryDocument) map[string]bool {
	out := map[string]bool{}
	var walk func(ast.SelectionSet)
	walk = func(set ast.SelectionSet) {
		for _, sel := range set {
			switch s := sel.(type) {
			case *ast.Field:
				if s.ObjectDefinition != nil {
					out[s.ObjectDefinition.Name+"."+s.Name] = true
				}
				walk(s.SelectionSet)
			case *ast.InlineFragment:
				walk(s.SelectionSet)
			case *ast.FragmentSpread:
				if s.Definition != nil {
					walk(s.Definition.SelectionSet)
				}
			}
		}
	}
	for _, op := range doc.Operations {
		walk(op.SelectionSet)
	}
	return out
}

func TestE2EOperationCoverage(t *testing.T) {
	t.Parallel()
	var ops []string
	for _, op := range upstream.Operations() {
		ops = append(ops, op.ID)
	}
	slices.Sort(ops)
	mapped := slices.Sorted(maps.Keys(operationFields))
	if len(ops) != 32 {
		t.Errorf("upstream.Operations() has %d operations, want 32", len(ops))
	}
	for _, id := range ops {
		if _, ok := operationFields[id]; !ok {
			t.Errorf("operation %s has no GraphQL field in the coverage map", id)
		}
	}
	for _, id := range mapped {
		if !slices.Contains(ops, id) {
			t.Errorf("coverage map names %s, which is not in upstream.Operations()", id)
		}
	}

	schema, err := gqlparser.LoadSchema(&ast.Source{Name: "schema.graphqls", Input: server.SchemaSDL()})
	if err != nil {
		t.Fatalf("SchemaSDL does not parse: %v", err)
	}

	// The served schema, through introspection, has every mapped field too.
	e := newE2E(t)
	served := map[string]bool{}
	for _, typ := range []string{"Query", "Mutation", "Contact", "Business"} {
		r := e.gql("", `query($t: String!) { __type(name: $t) { fields(includeDeprecated: true) { name } } }`, map[string]any{"t": typ}).ok(t)
		for _, name := range field(r.get("__type.fields"), "name") {
			served[typ+"."+name] = true
		}
	}
	for _, id := range mapped {
		if f := operationFields[id].field; !served[f] {
			t.Errorf("%s (for %s) is not in the served schema", f, id)
		}
	}

	for _, id := range mapped {
		rc := operationFields[id]
		t.Run(id, func(t *testing.T) {
			t.Parallel()
			typ, fld, _ := strings.Cut(rc.field, ".")
			def := schema.Types[typ]
			if def == nil || def.Fields.ForName(fld) == nil {
				t.Fatalf("%s: no such field in the schema", rc.field)
			}
			doc, errs := gqlparser.LoadQuery(schema, rc.query)
			if errs != nil {
				t.Fatalf("query does not validate: %v", errs)
			}
			if !selectedFields(doc)[rc.field] {
				t.Fatalf("query does not select %s: %s", rc.field, rc.query)
			}

			// A fresh sandbox per operation: nothing cached, nothing shared.
			e := newE2E(t)
			f := e.setup(t)
			var vars map[string]any
			if rc.vars != nil {
				vars = rc.vars(e, f)
			}
			before := e.sb.Calls(id)
			e.gql(e.token, rc.query, vars).ok(t)
			if after := e.sb.Calls(id); after <= before {
				t.Errorf("%s did not call %s (calls %d → %d; all: %v)", rc.field, id, before, after, e.sb.AllCalls())
			}
		})
	}
}
