// This file holds the wire round-trip test: every operation's answer, as
// the sandbox wrote it, is read through the client's types, written back,
// and compared field by field with what the sandbox sent. The sandbox's
// types are its own (wire.go), so a client type that loses or renames a
// field — a wrong JSON tag — shows here as a difference.

package sandbox_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/ghl-graphql/gateway/upstream"
	"github.com/ghl-graphql/gateway/upstream/sandbox"
)

// recorder is a transport that keeps the body of the last answer.
type recorder struct {
	mu   sync.Mutex
	last []byte
}

func (rc *recorder) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := http.DefaultTransport.RoundTrip(r)
	if err != nil {
		return nil, err
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	rc.mu.Lock()
	rc.last = b
	rc.mu.Unlock()
	resp.Body = io.NopCloser(bytes.NewReader(b))
	return resp, nil
}

func (rc *recorder) body() []byte {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return rc.last
}

// isZeroJSON reports whether v is what an omitempty field leaves out.
func isZeroJSON(v any) bool {
	switch x := v.(type) {
	case nil:
		return true
	case string:
		return x == ""
	case bool:
		return !x
	case float64:
		return x == 0
	case []any:
		return len(x) == 0
	case map[string]any:
		return len(x) == 0
	}
	return false
}

// wireDiff compares what the sandbox sent (sent) with what the client's
// value encodes back to (read), and describes each difference: a field the
// client lost or renamed, a value it changed, one it invented.
func wireDiff(path string, sent, read any) []string {
	switch s := sent.(type) {
	case map[string]any:
		r, ok := read.(map[string]any)
		if !ok {
			if isZeroJSON(s) && isZeroJSON(read) {
				return nil
			}
			return []string{fmt.Sprintf("%s: sent an object, read back %v", path, read)}
		}
		var out []string
		keys := make([]string, 0, len(s))
		for k := range s {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			rv, has := r[k]
			if !has {
				if !isZeroJSON(s[k]) {
					out = append(out, fmt.Sprintf("%s.%s: sent %v, lost by the client", path, k, s[k]))
				}
				continue
			}
			out = append(out, wireDiff(path+"."+k, s[k], rv)...)
		}
		for k, rv := range r {
			if _, has := s[k]; !has && !isZeroJSON(rv) {
				out = append(out, fmt.Sprintf("%s.%s: not sent, the client reads %v", path, k, rv))
			}
		}
		return out
	case []any:
		r, ok := read.([]any)
		if !ok {
			if len(s) == 0 && isZeroJSON(read) {
				return nil
			}
			return []string{fmt.Sprintf("%s: sent a list, read back %v", path, read)}
		}
		if len(r) != len(s) {
			return []string{fmt.Sprintf("%s: sent %d items, read back %d", path, len(s), len(r))}
		}
		var out []string
		for i := range s {
			out = append(out, wireDiff(fmt.Sprintf("%s[%d]", path, i), s[i], r[i])...)
		}
		return out
	}
	if isZeroJSON(sent) && isZeroJSON(read) {
		return nil
	}
	if fmt.Sprint(sent) != fmt.Sprint(read) {
		return []string{fmt.Sprintf("%s: sent %v, read back %v", path, sent, read)}
	}
	return nil
}

// roundTrip compares the payload at key of the recorded answer ("" for
// the whole answer) with the client's value v.
func roundTrip(t *testing.T, answer []byte, key string, v any) []string {
	t.Helper()
	var sent any
	if err := json.Unmarshal(answer, &sent); err != nil {
		t.Fatalf("answer %s: %v", answer, err)
	}
	if key != "" {
		sent = sent.(map[string]any)[key]
	}
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var read any
	if err := json.Unmarshal(b, &read); err != nil {
		t.Fatal(err)
	}
	return wireDiff(key, sent, read)
}

// wireCase calls one operation and returns the client's value and the key
// of the answer it was read from; value nil means the operation answers
// only {"succeded": true}, which the client checks and returns nothing of.
type wireCase func(t *testing.T, e *env, c *upstream.Client, fx *wireFixture) (value any, key string)

// wireFixture holds what the cases read and write.
type wireFixture struct {
	rich    string // a seeded contact with tasks, notes and appointments
	contact *upstream.Contact
	task    *upstream.Task
	note    *upstream.Note
	biz     string
}

var wireCases = map[string]wireCase{
	"search-contacts-advanced": func(t *testing.T, e *env, c *upstream.Client, fx *wireFixture) (any, string) {
		return must[*upstream.SearchResult](t)(c.Contacts.Search(bg, &upstream.SearchContactsRequest{LocationID: e.loc, PageLimit: 100})), ""
	},
	"get-duplicate-contact": func(t *testing.T, e *env, c *upstream.Client, fx *wireFixture) (any, string) {
		return must[*upstream.Contact](t)(c.Contacts.FindDuplicate(bg, e.loc, fx.contact.Email, "")), "contact"
	},
	"get-all-tasks": func(t *testing.T, e *env, c *upstream.Client, fx *wireFixture) (any, string) {
		return must[[]upstream.Task](t)(c.Tasks.List(bg, fx.rich)), "tasks"
	},
	"create-task": func(t *testing.T, e *env, c *upstream.Client, fx *wireFixture) (any, string) {
		return must[*upstream.Task](t)(c.Tasks.Create(bg, fx.contact.ID, &upstream.CreateTaskRequest{
			Title: "Wire", Body: "body", DueDate: "2025-07-01T10:00:00Z", AssignedTo: "UserAssigned00000001"})), "task"
	},
	"get-task": func(t *testing.T, e *env, c *upstream.Client, fx *wireFixture) (any, string) {
		return must[*upstream.Task](t)(c.Tasks.Get(bg, fx.contact.ID, fx.task.ID)), "task"
	},
	"update-task": func(t *testing.T, e *env, c *upstream.Client, fx *wireFixture) (any, string) {
		return must[*upstream.Task](t)(c.Tasks.Update(bg, fx.contact.ID, fx.task.ID, &upstream.UpdateTaskRequest{Title: upstream.Set("Wired")})), "task"
	},
	"update-task-completed": func(t *testing.T, e *env, c *upstream.Client, fx *wireFixture) (any, string) {
		return must[*upstream.Task](t)(c.Tasks.SetCompleted(bg, fx.contact.ID, fx.task.ID, true)), "task"
	},
	"delete-task": func(t *testing.T, e *env, c *upstream.Client, fx *wireFixture) (any, string) {
		doomed := must[*upstream.Task](t)(e.c.Tasks.Create(bg, fx.contact.ID, &upstream.CreateTaskRequest{Title: "D", DueDate: "2025-07-01T10:00:00Z"}))
		done(t)(c.Tasks.Delete(bg, fx.contact.ID, doomed.ID))
		return nil, ""
	},
	"get-appointments-for-contact": func(t *testing.T, e *env, c *upstream.Client, fx *wireFixture) (any, string) {
		return must[[]upstream.Appointment](t)(c.Appointments.List(bg, fx.rich)), "events"
	},
	"add-tags": func(t *testing.T, e *env, c *upstream.Client, fx *wireFixture) (any, string) {
		return must[[]string](t)(c.Contacts.AddTags(bg, fx.contact.ID, []string{"wire"})), "tags"
	},
	"remove-tags": func(t *testing.T, e *env, c *upstream.Client, fx *wireFixture) (any, string) {
		return must[[]string](t)(c.Contacts.RemoveTags(bg, fx.contact.ID, []string{"wire"})), "tags"
	},
	"get-all-notes": func(t *testing.T, e *env, c *upstream.Client, fx *wireFixture) (any, string) {
		return must[[]upstream.Note](t)(c.Notes.List(bg, fx.rich)), "notes"
	},
	"create-note": func(t *testing.T, e *env, c *upstream.Client, fx *wireFixture) (any, string) {
		p := true
		return must[*upstream.Note](t)(c.Notes.Create(bg, fx.contact.ID, &upstream.CreateNoteRequest{
			Body: "Wire", Title: "T", Color: "#00ff00", UserID: "UserAuthor0000000001", Pinned: &p})), "note"
	},
	"get-note": func(t *testing.T, e *env, c *upstream.Client, fx *wireFixture) (any, string) {
		return must[*upstream.Note](t)(c.Notes.Get(bg, fx.contact.ID, fx.note.ID)), "note"
	},
	"update-note": func(t *testing.T, e *env, c *upstream.Client, fx *wireFixture) (any, string) {
		return must[*upstream.Note](t)(c.Notes.Update(bg, fx.contact.ID, fx.note.ID, &upstream.UpdateNoteRequest{Title: upstream.Set("Wired")})), "note"
	},
	"delete-note": func(t *testing.T, e *env, c *upstream.Client, fx *wireFixture) (any, string) {
		done(t)(c.Notes.Delete(bg, fx.contact.ID, fx.note.ID))
		return nil, ""
	},
	"create-association": func(t *testing.T, e *env, c *upstream.Client, fx *wireFixture) (any, string) {
		return must[*upstream.BulkTagsResult](t)(c.Bulk.UpdateTags(bg, upstream.BulkTagsAdd, &upstream.BulkTagsRequest{
			LocationID: e.loc, Contacts: []string{fx.contact.ID, "NoSuchContact0000000"}, Tags: []string{"bulk"}})), ""
	},
	"add-remove-contact-from-business": func(t *testing.T, e *env, c *upstream.Client, fx *wireFixture) (any, string) {
		return must[*upstream.BulkBusinessResult](t)(c.Bulk.UpdateBusiness(bg, &upstream.BulkBusinessRequest{
			LocationID: e.loc, IDs: []string{fx.contact.ID}, BusinessID: &fx.biz})), ""
	},
	"get-contact": func(t *testing.T, e *env, c *upstream.Client, fx *wireFixture) (any, string) {
		return must[*upstream.Contact](t)(c.Contacts.Get(bg, fx.rich)), "contact"
	},
	"update-contact": func(t *testing.T, e *env, c *upstream.Client, fx *wireFixture) (any, string) {
		return must[*upstream.Contact](t)(c.Contacts.Update(bg, fx.contact.ID, &upstream.UpdateContactRequest{City: upstream.Set("Wiretown")})), "contact"
	},
	"delete-contact": func(t *testing.T, e *env, c *upstream.Client, fx *wireFixture) (any, string) {
		done(t)(c.Contacts.Delete(bg, e.fresh(t).ID))
		return nil, ""
	},
	"upsert-contact": func(t *testing.T, e *env, c *upstream.Client, fx *wireFixture) (any, string) {
		return must[*upstream.UpsertResult](t)(c.Contacts.Upsert(bg, &upstream.UpsertContactRequest{CreateContactRequest: upstream.CreateContactRequest{
			LocationID: e.loc, Email: fx.contact.Email, LastName: "Upserted"}})), ""
	},
	"get-contacts-by-businessId": func(t *testing.T, e *env, c *upstream.Client, fx *wireFixture) (any, string) {
		return must[*upstream.ContactList](t)(c.Contacts.ListByBusiness(bg, fx.biz, upstream.ListByBusinessOptions{LocationID: e.loc, Limit: 100})), ""
	},
	"add-followers-contact": func(t *testing.T, e *env, c *upstream.Client, fx *wireFixture) (any, string) {
		return must[*upstream.FollowersResult](t)(c.Contacts.AddFollowers(bg, fx.contact.ID, []string{"FollowerUserId000001", "FollowerUserId000002"})), ""
	},
	"remove-followers-contact": func(t *testing.T, e *env, c *upstream.Client, fx *wireFixture) (any, string) {
		return must[*upstream.FollowersResult](t)(c.Contacts.RemoveFollowers(bg, fx.contact.ID, []string{"FollowerUserId000001"})), ""
	},
	"add-contact-to-campaign": func(t *testing.T, e *env, c *upstream.Client, fx *wireFixture) (any, string) {
		done(t)(c.Campaigns.Add(bg, fx.contact.ID, "CampaignWire00000001"))
		return nil, ""
	},
	"remove-contact-from-campaign": func(t *testing.T, e *env, c *upstream.Client, fx *wireFixture) (any, string) {
		done(t)(c.Campaigns.Remove(bg, fx.contact.ID, "CampaignWire00000001"))
		return nil, ""
	},
	"remove-contact-from-every-campaign": func(t *testing.T, e *env, c *upstream.Client, fx *wireFixture) (any, string) {
		done(t)(c.Campaigns.RemoveAll(bg, fx.contact.ID))
		return nil, ""
	},
	"add-contact-to-workflow": func(t *testing.T, e *env, c *upstream.Client, fx *wireFixture) (any, string) {
		done(t)(c.Workflows.Add(bg, fx.contact.ID, "WorkflowWire00000001", &upstream.WorkflowRequest{EventStartTime: "2025-07-01T10:00:00+01:00"}))
		return nil, ""
	},
	"delete-contact-from-workflow": func(t *testing.T, e *env, c *upstream.Client, fx *wireFixture) (any, string) {
		done(t)(c.Workflows.Remove(bg, fx.contact.ID, "WorkflowWire00000001", nil))
		return nil, ""
	},
	"create-contact": func(t *testing.T, e *env, c *upstream.Client, fx *wireFixture) (any, string) {
		dnd := true
		return must[*upstream.Contact](t)(c.Contacts.Create(bg, &upstream.CreateContactRequest{
			LocationID: e.loc, FirstName: "Wire", LastName: "Created", Email: fmt.Sprintf("wire.%d@example.com", uniq.Add(1)),
			Phone: "+1 888-555-0100", Address1: "1 Main St", City: "Dolomite", State: "AL", PostalCode: "35061", Country: "US",
			Website: "https://example.com", Timezone: "America/Chicago", DND: &dnd, Source: "wire", DateOfBirth: "1990-09-25",
			CompanyName: "Wire Co", AssignedTo: "UserAssigned00000001", Gender: "female", Tags: []string{"a", "b"},
			DNDSettings:        &upstream.DNDSettings{SMS: &upstream.DNDSetting{Status: upstream.DNDActive, Message: "m", Code: "c"}},
			InboundDNDSettings: &upstream.InboundDNDSettings{All: &upstream.InboundDNDSetting{Status: upstream.DNDInactive, Message: "m"}},
		})), "contact"
	},
	"get-contacts": func(t *testing.T, e *env, c *upstream.Client, fx *wireFixture) (any, string) {
		return must[*upstream.ContactList](t)(c.Contacts.List(bg, upstream.ListOptions{LocationID: e.loc, Limit: 100})), ""
	},
}

// TestWireRoundTrip runs every operation, with full and with strict list
// items, and compares the client's reading with the sandbox's answer.
func TestWireRoundTrip(t *testing.T) {
	for _, op := range upstream.Operations() {
		if wireCases[op.ID] == nil {
			t.Errorf("operation %s has no wire case", op.ID)
		}
	}
	for _, strict := range []bool{false, true} {
		t.Run(fmt.Sprintf("strict=%v", strict), func(t *testing.T) {
			e := newEnv(t, sandbox.Config{ContactsPerLocation: 40, StrictListItems: strict})
			rec := &recorder{}
			c := e.client(t, e.s.DefaultToken(), upstream.WithHTTPClient(&http.Client{Transport: rec}))
			fx := &wireFixture{contact: e.fresh(t)}
			for _, id := range e.s.ContactIDs(e.loc) {
				sc, _ := e.s.Contact(id)
				if sc.BusinessID != "" && fx.biz == "" {
					fx.biz = sc.BusinessID
				}
				if fx.rich == "" && len(must[[]upstream.Task](t)(e.c.Tasks.List(bg, id))) > 0 &&
					len(must[[]upstream.Note](t)(e.c.Notes.List(bg, id))) > 0 &&
					len(must[[]upstream.Appointment](t)(e.c.Appointments.List(bg, id))) > 0 {
					fx.rich = id
				}
			}
			if fx.rich == "" || fx.biz == "" {
				t.Fatal("no seeded contact with tasks, notes and appointments, or none with a business")
			}
			fx.task = must[*upstream.Task](t)(e.c.Tasks.Create(bg, fx.contact.ID, &upstream.CreateTaskRequest{Title: "T", DueDate: "2025-07-01T10:00:00Z"}))
			fx.note = must[*upstream.Note](t)(e.c.Notes.Create(bg, fx.contact.ID, &upstream.CreateNoteRequest{Body: "N"}))
			for _, op := range upstream.Operations() {
				t.Run(op.ID, func(t *testing.T) {
					v, key := wireCases[op.ID](t, e, c, fx)
					if v == nil {
						var ans map[string]any
						if err := json.Unmarshal(rec.body(), &ans); err != nil || ans["succeded"] != true {
							t.Fatalf("answer %s", rec.body())
						}
						return
					}
					if diffs := roundTrip(t, rec.body(), key, v); len(diffs) > 0 {
						t.Fatalf("the client's types disagree with the wire:\n%s", strings.Join(diffs, "\n"))
					}
				})
			}
			// Every seeded contact, each with its own optional fields.
			for _, id := range e.s.ContactIDs(e.loc) {
				v := must[*upstream.Contact](t)(c.Contacts.Get(bg, id))
				if diffs := roundTrip(t, rec.body(), "contact", v); len(diffs) > 0 {
					t.Fatalf("contact %s: the client's types disagree with the wire:\n%s", id, strings.Join(diffs, "\n"))
				}
			}
		})
	}
}

// TestWireDiffCatchesAWrongTag proves that the comparison sees what shared
// types hid: a client type with a misspelled or mis-cased JSON tag.
func TestWireDiffCatchesAWrongTag(t *testing.T) {
	e := newEnv(t, sandbox.Config{ContactsPerLocation: 3})
	c := e.fresh(t)
	_, text := e.raw(t, http.MethodGet, "/contacts/"+c.ID, nil, "")
	type misTagged struct {
		ID         string   `json:"id"`
		LocationID string   `json:"locationId"`
		FirstName  string   `json:"firstname"`   // wrong case
		Phone      string   `json:"phoneNumber"` // wrong name
		Tags       []string `json:"tags"`
	}
	var env struct {
		Contact misTagged `json:"contact"`
	}
	if err := json.Unmarshal([]byte(text), &env); err != nil {
		t.Fatal(err)
	}
	diffs := strings.Join(roundTrip(t, []byte(text), "contact", env.Contact), "\n")
	for _, want := range []string{"contact.firstName: sent", "contact.phone: sent", "contact.email: sent"} {
		if !strings.Contains(diffs, want) {
			t.Errorf("the diff misses %q:\n%s", want, diffs)
		}
	}
	if slices.Contains(strings.Split(diffs, "\n"), "") {
		t.Errorf("empty diff line in %q", diffs)
	}
}
