// This file holds the client's circuit breakers: one per tenant (the call's
// budget key: its location, or its credential while the location is not
// known) and one for the upstream host the Client talks to.
//
// A breaker counts Do calls, not attempts: a call that succeeded on a retry
// is a success, and a call that failed all its attempts is one failure. It
// opens when, over a sliding window, at least MinCalls calls were counted
// and at least FailureRatio of them failed (transport errors, timeouts,
// 5xx); then every call fails at once with ErrUnavailable, without using the
// network or the rate budget, until CoolDown has passed. Then one probe call
// goes out, with a single attempt (retrying a probe would only pile onto an
// upstream that may still be down); its success closes the breaker with an
// empty window, its failure re-opens it for another cool-down.
//
// A tenant's breaker protects the upstream from that tenant's failing calls
// (a slow search of one location) and never refuses another tenant. The
// host's breaker opens only when the failures come from several tenants:
// at least min(HostMinLocations, active tenants) of the tenants active in
// the window are failing, and they are at least FailureRatio of the active
// ones; so one tenant opens it only when it is the only one calling. An
// open host's circuit refuses only the tenants it has seen fail: a call of
// another tenant (a bystander) goes, and its verdict decides: a success
// closes the host's circuit (what opened it was its tenants' trouble, e.g.
// a lone tenant's), a failure adds the bystander to the refused. So a
// failing tenant never keeps a healthy one out, and in a real outage each
// tenant spends only the calls it had under way when it first failed.

package upstream

import (
	"fmt"
	"math"
	"sync"
	"time"
)

// The states BreakerState and LocationBreakerState report.
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
	// DefaultBreakerWindow is the default length of the window whose calls decide.
	DefaultBreakerWindow = 30 * time.Second
	// DefaultBreakerMinCalls is the default number of calls in the window
	// below which a breaker never opens.
	DefaultBreakerMinCalls = 10
	// DefaultBreakerFailureRatio is the default share of failed calls in the
	// window that opens a breaker.
	DefaultBreakerFailureRatio = 0.5
	// DefaultBreakerCoolDown is the default time an open breaker waits before a probe.
	DefaultBreakerCoolDown = 10 * time.Second
	// DefaultBreakerHostMinLocations is the default number of failing tenants
	// that opens the host's breaker (fewer when fewer are active).
	DefaultBreakerHostMinLocations = 3
	// DefaultBreakerMaxLocations is the default number of tenants' breakers
	// kept in memory.
	DefaultBreakerMaxLocations = 10_000
)

// windowBuckets is the number of slices of a breaker's window: the window
// slides by Window/windowBuckets, and costs windowBuckets counters.
const windowBuckets = 10

// BreakerConfig configures the circuit breakers. Zero or negative fields
// take the defaults.
type BreakerConfig struct {
	// Window is how far back the calls that decide whether a breaker opens
	// are counted (default 30s).
	Window time.Duration
	// MinCalls is the number of calls a window must hold before a breaker
	// can open (default 10): a few failures of a quiet tenant prove nothing.
	MinCalls int
	// FailureRatio is the share of failed calls, over 0 and at most 1, that
	// opens a breaker (default 0.5).
	FailureRatio float64
	// CoolDown is how long a breaker stays open before it lets one probe
	// call through (default 10s).
	CoolDown time.Duration
	// HostMinLocations is how many tenants must be failing for the host's
	// breaker to open, or all the active ones when fewer are (default 3).
	HostMinLocations int
	// MaxLocations bounds the tenants' breakers kept in memory (default
	// 10,000); idle ones are pruned, and a tenant beyond the bound has none
	// of its own (the host's still guards the upstream).
	MaxLocations int
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// WithCircuitBreaker gives the client circuit breakers per tenant and for
// the host. NewClient's default is none.
func WithCircuitBreaker(cfg BreakerConfig) Option {
	return func(c *Client) error {
		if math.IsNaN(cfg.FailureRatio) || cfg.FailureRatio > 1 {
			return fmt.Errorf("circuit breaker: failure ratio %v: must be over 0 and at most 1", cfg.FailureRatio)
		}
		if cfg.Window <= 0 {
			cfg.Window = DefaultBreakerWindow
		}
		if cfg.MinCalls <= 0 {
			cfg.MinCalls = DefaultBreakerMinCalls
		}
		if cfg.FailureRatio <= 0 {
			cfg.FailureRatio = DefaultBreakerFailureRatio
		}
		if cfg.CoolDown <= 0 {
			cfg.CoolDown = DefaultBreakerCoolDown
		}
		if cfg.HostMinLocations <= 0 {
			cfg.HostMinLocations = DefaultBreakerHostMinLocations
		}
		if cfg.MaxLocations <= 0 {
			cfg.MaxLocations = DefaultBreakerMaxLocations
		}
		if cfg.Now == nil {
			cfg.Now = time.Now
		}
		c.breaker = newBreaker(cfg)
		return nil
	}
}

// BreakerState reports the state of the host's circuit breaker:
// BreakerClosed, BreakerOpen or BreakerHalfOpen (the cool-down is over and a
// probe may go or is in flight). It is what /readyz reports: one tenant's
// failures do not change it. A client without a breaker is always closed.
func (c *Client) BreakerState() string {
	if c.breaker == nil {
		return BreakerClosed
	}
	b := c.breaker
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.host.state(b.cfg.Now(), b.cfg.CoolDown)
}

// LocationBreakerState reports the state of the circuit breaker of the
// tenant key (a budget key, see ContextWithBudgetKey). A tenant without a
// breaker of its own (never seen, pruned, or beyond MaxLocations) is closed.
func (c *Client) LocationBreakerState(key string) string {
	if c.breaker == nil {
		return BreakerClosed
	}
	b := c.breaker
	b.mu.Lock()
	defer b.mu.Unlock()
	lc, ok := b.locs[key]
	if !ok {
		return BreakerClosed
	}
	return lc.state(b.cfg.Now(), b.cfg.CoolDown)
}

// breakerResult is what one attempt, or a whole call, tells a breaker.
type breakerResult int

const (
	// breakerNeutral: nothing about the upstream's health (the caller
	// cancelled, or no attempt went out).
	breakerNeutral breakerResult = iota
	breakerSuccess
	breakerFailure
)

// window counts calls and failures over the last Window, in windowBuckets
// slices; a slice is reused when its time comes round again.
type window struct {
	width  int64 // nanoseconds per slice
	slices [windowBuckets]windowSlice
}

type windowSlice struct {
	n               int64 // which slice of time it counts: UnixNano / width
	calls, failures int
}

func (w *window) add(now time.Time, r breakerResult) {
	n := now.UnixNano() / w.width
	s := &w.slices[uint64(n)%windowBuckets]
	if s.n != n {
		*s = windowSlice{n: n}
	}
	s.calls++
	if r == breakerFailure {
		s.failures++
	}
}

func (w *window) sums(now time.Time) (calls, failures int) {
	n := now.UnixNano() / w.width
	for _, s := range w.slices {
		if s.n <= n && n-s.n < windowBuckets {
			calls += s.calls
			failures += s.failures
		}
	}
	return calls, failures
}

func (w *window) reset() { w.slices = [windowBuckets]windowSlice{} }

// circuit is one breaker's state: a tenant's or the host's.
type circuit struct {
	win      window
	open     bool
	openedAt time.Time
	probing  bool
	// gen changes on every transition, so that the verdict of a call that
	// left in an earlier state (e.g. a slow call that left while closed
	// and fails after the breaker opened) cannot count twice.
	gen uint64
	// lastUsed is the last time a call asked or reported; inFlight counts
	// the calls between the two. A tenant's circuit is pruned only when
	// idle, so that no verdict is lost.
	lastUsed time.Time
	inFlight int
}

func (c *circuit) state(now time.Time, coolDown time.Duration) string {
	switch {
	case !c.open:
		return BreakerClosed
	case now.Sub(c.openedAt) >= coolDown:
		return BreakerHalfOpen
	}
	return BreakerOpen
}

func (c *circuit) trip(now time.Time) {
	c.open, c.openedAt = true, now
	c.gen++
}

// failing reports whether the window holds enough calls, failed enough.
func (c *circuit) failing(now time.Time, cfg *BreakerConfig) bool {
	calls, failures := c.win.sums(now)
	return calls >= cfg.MinCalls && float64(failures) >= cfg.FailureRatio*float64(calls)
}

// probeResult applies a probe's verdict: success closes with an empty
// window, failure re-opens for a whole cool-down, neutral frees the slot.
func (c *circuit) probeResult(now time.Time, r breakerResult) {
	c.probing = false
	switch r {
	case breakerSuccess:
		c.open = false
		c.win.reset()
		c.gen++
	case breakerFailure:
		c.openedAt = now
		c.gen++
	}
}

// breaker holds the host's circuit and the tenants'.
type breaker struct {
	cfg BreakerConfig

	mu   sync.Mutex
	host circuit
	// hostFailing holds the tenants that were failing when the host's
	// circuit opened; the others may probe it at once.
	hostFailing map[string]bool
	locs        map[string]*circuit
	lastSweep   time.Time
}

func newBreaker(cfg BreakerConfig) *breaker {
	width := max(int64(cfg.Window/windowBuckets), 1)
	b := &breaker{cfg: cfg, locs: map[string]*circuit{}, lastSweep: cfg.Now()}
	b.host.win.width = width
	return b
}

// breakerTicket is the permission for one Do call.
type breakerTicket struct {
	// loc is the tenant's circuit; nil when the tenant has none.
	loc                 *circuit
	key                 string
	locGen, hostGen     uint64
	locProbe, hostProbe bool
	// hostBystander: the host's circuit was open, but had not seen the
	// tenant fail.
	hostBystander bool
}

// probe reports whether the call probes a circuit: it gets one attempt.
func (t breakerTicket) probe() bool { return t.locProbe || t.hostProbe }

// fastRetryAfter is what the calls refused while a probe is out are told:
// the probe's answer is due soon.
func (b *breaker) fastRetryAfter() time.Duration { return min(b.cfg.CoolDown, time.Second) }

// allow lets the call of tenant key go, or refuses it with ErrUnavailable.
func (b *breaker) allow(key string) (breakerTicket, *Error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	now := b.cfg.Now()
	lc := b.location(key, now)
	t := breakerTicket{loc: lc, key: key}
	if lc != nil {
		lc.lastUsed = now
		if lc.open {
			if left := b.cfg.CoolDown - now.Sub(lc.openedAt); left > 0 {
				return breakerTicket{}, unavailable(left, "this location's calls keep failing")
			}
			if lc.probing {
				return breakerTicket{}, unavailable(b.fastRetryAfter(), "this location's calls keep failing")
			}
			t.locProbe = true
		}
		t.locGen = lc.gen
	}
	switch {
	case !b.host.open:
	case !b.hostFailing[key]:
		// A bystander: the host's circuit has not seen this tenant fail,
		// so its calls go and their verdicts decide for the host.
		t.hostBystander = true
	default:
		if left := b.cfg.CoolDown - now.Sub(b.host.openedAt); left > 0 {
			return breakerTicket{}, unavailable(left, "")
		}
		if b.host.probing {
			return breakerTicket{}, unavailable(b.fastRetryAfter(), "")
		}
		t.hostProbe = true
	}
	t.hostGen = b.host.gen
	if t.locProbe {
		lc.probing = true
	}
	if t.hostProbe {
		b.host.probing = true
	}
	if lc != nil {
		lc.inFlight++
	}
	return t, nil
}

func unavailable(retryAfter time.Duration, why string) *Error {
	if retryAfter <= 0 {
		retryAfter = time.Second
	}
	err := ErrUnavailable
	if why != "" {
		err = fmt.Errorf("%w: %s", ErrUnavailable, why)
	}
	return &Error{Err: err, RetryAfter: retryAfter}
}

// retryAllowed reports whether a call may make another attempt: not when it
// probes, nor when its tenant's circuit opened meanwhile, nor when the
// host's is open and has seen the tenant fail.
func (b *breaker) retryAllowed(t breakerTicket) bool {
	if t.probe() {
		return false
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	return !(b.host.open && b.hostFailing[t.key]) && (t.loc == nil || !t.loc.open)
}

// record counts the verdict of a call that allow let go.
func (b *breaker) record(t breakerTicket, r breakerResult) {
	b.mu.Lock()
	defer b.mu.Unlock()
	now := b.cfg.Now()
	if lc := t.loc; lc != nil {
		lc.inFlight--
		lc.lastUsed = now
		switch {
		case t.locProbe:
			lc.probeResult(now, r)
		case t.locGen == lc.gen && !lc.open && r != breakerNeutral:
			lc.win.add(now, r)
			if r == breakerFailure && lc.failing(now, &b.cfg) {
				lc.trip(now)
			}
		}
	}
	switch {
	case t.hostProbe:
		b.host.probeResult(now, r)
		if r == breakerSuccess {
			b.hostFailing = nil
		}
	case t.hostBystander:
		if t.hostGen != b.host.gen {
			break // the circuit closed (or re-opened) meanwhile
		}
		switch {
		case r == breakerSuccess:
			// The host serves a tenant it had not seen fail: what opened
			// it was its failing tenants' trouble, not the host's.
			b.host.open = false
			b.host.win.reset()
			b.host.gen++
			b.hostFailing = nil
		case r == breakerFailure && len(b.hostFailing) < b.cfg.MaxLocations:
			// The host fails this tenant too: it now waits for the cool-down.
			b.hostFailing[t.key] = true
		}
	case t.hostGen == b.host.gen && !b.host.open && r != breakerNeutral:
		b.host.win.add(now, r)
		if r == breakerFailure {
			b.maybeTripHost(now)
		}
	}
}

// maybeTripHost opens the host's circuit when the host's window holds
// MinCalls calls and the failures come from several tenants: at least
// min(HostMinLocations, active) tenants, and at least FailureRatio of the
// active ones. Each tenant weighs the same, so a busy failing tenant cannot
// outvote quiet healthy ones. The scan is bounded by MaxLocations.
func (b *breaker) maybeTripHost(now time.Time) {
	if calls, _ := b.host.win.sums(now); calls < b.cfg.MinCalls {
		return
	}
	// failingLocation reports whether lc counts as active, and as failing.
	failingLocation := func(lc *circuit) (active, failing bool) {
		if lc.open {
			active = now.Sub(lc.lastUsed) < b.cfg.Window
			return active, active
		}
		calls, failures := lc.win.sums(now)
		return calls > 0, failures > 0 && float64(failures) >= b.cfg.FailureRatio*float64(calls)
	}
	active, failing := 0, 0
	for _, lc := range b.locs {
		a, f := failingLocation(lc)
		if a {
			active++
		}
		if f {
			failing++
		}
	}
	need := min(b.cfg.HostMinLocations, active)
	if need == 0 || failing < need || float64(failing) < b.cfg.FailureRatio*float64(active) {
		return
	}
	b.host.trip(now)
	b.hostFailing = make(map[string]bool, failing)
	for key, lc := range b.locs {
		if _, f := failingLocation(lc); f {
			b.hostFailing[key] = true
		}
	}
}

// location returns the circuit of tenant key, made on first use; nil when
// MaxLocations circuits are busy. Idle circuits are swept once a window, or
// once a window slice when the map is full (a sweep costs a pass over it, so
// a flood of new tenants must not cause one each).
func (b *breaker) location(key string, now time.Time) *circuit {
	if lc, ok := b.locs[key]; ok {
		return lc
	}
	sinceSweep := now.Sub(b.lastSweep)
	full := len(b.locs) >= b.cfg.MaxLocations
	if sinceSweep >= b.cfg.Window || (full && sinceSweep >= b.cfg.Window/windowBuckets) {
		b.sweep(now)
	}
	if len(b.locs) >= b.cfg.MaxLocations {
		return nil
	}
	lc := &circuit{lastUsed: now}
	lc.win.width = b.host.win.width
	b.locs[key] = lc
	return lc
}

// sweep drops the circuits that a fresh one would replace without a
// difference: no call in flight, closed, and idle for a window (so the
// window is empty); or open and idle for a window past the cool-down
// (evidence too old to hold against the tenant).
func (b *breaker) sweep(now time.Time) {
	b.lastSweep = now
	for key, lc := range b.locs {
		if lc.inFlight > 0 {
			continue
		}
		idle := now.Sub(lc.lastUsed)
		if (!lc.open && idle >= b.cfg.Window) || idle >= b.cfg.Window+b.cfg.CoolDown {
			delete(b.locs, key)
		}
	}
}

// locationCount reports how many tenants' circuits are kept (for tests).
func (b *breaker) locationCount() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.locs)
}
