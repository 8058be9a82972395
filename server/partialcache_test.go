// Tests of storing partial answers whose only errors are RATE_LIMITED in
// the whole-response cache (issue 16): briefly, never past the refusal's
// retryAfter, and evicted by writes like any stored answer.

package server_test

import (
	"context"
	"fmt"
	"net/http"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ghl-graphql/gateway/internal/fakeclock"
	"github.com/ghl-graphql/gateway/loaders"
	"github.com/ghl-graphql/gateway/server"
	"github.com/ghl-graphql/gateway/upstream"
)

// countingBudget counts the calls that asked the budget for a slot, and
// the looks at its capacity (the query's cost check, a call refused before
// it waits): a stored answer does neither.
type countingBudget struct {
	*upstream.LocalBudget
	waits, looks atomic.Int64
}

func (b *countingBudget) Capacity(key string, d time.Duration) int {
	b.looks.Add(1)
	return b.LocalBudget.Capacity(key, d)
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

// A stale answer is stored, and served without executing the query, while
// every stale mark it carries still reads the same (its age in whole
// seconds); it is served only within each client's max-stale, a client
// that bounds staleness does not displace it, and a write evicts it.
func TestStaleAnswersStoredWhileTheirAgesHold(t *testing.T) {
	clock := fakeclock.New(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
	// Six calls per hour, completing calls (lists, and freshening a kept
	// answer) at most half of them: after the reads below only a write
	// has a slot.
	budget := &countingBudget{LocalBudget: upstream.NewLocalBudget(upstream.BudgetConfig{Max: 6, Interval: time.Hour,
		CompletingShare: 0.5, Now: clock.Now})}
	e := newE2E(t, withFullListings(), withClientOptions(upstream.WithRateBudget(budget)), withServer(func(c *server.Config) {
		c.Now = clock.Now
		c.CacheTTLs = loaders.TTLs{Contact: staleTTL, Lists: staleTTL, Search: staleTTL}
		c.PartialCacheTTL = time.Second
	}))
	ids := e.sb.ContactIDs(e.locA)
	vars := map[string]any{"id": ids[0]}
	t0 := clock.Now()
	e.gql(e.token, staleSnapshot, vars).ok(t) // contact, tasks, notes
	// Another contact, and its notes refused: the completing share is spent.
	e.gql(e.token, `query($id: ID!) { contact(id: $id) { id notes { id } } }`, map[string]any{"id": ids[1]})
	calls := e.sb.TotalCalls()

	// ask sends the snapshot at t0+at and returns its answer and how many
	// times it asked the budget (0: a stored answer).
	ask := func(at time.Duration, hdr http.Header) (response, int64) {
		t.Helper()
		clock.Set(t0.Add(at))
		before := budget.waits.Load()
		r := e.send(request{token: e.token, query: staleSnapshot, vars: vars, header: hdr})
		return r, budget.waits.Load() - before
	}
	all := func(age float64) map[string]float64 {
		return map[string]float64{"contact": age, "contact.tasks": age, "contact.notes": age}
	}

	first, n := ask(40200*time.Millisecond, nil)
	first.ok(t)
	wantMarks(t, first, all(40))
	if n == 0 {
		t.Fatalf("the first stale answer asked the budget nothing; want it executed")
	}
	again, n := ask(40900*time.Millisecond, nil)
	again.ok(t)
	wantMarks(t, again, all(40))
	if n != 0 || !reflect.DeepEqual(again.Data, first.Data) {
		t.Errorf("0.7 s later, ages unchanged: %d budget asks, data equal %v; want the stored answer", n, reflect.DeepEqual(again.Data, first.Data))
	}
	next, n := ask(41*time.Second, nil)
	next.ok(t)
	wantMarks(t, next, all(41)) // not the stored copy's 40
	if n == 0 {
		t.Errorf("once the age in seconds grew, the stored answer was served")
	}

	bounded := http.Header{"Cache-Control": {"max-stale=20"}}
	r, _ := ask(41300*time.Millisecond, bounded)
	wantMarks(t, r.ok(t), all(41))
	if r, n = ask(41400*time.Millisecond, bounded); n != 0 {
		t.Errorf("max-stale=20, 11.4 s past the TTL: %d budget asks, want the stored answer; body %s", n, r.Body)
	}
	// Past its bound the stale answer is not served: the query runs, and
	// the contact, not freshened as a kept answer's would be, takes a slot.
	tight, n := ask(41500*time.Millisecond, http.Header{"Cache-Control": {"max-stale=5"}})
	if n == 0 || tight.get("contact.name") == nil {
		t.Errorf("max-stale=5, 11.5 s past the TTL: %d budget asks; want executed, the contact fetched; body %s", n, tight.Body)
	}
	if marks := staleMarks(t, tight); len(marks) != 0 {
		t.Errorf("max-stale=5, 11.5 s past the TTL: served stale %v", marks)
	}
	if e.sb.TotalCalls() != calls+1 {
		t.Fatalf("%d upstream calls, want 1 (the contact of the max-stale=5 request)", e.sb.TotalCalls()-calls)
	}

	// The write takes the last slot and evicts the contact: nothing of it
	// is served stale afterwards, stored or kept.
	clock.Set(t0.Add(41600 * time.Millisecond))
	e.gql(e.token, `mutation($id: ID!) { updateContact(id: $id, input: {firstName: "Zed"}) { contact { id } } }`, vars).ok(t)
	after, _ := ask(41700*time.Millisecond, nil)
	if got := errorsByPath(after); got["contact"] != "RATE_LIMITED" {
		t.Errorf("after the write: errors %v, want the contact RATE_LIMITED; body %s", got, after.Body)
	}
	wantMarks(t, after, nil)

	// A client refusing stale data, with no slot left, is refused; that
	// refusal does not displace the stale answer stored for the others.
	other := func(at time.Duration, hdr http.Header) (response, int64) {
		t.Helper()
		clock.Set(t0.Add(at))
		before := budget.waits.Load()
		r := e.send(request{token: e.token, query: `query($id: ID!) { contact(id: $id) { id } }`,
			vars: map[string]any{"id": ids[1]}, header: hdr})
		return r, budget.waits.Load() - before
	}
	r, _ = other(42100*time.Millisecond, nil)
	wantMarks(t, r.ok(t), map[string]float64{"contact": 42})
	refused, _ := other(42200*time.Millisecond, http.Header{"Cache-Control": {"max-stale=0"}})
	if got := errorsByPath(refused); got["contact"] != "RATE_LIMITED" {
		t.Errorf("max-stale=0: errors %v, want the contact RATE_LIMITED; body %s", got, refused.Body)
	}
	wantMarks(t, refused, nil)
	kept, n := other(42300*time.Millisecond, nil)
	wantMarks(t, kept.ok(t), map[string]float64{"contact": 42})
	if n != 0 {
		t.Errorf("after a max-stale=0 request: %d budget asks, want 0 (the stale answer still stored)", n)
	}
	if e.sb.TotalCalls() != calls+2 {
		t.Errorf("%d upstream calls, want 2 (the contact fetched, the write)", e.sb.TotalCalls()-calls)
	}
}

// A refusal with no data at all (a search the gateway never ran, the
// budget spent) is stored like a partial answer: until its calls could go,
// and no longer than -cache-partial-ttl.
func TestRefusalsWithoutDataStoredBriefly(t *testing.T) {
	clock := fakeclock.New(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
	budget := &countingBudget{LocalBudget: upstream.NewLocalBudget(upstream.BudgetConfig{Max: 1, Interval: time.Hour, Now: clock.Now})}
	e := newE2E(t, withFullListings(), withClientOptions(upstream.WithRateBudget(budget)), withServer(func(c *server.Config) {
		c.Now = clock.Now
		c.PartialCacheTTL = time.Second
	}))
	e.gql(e.token, `query($id: ID!) { contact(id: $id) { id } }`, map[string]any{"id": e.sb.ContactIDs(e.locA)[0]}).ok(t)
	const search = `{ contacts(query: "a", first: 2) { nodes { id } } }`
	refusal := func(what string) int64 {
		t.Helper()
		before := budget.waits.Load() + budget.looks.Load()
		r := e.gql(e.token, search, nil)
		if got := errorsByPath(r); !reflect.DeepEqual(got, map[string]string{"contacts": "RATE_LIMITED"}) || r.get("contacts") != nil {
			t.Fatalf("%s: errors %v; body %s", what, got, r.Body)
		}
		return budget.waits.Load() + budget.looks.Load() - before
	}
	if n := refusal("first"); n == 0 {
		t.Fatalf("the first refusal did not look at the budget; want it executed")
	}
	clock.Advance(999 * time.Millisecond)
	if n := refusal("within the bound"); n != 0 {
		t.Errorf("within -cache-partial-ttl the refusal looked at the budget %d times, want 0 (stored)", n)
	}
	clock.Advance(time.Millisecond)
	if n := refusal("past the bound"); n == 0 {
		t.Errorf("past -cache-partial-ttl the refusal was served stored; want it executed again")
	}
}

// A stored partial answer tells the wait left: its retryAfter, in the
// extensions and in the message, counts down as the copy ages, until the
// bound has it executed again.
func TestPartialAnswerWaitsCountDown(t *testing.T) {
	clock := fakeclock.New(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
	budget := &countingBudget{LocalBudget: upstream.NewLocalBudget(upstream.BudgetConfig{Max: 3, Interval: time.Hour,
		CompletingShare: 0.5, Now: clock.Now})}
	e := newE2E(t, withFullListings(), withClientOptions(upstream.WithRateBudget(budget)), withServer(func(c *server.Config) {
		c.Now = clock.Now
		c.CacheTTLs = loaders.TTLs{Contact: time.Minute, Lists: time.Minute, Search: time.Minute}
		c.PartialCacheTTL = server.DefaultPartialCacheTTL
	}))
	ids := e.sb.ContactIDs(e.locA)
	vars := map[string]any{"id": ids[0]}
	e.gql(e.token, `query($id: ID!) { contact(id: $id) { id name } }`, vars).ok(t)
	e.gql(e.token, `query($id: ID!) { contact(id: $id) { id name } }`, map[string]any{"id": ids[1]}).ok(t)
	t0 := clock.Now()

	// waits returns the answer's retryAfter of each refused list, the
	// number its message gives, and how often the query asked the budget.
	waits := func(at time.Duration) (map[string]float64, map[string]string, int64) {
		t.Helper()
		clock.Set(t0.Add(at))
		before := budget.waits.Load()
		r := e.gql(e.token, staleSnapshot, vars)
		if r.get("contact.name") == nil || len(r.Errors) != 2 {
			t.Fatalf("at %v: want the contact with its two lists refused; body %s", at, r.Body)
		}
		secs, msgs := map[string]float64{}, map[string]string{}
		for _, e := range r.Errors {
			p := normalizePath(e.Path)
			secs[p[len(p)-1]], _ = e.Extensions["retryAfter"].(float64)
			msgs[p[len(p)-1]] = e.Message
		}
		return secs, msgs, budget.waits.Load() - before
	}
	first, _, n := waits(0)
	if n != 2 || first["tasks"] < 3500 || first["tasks"] != first["notes"] {
		t.Fatalf("first answer: retryAfter %v after %d budget asks; want about an hour each, 2 asks", first, n)
	}
	later, msgs, n := waits(2500 * time.Millisecond)
	if n != 0 {
		t.Errorf("2.5 s later: %d budget asks, want 0 (stored)", n)
	}
	for _, list := range []string{"tasks", "notes"} {
		if want := first[list] - 2; later[list] != want {
			t.Errorf("2.5 s later: %s retryAfter %v, want %v", list, later[list], want)
		}
		if want := fmt.Sprintf("retry after %.0f s", first[list]-2); !strings.Contains(msgs[list], want) {
			t.Errorf("2.5 s later: %s message %q, want it to say %q", list, msgs[list], want)
		}
	}
	if _, _, n = waits(9999 * time.Millisecond); n != 0 {
		t.Errorf("within the bound: %d budget asks, want 0", n)
	}
	if _, _, n = waits(server.DefaultPartialCacheTTL); n != 2 {
		t.Errorf("at the bound: %d budget asks, want 2 (executed again)", n)
	}
}
