// Tests that query analysis is linear in the document: the pre-scan, the
// memoised measure, and the hostile documents of issue 10 through the real
// handler. Work is asserted through counters (tokens read, selections
// visited), never through time.

package server

import (
	"encoding/json"
	"errors"
	"fmt"
	"github.com/ghl-graphql/gateway/errcode"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/vektah/gqlparser/v2"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"
	"github.com/vektah/gqlparser/v2/parser"
	"github.com/vektah/gqlparser/v2/validator"

	"github.com/ghl-graphql/gateway/graph"
)

// Documents shared by the tests and the benchmarks.
const (
	readmeSnapshot = `query Snapshot($id: ID!) { contact(id: $id) {
		id name email phone tags
		customFields { fieldId value }
		business { id }
		tasks { id title dueDate completed }
		notes { id body dateAdded }
		appointments { id title startTime status } } }`
	listQuery = `{ contacts(first: 20) { nodes { id name email tags tasks { title dueDate completed } notes { body } appointments { title startTime status } } pageInfo { hasNextPage endCursor } } }`
)

// fragmentBomb is the 1 KB document whose fragments double at each
// level: { ...F0 } fragment F0 on Query { ...F1 ...F1 } ... with leaf as
// the last fragment's selection.
func fragmentBomb(levels int, leaf string) string {
	var b strings.Builder
	b.WriteString("{ ...F0 }\n")
	for i := range levels - 1 {
		fmt.Fprintf(&b, "fragment F%d on Query { ...F%d ...F%d }\n", i, i+1, i+1)
	}
	fmt.Fprintf(&b, "fragment F%d on Query { %s }\n", levels-1, leaf)
	return b.String()
}

// repeated is { sel sel sel ... } of about size bytes.
func repeated(sel string, size int) string {
	return "{" + strings.Repeat(" "+sel, size/(len(sel)+1)) + " }"
}

// distinct is { f0 f1 ... } with n fields of distinct names.
func distinct(n int) string {
	var b strings.Builder
	b.WriteString("{")
	for i := range n {
		fmt.Fprintf(&b, " f%d", i)
	}
	b.WriteString(" }")
	return b.String()
}

// manyTokens is one field whose argument is a list of about size bytes.
func manyTokens(size int) string {
	return `{ contact(id: "a", x: [` + strings.Repeat("1 ", size/2) + `]) { id } }`
}

// aliased is { a0: sel a1: sel ... } with n aliases.
func aliased(sel string, n int) string {
	var b strings.Builder
	b.WriteString("{")
	for i := range n {
		fmt.Fprintf(&b, " a%d: %s", i, sel)
	}
	b.WriteString(" }")
	return b.String()
}

// nested is contact(id) { ... } nested n times around { id }: depth n+1.
func nested(n int) string {
	return strings.Repeat(`{ contact(id: "a") `, n) + "{ id }" + strings.Repeat(" }", n)
}

func introspectionQuery(tb testing.TB) string {
	tb.Helper()
	b, err := os.ReadFile("testdata/introspection.graphql")
	if err != nil {
		tb.Fatal(err)
	}
	return string(b)
}

func TestPrescan(t *testing.T) {
	limits := QueryLimits{MaxCost: 500, MaxDepth: 12, MaxAliases: 50, MaxTokens: 5000, MaxSelections: 500, MaxRepeatedFields: 100}
	tests := map[string]struct {
		query, operation string
		want             scan
		wantErr          string // substring of the refusal; "" accepts
	}{
		"one field": {query: `{ __typename }`, want: scan{tokens: 3, selections: 1}},
		"snapshot":  {query: readmeSnapshot, want: scan{tokens: 54, selections: 25, depth: 3}},
		"arguments are not selections": {
			query: `{ contacts(filters: [{field: "a", value: {x: 1}}], first: 2) { nodes { id } } }`, want: scan{tokens: 30, selections: 3, depth: 3},
		},
		"aliases, __typename included": {
			query: `{ a: contact(id: "x") { id b: __typename } c: __typename id: id }`, want: scan{tokens: 22, selections: 5, depth: 2, aliases: 3},
		},
		"inline fragments add no depth": {
			query: `{ contact(id: "x") { ... on Contact { ... @include(if: true) { id } } } }`, want: scan{tokens: 26, selections: 4, depth: 2},
		},
		"introspection has no depth": {
			query: `{ __schema { types { fields { name } } } }`, want: scan{tokens: 12, selections: 4},
		},
		"fragments are not followed": {
			query: `{ ...F } fragment F on Query { a: contact(id: "x") { id } }`, want: scan{tokens: 21, selections: 3},
		},
		"only the selected operation's depth and aliases": {
			query: `query A { a: __typename } query B { b: __typename c: __typename }`, operation: "A",
			want: scan{tokens: 17, selections: 3, aliases: 1},
		},
		"comments count as tokens": {query: "{ # one\n # two\n __typename }", want: scan{tokens: 5, selections: 1}},
		"introspection query":      {query: introspectionQuery(t), want: scan{tokens: 184, selections: 81}},
		"too many tokens": {
			query: manyTokens(100_000), wantErr: "more than 5000 tokens",
			want: scan{tokens: 5001}, // the field is counted once its arguments end
		},
		"too many selections": {query: distinct(600), wantErr: "more than 500 selections", want: scan{tokens: 503, selections: 501, depth: 1}},
		"repeated response names": {
			query: repeated("__typename", 11*150), wantErr: "more than 100 times", want: scan{tokens: 104, selections: 102, repeats: 101},
		},
		"inline fragments share their set's names, fields and fragments do not": {
			query: `{ id ... on Query { id a: id } contact(id: "x") { id } ...F } fragment F on Query { id }`,
			want:  scan{tokens: 30, selections: 8, depth: 2, aliases: 1, repeats: 1},
		},
		"aliased __typename":               {query: aliased("__typename", 51), wantErr: "51 aliased fields", want: scan{tokens: 155, selections: 51, aliases: 51}},
		"too deep":                         {query: nested(12), wantErr: "depth 13 exceeds", want: scan{tokens: 8*12 + 3, selections: 13, depth: 13}},
		"fragment bomb":                    {query: fragmentBomb(30, "__typename"), want: scan{tokens: 4 + 29*10 + 7, selections: 1 + 29*2 + 1}},
		"unreadable is left to the parser": {query: `{ "unterminated }`, want: scan{tokens: 1}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got, err := prescan(tc.query, tc.operation, limits)
			if got != tc.want {
				t.Errorf("scan = %+v, want %+v", got, tc.want)
			}
			switch {
			case tc.wantErr == "" && err != nil:
				t.Errorf("refused: %v", err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Message, tc.wantErr)):
				t.Errorf("error = %v, want %q", err, tc.wantErr)
			case err != nil && codeOf(err) != errcode.CodeQueryTooComplex:
				t.Errorf("code = %v", codeOf(err))
			}
			if got.tokens > len(tc.query)+1 {
				t.Errorf("read %d tokens from %d bytes", got.tokens, len(tc.query))
			}
		})
	}
}

// TestMeasureIsLinear: measure visits each selection of the operation and
// of each fragment once, so its work is bounded by the document's size
// however often fragments are spread; counts that multiply saturate.
func TestMeasureIsLinear(t *testing.T) {
	schema := graph.NewExecutableSchema(graph.Config{}).Schema()
	tests := map[string]struct {
		query             string
		cost, depth, alia int
		visits            int
	}{
		// 2^29 spreads of F29 before: the walk never ended.
		"fragment bomb, 30 levels": {query: fragmentBomb(30, "__typename"), visits: 1 + 29*2 + 1},
		"fragment bomb, 40 levels": {query: fragmentBomb(40, "__typename"), visits: 1 + 39*2 + 1},
		// Aliases count once per spread: 2^29 of them, saturated at MaxInt32.
		"aliased fragment bomb": {query: fragmentBomb(31, "a: __typename"), alia: 1 << 30, visits: 1 + 30*2 + 1},
		"costly fragment bomb": {
			query: fragmentBomb(40, `contact(id: "x") { tasks { id } }`), cost: 1<<31 - 1, depth: 3, visits: 1 + 39*2 + 3,
		},
		"fragment depth adds to the spread's level": {
			query: `{ contact(id: "a") { business { ...B } } } fragment B on Business { contacts { nodes { ...C } } } fragment C on Contact { id }`,
			cost:  2, depth: 5, visits: 7,
		},
		"introspection aliases count": {query: `{ s: __schema { t: types { name } } }`, alia: 2, visits: 3},
		"introspection query":         {query: introspectionQuery(t), visits: 81},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			doc, errs := gqlparser.LoadQuery(schema, tc.query)
			if errs != nil {
				t.Fatalf("query does not validate: %v", errs)
			}
			m, err := measure(doc.Operations[0], nil, len(tc.query)+1)
			if err != nil {
				t.Fatal(err)
			}
			if m.cost != tc.cost || m.depth != tc.depth || m.aliases != tc.alia || m.visits != tc.visits {
				t.Errorf("measure = cost %d, depth %d, aliases %d, visits %d; want %d, %d, %d, %d",
					m.cost, m.depth, m.aliases, m.visits, tc.cost, tc.depth, tc.alia, tc.visits)
			}
		})
	}
	// The budget is a hard stop: a walk allowed fewer visits than it needs
	// ends there.
	doc, _ := gqlparser.LoadQuery(schema, fragmentBomb(30, "__typename"))
	if m, err := measure(doc.Operations[0], nil, 10); err != errVisitBudget || m.visits != 11 {
		t.Errorf("with a budget of 10: visits %d, err %v; want 11, the budget error", m.visits, err)
	}
}

// workLog collects the QueryWork of each request.
type workLog struct {
	mu   sync.Mutex
	work []QueryWork
}

func (l *workLog) observe(w QueryWork) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.work = append(l.work, w)
}

func (l *workLog) last(t *testing.T) QueryWork {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.work) == 0 {
		t.Fatal("no query work observed")
	}
	return l.work[len(l.work)-1]
}

// TestHostileQueriesEndToEnd runs issue 10's hostile documents, without a
// token, through the real handler: each is answered (refused, or run when
// harmless) with work bounded by its size, and reaches no upstream.
func TestHostileQueriesEndToEnd(t *testing.T) {
	var log workLog
	e := newCacheEnv(t, func(c *Config) { c.Introspection = true; c.observeQueryWork = log.observe })
	tests := map[string]struct {
		query    string
		wantCode string
		wantMsg  string
		// maxTokens and maxVisits bound the work; the document's size bounds both.
		maxTokens, maxVisits int
	}{
		"fragment bomb, 32 levels (harmless: run)": {query: fragmentBomb(32, "__typename"), maxTokens: 400, maxVisits: 65},
		"aliased fragment bomb, 32 levels": {
			query: fragmentBomb(32, "a: __typename"), wantCode: errcode.CodeQueryTooComplex, wantMsg: "aliased fields", maxTokens: 400, maxVisits: 65,
		},
		"costly fragment bomb, 32 levels": {
			query: fragmentBomb(32, `contact(id: "x") { id }`), wantCode: errcode.CodeQueryTooComplex, wantMsg: "query cost", maxTokens: 400, maxVisits: 66,
		},
		"__typename repeated to 1 MB": {
			query: repeated("__typename", DefaultMaxBodyBytes-100), wantCode: errcode.CodeQueryTooComplex, wantMsg: "same selection set", maxTokens: DefaultQueryLimits.MaxRepeatedFields + 4,
		},
		"1 MB of argument values": {
			query: manyTokens(DefaultMaxBodyBytes - 100), wantCode: errcode.CodeQueryTooComplex, wantMsg: "tokens", maxTokens: DefaultQueryLimits.MaxTokens + 1,
		},
		"distinct fields, under the token limit": {
			query: distinct(2000), wantCode: errcode.CodeQueryTooComplex, wantMsg: "selections", maxTokens: DefaultQueryLimits.MaxSelections + 3,
		},
		"aliased __typename": {
			query: aliased("__typename", 60), wantCode: errcode.CodeQueryTooComplex, wantMsg: "60 aliased fields", maxTokens: 60*3 + 2,
		},
		"deep nesting": {
			query: nested(400), wantCode: errcode.CodeQueryTooComplex, wantMsg: "depth 401 exceeds", maxTokens: 400*8 + 3,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			before := e.sb.TotalCalls()
			out := e.query(t, tc.query, func(r *http.Request) { r.Header.Del("Authorization") })
			w := log.last(t)
			if tc.wantCode == "" {
				if len(out.Errors) > 0 {
					t.Fatalf("refused: %+v", out.Errors)
				}
			} else if len(out.Errors) != 1 || out.Errors[0].Extensions["code"] != tc.wantCode || !strings.Contains(out.Errors[0].Message, tc.wantMsg) {
				t.Fatalf("errors = %+v, want %s mentioning %q", out.Errors, tc.wantCode, tc.wantMsg)
			}
			if w.QueryBytes != len(tc.query) || w.Tokens > tc.maxTokens || w.Visits > tc.maxVisits {
				t.Errorf("work = %+v, want tokens ≤ %d, visits ≤ %d", w, tc.maxTokens, tc.maxVisits)
			}
			if e.sb.TotalCalls() != before {
				t.Error("a hostile query reached the upstream")
			}
		})
	}
}

// TestOrdinaryQueriesPassTheDefaults: the README's snapshot, a list and
// GraphiQL's introspection query run under the default limits, and a
// repeated document comes from the query cache without a second pre-scan.
func TestOrdinaryQueriesPassTheDefaults(t *testing.T) {
	var log workLog
	e := newCacheEnv(t, func(c *Config) { c.Introspection = true; c.NoResponseCache = true; c.observeQueryWork = log.observe })
	snapshot := strings.ReplaceAll(readmeSnapshot, "query Snapshot($id: ID!)", "")
	snapshot = strings.ReplaceAll(snapshot, "$id", `"`+e.contacts[0]+`"`)
	for name, q := range map[string]string{"snapshot": snapshot, "list": listQuery, "introspection": introspectionQuery(t)} {
		t.Run(name, func(t *testing.T) {
			for i := range 2 {
				out := e.query(t, q)
				if len(out.Errors) > 0 {
					t.Fatalf("request %d refused: %+v", i, out.Errors)
				}
				w := log.last(t)
				if w.Visits == 0 || w.Visits > len(q) {
					t.Errorf("request %d: %d visits for %d bytes", i, w.Visits, len(q))
				}
				if i == 0 && w.Tokens == 0 {
					t.Error("the first request was not pre-scanned")
				}
				if i == 1 && w.Tokens != 0 {
					t.Errorf("the cached document was pre-scanned again (%d tokens)", w.Tokens)
				}
			}
		})
	}
}

// analysis is what analyse did and found.
type analysis struct {
	scan     scan
	measured measured
	refused  string // the stage that refused the request: "prescan", "parse", "validate", "variables", "measure"; "" ran it
}

// analyse runs a request through the same steps as the handler on a query
// cache miss: the pre-scan, gqlparser's parse (with the token limit) and
// validation, variable coercion, and measure with its visit budget.
func analyse(schema *ast.Schema, limits QueryLimits, query, operation string, vars map[string]any) analysis {
	var a analysis
	var gerr *gqlerror.Error
	if a.scan, gerr = prescan(query, operation, limits); gerr != nil {
		a.refused = "prescan"
		return a
	}
	doc, err := parser.ParseQueryWithTokenLimit(&ast.Source{Input: query}, limits.MaxTokens)
	if err != nil {
		a.refused = "parse"
		return a
	}
	if validator.ValidateWithRules(schema, doc, nil) != nil {
		a.refused = "validate"
		return a
	}
	op := doc.Operations.ForName(operation)
	if op == nil {
		a.refused = "validate"
		return a
	}
	coerced, err := validator.VariableValues(schema, op, vars)
	if err != nil {
		a.refused = "variables"
		return a
	}
	a.measured, err = measure(op, coerced, len(query)+1)
	if err != nil || a.measured.cost > limits.MaxCost || a.measured.depth > limits.MaxDepth || a.measured.aliases > limits.MaxAliases {
		a.refused = "measure"
	}
	return a
}

// FuzzQueryAnalysis runs whole GraphQL requests (document, operation name,
// variables as JSON) through the gateway's analysis: whatever the request,
// the tokens read and the selections visited are bounded by its size (so
// the visit budget never stops a walk), and the pre-scan's counts are lower
// bounds of measure's.
func FuzzQueryAnalysis(f *testing.F) {
	f.Add(readmeSnapshot, "Snapshot", `{"id":"c1"}`)
	f.Add(listQuery, "", `{}`)
	f.Add(fragmentBomb(30, "a: __typename"), "", `{}`)
	f.Add(`query($n: Int) { contacts(first: $n) { nodes { tasks { id } } } }`, "", `{"n": 100000}`)
	f.Add(aliased("__typename", 3), "", `null`)
	f.Add(nested(4), "", `{"x": [1, {"y": 2}]}`)
	schema := graph.NewExecutableSchema(graph.Config{}).Schema()
	f.Fuzz(func(t *testing.T, query, operation, variables string) {
		var vars map[string]any
		if json.NewDecoder(strings.NewReader(variables)).Decode(&vars) != nil {
			vars = nil
		}
		a := analyse(schema, DefaultQueryLimits, query, operation, vars)
		if a.scan.tokens > len(query)+1 || a.scan.tokens > DefaultQueryLimits.MaxTokens+1 {
			t.Fatalf("pre-scan read %d tokens from %d bytes", a.scan.tokens, len(query))
		}
		if a.measured.visits > len(query) {
			t.Fatalf("measure visited %d selections of a %d-byte document", a.measured.visits, len(query))
		}
		// The pre-scan's depth and aliases are lower bounds of measure's, so
		// it never refuses what measure would accept.
		if a.measured.visits > 0 && (a.scan.depth > a.measured.depth || a.scan.aliases > a.measured.aliases) {
			t.Fatalf("pre-scan found depth %d, aliases %d; measure %d, %d", a.scan.depth, a.scan.aliases, a.measured.depth, a.measured.aliases)
		}
	})
}

// codeOf is the vocabulary code a refusal is presented with.
func codeOf(e *gqlerror.Error) string {
	var ec *errcode.Error
	if errors.As(e.Err, &ec) {
		return ec.Code
	}
	c, _ := e.Extensions["code"].(string)
	return c
}
