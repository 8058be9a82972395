// Tests that the schema is safe for normalized caches (Apollo InMemoryCache,
// urql Graphcache, Relay): every type with an `id` is an entity whose id is
// unique for its __typename, and says so in its description (issue 14).

package server_test

import (
	"fmt"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/vektah/gqlparser/v2/ast"

	"github.com/ghl-graphql/gateway/graph"
)

// entityNote is the sentence an entity type's description carries.
func entityNote(typeName string) string {
	return fmt.Sprintf("Entity: `id` is unique among all %s objects", typeName)
}

// TestSchemaIDsAreEntityIDs walks the schema: a type with a field named id
// must be documented as an entity, with a non-null ID; a type documented as
// an entity must have one. The entities are the records HighLevel gives IDs
// of their own; a value shared between records (a custom field's
// definition ID) must not be called id.
func TestSchemaIDsAreEntityIDs(t *testing.T) {
	schema := graph.NewExecutableSchema(graph.Config{}).Schema()
	var entities []string
	for name, def := range schema.Types {
		if strings.HasPrefix(name, "__") || (def.Kind != ast.Object && def.Kind != ast.Interface) {
			continue
		}
		id := def.Fields.ForName("id")
		marked := strings.Contains(def.Description, entityNote(name))
		switch {
		case id == nil && marked:
			t.Errorf("%s is documented as an entity but has no id", name)
		case id == nil:
			continue
		case !marked:
			t.Errorf("%s has an id but is not documented as an entity (%q): a normalized cache would merge objects that share it; rename the field (e.g. fieldId) or document the type", name, entityNote(name))
		case id.Type.String() != "ID!":
			t.Errorf("%s.id is %s, want ID!", name, id.Type)
		}
		if id != nil {
			entities = append(entities, name)
		}
	}
	sort.Strings(entities)
	if want := []string{"Appointment", "Business", "Contact", "Note", "Task"}; !slices.Equal(entities, want) {
		t.Errorf("entities %v, want %v: a new one needs proof its id is unique for its type", entities, want)
	}
}

// TestNormalizedCacheKeysAgree reads several contacts with everything that
// has an id or used to (custom-field values), and normalizes the answer as
// Apollo's InMemoryCache does (by __typename and id): objects under one key
// must agree on every field they both carry, or the cache shows one
// record's data on another.
func TestNormalizedCacheKeysAgree(t *testing.T) {
	e := newE2E(t, withFullListings())
	r := e.gql(e.token, `{ contacts(first: 25) { nodes { __typename id firstName
		customFields { __typename fieldId value }
		business { __typename id }
		tasks { __typename id title contactId }
		notes { __typename id body contactId }
		appointments { __typename id title contactId } } } }`, nil).ok(t)
	seen := map[string]map[string]any{}
	withValues := 0
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case []any:
			for _, x := range v {
				walk(x)
			}
		case map[string]any:
			if v["__typename"] == "CustomFieldValue" {
				withValues++
				if _, ok := v["id"]; ok {
					t.Errorf("a custom-field value has an id: %v", v)
				}
			}
			if id, ok := v["id"].(string); ok {
				key := fmt.Sprint(v["__typename"], ":", id)
				if prev, ok := seen[key]; ok {
					for k, x := range v {
						if y, both := prev[k]; both && !reflect.DeepEqual(scalarsOnly(x), scalarsOnly(y)) {
							t.Errorf("%s: field %s is %v in one place and %v in another", key, k, x, y)
						}
					}
				} else {
					seen[key] = v
				}
			}
			for _, x := range v {
				walk(x)
			}
		}
	}
	walk(r.Data)
	if withValues < 2 {
		t.Fatalf("the sandbox's contacts carry %d custom-field values: the test proves nothing", withValues)
	}
}

// scalarsOnly drops nested objects (compared under their own keys).
func scalarsOnly(v any) any {
	switch v.(type) {
	case map[string]any, []any:
		return nil
	}
	return v
}
