// Tests of the cache shared by replicas on Redis (issue 13,
// loaders/shared.go): several gateways, each server.New with its own
// redisx.Conn as separate processes would have, over one sandbox whose call
// counters are the oracle. They need a real Redis (REDIS_URL); each uses
// its own key prefix and deletes its keys. The tests that kill Redis start
// their own redis-server on a free port.

package server_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/ghl-graphql/gateway/events"
	"github.com/ghl-graphql/gateway/loaders"
	"github.com/ghl-graphql/gateway/redisx"
	"github.com/ghl-graphql/gateway/redisx/redistest"
	"github.com/ghl-graphql/gateway/server"
	"github.com/ghl-graphql/gateway/upstream"
	"github.com/ghl-graphql/gateway/upstream/sandbox"
	"github.com/ghl-graphql/gateway/webhook"
)

// sharedSnapshot reads a contact and its three lists: four upstream calls
// when cold.
const sharedSnapshot = `query($id: ID!) { contact(id: $id) {
	id name email city tags
	tasks { id title completed } notes { id body } appointments { id title status } } }`

// replicaSet is one sandbox and n gateways sharing one Redis.
type replicaSet struct {
	t      *testing.T
	sb     *sandbox.Server
	up     *httptest.Server
	gws    []*httptest.Server
	conns  []*redisx.Conn
	prefix string
	loc    string
	token  string
}

// newReplicas starts n gateways over one sandbox, sharing the Redis at url
// under prefix (from redistest.Prefix, which deletes its keys); mut adjusts
// each one's configuration.
func newReplicas(t *testing.T, url, prefix string, n int, mut func(*server.Config)) *replicaSet {
	t.Helper()
	var each func(int, *server.Config)
	if mut != nil {
		each = func(_ int, c *server.Config) { mut(c) }
	}
	return newReplicasEach(t, url, prefix, n, each)
}

// newReplicasEach is newReplicas with a configuration per replica (i from 0).
func newReplicasEach(t *testing.T, url, prefix string, n int, mut func(int, *server.Config)) *replicaSet {
	t.Helper()
	sb, err := sandbox.New(sandbox.Config{Seed: 1, ContactsPerLocation: 10})
	if err != nil {
		t.Fatal(err)
	}
	up := httptest.NewServer(sb)
	t.Cleanup(up.Close)
	rs := &replicaSet{t: t, sb: sb, prefix: prefix, loc: sb.Locations()[0], token: sb.DefaultToken()}
	rs.up = up
	for i := range n {
		conn := redistest.Open(t, redisx.Config{URL: url, Prefix: prefix})
		client, err := upstream.NewClient(upstream.WithBaseURL(up.URL))
		if err != nil {
			t.Fatal(err)
		}
		cfg := server.Config{Client: client, SharedCache: &loaders.SharedConfig{Conn: conn}}
		if mut != nil {
			mut(i, &cfg)
		}
		h, err := server.New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		gw := httptest.NewServer(h)
		t.Cleanup(gw.Close)
		rs.gws = append(rs.gws, gw)
		rs.conns = append(rs.conns, conn)
	}
	return rs
}

// keys lists the keys under the replicas' prefix.
func (rs *replicaSet) keys() []string {
	ctx := context.Background()
	var out []string
	iter := rs.conns[0].Client().Scan(ctx, 0, rs.prefix+"*", 500).Iterator()
	for iter.Next(ctx) {
		out = append(out, iter.Val())
	}
	return out
}

// gql sends query to replica i with token and returns the decoded data;
// on failure it marks the test failed and returns nil.
func (rs *replicaSet) gql(i int, token, query string, vars map[string]any) map[string]any {
	rs.t.Helper()
	b, _ := json.Marshal(map[string]any{"query": query, "variables": vars})
	req, _ := http.NewRequest(http.MethodPost, rs.gws[i].URL+server.GraphQLPath, bytes.NewReader(b))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := rs.gws[i].Client().Do(req)
	if err != nil {
		rs.t.Error(err)
		return nil
	}
	defer resp.Body.Close()
	var out struct {
		Data   map[string]any `json:"data"`
		Errors []any          `json:"errors"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		rs.t.Errorf("replica %d: %v", i+1, err)
		return nil
	}
	if resp.StatusCode != http.StatusOK || len(out.Errors) > 0 {
		// Error, not Fatal: gql runs on the goroutines of concurrent reads.
		rs.t.Errorf("replica %d: status %d, errors %v", i+1, resp.StatusCode, out.Errors)
		return nil
	}
	return out.Data
}

// calls is the sandbox's total of upstream calls.
func (rs *replicaSet) calls() int64 {
	var n int64
	for _, c := range rs.sb.AllCalls() {
		n += c
	}
	return n
}

func (rs *replicaSet) contact() string { return rs.sb.ContactIDs(rs.loc)[0] }

func cityOf(data map[string]any) any {
	c, _ := data["contact"].(map[string]any)
	return c["city"]
}

// TestSharedCacheWriteFreshOnEveryReplica: after a write on replica 1, the
// next read on replicas 2 and 3 (whose local caches and response caches
// held the old answer) is fresh, without waiting for any lifetime.
func TestSharedCacheWriteFreshOnEveryReplica(t *testing.T) {
	url := redistest.URL(t)
	for _, name := range []string{"response cache", "no response cache"} {
		t.Run(name, func(t *testing.T) {
			rs := newReplicas(t, url, redistest.Prefix(t, url), 3, func(c *server.Config) { c.NoResponseCache = name != "response cache" })
			id := rs.contact()
			vars := map[string]any{"id": id}
			for i := range rs.gws {
				rs.gql(i, rs.token, sharedSnapshot, vars)
			}
			before := rs.calls()
			for i := range rs.gws {
				rs.gql(i, rs.token, sharedSnapshot, vars)
			}
			if d := rs.calls() - before; d != 0 {
				t.Fatalf("warm reads made %d upstream calls, want 0", d)
			}
			for round, city := range []string{"Reykjavik", "Lisbon"} {
				writer := round % 3
				rs.gql(writer, rs.token, `mutation($id: ID!, $in: UpdateContactInput!) { updateContact(id: $id, input: $in) { contact { id city } } }`,
					map[string]any{"id": id, "in": map[string]any{"city": city}})
				for i := range rs.gws {
					if got := cityOf(rs.gql(i, rs.token, sharedSnapshot, vars)); got != city {
						t.Errorf("round %d: replica %d read city %v after the write on replica %d, want %q", round, i+1, got, writer+1, city)
					}
				}
			}
		})
	}
}

// TestSharedCacheColdSnapshotOnce: the same cold snapshot asked of three
// replicas at once costs what it costs one replica (4 upstream calls), not
// three times that; and the replicas answer alike.
func TestSharedCacheColdSnapshotOnce(t *testing.T) {
	url := redistest.URL(t)
	for _, name := range []string{"local single-flight only", "shared"} {
		t.Run(name, func(t *testing.T) {
			rs := newReplicas(t, url, redistest.Prefix(t, url), 3, func(c *server.Config) {
				if name != "shared" {
					c.SharedCache = nil
				}
			})
			vars := map[string]any{"id": rs.contact()}
			const perReplica = 4
			before := rs.calls()
			var wg sync.WaitGroup
			answers := make([]string, 2*len(rs.gws))
			start := make(chan struct{})
			for i := range answers {
				// Each replica gets the snapshot twice at once.
				wg.Go(func() {
					<-start
					b, _ := json.Marshal(rs.gql(i/2, rs.token, sharedSnapshot, vars))
					answers[i] = string(b)
				})
			}
			close(start)
			wg.Wait()
			got := rs.calls() - before
			want := int64(perReplica)
			if name != "shared" {
				want = perReplica * int64(len(rs.gws))
			}
			if got != want {
				t.Errorf("three replicas made %d upstream calls for one cold snapshot, want %d (%v)", got, want, rs.sb.AllCalls())
			}
			for i := range answers {
				if answers[i] != answers[0] {
					t.Errorf("replica %d answered %s, replica 1 %s", i/2+1, answers[i], answers[0])
				}
			}
		})
	}
}

// TestSharedCacheCredentialScoped: what one credential's reads stored in
// Redis is never another's hit, and no key in Redis holds a token.
func TestSharedCacheCredentialScoped(t *testing.T) {
	url := redistest.URL(t)
	rs := newReplicas(t, url, redistest.Prefix(t, url), 2, func(c *server.Config) { c.NoResponseCache = true })
	vars := map[string]any{"id": rs.contact()}
	rs.gql(0, rs.token, sharedSnapshot, vars)
	// The same credential on the other replica: all from Redis.
	before := rs.calls()
	rs.gql(1, rs.token, sharedSnapshot, vars)
	if d := rs.calls() - before; d != 0 {
		t.Errorf("the same token on replica 2 made %d upstream calls, want 0 (second level)", d)
	}
	other := rs.sb.Token(rs.loc, sandbox.ScopeContactsRead, sandbox.ScopeContactsWrite) // another credential of the same location
	if other == "" || other == rs.token {
		t.Fatal("sandbox gave no second token")
	}
	before = rs.calls()
	rs.gql(1, other, sharedSnapshot, vars)
	if d := rs.calls() - before; d < 4 {
		t.Errorf("a second token made %d upstream calls, want at least 4: it must not read the first token's answers", d)
	}
	keys := rs.keys()
	if len(keys) == 0 {
		t.Fatal("nothing was stored in Redis")
	}
	for _, k := range keys {
		for _, tok := range []string{rs.token, other} {
			if strings.Contains(k, tok) || strings.Contains(k, tok[len(tok)-12:]) {
				t.Errorf("key %q holds a token", k)
			}
		}
	}
}

// eventually polls cond for up to ten seconds (a bound on a test's patience,
// not a threshold of the code under test).
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for range 1000 {
		if cond() {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("never: %s", what)
}

// TestSharedCacheReconnectDropsLocalCache: a replica whose Redis went away
// serves on (local cache, short lifetimes) and, when Redis is back, drops
// its local cache, since evictions may have been published without it.
func TestSharedCacheReconnectDropsLocalCache(t *testing.T) {
	// No AOF: the restarted Redis is empty, so once the local cache is
	// dropped a read costs its four calls again.
	rd := redistest.Start(t, "--appendonly", "no")
	rs := newReplicas(t, rd.URL(), redistest.Prefix(t, rd.URL()), 1, func(c *server.Config) { c.NoResponseCache = true })
	vars := map[string]any{"id": rs.contact()}
	rs.gql(0, rs.token, sharedSnapshot, vars)
	before := rs.calls()
	rs.gql(0, rs.token, sharedSnapshot, vars)
	if d := rs.calls() - before; d != 0 {
		t.Fatalf("warm read made %d calls", d)
	}
	rd.Kill()
	eventually(t, "the replica sees Redis down", func() bool { return !rs.conns[0].Up() })
	// Down: still served, from the local cache.
	before = rs.calls()
	rs.gql(0, rs.token, sharedSnapshot, vars)
	if d := rs.calls() - before; d != 0 {
		t.Errorf("with Redis down a warm read made %d calls, want 0 (local cache)", d)
	}
	rd.Restart()
	eventually(t, "the replica sees Redis back", func() bool { return rs.conns[0].Up() })
	// The purge runs on its own goroutine after the change.
	eventually(t, "the local cache is dropped", func() bool {
		before := rs.calls()
		rs.gql(0, rs.token, sharedSnapshot, vars)
		return rs.calls()-before == 4
	})
}

// TestSharedCacheDegradedShortLifetimes: with Redis unreachable the gateway
// serves, caches locally, and keeps an answer at most DegradedTTL (a fake
// clock), however long the kind's own lifetime.
func TestSharedCacheDegradedShortLifetimes(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	deadURL := fmt.Sprintf("redis://%s/0", l.Addr())
	_ = l.Close() // nothing listens there now
	var clock atomic.Int64
	clock.Store(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano())
	now := func() time.Time { return time.Unix(0, clock.Load()) }
	const degraded = 5 * time.Second
	rs := newReplicas(t, deadURL, redistest.Prefix(t, deadURL), 1, func(c *server.Config) {
		c.NoResponseCache = true
		c.Now = now
		c.CacheTTLs = loaders.TTLs{Contact: time.Hour, Lists: time.Hour, Search: time.Hour}
		c.SharedCache.DegradedTTL = degraded
	})
	if rs.conns[0].Up() {
		t.Fatal("Redis reported up on a closed port")
	}
	vars := map[string]any{"id": rs.contact()}
	tests := []struct {
		name      string
		advance   time.Duration
		wantCalls int64
	}{
		{"cold", 0, 4},
		{"within the degraded lifetime", degraded - time.Second, 0},
		{"past the degraded lifetime, within the kind's", 2 * time.Second, 4},
	}
	for _, tc := range tests {
		clock.Add(int64(tc.advance))
		before := rs.calls()
		rs.gql(0, rs.token, sharedSnapshot, vars)
		if d := rs.calls() - before; d != tc.wantCalls {
			t.Errorf("%s: %d upstream calls, want %d", tc.name, d, tc.wantCalls)
		}
	}
}

// TestSharedCacheWebhookEvictsEveryReplica: a change made in HighLevel (at
// the sandbox, not through the gateway) whose webhook reaches replica 2
// only is seen by the next read on replicas 1 and 3.
func TestSharedCacheWebhookEvictsEveryReplica(t *testing.T) {
	url := redistest.URL(t)
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	bus := &recordingBus{ch: make(chan events.Change, 64)}
	wh := &server.Webhooks{Receiver: webhook.Config{Ed25519Keys: []ed25519.PublicKey{pub}}, Bus: bus}
	rs := newReplicasEach(t, url, redistest.Prefix(t, url), 3, func(i int, c *server.Config) {
		if i == 1 {
			c.Webhooks = wh
		}
	})
	t.Cleanup(func() { _ = wh.Drain(context.Background()) })
	_, stop, err := rs.sb.StartWebhooks(sandbox.WebhookConfig{URL: rs.gws[1].URL + server.WebhookPath, PrivateKey: priv})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop)
	id := rs.contact()
	vars := map[string]any{"id": id}
	for i := range rs.gws {
		rs.gql(i, rs.token, sharedSnapshot, vars)
	}
	direct, err := upstream.NewClient(upstream.WithBaseURL(rs.up.URL))
	if err != nil {
		t.Fatal(err)
	}
	ctx := upstream.ContextWithTokenSource(context.Background(), oauth2.StaticTokenSource(&oauth2.Token{AccessToken: rs.token}))
	if _, _, err := direct.Contacts.Update(ctx, id, &upstream.UpdateContactRequest{City: upstream.Set("Trondheim")}); err != nil {
		t.Fatal(err)
	}
	// Applied on replica 2: evicted there, and on every replica, before the
	// change is published to subscribers.
	for applied := false; !applied; {
		select {
		case c := <-bus.ch:
			applied = c.Type == "ContactUpdate"
		case <-time.After(10 * time.Second): // a hang guard, not a threshold
			t.Fatalf("the webhook was never applied; stats %+v", wh.Stats())
		}
	}
	for _, i := range []int{0, 2} {
		if got := cityOf(rs.gql(i, rs.token, sharedSnapshot, vars)); got != "Trondheim" {
			t.Errorf("replica %d read city %v after the webhook reached replica 2, want Trondheim", i+1, got)
		}
	}
}
