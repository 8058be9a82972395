package main

import (
	"bufio"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestReadAnswer(t *testing.T) {
	cases := []struct {
		name   string
		raw    string
		status int
		keep   bool
		body   string
		err    bool
	}{
		{"content length", "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 11\r\n\r\n{\"data\":{}}", 200, true, `{"data":{}}`, false},
		{"chunked, with an extension and a trailer", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4;x=y\r\n{\"da\r\n7\r\nta\":{}}\r\n0\r\nX-Trailer: 1\r\n\r\n", 200, true, `{"data":{}}`, false},
		{"connection close", "HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\nContent-Length: 2\r\n\r\n{}", 503, false, `{}`, false},
		{"no length: to the end", "HTTP/1.1 200 OK\r\n\r\nabc", 200, false, "abc", false},
		{"bad status line", "HTTP/1.1 2x0 OK\r\n\r\n", 0, false, "", true},
		{"not HTTP", "SSH-2.0\r\n\r\n", 0, false, "", true},
		{"bad chunk size", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 0, false, "", true},
		{"chunk not ended by CRLF", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabX\r\n0\r\n\r\n", 0, false, "", true},
		{"other transfer encoding", "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n", 0, false, "", true},
		{"truncated body", "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc", 200, true, "", true},
		{"header without a colon", "HTTP/1.1 200 OK\r\nBroken\r\n\r\n", 0, false, "", true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			mc := &mixConn{r: bufio.NewReader(strings.NewReader(c.raw))}
			status, keep, err := mc.readAnswer()
			if (err != nil) != c.err {
				t.Fatalf("err = %v, want error %v", err, c.err)
			}
			if c.err {
				return
			}
			if status != c.status || keep != c.keep || string(mc.body) != c.body {
				t.Errorf("got %d %v %q, want %d %v %q", status, keep, mc.body, c.status, c.keep, c.body)
			}
		})
	}
}

func FuzzReadAnswer(f *testing.F) {
	f.Add("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}")
	f.Add("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n")
	f.Fuzz(func(t *testing.T, raw string) {
		mc := &mixConn{r: bufio.NewReader(strings.NewReader(raw))}
		status, _, err := mc.readAnswer()
		if err == nil && (status < 0 || status > 999) {
			t.Errorf("status %d read without error", status)
		}
	})
}

// The client reuses its connections, reads small and chunked answers alike,
// sends the token and the body, and turns an answer that does not come in
// time into a timeout.
func TestMixClientSends(t *testing.T) {
	var conns atomic.Int64
	big := `{"data":{"x":"` + strings.Repeat("a", 40<<10) + `"}}`
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer tok" || r.Header.Get("Content-Type") != "application/json" || r.URL.Path != "/graphql" {
			http.Error(w, "bad request", http.StatusBadRequest)
			return
		}
		b := make([]byte, r.ContentLength)
		_, _ = r.Body.Read(b)
		switch string(b) {
		case "big":
			_, _ = w.Write([]byte(big)) // chunked: larger than net/http's buffer
		case "slow":
			time.Sleep(300 * time.Millisecond)
			_, _ = w.Write([]byte(`{"data":{"x":1}}`))
		default:
			_, _ = w.Write([]byte(`{"data":{"x":1}}`))
		}
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	defer srv.Close()

	c := newMixClient(srv.URL+"/graphql", "tok", 2, 5*time.Second)
	for i := range 20 {
		body := "small"
		if i%2 == 1 {
			body = "big"
		}
		if o, _, msg := c.send(time.Now(), []byte(body)); o != outFull {
			t.Fatalf("query %d (%s): outcome %d, %s", i, body, o, msg)
		}
	}
	if n := conns.Load(); n != 1 {
		t.Errorf("20 queries one after the other opened %d connections, want 1", n)
	}
	short := newMixClient(srv.URL+"/graphql", "tok", 1, 50*time.Millisecond)
	if o, d, _ := short.send(time.Now(), []byte("slow")); o != outTimeout || d != 50*time.Millisecond {
		t.Errorf("slow answer: outcome %d after %v, want a timeout at the client timeout", o, d)
	}
	if o, _, msg := short.send(time.Now(), []byte("small")); o != outFull {
		t.Errorf("after a timeout: outcome %d, %s; want a new connection and the answer", o, msg)
	}
}
