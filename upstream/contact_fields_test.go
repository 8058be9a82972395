package upstream

import (
	"context"
	"encoding/json"
	"net/http"
	"reflect"
	"strings"
	"testing"
)

// TestContactFieldsCoverContact: every JSON key of Contact has a bit, and
// the listing set is the spec's twelve fields.
func TestContactFieldsCoverContact(t *testing.T) {
	ty := reflect.TypeFor[Contact]()
	keys := 0
	for i := range ty.NumField() {
		name, _, _ := strings.Cut(ty.Field(i).Tag.Get("json"), ",")
		if name == "" || name == "-" {
			continue
		}
		keys++
		if ContactFieldsNamed(name) == 0 {
			t.Errorf("key %q has no bit", name)
		}
	}
	if len(contactFieldBits) != keys {
		t.Errorf("%d bits for %d keys", len(contactFieldBits), keys)
	}
	if AllContactFields&fieldsTracked != 0 {
		t.Error("AllContactFields holds the tracking bit")
	}
	n := 0
	for f := ListedContactFields; f != 0; f &= f - 1 {
		n++
	}
	if n != 12 {
		t.Errorf("ListedContactFields has %d fields, the spec's ContactsSearchSchema 12", n)
	}
	defer func() {
		if recover() == nil {
			t.Error("an unknown key did not panic")
		}
	}()
	ContactFieldsNamed("fristName")
}

// TestListedContactsTrackFields: a listing's contacts carry the spec's
// fields plus every key any contact of the same answer has; a contact read
// whole carries everything.
func TestListedContactsTrackFields(t *testing.T) {
	f := ContactFieldsNamed
	tests := []struct {
		name    string
		body    string
		carries ContactFields
		lacks   ContactFields
	}{
		{"spec fields only", `{"contacts":[{"id":"a","email":"a@x.io"},{"id":"b"}],"total":2}`,
			ListedContactFields, f("firstName", "phone", "name", "dnd")},
		{"a key of one contact is carried for all", `{"contacts":[{"id":"a","phone":"+1"},{"id":"b","firstName":"B"}],"total":2}`,
			ListedContactFields | f("phone", "firstName"), f("lastName", "name")},
		{"keys match without regard to case, as encoding/json does", `{"contacts":[{"id":"a","FirstName":"A"}],"total":1}`,
			f("firstName"), f("lastName")},
		{"escaped keys", `{"contacts":[{"id":"a","\u0070hone":"+1"}],"total":1}`,
			f("phone"), f("firstName")},
		{"nested keys do not count", `{"contacts":[{"id":"a","customFields":[{"id":"phone","value":{"firstName":"x"}}],"tags":["}"]}],"total":1}`,
			ListedContactFields, f("phone", "firstName")},
		{"a null value is carried (it is empty)", `{"contacts":[{"id":"a","phone":null}],"total":1}`,
			f("phone"), f("firstName")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, which := range []string{"search", "list"} {
				var cs []Contact
				switch which {
				case "search":
					var r SearchResult
					if err := json.Unmarshal([]byte(tt.body), &r); err != nil {
						t.Fatal(err)
					}
					cs = r.Contacts
				default:
					var l ContactList
					if err := json.Unmarshal([]byte(strings.Replace(tt.body, `"total"`, `"count"`, 1)), &l); err != nil {
						t.Fatal(err)
					}
					cs = l.Contacts
				}
				for _, c := range cs {
					if !c.Partial() {
						t.Errorf("%s: contact %s is not partial", which, c.ID)
					}
					if !c.Carries(tt.carries) {
						t.Errorf("%s: contact %s does not carry %b (fields %b)", which, c.ID, tt.carries, c.Fields)
					}
					for g := tt.lacks; g != 0; g &= g - 1 {
						if bit := g & -g; c.Carries(bit) {
							t.Errorf("%s: contact %s carries %b, which the answer lacked", which, c.ID, bit)
						}
					}
				}
			}
		})
	}
	whole := Contact{ID: "a"}
	if whole.Partial() || !whole.Carries(AllContactFields) {
		t.Error("a contact read whole does not carry every field")
	}
}

// TestListingDecodeKeepsValues: tracking changes no decoded value, and
// keeps the envelope's own fields and an empty list non-nil.
func TestListingDecodeKeepsValues(t *testing.T) {
	var r SearchResult
	if err := json.Unmarshal([]byte(`{"contacts":[{"id":"a","email":"a@x.io","tags":["t"],"searchAfter":[1,"a"]}],"total":7}`), &r); err != nil {
		t.Fatal(err)
	}
	if r.Total != 7 || len(r.Contacts) != 1 || r.Contacts[0].Email != "a@x.io" || len(r.Contacts[0].SearchAfter) != 2 {
		t.Fatalf("decoded %+v", r)
	}
	var l ContactList
	if err := json.Unmarshal([]byte(`{"contacts":[],"count":0,"meta":{"total":3}}`), &l); err != nil {
		t.Fatal(err)
	}
	if l.Contacts == nil || l.Meta == nil || l.Meta.Total != 3 || l.missingField() != "" {
		t.Fatalf("decoded %+v", l)
	}
	var missing ContactList
	if err := json.Unmarshal([]byte(`{"count":0}`), &missing); err != nil {
		t.Fatal(err)
	}
	if missing.missingField() != "contacts" {
		t.Error("an answer without contacts passes the envelope check")
	}
}

// TestFindDuplicateTracksFields: the duplicate look-up's answer has no
// schema in the spec, so only its own keys are carried.
func TestFindDuplicateTracksFields(t *testing.T) {
	env := setup(t)
	env.handle("GET /contacts/search/duplicate", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, []byte(`{"contact":{"id":"a","email":"a@x.io","firstName":"A"}}`))
	})
	got, _, err := env.client.Contacts.FindDuplicate(context.Background(), "loc", "a@x.io", "")
	if err != nil {
		t.Fatal(err)
	}
	if !got.Partial() || !got.Carries(ContactFieldsNamed("id", "email", "firstName")) || got.Carries(ContactFieldsNamed("tags")) {
		t.Errorf("fields %b", got.Fields)
	}
}

// referenceFields is fieldsOfObject written with encoding/json's decoder.
func referenceFields(b []byte) (ContactFields, bool) {
	var m map[string]json.RawMessage
	if json.Unmarshal(b, &m) != nil || m == nil {
		return 0, false
	}
	var set ContactFields
	for k := range m {
		if bit, ok := contactFieldBits[k]; ok {
			set |= bit
		} else {
			set |= lowerFieldBits[strings.ToLower(k)]
		}
	}
	return set, true
}

// FuzzFieldsOfObject: the key scan never panics, and on any JSON object
// finds the keys encoding/json finds.
func FuzzFieldsOfObject(f *testing.F) {
	for _, s := range []string{`{}`, `{"id":"a","phone":"+1"}`, `{"a":{"phone":1},"b":[{"email":"}"}],"firstName":"\""}`,
		`{"\u0070hone":1}`, `{"PHONE":1}`, `[1]`, `{"id":`, `{"id"`, `{"x":"\\"}`, ` { "tags" : [ ] , "dnd" : true } `} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		got := fieldsOfObject(b)
		want, ok := referenceFields(b)
		if ok && got != want {
			t.Errorf("fieldsOfObject(%q) = %b, want %b", b, got, want)
		}
	})
}

// TestCreateTracksFields: a create's contact carries the spec's
// CreateContactSchema fields and its own keys; a read's is whole.
func TestCreateTracksFields(t *testing.T) {
	env := setup(t)
	env.handle("POST /contacts/", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusCreated, []byte(`{"contact":{"id":"a","locationId":"loc","firstName":"A","keyword":"k"}}`))
	})
	env.handle("GET /contacts/a", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, []byte(`{"contact":{"id":"a","locationId":"loc"}}`))
	})
	got, resp, err := env.client.Contacts.Create(context.Background(), &CreateContactRequest{LocationID: "loc", FirstName: "A"})
	if err != nil {
		t.Fatal(err)
	}
	if !got.Partial() || !got.Carries(CreatedContactFields|ContactFieldsNamed("keyword")) || got.Carries(ContactFieldsNamed("timezone")) {
		t.Errorf("fields %b", got.Fields)
	}
	if resp.LocationID != "loc" {
		t.Errorf("the answer's location %q was not observed", resp.LocationID)
	}
	read, _, err := env.client.Contacts.Get(context.Background(), "a")
	if err != nil || read.Partial() {
		t.Errorf("a read: %+v, %v; want a whole contact", read, err)
	}
}
