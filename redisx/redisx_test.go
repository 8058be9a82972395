package redisx_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ghl-graphql/gateway/redisx"
	"github.com/ghl-graphql/gateway/redisx/redistest"
	"github.com/google/go-cmp/cmp"
	"github.com/redis/go-redis/v9"
)

func TestParseURL(t *testing.T) {
	cases := map[string]struct {
		url     string
		want    redis.UniversalOptions
		tls     bool
		wantErr string
	}{
		"standalone": {url: "redis://user:pw@10.0.0.1:6380/2",
			want: redis.UniversalOptions{Addrs: []string{"10.0.0.1:6380"}, DB: 2, Username: "user", Password: "pw"}},
		"standalone default port": {url: "redis://cache",
			want: redis.UniversalOptions{Addrs: []string{"cache:6379"}}},
		"standalone by mode": {url: "redis://cache:6379/1?mode=standalone",
			want: redis.UniversalOptions{Addrs: []string{"cache:6379"}, DB: 1}},
		"tls": {url: "rediss://:secret@cache:6380/0", tls: true,
			want: redis.UniversalOptions{Addrs: []string{"cache:6380"}, Password: "secret"}},
		"cluster with addr": {url: "redis://n1:7000?mode=cluster&addr=n2:7001&addr=n3:7002",
			want: redis.UniversalOptions{Addrs: []string{"n1:7000", "n2:7001", "n3:7002"}, IsClusterMode: true}},
		"sentinel": {url: "redis://s1:26379/3?mode=sentinel&master_name=mymaster&addr=s2:26379",
			want: redis.UniversalOptions{Addrs: []string{"s1:26379", "s2:26379"}, MasterName: "mymaster", DB: 3}},
		"sentinel without master": {url: "redis://s1:26379?mode=sentinel", wantErr: "master_name"},
		"bad scheme":              {url: "http://cache:6379", wantErr: "scheme"},
		"no scheme":               {url: "cache:6379", wantErr: "scheme"},
		"bad mode":                {url: "redis://cache?mode=ring", wantErr: "mode"},
		"bad db":                  {url: "redis://cache/notanumber", wantErr: "redis url"},
		"bad port":                {url: "redis://u:hunter2@cache:port", wantErr: "invalid port"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			got, err := redisx.ParseURL(tc.url)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("ParseURL(%q) = %v, want an error with %q", tc.url, err, tc.wantErr)
				}
				if strings.Contains(err.Error(), "hunter2") {
					t.Errorf("error %q repeats the password", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseURL(%q): %v", tc.url, err)
			}
			if (got.TLSConfig != nil) != tc.tls {
				t.Errorf("TLS = %v, want %v", got.TLSConfig != nil, tc.tls)
			}
			got.TLSConfig = nil
			if d := cmp.Diff(tc.want, *got); d != "" {
				t.Errorf("ParseURL(%q) (-want +got):\n%s", tc.url, d)
			}
		})
	}
}

func TestOpenRefusesWhatCannotWork(t *testing.T) {
	cases := map[string]redisx.Config{
		"bad url":         {URL: "memcached://x"},
		"brace in prefix": {URL: "redis://127.0.0.1:1", Prefix: "a{b"},
		"space in prefix": {URL: "redis://127.0.0.1:1", Prefix: "a b"},
	}
	for name, cfg := range cases {
		t.Run(name, func(t *testing.T) {
			if c, err := redisx.Open(context.Background(), cfg); err == nil {
				c.Close()
				t.Fatalf("Open(%+v) succeeded", cfg)
			}
		})
	}
}

// TestOpenDownStartsDegraded: a Redis that does not answer at start-up is
// not an error; the replica starts down, with Config.Replicas as its count.
func TestOpenDownStartsDegraded(t *testing.T) {
	c, err := redisx.Open(context.Background(), redisx.Config{URL: "redis://127.0.0.1:1/0", Replicas: 3, OpTimeout: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if c.Up() {
		t.Error("Up() = true with nothing listening")
	}
	if got := c.Replicas(); got != 3 {
		t.Errorf("Replicas() = %d, want 3 (Config.Replicas)", got)
	}
}

func TestKeys(t *testing.T) {
	c, err := redisx.Open(context.Background(), redisx.Config{URL: "redis://127.0.0.1:1/0", Prefix: "gw:", OpTimeout: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for got, want := range map[string]string{
		c.Key("loc1", "budget"):         "gw:{loc1}:budget",
		c.Key("loc1", "budget", "meta"): "gw:{loc1}:budget:meta",
		c.GlobalKey("replicas"):         "gw:replicas",
		c.Channel("events"):             "gw:ch:events",
	} {
		if got != want {
			t.Errorf("got %q, want %q", got, want)
		}
	}
}

// TestHeartbeatCountsReplicas: replicas sharing a prefix count each other,
// and one that closes leaves the count.
func TestHeartbeatCountsReplicas(t *testing.T) {
	url := redistest.URL(t)
	prefix := redistest.Prefix(t, url)
	open := func() *redisx.Conn {
		c, err := redisx.Open(context.Background(), redisx.Config{URL: url, Prefix: prefix, HeartbeatEvery: 100 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	a, b, c := open(), open(), open()
	defer a.Close()
	defer b.Close()
	redistest.WaitFor(t, "three replicas counted", func() bool { return a.Replicas() == 3 && b.Replicas() == 3 && c.Replicas() == 3 })
	c.Close()
	redistest.WaitFor(t, "two replicas counted after one closed", func() bool { return a.Replicas() == 2 && b.Replicas() == 2 })
}

// TestHealthFollowsRedis kills and restarts a redis-server of the test's
// own: the replica goes down (Up false, OnChange(false)) and comes back by
// itself (OnChange(true)) with no command of anyone else's to notice.
func TestHealthFollowsRedis(t *testing.T) {
	redistest.URL(t) // like every Redis test, run only where REDIS_URL is set
	srv := redistest.Start(t)
	// The timeout is generous: a loaded test machine must not flap.
	c, err := redisx.Open(context.Background(), redisx.Config{URL: srv.URL(), OpTimeout: 500 * time.Millisecond,
		HeartbeatEvery: 100 * time.Millisecond, ProbeEvery: 50 * time.Millisecond, Replicas: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if !c.Up() {
		t.Fatal("Up() = false against a live Redis")
	}
	var mu sync.Mutex
	var seen []bool
	c.OnChange(func(up bool) {
		mu.Lock()
		seen = append(seen, up)
		mu.Unlock()
	})
	events := func() []bool {
		mu.Lock()
		defer mu.Unlock()
		return append([]bool{}, seen...)
	}
	redistest.WaitFor(t, "the heartbeat counted", func() bool { return c.Replicas() == 2 })

	srv.Kill()
	redistest.WaitFor(t, "Up() false after the kill", func() bool { return !c.Up() })
	last := func(up bool) func() bool {
		return func() bool { e := events(); return len(e) > 0 && e[len(e)-1] == up }
	}
	redistest.WaitFor(t, "OnChange(false)", last(false))
	if got := c.Replicas(); got != 2 {
		t.Errorf("Replicas() = %d while down, want the last count, 2", got)
	}

	srv.Restart()
	redistest.WaitFor(t, "Up() true after the restart", func() bool { return c.Up() })
	redistest.WaitFor(t, "OnChange(true)", last(true))
	// Transitions arrive in order: down, up, down, up...
	for i, up := range events() {
		if up != (i%2 == 1) {
			t.Errorf("OnChange calls %v: not alternating from down", events())
			break
		}
	}
}

// TestReportIgnoresServerReplies: an error Redis itself answered (a
// script error, a missing key) says Redis is up.
func TestReportIgnoresServerReplies(t *testing.T) {
	c := redistest.SharedConns(t, 1)[0]
	ctx, cancel := c.WithTimeout(context.Background())
	defer cancel()
	c.Report(c.Client().Get(ctx, c.GlobalKey("missing")).Err())
	c.Report(c.Client().Eval(ctx, "return redis.error_reply('boom')", nil).Err())
	if !c.Up() {
		t.Error("Up() = false after replies Redis gave")
	}
	c.Report(context.DeadlineExceeded)
	if c.Up() {
		t.Error("Up() = true after a timeout")
	}
}
