// Tests of priming the contact cache from the location's listing, on the
// stale tests' fake clock and budget.

package loaders

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/ghl-graphql/gateway/auth"
	"github.com/ghl-graphql/gateway/upstream"
)

// primeEnv is a staleEnv whose Reader primes 9 contacts in pages of 3, with
// a fake sleep that records the waits between refused pages.
func primeEnv(t *testing.T, budget upstream.BudgetConfig) (*staleEnv, *[]time.Duration) {
	return primeEnvOf(t, budget, 9)
}

// primeEnvOf is primeEnv with sweeps of this many contacts.
func primeEnvOf(t *testing.T, budget upstream.BudgetConfig, contacts int) (*staleEnv, *[]time.Duration) {
	return primeEnvWhen(t, budget, contacts, 1)
}

// primeEnvWhen is primeEnvOf whose sweeps start only with at most this
// share of the window left.
func primeEnvWhen(t *testing.T, budget upstream.BudgetConfig, contacts int, whenRemaining float64) (*staleEnv, *[]time.Duration) {
	t.Helper()
	var slept []time.Duration
	var mu sync.Mutex
	e := newStaleEnv(t, budget, func(c *Config) {
		c.Prime = PrimeConfig{Contacts: contacts, PageSize: 3, WhenRemaining: whenRemaining, Sleep: func(ctx context.Context, d time.Duration) error {
			mu.Lock()
			defer mu.Unlock()
			slept = append(slept, d)
			return errors.New("the test's sweep stops at its first wait")
		}}
	})
	return e, &slept
}

// confirmedRequest is a new request of a credential the upstream has
// confirmed (a managed install's), on the location's budget key.
func (e *staleEnv) confirmedRequest() (context.Context, *Loaders) {
	loc := e.sb.Locations()[0]
	cred := auth.NewManaged(loc, oauth2.StaticTokenSource(&oauth2.Token{AccessToken: e.tok}), true, "user")
	ctx := upstream.ContextWithBudgetKey(auth.WithCredential(context.Background(), cred), loc)
	ctx = upstream.ContextWithTokenSource(ctx, cred.TokenSource())
	l := New(e.reader)
	return WithLoaders(ctx, l), l
}

var nameAndEmail = upstream.ContactFieldsNamed("firstName", "lastName", "email")

func TestPrimeFromListing(t *testing.T) {
	t.Run("a miss lists the location once; later misses are answered from the listing", func(t *testing.T) {
		e, _ := primeEnv(t, upstream.BudgetConfig{Max: 100})
		ctx, l := e.confirmedRequest()
		if _, err := l.ContactCarrying(ctx, e.ids[0], nameAndEmail); err != nil {
			t.Fatal(err)
		}
		e.reader.WaitPrimes()
		st := e.reader.Stats()
		if st.PrimeSweeps != 1 || st.PrimePages != 3 {
			t.Fatalf("stats %+v: want one sweep of three pages (9 contacts in pages of 3)", st)
		}
		calls := e.calls.Load() // the miss's own read and the three pages
		served := 0
		for _, id := range e.ids[1:] {
			ctx, l := e.confirmedRequest()
			c, err := l.ContactCarrying(ctx, id, nameAndEmail)
			if err == nil && c.ID == id && e.calls.Load() == calls {
				served++
			}
		}
		e.reader.WaitPrimes()
		// The three pages hold 9 of the 10 contacts; one of the others may
		// lack from them and is one read (a miss within the TTL starts no
		// second sweep).
		after := int(e.calls.Load() - calls)
		if served < 8 || served+after != 9 || e.reader.Stats().PrimeSweeps != 1 {
			t.Errorf("%d of 9 contacts served without a call, %d calls after the sweep, %d sweeps; want at least 8, the rest read, 1 sweep",
				served, after, e.reader.Stats().PrimeSweeps)
		}
		// A field the listing may lack is still read whole.
		ctx, l = e.confirmedRequest()
		if c, err := l.ContactCarrying(ctx, e.ids[1], upstream.AllContactFields); err != nil || c.Partial() {
			t.Errorf("all fields: %+v, %v; want the whole contact", c, err)
		}
	})

	t.Run("once the TTL has passed a miss sweeps again", func(t *testing.T) {
		e, _ := primeEnv(t, upstream.BudgetConfig{Max: 100})
		ctx, l := e.confirmedRequest()
		_, _ = l.ContactCarrying(ctx, e.ids[0], nameAndEmail)
		e.reader.WaitPrimes()
		e.clock.Advance(testTTL - time.Second)
		ctx, l = e.confirmedRequest()
		e.reader.Invalidate(e.sb.Locations()[0], e.ids[5]) // a miss, within the TTL
		_, _ = l.ContactCarrying(ctx, e.ids[5], nameAndEmail)
		e.reader.WaitPrimes()
		if n := e.reader.Stats().PrimeSweeps; n != 1 {
			t.Fatalf("%d sweeps within the TTL, want 1", n)
		}
		e.clock.Advance(2 * time.Second)
		e.reader.Invalidate(e.sb.Locations()[0], e.ids[6])
		ctx, l = e.confirmedRequest()
		_, _ = l.ContactCarrying(ctx, e.ids[6], nameAndEmail)
		e.reader.WaitPrimes()
		if n := e.reader.Stats().PrimeSweeps; n != 2 {
			t.Errorf("%d sweeps after the TTL, want 2", n)
		}
	})

	t.Run("past the TTL with the budget spent, a listed copy is served marked stale; never after a write", func(t *testing.T) {
		e, _ := primeEnv(t, upstream.BudgetConfig{Max: 4})
		ctx, l := e.confirmedRequest()
		_, _ = l.ContactCarrying(ctx, e.ids[0], nameAndEmail) // 1 read + 3 pages
		e.reader.WaitPrimes()
		if st := e.reader.Stats(); st.PrimePages != 3 {
			t.Fatalf("stats %+v, want 3 pages", st)
		}
		e.clock.Advance(testTTL + 10*time.Second)
		// The budget is spent: the miss's sweep is refused too.
		ctx, l = e.confirmedRequest()
		id := e.ids[3]
		c, err := l.ContactCarrying(ctx, id, nameAndEmail)
		e.reader.WaitPrimes()
		if err != nil || c.ID != id {
			t.Fatalf("got %+v, %v; want the listed copy, stale", c, err)
		}
		if age, ok := staleAge(l, e.reader.contactRequest(ctx, listedKind, id).key); !ok || age != testTTL+10*time.Second {
			t.Errorf("stale mark %v, age %v; want age %v", ok, age, testTTL+10*time.Second)
		}
		// A field it lacks is not served from it.
		ctx, l = e.confirmedRequest()
		if _, err := l.ContactCarrying(ctx, id, upstream.AllContactFields); !errors.Is(err, upstream.ErrRateLimited) {
			t.Errorf("all fields: %v, want RATE_LIMITED", err)
		}
		e.reader.Invalidate(e.sb.Locations()[0], id)
		ctx, l = e.confirmedRequest()
		if _, err := l.ContactCarrying(ctx, id, nameAndEmail); !errors.Is(err, upstream.ErrRateLimited) {
			t.Errorf("after a write: %v, want RATE_LIMITED (nothing evicted is served)", err)
		}
	})

	t.Run("a page the budget refuses waits until just before its slot", func(t *testing.T) {
		e, slept := primeEnv(t, upstream.BudgetConfig{Max: 2})
		ctx, l := e.confirmedRequest()
		// The read and the three pages go at once, for two slots.
		_, err := l.ContactCarrying(ctx, e.ids[0], nameAndEmail)
		e.reader.WaitPrimes()
		st := e.reader.Stats()
		granted := int(st.PrimePages)
		if err == nil {
			granted++
		}
		// The window frees its slots an hour after they were taken: a
		// refused page sleeps until a second before, to wait in line then.
		if granted != 2 || st.PrimeRefused != 3-st.PrimePages || len(*slept) != int(st.PrimeRefused) {
			t.Fatalf("stats %+v, read %v, waits %v: want two calls let go, each refused page waiting once", st, err, *slept)
		}
		for _, d := range *slept {
			if d != testWindow-time.Second {
				t.Errorf("a refused page waited %v, want %v", d, testWindow-time.Second)
			}
		}
	})

	t.Run("the first sweep asks for every page, later ones for the pages the location has", func(t *testing.T) {
		e, _ := primeEnvOf(t, upstream.BudgetConfig{Max: 100}, 30) // the location has 10 contacts
		ctx, l := e.confirmedRequest()
		_, _ = l.ContactCarrying(ctx, e.ids[0], nameAndEmail)
		e.reader.WaitPrimes()
		if n := e.reader.Stats().PrimePages; n != 10 {
			t.Fatalf("first sweep: %d pages, want 10 (30 contacts in pages of 3, the total unknown)", n)
		}
		e.clock.Advance(testTTL)
		e.reader.Invalidate(e.sb.Locations()[0], e.ids[1])
		ctx, l = e.confirmedRequest()
		_, _ = l.ContactCarrying(ctx, e.ids[1], nameAndEmail)
		e.reader.WaitPrimes()
		if n := e.reader.Stats().PrimePages; n != 14 {
			t.Errorf("second sweep: %d pages, want 4 (10 contacts in pages of 3)", n-10)
		}
	})

	t.Run("a listing that lacks what reads ask is not swept again", func(t *testing.T) {
		e, _ := primeEnv(t, upstream.BudgetConfig{Max: 100})
		e.sb.SetStrictListItems(true) // items carry the spec's fields: no names
		ctx, l := e.confirmedRequest()
		_, _ = l.ContactCarrying(ctx, e.ids[0], nameAndEmail)
		e.reader.WaitPrimes()
		for _, id := range e.ids[1:5] {
			ctx, l := e.confirmedRequest()
			if c, err := l.ContactCarrying(ctx, id, nameAndEmail); err != nil || c.Partial() {
				t.Fatalf("%s: %+v, %v; want the whole contact read", id, c, err)
			}
		}
		e.clock.Advance(testTTL)
		e.reader.Invalidate(e.sb.Locations()[0], e.ids[1])
		ctx, l = e.confirmedRequest()
		_, _ = l.ContactCarrying(ctx, e.ids[1], nameAndEmail)
		e.reader.WaitPrimes()
		if st := e.reader.Stats(); st.PrimeSweeps != 1 || st.PrimeSkipped != 1 {
			t.Errorf("stats %+v: want the second sweep skipped", st)
		}
	})

	t.Run("off, or an unconfirmed credential: no listing", func(t *testing.T) {
		e := newStaleEnv(t, upstream.BudgetConfig{Max: 100}, nil)
		ctx, l := e.confirmedRequest()
		_, _ = l.ContactCarrying(ctx, e.ids[0], nameAndEmail)
		e2, _ := primeEnv(t, upstream.BudgetConfig{Max: 100})
		ctx2, l2 := e2.request(nil) // a bearer token not confirmed yet
		_, _ = l2.ContactCarrying(ctx2, e2.ids[0], nameAndEmail)
		e.reader.WaitPrimes()
		e2.reader.WaitPrimes()
		if e.calls.Load() != 1 || e2.calls.Load() != 1 || e.reader.Stats().PrimeSweeps+e2.reader.Stats().PrimeSweeps != 0 {
			t.Errorf("%d and %d calls; want only the reads", e.calls.Load(), e2.calls.Load())
		}
	})
}

// A read whose answer is kept past its TTL (a refusal would serve it
// stale) only freshens data: it is a completing call, which yields to reads
// of answers the gateway does not hold, unless the client refuses stale
// answers.
func TestRefreshOfAKeptAnswerYields(t *testing.T) {
	e := newStaleEnv(t, upstream.BudgetConfig{Max: 4, CompletingShare: 0.5}, nil)
	for _, id := range e.ids[:2] { // two of four slots; completing calls may fill two
		if _, err := e.reader.Contact(credCtx(e.tok), id); err != nil {
			t.Fatal(err)
		}
	}
	e.clock.Advance(testTTL + time.Second)
	calls := e.calls.Load()
	ctx, l := e.request(nil)
	if c, err := e.reader.Contact(ctx, e.ids[0]); err != nil || c.ID != e.ids[0] {
		t.Fatalf("kept contact: %v, %v", c, err)
	}
	if _, stale := staleAge(l, e.reader.contactRequest(ctx, "contact", e.ids[0]).key); !stale || e.calls.Load() != calls {
		t.Errorf("stale %v, %d calls: want the kept copy served stale and its refresh refused (two slots free, but the data-giving half)",
			stale, e.calls.Load()-calls)
	}
	// A contact the gateway does not hold takes a free slot.
	ctx, _ = e.request(nil)
	if _, err := e.reader.Contact(ctx, e.ids[2]); err != nil || e.calls.Load() != calls+1 {
		t.Errorf("unheld contact: %v, %d calls; want it read", err, e.calls.Load()-calls)
	}
	// A client that refuses stale answers gets the fresh read.
	ctx, l = e.request(http.Header{"Cache-Control": {"max-stale=0"}})
	if _, err := e.reader.Contact(ctx, e.ids[1]); err != nil || e.calls.Load() != calls+2 {
		t.Errorf("max-stale=0: %v, %d calls; want a fresh read", err, e.calls.Load()-calls)
	}
}

// TestPrimeOnlyWhenCallsAreScarce: while the location's window has room, a
// miss is one call that answers it whole and no sweep starts; once no more
// than the configured share is left, a miss sweeps.
func TestPrimeOnlyWhenCallsAreScarce(t *testing.T) {
	e, _ := primeEnvWhen(t, upstream.BudgetConfig{Max: 20}, 9, 0.5)
	read := func(id string) {
		t.Helper()
		ctx, l := e.confirmedRequest()
		if _, err := l.ContactCarrying(ctx, id, nameAndEmail); err != nil {
			t.Fatal(err)
		}
		e.reader.WaitPrimes()
	}
	// Ten misses, one call each: the window goes from 20 left to 10.
	for _, id := range e.ids[:10] {
		read(id)
	}
	if n, calls := e.reader.Stats().PrimeSweeps, e.calls.Load(); n != 0 || calls != 10 {
		t.Fatalf("%d sweeps and %d calls for ten misses with room in the window, want 0 and 10", n, calls)
	}
	// Half the window is spent: the next miss sweeps.
	e.reader.Invalidate(e.sb.Locations()[0], e.ids[0])
	read(e.ids[0])
	if n := e.reader.Stats().PrimeSweeps; n != 1 {
		t.Errorf("%d sweeps with half the window spent, want 1", n)
	}
}
