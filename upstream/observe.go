// This file lets a caller watch how each call ends, and lets an answer say
// which location its data belongs to. The gateway uses both to learn what a
// Private Integration Token cannot tell about itself (its location, whether
// it may write, whether the upstream still accepts it); metrics can use the
// same hook.

package upstream

import "context"

// Call describes how one call made by Do ended, after its last attempt.
type Call struct {
	// Op is the operation called.
	Op Operation
	// Response describes the answer of a successful call; nil on failure.
	Response *Response
	// Err is the failure; nil on success.
	Err *Error
}

// CallObserver is told how each call ends. It runs on the caller's
// goroutine before Do returns, so it must be quick and must not call the
// client.
type CallObserver func(ctx context.Context, call Call)

type callObserverKey struct{}

// ContextWithCallObserver returns a context whose calls are reported to o.
func ContextWithCallObserver(ctx context.Context, o CallObserver) context.Context {
	return context.WithValue(ctx, callObserverKey{}, o)
}

// observe reports a finished call to the context's observer, if any.
func observe(ctx context.Context, op Operation, resp *Response, err *Error) {
	if o, ok := ctx.Value(callObserverKey{}).(CallObserver); ok && o != nil {
		o(ctx, Call{Op: op, Response: resp, Err: err})
	}
}

// locatedAnswer is implemented by answers whose data names the location it
// belongs to; Do copies it into Response.LocationID.
type locatedAnswer interface {
	answerLocation() string
}

func (e *contactEnvelope) answerLocation() string { return contactLocation(e.Contact) }
func (r *UpsertResult) answerLocation() string    { return contactLocation(r.Contact) }
func (l *ContactList) answerLocation() string     { return firstLocation(l.Contacts) }
func (r *SearchResult) answerLocation() string    { return firstLocation(r.Contacts) }

func contactLocation(c *Contact) string {
	if c == nil {
		return ""
	}
	return c.LocationID
}

func firstLocation(cs []Contact) string {
	for i := range cs {
		if cs[i].LocationID != "" {
			return cs[i].LocationID
		}
	}
	return ""
}

// MissingScope reports whether the upstream refused the call because the
// token lacks the operation's scope (HighLevel answers that with a 401 that
// is a permission problem, not a bad credential).
func (e *Error) MissingScope() bool {
	return e.StatusCode == 401 && e.Err == ErrForbidden
}

// CallGate is asked before each call Do makes; an error refuses the call at
// once, before any attempt or budget slot (nothing is sent). The gateway
// uses it to refuse, for a while, a token the upstream has just rejected.
type CallGate func(ctx context.Context) *Error

type callGateKey struct{}

// ContextWithCallGate returns a context whose calls must pass g.
func ContextWithCallGate(ctx context.Context, g CallGate) context.Context {
	return context.WithValue(ctx, callGateKey{}, g)
}

// gateCall asks the context's gate, if any.
func gateCall(ctx context.Context) *Error {
	if g, ok := ctx.Value(callGateKey{}).(CallGate); ok && g != nil {
		return g(ctx)
	}
	return nil
}
