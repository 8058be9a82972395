// This file holds the clearing tests: for every update field whose spec
// forbids null, a clear through the client must leave the field empty when
// read back (the client sends the spec's empty value), or be refused before
// any call; and the sandbox, like HighLevel, keeps a field sent as a
// forbidden null.

package sandbox_test

import (
	"net/http"
	"testing"

	"github.com/ghl-graphql/gateway/upstream"
	"github.com/ghl-graphql/gateway/upstream/sandbox"
)

func TestClearsReadBackEmpty(t *testing.T) {
	e := newEnv(t, sandbox.Config{ContactsPerLocation: 20})
	c := e.fresh(t)
	// A custom field of the location: some seeded contact carries one.
	var cfID string
	for i := range len(e.s.ContactIDs(e.loc)) {
		if cf := e.seeded(t, i).CustomFields; len(cf) > 0 {
			cfID = cf[0].ID
		}
	}
	if cfID == "" {
		t.Fatal("no seeded custom field")
	}
	must[*upstream.Contact](t)(e.c.Contacts.Update(bg, c.ID, &upstream.UpdateContactRequest{
		PostalCode: upstream.Set("35061"), Country: upstream.Set("US"), Tags: upstream.Set([]string{"a", "b"}),
		CustomFields: upstream.Set([]upstream.CustomFieldInput{{ID: cfID, Value: "by phone"}})}))
	task := must[*upstream.Task](t)(e.c.Tasks.Create(bg, c.ID, &upstream.CreateTaskRequest{
		Title: "T", Body: "text", AssignedTo: "UserAssigned00000001", DueDate: "2025-07-01T10:00:00Z"}))
	note := must[*upstream.Note](t)(e.c.Notes.Create(bg, c.ID, &upstream.CreateNoteRequest{
		Body: "B", Title: "Title", Color: "#ff0000", UserID: "UserAuthor0000000001"}))

	for _, tc := range []struct {
		name  string
		clear func() error
		empty func() bool
	}{
		{"contact postalCode", func() error {
			_, _, err := e.c.Contacts.Update(bg, c.ID, &upstream.UpdateContactRequest{PostalCode: upstream.Null[string]()})
			return err
		}, func() bool { got, _ := e.s.Contact(c.ID); return got.PostalCode == "" }},
		{"contact country", func() error {
			_, _, err := e.c.Contacts.Update(bg, c.ID, &upstream.UpdateContactRequest{Country: upstream.Null[string]()})
			return err
		}, func() bool { got, _ := e.s.Contact(c.ID); return got.Country == "" }},
		{"contact tags", func() error {
			_, _, err := e.c.Contacts.Update(bg, c.ID, &upstream.UpdateContactRequest{Tags: upstream.Null[[]string]()})
			return err
		}, func() bool { got, _ := e.s.Contact(c.ID); return len(got.Tags) == 0 }},
		{"custom field value", func() error {
			_, _, err := e.c.Contacts.Update(bg, c.ID, &upstream.UpdateContactRequest{
				CustomFields: upstream.Set([]upstream.CustomFieldInput{{ID: cfID, Value: nil}})})
			return err
		}, func() bool {
			got, _ := e.s.Contact(c.ID)
			for _, f := range got.CustomFields {
				if f.ID == cfID {
					return false
				}
			}
			return true
		}},
		{"task body", func() error {
			_, _, err := e.c.Tasks.Update(bg, c.ID, task.ID, &upstream.UpdateTaskRequest{Body: upstream.Null[string]()})
			return err
		}, func() bool { return must[*upstream.Task](t)(e.c.Tasks.Get(bg, c.ID, task.ID)).Body == "" }},
		{"task assignedTo", func() error {
			_, _, err := e.c.Tasks.Update(bg, c.ID, task.ID, &upstream.UpdateTaskRequest{AssignedTo: upstream.Null[string]()})
			return err
		}, func() bool { return must[*upstream.Task](t)(e.c.Tasks.Get(bg, c.ID, task.ID)).AssignedTo == "" }},
		{"note title", func() error {
			_, _, err := e.c.Notes.Update(bg, c.ID, note.ID, &upstream.UpdateNoteRequest{Title: upstream.Null[string]()})
			return err
		}, func() bool { return must[*upstream.Note](t)(e.c.Notes.Get(bg, c.ID, note.ID)).Title == "" }},
		{"note color", func() error {
			_, _, err := e.c.Notes.Update(bg, c.ID, note.ID, &upstream.UpdateNoteRequest{Color: upstream.Null[string]()})
			return err
		}, func() bool { return must[*upstream.Note](t)(e.c.Notes.Get(bg, c.ID, note.ID)).Color == "" }},
		{"note userId", func() error {
			_, _, err := e.c.Notes.Update(bg, c.ID, note.ID, &upstream.UpdateNoteRequest{UserID: upstream.Null[string]()})
			return err
		}, func() bool { return must[*upstream.Note](t)(e.c.Notes.Get(bg, c.ID, note.ID)).UserID == "" }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.empty() {
				t.Fatal("the field is empty before the clear")
			}
			if err := tc.clear(); err != nil {
				t.Fatal(err)
			}
			if !tc.empty() {
				t.Fatal("the field is not empty after the clear")
			}
		})
	}
}

// TestNotClearableRefused: a Null the API cannot take is refused by the
// client before any call.
func TestNotClearableRefused(t *testing.T) {
	e := newEnv(t, sandbox.Config{ContactsPerLocation: 3})
	c, task := newTask(t, e)
	_, note := newNote(t, e)
	for _, tc := range []struct {
		name string
		call func() error
	}{
		{"contact dnd", func() error {
			_, _, err := e.c.Contacts.Update(bg, c.ID, &upstream.UpdateContactRequest{DND: upstream.Null[bool]()})
			return err
		}},
		{"contact dndSettings", func() error {
			_, _, err := e.c.Contacts.Update(bg, c.ID, &upstream.UpdateContactRequest{DNDSettings: upstream.Null[upstream.DNDSettings]()})
			return err
		}},
		{"contact inboundDndSettings", func() error {
			_, _, err := e.c.Contacts.Update(bg, c.ID, &upstream.UpdateContactRequest{InboundDNDSettings: upstream.Null[upstream.InboundDNDSettings]()})
			return err
		}},
		{"contact customFields", func() error {
			_, _, err := e.c.Contacts.Update(bg, c.ID, &upstream.UpdateContactRequest{CustomFields: upstream.Null[[]upstream.CustomFieldInput]()})
			return err
		}},
		{"task title", func() error {
			_, _, err := e.c.Tasks.Update(bg, c.ID, task.ID, &upstream.UpdateTaskRequest{Title: upstream.Null[string]()})
			return err
		}},
		{"task dueDate", func() error {
			_, _, err := e.c.Tasks.Update(bg, c.ID, task.ID, &upstream.UpdateTaskRequest{DueDate: upstream.Null[string]()})
			return err
		}},
		{"task completed", func() error {
			_, _, err := e.c.Tasks.Update(bg, c.ID, task.ID, &upstream.UpdateTaskRequest{Completed: upstream.Null[bool]()})
			return err
		}},
		{"note body", func() error {
			_, _, err := e.c.Notes.Update(bg, note.ContactID, note.ID, &upstream.UpdateNoteRequest{Body: upstream.Null[string]()})
			return err
		}},
		{"note pinned", func() error {
			_, _, err := e.c.Notes.Update(bg, note.ContactID, note.ID, &upstream.UpdateNoteRequest{Pinned: upstream.Null[bool]()})
			return err
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			all := e.s.TotalCalls()
			ue := wantErr(t, tc.call(), upstream.ErrInvalidInput)
			if ue.WriteOutcome() != upstream.WriteNotApplied {
				t.Errorf("writeOutcome %q, want %q", ue.WriteOutcome(), upstream.WriteNotApplied)
			}
			if e.s.TotalCalls() != all {
				t.Fatal("the refused update reached the sandbox")
			}
		})
	}
}

// TestForbiddenNullKeepsTheValue: the sandbox, like HighLevel, lets a null
// the spec forbids through and keeps the field, which is why the client
// must not send one.
func TestForbiddenNullKeepsTheValue(t *testing.T) {
	e := newEnv(t, sandbox.Config{ContactsPerLocation: 3})
	c := e.fresh(t)
	must[*upstream.Contact](t)(e.c.Contacts.Update(bg, c.ID, &upstream.UpdateContactRequest{
		PostalCode: upstream.Set("35061"), Country: upstream.Set("US"), DND: upstream.Set(true)}))
	resp, text := e.raw(t, http.MethodPut, "/contacts/"+c.ID, nil,
		`{"postalCode":null,"country":null,"dnd":null,"tags":null,"customFields":null,"dndSettings":null,"inboundDndSettings":null,"city":null}`)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d: %s", resp.StatusCode, text)
	}
	got, _ := e.s.Contact(c.ID)
	if got.PostalCode != "35061" || got.Country != "US" || !got.DND || len(got.Tags) != 1 {
		t.Fatalf("a forbidden null changed the contact: %+v", got)
	}
	if got.City != "" {
		t.Fatalf("a nullable field's null did not clear: city %q", got.City)
	}
	task := must[*upstream.Task](t)(e.c.Tasks.Create(bg, c.ID, &upstream.CreateTaskRequest{Title: "T", Body: "kept", DueDate: "2025-07-01T10:00:00Z"}))
	if resp, text := e.raw(t, http.MethodPut, "/contacts/"+c.ID+"/tasks/"+task.ID, nil, `{"body":null}`); resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d: %s", resp.StatusCode, text)
	}
	if got := must[*upstream.Task](t)(e.c.Tasks.Get(bg, c.ID, task.ID)); got.Body != "kept" {
		t.Fatalf("task body after a null: %q", got.Body)
	}
}
