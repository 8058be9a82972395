package auth

import (
	"context"
	"errors"
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

// Learned remembers what the upstream's answers revealed about pass-through
// tokens: for a token that says nothing about itself (a Private Integration
// Token), the location its answers belong to and whether it was refused
// contacts.write; for any token, whether the upstream rejected it the last
// time. Observe is the upstream.CallObserver that learns; Apply puts what
// was learned into a request's credential. It is bounded: a forgotten token
// is learned again from its next answer. Safe for concurrent use.
type Learned struct {
	// mu serialises read-modify-write of facts (the cache locks each
	// operation, not the sequence).
	mu    sync.Mutex
	facts *lru.Cache[string, tokenFacts]
	now   func() time.Time
	// confirmEvery, when positive, is how long an accepted token counts as
	// confirmed (see SetConfirmInterval).
	confirmEvery time.Duration
}

// tokenFacts is what is known about one token.
type tokenFacts struct {
	location          string
	rejected          bool
	writeRefusedUntil time.Time
	// confirmed is when the upstream last accepted the token (only kept
	// with a confirmation interval).
	confirmed time.Time
}

// NewLearned returns a Learned that remembers at most size tokens; size
// <= 0 means DefaultLearnedSize.
func NewLearned(size int) *Learned {
	if size <= 0 {
		size = DefaultLearnedSize
	}
	facts, _ := lru.New[string, tokenFacts](size)
	return &Learned{facts: facts, now: time.Now}
}

// SetConfirmInterval makes Apply mark a credential Unconfirmed when the
// upstream has not accepted its token for d (or never, as far as l
// remembers); d <= 0 switches it off. Call it before l is used. The gateway
// sets it when webhooks make cache lifetimes long.
func (l *Learned) SetConfirmInterval(d time.Duration) { l.confirmEvery = d }

// SetClock replaces l's clock, for tests.
func (l *Learned) SetClock(now func() time.Time) { l.now = now }

// Apply returns c with what was learned about its token: Rejected,
// Unconfirmed, and for an opaque token its location and a refused write
// permission. It returns ErrOtherLocation when c claims (through
// X-Location-Id) another location than the one its token was seen to
// belong to.
func (l *Learned) Apply(c Credential) (Credential, error) {
	f, ok := l.facts.Get(c.ID)
	if l.confirmEvery > 0 && (!ok || f.confirmed.IsZero() || l.now().Sub(f.confirmed) >= l.confirmEvery) {
		// A forgotten token counts as never confirmed: fail closed.
		c.Unconfirmed = true
	}
	if !ok {
		return c, nil
	}
	c.Rejected = f.rejected
	if !c.opaque {
		return c, nil
	}
	if f.location != "" {
		if c.LocationID != "" && c.LocationID != f.location {
			return c, ErrOtherLocation
		}
		c.LocationID = f.location
	}
	if l.now().Before(f.writeRefusedUntil) {
		c.writeRefused = true
	}
	return c, nil
}

// Observe learns from how a call made with the context's credential ended.
// A success clears a rejection, and teaches an opaque token's location (the
// first one its answers name) and that it may write; a 401 for a bad
// credential marks the token rejected; a write refused for a missing scope
// marks an opaque token as unable to write, for a while.
func (l *Learned) Observe(ctx context.Context, call upstream.Call) {
	c, ok := FromContext(ctx)
	if !ok || c.ID == "" {
		return
	}
	switch e := call.Err; {
	case e == nil:
		var loc string
		if c.opaque && call.Response != nil {
			loc = call.Response.LocationID
		}
		now := l.now()
		l.update(c.ID, func(f *tokenFacts) {
			// Renewed a quarter of the interval at most once, so that most
			// successes change nothing and take no lock.
			if l.confirmEvery > 0 && now.Sub(f.confirmed) >= l.confirmEvery/4 {
				f.confirmed = now
			}
			f.rejected = false
			if f.location == "" {
				f.location = loc
			}
			if call.Op.Write {
				f.writeRefusedUntil = time.Time{}
			}
		})
	case e.StatusCode == 401 && errors.Is(e, upstream.ErrUnauthorized):
		l.update(c.ID, func(f *tokenFacts) { f.rejected, f.confirmed = true, time.Time{} })
	case c.opaque && call.Op.Write && e.MissingScope():
		until := l.now().Add(refusedWriteTTL)
		l.update(c.ID, func(f *tokenFacts) { f.writeRefusedUntil = until })
	}
}

// update applies change (which must only write to its argument) to id's
// facts, storing them only when they changed. The common case, a success
// that teaches nothing new, is settled without taking l.mu, since Observe
// runs on every upstream call.
func (l *Learned) update(id string, change func(*tokenFacts)) {
	if f, _ := l.facts.Peek(id); !changes(f, change) {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	// Again under the lock: another call may have stored facts meanwhile.
	if f, _ := l.facts.Peek(id); changes(f, change) {
		change(&f)
		l.facts.Add(id, f)
	}
}

// changes reports whether change would alter f.
func changes(f tokenFacts, change func(*tokenFacts)) bool {
	g := f
	change(&g)
	return g != f
}
