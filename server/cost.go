// This file bounds what one GraphQL request may ask of the upstream, before
// anything runs: its cost (the number of upstream calls it can cause), its
// depth and its aliases. The cost also travels in every response's
// extensions, so clients can see what their queries spend.

package server

import (
	"context"
	"fmt"
	"math"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/ghl-graphql/gateway/errcode"
)

// QueryLimits bounds one request.
type QueryLimits struct {
	// MaxCost is the most upstream calls one request may cause.
	MaxCost int
	// MaxDepth is the deepest nesting of fields (introspection excluded).
	MaxDepth int
	// MaxAliases is the most aliased fields, which could otherwise repeat
	// one expensive field many times.
	MaxAliases int
}

// DefaultQueryLimits allow a page of 100 contacts with two nested lists
// each, and refuse what no screen needs.
var DefaultQueryLimits = QueryLimits{MaxCost: 500, MaxDepth: 12, MaxAliases: 50}

// QueryCost is what a request may cost, as reported in extensions.cost.
type QueryCost struct {
	// Requested is the most upstream calls the request can cause (cached
	// answers make the real number smaller).
	Requested int `json:"requested"`
	// Limit is the most one request may cause.
	Limit int `json:"limit"`
}

// costFunc gives a field's cost from its arguments and the cost of its
// selections.
type costFunc func(args map[string]any, child int) int

// call is a field that makes one upstream call, plus what it selects.
func call(_ map[string]any, child int) int { return 1 + child }

// page is a connection field: one call for the page, then the selections
// once per contact of the page.
func page(def, limit int) costFunc {
	return func(args map[string]any, child int) int {
		n := def
		switch v := args["first"].(type) {
		case int64:
			n = int(min(max(v, 0), int64(limit)))
		case int:
			n = v
		}
		n = min(max(n, 0), limit)
		return saturatingAdd(1, saturatingMul(n, child))
	}
}

func saturatingMul(a, b int) int {
	if a != 0 && b > math.MaxInt32/a {
		return math.MaxInt32
	}
	return a * b
}

// fieldCosts are the fields that reach the upstream; every other field
// costs what its selections cost.
var fieldCosts = map[string]costFunc{
	"Query.contact":                   readContact,
	"Query.contacts":                  page(20, 500),
	"Query.contactsByBusiness":        page(20, 100),
	"Query.contactsLegacyList":        page(20, 100),
	"Query.duplicateContact":          duplicateLookup,
	"Query.task":                      call,
	"Query.note":                      call,
	"Contact.tasks":                   call,
	"Contact.task":                    call,
	"Contact.notes":                   call,
	"Contact.note":                    call,
	"Contact.appointments":            call,
	"Business.contacts":               page(20, 100),
	"ContactTagsPayload.contact":      readContact,
	"ContactFollowersPayload.contact": readContact,
	// Contacts and the fields listings lack: see cost_complete.go.
	"ContactConnection.nodes":      listedContact,
	"ContactEdge.node":             listedContact,
	"ContactPayload.contact":       answeredContact,
	"Mutation.createContact":       createContact,
	"UpsertContactPayload.contact": answeredContact,
}

// measure walks an operation and returns its cost, depth and aliases.
func measure(op *ast.OperationDefinition, vars map[string]any) (cost, depth, aliases int) {
	var walk func(set ast.SelectionSet, level int, seen map[string]bool) int
	walk = func(set ast.SelectionSet, level int, seen map[string]bool) int {
		total := 0
		for _, sel := range set {
			switch s := sel.(type) {
			case *ast.Field:
				if len(s.Name) > 1 && s.Name[:2] == "__" {
					continue // introspection costs no upstream call and has its own depth
				}
				if s.Alias != "" && s.Alias != s.Name {
					aliases++
				}
				depth = max(depth, level)
				child := walk(s.SelectionSet, level+1, seen)
				parent := ""
				if s.ObjectDefinition != nil {
					parent = s.ObjectDefinition.Name
				}
				c := child
				if f, ok := fieldCosts[parent+"."+s.Name]; ok {
					c = f(s.ArgumentMap(vars), child)
				} else if parent == "Mutation" {
					c = 1 + child
				}
				total = saturatingAdd(total, c)
			case *ast.InlineFragment:
				total = saturatingAdd(total, walk(s.SelectionSet, level, seen))
			case *ast.FragmentSpread:
				// A fragment that spreads itself is refused by validation; the
				// guard keeps a malformed document from looping here anyway.
				if s.Definition == nil || seen[s.Name] {
					continue
				}
				seen[s.Name] = true
				total = saturatingAdd(total, walk(s.Definition.SelectionSet, level, seen))
				delete(seen, s.Name)
			}
		}
		return total
	}
	if op == nil {
		return 0, 0, 0
	}
	cost = walk(op.SelectionSet, 1, map[string]bool{})
	return cost, depth, aliases
}

func saturatingAdd(a, b int) int {
	if a > math.MaxInt32-b {
		return math.MaxInt32
	}
	return a + b
}

// budgetFunc reports how many upstream calls the request's location can
// make before the request's deadline, and how long until it could afford
// cost; ok is false when unknown.
type budgetFunc func(ctx context.Context, cost int) (capacity int, retryAfter time.Duration, ok bool)

// queryLimiter is the gqlgen extension that enforces QueryLimits and
// reports the cost.
type queryLimiter struct {
	limits QueryLimits
	budget budgetFunc
}

var (
	_ graphql.HandlerExtension        = queryLimiter{}
	_ graphql.OperationContextMutator = queryLimiter{}
	_ graphql.ResponseInterceptor     = queryLimiter{}
)

const costStatsKey = "gateway.cost"

func (queryLimiter) ExtensionName() string                   { return "QueryLimits" }
func (queryLimiter) Validate(graphql.ExecutableSchema) error { return nil }

// MutateOperationContext measures the operation after validation and
// before execution, and refuses it when it is too costly.
func (q queryLimiter) MutateOperationContext(ctx context.Context, oc *graphql.OperationContext) *gqlerror.Error {
	cost, depth, aliases := measure(oc.Operation, oc.Variables)
	qc := QueryCost{Requested: cost, Limit: q.limits.MaxCost}
	oc.Stats.SetExtension(costStatsKey, qc)
	// Refusals go through the error presenter like every other error, with
	// the cost among their extensions.
	refuse := func(e *errcode.Error) *gqlerror.Error {
		return &gqlerror.Error{Message: e.Message, Err: e.With("cost", qc)}
	}
	tooComplex := func(format string, args ...any) *gqlerror.Error {
		return refuse(errcode.New(errcode.CodeQueryTooComplex, format, args...))
	}
	switch {
	case q.limits.MaxDepth > 0 && depth > q.limits.MaxDepth:
		return tooComplex("query depth %d exceeds the limit of %d", depth, q.limits.MaxDepth)
	case q.limits.MaxAliases > 0 && aliases > q.limits.MaxAliases:
		return tooComplex("query has %d aliased fields; the limit is %d", aliases, q.limits.MaxAliases)
	case q.limits.MaxCost > 0 && cost > q.limits.MaxCost:
		return tooComplex("query cost %d (upstream calls it can cause) exceeds the limit of %d", cost, q.limits.MaxCost)
	}
	if q.budget != nil && cost > 0 {
		if capacity, retryAfter, ok := q.budget(ctx, cost); ok && cost > capacity {
			return refuse(errcode.RateLimited(fmt.Sprintf("query cost %d exceeds the %d upstream calls the location's rate budget allows before the request's deadline", cost, capacity), retryAfter))
		}
	}
	return nil
}

// InterceptResponse puts the cost in every response's extensions.
func (q queryLimiter) InterceptResponse(ctx context.Context, next graphql.ResponseHandler) *graphql.Response {
	resp := next(ctx)
	if resp == nil || !graphql.HasOperationContext(ctx) {
		return resp
	}
	if qc, ok := graphql.GetOperationContext(ctx).Stats.GetExtension(costStatsKey).(QueryCost); ok {
		if resp.Extensions == nil {
			resp.Extensions = map[string]any{}
		}
		resp.Extensions["cost"] = qc
	}
	return resp
}
