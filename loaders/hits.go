// This file counts, per request, the answers served from the cache, for
// the request's access line (issue 15).

package loaders

import (
	"context"
	"sync/atomic"
)

type hitCounterKey struct{}

// WithHitCounter returns ctx whose reads served from the cache (fresh,
// vouched for, or stale) add one to n each. A read is counted, not an
// answer: an answer a resolver prefetched and its field then reads again
// counts twice when the prefetch was first.
func WithHitCounter(ctx context.Context, n *atomic.Int64) context.Context {
	return context.WithValue(ctx, hitCounterKey{}, n)
}

// countHit counts a cache hit of ctx's request, if it counts them.
func countHit(ctx context.Context) {
	if n, ok := ctx.Value(hitCounterKey{}).(*atomic.Int64); ok {
		n.Add(1)
	}
}
