// This file wires the real-time pieces replicas share on Redis (issue 13):
// the events bus across replicas, the webhook replay guard, automatic
// persisted queries and what pass-through mode learns about tokens; and
// the suppression of a write's webhook echo, which one process needs too.
// Each takes the connection the Redis settings (redis.go) opened, or
// nothing when -redis-url is empty.

package main

import (
	"flag"
	"fmt"
	"log/slog"
	"time"

	"github.com/ghl-graphql/gateway/auth"
	"github.com/ghl-graphql/gateway/events"
	"github.com/ghl-graphql/gateway/redisx"
	"github.com/ghl-graphql/gateway/server"
	"github.com/ghl-graphql/gateway/webhook"
)

// realtimeConfig is the settings of the shared real-time pieces.
type realtimeConfig struct {
	echoWindow       time.Duration
	apqTTL           time.Duration
	apqMaxQueryBytes int
	learnedTTL       time.Duration
}

// registerRealtimeFlags declares them.
func registerRealtimeFlags(fs *flag.FlagSet, c *realtimeConfig) {
	fs.DurationVar(&c.echoWindow, "events-echo-window", events.DefaultEchoWindow, "how long a write made through the gateway and HighLevel's webhook of it count as one event for subscribers (the second is not delivered); 0 delivers both")
	fs.DurationVar(&c.apqTTL, "redis-apq-ttl", server.DefaultRedisAPQTTL, "with -redis-url: how long an automatic persisted query stays in Redis after it was last registered or used")
	fs.IntVar(&c.apqMaxQueryBytes, "redis-apq-max-query-bytes", server.DefaultRedisAPQMaxQueryBytes, "with -redis-url: longest automatic persisted query shared in Redis (longer ones stay on the replica that saw them)")
	fs.DurationVar(&c.learnedTTL, "redis-learned-ttl", auth.DefaultLearnedRedisTTL, "with -redis-url: how long what HighLevel's answers showed about a pass-through token (location, confirmation, refused writes) stays in Redis after it last changed")
}

// validate names the first bad setting.
func (c realtimeConfig) validate() error {
	if c.echoWindow < 0 {
		return fmt.Errorf("%s %v: must not be negative (0 switches it off)", setting("events-echo-window"), c.echoWindow)
	}
	for name, d := range map[string]time.Duration{"redis-apq-ttl": c.apqTTL, "redis-learned-ttl": c.learnedTTL} {
		if d <= 0 {
			return fmt.Errorf("%s %v: must be positive", setting(name), d)
		}
	}
	if c.apqMaxQueryBytes < 1 {
		return fmt.Errorf("%s %d: must be at least 1", setting("redis-apq-max-query-bytes"), c.apqMaxQueryBytes)
	}
	return nil
}

// bus returns the bus of subscriptions, mutations and webhooks, and what
// closes it at shutdown: with conn, the bus of every replica sharing it;
// without (nil), the process's own. Both deliver a write's webhook echo
// once, unless -events-echo-window is 0.
func (c realtimeConfig) bus(conn *redisx.Conn, logger *slog.Logger) (events.Bus, func()) {
	if conn != nil {
		rc := events.RedisConfig{Logger: logger, EchoWindow: c.echoWindow}
		if c.echoWindow == 0 {
			rc.EchoWindow = -1
		}
		b := events.NewRedis(conn, rc)
		return b, b.Close
	}
	local := events.NewLocal()
	if c.echoWindow == 0 {
		return local, local.Close
	}
	return events.WithoutEchoes(local, events.NewEchoFilter(c.echoWindow, nil)), local.Close
}

// share makes the replay guard, automatic persisted queries and learned
// token facts of scfg shared on conn; with conn nil it does nothing. Call
// it once scfg's webhooks and APQ settings are set.
func (c realtimeConfig) share(conn *redisx.Conn, scfg *server.Config, logger *slog.Logger) {
	if conn == nil {
		return
	}
	if scfg.APQ == nil && scfg.APQCacheBytes >= 0 {
		size := scfg.APQCacheBytes
		if size == 0 {
			size = server.DefaultAPQCacheBytes
		}
		scfg.APQ = server.NewRedisAPQ(conn, server.NewAPQCache(size),
			server.RedisAPQConfig{TTL: c.apqTTL, MaxQueryBytes: c.apqMaxQueryBytes, Logger: logger})
	}
	if wh := scfg.Webhooks; wh != nil {
		local, _ := wh.Receiver.Seen.(*webhook.MemorySeen) // nil: a default one
		wh.Receiver.Seen = webhook.NewRedisSeen(conn, local, wh.Receiver.Now, logger)
	}
	scfg.LearnedShared = auth.NewRedisLearned(conn, c.learnedTTL, logger)
}
