// Package redistest helps tests run against a real Redis: the shared one
// named by REDIS_URL (each test under a random key prefix of its own,
// cleaned up after it), or a redis-server of the test's own, on a free
// port, that the test may kill and restart. It never flushes, shuts down
// or reconfigures the shared server.
package redistest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
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
func DeletePrefix(t testing.TB, url, prefix string) {
	t.Helper()
	opts, err := redis.ParseURL(url)
	if err != nil {
		t.Errorf("redistest: %v", err)
		return
	}
	c := redis.NewClient(opts)
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	iter := c.Scan(ctx, 0, prefix+"*", 1000).Iterator()
	var keys []string
	for iter.Next(ctx) {
		keys = append(keys, iter.Val())
	}
	for i := 0; i < len(keys); i += 500 {
		_ = c.Del(ctx, keys[i:min(i+500, len(keys))]...).Err()
	}
}

// Server is a redis-server of one test's own.
type Server struct {
	t    testing.TB
	bin  string
	port int
	dir  string
	cmd  *exec.Cmd
}

// Start runs a redis-server on a free port (no RDB, AOF on, its files in
// a temporary directory) and stops it when the test ends. It skips the
// test when redis-server is not installed or REDIS_URL is not set (the
// environments without Redis run none of the Redis tests).
func Start(t testing.TB) *Server {
	t.Helper()
	URL(t)
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		t.Skip("redis-server not installed: this test starts a Redis of its own")
	}
	s := &Server{t: t, bin: bin, port: freePort(t), dir: t.TempDir()}
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

// Restart starts the server again on the same port (and files) and waits
// until it answers.
func (s *Server) Restart() {
	s.t.Helper()
	s.Kill()
	cmd := exec.Command(s.bin, "--port", strconv.Itoa(s.port), "--bind", "127.0.0.1", "--save", "",
		"--appendonly", "yes", "--dir", s.dir)
	if err := cmd.Start(); err != nil {
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
		if time.Now().After(deadline) {
			s.t.Fatalf("redistest: redis-server on %d did not answer: %v", s.port, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
