// Tests of storing partial answers whose only errors are RATE_LIMITED in
// the whole-response cache (issue 16): briefly, never past the refusal's
// retryAfter, and evicted by writes like any stored answer.

package server_test

import (
	"context"
	"reflect"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ghl-graphql/gateway/internal/fakeclock"
	"github.com/ghl-graphql/gateway/loaders"
	"github.com/ghl-graphql/gateway/server"
	"github.com/ghl-graphql/gateway/upstream"
)

// countingBudget counts the calls that asked the budget for a slot: a
// stored answer asks for none.
type countingBudget struct {
	*upstream.LocalBudget
	waits atomic.Int64
}

func (b *countingBudget) Wait(ctx context.Context, key string) error {
	b.waits.Add(1)
	return b.LocalBudget.Wait(ctx, key)
}

func TestPartialAnswersStoredBriefly(t *testing.T) {
	clock := fakeclock.New(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
	// Three calls per hour, completing calls (a contact's lists) at most
	// one of them: after two contact reads, lists are refused but a write
	// still has its slot.
	budget := &countingBudget{LocalBudget: upstream.NewLocalBudget(upstream.BudgetConfig{Max: 3, Interval: time.Hour,
		CompletingShare: 0.5, Now: clock.Now})}
	e := newE2E(t, withFullListings(), withClientOptions(upstream.WithRateBudget(budget)), withServer(func(c *server.Config) {
		c.Now = clock.Now
		c.CacheTTLs = loaders.TTLs{Contact: time.Minute, Lists: time.Minute, Search: time.Minute}
		c.PartialCacheTTL = time.Second
	}))
	ids := e.sb.ContactIDs(e.locA)
	id := ids[0]
	vars := map[string]any{"id": id}
	e.gql(e.token, `query($id: ID!) { contact(id: $id) { id name } }`, vars).ok(t)
	e.gql(e.token, `query($id: ID!) { contact(id: $id) { id name } }`, map[string]any{"id": ids[1]}).ok(t)

	partial := func(what string) int64 {
		t.Helper()
		before := budget.waits.Load()
		r := e.gql(e.token, staleSnapshot, vars)
		if got := errorsByPath(r); !reflect.DeepEqual(got, map[string]string{"contact.tasks": "RATE_LIMITED", "contact.notes": "RATE_LIMITED"}) {
			t.Fatalf("%s: errors %v; body %s", what, got, r.Body)
		}
		if r.get("contact.name") == nil {
			t.Fatalf("%s: no contact; body %s", what, r.Body)
		}
		return budget.waits.Load() - before
	}
	if n := partial("first"); n != 2 {
		t.Fatalf("the first partial answer asked the budget %d times, want 2 (tasks, notes)", n)
	}
	if n := partial("again"); n != 0 {
		t.Errorf("the same query at once asked the budget %d times, want 0 (stored)", n)
	}
	clock.Advance(999 * time.Millisecond)
	if n := partial("within the bound"); n != 0 {
		t.Errorf("within -cache-partial-ttl the query asked the budget %d times, want 0", n)
	}
	clock.Advance(time.Millisecond)
	if n := partial("past the bound"); n != 2 {
		t.Errorf("past -cache-partial-ttl the query asked the budget %d times, want 2 (executed again)", n)
	}
	// A write evicts the stored partial answer with the contact.
	e.gql(e.token, `mutation($id: ID!) { updateContact(id: $id, input: {firstName: "Zed"}) { contact { id } } }`, vars).ok(t)
	r := e.gql(e.token, staleSnapshot, vars)
	if got := errorsByPath(r); got["contact"] != "RATE_LIMITED" {
		t.Errorf("after the write: errors %v, want the contact RATE_LIMITED (evicted, budget spent); body %s", got, r.Body)
	}

	t.Run("off: every partial answer is executed", func(t *testing.T) {
		clock := fakeclock.New(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
		b := &countingBudget{LocalBudget: upstream.NewLocalBudget(upstream.BudgetConfig{Max: 3, Interval: time.Hour,
			CompletingShare: 0.5, Now: clock.Now})}
		e := newE2E(t, withFullListings(), withClientOptions(upstream.WithRateBudget(b)), withServer(func(c *server.Config) { c.Now = clock.Now }))
		ids := e.sb.ContactIDs(e.locA)
		vars := map[string]any{"id": ids[0]}
		e.gql(e.token, `query($id: ID!) { contact(id: $id) { id name } }`, vars).ok(t)
		e.gql(e.token, `query($id: ID!) { contact(id: $id) { id name } }`, map[string]any{"id": ids[1]}).ok(t)
		for i := range 2 {
			before := b.waits.Load()
			r := e.gql(e.token, staleSnapshot, vars)
			if len(r.Errors) == 0 || b.waits.Load()-before != 2 {
				t.Errorf("answer %d: %d budget asks, errors %v; want 2 and RATE_LIMITED lists", i, b.waits.Load()-before, errorsByPath(r))
			}
		}
	})

	t.Run("never past the refusal's retryAfter", func(t *testing.T) {
		clock := fakeclock.New(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
		b := &countingBudget{LocalBudget: upstream.NewLocalBudget(upstream.BudgetConfig{Max: 3, Interval: 2 * time.Second,
			CompletingShare: 0.5, Now: clock.Now})}
		e := newE2E(t, withFullListings(), withClientOptions(upstream.WithRateBudget(b)), withServer(func(c *server.Config) {
			c.Now = clock.Now
			c.CacheTTLs = loaders.TTLs{Contact: time.Minute, Lists: time.Minute, Search: time.Minute}
			c.PartialCacheTTL = time.Hour
			c.BudgetMaxWait = time.Millisecond // refused at once, not waited for on the fake clock
		}))
		ids := e.sb.ContactIDs(e.locA)
		vars := map[string]any{"id": ids[0]}
		e.gql(e.token, `query($id: ID!) { contact(id: $id) { id name } }`, vars).ok(t)
		e.gql(e.token, `query($id: ID!) { contact(id: $id) { id name } }`, map[string]any{"id": ids[1]}).ok(t)
		clock.Advance(1500 * time.Millisecond)
		// The lists are refused until the first read leaves the window, in 0.5 s.
		if r := e.gql(e.token, staleSnapshot, vars); !reflect.DeepEqual(errorsByPath(r), map[string]string{"contact.tasks": "RATE_LIMITED", "contact.notes": "RATE_LIMITED"}) {
			t.Fatalf("want the lists refused; body %s", r.Body)
		}
		clock.Advance(400 * time.Millisecond)
		before := b.waits.Load()
		if r := e.gql(e.token, staleSnapshot, vars); len(r.Errors) != 2 || b.waits.Load() != before {
			t.Errorf("before the retryAfter: %d budget asks, body %s; want the stored answer", b.waits.Load()-before, r.Body)
		}
		clock.Advance(200 * time.Millisecond)
		if r := e.gql(e.token, staleSnapshot, vars); b.waits.Load() == before {
			t.Errorf("past the retryAfter the stored partial answer was served: %s", r.Body)
		}
	})
}

// A contact the gateway never read is answered from the location's listing
// once a miss has primed it, with the budget spent: data where the first
// round answered RATE_LIMITED.
func TestPrimedContactAnsweredWithTheBudgetSpent(t *testing.T) {
	clock := fakeclock.New(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
	budget := upstream.NewLocalBudget(upstream.BudgetConfig{Max: 3, Interval: time.Hour, Now: clock.Now})
	e := newE2E(t, withFullListings(), withClientOptions(upstream.WithRateBudget(budget)), withServer(func(c *server.Config) {
		c.Now = clock.Now
		c.CacheTTLs = loaders.TTLs{Contact: time.Minute, Lists: time.Minute, Search: time.Minute}
		c.Prime = loaders.PrimeConfig{Contacts: 100, PageSize: 100, WhenRemaining: 1}
	}))
	ids := e.sb.ContactIDs(e.locA)
	one := `query($id: ID!) { contact(id: $id) { id name email } }`
	// The first answer confirms the token's location; the second read's
	// miss then primes it: a listing page beside the read.
	e.gql(e.token, one, map[string]any{"id": ids[0]}).ok(t)
	e.gql(e.token, one, map[string]any{"id": ids[1]}).ok(t)
	deadline := time.Now().Add(10 * time.Second)
	for e.sb.TotalCalls() < 3 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if n := e.sb.TotalCalls(); n != 3 {
		t.Fatalf("%d upstream calls, want 3 (two reads and one listing page)", n)
	}
	// The page's contacts are stored just after its answer: a read before
	// that is refused (no slot, no call) and tried again.
	var r response
	for {
		r = e.gql(e.token, one, map[string]any{"id": ids[7]})
		if len(r.Errors) == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	r.ok(t)
	if r.get("contact.id") != ids[7] || r.get("contact.name") == nil || e.sb.TotalCalls() != 3 {
		t.Errorf("unread contact with the budget spent: %s, %d calls; want it from the listing, no call", r.Body, e.sb.TotalCalls())
	}
}
