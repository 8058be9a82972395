package webhook

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/ghl-graphql/gateway/internal/fakeclock"
)

func TestMemorySeen(t *testing.T) {
	ctx := context.Background()
	clock := fakeclock.New(t0)
	m := NewMemorySeen(3, clock.Now)
	add := func(id string, until time.Duration) (bool, error) { return m.Add(ctx, id, t0.Add(until)) }

	if ok, err := add("a", time.Minute); !ok || err != nil {
		t.Fatalf("first a: %v %v", ok, err)
	}
	if ok, err := add("a", time.Minute); ok || err != nil {
		t.Errorf("second a: %v %v, want seen", ok, err)
	}
	_, _ = add("b", time.Minute)
	_, _ = add("c", 2*time.Minute)
	// Full of live IDs: refused rather than forgetting one inside the window.
	if _, err := add("d", time.Minute); !errors.Is(err, ErrSeenFull) {
		t.Errorf("full: err = %v, want ErrSeenFull", err)
	}
	// Forget frees a slot and lets the ID in again.
	_ = m.Forget(ctx, "b")
	if ok, err := add("b", time.Minute); !ok || err != nil {
		t.Errorf("b after Forget: %v %v", ok, err)
	}
	// Expiry frees slots: a and b expire, c does not.
	clock.Advance(time.Minute)
	if ok, err := add("d", 3*time.Minute); !ok || err != nil {
		t.Errorf("d after expiry: %v %v", ok, err)
	}
	if ok, _ := add("a", 3*time.Minute); !ok {
		t.Error("a, expired, is still seen")
	}
	if ok, _ := add("c", 3*time.Minute); ok {
		t.Error("c, still live, was forgotten")
	}
	if n := m.Len(); n > 3 {
		t.Errorf("Len = %d over the bound", n)
	}
}

// TestMemorySeenStaysBounded: many IDs through a small set, time moving,
// never hold more than the bound, and the FIFO is compacted.
func TestMemorySeenStaysBounded(t *testing.T) {
	clock := fakeclock.New(t0)
	m := NewMemorySeen(100, clock.Now)
	for i := range 100_000 {
		if _, err := m.Add(context.Background(), fmt.Sprint(i), clock.Now().Add(time.Second)); err != nil {
			t.Fatalf("%d: %v", i, err)
		}
		clock.Advance(20 * time.Millisecond)
	}
	if m.Len() > 100 || len(m.order)-m.head > 200 {
		t.Errorf("Len %d, FIFO %d live of %d", m.Len(), len(m.order)-m.head, len(m.order))
	}
}
