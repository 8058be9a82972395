// This file coalesces identical concurrent upstream calls into one. Unlike
// singleflight, a shared call is cancelled when every caller waiting for it
// has gone (timed out or disconnected), so an abandoned call holds no
// connection and no slot of the location's budget.

package loaders

import (
	"context"
	"sync"
	"sync/atomic"
)

// flight is one shared call.
type flight struct {
	done    chan struct{}
	val     any
	err     error
	waiters int
	cancel  context.CancelFunc
}

// flights are the calls in progress, by key.
type flights struct {
	mu sync.Mutex
	m  map[string]*flight
	// started counts the calls run; joined the callers who waited for
	// one another caller had started (the calls coalesced away).
	started, joined atomic.Uint64
}

// do returns fn's result for key, running fn once for all callers that ask
// while it runs. fn's context keeps the first caller's values and deadline
// but not its cancellation; it is cancelled when the last waiting caller
// leaves.
func (f *flights) do(ctx context.Context, key string, fn func(context.Context) (any, error)) (any, error) {
	f.mu.Lock()
	if f.m == nil {
		f.m = map[string]*flight{}
	}
	fl, ok := f.m[key]
	if !ok {
		// The first caller's deadline stays: a budget wait must fail fast
		// with RATE_LIMITED rather than outlive the request. Callers who join
		// later have deadlines at most the flight's age later.
		callCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
		if dl, ok := ctx.Deadline(); ok {
			callCtx, cancel = context.WithDeadline(context.WithoutCancel(ctx), dl)
		}
		fl = &flight{done: make(chan struct{}), cancel: cancel}
		f.m[key] = fl
		f.started.Add(1)
		go func() {
			val, err := fn(callCtx)
			f.mu.Lock()
			fl.val, fl.err = val, err
			if f.m[key] == fl {
				delete(f.m, key)
			}
			f.mu.Unlock()
			cancel()
			close(fl.done)
		}()
	}
	if ok {
		f.joined.Add(1)
	}
	fl.waiters++
	f.mu.Unlock()

	select {
	case <-fl.done:
		return fl.val, fl.err
	case <-ctx.Done():
		f.mu.Lock()
		fl.waiters--
		if fl.waiters == 0 {
			// Nobody wants the answer any more: stop the call, and let the
			// next caller start afresh rather than join a cancelled one.
			fl.cancel()
			if f.m[key] == fl {
				delete(f.m, key)
			}
		}
		f.mu.Unlock()
		return nil, ctx.Err()
	}
}
