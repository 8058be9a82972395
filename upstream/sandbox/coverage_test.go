// This file holds the coverage test: every operation of the OpenAPI file,
// listed here by hand, has a case that calls it through the real client,
// checks its effect, and proves (by the sandbox's call counter) that the
// client method reached the sandbox's route for it.

package sandbox_test

import (
	"slices"
	"testing"
	"time"

	"github.com/ghl-graphql/gateway/upstream"
	"github.com/ghl-graphql/gateway/upstream/sandbox"
)

// openAPIOperations are the operationIds of apps/contacts.json, in file order.
var openAPIOperations = []string{
	"search-contacts-advanced",
	"get-duplicate-contact",
	"get-all-tasks",
	"create-task",
	"get-task",
	"update-task",
	"delete-task",
	"update-task-completed",
	"get-appointments-for-contact",
	"add-tags",
	"remove-tags",
	"get-all-notes",
	"create-note",
	"get-note",
	"update-note",
	"delete-note",
	"create-association",
	"add-remove-contact-from-business",
	"get-contact",
	"update-contact",
	"delete-contact",
	"upsert-contact",
	"get-contacts-by-businessId",
	"add-followers-contact",
	"remove-followers-contact",
	"add-contact-to-campaign",
	"remove-contact-from-campaign",
	"remove-contact-from-every-campaign",
	"add-contact-to-workflow",
	"delete-contact-from-workflow",
	"create-contact",
	"get-contacts",
}

// newTask creates a task on a fresh contact.
func newTask(t *testing.T, e *env) (*upstream.Contact, *upstream.Task) {
	t.Helper()
	c := e.fresh(t)
	task := must[*upstream.Task](t)(e.c.Tasks.Create(bg, c.ID, &upstream.CreateTaskRequest{
		Title: "Call back", DueDate: "2025-07-01T10:00:00Z", Body: "about the quote"}))
	return c, task
}

// newNote creates a note on a fresh contact.
func newNote(t *testing.T, e *env) (*upstream.Contact, *upstream.Note) {
	t.Helper()
	c := e.fresh(t)
	n := must[*upstream.Note](t)(e.c.Notes.Create(bg, c.ID, &upstream.CreateNoteRequest{Body: "Prefers email."}))
	return c, n
}

var coverageCases = map[string]func(t *testing.T, e *env){
	"search-contacts-advanced": func(t *testing.T, e *env) {
		res := must[*upstream.SearchResult](t)(e.c.Contacts.Search(bg, &upstream.SearchContactsRequest{LocationID: e.loc, PageLimit: 5}))
		if len(res.Contacts) != 5 || res.Total < 250 {
			t.Fatalf("got %d contacts of %d", len(res.Contacts), res.Total)
		}
		for _, c := range res.Contacts {
			if len(c.SearchAfter) != 2 || c.LocationID != e.loc {
				t.Fatalf("contact %s: searchAfter %s, location %s", c.ID, c.SearchAfter, c.LocationID)
			}
		}
	},
	"get-duplicate-contact": func(t *testing.T, e *env) {
		want := e.seeded(t, 3)
		got := must[*upstream.Contact](t)(e.c.Contacts.FindDuplicate(bg, e.loc, want.Email, ""))
		if got == nil || got.ID != want.ID {
			t.Fatalf("duplicate of %s: got %+v", want.Email, got)
		}
	},
	"get-all-tasks": func(t *testing.T, e *env) {
		c, task := newTask(t, e)
		tasks := must[[]upstream.Task](t)(e.c.Tasks.List(bg, c.ID))
		if len(tasks) != 1 || tasks[0].ID != task.ID {
			t.Fatalf("tasks: %+v", tasks)
		}
	},
	"create-task": func(t *testing.T, e *env) {
		c, task := newTask(t, e)
		if task.ID == "" || task.ContactID != c.ID || task.DueDate != "2025-07-01T10:00:00.000Z" || task.Completed {
			t.Fatalf("created task: %+v", task)
		}
	},
	"get-task": func(t *testing.T, e *env) {
		c, task := newTask(t, e)
		got := must[*upstream.Task](t)(e.c.Tasks.Get(bg, c.ID, task.ID))
		if *got != *task {
			t.Fatalf("got %+v, want %+v", got, task)
		}
	},
	"update-task": func(t *testing.T, e *env) {
		c, task := newTask(t, e)
		got := must[*upstream.Task](t)(e.c.Tasks.Update(bg, c.ID, task.ID, &upstream.UpdateTaskRequest{Title: upstream.Set("Send proposal")}))
		if got.Title != "Send proposal" || got.Body != task.Body {
			t.Fatalf("updated task: %+v", got)
		}
	},
	"delete-task": func(t *testing.T, e *env) {
		c, task := newTask(t, e)
		done(t)(e.c.Tasks.Delete(bg, c.ID, task.ID))
		_, _, err := e.c.Tasks.Get(bg, c.ID, task.ID)
		wantErr(t, err, upstream.ErrNotFound)
	},
	"update-task-completed": func(t *testing.T, e *env) {
		c, task := newTask(t, e)
		got := must[*upstream.Task](t)(e.c.Tasks.SetCompleted(bg, c.ID, task.ID, true))
		if !got.Completed {
			t.Fatalf("task not completed: %+v", got)
		}
	},
	"get-appointments-for-contact": func(t *testing.T, e *env) {
		for _, id := range e.s.ContactIDs(e.loc) {
			events := must[[]upstream.Appointment](t)(e.c.Appointments.List(bg, id))
			if len(events) == 0 {
				continue
			}
			if _, err := time.Parse(time.DateTime, events[0].StartTime); err != nil || events[0].ContactID != id {
				t.Fatalf("event: %+v", events[0])
			}
			return
		}
		t.Fatal("no seeded contact has appointments")
	},
	"add-tags": func(t *testing.T, e *env) {
		c := e.fresh(t)
		tags := must[[]string](t)(e.c.Contacts.AddTags(bg, c.ID, []string{"vip", "fixture"}))
		if !slices.Equal(tags, []string{"fixture", "vip"}) {
			t.Fatalf("tags: %q", tags)
		}
	},
	"remove-tags": func(t *testing.T, e *env) {
		c := e.fresh(t)
		tags := must[[]string](t)(e.c.Contacts.RemoveTags(bg, c.ID, []string{"fixture"}))
		if len(tags) != 0 {
			t.Fatalf("tags: %q", tags)
		}
		if got, _ := e.s.Contact(c.ID); len(got.Tags) != 0 {
			t.Fatalf("stored tags: %q", got.Tags)
		}
	},
	"get-all-notes": func(t *testing.T, e *env) {
		c, n := newNote(t, e)
		notes := must[[]upstream.Note](t)(e.c.Notes.List(bg, c.ID))
		if len(notes) != 1 || notes[0].ID != n.ID {
			t.Fatalf("notes: %+v", notes)
		}
	},
	"create-note": func(t *testing.T, e *env) {
		c, n := newNote(t, e)
		if n.ID == "" || n.ContactID != c.ID || n.Body != "Prefers email." || n.DateAdded == "" {
			t.Fatalf("note: %+v", n)
		}
	},
	"get-note": func(t *testing.T, e *env) {
		c, n := newNote(t, e)
		got := must[*upstream.Note](t)(e.c.Notes.Get(bg, c.ID, n.ID))
		if *got != *n {
			t.Fatalf("got %+v, want %+v", got, n)
		}
	},
	"update-note": func(t *testing.T, e *env) {
		c, n := newNote(t, e)
		got := must[*upstream.Note](t)(e.c.Notes.Update(bg, c.ID, n.ID, &upstream.UpdateNoteRequest{Pinned: upstream.Set(true)}))
		if !got.Pinned || got.Body != n.Body {
			t.Fatalf("note: %+v", got)
		}
	},
	"delete-note": func(t *testing.T, e *env) {
		c, n := newNote(t, e)
		done(t)(e.c.Notes.Delete(bg, c.ID, n.ID))
		_, _, err := e.c.Notes.Get(bg, c.ID, n.ID)
		wantErr(t, err, upstream.ErrNotFound)
	},
	"create-association": func(t *testing.T, e *env) {
		a, b := e.fresh(t), e.fresh(t)
		res := must[*upstream.BulkTagsResult](t)(e.c.Bulk.UpdateTags(bg, upstream.BulkTagsAdd, &upstream.BulkTagsRequest{
			LocationID: e.loc, Contacts: []string{a.ID, b.ID}, Tags: []string{"webinar"}}))
		if res.ErrorCount != 0 || len(res.Responses) != 2 {
			t.Fatalf("result: %+v", res)
		}
		for _, id := range []string{a.ID, b.ID} {
			if c, _ := e.s.Contact(id); !slices.Contains(c.Tags, "webinar") {
				t.Fatalf("contact %s tags %q", id, c.Tags)
			}
		}
	},
	"add-remove-contact-from-business": func(t *testing.T, e *env) {
		c := e.fresh(t)
		biz := e.s.Businesses(e.loc)[0]
		res := must[*upstream.BulkBusinessResult](t)(e.c.Bulk.UpdateBusiness(bg, &upstream.BulkBusinessRequest{
			LocationID: e.loc, IDs: []string{c.ID}, BusinessID: &biz}))
		if !res.Success || !slices.Equal(res.IDs, []string{c.ID}) {
			t.Fatalf("result: %+v", res)
		}
		if got, _ := e.s.Contact(c.ID); got.BusinessID != biz {
			t.Fatalf("businessId %q, want %q", got.BusinessID, biz)
		}
	},
	"get-contact": func(t *testing.T, e *env) {
		want := e.seeded(t, 0)
		got := must[*upstream.Contact](t)(e.c.Contacts.Get(bg, want.ID))
		if got.ID != want.ID || got.Email != want.Email || got.DateAdded != want.DateAdded {
			t.Fatalf("got %+v", got)
		}
	},
	"update-contact": func(t *testing.T, e *env) {
		c := e.fresh(t)
		got := must[*upstream.Contact](t)(e.c.Contacts.Update(bg, c.ID, &upstream.UpdateContactRequest{City: upstream.Set("Dolomite")}))
		if got.City != "Dolomite" || got.Email != c.Email {
			t.Fatalf("got %+v", got)
		}
	},
	"delete-contact": func(t *testing.T, e *env) {
		c := e.fresh(t)
		done(t)(e.c.Contacts.Delete(bg, c.ID))
		if _, ok := e.s.Contact(c.ID); ok {
			t.Fatal("contact still stored")
		}
	},
	"upsert-contact": func(t *testing.T, e *env) {
		c := e.fresh(t)
		res := must[*upstream.UpsertResult](t)(e.c.Contacts.Upsert(bg, &upstream.UpsertContactRequest{
			CreateContactRequest: upstream.CreateContactRequest{LocationID: e.loc, Email: c.Email, City: "Austin"}}))
		if res.New || res.Contact.ID != c.ID || res.Contact.City != "Austin" || res.TraceID == "" {
			t.Fatalf("upsert: %+v", res)
		}
	},
	"get-contacts-by-businessId": func(t *testing.T, e *env) {
		biz := e.s.Businesses(e.loc)[0]
		list := must[*upstream.ContactList](t)(e.c.Contacts.ListByBusiness(bg, biz, upstream.ListByBusinessOptions{LocationID: e.loc, Limit: 100}))
		if list.Count == 0 || len(list.Contacts) != list.Count {
			t.Fatalf("business %s: %d of %d", biz, len(list.Contacts), list.Count)
		}
		for _, c := range list.Contacts {
			if c.BusinessID != biz {
				t.Fatalf("contact %s has business %q", c.ID, c.BusinessID)
			}
		}
	},
	"add-followers-contact": func(t *testing.T, e *env) {
		c := e.fresh(t)
		res := must[*upstream.FollowersResult](t)(e.c.Contacts.AddFollowers(bg, c.ID, []string{"u1", "u2"}))
		if !slices.Equal(res.Followers, []string{"u1", "u2"}) || !slices.Equal(res.Added, []string{"u1", "u2"}) {
			t.Fatalf("followers: %+v", res)
		}
	},
	"remove-followers-contact": func(t *testing.T, e *env) {
		c := e.fresh(t)
		must[*upstream.FollowersResult](t)(e.c.Contacts.AddFollowers(bg, c.ID, []string{"u1", "u2"}))
		res := must[*upstream.FollowersResult](t)(e.c.Contacts.RemoveFollowers(bg, c.ID, []string{"u1", "nobody"}))
		if !slices.Equal(res.Followers, []string{"u2"}) || !slices.Equal(res.Removed, []string{"u1"}) {
			t.Fatalf("followers: %+v", res)
		}
	},
	"add-contact-to-campaign": func(t *testing.T, e *env) {
		c := e.fresh(t)
		done(t)(e.c.Campaigns.Add(bg, c.ID, "spring-promo"))
		if got := e.s.Campaigns(c.ID); !slices.Equal(got, []string{"spring-promo"}) {
			t.Fatalf("campaigns: %q", got)
		}
	},
	"remove-contact-from-campaign": func(t *testing.T, e *env) {
		c := e.fresh(t)
		done(t)(e.c.Campaigns.Add(bg, c.ID, "a"))
		done(t)(e.c.Campaigns.Add(bg, c.ID, "b"))
		done(t)(e.c.Campaigns.Remove(bg, c.ID, "a"))
		if got := e.s.Campaigns(c.ID); !slices.Equal(got, []string{"b"}) {
			t.Fatalf("campaigns: %q", got)
		}
	},
	"remove-contact-from-every-campaign": func(t *testing.T, e *env) {
		c := e.fresh(t)
		done(t)(e.c.Campaigns.Add(bg, c.ID, "a"))
		done(t)(e.c.Campaigns.Add(bg, c.ID, "b"))
		done(t)(e.c.Campaigns.RemoveAll(bg, c.ID))
		if got := e.s.Campaigns(c.ID); len(got) != 0 {
			t.Fatalf("campaigns: %q", got)
		}
	},
	"add-contact-to-workflow": func(t *testing.T, e *env) {
		c := e.fresh(t)
		done(t)(e.c.Workflows.Add(bg, c.ID, "wf-1", &upstream.WorkflowRequest{EventStartTime: "2021-06-23T03:30:00+01:00"}))
		if got := e.s.Workflows(c.ID); !slices.Equal(got, []string{"wf-1"}) {
			t.Fatalf("workflows: %q", got)
		}
	},
	"delete-contact-from-workflow": func(t *testing.T, e *env) {
		c := e.fresh(t)
		done(t)(e.c.Workflows.Add(bg, c.ID, "wf-1", nil))
		done(t)(e.c.Workflows.Remove(bg, c.ID, "wf-1", nil))
		if got := e.s.Workflows(c.ID); len(got) != 0 {
			t.Fatalf("workflows: %q", got)
		}
	},
	"create-contact": func(t *testing.T, e *env) {
		c := e.fresh(t)
		stored, ok := e.s.Contact(c.ID)
		if !ok || stored.LocationID != e.loc || stored.Name != c.FirstName+" "+c.LastName || stored.DateAdded == "" {
			t.Fatalf("stored %+v", stored)
		}
	},
	"get-contacts": func(t *testing.T, e *env) {
		list := must[*upstream.ContactList](t)(e.c.Contacts.List(bg, upstream.ListOptions{LocationID: e.loc}))
		if len(list.Contacts) != 20 || list.Meta == nil || list.Meta.StartAfterID != list.Contacts[19].ID {
			t.Fatalf("list: %d contacts, meta %+v", len(list.Contacts), list.Meta)
		}
	},
}

func TestEveryOperationHasACase(t *testing.T) {
	var got []string
	for _, op := range upstream.Operations() {
		got = append(got, op.ID)
	}
	if !slices.Equal(got, openAPIOperations) {
		t.Fatalf("upstream.Operations() = %q\nwant the OpenAPI file's %q", got, openAPIOperations)
	}
	if len(coverageCases) != len(openAPIOperations) {
		t.Errorf("%d cases for %d operations", len(coverageCases), len(openAPIOperations))
	}
	e := newEnv(t, sandboxConfig())
	for _, id := range openAPIOperations {
		t.Run(id, func(t *testing.T) {
			run, ok := coverageCases[id]
			if !ok {
				t.Fatalf("no case for operation %s", id)
			}
			before := e.s.Calls(id)
			run(t, e)
			if e.s.Calls(id) <= before {
				t.Fatalf("the case never reached the sandbox's route for %s", id)
			}
		})
	}
}

// sandboxConfig is the default configuration with a fixed seed.
func sandboxConfig() sandbox.Config { return sandbox.Config{Seed: 42} }
