package server_test

// Subscriptions (issue 12) over a real WebSocket client speaking
// graphql-transport-ws, against server.New and the sandbox.

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"go.uber.org/goleak"

	"github.com/ghl-graphql/gateway/events"
	"github.com/ghl-graphql/gateway/internal/fakeclock"
	"github.com/ghl-graphql/gateway/server"
	"github.com/ghl-graphql/gateway/upstream"
	"github.com/ghl-graphql/gateway/upstream/sandbox"
)

// wsMsg is one graphql-transport-ws message.
type wsMsg struct {
	ID      string          `json:"id,omitempty"`
	Type    string          `json:"type"`
	Payload json.RawMessage `json:"payload,omitempty"`
}

// next decodes a next message's payload.
func (m wsMsg) next(t *testing.T) response {
	t.Helper()
	if m.Type != "next" {
		t.Fatalf("got a %q message (%s), want next", m.Type, m.Payload)
	}
	var env struct {
		Data   map[string]any `json:"data"`
		Errors []gqlError     `json:"errors"`
	}
	if err := json.Unmarshal(m.Payload, &env); err != nil {
		t.Fatalf("next payload %s: %v", m.Payload, err)
	}
	return response{Data: env.Data, Errors: env.Errors, Body: string(m.Payload)}
}

// wsClient is a graphql-transport-ws client.
type wsClient struct {
	t *testing.T
	c *websocket.Conn
}

// testTimeout only keeps a broken test from hanging; nothing is measured
// against it.
const testTimeout = 20 * time.Second

func dialWS(t *testing.T, e *e2e, header http.Header) *wsClient {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	url := "ws" + strings.TrimPrefix(e.gw.URL, "http") + server.GraphQLPath
	c, resp, err := websocket.Dial(ctx, url, &websocket.DialOptions{Subprotocols: []string{"graphql-transport-ws"}, HTTPHeader: header})
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	if resp.Body != nil {
		resp.Body.Close()
	}
	if c.Subprotocol() != "graphql-transport-ws" {
		t.Fatalf("subprotocol %q", c.Subprotocol())
	}
	c.SetReadLimit(1 << 20)
	w := &wsClient{t: t, c: c}
	t.Cleanup(func() { _ = c.CloseNow() })
	return w
}

func (w *wsClient) send(m any) {
	w.t.Helper()
	b, _ := json.Marshal(m)
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	if err := w.c.Write(ctx, websocket.MessageText, b); err != nil {
		w.t.Fatalf("write: %v", err)
	}
}

// read returns the next message other than ping/pong, or the read error.
func (w *wsClient) read() (wsMsg, error) {
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	for {
		_, b, err := w.c.Read(ctx)
		if err != nil {
			return wsMsg{}, err
		}
		var m wsMsg
		if err := json.Unmarshal(b, &m); err != nil {
			return wsMsg{}, err
		}
		switch m.Type {
		case "ping":
			w.send(map[string]any{"type": "pong"})
			continue
		case "pong":
			continue
		}
		return m, nil
	}
}

func (w *wsClient) mustRead() wsMsg {
	w.t.Helper()
	m, err := w.read()
	if err != nil {
		w.t.Fatalf("read: %v", err)
	}
	return m
}

// init sends connection_init with payload and wants connection_ack.
func (w *wsClient) init(payload map[string]any) {
	w.t.Helper()
	w.send(map[string]any{"type": "connection_init", "payload": payload})
	if m := w.mustRead(); m.Type != "connection_ack" {
		w.t.Fatalf("got %q (%s), want connection_ack", m.Type, m.Payload)
	}
}

func (w *wsClient) subscribe(id, query string, vars map[string]any) {
	w.t.Helper()
	w.send(map[string]any{"id": id, "type": "subscribe", "payload": map[string]any{"query": query, "variables": vars}})
}

// subsEnv is a gateway with its bus at hand.
type subsEnv struct {
	*e2e
	bus *events.Local
}

func newSubsEnv(t *testing.T, limits server.SubscriptionLimits, opts ...e2eOption) *subsEnv {
	t.Helper()
	bus := events.NewLocal()
	t.Cleanup(bus.Close)
	opts = append(opts, withServer(func(cfg *server.Config) {
		cfg.Bus = bus
		cfg.Subscriptions = limits
	}))
	return &subsEnv{e2e: newE2E(t, opts...), bus: bus}
}

// waitSubscribers waits until the bus holds n subscriptions: a barrier
// between a subscribe message and the changes the test then makes.
func (e *subsEnv) waitSubscribers(t *testing.T, n int64) {
	t.Helper()
	deadline := time.Now().Add(testTimeout)
	for e.bus.Stats().Subscribers != n {
		if time.Now().After(deadline) {
			t.Fatalf("the bus holds %d subscriptions, want %d", e.bus.Stats().Subscribers, n)
		}
		time.Sleep(time.Millisecond)
	}
}

func (e *subsEnv) publish(t *testing.T, c events.Change) {
	t.Helper()
	if c.At.IsZero() {
		c.At = time.Now()
	}
	if err := e.bus.Publish(context.Background(), c); err != nil {
		t.Fatal(err)
	}
}

func bearer(tok string) map[string]any { return map[string]any{"Authorization": "Bearer " + tok} }

const contactSub = `subscription($id: ID!) { contactChanged(id: $id) { kind type locationId contactId webhookId contact { id firstName } } }`

func TestSubscriptionMutationsReachSubscribers(t *testing.T) {
	e := newSubsEnv(t, server.SubscriptionLimits{})
	id := e.contactsOf(t, e.locA)[0].ID

	ws := dialWS(t, e.e2e, nil)
	ws.init(bearer(e.token)) // the token in the init payload, as a browser sends it
	ws.subscribe("c", contactSub, map[string]any{"id": id})
	ws.subscribe("all", `subscription { contactsChanged { kind contactId } }`, nil)
	ws.subscribe("t", `subscription($c: ID!) { taskChanged(contactId: $c) { kind contactId taskId task { id title } } }`, map[string]any{"c": id})
	e.waitSubscribers(t, 3)

	e.gql(e.token, `mutation($id: ID!) { updateContact(id: $id, input: {firstName: "Ada"}) { contact { id } } }`,
		map[string]any{"id": id}).ok(t)
	got := map[string]response{}
	for len(got) < 2 {
		m := ws.mustRead()
		got[m.ID] = m.next(t)
	}
	if c := got["c"]; c.get("contactChanged.kind") != "UPDATED" || c.get("contactChanged.type") != "ContactUpdate" ||
		c.get("contactChanged.contact.firstName") != "Ada" || c.get("contactChanged.locationId") != e.locA ||
		c.get("contactChanged.webhookId") != nil {
		t.Errorf("contactChanged: %s", c.Body)
	}
	if c := got["all"]; c.get("contactsChanged.contactId") != id {
		t.Errorf("contactsChanged: %s", c.Body)
	}

	// A task created through the gateway: its event resolves the task.
	created := e.gql(e.token, `mutation($c: ID!) { createTask(contactId: $c, input: {title: "Call back", dueDate: "2030-01-02T03:04:05Z"}) { task { id } } }`,
		map[string]any{"c": id}).ok(t)
	taskID := str(created.get("createTask.task.id"))
	ev := ws.mustRead()
	if ev.ID != "t" {
		t.Fatalf("got an event of %q, want the task's: %s", ev.ID, ev.Payload)
	}
	if r := ev.next(t); r.get("taskChanged.kind") != "CREATED" || r.get("taskChanged.taskId") != taskID ||
		r.get("taskChanged.task.title") != "Call back" {
		t.Errorf("taskChanged: %s", r.Body)
	}

	// A deleted contact: the event still arrives, its object is null.
	e.gql(e.token, `mutation($id: ID!) { deleteContact(id: $id) { deletedId } }`, map[string]any{"id": id}).ok(t)
	got = map[string]response{}
	for len(got) < 2 {
		m := ws.mustRead()
		got[m.ID] = m.next(t)
	}
	if c := got["c"]; c.get("contactChanged.kind") != "DELETED" || c.get("contactChanged.contactId") != id ||
		c.get("contactChanged.contact") != nil || len(c.Errors) != 0 {
		t.Errorf("contactChanged after delete: %s", c.Body)
	}
}

func TestSubscriptionResolvesFreshDataPerEvent(t *testing.T) {
	e := newSubsEnv(t, server.SubscriptionLimits{})
	id := e.contactsOf(t, e.locA)[1].ID
	ws := dialWS(t, e.e2e, http.Header{"Authorization": {"Bearer " + e.token}}) // the token in the upgrade's headers
	ws.init(nil)
	ws.subscribe("1", contactSub, map[string]any{"id": id})
	e.waitSubscribers(t, 1)
	for _, name := range []string{"First", "Second"} {
		e.gql(e.token, `mutation($id: ID!, $n: String) { updateContact(id: $id, input: {firstName: $n}) { contact { id } } }`,
			map[string]any{"id": id, "n": name}).ok(t)
		if r := ws.mustRead().next(t); r.get("contactChanged.contact.firstName") != name {
			t.Errorf("event after renaming to %s: %s", name, r.Body)
		}
	}
	// A change published by someone else (a webhook): delivered with its
	// webhook ID, the contact read through the cache.
	e.publish(t, events.Change{Type: "ContactTagUpdate", Object: events.ObjectContact, Kind: events.KindTagsChange,
		LocationID: e.locA, ContactID: id, WebhookID: "wh-1"})
	if r := ws.mustRead().next(t); r.get("contactChanged.kind") != "TAGS_CHANGED" || r.get("contactChanged.webhookId") != "wh-1" ||
		r.get("contactChanged.contact.firstName") != "Second" {
		t.Errorf("webhook event: %s", r.Body)
	}
}

func TestSubscriptionRefusedAtInit(t *testing.T) {
	e := newSubsEnv(t, server.SubscriptionLimits{})
	// An access token of location B whose signature is not the sandbox's:
	// its claims name B, but only the upstream can say whether it is real.
	forged := e.sb.AccessToken(e.locB)
	forged = forged[:len(forged)-4] + "AAAA"
	pitA := e.sb.Token(e.locA, "contacts.readonly")
	tests := []struct {
		name     string
		payload  map[string]any
		wantCode string
	}{
		{"no credential", nil, "UNAUTHENTICATED"},
		{"malformed authorization", map[string]any{"Authorization": "Basic abc"}, "UNAUTHENTICATED"},
		{"token over the length limit", bearer(strings.Repeat("x", 5000)), "UNAUTHENTICATED"},
		{"forged token of another location", bearer(forged), "UNAUTHENTICATED"},
		{"PIT claiming another location", map[string]any{"Authorization": "Bearer " + pitA, "X-Location-Id": e.locB}, "FORBIDDEN"},
		{"malformed location", map[string]any{"Authorization": "Bearer " + pitA, "X-Location-Id": "a/b"}, "BAD_USER_INPUT"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ws := dialWS(t, e.e2e, nil)
			ws.send(map[string]any{"type": "connection_init", "payload": tt.payload})
			m, err := ws.read()
			if err == nil {
				t.Fatalf("got %q (%s), want the connection closed", m.Type, m.Payload)
			}
			var ce websocket.CloseError
			if !asCloseError(err, &ce) || ce.Code != 4403 || !strings.HasPrefix(ce.Reason, tt.wantCode+":") {
				t.Errorf("closed with %v, want 4403 and a reason starting %s:", err, tt.wantCode)
			}
		})
	}
	if n := e.bus.Stats().Subscribers; n != 0 {
		t.Errorf("%d subscriptions after refused connections", n)
	}
	// A PIT with its own location is confirmed by one upstream call, then
	// accepted.
	before := e.sb.Calls("search-contacts-advanced")
	ws := dialWS(t, e.e2e, nil)
	ws.init(map[string]any{"Authorization": "Bearer " + pitA, "X-Location-Id": e.locA})
	if n := e.sb.Calls("search-contacts-advanced") - before; n != 1 {
		t.Errorf("%d confirming calls, want 1", n)
	}
}

func asCloseError(err error, ce *websocket.CloseError) bool { return errors.As(err, ce) }

func TestSubscriptionOnlyOwnLocation(t *testing.T) {
	e := newSubsEnv(t, server.SubscriptionLimits{})
	ws := dialWS(t, e.e2e, nil)
	ws.init(bearer(e.token)) // a token of A
	ws.subscribe("all", `subscription { contactsChanged { contactId locationId } }`, nil)
	e.waitSubscribers(t, 1)
	// B's change is published first: had it been delivered it would come
	// first, since one subscription keeps the publishing order.
	idB, idA := e.contactsOf(t, e.locB)[0].ID, e.contactsOf(t, e.locA)[0].ID
	e.publish(t, events.Change{Type: "ContactUpdate", Object: events.ObjectContact, Kind: events.KindUpdated, LocationID: e.locB, ContactID: idB})
	e.publish(t, events.Change{Type: "ContactUpdate", Object: events.ObjectContact, Kind: events.KindUpdated, LocationID: e.locA, ContactID: idA})
	if r := ws.mustRead().next(t); r.get("contactsChanged.contactId") != idA || r.get("contactsChanged.locationId") != e.locA {
		t.Errorf("first event: %s, want A's", r.Body)
	}

	// A subscription naming a contact of B follows nothing of B: the
	// connection is bound to A.
	ws.subscribe("b", contactSub, map[string]any{"id": idB})
	e.waitSubscribers(t, 2)
	e.publish(t, events.Change{Type: "ContactUpdate", Object: events.ObjectContact, Kind: events.KindUpdated, LocationID: e.locB, ContactID: idB})
	e.publish(t, events.Change{Type: "ContactUpdate", Object: events.ObjectContact, Kind: events.KindUpdated, LocationID: e.locA, ContactID: idA})
	if m := ws.mustRead(); m.ID != "all" {
		t.Errorf("got an event for %q: %s", m.ID, m.Payload)
	}
}

func TestSubscriptionManagedModeBoundToThePrincipal(t *testing.T) {
	e, keys := newManagedE2E(t)
	id := e.contactsOf(t, e.locA)[0].ID
	ws := dialWS(t, e, nil)
	ws.init(bearer(keys.readKey)) // a read-only key of A: subscribing is reading
	ws.subscribe("1", contactSub, map[string]any{"id": id})
	// No bus at hand here: retry the write until the subscription is
	// registered (the first event then comes from one of the writes).
	deadline := time.Now().Add(testTimeout)
	got := make(chan wsMsg, 1)
	go func() {
		m, _ := ws.read()
		got <- m
	}()
	for {
		e.gql(keys.writeKey, `mutation($id: ID!) { updateContact(id: $id, input: {firstName: "Grace"}) { contact { id } } }`,
			map[string]any{"id": id}).ok(t)
		select {
		case m := <-got:
			if r := m.next(t); r.get("contactChanged.contact.firstName") != "Grace" || r.get("contactChanged.locationId") != e.locA {
				t.Errorf("managed event: %s", r.Body)
			}
			return
		case <-time.After(10 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatal("no event")
		}
	}
}

func TestSubscriptionCaps(t *testing.T) {
	e := newSubsEnv(t, server.SubscriptionLimits{PerConnection: 2, PerCredential: 3})
	q := `subscription { contactsChanged { contactId } }`
	one := dialWS(t, e.e2e, nil)
	one.init(bearer(e.token))
	one.subscribe("1", q, nil)
	one.subscribe("2", q, nil)
	e.waitSubscribers(t, 2)
	one.subscribe("3", q, nil)
	wantRefused := func(w *wsClient, id, cap string) {
		t.Helper()
		m := w.mustRead()
		if r := m.next(t); m.ID != id || r.code(t) != "TOO_MANY_SUBSCRIPTIONS" || !strings.Contains(r.Errors[0].Message, cap) {
			t.Errorf("subscription %s past the cap: %s", id, m.Payload)
		}
		if m := w.mustRead(); m.Type != "complete" || m.ID != id {
			t.Errorf("got %q for %s, want complete", m.Type, m.ID)
		}
	}
	wantRefused(one, "3", "connection")

	two := dialWS(t, e.e2e, nil)
	two.init(bearer(e.token))
	two.subscribe("1", q, nil)
	e.waitSubscribers(t, 3)
	two.subscribe("2", q, nil)
	wantRefused(two, "2", "credential")

	// Ending one frees its place.
	one.send(map[string]any{"id": "1", "type": "complete"})
	e.waitSubscribers(t, 2)
	two.subscribe("3", q, nil)
	e.waitSubscribers(t, 3)
}

// gatedUpstream holds get-contact calls until released.
type gatedUpstream struct {
	mu      sync.Mutex
	held    int
	arrived chan struct{}
	release chan struct{}
}

func (g *gatedUpstream) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet && strings.HasPrefix(r.URL.Path, "/contacts/") && strings.Count(r.URL.Path, "/") == 2 {
			g.mu.Lock()
			g.held++
			first := g.held == 1
			g.mu.Unlock()
			if first {
				close(g.arrived)
			}
			<-g.release
		}
		next.ServeHTTP(w, r)
	})
}

func TestSubscriptionSlowSubscriberEnded(t *testing.T) {
	const queue = 3
	gate := &gatedUpstream{arrived: make(chan struct{}), release: make(chan struct{})}
	var once sync.Once
	open := func() { once.Do(func() { close(gate.release) }) }
	e := newSubsEnv(t, server.SubscriptionLimits{Queue: queue}, withUpstreamMiddleware(gate.wrap))
	t.Cleanup(open) // runs before the servers' cleanups: a failed test does not hang
	id := e.contactsOf(t, e.locA)[2].ID

	slow := dialWS(t, e.e2e, nil)
	slow.init(bearer(e.token))
	slow.subscribe("slow", `subscription { contactsChanged { contactId contact { id } } }`, nil)
	fast := dialWS(t, e.e2e, nil)
	fast.init(bearer(e.token))
	fast.subscribe("fast", `subscription { contactsChanged { contactId } }`, nil)
	e.waitSubscribers(t, 2)

	change := events.Change{Type: "ContactUpdate", Object: events.ObjectContact, Kind: events.KindUpdated, LocationID: e.locA, ContactID: id}
	// Each change is published once the fast subscriber has the one
	// before: it keeps up, whatever the slow one does.
	fastGets := func() {
		t.Helper()
		if r := fast.mustRead().next(t); r.get("contactsChanged.contactId") != id || len(r.Errors) != 0 {
			t.Fatalf("fast subscriber: %s", r.Body)
		}
	}
	e.publish(t, change)
	fastGets()
	<-gate.arrived // the slow subscriber is stuck resolving its first event
	// One event being resolved, one waiting to be handed over, `queue`
	// queued: the next one overflows. The publisher is never held (this
	// test would hang if it were).
	const published = 1 + 1 + queue + 1
	for i := 1; i < published; i++ {
		e.publish(t, change)
		fastGets()
	}
	if st := e.bus.Stats(); st.Dropped != 1 {
		t.Errorf("bus stats %+v, want 1 dropped", st)
	}
	open()

	// The slow one gets what was queued for it, then the error, then
	// complete.
	var delivered int
	for {
		m := slow.mustRead()
		if m.Type == "complete" {
			t.Fatal("complete before the error")
		}
		r := m.next(t)
		if len(r.Errors) == 0 {
			delivered++
			continue
		}
		if r.code(t) != "SUBSCRIBER_TOO_SLOW" || r.Data == nil || r.get("contactsChanged") != nil {
			t.Errorf("ending message: %s", r.Body)
		}
		break
	}
	if delivered != published-1 {
		t.Errorf("slow subscriber got %d events before the error, want %d (all but the overflowing one)", delivered, published-1)
	}
	if m := slow.mustRead(); m.Type != "complete" || m.ID != "slow" {
		t.Errorf("got %q, want complete", m.Type)
	}
	// The connection stays usable.
	slow.subscribe("again", `subscription { contactsChanged { contactId } }`, nil)
	e.waitSubscribers(t, 2)
}

func TestSubscriptionDisconnectsFreeEverything(t *testing.T) {
	opt := goleak.IgnoreCurrent()
	func() {
		e := newSubsEnv(t, server.SubscriptionLimits{})
		id := e.contactsOf(t, e.locA)[0].ID
		var clients []*wsClient
		for i := 0; i < 5; i++ {
			ws := dialWS(t, e.e2e, nil)
			ws.init(bearer(e.token))
			ws.subscribe("1", contactSub, map[string]any{"id": id})
			ws.subscribe("2", `subscription { contactsChanged { contactId } }`, nil)
			clients = append(clients, ws)
		}
		e.waitSubscribers(t, 10)
		e.publish(t, events.Change{Type: "ContactUpdate", Object: events.ObjectContact, Kind: events.KindUpdated, LocationID: e.locA, ContactID: id})
		for i, ws := range clients {
			ws.mustRead()
			ws.mustRead()
			if i%2 == 0 {
				_ = ws.c.Close(websocket.StatusNormalClosure, "bye") // a clean close
			} else {
				_ = ws.c.CloseNow() // a dropped connection
			}
		}
		e.waitSubscribers(t, 0)
		e.gw.CloseClientConnections()
		e.gw.Close()
		e.up.Close()
	}()
	goleak.VerifyNone(t, opt)
}

func TestSubscriptionOverSSE(t *testing.T) {
	e := newSubsEnv(t, server.SubscriptionLimits{})
	id := e.contactsOf(t, e.locA)[0].ID
	body, _ := json.Marshal(map[string]any{"query": contactSub, "variables": map[string]any{"id": id}})
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, e.gw.URL+server.GraphQLPath, strings.NewReader(string(body)))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "text/event-stream")
	req.Header.Set("Authorization", "Bearer "+e.token)
	resp, err := e.gw.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		t.Fatalf("status %d, %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	e.waitSubscribers(t, 1)
	e.publish(t, events.Change{Type: "ContactDelete", Object: events.ObjectContact, Kind: events.KindDeleted, LocationID: e.locA, ContactID: id})
	buf := make([]byte, 4096)
	var got strings.Builder
	for !strings.Contains(got.String(), "DELETED") {
		n, err := resp.Body.Read(buf)
		got.Write(buf[:n])
		if err != nil {
			t.Fatalf("stream ended: %v; got %q", err, got.String())
		}
	}
	cancel()

	// Without a credential the stream is refused before it starts.
	req, _ = http.NewRequest(http.MethodPost, e.gw.URL+server.GraphQLPath, strings.NewReader(string(body)))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "text/event-stream")
	resp2, err := e.gw.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp2.Body.Close()
	if resp2.StatusCode != http.StatusUnauthorized {
		t.Errorf("SSE without credential: status %d", resp2.StatusCode)
	}
}

func TestSubscriptionOnlySubscriptionsOverTheSocket(t *testing.T) {
	e := newSubsEnv(t, server.SubscriptionLimits{})
	ws := dialWS(t, e.e2e, nil)
	ws.init(bearer(e.token))
	ws.subscribe("q", `{ __typename }`, nil)
	m := ws.mustRead()
	if r := m.next(t); r.code(t) != "BAD_USER_INPUT" {
		t.Errorf("a query over the socket: %s", m.Payload)
	}
}

func TestSubscriptionRevokedTokenStopsAfterTheConfirmTTL(t *testing.T) {
	clk := fakeclock.New(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC))
	e := newSubsEnv(t, server.SubscriptionLimits{ConfirmTTL: time.Minute, Now: clk.Now})
	pit := e.sb.Token(e.locA, "contacts.readonly")
	ws := dialWS(t, e.e2e, nil)
	ws.init(map[string]any{"Authorization": "Bearer " + pit, "X-Location-Id": e.locA})
	ws.subscribe("1", `subscription { contactsChanged { contactId } }`, nil)
	e.waitSubscribers(t, 1)
	id := e.contactsOf(t, e.locA)[0].ID
	change := events.Change{Type: "ContactUpdate", Object: events.ObjectContact, Kind: events.KindUpdated, LocationID: e.locA, ContactID: id}

	// Within the TTL: delivered with no upstream call.
	before := e.sb.Calls("search-contacts-advanced")
	e.publish(t, change)
	if r := ws.mustRead().next(t); r.get("contactsChanged.contactId") != id {
		t.Fatalf("event: %s", r.Body)
	}
	if n := e.sb.Calls("search-contacts-advanced") - before; n != 0 {
		t.Errorf("%d confirming calls within the TTL", n)
	}

	// Revoked, and the confirmation expired: the next event confirms it
	// again, which fails, and the subscription ends.
	e.sb.RevokeToken(pit)
	clk.Advance(time.Minute)
	e.publish(t, change)
	m := ws.mustRead()
	if r := m.next(t); r.code(t) != "UNAUTHENTICATED" || r.get("contactsChanged") != nil {
		t.Errorf("after revocation: %s", m.Payload)
	}
	if m := ws.mustRead(); m.Type != "complete" {
		t.Errorf("got %q, want complete", m.Type)
	}
	if n := e.sb.Calls("search-contacts-advanced") - before; n != 1 {
		t.Errorf("%d confirming calls, want 1", n)
	}
}

// TestSubscriptionReceivesAWebhook: a change made in the upstream directly
// (not through the gateway) reaches a subscriber through HighLevel's signed
// webhook: verified, evicted, published on the gateway's bus, and resolved
// to the new data.
func TestSubscriptionReceivesAWebhook(t *testing.T) {
	// No bus of the test's: the gateway makes one for its subscriptions and
	// gives it to the webhook receiver.
	h := newHookedWith(t, sandbox.WebhookConfig{}, func(w *server.Webhooks) { w.Bus = nil })
	bus, ok := h.wh.Bus.(*events.Local)
	if !ok {
		t.Fatalf("the webhooks publish on %T, not the subscriptions' bus", h.wh.Bus)
	}
	e := &subsEnv{e2e: h.e2e, bus: bus}
	id := e.contactsOf(t, e.locA)[3].ID
	// Warm the cache, so that a stale answer would show.
	e.gql(e.token, `query($id: ID!) { contact(id: $id) { firstName } }`, map[string]any{"id": id}).ok(t)

	ws := dialWS(t, e.e2e, nil)
	ws.init(bearer(e.token))
	ws.subscribe("1", contactSub, map[string]any{"id": id})
	e.waitSubscribers(t, 1)
	if _, _, err := e.client.Contacts.Update(e.ctx(e.token), id, &upstream.UpdateContactRequest{FirstName: upstream.Set("Webhooked")}); err != nil {
		t.Fatal(err)
	}
	m, err := ws.read()
	if err != nil {
		t.Fatalf("no event: %v; webhooks %+v, sandbox %+v, bus %+v", err, h.wh.Stats(), h.sb.WebhookStats(), bus.Stats())
	}
	r := m.next(t)
	if r.get("contactChanged.type") != "ContactUpdate" || r.get("contactChanged.webhookId") == nil ||
		r.get("contactChanged.contact.firstName") != "Webhooked" {
		t.Errorf("webhook event: %s", r.Body)
	}
}
