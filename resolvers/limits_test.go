// Tests for the argument caps (CheckArguments): every cap at its limit is
// accepted and one over is refused with BAD_USER_INPUT naming the argument
// and the limit; control and invisible characters in IDs, tags and one-line
// text; and a walk of the schema that finds a rule for every String, JSON
// and list coordinate, so that a field added later cannot go unbounded.

package resolvers

import (
	"encoding/json"
	"strconv"
	"strings"
	"testing"

	"github.com/vektah/gqlparser/v2"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/validator"

	"github.com/ghl-graphql/gateway/upstream"
)

// checkDoc runs the argument checks of every field of an operation, with
// variables coerced as gqlgen coerces them.
func checkDoc(t *testing.T, lim Limits, query string, vars map[string]any) error {
	t.Helper()
	doc, errs := gqlparser.LoadQuery(schema(), query)
	if len(errs) > 0 {
		t.Fatalf("query does not validate: %v\n%s", errs, query)
	}
	op := doc.Operations[0]
	coerced, gerr := validator.VariableValues(schema(), op, vars)
	if gerr != nil {
		t.Fatalf("variables do not coerce: %v", gerr)
	}
	r := &Resolver{limits: lim.withDefaults()}
	// As the middleware does, field by field, parents first.
	var walk func(ast.SelectionSet) error
	walk = func(set ast.SelectionSet) error {
		for _, sel := range set {
			f, ok := sel.(*ast.Field)
			if !ok {
				continue
			}
			if err := r.checkArguments(f, coerced); err != nil {
				return err
			}
			if err := walk(f.SelectionSet); err != nil {
				return err
			}
		}
		return nil
	}
	return walk(op.SelectionSet)
}

// n strings of one byte each, as a list variable.
func items(n int, f func(i int) any) []any {
	out := make([]any, n)
	for i := range out {
		out[i] = f(i)
	}
	return out
}

func nested(depth int) any {
	var f any = map[string]any{"field": "email", "operator": "EXISTS"}
	for range depth - 1 {
		f = map[string]any{"group": "AND", "filters": []any{f}}
	}
	return []any{f}
}

// capCase is one cap: build makes a request whose capped argument has size n.
type capCase struct {
	name  string
	limit func(Limits) int
	path  string // what the refusal must name
	build func(n int) (string, map[string]any)
}

func textArg(query, name string) func(int) (string, map[string]any) {
	return func(n int) (string, map[string]any) {
		return query, map[string]any{name: strings.Repeat("a", n)}
	}
}

var capCases = []capCase{
	{"contact id", func(l Limits) int { return l.IDBytes }, "id", textArg(`query($v: ID!) { contact(id: $v) { id } }`, "v")},
	{"task contactId", func(l Limits) int { return l.IDBytes }, "contactId", textArg(`query($v: ID!) { task(contactId: $v, id: "t") { id } }`, "v")},
	{"nested note id", func(l Limits) int { return l.IDBytes }, "id", textArg(`query($v: ID!) { contact(id: "c") { note(id: $v) { id } } }`, "v")},
	{"location argument", func(l Limits) int { return l.IDBytes }, "locationId", textArg(`query($v: ID) { contacts(locationId: $v) { totalCount } }`, "v")},
	{"business id", func(l Limits) int { return l.IDBytes }, "businessId", textArg(`query($v: ID!) { contactsByBusiness(businessId: $v) { totalCount } }`, "v")},
	{"campaign id", func(l Limits) int { return l.IDBytes }, "campaignId", textArg(`mutation($v: ID!) { addContactToCampaign(contactId: "c", campaignId: $v) { success } }`, "v")},
	{"workflow id", func(l Limits) int { return l.IDBytes }, "workflowId", textArg(`mutation($v: ID!) { addContactToWorkflow(contactId: "c", workflowId: $v) { success } }`, "v")},
	{"assignedTo in an input", func(l Limits) int { return l.IDBytes }, "input.assignedTo", textArg(`mutation($v: ID) { createContact(input: {name: "x", assignedTo: $v}) { contact { id } } }`, "v")},
	{"a follower", func(l Limits) int { return l.IDBytes }, "followers[0]", textArg(`mutation($v: ID!) { addContactFollowers(contactId: "c", followers: [$v]) { changed } }`, "v")},
	{"a bulk contact ID", func(l Limits) int { return l.IDBytes }, "input.contactIds[0]", textArg(`mutation($v: ID!) { bulkSetContactsBusiness(input: {contactIds: [$v]}) { success } }`, "v")},
	{"a custom field id", func(l Limits) int { return l.IDBytes }, "input.customFields[0].id", textArg(`mutation($v: ID) { updateContact(id: "c", input: {customFields: [{id: $v, value: 1}]}) { contact { id } } }`, "v")},

	{"search query", func(l Limits) int { return l.QueryBytes }, "query", textArg(`query($v: String) { contacts(query: $v) { totalCount } }`, "v")},
	{"legacy query", func(l Limits) int { return l.QueryBytes }, "query", textArg(`query($v: String) { contactsLegacyList(query: $v) { totalCount } }`, "v")},
	{"business contacts query", func(l Limits) int { return l.QueryBytes }, "query", textArg(`query($v: String) { contactsByBusiness(businessId: "b", query: $v) { totalCount } }`, "v")},

	{"create firstName", func(l Limits) int { return l.ShortTextBytes }, "input.firstName", textArg(`mutation($v: String) { createContact(input: {firstName: $v}) { contact { id } } }`, "v")},
	{"update firstName", func(l Limits) int { return l.ShortTextBytes }, "input.firstName", textArg(`mutation($v: String) { updateContact(id: "c", input: {firstName: $v}) { contact { id } } }`, "v")},
	{"upsert address1", func(l Limits) int { return l.ShortTextBytes }, "input.address1", textArg(`mutation($v: String) { upsertContact(input: {email: "a@b.co", address1: $v}) { created } }`, "v")},
	{"update source", func(l Limits) int { return l.ShortTextBytes }, "input.source", textArg(`mutation($v: String) { updateContact(id: "c", input: {source: $v}) { contact { id } } }`, "v")},
	{"update website", func(l Limits) int { return l.ShortTextBytes }, "input.website", textArg(`mutation($v: String) { updateContact(id: "c", input: {website: $v}) { contact { id } } }`, "v")},
	{"create task title", func(l Limits) int { return l.ShortTextBytes }, "input.title", textArg(`mutation($v: String!) { createTask(contactId: "c", input: {title: $v, dueDate: "2026-01-01T00:00:00Z"}) { task { id } } }`, "v")},
	{"update task title", func(l Limits) int { return l.ShortTextBytes }, "input.title", textArg(`mutation($v: String) { updateTask(contactId: "c", id: "t", input: {title: $v}) { task { id } } }`, "v")},
	{"update note title", func(l Limits) int { return l.ShortTextBytes }, "input.title", textArg(`mutation($v: String) { updateNote(contactId: "c", id: "n", input: {title: $v}) { note { id } } }`, "v")},
	{"DND message", func(l Limits) int { return l.ShortTextBytes }, "input.dndSettings.sms.message", textArg(`mutation($v: String) { updateContact(id: "c", input: {dndSettings: {sms: {status: ACTIVE, message: $v}}}) { contact { id } } }`, "v")},
	{"custom field key", func(l Limits) int { return l.ShortTextBytes }, "input.customFields[0].key", textArg(`mutation($v: String) { createContact(input: {name: "x", customFields: [{key: $v, value: 1}]}) { contact { id } } }`, "v")},
	{"filter field", func(l Limits) int { return l.ShortTextBytes }, "filters[0].field", textArg(`query($v: String) { contacts(filters: [{field: $v, operator: EXISTS}]) { totalCount } }`, "v")},
	{"filter value", func(l Limits) int { return l.ShortTextBytes }, "filters[0].value", textArg(`query($v: JSON) { contacts(filters: [{field: "city", operator: EQ, value: $v}]) { totalCount } }`, "v")},
	{"range bound", func(l Limits) int { return l.ShortTextBytes }, "filters[0].range.gte", textArg(`query($v: JSON) { contacts(filters: [{field: "dateAdded", operator: RANGE, range: {gte: $v}}]) { totalCount } }`, "v")},

	{"create note body", func(l Limits) int { return l.TextBytes }, "input.body", textArg(`mutation($v: String!) { createNote(contactId: "c", input: {body: $v}) { note { id } } }`, "v")},
	{"update note body", func(l Limits) int { return l.TextBytes }, "input.body", textArg(`mutation($v: String) { updateNote(contactId: "c", id: "n", input: {body: $v}) { note { id } } }`, "v")},
	{"create task body", func(l Limits) int { return l.TextBytes }, "input.body", textArg(`mutation($v: String) { createTask(contactId: "c", input: {title: "t", body: $v, dueDate: "2026-01-01T00:00:00Z"}) { task { id } } }`, "v")},
	{"update task body", func(l Limits) int { return l.TextBytes }, "input.body", textArg(`mutation($v: String) { updateTask(contactId: "c", id: "t", input: {body: $v}) { task { id } } }`, "v")},

	{"create email", func(l Limits) int { return l.EmailBytes }, "input.email", textArg(`mutation($v: String) { createContact(input: {email: $v}) { contact { id } } }`, "v")},
	{"update email", func(l Limits) int { return l.EmailBytes }, "input.email", textArg(`mutation($v: String) { updateContact(id: "c", input: {email: $v}) { contact { id } } }`, "v")},
	{"duplicate email", func(l Limits) int { return l.EmailBytes }, "email", textArg(`query($v: String) { duplicateContact(email: $v) { id } }`, "v")},
	{"create phone", func(l Limits) int { return l.PhoneBytes }, "input.phone", textArg(`mutation($v: String) { createContact(input: {phone: $v}) { contact { id } } }`, "v")},
	{"update phone", func(l Limits) int { return l.PhoneBytes }, "input.phone", textArg(`mutation($v: String) { updateContact(id: "c", input: {phone: $v}) { contact { id } } }`, "v")},
	{"duplicate phone", func(l Limits) int { return l.PhoneBytes }, "phone", textArg(`query($v: String) { duplicateContact(phone: $v) { id } }`, "v")},

	{"added tag", func(l Limits) int { return l.TagBytes }, "tags[0]", textArg(`mutation($v: String!) { addContactTags(contactId: "c", tags: [$v]) { tags } }`, "v")},
	{"create tag", func(l Limits) int { return l.TagBytes }, "input.tags[0]", textArg(`mutation($v: String!) { createContact(input: {name: "x", tags: [$v]}) { contact { id } } }`, "v")},
	{"update tag", func(l Limits) int { return l.TagBytes }, "input.tags[0]", textArg(`mutation($v: String!) { updateContact(id: "c", input: {tags: [$v]}) { contact { id } } }`, "v")},
	{"bulk tag", func(l Limits) int { return l.TagBytes }, "input.tags[0]", textArg(`mutation($v: String!) { bulkUpdateContactTags(input: {action: ADD, contactIds: ["c"], tags: [$v]}) { success } }`, "v")},

	{"custom field value", func(l Limits) int { return l.CustomFieldValueBytes }, "input.customFields[0].value", func(n int) (string, map[string]any) {
		// As JSON, a string is two bytes longer.
		return `mutation($v: JSON) { updateContact(id: "c", input: {customFields: [{id: "f", value: $v}]}) { contact { id } } }`,
			map[string]any{"v": strings.Repeat("a", n-2)}
	}},

	{"tags", func(l Limits) int { return l.Tags }, "tags", func(n int) (string, map[string]any) {
		return `mutation($v: [String!]!) { removeContactTags(contactId: "c", tags: $v) { tags } }`,
			map[string]any{"v": items(n, func(i int) any { return "t" + strconv.Itoa(i) })}
	}},
	{"bulk contact IDs", func(l Limits) int { return l.BulkIDs }, "input.contactIds", func(n int) (string, map[string]any) {
		return `mutation($v: [ID!]!) { bulkUpdateContactTags(input: {action: ADD, contactIds: $v, tags: ["t"]}) { success } }`,
			map[string]any{"v": items(n, func(i int) any { return "c" + strconv.Itoa(i) })}
	}},
	{"followers", func(l Limits) int { return l.Followers }, "followers", func(n int) (string, map[string]any) {
		return `mutation($v: [ID!]!) { removeContactFollowers(contactId: "c", followers: $v) { changed } }`,
			map[string]any{"v": items(n, func(i int) any { return "u" + strconv.Itoa(i) })}
	}},
	{"custom fields", func(l Limits) int { return l.CustomFields }, "input.customFields", func(n int) (string, map[string]any) {
		return `mutation($v: [CustomFieldInput!]) { createContact(input: {name: "x", customFields: $v}) { contact { id } } }`,
			map[string]any{"v": items(n, func(i int) any { return map[string]any{"id": "f" + strconv.Itoa(i), "value": i} })}
	}},
	{"filters", func(l Limits) int { return l.Filters }, "filters", func(n int) (string, map[string]any) {
		return `query($v: [ContactFilter!]) { contacts(filters: $v) { totalCount } }`,
			map[string]any{"v": items(n, func(int) any { return map[string]any{"field": "email", "operator": "EXISTS"} })}
	}},
	{"filters over all levels", func(l Limits) int { return l.Filters }, "filters", func(n int) (string, map[string]any) {
		// One group holding n-1 conditions: n filters in all.
		return `query($v: [ContactFilter!]) { contacts(filters: $v) { totalCount } }`,
			map[string]any{"v": []any{map[string]any{"group": "OR", "filters": items(n-1, func(int) any {
				return map[string]any{"field": "email", "operator": "EXISTS"}
			})}}}
	}},
	{"filter depth", func(l Limits) int { return l.FilterDepth }, "filters[0]", func(n int) (string, map[string]any) {
		return `query($v: [ContactFilter!]) { contacts(filters: $v) { totalCount } }`, map[string]any{"v": nested(n)}
	}},
	{"filter values", func(l Limits) int { return l.FilterValues }, "filters[0].value", func(n int) (string, map[string]any) {
		return `query($v: JSON) { contacts(filters: [{field: "tags", operator: EQ, value: $v}]) { totalCount } }`,
			map[string]any{"v": items(n, func(i int) any { return "t" + strconv.Itoa(i) })}
	}},
	{"sort entries", func(l Limits) int { return l.SortFields }, "sort", func(n int) (string, map[string]any) {
		return `query($v: [ContactSort!]) { contacts(sort: $v) { totalCount } }`,
			map[string]any{"v": items(n, func(int) any { return map[string]any{"field": "dateAdded"} })}
	}},
}

func TestCheckArgumentsCaps(t *testing.T) {
	small := Limits{IDBytes: 9, QueryBytes: 11, ShortTextBytes: 13, TextBytes: 40, EmailBytes: 15, PhoneBytes: 12,
		TagBytes: 7, CustomFieldValueBytes: 17, Tags: 3, BulkIDs: 4, Followers: 2, CustomFields: 3, Filters: 5,
		FilterDepth: 3, FilterValues: 4, SortFields: 2}
	for _, lim := range []struct {
		name string
		l    Limits
	}{{"defaults", DefaultLimits}, {"configured", small}} {
		for _, tc := range capCases {
			t.Run(lim.name+"/"+tc.name, func(t *testing.T) {
				max := tc.limit(lim.l)
				q, vars := tc.build(max)
				if err := checkDoc(t, lim.l, q, vars); err != nil {
					t.Errorf("at the limit (%d): %v", max, err)
				}
				q, vars = tc.build(max + 1)
				err := checkDoc(t, lim.l, q, vars)
				if !isBadInput(err) {
					t.Fatalf("one over the limit (%d): err = %v, want BAD_USER_INPUT", max+1, err)
				}
				if msg := err.Error(); !strings.HasPrefix(msg, tc.path) || !strings.Contains(msg, strconv.Itoa(max)) {
					t.Errorf("message %q does not name %s and the limit %d", msg, tc.path, max)
				}
			})
		}
	}
}

func TestCheckArgumentsCharacters(t *testing.T) {
	id := `query($v: ID!) { contact(id: $v) { id } }`
	tag := `mutation($v: String!) { addContactTags(contactId: "c", tags: [$v]) { tags } }`
	bulkTag := `mutation($v: String!) { bulkUpdateContactTags(input: {action: REMOVE, contactIds: ["c"], tags: [$v]}) { success } }`
	name := `mutation($v: String) { updateContact(id: "c", input: {lastName: $v}) { contact { id } } }`
	body := `mutation($v: String!) { createNote(contactId: "c", input: {body: $v}) { note { id } } }`
	query := `query($v: String) { contacts(query: $v) { totalCount } }`
	filterValue := `query($v: JSON) { contacts(filters: [{field: "tags", operator: EQ, value: $v}]) { totalCount } }`
	rangeBound := `query($v: JSON) { contacts(filters: [{field: "dateAdded", operator: RANGE, range: {lt: $v}}]) { totalCount } }`
	tests := []struct {
		name, query string
		v           any
		ok          bool
	}{
		{"plain ID", id, "seD4PfOuKoVMLkEZqohJ", true},
		{"numeric ID", id, json.Number("12345"), true},
		{"ID with NUL", id, "a\x00b", false},
		{"ID with a newline", id, "a\nb", false},
		{"ID with DEL", id, "a\x7fb", false},
		{"ID with C1 control", id, "a\u0085b", false},
		{"ID with zero-width space", id, "a\u200bb", false},
		{"ID with bidi override", id, "a\u202eb", false},
		{"ID with line separator", id, "a\u2028b", false},
		{"ID with replacement character", id, "a\ufffdb", false},
		{"ID of spaces", id, "   ", false},
		{"dot-dot ID", id, "..", false},
		{"follower with a tab", `mutation($v: ID!) { addContactFollowers(contactId: "c", followers: [$v]) { changed } }`, "u\t1", false},
		{"bulk ID with ESC", `mutation($v: ID!) { bulkSetContactsBusiness(input: {contactIds: [$v]}) { success } }`, "c\x1b[2J", false},

		{"plain tag", tag, "vip customer", true},
		{"emoji tag with joiner", tag, "👩\u200d💻", true},
		{"accented tag", tag, "équipe", true},
		{"tag with NUL", tag, "vip\x00", false},
		{"tag with a newline", tag, "vip\nx", false},
		{"tag with BEL", tag, "\x07vip", false},
		{"tag with bidi override", tag, "piv\u202e", false},
		{"tag with bidi isolate", tag, "\u2067vip", false},
		{"tag with paragraph separator", tag, "vip\u2029", false},
		{"bulk tag with a control", bulkTag, "a\x01", false},

		{"name with a newline", name, "Lovelace\nAda", false},
		{"name with NUL", name, "Love\x00lace", false},
		{"plain name", name, "Lovelace-Byron", true},
		{"body with newlines and tabs", body, "line 1\n\tline 2\r\n", true},
		{"body with NUL", body, "a\x00b", false},
		{"body with ESC", body, "\x1b[31mred", false},
		{"query with a control", query, "ada\x00", false},
		{"filter value with a control", filterValue, "vip\n", false},
		{"filter value list", filterValue, []any{"a", 1.5, true}, true},
		{"filter value object", filterValue, map[string]any{"x": 1}, false},
		{"filter value nested list", filterValue, []any{[]any{"a"}}, false},
		{"range bound list", rangeBound, []any{1}, false},
		{"range bound number", rangeBound, 1700000000000, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := checkDoc(t, Limits{}, tc.query, map[string]any{"v": tc.v})
			if tc.ok && err != nil {
				t.Errorf("refused: %v", err)
			}
			if !tc.ok && !isBadInput(err) {
				t.Errorf("err = %v, want BAD_USER_INPUT", err)
			}
		})
	}
}

// TestEveryArgumentHasARule walks the schema: every String argument and
// input field has a text rule, every JSON one a JSON rule, every list a
// count rule, so that nothing a client sends is unbounded. Input types
// with fields of the same name (creates and updates) share their rules by
// construction, since text and list rules are keyed by name.
func TestEveryArgumentHasARule(t *testing.T) {
	s := schema()
	check := func(coord, name string, typ *ast.Type) {
		if typ.Elem != nil {
			if _, ok := listRules[name]; !ok {
				t.Errorf("%s is a list without a count rule (listRules)", coord)
			}
			for typ.Elem != nil {
				typ = typ.Elem
			}
		}
		switch typ.NamedType {
		case "String":
			if _, ok := textRules[name]; !ok {
				t.Errorf("%s is a String without a text rule (textRules)", coord)
			}
		case "JSON":
			if _, ok := jsonRules[coord]; !ok {
				t.Errorf("%s is JSON without a rule (jsonRules)", coord)
			}
		}
	}
	for _, def := range s.Types {
		if strings.HasPrefix(def.Name, "__") {
			continue
		}
		switch def.Kind {
		case ast.InputObject:
			for _, f := range def.Fields {
				check(def.Name+"."+f.Name, f.Name, f.Type)
			}
		case ast.Object:
			for _, f := range def.Fields {
				for _, a := range f.Arguments {
					check(def.Name+"."+f.Name+"."+a.Name, a.Name, a.Type)
				}
			}
		}
	}
	// The cursor rule is the parser's own bound.
	if textRules["after"] != textCursor || upstream.MaxCursorLen != 1024 {
		t.Errorf("after is not bounded by the cursor parser's length")
	}
}

// An integer literal is a valid ID (gqlgen makes it a string).
func TestCheckArgumentsIntegerID(t *testing.T) {
	if err := checkDoc(t, Limits{}, `{ contact(id: 12345) { id } }`, nil); err != nil {
		t.Errorf("integer ID literal refused: %v", err)
	}
	if err := checkDoc(t, Limits{IDBytes: 4}, `{ contact(id: 12345) { id } }`, nil); !isBadInput(err) {
		t.Errorf("a 5-digit ID over a 4-byte limit: %v", err)
	}
}

// jsonSize agrees with encoding/json on compact values without escapes,
// and stops counting past its limit.
func TestJSONSize(t *testing.T) {
	for _, v := range []any{nil, true, "abc", json.Number("12.5"), int64(-7), 3.25, []any{}, []any{"a", 1.0, nil},
		map[string]any{}, map[string]any{"k": []any{map[string]any{"x": "y"}}, "z": false}} {
		b, _ := json.Marshal(v)
		if got := jsonSize(v, 1<<20); got != len(b) {
			t.Errorf("jsonSize(%s) = %d, want %d", b, got, len(b))
		}
	}
	big := make([]any, 1000)
	for i := range big {
		big[i] = strings.Repeat("x", 1000)
	}
	if got := jsonSize(big, 5000); got > 5000+1002 {
		t.Errorf("jsonSize counted %d bytes of a 1 MB value with a limit of 5000", got)
	}
}

func TestLimitsValidate(t *testing.T) {
	if err := (Limits{Tags: -1}).Validate(); err == nil {
		t.Error("a negative limit was accepted")
	}
	if got := (Limits{Tags: 7}).withDefaults(); got.Tags != 7 || got.IDBytes != DefaultLimits.IDBytes {
		t.Errorf("withDefaults = %+v", got)
	}
}
