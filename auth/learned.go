package auth

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"

	"github.com/ghl-graphql/gateway/upstream"
)

// DefaultLearnedSize is how many tokens a Learned remembers by default.
const DefaultLearnedSize = 1 << 16

// refusedWriteTTL is how long a token the upstream refused a write stays
// refused without asking: an integration's scopes can be edited, so the
// gateway asks again now and then rather than forever.
const refusedWriteTTL = 5 * time.Minute

// ErrOtherLocation refuses a request whose X-Location-Id header names
// another location than the one the upstream's answers showed its token to
// belong to.
var ErrOtherLocation = errors.New("forbidden: the X-Location-Id header names another location than the token's")

// DefaultRejectedBackoff is how long a token the upstream rejected (401,
// bad credential) is refused at once, without a call, by default.
const DefaultRejectedBackoff = time.Minute

// Learned remembers what the upstream's answers revealed about pass-through
// tokens: for a token that says nothing about itself (a Private Integration
// Token), the location its answers belong to and whether it was refused
// contacts.write; for any token, whether the upstream accepted it for its
// location (which confirms the location, see Credential.BudgetKey) or
// rejected it the last time. Observe is the upstream.CallObserver that
// learns; Apply puts what was learned into a request's credential; Gate
// refuses a token rejected moments ago. It is bounded: a forgotten token is
// learned again from its next answer. Safe for concurrent use.
type Learned struct {
	// mu serialises read-modify-write of facts (the cache locks each
	// operation, not the sequence).
	mu        sync.Mutex
	facts     *lru.Cache[string, tokenFacts]
	now       func() time.Time
	backoff   time.Duration
	onConfirm func(credentialID, location string)
	// confirmEvery, when positive, is how long an accepted token counts as
	// recently accepted (see SetConfirmInterval).
	confirmEvery time.Duration
	// shared, when set, is the second level other replicas also read and
	// write (SetShared).
	shared SharedFacts
}

// tokenFacts is what is known about one token.
type tokenFacts struct {
	location string
	// confirmed: the upstream accepted the token for location (a 2xx whose
	// data named it, or a 2xx to a HighLevel JWT whose claims name it).
	confirmed         bool
	rejected          bool
	rejectedUntil     time.Time
	writeRefusedUntil time.Time
	// acceptedAt is when the upstream last accepted the token (only kept
	// with a confirmation interval).
	acceptedAt time.Time
}

// LearnedConfig configures a Learned. Zero fields take the defaults.
type LearnedConfig struct {
	// Size is how many tokens are remembered (default DefaultLearnedSize).
	Size int
	// RejectedBackoff is how long a token the upstream rejected is refused
	// at once by Gate (default DefaultRejectedBackoff).
	RejectedBackoff time.Duration
	// Now is the clock (default time.Now).
	Now func() time.Time
	// OnConfirm, when set, is told (outside any lock) when an answer first
	// confirms a token's location, so that the calls it made meanwhile can
	// be counted against the location's rate budget.
	OnConfirm func(credentialID, location string)
}

// NewLearned returns a Learned that remembers at most size tokens; size
// <= 0 means DefaultLearnedSize.
func NewLearned(size int) *Learned {
	return NewLearnedConfig(LearnedConfig{Size: size})
}

// NewLearnedConfig returns a Learned configured by cfg.
func NewLearnedConfig(cfg LearnedConfig) *Learned {
	if cfg.Size <= 0 {
		cfg.Size = DefaultLearnedSize
	}
	if cfg.RejectedBackoff <= 0 {
		cfg.RejectedBackoff = DefaultRejectedBackoff
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	facts, _ := lru.New[string, tokenFacts](cfg.Size)
	return &Learned{facts: facts, now: cfg.Now, backoff: cfg.RejectedBackoff, onConfirm: cfg.OnConfirm}
}

// SetConfirmInterval makes Apply mark a credential Unconfirmed when the
// upstream has not accepted its token for d (or never, as far as l
// remembers); d <= 0 switches it off. Call it before l is used. The gateway
// sets it when webhooks make cache lifetimes long.
func (l *Learned) SetConfirmInterval(d time.Duration) { l.confirmEvery = d }

// SetClock replaces l's clock, for tests.
func (l *Learned) SetClock(now func() time.Time) { l.now = now }

// Apply returns c with what was learned about its token: Rejected, whether
// its location is confirmed, Unconfirmed (not accepted recently, with a
// confirmation interval), and for an opaque token its location and a
// refused write permission. It returns ErrOtherLocation when c claims
// (through X-Location-Id) another location than the one its token was seen
// to belong to.
func (l *Learned) Apply(c Credential) (Credential, error) {
	f, ok := l.facts.Get(c.ID)
	if !ok && l.shared != nil && c.ID != "" {
		f, ok = l.loadShared(c.ID)
	}
	if l.confirmEvery > 0 && (!ok || f.acceptedAt.IsZero() || l.now().Sub(f.acceptedAt) >= l.confirmEvery) {
		// A forgotten token counts as never confirmed: fail closed.
		c.Unconfirmed = true
	}
	if !ok {
		return c, nil
	}
	c.Rejected = f.rejected
	if !c.opaque {
		c.confirmed = f.confirmed && f.location == c.LocationID
		return c, nil
	}
	if f.location != "" {
		if c.LocationID != "" && c.LocationID != f.location {
			return c, ErrOtherLocation
		}
		c.LocationID = f.location
		c.confirmed = f.confirmed
	}
	if l.now().Before(f.writeRefusedUntil) {
		c.writeRefused = true
	}
	return c, nil
}

// Gate is the upstream.CallGate of pass-through mode: a call with a token
// the upstream rejected less than RejectedBackoff ago is refused at once
// (UNAUTHENTICATED), without reaching the upstream or any budget. After
// that, the next call asks the upstream again.
func (l *Learned) Gate(ctx context.Context) *upstream.Error {
	c, ok := FromContext(ctx)
	if !ok || c.ID == "" {
		return nil
	}
	f, ok := l.facts.Peek(c.ID)
	if !ok || !f.rejected {
		return nil
	}
	left := f.rejectedUntil.Sub(l.now())
	if left <= 0 {
		return nil
	}
	secs := int(math.Ceil(left.Seconds()))
	return &upstream.Error{
		Err:        fmt.Errorf("%w: the token was rejected by HighLevel moments ago", upstream.ErrUnauthorized),
		Messages:   []string{fmt.Sprintf("HighLevel rejected this token; the gateway refuses it without asking again for %d s", secs)},
		RetryAfter: left,
	}
}

// Observe learns from how a call made with the context's credential ended.
// A success clears a rejection, confirms the token's location (a JWT's
// claims, now that the upstream accepted its signature; an opaque token's
// first location its answers name) and that it may write; a 401 for a bad
// credential marks the token rejected for RejectedBackoff and unconfirmed;
// a write refused for a missing scope marks an opaque token as unable to
// write, for a while.
func (l *Learned) Observe(ctx context.Context, call upstream.Call) {
	c, ok := FromContext(ctx)
	if !ok || c.ID == "" {
		return
	}
	switch e := call.Err; {
	case e == nil:
		loc := c.LocationID // a JWT's claims
		if c.opaque {
			loc = ""
			if call.Response != nil {
				loc = call.Response.LocationID
			}
		}
		now := l.now()
		f, changed := l.update(ctx, c.ID, func(f *tokenFacts) {
			// Renewed a quarter of the interval at most once, so that most
			// successes change nothing and take no lock.
			if l.confirmEvery > 0 && now.Sub(f.acceptedAt) >= l.confirmEvery/4 {
				f.acceptedAt = now
			}
			f.rejected, f.rejectedUntil = false, time.Time{}
			if f.location == "" {
				f.location = loc
			}
			if f.location != "" && (c.opaque || f.location == loc) {
				f.confirmed = true
			}
			if call.Op.Write {
				f.writeRefusedUntil = time.Time{}
			}
		})
		if changed && f.confirmed && l.onConfirm != nil {
			l.onConfirm(c.ID, f.location)
		}
	case e.StatusCode == 401 && errors.Is(e, upstream.ErrUnauthorized):
		until := l.now().Add(l.backoff)
		l.update(ctx, c.ID, func(f *tokenFacts) {
			f.rejected, f.rejectedUntil, f.confirmed, f.acceptedAt = true, until, false, time.Time{}
		})
	case c.opaque && call.Op.Write && e.MissingScope():
		until := l.now().Add(refusedWriteTTL)
		l.update(ctx, c.ID, func(f *tokenFacts) { f.writeRefusedUntil = until })
	}
}

// update applies change (which must only write to its argument) to id's
// facts, storing them only when they changed; it returns the facts and
// whether the change confirmed the token's location. The common case, a
// success that teaches nothing new, is settled without taking l.mu, since
// Observe runs on every upstream call. What other replicas share is
// written through, outside the lock, when it changed.
func (l *Learned) update(ctx context.Context, id string, change func(*tokenFacts)) (tokenFacts, bool) {
	if f, _ := l.facts.Peek(id); !changes(f, change) {
		return f, false
	}
	l.mu.Lock()
	// Again under the lock: another call may have stored facts meanwhile.
	f, _ := l.facts.Peek(id)
	if !changes(f, change) {
		l.mu.Unlock()
		return f, false
	}
	was := f
	change(&f)
	l.facts.Add(id, f)
	l.mu.Unlock()
	if l.shared != nil && f.shared() != was.shared() {
		l.shared.Store(context.WithoutCancel(ctx), id, f.shared())
	}
	return f, f.confirmed && !was.confirmed
}

// changes reports whether change would alter f.
func changes(f tokenFacts, change func(*tokenFacts)) bool {
	g := f
	change(&g)
	return g != f
}

// SharedFacts is a second level of what Learned learns, shared by the
// replicas (issue 13): a token confirmed on one replica is confirmed on
// the others without each spending its own unconfirmed calls. Learned
// reads it when a token is not in its own memory and writes it when what
// it shares changed. Implementations bound each call by a short timeout
// and treat a failure as a miss: the replica then learns by itself.
type SharedFacts interface {
	// Load returns what some replica learned about the token whose
	// credential ID is id.
	Load(ctx context.Context, id string) (SharedFact, bool)
	// Store records f for id.
	Store(ctx context.Context, id string, f SharedFact)
}

// SharedFact is what replicas share about one token: the location the
// upstream showed it belongs to and whether that is confirmed, when the
// upstream last accepted it (the confirmation interval), and until when
// a write is known to be refused. A rejection is not shared: it is a
// short backoff each replica keeps for itself.
type SharedFact struct {
	Location          string    `json:"l,omitempty"`
	Confirmed         bool      `json:"c,omitempty"`
	AcceptedAt        time.Time `json:"a,omitzero"`
	WriteRefusedUntil time.Time `json:"w,omitzero"`
}

// SetShared makes l read through and write through s. Call it before l is
// used.
func (l *Learned) SetShared(s SharedFacts) { l.shared = s }

// shared is the part of f other replicas get.
func (f tokenFacts) shared() SharedFact {
	return SharedFact{Location: f.location, Confirmed: f.confirmed, AcceptedAt: f.acceptedAt, WriteRefusedUntil: f.writeRefusedUntil}
}

// loadShared reads id's facts from the second level and keeps them in
// memory (unless a call stored facts of its own meanwhile, which win).
func (l *Learned) loadShared(id string) (tokenFacts, bool) {
	sf, ok := l.shared.Load(context.Background(), id)
	if !ok {
		return tokenFacts{}, false
	}
	f := tokenFacts{location: sf.Location, confirmed: sf.Confirmed, acceptedAt: sf.AcceptedAt, writeRefusedUntil: sf.WriteRefusedUntil}
	l.mu.Lock()
	defer l.mu.Unlock()
	if mine, ok := l.facts.Peek(id); ok {
		return mine, true
	}
	l.facts.Add(id, f)
	return f, true
}
