// This file traces the calls to the Contacts API: a client span per call
// (upstream.CallTracer), with the HTTP semantic conventions, each attempt
// an event on it; and the transport that sends the traceparent upstream
// and tells the call's span what each attempt got.

package tracing

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"sync/atomic"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"

	"github.com/ghl-graphql/gateway/upstream"
)

// UpstreamOptions returns the client options that trace upstream calls:
// hc's transport wrapped (hc itself is left as it is) and the call tracer.
// They must come after any other WithHTTPClient. Without tracing: none.
func (t *Tracing) UpstreamOptions(hc *http.Client) []upstream.Option {
	if t == nil {
		return nil
	}
	if hc == nil {
		hc = upstream.NewHTTPClient()
	}
	traced := *hc
	traced.Transport = t.Transport(hc.Transport)
	return []upstream.Option{upstream.WithHTTPClient(&traced), upstream.WithCallTracer(t.CallTracer())}
}

// CallTracer returns the upstream.CallTracer that makes a span per call.
// A call outside a sampled trace (its operation was not sampled, or it is
// no request's) gets none: the parent-based sampler would drop it anyway.
func (t *Tracing) CallTracer() upstream.CallTracer {
	return func(ctx context.Context, op upstream.Operation) (context.Context, func(*upstream.Response, error)) {
		if !trace.SpanContextFromContext(ctx).IsSampled() {
			return ctx, nil
		}
		ctx, span := t.tracer.Start(ctx, op.Method+" "+op.Path, trace.WithSpanKind(trace.SpanKindClient),
			trace.WithAttributes(semconv.HTTPRequestMethodKey.String(op.Method), semconv.URLTemplate(op.Path),
				AttrUpstreamOperation.String(op.ID)))
		call := &callSpan{span: span}
		ctx = context.WithValue(ctx, callKey{}, call)
		return ctx, func(resp *upstream.Response, err error) {
			call.end(resp, err)
		}
	}
}

type callKey struct{}

// callSpan is the span of one upstream call, which its attempts annotate.
type callSpan struct {
	span     trace.Span
	attempts atomic.Int32
}

// end records how the call ended: the last attempt's status, or the
// error's class.
func (c *callSpan) end(resp *upstream.Response, err error) {
	defer c.span.End()
	if n := c.attempts.Load(); n > 1 {
		c.span.SetAttributes(semconv.HTTPRequestResendCount(int(n - 1)))
	}
	if err == nil {
		if resp != nil {
			c.span.SetAttributes(semconv.HTTPResponseStatusCode(resp.StatusCode))
		}
		return
	}
	class := "other"
	var e *upstream.Error
	if errors.As(err, &e) {
		class = errorClass(e)
		if e.StatusCode != 0 {
			c.span.SetAttributes(semconv.HTTPResponseStatusCode(e.StatusCode))
		}
	}
	c.span.SetAttributes(semconv.ErrorTypeKey.String(class))
	c.span.SetStatus(codes.Error, class)
}

// errorClass names an upstream error without its message, which may quote
// the call: the status code, or the kind of failure that left none.
func errorClass(e *upstream.Error) string {
	switch {
	case e.StatusCode != 0:
		return strconv.Itoa(e.StatusCode)
	case errors.Is(e.Err, upstream.ErrTimeout):
		return "timeout"
	case errors.Is(e.Err, upstream.ErrConnection):
		return "connection"
	case errors.Is(e.Err, upstream.ErrRateLimited):
		return "rate_limited"
	case errors.Is(e.Err, upstream.ErrUnavailable):
		return "circuit_open"
	case errors.Is(e.Err, upstream.ErrUnauthorized):
		return "unauthorized"
	case errors.Is(e.Err, context.Canceled):
		return "canceled"
	}
	return "other"
}

// Transport returns base (http.DefaultTransport when nil) sending the
// context's trace context upstream (traceparent) and recording each
// attempt on the call's span.
func (t *Tracing) Transport(base http.RoundTripper) http.RoundTripper {
	if base == nil {
		base = http.DefaultTransport
	}
	if t == nil {
		return base
	}
	return &transport{base: base, propagator: t.propagator}
}

type transport struct {
	base       http.RoundTripper
	propagator propagation.TextMapPropagator
}

// RoundTrip sends req with the trace context, on a copy of its headers (a
// RoundTripper must not change the request it is given).
func (t *transport) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx := req.Context()
	if trace.SpanContextFromContext(ctx).IsValid() {
		out := req.Clone(ctx)
		t.propagator.Inject(ctx, propagation.HeaderCarrier(out.Header))
		req = out
	}
	call, _ := ctx.Value(callKey{}).(*callSpan)
	if call == nil || !call.span.IsRecording() {
		return t.base.RoundTrip(req)
	}
	n := call.attempts.Add(1)
	if n == 1 {
		call.span.SetAttributes(semconv.URLFull(redactedURL(req.URL)), semconv.ServerAddress(req.URL.Hostname()))
		if p := req.URL.Port(); p != "" {
			if port, err := strconv.Atoi(p); err == nil {
				call.span.SetAttributes(semconv.ServerPort(port))
			}
		}
	}
	resp, err := t.base.RoundTrip(req)
	attrs := []attribute.KeyValue{attribute.Int("attempt", int(n))}
	if err != nil {
		attrs = append(attrs, semconv.ErrorTypeKey.String("transport"))
	} else {
		attrs = append(attrs, semconv.HTTPResponseStatusCode(resp.StatusCode))
	}
	call.span.AddEvent("attempt", trace.WithAttributes(attrs...))
	return resp, err
}

// redactedURL is u with every query value replaced (the duplicate look-up
// sends a contact's email and phone in the query) and no user info; the
// token travels in a header, never in a URL.
func redactedURL(u *url.URL) string {
	c := *u
	c.User = nil
	c.Fragment, c.RawFragment = "", ""
	if c.RawQuery != "" {
		q := c.Query()
		for k := range q {
			q[k] = []string{"REDACTED"}
		}
		c.RawQuery = q.Encode()
	}
	return c.String()
}
