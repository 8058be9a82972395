// This file holds incremental delivery (@defer). A client that accepts
// multipart/mixed on a JSON POST gets the answer in parts, as Apollo Client
// and graphql-http read them: the first part with what was not deferred,
// then one part per batch of deferred fragments, each with its own errors.
// Every other request (plain JSON POST, GET, a WebSocket subscription) is
// answered whole, as if the query had no @defer: without it those
// transports would send the first part alone, with hasNext: true, and drop
// the rest.

package server

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/handler/transport"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"
)

// MultipartBoundary is the boundary of incremental (multipart/mixed)
// answers. "-" is what the incremental-delivery RFC's examples and
// Apollo's tests use.
const MultipartBoundary = "-"

// deferBatchWindow is how long the multipart transport waits to send
// deferred parts that are ready together in one part: a millisecond keeps
// parts few without holding a ready part back noticeably.
const deferBatchWindow = time.Millisecond

// streamedKey marks a request the multipart transport answers.
type streamedKey struct{}

// multipartDefer is gqlgen's multipart/mixed transport, marking the
// requests it takes so that deferInline leaves their @defer alone, and
// giving gqlgen a writer it can flush through our middleware's wrappers
// (flushWriter, shared with the subscriptions' SSE transport).
type multipartDefer struct {
	transport.MultipartMixed
}

var _ graphql.Transport = multipartDefer{}

// newMultipartDefer returns the transport for incremental delivery.
func newMultipartDefer() multipartDefer {
	return multipartDefer{transport.MultipartMixed{Boundary: MultipartBoundary, DeliveryTimeout: deferBatchWindow}}
}

// Do answers r in parts.
func (t multipartDefer) Do(w http.ResponseWriter, r *http.Request, exec graphql.GraphExecutor) {
	r = r.WithContext(context.WithValue(r.Context(), streamedKey{}, true))
	t.MultipartMixed.Do(flushWriter{w}, r, exec)
}

// deferPlaceholders is the extension that takes out of a streamed first
// part the fields that only deferred fragments select. gqlgen writes them
// as null placeholders, and a client that normalizes (Apollo Client's
// cache) then takes the first part for the whole answer: tasks: null,
// complete, and the increment that follows is never asked for. The
// incremental-delivery RFC has the first part without them.
type deferPlaceholders struct{ schema *ast.Schema }

var _ interface {
	graphql.HandlerExtension
	graphql.ResponseInterceptor
} = deferPlaceholders{}

func (deferPlaceholders) ExtensionName() string                   { return "DeferPlaceholders" }
func (deferPlaceholders) Validate(graphql.ExecutableSchema) error { return nil }

// InterceptResponse rewrites the first part of a streamed answer.
func (d deferPlaceholders) InterceptResponse(ctx context.Context, next graphql.ResponseHandler) *graphql.Response {
	resp := next(ctx)
	if streamed, _ := ctx.Value(streamedKey{}).(bool); !streamed || resp == nil || resp.Path != nil || len(resp.Data) == 0 {
		return resp
	}
	oc := graphql.GetOperationContext(ctx)
	if oc.Operation == nil || !docDefers(oc.Doc) {
		return resp
	}
	root := d.schema.Query
	if oc.Operation.Operation == ast.Mutation {
		root = d.schema.Mutation
	}
	if root == nil {
		return resp
	}
	if out, err := d.strip(oc, resp.Data, oc.Operation.SelectionSet, root); err == nil {
		resp.Data = out
	}
	return resp
}

// strip returns raw, the answer to set on an object of type def (or a list
// of them), without the fields only deferred fragments select. The order
// of the other fields, and their bytes, are kept.
func (d deferPlaceholders) strip(oc *graphql.OperationContext, raw json.RawMessage, set ast.SelectionSet, def *ast.Definition) (json.RawMessage, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || raw[0] == 'n' || def == nil {
		return raw, nil
	}
	if raw[0] == '[' {
		var items []json.RawMessage
		if err := json.Unmarshal(raw, &items); err != nil {
			return nil, err
		}
		var buf bytes.Buffer
		buf.WriteByte('[')
		for i, it := range items {
			out, err := d.strip(oc, it, set, def)
			if err != nil {
				return nil, err
			}
			if i > 0 {
				buf.WriteByte(',')
			}
			buf.Write(out)
		}
		buf.WriteByte(']')
		return buf.Bytes(), nil
	}
	if raw[0] != '{' {
		return raw, nil
	}
	keys, vals, err := objectFields(raw)
	if err != nil {
		return nil, err
	}
	if def.IsAbstractType() {
		// The concrete type is known only from __typename.
		def = nil
		for i, k := range keys {
			var name string
			if k == "__typename" && json.Unmarshal(vals[i], &name) == nil {
				def = d.schema.Types[name]
			}
		}
		if def == nil {
			return raw, nil
		}
	}
	satisfies := []string{def.Name}
	for _, t := range d.schema.GetImplements(def) {
		satisfies = append(satisfies, t.Name)
	}
	fields := map[string]graphql.CollectedField{}
	for _, f := range graphql.CollectFields(oc, set, satisfies) {
		fields[f.Alias] = f
	}
	var buf bytes.Buffer
	buf.WriteByte('{')
	n := 0
	for i, k := range keys {
		v := vals[i]
		if f, ok := fields[k]; ok {
			if f.IsDeferred() {
				continue
			}
			if len(f.Selections) > 0 && f.Definition != nil {
				if v, err = d.strip(oc, v, f.Selections, d.schema.Types[f.Definition.Type.Name()]); err != nil {
					return nil, err
				}
			}
		}
		if n > 0 {
			buf.WriteByte(',')
		}
		n++
		kb, _ := json.Marshal(k)
		buf.Write(kb)
		buf.WriteByte(':')
		buf.Write(v)
	}
	buf.WriteByte('}')
	return buf.Bytes(), nil
}

// objectFields splits a JSON object into its keys and raw values, in order.
func objectFields(raw json.RawMessage) ([]string, []json.RawMessage, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	if _, err := dec.Token(); err != nil { // {
		return nil, nil, err
	}
	var keys []string
	var vals []json.RawMessage
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return nil, nil, err
		}
		k, _ := t.(string)
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, nil, err
		}
		keys, vals = append(keys, k), append(vals, v)
	}
	return keys, vals, nil
}

// deferInline is the extension that answers @defer whole on transports
// that cannot deliver parts: it runs the operation on a copy of the
// document without @defer. The parsed document is shared through the query
// cache, so it is copied, never changed; documents without @defer are left
// as they are at the cost of one walk.
type deferInline struct{}

var _ interface {
	graphql.HandlerExtension
	graphql.OperationContextMutator
} = deferInline{}

func (deferInline) ExtensionName() string                   { return "DeferInline" }
func (deferInline) Validate(graphql.ExecutableSchema) error { return nil }

// MutateOperationContext strips @defer from a request not streamed.
func (deferInline) MutateOperationContext(ctx context.Context, oc *graphql.OperationContext) *gqlerror.Error {
	if streamed, _ := ctx.Value(streamedKey{}).(bool); streamed || oc.Doc == nil || oc.Operation == nil {
		return nil
	}
	if !docDefers(oc.Doc) {
		return nil
	}
	doc := &ast.QueryDocument{Position: oc.Doc.Position, Comment: oc.Doc.Comment}
	for _, f := range oc.Doc.Fragments {
		c := *f
		c.SelectionSet = withoutDefer(f.SelectionSet)
		doc.Fragments = append(doc.Fragments, &c)
	}
	for _, op := range oc.Doc.Operations {
		c := *op
		c.SelectionSet = withoutDefer(op.SelectionSet)
		doc.Operations = append(doc.Operations, &c)
		if op == oc.Operation {
			oc.Operation = &c
		}
	}
	oc.Doc = doc
	return nil
}

// docDefers reports whether any selection of doc carries @defer.
func docDefers(doc *ast.QueryDocument) bool {
	for _, op := range doc.Operations {
		if setDefers(op.SelectionSet) {
			return true
		}
	}
	for _, f := range doc.Fragments {
		if setDefers(f.SelectionSet) {
			return true
		}
	}
	return false
}

func setDefers(set ast.SelectionSet) bool {
	for _, sel := range set {
		switch sel := sel.(type) {
		case *ast.Field:
			if setDefers(sel.SelectionSet) {
				return true
			}
		case *ast.InlineFragment:
			if sel.Directives.ForName("defer") != nil || setDefers(sel.SelectionSet) {
				return true
			}
		case *ast.FragmentSpread:
			if sel.Directives.ForName("defer") != nil {
				return true
			}
		}
	}
	return false
}

// withoutDefer returns a copy of set without @defer, sharing every
// subtree that has none.
func withoutDefer(set ast.SelectionSet) ast.SelectionSet {
	if !setDefers(set) {
		return set
	}
	out := make(ast.SelectionSet, len(set))
	for i, sel := range set {
		switch sel := sel.(type) {
		case *ast.Field:
			c := *sel
			c.SelectionSet = withoutDefer(sel.SelectionSet)
			out[i] = &c
		case *ast.InlineFragment:
			c := *sel
			c.Directives = dropDirective(sel.Directives, "defer")
			c.SelectionSet = withoutDefer(sel.SelectionSet)
			out[i] = &c
		case *ast.FragmentSpread:
			c := *sel
			c.Directives = dropDirective(sel.Directives, "defer")
			out[i] = &c
		default:
			out[i] = sel
		}
	}
	return out
}

func dropDirective(list ast.DirectiveList, name string) ast.DirectiveList {
	out := make(ast.DirectiveList, 0, len(list))
	for _, d := range list {
		if d.Name != name {
			out = append(out, d)
		}
	}
	return out
}
