// This file holds RedisBudget, the RateBudget that the gateway's replicas
// share (issue 13): each location's sliding window and daily count live in
// Redis and change only inside one Lua script, so that N replicas together
// spend HighLevel's budget once, not N times.
//
// A RedisBudget composes a LocalBudget. The local one keeps everything that
// is about this replica's callers: the line (priorities, round-robin between
// clients and requests), each request's wait allowance, the deadlines, the
// unconfirmed credentials' one call in flight and 401 handling, Confirm's
// aliases. When the local line lets a caller go, the script decides whether
// the location has a slot now in the shared window; if not, it answers when
// the next one frees, the caller gives its local slot back, and the local
// line holds every caller of that key until then (as a 429 would), so they
// sleep locally and the next one in line retries. A call costs one round
// trip on its way out, and none on its way back: what its answer teaches (the
// slot re-stamped at the answer, X-RateLimit-* corrections) rides along with
// the next call's script, or a batched flush when the key goes quiet; only a
// 429 is sent at once (off the request's path), since the other replicas
// must stop too. See docs/design.md, "Shared budget on Redis".
//
// When Redis errors or does not answer within its op timeout, the budget is
// degraded: a local window of 1/N of the limit (N: the replica count last
// seen in Redis, or -replicas), logged once per transition. When Redis is
// back the shared window is used again, and for one interval the local 1/N
// window still binds too, since the calls made while degraded are not in
// the shared window.

package upstream

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ghl-graphql/gateway/redisx"
	"github.com/redis/go-redis/v9"
)

// Bounds of RedisBudget's per-key state in this process.
const (
	// maxInflightMembers bounds the granted calls of one key whose answer is
	// awaited (their members are re-stamped when it comes); Observe follows
	// every Wait, so only lost answers pile up, and the oldest are dropped
	// (their entries then count two intervals, the conservative reckoning).
	maxInflightMembers = 2 * maxBudgetWindow
	// flushAfter bounds how long answered calls wait to be re-stamped in
	// the shared window when no call of theirs carries them: until then
	// the other replicas count them in flight (two intervals).
	flushAfter = 100 * time.Millisecond
)

// RedisBudget is the RateBudget of replicas sharing one Redis. Create it
// with NewRedisBudget.
type RedisBudget struct {
	conn   *redisx.Conn
	cfg    BudgetConfig
	local  *LocalBudget
	logger *slog.Logger
	seq    atomic.Uint64

	mu sync.Mutex
	// degraded: the last mode seen (Redis down); part is the local 1/N
	// window used while degraded and, until warmUntil, after.
	degraded  bool
	part      *LocalBudget
	partN     int
	warmUntil time.Time
	keys      map[string]*sharedKey
	lastSweep time.Time
}

// sharedKey is what this replica keeps about one key of the shared window:
// the corrections not yet sent, and the window's state as last seen.
type sharedKey struct {
	// inflight are the members of calls granted whose answer has not come,
	// oldest first; restamp, those answered, to re-stamp at the next script.
	inflight []string
	restamp  []answered
	// remaining and remainingAt: the last X-RateLimit-Remaining, and when
	// it came; dailyRemaining the lowest X-RateLimit-Daily-Remaining; -1 none.
	remaining      int
	remainingAt    time.Time
	dailyRemaining int
	// block: a 429's Retry-After (or the interval) to send.
	block time.Duration
	// used and usedAt: calls in the shared window as the last script saw.
	used     int
	usedAt   time.Time
	flushing bool
	// gate lets one caller at a time run the script for this key.
	gate     chan struct{}
	lastUsed time.Time
}

// answered is a call whose answer came at at.
type answered struct {
	member string
	at     time.Time
}

func (k *sharedKey) pending() bool {
	return len(k.restamp) > 0 || k.remaining >= 0 || k.dailyRemaining >= 0 || k.block > 0
}

// NewRedisBudget returns a budget whose windows are shared through conn.
// cfg is the one a LocalBudget takes (the limits of one location, for all
// replicas together); logger (nil: slog.Default) hears the transitions
// between shared and degraded.
func NewRedisBudget(conn *redisx.Conn, cfg BudgetConfig, logger *slog.Logger) *RedisBudget {
	if logger == nil {
		logger = slog.Default()
	}
	local := NewLocalBudget(cfg)
	b := &RedisBudget{conn: conn, cfg: local.cfg, local: local, logger: logger, keys: map[string]*sharedKey{}}
	b.mode()
	// The transition is logged when it happens, not at the next call.
	conn.OnChange(func(bool) { b.mode() })
	return b
}

// mode returns the local 1/N window that binds now (nil: none) and whether
// the shared window is used, noting a transition when Redis went down or
// came back.
func (b *RedisBudget) mode() (part *LocalBudget, shared bool) {
	up := b.conn.Up()
	b.mu.Lock()
	defer b.mu.Unlock()
	now := b.cfg.Now()
	switch {
	case !up && !b.degraded:
		b.degrade(now)
	case up && b.degraded:
		b.degraded = false
		// The calls let go while degraded are not in the shared window:
		// the 1/N window keeps them in check until they have left it.
		b.warmUntil = now.Add(b.cfg.Interval)
		b.logger.Info("rate budget: Redis is back, the window is shared again", "replicas", b.partN)
	}
	if !b.degraded && b.part != nil && !now.Before(b.warmUntil) {
		b.part = nil
	}
	return b.part, !b.degraded
}

// degrade switches to the local 1/N window; the caller holds b.mu.
//
// The calls all replicas made in the last interval are in the shared
// window, which this replica can no longer read: its 1/N window starts
// holding its share of them (the count its last script saw, over N,
// stamped now), so that across the replicas the calls before and after
// the switch stay within the limit.
func (b *RedisBudget) degrade(now time.Time) {
	b.degraded = true
	n := b.conn.Replicas()
	if b.part == nil || b.partN != n {
		c := b.cfg
		c.Max = max(c.Max/n, 1)
		c.Daily = max(c.Daily/n, 1)
		c.UnconfirmedMax = min(c.UnconfirmedMax, c.Max)
		b.part, b.partN = NewLocalBudget(c), n
		for key, k := range b.keys {
			if !k.usedAt.IsZero() && now.Sub(k.usedAt) < b.cfg.Interval && k.used > 0 {
				b.part.seed(key, (k.used+n-1)/n, now)
			}
		}
	}
	b.warmUntil = time.Time{}
	b.logger.Warn("rate budget: Redis unreachable, each replica keeps a local window of 1/N of the limit",
		"replicas", n, "max", b.part.cfg.Max, "interval", b.cfg.Interval, "daily", b.part.cfg.Daily)
}

// Degraded says why the budget is not shared now, or "" when it is.
func (b *RedisBudget) Degraded() string {
	part, shared := b.mode()
	if shared {
		return ""
	}
	b.mu.Lock()
	n := b.partN
	b.mu.Unlock()
	return fmt.Sprintf("rate budget local at 1/%d of the limit (%d per %v): Redis unreachable",
		n, part.cfg.Max, b.cfg.Interval)
}

// Wait implements RateBudget.
func (b *RedisBudget) Wait(ctx context.Context, key string) error {
	for {
		if err := b.local.Wait(ctx, key); err != nil {
			return err
		}
		part, shared := b.mode()
		if part != nil {
			if err := part.Wait(ctx, key); err != nil {
				b.local.release(key)
				return err
			}
		}
		if !shared {
			return nil
		}
		// One caller of a key at a time asks the script: when it hears the
		// window is full, those let go by the local line at the same moment
		// go back in line without a round trip each.
		gate := b.gate(key)
		select {
		case gate <- struct{}{}:
		case <-ctx.Done():
			b.local.release(key)
			if part != nil {
				part.release(key)
			}
			return &Error{Err: ctx.Err()}
		}
		if !b.conn.Up() || b.local.heldUntil(key).After(b.cfg.Now()) {
			// Redis went down while this caller waited for the gate (the
			// caller ahead timed out: no one waits for it twice), or the
			// window is full: back in line, degraded or held.
			<-gate
			b.local.release(key)
			if part != nil {
				part.release(key)
			}
			continue
		}
		res, err := b.take(ctx, key)
		<-gate
		if err != nil {
			if ctx.Err() != nil {
				// The caller gave up; Redis may have taken the slot, which
				// then counts (conservatively) until it expires.
				b.local.release(key)
				if part != nil {
					part.release(key)
				}
				return &Error{Err: ctx.Err()}
			}
			// Redis failed this call: degraded from now on, this call
			// included. An error Redis itself answered (out of memory, a
			// read-only replica after a failover) counts as down too: no
			// call goes on a budget that no replica can record; the probe
			// tries again within a second.
			b.conn.Report(errors.New(err.Error()))
			if part == nil {
				if part, _ = b.mode(); part != nil {
					if err := part.Wait(ctx, key); err != nil {
						b.local.release(key)
						return err
					}
				}
			}
			return nil
		}
		if res.granted {
			return nil
		}
		if res.aliasOf != "" {
			b.local.release(key)
			if part != nil {
				part.release(key)
			}
			b.confirmLocal(key, res.aliasOf)
			continue
		}
		// The location is full across the replicas: give the local slot
		// back and hold this key's line until the shared slot frees; the
		// local line then lets its next caller retry, or refuses those who
		// cannot wait that long.
		b.local.release(key)
		if part != nil {
			part.release(key)
		}
		// One millisecond more: the script's clock has millisecond
		// resolution, and a retry a hair early is refused again.
		b.local.holdUntil(key, b.cfg.Now().Add(res.wait+time.Millisecond))
	}
}

// takeResult is the script's answer.
type takeResult struct {
	granted bool
	wait    time.Duration
	// aliasOf is the location another replica confirmed the credential
	// key belongs to: the call goes on that key's window instead.
	aliasOf string
}

// take runs the window script for one call of key, carrying the
// corrections queued for key.
func (b *RedisBudget) take(ctx context.Context, key string) (takeResult, error) {
	key = b.local.resolveKey(key)
	member := b.member()
	args, sent := b.collect(key, true, member)
	rctx, cancel := b.conn.WithTimeout(ctx)
	defer cancel()
	vals, err := windowScript.Run(rctx, b.conn.Client(), b.windowKeys(key), args...).Int64Slice()
	if err == nil && len(vals) != 3 {
		err = fmt.Errorf("rate budget script: %d values, want 3", len(vals))
	}
	b.settle(key, sent, err, vals, member)
	if err != nil {
		return takeResult{}, fmt.Errorf("rate budget on Redis: %w", err)
	}
	b.conn.Report(nil)
	if vals[0] == -1 {
		to, err := b.conn.Client().HGet(rctx, b.windowKeys(key)[1], "alias").Result()
		if err == nil && to != "" && to != key {
			return takeResult{aliasOf: to}, nil
		}
	}
	return takeResult{granted: vals[0] == 1, wait: time.Duration(vals[1]) * time.Millisecond}, nil
}

// sentCorrections is what one script call carried, to put back if it
// failed.
type sentCorrections struct {
	restamp []answered
}

// collect builds the script's arguments for key, taking its queued
// corrections.
func (b *RedisBudget) collect(key string, take bool, member string) ([]any, sentCorrections) {
	maxN, interval, daily := b.local.limits(key)
	b.mu.Lock()
	defer b.mu.Unlock()
	now := b.cfg.Now()
	k := b.sharedKey(key, now)
	takeArg := 0
	if take {
		takeArg = 1
	}
	age := int64(0)
	if k.remaining >= 0 {
		age = max(now.Sub(k.remainingAt), 0).Milliseconds()
	}
	// A location's day count lives until its day is over; a credential's
	// key, which anyone can make up with a token, no longer than its
	// window (LocalBudget forgets those after two idle intervals too).
	metaTTL := 25 * time.Hour
	if strings.HasPrefix(key, CredentialKeyPrefix) {
		metaTTL = 2*interval + time.Second
	}
	args := []any{takeArg, maxN, interval.Milliseconds(), daily, member,
		k.block.Milliseconds(), k.remaining, age, k.dailyRemaining, metaTTL.Milliseconds()}
	for _, a := range k.restamp {
		// The age, not the time: the script stamps it on Redis's clock.
		args = append(args, a.member, max(now.Sub(a.at), 0).Milliseconds())
	}
	sent := sentCorrections{restamp: k.restamp}
	k.restamp, k.remaining, k.dailyRemaining, k.block = nil, -1, -1, 0
	return args, sent
}

// settle records a script's outcome for key: the member of a granted call
// joins those in flight; a failed call's re-stamps are queued again (the
// other corrections are stale by the time Redis is back, and the headers
// of later answers replace them).
func (b *RedisBudget) settle(key string, sent sentCorrections, err error, vals []int64, member string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	k := b.sharedKey(key, b.cfg.Now())
	if err != nil {
		k.restamp = append(sent.restamp, k.restamp...)
		return
	}
	if vals[0] == 1 && member != "" {
		if len(k.inflight) >= maxInflightMembers {
			k.inflight = k.inflight[1:]
		}
		k.inflight = append(k.inflight, member)
	}
	k.used, k.usedAt = int(vals[2]), b.cfg.Now()
}

// sharedKey returns key's state, creating it, and forgets idle keys; the
// caller holds b.mu.
func (b *RedisBudget) sharedKey(key string, now time.Time) *sharedKey {
	if now.Sub(b.lastSweep) > b.cfg.Interval {
		b.lastSweep = now
		for name, k := range b.keys {
			// Past two intervals every entry it knows of has left the window.
			if now.Sub(k.lastUsed) > 2*b.cfg.Interval && !k.flushing {
				delete(b.keys, name)
			}
		}
	}
	k := b.keys[key]
	if k == nil {
		k = &sharedKey{remaining: -1, dailyRemaining: -1, gate: make(chan struct{}, 1)}
		b.keys[key] = k
	}
	k.lastUsed = now
	return k
}

// gate is the channel that admits one script caller of key at a time.
func (b *RedisBudget) gate(key string) chan struct{} {
	key = b.local.resolveKey(key)
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.sharedKey(key, b.cfg.Now()).gate
}

func (b *RedisBudget) member() string {
	return b.conn.ReplicaID() + ":" + strconv.FormatUint(b.seq.Add(1), 36)
}

func (b *RedisBudget) windowKeys(key string) []string {
	return []string{b.conn.Key(key, "budget"), b.conn.Key(key, "budget", "meta")}
}

// Observe implements RateBudget. The local windows learn at once; what the
// shared one must learn is queued for the next script on key, except a
// 429, which is sent at once since every replica must stop.
func (b *RedisBudget) Observe(key string, r Rate, status int, retryAfter time.Duration) {
	part, shared := b.mode()
	lr := r
	if shared {
		// The shared window accounts for the other replicas' calls exactly;
		// the local one would count them again, stamped late.
		lr.Remaining, lr.DailyRemaining = -1, -1
	}
	b.local.Observe(key, lr, status, retryAfter)
	if part != nil {
		part.Observe(key, r, status, retryAfter)
	}
	key = b.local.resolveKey(key)
	b.mu.Lock()
	now := b.cfg.Now()
	k := b.sharedKey(key, now)
	if len(k.inflight) > 0 {
		// Which call was answered is unknown: re-stamp the oldest, as
		// LocalBudget does, which keeps every stamp at or after the time
		// the upstream counted it.
		k.restamp = append(k.restamp, answered{member: k.inflight[0], at: now})
		k.inflight = k.inflight[1:]
	}
	if r.Remaining >= 0 {
		k.remaining, k.remainingAt = r.Remaining, now
	}
	if r.DailyRemaining >= 0 && (k.dailyRemaining < 0 || r.DailyRemaining < k.dailyRemaining) {
		k.dailyRemaining = r.DailyRemaining
	}
	var delay time.Duration
	if status == 429 {
		d := retryAfter
		if d <= 0 {
			_, d = b.local.Limit(key)
		}
		k.block = max(k.block, d)
	} else {
		// Only the re-stamps matter for the next caller (they free slots
		// sooner, and the other replicas' waits are reckoned from them):
		// the next call carries them, or, soon after, one batch does.
		delay = min(b.cfg.Interval/20, flushAfter)
	}
	start := status != 429 && !k.flushing && k.pending()
	if start {
		k.flushing = true
	}
	b.mu.Unlock()
	switch {
	case status == 429:
		go b.flush(key, 0, false)
	case start:
		go b.flush(key, delay, true)
	}
}

// flush sends key's queued corrections after delay, unless a call's
// script has carried them meanwhile; delayed is the one batched flush a
// key may have under way.
func (b *RedisBudget) flush(key string, delay time.Duration, delayed bool) {
	if delay > 0 {
		time.Sleep(delay)
	}
	b.mu.Lock()
	k := b.sharedKey(key, b.cfg.Now())
	if delayed {
		k.flushing = false
	}
	pending := k.pending()
	b.mu.Unlock()
	if !pending || !b.conn.Up() {
		return
	}
	args, sent := b.collect(key, false, b.member())
	ctx, cancel := b.conn.WithTimeout(context.Background())
	defer cancel()
	vals, err := windowScript.Run(ctx, b.conn.Client(), b.windowKeys(key), args...).Int64Slice()
	if err == nil && len(vals) != 3 {
		err = errors.New("rate budget script: bad answer")
	}
	b.conn.Report(err)
	b.settle(key, sent, err, vals, "")
}

// Remaining implements RateBudget, without a round trip: the local
// reckoning, capped by what the shared window held at this replica's last
// script on key when that is recent (a tenth of the interval).
func (b *RedisBudget) Remaining(key string) int {
	part, shared := b.mode()
	if part != nil {
		return min(part.Remaining(key), b.local.Remaining(key))
	}
	n := b.local.Remaining(key)
	if !shared {
		return n
	}
	if free, ok := b.sharedFree(key); ok {
		n = min(n, free)
	}
	return n
}

// Capacity implements RateBudget, without a round trip, as Remaining does.
func (b *RedisBudget) Capacity(key string, d time.Duration) int {
	part, shared := b.mode()
	if part != nil {
		return min(part.Capacity(key, d), b.local.Capacity(key, d))
	}
	n := b.local.Capacity(key, d)
	if !shared {
		return n
	}
	if free, ok := b.sharedFree(key); ok {
		maxN, interval := b.local.Limit(key)
		c := int64(free)
		if interval > 0 {
			c += int64(maxN) * int64(d/interval)
		}
		n = int(min(int64(n), c))
	}
	return n
}

// sharedFree is what the shared window had free at the last script on
// key, if that was recent.
func (b *RedisBudget) sharedFree(key string) (int, bool) {
	key = b.local.resolveKey(key)
	maxN, interval := b.local.Limit(key)
	b.mu.Lock()
	defer b.mu.Unlock()
	k := b.keys[key]
	if k == nil || k.usedAt.IsZero() || b.cfg.Now().Sub(k.usedAt) > interval/10 {
		return 0, false
	}
	return max(maxN-k.used, 0), true
}

// Limit implements RateBudget.
func (b *RedisBudget) Limit(key string) (int, time.Duration) { return b.local.Limit(key) }

// Confirm implements RateBudget. The aliases are local (every replica
// confirms a credential on its own first answer). The credential's calls
// stay counted under its own key in Redis (the two keys may be in different
// Cluster slots, which no script can touch together): the location's
// window learns of them from the next X-RateLimit-Remaining.
func (b *RedisBudget) Confirm(from, to string) {
	b.confirmLocal(from, to)
	if b.conn.Up() {
		b.moveShared(from, to)
	}
}

// confirmLocal is Confirm on this replica's own windows.
func (b *RedisBudget) confirmLocal(from, to string) {
	b.local.Confirm(from, to)
	b.mu.Lock()
	part := b.part
	b.mu.Unlock()
	if part != nil {
		part.Confirm(from, to)
	}
}

// moveShared counts the calls the shared window of from holds (every
// replica's, made before any of them knew the credential's location)
// against to's shared window too, as the upstream did: without it, the
// replicas' unconfirmed calls and the location's full window add up to
// more than the location's limit in the interval after the confirmation.
// The two windows are in different Cluster slots: one read, then one
// write, each bounded by the op timeout; members are unique per replica
// and call, so a second replica's confirmation adds nothing twice.
func (b *RedisBudget) moveShared(from, to string) {
	ctx, cancel := b.conn.WithTimeout(context.Background())
	defer cancel()
	// The alias first: a replica's later take on from is sent to to; what
	// it took before is in from's window, moved below.
	meta := b.windowKeys(from)[1]
	if err := b.conn.Client().HSet(ctx, meta, "alias", to).Err(); err != nil {
		return
	}
	_ = b.conn.Client().PExpire(ctx, meta, 2*b.cfg.Interval+time.Second).Err()
	interval := strconv.FormatInt(b.cfg.Interval.Milliseconds(), 10)
	pairs, err := confirmReadScript.Run(ctx, b.conn.Client(), []string{b.windowKeys(from)[0]}, interval).StringSlice()
	if err != nil || len(pairs) == 0 {
		return // nothing to move, or Redis failed: the next 429 or X-RateLimit-Remaining corrects the window
	}
	args := append([]any{strconv.FormatInt(2*b.cfg.Interval.Milliseconds()+1000, 10)}, anySlice(pairs)...)
	_ = confirmMoveScript.Run(ctx, b.conn.Client(), []string{b.windowKeys(to)[0]}, args...).Err()
}

func anySlice(ss []string) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}

// confirmReadScript returns a window's calls still in it, as member,
// score pairs. KEYS[1]: the window; ARGV[1]: the interval in ms.
var confirmReadScript = redis.NewScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - tonumber(ARGV[1]))
return redis.call('ZRANGE', KEYS[1], 0, -1, 'WITHSCORES')
`)

// confirmMoveScript adds calls to a window, keeping those it holds.
// KEYS[1]: the window; ARGV[1]: its lifetime in ms, then member, score
// pairs.
var confirmMoveScript = redis.NewScript(`
for i = 2, #ARGV - 1, 2 do
  redis.call('ZADD', KEYS[1], 'NX', ARGV[i + 1], ARGV[i])
end
redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[1]))
return 1
`)

// windowScript is the shared window of one key. KEYS[1] is a sorted set of
// the calls in the window (member: replica and call; score: when the
// upstream counted it at the latest, or for a call still in flight its
// grant plus one interval, so that it counts two intervals unless its
// answer re-stamps it); KEYS[2] a hash of the UTC day, the day's count and
// the end of a 429 block. Both carry the location's hash tag: one slot.
//
// ARGV: take (1: take a slot for ARGV[5]), max, interval ms, daily,
// member, block ms (a 429 seen), X-RateLimit-Remaining seen (-1: none),
// its age in ms, X-RateLimit-Daily-Remaining seen (-1: none), the meta
// hash's lifetime in ms, then pairs
// of a member answered and the answer's age in ms, to re-stamp (at now
// minus the age: no earlier than the answer, since the age was measured
// before the script ran). The time is Redis's own (TIME), so the
// replicas' clocks need not agree.
//
// Returns {granted 0/1, ms until the next slot may free when not granted
// (a call in flight counted as leaving an interval after its grant: the
// retry then may be refused again if its answer has not come, but no
// caller sleeps through a slot), calls in the window}.
var windowScript = redis.NewScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local take = ARGV[1] == '1'
local limit = tonumber(ARGV[2])
local interval = tonumber(ARGV[3])
local daily = tonumber(ARGV[4])
local member = ARGV[5]
local blockMs = tonumber(ARGV[6])
local obsRem = tonumber(ARGV[7])
local obsAge = tonumber(ARGV[8])
local obsDaily = tonumber(ARGV[9])
local metaTTL = tonumber(ARGV[10])
if take and redis.call('HEXISTS', KEYS[2], 'alias') == 1 then
  -- A credential another replica saw confirmed: its calls count against
  -- the location's window now (the caller reads where, and moves).
  return {-1, 0, 0}
end
for i = 11, #ARGV - 1, 2 do
  redis.call('ZADD', KEYS[1], 'XX', now - tonumber(ARGV[i + 1]), ARGV[i])
end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - interval)
local meta = redis.call('HMGET', KEYS[2], 'day', 'used', 'blocked')
local day = math.floor(now / 86400000)
local used = 0
if tonumber(meta[1]) == day then used = tonumber(meta[2]) or 0 end
local blocked = tonumber(meta[3]) or 0
if blockMs > 0 and now + blockMs > blocked then blocked = now + blockMs end
if obsRem >= 0 then
  local at = now - math.min(obsAge, interval)
  local n = redis.call('ZCOUNT', KEYS[1], '(' .. (at - interval), '+inf')
  local extra = math.min(limit - n - obsRem, limit)
  for i = 1, extra do
    redis.call('ZADD', KEYS[1], at, member .. ':o' .. i)
  end
end
if obsDaily >= 0 and daily - used > obsDaily then used = daily - obsDaily end
local count = redis.call('ZCARD', KEYS[1])
local granted = 0
local wait = 0
if take then
  if blocked > now then wait = blocked - now end
  if count >= limit then
    -- When the next slot frees, on the hopeful reckoning: a call in flight
    -- (its score, grant plus interval, is still ahead) leaves when its
    -- interval from the grant ends, if its answer re-stamps it by then;
    -- the others an interval after their score. The caller only sleeps
    -- until then: the grant above counts every call cautiously.
    local all = redis.call('ZRANGE', KEYS[1], 0, -1, 'WITHSCORES')
    local exps = {}
    for i = 2, #all, 2 do
      local sc = tonumber(all[i])
      if sc > now then exps[#exps + 1] = sc else exps[#exps + 1] = sc + interval end
    end
    table.sort(exps)
    wait = math.max(wait, exps[count - limit + 1] - now)
  end
  if used >= daily then wait = math.max(wait, (day + 1) * 86400000 - now) end
  if wait <= 0 then
    redis.call('ZADD', KEYS[1], now + interval, member)
    used = used + 1
    count = count + 1
    granted = 1
    wait = 0
  end
end
redis.call('HSET', KEYS[2], 'day', day, 'used', used, 'blocked', blocked)
redis.call('PEXPIRE', KEYS[2], metaTTL)
redis.call('PEXPIRE', KEYS[1], 2 * interval + 1000)
return {granted, wait, count}
`)

// The hooks below let RedisBudget steer its LocalBudget; they live here so
// that budget.go stays the in-memory budget alone.

// resolveKey is the key that key's calls count against now (Confirm's
// aliases followed).
func (b *LocalBudget) resolveKey(key string) string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.resolve(key, b.cfg.Now())
}

// limits reports key's window and daily limit in force.
func (b *LocalBudget) limits(key string) (maxN int, interval time.Duration, daily int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	key = b.resolve(key, b.cfg.Now())
	if kb := b.keys[key]; kb != nil {
		return kb.max, kb.interval, kb.daily
	}
	maxN = b.cfg.Max
	if strings.HasPrefix(key, CredentialKeyPrefix) {
		maxN = b.cfg.UnconfirmedMax
	}
	return maxN, b.cfg.Interval, b.cfg.Daily
}

// release gives back a slot Wait granted on key whose call did not go:
// the newest call in flight leaves the window and the day's count, and the
// waiters look again.
func (b *LocalBudget) release(key string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	kb := b.keys[b.resolve(key, b.cfg.Now())]
	if kb == nil {
		return
	}
	for i := len(kb.entries) - 1; i >= 0; i-- {
		if kb.entries[i].kind == entryPending {
			kb.entries = append(kb.entries[:i], kb.entries[i+1:]...)
			kb.dayUsed = max(kb.dayUsed-1, 0)
			kb.wake()
			return
		}
	}
}

// heldUntil is when key's hold (a 429, or a full shared window) ends.
func (b *LocalBudget) heldUntil(key string) time.Time {
	b.mu.Lock()
	defer b.mu.Unlock()
	if kb := b.keys[b.resolve(key, b.cfg.Now())]; kb != nil {
		return kb.blockedUntil
	}
	return time.Time{}
}

// holdUntil lets no call of key go before until, as a 429 does: the
// waiters look again, and sleep until then or are refused when they
// cannot wait so long.
func (b *LocalBudget) holdUntil(key string, until time.Time) {
	b.mu.Lock()
	defer b.mu.Unlock()
	now := b.cfg.Now()
	kb := b.key(b.resolve(key, now), now)
	if kb == nil {
		return
	}
	if until.After(kb.blockedUntil) {
		kb.blockedUntil = until
	}
	kb.wake()
}

// seed counts n calls of others on key at now, as if the headers had
// revealed them.
func (b *LocalBudget) seed(key string, n int, now time.Time) {
	b.mu.Lock()
	defer b.mu.Unlock()
	kb := b.key(b.resolve(key, now), now)
	if kb == nil {
		return
	}
	for range min(n, kb.max) {
		kb.entries = append(kb.entries, &budgetEntry{kind: entryOther, at: now})
	}
}
