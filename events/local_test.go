package events

import (
	"context"
	"errors"
	"runtime"
	"sync"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func change(loc, contact string) Change {
	return Change{Type: "ContactUpdate", Object: ObjectContact, Kind: KindUpdated, LocationID: loc, ContactID: contact}
}

// drain returns what ch holds now, and whether it is closed.
func drain(ch <-chan Change) (got []Change, closed bool) {
	for {
		select {
		case c, ok := <-ch:
			if !ok {
				return got, true
			}
			got = append(got, c)
		default:
			return got, false
		}
	}
}

func TestLocalDeliversOnlyToTheLocationAndFilter(t *testing.T) {
	b := NewLocal()
	ctx := context.Background()
	all, stopAll := b.Subscribe(ctx, "locA", nil, 8)
	defer stopAll()
	one, stopOne := b.Subscribe(ctx, "locA", func(c Change) bool { return c.ContactID == "c1" }, 8)
	defer stopOne()
	other, stopOther := b.Subscribe(ctx, "locB", nil, 8)
	defer stopOther()

	for _, c := range []Change{change("locA", "c1"), change("locA", "c2"), change("locB", "c9")} {
		if err := b.Publish(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name string
		ch   <-chan Change
		want []string
	}{
		{"location-wide", all, []string{"c1", "c2"}},
		{"filtered", one, []string{"c1"}},
		{"other location", other, []string{"c9"}},
	}
	for _, tt := range tests {
		got, closed := drain(tt.ch)
		if closed {
			t.Errorf("%s: channel closed", tt.name)
		}
		var ids []string
		for _, c := range got {
			ids = append(ids, c.ContactID)
		}
		if len(ids) != len(tt.want) {
			t.Fatalf("%s: got %v, want %v", tt.name, ids, tt.want)
		}
		for i := range ids {
			if ids[i] != tt.want[i] {
				t.Errorf("%s: got %v, want %v (in publish order)", tt.name, ids, tt.want)
			}
		}
	}
	if err := b.Publish(ctx, Change{Type: "ContactUpdate"}); !errors.Is(err, ErrNoLocation) {
		t.Errorf("a change without location: %v, want ErrNoLocation", err)
	}
}

func TestLocalDropsASlowSubscriberWithoutBlocking(t *testing.T) {
	b := NewLocal()
	ctx := context.Background()
	slow, stopSlow := b.Subscribe(ctx, "loc", nil, 2)
	defer stopSlow()
	fast, stopFast := b.Subscribe(ctx, "loc", nil, 100)
	defer stopFast()

	// The slow subscriber never reads: the third change overflows it. The
	// publisher must not wait (this test would hang if it did).
	for i := 0; i < 5; i++ {
		if err := b.Publish(ctx, change("loc", "c")); err != nil {
			t.Fatal(err)
		}
	}
	got, closed := drain(slow)
	if !closed || len(got) != 2 {
		t.Errorf("slow subscriber: %d changes, closed %v; want its 2 buffered changes, then closed", len(got), closed)
	}
	got, closed = drain(fast)
	if closed || len(got) != 5 {
		t.Errorf("fast subscriber: %d changes, closed %v; want all 5, open", len(got), closed)
	}
	st := b.Stats()
	if st.Dropped != 1 || st.Subscribers != 1 || st.Published != 5 || st.Delivered != 7 {
		t.Errorf("stats %+v, want 1 dropped, 1 left, 5 published, 7 delivered", st)
	}
}

func TestLocalEndsSubscriptions(t *testing.T) {
	b := NewLocal()
	ctx, cancel := context.WithCancel(context.Background())
	byCtx, stop1 := b.Subscribe(ctx, "loc", nil, 1)
	byCancel, stop2 := b.Subscribe(context.Background(), "loc", nil, 1)

	stop2()
	stop2() // idempotent
	if _, ok := <-byCancel; ok {
		t.Error("cancel did not close the channel")
	}
	cancel()
	if _, ok := <-byCtx; ok {
		t.Error("the context's end did not close the channel")
	}
	stop1()
	if n := b.Stats().Subscribers; n != 0 {
		t.Errorf("%d subscribers left", n)
	}

	done, _ := b.Subscribe(ctx, "loc", nil, 1)
	if _, ok := <-done; ok {
		t.Error("subscribing with an ended context returned an open channel")
	}

	open, stop3 := b.Subscribe(context.Background(), "loc", nil, 1)
	defer stop3()
	b.Close()
	if _, ok := <-open; ok {
		t.Error("Close did not close the channel")
	}
	if !b.Closed() {
		t.Error("Closed is false after Close")
	}
	if err := b.Publish(context.Background(), change("loc", "c")); !errors.Is(err, ErrClosed) {
		t.Errorf("publish after Close: %v", err)
	}
}

// TestLocalConcurrent is for the race detector: publishers, subscribers
// joining and leaving, and slow ones being dropped, all at once.
func TestLocalConcurrent(t *testing.T) {
	b := NewLocal()
	ctx := context.Background()
	var wg sync.WaitGroup
	for p := 0; p < 4; p++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 200; i++ {
				_ = b.Publish(ctx, change("loc", "c"))
			}
		}()
	}
	for s := 0; s < 8; s++ {
		wg.Add(1)
		go func(s int) {
			defer wg.Done()
			for i := 0; i < 20; i++ {
				ch, stop := b.Subscribe(ctx, "loc", nil, 1+s)
				if s%2 == 0 {
					drain(ch) // may be closed already: dropped
				}
				stop()
			}
		}(s)
	}
	wg.Wait()
	if n := b.Stats().Subscribers; n != 0 {
		t.Errorf("%d subscribers left", n)
	}
}

// BenchmarkLocalPublish1000 is the bus's share of a fan-out: one publish
// to 1,000 subscribers of one location, each drained by its own goroutine.
// Its memory per subscription is reported as B/subscription.
func BenchmarkLocalPublish1000(b *testing.B) {
	const n = 1000
	bus := NewLocal()
	defer bus.Close()
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	var wg sync.WaitGroup
	var got sync.WaitGroup
	stops := make([]func(), 0, n)
	for i := 0; i < n; i++ {
		ch, stop := bus.Subscribe(context.Background(), "loc", nil, 64)
		stops = append(stops, stop)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range ch {
				got.Done()
			}
		}()
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	c := change("loc", "c")
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		got.Add(n)
		if err := bus.Publish(context.Background(), c); err != nil {
			b.Fatal(err)
		}
		got.Wait()
	}
	b.StopTimer()
	b.ReportMetric(float64(int64(after.HeapAlloc)-int64(before.HeapAlloc))/n, "heap-B/subscription")
	for _, stop := range stops {
		stop()
	}
	wg.Wait()
}
