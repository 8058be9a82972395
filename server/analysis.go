// This file is the first look at a GraphQL document: a pre-scan of its
// tokens, before gqlparser parses and validates it. Validation is not
// linear in the document (OverlappingFieldsCanBeMerged compares every pair
// of fields that share a response name), so a document must be small enough
// before it gets there; the scan itself reads each token once and stops at
// the first limit crossed, so refusing a hostile document costs at most its
// size, whatever its shape.

package server

import (
	"context"
	"fmt"
	"github.com/ghl-graphql/gateway/errcode"
	"strings"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"
	"github.com/vektah/gqlparser/v2/lexer"
)

// QueryWork is what the analysis of one request did, for metrics and for
// the tests that prove it linear in the request's size.
type QueryWork struct {
	// QueryBytes is the length of the document.
	QueryBytes int
	// Tokens is how many tokens the pre-scan read (0 when the document was
	// already in the query cache, so had passed the pre-scan before).
	Tokens int
	// Visits is how many selections the measure of the validated operation
	// visited (0 when it was refused before validation).
	Visits int
}

// scan is what the pre-scan counted in a document.
type scan struct {
	tokens     int // every token, comments included
	selections int // fields, fragment spreads and inline fragments, as written
	depth      int // deepest non-introspection field of the selected operation, fragments not followed
	aliases    int // aliased fields written in the selected operation, fragments not followed
	repeats    int // fields whose response name their selection set already has
}

// scope is one open selection set in the pre-scan.
type scope struct {
	level int  // level of the fields it holds (top-level fields are at 1)
	intro bool // inside an introspection field (__schema, __type...)
	// set numbers the selection set whose response names its fields add
	// to; an inline fragment shares its enclosing set's, since validation
	// merges them.
	set int
}

// responseName is a response name selected in a numbered selection set.
type responseName struct {
	set  int
	name string
}

// prescan reads the document's tokens once, counts what the limits bound
// and refuses at the first limit crossed. The depth and aliases it counts
// are those written in the operation that will run (operationName, or every
// operation when none is named) without following fragment spreads: lower
// bounds of what measure finds after validation, so it never refuses what
// measure would accept. A document the lexer cannot read is left to the
// parser, which stops at the same place and says why.
func prescan(query, operationName string, l QueryLimits) (scan, *gqlerror.Error) {
	const (
		expectSel   = iota // a selection or }
		afterName          // a name that may be an alias (":" follows) or a field
		aliasColon         // "alias:"; the field's name follows
		afterSpread        // "..."; "on", a fragment's name, "@" or "{" follows
		typeCond           // "... on"; a type's name follows
		directive          // "@"; a directive's name follows
	)
	const (
		lastNone = iota
		lastField
		lastInline
	)
	var (
		s      scan
		lx     = lexer.New(&ast.Source{Input: query})
		stack  []scope
		sets   int                       // selection sets numbered so far
		names  = map[responseName]bool{} // one map for the document: one allocation, not one per set
		parens int
		state  = expectSel
		last   = lastNone
		// lastIntro is whether the last field was an introspection field,
		// for the selection set that may follow it.
		lastIntro bool
		pending   string // the name read in afterName
		alias     string // the alias read before aliasColon
		// At the top level: what the definition being read is, and whether
		// it is the operation that will run.
		atTop      = true
		topKeyword string
		selected   bool
	)
	field := func(name, alias string) {
		s.selections++
		last = lastField
		top := &stack[len(stack)-1]
		lastIntro = top.intro || strings.HasPrefix(name, "__")
		response := name
		if alias != "" {
			response = alias
		}
		key := responseName{set: top.set, name: response}
		if names[key] {
			s.repeats++
		}
		names[key] = true
		if !selected {
			return
		}
		if alias != "" && alias != name {
			s.aliases++
		}
		if !lastIntro {
			s.depth = max(s.depth, top.level)
		}
	}
	for {
		tok, err := lx.ReadToken()
		if err != nil || tok.Kind == lexer.EOF {
			break
		}
		s.tokens++
		if l.MaxTokens > 0 && s.tokens > l.MaxTokens {
			return s, tooComplex(fmt.Sprintf("query has more than %d tokens (the limit)", l.MaxTokens), nil)
		}
		if tok.Kind == lexer.Comment {
			continue
		}
		// Inside arguments, variable definitions and directive arguments,
		// braces are input objects, not selection sets.
		switch tok.Kind {
		case lexer.ParenL:
			parens++
			continue
		case lexer.ParenR:
			parens = max(parens-1, 0)
			continue
		}
		if parens > 0 {
			continue
		}
		if len(stack) == 0 {
			// Between definitions: "query Name", "fragment Name on T", "{".
			switch {
			case tok.Kind == lexer.Name && atTop:
				topKeyword, atTop = tok.Value, false
				selected = false
				if topKeyword != "fragment" {
					selected = operationName == ""
				}
			case tok.Kind == lexer.Name && topKeyword != "fragment" && topKeyword != "" && !selected:
				selected = tok.Value == operationName
				topKeyword = "" // the name is read; what follows is not a name of the operation
			case tok.Kind == lexer.BraceL:
				if atTop { // an anonymous query: { ... }
					selected = operationName == ""
				}
				sets++
				stack = append(stack, scope{level: 1, set: sets})
				state, last = expectSel, lastNone
			}
			continue
		}
		if state == afterName {
			if tok.Kind == lexer.Colon {
				alias, state = pending, aliasColon
				continue
			}
			field(pending, "")
			state = expectSel
		}
		switch tok.Kind {
		case lexer.Name:
			switch state {
			case aliasColon:
				field(tok.Value, alias)
				state = expectSel
			case afterSpread:
				if tok.Value == "on" {
					state = typeCond
				} else {
					last = lastNone // a fragment spread: no selection set follows
					state = expectSel
				}
			case typeCond, directive:
				state = expectSel
			default:
				pending, state = tok.Value, afterName
			}
		case lexer.Spread:
			s.selections++
			last, state = lastInline, afterSpread
		case lexer.At:
			state = directive
		case lexer.BraceL:
			top := stack[len(stack)-1]
			switch last {
			case lastField:
				sets++
				stack = append(stack, scope{level: top.level + 1, intro: lastIntro, set: sets})
			default: // an inline fragment: its fields are at the level of the set it is in
				stack = append(stack, top)
			}
			state, last = expectSel, lastNone
		case lexer.BraceR:
			stack = stack[:len(stack)-1]
			state, last = expectSel, lastNone
			if len(stack) == 0 {
				atTop, topKeyword, selected = true, "", false
			}
		}
		if l.MaxSelections > 0 && s.selections > l.MaxSelections {
			return s, tooComplex(fmt.Sprintf("query has more than %d selections (the limit)", l.MaxSelections), nil)
		}
		if l.MaxRepeatedFields > 0 && s.repeats > l.MaxRepeatedFields {
			return s, tooComplex(fmt.Sprintf("query selects a response name again in the same selection set more than %d times (the limit)", l.MaxRepeatedFields), nil)
		}
	}
	if state == afterName && len(stack) > 0 {
		field(pending, "")
	}
	if l.MaxSelections > 0 && s.selections > l.MaxSelections {
		return s, tooComplex(fmt.Sprintf("query has more than %d selections (the limit)", l.MaxSelections), nil)
	}
	if l.MaxDepth > 0 && s.depth > l.MaxDepth {
		return s, tooComplex(fmt.Sprintf("query depth %d exceeds the limit of %d", s.depth, l.MaxDepth), nil)
	}
	if l.MaxAliases > 0 && s.aliases > l.MaxAliases {
		return s, tooComplex(fmt.Sprintf("query has %d aliased fields; the limit is %d", s.aliases, l.MaxAliases), nil)
	}
	return s, nil
}

// tooComplex is the error of a request refused for a limit; ext adds
// extensions (e.g. the cost). It goes through the error presenter like
// every other error (errcode).
func tooComplex(msg string, ext map[string]any) *gqlerror.Error {
	e := errcode.New(errcode.CodeQueryTooComplex, "%s", msg)
	for k, v := range ext {
		e = e.With(k, v)
	}
	return &gqlerror.Error{Message: e.Message, Err: e}
}

// workStatsKey holds a request's *QueryWork in its operation context's
// stats, from the pre-scan to the response.
const workStatsKey = "gateway.queryWork"

// workOf returns the request's QueryWork record, creating it.
func workOf(oc *graphql.OperationContext) *QueryWork {
	if w, ok := oc.Stats.GetExtension(workStatsKey).(*QueryWork); ok {
		return w
	}
	w := &QueryWork{}
	oc.Stats.SetExtension(workStatsKey, w)
	return w
}

// MutateOperationParameters pre-scans the document before gqlgen parses
// and validates it. A document found in the query cache passed the same
// scan when it was first parsed, so it is not scanned again.
func (q queryLimiter) MutateOperationParameters(ctx context.Context, p *graphql.RawParams) *gqlerror.Error {
	if !graphql.HasOperationContext(ctx) {
		return nil
	}
	w := workOf(graphql.GetOperationContext(ctx))
	w.QueryBytes = len(p.Query)
	if q.cache != nil {
		if _, ok := q.cache.Get(ctx, p.Query); ok {
			return nil
		}
	}
	s, err := prescan(p.Query, p.OperationName, q.limits)
	w.Tokens = s.tokens
	return err
}
