// This file covers null versus missing: Nullable's three states (absent,
// null, value) through marshal, unmarshal and round trip, and the update
// bodies of contacts, tasks and notes, which must carry exactly the fields
// that were set, with null for the cleared ones and nothing for the others.
// It also checks that a bulk business update without a business sends
// "businessId": null rather than leaving the key out.

package upstream

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestNullableStates(t *testing.T) {
	tests := []struct {
		name             string
		n                Nullable[string]
		zero, null, has  bool
		value            string
		marshal          string
		inStructWithOmit string // as a field with omitzero
	}{
		{name: "absent", n: Nullable[string]{}, zero: true, marshal: `null`, inStructWithOmit: `{}`},
		{name: "null", n: Null[string](), null: true, marshal: `null`, inStructWithOmit: `{"f":null}`},
		{name: "value", n: Set("x"), has: true, value: "x", marshal: `"x"`, inStructWithOmit: `{"f":"x"}`},
		{name: "empty string is a value", n: Set(""), has: true, value: "", marshal: `""`, inStructWithOmit: `{"f":""}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.n.IsZero(); got != tt.zero {
				t.Errorf("IsZero() = %v, want %v", got, tt.zero)
			}
			if got := tt.n.IsNull(); got != tt.null {
				t.Errorf("IsNull() = %v, want %v", got, tt.null)
			}
			v, ok := tt.n.Get()
			if ok != tt.has || (ok && v != tt.value) {
				t.Errorf("Get() = %q, %v, want %q, %v", v, ok, tt.value, tt.has)
			}
			b, err := json.Marshal(tt.n)
			if err != nil || string(b) != tt.marshal {
				t.Errorf("Marshal = %s, %v, want %s", b, err, tt.marshal)
			}
			b, err = json.Marshal(struct {
				F Nullable[string] `json:"f,omitzero"`
			}{tt.n})
			if err != nil || string(b) != tt.inStructWithOmit {
				t.Errorf("Marshal in struct = %s, %v, want %s", b, err, tt.inStructWithOmit)
			}
		})
	}
}

func TestNullableUnmarshal(t *testing.T) {
	type doc struct {
		S Nullable[string]   `json:"s,omitzero"`
		B Nullable[bool]     `json:"b,omitzero"`
		L Nullable[[]string] `json:"l,omitzero"`
	}
	tests := []struct {
		in      string
		want    doc
		wantErr bool
	}{
		{in: `{}`, want: doc{}},
		{in: `{"s":null,"b":null,"l":null}`, want: doc{S: Null[string](), B: Null[bool](), L: Null[[]string]()}},
		{in: `{"s":"v","b":false,"l":[]}`, want: doc{S: Set("v"), B: Set(false), L: Set([]string{})}},
		{in: `{"s": null , "b":true}`, want: doc{S: Null[string](), B: Set(true)}},
		{in: `{"s":""}`, want: doc{S: Set("")}},
		{in: `{"s":5}`, wantErr: true},
		{in: `{"b":"yes"}`, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			var got doc
			err := json.Unmarshal([]byte(tt.in), &got)
			if (err != nil) != tt.wantErr {
				t.Fatalf("Unmarshal(%s) error = %v, want error %v", tt.in, err, tt.wantErr)
			}
			if tt.wantErr {
				return
			}
			if diff := cmp.Diff(tt.want, got, cmp.AllowUnexported(Nullable[string]{}, Nullable[bool]{}, Nullable[[]string]{})); diff != "" {
				t.Errorf("Unmarshal(%s) (-want +got):\n%s", tt.in, diff)
			}
			// Round trip: marshalling what was read gives back the same keys,
			// with the same null-ness.
			b, err := json.Marshal(got)
			if err != nil {
				t.Fatalf("Marshal: %v", err)
			}
			testJSONBody(t, b, tt.in)
		})
	}
}

// TestUpdateBodiesNullVersusMissing sends updates with one field set, one
// cleared and the rest absent, and checks the exact keys of each body.
func TestUpdateBodiesNullVersusMissing(t *testing.T) {
	tests := []struct {
		name     string
		route    string
		call     func(ctx context.Context, c *Client) error
		wantKeys []string
		wantNull []string
		wantBody string
	}{
		{
			name:  "contact",
			route: "PUT /contacts/{contactId}",
			call: func(ctx context.Context, c *Client) error {
				_, _, err := c.Contacts.Update(ctx, tContactID, &UpdateContactRequest{FirstName: Set("x"), Email: Null[string]()})
				return err
			},
			wantKeys: []string{"firstName", "email"}, wantNull: []string{"email"},
			wantBody: `{"firstName":"x","email":null}`,
		},
		{
			// The spec lets postalCode, country and tags not be null: their
			// clear is sent as the empty value.
			name:  "contact: every kind of clearable field cleared",
			route: "PUT /contacts/{contactId}",
			call: func(ctx context.Context, c *Client) error {
				_, _, err := c.Contacts.Update(ctx, tContactID, &UpdateContactRequest{
					City: Null[string](), PostalCode: Null[string](), Country: Null[string](), Tags: Null[[]string](),
					CustomFields: Set([]CustomFieldInput{{ID: "f1", Value: nil}}),
					Phone:        Set(""), // an empty string is a value, not a clear
				})
				return err
			},
			wantKeys: []string{"city", "postalCode", "country", "tags", "customFields", "phone"},
			wantNull: []string{"city"},
			wantBody: `{"city":null,"postalCode":"","country":"","tags":[],"customFields":[{"id":"f1","field_value":""}],"phone":""}`,
		},
		{
			name:  "contact: set to an empty list is not null",
			route: "PUT /contacts/{contactId}",
			call: func(ctx context.Context, c *Client) error {
				_, _, err := c.Contacts.Update(ctx, tContactID, &UpdateContactRequest{Tags: Set([]string{})})
				return err
			},
			wantKeys: []string{"tags"}, wantBody: `{"tags":[]}`,
		},
		{
			name:  "contact: nil body sends an empty object",
			route: "PUT /contacts/{contactId}",
			call: func(ctx context.Context, c *Client) error {
				_, _, err := c.Contacts.Update(ctx, tContactID, nil)
				return err
			},
			wantKeys: []string{}, wantBody: `{}`,
		},
		{
			name:  "task",
			route: "PUT /contacts/{contactId}/tasks/{taskId}",
			call: func(ctx context.Context, c *Client) error {
				_, _, err := c.Tasks.Update(ctx, tContactID, tTaskID, &UpdateTaskRequest{Title: Set("x"), Body: Null[string](), Completed: Set(false)})
				return err
			},
			wantKeys: []string{"title", "body", "completed"},
			wantBody: `{"title":"x","body":"","completed":false}`,
		},
		{
			name:  "note",
			route: "PUT /contacts/{contactId}/notes/{id}",
			call: func(ctx context.Context, c *Client) error {
				_, _, err := c.Notes.Update(ctx, tContactID, tNoteID, &UpdateNoteRequest{Body: Set("x"), Title: Null[string]()})
				return err
			},
			wantKeys: []string{"body", "title"},
			wantBody: `{"body":"x","title":""}`,
		},
		{
			name:  "bulk business without a business sends businessId null",
			route: "POST /contacts/bulk/business",
			call: func(ctx context.Context, c *Client) error {
				_, _, err := c.Bulk.UpdateBusiness(ctx, &BulkBusinessRequest{LocationID: tLocationID, IDs: []string{tContactID}})
				return err
			},
			wantKeys: []string{"locationId", "ids", "businessId"}, wantNull: []string{"businessId"},
			wantBody: `{"locationId":"ve9EPM428h8vShlRW1KT","ids":["seD4PfOuKoVMLkEZqohJ"],"businessId":null}`,
		},
	}
	answers := map[string]string{
		"PUT /contacts/{contactId}":                "contact.json",
		"PUT /contacts/{contactId}/tasks/{taskId}": "task.json",
		"PUT /contacts/{contactId}/notes/{id}":     "note.json",
		"POST /contacts/bulk/business":             "bulk_business.json",
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := setup(t)
			env.handle(tt.route, func(w http.ResponseWriter, r *http.Request) {
				body := readBody(t, r)
				testJSONKeys(t, body, tt.wantKeys, tt.wantNull)
				testJSONBody(t, body, tt.wantBody)
				writeJSON(w, 200, fixture(t, answers[tt.route]))
			})
			if err := tt.call(t.Context(), env.client); err != nil {
				t.Fatalf("call: %v", err)
			}
			if n := len(env.requests()); n != 1 {
				t.Errorf("server saw %d requests, want 1", n)
			}
		})
	}
}
