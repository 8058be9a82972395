// This file holds a contact's notes.

package upstream

import (
	"context"
	"encoding/json"
)

// NotesService calls the note endpoints of a contact.
type NotesService service

// Note is a note on a contact.
type Note struct {
	ID        string `json:"id"`
	Body      string `json:"body"`
	UserID    string `json:"userId,omitempty"`
	DateAdded string `json:"dateAdded,omitempty"`
	ContactID string `json:"contactId,omitempty"`
	Title     string `json:"title,omitempty"`
	Color     string `json:"color,omitempty"`
	Pinned    bool   `json:"pinned"`
}

// CreateNoteRequest is the body of POST /contacts/{contactId}/notes.
type CreateNoteRequest struct {
	UserID string `json:"userId,omitempty"`
	Body   string `json:"body"`
	Title  string `json:"title,omitempty"`
	Color  string `json:"color,omitempty"`
	Pinned *bool  `json:"pinned,omitempty"`
}

// UpdateNoteRequest is the body of PUT /contacts/{contactId}/notes/{id};
// absent fields keep their value. The spec (UpdateNoteDTO) lets no field be
// null: a Null UserID, Title or Color is sent as "", which clears it; Body
// and Pinned cannot be cleared, and a Null for them is refused with
// ErrInvalidInput before any call.
type UpdateNoteRequest struct {
	UserID Nullable[string] `json:"userId,omitzero"`
	Body   Nullable[string] `json:"body,omitzero"`
	Title  Nullable[string] `json:"title,omitzero"`
	Color  Nullable[string] `json:"color,omitzero"`
	Pinned Nullable[bool]   `json:"pinned,omitzero"`
}

func (r *UpdateNoteRequest) checkNulls() error {
	return refuseNull(OpUpdateNote,
		notClearable{"body", r.Body.IsNull(), "a note always has a body"},
		notClearable{"pinned", r.Pinned.IsNull(), "set it to false"})
}

// MarshalJSON encodes a Null UserID, Title or Color as "", and fails for a
// Null the API cannot take.
func (r UpdateNoteRequest) MarshalJSON() ([]byte, error) {
	if err := r.checkNulls(); err != nil {
		return nil, err
	}
	type wire UpdateNoteRequest
	w := wire(r)
	w.UserID = clearAs(w.UserID, "")
	w.Title = clearAs(w.Title, "")
	w.Color = clearAs(w.Color, "")
	return json.Marshal(w)
}

type noteEnvelope struct {
	Note *Note `json:"note"`
}

func (e *noteEnvelope) missingField() string {
	if e.Note == nil {
		return "note"
	}
	return ""
}

type notesEnvelope struct {
	Notes []Note `json:"notes"`
}

func (e *notesEnvelope) missingField() string {
	if e.Notes == nil {
		return "notes"
	}
	return ""
}

// List returns the notes of a contact.
//
// API: GET /contacts/{contactId}/notes (get-all-notes).
func (s *NotesService) List(ctx context.Context, contactID string) ([]Note, *Response, error) {
	var out notesEnvelope
	resp, err := s.client.call(ctx, OpListNotes, []string{contactID}, nil, nil, &out)
	if err != nil {
		return nil, resp, err
	}
	return out.Notes, resp, nil
}

// Get returns one note of a contact.
//
// API: GET /contacts/{contactId}/notes/{id} (get-note).
func (s *NotesService) Get(ctx context.Context, contactID, noteID string) (*Note, *Response, error) {
	return s.one(ctx, OpGetNote, []string{contactID, noteID}, nil)
}

// Create adds a note to a contact. Not idempotent.
//
// API: POST /contacts/{contactId}/notes (create-note).
func (s *NotesService) Create(ctx context.Context, contactID string, body *CreateNoteRequest) (*Note, *Response, error) {
	if body == nil || body.Body == "" {
		return nil, nil, invalidInput(OpCreateNote, "body is required")
	}
	return s.one(ctx, OpCreateNote, []string{contactID}, body)
}

// Update changes the fields set in body.
//
// API: PUT /contacts/{contactId}/notes/{id} (update-note).
func (s *NotesService) Update(ctx context.Context, contactID, noteID string, body *UpdateNoteRequest) (*Note, *Response, error) {
	if body == nil {
		body = &UpdateNoteRequest{}
	}
	if err := body.checkNulls(); err != nil {
		return nil, nil, err
	}
	return s.one(ctx, OpUpdateNote, []string{contactID, noteID}, body)
}

// Delete deletes a note.
//
// API: DELETE /contacts/{contactId}/notes/{id} (delete-note).
func (s *NotesService) Delete(ctx context.Context, contactID, noteID string) (*Response, error) {
	return s.client.callSuccess(ctx, OpDeleteNote, []string{contactID, noteID}, nil)
}

func (s *NotesService) one(ctx context.Context, op Operation, params []string, body any) (*Note, *Response, error) {
	var out noteEnvelope
	resp, err := s.client.call(ctx, op, params, nil, body, &out)
	if err != nil {
		return nil, resp, err
	}
	return out.Note, resp, nil
}
