// This file covers path escaping: an ID is user input, so whatever it holds
// it must stay one path segment of the route it was meant for. For every
// slot that takes an ID (contactId, taskId, noteId, campaignId, workflowId,
// businessId) and hostile IDs (traversal, query and fragment characters,
// spaces, non-ASCII, pre-escaped dots), the server must see exactly one
// request, on the expected route, with the ID escaped by url.PathEscape and
// no query string beyond the call's own. Empty, "." and ".." are refused
// before any request with ErrInvalidInput.

package upstream

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"testing"
)

func TestPathEscaping(t *testing.T) {
	ids := []string{
		"a/../../oauth/token",
		"x?y=1",
		"%2e%2e",
		"a#b",
		"a b",
		"ü",
		"a;b",
		"a%2Fb",
		"../x",
		"...",
		"..",
		".",
		"",
	}
	refused := map[string]bool{"": true, ".": true, "..": true}

	slots := []struct {
		name   string
		route  string // mux pattern the call must reach
		param  string // the wildcard that must receive the ID
		method string
		// uri returns the exact request URI for an escaped ID.
		uri     func(esc string) string
		op      Operation
		fixture string
		call    func(ctx context.Context, c *Client, id string) error
	}{
		{
			name: "contactId", route: "GET /contacts/{contactId}", param: "contactId", method: "GET",
			uri: func(esc string) string { return apiPrefix + "/contacts/" + esc },
			op:  OpGetContact, fixture: "contact.json",
			call: func(ctx context.Context, c *Client, id string) error {
				_, _, err := c.Contacts.Get(ctx, id)
				return err
			},
		},
		{
			name: "contactId before a sub-resource", route: "GET /contacts/{contactId}/tasks/{taskId}", param: "contactId", method: "GET",
			uri: func(esc string) string { return apiPrefix + "/contacts/" + esc + "/tasks/" + tTaskID },
			op:  OpGetTask, fixture: "task.json",
			call: func(ctx context.Context, c *Client, id string) error {
				_, _, err := c.Tasks.Get(ctx, id, tTaskID)
				return err
			},
		},
		{
			name: "taskId", route: "GET /contacts/{contactId}/tasks/{taskId}", param: "taskId", method: "GET",
			uri: func(esc string) string { return apiPrefix + "/contacts/" + tContactID + "/tasks/" + esc },
			op:  OpGetTask, fixture: "task.json",
			call: func(ctx context.Context, c *Client, id string) error {
				_, _, err := c.Tasks.Get(ctx, tContactID, id)
				return err
			},
		},
		{
			name: "taskId before /completed", route: "PUT /contacts/{contactId}/tasks/{taskId}/completed", param: "taskId", method: "PUT",
			uri: func(esc string) string { return apiPrefix + "/contacts/" + tContactID + "/tasks/" + esc + "/completed" },
			op:  OpSetTaskCompleted, fixture: "task.json",
			call: func(ctx context.Context, c *Client, id string) error {
				_, _, err := c.Tasks.SetCompleted(ctx, tContactID, id, true)
				return err
			},
		},
		{
			name: "noteId", route: "DELETE /contacts/{contactId}/notes/{id}", param: "id", method: "DELETE",
			uri: func(esc string) string { return apiPrefix + "/contacts/" + tContactID + "/notes/" + esc },
			op:  OpDeleteNote, fixture: "succeded.json",
			call: func(ctx context.Context, c *Client, id string) error {
				_, err := c.Notes.Delete(ctx, tContactID, id)
				return err
			},
		},
		{
			name: "campaignId", route: "POST /contacts/{contactId}/campaigns/{campaignId}", param: "campaignId", method: "POST",
			uri: func(esc string) string { return apiPrefix + "/contacts/" + tContactID + "/campaigns/" + esc },
			op:  OpAddToCampaign, fixture: "succeded.json",
			call: func(ctx context.Context, c *Client, id string) error {
				_, err := c.Campaigns.Add(ctx, tContactID, id)
				return err
			},
		},
		{
			name: "workflowId", route: "DELETE /contacts/{contactId}/workflow/{workflowId}", param: "workflowId", method: "DELETE",
			uri: func(esc string) string { return apiPrefix + "/contacts/" + tContactID + "/workflow/" + esc },
			op:  OpRemoveFromWorkflow, fixture: "succeded.json",
			call: func(ctx context.Context, c *Client, id string) error {
				_, err := c.Workflows.Remove(ctx, tContactID, id, nil)
				return err
			},
		},
		{
			name: "businessId", route: "GET /contacts/business/{businessId}", param: "businessId", method: "GET",
			uri: func(esc string) string { return apiPrefix + "/contacts/business/" + esc + "?locationId=" + tLocationID },
			op:  OpListContactsByBusiness, fixture: "contacts_business.json",
			call: func(ctx context.Context, c *Client, id string) error {
				_, _, err := c.Contacts.ListByBusiness(ctx, id, ListByBusinessOptions{LocationID: tLocationID})
				return err
			},
		},
	}

	for _, slot := range slots {
		for _, id := range ids {
			t.Run(slot.name+"/"+url.PathEscape(id), func(t *testing.T) {
				env := setup(t)
				env.handle(slot.route, func(w http.ResponseWriter, r *http.Request) {
					if got := r.PathValue(slot.param); got != id {
						t.Errorf("server read %s = %q, want %q", slot.param, got, id)
					}
					writeJSON(w, 200, fixture(t, slot.fixture))
				})
				err := slot.call(t.Context(), env.client, id)
				if refused[id] {
					if !errors.Is(err, ErrInvalidInput) {
						t.Fatalf("id %q: err = %v, want ErrInvalidInput", id, err)
					}
					if e := asError(t, err); e.Op != slot.op.ID {
						t.Errorf("Error.Op = %q, want %q", e.Op, slot.op.ID)
					}
					env.wantNoRequest()
					return
				}
				if err != nil {
					t.Fatalf("id %q: %v", id, err)
				}
				env.wantRequests(hit{Method: slot.method, RequestURI: slot.uri(url.PathEscape(id))})
			})
		}
	}
}

// TestNewRequestPathParams checks NewRequest's own refusals: too few or too
// many parameters for the template.
func TestNewRequestPathParams(t *testing.T) {
	c, err := NewClient()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		op       Operation
		params   []string
		wantPath string
		wantErr  bool
	}{
		{name: "no params", op: OpCreateContact, wantPath: "/contacts/"},
		{name: "one", op: OpGetContact, params: []string{"a b"}, wantPath: "/contacts/a%20b"},
		{name: "two", op: OpGetNote, params: []string{"c", "n/1"}, wantPath: "/contacts/c/notes/n%2F1"},
		{name: "too few", op: OpGetNote, params: []string{"c"}, wantErr: true},
		{name: "too many", op: OpGetContact, params: []string{"c", "d"}, wantErr: true},
		{name: "params for a template without any", op: OpCreateContact, params: []string{"c"}, wantErr: true},
		{name: "empty second", op: OpGetTask, params: []string{"c", ""}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := c.NewRequest(tt.op, tt.params, nil, nil)
			if tt.wantErr {
				if !errors.Is(err, ErrInvalidInput) {
					t.Fatalf("err = %v, want ErrInvalidInput", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if req.Path != tt.wantPath || req.Method != tt.op.Method || req.Body != nil {
				t.Errorf("NewRequest = %+v, want path %q method %s and no body", req, tt.wantPath, tt.op.Method)
			}
		})
	}
}
