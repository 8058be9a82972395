package webhook

import (
	"context"
	"errors"
	"sync"
	"time"
)

// DefaultSeenMax is how many webhookIds the in-memory SeenSet holds.
// An ID is kept until its timestamp leaves the window, so the set holds
// about rate × window IDs: a million covers 3,300 webhooks/s with the
// default 5-minute window, in about 100 MB at worst.
const DefaultSeenMax = 1 << 20

// ErrSeenFull is returned by SeenSet.Add when the set cannot take another
// ID without forgetting one still inside the window; the handler answers
// 503 so that HighLevel retries later, rather than weaken replay protection.
var ErrSeenFull = errors.New("webhook: seen-set full")

// SeenSet remembers the webhookIds already accepted, so that a replay (or
// HighLevel's retry of a delivery that succeeded) has no effect. It is an
// interface so that replicas can share one (a later issue puts it in
// Redis: SET NX with an expiry, DEL).
type SeenSet interface {
	// Add records id as seen until until; added is false when it was seen
	// already (and not forgotten).
	Add(ctx context.Context, id string, until time.Time) (added bool, err error)
	// Forget removes id, for an accepted webhook that could not be queued:
	// HighLevel's retry of it must not count as a replay.
	Forget(ctx context.Context, id string) error
}

// MemorySeen is the in-process SeenSet: bounded, with expiry. Safe for
// concurrent use.
type MemorySeen struct {
	mu    sync.Mutex
	max   int
	now   func() time.Time
	until map[string]int64 // id → expiry, unix nanoseconds
	// order is a FIFO of what was added, for pruning; an item whose map
	// entry was forgotten or re-added with another expiry is skipped.
	order []seenItem
	head  int
}

type seenItem struct {
	id    string
	until int64
}

// NewMemorySeen returns a MemorySeen of at most max IDs (<= 0:
// DefaultSeenMax) reading the time from now (nil: time.Now).
func NewMemorySeen(max int, now func() time.Time) *MemorySeen {
	if max <= 0 {
		max = DefaultSeenMax
	}
	if now == nil {
		now = time.Now
	}
	return &MemorySeen{max: max, now: now, until: map[string]int64{}}
}

// Add implements SeenSet.
func (m *MemorySeen) Add(_ context.Context, id string, until time.Time) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now().UnixNano()
	if exp, ok := m.until[id]; ok && exp > now {
		return false, nil
	}
	m.prune(now)
	if len(m.until) >= m.max {
		return false, ErrSeenFull
	}
	u := until.UnixNano()
	m.until[id] = u
	m.order = append(m.order, seenItem{id, u})
	return true, nil
}

// prune drops expired IDs from the front of the FIFO, and compacts it when
// its dead prefix is large. IDs expire roughly in insertion order (their
// timestamps are recent), so the front is where the expired ones are.
func (m *MemorySeen) prune(now int64) {
	for m.head < len(m.order) {
		it := m.order[m.head]
		exp, ok := m.until[it.id]
		switch {
		case !ok || exp != it.until: // forgotten or re-added: a stale item
		case exp <= now:
			delete(m.until, it.id)
		default:
			// Stop at the first live item: what is behind it was added
			// later and expires later, but for small differences in
			// timestamps, which the next prunes catch.
			m.compact()
			return
		}
		m.order[m.head] = seenItem{}
		m.head++
	}
	m.compact()
}

func (m *MemorySeen) compact() {
	if m.head > 1024 && m.head*2 > len(m.order) {
		m.order = append(m.order[:0], m.order[m.head:]...)
		m.head = 0
	}
}

// Forget implements SeenSet.
func (m *MemorySeen) Forget(_ context.Context, id string) error {
	m.mu.Lock()
	delete(m.until, id)
	m.mu.Unlock()
	return nil
}

// Len returns how many IDs are held.
func (m *MemorySeen) Len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.until)
}
