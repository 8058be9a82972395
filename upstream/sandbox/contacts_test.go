// This file tests the semantics of writes on single contacts and what hangs
// off them: create/get/update/delete, duplicates, upsert, tags, followers,
// campaigns, bulk updates, tasks, notes and appointments.

package sandbox_test

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ghl-graphql/gateway/internal/fakeclock"
	"github.com/ghl-graphql/gateway/upstream"
	"github.com/ghl-graphql/gateway/upstream/sandbox"
)

// newFakeClock is a settable clock for Config.Now.
func newFakeClock() *fakeclock.Clock {
	return fakeclock.New(time.Date(2025, 7, 1, 12, 0, 0, 0, time.UTC))
}

func TestContactRoundTrip(t *testing.T) {
	clock := newFakeClock()
	e := newEnv(t, sandbox.Config{Seed: 7, Now: clock.Now})
	leadScore := "contact.lead_score"

	created := must[*upstream.Contact](t)(e.c.Contacts.Create(bg, &upstream.CreateContactRequest{
		LocationID: e.loc, FirstName: "Rosan", LastName: "Deo", Email: "Rosan@Deos.com",
		Phone: "+1 888-888-8888", City: "Dolomite", State: "AL", CompanyName: "DGS VolMAX",
		Tags:         []string{"vip", "VIP", "newsletter"},
		CustomFields: []upstream.CustomFieldInput{{Key: leadScore, Value: 87}},
		DNDSettings:  &upstream.DNDSettings{SMS: &upstream.DNDSetting{Status: upstream.DNDActive}},
	}))
	stamp := clock.Now().Format("2006-01-02T15:04:05.000Z")
	checks := []struct {
		name, got, want string
	}{
		{"locationId", created.LocationID, e.loc},
		{"name", created.Name, "Rosan Deo"},
		{"fullNameLowerCase", created.FullNameLowerCase, "rosan deo"},
		{"firstNameLowerCase", created.FirstNameLowerCase, "rosan"},
		{"lastNameLowerCase", created.LastNameLowerCase, "deo"},
		{"email", created.Email, "Rosan@Deos.com"},
		{"emailLowerCase", created.EmailLowerCase, "rosan@deos.com"},
		{"phone (E.164)", created.Phone, "+18888888888"},
		{"type", created.Type, "lead"},
		{"dateAdded", created.DateAdded, stamp},
		{"dateUpdated", created.DateUpdated, stamp},
		{"tags", strings.Join(created.Tags, ","), "vip,newsletter"},
		{"dnd SMS", created.DNDSettings.SMS.Status, upstream.DNDActive},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("created %s = %q, want %q", c.name, c.got, c.want)
		}
	}
	if len(created.ID) != 20 || len(created.CustomFields) != 1 || created.CustomFields[0].Value != float64(87) {
		t.Fatalf("id %q, custom fields %+v", created.ID, created.CustomFields)
	}

	got := must[*upstream.Contact](t)(e.c.Contacts.Get(bg, created.ID))
	gotJSON, _ := json.Marshal(got)
	createdJSON, _ := json.Marshal(created)
	if string(gotJSON) != string(createdJSON) {
		t.Fatalf("get differs from create:\n%s\n%s", gotJSON, createdJSON)
	}

	clock.Advance(time.Hour)
	updated := must[*upstream.Contact](t)(e.c.Contacts.Update(bg, created.ID, &upstream.UpdateContactRequest{
		LastName:     upstream.Set("Smith"),
		City:         upstream.Null[string](),
		CustomFields: upstream.Set([]upstream.CustomFieldInput{{ID: created.CustomFields[0].ID, Value: nil}}),
	}))
	switch {
	case updated.LastName != "Smith" || updated.Name != "Rosan Smith" || updated.LastNameLowerCase != "smith":
		t.Errorf("names after update: %q %q %q", updated.LastName, updated.Name, updated.LastNameLowerCase)
	case updated.City != "":
		t.Errorf("city not cleared: %q", updated.City)
	case updated.State != "AL" || updated.Email != "Rosan@Deos.com" || !slices.Equal(updated.Tags, created.Tags):
		t.Errorf("absent fields changed: %+v", updated)
	case len(updated.CustomFields) != 0:
		t.Errorf("custom field not cleared: %+v", updated.CustomFields)
	case updated.DateUpdated != clock.Now().Format("2006-01-02T15:04:05.000Z") || updated.DateAdded != created.DateAdded:
		t.Errorf("dates after update: added %s updated %s", updated.DateAdded, updated.DateUpdated)
	}

	cleared := must[*upstream.Contact](t)(e.c.Contacts.Update(bg, created.ID, &upstream.UpdateContactRequest{
		Email: upstream.Null[string](), Tags: upstream.Null[[]string]()}))
	if cleared.Email != "" || cleared.EmailLowerCase != "" || len(cleared.Tags) != 0 {
		t.Fatalf("null did not clear: %+v", cleared)
	}

	done(t)(e.c.Contacts.Delete(bg, created.ID))
	_, _, err := e.c.Contacts.Get(bg, created.ID)
	wantMessage(t, wantErr(t, err, upstream.ErrNotFound), "Contact not found")
	_, err = e.c.Contacts.Delete(bg, created.ID)
	wantErr(t, err, upstream.ErrNotFound)
}

func TestCreateRefusesDuplicateEmail(t *testing.T) {
	e := newEnv(t, sandboxConfig())
	existing := e.seeded(t, 10)
	body := `{"locationId":"` + e.loc + `","firstName":"X","email":"` + strings.ToUpper(existing.Email) + `"}`
	resp, text := e.raw(t, http.MethodPost, "/contacts/", nil, body)
	if resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("status %d: %s", resp.StatusCode, text)
	}
	var eb struct {
		StatusCode int
		Message    string
		Meta       struct{ ContactID, MatchingField string }
	}
	if err := json.Unmarshal([]byte(text), &eb); err != nil {
		t.Fatal(err)
	}
	if eb.Message != "This location does not allow duplicated contacts." || eb.Meta.ContactID != existing.ID || eb.Meta.MatchingField != "email" {
		t.Fatalf("body %s", text)
	}

	_, _, err := e.c.Contacts.Create(bg, &upstream.CreateContactRequest{LocationID: e.loc, Email: existing.Email})
	wantErr(t, err, upstream.ErrInvalidInput)

	// The same email is free in another location.
	other := e.client(t, e.s.Token(e.other, sandbox.ScopeContactsWrite))
	c := must[*upstream.Contact](t)(other.Contacts.Create(bg, &upstream.CreateContactRequest{LocationID: e.other, Email: existing.Email}))
	if c.LocationID != e.other {
		t.Fatalf("created in %s", c.LocationID)
	}

	// An update may not take another contact's email either.
	mine := e.fresh(t)
	_, _, err = e.c.Contacts.Update(bg, mine.ID, &upstream.UpdateContactRequest{Email: upstream.Set(existing.Email)})
	wantMessage(t, wantErr(t, err, upstream.ErrInvalidInput), "does not allow duplicated contacts")
}

func TestUpsert(t *testing.T) {
	e := newEnv(t, sandboxConfig())
	first := must[*upstream.UpsertResult](t)(e.c.Contacts.Upsert(bg, &upstream.UpsertContactRequest{
		CreateContactRequest: upstream.CreateContactRequest{LocationID: e.loc, FirstName: "Ada",
			Email: "ada@example.com", Phone: "+15125550100", City: "Austin"}}))
	if !first.New {
		t.Fatal("first upsert did not create")
	}
	id := first.Contact.ID
	yes := true
	steps := []struct {
		name    string
		body    upstream.CreateContactRequest
		allow   *bool
		wantNew bool
		check   func(t *testing.T, c *upstream.Contact)
	}{
		{"by email, other case", upstream.CreateContactRequest{Email: "ADA@example.com", City: "Denver"}, nil, false,
			func(t *testing.T, c *upstream.Contact) {
				if c.City != "Denver" || c.FirstName != "Ada" || c.Phone != "+15125550100" {
					t.Fatalf("update by email: %+v", c)
				}
			}},
		{"by phone, other format", upstream.CreateContactRequest{Phone: "(512) 555-0100", LastName: "Lovelace"}, nil, false,
			func(t *testing.T, c *upstream.Contact) {
				if c.Name != "Ada Lovelace" || c.City != "Denver" || c.EmailLowerCase != "ada@example.com" {
					t.Fatalf("update by phone: %+v", c)
				}
			}},
		{"duplicates allowed", upstream.CreateContactRequest{Email: "ada@example.com"}, &yes, true,
			func(t *testing.T, c *upstream.Contact) {
				if c.ID == id {
					t.Fatal("createNewIfDuplicateAllowed reused the contact")
				}
			}},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			st.body.LocationID = e.loc
			res := must[*upstream.UpsertResult](t)(e.c.Contacts.Upsert(bg, &upstream.UpsertContactRequest{
				CreateContactRequest: st.body, CreateNewIfDuplicateAllowed: st.allow}))
			if res.New != st.wantNew || (!st.wantNew && res.Contact.ID != id) {
				t.Fatalf("new=%v id=%s (first %s)", res.New, res.Contact.ID, id)
			}
			st.check(t, res.Contact)
		})
	}
}

func TestFindDuplicate(t *testing.T) {
	e := newEnv(t, sandboxConfig())
	a, b := e.seeded(t, 1), e.seeded(t, 2)
	cases := []struct {
		name, email, phone, want string
	}{
		{"email", strings.ToUpper(a.Email), "", a.ID},
		{"phone", "", b.Phone, b.ID},
		{"email wins over phone", a.Email, b.Phone, a.ID},
		{"unknown email falls back to phone", "nobody@example.com", b.Phone, b.ID},
		{"none", "nobody@example.com", "+19999999999", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := must[*upstream.Contact](t)(e.c.Contacts.FindDuplicate(bg, e.loc, c.email, c.phone))
			switch {
			case c.want == "" && got != nil:
				t.Fatalf("got %s, want none", got.ID)
			case c.want != "" && (got == nil || got.ID != c.want):
				t.Fatalf("got %+v, want %s", got, c.want)
			}
		})
	}
	_, text := e.raw(t, http.MethodGet, "/contacts/search/duplicate?locationId="+e.loc+"&email=nobody%40example.com", nil, "")
	if text != `{"contact":null}` {
		t.Fatalf("no duplicate answers %s", text)
	}
}

func TestTagsFollowersAndCampaigns(t *testing.T) {
	clock := newFakeClock()
	e := newEnv(t, sandbox.Config{Seed: 3, Now: clock.Now})
	c := e.fresh(t)

	clock.Advance(time.Minute)
	tags := must[[]string](t)(e.c.Contacts.AddTags(bg, c.ID, []string{"VIP", "fixture", "vip", "new"}))
	if !slices.Equal(tags, []string{"fixture", "VIP", "new"}) {
		t.Fatalf("after add: %q", tags)
	}
	if got, _ := e.s.Contact(c.ID); got.DateUpdated != clock.Now().Format("2006-01-02T15:04:05.000Z") {
		t.Fatalf("add tags did not bump dateUpdated: %s", got.DateUpdated)
	}
	tags = must[[]string](t)(e.c.Contacts.RemoveTags(bg, c.ID, []string{"vip", "absent"}))
	if !slices.Equal(tags, []string{"fixture", "new"}) {
		t.Fatalf("after remove: %q", tags)
	}

	res := must[*upstream.FollowersResult](t)(e.c.Contacts.AddFollowers(bg, c.ID, []string{"u1"}))
	res = must[*upstream.FollowersResult](t)(e.c.Contacts.AddFollowers(bg, c.ID, []string{"u1", "u2"}))
	if !slices.Equal(res.Followers, []string{"u1", "u2"}) || !slices.Equal(res.Added, []string{"u2"}) {
		t.Fatalf("followers: %+v", res)
	}

	done(t)(e.c.Campaigns.Add(bg, c.ID, "c1"))
	done(t)(e.c.Campaigns.Add(bg, c.ID, "c1"))
	if got := e.s.Campaigns(c.ID); !slices.Equal(got, []string{"c1"}) {
		t.Fatalf("campaigns after adding twice: %q", got)
	}
	// removeAll is its own route, not a campaign called "removeAll" (and
	// matched without regard to case, as Express does): the client refuses
	// the ID before any call, so a campaign removal never removes them all.
	before := e.s.Calls(upstream.OpRemoveFromAllCampaigns.ID)
	for _, id := range []string{"removeAll", "REMOVEALL"} {
		_, err := e.c.Campaigns.Remove(bg, c.ID, id)
		wantErr(t, err, upstream.ErrInvalidInput)
	}
	if e.s.Calls(upstream.OpRemoveFromAllCampaigns.ID) != before || !slices.Equal(e.s.Campaigns(c.ID), []string{"c1"}) {
		t.Fatal("a campaign ID \"removeAll\" reached the sandbox")
	}
	if resp, text := e.raw(t, http.MethodDelete, "/contacts/"+c.ID+"/campaigns/RemoveAll", nil, ""); resp.StatusCode != http.StatusOK ||
		e.s.Calls(upstream.OpRemoveFromAllCampaigns.ID) != before+1 || len(e.s.Campaigns(c.ID)) != 0 {
		t.Fatalf("DELETE …/campaigns/RemoveAll did not reach remove-contact-from-every-campaign: %d %s", resp.StatusCode, text)
	}

	// Writes on another location's contact are invisible.
	foreign := e.s.ContactIDs(e.other)[0]
	_, _, err := e.c.Contacts.AddTags(bg, foreign, []string{"x"})
	wantErr(t, err, upstream.ErrNotFound)
	_, err = e.c.Campaigns.Add(bg, foreign, "c1")
	wantErr(t, err, upstream.ErrNotFound)
}

func TestBulkTags(t *testing.T) {
	e := newEnv(t, sandboxConfig())
	a, b, gone := e.fresh(t), e.fresh(t), e.fresh(t)
	done(t)(e.c.Contacts.Delete(bg, gone.ID))
	foreign := e.s.ContactIDs(e.other)[0]
	res := must[*upstream.BulkTagsResult](t)(e.c.Bulk.UpdateTags(bg, upstream.BulkTagsAdd, &upstream.BulkTagsRequest{
		LocationID: e.loc, Contacts: []string{a.ID, "abcdef", gone.ID, foreign, "ZZZZZZZZZZZZZZZZZZZZ", b.ID},
		Tags: []string{"t1", "fixture"}}))
	wantTypes := []string{"success", "error", "error", "error", "error", "success"}
	wantMsgs := []string{"Tags updated", "contact id is not a valid firebase id", "contact is deleted",
		"contact does not belong to location", "contact not found", "Tags updated"}
	if res.ErrorCount != 4 || len(res.Responses) != len(wantTypes) {
		t.Fatalf("result: %+v", res)
	}
	for i, r := range res.Responses {
		if r.Type != wantTypes[i] || r.Message != wantMsgs[i] {
			t.Errorf("response %d: %+v", i, r)
		}
	}
	if r := res.Responses[0]; !slices.Equal(r.OldTags, []string{"fixture"}) || !slices.Equal(r.TagsAdded, []string{"t1"}) {
		t.Errorf("success detail: %+v", r)
	}
	if got, _ := e.s.Contact(foreign); slices.Contains(got.Tags, "t1") {
		t.Fatal("another location's contact was tagged")
	}

	res = must[*upstream.BulkTagsResult](t)(e.c.Bulk.UpdateTags(bg, upstream.BulkTagsRemove, &upstream.BulkTagsRequest{
		LocationID: e.loc, Contacts: []string{a.ID}, Tags: []string{"t1"}}))
	if got, _ := e.s.Contact(a.ID); !slices.Equal(got.Tags, []string{"fixture"}) || !slices.Equal(res.Responses[0].TagsRemoved, []string{"t1"}) {
		t.Fatalf("after remove: %q, %+v", got.Tags, res.Responses[0])
	}
	must[*upstream.BulkTagsResult](t)(e.c.Bulk.UpdateTags(bg, upstream.BulkTagsRemove, &upstream.BulkTagsRequest{
		LocationID: e.loc, Contacts: []string{a.ID, b.ID}, RemoveAllTags: true}))
	for _, id := range []string{a.ID, b.ID} {
		if got, _ := e.s.Contact(id); len(got.Tags) != 0 {
			t.Fatalf("removeAllTags left %q", got.Tags)
		}
	}

	// The {type} path parameter is add or remove.
	resp, text := e.raw(t, http.MethodPost, "/contacts/bulk/tags/update/toggle", nil,
		`{"locationId":"`+e.loc+`","contacts":["`+a.ID+`"],"tags":["x"]}`)
	if resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(text, "type must be one of the following values: add, remove") {
		t.Fatalf("bad type: %d %s", resp.StatusCode, text)
	}
}

func TestBulkBusiness(t *testing.T) {
	e := newEnv(t, sandboxConfig())
	a, b := e.fresh(t), e.fresh(t)
	biz := e.s.Businesses(e.loc)[1]
	foreign := e.s.ContactIDs(e.other)[0]
	res := must[*upstream.BulkBusinessResult](t)(e.c.Bulk.UpdateBusiness(bg, &upstream.BulkBusinessRequest{
		LocationID: e.loc, IDs: []string{a.ID, b.ID, foreign}, BusinessID: &biz}))
	if !slices.Equal(res.IDs, []string{a.ID, b.ID}) {
		t.Fatalf("ids: %q", res.IDs)
	}
	list := must[*upstream.ContactList](t)(e.c.Contacts.ListByBusiness(bg, biz, upstream.ListByBusinessOptions{LocationID: e.loc, Limit: 500}))
	if !slices.ContainsFunc(list.Contacts, func(c upstream.Contact) bool { return c.ID == a.ID }) {
		t.Fatal("business listing lacks the attached contact")
	}
	must[*upstream.BulkBusinessResult](t)(e.c.Bulk.UpdateBusiness(bg, &upstream.BulkBusinessRequest{LocationID: e.loc, IDs: []string{a.ID}}))
	if got, _ := e.s.Contact(a.ID); got.BusinessID != "" {
		t.Fatalf("null businessId left %q", got.BusinessID)
	}
	if got, _ := e.s.Contact(foreign); got.BusinessID == biz {
		t.Fatal("another location's contact was attached")
	}
}

func TestTasksAndNotes(t *testing.T) {
	e := newEnv(t, sandboxConfig())
	c, task := newTask(t, e)

	cases := []struct {
		name string
		body upstream.CreateTaskRequest
		msg  string
	}{
		{"dueDate not RFC 3339", upstream.CreateTaskRequest{Title: "x", DueDate: "tomorrow"}, "dueDate must be a valid ISO 8601 date string"},
		{"dueDate date only", upstream.CreateTaskRequest{Title: "x", DueDate: "2025-07-01"}, "dueDate must be a valid ISO 8601 date string"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := e.c.Tasks.Create(bg, c.ID, &tc.body)
			wantMessage(t, wantErr(t, err, upstream.ErrInvalidInput), tc.msg)
		})
	}
	resp, text := e.raw(t, http.MethodPost, "/contacts/"+c.ID+"/tasks", nil, `{"dueDate":"2025-07-01T10:00:00Z"}`)
	if resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(text, "title should not be empty") ||
		!strings.Contains(text, "completed must be a boolean value") {
		t.Fatalf("missing required fields: %d %s", resp.StatusCode, text)
	}

	updated := must[*upstream.Task](t)(e.c.Tasks.Update(bg, c.ID, task.ID, &upstream.UpdateTaskRequest{
		Body: upstream.Null[string](), DueDate: upstream.Set("2025-08-01T09:30:00+02:00")}))
	if updated.Body != "" || updated.DueDate != "2025-08-01T07:30:00.000Z" || updated.Title != task.Title {
		t.Fatalf("updated task: %+v", updated)
	}
	_, _, err := e.c.Tasks.Update(bg, c.ID, task.ID, &upstream.UpdateTaskRequest{Title: upstream.Null[string]()})
	wantErr(t, err, upstream.ErrInvalidInput)

	other := e.fresh(t)
	_, _, err = e.c.Tasks.Get(bg, other.ID, task.ID)
	wantMessage(t, wantErr(t, err, upstream.ErrNotFound), "Task not found")

	n := must[*upstream.Note](t)(e.c.Notes.Create(bg, c.ID, &upstream.CreateNoteRequest{Body: "b", Title: "t", Color: "#FFAA00"}))
	n2 := must[*upstream.Note](t)(e.c.Notes.Update(bg, c.ID, n.ID, &upstream.UpdateNoteRequest{Title: upstream.Null[string](), Body: upstream.Set("b2")}))
	if n2.Title != "" || n2.Body != "b2" || n2.Color != "#FFAA00" {
		t.Fatalf("updated note: %+v", n2)
	}
	_, _, err = e.c.Notes.Get(bg, other.ID, n.ID)
	wantMessage(t, wantErr(t, err, upstream.ErrNotFound), "Note not found")
}

func TestSeededSubresources(t *testing.T) {
	e := newEnv(t, sandboxConfig())
	statuses := map[string]bool{"booked": true, "confirmed": true, "cancelled": true, "showed": true}
	var events, tasks, notes int
	for _, id := range e.s.ContactIDs(e.loc)[:60] {
		for _, a := range must[[]upstream.Appointment](t)(e.c.Appointments.List(bg, id)) {
			events++
			_, errStart := time.Parse(time.DateTime, a.StartTime)
			_, errEnd := time.Parse(time.DateTime, a.EndTime)
			if errStart != nil || errEnd != nil || !statuses[a.Status] || a.ContactID != id || a.LocationID != e.loc {
				t.Fatalf("appointment %+v", a)
			}
		}
		for _, tk := range must[[]upstream.Task](t)(e.c.Tasks.List(bg, id)) {
			tasks++
			if _, err := time.Parse("2006-01-02T15:04:05.000Z", tk.DueDate); err != nil || tk.ContactID != id {
				t.Fatalf("task %+v", tk)
			}
		}
		notes += len(must[[]upstream.Note](t)(e.c.Notes.List(bg, id)))
	}
	if events == 0 || tasks == 0 || notes == 0 {
		t.Fatalf("60 seeded contacts have %d events, %d tasks, %d notes", events, tasks, notes)
	}
}

func TestSeedDataShape(t *testing.T) {
	e := newEnv(t, sandboxConfig())
	emails := map[string]bool{}
	var withBusiness, withDND, withFollowers, withFields int
	base := sandbox.BaseDate()
	for _, id := range e.s.ContactIDs(e.loc) {
		c, _ := e.s.Contact(id)
		added, err := time.Parse(time.RFC3339, c.DateAdded)
		if err != nil || !added.Before(base) || added.Before(base.AddDate(-1, 0, -1)) {
			t.Fatalf("contact %s added %s", id, c.DateAdded)
		}
		if emails[c.EmailLowerCase] {
			t.Fatalf("email %s seeded twice", c.Email)
		}
		emails[c.EmailLowerCase] = true
		if !strings.HasPrefix(c.Phone, "+") || c.Type != "lead" && c.Type != "customer" || c.Name != c.FirstName+" "+c.LastName {
			t.Fatalf("contact %+v", c)
		}
		if c.BusinessID != "" {
			withBusiness++
		}
		if c.DNDSettings != nil {
			withDND++
		}
		if len(c.Followers) > 0 {
			withFollowers++
		}
		if len(c.CustomFields) > 0 {
			withFields++
		}
	}
	if len(emails) != 250 || withBusiness < 30 || withBusiness > 100 || withDND == 0 || withFollowers == 0 || withFields == 0 {
		t.Fatalf("%d contacts: %d with business, %d dnd, %d followers, %d custom fields",
			len(emails), withBusiness, withDND, withFollowers, withFields)
	}
}
