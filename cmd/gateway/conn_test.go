// Tests of connection hygiene and bounded credentials in the command
// (issue 10): the settings, the http.Server they build, and the real
// binary cutting off a slow header, a slow body and a client past its
// connection cap. Outcomes are asserted (an answer, a closed connection),
// not durations; the guards only stop a broken test from hanging.

package main

import (
	"bufio"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ghl-graphql/gateway/auth"
	"github.com/ghl-graphql/gateway/errcode"
	"github.com/ghl-graphql/gateway/server"
)

func TestConnConfig(t *testing.T) {
	tests := map[string]struct {
		args    []string
		env     map[string]string
		check   func(t *testing.T, c *config)
		wantErr string
	}{
		"defaults": {check: func(t *testing.T, c *config) {
			want := connConfig{readHeaderTimeout: 10 * time.Second, bodyReadTimeout: server.DefaultBodyReadTimeout,
				idleTimeout: 120 * time.Second, maxHeaderBytes: 32 << 10, maxConcurrentRequests: server.DefaultMaxConcurrentRequests,
				maxConnsPerClient: server.DefaultMaxConnsPerClient, connLimitExempt: "127.0.0.0/8,::1/128",
				maxTokenBytes: auth.DefaultMaxTokenBytes, maxLocationIDBytes: server.DefaultMaxLocationIDBytes,
				credentialCacheBytes: server.DefaultCredentialCacheBytes}
			if c.conn != want {
				t.Errorf("conn = %+v, want %+v", c.conn, want)
			}
			if got := c.conn.effectiveWriteTimeout(c.requestTimeout); got != c.requestTimeout+c.conn.bodyReadTimeout+10*time.Second {
				t.Errorf("derived write timeout %v", got)
			}
			ex, _ := c.conn.exempt()
			if !slices.Equal(ex, server.DefaultConnLimitExempt) {
				t.Errorf("exempt %v, want %v", ex, server.DefaultConnLimitExempt)
			}
		}},
		"from the environment": {
			env: map[string]string{"GATEWAY_READ_HEADER_TIMEOUT": "3s", "GATEWAY_BODY_READ_TIMEOUT": "4s", "GATEWAY_IDLE_TIMEOUT": "5s",
				"GATEWAY_WRITE_TIMEOUT": "2m", "GATEWAY_MAX_HEADER_BYTES": "8192", "GATEWAY_MAX_CONCURRENT_REQUESTS": "7",
				"GATEWAY_MAX_CONNS_PER_CLIENT": "9", "GATEWAY_CONN_LIMIT_EXEMPT": "", "GATEWAY_MAX_TOKEN_BYTES": "2048",
				"GATEWAY_MAX_LOCATION_ID_BYTES": "32", "GATEWAY_CREDENTIAL_CACHE_BYTES": "1048576"},
			check: func(t *testing.T, c *config) {
				want := connConfig{readHeaderTimeout: 3 * time.Second, bodyReadTimeout: 4 * time.Second, idleTimeout: 5 * time.Second,
					writeTimeout: 2 * time.Minute, maxHeaderBytes: 8192, maxConcurrentRequests: 7, maxConnsPerClient: 9,
					maxTokenBytes: 2048, maxLocationIDBytes: 32, credentialCacheBytes: 1 << 20}
				if c.conn != want {
					t.Errorf("conn = %+v, want %+v", c.conn, want)
				}
				if ex, _ := c.conn.exempt(); len(ex) != 0 {
					t.Errorf("empty exempt list parsed as %v", ex)
				}
			},
		},
		"exempt list": {args: []string{"-conn-limit-exempt", " 10.0.0.0/8 , 2001:db8::1/48,192.0.2.9"}, check: func(t *testing.T, c *config) {
			ex, _ := c.conn.exempt()
			if want := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("2001:db8::/48"), netip.MustParsePrefix("192.0.2.9/32")}; !slices.Equal(ex, want) {
				t.Errorf("exempt %v, want %v", ex, want)
			}
		}},
		"bad exempt CIDR":                 {args: []string{"-conn-limit-exempt", "10.0.0.1/33"}, wantErr: "-conn-limit-exempt"},
		"zero header timeout":             {args: []string{"-read-header-timeout", "0"}, wantErr: "-read-header-timeout"},
		"zero body timeout":               {args: []string{"-body-read-timeout", "0"}, wantErr: "-body-read-timeout"},
		"zero idle timeout":               {args: []string{"-idle-timeout", "0"}, wantErr: "-idle-timeout"},
		"negative write timeout":          {args: []string{"-write-timeout", "-1s"}, wantErr: "-write-timeout"},
		"write timeout under the request": {args: []string{"-request-timeout", "60s", "-write-timeout", "30s"}, wantErr: "-write-timeout"},
		"zero request cap":                {args: []string{"-max-concurrent-requests", "0"}, wantErr: "-max-concurrent-requests"},
		"zero conns per client":           {args: []string{"-max-conns-per-client", "0"}, wantErr: "-max-conns-per-client"},
		"tiny header limit":               {args: []string{"-max-header-bytes", "100"}, wantErr: "-max-header-bytes"},
		"tiny token limit":                {args: []string{"-max-token-bytes", "10"}, wantErr: "-max-token-bytes"},
		"token limit over header limit":   {args: []string{"-max-header-bytes", "8192", "-max-token-bytes", "9000"}, wantErr: "-max-token-bytes"},
		"zero location ID limit":          {args: []string{"-max-location-id-bytes", "0"}, wantErr: "-max-location-id-bytes"},
		"tiny credential cache":           {args: []string{"-credential-cache-bytes", "100"}, wantErr: "-credential-cache-bytes"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			c, ok := parseConfigCase(t, tc.args, tc.env, tc.wantErr)
			if !ok {
				return
			}
			tc.check(t, c)
		})
	}
}

// TestNewHTTPServer: the server the gateway runs has every timeout and the
// header cap set from the configuration.
func TestNewHTTPServer(t *testing.T) {
	for name, args := range map[string][]string{
		"defaults": nil,
		"set":      {"-read-header-timeout", "2s", "-idle-timeout", "7s", "-write-timeout", "3m", "-max-header-bytes", "16384"},
	} {
		t.Run(name, func(t *testing.T) {
			c, err := parseConfig(args, env(nil), devNull(t))
			if err != nil {
				t.Fatal(err)
			}
			srv := newHTTPServer(c, http.NotFoundHandler(), slog.New(slog.DiscardHandler))
			if srv.ReadHeaderTimeout != c.conn.readHeaderTimeout || srv.IdleTimeout != c.conn.idleTimeout ||
				srv.WriteTimeout != c.conn.effectiveWriteTimeout(c.requestTimeout) || srv.MaxHeaderBytes != c.conn.maxHeaderBytes {
				t.Errorf("server timeouts %v/%v/%v, header cap %d; config %+v", srv.ReadHeaderTimeout, srv.IdleTimeout, srv.WriteTimeout, srv.MaxHeaderBytes, c.conn)
			}
			for what, d := range map[string]time.Duration{"ReadHeaderTimeout": srv.ReadHeaderTimeout, "IdleTimeout": srv.IdleTimeout, "WriteTimeout": srv.WriteTimeout} {
				if d <= 0 {
					t.Errorf("%s unset", what)
				}
			}
			if srv.WriteTimeout < c.requestTimeout+c.conn.bodyReadTimeout {
				t.Errorf("WriteTimeout %v cuts off a request that may run %v after a body of %v", srv.WriteTimeout, c.requestTimeout, c.conn.bodyReadTimeout)
			}
		})
	}
}

// dialGateway opens a raw connection to addr.
func dialGateway(t *testing.T, addr string) (net.Conn, *bufio.Reader) {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	_ = c.SetReadDeadline(time.Now().Add(30 * time.Second))
	return c, bufio.NewReader(c)
}

// closedByServer reports whether the server closed c: EOF or a reset
// rather than the guard's timeout. Any bytes before the close are returned.
func closedByServer(c net.Conn, br *bufio.Reader) (string, bool) {
	_ = c.SetReadDeadline(time.Now().Add(30 * time.Second))
	b, err := io.ReadAll(br)
	var ne net.Error
	return string(b), err == nil || !(errors.As(err, &ne) && ne.Timeout())
}

func TestBinaryConnectionHygiene(t *testing.T) {
	bin := buildGateway(t)

	t.Run("slow headers and bodies are cut off", func(t *testing.T) {
		t.Parallel()
		p := start(t, bin, nil, "-addr", "127.0.0.1:0", "-read-header-timeout", "300ms", "-body-read-timeout", "300ms")
		endpoint := p.waitLines(t, "GraphQL endpoint:")["GraphQL endpoint:"]
		addr := strings.TrimSuffix(strings.TrimPrefix(endpoint, "http://"), server.GraphQLPath)

		// Headers that never end.
		c, br := dialGateway(t, addr)
		io.WriteString(c, "POST /graphql HTTP/1.1\r\nHost: gw\r\nContent-Type: application/json\r\n")
		if got, closed := closedByServer(c, br); !closed || got != "" && !strings.HasPrefix(got, "HTTP/1.1 408") {
			t.Errorf("slow headers: closed %v after %q; want the connection closed", closed, got)
		}

		// A body that stops after one byte: 408 and closed.
		c, br = dialGateway(t, addr)
		io.WriteString(c, "POST /graphql HTTP/1.1\r\nHost: gw\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{")
		got, closed := closedByServer(c, br)
		if !closed || !strings.HasPrefix(got, "HTTP/1.1 408") || !strings.Contains(got, errcode.CodeRequestTimeout) {
			t.Errorf("slow body: closed %v after %q; want 408 %s and closed", closed, got, errcode.CodeRequestTimeout)
		}

		// Headers over -max-header-bytes (32 KiB): answered 431, not read on.
		c, br = dialGateway(t, addr)
		io.WriteString(c, "GET /healthz HTTP/1.1\r\nHost: gw\r\nX-Pad: "+strings.Repeat("a", 40<<10)+"\r\n\r\n")
		if resp, err := http.ReadResponse(br, nil); err != nil || resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
			t.Errorf("huge headers: %v, %v; want 431", resp, err)
		}
	})

	t.Run("connections past the per-client cap are closed", func(t *testing.T) {
		t.Parallel()
		// No exemption, so the cap applies to this loopback client.
		p := start(t, bin, []string{"GATEWAY_CONN_LIMIT_EXEMPT="}, "-addr", "127.0.0.1:0", "-max-conns-per-client", "2")
		endpoint := p.waitLines(t, "GraphQL endpoint:")["GraphQL endpoint:"]
		addr := strings.TrimSuffix(strings.TrimPrefix(endpoint, "http://"), server.GraphQLPath)
		health := func(c net.Conn, br *bufio.Reader) error {
			if _, err := io.WriteString(c, "GET /healthz HTTP/1.1\r\nHost: gw\r\n\r\n"); err != nil {
				return err
			}
			resp, err := http.ReadResponse(br, nil)
			if err != nil {
				return err
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				return errors.New(resp.Status)
			}
			return nil
		}
		c1, br1 := dialGateway(t, addr)
		c2, br2 := dialGateway(t, addr)
		for i, cb := range []struct {
			c  net.Conn
			br *bufio.Reader
		}{{c1, br1}, {c2, br2}} {
			if err := health(cb.c, cb.br); err != nil {
				t.Fatalf("connection %d within the cap: %v; stderr:\n%s", i+1, err, p.stderr)
			}
		}
		c3, br3 := dialGateway(t, addr)
		if got, closed := closedByServer(c3, br3); !closed || got != "" {
			t.Errorf("third connection: closed %v after %q; want closed at once", closed, got)
		}
		// The first two still serve; closing one frees its slot.
		if err := health(c1, br1); err != nil {
			t.Errorf("connection 1 after the refusal: %v", err)
		}
		c2.Close()
		deadline := time.Now().Add(20 * time.Second) // the server notices the close: bounded, not timed
		for {
			c, br := dialGateway(t, addr)
			err := health(c, br)
			c.Close()
			if err == nil {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("no connection accepted after one was closed: %v", err)
			}
			time.Sleep(20 * time.Millisecond)
		}
	})
}
