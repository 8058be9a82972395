// Package errcode is the gateway's error vocabulary: every value clients
// can find in extensions.code is declared in this file, once, with what it means and the
// HTTP status of an answer that refuses the whole request with it before
// execution. Adding a code is one line below (and its row in the README's
// table, which TestREADMEListsEveryCode holds to this list).
//
// Answers from execution are HTTP 200 whatever their codes (a failing field
// is null with its error, the rest of the data stands). Refusals made while
// gqlgen prepares the operation (parse, validation, variables, the cost
// check) follow the GraphQL-over-HTTP spec (server/transport.go): 200 under
// application/json, their code's status under
// application/graphql-response+json.
package errcode

import (
	"fmt"
	"math"
	"net/http"
	"time"
)

// The codes clients find in extensions.code, declared with code().
var (
	// Refusals of the HTTP layer, before any GraphQL.
	CodeBadRequest    = code("BAD_REQUEST", http.StatusBadRequest, "not a GraphQL request at all: wrong method or media type, a body that is not a request object, variables that are not an object")
	CodePersistedOnly = code("PERSISTED_QUERY_NOT_ALLOWED", http.StatusBadRequest, "persisted-operations-only mode: the operation is not on the allow-list")
	// Automatic persisted queries (server/apq.go): the two first are the
	// messages and codes Apollo's and urql's links retry on, with the full
	// query; like every request error they are 200 under application/json.
	CodePersistedQueryNotFound     = code("PERSISTED_QUERY_NOT_FOUND", http.StatusBadRequest, "automatic persisted query: the gateway does not know the hash (message PersistedQueryNotFound); send the query with it")
	CodePersistedQueryNotSupported = code("PERSISTED_QUERY_NOT_SUPPORTED", http.StatusBadRequest, "automatic persisted queries are switched off (-apq-cache-bytes negative; message PersistedQueryNotSupported)")
	CodePersistedQueryMismatch     = code("PERSISTED_QUERY_HASH_MISMATCH", http.StatusBadRequest, "extensions.persistedQuery.sha256Hash is not the SHA-256 of the query sent with it")
	CodeRequestTimeout             = code("REQUEST_TIMEOUT", http.StatusRequestTimeout, "the request body did not arrive within -body-read-timeout; the connection is closed")
	CodeOverloaded                 = code("OVERLOADED", http.StatusServiceUnavailable, "the gateway is serving -max-concurrent-requests requests already; retry after extensions.retryAfter seconds")

	// gqlgen's refusals of a document.
	CodeParseFailed      = code("GRAPHQL_PARSE_FAILED", http.StatusBadRequest, "the query is not valid GraphQL syntax (gqlgen's)")
	CodeValidationFailed = code("GRAPHQL_VALIDATION_FAILED", http.StatusBadRequest, "the query does not fit the schema, or a variable does not fit its type (gqlgen's)")

	// The request's credential.
	CodeUnauthenticated = code("UNAUTHENTICATED", http.StatusUnauthorized, "no credential, a malformed or refused one, or a location whose install needs consent again")
	CodeForbidden       = code("FORBIDDEN", http.StatusForbidden, "the credential lacks the scope, or belongs to another location")

	// What the request asks for.
	CodeQueryTooComplex = code("QUERY_TOO_COMPLEX", http.StatusBadRequest, "the query's cost, depth or aliases exceed the limits; extensions.cost says what it costs")
	CodeBadUserInput    = code("BAD_USER_INPUT", http.StatusBadRequest, "an argument is refused before any upstream call, or HighLevel refused the input (422); a body over the size limit is 413")
	CodeNotFound        = code("NOT_FOUND", http.StatusNotFound, "no such record in the credential's location")

	// HighLevel, and the budget the gateway keeps with it.
	CodeRateLimited         = code("RATE_LIMITED", http.StatusTooManyRequests, "the location's rate budget with HighLevel is spent, or HighLevel answered 429; retry after extensions.retryAfter seconds")
	CodeUpstreamError       = code("UPSTREAM_ERROR", http.StatusBadGateway, "HighLevel failed, sent an unreadable answer, or the connection to it failed")
	CodeUpstreamTimeout     = code("UPSTREAM_TIMEOUT", http.StatusGatewayTimeout, "HighLevel did not answer in time, or the request ran out of time")
	CodeUpstreamUnavailable = code("UPSTREAM_UNAVAILABLE", http.StatusServiceUnavailable, "circuit open: the gateway stopped calling HighLevel for a cool-down after repeated failures; retry after extensions.retryAfter seconds")

	// Managed mode's token store shared on Redis (issue 13).
	CodeTokenStoreUnavailable = code("TOKEN_STORE_UNAVAILABLE", http.StatusServiceUnavailable, "managed mode: the shared token store (Redis) cannot be reached, so the location's token is not refreshed (no refresh without the lock); retry after extensions.retryAfter seconds")

	// The request itself, and the gateway.
	// Subscriptions (issue 12): a subscription ends, or is refused, with these.
	CodeSubscriberTooSlow    = code("SUBSCRIBER_TOO_SLOW", http.StatusServiceUnavailable, "a subscription fell more than -subscription-queue events behind and was ended (a next with this error, then complete); subscribe again and catch up with contactsChangedSince")
	CodeTooManySubscriptions = code("TOO_MANY_SUBSCRIPTIONS", http.StatusTooManyRequests, "a subscription past -subscriptions-per-connection or -subscriptions-per-credential")

	CodeCancelled = code("REQUEST_CANCELLED", 499, "the client went away or cancelled the request (499: the client sees no answer)")
	CodeInternal  = code("INTERNAL_SERVER_ERROR", http.StatusInternalServerError, "a fault of the gateway; details are logged, never shown")
)

// Info is one code of the vocabulary.
type Info struct {
	// Code is the value of extensions.code.
	Code string
	// Status is the HTTP status of a refusal of the whole request with this
	// code before execution (an error may name a more precise one of the
	// same kind: 405, 413, 415; see Error.Status).
	Status int
	// Meaning says when the gateway answers with it.
	Meaning string
}

var vocabulary []Info

// code declares a code of the vocabulary.
func code(c string, status int, meaning string) string {
	for _, v := range vocabulary {
		if v.Code == c {
			panic("errcode: code " + c + " declared twice")
		}
	}
	vocabulary = append(vocabulary, Info{Code: c, Status: status, Meaning: meaning})
	return c
}

// Codes returns every code of the vocabulary, in declaration order.
func Codes() []Info { return append([]Info(nil), vocabulary...) }

// Status returns the HTTP status of a refusal with code before
// execution; 500 for a code the vocabulary does not declare.
func Status(code string) int {
	for _, v := range vocabulary {
		if v.Code == code {
			return v.Status
		}
	}
	return http.StatusInternalServerError
}

// Error is an error the gateway raises itself with a code of the
// vocabulary, before or outside an upstream call: a refusal by the HTTP
// middleware, the cost check, the rate budget.
type Error struct {
	// Code is one of the vocabulary's codes.
	Code string
	// Message is what the client reads.
	Message string
	// Extensions are extra extensions beside code (retryAfter, cost, …).
	Extensions map[string]any
	// Status, when not 0, is a more precise HTTP status than the code's for
	// a refusal before execution (405 for a method, 413 for a body size,
	// 415 for a media type).
	Status int
}

func (e *Error) Error() string { return e.Message }

// HTTPStatus is the status of an answer that refuses the whole request
// with e before execution.
func (e *Error) HTTPStatus() int {
	if e.Status != 0 {
		return e.Status
	}
	return Status(e.Code)
}

// New returns an Error with this code and message.
func New(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// With returns e with one more extension.
func (e *Error) With(key string, value any) *Error {
	if e.Extensions == nil {
		e.Extensions = map[string]any{}
	}
	e.Extensions[key] = value
	return e
}

// RateLimited is the one constructor of RATE_LIMITED errors, wherever the
// refusal comes from (the gateway's budget, HighLevel's 429, a refusal of
// the whole query for its cost): reason, then when to retry, in the
// message and in extensions.retryAfter (whole seconds, at least one).
func RateLimited(reason string, retryAfter time.Duration) *Error {
	secs := RetryAfterSeconds(retryAfter)
	return New(CodeRateLimited, "%s; retry after %d s", reason, secs).With("retryAfter", secs)
}

// RetryAfterSeconds is how a wait is written in extensions.retryAfter and
// Retry-After: whole seconds, rounded up, at least one.
func RetryAfterSeconds(d time.Duration) int {
	return max(1, int(math.Ceil(d.Seconds())))
}
