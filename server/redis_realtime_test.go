// Tests of what replicas share on Redis at the HTTP edge (issue 13):
// automatic persisted queries registered on one replica run on another,
// and the same webhook delivered to two replicas takes effect once.

package server_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/ghl-graphql/gateway/auth"
	"github.com/ghl-graphql/gateway/events"
	"github.com/ghl-graphql/gateway/redisx/redistest"
	"github.com/ghl-graphql/gateway/server"
	"github.com/ghl-graphql/gateway/upstream"
	"github.com/ghl-graphql/gateway/upstream/sandbox"
	"github.com/ghl-graphql/gateway/webhook"
	"go.uber.org/goleak"
)

// replica is another gateway over e's sandbox, configured by mod, as an
// e2e whose helpers talk to it.
func (e *e2e) replica(t *testing.T, mod func(*server.Config)) *e2e {
	t.Helper()
	client, err := upstream.NewClient(upstream.WithBaseURL(e.up.URL))
	if err != nil {
		t.Fatal(err)
	}
	scfg := server.Config{Client: client, Introspection: true}
	if mod != nil {
		mod(&scfg)
	}
	h, err := server.New(scfg)
	if err != nil {
		t.Fatal(err)
	}
	gw := httptest.NewServer(h)
	t.Cleanup(gw.Close)
	r := *e
	r.gw = gw
	return &r
}

func sha256Hex(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

// TestRedisAPQAcrossReplicas: a query registered on replica 1 runs by its
// hash alone on replica 2; a replica with only its own store answers
// PersistedQueryNotFound, as every replica did before.
func TestRedisAPQAcrossReplicas(t *testing.T) {
	conns := redistest.SharedConns(t, 2)
	e := newE2E(t, withServer(func(c *server.Config) { c.APQ = server.NewRedisAPQ(conns[0], nil, server.RedisAPQConfig{}) }))
	shared := e.replica(t, func(c *server.Config) { c.APQ = server.NewRedisAPQ(conns[1], nil, server.RedisAPQConfig{}) })
	alone := e.replica(t, nil)

	const q = `{ __typename }`
	ext := map[string]any{"persistedQuery": map[string]any{"version": 1, "sha256Hash": sha256Hex(q)}}
	register, _ := json.Marshal(map[string]any{"query": q, "extensions": ext})
	byHash, _ := json.Marshal(map[string]any{"extensions": ext})

	e.send(request{token: e.token, rawBody: string(register)}).ok(t)
	if got := shared.send(request{token: e.token, rawBody: string(byHash)}).ok(t).get("__typename"); got != "Query" {
		t.Errorf("replica 2 by hash: __typename = %v, want Query", got)
	}
	if code := alone.send(request{token: e.token, rawBody: string(byHash)}).code(t); code != "PERSISTED_QUERY_NOT_FOUND" {
		t.Errorf("a replica without Redis: %s, want PERSISTED_QUERY_NOT_FOUND", code)
	}
}

// TestRedisAPQDegrades kills the test's own Redis: a replica answers from
// its own store (a miss, never an error), keeps what is registered with
// it, and shares again after the restart.
func TestRedisAPQDegrades(t *testing.T) {
	srv := redistest.Start(t)
	conns := redistest.Conns(t, srv.URL(), redistest.Prefix(t, srv.URL()), 2)
	s1 := server.NewRedisAPQ(conns[0], nil, server.RedisAPQConfig{})
	s2 := server.NewRedisAPQ(conns[1], nil, server.RedisAPQConfig{})
	ctx := context.Background()
	get := func(s *server.RedisAPQ, q string, want bool) {
		t.Helper()
		got, ok, err := s.Get(ctx, sha256Hex(q))
		if err != nil || ok != want || (ok && got != q) {
			t.Errorf("Get(%q) = %q, %v, %v; want found %v", q, got, ok, err, want)
		}
	}
	must(t, s1.Put(ctx, sha256Hex("{ a }"), "{ a }"))
	get(s2, "{ a }", true)

	srv.Kill()
	must(t, s1.Put(ctx, sha256Hex("{ b }"), "{ b }"))
	get(s1, "{ b }", true)  // its own store
	get(s2, "{ b }", false) // not shared: the client sends it again
	get(s2, "{ a }", true)  // learned from Redis before the outage
	if !s2.Degraded() {
		t.Error("Degraded() = false with Redis down")
	}

	srv.Restart()
	must(t, s1.Put(ctx, sha256Hex("{ c }"), "{ c }"))
	get(s2, "{ c }", true)
	if s2.Degraded() {
		t.Error("Degraded() = true after the restart")
	}

	// What Redis holds is checked against its hash before it runs.
	must(t, conns[0].Client().Set(ctx, conns[0].GlobalKey("apq", sha256Hex("{ d }")), "{ evil }", time.Minute).Err())
	get(s2, "{ d }", false)
}

// TestRedisWebhookOnceAcrossReplicas: the same signed webhook delivered
// to two replicas' endpoints (HighLevel's retry reaching another replica,
// or a replay) is applied, evicted and published, once.
func TestRedisWebhookOnceAcrossReplicas(t *testing.T) {
	conns := redistest.SharedConns(t, 2)
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	at := time.Now().UTC().Truncate(time.Second)
	clock := func() time.Time { return at }
	bus := &recordingBus{ch: make(chan events.Change, 8)}
	hooks := make([]*server.Webhooks, 2)
	for i := range hooks {
		hooks[i] = &server.Webhooks{Receiver: webhook.Config{Ed25519Keys: []ed25519.PublicKey{pub}, Now: clock,
			Seen: webhook.NewRedisSeen(conns[i], nil, clock, nil)}, Bus: bus, Now: clock}
	}
	e := newE2E(t, withServer(func(c *server.Config) { c.Webhooks = hooks[0] }))
	r2 := e.replica(t, func(c *server.Config) { c.Webhooks = hooks[1] })

	body, _ := json.Marshal(map[string]any{"type": "ContactUpdate", "locationId": e.locA, "id": e.sb.ContactIDs(e.locA)[0],
		"timestamp": at.Format(time.RFC3339), "webhookId": "wh-replayed", "firstName": "Ada"})
	var answers []string
	for _, gw := range []*e2e{e, r2, e} {
		req, _ := http.NewRequest(http.MethodPost, gw.gw.URL+server.WebhookPath, bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set(webhook.HeaderSignature, webhook.SignEd25519(priv, body))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var b struct{ Status string }
		_ = json.NewDecoder(resp.Body).Decode(&b)
		resp.Body.Close()
		answers = append(answers, b.Status)
	}
	if strings.Join(answers, ",") != "accepted,duplicate,duplicate" {
		t.Errorf("answers = %v, want accepted then duplicates", answers)
	}
	for _, h := range hooks {
		must(t, h.Drain(context.Background()))
	}
	if n := len(bus.ch); n != 1 {
		t.Errorf("published %d changes over two replicas, want 1", n)
	}
	if a, d := hooks[0].Stats().Applied+hooks[1].Stats().Applied, hooks[0].Stats().Duplicates+hooks[1].Stats().Duplicates; a != 1 || d != 2 {
		t.Errorf("applied %d, duplicates %d; want 1 and 2", a, d)
	}
}

// TestMutationAndItsWebhookPublishOnce is the duplicate of the last round
// ("duplicate subscription events with webhooks on"): a write through the
// gateway publishes its change, and the sandbox's webhook of the same
// write publishes it again. Over a bare bus subscribers get both; through
// events.WithoutEchoes (and the Redis bus, which filters the same way)
// they get one.
func TestMutationAndItsWebhookPublishOnce(t *testing.T) {
	for name, tc := range map[string]struct {
		filter bool
		want   int
	}{"bare bus (the bug)": {false, 2}, "echoes suppressed": {true, 1}} {
		t.Run(name, func(t *testing.T) {
			local := events.NewLocal()
			t.Cleanup(local.Close)
			var bus events.Bus = local
			if tc.filter {
				bus = events.WithoutEchoes(local, events.NewEchoFilter(0, nil))
			}
			var wh *server.Webhooks
			// One withServer holds: this one replaces newHooked's, so it
			// sets the webhooks too.
			h := newHookedWith(t, sandbox.WebhookConfig{}, func(w *server.Webhooks) { w.Bus, wh = nil, w },
				withServer(func(c *server.Config) { c.Bus, c.Webhooks = bus, wh }))
			ch, stop := local.Subscribe(context.Background(), h.locA, nil, 16)
			t.Cleanup(stop)
			id := h.sb.ContactIDs(h.locA)[0]
			h.gql(h.token, `mutation($id: ID!) { updateContact(id: $id, input: {city: "Reykjavik"}) { contact { id } } }`,
				map[string]any{"id": id}).ok(t)
			deadline := time.Now().Add(10 * time.Second) // a hang guard, not a threshold
			for h.wh.Stats().Applied < 1 {
				if time.Now().After(deadline) {
					t.Fatalf("the sandbox's webhook was not applied: %+v, sandbox %+v", h.wh.Stats(), h.sb.WebhookStats())
				}
				time.Sleep(5 * time.Millisecond)
			}
			n := 0
			for len(ch) > 0 {
				if c := <-ch; c.ContactID == id && c.Type == "ContactUpdate" {
					n++
				}
			}
			if n != tc.want {
				t.Errorf("subscriber got the change %d times, want %d", n, tc.want)
			}
		})
	}
}

// TestRedisWebhookReachesSubscribersOnEveryReplica: three gateways over
// one sandbox, each with its Redis bus; HighLevel (the sandbox) delivers
// its webhooks to replica 2 only, and the subscribers on replicas 1, 2
// and 3 each receive the change once: the next event after it is the next
// change, not a copy, and resolves fresh data (the bus evicts another
// replica's change from the local cache before delivering it).
func TestRedisWebhookReachesSubscribersOnEveryReplica(t *testing.T) {
	// Registered first, so it runs last: no goroutine of the buses, the
	// subscriptions or the connections outlives the test.
	opt := goleak.IgnoreCurrent()
	t.Cleanup(func() { goleak.VerifyNone(t, opt) })
	conns := redistest.SharedConns(t, 3)
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	buses := make([]*events.Redis, 3)
	hooks := make([]*server.Webhooks, 3)
	for i := range buses {
		buses[i] = events.NewRedis(conns[i], events.RedisConfig{})
		t.Cleanup(buses[i].Close)
		hooks[i] = &server.Webhooks{Receiver: webhook.Config{Ed25519Keys: []ed25519.PublicKey{pub},
			Seen: webhook.NewRedisSeen(conns[i], nil, nil, nil)}}
		t.Cleanup(func() { _ = hooks[i].Drain(context.Background()) })
	}
	cfg := func(i int) func(*server.Config) {
		return func(c *server.Config) { c.Bus, c.Webhooks = buses[i], hooks[i] }
	}
	e := newE2E(t, withServer(cfg(0)))
	gws := []*e2e{e, e.replica(t, cfg(1)), e.replica(t, cfg(2))}
	_, stop, err := e.sb.StartWebhooks(sandbox.WebhookConfig{URL: gws[1].gw.URL + server.WebhookPath, PrivateKey: priv})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop)
	for _, b := range buses {
		deadline := time.Now().Add(testTimeout)
		for !b.Connected() {
			if time.Now().After(deadline) {
				t.Fatal("a bus did not subscribe")
			}
			time.Sleep(5 * time.Millisecond)
		}
	}

	id := e.contactsOf(t, e.locA)[2].ID
	ws := make([]*wsClient, 3)
	for i, gw := range gws {
		ws[i] = dialWS(t, gw, nil)
		ws[i].init(bearer(e.token))
		ws[i].subscribe("1", contactSub, map[string]any{"id": id})
	}
	for _, b := range buses {
		deadline := time.Now().Add(testTimeout)
		for b.Stats().Local.Subscribers != 1 {
			if time.Now().After(deadline) {
				t.Fatal("a subscription did not start")
			}
			time.Sleep(time.Millisecond)
		}
	}
	for _, name := range []string{"First", "Second"} {
		if _, _, err := e.client.Contacts.Update(e.ctx(e.token), id, &upstream.UpdateContactRequest{FirstName: upstream.Set(name)}); err != nil {
			t.Fatal(err)
		}
		for i, w := range ws {
			m, err := w.read()
			if err != nil {
				t.Fatalf("replica %d: no event for %s: %v", i+1, name, err)
			}
			r := m.next(t)
			if r.get("contactChanged.webhookId") == nil || r.get("contactChanged.contact.firstName") != name {
				t.Errorf("replica %d: event %s, want the webhook of %s", i+1, r.Body, name)

			}
		}
	}
	if a := hooks[0].Stats().Accepted + hooks[2].Stats().Accepted; a != 0 {
		t.Errorf("replicas 1 and 3 accepted %d webhooks, want none (all went to 2)", a)
	}
}

// TestRedisLearnedAcrossReplicas: a Private Integration Token whose
// location the upstream confirmed on replica 1 (a request with
// X-Location-Id) is known on replica 2 too, which then serves a request
// without the header; a replica that shares nothing cannot tell the
// token's location and refuses it.
func TestRedisLearnedAcrossReplicas(t *testing.T) {
	conns := redistest.SharedConns(t, 2)
	share := func(i int) func(*server.Config) {
		return func(c *server.Config) { c.LearnedShared = auth.NewRedisLearned(conns[i], 0, nil) }
	}
	e := newE2E(t, withServer(share(0)))
	shared := e.replica(t, share(1))
	alone := e.replica(t, nil)
	pit := e.sb.Token(e.locA, sandbox.ScopeContactsRead)
	const q = `{ contacts(first: 1) { nodes { id } } }`

	e.gqlLoc(pit, e.locA, q, nil).ok(t)
	if r := alone.gql(pit, q, nil); len(r.Errors) == 0 || !strings.Contains(r.Errors[0].Message, "locationId is required") {
		t.Fatalf("a replica sharing nothing: %s, want locationId required", r.Body)
	}
	if n := shared.gql(pit, q, nil).ok(t).get("contacts.nodes"); n == nil {
		t.Errorf("replica 2 with the shared facts: no contacts")
	}
}
