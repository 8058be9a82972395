// This file holds the bulk calls: tags and business of many contacts at once.

package upstream

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
)

// BulkService changes many contacts in one call.
type BulkService service

// BulkTagAction says whether a bulk tag update adds or removes tags.
type BulkTagAction string

// The bulk tag actions (the {type} path parameter, which the OpenAPI file
// forgets to declare).
const (
	BulkTagsAdd    BulkTagAction = "add"
	BulkTagsRemove BulkTagAction = "remove"
)

// BulkTagsRequest is the body of POST /contacts/bulk/tags/update/{type}.
type BulkTagsRequest struct {
	Contacts   []string `json:"contacts"`
	Tags       []string `json:"tags"`
	LocationID string   `json:"locationId"`
	// RemoveAllTags, with BulkTagsRemove, removes every tag of the contacts.
	RemoveAllTags bool `json:"removeAllTags,omitempty"`
}

// BulkTagsResult is the answer of a bulk tag update.
type BulkTagsResult struct {
	Succeeded  bool                    `json:"succeded"`
	ErrorCount int                     `json:"errorCount"`
	Responses  []BulkTagsContactResult `json:"responses"`
}

func (r *BulkTagsResult) missingField() string {
	// A real answer always lists one response per contact.
	if r.Responses == nil {
		return "responses"
	}
	return ""
}

// BulkTagsContactResult is the outcome for one contact of a bulk tag update.
type BulkTagsContactResult struct {
	ContactID string `json:"contactId,omitempty"`
	Message   string `json:"message,omitempty"`
	// Type is "success" or "error".
	Type        string   `json:"type,omitempty"`
	OldTags     []string `json:"oldTags,omitempty"`
	TagsAdded   []string `json:"tagsAdded,omitempty"`
	TagsRemoved []string `json:"tagsRemoved,omitempty"`
}

// UnmarshalJSON accepts a bare string too: the OpenAPI schema declares the
// responses as strings while its example (and the API) gives objects.
func (r *BulkTagsContactResult) UnmarshalJSON(b []byte) error {
	if b = bytes.TrimSpace(b); len(b) > 0 && b[0] == '"' {
		*r = BulkTagsContactResult{}
		return json.Unmarshal(b, &r.Message)
	}
	type plain BulkTagsContactResult
	return json.Unmarshal(b, (*plain)(r))
}

// UpdateTags adds tags to, or removes tags from, every listed contact. The
// answer reports each contact's outcome; a contact that failed does not fail
// the call.
//
// API: POST /contacts/bulk/tags/update/{type} (create-association).
func (s *BulkService) UpdateTags(ctx context.Context, action BulkTagAction, body *BulkTagsRequest) (*BulkTagsResult, *Response, error) {
	op := OpBulkUpdateTags
	if action != BulkTagsAdd && action != BulkTagsRemove {
		return nil, nil, invalidInput(op, "action %q is neither %q nor %q", action, BulkTagsAdd, BulkTagsRemove)
	}
	if body == nil || body.LocationID == "" {
		return nil, nil, invalidInput(op, "locationId is required")
	}
	if err := requireItems(op, "contacts", body.Contacts); err != nil {
		return nil, nil, err
	}
	if !(action == BulkTagsRemove && body.RemoveAllTags) {
		if err := requireItems(op, "tags", body.Tags); err != nil {
			return nil, nil, err
		}
	}
	req := *body
	if req.Tags == nil {
		req.Tags = []string{}
	}
	var out BulkTagsResult
	resp, err := s.client.call(ctx, op, []string{string(action)}, nil, &req, &out)
	if err != nil {
		return nil, resp, err
	}
	return &out, resp, nil
}

// BulkBusinessRequest is the body of POST /contacts/bulk/business.
type BulkBusinessRequest struct {
	LocationID string   `json:"locationId"`
	IDs        []string `json:"ids"`
	// BusinessID is the business to attach the contacts to; nil detaches them
	// from their business (sent as null).
	BusinessID *string `json:"businessId"`
}

// BulkBusinessResult is the answer of a bulk business update.
type BulkBusinessResult struct {
	Success bool     `json:"success"`
	IDs     []string `json:"ids"`
}

// bulkBusinessEnvelope tells a missing "success" from false.
type bulkBusinessEnvelope struct {
	Success *bool    `json:"success"`
	IDs     []string `json:"ids"`
}

func (e *bulkBusinessEnvelope) missingField() string {
	if e.Success == nil {
		return "success"
	}
	return ""
}

// UpdateBusiness attaches every listed contact to a business, or detaches
// them from theirs.
//
// API: POST /contacts/bulk/business (add-remove-contact-from-business).
func (s *BulkService) UpdateBusiness(ctx context.Context, body *BulkBusinessRequest) (*BulkBusinessResult, *Response, error) {
	op := OpBulkUpdateBusiness
	if body == nil || body.LocationID == "" {
		return nil, nil, invalidInput(op, "locationId is required")
	}
	if err := requireItems(op, "ids", body.IDs); err != nil {
		return nil, nil, err
	}
	if body.BusinessID != nil && *body.BusinessID == "" {
		return nil, nil, invalidInput(op, "businessId must not be empty; use nil to detach")
	}
	var out bulkBusinessEnvelope
	resp, err := s.client.call(ctx, op, nil, nil, body, &out)
	if err != nil {
		return nil, resp, err
	}
	if !*out.Success {
		return nil, resp, &Error{Op: op.ID, Method: op.Method, Path: op.Path, StatusCode: resp.StatusCode, Rate: resp.Rate,
			RequestSent: true, Err: fmt.Errorf("%w: the upstream answered success=false", ErrServer)}
	}
	return &BulkBusinessResult{Success: true, IDs: out.IDs}, resp, nil
}
