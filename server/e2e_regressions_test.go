// Regression tests: each pins a bug the end-to-end tests found in the
// gateway, and that was fixed. The comment above each says what was wrong.

package server_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ghl-graphql/gateway/server"
)

// Was: a DateTime that does not parse is answered INTERNAL_SERVER_ERROR
// ("internal server error", logged as an internal error) instead of a client
// error. gqlgen's graphql.UnmarshalTime returns a plain error, which gqlgen
// wraps in a *gqlerror.Error with Err set and no code; classify finds no
// known cause in it and falls through to errcode.CodeInternal.
func TestRegressionInvalidDateTimeIsInternalError(t *testing.T) {
	t.Parallel()
	e := newE2E(t)
	id := e.sb.ContactIDs(e.locA)[0]
	tests := map[string]struct {
		query string
		vars  map[string]any
		path  string
	}{
		"createTask dueDate literal": {
			query: `mutation($id: ID!) { createTask(contactId: $id, input: {title: "x", dueDate: "tomorrow"}) { task { id } } }`, path: "createTask"},
		"createTask dueDate variable": {
			query: `mutation($id: ID!, $d: DateTime!) { createTask(contactId: $id, input: {title: "x", dueDate: $d}) { task { id } } }`,
			vars:  map[string]any{"d": "next tuesday"}, path: "createTask"},
		"updateTask dueDate": {
			query: `mutation($id: ID!) { updateTask(contactId: $id, id: "t", input: {dueDate: "soon"}) { task { id } } }`, path: "updateTask"},
		"addContactToWorkflow eventStartTime": {
			query: `mutation($id: ID!) { addContactToWorkflow(contactId: $id, workflowId: "w", eventStartTime: "yesterday") { success } }`, path: "addContactToWorkflow"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			vars := map[string]any{"id": id}
			for k, v := range tc.vars {
				vars[k] = v
			}
			before := e.counters()
			r := e.gql(e.token, tc.query, vars)
			e.wantNoCalls(t, before)
			if len(r.Errors) != 1 {
				t.Fatalf("want one error; body %s", r.Body)
			}
			if c := r.Errors[0].Extensions["code"]; c != "BAD_USER_INPUT" && c != "GRAPHQL_VALIDATION_FAILED" {
				t.Errorf("code = %v (%q), want BAD_USER_INPUT (or GRAPHQL_VALIDATION_FAILED) for a malformed DateTime", c, r.Errors[0].Message)
			}
		})
	}
}

// Was: an empty string is accepted as a DateTime, even a required one
// (CreateTaskInput.dueDate: DateTime!): graphql.UnmarshalTime turns "" into
// the zero time. createTask then sends dueDate "0001-01-01T00:00:00.000Z"
// and answers a task whose dueDate is null; addContactToWorkflow sends
// eventStartTime "0001-01-01T00:00:00Z".
func TestRegressionEmptyDateTimeAccepted(t *testing.T) {
	t.Parallel()
	e := newE2E(t)
	id := e.sb.ContactIDs(e.locA)[0]
	tests := map[string]struct {
		query string
		path  string
	}{
		"createTask dueDate":                  {`mutation($id: ID!) { createTask(contactId: $id, input: {title: "x", dueDate: ""}) { task { id dueDate } } }`, "createTask"},
		"addContactToWorkflow eventStartTime": {`mutation($id: ID!) { addContactToWorkflow(contactId: $id, workflowId: "w", eventStartTime: "") { success } }`, "addContactToWorkflow"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			before := e.counters()
			r := e.gql(e.token, tc.query, map[string]any{"id": id})
			e.wantNoCalls(t, before)
			if len(r.Errors) != 1 {
				t.Fatalf("an empty DateTime was accepted; body %s", r.Body)
			}
			if c := r.Errors[0].Extensions["code"]; c != "BAD_USER_INPUT" && c != "GRAPHQL_VALIDATION_FAILED" {
				t.Errorf("code = %v, want BAD_USER_INPUT", c)
			}
		})
	}
}

// Was: requests that are not GraphQL requests get an error without
// extensions.code from gqlgen's transports, though errcode.CodeBadRequest is
// documented as "the code of a request that is not a GraphQL request at
// all". withBodyLimit only checks that the body is valid JSON: a JSON body of
// the wrong shape, a wrong Content-Type or method, and GET variables that
// are not JSON reach gqlgen, which answers {"errors":[{"message":...}]} with
// no code (text/plain for "transport not supported"), and for a wrong-shaped
// body echoes the whole request body in the message.
func TestRegressionNonGraphQLRequestsLackCode(t *testing.T) {
	t.Parallel()
	e := newE2E(t)
	tests := map[string]struct {
		method, contentType, body, query string
	}{
		"JSON array of non-objects":  {method: "POST", contentType: "application/json", body: `[1, 2]`},
		"query is not a string":      {method: "POST", contentType: "application/json", body: `{"query": 5}`},
		"variables is not an object": {method: "POST", contentType: "application/json", body: `{"query":"{ __typename }","variables":[1]}`},
		"text/plain content type":    {method: "POST", contentType: "text/plain", body: `{"query":"{ __typename }"}`},
		"no content type":            {method: "POST", body: `{"query":"{ __typename }"}`},
		"PUT":                        {method: "PUT", contentType: "application/json", body: `{"query":"{ __typename }"}`},
		"GET variables not JSON":     {method: "GET", query: "query=" + url.QueryEscape("{ __typename }") + "&variables=%7Bbad"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			before := e.counters()
			req, err := http.NewRequest(tc.method, e.gw.URL+"/graphql?"+tc.query, strings.NewReader(tc.body))
			if err != nil {
				t.Fatal(err)
			}
			if tc.contentType != "" {
				req.Header.Set("Content-Type", tc.contentType)
			}
			req.Header.Set("Authorization", "Bearer "+e.token)
			resp, err := e.gw.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			raw, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			checkNoLeak(t, string(raw), e.token)
			e.wantNoCalls(t, before)
			if resp.StatusCode < 400 || resp.StatusCode >= 500 {
				t.Errorf("status = %d, want 4xx", resp.StatusCode)
			}
			var out struct {
				Errors []gqlError `json:"errors"`
			}
			if err := json.Unmarshal(raw, &out); err != nil || len(out.Errors) == 0 {
				t.Fatalf("answer is not a GraphQL error: %s", raw)
			}
			if c := out.Errors[0].Extensions["code"]; c != "BAD_REQUEST" {
				t.Errorf("code = %v, want BAD_REQUEST; body %s", c, raw)
			}
			if !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
				t.Errorf("Content-Type = %q, want application/json", resp.Header.Get("Content-Type"))
			}
		})
	}
}

// Was: an upstream call outlives the request that made it. server.go says
// of withTimeout: "upstream calls inherit the deadline, and a client that
// disconnects cancels them through the same context"; but loaders.read runs
// every read under context.WithoutCancel(ctx), so that coalesced callers
// share it, and nothing cancels it when its last caller has gone. With a
// slow upstream each abandoned read keeps its connection and its
// per-location concurrency slot until the client's own timeout (30 s by
// default; never, with upstream.WithTimeout(0)).
func TestRegressionAbandonedUpstreamCallKeepsRunning(t *testing.T) {
	t.Parallel()
	var once sync.Once
	ended := make(chan struct{})
	e := newE2E(t,
		withServer(func(c *server.Config) { c.RequestTimeout = 200 * time.Millisecond }),
		withUpstreamMiddleware(func(next http.Handler) http.Handler {
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				next.ServeHTTP(w, r) // returns when the call is cancelled or its latency is over
				once.Do(func() { close(ended) })
			})
		}))
	t.Cleanup(e.up.CloseClientConnections) // runs before e.up.Close: frees a stuck handler
	e.sb.SetLatency(time.Hour, 0)
	r := e.gql(e.token, `query($id: ID!) { contact(id: $id) { id } }`, map[string]any{"id": e.sb.ContactIDs(e.locA)[0]})
	r.wantError(t, http.StatusOK, "UPSTREAM_TIMEOUT", "contact")
	select {
	case <-ended:
	case <-time.After(5 * time.Second):
		t.Error("the upstream call was still running 5 s after its request had timed out")
	}
}
