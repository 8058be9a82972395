// Tests of the cache shared by replicas (shared.go) against a real Redis
// (REDIS_URL), each under its own key prefix: Readers over one sandbox,
// each with its own connection, stand for replicas.

package loaders

import (
	"context"
	"net/http/httptest"
	"reflect"
	"testing"
	"time"

	"github.com/ghl-graphql/gateway/cache"
	"github.com/ghl-graphql/gateway/redisx"
	"github.com/ghl-graphql/gateway/redisx/redistest"
	"github.com/ghl-graphql/gateway/upstream"
	"github.com/ghl-graphql/gateway/upstream/sandbox"
)

type sharedEnv struct {
	sb      *sandbox.Server
	gate    *gate
	readers []*Reader
	conns   []*redisx.Conn
	ctx     context.Context
	id      string
}

// newSharedEnv starts n Readers sharing Redis over one sandbox behind a
// gate (held when hold).
func newSharedEnv(t testing.TB, n int, hold bool, mut func(*SharedConfig)) *sharedEnv {
	return newSharedEnvWith(t, n, hold, sandbox.Config{Seed: 3, ContactsPerLocation: 5}, mut)
}

func newSharedEnvWith(t testing.TB, n int, hold bool, sbc sandbox.Config, mut func(*SharedConfig)) *sharedEnv {
	t.Helper()
	url := redistest.URL(t)
	prefix := redistest.Prefix(t, url) // its keys deleted after the connections close
	sb, err := sandbox.New(sbc)
	if err != nil {
		t.Fatal(err)
	}
	g := &gate{next: sb}
	if hold {
		g.release = make(chan struct{})
	}
	srv := httptest.NewServer(g)
	t.Cleanup(srv.Close)
	e := &sharedEnv{sb: sb, gate: g, ctx: credCtx(sb.DefaultToken()), id: sb.ContactIDs(sb.Locations()[0])[0]}
	for range n {
		conn := redistest.Open(t, redisx.Config{URL: url, Prefix: prefix})
		client, err := upstream.NewClient(upstream.WithBaseURL(srv.URL))
		if err != nil {
			t.Fatal(err)
		}
		sc := SharedConfig{Conn: conn}
		if mut != nil {
			mut(&sc)
		}
		r, err := NewReader(Config{Client: client, Cache: cache.NewLRU(1 << 20), Shared: &sc})
		if err != nil {
			t.Fatal(err)
		}
		e.readers = append(e.readers, r)
		e.conns = append(e.conns, conn)
	}
	return e
}

// exists reports whether Redis holds key.
func (e *sharedEnv) exists(t *testing.T, key string) bool {
	t.Helper()
	n, err := e.conns[0].Client().Exists(context.Background(), key).Result()
	if err != nil {
		t.Fatal(err)
	}
	return n == 1
}

// TestSharedEvictAppliedEverywhereBeforeReturn: an eviction on one replica
// has deleted the answer from Redis and from every other replica's local
// cache by the time Evict returns (the write's answer), acknowledged.
func TestSharedEvictAppliedEverywhereBeforeReturn(t *testing.T) {
	e := newSharedEnv(t, 3, false, nil)
	for i, r := range e.readers {
		if _, err := r.Contact(e.ctx, e.id); err != nil {
			t.Fatalf("reader %d: %v", i, err)
		}
	}
	if got := e.gate.calls.Load(); got != 1 {
		t.Errorf("three replicas made %d upstream calls for one contact, want 1", got)
	}
	if s := e.readers[1].SharedStats(); s.L2Hits != 1 {
		t.Errorf("replica 2 stats %+v, want one second-level hit", s)
	}
	req := e.readers[0].contactRequest(e.ctx, "contact", e.id)
	vk := e.readers[0].shared.valueKey(req)
	if !e.exists(t, vk) {
		t.Fatal("the answer is not in Redis")
	}
	e.readers[0].Evict(Stale{Contacts: []string{e.id}})
	// No wait: Evict returned, so every replica has applied it.
	for i, r := range e.readers {
		if _, _, ok := r.cache.Get(req.key); ok {
			t.Errorf("replica %d still holds the evicted answer", i+1)
		}
	}
	if e.exists(t, vk) {
		t.Error("Redis still holds the evicted answer")
	}
	if s := e.readers[0].SharedStats(); s.Published != 1 || s.AckTimeouts != 0 {
		t.Errorf("writer stats %+v, want one eviction published and acknowledged", s)
	}
	for i, r := range e.readers[1:] {
		if s := r.SharedStats(); s.Applied != 1 {
			t.Errorf("replica %d applied %d evictions, want 1", i+2, s.Applied)
		}
	}
}

// TestSharedEvictWaitsAtMostAckWait: a receiver that never acknowledges
// (a replica stuck) holds the write for AckWait, not longer, and is counted.
func TestSharedEvictWaitsAtMostAckWait(t *testing.T) {
	e := newSharedEnv(t, 1, false, func(c *SharedConfig) { c.AckWait = 50 * time.Millisecond })
	w := e.readers[0].shared
	mute := e.conns[0].Client().Subscribe(context.Background(), w.evictC)
	defer mute.Close()
	if _, err := mute.Receive(context.Background()); err != nil { // the subscription's confirmation
		t.Fatal(err)
	}
	e.readers[0].Evict(Stale{Contacts: []string{e.id}})
	if s := e.readers[0].SharedStats(); s.Published != 1 || s.AckTimeouts != 1 {
		t.Errorf("stats %+v, want one eviction published, its acknowledgement timed out", s)
	}
}

// TestSharedStoreRefusedAfterEviction: an answer fetched before an
// eviction (on another replica) is not stored in Redis after it.
func TestSharedStoreRefusedAfterEviction(t *testing.T) {
	e := newSharedEnv(t, 2, true, nil)
	done := make(chan error, 1)
	go func() {
		_, err := e.readers[0].Contact(e.ctx, e.id)
		done <- err
	}()
	for e.gate.calls.Load() == 0 {
		time.Sleep(time.Millisecond) // the fetch has reached the upstream
	}
	e.readers[1].Evict(Stale{Contacts: []string{e.id}})
	close(e.gate.release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	req := e.readers[0].contactRequest(e.ctx, "contact", e.id)
	if e.exists(t, e.readers[0].shared.valueKey(req)) {
		t.Error("an answer fetched before the eviction was stored in Redis after it")
	}
	if s := e.readers[0].SharedStats(); s.L2Sets != 0 {
		t.Errorf("stats %+v, want no second-level store", s)
	}
}

// TestSharedLeaseOfAGoneReplica: a lease whose holder stores nothing (it
// died) delays a cold read by LeaseWait at most; then the replica fetches
// itself.
func TestSharedLeaseOfAGoneReplica(t *testing.T) {
	e := newSharedEnv(t, 1, false, func(c *SharedConfig) { c.LeaseWait = 50 * time.Millisecond })
	r := e.readers[0]
	req := r.contactRequest(e.ctx, "contact", e.id)
	if err := e.conns[0].Client().Set(context.Background(), r.shared.leaseKey(req), "gone", time.Minute).Err(); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Contact(e.ctx, e.id); err != nil {
		t.Fatal(err)
	}
	if got := e.gate.calls.Load(); got != 1 {
		t.Errorf("%d upstream calls, want 1 (after the wait)", got)
	}
	if s := r.SharedStats(); s.LeaseWaits != 1 || s.LeaseWaitHits != 0 || s.L2Sets != 1 {
		t.Errorf("stats %+v, want one wait without a hit, then the answer stored", s)
	}
}

// TestSharedAnswersRoundTrip: every kind of answer read from Redis on a
// second replica equals the first replica's, the fields a partial contact
// carried included (JSON does not carry them), at no upstream call.
func TestSharedAnswersRoundTrip(t *testing.T) {
	e := newSharedEnvWith(t, 2, false, sandbox.Config{Seed: 3, ContactsPerLocation: 5, StrictListItems: true}, nil)
	loc := e.sb.Locations()[0]
	a, b := e.readers[0], e.readers[1]
	full, err := a.Contact(e.ctx, e.id)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		read func(r *Reader) (any, error)
	}{
		{"contact", func(r *Reader) (any, error) { return r.Contact(e.ctx, e.id) }},
		{"tasks", func(r *Reader) (any, error) { return r.Tasks(e.ctx, e.id) }},
		{"notes", func(r *Reader) (any, error) { return r.Notes(e.ctx, e.id) }},
		{"appointments", func(r *Reader) (any, error) { return r.Appointments(e.ctx, e.id) }},
		{"search (partial contacts)", func(r *Reader) (any, error) {
			return r.Search(e.ctx, &upstream.SearchContactsRequest{LocationID: loc, PageLimit: 5})
		}},
		{"legacy list", func(r *Reader) (any, error) { return r.List(e.ctx, upstream.ListOptions{LocationID: loc, Limit: 5}) }},
		{"duplicate", func(r *Reader) (any, error) { return r.FindDuplicate(e.ctx, loc, full.Email, "") }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			want, err := tc.read(a)
			if err != nil {
				t.Fatal(err)
			}
			calls := e.gate.calls.Load()
			got, err := tc.read(b)
			if err != nil {
				t.Fatal(err)
			}
			if d := e.gate.calls.Load() - calls; d != 0 {
				t.Errorf("replica 2 made %d upstream calls, want 0 (from Redis)", d)
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("from Redis:\n%+v\nfrom the upstream:\n%+v", got, want)
			}
		})
	}
	res, _ := b.Search(e.ctx, &upstream.SearchContactsRequest{LocationID: loc, PageLimit: 5})
	if res == nil || len(res.Contacts) == 0 || !res.Contacts[0].Partial() {
		t.Error("the search's contacts are not partial: the test shows nothing")
	}
}

// TestSharedEvictionsReplayedAfterOutage: evictions a replica could not
// publish while it had lost Redis (a partition: the others kept it) reach
// Redis and the other replicas when it is back; past MaxPendingEvictions
// the replay drops every shared answer and has every replica purge.
func TestSharedEvictionsReplayedAfterOutage(t *testing.T) {
	for _, tc := range []struct {
		name       string
		maxPending int
		evictions  int
		wantPurge  bool
	}{
		{"replayed", 10, 1, false},
		{"overflow purges everywhere", 1, 2, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newSharedEnv(t, 2, false, func(c *SharedConfig) { c.MaxPendingEvictions = tc.maxPending })
			a, b := e.readers[0], e.readers[1]
			for _, r := range e.readers {
				if _, err := r.Contact(e.ctx, e.id); err != nil {
					t.Fatal(err)
				}
			}
			req := a.contactRequest(e.ctx, "contact", e.id)
			vk := a.shared.valueKey(req)
			e.conns[0].Report(context.DeadlineExceeded) // replica 1 loses Redis
			for i := range tc.evictions {
				a.Evict(Stale{Contacts: []string{e.id, "other" + string(rune('a'+i))}})
			}
			if _, _, ok := b.cache.Get(req.key); !ok || !e.exists(t, vk) {
				t.Fatal("the eviction reached replica 2 or Redis while replica 1 was cut off: the test shows nothing")
			}
			e.conns[0].Report(nil) // back: the replay runs on its own goroutine
			for i := 0; ; i++ {
				_, _, held := b.cache.Get(req.key)
				if !held && !e.exists(t, vk) {
					break
				}
				if i == 1000 {
					t.Fatal("the remembered eviction never reached replica 2 and Redis")
				}
				time.Sleep(10 * time.Millisecond)
			}
			if s := a.SharedStats(); s.Purges != 1 {
				t.Errorf("replica 1 purged %d times, want once (it may have missed evictions)", s.Purges)
			}
			if s := b.SharedStats(); (s.Purges == 1) != tc.wantPurge {
				t.Errorf("replica 2 purged %d times, want a purge %v", s.Purges, tc.wantPurge)
			}
		})
	}
}

// TestSharedSubscriberEndsWithTheConnection: closing the connection ends
// the replica's subscriber (no goroutine outlives it).
func TestSharedSubscriberEndsWithTheConnection(t *testing.T) {
	e := newSharedEnv(t, 1, false, nil)
	_ = e.conns[0].Close()
	select {
	case <-e.readers[0].shared.stopped:
	case <-time.After(10 * time.Second): // a hang guard, not a threshold
		t.Fatal("the subscriber outlived its connection")
	}
}

// TestGlobEscape: a key prefix matches itself only in SCAN MATCH.
func TestGlobEscape(t *testing.T) {
	for in, want := range map[string]string{
		"ghlgw:":    "ghlgw:",
		"a*b?c[d]:": `a\*b\?c\[d\]:`,
		`back\`:     `back\\`,
	} {
		if got := globEscape(in); got != want {
			t.Errorf("globEscape(%q) = %q, want %q", in, got, want)
		}
	}
}

// BenchmarkSharedEvict: what an eviction (a write's, or a webhook's) costs
// with three replicas sharing Redis (delete in Redis, publish, wait for the
// acknowledgements) against the local invalidation alone, in one run:
// REDIS_URL=redis://127.0.0.1:6379/0 go test -run=^$ -bench=SharedEvict ./loaders/
func BenchmarkSharedEvict(b *testing.B) {
	e := newSharedEnv(b, 3, false, nil)
	local := cache.NewLRU(1 << 20)
	st := Stale{Contacts: []string{e.id}, Searches: true}
	tags := st.tags()
	var tShared, tLocal time.Duration
	n := 0
	for b.Loop() {
		start := time.Now()
		e.readers[0].Evict(st)
		tShared += time.Since(start)
		start = time.Now()
		local.Invalidate(tags...)
		tLocal += time.Since(start)
		n++
	}
	if s := e.readers[0].SharedStats(); s.AckTimeouts != 0 {
		b.Errorf("%d evictions were not acknowledged in time", s.AckTimeouts)
	}
	b.ReportMetric(float64(tShared.Nanoseconds())/float64(n), "shared-ns/op")
	b.ReportMetric(float64(tLocal.Nanoseconds())/float64(n), "local-ns/op")
}

// TestSharedSearchHitKeepsItsContacts: a search read from Redis keeps its
// contacts as single (listed) contacts on that replica, as a fetched one
// does (Reader.Search), for the loaders that a listing's fields suffice.
func TestSharedSearchHitKeepsItsContacts(t *testing.T) {
	e := newSharedEnv(t, 2, false, nil)
	body := &upstream.SearchContactsRequest{LocationID: e.sb.Locations()[0], PageLimit: 5}
	if _, err := e.readers[0].Search(e.ctx, body); err != nil {
		t.Fatal(err)
	}
	calls := e.gate.calls.Load()
	res, err := e.readers[1].Search(e.ctx, body)
	if err != nil || len(res.Contacts) == 0 {
		t.Fatalf("search = %+v, %v", res, err)
	}
	if d := e.gate.calls.Load() - calls; d != 0 {
		t.Errorf("%d upstream calls, want 0 (from Redis)", d)
	}
	cred := credential(e.ctx)
	for _, c := range res.Contacts {
		kind := "contact"
		if c.Partial() {
			kind = listedKind
		}
		if _, _, ok := e.readers[1].cache.Get(cacheKey(kind, cred, c.ID)); !ok {
			t.Errorf("contact %s of the search is not kept on replica 2", c.ID)
		}
	}
}
