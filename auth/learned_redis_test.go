package auth

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/ghl-graphql/gateway/redisx"
	"github.com/ghl-graphql/gateway/redisx/redistest"
)

// sharedReplicas returns n Learned, one per connection, sharing facts
// through Redis, with a confirmation interval and one clock.
func sharedReplicas(conns []*redisx.Conn, now func() time.Time, logger *slog.Logger) []*Learned {
	out := make([]*Learned, len(conns))
	for i, c := range conns {
		l := NewLearnedConfig(LearnedConfig{Now: now})
		l.SetConfirmInterval(time.Minute)
		l.SetShared(NewRedisLearned(c, 0, logger))
		out[i] = l
	}
	return out
}

// TestLearnedSharedAcrossReplicas: a Private Integration Token whose
// location an answer confirmed on replica 1 is, on replicas 2 and 3 that
// never saw it, bound to that location, confirmed and recently accepted;
// a write refusal learned on replica 2 reaches replica 3; and no key
// holds the token.
func TestLearnedSharedAcrossReplicas(t *testing.T) {
	conns := redistest.SharedConns(t, 3)
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	ls := sharedReplicas(conns, func() time.Time { return now }, nil)
	const token = "pit-shared-secret-token"
	cred := NewBearer(token, "")
	ctx := WithCredential(context.Background(), cred)

	if got, _ := ls[1].Apply(cred); got.Confirmed() || !got.Unconfirmed {
		t.Fatalf("before any answer: %+v, want unconfirmed", got)
	}
	var confirmed []string
	ls[0].onConfirm = func(_, loc string) { confirmed = append(confirmed, loc) }
	ls[0].Observe(ctx, readOK("locA"))
	if len(confirmed) != 1 {
		t.Errorf("OnConfirm ran %d times on replica 1, want once", len(confirmed))
	}
	for i, l := range ls[1:] {
		got, err := l.Apply(cred)
		if err != nil || got.LocationID != "locA" || !got.Confirmed() || got.Unconfirmed {
			t.Errorf("replica %d: %+v, %v; want locA, confirmed, recently accepted", i+2, got, err)
		}
	}
	if _, err := ls[2].Apply(NewBearer(token, "locB")); err != ErrOtherLocation {
		t.Errorf("another location's header on replica 3: %v, want ErrOtherLocation", err)
	}

	ls[1].Observe(ctx, scopeRefused)
	ls[2].facts.Purge()
	got, _ := ls[2].Apply(cred)
	if allowed, known := got.MayWrite(); !known || allowed {
		t.Errorf("replica 3 after replica 2's refused write: may write (%v, known %v), want refused", allowed, known)
	}

	// The learned facts' keys (the connection's heartbeat has its own).
	keys, err := conns[0].Client().Keys(context.Background(), conns[0].GlobalKey("learned", "*")).Result()
	if err != nil || len(keys) != 1 {
		t.Fatalf("keys = %v, %v; want one", keys, err)
	}
	val, _ := conns[0].Client().Get(context.Background(), keys[0]).Result()
	for _, s := range []string{keys[0], val} {
		if strings.Contains(s, token) || strings.Contains(s, cred.ID) {
			t.Errorf("%q holds the token or its ID", s)
		}
	}
}

// TestLearnedSharedDegrades kills the test's own Redis: each replica
// still learns by itself, a miss costs no command while the connection
// knows Redis is down, and sharing resumes after the restart.
func TestLearnedSharedDegrades(t *testing.T) {
	srv := redistest.Start(t)
	conns := redistest.Conns(t, srv.URL(), redistest.Prefix(t, srv.URL()), 2)
	var logs bytes.Buffer
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	ls := sharedReplicas(conns, func() time.Time { return now }, slog.New(slog.NewTextHandler(&logs, nil)))
	srv.Kill()

	during := NewBearer("pit-during", "")
	ls[0].Observe(WithCredential(context.Background(), during), readOK("locA"))
	if got, _ := ls[0].Apply(during); got.LocationID != "locA" || !got.Confirmed() {
		t.Errorf("replica 1 with Redis down: %+v, want its own answer learned", got)
	}
	if conns[0].Up() {
		t.Error("connection still up after a failed write")
	}
	if got, _ := ls[1].Apply(during); got.LocationID != "" {
		t.Errorf("replica 2 with Redis down: %+v, want nothing learned", got)
	}
	if !strings.Contains(logs.String(), "degraded") {
		t.Errorf("no degraded log line:\n%s", logs.String())
	}

	srv.Restart()
	after := NewBearer("pit-after", "")
	ls[0].Observe(WithCredential(context.Background(), after), readOK("locB"))
	conns[1].Report(nil) // what the health loop (redisx) does when Redis answers again
	if got, _ := ls[1].Apply(after); got.LocationID != "locB" || !got.Confirmed() {
		t.Errorf("replica 2 after the restart: %+v, want locB confirmed", got)
	}
	if !strings.Contains(logs.String(), "Redis reachable") {
		t.Errorf("no recovery log line:\n%s", logs.String())
	}
}
