// This file primes the contact cache from the location's listing: one
// search call returns up to a page of contacts (HighLevel allows 500), so
// when reads miss contacts the cache does not hold, the next hundred misses
// cost one call instead of a hundred. Under HighLevel's 100 calls per 10 s,
// that is what lets a location's long tail of contacts be answered at all:
// a miss the budget refuses is a RATE_LIMITED answer, a contact the listing
// brought is data.
//
// A sweep lists the first Contacts contacts of the location (the search's
// default order, newest first), all its pages at once, and stores each as a
// listed contact (kind listedKind: it never stands in for a whole contact,
// only for the fields it carries, see Loaders.ContactCarrying). It starts
// when a read of a contact finds neither the whole contact nor a listed copy
// in the cache, at most once per contact time-to-live per credential and
// location (the sweep's copies live that long). Its calls wait in the
// budget's line under a client of their own, so they get a fair share
// among the location's clients, never more; a page the budget refuses is
// tried again after the refusal's retryAfter, until the sweep's time is up.
// A write or webhook evicts listed copies like whole ones (same tags), and
// a page fetched before a write is not stored (the cache's write epoch).

package loaders

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ghl-graphql/gateway/auth"
	"github.com/ghl-graphql/gateway/upstream"
)

// Defaults of PrimeConfig.
const (
	// DefaultPrimeContacts: a sweep lists up to 1,000 contacts, ten calls
	// of 100, a tenth of one window of HighLevel's budget.
	DefaultPrimeContacts = 1000
	// DefaultPrimePageSize: 100 contacts per call keeps each answer about
	// 100 KB (HighLevel's search allows up to 500).
	DefaultPrimePageSize = 100
	// DefaultPrimeWhenRemaining: sweeps start once half of a location's
	// window is spent.
	DefaultPrimeWhenRemaining = 0.5
	// primeClient is the budget client the sweeps' calls wait as.
	primeClient = "gateway:prime"
	// maxPrimeKeys bounds the credentials and locations whose last sweep is
	// remembered; past it the old ones are forgotten.
	maxPrimeKeys = 1 << 14
)

// PrimeConfig configures priming from the listing. The zero value
// switches it off.
type PrimeConfig struct {
	// Contacts is how many of a location's contacts one sweep lists; 0
	// switches priming off.
	Contacts int
	// PageSize is the contacts per listing call, 1 to
	// upstream.MaxSearchPageLimit; 0 means DefaultPrimePageSize.
	PageSize int
	// WhenRemaining is the share of the location's rate window, 0 to 1,
	// at or under which a miss starts a sweep: while the budget has room,
	// a miss is one call that answers it whole, and a sweep would spend
	// ten on copies that may lack fields; once calls are scarce, one call
	// of the listing answers a hundred contacts. 0 means
	// DefaultPrimeWhenRemaining; 1 sweeps on every miss.
	WhenRemaining float64
	// Sleep waits d or until ctx ends (default: a real timer), between a
	// page the budget refused and its next try; tests set a fake one.
	Sleep func(ctx context.Context, d time.Duration) error
}

func (c *PrimeConfig) normalize() error {
	if c.Contacts == 0 {
		return nil
	}
	if c.Contacts < 0 {
		return fmt.Errorf("loaders: prime contacts %d is negative", c.Contacts)
	}
	if c.WhenRemaining == 0 {
		c.WhenRemaining = DefaultPrimeWhenRemaining
	}
	if c.WhenRemaining < 0 || c.WhenRemaining > 1 {
		return fmt.Errorf("loaders: prime when-remaining %v outside 0..1", c.WhenRemaining)
	}
	if c.PageSize == 0 {
		c.PageSize = DefaultPrimePageSize
	}
	if c.PageSize < 1 || c.PageSize > upstream.MaxSearchPageLimit {
		return fmt.Errorf("loaders: prime page size %d outside 1..%d", c.PageSize, upstream.MaxSearchPageLimit)
	}
	if c.Sleep == nil {
		c.Sleep = func(ctx context.Context, d time.Duration) error {
			t := time.NewTimer(d)
			defer t.Stop()
			select {
			case <-t.C:
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		}
	}
	return nil
}

// primer is the Reader's priming state.
type primer struct {
	cfg PrimeConfig

	mu   sync.Mutex
	last map[string]time.Time // when the last sweep started, by credential and location
	// totals is how many contacts the last sweep's first page counted.
	totals map[string]int
	// use counts, by credential and location, the reads a listed copy
	// answered and those it could not (it lacked a field asked for).
	use map[string]*primeUse
	wg  sync.WaitGroup

	sweeps, pages, refused, skipped atomic.Uint64
}

func (p *primer) on() bool { return p.cfg.Contacts > 0 }

// primeUse is how useful listed copies have been to one location's reads.
type primeUse struct{ served, lacked atomic.Int64 }

// useOf returns the counters of the credential of ctx, nil when priming is
// off or there is no credential.
func (p *primer) useOf(ctx context.Context) *primeUse {
	if !p.on() {
		return nil
	}
	cred, ok := auth.FromContext(ctx)
	if !ok {
		return nil
	}
	key := cred.ID + "\x1f" + cred.LocationID
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.use == nil || len(p.use) >= maxPrimeKeys {
		p.use = map[string]*primeUse{}
	}
	u := p.use[key]
	if u == nil {
		u = &primeUse{}
		p.use[key] = u
	}
	return u
}

// listedRead records whether a listed copy answered a read (it carried
// every field asked for): a location whose listing lacks what its reads
// ask (HighLevel's search items carry no name and no phone) is not swept.
func (p *primer) listedRead(ctx context.Context, served bool) {
	if u := p.useOf(ctx); u != nil {
		if served {
			u.served.Add(1)
		} else {
			u.lacked.Add(1)
		}
	}
}

// primeOnMiss starts a sweep of the location of ctx's credential when none
// started within a contact time-to-live: a read found neither the whole
// contact nor a listed copy in the cache.
func (r *Reader) primeOnMiss(ctx context.Context) {
	p := &r.prime
	if !p.on() || r.cache == nil || skipCache(ctx) {
		return
	}
	cred, ok := auth.FromContext(ctx)
	// Only a confirmed credential's location budget is spent: an
	// unconfirmed one has a small budget of its own, which the read needs.
	if !ok || !cred.Confirmed() || cred.ID == "" {
		return
	}
	if !r.budgetScarce(upstream.BudgetKeyFromContext(ctx), cred.BudgetKey()) {
		return
	}
	key := cred.ID + "\x1f" + cred.LocationID
	now := r.now()
	p.mu.Lock()
	if t, seen := p.last[key]; seen && now.Sub(t) < r.ttls.Contact {
		p.mu.Unlock()
		return
	}
	if u := p.use[key]; u != nil && u.lacked.Load() > u.served.Load() {
		// Listed copies failed more reads than they answered: another
		// sweep would cost calls and answer little. Counted afresh, so
		// that a change of the reads' fields is seen.
		u.served.Store(0)
		u.lacked.Store(0)
		p.last[key] = now
		p.mu.Unlock()
		p.skipped.Add(1)
		return
	}
	if p.last == nil || len(p.last) >= maxPrimeKeys {
		p.last, p.totals = map[string]time.Time{}, map[string]int{}
	}
	p.last[key] = now
	p.wg.Add(1)
	p.mu.Unlock()

	sctx := context.WithoutCancel(ctx)
	if _, ok := upstream.TokenSourceFromContext(sctx); !ok {
		sctx = upstream.ContextWithTokenSource(sctx, cred.TokenSource())
	}
	if upstream.BudgetKeyFromContext(sctx) == "" {
		sctx = upstream.ContextWithBudgetKey(sctx, cred.BudgetKey())
	}
	// A client of its own: the sweep serves every client of the location,
	// and must not spend the wait allowance of the request that started it.
	sctx = upstream.ContextWithBudgetRequest(sctx, upstream.BudgetRequest{Client: primeClient})
	// Copies older than a time-to-live are of no use to fresh reads.
	sctx, cancel := context.WithTimeout(sctx, r.ttls.Contact)
	p.sweeps.Add(1)
	go func() {
		defer p.wg.Done()
		defer cancel()
		r.sweep(sctx, cred, key)
	}()
}

// budgetScarce reports whether the budget key's window has at most the
// configured share left (a client without a budget never is).
func (r *Reader) budgetScarce(keys ...string) bool {
	share := r.prime.cfg.WhenRemaining
	if share >= 1 {
		return true
	}
	for _, key := range keys {
		if key == "" {
			continue
		}
		limit, _, ok := r.client.RateLimit(key)
		left := r.client.RateRemaining(key)
		if !ok || limit <= 0 || left < 0 {
			return false
		}
		return float64(left) <= share*float64(limit)
	}
	return false
}

// sweep lists the credential's location, every page at once (numbered
// pages, not a cursor), so that they take their slots together in the
// budget's line rather than one round trip apart each: HighLevel's window
// frees its slots in the bursts in which they were taken, and pages one
// after the other would get one slot per window. How many pages is what
// the last sweep of the location learnt (the search's total), or, the
// first time, enough for Contacts: a location with fewer contacts costs a
// few empty pages once.
func (r *Reader) sweep(ctx context.Context, cred auth.Credential, key string) {
	p := &r.prime
	size := p.cfg.PageSize
	want := p.cfg.Contacts
	p.mu.Lock()
	if total, ok := p.totals[key]; ok {
		want = min(want, total)
	}
	p.mu.Unlock()
	pages := max((min(want, upstream.MaxSearchPagedResults)+size-1)/size, 1)
	var wg sync.WaitGroup
	for page := 1; page <= pages; page++ {
		wg.Go(func() {
			res, ok := r.primeRetrying(ctx, cred, page, size)
			if ok && page == 1 {
				p.mu.Lock()
				p.totals[key] = res.Total
				p.mu.Unlock()
			}
		})
	}
	wg.Wait()
}

// primeRetrying lists one page, trying again when the budget refuses it:
// it sleeps until a second before the slot the refusal named, so that the
// next try waits in the budget's line (ranked fairly with the location's
// other clients) when the slot frees, rather than arriving after it is gone.
func (r *Reader) primeRetrying(ctx context.Context, cred auth.Credential, page, size int) (*upstream.SearchResult, bool) {
	p := &r.prime
	for {
		res, err := r.primePage(ctx, cred, &upstream.SearchContactsRequest{LocationID: cred.LocationID, PageLimit: size, Page: page})
		if err == nil {
			p.pages.Add(1)
			return res, true
		}
		var ue *upstream.Error
		if !staleAllowed(err) || !errors.As(err, &ue) || ue.RetryAfter <= 0 || ctx.Err() != nil {
			return nil, false
		}
		p.refused.Add(1)
		if p.cfg.Sleep(ctx, max(ue.RetryAfter-time.Second, ue.RetryAfter/2)) != nil {
			return nil, false
		}
	}
}

// primePage makes one listing call within the location's bound on
// concurrent calls and stores its contacts.
func (r *Reader) primePage(ctx context.Context, cred auth.Credential, body *upstream.SearchContactsRequest) (*upstream.SearchResult, error) {
	epoch := r.epoch()
	release, err := r.limit.acquire(ctx, upstream.BudgetKeyFromContext(ctx))
	if err != nil {
		return nil, err
	}
	defer release()
	res, resp, err := r.client.Contacts.Search(ctx, body)
	if err != nil {
		return nil, err
	}
	r.storeContacts(ctx, cred, res.Contacts, resp, epoch)
	return res, nil
}

// WaitPrimes waits for the sweeps in flight to end, e.g. before the
// process exits, or in tests.
func (r *Reader) WaitPrimes() { r.prime.wg.Wait() }
