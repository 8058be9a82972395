// Tests for query cost, depth and alias limits.

package server

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/vektah/gqlparser/v2"

	"github.com/ghl-graphql/gateway/errcode"
	"github.com/ghl-graphql/gateway/graph"
)

func TestMeasure(t *testing.T) {
	schema := graph.NewExecutableSchema(graph.Config{}).Schema()
	tests := map[string]struct {
		query             string
		vars              map[string]any
		cost, depth, alia int
	}{
		"scalar fields only":  {query: `{ contact(id: "a") { id name email tags } }`, cost: 1, depth: 2},
		"the snapshot":        {query: `{ contact(id: "a") { id tasks { id } notes { id } appointments { id } } }`, cost: 4, depth: 3},
		"the issue's example": {query: `{ contacts(first: 100) { edges { node { tasks { id } notes { id } } } } }`, cost: 201, depth: 5},
		"first from a variable": {
			query: `query($n: Int) { contacts(first: $n) { nodes { tasks { id } } } }`, vars: map[string]any{"n": int64(7)}, cost: 8, depth: 4,
		},
		"default first": {query: `{ contacts { nodes { notes { id } } } }`, cost: 21, depth: 4},
		"business of a contact": {
			query: `{ contact(id: "a") { business { id contacts(first: 10) { nodes { id tasks { id } } } } } }`, cost: 1 + 1 + 10, depth: 6,
		},
		"aliases repeat cost": {
			query: `{ a: contact(id: "a") { id } b: contact(id: "b") { id } c: contact(id: "c") { tasks { id } } }`, cost: 4, depth: 3, alia: 3,
		},
		"fragments count": {
			query: `query { contact(id: "a") { ...F } } fragment F on Contact { tasks { id } notes { id } }`, cost: 3, depth: 3,
		},
		"inline fragment": {query: `{ contact(id: "a") { ... on Contact { appointments { id } } } }`, cost: 2, depth: 3},
		"mutation and its payload": {
			query: `mutation { addContactTags(contactId: "a", tags: ["x"]) { tags contact { tasks { id } } } }`, cost: 3, depth: 4,
		},
		"introspection is free": {query: `{ __schema { types { fields { type { ofType { ofType { name } } } } } } }`, cost: 0, depth: 0},
		"bulk mutation":         {query: `mutation { bulkUpdateContactTags(input: {action: ADD, contactIds: ["a"], tags: ["t"]}) { success } }`, cost: 1, depth: 2},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			doc, errs := gqlparser.LoadQuery(schema, tc.query)
			if errs != nil {
				t.Fatalf("query does not validate: %v", errs)
			}
			m, err := measure(doc.Operations[0], tc.vars, len(tc.query))
			if err != nil {
				t.Fatal(err)
			}
			cost, depth, aliases := m.cost, m.depth, m.aliases
			if cost != tc.cost || depth != tc.depth || aliases != tc.alia {
				t.Errorf("measure = cost %d, depth %d, aliases %d; want %d, %d, %d", cost, depth, aliases, tc.cost, tc.depth, tc.alia)
			}
		})
	}
}

func TestQueryLimitsEndToEnd(t *testing.T) {
	e := newCacheEnv(t, func(c *Config) { c.Limits = QueryLimits{MaxCost: 50, MaxDepth: 6, MaxAliases: 3} })
	id := e.contacts[0]
	type errOut struct {
		Message    string         `json:"message"`
		Extensions map[string]any `json:"extensions"`
	}
	tests := map[string]struct {
		query    string
		wantCode string
		wantMsg  string
	}{
		"within limits":  {query: `{ contact(id: "` + id + `") { id tasks { id } } }`},
		"too costly":     {query: `{ contacts(first: 30) { nodes { tasks { id } notes { id } } } }`, wantCode: errcode.CodeQueryTooComplex, wantMsg: "query cost 61"},
		"too deep":       {query: `{ contact(id: "` + id + `") { business { contacts { edges { node { business { id } } } } } } }`, wantCode: errcode.CodeQueryTooComplex, wantMsg: "depth 7"},
		"too many alias": {query: `{ a: contact(id: "x") { id } b: contact(id: "x") { id } c: contact(id: "x") { id } d: contact(id: "x") { id } }`, wantCode: errcode.CodeQueryTooComplex, wantMsg: "4 aliased fields"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			before := e.sb.TotalCalls()
			body, _ := json.Marshal(map[string]any{"query": tc.query})
			resp, err := e.gw.Client().Post(e.gw.URL+GraphQLPath, "application/json", strings.NewReader(string(body)))
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var out struct {
				Errors     []errOut       `json:"errors"`
				Extensions map[string]any `json:"extensions"`
			}
			json.NewDecoder(resp.Body).Decode(&out)
			if tc.wantCode == "" {
				cost, _ := out.Extensions["cost"].(map[string]any)
				if cost["requested"] != float64(2) || cost["limit"] != float64(50) {
					t.Errorf("extensions.cost = %v, want requested 2, limit 50", out.Extensions)
				}
				return
			}
			if len(out.Errors) != 1 || out.Errors[0].Extensions["code"] != tc.wantCode || !strings.Contains(out.Errors[0].Message, tc.wantMsg) {
				t.Fatalf("errors = %+v, want %s mentioning %q", out.Errors, tc.wantCode, tc.wantMsg)
			}
			if e.sb.TotalCalls() != before {
				t.Errorf("a refused query reached the upstream")
			}
		})
	}
}
