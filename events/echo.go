// This file suppresses the one duplicate the gateway itself causes: a
// write made through the gateway is published by the mutation at once
// (resolvers/publish.go) and then again when HighLevel's webhook of the
// same write arrives (server/webhooks.go). Subscribers got the same event
// twice.

package events

import (
	"context"
	"sync"
	"time"
)

// DefaultEchoWindow is how long a mutation's change and the webhook of the
// same change may be apart and still count as one: HighLevel delivers
// webhooks within seconds.
const DefaultEchoWindow = 10 * time.Second

// echoMax bounds the changes an EchoFilter remembers; past it changes pass
// unrecorded (a duplicate, never a loss).
const echoMax = 1 << 16

// EchoFilter pairs changes told twice: a change without a webhookId (the
// gateway's own mutation) and one with a webhookId (HighLevel's webhook)
// with the same type, object, location, contact and object ID, within
// the window, in either order: the second of the pair is suppressed. Each
// change pairs with one at most, so two writes to a contact and their two
// webhooks deliver two changes, not one. The risk it takes: when HighLevel
// sends no webhook for the gateway's write (it is not promised) and an
// outside change of the same kind to the same object comes within the
// window, that outside change is taken for the echo. Subscribers then
// resolve the object at the mutation's event, before the outside change;
// the window is short for that reason. Safe for concurrent use.
type EchoFilter struct {
	mu      sync.Mutex
	window  time.Duration
	now     func() time.Time
	pending map[echoKey]*echoEntry
	order   []echoItem // FIFO of recordings, for pruning
	head    int
}

type echoKey struct {
	typ                        string
	object                     Object
	kind                       Kind
	location, contact, childID string
}

// echoEntry counts the unpaired changes of one key by source.
type echoEntry struct {
	mutations, webhooks int
	at                  int64 // last recording, unix nanoseconds
}

type echoItem struct {
	key echoKey
	at  int64
}

// NewEchoFilter returns an EchoFilter of window (<= 0: DefaultEchoWindow)
// reading the time from now (nil: time.Now).
func NewEchoFilter(window time.Duration, now func() time.Time) *EchoFilter {
	if window <= 0 {
		window = DefaultEchoWindow
	}
	if now == nil {
		now = time.Now
	}
	return &EchoFilter{window: window, now: now, pending: map[echoKey]*echoEntry{}}
}

// Pass reports whether c should be delivered: false when it is the second
// telling of a change already delivered.
func (f *EchoFilter) Pass(c Change) bool {
	k := echoKey{typ: c.Type, object: c.Object, kind: c.Kind, location: c.LocationID, contact: c.ContactID, childID: c.ObjectID}
	webhook := c.WebhookID != ""
	now := f.now().UnixNano()
	f.mu.Lock()
	defer f.mu.Unlock()
	f.prune(now)
	e := f.pending[k]
	if e != nil && now-e.at > int64(f.window) {
		delete(f.pending, k)
		e = nil
	}
	if e != nil {
		other := &e.mutations
		if !webhook {
			other = &e.webhooks
		}
		if *other > 0 {
			*other--
			if e.mutations == 0 && e.webhooks == 0 {
				delete(f.pending, k)
			}
			return false
		}
	}
	if e == nil {
		if len(f.pending) >= echoMax {
			return true
		}
		e = &echoEntry{}
		f.pending[k] = e
	}
	if webhook {
		e.webhooks++
	} else {
		e.mutations++
	}
	e.at = now
	f.order = append(f.order, echoItem{k, now})
	return true
}

// prune forgets the entries whose last recording left the window.
func (f *EchoFilter) prune(now int64) {
	for f.head < len(f.order) {
		it := f.order[f.head]
		if now-it.at <= int64(f.window) {
			break
		}
		if e := f.pending[it.key]; e != nil && e.at == it.at {
			delete(f.pending, it.key)
		}
		f.order[f.head] = echoItem{}
		f.head++
	}
	if f.head > 1024 && f.head*2 > len(f.order) {
		f.order = append(f.order[:0], f.order[f.head:]...)
		f.head = 0
	}
}

// Len is how many keys wait for their echo.
func (f *EchoFilter) Len() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.pending)
}

// WithoutEchoes returns a Bus that publishes to bus what f lets pass: for
// one process without Redis, where every publish happens in the process
// (with Redis, the Redis bus filters where it delivers, so that a
// mutation on one replica pairs with its webhook on another).
func WithoutEchoes(bus Bus, f *EchoFilter) Bus { return echoless{bus, f} }

type echoless struct {
	Bus
	f *EchoFilter
}

func (e echoless) Publish(ctx context.Context, c Change) error {
	if c.LocationID == "" {
		return ErrNoLocation
	}
	if !e.f.Pass(c) {
		return nil
	}
	return e.Bus.Publish(ctx, c)
}

// Closed reports whether the bus under it was closed (a subscriber told of
// a closed channel can tell a shutdown from being dropped).
func (e echoless) Closed() bool {
	cl, ok := e.Bus.(interface{ Closed() bool })
	return ok && cl.Closed()
}
