// This file holds the answers: the response value handlers return, the
// API's error bodies, and the JSON writer.

package sandbox

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strconv"
)

// response is a handler's answer, kept as a value until written so that a
// fault can still drop or garble it after the write was applied.
type response struct {
	status int
	body   any
}

// errorBody is HighLevel's (NestJS's) error answer; message is a string, or
// a list of strings for 422.
type errorBody struct {
	StatusCode int    `json:"statusCode"`
	Message    any    `json:"message"`
	Error      string `json:"error,omitempty"`
	Meta       any    `json:"meta,omitempty"`
}

// succeeded is the {"succeded": true} answer (the API's spelling).
type succeeded struct {
	Succeeded bool `json:"succeded"`
}

var succeededTrue = succeeded{Succeeded: true}

func ok(body any) response      { return response{status: http.StatusOK, body: body} }
func created(body any) response { return response{status: http.StatusCreated, body: body} }

// failure is an error answer with a single message.
func failure(status int, msg string) response {
	return response{status: status, body: errorBody{StatusCode: status, Message: msg}}
}

// invalid is the 422 answer of a failed validation.
func invalid(msgs ...string) response {
	return response{status: http.StatusUnprocessableEntity, body: errorBody{
		StatusCode: http.StatusUnprocessableEntity, Message: msgs, Error: "Unprocessable Entity"}}
}

var (
	contactNotFound   = failure(http.StatusNotFound, "Contact not found")
	taskNotFound      = failure(http.StatusNotFound, "Task not found")
	noteNotFound      = failure(http.StatusNotFound, "Note not found")
	locationForbidden = failure(http.StatusForbidden, "The token does not have access to this location.")
)

// duplicateContact is the answer of a create that would duplicate a contact.
func duplicateContact(id, field string) response {
	return response{status: http.StatusBadRequest, body: errorBody{
		StatusCode: http.StatusBadRequest,
		Message:    "This location does not allow duplicated contacts.",
		Meta:       map[string]string{"contactId": id, "matchingField": field},
	}}
}

// encodeJSON encodes v without HTML escaping (URLs and "&" stay readable).
func encodeJSON(v any) []byte {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		// Every body is built from plain data; this is a programming error,
		// but answer it as the server error it is rather than panic.
		return []byte(`{"statusCode":500,"message":"Internal server error"}`)
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
}

// writeJSON writes status and body as JSON.
func writeJSON(w http.ResponseWriter, status int, body any) {
	writeBytes(w, status, encodeJSON(body))
}

func writeBytes(w http.ResponseWriter, status int, b []byte) {
	h := w.Header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	_, _ = w.Write(b) // a write error means the caller went away; nothing to do
}
