// This file makes a credential the upstream has not confirmed lately
// (auth.Credential.Unconfirmed) pay one upstream call before any cached
// answer is served to it: with webhooks on, cache lifetimes are long, and
// a revoked token must not keep reading what was cached for it.

package loaders

import (
	"context"
	"sync"

	"github.com/ghl-graphql/gateway/upstream"
)

// confirmation is one request's state of confirming its credential: the
// first read that would be served from the cache goes upstream instead
// (the leader); concurrent reads wait for its outcome; once any call of the
// request succeeded, the cache serves as usual.
type confirmation struct {
	mu      sync.Mutex
	leading bool
	ok      bool
	err     error
	done    chan struct{} // closed when the leader's call ends
}

type confirmKey struct{}

// withConfirmation marks ctx as needing a confirming upstream call.
func withConfirmation(ctx context.Context) context.Context {
	return context.WithValue(ctx, confirmKey{}, &confirmation{done: make(chan struct{})})
}

func confirmationFrom(ctx context.Context) *confirmation {
	c, _ := ctx.Value(confirmKey{}).(*confirmation)
	return c
}

// pending reports whether cached answers must still wait for a
// confirmation; a nil confirmation never waits.
func (c *confirmation) pending() bool {
	if c == nil {
		return false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return !c.ok
}

// succeed records that an upstream call of the request succeeded.
func (c *confirmation) succeed() {
	if c == nil {
		return
	}
	c.mu.Lock()
	c.ok = true
	c.mu.Unlock()
}

// lead makes the caller the leader if there is none; otherwise it returns
// the channel that closes when the leader is done.
func (c *confirmation) lead() (bool, <-chan struct{}) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.leading {
		return false, c.done
	}
	c.leading = true
	return true, c.done
}

// finish ends the leader's call with its outcome.
func (c *confirmation) finish(err error) {
	c.mu.Lock()
	if err == nil {
		c.ok = true
	} else {
		c.err = err
	}
	c.mu.Unlock()
	close(c.done)
}

// outcome returns the leader's error, nil when it confirmed.
func (c *confirmation) outcome() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// confirmHit runs before a cached answer is served, with the request's
// fetch of it: when the credential must be confirmed first, the leader
// fetches instead of serving (done is true: return v, err), and the others
// wait for its outcome (done when it failed). done is false when the
// cached answer may be served.
func confirmHit[T any](ctx context.Context, r *Reader, req request, fetch func(context.Context) (T, *upstream.Response, error)) (v T, done bool, err error) {
	conf := confirmationFrom(ctx)
	if !conf.pending() {
		return v, false, nil
	}
	leader, wait := conf.lead()
	if leader {
		v, err = read(WithoutCache(ctx), r, req, fetch)
		conf.finish(err)
		return v, true, err
	}
	select {
	case <-wait:
	case <-ctx.Done():
		return v, true, ctx.Err()
	}
	if err := conf.outcome(); err != nil {
		return v, true, err
	}
	return v, false, nil
}
