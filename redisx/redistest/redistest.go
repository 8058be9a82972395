// Package redistest is the one fixture of the tests that run against a
// real Redis: the shared one named by REDIS_URL (each test under a random
// key prefix of its own, cleaned up after it), connections to it that close
// when the test ends, or a redis-server of the test's own, on a free port,
// that the test may kill and restart. It never flushes, shuts down or
// reconfigures the shared server: other tests, and other engineers, use it
// at the same time.
package redistest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/ghl-graphql/gateway/redisx"
)

// URL returns REDIS_URL, or skips the test without it.
func URL(t testing.TB) string {
	t.Helper()
	u := os.Getenv("REDIS_URL")
	if u == "" {
		t.Skip("REDIS_URL not set: this test needs a real Redis (e.g. redis://127.0.0.1:6379/0)")
	}
	return u
}

var unsafe = regexp.MustCompile(`[^A-Za-z0-9_/-]+`)

// glob matches the characters SCAN's MATCH reads as a pattern: escaped, a
// prefix matches only itself.
var glob = regexp.MustCompile(`[*?\[\]\\]`)

// Prefix returns a key prefix no other test uses, and deletes every key
// under it (on the Redis at url) when the test ends.
func Prefix(t testing.TB, url string) string {
	t.Helper()
	var b [6]byte
	_, _ = rand.Read(b[:])
	p := "test:" + unsafe.ReplaceAllString(t.Name(), "_") + ":" + hex.EncodeToString(b[:]) + ":"
	t.Cleanup(func() { DeletePrefix(t, url, p) })
	return p
}

// DeletePrefix deletes the keys under prefix, by SCAN (never FLUSHDB).
// It is best effort: the server may be one the test killed.
func DeletePrefix(t testing.TB, url, prefix string) {
	t.Helper()
	opts, err := redis.ParseURL(url)
	if err != nil {
		t.Errorf("redistest: %v", err)
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	// One try first: a server the test killed, or a URL nothing listens
	// on, holds nothing to delete and is not worth the client's retries.
	probeOpts := *opts
	probeOpts.MaxRetries, probeOpts.DialerRetries = -1, 1
	probe := redis.NewClient(&probeOpts)
	err = probe.Ping(ctx).Err()
	_ = probe.Close()
	if err != nil {
		return
	}
	c := redis.NewClient(opts)
	defer c.Close()
	iter := c.Scan(ctx, 0, glob.ReplaceAllString(prefix, `\$0`)+"*", 1000).Iterator()
	var keys []string
	for iter.Next(ctx) {
		keys = append(keys, iter.Val())
	}
	for i := 0; i < len(keys); i += 500 {
		_ = c.Del(ctx, keys[i:min(i+500, len(keys))]...).Err()
	}
}

// Open opens a connection (one replica's) with cfg, closed when the test
// ends. Keys are not deleted: a prefix from Prefix deletes its own.
func Open(t testing.TB, cfg redisx.Config) *redisx.Conn {
	t.Helper()
	c, err := redisx.Open(context.Background(), cfg)
	if err != nil {
		t.Fatalf("redistest: redisx.Open: %v", err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// Conns opens n connections to url under prefix (one per simulated
// replica), closed when the test ends.
func Conns(t testing.TB, url, prefix string, n int) []*redisx.Conn {
	t.Helper()
	conns := make([]*redisx.Conn, n)
	for i := range conns {
		conns[i] = Open(t, redisx.Config{URL: url, Prefix: prefix})
	}
	return conns
}

// SharedConns opens n connections to the shared Redis (REDIS_URL, the test
// skipped without it) under one fresh Prefix: closed, then their keys
// deleted, when the test ends.
func SharedConns(t testing.TB, n int) []*redisx.Conn {
	t.Helper()
	url := URL(t)
	return Conns(t, url, Prefix(t, url), n)
}

// WaitFor polls cond until it holds, failing the test after a generous
// deadline (a hang guard, not a latency assertion: only "eventually"), for
// what other replicas, or a restarted Redis, make true in their own time.
func WaitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Server is a redis-server of one test's own.
type Server struct {
	t    testing.TB
	bin  string
	port int
	dir  string
	args []string
	cmd  *exec.Cmd
}

// Start runs a redis-server on a free port (no RDB, AOF on with fsync every
// second, its files in a temporary directory) and kills it when the test
// ends. args are more redis-server options, after those (so they win: e.g.
// "--appendonly", "no" for a server that restarts empty, or "--appendfsync",
// "always" for one that loses no acknowledged write when killed). It skips
// the test when redis-server is not installed; it does not need REDIS_URL
// (a test that should run only where it is set calls URL first).
func Start(t testing.TB, args ...string) *Server {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		t.Skip("redis-server not installed: this test starts a Redis of its own")
	}
	s := &Server{t: t, bin: bin, port: freePort(t), dir: t.TempDir(), args: args}
	s.Restart()
	t.Cleanup(s.Kill)
	return s
}

func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("redistest: free port: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// URL is the server's redis:// URL.
func (s *Server) URL() string { return fmt.Sprintf("redis://127.0.0.1:%d/0", s.port) }

// Addr is the server's host:port.
func (s *Server) Addr() string { return "127.0.0.1:" + strconv.Itoa(s.port) }

// Kill kills the server (SIGKILL: it gets no chance to say goodbye) and
// waits for it to be gone. Killing a stopped server does nothing.
func (s *Server) Kill() {
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Kill()
	_ = s.cmd.Wait()
	s.cmd = nil
}

// Restart starts the server again on the same port (and files, and
// options) and waits until it answers. Its output goes to a file in its
// directory, shown if it does not answer.
func (s *Server) Restart() {
	s.t.Helper()
	s.Kill()
	args := append([]string{"--port", strconv.Itoa(s.port), "--bind", "127.0.0.1", "--save", "",
		"--appendonly", "yes", "--dir", s.dir}, s.args...)
	cmd := exec.Command(s.bin, args...)
	outPath := filepath.Join(s.dir, "redis-server.out")
	out, err := os.OpenFile(outPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		s.t.Fatalf("redistest: %v", err)
	}
	cmd.Stdout, cmd.Stderr = out, out
	err = cmd.Start()
	_ = out.Close() // the server holds its own copy
	if err != nil {
		s.t.Fatalf("redistest: start redis-server: %v", err)
	}
	s.cmd = cmd
	c := redis.NewClient(&redis.Options{Addr: s.Addr(), MaxRetries: -1})
	defer c.Close()
	deadline := time.Now().Add(10 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		err := c.Ping(ctx).Err()
		cancel()
		if err == nil {
			return
		}
		if time.Now().After(deadline) { // a hang guard, not a threshold
			log, _ := os.ReadFile(outPath)
			s.t.Fatalf("redistest: redis-server on %d did not answer: %v\n%s", s.port, err, log)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
