package main

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/vektah/gqlparser/v2"
	"github.com/vektah/gqlparser/v2/ast"

	"github.com/ghl-graphql/gateway/graph"
	"github.com/ghl-graphql/gateway/server"
	"github.com/ghl-graphql/gateway/upstream"
	"github.com/ghl-graphql/gateway/upstream/sandbox"
)

// Every GraphiQL tab on the sandbox runs as it is, with its variables, and
// the search tab's endCursor pages on.
func TestExampleTabsRun(t *testing.T) {
	sb, err := sandbox.New(sandbox.Config{ContactsPerLocation: 12})
	if err != nil {
		t.Fatal(err)
	}
	up := httptest.NewServer(sb)
	defer up.Close()
	client, err := upstream.NewClient(upstream.WithBaseURL(up.URL + "/"))
	if err != nil {
		t.Fatal(err)
	}
	h, err := server.New(server.Config{Client: client})
	if err != nil {
		t.Fatal(err)
	}
	gw := httptest.NewServer(h)
	defer gw.Close()
	run := func(query string, vars map[string]any) map[string]any {
		t.Helper()
		body, _ := json.Marshal(map[string]any{"query": query, "variables": vars})
		req, _ := http.NewRequest(http.MethodPost, gw.URL+server.GraphQLPath, bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+sb.DefaultToken())
		resp, err := gw.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out map[string]any
		if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || out["errors"] != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("%d %v %v\n%s", resp.StatusCode, err, out["errors"], query)
		}
		return out["data"].(map[string]any)
	}
	id := sb.ExampleContact(sb.Locations()[0])
	if n := len(exampleTabs(id, false)); n != 3 {
		t.Fatalf("%d tabs without subscriptions, want the snapshot, a mutation and a search", n)
	}
	tabs := exampleTabs(id, true)
	if len(tabs) != 4 {
		t.Fatalf("%d tabs, want a subscription too", len(tabs))
	}
	// The subscription tab is a valid subscription of the schema (it runs
	// over a WebSocket, which the subscriptions' own tests cover).
	schema := graph.NewExecutableSchema(graph.Config{}).Schema()
	doc, errs := gqlparser.LoadQuery(schema, tabs[3].Query)
	if errs != nil || len(doc.Operations) != 1 || doc.Operations[0].Operation != ast.Subscription {
		t.Fatalf("subscription tab: %v", errs)
	}
	var subVars map[string]any
	if err := json.Unmarshal([]byte(tabs[3].Variables), &subVars); err != nil || subVars["contactId"] != id {
		t.Fatalf("subscription tab variables %s: %v", tabs[3].Variables, err)
	}
	tabs = tabs[:3]
	for i, tab := range tabs {
		var vars map[string]any
		if err := json.Unmarshal([]byte(tab.Variables), &vars); err != nil {
			t.Fatalf("tab %d variables: %v", i, err)
		}
		data := run(tab.Query, vars)
		switch i {
		case 0:
			c := data["contact"].(map[string]any)
			for _, list := range []string{"tasks", "notes", "appointments"} {
				if l, _ := c[list].([]any); len(l) == 0 {
					t.Errorf("snapshot tab: no %s", list)
				}
			}
		case 1:
			task := data["createTask"].(map[string]any)["task"].(map[string]any)
			if task["id"] == nil || task["title"] != "Call back about the quote" {
				t.Errorf("mutation tab: %v", task)
			}
		case 2:
			page := data["contacts"].(map[string]any)
			info := page["pageInfo"].(map[string]any)
			if info["hasNextPage"] != true || info["endCursor"] == nil || len(page["nodes"].([]any)) != 5 {
				t.Fatalf("search tab: %v", page)
			}
			vars["after"] = info["endCursor"]
			next := run(tab.Query, vars)["contacts"].(map[string]any)
			if n := next["nodes"].([]any); len(n) != 5 || n[0].(map[string]any)["id"] == page["nodes"].([]any)[0].(map[string]any)["id"] {
				t.Errorf("the next page: %v", next)
			}
		}
	}
}
