// This file holds the client's error vocabulary: one error type for every failed
// call, and the sentinels callers test with errors.Is.

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
	// risk: the failure is transient and the operation is idempotent, or the
	// request provably never reached the upstream.
	Retryable bool
	// RequestSent reports whether the request may have reached the upstream.
	// When a write fails with RequestSent true and no status, its outcome is unknown.
	RequestSent bool
	// Rate holds the rate-limit headers of the answer, if any.
	Rate Rate
	// Err is the cause: one of the sentinels above, possibly wrapping a
	// transport or decoding error.
	Err error
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
	return b.String()
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
	return &Error{Op: op.ID, Method: op.Method, Err: fmt.Errorf("%w: %s", ErrInvalidInput, fmt.Sprintf(format, args...))}
}
