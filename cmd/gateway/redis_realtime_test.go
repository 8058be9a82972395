// Tests of the real-time pieces' settings and wiring (issue 13).

package main

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/ghl-graphql/gateway/auth"
	"github.com/ghl-graphql/gateway/events"
	"github.com/ghl-graphql/gateway/redisx/redistest"
	"github.com/ghl-graphql/gateway/server"
	"github.com/ghl-graphql/gateway/webhook"
)

func TestRealtimeSettings(t *testing.T) {
	for _, tc := range []struct {
		name    string
		args    []string
		env     map[string]string
		want    realtimeConfig
		wantErr string
	}{
		{name: "defaults", want: realtimeConfig{echoWindow: events.DefaultEchoWindow, apqTTL: server.DefaultRedisAPQTTL,
			apqMaxQueryBytes: server.DefaultRedisAPQMaxQueryBytes, learnedTTL: auth.DefaultLearnedRedisTTL}},
		{name: "from the environment", env: map[string]string{"GATEWAY_EVENTS_ECHO_WINDOW": "0", "GATEWAY_REDIS_APQ_TTL": "1h",
			"GATEWAY_REDIS_APQ_MAX_QUERY_BYTES": "1024", "GATEWAY_REDIS_LEARNED_TTL": "10m"},
			want: realtimeConfig{apqTTL: time.Hour, apqMaxQueryBytes: 1024, learnedTTL: 10 * time.Minute}},
		{name: "negative echo window", args: []string{"-events-echo-window", "-1s"}, wantErr: "-events-echo-window"},
		{name: "zero APQ lifetime", args: []string{"-redis-apq-ttl", "0"}, wantErr: "-redis-apq-ttl"},
		{name: "zero APQ size", args: []string{"-redis-apq-max-query-bytes", "0"}, wantErr: "-redis-apq-max-query-bytes"},
		{name: "zero learned lifetime", args: []string{"-redis-learned-ttl", "0"}, wantErr: "-redis-learned-ttl"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, ok := parseConfigCase(t, tc.args, tc.env, tc.wantErr)
			if ok && c.realtime != tc.want {
				t.Errorf("got %+v, want %+v", c.realtime, tc.want)
			}
		})
	}
}

// TestRealtimeBusWithoutRedis: one process suppresses a write's webhook
// echo by default, and delivers both with the window at 0.
func TestRealtimeBusWithoutRedis(t *testing.T) {
	for _, tc := range []struct {
		window time.Duration
		want   int
	}{{events.DefaultEchoWindow, 1}, {0, 2}} {
		bus, closeBus := realtimeConfig{echoWindow: tc.window}.bus(nil, slog.New(slog.DiscardHandler))
		ch, stop := bus.Subscribe(context.Background(), "locA", nil, 8)
		m := events.Change{Type: "ContactUpdate", Object: events.ObjectContact, Kind: events.KindUpdated, LocationID: "locA", ContactID: "c1"}
		w := m
		w.WebhookID = "wh"
		for _, c := range []events.Change{m, w} {
			if err := bus.Publish(context.Background(), c); err != nil {
				t.Fatal(err)
			}
		}
		if len(ch) != tc.want {
			t.Errorf("window %v: %d changes delivered, want %d", tc.window, len(ch), tc.want)
		}
		stop()
		closeBus()
	}
}

// TestRealtimeShare: with a connection every piece is the shared one; APQ
// switched off stays off; without a connection nothing changes.
func TestRealtimeShare(t *testing.T) {
	conn := redistest.SharedConns(t, 1)[0]
	rc := realtimeConfig{echoWindow: events.DefaultEchoWindow, apqTTL: time.Hour, apqMaxQueryBytes: 1024, learnedTTL: time.Hour}
	logger := slog.New(slog.DiscardHandler)

	var none server.Config
	rc.share(nil, &none, logger)
	if none.APQ != nil || none.LearnedShared != nil {
		t.Errorf("without Redis: %+v", none)
	}
	scfg := server.Config{Webhooks: &server.Webhooks{Receiver: webhook.Config{Seen: webhook.NewMemorySeen(10, nil)}}}
	rc.share(conn, &scfg, logger)
	if _, ok := scfg.APQ.(*server.RedisAPQ); !ok {
		t.Errorf("APQ = %T, want *server.RedisAPQ", scfg.APQ)
	}
	if _, ok := scfg.Webhooks.Receiver.Seen.(*webhook.RedisSeen); !ok {
		t.Errorf("seen-set = %T, want *webhook.RedisSeen", scfg.Webhooks.Receiver.Seen)
	}
	if _, ok := scfg.LearnedShared.(*auth.RedisLearned); !ok {
		t.Errorf("learned = %T, want *auth.RedisLearned", scfg.LearnedShared)
	}
	off := server.Config{APQCacheBytes: -1}
	rc.share(conn, &off, logger)
	if off.APQ != nil {
		t.Errorf("APQ switched off became %T", off.APQ)
	}

	bus, closeBus := rc.bus(conn, logger)
	defer closeBus()
	if _, ok := bus.(*events.Redis); !ok {
		t.Errorf("bus = %T, want *events.Redis", bus)
	}
}
