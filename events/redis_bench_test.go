// What the Redis bus costs (issue 13): one change from its publisher to a
// subscriber, in one process (Local) and from one replica to another
// through Redis, in the same run:
// REDIS_URL=redis://127.0.0.1:6379/0 go test -run '^$' -bench BusRoundTrip ./events/

package events

import (
	"context"
	"testing"
	"time"

	"github.com/ghl-graphql/gateway/redisx/redistest"
)

func BenchmarkBusRoundTrip(b *testing.B) {
	ctx := context.Background()
	run := func(b *testing.B, pub, sub Bus) {
		ch, stop := sub.Subscribe(ctx, "locA", nil, 1)
		defer stop()
		c := change("locA", "c1")
		b.ResetTimer()
		for range b.N {
			if err := pub.Publish(ctx, c); err != nil {
				b.Fatal(err)
			}
			if _, ok := <-ch; !ok {
				b.Fatal("subscription dropped")
			}
		}
	}
	b.Run("local", func(b *testing.B) {
		l := NewLocal()
		defer l.Close()
		run(b, l, l)
	})
	b.Run("redis", func(b *testing.B) {
		conns := redistest.SharedConns(b, 2)
		one, two := NewRedis(conns[0], RedisConfig{EchoWindow: -1}), NewRedis(conns[1], RedisConfig{EchoWindow: -1})
		defer one.Close()
		defer two.Close()
		deadline := time.Now().Add(hangGuard)
		for !one.Connected() || !two.Connected() {
			if time.Now().After(deadline) {
				b.Fatal("the buses did not subscribe")
			}
			time.Sleep(10 * time.Millisecond)
		}
		run(b, one, two)
	})
}
