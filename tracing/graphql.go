// This file holds the gqlgen extension, a span per GraphQL operation, and
// the field middleware, a span per resolver field (the fields that load
// from the upstream; plain fields of a fetched object get none, to keep a
// trace cheap).

package tracing

import (
	"context"
	"sort"
	"strings"

	"github.com/99designs/gqlgen/graphql"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
)

// MaxOperationName bounds the operation name in a span's name: names are
// the client's choice.
const MaxOperationName = 64

// Attribute keys of the gateway's own.
const (
	// AttrErrorCodes lists an operation's error codes (extensions.code),
	// sorted, each once.
	AttrErrorCodes = attribute.Key("graphql.error.codes")
	// AttrFieldPath is a resolver's path in the answer ("contact.tasks").
	AttrFieldPath = attribute.Key("graphql.field.path")
	// AttrUpstreamOperation is an upstream call's operationId.
	AttrUpstreamOperation = attribute.Key("ghl.operation")
)

// Extension returns the gqlgen extension that makes operation spans (see
// Fields for resolvers'); nil without tracing (the caller then adds
// nothing).
func (t *Tracing) Extension() graphql.HandlerExtension {
	if t == nil {
		return nil
	}
	return extension{t: t}
}

type extension struct{ t *Tracing }

var (
	_ graphql.HandlerExtension    = extension{}
	_ graphql.ResponseInterceptor = extension{}
)

// ExtensionName names the extension for gqlgen.
func (extension) ExtensionName() string { return "Tracing" }

// Validate accepts every schema.
func (extension) Validate(graphql.ExecutableSchema) error { return nil }

// InterceptResponse wraps each answer of an operation (one for a query or
// mutation) in a span named after the operation: "query Snapshot".
func (e extension) InterceptResponse(ctx context.Context, next graphql.ResponseHandler) *graphql.Response {
	if !graphql.HasOperationContext(ctx) {
		return next(ctx)
	}
	ctx, span := e.startOperation(ctx)
	defer span.End()
	resp := next(ctx)
	if resp != nil && len(resp.Errors) > 0 && span.IsRecording() {
		recordCodes(span, resp)
	}
	return resp
}

// startOperation starts the operation's span. It is a function of its own,
// as are recordCodes and fieldSpan, so that the frames every request and
// field pass through stay small: resolvers run on goroutines whose stacks
// start small, and bigger frames make more of them grow.
//
//go:noinline
func (e extension) startOperation(ctx context.Context) (context.Context, trace.Span) {
	oc := graphql.GetOperationContext(ctx)
	kind, name := "query", oc.OperationName
	if oc.Operation != nil {
		kind = string(oc.Operation.Operation)
		if name == "" {
			name = oc.Operation.Name
		}
	}
	name = boundName(name)
	spanName := kind
	attrs := []attribute.KeyValue{semconv.GraphQLOperationTypeKey.String(kind)}
	if name != "" {
		spanName += " " + name
		attrs = append(attrs, semconv.GraphQLOperationName(name))
	}
	return e.t.tracer.Start(ctx, spanName, trace.WithSpanKind(trace.SpanKindServer), trace.WithAttributes(attrs...))
}

// recordCodes puts the answer's error codes on the span, and marks it
// failed. Codes only: messages may quote the request's input.
//
//go:noinline
func recordCodes(span trace.Span, resp *graphql.Response) {
	seen := map[string]bool{}
	for _, err := range resp.Errors {
		code, _ := err.Extensions["code"].(string)
		if code == "" {
			code = "NO_CODE"
		}
		seen[code] = true
	}
	list := make([]string, 0, len(seen))
	for c := range seen {
		list = append(list, c)
	}
	sort.Strings(list)
	span.SetAttributes(AttrErrorCodes.StringSlice(list))
	span.SetStatus(codes.Error, strings.Join(list, ","))
}

// Fields returns inner, the gateway's own field middleware, also wrapping
// each resolver field in a span when the operation is sampled; other
// fields, and every field of an unsampled operation, pass through without
// allocating. Without tracing it returns inner. It composes with inner
// rather than being a gqlgen FieldInterceptor of its own: gqlgen runs each
// interceptor for every field, scalars included, with a closure each, which
// cost a warm executed snapshot some 15% of its throughput.
//
// gqlgen hands the context of a field's middleware to its children, so a
// resolver's span is the parent of its children's, although it has ended
// when they run: sampled, not recording, is what is asked of the parent.
func (t *Tracing) Fields(inner graphql.FieldMiddleware) graphql.FieldMiddleware {
	if t == nil {
		return inner
	}
	return func(ctx context.Context, next graphql.Resolver) (any, error) {
		if fc := graphql.GetFieldContext(ctx); fc != nil && fc.IsResolver && sampled(ctx) {
			return t.fieldSpan(ctx, fc, func(ctx context.Context) (any, error) { return inner(ctx, next) })
		}
		return inner(ctx, next)
	}
}

// sampled reports whether ctx's trace is sampled.
func sampled(ctx context.Context) bool {
	return trace.SpanContextFromContext(ctx).IsSampled()
}

// fieldSpan runs a resolver in its span.
//
//go:noinline
func (t *Tracing) fieldSpan(ctx context.Context, fc *graphql.FieldContext, next graphql.Resolver) (any, error) {
	ctx, span := t.tracer.Start(ctx, "resolve "+fc.Object+"."+fc.Field.Name, trace.WithAttributes(
		AttrFieldPath.String(fc.Path().String())))
	defer span.End()
	v, err := next(ctx)
	if err != nil {
		span.SetStatus(codes.Error, "resolver failed")
	}
	return v, err
}

// boundName cuts an operation name to MaxOperationName bytes; GraphQL names
// are ASCII, so no rune is split.
func boundName(s string) string {
	if len(s) > MaxOperationName {
		return s[:MaxOperationName]
	}
	return s
}
