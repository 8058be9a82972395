// This file covers the client's own checks, made before any request: required
// fields (locationId on create, upsert, search, bulk calls and listings;
// an email or a phone for the duplicate look-up; non-empty tags, followers,
// contacts and ids), search paging (pageLimit, page, searchAfter), bulk tag
// actions, and the required fields of tasks and notes. Every refusal is an
// *Error matching ErrInvalidInput, naming the operation, with no request
// sent. It also covers the defaults the client fills in (pageLimit 0 sends
// 20, a remove-all bulk update sends an empty tag list) and that the
// caller's request is not modified.

package upstream

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"testing"
)

func TestClientSideValidation(t *testing.T) {
	type call func(ctx context.Context, c *Client) error
	loc := tLocationID
	tests := []struct {
		name string
		op   Operation
		call call
	}{
		// Required locationId.
		{"create: nil body", OpCreateContact, func(ctx context.Context, c *Client) error {
			_, _, err := c.Contacts.Create(ctx, nil)
			return err
		}},
		{"create: no locationId", OpCreateContact, func(ctx context.Context, c *Client) error {
			_, _, err := c.Contacts.Create(ctx, &CreateContactRequest{Email: "a@b.c"})
			return err
		}},
		{"upsert: nil body", OpUpsertContact, func(ctx context.Context, c *Client) error {
			_, _, err := c.Contacts.Upsert(ctx, nil)
			return err
		}},
		{"upsert: no locationId", OpUpsertContact, func(ctx context.Context, c *Client) error {
			_, _, err := c.Contacts.Upsert(ctx, &UpsertContactRequest{CreateContactRequest: CreateContactRequest{Email: "a@b.c"}})
			return err
		}},
		{"search: nil body", OpSearchContacts, func(ctx context.Context, c *Client) error {
			_, _, err := c.Contacts.Search(ctx, nil)
			return err
		}},
		{"search: no locationId", OpSearchContacts, func(ctx context.Context, c *Client) error {
			_, _, err := c.Contacts.Search(ctx, &SearchContactsRequest{Query: "x"})
			return err
		}},
		{"business listing: no locationId", OpListContactsByBusiness, func(ctx context.Context, c *Client) error {
			_, _, err := c.Contacts.ListByBusiness(ctx, tBusinessID, ListByBusinessOptions{})
			return err
		}},
		{"business listing: negative limit", OpListContactsByBusiness, func(ctx context.Context, c *Client) error {
			_, _, err := c.Contacts.ListByBusiness(ctx, tBusinessID, ListByBusinessOptions{LocationID: loc, Limit: -1})
			return err
		}},
		{"business listing: negative skip", OpListContactsByBusiness, func(ctx context.Context, c *Client) error {
			_, _, err := c.Contacts.ListByBusiness(ctx, tBusinessID, ListByBusinessOptions{LocationID: loc, Skip: -1})
			return err
		}},
		{"business listing: empty businessId", OpListContactsByBusiness, func(ctx context.Context, c *Client) error {
			_, _, err := c.Contacts.ListByBusiness(ctx, "", ListByBusinessOptions{LocationID: loc})
			return err
		}},
		{"legacy listing: no locationId", OpListContactsDeprecated, func(ctx context.Context, c *Client) error {
			_, _, err := c.Contacts.List(ctx, ListOptions{Query: "x"})
			return err
		}},
		{"legacy listing: negative limit", OpListContactsDeprecated, func(ctx context.Context, c *Client) error {
			_, _, err := c.Contacts.List(ctx, ListOptions{LocationID: loc, Limit: -5})
			return err
		}},
		{"duplicate: no locationId", OpGetDuplicateContact, func(ctx context.Context, c *Client) error {
			_, _, err := c.Contacts.FindDuplicate(ctx, "", "a@b.c", "")
			return err
		}},
		{"duplicate: neither email nor phone", OpGetDuplicateContact, func(ctx context.Context, c *Client) error {
			_, _, err := c.Contacts.FindDuplicate(ctx, loc, "", "")
			return err
		}},
		// Non-empty lists.
		{"add tags: nil", OpAddTags, func(ctx context.Context, c *Client) error {
			_, _, err := c.Contacts.AddTags(ctx, tContactID, nil)
			return err
		}},
		{"add tags: empty", OpAddTags, func(ctx context.Context, c *Client) error {
			_, _, err := c.Contacts.AddTags(ctx, tContactID, []string{})
			return err
		}},
		{"add tags: empty tag", OpAddTags, func(ctx context.Context, c *Client) error {
			_, _, err := c.Contacts.AddTags(ctx, tContactID, []string{"vip", ""})
			return err
		}},
		{"remove tags: empty", OpRemoveTags, func(ctx context.Context, c *Client) error {
			_, _, err := c.Contacts.RemoveTags(ctx, tContactID, nil)
			return err
		}},
		{"add followers: empty", OpAddFollowers, func(ctx context.Context, c *Client) error {
			_, _, err := c.Contacts.AddFollowers(ctx, tContactID, nil)
			return err
		}},
		{"remove followers: empty follower", OpRemoveFollowers, func(ctx context.Context, c *Client) error {
			_, _, err := c.Contacts.RemoveFollowers(ctx, tContactID, []string{""})
			return err
		}},
		// Bulk tags.
		{"bulk tags: unknown action", OpBulkUpdateTags, func(ctx context.Context, c *Client) error {
			_, _, err := c.Bulk.UpdateTags(ctx, "toggle", &BulkTagsRequest{LocationID: loc, Contacts: []string{"a"}, Tags: []string{"t"}})
			return err
		}},
		{"bulk tags: empty action", OpBulkUpdateTags, func(ctx context.Context, c *Client) error {
			_, _, err := c.Bulk.UpdateTags(ctx, "", &BulkTagsRequest{LocationID: loc, Contacts: []string{"a"}, Tags: []string{"t"}})
			return err
		}},
		{"bulk tags: action as a path", OpBulkUpdateTags, func(ctx context.Context, c *Client) error {
			_, _, err := c.Bulk.UpdateTags(ctx, "../../business", &BulkTagsRequest{LocationID: loc, Contacts: []string{"a"}, Tags: []string{"t"}})
			return err
		}},
		{"bulk tags: nil body", OpBulkUpdateTags, func(ctx context.Context, c *Client) error {
			_, _, err := c.Bulk.UpdateTags(ctx, BulkTagsAdd, nil)
			return err
		}},
		{"bulk tags: no locationId", OpBulkUpdateTags, func(ctx context.Context, c *Client) error {
			_, _, err := c.Bulk.UpdateTags(ctx, BulkTagsAdd, &BulkTagsRequest{Contacts: []string{"a"}, Tags: []string{"t"}})
			return err
		}},
		{"bulk tags: no contacts", OpBulkUpdateTags, func(ctx context.Context, c *Client) error {
			_, _, err := c.Bulk.UpdateTags(ctx, BulkTagsAdd, &BulkTagsRequest{LocationID: loc, Tags: []string{"t"}})
			return err
		}},
		{"bulk tags: add without tags", OpBulkUpdateTags, func(ctx context.Context, c *Client) error {
			_, _, err := c.Bulk.UpdateTags(ctx, BulkTagsAdd, &BulkTagsRequest{LocationID: loc, Contacts: []string{"a"}})
			return err
		}},
		{"bulk tags: add with removeAllTags still needs tags", OpBulkUpdateTags, func(ctx context.Context, c *Client) error {
			_, _, err := c.Bulk.UpdateTags(ctx, BulkTagsAdd, &BulkTagsRequest{LocationID: loc, Contacts: []string{"a"}, RemoveAllTags: true})
			return err
		}},
		{"bulk tags: remove without tags", OpBulkUpdateTags, func(ctx context.Context, c *Client) error {
			_, _, err := c.Bulk.UpdateTags(ctx, BulkTagsRemove, &BulkTagsRequest{LocationID: loc, Contacts: []string{"a"}})
			return err
		}},
		// Bulk business.
		{"bulk business: nil body", OpBulkUpdateBusiness, func(ctx context.Context, c *Client) error {
			_, _, err := c.Bulk.UpdateBusiness(ctx, nil)
			return err
		}},
		{"bulk business: no locationId", OpBulkUpdateBusiness, func(ctx context.Context, c *Client) error {
			_, _, err := c.Bulk.UpdateBusiness(ctx, &BulkBusinessRequest{IDs: []string{"a"}})
			return err
		}},
		{"bulk business: no ids", OpBulkUpdateBusiness, func(ctx context.Context, c *Client) error {
			_, _, err := c.Bulk.UpdateBusiness(ctx, &BulkBusinessRequest{LocationID: loc, IDs: []string{}})
			return err
		}},
		{"bulk business: empty businessId", OpBulkUpdateBusiness, func(ctx context.Context, c *Client) error {
			_, _, err := c.Bulk.UpdateBusiness(ctx, &BulkBusinessRequest{LocationID: loc, IDs: []string{"a"}, BusinessID: ptr("")})
			return err
		}},
		// Search paging.
		{"search: pageLimit 501", OpSearchContacts, func(ctx context.Context, c *Client) error {
			_, _, err := c.Contacts.Search(ctx, &SearchContactsRequest{LocationID: loc, PageLimit: 501})
			return err
		}},
		{"search: negative pageLimit", OpSearchContacts, func(ctx context.Context, c *Client) error {
			_, _, err := c.Contacts.Search(ctx, &SearchContactsRequest{LocationID: loc, PageLimit: -1})
			return err
		}},
		{"search: negative page", OpSearchContacts, func(ctx context.Context, c *Client) error {
			_, _, err := c.Contacts.Search(ctx, &SearchContactsRequest{LocationID: loc, Page: -1})
			return err
		}},
		{"search: page with searchAfter", OpSearchContacts, func(ctx context.Context, c *Client) error {
			_, _, err := c.Contacts.Search(ctx, &SearchContactsRequest{LocationID: loc, Page: 2,
				SearchAfter: []json.RawMessage{json.RawMessage(`1603963890255`), json.RawMessage(`"x"`)}})
			return err
		}},
		// Tasks and notes.
		{"task: nil body", OpCreateTask, func(ctx context.Context, c *Client) error {
			_, _, err := c.Tasks.Create(ctx, tContactID, nil)
			return err
		}},
		{"task: no title", OpCreateTask, func(ctx context.Context, c *Client) error {
			_, _, err := c.Tasks.Create(ctx, tContactID, &CreateTaskRequest{DueDate: "2020-10-25T11:00:00Z"})
			return err
		}},
		{"task: no due date", OpCreateTask, func(ctx context.Context, c *Client) error {
			_, _, err := c.Tasks.Create(ctx, tContactID, &CreateTaskRequest{Title: "x"})
			return err
		}},
		{"note: nil body", OpCreateNote, func(ctx context.Context, c *Client) error {
			_, _, err := c.Notes.Create(ctx, tContactID, nil)
			return err
		}},
		{"note: empty body", OpCreateNote, func(ctx context.Context, c *Client) error {
			_, _, err := c.Notes.Create(ctx, tContactID, &CreateNoteRequest{Title: "x"})
			return err
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := setup(t)
			err := tt.call(t.Context(), env.client)
			if !errors.Is(err, ErrInvalidInput) {
				t.Fatalf("err = %v, want ErrInvalidInput", err)
			}
			testSentinel(t, err, ErrInvalidInput)
			e := asError(t, err)
			if e.Op != tt.op.ID {
				t.Errorf("Error.Op = %q, want %q", e.Op, tt.op.ID)
			}
			if e.RequestSent || e.StatusCode != 0 {
				t.Errorf("RequestSent = %v, StatusCode = %d; want false, 0", e.RequestSent, e.StatusCode)
			}
			env.wantNoRequest()
		})
	}
}

// TestClientSideDefaults checks what the client fills in or lets through at
// the edges of its checks, and that it leaves the caller's request alone.
func TestClientSideDefaults(t *testing.T) {
	t.Run("search pageLimit 0 sends 20", func(t *testing.T) {
		env := setup(t)
		env.handle("POST /contacts/search", func(w http.ResponseWriter, r *http.Request) {
			testJSONBody(t, readBody(t, r), `{"locationId":"ve9EPM428h8vShlRW1KT","pageLimit":20}`)
			writeJSON(w, 200, fixture(t, "search.json"))
		})
		req := &SearchContactsRequest{LocationID: tLocationID}
		if _, _, err := env.client.Contacts.Search(t.Context(), req); err != nil {
			t.Fatal(err)
		}
		if req.PageLimit != 0 {
			t.Errorf("the caller's request was changed: PageLimit = %d", req.PageLimit)
		}
	})
	t.Run("search pageLimit 500 and page 1", func(t *testing.T) {
		env := setup(t)
		env.handle("POST /contacts/search", func(w http.ResponseWriter, r *http.Request) {
			testJSONBody(t, readBody(t, r), `{"locationId":"ve9EPM428h8vShlRW1KT","pageLimit":500,"page":1}`)
			writeJSON(w, 200, fixture(t, "search.json"))
		})
		if _, _, err := env.client.Contacts.Search(t.Context(), &SearchContactsRequest{LocationID: tLocationID, PageLimit: 500, Page: 1}); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("bulk remove of every tag sends an empty tag list", func(t *testing.T) {
		env := setup(t)
		env.handle("POST /contacts/bulk/tags/update/{type}", func(w http.ResponseWriter, r *http.Request) {
			if r.URL.EscapedPath() != apiPrefix+"/contacts/bulk/tags/update/remove" {
				t.Errorf("path = %q", r.URL.EscapedPath())
			}
			testJSONBody(t, readBody(t, r), `{"contacts":["a"],"tags":[],"locationId":"ve9EPM428h8vShlRW1KT","removeAllTags":true}`)
			writeJSON(w, 201, fixture(t, "bulk_tags.json"))
		})
		req := &BulkTagsRequest{LocationID: tLocationID, Contacts: []string{"a"}, RemoveAllTags: true}
		if _, _, err := env.client.Bulk.UpdateTags(t.Context(), BulkTagsRemove, req); err != nil {
			t.Fatal(err)
		}
		if req.Tags != nil {
			t.Errorf("the caller's request was changed: Tags = %#v", req.Tags)
		}
	})
	t.Run("duplicate by phone only", func(t *testing.T) {
		env := setup(t)
		env.handle("GET /contacts/search/duplicate", func(w http.ResponseWriter, r *http.Request) {
			testQuery(t, r, map[string][]string{"locationId": {tLocationID}, "number": {"+18832327657"}})
			writeJSON(w, 200, fixture(t, "duplicate_none.json"))
		})
		got, _, err := env.client.Contacts.FindDuplicate(t.Context(), tLocationID, "", "+18832327657")
		if err != nil || got != nil {
			t.Fatalf("FindDuplicate = %v, %v; want nil, nil for {\"contact\":null}", got, err)
		}
	})
	t.Run("listings without optional parameters", func(t *testing.T) {
		env := setup(t)
		env.handle("GET /contacts/business/{businessId}", func(w http.ResponseWriter, r *http.Request) {
			testQuery(t, r, map[string][]string{"locationId": {tLocationID}})
			writeJSON(w, 200, fixture(t, "contacts_business.json"))
		})
		env.handle("GET /contacts/", func(w http.ResponseWriter, r *http.Request) {
			testQuery(t, r, map[string][]string{"locationId": {tLocationID}})
			writeJSON(w, 200, fixture(t, "contacts_legacy.json"))
		})
		if _, _, err := env.client.Contacts.ListByBusiness(t.Context(), tBusinessID, ListByBusinessOptions{LocationID: tLocationID}); err != nil {
			t.Fatal(err)
		}
		if _, _, err := env.client.Contacts.List(t.Context(), ListOptions{LocationID: tLocationID}); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("workflow add with nil body sends an empty object", func(t *testing.T) {
		env := setup(t)
		env.handle("POST /contacts/{contactId}/workflow/{workflowId}", func(w http.ResponseWriter, r *http.Request) {
			testHeader(t, r, "Content-Type", "application/json")
			testJSONBody(t, readBody(t, r), `{}`)
			writeJSON(w, 200, fixture(t, "succeded.json"))
		})
		if _, err := env.client.Workflows.Add(t.Context(), tContactID, tWorkflowID, nil); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("an unencodable body is refused before sending", func(t *testing.T) {
		env := setup(t)
		_, _, err := env.client.Contacts.Create(t.Context(), &CreateContactRequest{LocationID: tLocationID,
			CustomFields: []CustomFieldInput{{Key: "k", Value: make(chan int)}}})
		if !errors.Is(err, ErrInvalidInput) {
			t.Fatalf("err = %v, want ErrInvalidInput", err)
		}
		env.wantNoRequest()
	})
	t.Run("Do without a body value ignores the answer", func(t *testing.T) {
		env := setup(t)
		env.handle("GET /contacts/{contactId}", func(w http.ResponseWriter, r *http.Request) {
			writeJSON(w, 200, []byte(`not JSON at all`))
		})
		req, err := env.client.NewRequest(OpGetContact, []string{tContactID}, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := env.client.Do(t.Context(), req, nil)
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("Do = %+v, %v", resp, err)
		}
	})
}
