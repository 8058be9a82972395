// This file covers how every failure becomes an *Error: status answers
// (400, 401, the 401 scope refusal, 403, 404, 422 with a message list, 429
// with Retry-After in seconds and as a date, 5xx, non-JSON bodies, an
// unexpected 409), transport failures (client timeout, parent deadline,
// caller cancellation, a connection dropped before the answer or in the
// middle of the body, a server that refuses connections), malformed 2xx
// answers (truncated, HTML, empty, wrong shape, missing envelope, oversize),
// {"succeded": false}, and that Error() never shows the token or the query.
// Each error must carry Op, Method and Path, match exactly one sentinel, and
// say truthfully whether the request was sent and may be repeated.

package upstream

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// sentinels are every sentinel error of the package.
var sentinels = []error{
	ErrNotFound, ErrUnauthorized, ErrForbidden, ErrRateLimited, ErrInvalidInput,
	ErrServer, ErrTimeout, ErrConnection, ErrMalformedResponse, ErrUnavailable,
}

// testSentinel checks that err matches want and no other sentinel; want nil
// means none at all.
func testSentinel(t *testing.T, err error, want error) {
	t.Helper()
	for _, s := range sentinels {
		if got := errors.Is(err, s); got != (s == want) {
			t.Errorf("errors.Is(err, %q) = %v, want %v (err: %v)", s, got, s == want, err)
		}
	}
}

// callKind selects the call a table row makes: an idempotent read or a
// create, which may not be repeated once sent.
type callKind int

const (
	callGet    callKind = iota // GET /contacts/{contactId}
	callCreate                 // POST /contacts/
)

func (k callKind) route() string {
	if k == callCreate {
		return "POST /contacts/"
	}
	return "GET /contacts/{contactId}"
}

func (k callKind) op() Operation {
	if k == callCreate {
		return OpCreateContact
	}
	return OpGetContact
}

func (k callKind) path() string {
	if k == callCreate {
		return "/contacts/"
	}
	return "/contacts/" + tContactID
}

func (k callKind) do(ctx context.Context, c *Client) (*Contact, *Response, error) {
	if k == callCreate {
		return c.Contacts.Create(ctx, &CreateContactRequest{LocationID: tLocationID, Email: "rosan@deos.com"})
	}
	return c.Contacts.Get(ctx, tContactID)
}

// testErrorShape checks what every error of a sent call must carry.
func testErrorShape(t *testing.T, err error, k callKind) *Error {
	t.Helper()
	e := asError(t, err)
	if e.Op != k.op().ID || e.Method != k.op().Method || e.Path != k.path() {
		t.Errorf("Error Op/Method/Path = %q %q %q, want %q %q %q", e.Op, e.Method, e.Path, k.op().ID, k.op().Method, k.path())
	}
	if e.Unwrap() == nil {
		t.Errorf("Error has no cause")
	}
	return e
}

func TestStatusErrors(t *testing.T) {
	fixedNow := time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name           string
		call           callKind
		status         int
		header         map[string]string
		contentType    string // default application/json
		body           string
		wantIs         error
		wantMessages   []string
		wantRetryable  bool
		wantRetryAfter time.Duration
	}{
		{
			name: "400", status: 400, body: `{"statusCode":400,"message":"Bad Request"}`,
			wantIs: ErrInvalidInput, wantMessages: []string{"Bad Request"},
		},
		{
			name: "401 invalid token", status: 401, body: `{"statusCode":401,"message":"Invalid token: access token is invalid","error":"Unauthorized"}`,
			wantIs: ErrUnauthorized, wantMessages: []string{"Invalid token: access token is invalid"},
		},
		{
			name: "401 scope refusal is forbidden", status: 401,
			body:   `{"statusCode":401,"message":"The token is not authorized for this scope.","error":"Unauthorized"}`,
			wantIs: ErrForbidden, wantMessages: []string{"The token is not authorized for this scope."},
		},
		{
			name: "401 plain text body", status: 401, contentType: "text/plain", body: `Unauthorized`,
			wantIs: ErrUnauthorized,
		},
		{
			name: "403", status: 403, body: `{"statusCode":403,"message":"The token does not have access to this location."}`,
			wantIs: ErrForbidden, wantMessages: []string{"The token does not have access to this location."},
		},
		{
			name: "404", status: 404, body: `{"statusCode":404,"message":"Contact not found"}`,
			wantIs: ErrNotFound, wantMessages: []string{"Contact not found"},
		},
		{
			name: "404 HTML body", status: 404, contentType: "text/html", body: `<html><body><h1>Cannot GET</h1></body></html>`,
			wantIs: ErrNotFound,
		},
		{
			name: "422 keeps every message", call: callCreate, status: 422,
			body:         `{"statusCode":422,"message":["email must be an email","phone must be a valid phone number"],"error":"Unprocessable Entity"}`,
			wantIs:       ErrInvalidInput,
			wantMessages: []string{"email must be an email", "phone must be a valid phone number"},
		},
		{
			name: "422 with an empty list falls back to error", call: callCreate, status: 422,
			body:   `{"statusCode":422,"message":[],"error":"Unprocessable Entity"}`,
			wantIs: ErrInvalidInput, wantMessages: []string{"Unprocessable Entity"},
		},
		{
			name: "429 Retry-After seconds", status: 429, header: map[string]string{"Retry-After": "7"},
			body:   `{"statusCode":429,"message":"Too many requests"}`,
			wantIs: ErrRateLimited, wantMessages: []string{"Too many requests"}, wantRetryable: true, wantRetryAfter: 7 * time.Second,
		},
		{
			name: "429 on a create is retryable: refused before any work", call: callCreate, status: 429,
			header: map[string]string{"Retry-After": "7"}, body: `{"statusCode":429,"message":"Too many requests"}`,
			wantIs: ErrRateLimited, wantMessages: []string{"Too many requests"}, wantRetryable: true, wantRetryAfter: 7 * time.Second,
		},
		{
			name: "429 Retry-After HTTP date", call: callCreate, status: 429,
			header: map[string]string{"Retry-After": fixedNow.Add(90 * time.Second).Format(http.TimeFormat)},
			body:   `{"statusCode":429,"message":"Too many requests"}`,
			wantIs: ErrRateLimited, wantMessages: []string{"Too many requests"}, wantRetryable: true, wantRetryAfter: 90 * time.Second,
		},
		{
			name: "429 without Retry-After", status: 429, body: ``,
			wantIs: ErrRateLimited, wantRetryable: true,
		},
		{
			name: "500 on a read is retryable", status: 500, body: `{"statusCode":500,"message":"Internal server error"}`,
			wantIs: ErrServer, wantMessages: []string{"Internal server error"}, wantRetryable: true,
		},
		{
			name: "500 on a create is not", call: callCreate, status: 500, body: `{"statusCode":500,"message":"Internal server error"}`,
			wantIs: ErrServer, wantMessages: []string{"Internal server error"},
		},
		{
			name: "502 HTML", status: 502, contentType: "text/html",
			body:   `<html><head><title>502 Bad Gateway</title></head><body><center><h1>502 Bad Gateway</h1></center></body></html>`,
			wantIs: ErrServer, wantRetryable: true,
		},
		{
			name: "502 HTML on a create", call: callCreate, status: 502, contentType: "text/html",
			body: `<html><body>502 Bad Gateway</body></html>`, wantIs: ErrServer,
		},
		{
			name: "503 with Retry-After", status: 503, header: map[string]string{"Retry-After": "30"}, body: ``,
			wantIs: ErrServer, wantRetryable: true, wantRetryAfter: 30 * time.Second,
		},
		{
			name: "503 on a create", call: callCreate, status: 503, header: map[string]string{"Retry-After": "30"}, body: `{}`,
			wantIs: ErrServer, wantRetryAfter: 30 * time.Second,
		},
		{
			name: "409 has no sentinel", status: 409, body: `{"statusCode":409,"message":"Conflict"}`,
			wantIs: nil, wantMessages: []string{"Conflict"},
		},
		{
			name: "message of an unexpected type", status: 400, body: `{"statusCode":400,"message":{"field":"email"}}`,
			wantIs: ErrInvalidInput,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := setup(t)
			env.client.now = func() time.Time { return fixedNow }
			env.handle(tt.call.route(), func(w http.ResponseWriter, r *http.Request) {
				io.Copy(io.Discard, r.Body)
				for k, v := range testRateHeaders {
					w.Header().Set(k, v)
				}
				for k, v := range tt.header {
					w.Header().Set(k, v)
				}
				ct := tt.contentType
				if ct == "" {
					ct = "application/json"
				}
				w.Header().Set("Content-Type", ct)
				w.WriteHeader(tt.status)
				io.WriteString(w, tt.body)
			})
			got, resp, err := tt.call.do(t.Context(), env.client)
			if err == nil {
				t.Fatalf("no error for status %d", tt.status)
			}
			if got != nil || resp != nil {
				t.Errorf("got %v, %v with an error, want nil, nil", got, resp)
			}
			testSentinel(t, err, tt.wantIs)
			e := testErrorShape(t, err, tt.call)
			if e.StatusCode != tt.status {
				t.Errorf("StatusCode = %d, want %d", e.StatusCode, tt.status)
			}
			if diff := cmp.Diff(tt.wantMessages, e.Messages); diff != "" {
				t.Errorf("Messages (-want +got):\n%s", diff)
			}
			if e.Retryable != tt.wantRetryable {
				t.Errorf("Retryable = %v, want %v", e.Retryable, tt.wantRetryable)
			}
			if e.RetryAfter != tt.wantRetryAfter {
				t.Errorf("RetryAfter = %v, want %v", e.RetryAfter, tt.wantRetryAfter)
			}
			if !e.RequestSent {
				t.Errorf("RequestSent = false for an answered call")
			}
			if diff := cmp.Diff(testRate, e.Rate); diff != "" {
				t.Errorf("Error.Rate (-want +got):\n%s", diff)
			}
			msg := err.Error()
			if !strings.Contains(msg, fmt.Sprint(tt.status)) || !strings.Contains(msg, tt.call.op().ID) {
				t.Errorf("Error() = %q, want it to name the status and the operation", msg)
			}
			for _, m := range tt.wantMessages {
				if !strings.Contains(msg, m) || !strings.Contains(e.Message(), m) {
					t.Errorf("Error() = %q, Message() = %q, want both to contain %q", msg, e.Message(), m)
				}
			}
		})
	}
}

// TestTransportErrors covers failures that leave no status: deadlines,
// cancellation and broken connections.
func TestTransportErrors(t *testing.T) {
	// hijackClose takes the connection and closes it before any answer.
	hijackClose := func(env *testEnv, t *testing.T) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			conn, _, err := http.NewResponseController(w).Hijack()
			if err != nil {
				t.Errorf("hijack: %v", err)
				return
			}
			conn.Close()
		}
	}
	// partialBody sends the status, headers and part of the body, then
	// aborts the connection.
	partialBody := func(env *testEnv, t *testing.T) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			io.Copy(io.Discard, r.Body)
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("Content-Length", "4096")
			w.WriteHeader(200)
			io.WriteString(w, `{"contact":{"id":"seD4PfOuKoVMLkEZqohJ","name":"rubi`)
			http.NewResponseController(w).Flush()
			conn, _, err := http.NewResponseController(w).Hijack()
			if err != nil {
				t.Errorf("hijack: %v", err)
				return
			}
			conn.Close()
		}
	}
	// blockForever never answers.
	blockForever := func(env *testEnv, t *testing.T) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			io.Copy(io.Discard, r.Body)
			env.block(r)
		}
	}
	// blockInBody sends the headers and part of the body, then never finishes.
	blockInBody := func(env *testEnv, t *testing.T) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			io.Copy(io.Discard, r.Body)
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(200)
			io.WriteString(w, `{"contact":{"id":"seD4`)
			http.NewResponseController(w).Flush()
			env.block(r)
		}
	}

	tests := []struct {
		name    string
		call    callKind
		opts    []Option
		handler func(env *testEnv, t *testing.T) http.HandlerFunc
		// ctx makes the call's context; arrived is closed when the handler
		// has the request.
		ctx             func(t *testing.T, arrived <-chan struct{}) context.Context
		closeServer     bool
		wantIs          error
		wantCause       error // also matched with errors.Is, e.g. context.Canceled
		wantNotCause    error
		wantStatus      int
		wantRequestSent bool
		wantRetryable   bool
	}{
		{
			name: "client timeout on a read", opts: []Option{WithTimeout(50 * time.Millisecond)}, handler: blockForever,
			wantIs: ErrTimeout, wantCause: context.DeadlineExceeded, wantRequestSent: true, wantRetryable: true,
		},
		{
			name: "client timeout on a create: outcome unknown", call: callCreate, opts: []Option{WithTimeout(50 * time.Millisecond)}, handler: blockForever,
			wantIs: ErrTimeout, wantCause: context.DeadlineExceeded, wantRequestSent: true, wantRetryable: false,
		},
		{
			name: "timeout of the HTTP client itself", opts: []Option{WithHTTPClient(&http.Client{Timeout: 50 * time.Millisecond})}, handler: blockForever,
			wantIs: ErrTimeout, wantRequestSent: true, wantRetryable: true,
		},
		{
			name: "parent context deadline", handler: blockForever,
			ctx: func(t *testing.T, _ <-chan struct{}) context.Context {
				ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
				t.Cleanup(cancel)
				return ctx
			},
			wantIs: ErrTimeout, wantCause: context.DeadlineExceeded, wantRequestSent: true, wantRetryable: true,
		},
		{
			name: "timeout while reading the body", opts: []Option{WithTimeout(50 * time.Millisecond)}, handler: blockInBody,
			wantIs: ErrTimeout, wantCause: context.DeadlineExceeded, wantStatus: 200, wantRequestSent: true, wantRetryable: true,
		},
		{
			name: "caller cancels", handler: blockForever,
			ctx: func(t *testing.T, arrived <-chan struct{}) context.Context {
				ctx, cancel := context.WithCancel(t.Context())
				t.Cleanup(cancel)
				go func() {
					select {
					case <-arrived:
						cancel()
					case <-ctx.Done():
					}
				}()
				return ctx
			},
			wantIs: nil, wantCause: context.Canceled, wantNotCause: context.DeadlineExceeded, wantRequestSent: true, wantRetryable: false,
		},
		{
			name: "caller cancels a create", call: callCreate, handler: blockForever,
			ctx: func(t *testing.T, arrived <-chan struct{}) context.Context {
				ctx, cancel := context.WithCancel(t.Context())
				t.Cleanup(cancel)
				go func() {
					select {
					case <-arrived:
						cancel()
					case <-ctx.Done():
					}
				}()
				return ctx
			},
			wantIs: nil, wantCause: context.Canceled, wantRequestSent: true, wantRetryable: false,
		},
		{
			name: "already cancelled context", handler: blockForever,
			ctx: func(t *testing.T, _ <-chan struct{}) context.Context {
				ctx, cancel := context.WithCancel(t.Context())
				cancel()
				return ctx
			},
			wantIs: nil, wantCause: context.Canceled, wantRetryable: false,
		},
		{
			name: "connection dropped before the answer, read", handler: hijackClose,
			wantIs: ErrConnection, wantRequestSent: true, wantRetryable: true,
		},
		{
			name: "connection dropped before the answer, create: outcome unknown", call: callCreate, handler: hijackClose,
			wantIs: ErrConnection, wantRequestSent: true, wantRetryable: false,
		},
		{
			name: "connection dropped in the middle of the body", handler: partialBody,
			wantIs: ErrConnection, wantStatus: 200, wantRequestSent: true, wantRetryable: true,
		},
		{
			name: "connection dropped in the middle of a create's body", call: callCreate, handler: partialBody,
			wantIs: ErrConnection, wantStatus: 200, wantRequestSent: true, wantRetryable: false,
		},
		{
			name: "dial timeout on a create: never sent, so retryable", call: callCreate, opts: []Option{WithHTTPClient(dialTimeoutClient())},
			wantIs: ErrTimeout, wantRequestSent: false, wantRetryable: true,
		},
		{
			name: "server refuses connections, read", closeServer: true,
			wantIs: ErrConnection, wantRequestSent: false, wantRetryable: true,
		},
		{
			name: "server refuses connections, create: never sent, so retryable", call: callCreate, closeServer: true,
			wantIs: ErrConnection, wantRequestSent: false, wantRetryable: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := setup(t, tt.opts...)
			arrived := make(chan struct{})
			if tt.handler != nil {
				h := tt.handler(env, t)
				var once sync.Once
				env.handle(tt.call.route(), func(w http.ResponseWriter, r *http.Request) {
					once.Do(func() { close(arrived) })
					h(w, r)
				})
			}
			if tt.closeServer {
				env.srv.Close()
			}
			ctx := t.Context()
			if tt.ctx != nil {
				ctx = tt.ctx(t, arrived)
			}
			got, resp, err := tt.call.do(ctx, env.client)
			if err == nil {
				t.Fatalf("no error")
			}
			if got != nil || resp != nil {
				t.Errorf("got %v, %v with an error, want nil, nil", got, resp)
			}
			testSentinel(t, err, tt.wantIs)
			if tt.wantCause != nil && !errors.Is(err, tt.wantCause) {
				t.Errorf("errors.Is(err, %v) = false; err: %v", tt.wantCause, err)
			}
			if tt.wantNotCause != nil && errors.Is(err, tt.wantNotCause) {
				t.Errorf("errors.Is(err, %v) = true; err: %v", tt.wantNotCause, err)
			}
			e := testErrorShape(t, err, tt.call)
			if e.StatusCode != tt.wantStatus {
				t.Errorf("StatusCode = %d, want %d", e.StatusCode, tt.wantStatus)
			}
			if e.RequestSent != tt.wantRequestSent {
				t.Errorf("RequestSent = %v, want %v", e.RequestSent, tt.wantRequestSent)
			}
			if e.Retryable != tt.wantRetryable {
				t.Errorf("Retryable = %v, want %v", e.Retryable, tt.wantRetryable)
			}
		})
	}
}

// TestMalformedAnswers checks that a 2xx answer that cannot be decoded, or
// lacks the field the call returns, is ErrMalformedResponse and never a zero
// value.
func TestMalformedAnswers(t *testing.T) {
	type call func(ctx context.Context, c *Client) (any, error)
	getContact := func(ctx context.Context, c *Client) (any, error) { return nilIfNil(c.Contacts.Get(ctx, tContactID)) }
	tests := []struct {
		name  string
		op    Operation
		route string
		body  string
		opts  []Option
		call  call
		// bug marks rows that fail because of a client bug (see the report).
		bug string
	}{
		{name: "truncated JSON", op: OpGetContact, body: `{"contact":{"id":"seD4PfOuKoVMLkEZqohJ","name":"rub`, call: getContact},
		{name: "HTML", op: OpGetContact, body: `<html><body>Service temporarily unavailable</body></html>`, call: getContact},
		{name: "empty body", op: OpGetContact, body: ``, call: getContact},
		{name: "blank body", op: OpGetContact, body: " \r\n\t", call: getContact},
		{name: "no envelope", op: OpGetContact, body: `{}`, call: getContact},
		{name: "envelope with another key", op: OpGetContact, body: `{"contacts":[{"id":"x"}]}`, call: getContact},
		{name: "null envelope", op: OpGetContact, body: `{"contact":null}`, call: getContact},
		{name: "JSON null", op: OpGetContact, body: `null`, call: getContact},
		{name: "array", op: OpGetContact, body: `[]`, call: getContact},
		{name: "contact of the wrong type", op: OpGetContact, body: `{"contact":"seD4PfOuKoVMLkEZqohJ"}`, call: getContact},
		{name: "tags of the wrong type", op: OpGetContact, body: `{"contact":{"id":"x","tags":"a,b"}}`, call: getContact},
		{name: "trailing garbage", op: OpGetContact, body: `{"contact":{"id":"x"}} trailing`, call: getContact},
		{name: "two values", op: OpGetContact, body: `{"contact":{"id":"x"}}{"contact":{"id":"y"}}`, call: getContact},
		{
			name: "search without contacts", op: OpSearchContacts, body: `{"total":3}`,
			call: func(ctx context.Context, c *Client) (any, error) {
				return nilIfNil(c.Contacts.Search(ctx, &SearchContactsRequest{LocationID: tLocationID}))
			},
		},
		{
			name: "search with null contacts", op: OpSearchContacts, body: `{"contacts":null,"total":3}`,
			call: func(ctx context.Context, c *Client) (any, error) {
				return nilIfNil(c.Contacts.Search(ctx, &SearchContactsRequest{LocationID: tLocationID}))
			},
		},
		{
			name: "tasks without tasks", op: OpListTasks, body: `{}`,
			call: func(ctx context.Context, c *Client) (any, error) { return nilIfEmpty(c.Tasks.List(ctx, tContactID)) },
		},
		{
			name: "task without task", op: OpGetTask, body: `{"tasks":[]}`,
			call: func(ctx context.Context, c *Client) (any, error) {
				return nilIfNil(c.Tasks.Get(ctx, tContactID, tTaskID))
			},
		},
		{
			name: "notes without notes", op: OpListNotes, body: `{}`,
			call: func(ctx context.Context, c *Client) (any, error) { return nilIfEmpty(c.Notes.List(ctx, tContactID)) },
		},
		{
			name: "note without note", op: OpGetNote, body: `{"note":null}`,
			call: func(ctx context.Context, c *Client) (any, error) {
				return nilIfNil(c.Notes.Get(ctx, tContactID, tNoteID))
			},
		},
		{
			name: "appointments without events", op: OpListAppointments, body: `{"appointments":[]}`,
			call: func(ctx context.Context, c *Client) (any, error) {
				return nilIfEmpty(c.Appointments.List(ctx, tContactID))
			},
		},
		{
			name: "tags without tags", op: OpAddTags, body: `{}`,
			call: func(ctx context.Context, c *Client) (any, error) {
				return nilIfEmpty(c.Contacts.AddTags(ctx, tContactID, []string{"a"}))
			},
		},
		{
			name: "followers without followers", op: OpAddFollowers, body: `{}`,
			call: func(ctx context.Context, c *Client) (any, error) {
				return nilIfNil(c.Contacts.AddFollowers(ctx, tContactID, []string{"u"}))
			},
		},
		{
			name: "upsert without contact", op: OpUpsertContact, body: `{"new":true,"traceId":"t"}`,
			call: func(ctx context.Context, c *Client) (any, error) {
				return nilIfNil(c.Contacts.Upsert(ctx, &UpsertContactRequest{CreateContactRequest: CreateContactRequest{LocationID: tLocationID}}))
			},
		},
		{
			name: "business listing without contacts", op: OpListContactsByBusiness, body: `{"count":3}`,
			call: func(ctx context.Context, c *Client) (any, error) {
				return nilIfNil(c.Contacts.ListByBusiness(ctx, tBusinessID, ListByBusinessOptions{LocationID: tLocationID}))
			},
		},
		{
			name: "legacy listing without contacts", op: OpListContactsDeprecated, body: `{"meta":{"total":0}}`,
			call: func(ctx context.Context, c *Client) (any, error) {
				return nilIfNil(c.Contacts.List(ctx, ListOptions{LocationID: tLocationID}))
			},
		},
		{
			name: "delete without succeded", op: OpDeleteContact, body: `{}`,
			call: func(ctx context.Context, c *Client) (any, error) {
				_, err := c.Contacts.Delete(ctx, tContactID)
				return nil, err
			},
		},
		{
			name: "delete with a misspelt key", op: OpDeleteContact, body: `{"succeeded":true}`,
			call: func(ctx context.Context, c *Client) (any, error) {
				_, err := c.Contacts.Delete(ctx, tContactID)
				return nil, err
			},
		},
		{
			name: "oversize answer", op: OpGetContact, opts: []Option{WithMaxResponseBytes(1024)},
			body: padJSON(`{"contact":{"id":"seD4PfOuKoVMLkEZqohJ"}}`, 1025), call: getContact,
		},
		{
			name: "oversize answer, far beyond the cap", op: OpGetContact, opts: []Option{WithMaxResponseBytes(1024)},
			body: `{"contact":{"id":"seD4PfOuKoVMLkEZqohJ","notes":"` + strings.Repeat("x", 1<<20) + `"}}`, call: getContact,
		},
		// Regression (upstream-envelope, fixed): the three rows below fail. The duplicate
		// look-up and both bulk calls have no envelope check, so an answer
		// without its key decodes to a zero value with a nil error: `{}` from
		// get-duplicate-contact reads as "no duplicate" (and may lead the
		// caller to create one), and `{}` from the bulk calls as a result
		// that reports nothing.
		{
			name: "regression: duplicate look-up without contact key", op: OpGetDuplicateContact, body: `{}`, bug: "upstream-envelope",
			call: func(ctx context.Context, c *Client) (any, error) {
				return nilIfNil(c.Contacts.FindDuplicate(ctx, tLocationID, "rubika@deos.com", ""))
			},
		},
		{
			name: "regression: bulk tags without succeded", op: OpBulkUpdateTags, body: `{}`, bug: "upstream-envelope",
			call: func(ctx context.Context, c *Client) (any, error) {
				return nilIfNil(c.Bulk.UpdateTags(ctx, BulkTagsAdd, &BulkTagsRequest{LocationID: tLocationID, Contacts: []string{"a"}, Tags: []string{"t"}}))
			},
		},
		{
			name: "regression: bulk business without success", op: OpBulkUpdateBusiness, body: `{}`, bug: "upstream-envelope",
			call: func(ctx context.Context, c *Client) (any, error) {
				return nilIfNil(c.Bulk.UpdateBusiness(ctx, &BulkBusinessRequest{LocationID: tLocationID, IDs: []string{"a"}}))
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := setup(t, tt.opts...)
			env.handle(tt.op.Method+" "+tt.op.Path, func(w http.ResponseWriter, r *http.Request) {
				io.Copy(io.Discard, r.Body)
				writeJSON(w, 200, []byte(tt.body))
			})
			got, err := tt.call(t.Context(), env.client)
			if tt.bug != "" && err == nil {
				t.Errorf("regression %s: answer %s decoded to %+v with a nil error, want ErrMalformedResponse", tt.bug, tt.body, got)
				return
			}
			if got != nil {
				t.Errorf("got %+v with the error, want nil", got)
			}
			if !errors.Is(err, ErrMalformedResponse) {
				t.Fatalf("err = %v, want ErrMalformedResponse", err)
			}
			testSentinel(t, err, ErrMalformedResponse)
			e := asError(t, err)
			if e.Op != tt.op.ID || e.Method != tt.op.Method || e.StatusCode != 200 || !e.RequestSent {
				t.Errorf("Error = %+v, want Op %s, Method %s, StatusCode 200, RequestSent", e, tt.op.ID, tt.op.Method)
			}
			// A cut answer of a read may be asked again; a write was carried
			// out, and an oversize answer would come back the same.
			wantRetryable := !tt.op.Write && !strings.HasPrefix(tt.name, "oversize")
			if e.Retryable != wantRetryable {
				t.Errorf("Retryable = %v, want %v", e.Retryable, wantRetryable)
			}
			wantOutcome := ""
			if tt.op.Write {
				wantOutcome = WriteApplied
			}
			if got := e.WriteOutcome(); got != wantOutcome {
				t.Errorf("WriteOutcome() = %q, want %q", got, wantOutcome)
			}
			if diff := cmp.Diff(testRate, e.Rate); diff != "" {
				t.Errorf("Error.Rate (-want +got):\n%s", diff)
			}
		})
	}
}

// TestMaxResponseBytesBoundary checks that an answer of exactly the cap is
// accepted and one byte more is not.
func TestMaxResponseBytesBoundary(t *testing.T) {
	for _, size := range []int{1023, 1024, 1025} {
		t.Run(fmt.Sprint(size), func(t *testing.T) {
			env := setup(t, WithMaxResponseBytes(1024))
			env.handle("GET /contacts/{contactId}", func(w http.ResponseWriter, r *http.Request) {
				writeJSON(w, 200, []byte(padJSON(`{"contact":{"id":"seD4PfOuKoVMLkEZqohJ"}}`, size)))
			})
			got, _, err := env.client.Contacts.Get(t.Context(), tContactID)
			if size <= 1024 {
				if err != nil || got == nil || got.ID != tContactID {
					t.Fatalf("Get = %+v, %v; want the contact", got, err)
				}
				return
			}
			if !errors.Is(err, ErrMalformedResponse) || got != nil {
				t.Fatalf("Get = %+v, %v; want ErrMalformedResponse", got, err)
			}
		})
	}
}

// TestSucceededFalse checks that every call answered by {"succeded": ...}
// turns false into an error that names the call.
func TestSucceededFalse(t *testing.T) {
	tests := []struct {
		op   Operation
		path string
		call func(ctx context.Context, c *Client) (*Response, error)
	}{
		{OpDeleteContact, "/contacts/" + tContactID, func(ctx context.Context, c *Client) (*Response, error) {
			return c.Contacts.Delete(ctx, tContactID)
		}},
		{OpDeleteTask, "/contacts/" + tContactID + "/tasks/" + tTaskID, func(ctx context.Context, c *Client) (*Response, error) {
			return c.Tasks.Delete(ctx, tContactID, tTaskID)
		}},
		{OpDeleteNote, "/contacts/" + tContactID + "/notes/" + tNoteID, func(ctx context.Context, c *Client) (*Response, error) {
			return c.Notes.Delete(ctx, tContactID, tNoteID)
		}},
		{OpAddToCampaign, "/contacts/" + tContactID + "/campaigns/" + tCampaignID, func(ctx context.Context, c *Client) (*Response, error) {
			return c.Campaigns.Add(ctx, tContactID, tCampaignID)
		}},
		{OpRemoveFromCampaign, "/contacts/" + tContactID + "/campaigns/" + tCampaignID, func(ctx context.Context, c *Client) (*Response, error) {
			return c.Campaigns.Remove(ctx, tContactID, tCampaignID)
		}},
		{OpRemoveFromAllCampaigns, "/contacts/" + tContactID + "/campaigns/removeAll", func(ctx context.Context, c *Client) (*Response, error) {
			return c.Campaigns.RemoveAll(ctx, tContactID)
		}},
		{OpAddToWorkflow, "/contacts/" + tContactID + "/workflow/" + tWorkflowID, func(ctx context.Context, c *Client) (*Response, error) {
			return c.Workflows.Add(ctx, tContactID, tWorkflowID, nil)
		}},
		{OpRemoveFromWorkflow, "/contacts/" + tContactID + "/workflow/" + tWorkflowID, func(ctx context.Context, c *Client) (*Response, error) {
			return c.Workflows.Remove(ctx, tContactID, tWorkflowID, nil)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.op.ID, func(t *testing.T) {
			env := setup(t)
			env.handle(tt.op.Method+" "+tt.op.Path, func(w http.ResponseWriter, r *http.Request) {
				io.Copy(io.Discard, r.Body)
				writeJSON(w, 200, []byte(`{"succeded":false}`))
			})
			resp, err := tt.call(t.Context(), env.client)
			if err == nil {
				t.Fatalf("no error for succeded=false (resp %+v)", resp)
			}
			e := asError(t, err)
			if e.Op != tt.op.ID || e.Method != tt.op.Method || e.Path != tt.path || e.StatusCode != 200 || !e.RequestSent {
				t.Errorf("Error = %+v, want Op %s, %s %s, status 200, RequestSent", e, tt.op.ID, tt.op.Method, tt.path)
			}
			if diff := cmp.Diff(testRate, e.Rate); diff != "" {
				t.Errorf("Error.Rate (-want +got):\n%s", diff)
			}
			if !errors.Is(err, ErrServer) {
				t.Errorf("err = %v, want ErrServer", err)
			}
		})
	}
}

// TestErrorRedaction checks that neither Error() nor Message() shows the
// token or the query string (which carries an email and a phone number),
// whatever the failure. Rows named "regression:" pin bugs that were found and fixed.
func TestErrorRedaction(t *testing.T) {
	const (
		email = "jane.secret+vip@example.org"
		phone = "+15550001111"
	)
	forbidden := []string{testToken, "jane.secret", "example.org", "5550001111", "locationId=", "email=", "number=", "?"}
	tests := []struct {
		name    string
		opts    []Option
		handler func(env *testEnv, t *testing.T) http.HandlerFunc
		closed  bool
		wantIs  error
		bug     string
	}{
		{name: "404", wantIs: ErrNotFound, handler: func(env *testEnv, t *testing.T) http.HandlerFunc {
			return func(w http.ResponseWriter, r *http.Request) {
				writeJSON(w, 404, []byte(`{"statusCode":404,"message":"Not found"}`))
			}
		}},
		{name: "malformed", wantIs: ErrMalformedResponse, handler: func(env *testEnv, t *testing.T) http.HandlerFunc {
			return func(w http.ResponseWriter, r *http.Request) { writeJSON(w, 200, []byte(`{"contact":`)) }
		}},
		{name: "timeout", opts: []Option{WithTimeout(50 * time.Millisecond)}, wantIs: ErrTimeout, handler: func(env *testEnv, t *testing.T) http.HandlerFunc {
			return func(w http.ResponseWriter, r *http.Request) { env.block(r) }
		}},
		{name: "dropped mid-body", wantIs: ErrConnection, handler: func(env *testEnv, t *testing.T) http.HandlerFunc {
			return func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Length", "100")
				w.WriteHeader(200)
				io.WriteString(w, `{"contact":`)
				http.NewResponseController(w).Flush()
				panic(http.ErrAbortHandler)
			}
		}},
		// Regression (upstream-redact, fixed): the transport's *url.Error, whose text holds
		// the whole URL with its query string, is wrapped as it is.
		{name: "regression: connection dropped before the answer", wantIs: ErrConnection, bug: "upstream-redact", handler: func(env *testEnv, t *testing.T) http.HandlerFunc {
			return func(w http.ResponseWriter, r *http.Request) {
				conn, _, err := http.NewResponseController(w).Hijack()
				if err == nil {
					conn.Close()
				}
			}
		}},
		{name: "regression: connection refused", closed: true, wantIs: ErrConnection, bug: "upstream-redact"},
		{name: "regression: dial timeout", opts: []Option{WithHTTPClient(dialTimeoutClient())}, wantIs: ErrTimeout, bug: "upstream-redact"},
		{
			name: "timeout of the HTTP client itself", wantIs: ErrTimeout,
			opts: []Option{WithHTTPClient(&http.Client{Timeout: 50 * time.Millisecond})},
			handler: func(env *testEnv, t *testing.T) http.HandlerFunc {
				return func(w http.ResponseWriter, r *http.Request) { env.block(r) }
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := setup(t, tt.opts...)
			if tt.handler != nil {
				env.handle("GET /contacts/search/duplicate", tt.handler(env, t))
			}
			if tt.closed {
				env.srv.Close()
			}
			_, _, err := env.client.Contacts.FindDuplicate(t.Context(), tLocationID, email, phone)
			if !errors.Is(err, tt.wantIs) {
				t.Fatalf("err = %v, want %v", err, tt.wantIs)
			}
			e := asError(t, err)
			if e.Path != "/contacts/search/duplicate" {
				t.Errorf("Error.Path = %q, want the path alone", e.Path)
			}
			for _, text := range []string{err.Error(), e.Message()} {
				var leaked []string
				for _, f := range forbidden {
					if strings.Contains(text, f) {
						leaked = append(leaked, f)
					}
				}
				if len(leaked) > 0 {
					prefix := ""
					if tt.bug != "" {
						prefix = "regression " + tt.bug + ": "
					}
					t.Errorf("%serror text %q shows %q", prefix, text, leaked)
				}
			}
		})
	}
}

// dialTimeoutClient returns an HTTP client whose every dial fails with a
// timeout, as a dial to an unreachable host does, without any network.
func dialTimeoutClient() *http.Client {
	tr := NewTransport()
	tr.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		return nil, &net.OpError{Op: "dial", Net: network, Err: dialTimeoutError{}}
	}
	return &http.Client{Transport: tr}
}

// dialTimeoutError is a net.Error that reports a timeout.
type dialTimeoutError struct{}

func (dialTimeoutError) Error() string   { return "i/o timeout" }
func (dialTimeoutError) Timeout() bool   { return true }
func (dialTimeoutError) Temporary() bool { return true }

// nilIfNil drops the *Response of a call's results, keeping a nil result
// untyped so that "got != nil" means a value was returned.
func nilIfNil[T any](v *T, _ *Response, err error) (any, error) {
	if v == nil {
		return nil, err
	}
	return v, err
}

// nilIfEmpty is nilIfNil for calls that return a slice.
func nilIfEmpty[T any](v []T, _ *Response, err error) (any, error) {
	if v == nil {
		return nil, err
	}
	return v, err
}

// padJSON pads a JSON text with trailing spaces to exactly n bytes.
func padJSON(s string, n int) string {
	if len(s) > n {
		panic("padJSON: text longer than the size")
	}
	return s + strings.Repeat(" ", n-len(s))
}

// TestWriteOutcome covers what a failed write may have done, for errors as
// the client makes them and as other code builds them from an Op.
func TestWriteOutcome(t *testing.T) {
	create, update, get := OpCreateContact.ID, OpUpdateContact.ID, OpGetContact.ID
	tests := []struct {
		name string
		err  *Error
		want string
	}{
		{"a read has none", &Error{Op: get, StatusCode: 503, RequestSent: true, Err: ErrServer}, ""},
		{"a read that never left has none", &Error{Op: get, Err: ErrConnection}, ""},
		{"an unknown operation is taken as a read", &Error{Op: "no-such-op", StatusCode: 503, RequestSent: true, Err: ErrServer}, ""},
		{"never sent: connection refused", &Error{Op: create, Err: ErrConnection}, WriteNotApplied},
		{"refused before sending: invalid input", invalidInput(OpCreateContact, "email must not be empty"), WriteNotApplied},
		{"refused by the rate budget", &Error{Op: create, Err: ErrRateLimited, RetryAfter: time.Second}, WriteNotApplied},
		{"refused by the open breaker", &Error{Op: update, Err: ErrUnavailable}, WriteNotApplied},
		{"400", &Error{Op: create, StatusCode: 400, RequestSent: true, Err: ErrInvalidInput}, WriteNotApplied},
		{"401", &Error{Op: create, StatusCode: 401, RequestSent: true, Err: ErrUnauthorized}, WriteNotApplied},
		{"403", &Error{Op: update, StatusCode: 403, RequestSent: true, Err: ErrForbidden}, WriteNotApplied},
		{"404", &Error{Op: update, StatusCode: 404, RequestSent: true, Err: ErrNotFound}, WriteNotApplied},
		{"409", &Error{Op: create, StatusCode: 409, RequestSent: true, Err: errors.New("unexpected status 409")}, WriteNotApplied},
		{"429", &Error{Op: create, StatusCode: 429, RequestSent: true, Err: ErrRateLimited}, WriteNotApplied},
		{"422 on an update", &Error{Op: update, StatusCode: 422, RequestSent: true, Err: ErrInvalidInput}, WriteNotApplied},
		{"422 on create-contact may have created it", &Error{Op: create, StatusCode: 422, RequestSent: true, Err: ErrInvalidInput}, WriteUnknown},
		{"500", &Error{Op: create, StatusCode: 500, RequestSent: true, Err: ErrServer}, WriteUnknown},
		{"503", &Error{Op: update, StatusCode: 503, RequestSent: true, Err: ErrServer}, WriteUnknown},
		{"dropped after sending", &Error{Op: create, RequestSent: true, Err: ErrConnection}, WriteUnknown},
		{"timeout after sending", &Error{Op: create, RequestSent: true, Err: ErrTimeout}, WriteUnknown},
		{"cancelled after sending", &Error{Op: create, RequestSent: true, Err: context.Canceled}, WriteUnknown},
		{"2xx with a cut body", &Error{Op: create, StatusCode: 201, RequestSent: true, Err: ErrMalformedResponse}, WriteApplied},
		{"2xx dropped mid-body", &Error{Op: update, StatusCode: 200, RequestSent: true, Err: ErrConnection}, WriteApplied},
		{"succeded=false", &Error{Op: OpDeleteContact.ID, StatusCode: 200, RequestSent: true, Err: fmt.Errorf("%w: succeded=false", ErrServer)}, WriteNotApplied},
		{"unexpected 302", &Error{Op: create, StatusCode: 302, RequestSent: true, Err: errors.New("unexpected status 302")}, WriteUnknown},
		{"a custom write operation made by Do", &Error{Op: "custom", StatusCode: 502, RequestSent: true, Err: ErrServer, write: true, writeKnown: true}, WriteUnknown},
		{"over several attempts: an earlier unknown outcome stays", &Error{Op: update, StatusCode: 404, RequestSent: true, Err: ErrNotFound, outcome: WriteUnknown}, WriteUnknown},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.err.WriteOutcome(); got != tt.want {
				t.Errorf("WriteOutcome() = %q, want %q", got, tt.want)
			}
		})
	}
}

// TestWriteOutcomeFromDo checks the outcome of real failed writes, one
// attempt each.
func TestWriteOutcomeFromDo(t *testing.T) {
	tests := []struct {
		name    string
		status  int
		body    string
		hijack  bool
		closed  bool
		timeout bool
		want    string
	}{
		{name: "400", status: 400, body: `{"statusCode":400,"message":"Bad"}`, want: WriteNotApplied},
		{name: "422", status: 422, body: `{"statusCode":422,"message":["email must be an email"]}`, want: WriteUnknown},
		{name: "429", status: 429, body: `{"statusCode":429,"message":"Too many"}`, want: WriteNotApplied},
		{name: "502", status: 502, body: `<html>Bad Gateway</html>`, want: WriteUnknown},
		{name: "201 cut", status: 201, body: `{"contact":{"id":`, want: WriteApplied},
		{name: "dropped before answering", hijack: true, want: WriteUnknown},
		{name: "timeout", timeout: true, want: WriteUnknown},
		{name: "connection refused", closed: true, want: WriteNotApplied},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var opts []Option
			if tt.timeout {
				opts = append(opts, WithTimeout(50*time.Millisecond))
			}
			env := setup(t, opts...)
			env.handle("POST /contacts/", func(w http.ResponseWriter, r *http.Request) {
				io.Copy(io.Discard, r.Body)
				switch {
				case tt.hijack:
					if conn, _, err := http.NewResponseController(w).Hijack(); err == nil {
						conn.Close()
					}
				case tt.timeout:
					env.block(r)
				default:
					writeJSON(w, tt.status, []byte(tt.body))
				}
			})
			if tt.closed {
				env.srv.Close()
			}
			_, _, err := callCreate.do(t.Context(), env.client)
			e := testErrorShape(t, err, callCreate)
			if got := e.WriteOutcome(); got != tt.want {
				t.Errorf("WriteOutcome() = %q, want %q (err %v)", got, tt.want, err)
			}
			if e.Attempts != 1 {
				t.Errorf("Attempts = %d, want 1", e.Attempts)
			}
		})
	}
}

func TestErrorMessageAttempts(t *testing.T) {
	e := &Error{Op: "get-contact", Method: "GET", Path: "/contacts/x", StatusCode: 503, Err: ErrServer, Attempts: 3}
	if got, want := e.Error(), "upstream get-contact (GET /contacts/x): 503 Service Unavailable: upstream server error (after 3 attempts)"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
	e.Attempts = 1
	if got := e.Error(); strings.Contains(got, "attempts") {
		t.Errorf("Error() = %q names attempts for a single one", got)
	}
	u := &Error{Op: "get-contact", Err: ErrUnavailable, RetryAfter: time.Second}
	if got, want := u.Error(), "upstream get-contact: upstream unavailable: circuit open"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
}
