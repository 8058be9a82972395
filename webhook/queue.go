package webhook

import (
	"context"
	"hash/maphash"
	"sync"

	"github.com/ghl-graphql/gateway/events"
)

// queue holds accepted changes until a worker applies them. Changes are
// sharded by contact (by object, then location, when the contact is not
// known), one worker per shard, so the changes of one contact are applied
// in the order they were accepted while other contacts proceed in
// parallel. Each shard is bounded: a full shard refuses (the handler then
// answers 503 and HighLevel retries), it never drops an accepted change.
type queue struct {
	mu     sync.RWMutex // guards closed against sends into closed shards
	closed bool
	shards []chan events.Change
	seed   maphash.Seed
	wg     sync.WaitGroup
}

// newQueue starts workers shards of depth changes each, applying each
// change with apply (which must not panic and should not block long: it
// holds up its shard).
func newQueue(workers, depth int, apply func(events.Change)) *queue {
	q := &queue{shards: make([]chan events.Change, workers), seed: maphash.MakeSeed()}
	for i := range q.shards {
		ch := make(chan events.Change, depth)
		q.shards[i] = ch
		q.wg.Add(1)
		go func() {
			defer q.wg.Done()
			for c := range ch {
				apply(c)
			}
		}()
	}
	return q
}

// shardKey is what orders a change: its contact, else its object, else its
// location.
func shardKey(c events.Change) string {
	switch {
	case c.ContactID != "":
		return c.ContactID
	case c.ObjectID != "":
		return c.ObjectID
	}
	return c.LocationID
}

// enqueue queues c; it reports false when c's shard is full or the queue
// is draining.
func (q *queue) enqueue(c events.Change) bool {
	q.mu.RLock()
	defer q.mu.RUnlock()
	if q.closed {
		return false
	}
	ch := q.shards[maphash.String(q.seed, shardKey(c))%uint64(len(q.shards))]
	select {
	case ch <- c:
		return true
	default:
		return false
	}
}

// len returns how many changes wait.
func (q *queue) len() int {
	n := 0
	for _, ch := range q.shards {
		n += len(ch)
	}
	return n
}

// drain stops accepting changes and waits until every queued one has been
// applied, or ctx ends. It may be called more than once.
func (q *queue) drain(ctx context.Context) error {
	q.mu.Lock()
	if !q.closed {
		q.closed = true
		for _, ch := range q.shards {
			close(ch)
		}
	}
	q.mu.Unlock()
	done := make(chan struct{})
	go func() {
		q.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
