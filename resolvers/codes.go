// This file is the gateway's error vocabulary: every value clients can find
// in extensions.code is declared here, once, with what it means and the
// HTTP status of an answer that refuses the whole request with it before
// execution. Adding a code is one line below (and its row in the README's
// table, which TestREADMEListsEveryCode holds to this list).
//
// Answers from execution are HTTP 200 whatever their codes (a failing field
// is null with its error, the rest of the data stands); refusals made while
// gqlgen prepares the operation (parse, validation, the cost check) take the
// status gqlgen gives them: 422 for GRAPHQL_PARSE_FAILED and
// GRAPHQL_VALIDATION_FAILED, 200 otherwise.

package resolvers

import "net/http"

// The codes clients find in extensions.code.
var (
	CodeBadRequest          = code("BAD_REQUEST", http.StatusBadRequest, "not a GraphQL request at all: wrong method or media type, a body that is not a request object, variables that are not an object")
	CodeParseFailed         = code("GRAPHQL_PARSE_FAILED", http.StatusUnprocessableEntity, "the query is not valid GraphQL syntax (gqlgen's)")
	CodeValidationFailed    = code("GRAPHQL_VALIDATION_FAILED", http.StatusUnprocessableEntity, "the query does not fit the schema, or a variable does not fit its type (gqlgen's)")
	CodePersistedOnly       = code("PERSISTED_QUERY_NOT_ALLOWED", http.StatusBadRequest, "persisted-operations-only mode: the operation is not on the allow-list")
	CodeQueryTooComplex     = code("QUERY_TOO_COMPLEX", http.StatusBadRequest, "the query's cost, depth or aliases exceed the limits; extensions.cost says what it costs")
	CodeUnauthenticated     = code("UNAUTHENTICATED", http.StatusUnauthorized, "no credential, a malformed or refused one, or a location whose install needs consent again")
	CodeForbidden           = code("FORBIDDEN", http.StatusForbidden, "the credential lacks the scope, or belongs to another location")
	CodeBadUserInput        = code("BAD_USER_INPUT", http.StatusBadRequest, "an argument is refused before any upstream call, or HighLevel refused the input (422); a body over the size limit is 413")
	CodeNotFound            = code("NOT_FOUND", http.StatusNotFound, "no such record in the credential's location")
	CodeRateLimited         = code("RATE_LIMITED", http.StatusTooManyRequests, "the location's rate budget with HighLevel is spent, or HighLevel answered 429; retry after extensions.retryAfter seconds")
	CodeUpstreamError       = code("UPSTREAM_ERROR", http.StatusBadGateway, "HighLevel failed, sent an unreadable answer, or the connection to it failed")
	CodeUpstreamTimeout     = code("UPSTREAM_TIMEOUT", http.StatusGatewayTimeout, "HighLevel did not answer in time, or the request ran out of time")
	CodeUpstreamUnavailable = code("UPSTREAM_UNAVAILABLE", http.StatusServiceUnavailable, "circuit open: the gateway stopped calling HighLevel for a cool-down after repeated failures; retry after extensions.retryAfter seconds")
	CodeCancelled           = code("REQUEST_CANCELLED", 499, "the client went away or cancelled the request (499: the client sees no answer)")
	CodeInternal            = code("INTERNAL_SERVER_ERROR", http.StatusInternalServerError, "a fault of the gateway; details are logged, never shown")
)

// CodeInfo is one code of the vocabulary.
type CodeInfo struct {
	// Code is the value of extensions.code.
	Code string
	// Status is the HTTP status of a refusal of the whole request with this
	// code before execution (an error may name a more precise one of the
	// same kind: 405, 413, 415; see Error.Status).
	Status int
	// Meaning says when the gateway answers with it.
	Meaning string
}

var vocabulary []CodeInfo

// code declares a code of the vocabulary.
func code(c string, status int, meaning string) string {
	for _, v := range vocabulary {
		if v.Code == c {
			panic("resolvers: code " + c + " declared twice")
		}
	}
	vocabulary = append(vocabulary, CodeInfo{Code: c, Status: status, Meaning: meaning})
	return c
}

// Codes returns every code of the vocabulary, in declaration order.
func Codes() []CodeInfo { return append([]CodeInfo(nil), vocabulary...) }

// CodeStatus returns the HTTP status of a refusal with code before
// execution; 500 for a code the vocabulary does not declare.
func CodeStatus(code string) int {
	for _, v := range vocabulary {
		if v.Code == code {
			return v.Status
		}
	}
	return http.StatusInternalServerError
}
