// Package loaders makes the gateway cheap for the upstream: a shared Reader
// serves reads from the cache, coalesces identical concurrent calls into
// one, and bounds concurrent calls per location; per-request dataloaders
// over it fetch each distinct resource at most once per GraphQL request and
// run independent fetches at the same time.
package loaders

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ghl-graphql/gateway/auth"
	"github.com/ghl-graphql/gateway/cache"
	"github.com/ghl-graphql/gateway/upstream"
)

// TTLs are how long each kind of answer is served from the cache. Writes
// through the gateway evict what they change at once; the TTLs bound how
// long a change made elsewhere (HighLevel's UI, another app) can stay unseen.
type TTLs struct {
	// Contact is for single contacts.
	Contact time.Duration
	// Lists is for a contact's tasks, notes and appointments, and single
	// tasks and notes.
	Lists time.Duration
	// Tasks, when set, is for a contact's tasks and single tasks instead of
	// Lists: HighLevel sends no webhook when a task is edited (only
	// TaskCreate, TaskComplete, TaskDelete), so with webhooks on tasks keep
	// a short lifetime while the rest can be long.
	Tasks time.Duration
	// Search is for search, business and legacy listings and duplicate look-ups.
	Search time.Duration
}

// DefaultTTLs are short: without webhooks, changes made outside the gateway
// are only seen when an entry expires.
var DefaultTTLs = TTLs{Contact: 30 * time.Second, Lists: 30 * time.Second, Search: 10 * time.Second}

// WebhookTTLs are the defaults when HighLevel's webhooks keep the cache
// fresh: every change they report evicts what it makes stale, so expiry
// only bounds what a lost webhook (or a change HighLevel reports none for)
// can leave stale. Tasks stay short: a task edit sends no webhook.
var WebhookTTLs = TTLs{Contact: 10 * time.Minute, Lists: 10 * time.Minute, Tasks: DefaultTTLs.Lists, Search: 5 * time.Minute}

// DefaultMaxConcurrentPerLocation bounds the upstream calls in flight for
// one location, so one large query cannot flood HighLevel.
const DefaultMaxConcurrentPerLocation = 64

// Config configures a Reader.
type Config struct {
	// Client calls the Contacts API (required).
	Client *upstream.Client
	// Cache holds answers across requests; nil disables the shared cache
	// (coalescing and per-request loaders still work).
	Cache cache.Cache
	// TTLs per kind of answer; zero fields take DefaultTTLs'.
	TTLs TTLs
	// MaxConcurrentPerLocation bounds concurrent upstream calls per location;
	// 0 means DefaultMaxConcurrentPerLocation.
	MaxConcurrentPerLocation int
	// StaleFor is how long past its time-to-live an answer is kept, to be
	// served (marked stale) when no fresh one can be had: the rate budget
	// is spent or the circuit is open. 0 means DefaultStaleFor; negative
	// keeps nothing past its time-to-live.
	StaleFor time.Duration
	// Changes, when not nil, says which answers past their time-to-live are
	// known unchanged and so still fresh (webhooks, issue 12).
	Changes ChangeFeed
	// Refresh configures refresh-ahead on spare budget; the zero value
	// switches it off.
	Refresh RefreshConfig
	// Prime configures priming the contact cache from the location's
	// listing when reads miss contacts; the zero value switches it off.
	Prime PrimeConfig
	// Now is the clock of expiries and staleness (default time.Now); the
	// Cache should read the same one.
	Now func() time.Time
	// Shared, when not nil, shares the cache with the other replicas on
	// Redis (shared.go): a second level, evictions applied everywhere,
	// cold reads fetched once. It needs a Cache.
	Shared *SharedConfig
}

// Reader reads from the upstream through the shared cache. Values it
// returns are shared with other requests: callers must not modify them.
type Reader struct {
	client *upstream.Client
	cache  cache.Cache
	ttls   TTLs
	flight flights
	limit  *locationLimiter

	staleFor    time.Duration
	changes     ChangeFeed
	now         func() time.Time
	staleServed atomic.Uint64
	refresh     refresher
	shared      *shared // nil without Redis
	prime       primer
}

// NewReader returns a Reader.
func NewReader(cfg Config) (*Reader, error) {
	if cfg.Client == nil {
		return nil, errors.New("loaders: nil upstream client")
	}
	if cfg.TTLs.Contact <= 0 {
		cfg.TTLs.Contact = DefaultTTLs.Contact
	}
	if cfg.TTLs.Lists <= 0 {
		cfg.TTLs.Lists = DefaultTTLs.Lists
	}
	if cfg.TTLs.Tasks <= 0 {
		cfg.TTLs.Tasks = cfg.TTLs.Lists
	}
	if cfg.TTLs.Search <= 0 {
		cfg.TTLs.Search = DefaultTTLs.Search
	}
	if cfg.MaxConcurrentPerLocation <= 0 {
		cfg.MaxConcurrentPerLocation = DefaultMaxConcurrentPerLocation
	}
	if cfg.StaleFor == 0 {
		cfg.StaleFor = DefaultStaleFor
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if err := cfg.Refresh.normalize(); err != nil {
		return nil, err
	}
	if err := cfg.Prime.normalize(); err != nil {
		return nil, err
	}
	r := &Reader{client: cfg.Client, cache: cfg.Cache, ttls: cfg.TTLs,
		limit:    &locationLimiter{n: cfg.MaxConcurrentPerLocation, sems: map[string]*keySem{}},
		staleFor: max(cfg.StaleFor, 0), changes: cfg.Changes, now: cfg.Now}
	r.refresh.init(cfg.Refresh)
	if cfg.Shared != nil && cfg.Cache != nil {
		s, err := newShared(r, *cfg.Shared)
		if err != nil {
			return nil, err
		}
		r.shared = s
	}
	r.prime.cfg = cfg.Prime
	return r, nil
}

// Stats are the Reader's counters, for metrics and tests.
type Stats struct {
	// StaleServed counts answers served stale.
	StaleServed uint64
	// RefreshStarted counts refreshes ahead of expiry that were sent;
	// RefreshNoSpare those not sent because the budget had no spare
	// slots; RefreshStored those whose answer was stored.
	RefreshStarted, RefreshNoSpare, RefreshStored uint64
	// Flights counts the upstream calls the Reader started; Coalesced
	// the callers who joined one already under way instead of calling.
	Flights, Coalesced uint64
	// PrimeSweeps counts sweeps of a location's listing started,
	// PrimePages the pages they stored, PrimeRefused the pages the budget
	// refused (tried again later), PrimeSkipped the sweeps not started
	// because listed copies lacked what reads asked more often than not.
	PrimeSweeps, PrimePages, PrimeRefused, PrimeSkipped uint64
}

// Stats returns the Reader's counters.
func (r *Reader) Stats() Stats {
	return Stats{StaleServed: r.staleServed.Load(), RefreshStarted: r.refresh.started.Load(),
		RefreshNoSpare: r.refresh.noSpare.Load(), RefreshStored: r.refresh.stored.Load(),
		Flights: r.flight.started.Load(), Coalesced: r.flight.joined.Load(),
		PrimeSweeps: r.prime.sweeps.Load(), PrimePages: r.prime.pages.Load(), PrimeRefused: r.prime.refused.Load(),
		PrimeSkipped: r.prime.skipped.Load()}
}

// keep is how long past its time-to-live an answer is kept, to be served
// stale or, with a change feed, vouched for as fresh.
func (r *Reader) keep() time.Duration { return r.staleFor }

// Now returns the time by the Reader's clock.
func (r *Reader) Now() time.Time { return r.now() }

// Cache returns the shared cache, nil when there is none.
func (r *Reader) Cache() cache.Cache { return r.cache }

type noCacheKey struct{}

// WithoutCache marks ctx so that reads skip cached answers (the client sent
// Cache-Control: no-cache). Fresh answers are still stored.
func WithoutCache(ctx context.Context) context.Context {
	return context.WithValue(ctx, noCacheKey{}, true)
}

func skipCache(ctx context.Context) bool {
	v, _ := ctx.Value(noCacheKey{}).(bool)
	return v
}

// Cache tags: every answer about a contact carries tagContact; every search
// or listing of a location carries tagSearch of the location and
// tagAllSearches (for writes whose location is unknown). Finer tags let a
// webhook evict exactly what it makes stale (evict.go): the contact object
// alone, one list of a contact, one task or note, or one kind of list of a
// whole location.
const tagAllSearches = "s:*"

func tagContact(id string) string    { return "c:" + id }
func tagSearch(loc string) string    { return "s:" + loc }
func searchTags(loc string) []string { return []string{tagSearch(loc), tagAllSearches} }

// Invalidate evicts every cached answer that a change to these contacts of
// this location makes stale: the contacts, their tasks, notes and
// appointments, and the location's searches and listings. With an unknown
// location ("") every location's searches go. Mutations call it before they
// return; webhooks evict through Evict, which it calls.
func (r *Reader) Invalidate(locationID string, contactIDs ...string) {
	r.Evict(Stale{LocationID: locationID, Contacts: contactIDs, Searches: true})
}

// request describes one cacheable upstream read.
type request struct {
	key  string   // cache and coalescing key, credential included
	loc  string   // location the call names (a claim: limits key on the budget key)
	tags []string // invalidation tags
	ttl  time.Duration
	// l2gen is the generation of the shared cache read before the fetch
	// (when l2genOK), which the store checks (shared.go).
	l2gen   string
	l2genOK bool
}

// cacheKey joins parts with a separator that IDs cannot contain once
// escaped by the client (a unit separator), credential first.
func cacheKey(kind string, cred auth.Credential, parts ...string) string {
	return kind + "\x1f" + cred.ID + "\x1f" + strings.Join(parts, "\x1f")
}

// read serves req from the cache, or fetches it once however many callers
// ask at the same time, and stores the answer. When no fresh answer can be
// had, an answer kept past its time-to-live may be served, marked stale
// (see serveStale).
func read[T any](ctx context.Context, r *Reader, req request, fetch func(context.Context) (T, *upstream.Response, error)) (T, error) {
	touched := TouchedFrom(ctx)
	if _, ok := auth.FromContext(ctx); !ok || r.cache == nil {
		// Nothing to key by, or nowhere to keep it: no response may be
		// cached that holds this answer.
		if touched != nil {
			touched.MarkUncacheable()
		}
		if !ok {
			v, _, err := fetch(ctx)
			return v, err
		}
	}
	if r.cache != nil && !skipCache(ctx) {
		if v, expires, ok := r.cache.Get(req.key); ok {
			if cv, done, err := confirmHit(ctx, r, req, fetch); done {
				return cv, err
			}
			r.touch(touched, req, expires)
			r.ahead(ctx, req, expires)
			countHit(ctx)
			return v.(T), nil
		}
		if v, ok := r.unchanged(ctx, req); ok {
			if cv, done, err := confirmHit(ctx, r, req, fetch); done {
				return cv, err
			}
			countHit(ctx)
			return v.(T), nil
		}
	}
	anyFetch := func(ctx context.Context) (any, *upstream.Response, error) { return fetch(ctx) }
	callCtx := ctx
	if r.canFallBack(ctx, req) {
		// A refusal would serve the kept copy: the call only freshens an
		// answer that has data, so it yields to calls that give data.
		callCtx = upstream.ContextCompleting(ctx)
	}
	got, err := r.flight.do(callCtx, req.key, func(callCtx context.Context) (any, error) {
		// A caller can miss the cache just before another's call stores its
		// answer and reach the flights just after that call has left them:
		// look again, now that no call for req is running.
		if r.cache != nil && !skipCache(callCtx) {
			if v, expires, ok := r.cache.Get(req.key); ok {
				return fetched{v, expires}, nil
			}
		}
		// The other replicas' answers, under a cross-replica lease; never
		// for a credential that must first be confirmed upstream.
		if r.shared != nil && !skipCache(callCtx) && !confirmationFrom(callCtx).pending() {
			req := req
			f, release, ok := sharedLoad[T](callCtx, r, &req)
			if ok {
				return f, nil
			}
			defer release()
			return r.fetchAndStore(callCtx, req, anyFetch)
		}
		return r.fetchAndStore(callCtx, req, anyFetch)
	})
	if err != nil {
		if v, ok := r.serveStale(ctx, req, err); ok {
			countHit(ctx)
			return v.(T), nil
		}
		touched.noteRefusal(err)
		var zero T
		return zero, err
	}
	confirmationFrom(ctx).succeed()
	f := got.(fetched)
	r.touch(touched, req, f.expires)
	return f.v.(T), nil
}

// fetchAndStore makes req's call within the location's bound and stores
// the answer, kept past its time-to-live for stale answers, and remembers
// how to refresh it. It runs inside req's flight.
func (r *Reader) fetchAndStore(callCtx context.Context, req request, fetch func(context.Context) (any, *upstream.Response, error)) (fetched, error) {
	var epoch uint64
	if r.cache != nil {
		epoch = r.cache.Epoch()
	}
	// The shared generation is read before the call, like the epoch; the
	// request remembered for refreshes carries none.
	gen, genOK := req.l2gen, req.l2genOK
	req.l2gen, req.l2genOK = "", false
	if r.shared != nil && !genOK {
		gen, genOK = r.shared.gen(callCtx, req)
	}
	req.ttl = r.capTTL(req.ttl)
	if err := r.affordable(callCtx); err != nil {
		return fetched{}, err
	}
	release, err := r.limit.acquire(callCtx, upstream.BudgetKeyFromContext(callCtx))
	if err != nil {
		return fetched{}, err
	}
	defer release()
	v, resp, err := fetch(callCtx)
	if err != nil {
		return fetched{}, err
	}
	// Taken before the store, so that a response built from this answer
	// expires no later than the cached entry.
	expires := r.now().Add(req.ttl)
	if r.cache != nil && r.cache.SetStale(req.key, v, 2*resp.BodyBytes, req.ttl, r.keep(), req.tags, epoch) {
		r.refresh.remember(callCtx, req, fetch)
	}
	if r.shared != nil && genOK {
		r.shared.store(callCtx, req, gen, v, req.ttl, r.keep(), expires)
	}
	return fetched{v, expires}, nil
}

// affordable refuses at once, with RATE_LIMITED, a call the rate budget
// cannot let go before ctx's deadline, by the same reckoning the gateway
// used to refuse whole queries up front (upstream.Client.RateCapacity):
// queries now run however spent the budget is, so that what the caches
// hold can answer them, and this keeps a call that cannot be afforded from
// waiting into the request's timeout instead.
func (r *Reader) affordable(ctx context.Context) error {
	dl, ok := ctx.Deadline()
	if !ok {
		return nil
	}
	key := upstream.BudgetKeyFromContext(ctx)
	if r.client.RateCapacity(key, time.Until(dl)) != 0 {
		return nil // enough, or no budget at all (-1)
	}
	// The shortest wait, doubling from a second up to a day, after which
	// one call could go.
	wait := time.Second
	for wait < 24*time.Hour && r.client.RateCapacity(key, wait) < 1 {
		wait *= 2
	}
	r.client.NoteBudgetRefusal(key) // for metrics
	return &upstream.Error{Err: fmt.Errorf("%w: the rate budget allows no call before the request's deadline", upstream.ErrRateLimited),
		RetryAfter: wait, Retryable: true}
}

// fetched is a shared call's answer and when it stops being fresh.
type fetched struct {
	v       any
	expires time.Time
}

// cached returns req's answer if the shared cache has it, without calling
// anything: the loaders' fast path, which spares a warm read the batch wait.
func cached[T any](ctx context.Context, r *Reader, req request) (T, bool) {
	var zero T
	if r.cache == nil || skipCache(ctx) {
		return zero, false
	}
	if _, ok := auth.FromContext(ctx); !ok || confirmationFrom(ctx).pending() {
		return zero, false
	}
	v, expires, ok := r.cache.Get(req.key)
	if !ok {
		return zero, false
	}
	r.touch(TouchedFrom(ctx), req, expires)
	r.ahead(ctx, req, expires)
	countHit(ctx)
	return v.(T), true
}

func credential(ctx context.Context) auth.Credential {
	c, _ := auth.FromContext(ctx)
	return c
}

// contactRequest describes a read of contactID's resource of this kind
// (contact, tasks, notes, appointments, task, note); childID names a task
// or note.
func (r *Reader) contactRequest(ctx context.Context, kind, contactID string, childID ...string) request {
	cred := credential(ctx)
	ttl := r.ttls.Lists
	switch kind {
	case "contact":
		ttl = r.ttls.Contact
	case "tasks", "task":
		ttl = r.ttls.Tasks
	}
	return request{key: cacheKey(kind, cred, append([]string{contactID}, childID...)...), loc: cred.LocationID,
		tags: contactTags(kind, cred.LocationID, contactID, childID...), ttl: ttl}
}

// Contact returns one contact.
func (r *Reader) Contact(ctx context.Context, id string) (*upstream.Contact, error) {
	return read(ctx, r, r.contactRequest(ctx, "contact", id),
		func(ctx context.Context) (*upstream.Contact, *upstream.Response, error) {
			return r.client.Contacts.Get(ctx, id)
		})
}

// Tasks returns the tasks of a contact.
func (r *Reader) Tasks(ctx context.Context, contactID string) ([]upstream.Task, error) {
	return read(ctx, r, r.contactRequest(ctx, "tasks", contactID),
		func(ctx context.Context) ([]upstream.Task, *upstream.Response, error) {
			return r.client.Tasks.List(ctx, contactID)
		})
}

// Notes returns the notes of a contact.
func (r *Reader) Notes(ctx context.Context, contactID string) ([]upstream.Note, error) {
	return read(ctx, r, r.contactRequest(ctx, "notes", contactID),
		func(ctx context.Context) ([]upstream.Note, *upstream.Response, error) {
			return r.client.Notes.List(ctx, contactID)
		})
}

// Appointments returns the appointments of a contact.
func (r *Reader) Appointments(ctx context.Context, contactID string) ([]upstream.Appointment, error) {
	return read(ctx, r, r.contactRequest(ctx, "appointments", contactID),
		func(ctx context.Context) ([]upstream.Appointment, *upstream.Response, error) {
			return r.client.Appointments.List(ctx, contactID)
		})
}

// Task returns one task of a contact.
func (r *Reader) Task(ctx context.Context, contactID, taskID string) (*upstream.Task, error) {
	return read(ctx, r, r.contactRequest(ctx, "task", contactID, taskID),
		func(ctx context.Context) (*upstream.Task, *upstream.Response, error) {
			return r.client.Tasks.Get(ctx, contactID, taskID)
		})
}

// Note returns one note of a contact.
func (r *Reader) Note(ctx context.Context, contactID, noteID string) (*upstream.Note, error) {
	return read(ctx, r, r.contactRequest(ctx, "note", contactID, noteID),
		func(ctx context.Context) (*upstream.Note, *upstream.Response, error) {
			return r.client.Notes.Get(ctx, contactID, noteID)
		})
}

// hashOf identifies a request body in a cache key.
func hashOf(v any) string {
	b, _ := json.Marshal(v)
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:12])
}

// Search runs a contact search. The contacts it returns are stored as
// single contacts too, so a contact a search returned is not fetched again.
func (r *Reader) Search(ctx context.Context, body *upstream.SearchContactsRequest) (*upstream.SearchResult, error) {
	cred := credential(ctx)
	return read(ctx, r, request{key: cacheKey("search", cred, body.LocationID, hashOf(body)), loc: body.LocationID,
		tags: searchTags(body.LocationID), ttl: r.ttls.Search},
		func(ctx context.Context) (*upstream.SearchResult, *upstream.Response, error) {
			epoch := r.epoch()
			res, resp, err := r.client.Contacts.Search(ctx, body)
			if err == nil {
				r.storeContacts(ctx, cred, res.Contacts, resp, epoch)
			}
			return res, resp, err
		})
}

// ListByBusiness returns a page of a business's contacts.
func (r *Reader) ListByBusiness(ctx context.Context, businessID string, opts upstream.ListByBusinessOptions) (*upstream.ContactList, error) {
	cred := credential(ctx)
	return read(ctx, r, request{key: cacheKey("business", cred, opts.LocationID, businessID, hashOf(opts)), loc: opts.LocationID,
		tags: searchTags(opts.LocationID), ttl: r.ttls.Search},
		func(ctx context.Context) (*upstream.ContactList, *upstream.Response, error) {
			return r.client.Contacts.ListByBusiness(ctx, businessID, opts)
		})
}

// List returns a page of the legacy contact listing.
func (r *Reader) List(ctx context.Context, opts upstream.ListOptions) (*upstream.ContactList, error) {
	cred := credential(ctx)
	return read(ctx, r, request{key: cacheKey("list", cred, opts.LocationID, hashOf(opts)), loc: opts.LocationID,
		tags: searchTags(opts.LocationID), ttl: r.ttls.Search},
		func(ctx context.Context) (*upstream.ContactList, *upstream.Response, error) {
			return r.client.Contacts.List(ctx, opts)
		})
}

// FindDuplicate returns the location's contact with this email or phone, or nil.
func (r *Reader) FindDuplicate(ctx context.Context, locationID, email, phone string) (*upstream.Contact, error) {
	cred := credential(ctx)
	return read(ctx, r, request{key: cacheKey("duplicate", cred, locationID, email, phone), loc: locationID,
		tags: searchTags(locationID), ttl: r.ttls.Search},
		func(ctx context.Context) (*upstream.Contact, *upstream.Response, error) {
			return r.client.Contacts.FindDuplicate(ctx, locationID, email, phone)
		})
}

// capTTL is ttl, capped while the shared cache's Redis is down (local
// caching only, with short lifetimes: other replicas' writes cannot reach
// this one).
func (r *Reader) capTTL(ttl time.Duration) time.Duration {
	if r.shared == nil {
		return ttl
	}
	return r.shared.ttl(ttl)
}

func (r *Reader) epoch() uint64 {
	if r.cache == nil {
		return 0
	}
	return r.cache.Epoch()
}

// listedKind is the cache kind of a contact as a listing returned it, which
// may lack fields (upstream.Contact.Partial): kept apart from "contact",
// which only ever holds whole contacts.
const listedKind = "listed"

// storeContacts caches contacts a listing returned as single contacts: a
// partial one as listedKind, so that it never stands in for, nor replaces,
// the whole contact.
func (r *Reader) storeContacts(ctx context.Context, cred auth.Credential, contacts []upstream.Contact, resp *upstream.Response, epoch uint64) {
	if r.cache == nil || len(contacts) == 0 || cred.ID == "" {
		return
	}
	size := 2 * resp.BodyBytes / len(contacts)
	for i := range contacts {
		c := &contacts[i]
		kind := "contact"
		if c.Partial() {
			kind = listedKind
		}
		req := request{key: cacheKey(kind, cred, c.ID), loc: cred.LocationID,
			tags: contactTags("contact", cred.LocationID, c.ID), ttl: r.capTTL(r.ttls.Contact)}
		// Only whole contacts are refreshed ahead: a refresh reads the whole
		// contact, which belongs under "contact", not the listed entry.
		if r.cache.SetStale(req.key, c, size, req.ttl, r.keep(), req.tags, epoch) && kind == "contact" {
			r.refresh.rememberContact(ctx, r, req, c.ID)
		}
	}
}

// locationLimiter bounds concurrent upstream calls per budget key: a
// location the upstream confirmed, or an unconfirmed credential's own key
// (upstream.CredentialBudgetKey), so that a client's claim cannot take a
// location's slots. A key's semaphore lives while someone holds or waits for
// it, so idle keys take no memory.
type locationLimiter struct {
	mu   sync.Mutex
	n    int
	sems map[string]*keySem
}

// keySem is one key's semaphore and how many hold or wait for it.
type keySem struct {
	slots chan struct{}
	users int
}

// acquire waits for a slot of key, or for ctx to end.
func (l *locationLimiter) acquire(ctx context.Context, key string) (func(), error) {
	l.mu.Lock()
	s := l.sems[key]
	if s == nil {
		s = &keySem{slots: make(chan struct{}, l.n)}
		l.sems[key] = s
	}
	s.users++
	l.mu.Unlock()
	leave := func() {
		l.mu.Lock()
		if s.users--; s.users == 0 {
			delete(l.sems, key)
		}
		l.mu.Unlock()
	}
	select {
	case s.slots <- struct{}{}:
		return func() { <-s.slots; leave() }, nil
	case <-ctx.Done():
		leave()
		return nil, ctx.Err()
	}
}

// keys reports how many keys have a semaphore (for tests of pruning).
func (l *locationLimiter) keys() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.sems)
}
