// This file holds the retry policy of Client.Do: how many attempts, the
// backoff between them (exponential, with full jitter, never shorter than
// Retry-After), and the rule that a retry starts only when a useful attempt
// still fits before the caller's deadline.
// Which failures may be repeated is decided where they are classified
// (Error.Retryable, see client.go); this file only decides when.

package upstream

import (
	"context"
	"fmt"
	"math/rand/v2"
	"reflect"
	"time"
)

// RetryPolicy says how Client.Do repeats a failed call. A call is repeated
// only when its error is Retryable: a 429, a 5xx, a timeout, a dropped
// connection or a malformed 2xx answer of a read; for a write that is not
// idempotent (create-contact, create-task, create-note,
// add-contact-to-workflow), only when the request provably never reached
// the upstream.
type RetryPolicy struct {
	// MaxAttempts is the number of attempts, the first included; 1 means
	// no retries (NewClient's default).
	MaxAttempts int
	// BaseDelay is the ceiling of the first backoff; it doubles with each
	// further attempt. Each backoff is drawn uniformly from [0, ceiling]
	// (full jitter), so that callers who failed together do not retry together.
	BaseDelay time.Duration
	// MaxDelay caps the ceiling; 0 means no cap. A Retry-After from the
	// upstream is honoured even when longer.
	MaxDelay time.Duration
	// MinAttempt is the least time an attempt needs to be of use: a retry
	// starts only when its backoff plus MinAttempt ends before the call's
	// deadline. 0 means DefaultRetryMinAttempt; it is capped at the
	// client's timeout.
	MinAttempt time.Duration
}

// DefaultRetryMinAttempt is RetryPolicy.MinAttempt's default: about what a
// search takes at HighLevel, so a retry with less time left would mostly
// be cut by the deadline.
const DefaultRetryMinAttempt = 500 * time.Millisecond

// maxRetryWait bounds the backoff of a call whose context has no deadline:
// a longer Retry-After ends the retries, rather than parking the caller.
const maxRetryWait = DefaultTimeout

// WithRetryPolicy sets how failed calls are repeated. The gateway uses
// RetryPolicy{MaxAttempts: 3, BaseDelay: 100 * time.Millisecond, MaxDelay: 2 * time.Second}.
func WithRetryPolicy(p RetryPolicy) Option {
	return func(c *Client) error {
		if p.MaxAttempts < 1 {
			return fmt.Errorf("retry policy: max attempts %d: must be at least 1", p.MaxAttempts)
		}
		if p.BaseDelay < 0 || p.MaxDelay < 0 || p.MinAttempt < 0 {
			return fmt.Errorf("retry policy: delays must not be negative")
		}
		c.retry = p
		return nil
	}
}

// backoff returns the wait before retry number n (1 for the second
// attempt): a uniform draw from [0, min(MaxDelay, BaseDelay·2^(n-1))], and
// at least retryAfter.
func (c *Client) backoff(n int, retryAfter time.Duration) time.Duration {
	p := c.retry
	ceiling := p.BaseDelay
	for i := 1; i < n && ceiling > 0; i++ {
		if p.MaxDelay > 0 && ceiling >= p.MaxDelay {
			break
		}
		if ceiling > time.Duration(1<<62)/2 {
			break // doubling again would overflow
		}
		ceiling *= 2
	}
	if p.MaxDelay > 0 {
		ceiling = min(ceiling, p.MaxDelay)
	}
	var d time.Duration
	if ceiling > 0 {
		d = c.jitter(ceiling)
	}
	return max(d, retryAfter)
}

// fullJitter draws uniformly from [0, ceiling].
func fullJitter(ceiling time.Duration) time.Duration {
	return time.Duration(rand.Int64N(int64(ceiling) + 1))
}

// retryFits reports whether an attempt that waits d first could still be
// useful: the wait and the least useful attempt (minAttempt) end before
// ctx's deadline. A retry that would start with less time left could only
// hold a connection until the deadline cuts it. Without a deadline, whether
// d is at most maxRetryWait.
func (c *Client) retryFits(ctx context.Context, d time.Duration) bool {
	if ctx.Err() != nil {
		return false
	}
	if deadline, ok := ctx.Deadline(); ok {
		return d+c.minAttempt() <= time.Until(deadline)
	}
	return d <= maxRetryWait
}

// minAttempt is the least time left that makes an attempt worth starting:
// RetryPolicy.MinAttempt (DefaultRetryMinAttempt when unset), but never more
// than the client's timeout, which is all an attempt is ever given.
func (c *Client) minAttempt() time.Duration {
	m := c.retry.MinAttempt
	if m == 0 {
		m = DefaultRetryMinAttempt
	}
	if c.timeout > 0 {
		m = min(m, c.timeout)
	}
	return m
}

// sleepCtx waits d; it reports false when ctx ended first.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// resetTarget zeroes what v points to, so that a retried decode starts from
// nothing rather than from what a cut answer left behind.
func resetTarget(v any) {
	if v == nil {
		return
	}
	if rv := reflect.ValueOf(v); rv.Kind() == reflect.Pointer && !rv.IsNil() && rv.Elem().CanSet() {
		rv.Elem().SetZero()
	}
}
