package events

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ghl-graphql/gateway/redisx"
	"github.com/ghl-graphql/gateway/redisx/redistest"
)

// hangGuard bounds a wait for something that must happen; it is not a
// threshold of any measurement.
const hangGuard = 20 * time.Second

// replicas returns a Redis bus per connection, connected, closed at the
// end of the test.
func replicas(t *testing.T, conns []*redisx.Conn, cfg RedisConfig) []*Redis {
	t.Helper()
	buses := make([]*Redis, len(conns))
	for i, c := range conns {
		buses[i] = NewRedis(c, cfg)
		t.Cleanup(buses[i].Close)
	}
	for _, b := range buses {
		waitFor(t, "the bus to subscribe", b.Connected)
	}
	return buses
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(hangGuard)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// receive reads n changes from ch, failing on a closed channel or a hang.
func receive(t *testing.T, ch <-chan Change, n int) []Change {
	t.Helper()
	out := make([]Change, 0, n)
	timer := time.NewTimer(hangGuard)
	defer timer.Stop()
	for len(out) < n {
		select {
		case c, ok := <-ch:
			if !ok {
				t.Fatalf("channel closed after %d of %d changes", len(out), n)
			}
			out = append(out, c)
		case <-timer.C:
			t.Fatalf("gave up after %d of %d changes", len(out), n)
		}
	}
	return out
}

// TestRedisBusDeliversOnceOnEveryReplica: a burst published on replica 2
// reaches the subscribers of replicas 1, 2 and 3 once each, in order, and
// only the location's. The sentinel published afterwards from replica 3
// travels the same ordered channel as every echo would, so a duplicate
// would show up before it.
func TestRedisBusDeliversOnceOnEveryReplica(t *testing.T) {
	buses := replicas(t, redistest.SharedConns(t, 3), RedisConfig{})
	const n = 1000
	ctx := context.Background()
	subs := make([]<-chan Change, len(buses))
	for i, b := range buses {
		ch, stop := b.Subscribe(ctx, "locA", nil, 2*n)
		t.Cleanup(stop)
		subs[i] = ch
	}
	other, stopOther := buses[0].Subscribe(ctx, "locB", nil, 8)
	t.Cleanup(stopOther)

	for i := range n {
		if err := buses[1].Publish(ctx, change("locA", fmt.Sprintf("c%d", i))); err != nil {
			t.Fatal(err)
		}
	}
	for i, ch := range subs {
		got := receive(t, ch, n)
		for j, c := range got {
			if want := fmt.Sprintf("c%d", j); c.ContactID != want {
				t.Fatalf("replica %d: change %d is %s, want %s", i+1, j, c.ContactID, want)
			}
		}
	}
	if err := buses[2].Publish(ctx, change("locA", "sentinel")); err != nil {
		t.Fatal(err)
	}
	for i, ch := range subs {
		if c := receive(t, ch, 1)[0]; c.ContactID != "sentinel" {
			t.Fatalf("replica %d: after the burst got %s, want the sentinel (a duplicate?)", i+1, c.ContactID)
		}
	}
	if got, _ := drain(other); len(got) != 0 {
		t.Errorf("locB's subscriber got %d changes of locA", len(got))
	}
	st := buses[1].Stats()
	if st.Sent != n || st.Echoes < n || st.Local.Dropped != 0 {
		t.Errorf("replica 2 stats = %+v, want %d sent, its %d echoes skipped, none dropped", st, n, n)
	}
	if st := buses[0].Stats(); st.Received != n+1 {
		t.Errorf("replica 1 received %d from Redis, want %d", st.Received, n+1)
	}
}

// TestRedisBusSuppressesTheWebhookOfAMutation: a mutation's change
// published on replica 1 and HighLevel's webhook of it received on
// replica 2 reach each subscriber once, in either order; two writes and
// their two webhooks still deliver two.
func TestRedisBusSuppressesTheWebhookOfAMutation(t *testing.T) {
	now := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	buses := replicas(t, redistest.SharedConns(t, 3), RedisConfig{Now: clock})
	ctx := context.Background()
	subs := make([]<-chan Change, len(buses))
	for i, b := range buses {
		ch, stop := b.Subscribe(ctx, "locA", nil, 64)
		t.Cleanup(stop)
		subs[i] = ch
	}
	mutation := change("locA", "c1")
	webhook := mutation
	webhook.WebhookID = "wh-1"
	webhook2 := mutation
	webhook2.WebhookID = "wh-2"
	steps := []struct {
		on   int
		c    Change
		want int // how many reach each subscriber
	}{
		{0, mutation, 1}, {1, webhook, 0}, // the usual order
		{1, webhook2, 1}, {0, mutation, 0}, // the webhook first
		{0, mutation, 1}, {0, mutation, 1}, {1, webhook, 0}, {2, webhook2, 0}, // two writes
	}
	want := 0
	for i, s := range steps {
		if err := buses[s.on].Publish(ctx, s.c); err != nil {
			t.Fatal(err)
		}
		want += s.want
		// Every replica sees the step before the next one, so that the
		// order is the table's everywhere.
		for _, b := range buses {
			waitFor(t, "the step to reach every replica", func() bool {
				st := b.Stats()
				return st.Received+st.Echoes >= uint64(i+1)
			})
		}
	}
	for _, b := range buses {
		if err := b.Publish(ctx, change("locA", "sentinel")); err != nil {
			t.Fatal(err)
		}
	}
	for i, ch := range subs {
		got := receive(t, ch, want+3)
		n := 0
		for _, c := range got {
			if c.ContactID == "c1" {
				n++
			}
		}
		if n != want {
			t.Errorf("replica %d got c1 %d times, want %d", i+1, n, want)
		}
	}
}

// syncBuffer is a log destination safe for concurrent writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestRedisBusDegradesAndRecovers kills the test's own Redis: publishes
// then reach the publishing replica's subscribers only, the bus says so
// once, and once Redis is back changes cross replicas again.
func TestRedisBusDegradesAndRecovers(t *testing.T) {
	srv := redistest.Start(t)
	conns := redistest.Conns(t, srv.URL(), redistest.Prefix(t, srv.URL()), 2)
	var logs syncBuffer
	logger := slog.New(slog.NewTextHandler(&logs, nil))
	buses := replicas(t, conns, RedisConfig{Logger: logger, Retry: 20 * time.Millisecond, HealthInterval: time.Second})
	ctx := context.Background()
	mine, stop1 := buses[0].Subscribe(ctx, "locA", nil, 64)
	t.Cleanup(stop1)
	theirs, stop2 := buses[1].Subscribe(ctx, "locA", nil, 64)
	t.Cleanup(stop2)

	if err := buses[0].Publish(ctx, change("locA", "before")); err != nil {
		t.Fatal(err)
	}
	receive(t, mine, 1)
	receive(t, theirs, 1)

	srv.Kill()
	for i := range 3 {
		if err := buses[0].Publish(ctx, change("locA", fmt.Sprintf("during%d", i))); err != nil {
			t.Fatalf("publish with Redis down: %v, want local delivery and no error", err)
		}
	}
	if got := receive(t, mine, 3); got[2].ContactID != "during2" {
		t.Errorf("local subscriber got %v", got)
	}
	waitFor(t, "both buses to say they are degraded", func() bool {
		return !buses[0].Connected() && !buses[1].Connected() && strings.Count(logs.String(), "degraded") >= 2
	})

	srv.Restart()
	for _, b := range buses {
		waitFor(t, "the bus to subscribe again", b.Connected)
	}
	if err := buses[1].Publish(ctx, change("locA", "after")); err != nil {
		t.Fatal(err)
	}
	if c := receive(t, mine, 1)[0]; c.ContactID != "after" {
		t.Errorf("after recovery replica 1 got %s, want after", c.ContactID)
	}
	if c := receive(t, theirs, 1)[0]; c.ContactID != "after" {
		t.Errorf("after recovery replica 2 got %s, want after (the changes of the outage are not replayed)", c.ContactID)
	}
	waitFor(t, "both buses to say they recovered", func() bool { return strings.Count(logs.String(), "Redis reachable") >= 2 })
	if n := strings.Count(logs.String(), "degraded"); n != 2 {
		t.Errorf("%d degraded log lines, want one per replica:\n%s", n, logs.String())
	}
	if n := strings.Count(logs.String(), "Redis reachable"); n != 2 {
		t.Errorf("%d recovery log lines, want one per replica:\n%s", n, logs.String())
	}
}

func TestEchoFilter(t *testing.T) {
	base := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
	m := change("locA", "c1")
	w := m
	w.WebhookID = "wh"
	other := change("locA", "c2")
	other.WebhookID = "wh2"
	type step struct {
		c    Change
		at   time.Duration
		pass bool
	}
	tests := []struct {
		name  string
		steps []step
	}{
		{"mutation then webhook", []step{{m, 0, true}, {w, time.Second, false}}},
		{"webhook then mutation", []step{{w, 0, true}, {m, time.Second, false}}},
		{"two webhooks are two changes", []step{{w, 0, true}, {w, 0, true}}},
		{"two mutations pair with two webhooks", []step{{m, 0, true}, {m, 0, true}, {w, 0, false}, {w, 0, false}, {w, 0, true}}},
		{"another contact", []step{{m, 0, true}, {other, 0, true}}},
		{"outside the window", []step{{m, 0, true}, {w, DefaultEchoWindow + time.Second, true}}},
		{"each pairs once", []step{{m, 0, true}, {w, 0, false}, {w, 0, true}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var now time.Time
			f := NewEchoFilter(0, func() time.Time { return now })
			for i, s := range tt.steps {
				now = base.Add(s.at)
				if got := f.Pass(s.c); got != s.pass {
					t.Errorf("step %d: Pass = %v, want %v", i, got, s.pass)
				}
			}
		})
	}
	t.Run("forgets after the window", func(t *testing.T) {
		now := base
		f := NewEchoFilter(time.Second, func() time.Time { return now })
		for i := range 100 {
			f.Pass(change("locA", fmt.Sprint(i)))
		}
		now = now.Add(2 * time.Second)
		f.Pass(m)
		if f.Len() != 1 {
			t.Errorf("Len = %d after the window, want 1", f.Len())
		}
	})
}

func TestWithoutEchoes(t *testing.T) {
	local := NewLocal()
	defer local.Close()
	bus := WithoutEchoes(local, NewEchoFilter(0, nil))
	ch, stop := bus.Subscribe(context.Background(), "locA", nil, 8)
	defer stop()
	m := change("locA", "c1")
	w := m
	w.WebhookID = "wh"
	for _, c := range []Change{m, w} {
		if err := bus.Publish(context.Background(), c); err != nil {
			t.Fatal(err)
		}
	}
	if got, _ := drain(ch); len(got) != 1 {
		t.Errorf("got %d changes, want the mutation's only", len(got))
	}
	if err := bus.Publish(context.Background(), Change{}); err != ErrNoLocation {
		t.Errorf("no location: %v", err)
	}
	local.Close()
	if cl, ok := bus.(interface{ Closed() bool }); !ok || !cl.Closed() {
		t.Error("the wrapper does not report the bus closed")
	}
}

// TestRedisBusOnRemote: the hook runs on another replica's change before
// the subscribers get it, and never on the replica's own.
func TestRedisBusOnRemote(t *testing.T) {
	buses := replicas(t, redistest.SharedConns(t, 2), RedisConfig{})
	ctx := context.Background()
	var hooked []string
	var mu sync.Mutex
	ch, stop := buses[0].Subscribe(ctx, "locA", nil, 8)
	t.Cleanup(stop)
	buses[0].OnRemote(func(c Change) {
		mu.Lock()
		defer mu.Unlock()
		if len(ch) != 0 {
			t.Errorf("hook for %s ran after a delivery", c.ContactID)
		}
		hooked = append(hooked, c.ContactID)
	})
	if err := buses[0].Publish(ctx, change("locA", "mine")); err != nil {
		t.Fatal(err)
	}
	receive(t, ch, 1)
	if err := buses[1].Publish(ctx, change("locA", "theirs")); err != nil {
		t.Fatal(err)
	}
	receive(t, ch, 1)
	mu.Lock()
	defer mu.Unlock()
	if len(hooked) != 1 || hooked[0] != "theirs" {
		t.Errorf("hook ran on %v, want [theirs]", hooked)
	}
}
