// This file holds the per-location rate budget: the RateBudget interface that
// Client.Do asks before every attempt and tells after every answer, the
// context key that names the budget of a call, and LocalBudget, the in-memory
// implementation (a sliding window per key plus a cap per UTC day).
//
// HighLevel counts calls per location in windows of 100 calls per 10 s and
// 200,000 per day, and answers 429 beyond them. A token bucket of capacity Max
// refilling Max per Interval can let about 2×Max calls into one window, which
// is exactly what causes 429s; a sliding window cannot.

package upstream

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"sync"
	"time"
)

// RateBudget decides when a call may go out; one budget per key (a location
// ID, or a credential ID when the location is unknown). Implementations must
// be safe for concurrent use. LocalBudget keeps it in memory; a shared
// implementation (e.g. in Redis) lets replicas of the gateway share it.
type RateBudget interface {
	// Wait blocks until key may make one call, and takes that slot. When the
	// wait would pass ctx's deadline (or MaxWait when ctx has none) it returns
	// at once an *Error whose Err matches ErrRateLimited, with RetryAfter set
	// and RequestSent false. When ctx ends during the wait it returns an
	// *Error that wraps ctx.Err().
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
	// waiting as the window slides: what a request with d left before its
	// deadline can still spend. The gateway refuses, before running it, a
	// query that could not finish within it.
	Capacity(key string, d time.Duration) int
}

// The defaults of BudgetConfig: HighLevel's documented limits per location.
const (
	// DefaultBudgetMax is the default number of calls per interval.
	DefaultBudgetMax = 100
	// DefaultBudgetInterval is the default length of the sliding window.
	DefaultBudgetInterval = 10 * time.Second
	// DefaultBudgetDaily is the default number of calls per UTC day.
	DefaultBudgetDaily = 200_000
	// DefaultBudgetMaxWait is how long Wait may block when its context has no deadline.
	DefaultBudgetMaxWait = 30 * time.Second
)

// BudgetConfig configures a LocalBudget. Zero or negative fields take the defaults.
type BudgetConfig struct {
	// Max is the number of calls allowed per Interval (default 100).
	Max int
	// Interval is the length of the sliding window (default 10s).
	Interval time.Duration
	// Daily is the number of calls allowed per UTC day (default 200,000).
	Daily int
	// MaxWait bounds a Wait whose context has no deadline (default 30s).
	MaxWait time.Duration
	// Now is the clock (default time.Now). Waiting itself always uses real
	// timers; the clock only decides how long to wait.
	Now func() time.Time
}

// Bounds of the in-memory state.
const (
	// budgetIdleEvict: a key unused for this long is forgotten. A day is
	// enough: by then the key's windows and its daily count have all expired.
	budgetIdleEvict = 24 * time.Hour
	// budgetSweepEvery is how often (by the budget's clock) idle keys are looked for.
	budgetSweepEvery = time.Hour
	// maxBudgetWindow bounds the burst size adopted from headers, so that a
	// garbled X-RateLimit-Max cannot make one key hold millions of entries.
	maxBudgetWindow = 10_000
)

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
type LocalBudget struct {
	cfg BudgetConfig

	mu        sync.Mutex
	keys      map[string]*keyBudget
	lastSweep time.Time
	seq       uint64
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
	at  time.Time
	seq uint64 // order of reservations: earlier ones go first
}

// keyBudget is the state of one key.
type keyBudget struct {
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
	// changed is closed (and replaced) whenever a slot may have freed, to
	// wake the waiters so that they look again.
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
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &LocalBudget{cfg: cfg, keys: map[string]*keyBudget{}}
}

// key returns the state of key, creating it; the caller holds b.mu.
func (b *LocalBudget) key(key string, now time.Time) *keyBudget {
	if now.Sub(b.lastSweep) >= budgetSweepEvery || now.Before(b.lastSweep) {
		b.lastSweep = now
		for k, kb := range b.keys {
			if kb.reserved == 0 && now.Sub(kb.lastUsed) > budgetIdleEvict {
				delete(b.keys, k)
			}
		}
	}
	kb := b.keys[key]
	if kb == nil {
		kb = &keyBudget{max: b.cfg.Max, interval: b.cfg.Interval, daily: b.cfg.Daily, changed: make(chan struct{})}
		b.keys[key] = kb
	}
	kb.lastUsed = now
	kb.rollDay(now)
	kb.prune(now)
	return kb
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
// holding r (nil for a newcomer) may go: fewer than max entries alive, not
// blocked, the day not spent. Entries of waiters that came later than r do
// not hold r back; those that came earlier do.
func (kb *keyBudget) earliest(r *budgetEntry, now time.Time, conservative bool) time.Time {
	var exp []time.Time
	ahead := 0
	for _, e := range kb.entries {
		if e == r {
			continue
		}
		if e.kind == entryReserved {
			if r != nil && e.seq > r.seq {
				continue
			}
			ahead++
		}
		if x := kb.expiry(e, conservative); x.After(now) {
			exp = append(exp, x)
		}
	}
	t := now
	if len(exp) >= kb.max {
		slices.SortFunc(exp, func(a, b time.Time) int { return a.Compare(b) })
		// Once the (len-max+1) earliest expiries have passed, max-1 remain.
		if x := exp[len(exp)-kb.max]; x.After(t) {
			t = x
		}
	}
	if kb.blockedUntil.After(t) {
		t = kb.blockedUntil
	}
	if kb.dayUsed+ahead >= kb.daily {
		if next := kb.day.Add(24 * time.Hour); next.After(t) {
			t = next
		}
	}
	return t
}

// grant records a call let go at now; the caller holds the lock.
func (kb *keyBudget) grant(now time.Time) {
	kb.entries = append(kb.entries, &budgetEntry{kind: entryPending, at: now})
	kb.dayUsed++
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

// budgetError is Wait's refusal: the call could not go before the deadline.
func budgetError(wait time.Duration) *Error {
	return &Error{
		Err:        fmt.Errorf("%w: the rate budget allows no call before the deadline (next in %v)", ErrRateLimited, wait.Round(time.Millisecond)),
		RetryAfter: wait,
		// Repeating later is safe: nothing was sent.
		Retryable: true,
	}
}

// Wait implements RateBudget.
func (b *LocalBudget) Wait(ctx context.Context, key string) error {
	if err := ctx.Err(); err != nil {
		return &Error{Err: err}
	}
	// The wait is bounded in real time: by the context's deadline, or MaxWait.
	limit, ok := ctx.Deadline()
	if !ok {
		limit = time.Now().Add(b.cfg.MaxWait)
	}

	b.mu.Lock()
	now := b.cfg.Now()
	kb := b.key(key, now)
	if !kb.earliest(nil, now, true).After(now) {
		kb.grant(now)
		b.mu.Unlock()
		return nil
	}
	if _, refused := kb.plan(nil, now, limit); refused != nil {
		b.mu.Unlock()
		return refused
	}
	// Hold a place in line, so that callers who come later cannot take the
	// slot this one is waiting for.
	b.seq++
	r := &budgetEntry{kind: entryReserved, at: kb.earliest(nil, now, false), seq: b.seq}
	kb.entries = append(kb.entries, r)
	kb.reserved++
	release := func() {
		kb.entries = slices.DeleteFunc(kb.entries, func(e *budgetEntry) bool { return e == r })
		kb.reserved--
		kb.wake()
		b.mu.Unlock()
	}
	for {
		if !kb.earliest(r, now, true).After(now) {
			r.kind, r.at = entryPending, now
			kb.reserved--
			kb.dayUsed++
			b.mu.Unlock()
			return nil
		}
		d, refused := kb.plan(r, now, limit)
		if refused != nil {
			release()
			return refused
		}
		changed := kb.changed
		b.mu.Unlock()

		timer := time.NewTimer(d)
		select {
		case <-ctx.Done():
			timer.Stop()
			b.mu.Lock()
			_, refused := kb.plan(r, b.cfg.Now(), time.Time{})
			release()
			if errors.Is(ctx.Err(), context.DeadlineExceeded) {
				return refused
			}
			return &Error{Err: ctx.Err()}
		case <-timer.C:
		case <-changed:
			timer.Stop()
		}
		b.mu.Lock()
		now = b.cfg.Now()
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
	opt := kb.earliest(r, now, false).Sub(now)
	cautious := kb.earliest(r, now, true).Sub(now)
	avail := limit.Sub(time.Now())
	if opt > avail || avail <= 0 {
		retry := opt
		if retry <= 0 {
			// Only calls still in flight hold the slot: their answers did
			// not come in time.
			retry = cautious
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
	kb := b.key(key, now)

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

	if r.Max > 0 && r.Interval > 0 {
		kb.max, kb.interval = smallerWindow(b.cfg.Max, b.cfg.Interval, r.Max, r.Interval)
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
	kb := b.keys[key]
	if kb == nil {
		return min(b.cfg.Max, b.cfg.Daily)
	}
	kb.rollDay(now)
	kb.prune(now)
	if kb.blockedUntil.After(now) {
		return 0
	}
	alive := 0
	for _, e := range kb.entries {
		if e.kind == entryReserved || kb.expiry(e, true).After(now) {
			alive++
		}
	}
	return max(min(kb.max-alive, kb.daily-kb.dayUsed-kb.reserved), 0)
}

// Capacity implements RateBudget: what is left now, plus a whole window for
// every Interval of d (each window's calls have left it by then), after any
// 429 block, and no more than the day has left.
func (b *LocalBudget) Capacity(key string, d time.Duration) int {
	now := b.cfg.Now()
	remaining := b.Remaining(key)
	b.mu.Lock()
	defer b.mu.Unlock()
	maxN, interval, dailyLeft := b.cfg.Max, b.cfg.Interval, b.cfg.Daily
	if kb := b.keys[key]; kb != nil {
		maxN, interval, dailyLeft = kb.max, kb.interval, kb.daily-kb.dayUsed-kb.reserved
		if kb.blockedUntil.After(now) {
			d -= kb.blockedUntil.Sub(now)
			if d < 0 {
				return 0
			}
			remaining = min(maxN, dailyLeft)
		}
	}
	if d > 0 && interval > 0 {
		windows := int64(d / interval)
		if windows > 0 {
			extra := int64(maxN) * windows
			remaining = int(min(int64(remaining)+extra, int64(math.MaxInt32)))
		}
	}
	return max(0, min(remaining, dailyLeft))
}

// keyCount reports how many keys the budget holds (for tests of eviction).
func (b *LocalBudget) keyCount() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.keys)
}

type budgetKeyKey struct{}

// ContextWithBudgetKey returns a context whose calls are counted against the
// budget of key: the location ID of the call, or an ID of the credential when
// the location is unknown. Calls on a context without one share the key "".
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
