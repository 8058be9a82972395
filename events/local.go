package events

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
)

// ErrNoLocation refuses a change without a LocationID: every subscriber is
// bound to one location, so such a change could reach no one, and
// delivering it to all would leak it across locations.
var ErrNoLocation = errors.New("events: a change must name its location")

// ErrClosed is returned by Publish on a closed Local.
var ErrClosed = errors.New("events: bus closed")

// Local is the in-process Bus: changes published in this process reach the
// subscribers of this process. Publish holds a read lock and never waits:
// it offers the change to each matching subscriber's buffered channel, and
// a subscriber whose buffer is full is dropped (its channel closed), so a
// slow subscriber costs the publisher one failed send and the others
// nothing. Subscribing and dropping take the write lock briefly.
type Local struct {
	mu     sync.RWMutex
	subs   map[string]map[*subscriber]struct{} // location → subscribers
	closed bool

	published, delivered, dropped atomic.Uint64
	count                         atomic.Int64
}

// subscriber is one Subscribe call. ch is closed exactly once, under the
// write lock, by whoever removes the subscriber from subs first.
type subscriber struct {
	loc    string
	filter func(Change) bool
	ch     chan Change
	stop   func() bool // stops the context watch
}

// NewLocal returns an empty in-process bus.
func NewLocal() *Local {
	return &Local{subs: map[string]map[*subscriber]struct{}{}}
}

var _ Bus = (*Local)(nil)

// Publish offers c to every subscriber of c.LocationID whose filter
// matches. It does not wait for anyone: a subscriber whose buffer is full
// is dropped. Filters run under the bus's read lock and must be cheap and
// must not call the bus.
func (b *Local) Publish(ctx context.Context, c Change) error {
	if c.LocationID == "" {
		return ErrNoLocation
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	var slow []*subscriber
	b.mu.RLock()
	if b.closed {
		b.mu.RUnlock()
		return ErrClosed
	}
	b.published.Add(1)
	for s := range b.subs[c.LocationID] {
		if s.filter != nil && !s.filter(c) {
			continue
		}
		select {
		case s.ch <- c:
			b.delivered.Add(1)
		default:
			slow = append(slow, s)
		}
	}
	b.mu.RUnlock()
	for _, s := range slow {
		if b.remove(s) {
			b.dropped.Add(1)
		}
	}
	return nil
}

// Subscribe returns a channel of the changes of locationID that filter (nil
// matches all) lets through, buffered to hold buffer changes (at least 1),
// and a function that ends the subscription. The channel is closed when
// the subscription ends: cancel was called, ctx ended, the subscriber fell
// more than buffer changes behind, or the bus was closed. A subscription
// holds no goroutine.
func (b *Local) Subscribe(ctx context.Context, locationID string, filter func(Change) bool, buffer int) (<-chan Change, func()) {
	if buffer < 1 {
		buffer = 1
	}
	s := &subscriber{loc: locationID, filter: filter, ch: make(chan Change, buffer)}
	b.mu.Lock()
	if b.closed || ctx.Err() != nil {
		b.mu.Unlock()
		close(s.ch)
		return s.ch, func() {}
	}
	set := b.subs[locationID]
	if set == nil {
		set = map[*subscriber]struct{}{}
		b.subs[locationID] = set
	}
	set[s] = struct{}{}
	b.count.Add(1)
	// Set under the lock, so that remove (which also locks) sees it.
	s.stop = context.AfterFunc(ctx, func() { b.remove(s) })
	b.mu.Unlock()
	return s.ch, func() { b.remove(s) }
}

// remove ends s if it is still subscribed, reporting whether it was.
func (b *Local) remove(s *subscriber) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	set := b.subs[s.loc]
	if _, ok := set[s]; !ok {
		return false
	}
	delete(set, s)
	if len(set) == 0 {
		delete(b.subs, s.loc)
	}
	if s.stop != nil {
		s.stop()
	}
	close(s.ch)
	b.count.Add(-1)
	return true
}

// Close ends every subscription and refuses further publishing. It is for
// shutdown; subscribing afterwards returns a closed channel.
func (b *Local) Close() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return
	}
	b.closed = true
	for loc, set := range b.subs {
		for s := range set {
			if s.stop != nil {
				s.stop()
			}
			close(s.ch)
			b.count.Add(-1)
		}
		delete(b.subs, loc)
	}
}

// Closed reports whether Close was called: a subscriber whose channel was
// closed can tell a shutdown from being dropped.
func (b *Local) Closed() bool {
	b.mu.RLock()
	defer b.mu.RUnlock()
	return b.closed
}

// Stats are a Local's counters since it was made.
type Stats struct {
	// Subscribers is how many subscriptions are open now.
	Subscribers int64
	// Published is how many changes were published; Delivered how many
	// copies reached a subscriber's buffer; Dropped how many subscribers
	// were dropped for falling behind.
	Published, Delivered, Dropped uint64
}

// Stats returns the bus's counters.
func (b *Local) Stats() Stats {
	return Stats{Subscribers: b.count.Load(), Published: b.published.Load(),
		Delivered: b.delivered.Load(), Dropped: b.dropped.Load()}
}
