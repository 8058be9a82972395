// This file bounds what one GraphQL request may ask of the upstream, before
// anything runs: its cost (the number of upstream calls it can cause), its
// depth and its aliases. The cost also travels in every response's
// extensions, so clients can see what their queries spend.

package server

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
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
	// MaxAliases is the most aliased fields (__typename included, each
	// fragment's counted once per spread), which could otherwise repeat one
	// field many times.
	MaxAliases int
	// MaxTokens is the most tokens in a document (comments included),
	// checked before it is parsed.
	MaxTokens int
	// MaxSelections is the most selections (fields, fragment spreads,
	// inline fragments) written in a document, checked before it is
	// validated: validation compares pairs of fields, so its cost grows with
	// the square of this number.
	MaxSelections int
	// MaxRepeatedFields is the most fields, in a whole document, that
	// select a response name their selection set already selects (inline
	// fragments count as part of the set they are in): validation compares
	// every pair of fields sharing a response name, and the fields under
	// them, so repeats are what make it quadratic.
	MaxRepeatedFields int
}

// DefaultQueryLimits allow a page of 100 contacts with two nested lists
// each, and GraphiQL's introspection query, and refuse what no screen
// needs.
var DefaultQueryLimits = QueryLimits{MaxCost: 500, MaxDepth: 12, MaxAliases: 50, MaxTokens: 5000, MaxSelections: 500, MaxRepeatedFields: 100}

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
	// Subscriptions (issue 12): each event's objects are read as a query
	// reads them; the cost is per event.
	"Query.contactsChangedSince":         page(20, 100),
	"ContactChangeEvent.contact":         readContact,
	"TaskChangeEvent.contact":            readContact,
	"NoteChangeEvent.contact":            readContact,
	"AppointmentChangeEvent.contact":     readContact,
	"TaskChangeEvent.task":               call,
	"NoteChangeEvent.note":               call,
	"AppointmentChangeEvent.appointment": call,
}

// measured is what measure found in an operation.
type measured struct {
	cost, depth, aliases int
	// visits is how many selections the walk visited: each selection of the
	// operation and of each fragment once, however often it is spread.
	visits int
}

// fragmentMeasure is a fragment's contribution to a selection set it is
// spread into, independent of where: its fields' parent types are its own
// type condition's, and the variables are the operation's.
type fragmentMeasure struct {
	cost, depth, aliases int // depth relative to the set it is spread into
	done, busy           bool
}

// errVisitBudget is returned when a walk visits more selections than the
// document holds, which memoisation makes impossible; it is the backstop
// that keeps any mistake here from costing more than the document's size.
var errVisitBudget = errors.New("query analysis exceeded its visit budget")

// measure walks an operation once, each fragment once however often it is
// spread, and returns its cost (upstream calls), depth (introspection
// excluded) and aliases (introspection included). A fragment's cost and
// aliases count once per spread, saturating; its depth adds to the level
// of each spread. budget bounds the selections visited (0: no bound), and
// the walk stops with errVisitBudget when it is spent.
func measure(op *ast.OperationDefinition, vars map[string]any, budget int) (measured, error) {
	var (
		m     measured
		frags = map[*ast.FragmentDefinition]*fragmentMeasure{}
		over  bool
	)
	// walk returns a set's cost, its depth counted from the set's own
	// fields (1) and its aliases.
	var walk func(set ast.SelectionSet) (cost, depth, aliases int)
	walk = func(set ast.SelectionSet) (cost, depth, aliases int) {
		for _, sel := range set {
			if over {
				return
			}
			m.visits++
			if budget > 0 && m.visits > budget {
				over = true
				return
			}
			switch s := sel.(type) {
			case *ast.Field:
				if s.Alias != "" && s.Alias != s.Name {
					aliases = saturatingAdd(aliases, 1)
				}
				childCost, childDepth, childAliases := walk(s.SelectionSet)
				aliases = saturatingAdd(aliases, childAliases)
				if strings.HasPrefix(s.Name, "__") {
					continue // introspection costs no upstream call and has its own depth
				}
				depth = max(depth, 1+childDepth)
				parent := ""
				if s.ObjectDefinition != nil {
					parent = s.ObjectDefinition.Name
				}
				c := childCost
				if f, ok := fieldCosts[parent+"."+s.Name]; ok {
					c = f(s.ArgumentMap(vars), childCost)
				} else if parent == "Mutation" {
					c = saturatingAdd(1, childCost)
				}
				cost = saturatingAdd(cost, c)
			case *ast.InlineFragment:
				c, d, a := walk(s.SelectionSet)
				cost, depth, aliases = saturatingAdd(cost, c), max(depth, d), saturatingAdd(aliases, a)
			case *ast.FragmentSpread:
				if s.Definition == nil {
					continue
				}
				f := frags[s.Definition]
				if f == nil {
					f = &fragmentMeasure{}
					frags[s.Definition] = f
				}
				if f.busy {
					// A fragment that spreads itself is refused by validation;
					// this keeps a malformed document from looping here anyway.
					continue
				}
				if !f.done {
					f.busy = true
					f.cost, f.depth, f.aliases = walk(s.Definition.SelectionSet)
					f.busy, f.done = false, true
				}
				cost, depth, aliases = saturatingAdd(cost, f.cost), max(depth, f.depth), saturatingAdd(aliases, f.aliases)
			}
		}
		return
	}
	if op == nil {
		return m, nil
	}
	m.cost, m.depth, m.aliases = walk(op.SelectionSet)
	if over {
		return m, errVisitBudget
	}
	return m, nil
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
	// cache is gqlgen's cache of parsed documents: one found there passed
	// the pre-scan already.
	cache graphql.Cache[*ast.QueryDocument]
	// observe, when not nil, gets each request's analysis work.
	observe func(QueryWork)
}

var (
	_ graphql.HandlerExtension          = queryLimiter{}
	_ graphql.OperationParameterMutator = queryLimiter{}
	_ graphql.OperationContextMutator   = queryLimiter{}
	_ graphql.ResponseInterceptor       = queryLimiter{}
)

const costStatsKey = "gateway.cost"

func (queryLimiter) ExtensionName() string                   { return "QueryLimits" }
func (queryLimiter) Validate(graphql.ExecutableSchema) error { return nil }

// MutateOperationContext measures the operation after validation and
// before execution, and refuses it when it is too costly.
func (q queryLimiter) MutateOperationContext(ctx context.Context, oc *graphql.OperationContext) *gqlerror.Error {
	// Every selection is visited at most once, so the walk never needs more
	// visits than the document has bytes.
	m, err := measure(oc.Operation, oc.Variables, len(oc.RawQuery)+1)
	workOf(oc).Visits = m.visits
	cost, depth, aliases := m.cost, m.depth, m.aliases
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
	case err != nil:
		return tooComplex("%s", err.Error())
	case q.limits.MaxDepth > 0 && depth > q.limits.MaxDepth:
		return tooComplex("query depth %d exceeds the limit of %d", depth, q.limits.MaxDepth)
	case q.limits.MaxAliases > 0 && aliases > q.limits.MaxAliases:
		return tooComplex("query has %d aliased fields; the limit is %d", aliases, q.limits.MaxAliases)
	case q.limits.MaxCost > 0 && cost > q.limits.MaxCost:
		return tooComplex("query cost %d (upstream calls it can cause) exceeds the limit of %d", cost, q.limits.MaxCost)
	}
	// A batch's operations share one cost limit (batch.go).
	if total, refused := chargeBatch(ctx, cost, q.limits.MaxCost); refused {
		return tooComplex("the batch's operations cost %d together (this one %d), over the limit of %d per request", total, cost, q.limits.MaxCost)
	}
	if q.budget != nil && cost > 0 {
		if capacity, retryAfter, ok := q.budget(ctx, cost); ok && cost > capacity {
			noteBudgetRefused(ctx)
			return refuse(errcode.RateLimited(fmt.Sprintf("query cost %d exceeds the %d upstream calls the location's rate budget allows before the request's deadline", cost, capacity), retryAfter))
		}
	}
	return nil
}

// InterceptResponse puts the cost in every response's extensions.
func (q queryLimiter) InterceptResponse(ctx context.Context, next graphql.ResponseHandler) *graphql.Response {
	resp := next(ctx)
	if !graphql.HasOperationContext(ctx) {
		return resp
	}
	oc := graphql.GetOperationContext(ctx)
	if q.observe != nil {
		if w, ok := oc.Stats.GetExtension(workStatsKey).(*QueryWork); ok {
			q.observe(*w)
		}
	}
	if resp == nil {
		return resp
	}
	if qc, ok := oc.Stats.GetExtension(costStatsKey).(QueryCost); ok {
		if resp.Extensions == nil {
			resp.Extensions = map[string]any{}
		}
		resp.Extensions["cost"] = qc
	}
	return resp
}
