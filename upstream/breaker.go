// This file holds the client's circuit breaker: after FailureThreshold
// consecutive failures of the upstream (transport errors, timeouts, 5xx) it
// opens, and every call fails at once with ErrUnavailable, without using the
// network or the rate budget, until CoolDown has passed; then exactly one
// probe call goes out, whose success closes it and whose failure re-opens it.
// One breaker per Client, since a Client talks to one upstream host.

package upstream

import (
	"sync"
	"time"
)

// The states BreakerState reports.
const (
	// BreakerClosed: calls go out (also the state of a client without a breaker).
	BreakerClosed = "closed"
	// BreakerOpen: calls fail at once with ErrUnavailable until the cool-down ends.
	BreakerOpen = "open"
	// BreakerHalfOpen: the cool-down is over; one probe call may go, or is out.
	BreakerHalfOpen = "half-open"
)

// The defaults of BreakerConfig.
const (
	// DefaultBreakerFailureThreshold is the default number of consecutive failures that opens the breaker.
	DefaultBreakerFailureThreshold = 5
	// DefaultBreakerCoolDown is the default time an open breaker waits before a probe.
	DefaultBreakerCoolDown = 10 * time.Second
)

// BreakerConfig configures the circuit breaker. Zero or negative fields take
// the defaults.
type BreakerConfig struct {
	// FailureThreshold is the number of consecutive failed attempts that
	// opens the breaker (default 5).
	FailureThreshold int
	// CoolDown is how long the breaker stays open before it lets one probe
	// call through (default 10s).
	CoolDown time.Duration
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// WithCircuitBreaker gives the client a circuit breaker. NewClient's default
// is none.
func WithCircuitBreaker(cfg BreakerConfig) Option {
	return func(c *Client) error {
		if cfg.FailureThreshold <= 0 {
			cfg.FailureThreshold = DefaultBreakerFailureThreshold
		}
		if cfg.CoolDown <= 0 {
			cfg.CoolDown = DefaultBreakerCoolDown
		}
		if cfg.Now == nil {
			cfg.Now = time.Now
		}
		c.breaker = &breaker{cfg: cfg}
		return nil
	}
}

// BreakerState reports the circuit breaker's state: BreakerClosed,
// BreakerOpen or BreakerHalfOpen (the cool-down is over and a probe may go
// or is in flight). A client without a breaker is always closed.
func (c *Client) BreakerState() string {
	if c.breaker == nil {
		return BreakerClosed
	}
	return c.breaker.state()
}

// breakerResult is what one attempt tells the breaker.
type breakerResult int

const (
	// breakerNeutral: the attempt says nothing about the upstream's health
	// (the caller cancelled it, or it never went out).
	breakerNeutral breakerResult = iota
	breakerSuccess
	breakerFailure
)

type breaker struct {
	cfg BreakerConfig

	mu       sync.Mutex
	open     bool
	openedAt time.Time
	failures int
	probing  bool
	// gen changes on every transition, so that the result of an attempt
	// that left in an earlier state (e.g. a slow call that left while closed
	// and fails after the breaker opened) cannot count twice.
	gen uint64
}

// breakerTicket is the permission for one attempt.
type breakerTicket struct {
	gen   uint64
	probe bool
}

func (b *breaker) state() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	switch {
	case !b.open:
		return BreakerClosed
	case b.cfg.Now().Sub(b.openedAt) >= b.cfg.CoolDown:
		return BreakerHalfOpen
	}
	return BreakerOpen
}

// allow lets an attempt go, or refuses it with ErrUnavailable.
func (b *breaker) allow() (breakerTicket, *Error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.open {
		return breakerTicket{gen: b.gen}, nil
	}
	left := b.cfg.CoolDown - b.cfg.Now().Sub(b.openedAt)
	if left > 0 {
		return breakerTicket{}, unavailable(left)
	}
	if b.probing {
		// One probe at a time; the others would only pile onto a host that
		// may still be down. The probe's answer is due soon, so the others
		// are told to come back in a second (or the cool-down, if shorter).
		return breakerTicket{}, unavailable(min(b.cfg.CoolDown, time.Second))
	}
	b.probing = true
	return breakerTicket{gen: b.gen, probe: true}, nil
}

func unavailable(retryAfter time.Duration) *Error {
	return &Error{Err: ErrUnavailable, RetryAfter: retryAfter}
}

// record counts the result of an attempt that allow let go.
func (b *breaker) record(t breakerTicket, r breakerResult) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if t.gen != b.gen {
		return
	}
	if t.probe {
		b.probing = false
		switch r {
		case breakerSuccess:
			b.open, b.failures = false, 0
			b.gen++
		case breakerFailure:
			b.openedAt = b.cfg.Now()
			b.gen++
		}
		return
	}
	if b.open {
		return
	}
	switch r {
	case breakerSuccess:
		b.failures = 0
	case breakerFailure:
		b.failures++
		if b.failures >= b.cfg.FailureThreshold {
			b.open, b.openedAt, b.failures = true, b.cfg.Now(), 0
			b.gen++
		}
	}
}
