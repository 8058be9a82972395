// This file covers lenient decoding of fields the upstream does not keep to
// its own schema: LooseString (string, number, boolean, null, object),
// StringList (array, a single string as the spec's followers example gives,
// null), LooseInt (number or numeric string), BulkTagsContactResult from a
// bare string, and a contact with unknown fields and odd kinds decoding
// without error.

package upstream

import (
	"encoding/json"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestLooseString(t *testing.T) {
	tests := []struct {
		in      string
		want    LooseString
		wantErr bool
	}{
		{in: `"1990-09-25"`, want: "1990-09-25"},
		{in: `""`, want: ""},
		{in: `"with \"quotes\" and \u00fc"`, want: `with "quotes" and ü`},
		{in: `654220800000`, want: "654220800000"},
		{in: `-1.5e3`, want: "-1.5e3"},
		{in: `true`, want: "true"},
		{in: `false`, want: "false"},
		{in: `null`, want: ""},
		{in: `{"url":"https://x"}`, want: `{"url":"https://x"}`},
		{in: `["a.pdf","b.pdf"]`, want: `["a.pdf","b.pdf"]`},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			var doc struct {
				V LooseString `json:"v"`
			}
			err := json.Unmarshal([]byte(`{"v":`+tt.in+`}`), &doc)
			if (err != nil) != tt.wantErr {
				t.Fatalf("Unmarshal(%s) error = %v", tt.in, err)
			}
			if doc.V != tt.want {
				t.Errorf("Unmarshal(%s) = %q, want %q", tt.in, doc.V, tt.want)
			}
		})
	}
	// Called directly, with text encoding/json would never pass on.
	for _, bad := range []string{`abc`, `"unterminated`, `{`} {
		var s LooseString
		if err := s.UnmarshalJSON([]byte(bad)); err == nil {
			t.Errorf("LooseString.UnmarshalJSON(%s) = %q, nil; want an error", bad, s)
		}
	}
}

func TestStringList(t *testing.T) {
	tests := []struct {
		in      string
		want    StringList
		wantErr bool
	}{
		{in: `["a","b"]`, want: StringList{"a", "b"}},
		{in: `"641c094001436dbc2081e642"`, want: StringList{"641c094001436dbc2081e642"}},
		{in: `""`, want: nil},
		{in: `null`, want: nil},
		{in: `[]`, want: StringList{}},
		{in: `123`, wantErr: true},
		{in: `[1,2]`, wantErr: true},
		{in: `{"a":1}`, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			var got StringList
			err := json.Unmarshal([]byte(tt.in), &got)
			if (err != nil) != tt.wantErr {
				t.Fatalf("Unmarshal(%s) error = %v, want error %v", tt.in, err, tt.wantErr)
			}
			if tt.wantErr {
				return
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Unmarshal(%s) (-want +got):\n%s", tt.in, diff)
			}
		})
	}
}

func TestLooseInt(t *testing.T) {
	tests := []struct {
		in      string
		want    LooseInt
		wantErr bool
	}{
		{in: `8`, want: 8},
		{in: `"9"`, want: 9},
		{in: `" 9"`, wantErr: true},
		{in: `null`, want: 0},
		{in: `8.0`, want: 8},
		{in: `1e1`, want: 10},
		{in: `-3`, want: -3},
		{in: `""`, wantErr: true},
		{in: `"nine"`, wantErr: true},
		{in: `true`, wantErr: true},
		{in: `[8]`, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			var got LooseInt
			err := json.Unmarshal([]byte(tt.in), &got)
			if (err != nil) != tt.wantErr {
				t.Fatalf("Unmarshal(%s) = %d, %v; want error %v", tt.in, got, err, tt.wantErr)
			}
			if !tt.wantErr && got != tt.want {
				t.Errorf("Unmarshal(%s) = %d, want %d", tt.in, got, tt.want)
			}
		})
	}
}

func TestBulkTagsContactResult(t *testing.T) {
	tests := []struct {
		in      string
		want    BulkTagsContactResult
		wantErr bool
	}{
		{in: `"contact does not belong to location"`, want: BulkTagsContactResult{Message: "contact does not belong to location"}},
		{in: ` "padded" `, want: BulkTagsContactResult{Message: "padded"}},
		{
			in:   `{"contactId":"abc","message":"Tags updated","type":"success","oldTags":["a"],"tagsAdded":["b"],"tagsRemoved":[],"extra":1}`,
			want: BulkTagsContactResult{ContactID: "abc", Message: "Tags updated", Type: "success", OldTags: []string{"a"}, TagsAdded: []string{"b"}, TagsRemoved: []string{}},
		},
		{in: `null`, want: BulkTagsContactResult{}},
		{in: `5`, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			// Start from a used value: a bare string must not keep old fields.
			got := BulkTagsContactResult{ContactID: "stale", Type: "stale"}
			if tt.in == `null` {
				got = BulkTagsContactResult{}
			}
			err := json.Unmarshal([]byte(tt.in), &got)
			if (err != nil) != tt.wantErr {
				t.Fatalf("Unmarshal(%s) error = %v", tt.in, err)
			}
			if tt.wantErr {
				return
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Unmarshal(%s) (-want +got):\n%s", tt.in, diff)
			}
		})
	}
}

// TestContactLenientDecoding decodes a contact whose fields come in the
// other shapes the upstream is known to send, plus fields the client does
// not know.
func TestContactLenientDecoding(t *testing.T) {
	in := `{
		"id": "seD4PfOuKoVMLkEZqohJ",
		"followers": "sx6wyHhbFdRXh302Lunr",
		"dateOfBirth": 654220800000,
		"attachments": [{"url": "https://x/a.pdf"}],
		"ssn": null,
		"birthMonth": "9",
		"birthDay": 25,
		"tags": ["a"],
		"unknownScalar": 1,
		"unknownObject": {"deep": [1, {"x": null}]},
		"dndSettings": {"Call": {"status": "active"}, "Telepathy": {"status": "inactive"}},
		"customFields": [{"id": "f1", "value": {"nested": true}}, {"id": "f2", "value": null}]
	}`
	var got Contact
	if err := json.Unmarshal([]byte(in), &got); err != nil {
		t.Fatalf("Unmarshal: %v", err)
	}
	want := Contact{
		ID:          "seD4PfOuKoVMLkEZqohJ",
		Followers:   StringList{"sx6wyHhbFdRXh302Lunr"},
		DateOfBirth: "654220800000",
		Attachments: `[{"url": "https://x/a.pdf"}]`,
		BirthMonth:  9,
		BirthDay:    25,
		Tags:        []string{"a"},
		DNDSettings: &DNDSettings{Call: &DNDSetting{Status: DNDActive}},
		CustomFields: []CustomFieldValue{
			{ID: "f1", Value: map[string]any{"nested": true}},
			{ID: "f2", Value: nil},
		},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("decoded contact (-want +got):\n%s", diff)
	}
}
