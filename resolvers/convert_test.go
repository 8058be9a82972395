package resolvers

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/google/go-cmp/cmp"
	"github.com/vektah/gqlparser/v2/ast"

	"github.com/ghl-graphql/gateway/graph"
	"github.com/ghl-graphql/gateway/graph/model"
	"github.com/ghl-graphql/gateway/upstream"
)

func ptrTo[T any](v T) *T { return &v }

// TestContactFromAPIFields: the fields the API's contact has beyond the
// basics reach the GraphQL Contact, absent ones are null (or false, or an
// empty list), and attributions come from the list or the first/latest pair.
func TestContactFromAPIFields(t *testing.T) {
	first := upstream.Attribution{URL: "https://a.example/", UTMSource: "news", SessionSource: "Paid Search"}
	latest := upstream.Attribution{URL: "https://b.example/", Medium: "form", MediumID: "f1"}
	at := time.Date(2021, 7, 16, 11, 39, 30, 564e6, time.UTC)
	tests := []struct {
		name string
		in   upstream.Contact
		want func(*model.Contact) any
		is   any
	}{
		{"lastSessionActivityAt", upstream.Contact{LastSessionActivityAt: "2021-07-16T11:39:30.564Z"},
			func(m *model.Contact) any { return m.LastSessionActivityAt }, &at},
		{"lower-case names", upstream.Contact{FirstNameLowerCase: "rubika", LastNameLowerCase: "deo", FullNameLowerCase: "rubika deo", EmailLowerCase: "r@d.io"},
			func(m *model.Contact) any {
				return []*string{m.FirstNameLowerCase, m.LastNameLowerCase, m.FullNameLowerCase, m.EmailLowerCase}
			}, []*string{ptrTo("rubika"), ptrTo("deo"), ptrTo("rubika deo"), ptrTo("r@d.io")}},
		{"birth month and day", upstream.Contact{BirthMonth: 8, BirthDay: 25},
			func(m *model.Contact) any { return []*int{m.BirthMonth, m.BirthDay} }, []*int{ptrTo(8), ptrTo(25)}},
		{"no birth month or day is null", upstream.Contact{},
			func(m *model.Contact) any { return []*int{m.BirthMonth, m.BirthDay} }, []*int{nil, nil}},
		{"ssn, attachments, visitorId", upstream.Contact{SSN: "123-45-6789", Attachments: `["a.pdf"]`, VisitorID: "v1"},
			func(m *model.Contact) any { return []*string{m.Ssn, m.Attachments, m.VisitorID} },
			[]*string{ptrTo("123-45-6789"), ptrTo(`["a.pdf"]`), ptrTo("v1")}},
		{"email flags and deleted", upstream.Contact{BounceEmail: true, UnsubscribeEmail: true, Deleted: true},
			func(m *model.Contact) any { return []bool{m.BounceEmail, m.UnsubscribeEmail, m.Deleted} }, []bool{true, true, true}},
		{"flags default to false", upstream.Contact{},
			func(m *model.Contact) any { return []bool{m.BounceEmail, m.UnsubscribeEmail, m.Deleted} }, []bool{false, false, false}},
		{"offers and products", upstream.Contact{Offers: []string{"o1"}, Products: []string{"p1", "p2"}},
			func(m *model.Contact) any { return [][]string{m.Offers, m.Products} }, [][]string{{"o1"}, {"p1", "p2"}}},
		{"no offers or products is an empty list", upstream.Contact{},
			func(m *model.Contact) any { return [][]string{m.Offers, m.Products} }, [][]string{{}, {}}},
		{"a listing's attributions, first to last", upstream.Contact{Attributions: []upstream.Attribution{first, latest}},
			func(m *model.Contact) any { return attributionURLs(m.Attributions) }, []string{"https://a.example/", "https://b.example/"}},
		{"a read's first and latest attribution", upstream.Contact{AttributionSource: &first, LastAttributionSource: &latest},
			func(m *model.Contact) any { return attributionURLs(m.Attributions) }, []string{"https://a.example/", "https://b.example/"}},
		{"the same first and latest attribution once", upstream.Contact{AttributionSource: &first, LastAttributionSource: ptrTo(first)},
			func(m *model.Contact) any { return attributionURLs(m.Attributions) }, []string{"https://a.example/"}},
		{"no attribution is an empty list", upstream.Contact{},
			func(m *model.Contact) any { return m.Attributions }, []model.Attribution{}},
		{"attribution fields, sessionSource included", upstream.Contact{AttributionSource: &first, LastAttributionSource: &latest},
			func(m *model.Contact) any {
				return []*string{m.AttributionSource.UtmSource, m.AttributionSource.SessionSource, m.LastAttributionSource.MediumID}
			}, []*string{ptrTo("news"), ptrTo("Paid Search"), ptrTo("f1")}},
		{"attributionSource is not made up from a listing's list", upstream.Contact{Attributions: []upstream.Attribution{first, latest}},
			func(m *model.Contact) any { return []*model.Attribution{m.AttributionSource, m.LastAttributionSource} }, []*model.Attribution{nil, nil}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := tt.in
			in.ID, in.LocationID = "c1", "loc"
			if diff := cmp.Diff(tt.is, tt.want(contactFromAPI(&in))); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func attributionURLs(as []model.Attribution) []string {
	out := []string{}
	for _, a := range as {
		out = append(out, *a.URL)
	}
	return out
}

// TestEveryContactFieldHasSources: each field of the schema's Contact says
// which fields of the API's contact it is made from, so a listing's contact
// is completed for it; and every JSON field of the API's contact reaches
// some GraphQL field (the README's "every field"), except the cursor.
func TestEveryContactFieldHasSources(t *testing.T) {
	schema := graph.NewExecutableSchema(graph.Config{Resolvers: &Resolver{}}).Schema()
	covered := upstream.ContactFields(0)
	for _, f := range schema.Types["Contact"].Fields {
		need, ok := contactFieldSources[f.Name]
		if !ok {
			t.Errorf("Contact.%s has no entry in contactFieldSources", f.Name)
		}
		covered |= need
	}
	for name := range contactFieldSources {
		if name != "__typename" && schema.Types["Contact"].Fields.ForName(name) == nil {
			t.Errorf("contactFieldSources names %s, which Contact does not have", name)
		}
	}
	ty := reflect.TypeFor[upstream.Contact]()
	for i := range ty.NumField() {
		key, _, _ := strings.Cut(ty.Field(i).Tag.Get("json"), ",")
		if key == "" || key == "-" || key == "searchAfter" || key == "id" {
			continue
		}
		if covered&upstream.ContactFieldsNamed(key) == 0 {
			t.Errorf("the API's contact field %q reaches no GraphQL field", key)
		}
	}
}

// TestNeedOf: what a selection needs of a listed contact.
func TestNeedOf(t *testing.T) {
	f := upstream.ContactFieldsNamed
	tests := []struct {
		name   string
		fields []string
		want   upstream.ContactFields
	}{
		{"ID and children only", []string{"id", "__typename", "tasks", "notes", "appointments"}, 0},
		{"listed fields", []string{"email", "tags", "business"}, f("email", "tags", "businessId")},
		{"name comes from three fields", []string{"name"}, f("name", "firstName", "lastName")},
		{"an unknown field needs everything", []string{"id", "noSuchField"}, upstream.AllContactFields},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var sel selection
			sel.known = true
			for _, n := range tt.fields {
				sel.fields = append(sel.fields, collected(n))
			}
			if got := sel.need(); got != tt.want {
				t.Errorf("need = %b, want %b", got, tt.want)
			}
		})
	}
	if (selection{}).need() != upstream.AllContactFields {
		t.Error("an unknown selection does not need every field")
	}
	for _, tt := range []struct {
		field string
		lacks bool
	}{{"email", false}, {"tags", false}, {"business", false}, {"tasks", false}, {"firstName", true}, {"name", true}, {"dnd", true}, {"unknown", true}} {
		if got := ListingMayLack(tt.field); got != tt.lacks {
			t.Errorf("ListingMayLack(%q) = %v, want %v", tt.field, got, tt.lacks)
		}
	}
}

func collected(name string) graphql.CollectedField {
	return graphql.CollectedField{Field: &ast.Field{Name: name}}
}
