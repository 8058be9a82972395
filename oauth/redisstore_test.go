// Tests of RedisStore against a real Redis: REDIS_URL (shared: every test
// under its own random key prefix, cleaned up after), and, for persistence
// and for killing Redis, redis-servers of the test's own on free ports.

package oauth

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/ghl-graphql/gateway/errcode"
	"github.com/ghl-graphql/gateway/redisx"
	"github.com/ghl-graphql/gateway/redisx/redistest"
)

// testOpTimeout is the Redis timeout of the tests: generous, since the
// runner's two cores are shared; the timeouts' effect is tested by killing
// Redis, not by starving it.
const testOpTimeout = 2 * time.Second

// openConn opens one replica's connection with the tests' timeout (closed
// when the test ends).
func openConn(t testing.TB, url, prefix string) *redisx.Conn {
	t.Helper()
	return redistest.Open(t, redisx.Config{URL: url, Prefix: prefix, OpTimeout: testOpTimeout})
}

// redisStore opens a RedisStore over its own connection: one replica.
func redisStore(t *testing.T, url, prefix string, cfg RedisStoreConfig) *RedisStore {
	t.Helper()
	if cfg.Key == nil {
		cfg.Key = testKey(7)
	}
	// The shared Redis persists nothing; TestRedisPersistenceCheck tests
	// the refusal.
	cfg.AcceptNoPersistence = true
	s, err := NewRedisStore(context.Background(), openConn(t, url, prefix), cfg)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// abandon makes the store forget a lock it holds without releasing it or
// renewing it again: a replica that died, or paused, holding it.
func (s *RedisStore) abandon(loc string) {
	s.mu.Lock()
	h := s.held[loc]
	delete(s.held, loc)
	s.mu.Unlock()
	if h != nil {
		h.stopRenewing()
	}
}

// pause stops renewing a lock the store holds but keeps it as held: a
// replica stopped (GC pause, frozen VM) past its lease that then resumes.
func (s *RedisStore) pause(loc string) (fence int64) {
	s.mu.Lock()
	h := s.held[loc]
	s.mu.Unlock()
	h.stopRenewing()
	return h.fence
}

func TestRedisStoreRoundTripEncrypted(t *testing.T) {
	url := redistest.URL(t)
	prefix := redistest.Prefix(t, url)
	// Without the read cache, every Get reads Redis (TestRedisStoreReadCache).
	s := redisStore(t, url, prefix, RedisStoreConfig{ReadCache: -1})
	ctx := context.Background()

	if _, err := s.Get(ctx, "loc-a"); !errors.Is(err, ErrNotInstalled) {
		t.Fatalf("Get of nothing: %v, want ErrNotInstalled", err)
	}
	a, b := sampleTokens("loc-b"), sampleTokens("loc-a")
	for _, tok := range []Tokens{a, b} {
		if err := s.Put(ctx, tok.LocationID, tok); err != nil {
			t.Fatal(err)
		}
	}
	// Another replica (its own connection) reads what this one wrote.
	other := redisStore(t, url, prefix, RedisStoreConfig{ReadCache: -1})
	got, err := other.Get(ctx, "loc-a")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(b, got); diff != "" {
		t.Errorf("Get (-put +got):\n%s", diff)
	}
	locs, err := other.Locations(ctx)
	if err != nil || !slices.Equal(locs, []string{"loc-a", "loc-b"}) {
		t.Errorf("Locations = %v, %v; want [loc-a loc-b]", locs, err)
	}

	// At rest: no token text, and a value moved to another location's key
	// does not open.
	raw, err := s.conn.Client().Get(ctx, s.pairKey("loc-a")).Bytes()
	if err != nil {
		t.Fatal(err)
	}
	for what, secret := range map[string]string{"access token": b.AccessToken, "refresh token": b.RefreshToken, "user": b.UserID} {
		if bytes.Contains(raw, []byte(secret)) {
			t.Errorf("the raw Redis value holds the %s", what)
		}
	}
	if err := s.conn.Client().Set(ctx, s.pairKey("loc-b"), raw, 0).Err(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(ctx, "loc-b"); !errors.Is(err, ErrCorruptStore) {
		t.Errorf("a pair moved to another location: %v, want ErrCorruptStore", err)
	}

	// A replica started with another key refuses to start.
	if _, err := NewRedisStore(ctx, openConn(t, url, prefix), RedisStoreConfig{Key: testKey(9), AcceptNoPersistence: true}); !errors.Is(err, ErrWrongKey) {
		t.Errorf("another key: %v, want ErrWrongKey", err)
	}

	if err := s.Delete(ctx, "loc-a"); err != nil {
		t.Fatal(err)
	}
	if _, err := other.Get(ctx, "loc-a"); !errors.Is(err, ErrNotInstalled) {
		t.Errorf("Get after Delete: %v, want ErrNotInstalled", err)
	}
	if locs, _ := other.Locations(ctx); !slices.Equal(locs, []string{"loc-b"}) {
		t.Errorf("Locations after Delete = %v, want [loc-b]", locs)
	}
}

// TestRedisStoreReadCache: a replica answers from the pair it read for
// ReadCache, but under the lock (where the Manager decides to refresh) it
// reads Redis.
func TestRedisStoreReadCache(t *testing.T) {
	url := redistest.URL(t)
	prefix := redistest.Prefix(t, url)
	writer := redisStore(t, url, prefix, RedisStoreConfig{ReadCache: -1})
	reader := redisStore(t, url, prefix, RedisStoreConfig{ReadCache: time.Hour})
	ctx := context.Background()
	first, second := sampleTokens("loc"), sampleTokens("loc")
	first.AccessToken, second.AccessToken = "access-first", "access-second"

	if err := writer.Put(ctx, "loc", first); err != nil {
		t.Fatal(err)
	}
	want := func(what, access string) {
		t.Helper()
		got, err := reader.Get(ctx, "loc")
		if err != nil || got.AccessToken != access {
			t.Fatalf("%s: %q (%v), want %q", what, got.AccessToken, err, access)
		}
	}
	want("first read", first.AccessToken)
	if err := writer.Put(ctx, "loc", second); err != nil {
		t.Fatal(err)
	}
	want("within the read cache", first.AccessToken)
	unlock, err := reader.Lock(ctx, "loc")
	if err != nil {
		t.Fatal(err)
	}
	want("under the lock", second.AccessToken)
	unlock()
	want("after the lock", second.AccessToken)
}

func TestRedisStoreLockExclusive(t *testing.T) {
	url := redistest.URL(t)
	prefix := redistest.Prefix(t, url)
	const replicas, rounds = 6, 15
	stores := make([]*RedisStore, replicas)
	for i := range stores {
		stores[i] = redisStore(t, url, prefix, RedisStoreConfig{})
	}
	var inside, overlaps atomic.Int64
	var mu sync.Mutex
	var fences []int64
	var wg sync.WaitGroup
	for _, s := range stores {
		wg.Go(func() {
			for range rounds {
				unlock, err := s.Lock(context.Background(), "loc")
				if err != nil {
					t.Error(err)
					return
				}
				if inside.Add(1) > 1 {
					overlaps.Add(1)
				}
				s.mu.Lock()
				f := s.held["loc"].fence
				s.mu.Unlock()
				mu.Lock()
				fences = append(fences, f)
				mu.Unlock()
				time.Sleep(time.Millisecond)
				inside.Add(-1)
				unlock()
			}
		})
	}
	wg.Wait()
	if overlaps.Load() != 0 {
		t.Errorf("%d times two replicas held the lock at once", overlaps.Load())
	}
	slices.Sort(fences)
	if len(fences) != replicas*rounds || len(slices.Compact(slices.Clone(fences))) != replicas*rounds {
		t.Errorf("%d acquisitions with %d distinct fencing tokens; want %d of each", len(fences), len(slices.Compact(slices.Clone(fences))), replicas*rounds)
	}
}

func TestRedisStoreLeaseFreesDeadHolder(t *testing.T) {
	url := redistest.URL(t)
	prefix := redistest.Prefix(t, url)
	const lease = 600 * time.Millisecond
	a := redisStore(t, url, prefix, RedisStoreConfig{Lease: lease})
	b := redisStore(t, url, prefix, RedisStoreConfig{Lease: lease})
	ctx := context.Background()

	unlockA, err := a.Lock(ctx, "loc")
	if err != nil {
		t.Fatal(err)
	}
	// Held and renewed for several leases, the lock stays A's.
	time.Sleep(3 * lease)
	short, cancel := context.WithTimeout(ctx, lease/3)
	if _, err := b.Lock(short, "loc"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("B took A's renewed lock: %v", err)
	}
	cancel()

	a.abandon("loc") // A dies holding it
	wait, cancel := context.WithTimeout(ctx, 20*lease)
	defer cancel()
	unlockB, err := b.Lock(wait, "loc")
	if err != nil {
		t.Fatalf("B never got the dead holder's lock: %v", err)
	}
	// A's unlock, run late, must not release B's lock.
	unlockA()
	if err := b.conn.Client().Get(ctx, b.lockKey("loc")).Err(); err != nil {
		t.Errorf("B's lock after A's late unlock: %v", err)
	}
	unlockB()
	if n, _ := b.conn.Client().Exists(ctx, b.lockKey("loc")).Result(); n != 0 {
		t.Error("unlock left the lock in Redis")
	}
}

func TestRedisStoreFencingRefusesStaleHolder(t *testing.T) {
	url := redistest.URL(t)
	prefix := redistest.Prefix(t, url)
	const lease = 300 * time.Millisecond
	a := redisStore(t, url, prefix, RedisStoreConfig{Lease: lease})
	b := redisStore(t, url, prefix, RedisStoreConfig{Lease: lease})
	ctx := context.Background()
	old, newer := sampleTokens("loc"), sampleTokens("loc")
	old.RefreshToken, newer.RefreshToken = "refresh-of-the-paused-replica", "refresh-of-the-newer-holder"

	unlockA, err := a.Lock(ctx, "loc")
	if err != nil {
		t.Fatal(err)
	}
	fenceA := a.pause("loc") // A stops past its lease, still thinking it holds the lock
	wait, cancel := context.WithTimeout(ctx, 30*lease)
	defer cancel()
	unlockB, err := b.Lock(wait, "loc")
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Put(ctx, "loc", newer); err != nil {
		t.Fatal(err)
	}
	unlockB()

	// A resumes and writes with its old fencing token: refused, even with
	// the lock free again.
	if err := a.Put(ctx, "loc", old); !errors.Is(err, ErrFenced) {
		t.Fatalf("the paused replica's write (fence %d): %v, want ErrFenced", fenceA, err)
	}
	unlockA()
	got, err := b.Get(ctx, "loc")
	if err != nil || got.RefreshToken != newer.RefreshToken {
		t.Fatalf("stored refresh token %q (%v), want the newer holder's", got.RefreshToken, err)
	}

	// A write outside any lock is refused while a replica holds it.
	unlockB, err = b.Lock(ctx, "loc")
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Put(ctx, "loc", old); !errors.Is(err, ErrFenced) {
		t.Errorf("a write outside the lock while B holds it: %v, want ErrFenced", err)
	}
	unlockB()
}

func TestRedisPersistenceCheck(t *testing.T) {
	ctx := context.Background()
	aof := redistest.Start(t, "--appendonly", "yes", "--appendfsync", "always")
	rdb := redistest.Start(t, "--appendonly", "no", "--save", "3600 1")
	noConfigAOF := redistest.Start(t, "--appendonly", "yes", "--rename-command", "CONFIG", "")
	noConfig := redistest.Start(t, "--appendonly", "no", "--rename-command", "CONFIG", "")
	bare := redistest.Start(t, "--appendonly", "no")

	for name, tc := range map[string]struct {
		url        string
		accept     bool
		refused    bool
		wantInText string
	}{
		"AOF":                              {url: aof.URL()},
		"RDB snapshots":                    {url: rdb.URL()},
		"CONFIG disabled, INFO shows AOF":  {url: noConfigAOF.URL()},
		"CONFIG disabled, no AOF: unknown": {url: noConfig.URL(), refused: true, wantInText: "could not tell"},
		"CONFIG disabled, accepted":        {url: noConfig.URL(), accept: true},
		"nothing persisted":                {url: bare.URL(), refused: true, wantInText: "-redis-accept-no-persistence"},
		"nothing persisted, accepted":      {url: bare.URL(), accept: true},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := NewRedisStore(ctx, openConn(t, tc.url, "p:"), RedisStoreConfig{Key: testKey(1), AcceptNoPersistence: tc.accept})
			switch {
			case tc.refused && !errors.Is(err, ErrNoPersistence):
				t.Fatalf("started: %v, want ErrNoPersistence", err)
			case tc.refused && !strings.Contains(err.Error(), tc.wantInText):
				t.Errorf("error %q does not say %q", err, tc.wantInText)
			case !tc.refused && err != nil:
				t.Fatalf("refused: %v", err)
			}
		})
	}

	// The shared Redis of the tests persists nothing (COMMON: never CONFIG
	// SET it); it is refused unless accepted.
	if url := os.Getenv("REDIS_URL"); url != "" {
		p, err := CheckRedisPersistence(ctx, openConn(t, url, "p:").Client())
		if err != nil {
			t.Fatal(err)
		}
		_, err = NewRedisStore(ctx, openConn(t, url, redistest.Prefix(t, url)), RedisStoreConfig{Key: testKey(1)})
		if !p.AOF && !p.RDB && !errors.Is(err, ErrNoPersistence) {
			t.Errorf("the shared Redis (%s): %v, want ErrNoPersistence", p.Detail, err)
		}
		if _, err := NewRedisStore(ctx, openConn(t, url, redistest.Prefix(t, url)), RedisStoreConfig{Key: testKey(1), AcceptNoPersistence: true}); err != nil {
			t.Errorf("the shared Redis, accepted: %v", err)
		}
	}
}

// TestRedisStoreStartedWhileRedisDown: a store started on an unreachable
// Redis starts degraded and checks persistence on its first lock.
func TestRedisStoreStartedWhileRedisDown(t *testing.T) {
	for name, tc := range map[string]struct {
		args    []string
		refused bool
	}{
		"AOF":     {args: []string{"--appendonly", "yes"}},
		"nothing": {args: []string{"--appendonly", "no"}, refused: true},
	} {
		t.Run(name, func(t *testing.T) {
			own := redistest.Start(t, tc.args...)
			own.Kill()
			ctx := context.Background()
			s, err := NewRedisStore(ctx, openConn(t, own.URL(), "gw:"), RedisStoreConfig{Key: testKey(2)})
			if err != nil {
				t.Fatalf("start with Redis down: %v", err)
			}
			if _, err := s.Lock(ctx, "loc"); !errors.Is(err, ErrStoreUnavailable) {
				t.Fatalf("lock with Redis down: %v, want ErrStoreUnavailable", err)
			}
			own.Restart()
			var unlock func()
			for attempt := 0; ; attempt++ {
				unlock, err = s.Lock(ctx, "loc")
				if err == nil || errors.Is(err, ErrNoPersistence) || attempt == 50 {
					break
				}
				time.Sleep(50 * time.Millisecond) // the pool meets its dead connections
			}
			switch {
			case tc.refused && !(errors.Is(err, ErrNoPersistence) && errors.Is(err, ErrStoreUnavailable)):
				t.Fatalf("lock on a Redis that persists nothing: %v, want ErrNoPersistence as ErrStoreUnavailable", err)
			case !tc.refused && err != nil:
				t.Fatalf("lock once Redis is back: %v", err)
			case !tc.refused:
				unlock()
			}
		})
	}
}

// TestThreeReplicasRefreshOnce is the issue's: three Managers, each with
// its own connection, over one Redis; 1,000 concurrent calls with an
// expired access token spread over them; the token endpoint (the sandbox:
// it rotates refresh tokens and answers invalid_grant to a spent one) sees
// exactly one refresh, and every call gets the new token.
func TestThreeReplicasRefreshOnce(t *testing.T) {
	url := redistest.URL(t)
	prefix := redistest.Prefix(t, url)
	e := newEnv(t)
	managers := make([]*Manager, 3)
	for i := range managers {
		managers[i] = e.manager(redisStore(t, url, prefix, RedisStoreConfig{AcceptNoPersistence: true, Now: e.clock.Now}))
	}
	installed := e.install(managers[0])
	e.expire(installed.Expiry)
	// The token endpoint holds the refresh until every replica has started
	// its own (so the two others are waiting for the Redis lock), then
	// answers.
	hold := make(chan struct{})
	e.holdTokens.Store(&hold)
	go func() {
		defer close(hold)
		for !(e.tokenRequests.Load() == 2 && allFlying(managers, e.loc)) {
			time.Sleep(time.Millisecond)
		}
	}()

	const callers = 1000
	start := make(chan struct{})
	got := make([]string, callers)
	var failed atomic.Int64
	var wg sync.WaitGroup
	for i := range callers {
		ts := managers[i%3].TokenSource(e.loc)
		wg.Go(func() {
			<-start
			tok, err := ts.Token()
			if err != nil {
				if failed.Add(1) <= 3 {
					t.Error(err)
				}
				return
			}
			got[i] = tok.AccessToken
		})
	}
	close(start)
	wg.Wait()
	if failed.Load() != 0 {
		t.Errorf("%d of %d calls failed", failed.Load(), callers)
	}
	if e.sb.Refreshes() != 1 || e.tokenRequests.Load() != 2 { // the install's exchange and one refresh
		t.Fatalf("%d refreshes, %d token requests; want 1 refresh", e.sb.Refreshes(), e.tokenRequests.Load())
	}
	for i, tok := range got {
		if tok != got[0] || tok == installed.AccessToken {
			t.Fatalf("caller %d got another or the old token", i)
		}
	}
	// Every replica serves the new pair, which works at HighLevel.
	for i, m := range managers {
		if err := e.getContact(e.client(m, e.loc)); err != nil {
			t.Errorf("replica %d after the refresh: %v", i, err)
		}
	}
	fence, _ := managers[0].store.(*RedisStore).conn.Client().Get(context.Background(), managers[0].store.(*RedisStore).fenceKey(e.loc)).Int()
	t.Logf("1 refresh for %d calls over 3 replicas; %d lock acquisitions (the install's, and one per replica)", callers, fence)
}

// allFlying reports whether every Manager has a refresh of loc under way.
func allFlying(ms []*Manager, loc string) bool {
	for _, m := range ms {
		m.mu.Lock()
		_, ok := m.flights[loc]
		m.mu.Unlock()
		if !ok {
			return false
		}
	}
	return true
}

// TestRedisDownRefusesRefresh kills the test's own Redis: access tokens
// still valid are served from memory, a refresh is refused with
// TOKEN_STORE_UNAVAILABLE (no token request), and once Redis is back
// nothing is lost: the stored pair is the one from before, and the refresh
// runs.
func TestRedisDownRefusesRefresh(t *testing.T) {
	own := redistest.Start(t, "--appendonly", "yes", "--appendfsync", "always")
	e := newEnv(t)
	conn := openConn(t, own.URL(), "gw:")
	// No read cache: each call below reads Redis, or meets it down.
	store, err := NewRedisStore(context.Background(), conn, RedisStoreConfig{Key: testKey(3), Now: e.clock.Now, ReadCache: -1})
	if err != nil {
		t.Fatal(err)
	}
	m := e.manager(store)
	installed := e.install(m)
	ts := m.TokenSource(e.loc)
	// The last read before Redis dies is 6 minutes before the expiry.
	e.clock.Set(installed.Expiry.Add(-DefaultRefreshBefore - time.Minute))
	if tok, err := ts.Token(); err != nil || tok.AccessToken != installed.AccessToken {
		t.Fatalf("before: %v", err)
	}

	own.Kill()
	// Valid: served from the copy in memory, also within RefreshBefore
	// (the refresh is refused, the token in hand still works).
	for _, at := range []time.Time{e.clock.Now(), installed.Expiry.Add(-time.Minute)} {
		e.clock.Set(at)
		tok, err := ts.Token()
		if err != nil || tok.AccessToken != installed.AccessToken {
			t.Fatalf("Redis down, token valid at %v: %v", at, err)
		}
	}
	// The copy is kept for DefaultLocalTTL only.
	e.clock.Set(installed.Expiry.Add(-30 * time.Second))
	if _, err := ts.Token(); !errors.Is(err, ErrStoreUnavailable) {
		t.Errorf("Redis down, the copy older than %v: %v, want ErrStoreUnavailable", DefaultLocalTTL, err)
	}
	if conn.Up() {
		t.Error("the connection still reports Redis up")
	}
	// Expired: the refresh is refused, clearly, and HighLevel is not asked.
	e.clock.Set(installed.Expiry.Add(time.Second))
	_, err = ts.Token()
	var coded *errcode.Error
	if !errors.Is(err, ErrStoreUnavailable) || !errors.As(err, &coded) || coded.Code != errcode.CodeTokenStoreUnavailable {
		t.Fatalf("refresh with Redis down: %v, want ErrStoreUnavailable presenting %s", err, errcode.CodeTokenStoreUnavailable)
	}
	if !strings.Contains(coded.Message, "retry after") || coded.Extensions["retryAfter"] == nil {
		t.Errorf("the client's error %q gives no retry time", coded.Message)
	}
	// Through the upstream client, as a resolver sees it.
	err = e.getContact(e.client(m, e.loc))
	if !errors.As(err, &coded) || coded.Code != errcode.CodeTokenStoreUnavailable {
		t.Errorf("an API call with Redis down: %v, want %s", err, errcode.CodeTokenStoreUnavailable)
	}
	if n := e.tokenRequests.Load(); n != 1 {
		t.Fatalf("%d token requests with Redis down; want only the install's", n)
	}

	own.Restart()
	// The pair survived the crash (AOF), read by a replica started now.
	later, err := NewRedisStore(context.Background(), openConn(t, own.URL(), "gw:"), RedisStoreConfig{Key: testKey(3), ReadCache: -1})
	if err != nil {
		t.Fatal(err)
	}
	kept, err := later.Get(context.Background(), e.loc)
	if err != nil || kept.RefreshToken != installed.RefreshToken {
		t.Fatalf("after the restart: %v; the refresh token was lost", err)
	}
	// The first replica recovers by itself: its pool drops the dead
	// connections as it meets them.
	var tok string
	for attempt := 0; ; attempt++ {
		got, err := ts.Token()
		if err == nil {
			tok = got.AccessToken
			break
		}
		if !errors.Is(err, ErrStoreUnavailable) || attempt == 50 {
			t.Fatalf("after Redis returned: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if tok == installed.AccessToken || e.sb.Refreshes() != 1 {
		t.Fatalf("after Redis returned: %d refreshes, new token %t", e.sb.Refreshes(), tok != installed.AccessToken)
	}
	if stored, err := later.Get(context.Background(), e.loc); err != nil || stored.AccessToken != tok {
		t.Errorf("the refreshed pair is not in Redis: %v", err)
	}
	if !e.refreshWorks(mustGet(t, later, e.loc).RefreshToken) {
		t.Error("the stored refresh token does not work at HighLevel")
	}
}

func mustGet(t *testing.T, s Store, loc string) Tokens {
	t.Helper()
	tok, err := s.Get(context.Background(), loc)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// TestRedisStoreUnavailableErrorShape: the refusal is ErrStoreUnavailable
// for the code, and TOKEN_STORE_UNAVAILABLE naming the location, not the
// cause, for clients.
func TestRedisStoreUnavailableErrorShape(t *testing.T) {
	err := fmt.Errorf("oauth: store lock of loc-1: %w", storeUnavailable("lock", "loc-1", errors.New("dial tcp: connection refused")))
	var coded *errcode.Error
	if !errors.Is(err, ErrStoreUnavailable) || !errors.As(err, &coded) {
		t.Fatalf("%v: not ErrStoreUnavailable with an errcode.Error", err)
	}
	if coded.Code != errcode.CodeTokenStoreUnavailable || !strings.Contains(coded.Message, "loc-1") || strings.Contains(coded.Message, "dial tcp") {
		t.Errorf("client message %q (code %s): want the code and location, not the cause", coded.Message, coded.Code)
	}
}

// BenchmarkTokenStores measures what the Redis store costs a call with a
// valid access token (one shared GET per location at a time) against the
// file store of one process (a map read), in the same run: compare ns/op.
//
//	REDIS_URL=redis://127.0.0.1:6379/0 go test -run '^$' -bench TokenStores ./oauth
func BenchmarkTokenStores(b *testing.B) {
	url := redistest.URL(b)
	ctx := context.Background()
	tok := sampleTokens("loc")
	tok.Expiry = time.Now().Add(time.Hour)
	file, err := NewFileStore(b.TempDir()+"/tokens.enc", testKey(1))
	if err != nil {
		b.Fatal(err)
	}
	conn := openConn(b, url, redistest.Prefix(b, url))
	rs, err := NewRedisStore(ctx, conn, RedisStoreConfig{Key: testKey(1), AcceptNoPersistence: true})
	if err != nil {
		b.Fatal(err)
	}
	defer rs.Delete(ctx, "loc")
	uncached, err := NewRedisStore(ctx, conn, RedisStoreConfig{Key: testKey(1), AcceptNoPersistence: true, ReadCache: -1})
	if err != nil {
		b.Fatal(err)
	}
	for name, s := range map[string]Store{"file": file, "redis": rs, "redis-no-read-cache": uncached} {
		if err := s.Put(ctx, "loc", tok); err != nil {
			b.Fatal(err)
		}
		m, err := NewManager(Config{ClientID: "c", ClientSecret: "s", RedirectURL: testRedirectURL, Scopes: testScopes,
			StateKey: []byte("0123456789abcdef0123456789abcdef")}, s)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(name, func(b *testing.B) {
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if _, err := m.Token(ctx, "loc"); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return b
}
