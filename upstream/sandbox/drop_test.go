// This file holds the dropped-answer test of every write operation: the
// sandbox carries the write out and then closes the connection (once), the
// client retries as the gateway configures it, and the test counts the
// sandbox's records. Each write must leave exactly the effect of one call,
// and a call that failed must report its outcome UNKNOWN; a write that is not
// repeatable (a create, or an upsert that may create a duplicate) must not be
// sent a second time.

package sandbox_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/ghl-graphql/gateway/upstream"
	"github.com/ghl-graphql/gateway/upstream/sandbox"
)

// dropCase is one write under a dropped answer.
type dropCase struct {
	name string
	op   upstream.Operation
	// repeatable is false for writes that must not be sent twice.
	repeatable bool
	// call makes the write; fx holds what setup made.
	call func(ctx context.Context, c *upstream.Client, fx *dropFixture) error
	// records counts what the write made or changed; want is the count
	// after exactly one application.
	records func(t *testing.T, e *env, fx *dropFixture) int
	want    int
}

// dropFixture is the data a case writes to.
type dropFixture struct {
	contact, other *upstream.Contact
	task           *upstream.Task
	note           *upstream.Note
	email          string
}

// contactsWithEmail counts the location's contacts that have email.
func contactsWithEmail(e *env, email string) int {
	n := 0
	for _, id := range e.s.ContactIDs(e.loc) {
		if c, ok := e.s.Contact(id); ok && c.Email == email {
			n++
		}
	}
	return n
}

func countOf(list []string, v string) int {
	n := 0
	for _, s := range list {
		if s == v {
			n++
		}
	}
	return n
}

func dropCases() []dropCase {
	tasksTitled := func(title string) func(*testing.T, *env, *dropFixture) int {
		return func(t *testing.T, e *env, fx *dropFixture) int {
			n := 0
			for _, task := range must[[]upstream.Task](t)(e.c.Tasks.List(bg, fx.contact.ID)) {
				if task.Title == title {
					n++
				}
			}
			return n
		}
	}
	notesWith := func(body string) func(*testing.T, *env, *dropFixture) int {
		return func(t *testing.T, e *env, fx *dropFixture) int {
			n := 0
			for _, note := range must[[]upstream.Note](t)(e.c.Notes.List(bg, fx.contact.ID)) {
				if note.Body == body {
					n++
				}
			}
			return n
		}
	}
	tagCount := func(tag string) func(*testing.T, *env, *dropFixture) int {
		return func(t *testing.T, e *env, fx *dropFixture) int {
			c, _ := e.s.Contact(fx.contact.ID)
			return countOf(c.Tags, tag)
		}
	}
	followerCount := func(t *testing.T, e *env, fx *dropFixture) int {
		c, _ := e.s.Contact(fx.contact.ID)
		return countOf(c.Followers, "FollowerUserId000001")
	}
	yes := true
	return []dropCase{
		{name: "create contact", op: upstream.OpCreateContact,
			call: func(ctx context.Context, c *upstream.Client, fx *dropFixture) error {
				_, _, err := c.Contacts.Create(ctx, &upstream.CreateContactRequest{LocationID: fx.contact.LocationID, Email: fx.email})
				return err
			},
			records: func(t *testing.T, e *env, fx *dropFixture) int { return contactsWithEmail(e, fx.email) }, want: 1},
		{name: "upsert contact by email", op: upstream.OpUpsertContact, repeatable: true,
			call: func(ctx context.Context, c *upstream.Client, fx *dropFixture) error {
				_, _, err := c.Contacts.Upsert(ctx, &upstream.UpsertContactRequest{
					CreateContactRequest: upstream.CreateContactRequest{LocationID: fx.contact.LocationID, Email: fx.email}})
				return err
			},
			records: func(t *testing.T, e *env, fx *dropFixture) int { return contactsWithEmail(e, fx.email) }, want: 1},
		{name: "upsert contact allowing duplicates", op: upstream.OpUpsertContact,
			call: func(ctx context.Context, c *upstream.Client, fx *dropFixture) error {
				_, _, err := c.Contacts.Upsert(ctx, &upstream.UpsertContactRequest{
					CreateContactRequest:        upstream.CreateContactRequest{LocationID: fx.contact.LocationID, Email: fx.email},
					CreateNewIfDuplicateAllowed: &yes})
				return err
			},
			records: func(t *testing.T, e *env, fx *dropFixture) int { return contactsWithEmail(e, fx.email) }, want: 1},
		{name: "upsert contact without email or phone", op: upstream.OpUpsertContact,
			call: func(ctx context.Context, c *upstream.Client, fx *dropFixture) error {
				_, _, err := c.Contacts.Upsert(ctx, &upstream.UpsertContactRequest{
					CreateContactRequest: upstream.CreateContactRequest{LocationID: fx.contact.LocationID, FirstName: "Nameonly" + fx.email}})
				return err
			},
			records: func(t *testing.T, e *env, fx *dropFixture) int {
				n := 0
				for _, id := range e.s.ContactIDs(e.loc) {
					if c, _ := e.s.Contact(id); c.FirstName == "Nameonly"+fx.email {
						n++
					}
				}
				return n
			}, want: 1},
		{name: "update contact", op: upstream.OpUpdateContact, repeatable: true,
			call: func(ctx context.Context, c *upstream.Client, fx *dropFixture) error {
				_, _, err := c.Contacts.Update(ctx, fx.contact.ID, &upstream.UpdateContactRequest{City: upstream.Set("Dropville")})
				return err
			},
			records: func(t *testing.T, e *env, fx *dropFixture) int {
				c, _ := e.s.Contact(fx.contact.ID)
				return map[bool]int{true: 1}[c.City == "Dropville"]
			}, want: 1},
		{name: "delete contact", op: upstream.OpDeleteContact, repeatable: true,
			call: func(ctx context.Context, c *upstream.Client, fx *dropFixture) error {
				_, err := c.Contacts.Delete(ctx, fx.contact.ID)
				return err
			},
			records: func(t *testing.T, e *env, fx *dropFixture) int {
				_, ok := e.s.Contact(fx.contact.ID)
				return map[bool]int{true: 1}[ok]
			}, want: 0},
		{name: "create task", op: upstream.OpCreateTask,
			call: func(ctx context.Context, c *upstream.Client, fx *dropFixture) error {
				_, _, err := c.Tasks.Create(ctx, fx.contact.ID, &upstream.CreateTaskRequest{Title: "Dropped", DueDate: "2025-07-01T10:00:00Z"})
				return err
			},
			records: tasksTitled("Dropped"), want: 1},
		{name: "update task", op: upstream.OpUpdateTask, repeatable: true,
			call: func(ctx context.Context, c *upstream.Client, fx *dropFixture) error {
				_, _, err := c.Tasks.Update(ctx, fx.contact.ID, fx.task.ID, &upstream.UpdateTaskRequest{Title: upstream.Set("Retitled")})
				return err
			},
			records: tasksTitled("Retitled"), want: 1},
		{name: "delete task", op: upstream.OpDeleteTask, repeatable: true,
			call: func(ctx context.Context, c *upstream.Client, fx *dropFixture) error {
				_, err := c.Tasks.Delete(ctx, fx.contact.ID, fx.task.ID)
				return err
			},
			records: tasksTitled("Call back"), want: 0},
		{name: "set task completed", op: upstream.OpSetTaskCompleted, repeatable: true,
			call: func(ctx context.Context, c *upstream.Client, fx *dropFixture) error {
				_, _, err := c.Tasks.SetCompleted(ctx, fx.contact.ID, fx.task.ID, true)
				return err
			},
			records: func(t *testing.T, e *env, fx *dropFixture) int {
				task := must[*upstream.Task](t)(e.c.Tasks.Get(bg, fx.contact.ID, fx.task.ID))
				return map[bool]int{true: 1}[task.Completed]
			}, want: 1},
		{name: "add tags", op: upstream.OpAddTags, repeatable: true,
			call: func(ctx context.Context, c *upstream.Client, fx *dropFixture) error {
				_, _, err := c.Contacts.AddTags(ctx, fx.contact.ID, []string{"dropped"})
				return err
			},
			records: tagCount("dropped"), want: 1},
		{name: "remove tags", op: upstream.OpRemoveTags, repeatable: true,
			call: func(ctx context.Context, c *upstream.Client, fx *dropFixture) error {
				_, _, err := c.Contacts.RemoveTags(ctx, fx.contact.ID, []string{"fixture"})
				return err
			},
			records: tagCount("fixture"), want: 0},
		{name: "create note", op: upstream.OpCreateNote,
			call: func(ctx context.Context, c *upstream.Client, fx *dropFixture) error {
				_, _, err := c.Notes.Create(ctx, fx.contact.ID, &upstream.CreateNoteRequest{Body: "Dropped note"})
				return err
			},
			records: notesWith("Dropped note"), want: 1},
		{name: "update note", op: upstream.OpUpdateNote, repeatable: true,
			call: func(ctx context.Context, c *upstream.Client, fx *dropFixture) error {
				_, _, err := c.Notes.Update(ctx, fx.contact.ID, fx.note.ID, &upstream.UpdateNoteRequest{Body: upstream.Set("Rewritten")})
				return err
			},
			records: notesWith("Rewritten"), want: 1},
		{name: "delete note", op: upstream.OpDeleteNote, repeatable: true,
			call: func(ctx context.Context, c *upstream.Client, fx *dropFixture) error {
				_, err := c.Notes.Delete(ctx, fx.contact.ID, fx.note.ID)
				return err
			},
			records: notesWith("First note"), want: 0},
		{name: "bulk tags", op: upstream.OpBulkUpdateTags, repeatable: true,
			call: func(ctx context.Context, c *upstream.Client, fx *dropFixture) error {
				_, _, err := c.Bulk.UpdateTags(ctx, upstream.BulkTagsAdd, &upstream.BulkTagsRequest{
					LocationID: fx.contact.LocationID, Contacts: []string{fx.contact.ID, fx.other.ID}, Tags: []string{"bulk-dropped"}})
				return err
			},
			records: func(t *testing.T, e *env, fx *dropFixture) int {
				a, _ := e.s.Contact(fx.contact.ID)
				b, _ := e.s.Contact(fx.other.ID)
				return countOf(a.Tags, "bulk-dropped") + countOf(b.Tags, "bulk-dropped")
			}, want: 2},
		{name: "bulk business", op: upstream.OpBulkUpdateBusiness, repeatable: true,
			call: func(ctx context.Context, c *upstream.Client, fx *dropFixture) error {
				biz := "BusinessDropped00001"
				_, _, err := c.Bulk.UpdateBusiness(ctx, &upstream.BulkBusinessRequest{
					LocationID: fx.contact.LocationID, IDs: []string{fx.contact.ID, fx.other.ID}, BusinessID: &biz})
				return err
			},
			records: func(t *testing.T, e *env, fx *dropFixture) int {
				a, _ := e.s.Contact(fx.contact.ID)
				b, _ := e.s.Contact(fx.other.ID)
				return map[bool]int{true: 1}[a.BusinessID == "BusinessDropped00001"] + map[bool]int{true: 1}[b.BusinessID == "BusinessDropped00001"]
			}, want: 2},
		{name: "add followers", op: upstream.OpAddFollowers, repeatable: true,
			call: func(ctx context.Context, c *upstream.Client, fx *dropFixture) error {
				_, _, err := c.Contacts.AddFollowers(ctx, fx.contact.ID, []string{"FollowerUserId000001"})
				return err
			},
			records: followerCount, want: 1},
		{name: "remove followers", op: upstream.OpRemoveFollowers, repeatable: true,
			call: func(ctx context.Context, c *upstream.Client, fx *dropFixture) error {
				_, _, err := c.Contacts.RemoveFollowers(ctx, fx.contact.ID, []string{"FollowerUserId000001"})
				return err
			},
			records: followerCount, want: 0},
		{name: "add to campaign", op: upstream.OpAddToCampaign, repeatable: true,
			call: func(ctx context.Context, c *upstream.Client, fx *dropFixture) error {
				_, err := c.Campaigns.Add(ctx, fx.contact.ID, "CampaignDropped00001")
				return err
			},
			records: func(t *testing.T, e *env, fx *dropFixture) int {
				return countOf(e.s.Campaigns(fx.contact.ID), "CampaignDropped00001")
			}, want: 1},
		{name: "remove from campaign", op: upstream.OpRemoveFromCampaign, repeatable: true,
			call: func(ctx context.Context, c *upstream.Client, fx *dropFixture) error {
				_, err := c.Campaigns.Remove(ctx, fx.contact.ID, "CampaignFixture00001")
				return err
			},
			records: func(t *testing.T, e *env, fx *dropFixture) int {
				return countOf(e.s.Campaigns(fx.contact.ID), "CampaignFixture00001")
			}, want: 0},
		{name: "remove from every campaign", op: upstream.OpRemoveFromAllCampaigns, repeatable: true,
			call: func(ctx context.Context, c *upstream.Client, fx *dropFixture) error {
				_, err := c.Campaigns.RemoveAll(ctx, fx.contact.ID)
				return err
			},
			records: func(t *testing.T, e *env, fx *dropFixture) int { return len(e.s.Campaigns(fx.contact.ID)) }, want: 0},
		{name: "add to workflow", op: upstream.OpAddToWorkflow,
			call: func(ctx context.Context, c *upstream.Client, fx *dropFixture) error {
				_, err := c.Workflows.Add(ctx, fx.contact.ID, "WorkflowDropped00001", nil)
				return err
			},
			records: func(t *testing.T, e *env, fx *dropFixture) int {
				return countOf(e.s.Workflows(fx.contact.ID), "WorkflowDropped00001")
			}, want: 1},
		{name: "remove from workflow", op: upstream.OpRemoveFromWorkflow, repeatable: true,
			call: func(ctx context.Context, c *upstream.Client, fx *dropFixture) error {
				_, err := c.Workflows.Remove(ctx, fx.contact.ID, "WorkflowFixture00001", nil)
				return err
			},
			records: func(t *testing.T, e *env, fx *dropFixture) int {
				return countOf(e.s.Workflows(fx.contact.ID), "WorkflowFixture00001")
			}, want: 0},
	}
}

// TestWritesUnderDroppedAnswers drops the answer of the first attempt of
// every write after the sandbox applied it.
func TestWritesUnderDroppedAnswers(t *testing.T) {
	covered := map[string]bool{}
	for _, tc := range dropCases() {
		covered[tc.op.ID] = true
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, sandbox.Config{ContactsPerLocation: 3})
			fx := &dropFixture{contact: e.fresh(t), other: e.fresh(t)}
			fx.email = fmt.Sprintf("dropped.%d@example.com", uniq.Add(1))
			fx.task = must[*upstream.Task](t)(e.c.Tasks.Create(bg, fx.contact.ID, &upstream.CreateTaskRequest{
				Title: "Call back", DueDate: "2025-07-01T10:00:00Z"}))
			fx.note = must[*upstream.Note](t)(e.c.Notes.Create(bg, fx.contact.ID, &upstream.CreateNoteRequest{Body: "First note"}))
			done(t)(e.c.Campaigns.Add(bg, fx.contact.ID, "CampaignFixture00001"))
			done(t)(e.c.Workflows.Add(bg, fx.contact.ID, "WorkflowFixture00001", nil))
			if tc.op.ID == upstream.OpRemoveFollowers.ID {
				must[*upstream.FollowersResult](t)(e.c.Contacts.AddFollowers(bg, fx.contact.ID, []string{"FollowerUserId000001"}))
			}

			retrying := e.client(t, e.s.DefaultToken(), upstream.WithRetryPolicy(upstream.RetryPolicy{MaxAttempts: 3}))
			e.s.ResetCounters()
			e.s.SetFaults(sandbox.Faults{Rate: 1, Max: 1, Kinds: []sandbox.FaultKind{sandbox.FaultDropAfterWrite}, Ops: []string{tc.op.ID}})
			err := tc.call(bg, retrying, fx)
			e.s.SetFaults(sandbox.Faults{})

			if got := tc.records(t, e, fx); got != tc.want {
				t.Errorf("records after the call: %d, want %d (applied %d times; call error: %v)", got, tc.want, e.s.Applied(tc.op.ID), err)
			}
			if err != nil {
				var ue *upstream.Error
				if !errors.As(err, &ue) {
					t.Fatalf("error %T is not an *upstream.Error: %v", err, err)
				}
				if ue.WriteOutcome() != upstream.WriteUnknown {
					t.Errorf("writeOutcome %q, want %q (%v)", ue.WriteOutcome(), upstream.WriteUnknown, err)
				}
			}
			if !tc.repeatable {
				if err == nil {
					t.Errorf("a non-repeatable write whose answer was dropped succeeded: it was sent again")
				}
				if n := e.s.Calls(tc.op.ID); n != 1 {
					t.Errorf("the sandbox saw %d calls of %s, want 1 (never repeated blindly)", n, tc.op.ID)
				}
			} else if err != nil {
				// A repeatable write is retried after the drop; only a
				// repeat that the sandbox refused (a deleted thing is
				// not found) may fail, and then it must say UNKNOWN.
				if n := e.s.Calls(tc.op.ID); n < 2 {
					t.Errorf("a repeatable write was not retried after a dropped answer (%d calls)", n)
				}
			}
		})
	}
	for _, op := range upstream.Operations() {
		if op.Write && !covered[op.ID] {
			t.Errorf("write operation %s has no dropped-answer case", op.ID)
		}
	}
}
