// This file holds the per-location rate budget: the RateBudget interface that
// Client.Do asks before every attempt and tells after every answer, the
// context keys that name the budget of a call and the request it belongs to,
// and LocalBudget, the in-memory implementation (a sliding window per key
// plus a cap per UTC day, waits bounded per request and served fairly).
//
// HighLevel counts calls per location in windows of 100 calls per 10 s and
// 200,000 per day, and answers 429 beyond them. A token bucket of capacity Max
// refilling Max per Interval can let about 2×Max calls into one window, which
// is exactly what causes 429s; a sliding window cannot.
//
// Keys are trusted only as far as the upstream has confirmed them: a
// location's key is used for the calls of a credential the upstream accepted
// for that location; any other credential's calls count against a key of
// its own (CredentialBudgetKey), small, until Confirm folds it into the
// location's. So no claim of a client (a header, an unverified JWT, an
// argument) can spend a location's budget.

package upstream

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// RateBudget decides when a call may go out; one budget per key (a location
// ID, or CredentialBudgetKey of a credential whose location the upstream has
// not confirmed). Implementations must be safe for concurrent use.
// LocalBudget keeps it in memory; a shared implementation (e.g. in Redis,
// issue 13) lets replicas of the gateway share it: Wait and Observe are one
// round trip each (a script over the key's window), Remaining, Capacity and
// Limit are reads, and Confirm happens once per credential.
type RateBudget interface {
	// Wait blocks until key may make one call, and takes that slot. The
	// wait is bounded by ctx's deadline and by what is left of the
	// request's wait allowance (ContextWithBudgetRequest; without one, by
	// the budget's own MaxWait): when the slot cannot come within it, Wait
	// returns at once an *Error whose Err matches ErrRateLimited, with
	// RetryAfter the time until the slot and RequestSent false. Waiting
	// calls are served fairly: interactive before background, within a
	// priority the calls that give answers data before completing ones
	// (ContextCompleting, which also fill at most their share of a window),
	// round-robin between clients and, within a client, between requests. When ctx ends
	// during the wait it returns an *Error that wraps ctx.Err(). On a
	// credential's own key, calls waiting behind one the upstream answers
	// 401 are refused with an *Error matching ErrUnauthorized.
	Wait(ctx context.Context, key string) error
	// Observe corrects the budget from an answer: its rate headers (Rate), its
	// status, and Retry-After. A 429 empties key's budget until Retry-After
	// (or the interval) has passed. Status 0 with an unknown Rate reports an
	// attempt that got no answer.
	Observe(key string, r Rate, status int, retryAfter time.Duration)
	// Remaining reports how many calls key may make now without waiting (min
	// of burst and daily).
	Remaining(key string) int
	// Capacity estimates how many calls key can make within d from now,
	// waiting as the window slides: what a request that may wait d can still
	// spend. The gateway refuses, before running it, a query that could not
	// finish within it.
	Capacity(key string, d time.Duration) int
	// Limit reports the window in force for key: at most max calls per
	// interval (a credential's own key has a smaller one).
	Limit(key string) (max int, interval time.Duration)
	// Confirm tells the budget that the credential whose own key is from
	// (CredentialBudgetKey) belongs to the location whose key is to, as the
	// upstream has just shown: the calls counted against from count against
	// to from now on (the upstream counted them against the location), and
	// later calls on from, including those waiting, use to.
	Confirm(from, to string)
}

// The defaults of BudgetConfig: HighLevel's documented limits per location.
const (
	// DefaultBudgetMax is the default number of calls per interval.
	DefaultBudgetMax = 100
	// DefaultBudgetInterval is the default length of the sliding window.
	DefaultBudgetInterval = 10 * time.Second
	// DefaultBudgetDaily is the default number of calls per UTC day.
	DefaultBudgetDaily = 200_000
	// DefaultBudgetMaxWait is how long one request may wait in total for
	// slots: at HighLevel's 100 per 10 s, about 20 slots free in 2 s of a
	// saturated window, so a call that cannot get one within it is behind
	// a backlog that only a stale copy or a later retry can beat, and the
	// client hears so fast (see docs/design.md, "Budget trust and waits").
	DefaultBudgetMaxWait = 2 * time.Second
	// DefaultBudgetCompletingShare: a contact's lists may fill half of a
	// window. A cold snapshot is one contact read and three list reads, so
	// without a bound its lists take three quarters of every window, and
	// the contacts that would turn RATE_LIMITED answers into data wait
	// (see docs/design.md, "Budget mix: spend calls where answers have no
	// data").
	DefaultBudgetCompletingShare = 0.5
	// DefaultBudgetUnconfirmedMax is the default window of a credential
	// whose location the upstream has not confirmed.
	DefaultBudgetUnconfirmedMax = 10
)

// BudgetConfig configures a LocalBudget. Zero or negative fields take the defaults.
type BudgetConfig struct {
	// Max is the number of calls allowed per Interval (default 100).
	Max int
	// Interval is the length of the sliding window (default 10s).
	Interval time.Duration
	// Daily is the number of calls allowed per UTC day (default 200,000).
	Daily int
	// MaxWait bounds how long one request waits for slots in total, when
	// its context carries no allowance of its own (default 2s).
	MaxWait time.Duration
	// CompletingShare is the share of a window that completing calls
	// (ContextCompleting) may fill: past it they wait, or are refused, and
	// the rest is left to calls that give answers their data. 0 (or 1)
	// lets them fill the window, as a budget without the policy would; the
	// gateway's -budget-completing-share defaults to
	// DefaultBudgetCompletingShare.
	CompletingShare float64
	// UnconfirmedMax is the number of calls per Interval of a credential's
	// own key (CredentialBudgetKey), which also lets only one call be in
	// flight until the upstream has accepted the credential (default 10).
	UnconfirmedMax int
	// Now is the clock (default time.Now).
	Now func() time.Time
	// Timer starts a timer that fires after d on the budget's clock; stop
	// stops it. The default is a real time.Timer; tests on a fake clock set
	// one that fires when the clock is advanced.
	Timer func(d time.Duration) (fire <-chan time.Time, stop func() bool)
}

// Bounds of the in-memory state.
const (
	// budgetIdleEvict: a location's key unused for this long is forgotten.
	// A day is enough: by then its windows and daily count have all expired.
	budgetIdleEvict = 24 * time.Hour
	// budgetSweepEvery is how often (by the budget's clock) idle keys are
	// looked for; credential keys are swept at least every two intervals.
	budgetSweepEvery = time.Hour
	// maxCredentialKeys bounds the keys of unconfirmed credentials, which
	// anyone can create with a made-up token: past it, idle ones are swept
	// at once, and a new one is refused (RATE_LIMITED) if none was idle.
	maxCredentialKeys = 1 << 16
	// aliasIdleEvict: a confirmed credential's key keeps naming its
	// location this long after its last use (requests under way when the
	// confirmation came still carry it).
	aliasIdleEvict = 10 * time.Minute
	// deadlineMargin: a wait ends this much (at most a tenth of the time
	// left) before the context's deadline, so that its refusal, not the
	// deadline, is what the caller sees.
	deadlineMargin = 50 * time.Millisecond
	// maxBudgetWindow bounds the burst size adopted from headers, so that a
	// garbled X-RateLimit-Max cannot make one key hold millions of entries.
	maxBudgetWindow = 10_000
)

// CredentialKeyPrefix starts the budget key of a credential whose location
// the upstream has not confirmed.
const CredentialKeyPrefix = "credential:"

// CredentialBudgetKey returns the budget key of the credential with this ID
// (a hash of its token) while its location is not confirmed.
func CredentialBudgetKey(id string) string { return CredentialKeyPrefix + id }

// Priority orders waiting calls: every waiting interactive call goes before
// any waiting background one.
type Priority uint8

// The priorities.
const (
	// PriorityInteractive is for requests someone waits for (the default).
	PriorityInteractive Priority = iota
	// PriorityBackground is for bulk syncs and the like, which yield.
	PriorityBackground
)

// levels is how many ranks of waiting calls there are: each Priority, and
// within it the calls that turn an answer with no data into one with data
// before the calls that only complete an answer (ContextCompleting).
const levels = 4

// level is the rank of a waiting call of a request of priority p.
func level(p Priority, completing bool) uint8 {
	l := 2 * uint8(min(p, PriorityBackground))
	if completing {
		l++
	}
	return l
}

type completingKey struct{}

// ContextCompleting marks the calls of ctx as completing an answer that
// has data without them: a contact's tasks, notes or appointments, when the
// contact itself is answered. While the budget is short, a waiting
// completing call goes after every waiting call of the same priority that
// is not (the contact, a search: what turns a RATE_LIMITED answer into a
// partial one), so that scarce calls are spent where an answer has no data.
func ContextCompleting(ctx context.Context) context.Context {
	if completing(ctx) {
		return ctx
	}
	return context.WithValue(ctx, completingKey{}, true)
}

func completing(ctx context.Context) bool {
	v, _ := ctx.Value(completingKey{}).(bool)
	return v
}

// BudgetRequest describes the request calls belong to, for the budget's
// waits; see ContextWithBudgetRequest.
type BudgetRequest struct {
	// Client names who makes the request (a credential's subject): waiting
	// calls are served round-robin between clients.
	Client string
	// Priority of the request's calls.
	Priority Priority
	// MaxWait is how long the request may wait for slots in total, all its
	// calls together; 0 means the budget's MaxWait.
	MaxWait time.Duration
}

// waitAccount is one request's wait allowance: time spent with at least one
// of its calls waiting for a slot, counted once however many wait at once.
type waitAccount struct {
	BudgetRequest
	id uint64 // the request, for round-robin between a client's requests

	mu     sync.Mutex
	spent  time.Duration
	active int
	since  time.Time
}

var waitAccounts atomic.Uint64

type budgetRequestKey struct{}

// ContextWithBudgetRequest returns a context whose calls belong to one
// request: they share its wait allowance (the total time they may wait for
// slots) and are served fairly against other requests' and clients'.
func ContextWithBudgetRequest(ctx context.Context, r BudgetRequest) context.Context {
	return context.WithValue(ctx, budgetRequestKey{}, &waitAccount{BudgetRequest: r, id: waitAccounts.Add(1)})
}

// BudgetRequestFromContext returns what ContextWithBudgetRequest set.
func BudgetRequestFromContext(ctx context.Context) (BudgetRequest, bool) {
	a, _ := ctx.Value(budgetRequestKey{}).(*waitAccount)
	if a == nil {
		return BudgetRequest{}, false
	}
	return a.BudgetRequest, true
}

// BudgetWaitLeft reports how much of the context's wait allowance is left
// at now; ok is false when the context carries none or it takes the
// budget's default.
func BudgetWaitLeft(ctx context.Context, now time.Time) (left time.Duration, ok bool) {
	a, _ := ctx.Value(budgetRequestKey{}).(*waitAccount)
	if a == nil || a.MaxWait <= 0 {
		return 0, false
	}
	return max(a.deadline(a.MaxWait, now).Sub(now), 0), true
}

// deadline is when the allowance runs out if waiting goes on from now.
func (a *waitAccount) deadline(total time.Duration, now time.Time) time.Time {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.active > 0 {
		return a.since.Add(total - a.spent)
	}
	return now.Add(total - a.spent)
}

// begin and end bracket one call's wait.
func (a *waitAccount) begin(now time.Time) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.active == 0 {
		a.since = now
	}
	a.active++
}

func (a *waitAccount) end(now time.Time) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.active--
	if a.active == 0 {
		a.spent += max(now.Sub(a.since), 0)
	}
}

// LocalBudget is the in-memory RateBudget of one gateway process.
//
// Per key it keeps the entries of the current window: calls granted (stamped
// when they were let go, then re-stamped when their answer arrives, since the
// upstream counted them somewhere in between), calls of others that the
// headers revealed, and reservations of callers waiting for a slot. A call
// may go when fewer than Max entries are alive in the last Interval and the
// day's count is below Daily. A call still in flight keeps its slot until
// its answer is observed (at most one more Interval), since the upstream may
// count it late: Observe must follow every Wait that let a call go, as
// Client.Do does.
//
// Waiters are ranked, and a waiter counts only the reservations ranked
// before it: interactive before background; within a priority, calls that
// give answers their data before completing ones; within a level, round-robin
// between clients (the last one served goes last), and within a client
// between its requests; within a request, first come first served. A
// waiter pushed back past its allowance by others ranked before it is
// refused at once.
type LocalBudget struct {
	cfg BudgetConfig

	mu        sync.Mutex
	keys      map[string]*keyBudget
	aliases   map[string]*budgetAlias
	credKeys  int
	lastSweep time.Time
	seq       uint64
}

// budgetAlias: a confirmed credential's key names its location's.
type budgetAlias struct {
	to       string
	lastUsed time.Time
}

// entryKind tells what an entry of a window stands for.
type entryKind uint8

const (
	// entryPending: a call let go whose answer has not arrived. The upstream
	// counts it on arrival, which may be later than its stamp.
	entryPending entryKind = iota
	// entryDone: a call whose answer arrived, stamped with the answer's time
	// (no earlier than the upstream counted it).
	entryDone
	// entryOther: a call the upstream counted that this budget never let go
	// (another app or replica), learned from X-RateLimit-Remaining.
	entryOther
	// entryReserved: a caller waiting for a slot; it holds its place in line.
	entryReserved
)

type budgetEntry struct {
	kind entryKind
	// at is when the call went (or was answered, for entryDone); for a
	// reservation, when its waiter expects to go.
	at time.Time
	// Of a reservation: arrival order, who waits, and the rank in line.
	seq    uint64
	client string
	req    uint64
	level  uint8 // see level: priority, then completing or not
	rank   int
	// rejections is the key's count when the waiter came.
	rejections int
}

// keyBudget is the state of one key.
type keyBudget struct {
	name    string
	entries []*budgetEntry
	// max and interval are the window in force: the configured one, or a
	// smaller one the upstream's headers announced.
	max      int
	interval time.Duration
	daily    int
	day      time.Time // UTC midnight of the day dayUsed counts
	dayUsed  int
	// blockedUntil: after a 429, nothing goes before this time.
	blockedUntil time.Time
	lastUsed     time.Time
	reserved     int
	// credential: a key of a credential whose location is not confirmed;
	// accepted: the upstream answered it other than with a 401 (until then
	// only one call is in flight at a time). movedTo: Confirm folded this
	// key into that one; its waiters move there.
	credential, accepted bool
	movedTo              string
	// completingShare is BudgetConfig.CompletingShare.
	completingShare float64
	// rejections counts the 401s the key was answered: the calls waiting
	// behind the one that drew it are refused (see Wait).
	rejections int
	// Round-robin state: the client last served per level, and the
	// request last served per client.
	lastClient [levels]string
	lastReq    map[string]uint64
	// changed is closed (and replaced) whenever a slot may have freed or
	// the line changed, to wake the waiters so that they look again.
	changed chan struct{}
}

// NewLocalBudget returns an in-memory budget.
func NewLocalBudget(cfg BudgetConfig) *LocalBudget {
	if cfg.Max <= 0 {
		cfg.Max = DefaultBudgetMax
	}
	if cfg.Interval <= 0 {
		cfg.Interval = DefaultBudgetInterval
	}
	if cfg.Daily <= 0 {
		cfg.Daily = DefaultBudgetDaily
	}
	if cfg.MaxWait <= 0 {
		cfg.MaxWait = DefaultBudgetMaxWait
	}
	if !(cfg.CompletingShare > 0) || cfg.CompletingShare > 1 {
		cfg.CompletingShare = 1
	}
	if cfg.UnconfirmedMax <= 0 {
		cfg.UnconfirmedMax = DefaultBudgetUnconfirmedMax
	}
	cfg.UnconfirmedMax = min(cfg.UnconfirmedMax, cfg.Max)
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Timer == nil {
		cfg.Timer = func(d time.Duration) (<-chan time.Time, func() bool) {
			t := time.NewTimer(d)
			return t.C, t.Stop
		}
	}
	return &LocalBudget{cfg: cfg, keys: map[string]*keyBudget{}, aliases: map[string]*budgetAlias{}}
}

// resolve follows a confirmed credential's alias; the caller holds b.mu.
func (b *LocalBudget) resolve(key string, now time.Time) string {
	if a := b.aliases[key]; a != nil {
		a.lastUsed = now
		return a.to
	}
	return key
}

// sweep forgets idle keys and aliases, at most every budgetSweepEvery (or
// two intervals, for credential keys), or at once when force; the caller
// holds b.mu.
func (b *LocalBudget) sweep(now time.Time, force bool) {
	credIdle := 2 * b.cfg.Interval
	every := min(budgetSweepEvery, credIdle)
	if !force && now.Sub(b.lastSweep) < every && !now.Before(b.lastSweep) {
		return
	}
	b.lastSweep = now
	for k, kb := range b.keys {
		idle := budgetIdleEvict
		if kb.credential {
			idle = credIdle
		}
		if kb.reserved == 0 && now.Sub(kb.lastUsed) > idle {
			b.drop(k, kb)
		}
	}
	for k, a := range b.aliases {
		if now.Sub(a.lastUsed) > aliasIdleEvict {
			delete(b.aliases, k)
		}
	}
}

func (b *LocalBudget) drop(k string, kb *keyBudget) {
	delete(b.keys, k)
	if kb.credential {
		b.credKeys--
	}
}

// key returns the state of key, creating it; nil when key is a new
// credential key and there are too many. The caller holds b.mu.
func (b *LocalBudget) key(key string, now time.Time) *keyBudget {
	b.sweep(now, false)
	kb := b.keys[key]
	if kb == nil {
		cred := strings.HasPrefix(key, CredentialKeyPrefix)
		if cred && b.credKeys >= maxCredentialKeys {
			b.sweep(now, true)
			if b.credKeys >= maxCredentialKeys {
				return nil
			}
		}
		kb = &keyBudget{name: key, max: b.cfg.Max, interval: b.cfg.Interval, daily: b.cfg.Daily, credential: cred,
			completingShare: b.cfg.CompletingShare,
			lastReq:         map[string]uint64{}, changed: make(chan struct{})}
		if cred {
			kb.max = b.cfg.UnconfirmedMax
			b.credKeys++
		}
		b.keys[key] = kb
	}
	kb.lastUsed = now
	kb.rollDay(now)
	kb.prune(now)
	return kb
}

// capFor is how many calls of the window a waiter of this level may find
// alive and still go: the whole window, or for a completing call its share
// (BudgetConfig.CompletingShare), so that the rest of every window is left
// to the calls that give answers their data.
func (kb *keyBudget) capFor(lvl uint8) int {
	if lvl%2 == 0 || kb.completingShare >= 1 {
		return kb.max
	}
	return max(1, int(float64(kb.max)*kb.completingShare))
}

// rollDay starts a new daily count when now is on another UTC day.
func (kb *keyBudget) rollDay(now time.Time) {
	if day := utcDay(now); !day.Equal(kb.day) {
		kb.day, kb.dayUsed = day, 0
	}
}

func utcDay(t time.Time) time.Time {
	y, m, d := t.UTC().Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
}

// expiry is when e stops counting against the window. conservative treats a
// call still in flight as if the upstream counted it just now (it may arrive
// late), for at most one more interval; the optimistic view, used to decide
// whether a wait is worth starting, takes its stamp as the time it was counted.
func (kb *keyBudget) expiry(e *budgetEntry, conservative bool) time.Time {
	if e.kind == entryPending && conservative {
		return e.at.Add(2 * kb.interval)
	}
	return e.at.Add(kb.interval)
}

// prune drops entries that can no longer count.
func (kb *keyBudget) prune(now time.Time) {
	kb.entries = slices.DeleteFunc(kb.entries, func(e *budgetEntry) bool {
		return e.kind != entryReserved && !kb.expiry(e, true).After(now)
	})
}

// earliest returns the first time, not before now, at which the waiter
// holding r (nil: a newcomer behind every waiter) may go: fewer than max
// entries alive, not blocked, the day not spent. The reservations ranked
// before r go first, one after the other, each holding its slot for an
// interval from when it goes, so the time is r's place in line, not only
// the next free slot. waitAnswer reports that, on the cautious reckoning,
// r must wait for an answer first (a credential not yet accepted has one
// call at a time in flight); the time returned then only bounds the sleep.
func (kb *keyBudget) earliest(r *budgetEntry, now time.Time, conservative bool) (t time.Time, waitAnswer bool) {
	capN := kb.max
	if r != nil {
		capN = kb.capFor(r.level)
	}
	return kb.slot(r, -1, now, conservative, capN)
}

// slot is earliest with ahead waiters going first: those ranked before r
// when ahead is negative.
// capN is how many calls of the window r may find alive and still go: the
// window's max, less the reserve completing calls leave (see capFor).
func (kb *keyBudget) slot(r *budgetEntry, ahead int, now time.Time, conservative bool, capN int) (t time.Time, waitAnswer bool) {
	var exp []time.Time
	count := ahead < 0
	ahead = max(ahead, 0)
	pending := 0
	for _, e := range kb.entries {
		if e == r {
			continue
		}
		switch e.kind {
		case entryReserved:
			if count && (r == nil || e.rank < r.rank) {
				ahead++
			}
			continue
		case entryPending:
			pending++
		}
		if x := kb.expiry(e, conservative); x.After(now) {
			exp = append(exp, x)
		}
	}
	if conservative && kb.credential && !kb.accepted && pending+ahead > 0 {
		return now.Add(2 * kb.interval), true
	}
	slices.SortFunc(exp, func(a, b time.Time) int { return a.Compare(b) })
	t = now
	if kb.blockedUntil.After(t) {
		t = kb.blockedUntil
	}
	// Those ahead take their slots in turn; r takes the one after.
	for i := 0; ; {
		gone, _ := slices.BinarySearchFunc(exp, t, func(x, t time.Time) int {
			if !x.After(t) {
				return -1
			}
			return 1
		})
		exp = exp[gone:]
		if len(exp) >= capN {
			// Once the (len-capN+1) earliest expiries have passed, capN-1 remain.
			t = exp[len(exp)-capN]
			continue
		}
		if i == ahead {
			break
		}
		i++
		at, _ := slices.BinarySearchFunc(exp, t.Add(kb.interval), func(x, t time.Time) int { return x.Compare(t) })
		exp = slices.Insert(exp, at, t.Add(kb.interval))
	}
	if kb.dayUsed+ahead >= kb.daily {
		if next := kb.day.Add(24 * time.Hour); next.After(t) {
			t = next
		}
	}
	return t, false
}

// rerank puts the waiters in the order they are served: priority, then
// round-robin between clients starting after the last one served, then
// round-robin between each client's requests, then arrival.
func (kb *keyBudget) rerank() {
	type request struct {
		id    uint64
		queue []*budgetEntry
	}
	type client struct {
		name string
		reqs []*request
		next int
	}
	rank := 0
	for lvl := range uint8(levels) {
		byClient := map[string]*client{}
		var clients []*client
		for _, e := range kb.entries {
			if e.kind != entryReserved || e.level != lvl {
				continue
			}
			c := byClient[e.client]
			if c == nil {
				c = &client{name: e.client}
				byClient[e.client] = c
				clients = append(clients, c)
			}
			i := slices.IndexFunc(c.reqs, func(q *request) bool { return q.id == e.req })
			if i < 0 {
				c.reqs = append(c.reqs, &request{id: e.req})
				i = len(c.reqs) - 1
			}
			c.reqs[i].queue = append(c.reqs[i].queue, e)
		}
		if len(clients) == 0 {
			continue
		}
		// Clients in name order, starting after the last one served;
		// requests in ID order, starting after the client's last served;
		// each request's calls in arrival order.
		slices.SortFunc(clients, func(a, b *client) int { return cmp.Compare(a.name, b.name) })
		start, _ := slices.BinarySearchFunc(clients, kb.lastClient[lvl], func(c *client, name string) int {
			if c.name <= name {
				return -1
			}
			return 1
		})
		clients = append(clients[start:], clients[:start]...)
		for _, c := range clients {
			slices.SortFunc(c.reqs, func(a, b *request) int { return cmp.Compare(a.id, b.id) })
			last := kb.lastReq[c.name]
			c.next, _ = slices.BinarySearchFunc(c.reqs, last, func(q *request, id uint64) int {
				if q.id <= id {
					return -1
				}
				return 1
			})
			for _, q := range c.reqs {
				slices.SortFunc(q.queue, func(a, b *budgetEntry) int { return cmp.Compare(a.seq, b.seq) })
			}
		}
		for left := true; left; {
			left = false
			for _, c := range clients {
				for range c.reqs {
					q := c.reqs[c.next%len(c.reqs)]
					c.next++
					if len(q.queue) > 0 {
						q.queue[0].rank = rank
						rank++
						q.queue = q.queue[1:]
						left = true
						break
					}
				}
			}
		}
	}
	// The round-robin state of clients with no waiter left is forgotten.
	for name := range kb.lastReq {
		if !slices.ContainsFunc(kb.entries, func(e *budgetEntry) bool { return e.kind == entryReserved && e.client == name }) {
			delete(kb.lastReq, name)
		}
	}
}

// insert puts a waiter in line.
func (kb *keyBudget) insert(r *budgetEntry) {
	kb.entries = append(kb.entries, r)
	kb.reserved++
	kb.rerank()
}

// remove takes a waiter out of line without a slot, and wakes the others
// when it had been waiting (those behind it may go sooner).
func (kb *keyBudget) remove(r *budgetEntry, wake bool) {
	kb.entries = slices.DeleteFunc(kb.entries, func(e *budgetEntry) bool { return e == r })
	kb.reserved--
	kb.rerank()
	if wake {
		kb.wake()
	}
}

// grant records a call let go at now without waiting.
func (kb *keyBudget) grant(now time.Time) {
	kb.entries = append(kb.entries, &budgetEntry{kind: entryPending, at: now})
	kb.dayUsed++
}

// take turns r's reservation into a call let go at now.
func (kb *keyBudget) take(r *budgetEntry, now time.Time) {
	r.kind, r.at = entryPending, now
	kb.reserved--
	kb.dayUsed++
	kb.lastClient[r.level] = r.client
	kb.lastReq[r.client] = r.req
	if kb.reserved > 0 {
		kb.rerank()
		kb.wake()
	}
}

// wake tells the waiters that a slot may have freed.
func (kb *keyBudget) wake() {
	close(kb.changed)
	kb.changed = make(chan struct{})
}

// usedInWindow counts the calls the upstream should see in its window now:
// every call let go or learned of in the last interval.
func (kb *keyBudget) usedInWindow(now time.Time) int {
	n := 0
	for _, e := range kb.entries {
		if e.kind != entryReserved && e.at.After(now.Add(-kb.interval)) && !e.at.After(now) {
			n++
		}
	}
	return n
}

// budgetError is Wait's refusal: the call could not go within the wait
// allowed.
func budgetError(wait time.Duration) *Error {
	return &Error{
		Err:        fmt.Errorf("%w: the rate budget allows no call within the wait allowed (next in %v)", ErrRateLimited, wait.Round(time.Millisecond)),
		RetryAfter: wait,
		// Repeating later is safe: nothing was sent.
		Retryable: true,
	}
}

// rejectedError refuses a call of an unconfirmed credential whose call
// ahead the upstream answered 401.
func rejectedError() *Error {
	return &Error{Err: fmt.Errorf("%w: the upstream rejected the credential's previous call", ErrUnauthorized),
		Messages: []string{"HighLevel rejected this credential's previous call"}}
}

// Wait implements RateBudget.
func (b *LocalBudget) Wait(ctx context.Context, key string) error {
	if err := ctx.Err(); err != nil {
		return &Error{Err: err}
	}
	acct, _ := ctx.Value(budgetRequestKey{}).(*waitAccount)
	if acct == nil {
		acct = &waitAccount{}
	}
	total := acct.MaxWait
	if total <= 0 {
		total = b.cfg.MaxWait
	}

	b.mu.Lock()
	now := b.cfg.Now()
	// The wait is bounded by what is left of the request's allowance and by
	// the context's deadline (real time, carried over to the budget's clock).
	limit := acct.deadline(total, now)
	if dl, ok := ctx.Deadline(); ok {
		// A slot at the deadline is of no use (the call needs a round trip),
		// and the refusal must reach the caller before its context ends.
		left := time.Until(dl)
		left -= min(deadlineMargin, left/10)
		if l := now.Add(left); l.Before(limit) {
			limit = l
		}
	}
	kb := b.key(b.resolve(key, now), now)
	if kb == nil {
		b.mu.Unlock()
		return budgetError(b.cfg.Interval)
	}
	lvl := level(acct.Priority, completing(ctx))
	if kb.reserved == 0 {
		// Nobody waits: the common case needs no line.
		if t, _ := kb.slot(nil, -1, now, true, kb.capFor(lvl)); !t.After(now) {
			kb.grant(now)
			b.mu.Unlock()
			return nil
		}
	}
	if !kb.credential {
		// Refused even at the head of the line: no need to join it (the
		// common case under overload, which must stay cheap).
		if t, _ := kb.slot(nil, 0, now, false, kb.capFor(lvl)); t.Sub(now) > limit.Sub(now) || !limit.After(now) {
			b.mu.Unlock()
			return budgetError(max(t.Sub(now), 0))
		}
	}
	b.seq++
	r := &budgetEntry{kind: entryReserved, at: now, seq: b.seq, client: acct.Client, req: acct.id, level: lvl}
	r.rejections = kb.rejections
	kb.insert(r)
	waiting := false
	finish := func() {
		if waiting {
			acct.end(now)
		}
		b.mu.Unlock()
	}
	for {
		if kb.movedTo != "" {
			// Confirmed meanwhile: wait in the location's line instead.
			kb.remove(r, true)
			if kb.reserved == 0 && b.keys[kb.name] == kb {
				b.drop(kb.name, kb)
			}
			next := b.key(b.resolve(kb.movedTo, now), now)
			if next == nil {
				finish()
				return budgetError(b.cfg.Interval)
			}
			kb = next
			r.rejections = kb.rejections
			kb.insert(r)
		}
		if kb.credential && kb.rejections != r.rejections {
			// The call ahead of this one drew a 401: the credential is bad.
			kb.remove(r, true)
			finish()
			return rejectedError()
		}
		if t, _ := kb.earliest(r, now, true); !t.After(now) {
			kb.take(r, now)
			finish()
			return nil
		}
		d, refused := kb.plan(r, now, limit)
		if refused != nil {
			// A newcomer refused at once changed nothing the others saw.
			kb.remove(r, waiting)
			finish()
			return refused
		}
		if !waiting {
			waiting = true
			acct.begin(now)
			if r.rank < kb.reserved-1 {
				// Others ranked after this one may now be pushed past their limit.
				kb.wake()
			}
		}
		changed := kb.changed
		// A sleep to the limit ends the wait: when it fires the limit has
		// come, by the timer's reckoning if not yet by the clock's.
		toLimit := d >= limit.Sub(now)
		b.mu.Unlock()

		fire, stop := b.cfg.Timer(d)
		select {
		case <-ctx.Done():
			stop()
			b.mu.Lock()
			now = b.cfg.Now()
			_, refused := kb.plan(r, now, time.Time{})
			kb.remove(r, true)
			finish()
			if errors.Is(ctx.Err(), context.DeadlineExceeded) {
				return refused
			}
			return &Error{Err: ctx.Err()}
		case <-fire:
		case <-changed:
			stop()
			toLimit = false
		}
		b.mu.Lock()
		now = b.cfg.Now()
		if toLimit && now.Before(limit) {
			limit = now
		}
		kb.lastUsed = now
		kb.rollDay(now)
		kb.prune(now)
	}
}

// plan decides, for a caller that cannot go at now, how long to sleep
// before looking again, or refuses when the slot cannot come before limit.
// The refusal is decided on the optimistic reckoning, so that a caller is
// not turned away only because answers are still in flight; the sleep on
// the cautious one, shortened by the wake-ups that answers bring.
func (kb *keyBudget) plan(r *budgetEntry, now, limit time.Time) (time.Duration, *Error) {
	o, _ := kb.earliest(r, now, false)
	c, waitAnswer := kb.earliest(r, now, true)
	opt, cautious := o.Sub(now), c.Sub(now)
	avail := limit.Sub(now)
	if kb.credential && opt > avail && avail > 0 {
		// A credential's own window is small on purpose: a credential the
		// upstream accepts is confirmed by its first answer that names its
		// location, and its waiters then move to the location's line. So
		// hope for that until the limit, rather than refuse now.
		return avail, nil
	}
	if opt > avail || avail <= 0 {
		retry := opt
		if retry <= 0 {
			// Only calls still in flight hold the slot: their answers did
			// not come in time.
			retry = cautious
			if waitAnswer {
				// The credential's first answer decides; it is due within
				// an upstream round trip.
				retry = time.Second
			}
		}
		return 0, budgetError(retry)
	}
	return max(min(cautious, avail), 0), nil
}

// Observe implements RateBudget.
func (b *LocalBudget) Observe(key string, r Rate, status int, retryAfter time.Duration) {
	b.mu.Lock()
	defer b.mu.Unlock()
	now := b.cfg.Now()
	kb := b.key(b.resolve(key, now), now)
	if kb == nil {
		return
	}

	// The answer came for one of the calls in flight: the upstream counted it
	// at the latest now. Which call is unknown, so re-stamp the oldest one:
	// that keeps every stamp at or after the true count time.
	var oldest *budgetEntry
	for _, e := range kb.entries {
		if e.kind == entryPending && !e.at.After(now) && (oldest == nil || e.at.Before(oldest.at)) {
			oldest = e
		}
	}
	if oldest != nil {
		oldest.kind, oldest.at = entryDone, now
	}
	if kb.credential {
		switch {
		case status == 401:
			// Rejected (or refused a scope): one call at a time again, and
			// those waiting behind this one do not go.
			kb.accepted = false
			kb.rejections++
		case status >= 200 && status < 500 && status != 429:
			kb.accepted = true
		}
	}

	if r.Max > 0 && r.Interval > 0 {
		cfgMax := b.cfg.Max
		if kb.credential {
			cfgMax = b.cfg.UnconfirmedMax
		}
		kb.max, kb.interval = smallerWindow(cfgMax, b.cfg.Interval, r.Max, r.Interval)
	}
	if r.DailyLimit > 0 {
		kb.daily = min(b.cfg.Daily, r.DailyLimit)
	}
	if r.Remaining >= 0 {
		// The upstream also counts the calls of other apps and replicas on
		// the same location: take what they used out of this window.
		if extra := min(kb.max-kb.usedInWindow(now)-r.Remaining, kb.max); extra > 0 {
			for range extra {
				kb.entries = append(kb.entries, &budgetEntry{kind: entryOther, at: now})
			}
		}
	}
	if r.DailyRemaining >= 0 && kb.daily-kb.dayUsed > r.DailyRemaining {
		kb.dayUsed = kb.daily - r.DailyRemaining
	}
	if status == 429 {
		d := retryAfter
		if d <= 0 {
			d = kb.interval
		}
		if until := now.Add(d); until.After(kb.blockedUntil) {
			kb.blockedUntil = until
		}
	}
	kb.wake()
}

// Confirm implements RateBudget. The credential's calls let go or answered
// move to the location's window (the upstream counted them there); what its
// headers taught about others is left behind, since the location's own
// answers tell it. A 429 block and the day's count move along.
func (b *LocalBudget) Confirm(from, to string) {
	if from == "" || to == "" || from == to {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	now := b.cfg.Now()
	to = b.resolve(to, now)
	if from == to {
		return
	}
	b.aliases[from] = &budgetAlias{to: to, lastUsed: now}
	src := b.keys[from]
	if src == nil {
		return
	}
	dst := b.key(to, now)
	if dst == nil {
		return
	}
	src.rollDay(now)
	src.prune(now)
	var waiters []*budgetEntry
	for _, e := range src.entries {
		switch e.kind {
		case entryPending, entryDone:
			dst.entries = append(dst.entries, e)
		case entryReserved:
			waiters = append(waiters, e)
		}
	}
	if src.day.Equal(dst.day) {
		dst.dayUsed += src.dayUsed
	}
	if src.blockedUntil.After(dst.blockedUntil) {
		dst.blockedUntil = src.blockedUntil
	}
	src.entries, src.movedTo = waiters, to
	if src.reserved == 0 {
		b.drop(from, src)
	}
	src.wake()
	dst.wake()
}

// smallerWindow returns the window with fewer calls per unit of time (at
// equal rates, the smaller burst): the configured one or the announced one.
func smallerWindow(cfgMax int, cfgInterval time.Duration, max int, interval time.Duration) (int, time.Duration) {
	cfgRate := float64(cfgMax) / cfgInterval.Seconds()
	rate := float64(max) / interval.Seconds()
	if rate > cfgRate || (rate == cfgRate && max >= cfgMax) {
		return cfgMax, cfgInterval
	}
	if max > maxBudgetWindow {
		// Keep the rate, shrink the burst: the window stays small in memory.
		interval = time.Duration(float64(interval) * maxBudgetWindow / float64(max))
		max = maxBudgetWindow
	}
	return max, interval
}

// Remaining implements RateBudget.
func (b *LocalBudget) Remaining(key string) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	now := b.cfg.Now()
	key = b.resolve(key, now)
	kb := b.keys[key]
	if kb == nil {
		if strings.HasPrefix(key, CredentialKeyPrefix) {
			return 1 // one call until the first answer
		}
		return min(b.cfg.Max, b.cfg.Daily)
	}
	kb.rollDay(now)
	kb.prune(now)
	if kb.blockedUntil.After(now) {
		return 0
	}
	alive, pending := 0, 0
	for _, e := range kb.entries {
		if e.kind == entryReserved || kb.expiry(e, true).After(now) {
			alive++
		}
		if e.kind == entryPending || e.kind == entryReserved {
			pending++
		}
	}
	left := max(min(kb.max-alive, kb.daily-kb.dayUsed-kb.reserved), 0)
	if kb.credential && !kb.accepted {
		left = min(left, max(1-pending, 0))
	}
	return left
}

// Capacity implements RateBudget: what is free once the calls now in the
// window that leave it within d have left (a sliding window frees slots as
// its calls expire), plus a whole window for every Interval of d, after any
// 429 block, and no more than the day has left.
func (b *LocalBudget) Capacity(key string, d time.Duration) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	now := b.cfg.Now()
	key = b.resolve(key, now)
	kb := b.keys[key]
	if kb == nil {
		maxN := b.cfg.Max
		if strings.HasPrefix(key, CredentialKeyPrefix) {
			maxN = b.cfg.UnconfirmedMax
		}
		return windowCapacity(maxN, b.cfg.Interval, 0, d, b.cfg.Daily)
	}
	kb.rollDay(now)
	kb.prune(now)
	start := now
	if kb.blockedUntil.After(now) {
		d -= kb.blockedUntil.Sub(now)
		if d < 0 {
			return 0
		}
		start = kb.blockedUntil
	}
	var horizon time.Time
	if kb.interval > 0 {
		horizon = start.Add(d % kb.interval)
	}
	alive := kb.reserved
	for _, e := range kb.entries {
		if e.kind != entryReserved && kb.expiry(e, true).After(horizon) {
			alive++
		}
	}
	return windowCapacity(kb.max, kb.interval, alive, d, kb.daily-kb.dayUsed-kb.reserved)
}

// windowCapacity is max-alive calls, plus max for every whole interval of
// d, capped by what the day has left.
func windowCapacity(maxN int, interval time.Duration, alive int, d time.Duration, dailyLeft int) int {
	n := int64(maxN - alive)
	if d > 0 && interval > 0 {
		n += int64(maxN) * int64(d/interval)
	}
	return int(max(0, min(n, int64(dailyLeft), math.MaxInt32)))
}

// Limit implements RateBudget.
func (b *LocalBudget) Limit(key string) (int, time.Duration) {
	b.mu.Lock()
	defer b.mu.Unlock()
	key = b.resolve(key, b.cfg.Now())
	if kb := b.keys[key]; kb != nil {
		return kb.max, kb.interval
	}
	if strings.HasPrefix(key, CredentialKeyPrefix) {
		return b.cfg.UnconfirmedMax, b.cfg.Interval
	}
	return b.cfg.Max, b.cfg.Interval
}

// keyCount reports how many keys the budget holds (for tests of eviction).
func (b *LocalBudget) keyCount() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.keys)
}

type budgetKeyKey struct{}

// ContextWithBudgetKey returns a context whose calls are counted against the
// budget of key: the location ID of the call once the upstream has confirmed
// the credential belongs to it, else CredentialBudgetKey of the credential.
// Calls on a context without one share the key "".
func ContextWithBudgetKey(ctx context.Context, key string) context.Context {
	return context.WithValue(ctx, budgetKeyKey{}, key)
}

// BudgetKeyFromContext returns the key set by ContextWithBudgetKey, or "".
func BudgetKeyFromContext(ctx context.Context) string {
	k, _ := ctx.Value(budgetKeyKey{}).(string)
	return k
}

// WithRateBudget makes every attempt of every call wait for a slot of b
// (keyed by ContextWithBudgetKey) and report its answer to b. nil, the
// default, means no budget.
func WithRateBudget(b RateBudget) Option {
	return func(c *Client) error { c.budget = b; return nil }
}

// RateCapacity reports how many calls key can make within d (see
// RateBudget.Capacity); -1 when the client keeps no budget.
func (c *Client) RateCapacity(key string, d time.Duration) int {
	if c.budget == nil {
		return -1
	}
	return c.budget.Capacity(key, d)
}

// RateRemaining reports how many calls key may make now without waiting, or
// -1 when the client has no budget.
func (c *Client) RateRemaining(key string) int {
	if c.budget == nil {
		return -1
	}
	return c.budget.Remaining(key)
}

// RateLimit reports key's window (see RateBudget.Limit); ok is false when
// the client keeps no budget.
func (c *Client) RateLimit(key string) (max int, interval time.Duration, ok bool) {
	if c.budget == nil {
		return 0, 0, false
	}
	max, interval = c.budget.Limit(key)
	return max, interval, true
}

// ConfirmRateBudget folds a credential's own budget key into its
// location's (see RateBudget.Confirm); nothing without a budget.
func (c *Client) ConfirmRateBudget(from, to string) {
	if c.budget != nil {
		c.budget.Confirm(from, to)
	}
}
