// This file holds the client's error vocabulary: one error type for every failed
// call, the sentinels callers test with errors.Is, and what a failed write
// may have done (WriteOutcome).

package upstream

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"
)

// Sentinel errors. An *Error matches the sentinel of its kind with errors.Is,
// so callers never compare status codes themselves.
var (
	// ErrNotFound: the resource does not exist or is not visible to the credential (404).
	ErrNotFound = errors.New("not found")
	// ErrUnauthorized: the token is missing, expired or invalid (401).
	ErrUnauthorized = errors.New("unauthorized")
	// ErrForbidden: the token is valid but lacks the scope or location (403).
	ErrForbidden = errors.New("forbidden")
	// ErrRateLimited: the upstream refused the call for its rate limit (429).
	ErrRateLimited = errors.New("rate limited")
	// ErrInvalidInput: the request was refused as invalid, by the upstream
	// (400, 422) or by the client before sending it.
	ErrInvalidInput = errors.New("invalid input")
	// ErrServer: the upstream failed (5xx).
	ErrServer = errors.New("upstream server error")
	// ErrTimeout: no answer arrived before the call's deadline.
	ErrTimeout = errors.New("upstream timeout")
	// ErrConnection: the connection failed or dropped before a whole answer arrived.
	ErrConnection = errors.New("upstream connection failed")
	// ErrMalformedResponse: the answer could not be decoded (bad JSON, missing
	// envelope, too large).
	ErrMalformedResponse = errors.New("malformed upstream response")
	// ErrUnavailable: the circuit breaker is open after repeated failures of
	// the upstream; the call was not sent.
	ErrUnavailable = errors.New("upstream unavailable: circuit open")
)

// The outcomes of a failed write, as WriteOutcome reports them.
const (
	// WriteNotApplied: the write was not carried out: it never left, or the
	// upstream refused it definitely. Repeating it cannot do it twice.
	WriteNotApplied = "NOT_APPLIED"
	// WriteApplied: the upstream carried the write out (it answered 2xx) but
	// its answer could not be read.
	WriteApplied = "APPLIED"
	// WriteUnknown: the write may or may not have been carried out; look
	// before writing again.
	WriteUnknown = "UNKNOWN"
)

// Error is the error of every failed call made by Client. Its fields say what
// was called, how it failed, and whether trying again may help.
type Error struct {
	// Op is the operationId of the call, e.g. "get-contact".
	Op string
	// Method and Path are the HTTP method and the escaped request path (no
	// query string, which may carry personal data such as an email).
	Method, Path string
	// StatusCode is the HTTP status of the answer, or 0 when none arrived.
	StatusCode int
	// Messages are the upstream's messages (a 422 answers a list of them).
	Messages []string
	// RetryAfter is the wait the upstream asked for (Retry-After), if any.
	RetryAfter time.Duration
	// Retryable reports whether repeating the same call may succeed without
	// risk: a 429 (refused before any work); a 5xx, timeout or dropped
	// connection of an idempotent operation; a malformed 2xx answer of a
	// read; or any transient failure of a request that provably never
	// reached the upstream. Client.Do repeats these itself as its
	// RetryPolicy allows.
	Retryable bool
	// RequestSent reports whether the request may have reached the upstream.
	// When a write fails with RequestSent true and no status, its outcome is unknown.
	RequestSent bool
	// Rate holds the rate-limit headers of the answer, if any.
	Rate Rate
	// Attempts is the number of times Client.Do tried the call (sent it, or
	// tried to connect); 0 when it was refused before any attempt (invalid
	// input, no credential, rate budget, open circuit). Fields other than
	// RequestSent describe the last attempt; RequestSent covers them all.
	Attempts int
	// Err is the cause: one of the sentinels above, possibly wrapping a
	// transport or decoding error.
	Err error

	// write and writeKnown record whether the operation writes, when the
	// error was made by Do (which knows the Operation); otherwise Op is
	// looked up among Operations().
	write, writeKnown bool
	// outcome is the write outcome over every attempt, when Do made the
	// error: a later definite refusal does not make certain what an
	// earlier attempt may have done.
	outcome string
}

// Error implements error. The message never contains the token or the query string.
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("upstream ")
	b.WriteString(e.Op)
	if e.Method != "" {
		fmt.Fprintf(&b, " (%s %s)", e.Method, e.Path)
	}
	if e.StatusCode != 0 {
		fmt.Fprintf(&b, ": %d %s", e.StatusCode, http.StatusText(e.StatusCode))
	}
	if len(e.Messages) > 0 {
		b.WriteString(": ")
		b.WriteString(strings.Join(e.Messages, "; "))
	} else if e.Err != nil {
		b.WriteString(": ")
		b.WriteString(e.Err.Error())
	}
	if e.Attempts > 1 {
		fmt.Fprintf(&b, " (after %d attempts)", e.Attempts)
	}
	return b.String()
}

// WriteOutcome reports what a failed write may have done: "" for an
// operation that does not write, else WriteNotApplied (the request never
// left, or a definite refusal: 400, 401, 403, 404, 409, 429, another 4xx, or
// a check made before sending), WriteApplied (a 2xx whose body could not be
// read) or WriteUnknown (sent with no definite answer: a connection dropped
// or a timeout after sending, a 5xx, a 422 from create-contact, which can
// have created the contact all the same). When an earlier attempt of a
// retried write had an unknown outcome, a later refusal leaves it unknown.
func (e *Error) WriteOutcome() string {
	if !e.isWrite() {
		return ""
	}
	if e.outcome != "" {
		return e.outcome
	}
	return e.attemptOutcome()
}

// attemptOutcome is the outcome of the attempt the fields describe.
func (e *Error) attemptOutcome() string {
	s := e.StatusCode
	switch {
	case s == 0 && !e.RequestSent:
		return WriteNotApplied
	case s == 0:
		return WriteUnknown
	case s >= 200 && s < 300:
		if errors.Is(e.Err, ErrServer) {
			// A readable answer that says the write did not succeed
			// ({"succeded": false}).
			return WriteNotApplied
		}
		return WriteApplied
	case s == http.StatusUnprocessableEntity && e.Op == OpCreateContact.ID:
		return WriteUnknown
	case s >= 400 && s < 500:
		return WriteNotApplied
	}
	return WriteUnknown
}

// isWrite reports whether the failed operation writes.
func (e *Error) isWrite() bool {
	if e.writeKnown {
		return e.write
	}
	for _, op := range Operations() {
		if op.ID == e.Op {
			return op.Write
		}
	}
	return false
}

// Unwrap returns the cause, so errors.Is(err, ErrNotFound) and
// errors.Is(err, context.Canceled) work.
func (e *Error) Unwrap() error { return e.Err }

// Message returns the upstream's messages joined, or the cause when there are none.
func (e *Error) Message() string {
	if len(e.Messages) > 0 {
		return strings.Join(e.Messages, "; ")
	}
	if e.Err != nil {
		return e.Err.Error()
	}
	return http.StatusText(e.StatusCode)
}

// kindForStatus maps an HTTP status to its sentinel; nil for statuses with none.
func kindForStatus(status int) error {
	switch {
	case status == http.StatusNotFound:
		return ErrNotFound
	case status == http.StatusUnauthorized:
		return ErrUnauthorized
	case status == http.StatusForbidden:
		return ErrForbidden
	case status == http.StatusTooManyRequests:
		return ErrRateLimited
	case status == http.StatusBadRequest, status == http.StatusUnprocessableEntity:
		return ErrInvalidInput
	case status >= 500:
		return ErrServer
	}
	return nil
}

// invalidInput builds the error for a request refused before any call.
func invalidInput(op Operation, format string, args ...any) *Error {
	return &Error{Op: op.ID, Method: op.Method, write: op.Write, writeKnown: true,
		Err: fmt.Errorf("%w: %s", ErrInvalidInput, fmt.Sprintf(format, args...))}
}
