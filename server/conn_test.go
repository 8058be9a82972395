// Tests of connection hygiene (issue 10): the body read deadline over real
// connections, the cap on concurrent requests, and the per-client
// connection cap of the listener. Outcomes are asserted (an answer, a
// closed connection), never durations; the generous guards on reads only
// stop a broken test from hanging.

package server

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ghl-graphql/gateway/errcode"
)

// guard bounds every blocking read of these tests; an outcome is always
// reached well before it.
const guard = 20 * time.Second

// rawConn dials srv and returns the connection and a reader of its answers.
func rawConn(t *testing.T, srv *httptest.Server) (net.Conn, *bufio.Reader) {
	t.Helper()
	c, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	_ = c.SetReadDeadline(time.Now().Add(guard))
	return c, bufio.NewReader(c)
}

// wantClosed asserts the server has closed c (EOF or reset), not the guard.
func wantClosed(t *testing.T, c net.Conn, br *bufio.Reader) {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(guard))
	_, err := br.ReadByte()
	var ne net.Error
	if err == nil || errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("the connection is still open (read: %v)", err)
	}
}

// readAnswer reads one HTTP answer from br.
func readAnswer(t *testing.T, br *bufio.Reader) (*http.Response, gqlResponse) {
	t.Helper()
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("no answer: %v", err)
	}
	defer resp.Body.Close()
	var out gqlResponse
	b, _ := io.ReadAll(resp.Body)
	_ = json.Unmarshal(b, &out)
	return resp, out
}

func TestBodyReadDeadline(t *testing.T) {
	const deadline = 200 * time.Millisecond
	release := make(chan struct{})
	var held atomic.Int64
	// An upstream that holds every call until the test lets it go, so a
	// request can outlive its body's deadline.
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.Contains(r.URL.Path, "held") {
			held.Add(1)
			<-release
		}
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"contact":{"id":"c1","locationId":"loc1","firstName":"Ada","tags":[]}}`)
	}))
	t.Cleanup(up.Close)
	t.Cleanup(func() { close(release) })
	h := newTestHandler(t, up.URL, func(c *Config) { c.BodyReadTimeout = deadline })
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)

	const query = `{"query":"{ contact(id: \"c1\") { id } }"}`
	head := func(path string, length int) string {
		return fmt.Sprintf("POST %s HTTP/1.1\r\nHost: gw\r\nContent-Type: application/json\r\nAuthorization: Bearer t\r\nContent-Length: %d\r\n\r\n", path, length)
	}

	t.Run("a body that stops arriving is answered 408 and its connection closed", func(t *testing.T) {
		c, br := rawConn(t, srv)
		// One byte of a 100-byte body, then nothing: the slow client.
		io.WriteString(c, head(GraphQLPath, 100)+"{")
		resp, out := readAnswer(t, br)
		if resp.StatusCode != http.StatusRequestTimeout || len(out.Errors) != 1 || out.Errors[0].Extensions["code"] != errcode.CodeRequestTimeout {
			t.Fatalf("status %d, errors %+v; want 408 %s", resp.StatusCode, out.Errors, errcode.CodeRequestTimeout)
		}
		wantClosed(t, c, br)
	})

	t.Run("a body sent whole is served", func(t *testing.T) {
		c, br := rawConn(t, srv)
		io.WriteString(c, head(GraphQLPath, len(query))+query)
		if resp, out := readAnswer(t, br); resp.StatusCode != http.StatusOK || len(out.Errors) != 0 {
			t.Fatalf("status %d, errors %+v", resp.StatusCode, out.Errors)
		}
	})

	t.Run("a request may run past the body deadline once its body is in", func(t *testing.T) {
		c, br := rawConn(t, srv)
		q := `{"query":"{ contact(id: \"held\") { id } }"}`
		io.WriteString(c, head(GraphQLPath, len(q))+q)
		for held.Load() == 0 { // the request is at the upstream
			time.Sleep(5 * time.Millisecond)
		}
		time.Sleep(2 * deadline) // past the body's deadline: not an assertion, the setup
		release <- struct{}{}
		resp, out := readAnswer(t, br)
		if resp.StatusCode != http.StatusOK || len(out.Errors) != 0 {
			t.Fatalf("status %d, errors %+v", resp.StatusCode, out.Errors)
		}
		// The connection is still usable: the deadline was cleared.
		io.WriteString(c, head(GraphQLPath, len(query))+query)
		if resp, _ := readAnswer(t, br); resp.StatusCode != http.StatusOK {
			t.Fatalf("second request on the connection: status %d", resp.StatusCode)
		}
	})

	t.Run("a slow body to a route that ignores it is not kept", func(t *testing.T) {
		c, br := rawConn(t, srv)
		io.WriteString(c, head(HealthPath, 100)+"x")
		if resp, _ := readAnswer(t, br); resp.StatusCode != http.StatusOK {
			t.Fatalf("status %d", resp.StatusCode)
		}
		// The server drains the rest of the body before the next request,
		// within the deadline; the body never comes, so it closes.
		wantClosed(t, c, br)
	})
}

func TestRequestLimiter(t *testing.T) {
	for _, n := range []int{1, 3} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			l := newRequestLimiter(n)
			var inside sync.WaitGroup
			barrier := make(chan struct{})
			h := l.wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				inside.Done()
				<-barrier
				w.WriteHeader(http.StatusNoContent)
			}))
			var done sync.WaitGroup
			inside.Add(n)
			for range n {
				done.Add(1)
				go func() {
					defer done.Done()
					rec := httptest.NewRecorder()
					h.ServeHTTP(rec, post(`{}`, ""))
					if rec.Code != http.StatusNoContent {
						t.Errorf("a held request got %d", rec.Code)
					}
				}()
			}
			inside.Wait() // n requests hold every slot

			rec, out := do(t, h, post(`{}`, ""))
			if rec.Code != http.StatusServiceUnavailable || rec.Header().Get("Retry-After") == "" ||
				len(out.Errors) != 1 || out.Errors[0].Extensions["code"] != errcode.CodeOverloaded {
				t.Fatalf("past the cap: status %d, Retry-After %q, errors %+v", rec.Code, rec.Header().Get("Retry-After"), out.Errors)
			}
			if got := l.refused.Load(); got != 1 {
				t.Errorf("refused = %d, want 1", got)
			}
			close(barrier)
			done.Wait()

			// The slots are free again.
			inside.Add(1)
			rec = httptest.NewRecorder()
			h.ServeHTTP(rec, post(`{}`, ""))
			if rec.Code != http.StatusNoContent {
				t.Errorf("after the held requests: status %d", rec.Code)
			}
		})
	}
}

// TestConcurrentRequestCapEndToEnd: the cap of Config applies to the
// GraphQL endpoint of New, and not to the health check.
func TestConcurrentRequestCapEndToEnd(t *testing.T) {
	release := make(chan struct{})
	arrived := make(chan struct{}, 1)
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		arrived <- struct{}{}
		<-release
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"contact":{"id":"c1","locationId":"loc1","firstName":"Ada","tags":[]}}`)
	}))
	t.Cleanup(up.Close)
	h := newTestHandler(t, up.URL, func(c *Config) { c.MaxConcurrentRequests = 1 })

	held := make(chan int)
	go func() {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, post(`{"query":"{ contact(id: \"c1\") { id } }"}`, "Bearer t"))
		held <- rec.Code
	}()
	<-arrived // the one slot is taken

	rec, out := do(t, h, post(`{"query":"{ __typename }"}`, "Bearer t"))
	if rec.Code != http.StatusServiceUnavailable || rec.Header().Get("Retry-After") != "1" ||
		len(out.Errors) != 1 || out.Errors[0].Extensions["code"] != errcode.CodeOverloaded {
		t.Fatalf("status %d, Retry-After %q, errors %+v", rec.Code, rec.Header().Get("Retry-After"), out.Errors)
	}
	if rec, _ := do(t, h, httptest.NewRequest(http.MethodGet, HealthPath, nil)); rec.Code != http.StatusOK {
		t.Errorf("%s under the cap: %d", HealthPath, rec.Code)
	}
	close(release)
	if code := <-held; code != http.StatusOK {
		t.Errorf("the held request: %d", code)
	}
	if rec, out := do(t, h, post(`{"query":"{ __typename }"}`, "Bearer t")); rec.Code != http.StatusOK || len(out.Errors) != 0 {
		t.Errorf("after the held request: %d %+v", rec.Code, out.Errors)
	}
}

func TestConnLimitListener(t *testing.T) {
	loopback := []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}
	tests := map[string]struct {
		cfg      ClientConnLimit
		dial     int
		wantOpen int // connections accepted and left open
	}{
		"cap 2, third closed":      {cfg: ClientConnLimit{Max: 2}, dial: 3, wantOpen: 2},
		"cap 1":                    {cfg: ClientConnLimit{Max: 1}, dial: 3, wantOpen: 1},
		"exempt address uncounted": {cfg: ClientConnLimit{Max: 1, Exempt: loopback}, dial: 3, wantOpen: 3},
		"negative: no cap":         {cfg: ClientConnLimit{Max: -1}, dial: 3, wantOpen: 3},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			tcp, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			ln := LimitConnsPerClient(tcp, tc.cfg)
			t.Cleanup(func() { ln.Close() })
			accepted := make(chan net.Conn, tc.dial)
			go func() {
				for {
					c, err := ln.Accept()
					if err != nil {
						return
					}
					accepted <- c
				}
			}()
			var clients []net.Conn
			for range tc.dial {
				c, err := net.Dial("tcp", ln.Addr().String())
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { c.Close() })
				clients = append(clients, c)
			}
			// The connections past the cap are closed by the server at once:
			// the client reads EOF, not the guard.
			for i, c := range clients[tc.wantOpen:] {
				_ = c.SetReadDeadline(time.Now().Add(guard))
				if _, err := c.Read(make([]byte, 1)); err == nil || isReadTimeout(err) {
					t.Errorf("connection %d past the cap: read %v, want closed", tc.wantOpen+i, err)
				}
			}
			var server []net.Conn
			for range tc.wantOpen {
				select {
				case c := <-accepted:
					server = append(server, c)
				case <-time.After(guard):
					t.Fatalf("only %d connections accepted, want %d", len(server), tc.wantOpen)
				}
			}
			if got := ln.Refused(); got != int64(tc.dial-tc.wantOpen) {
				t.Errorf("Refused = %d, want %d", got, tc.dial-tc.wantOpen)
			}
			if tc.cfg.Max < 0 || len(tc.cfg.Exempt) > 0 {
				return
			}
			lo := netip.MustParseAddr("127.0.0.1")
			if got := ln.Open(lo); got != tc.wantOpen {
				t.Errorf("Open = %d, want %d", got, tc.wantOpen)
			}
			// Closing one (twice: counted once) frees its slot for a new one.
			server[0].Close()
			server[0].Close()
			if got := ln.Open(lo); got != tc.wantOpen-1 {
				t.Errorf("Open after a close = %d, want %d", got, tc.wantOpen-1)
			}
			c, err := net.Dial("tcp", ln.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			select {
			case sc := <-accepted:
				sc.Close()
			case <-time.After(guard):
				t.Fatal("a connection within the cap was not accepted")
			}
		})
	}
}

func TestConnLimitClientKey(t *testing.T) {
	ln := &ConnLimitListener{max: 1, exempt: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}}
	key := func(s string) (string, bool) {
		k, ok := ln.clientKey(net.TCPAddrFromAddrPort(netip.MustParseAddrPort(s)))
		return k.String(), ok
	}
	tests := map[string]struct {
		addr, wantKey string
		wantCounted   bool
	}{
		"IPv4 by address":          {addr: "192.0.2.7:1234", wantKey: "192.0.2.7", wantCounted: true},
		"IPv4-mapped IPv6":         {addr: "[::ffff:192.0.2.7]:1234", wantKey: "192.0.2.7", wantCounted: true},
		"IPv6 by /64":              {addr: "[2001:db8:1:2:aaaa::1]:1", wantKey: "2001:db8:1:2::", wantCounted: true},
		"other host of that /64":   {addr: "[2001:db8:1:2:bbbb::9]:1", wantKey: "2001:db8:1:2::", wantCounted: true},
		"exempt prefix":            {addr: "10.1.2.3:80"},
		"exempt, mapped":           {addr: "[::ffff:10.1.2.3]:80"},
		"next IPv6 /64 is its own": {addr: "[2001:db8:1:3::1]:1", wantKey: "2001:db8:1:3::", wantCounted: true},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			k, counted := key(tc.addr)
			if counted != tc.wantCounted || counted && k != tc.wantKey {
				t.Errorf("clientKey(%s) = %s, %v; want %s, %v", tc.addr, k, counted, tc.wantKey, tc.wantCounted)
			}
		})
	}
}

// TestHostileSlowBodies is the attack: 20 connections each send one
// byte of a body and then nothing. Every one is answered 408 and closed by
// the body deadline; none is kept.
func TestHostileSlowBodies(t *testing.T) {
	up, calls := stubUpstream(t)
	h := newTestHandler(t, up.URL, func(c *Config) { c.BodyReadTimeout = 100 * time.Millisecond })
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	const n = 20
	type conn struct {
		c  net.Conn
		br *bufio.Reader
	}
	var conns []conn
	for range n {
		c, br := rawConn(t, srv)
		io.WriteString(c, "POST /graphql HTTP/1.1\r\nHost: gw\r\nContent-Type: application/json\r\nAuthorization: Bearer t\r\nContent-Length: 1000\r\n\r\n{")
		conns = append(conns, conn{c, br})
	}
	timedOut := 0
	for i, c := range conns {
		resp, out := readAnswer(t, c.br)
		if resp.StatusCode == http.StatusRequestTimeout && len(out.Errors) == 1 && out.Errors[0].Extensions["code"] == errcode.CodeRequestTimeout {
			timedOut++
		} else {
			t.Errorf("connection %d: status %d, errors %+v", i, resp.StatusCode, out.Errors)
		}
		wantClosed(t, c.c, c.br)
	}
	if timedOut != n {
		t.Errorf("%d of %d slow bodies were cut off", timedOut, n)
	}
	if calls.Load() != 0 {
		t.Errorf("%d upstream calls for requests whose bodies never arrived", calls.Load())
	}
}
