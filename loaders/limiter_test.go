// Tests of the bound on concurrent upstream calls per budget key: keys are
// independent (an unconfirmed credential's key takes no location's slots),
// a full key makes callers wait until a slot frees or their context ends,
// and a key nobody holds or waits for takes no memory.

package loaders

import (
	"context"
	"errors"
	"testing"

	"github.com/ghl-graphql/gateway/upstream"
)

func TestLocationLimiter(t *testing.T) {
	l := &locationLimiter{n: 2, sems: map[string]*keySem{}}
	ctx := context.Background()
	cred := upstream.CredentialBudgetKey("attacker")
	var releases []func()
	for _, key := range []string{"loc", "loc", cred, cred} {
		rel, err := l.acquire(ctx, key)
		if err != nil {
			t.Fatalf("acquire %s: %v", key, err)
		}
		releases = append(releases, rel)
	}
	if got := l.keys(); got != 2 {
		t.Fatalf("%d keys, want 2", got)
	}
	// Both keys are full: a third caller of loc waits until its context ends.
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := l.acquire(cancelled, "loc"); !errors.Is(err, context.Canceled) {
		t.Fatalf("acquire on a full key = %v, want context.Canceled", err)
	}
	// A freed slot is taken by a waiter.
	got := make(chan error, 1)
	go func() {
		rel, err := l.acquire(ctx, "loc")
		if err == nil {
			rel()
		}
		got <- err
	}()
	releases[0]()
	if err := <-got; err != nil {
		t.Fatalf("waiter: %v", err)
	}
	for _, rel := range releases[1:] {
		rel()
	}
	if got := l.keys(); got != 0 {
		t.Errorf("%d keys after every slot was released, want 0", got)
	}
}
