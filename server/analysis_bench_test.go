// Benchmarks of query analysis per KB of query, for ordinary documents and
// for the worst shapes known (issue 10):
// go test -run=^$ -bench=QueryAnalysis -benchmem ./server/

package server

import (
	"fmt"
	"strings"
	"testing"

	"github.com/vektah/gqlparser/v2"

	"github.com/ghl-graphql/gateway/graph"
)

// deepValid is a valid query whose depth is depth (a multiple of 3 plus 1
// is exact; others round down): business { contacts { nodes { ... } } }
// under one contact.
func deepValid(depth int) string {
	n := (depth - 2) / 3
	return `{ contact(id: "a") { ` + strings.Repeat(`business { contacts(first: 1) { nodes { `, n) + "id" + strings.Repeat(" } } }", n) + " } }"
}

// cube is n contacts, each with n task lists, each of n ids, all under one
// response name per level: the shape on which validation
// (OverlappingFieldsCanBeMerged) costs most per selection.
func cube(n int) string {
	ids := "{" + strings.Repeat(" id", n) + " }"
	tasks := "{" + strings.Repeat(" tasks "+ids, n) + " }"
	return "{" + strings.Repeat(` contact(id: "a") `+tasks, n) + " }"
}

// fragmentPairs spreads n fragments that each select the same field, which
// validation compares pair by pair (no field repeats within a set).
func fragmentPairs(n int) string {
	var b strings.Builder
	b.WriteString("{")
	for i := range n {
		fmt.Fprintf(&b, " ...F%d", i)
	}
	b.WriteString(" }")
	for i := range n {
		fmt.Fprintf(&b, "\nfragment F%d on Query { contact(id: \"a\") { id } }", i)
	}
	return b.String()
}

// BenchmarkQueryAnalysis reports, per document, ns/KB of three costs:
//   - miss: a document the query cache does not hold: the pre-scan,
//     gqlparser's parse and validation, and measure (what the gateway
//     spends before refusing or running a new document);
//   - prescan: the pre-scan alone (it stops at the first limit crossed);
//   - hit: a cached document: measure alone, the per-request analysis.
//
// The goal is a flat ns/KB across shapes (linear), and an ordinary
// snapshot under 20 µs.
func BenchmarkQueryAnalysis(b *testing.B) {
	schema := graph.NewExecutableSchema(graph.Config{}).Schema()
	shapes := []struct {
		name, query, operation string
		vars                   map[string]any
	}{
		{name: "snapshot", query: readmeSnapshot, operation: "Snapshot", vars: map[string]any{"id": "c1"}},
		{name: "list", query: listQuery},
		{name: "introspection", query: introspectionQuery(b), operation: "IntrospectionQuery"},
		{name: "fragment-bomb-30", query: fragmentBomb(30, "__typename")},
		{name: "fragment-bomb-30-aliased", query: fragmentBomb(30, "a: __typename")},
		{name: "wide-typename-at-limit", query: repeated("__typename", 11*DefaultQueryLimits.MaxSelections)},
		{name: "wide-typename-1MB", query: repeated("__typename", DefaultMaxBodyBytes-100)},
		{name: "aliased-typename-60", query: aliased("__typename", 60)},
		{name: "cube-at-limit", query: cube(7)},
		{name: "repeats-at-limit", query: "{" + strings.Repeat(` contact(id: "a") { id name email tags }`, DefaultQueryLimits.MaxRepeatedFields) + " }"},
		{name: "fragment-pairs-at-limit", query: fragmentPairs(DefaultQueryLimits.MaxSelections/3 - 1)},
		{name: "deep-at-limit", query: deepValid(DefaultQueryLimits.MaxDepth)},
		{name: "deep-400", query: nested(400)},
		{name: "many-tokens-1MB", query: manyTokens(DefaultMaxBodyBytes - 100)},
	}
	for _, s := range shapes {
		kb := float64(len(s.query)) / 1024
		b.Run(s.name+"/miss", func(b *testing.B) {
			var a analysis
			for b.Loop() {
				a = analyse(schema, DefaultQueryLimits, s.query, s.operation, s.vars)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/kb, "ns/KB")
			b.ReportMetric(float64(len(s.query)), "bytes")
			if a.refused != "" {
				b.Logf("refused by %s", a.refused)
			}
		})
		b.Run(s.name+"/prescan", func(b *testing.B) {
			for b.Loop() {
				prescan(s.query, s.operation, DefaultQueryLimits)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/kb, "ns/KB")
		})
		if a := analyse(schema, DefaultQueryLimits, s.query, s.operation, s.vars); a.refused != "" && a.refused != "measure" {
			continue // refused before it could be cached
		}
		doc, errs := gqlparser.LoadQuery(schema, s.query)
		if errs != nil {
			b.Fatal(errs)
		}
		op := doc.Operations.ForName(s.operation)
		b.Run(s.name+"/hit", func(b *testing.B) {
			for b.Loop() {
				if _, err := measure(op, s.vars, len(s.query)+1); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/kb, "ns/KB")
		})
	}
}
