// Tests for the cost of reading listed contacts whole.

package server

import (
	"testing"

	"github.com/vektah/gqlparser/v2"
	"github.com/vektah/gqlparser/v2/ast"

	"github.com/ghl-graphql/gateway/graph"
)

func TestCostOfCompletingListedContacts(t *testing.T) {
	schema := graph.NewExecutableSchema(graph.Config{}).Schema()
	tests := map[string]struct {
		query string
		cost  int
	}{
		"listed fields only":          {`{ contacts(first: 20) { nodes { id email tags customFields { fieldId } } } }`, 1},
		"a field listings lack":       {`{ contacts(first: 20) { nodes { firstName } } }`, 1 + 20},
		"many lacking fields, 1 read": {`{ contacts(first: 20) { nodes { firstName lastName phone dnd dndSettings { sms { status } } } } }`, 1 + 20},
		"with children":               {`{ contacts(first: 10) { nodes { name tasks { id } notes { id } } } }`, 1 + 10*3},
		"through edges":               {`{ contacts(first: 5) { edges { node { phone } } } }`, 1 + 5},
		"edges and nodes both":        {`{ contacts(first: 5) { edges { node { phone } } nodes { phone } } }`, 1 + 5*2},
		"fragment on Contact": {
			`query { contacts(first: 4) { nodes { ...F } } } fragment F on Contact { companyName }`, 1 + 4},
		"business listing":   {`{ contactsByBusiness(businessId: "b", first: 3) { nodes { phone } } }`, 1 + 3},
		"legacy listing":     {`{ contactsLegacyList(first: 3) { nodes { email } } }`, 1},
		"read by ID":         {`{ contact(id: "a") { firstName phone tasks { id } } }`, 2},
		"nested business":    {`{ contact(id: "a") { firstName business { contacts(first: 10) { nodes { phone } } } } }`, 1 + 1 + 10},
		"duplicate look-up":  {`{ duplicateContact(email: "a@b.io") { id firstName } }`, 2},
		"a write's contact":  {`mutation { updateContact(id: "a", input: {}) { contact { firstName tasks { id } } } }`, 2},
		"a create's contact": {`mutation { createContact(input: {email: "a@b.io"}) { contact { timezone tasks { id } } } }`, 3},
		"an upsert's":        {`mutation { upsertContact(input: {email: "a@b.io"}) { contact { phone } traceId } }`, 1},
		"tags payload":       {`mutation { addContactTags(contactId: "a", tags: ["x"]) { contact { phone } } }`, 2},
		"pure listed fields": {`{ contacts(first: 500) { edges { node { id locationId } } } }`, 1},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			doc, errs := gqlparser.LoadQuery(schema, tc.query)
			if errs != nil {
				t.Fatalf("query does not validate: %v", errs)
			}
			m, err := measure(doc.Operations[0], nil, len(tc.query)+1)
			if err != nil {
				t.Fatal(err)
			}
			if m.cost != tc.cost {
				t.Errorf("cost %d, want %d", m.cost, tc.cost)
			}
		})
	}
}

// TestEveryContactFieldTurnsMarksIntoCalls: every field that returns
// contacts has a cost that consumes the marks of the fields listings lack,
// so a mark never reaches a request's cost.
func TestEveryContactFieldTurnsMarksIntoCalls(t *testing.T) {
	schema := graph.NewExecutableSchema(graph.Config{}).Schema()
	for _, ty := range schema.Types {
		if ty.Kind != ast.Object || len(ty.Name) > 1 && ty.Name[:2] == "__" {
			continue
		}
		for _, f := range ty.Fields {
			inner := f.Type
			for inner.Elem != nil {
				inner = inner.Elem
			}
			if inner.NamedType != "Contact" {
				continue
			}
			cost, ok := fieldCosts[ty.Name+"."+f.Name]
			if !ok {
				t.Errorf("%s.%s returns contacts and has no cost: marks would leak into the request's", ty.Name, f.Name)
				continue
			}
			if got := cost(nil, 3*lackMark+2); got >= lackMark || got < 2 {
				t.Errorf("%s.%s costs %d for a selection of 2 calls and 3 marks", ty.Name, f.Name, got)
			}
		}
	}
}
