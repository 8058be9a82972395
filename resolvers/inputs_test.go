// Tests for input checks and conversions: what is refused before any
// upstream call, and what the upstream bodies look like.

package resolvers

import (
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/99designs/gqlgen/graphql"

	"github.com/ghl-graphql/gateway/graph/model"
	"github.com/ghl-graphql/gateway/upstream"
)

func isBadInput(err error) bool {
	var in *inputError
	return errors.As(err, &in)
}

func TestCheckID(t *testing.T) {
	tests := map[string]bool{ // id -> valid
		"seD4PfOuKoVMLkEZqohJ": true,
		"a/../../oauth/token":  true, // escaped later, stays one segment
		"x?y=1":                true,
		"a#b":                  true,
		"%2e%2e":               true,
		"":                     false,
		"   ":                  false,
		".":                    false,
		"..":                   false,
		"a\nb":                 false,
		"a\u200bb":             false,
		"a\u202eb":             false,
	}
	for id, valid := range tests {
		err := checkID("id", id)
		if valid != (err == nil) {
			t.Errorf("checkID(%q) = %v, want valid=%v", id, err, valid)
		}
		if err != nil && !isBadInput(err) {
			t.Errorf("checkID(%q) error is not BAD_USER_INPUT: %T", id, err)
		}
	}
}

func TestCheckEmailAndPhone(t *testing.T) {
	emails := map[string]bool{
		"rubika@deos.com": true, "a.b+c@x.co.uk": true,
		"not-an-email": false, "a@b": false, "Name <a@b.com>": false, "@x.com": false, "": false, "a@b.com ": false,
	}
	for e, ok := range emails {
		if err := checkEmail("email", e); ok != (err == nil) {
			t.Errorf("checkEmail(%q) = %v, want ok=%v", e, err, ok)
		}
	}
	phones := map[string]bool{
		"+18832327657": true, "+1 888-888-8888": true, "(555) 123.4567": true,
		"12": false, "call me": false, "+1+2345678": false, "12345678901234567890": false,
	}
	for p, ok := range phones {
		if err := checkPhone("phone", p); ok != (err == nil) {
			t.Errorf("checkPhone(%q) = %v, want ok=%v", p, err, ok)
		}
	}
}

func str(s string) graphql.Omittable[*string] { return graphql.OmittableOf(&s) }
func nullStr() graphql.Omittable[*string]     { return graphql.OmittableOf[*string](nil) }

func TestUpdateContactRequestNullVersusAbsent(t *testing.T) {
	req, err := updateContactRequest(model.UpdateContactInput{
		FirstName: str("Ada"),
		Email:     nullStr(),
		Tags:      graphql.OmittableOf([]string{"vip"}),
	})
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(req)
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 || got["firstName"] != "Ada" || got["email"] != nil {
		t.Errorf("body = %s, want exactly firstName, email:null and tags", b)
	}
	if _, present := got["email"]; !present {
		t.Errorf("email must be sent as null to clear it: %s", b)
	}
}

func TestInputsRefused(t *testing.T) {
	due := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	tests := map[string]func() error{
		"create without identity": func() error {
			_, err := createContactRequest(model.CreateContactInput{City: str("Paris")}, "loc")
			return err
		},
		"create with bad email": func() error {
			_, err := createContactRequest(model.CreateContactInput{Email: str("nope")}, "loc")
			return err
		},
		"create with bad phone": func() error {
			_, err := createContactRequest(model.CreateContactInput{Phone: str("call me")}, "loc")
			return err
		},
		"create with empty tag": func() error {
			_, err := createContactRequest(model.CreateContactInput{Name: str("A"), Tags: graphql.OmittableOf([]string{""})}, "loc")
			return err
		},
		"custom field without id or key": func() error {
			_, err := createContactRequest(model.CreateContactInput{Name: str("A"),
				CustomFields: graphql.OmittableOf([]model.CustomFieldInput{{Value: graphql.OmittableOf[any]("x")}})}, "loc")
			return err
		},
		"inbound DND permanent": func() error {
			_, err := createContactRequest(model.CreateContactInput{Name: str("A"),
				InboundDndSettings: graphql.OmittableOf(&model.InboundDndSettingsInput{
					All: graphql.OmittableOf(&model.InboundDndSettingInput{Status: model.DndStatusPermanent})})}, "loc")
			return err
		},
		"update with bad email": func() error {
			_, err := updateContactRequest(model.UpdateContactInput{Email: str("x@")})
			return err
		},
		"task with blank title": func() error {
			_, err := createTaskRequest(model.CreateTaskInput{Title: "  ", DueDate: due})
			return err
		},
		"task update clearing the title": func() error {
			_, err := updateTaskRequest(model.UpdateTaskInput{Title: nullStr()})
			return err
		},
		"task update clearing the due date": func() error {
			_, err := updateTaskRequest(model.UpdateTaskInput{DueDate: graphql.OmittableOf[*time.Time](nil)})
			return err
		},
		"note with empty body": func() error {
			_, err := createNoteRequest(model.CreateNoteInput{Body: ""})
			return err
		},
		"note update clearing the body": func() error {
			_, err := updateNoteRequest(model.UpdateNoteInput{Body: nullStr()})
			return err
		},
		"empty tag list":  func() error { return checkTags("tags", nil, false) },
		"empty ID list":   func() error { return checkIDs("contactIds", nil) },
		"ID list with ..": func() error { return checkIDs("contactIds", []string{"a", ".."}) },
	}
	for name, f := range tests {
		t.Run(name, func(t *testing.T) {
			if err := f(); !isBadInput(err) {
				t.Errorf("err = %v, want BAD_USER_INPUT", err)
			}
		})
	}
}

func TestCreateTaskRequestFormatsDueDate(t *testing.T) {
	due := time.Date(2026, 1, 2, 3, 4, 5, 0, time.FixedZone("X", 3600))
	req, err := createTaskRequest(model.CreateTaskInput{Title: "Call", DueDate: due})
	if err != nil {
		t.Fatal(err)
	}
	if req.DueDate != "2026-01-02T02:04:05.000Z" || req.Completed {
		t.Errorf("req = %+v", req)
	}
}

func op(o model.FilterOperator) graphql.Omittable[*model.FilterOperator] {
	return graphql.OmittableOf(&o)
}
func grp(g model.FilterGroup) graphql.Omittable[*model.FilterGroup] { return graphql.OmittableOf(&g) }

func TestFiltersToAPI(t *testing.T) {
	in := []model.ContactFilter{
		{Field: str("tags"), Operator: op(model.FilterOperatorEq), Value: graphql.OmittableOf[any]("vip")},
		{Group: grp(model.FilterGroupOr), Filters: graphql.OmittableOf([]model.ContactFilter{
			{Field: str("email"), Operator: op(model.FilterOperatorExists)},
			{Field: str("dateAdded"), Operator: op(model.FilterOperatorRange),
				Range: graphql.OmittableOf(&model.RangeInput{Gte: graphql.OmittableOf[any]("2026-01-01T00:00:00Z")})},
		})},
	}
	got, err := filtersToAPI(in)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(got)
	want := `[{"field":"tags","operator":"eq","value":"vip"},{"group":"OR","filters":[{"field":"email","operator":"exists"},{"field":"dateAdded","operator":"range","value":{"gte":"2026-01-01T00:00:00Z"}}]}]`
	if string(b) != want {
		t.Errorf("filters =\n%s\nwant\n%s", b, want)
	}
}

func TestFiltersRefused(t *testing.T) {
	// How deep and how many: TestCheckArguments (they are Limits).
	deep := []model.ContactFilter{{Group: grp(model.FilterGroupAnd), Filters: graphql.OmittableOf(
		[]model.ContactFilter{{Field: str("email"), Operator: op(model.FilterOperatorExists)}})}}
	tests := map[string][]model.ContactFilter{
		"no field":             {{Operator: op(model.FilterOperatorEq), Value: graphql.OmittableOf[any]("x")}},
		"no operator":          {{Field: str("email")}},
		"EQ without value":     {{Field: str("email"), Operator: op(model.FilterOperatorEq)}},
		"EXISTS with value":    {{Field: str("email"), Operator: op(model.FilterOperatorExists), Value: graphql.OmittableOf[any]("x")}},
		"RANGE without bounds": {{Field: str("dateAdded"), Operator: op(model.FilterOperatorRange), Range: graphql.OmittableOf(&model.RangeInput{})}},
		"range with EQ":        {{Field: str("email"), Operator: op(model.FilterOperatorEq), Value: graphql.OmittableOf[any]("x"), Range: graphql.OmittableOf(&model.RangeInput{})}},
		"empty group":          {{Group: grp(model.FilterGroupAnd)}},
		"group with a field":   {{Group: grp(model.FilterGroupAnd), Field: str("email"), Filters: graphql.OmittableOf(deep)}},
	}
	for name, in := range tests {
		t.Run(name, func(t *testing.T) {
			if _, err := filtersToAPI(in); !isBadInput(err) {
				t.Errorf("err = %v, want BAD_USER_INPUT", err)
			}
		})
	}
}

func TestPageArgs(t *testing.T) {
	one, zero, big := 1, 0, 501
	valid := upstream.SearchCursor{Offset: 40}.Encode()
	garbage := "not a cursor"
	if _, _, err := pageArgs(&zero, nil, 500); !isBadInput(err) {
		t.Errorf("first 0: %v", err)
	}
	if _, _, err := pageArgs(&big, nil, 500); !isBadInput(err) {
		t.Errorf("first 501: %v", err)
	}
	if _, _, err := pageArgs(&one, &garbage, 500); !isBadInput(err) {
		t.Errorf("garbage cursor: %v", err)
	}
	n, c, err := pageArgs(nil, &valid, 500)
	if err != nil || n != 20 || c.Offset != 40 {
		t.Errorf("pageArgs = %d, %+v, %v", n, c, err)
	}
}

func TestLegacyCursorRoundTrip(t *testing.T) {
	c := upstream.Contact{ID: "abc", DateAdded: "2026-01-02T03:04:05.678Z"}
	cur := legacyCursorOf(upstream.SearchCursor{Offset: 20}, nil)(4, &c)
	parsed, err := upstream.ParseSearchCursor(cur.Encode())
	if err != nil {
		t.Fatal(err)
	}
	ms, id, err := legacyCursor(parsed)
	if err != nil || id != "abc" || ms != time.Date(2026, 1, 2, 3, 4, 5, 678e6, time.UTC).UnixMilli() || parsed.Offset != 25 {
		t.Errorf("legacyCursor = %d, %q, %v (offset %d)", ms, id, err, parsed.Offset)
	}
	if _, _, err := legacyCursor(upstream.SearchCursor{Offset: 3}); !isBadInput(err) {
		t.Errorf("a search cursor must not page the legacy list: %v", err)
	}
}
