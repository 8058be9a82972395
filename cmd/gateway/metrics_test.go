package main

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ghl-graphql/gateway/metrics"
	"github.com/ghl-graphql/gateway/server"
)

func TestMetricsConfig(t *testing.T) {
	tests := map[string]struct {
		args    []string
		env     map[string]string
		check   func(t *testing.T, c *config)
		wantErr string // substring of the error; "" for none
	}{
		"defaults": {
			check: func(t *testing.T, c *config) {
				m := c.metrics
				if !m.enabled || m.addr != "" || m.pprof || m.maxOperations != metrics.DefaultMaxOperations || m.maxLocations != metrics.DefaultMaxLocations {
					t.Errorf("metrics config = %+v", m)
				}
			},
		},
		"own address and pprof from the environment": {
			env: map[string]string{"GATEWAY_METRICS_ADDR": "127.0.0.1:9090", "GATEWAY_PPROF": "true", "GATEWAY_METRICS_MAX_OPERATIONS": "7"},
			check: func(t *testing.T, c *config) {
				if m := c.metrics; m.addr != "127.0.0.1:9090" || !m.pprof || m.maxOperations != 7 {
					t.Errorf("metrics config = %+v", m)
				}
			},
		},
		"pprof without its own address": {args: []string{"-pprof"}, wantErr: "-pprof (GATEWAY_PPROF) needs -metrics-addr"},
		"pprof with metrics off":        {args: []string{"-pprof", "-metrics-addr", "127.0.0.1:0", "-metrics=false"}, wantErr: "needs -metrics"},
		"address with metrics off":      {args: []string{"-metrics-addr", "127.0.0.1:0", "-metrics=false"}, wantErr: "-metrics-addr (GATEWAY_METRICS_ADDR) is set but"},
		"bad address":                   {args: []string{"-metrics-addr", "nowhere"}, wantErr: `-metrics-addr (GATEWAY_METRICS_ADDR) "nowhere"`},
		"no operation labels":           {args: []string{"-metrics-max-operations", "0"}, wantErr: "-metrics-max-operations (GATEWAY_METRICS_MAX_OPERATIONS) 0: must be at least 1"},
		"no location labels":            {args: []string{"-metrics-max-locations", "-1"}, wantErr: "-metrics-max-locations (GATEWAY_METRICS_MAX_LOCATIONS) -1: must be at least 1"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			c, err := parseConfig(tc.args, env(tc.env), devNull(t))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tc.check(t, c)
		})
	}
}

// serveInProcess runs the gateway (embedded sandbox) until the test ends
// and returns its start-up banner's lines by prefix.
func serveInProcess(t *testing.T, args ...string) map[string]string {
	t.Helper()
	cfg, err := parseConfig(append([]string{"-addr", "127.0.0.1:0", "-sandbox-webhooks=false"}, args...), env(nil), devNull(t))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		done <- serve(ctx, cfg, slog.New(slog.DiscardHandler), pw)
		pw.Close()
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	lines := map[string]string{}
	buf := make([]byte, 64<<10)
	var out strings.Builder
	for !strings.Contains(out.String(), "Sandbox token:") {
		n, err := pr.Read(buf)
		if err != nil {
			t.Fatalf("banner: %v; so far:\n%s", err, out.String())
		}
		out.Write(buf[:n])
	}
	go func() { _, _ = io.Copy(io.Discard, pr) }()
	for _, line := range strings.Split(out.String(), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok {
			lines[k] = strings.TrimSpace(v)
		}
	}
	return lines
}

// get returns the status and body of GET url.
func get(t *testing.T, url string) (int, string) {
	t.Helper()
	c := &http.Client{Timeout: 10 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestMetricsEndpoints(t *testing.T) {
	t.Run("on the main address", func(t *testing.T) {
		t.Parallel()
		banner := serveInProcess(t)
		base := strings.TrimSuffix(banner["GraphQL endpoint"], "/graphql")
		if got := banner["Metrics"]; got != base+MetricsPath {
			t.Errorf("banner names the metrics at %q, want %q", got, base+MetricsPath)
		}
		status, body := get(t, base+MetricsPath)
		if status != http.StatusOK || !strings.Contains(body, "go_goroutines") || !strings.Contains(body, "gateway_upstream_breaker_state") {
			t.Errorf("GET /metrics: %d\n%.500s", status, body)
		}
		if status, _ := get(t, base+"/debug/pprof/"); status == http.StatusOK {
			t.Error("pprof is served on the main address")
		}
	})
	t.Run("on its own address, with pprof", func(t *testing.T) {
		t.Parallel()
		banner := serveInProcess(t, "-metrics-addr", "127.0.0.1:0", "-pprof")
		base := strings.TrimSuffix(banner["GraphQL endpoint"], "/graphql")
		murl, _, _ := strings.Cut(banner["Metrics"], " ")
		if !strings.HasPrefix(murl, "http://127.0.0.1:") || strings.HasPrefix(murl, base) || !strings.HasSuffix(murl, MetricsPath) {
			t.Fatalf("metrics URL %q (main %q)", murl, base)
		}
		maddr := strings.TrimSuffix(murl, MetricsPath)
		if status, body := get(t, murl); status != http.StatusOK || !strings.Contains(body, "process_cpu_seconds_total") {
			t.Errorf("GET %s: %d\n%.500s", murl, status, body)
		}
		if status, body := get(t, maddr+"/debug/pprof/"); status != http.StatusOK || !strings.Contains(body, "goroutine") {
			t.Errorf("GET pprof index: %d", status)
		}
		if status, _ := get(t, maddr+"/debug/pprof/goroutine?debug=1"); status != http.StatusOK {
			t.Errorf("GET goroutine profile: %d", status)
		}
		if status, _ := get(t, base+MetricsPath); status == http.StatusOK {
			t.Error("/metrics is served on the main address too")
		}
		if status, _ := get(t, base+"/debug/pprof/"); status == http.StatusOK {
			t.Error("pprof is served on the main address")
		}
	})
	t.Run("own address without pprof", func(t *testing.T) {
		t.Parallel()
		banner := serveInProcess(t, "-metrics-addr", "127.0.0.1:0")
		murl := banner["Metrics"]
		if status, _ := get(t, strings.TrimSuffix(murl, MetricsPath)+"/debug/pprof/"); status == http.StatusOK {
			t.Error("pprof served without -pprof")
		}
	})
	t.Run("off", func(t *testing.T) {
		t.Parallel()
		banner := serveInProcess(t, "-metrics=false")
		base := strings.TrimSuffix(banner["GraphQL endpoint"], "/graphql")
		if _, ok := banner["Metrics"]; ok {
			t.Error("banner names metrics that are off")
		}
		if status, _ := get(t, base+MetricsPath); status == http.StatusOK {
			t.Error("/metrics served with -metrics=false")
		}
	})
}

func TestPersistedOperationNames(t *testing.T) {
	ops := server.PersistedOperations{
		"a": `query ContactSnapshot($id: ID!) { contact(id: $id) { id } }`,
		"b": `mutation AddTag { addContactTags(contactId: "x", tags: ["t"]) { tags } } query ContactSnapshot { __typename }`,
		"c": `{ __typename }`, // anonymous: no name
		"d": `query Broken {`, // not parsable: skipped
		"e": `query Zeta { __typename }`,
	}
	got := operationNames(ops)
	want := []string{"AddTag", "ContactSnapshot", "Zeta"}
	if !slices.Equal(got, want) {
		t.Errorf("operationNames = %v, want %v", got, want)
	}
}
