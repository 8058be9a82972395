// This file holds what mutations share besides the write path: the checks
// only writes make, and the payloads built from the upstream's answers.

package resolvers

import (
	"context"

	"github.com/ghl-graphql/gateway/graph/model"
	"github.com/ghl-graphql/gateway/upstream"
)

// upsertMatch refuses an upsert that names nothing to match on.
func upsertMatch(in model.CreateContactInput) error {
	if val(in.Email) == "" && val(in.Phone) == "" {
		return badInput("upsertContact matches on email or phone: give at least one")
	}
	return nil
}

func upsertContactRequest(in model.CreateContactInput, locationID string, allowDuplicate *bool) (*upstream.UpsertContactRequest, error) {
	req, err := createContactRequest(in, locationID)
	if err != nil {
		return nil, err
	}
	return &upstream.UpsertContactRequest{CreateContactRequest: *req, CreateNewIfDuplicateAllowed: allowDuplicate}, nil
}

// checkOptionalID checks an ID argument that may be null.
func checkOptionalID(field string, id *string) error {
	if id == nil {
		return nil
	}
	return checkID(field, *id)
}

// checkRemoveAll refuses removeAllTags on anything but a removal.
func checkRemoveAll(action model.TagAction, all bool) error {
	if all && action != model.TagActionRemove {
		return badInput("removeAllTags goes with action REMOVE")
	}
	return nil
}

func bulkTagAction(a model.TagAction) upstream.BulkTagAction {
	if a == model.TagActionRemove {
		return upstream.BulkTagsRemove
	}
	return upstream.BulkTagsAdd
}

func createdContact(c *upstream.Contact) []string { return ids(c.ID) }

func contactPayload(c *upstream.Contact) *model.ContactPayload {
	return &model.ContactPayload{Contact: contactFromAPI(c)}
}

func upsertPayload(res *upstream.UpsertResult) *model.UpsertContactPayload {
	return &model.UpsertContactPayload{Contact: contactFromAPI(res.Contact), Created: res.New, TraceID: strPtr(res.TraceID)}
}

func taskPayload(contactID string) func(*upstream.Task) *model.TaskPayload {
	return func(t *upstream.Task) *model.TaskPayload {
		task := taskFromAPI(t, contactID)
		return &model.TaskPayload{Task: &task}
	}
}

func notePayload(contactID string) func(*upstream.Note) *model.NotePayload {
	return func(n *upstream.Note) *model.NotePayload {
		note := noteFromAPI(n, contactID)
		return &model.NotePayload{Note: &note}
	}
}

func bulkTagsPayload(res *upstream.BulkTagsResult) *model.BulkUpdateContactTagsPayload {
	out := &model.BulkUpdateContactTagsPayload{
		Success: res.Succeeded && res.ErrorCount == 0, ErrorCount: res.ErrorCount,
		Results: make([]model.BulkTagResult, 0, len(res.Responses)),
	}
	for _, x := range res.Responses {
		out.Results = append(out.Results, model.BulkTagResult{
			ContactID: strPtr(x.ContactID), Success: x.Type == "success", Message: strPtr(x.Message),
			PreviousTags: orEmpty(x.OldTags), TagsAdded: orEmpty(x.TagsAdded), TagsRemoved: orEmpty(x.TagsRemoved),
		})
	}
	return out
}

// createChild creates a task or a note of a contact: the request is built
// from the input by build, created by create, and its ID is id's.
func createChild[Req, T, P any](ctx context.Context, r *Resolver, contactID string, build func() (Req, error),
	create func(context.Context, string, Req) (T, *upstream.Response, error), id func(T) string, payload func(T) *P) (*P, error) {
	var req Req
	return apply(ctx, r, writeSpec{contacts: ids(contactID), limits: checkID("contactId", contactID),
		build: func(string) (err error) { req, err = build(); return err }},
		func(ctx context.Context, _ string) (T, error) { return answer(create(ctx, contactID, req)) },
		func(v T) []string { return ids(id(v)) }, payload)
}

// updateChild updates a task or a note of a contact, like createChild.
func updateChild[Req, T, P any](ctx context.Context, r *Resolver, contactID, id string, build func() (Req, error),
	update func(context.Context, string, string, Req) (T, *upstream.Response, error), payload func(T) *P) (*P, error) {
	var req Req
	return apply(ctx, r, writeSpec{contacts: ids(contactID), others: ids(id), limits: checkTaskIDs(contactID, id),
		build: func(string) (err error) { req, err = build(); return err }},
		func(ctx context.Context, _ string) (T, error) { return answer(update(ctx, contactID, id, req)) },
		nil, payload)
}

// deleteChild deletes a task or a note of a contact.
func deleteChild(ctx context.Context, r *Resolver, contactID, id string,
	del func(context.Context, string, string) (*upstream.Response, error)) (*model.DeletePayload, error) {
	return apply(ctx, r, writeSpec{contacts: ids(contactID), others: ids(id), limits: checkTaskIDs(contactID, id)},
		func(ctx context.Context, _ string) (*upstream.Response, error) { return del(ctx, contactID, id) },
		nil, deleted(id))
}

func taskID(t *upstream.Task) string { return t.ID }
func noteID(n *upstream.Note) string { return n.ID }
