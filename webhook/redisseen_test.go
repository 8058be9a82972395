package webhook

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/ghl-graphql/gateway/redisx/redistest"
)

// TestRedisSeenAcrossReplicas: the same signed webhook delivered to two
// replicas' receivers (each with its own connection to the shared set)
// is applied once; the second answers "duplicate". An ID forgotten on one
// replica is taken again on the other, and the key expires with the
// window.
func TestRedisSeenAcrossReplicas(t *testing.T) {
	conns := redistest.SharedConns(t, 2)
	hs := make([]*harness, 2)
	for i, c := range conns {
		hs[i] = newHarness(t, func(cfg *Config) { cfg.Seen = NewRedisSeen(c, nil, cfg.Now, nil) })
	}
	body := payload("ContactUpdate", "c1", t0, "wh-shared")
	for i, h := range hs {
		w := h.post(body, edSig(body))
		want := []string{"accepted", "duplicate"}[i]
		if w.Code != http.StatusOK || !strings.Contains(w.Body.String(), want) {
			t.Errorf("replica %d: %d %s, want 200 %s", i+1, w.Code, w.Body, want)
		}
	}
	for _, h := range hs {
		h.drain()
	}
	if n := len(hs[0].rec.changes()) + len(hs[1].rec.changes()); n != 1 {
		t.Errorf("applied %d times over two replicas, want once", n)
	}
	if s := hs[1].r.Stats(); s.Duplicates != 1 {
		t.Errorf("replica 2 stats = %+v, want one duplicate", s)
	}

	ctx := context.Background()
	s1 := NewRedisSeen(conns[0], nil, func() time.Time { return t0 }, nil)
	s2 := NewRedisSeen(conns[1], nil, func() time.Time { return t0 }, nil)
	until := t0.Add(DefaultWindow)
	for _, step := range []struct {
		name string
		do   func() (bool, error)
		want bool
	}{
		{"first add", func() (bool, error) { return s1.Add(ctx, "id", until) }, true},
		{"add on the other replica", func() (bool, error) { return s2.Add(ctx, "id", until) }, false},
		{"forget on the other replica, add again", func() (bool, error) {
			if err := s2.Forget(ctx, "id"); err != nil {
				return false, err
			}
			return s1.Add(ctx, "id", until)
		}, true},
	} {
		got, err := step.do()
		if err != nil || got != step.want {
			t.Errorf("%s: %v, %v; want %v", step.name, got, err, step.want)
		}
	}
	ttl, err := conns[0].Client().PTTL(ctx, s1.key("id")).Result()
	if err != nil || ttl <= 0 || ttl > DefaultWindow {
		t.Errorf("PTTL = %v, %v; want within (0, %v]", ttl, err, DefaultWindow)
	}
}

// TestRedisSeenDegradesToMemory kills the test's own Redis: replays to the
// same replica are still refused (what it saw before and during the
// outage), new IDs are taken, the fallback is logged once, and Redis
// decides again once it is back.
func TestRedisSeenDegradesToMemory(t *testing.T) {
	srv := redistest.Start(t)
	conns := redistest.Conns(t, srv.URL(), redistest.Prefix(t, srv.URL()), 2)
	var logs bytes.Buffer
	now := func() time.Time { return t0 }
	s := NewRedisSeen(conns[0], nil, now, slog.New(slog.NewTextHandler(&logs, nil)))
	other := NewRedisSeen(conns[1], nil, now, nil)
	ctx := context.Background()
	until := t0.Add(DefaultWindow)
	add := func(s *RedisSeen, id string, want bool) {
		t.Helper()
		if got, err := s.Add(ctx, id, until); err != nil || got != want {
			t.Errorf("Add(%s) = %v, %v; want %v", id, got, err, want)
		}
	}
	add(s, "before", true)
	srv.Kill()
	add(s, "before", false) // seen through Redis, remembered here
	add(s, "during", true)
	add(s, "during", false)
	if !s.Degraded() {
		t.Error("Degraded() = false with Redis down")
	}
	// The risk the degraded mode takes: another replica takes it too.
	add(other, "during", true)

	srv.Restart()
	add(s, "after", true)
	add(other, "after", false)
	if s.Degraded() {
		t.Error("Degraded() = true after Redis came back")
	}
	if n := strings.Count(logs.String(), "degraded"); n != 1 {
		t.Errorf("%d degraded log lines, want 1:\n%s", n, logs.String())
	}
	if n := strings.Count(logs.String(), "Redis reachable"); n != 1 {
		t.Errorf("%d recovery log lines, want 1:\n%s", n, logs.String())
	}
}
