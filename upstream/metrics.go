// This file lets metrics watch the client's work as it happens: each
// exchange with the upstream, each retry, each wait for the rate budget.
// Whatever RateBudget or transport is configured, Do reports the same
// events, so a Redis-backed budget is counted like the local one.

package upstream

import "time"

// Observer is told about the client's work, for metrics. Its methods run
// on the caller's goroutine inside Do, so they must be quick and must not
// call the client. Arguments carry no token and no request data: key is a
// budget key (a location ID, or CredentialKeyPrefix and a token hash).
type Observer interface {
	// Attempt reports one exchange with the upstream, ended after d; status
	// is the HTTP status, 0 when no answer came (timeout, connection).
	Attempt(op Operation, status int, d time.Duration)
	// Retry reports that a failed attempt is about to be repeated under the
	// RetryPolicy (the repeat after a token refresh is not one).
	Retry(op Operation)
	// BudgetWait reports a wait for a slot of key's rate budget, ended
	// after d; refused is true when the budget refused the call.
	BudgetWait(key string, d time.Duration, refused bool)
}

// WithObserver sets the client's Observer; nil, the default, reports nothing.
func WithObserver(o Observer) Option {
	return func(c *Client) error { c.obs = o; return nil }
}

// attemptStatus is the HTTP status an attempt ended with, 0 for none.
func attemptStatus(resp *Response, e *Error) int {
	if e == nil {
		return resp.StatusCode
	}
	return e.StatusCode
}

// NoteBudgetRefusal reports to the Observer a call refused for want of
// key's rate budget before it reached Do (the loaders refuse at once what
// the budget cannot let go before the request's deadline), so that every
// refusal is counted in one place.
func (c *Client) NoteBudgetRefusal(key string) {
	if c.obs != nil {
		c.obs.BudgetWait(key, 0, true)
	}
}
