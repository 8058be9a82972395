// Package redisfixture gives tests a Redis to share state through (issue
// 13): a connection to the shared test Redis (REDIS_URL) under a key prefix
// of the test's own, removed when the test ends; and, for a test that must
// kill and restart Redis, a redis-server of its own on a free port. Tests
// never flush, reconfigure or stop the shared server: other tests and other
// engineers use it at the same time.
package redisfixture

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ghl-graphql/gateway/redisx"
)

// URL returns REDIS_URL, skipping the test without it.
func URL(t testing.TB) string {
	t.Helper()
	u := os.Getenv("REDIS_URL")
	if u == "" {
		t.Skip("REDIS_URL not set: this test needs a Redis (e.g. redis://127.0.0.1:6379/0)")
	}
	return u
}

// Prefix returns a key prefix no other test uses: the test's name and a
// random part.
func Prefix(t testing.TB) string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	name := strings.Map(func(r rune) rune {
		if r == '{' || r == '}' || r == ' ' || r == '\r' || r == '\n' || r == '*' || r == '?' || r == '[' || r == ']' {
			return '_'
		}
		return r
	}, t.Name())
	return "test:" + name + ":" + hex.EncodeToString(b[:]) + ":"
}

// Conn opens n connections to the shared test Redis (one per simulated
// replica) under one fresh prefix, and removes the prefix's keys and
// closes them when the test ends.
func Conn(t testing.TB, n int) []*redisx.Conn {
	t.Helper()
	return open(t, URL(t), Prefix(t), n)
}

// Open opens n connections to url under prefix, closed (their keys under
// prefix removed first) when the test ends.
func Open(t testing.TB, url, prefix string, n int) []*redisx.Conn {
	t.Helper()
	return open(t, url, prefix, n)
}

func open(t testing.TB, url, prefix string, n int) []*redisx.Conn {
	t.Helper()
	conns := make([]*redisx.Conn, n)
	for i := range conns {
		c, err := redisx.Open(context.Background(), redisx.Config{URL: url, Prefix: prefix})
		if err != nil {
			t.Fatalf("redisx.Open: %v", err)
		}
		conns[i] = c
	}
	t.Cleanup(func() {
		cleanup(conns[0], prefix)
		for _, c := range conns {
			_ = c.Close()
		}
	})
	return conns
}

// cleanup deletes the keys under prefix (best effort: the server may be
// one the test killed).
func cleanup(c *redisx.Conn, prefix string) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	cl := c.Client()
	iter := cl.Scan(ctx, 0, escapeGlob(prefix)+"*", 1000).Iterator()
	var keys []string
	for iter.Next(ctx) {
		keys = append(keys, iter.Val())
	}
	for len(keys) > 0 {
		k := keys[:min(len(keys), 500)]
		keys = keys[len(k):]
		_ = cl.Del(ctx, k...).Err()
	}
}

// escapeGlob escapes Redis glob characters.
func escapeGlob(s string) string {
	var b strings.Builder
	for _, r := range s {
		if strings.ContainsRune(`*?[]\`, r) {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}

// Server is a redis-server of the test's own, which it may kill and
// restart (the shared one must never be).
type Server struct {
	t    testing.TB
	port int
	dir  string
	cmd  *exec.Cmd
}

// StartServer starts a redis-server on a free port (no RDB, AOF on, in a
// temporary directory), killed when the test ends. It skips the test when
// no redis-server binary is installed.
func StartServer(t testing.TB) *Server {
	t.Helper()
	if _, err := exec.LookPath("redis-server"); err != nil {
		t.Skip("redis-server not installed: this test starts its own")
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	_ = l.Close()
	s := &Server{t: t, port: port, dir: t.TempDir()}
	s.Start()
	t.Cleanup(s.Kill)
	return s
}

// URL is the server's redis:// URL.
func (s *Server) URL() string { return "redis://127.0.0.1:" + strconv.Itoa(s.port) + "/0" }

// Start starts the server (again), waiting until it answers.
func (s *Server) Start() {
	s.t.Helper()
	cmd := exec.Command("redis-server", "--port", strconv.Itoa(s.port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "yes", "--dir", s.dir, "--logfile", filepath.Join(s.dir, "redis.log"))
	if err := cmd.Start(); err != nil {
		s.t.Fatalf("redis-server: %v", err)
	}
	s.cmd = cmd
	deadline := time.Now().Add(10 * time.Second) // a hang guard, not a threshold
	for {
		c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", s.port), time.Second)
		if err == nil {
			_, _ = c.Write([]byte("PING\r\n"))
			buf := make([]byte, 16)
			_ = c.SetReadDeadline(time.Now().Add(time.Second))
			n, _ := c.Read(buf)
			_ = c.Close()
			if strings.HasPrefix(string(buf[:n]), "+PONG") {
				return
			}
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(filepath.Join(s.dir, "redis.log"))
			s.t.Fatalf("redis-server on port %d did not answer: %v\n%s", s.port, err, log)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Kill kills the server (SIGKILL: no chance to say goodbye), if running.
func (s *Server) Kill() {
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Kill()
	_ = s.cmd.Wait()
	s.cmd = nil
}
