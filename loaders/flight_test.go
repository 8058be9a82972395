// Tests for coalesced calls: one call for many callers, cancelled only
// when the last caller leaves.

package loaders

import (
	"context"
	"errors"
	"runtime"
	"sync/atomic"
	"testing"
)

func TestFlightCancelledWhenLastWaiterLeaves(t *testing.T) {
	var f flights
	started := make(chan struct{})
	cancelled := make(chan struct{})
	fn := func(ctx context.Context) (any, error) {
		close(started)
		<-ctx.Done()
		close(cancelled)
		return nil, ctx.Err()
	}
	ctx1, cancel1 := context.WithCancel(context.Background())
	ctx2, cancel2 := context.WithCancel(context.Background())
	errs := make(chan error, 2)
	go func() { _, err := f.do(ctx1, "k", fn); errs <- err }()
	<-started
	go func() { _, err := f.do(ctx2, "k", fn); errs <- err }()
	for waiters(&f, "k") < 2 {
		runtime.Gosched() // until the second caller has joined
	}

	cancel1()
	if err := <-errs; !errors.Is(err, context.Canceled) {
		t.Fatalf("first waiter: %v", err)
	}
	select {
	case <-cancelled:
		t.Fatal("the call was cancelled while a caller still waited")
	default:
	}
	cancel2()
	if err := <-errs; !errors.Is(err, context.Canceled) {
		t.Fatalf("second waiter: %v", err)
	}
	<-cancelled // the call is cancelled once nobody waits; the test would hang otherwise

	// The next caller starts a new call rather than joining the cancelled one.
	var calls atomic.Int64
	v, err := f.do(context.Background(), "k", func(context.Context) (any, error) { calls.Add(1); return 42, nil })
	if err != nil || v != 42 || calls.Load() != 1 {
		t.Errorf("fresh call: %v, %v, %d calls", v, err, calls.Load())
	}
}

func waiters(f *flights, key string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	if fl := f.m[key]; fl != nil {
		return fl.waiters
	}
	return 0
}
