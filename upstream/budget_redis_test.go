// This file tests RedisBudget against a real Redis (REDIS_URL; skipped
// without): replicas sharing one budget keep an upstream that enforces its
// window free of 429s; corrections (a 429, X-RateLimit-Remaining, the day)
// reach every replica; a Redis of the test's own, killed, leaves each
// replica a 1/N window, and restarted, gives the shared one back.

package upstream

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ghl-graphql/gateway/redisx"
	"github.com/ghl-graphql/gateway/redisx/redistest"
)

// windowUpstream answers like HighLevel: at most max calls in any sliding
// interval (counted on arrival), 429 beyond, with X-RateLimit-* headers.
type windowUpstream struct {
	max      int
	interval time.Duration

	mu       sync.Mutex
	arrivals []time.Time
	served   int
	tooMany  int
	peak     int
}

func (u *windowUpstream) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	u.mu.Lock()
	now := time.Now()
	u.arrivals = slices.DeleteFunc(u.arrivals, func(a time.Time) bool { return now.Sub(a) >= u.interval })
	status := http.StatusOK
	if len(u.arrivals) >= u.max {
		status = http.StatusTooManyRequests
		u.tooMany++
		w.Header().Set("Retry-After", "1")
	} else {
		u.arrivals = append(u.arrivals, now)
		u.served++
		u.peak = max(u.peak, len(u.arrivals))
	}
	w.Header().Set(HeaderRateLimitMax, strconv.Itoa(u.max))
	w.Header().Set(HeaderRateLimitRemaining, strconv.Itoa(u.max-len(u.arrivals)))
	w.Header().Set(HeaderRateLimitInterval, strconv.FormatInt(u.interval.Milliseconds(), 10))
	u.mu.Unlock()
	// An upstream takes a while to answer: the calls overlap.
	time.Sleep(5 * time.Millisecond)
	w.WriteHeader(status)
}

func (u *windowUpstream) counts() (served, tooMany, peak int) {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.served, u.tooMany, u.peak
}

// call is what Client.Do does around one attempt: wait, send, observe.
func call(ctx context.Context, t testing.TB, b RateBudget, key, url string) error {
	if err := b.Wait(ctx, key); err != nil {
		return err
	}
	resp, err := http.Get(url)
	if err != nil {
		b.Observe(key, unknownRate, 0, 0)
		t.Errorf("upstream: %v", err)
		return err
	}
	resp.Body.Close()
	b.Observe(key, ParseRate(resp.Header), resp.StatusCode, 0)
	return nil
}

// overload runs workers per budget that call as fast as the budget lets
// them until d has passed; a refused call waits what the refusal says. It
// returns how many times Wait was called.
func overload(t *testing.T, budgets []RateBudget, workers int, d time.Duration, key, url string) int64 {
	t.Helper()
	var waits atomic.Int64
	var wg sync.WaitGroup
	end := time.Now().Add(d)
	for i, b := range budgets {
		for w := range workers {
			wg.Go(func() {
				for time.Now().Before(end) {
					ctx := ContextWithBudgetRequest(context.Background(),
						BudgetRequest{Client: fmt.Sprintf("client%d-%d", i, w), MaxWait: 300 * time.Millisecond})
					waits.Add(1)
					err := call(ctx, t, b, key, url)
					var e *Error
					if errors.As(err, &e) && errors.Is(err, ErrRateLimited) {
						time.Sleep(min(max(e.RetryAfter, 5*time.Millisecond), time.Until(end)))
					} else if err != nil {
						t.Errorf("Wait: %v", err)
						return
					}
				}
			})
		}
	}
	wg.Wait()
	return waits.Load()
}

// openConn opens one replica's connection with the tests' timeouts, closed
// when the test ends.
func openConn(t *testing.T, url, prefix string, replicas int) *redisx.Conn {
	t.Helper()
	return redistest.Open(t, redisx.Config{URL: url, Prefix: prefix, Replicas: replicas,
		OpTimeout: 250 * time.Millisecond, HeartbeatEvery: 100 * time.Millisecond, ProbeEvery: 50 * time.Millisecond})
}

var testWindow = BudgetConfig{Max: 10, Interval: time.Second, MaxWait: 300 * time.Millisecond}

// TestRedisBudgetSharedAcrossReplicas: three replicas, each overloading
// the same location, together stay within the upstream's window: zero
// 429s, and the window is used (the calls are not all refused).
func TestRedisBudgetSharedAcrossReplicas(t *testing.T) {
	url := redistest.URL(t)
	prefix := redistest.Prefix(t, url)
	up := &windowUpstream{max: 10, interval: time.Second}
	srv := httptest.NewServer(up)
	defer srv.Close()
	var budgets []RateBudget
	for range 3 {
		budgets = append(budgets, NewRedisBudget(openConn(t, url, prefix, 1), testWindow, nil))
	}
	overload(t, budgets, 4, 3*time.Second, "loc1", srv.URL)
	served, tooMany, peak := up.counts()
	t.Logf("served %d in 3 s at 10 per s, peak %d in a window, %d 429s", served, peak, tooMany)
	if tooMany != 0 {
		t.Errorf("upstream answered %d 429s, want 0", tooMany)
	}
	if peak > 10 {
		t.Errorf("upstream saw %d calls in one window, want at most 10", peak)
	}
	// Three windows at most; a budget that refused everything would pass
	// the checks above, so the calls must have filled at least one.
	if served < 10 || served > 40 {
		t.Errorf("served %d calls in 3 s, want between 10 and 40", served)
	}
	for i, b := range budgets {
		if d := b.(*RedisBudget).Degraded(); d != "" {
			t.Errorf("replica %d degraded: %s", i, d)
		}
	}
}

// TestRedisBudgetCorrections: what one replica learns from an answer
// reaches the others through the shared window.
func TestRedisBudgetCorrections(t *testing.T) {
	url := redistest.URL(t)
	cases := map[string]struct {
		cfg   BudgetConfig
		learn func(t *testing.T, a *RedisBudget)
		// minRetry is the least RetryAfter the other replica's refusal must say.
		minRetry time.Duration
		// async: the correction is sent on its own (a 429), not carried by
		// a's next call, so b may still get a slot or two before it lands.
		async bool
	}{
		"429 blocks every replica": {
			cfg: testWindow,
			learn: func(t *testing.T, a *RedisBudget) {
				mustWait(t, a, "loc")
				a.Observe("loc", unknownRate, 429, 3*time.Second)
			},
			minRetry: 1500 * time.Millisecond,
			async:    true,
		},
		"X-RateLimit-Remaining lower than the window believes": {
			cfg: testWindow,
			learn: func(t *testing.T, a *RedisBudget) {
				mustWait(t, a, "loc")
				// Others (another app) spent the location's window.
				a.Observe("loc", Rate{Max: 10, Remaining: 0, Interval: time.Second, DailyLimit: -1, DailyRemaining: -1}, 200, 0)
			},
		},
		"daily limit shared": {
			cfg: BudgetConfig{Max: 10, Interval: time.Second, Daily: 3, MaxWait: 300 * time.Millisecond},
			learn: func(t *testing.T, a *RedisBudget) {
				for range 3 {
					mustWait(t, a, "loc")
					a.Observe("loc", unknownRate, 200, 0)
				}
			},
			minRetry: time.Minute,
		},
		"X-RateLimit-Daily-Remaining": {
			cfg: testWindow,
			learn: func(t *testing.T, a *RedisBudget) {
				mustWait(t, a, "loc")
				a.Observe("loc", Rate{Max: -1, Remaining: -1, Interval: -1, DailyLimit: -1, DailyRemaining: 0}, 200, 0)
			},
			minRetry: time.Minute,
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			prefix := redistest.Prefix(t, url)
			a := NewRedisBudget(openConn(t, url, prefix, 1), tc.cfg, nil)
			b := NewRedisBudget(openConn(t, url, prefix, 1), tc.cfg, nil)
			tc.learn(t, a)
			// a's next call carries the correction to Redis (and is refused).
			short := func() context.Context {
				return ContextWithBudgetRequest(context.Background(), BudgetRequest{MaxWait: 50 * time.Millisecond})
			}
			if err := a.Wait(short(), "loc"); err == nil {
				t.Error("the replica that learned it still got a slot")
				a.Observe("loc", unknownRate, 200, 0)
			}
			var e *Error
			tries := 0
			redistest.WaitFor(t, "the other replica refused", func() bool {
				tries++
				err := b.Wait(short(), "loc")
				if err == nil {
					b.Observe("loc", unknownRate, 200, 0)
					return false
				}
				if !errors.As(err, &e) || !errors.Is(err, ErrRateLimited) {
					t.Fatalf("Wait: %v, want ErrRateLimited", err)
				}
				return true
			})
			if tries > 1 && !tc.async {
				t.Errorf("the other replica got %d slots before its refusal, want none", tries-1)
			}
			if e.RetryAfter < tc.minRetry {
				t.Errorf("RetryAfter %v, want at least %v", e.RetryAfter, tc.minRetry)
			}
		})
	}
}

func mustWait(t *testing.T, b RateBudget, key string) {
	t.Helper()
	if err := b.Wait(context.Background(), key); err != nil {
		t.Fatalf("Wait: %v", err)
	}
}

// TestRedisBudgetDegradedAndRecovers kills a Redis of the test's own under
// load: the replicas keep calling within 1/N each (zero 429s), say they are
// degraded, and share the window again once Redis is back.
func TestRedisBudgetDegradedAndRecovers(t *testing.T) {
	redistest.URL(t) // like every Redis test, run only where REDIS_URL is set
	rs := redistest.Start(t)
	up := &windowUpstream{max: 10, interval: time.Second}
	srv := httptest.NewServer(up)
	defer srv.Close()
	conns := []*redisx.Conn{openConn(t, rs.URL(), "", 2), openConn(t, rs.URL(), "", 2)}
	var budgets []RateBudget
	for _, c := range conns {
		budgets = append(budgets, NewRedisBudget(c, testWindow, nil))
	}
	degraded := func() []string {
		var ds []string
		for _, b := range budgets {
			if d := b.(*RedisBudget).Degraded(); d != "" {
				ds = append(ds, d)
			}
		}
		return ds
	}

	overload(t, budgets, 3, time.Second, "loc", srv.URL)
	shared, _, _ := up.counts()

	rs.Kill()
	overload(t, budgets, 3, 1500*time.Millisecond, "loc", srv.URL)
	if ds := degraded(); len(ds) != 2 {
		t.Errorf("degraded replicas after the kill: %q, want both", ds)
	}
	afterKill, _, _ := up.counts()
	if afterKill == shared {
		t.Error("no call served while Redis was down: the degraded budget must keep serving")
	}

	rs.Restart()
	redistest.WaitFor(t, "both replicas shared again", func() bool { return len(degraded()) == 0 })
	overload(t, budgets, 3, 2*time.Second, "loc", srv.URL)

	served, tooMany, peak := up.counts()
	t.Logf("served %d (%d before the kill, %d while down), peak %d in a window, %d 429s",
		served, shared, afterKill-shared, peak, tooMany)
	if tooMany != 0 || peak > 10 {
		t.Errorf("upstream saw %d 429s and a peak of %d in a window, want 0 and at most 10", tooMany, peak)
	}
	if served == afterKill {
		t.Error("no call served after Redis came back")
	}
	rc := conns[0].Client()
	n, err := rc.ZCard(context.Background(), conns[0].Key("loc", "budget")).Result()
	if err != nil || n == 0 {
		t.Errorf("shared window after recovery: %d entries, %v; want some", n, err)
	}
}

// TestRedisBudgetDownAtStart: a replica that starts with Redis down serves
// from its 1/N window at once.
func TestRedisBudgetDownAtStart(t *testing.T) {
	redistest.URL(t)
	c, err := redisx.Open(context.Background(), redisx.Config{URL: "redis://127.0.0.1:1/0", Replicas: 4, OpTimeout: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	b := NewRedisBudget(c, BudgetConfig{Max: 100, Interval: 10 * time.Second}, nil)
	if d := b.Degraded(); d == "" {
		t.Error("Degraded() empty with Redis down")
	}
	granted := 0
	for range 100 {
		ctx := ContextWithBudgetRequest(context.Background(), BudgetRequest{MaxWait: time.Millisecond})
		if b.Wait(ctx, "loc") == nil {
			granted++
			b.Observe("loc", unknownRate, 200, 0)
		}
	}
	if granted != 25 {
		t.Errorf("granted %d of 100 at once with 4 replicas, want 25 (1/4 of the window)", granted)
	}
}

// BenchmarkRedisBudgetWait measures what the shared budget adds to a
// call: each iteration times one Wait and Observe on a LocalBudget and on
// a RedisBudget (a window too large to wait in), and the p50/p99 of each
// and their ratio are reported.
func BenchmarkRedisBudgetWait(b *testing.B) {
	c := redistest.SharedConns(b, 1)[0]
	cfg := BudgetConfig{Max: maxBudgetWindow, Interval: time.Millisecond, Daily: 1 << 30}
	local, shared := NewLocalBudget(cfg), NewRedisBudget(c, cfg, nil)
	var calls atomic.Int64
	one := func(rb RateBudget) time.Duration {
		start := time.Now()
		if err := rb.Wait(context.Background(), "loc"); err != nil {
			b.Fatal(err)
		}
		rb.Observe("loc", unknownRate, 200, 0)
		calls.Add(1)
		return time.Since(start)
	}
	var lt, st []time.Duration
	b.ResetTimer()
	for b.Loop() {
		lt = append(lt, one(local))
		st = append(st, one(shared))
	}
	b.StopTimer()
	slices.Sort(lt)
	slices.Sort(st)
	q := func(d []time.Duration, p float64) float64 {
		return float64(d[min(int(float64(len(d))*p), len(d)-1)].Nanoseconds()) / 1e3
	}
	b.ReportMetric(q(lt, 0.50), "local-p50-µs")
	b.ReportMetric(q(lt, 0.99), "local-p99-µs")
	b.ReportMetric(q(st, 0.50), "redis-p50-µs")
	b.ReportMetric(q(st, 0.99), "redis-p99-µs")
	b.ReportMetric(q(st, 0.50)-q(lt, 0.50), "added-p50-µs")
	b.ReportMetric(q(st, 0.99)-q(lt, 0.99), "added-p99-µs")
	b.ReportMetric(q(st, 0.50)/max(q(lt, 0.50), 0.001), "p50-ratio")
}

// TestRedisBudgetCredentialKey: an unconfirmed credential's small window is
// one for all replicas, and its keys in Redis live no longer than it.
func TestRedisBudgetCredentialKey(t *testing.T) {
	url := redistest.URL(t)
	prefix := redistest.Prefix(t, url)
	cfg := BudgetConfig{Max: 10, Interval: time.Second, UnconfirmedMax: 2, MaxWait: 50 * time.Millisecond}
	ca := openConn(t, url, prefix, 1)
	a := NewRedisBudget(ca, cfg, nil)
	b := NewRedisBudget(openConn(t, url, prefix, 1), cfg, nil)
	key := CredentialBudgetKey("h4sh")
	for range 2 {
		mustWait(t, a, key)
		a.Observe(key, unknownRate, 200, 0)
	}
	if err := b.Wait(context.Background(), key); !errors.Is(err, ErrRateLimited) {
		t.Errorf("the other replica's Wait on the spent credential window: %v, want ErrRateLimited", err)
	}
	ttl, err := ca.Client().PTTL(context.Background(), ca.Key(key, "budget", "meta")).Result()
	if err != nil || ttl <= 0 || ttl > 2*cfg.Interval+time.Second {
		t.Errorf("credential meta key TTL %v (%v), want at most %v", ttl, err, 2*cfg.Interval+time.Second)
	}
}

// TestRedisBudgetKeepsLocalPriorities: when the shared window is full, a
// replica's waiters are served in its local order: an interactive call
// that came later goes before a background one.
func TestRedisBudgetKeepsLocalPriorities(t *testing.T) {
	url := redistest.URL(t)
	prefix := redistest.Prefix(t, url)
	// One call per window: the two waiters get slots a window apart.
	cfg := BudgetConfig{Max: 1, Interval: time.Second, MaxWait: 5 * time.Second}
	a := NewRedisBudget(openConn(t, url, prefix, 1), cfg, nil)
	other := NewRedisBudget(openConn(t, url, prefix, 1), cfg, nil)
	// Another replica spends the window.
	mustWait(t, other, "loc")
	other.Observe("loc", unknownRate, 200, 0)
	var mu sync.Mutex
	var order []string
	var wg sync.WaitGroup
	waiter := func(name string, prio Priority) {
		wg.Go(func() {
			ctx := ContextWithBudgetRequest(context.Background(), BudgetRequest{Client: name, Priority: prio})
			if err := a.Wait(ctx, "loc"); err != nil {
				t.Errorf("%s: %v", name, err)
				return
			}
			mu.Lock()
			order = append(order, name)
			mu.Unlock()
			a.Observe("loc", unknownRate, 200, 0)
		})
	}
	waiter("background", PriorityBackground)
	// The background call is in line (held until the shared slot frees)
	// before the interactive one comes.
	redistest.WaitFor(t, "the background call waiting", func() bool { return a.Remaining("loc") == 0 })
	time.Sleep(20 * time.Millisecond)
	waiter("interactive", PriorityInteractive)
	wg.Wait()
	if len(order) != 2 || order[0] != "interactive" {
		t.Errorf("served %v, want interactive first", order)
	}
}

// TestRedisBudgetRoundTrips counts the scripts Redis ran under a 20-fold
// overload of three replicas (a Redis of the test's own, whose command
// counts are the test's alone): about one per Wait, not one per waiter
// every time a slot frees.
func TestRedisBudgetRoundTrips(t *testing.T) {
	redistest.URL(t) // like every Redis test, run only where REDIS_URL is set
	rs := redistest.Start(t)
	up := &windowUpstream{max: 10, interval: time.Second}
	srv := httptest.NewServer(up)
	defer srv.Close()
	var budgets []RateBudget
	var conn *redisx.Conn
	for range 3 {
		conn = openConn(t, rs.URL(), "", 1)
		budgets = append(budgets, NewRedisBudget(conn, testWindow, nil))
	}
	waits := overload(t, budgets, 8, 2*time.Second, "loc", srv.URL)
	served, tooMany, _ := up.counts()
	info, err := conn.Client().Info(context.Background(), "commandstats").Result()
	if err != nil {
		t.Fatal(err)
	}
	scripts := 0
	for _, cmd := range []string{"cmdstat_evalsha:calls=", "cmdstat_eval:calls="} {
		if _, rest, ok := strings.Cut(info, cmd); ok {
			n, _ := strconv.Atoi(rest[:strings.IndexByte(rest, ',')])
			scripts += n
		}
	}
	t.Logf("%d Waits, %d served, %d scripts (%.2f per Wait), %d 429s", waits, served, scripts, float64(scripts)/float64(waits), tooMany)
	if tooMany != 0 {
		t.Errorf("%d 429s, want 0", tooMany)
	}
	// One per Wait; and per slot freed, one retry per replica and one
	// batch of corrections. A herd would be one per waiter per slot.
	if int64(scripts) > waits+int64(served)*int64(len(budgets)+1) {
		t.Errorf("%d scripts for %d Waits and %d calls served: more than one round trip per call", scripts, waits, served)
	}
}

// TestRedisBudgetRefusedScriptIsDegraded: a Redis that answers but refuses
// the script (out of memory) leaves the budget at 1/N, never unlimited.
func TestRedisBudgetRefusedScriptIsDegraded(t *testing.T) {
	redistest.URL(t) // like every Redis test, run only where REDIS_URL is set
	rs := redistest.Start(t)
	conn := openConn(t, rs.URL(), "", 2)
	// The test's own server: setting its memory limit touches no one else.
	if err := conn.Client().ConfigSet(context.Background(), "maxmemory", "1").Err(); err != nil {
		t.Fatal(err)
	}
	b := NewRedisBudget(conn, BudgetConfig{Max: 10, Interval: 10 * time.Second}, nil)
	granted := 0
	for range 30 {
		ctx := ContextWithBudgetRequest(context.Background(), BudgetRequest{MaxWait: time.Millisecond})
		if b.Wait(ctx, "loc") == nil {
			granted++
			b.Observe("loc", unknownRate, 200, 0)
		}
	}
	if granted != 5 {
		t.Errorf("granted %d of 30 with every script refused, want 5 (1/2 of the window)", granted)
	}
}

// TestRedisBudgetConfirmAcrossReplicas: replica A learns that a credential
// belongs to a location. The calls every replica made on the credential's
// own window count against the location's from then on, and replica B,
// which has not seen the confirmation itself, takes its next call from
// the location's window: the location never gets more than its limit.
func TestRedisBudgetConfirmAcrossReplicas(t *testing.T) {
	url := redistest.URL(t)
	prefix := redistest.Prefix(t, url)
	cfg := BudgetConfig{Max: 3, Interval: 2 * time.Second, UnconfirmedMax: 2, MaxWait: 50 * time.Millisecond}
	a := NewRedisBudget(openConn(t, url, prefix, 1), cfg, nil)
	b := NewRedisBudget(openConn(t, url, prefix, 1), cfg, nil)
	cred := CredentialBudgetKey("c0nf1rm")
	for _, r := range []RateBudget{a, b} { // one call each, answered, on the credential's window
		mustWait(t, r, cred)
		r.Observe(cred, unknownRate, 200, 0)
	}
	a.Confirm(cred, "loc")
	// The location's window holds both calls: one slot is left, for
	// whichever replica asks first, on either key.
	mustWait(t, b, cred)
	b.Observe(cred, unknownRate, 200, 0)
	for name, r := range map[string]RateBudget{"A on the location": a, "B on the credential": b} {
		for _, key := range []string{"loc", cred} {
			if err := r.Wait(context.Background(), key); !errors.Is(err, ErrRateLimited) {
				t.Errorf("%s, key %s: %v, want ErrRateLimited (3 calls in the window)", name, key, err)
			}
		}
	}
}
