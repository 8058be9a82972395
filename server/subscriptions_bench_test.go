package server_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/ghl-graphql/gateway/events"
	"github.com/ghl-graphql/gateway/server"
	"github.com/ghl-graphql/gateway/upstream"
	"github.com/ghl-graphql/gateway/upstream/sandbox"
)

// BenchmarkSubscriptionFanout measures bus-to-subscriber latency with 1,000
// subscribers of one location, each on its own WebSocket (a real client in
// this process), and the heap each open subscription costs (client and
// server sides together, both being in this process). Reported, not
// asserted:
//
//	go test -run '^$' -bench SubscriptionFanout -benchtime 200x ./server/
func BenchmarkSubscriptionFanout(b *testing.B) {
	const subscribers = 1000
	bus := events.NewLocal()
	defer bus.Close()
	e := newE2EForBench(b, bus, server.SubscriptionLimits{PerCredential: subscribers, Queue: 64})

	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)

	type delivery struct {
		seq int
		at  time.Time
	}
	got := make(chan delivery, subscribers*4)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var wg sync.WaitGroup
	url := "ws" + strings.TrimPrefix(e.gw.URL, "http") + server.GraphQLPath
	init, _ := json.Marshal(map[string]any{"type": "connection_init", "payload": bearer(e.token)})
	sub, _ := json.Marshal(map[string]any{"id": "1", "type": "subscribe",
		"payload": map[string]any{"query": `subscription { contactsChanged { contactId } }`}})
	conns := make([]*websocket.Conn, 0, subscribers)
	for i := 0; i < subscribers; i++ {
		c, _, err := websocket.Dial(ctx, url, &websocket.DialOptions{Subprotocols: []string{"graphql-transport-ws"}})
		if err != nil {
			b.Fatalf("dial %d: %v", i, err)
		}
		conns = append(conns, c)
		if err := c.Write(ctx, websocket.MessageText, init); err != nil {
			b.Fatal(err)
		}
		if _, _, err := c.Read(ctx); err != nil { // connection_ack
			b.Fatal(err)
		}
		if err := c.Write(ctx, websocket.MessageText, sub); err != nil {
			b.Fatal(err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				_, data, err := c.Read(ctx)
				if err != nil {
					return
				}
				var m struct {
					Type    string `json:"type"`
					Payload struct {
						Data struct {
							C struct {
								ContactID string `json:"contactId"`
							} `json:"contactsChanged"`
						} `json:"data"`
					} `json:"payload"`
				}
				if json.Unmarshal(data, &m) != nil || m.Type != "next" {
					continue
				}
				var seq int
				fmt.Sscanf(m.Payload.Data.C.ContactID, "c%d", &seq)
				got <- delivery{seq: seq, at: time.Now()}
			}
		}()
	}
	for bus.Stats().Subscribers != subscribers {
		time.Sleep(time.Millisecond)
	}
	runtime.GC()
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	perSub := float64(after.HeapAlloc-before.HeapAlloc) / subscribers

	latencies := make([]time.Duration, 0, b.N*subscribers)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		sent := time.Now()
		if err := bus.Publish(ctx, events.Change{Type: "ContactUpdate", Object: events.ObjectContact, Kind: events.KindUpdated,
			LocationID: e.locA, ContactID: fmt.Sprintf("c%d", i), At: sent}); err != nil {
			b.Fatal(err)
		}
		for n := 0; n < subscribers; n++ {
			d := <-got
			if d.seq != i {
				b.Fatalf("event %d arrived during event %d", d.seq, i)
			}
			latencies = append(latencies, d.at.Sub(sent))
		}
	}
	b.StopTimer()
	slices.Sort(latencies)
	pct := func(p float64) float64 {
		return float64(latencies[int(p*float64(len(latencies)-1))]) / float64(time.Millisecond)
	}
	b.ReportMetric(pct(0.50), "p50-ms")
	b.ReportMetric(pct(0.99), "p99-ms")
	b.ReportMetric(perSub, "heap-B/subscription")
	cancel()
	for _, c := range conns {
		_ = c.CloseNow()
	}
	wg.Wait()
}

// benchGateway is a gateway over the sandbox with bus, for benchmarks.
type benchGateway struct {
	gw          *httptest.Server
	token, locA string
}

func newE2EForBench(b *testing.B, bus *events.Local, limits server.SubscriptionLimits) benchGateway {
	b.Helper()
	sb, err := sandbox.New(sandbox.Config{Seed: 1, ContactsPerLocation: 10})
	if err != nil {
		b.Fatal(err)
	}
	up := httptest.NewServer(sb)
	b.Cleanup(up.Close)
	client, err := upstream.NewClient(upstream.WithBaseURL(up.URL))
	if err != nil {
		b.Fatal(err)
	}
	h, err := server.New(server.Config{Client: client, Bus: bus, Subscriptions: limits})
	if err != nil {
		b.Fatal(err)
	}
	gw := httptest.NewServer(h)
	b.Cleanup(gw.Close)
	return benchGateway{gw: gw, token: sb.DefaultToken(), locA: sb.Locations()[0]}
}
