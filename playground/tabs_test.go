package playground

import (
	"io"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
)

// Tabs reach the page's config in order, with their variables; bad tabs
// are refused when the handler is built.
func TestTabs(t *testing.T) {
	tabs := []Tab{
		{Query: "query Snapshot($id: ID!) { contact(id: $id) { id } }", Variables: `{"id": "c1"}`},
		{Query: "mutation M { __typename }"},
	}
	h, err := Handler(Options{Endpoint: "/graphql", Tabs: tabs, DefaultHeaders: map[string]string{"Authorization": "Bearer t"}})
	if err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
	body, _ := io.ReadAll(rec.Body)
	cfg := pageConfigOf(t, string(body))
	want := []pageTab{{Query: tabs[0].Query, Variables: tabs[0].Variables}, {Query: tabs[1].Query}}
	if !slices.Equal(cfg.Tabs, want) {
		t.Errorf("tabs %+v, want %+v", cfg.Tabs, want)
	}
	if !strings.Contains(bootstrapJS, "config.tabs") {
		t.Error("bootstrap.js does not read the tabs")
	}
	for name, bad := range map[string]Tab{
		"no query":          {Variables: `{}`},
		"variables no JSON": {Query: "{ a }", Variables: `{"id":`},
		"variables a list":  {Query: "{ a }", Variables: `[1]`},
	} {
		if _, err := Handler(Options{Endpoint: "/graphql", Tabs: []Tab{bad}}); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
