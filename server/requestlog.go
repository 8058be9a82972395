// This file holds the request log (issue 17): one line per request, at
// info for what tells the story of the service (GraphQL requests with
// their outcome and error codes, the install flow, anything else) and at
// debug for GraphiQL's page and assets and the health and readiness probes. GraphQL
// answers errors with status 200, so the status alone would hide a dead
// upstream: the line counts the codes of the answer's errors.

package server

import (
	"context"
	"encoding/json"
	"log/slog"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/99designs/gqlgen/graphql"

	"github.com/ghl-graphql/gateway/playground"
)

// requestOutcome is what the request log learns of a GraphQL request while
// it runs.
type requestOutcome struct {
	mu        sync.Mutex
	executed  bool // gqlgen answered (a parse or validation error counts)
	operation string
	errors    int
	noData    bool
	codes     map[string]int
	// budgetRefused and budgetKey: the query limiter refused the request
	// for want of this key's rate budget (for metrics, observe.go).
	budgetRefused bool
	budgetKey     string
}

type outcomeKey struct{}

// recordOutcome is an AroundResponses middleware that records each
// answer's operation, errors and codes for the request log.
func recordOutcome(ctx context.Context, next graphql.ResponseHandler) *graphql.Response {
	resp := next(ctx)
	o, _ := ctx.Value(outcomeKey{}).(*requestOutcome)
	if o == nil || resp == nil {
		return resp
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	o.executed = true
	if graphql.HasOperationContext(ctx) {
		if oc := graphql.GetOperationContext(ctx); oc != nil {
			o.operation = oc.OperationName
			if op := oc.Operation; o.operation == "" && op != nil {
				o.operation = op.Name
				if o.operation == "" {
					o.operation = string(op.Operation) // "query", "mutation", ...
				}
			}
		}
	}
	if len(resp.Errors) > 0 {
		// Only when something failed: reading the data costs.
		o.noData = o.noData || noData(resp.Data)
	}
	for _, e := range resp.Errors {
		code, _ := e.Extensions["code"].(string)
		o.count(code)
	}
	return resp
}

// count records one error with its code; the caller holds mu.
func (o *requestOutcome) count(code string) {
	if code == "" {
		code = "NO_CODE"
	}
	if o.codes == nil {
		o.codes = map[string]int{}
	}
	o.codes[code]++
	o.errors++
}

// readBody records the codes of an answer written before execution (a
// refused credential, a body too large, a persisted-only refusal: see
// writeGraphQLError), from its body.
func (o *requestOutcome) readBody(body []byte) {
	var ans struct {
		Data   json.RawMessage `json:"data"`
		Errors []struct {
			Extensions struct {
				Code string `json:"code"`
			} `json:"extensions"`
		} `json:"errors"`
	}
	if json.Unmarshal(body, &ans) != nil {
		return
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	o.noData = noData(ans.Data)
	for _, e := range ans.Errors {
		o.count(e.Extensions.Code)
	}
}

// noData reports whether an answer's data holds nothing: absent, null, or
// an object whose every field is null (each top-level field failed).
func noData(data json.RawMessage) bool {
	d := strings.TrimSpace(string(data))
	if d == "" || d == "null" {
		return true
	}
	var fields map[string]json.RawMessage
	if json.Unmarshal(data, &fields) != nil {
		return false
	}
	for _, v := range fields {
		if strings.TrimSpace(string(v)) != "null" {
			return false
		}
	}
	return true
}

// attrs returns the log attributes of the outcome: the operation, ok,
// partial (data and errors) or error (errors, no data), the error count
// and the codes with their counts, sorted ("NOT_FOUND:1,UPSTREAM_UNAVAILABLE:3",
// a form log handlers need not quote).
func (o *requestOutcome) attrs() []any {
	o.mu.Lock()
	defer o.mu.Unlock()
	outcome := "ok"
	switch {
	case o.errors > 0 && o.noData:
		outcome = "error"
	case o.errors > 0:
		outcome = "partial"
	}
	out := []any{"outcome", outcome}
	if o.operation != "" {
		out = append(out, "operation", o.operation)
	}
	if o.errors > 0 {
		var parts []string
		for _, code := range slices.Sorted(maps.Keys(o.codes)) {
			parts = append(parts, code+":"+strconv.Itoa(o.codes[code]))
		}
		out = append(out, "errors", o.errors, "codes", strings.Join(parts, ","))
	}
	return out
}

// maxLoggedBody bounds what the request log keeps of an answer written
// before execution, to read its codes: those answers are one small error.
const maxLoggedBody = 8 << 10

// logLevelOf is the request log's level of a path: debug for GraphiQL's
// page and assets and the health and readiness probes, which come often
// and say nothing of the service; info for the rest (GraphQL, the install
// flow, webhooks, unknown paths).
func logLevelOf(path string) slog.Level {
	switch {
	case path == "/", path == HealthPath, path == ReadyPath, strings.HasPrefix(path, playground.DefaultAssetsPath):
		return slog.LevelDebug
	}
	return slog.LevelInfo
}
