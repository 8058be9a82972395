// This file lets a tracer wrap each call Do makes (issue 15): the tracing
// package starts a span when the call starts and ends it when the call
// ends, its attempts and retries inside. upstream knows nothing of
// OpenTelemetry; the hook is one function.

package upstream

import "context"

// CallTracer is told when a call Do makes starts, before its gate, budget
// wait and first attempt. The context it returns is the one the call's
// attempts (and the HTTP transport) see; the function it returns is told
// how the call ended, after its last attempt.
type CallTracer func(ctx context.Context, op Operation) (context.Context, func(*Response, error))

// WithCallTracer has t told of every call; nil leaves calls untraced.
func WithCallTracer(t CallTracer) Option {
	return func(c *Client) error {
		c.callTracer = t
		return nil
	}
}

// traceCall starts the call's trace, if a tracer is set.
func (c *Client) traceCall(ctx context.Context, op Operation) (context.Context, func(*Response, error)) {
	if c.callTracer == nil {
		return ctx, nil
	}
	return c.callTracer(ctx, op)
}
