// Tests of the gateway command: its configuration (flags, environment,
// checks) in-process, and the real binary, built into a temporary
// directory: start-up banner, readiness, a query against the embedded
// sandbox, graceful shutdown on SIGTERM with a request in flight, the
// schema and sandbox subcommands, help, and refusal of bad settings.

package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"runtime"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ghl-graphql/gateway/auth"
	"github.com/ghl-graphql/gateway/loaders"
	"github.com/ghl-graphql/gateway/server"
	"github.com/ghl-graphql/gateway/upstream"
	"github.com/ghl-graphql/gateway/upstream/sandbox"
)

// env is a lookup function over a map, standing in for os.LookupEnv.
func env(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) {
		v, ok := m[k]
		return v, ok
	}
}

// devNull is where parseConfig's usage text goes in these tests.
func devNull(t *testing.T) *os.File {
	t.Helper()
	f, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

func TestEnvName(t *testing.T) {
	for flagName, want := range map[string]string{
		"addr":              "GATEWAY_ADDR",
		"upstream-url":      "GATEWAY_UPSTREAM_URL",
		"sandbox-latency":   "GATEWAY_SANDBOX_LATENCY",
		"sandbox-fault-ops": "GATEWAY_SANDBOX_FAULT_OPS",
	} {
		if got := envName(flagName); got != want {
			t.Errorf("envName(%q) = %q, want %q", flagName, got, want)
		}
	}
}

func TestParseConfigDefaults(t *testing.T) {
	c, err := parseConfig(nil, env(nil), devNull(t))
	if err != nil {
		t.Fatal(err)
	}
	for name, pair := range map[string][2]any{
		"addr":                 {c.addr, "127.0.0.1:8080"},
		"upstream-url":         {c.upstreamURL, ""},
		"location-id":          {c.locationID, ""},
		"upstream-timeout":     {c.upstreamTimeout, upstream.DefaultTimeout},
		"request-timeout":      {c.requestTimeout, server.DefaultRequestTimeout},
		"shutdown-timeout":     {c.shutdownTimeout, 30 * time.Second},
		"max-body-bytes":       {c.maxBodyBytes, int64(server.DefaultMaxBodyBytes)},
		"introspection":        {c.introspection, true},
		"playground":           {c.playground, true},
		"playground-cdn":       {c.playgroundCDN, false},
		"log-level":            {c.logLevel, "info"},
		"log-format":           {c.logFormat, "text"},
		"cache-max-bytes":      {c.cacheMaxBytes, int64(server.DefaultCacheMaxBytes)},
		"cache-contact-ttl":    {c.cacheTTLs.Contact, loaders.DefaultTTLs.Contact},
		"cache-list-ttl":       {c.cacheTTLs.Lists, loaders.DefaultTTLs.Lists},
		"cache-search-ttl":     {c.cacheTTLs.Search, loaders.DefaultTTLs.Search},
		"response-cache":       {c.responseCache, true},
		"upstream-concurrency": {c.upstreamPerLoc, loaders.DefaultMaxConcurrentPerLocation},
		"max-query-cost":       {c.limits.MaxCost, server.DefaultQueryLimits.MaxCost},
		"rate-max":             {c.budget.Max, upstream.DefaultBudgetMax},
		"rate-interval":        {c.budget.Interval, upstream.DefaultBudgetInterval},
		"rate-daily":           {c.budget.Daily, upstream.DefaultBudgetDaily},
		"retry-attempts":       {c.retry.MaxAttempts, 3},
		"breaker-cooldown":     {c.breaker.CoolDown, upstream.DefaultBreakerCoolDown},
		"max-query-depth":      {c.limits.MaxDepth, server.DefaultQueryLimits.MaxDepth},
		"max-query-aliases":    {c.limits.MaxAliases, server.DefaultQueryLimits.MaxAliases},
		"sandbox-seed":         {c.sandbox.Seed, int64(sandbox.DefaultSeed)},
		"sandbox-locations":    {c.sandbox.Locations, sandbox.DefaultLocations},
		"sandbox-contacts":     {c.sandbox.ContactsPerLocation, sandbox.DefaultContactsPerLocation},
		"sandbox-latency":      {c.sandbox.Latency, time.Duration(0)},
		"sandbox-fault-rate":   {c.sandbox.Faults.Rate, 0.0},
	} {
		if !reflect.DeepEqual(pair[0], pair[1]) {
			t.Errorf("default -%s = %v, want %v", name, pair[0], pair[1])
		}
	}
}

// The budget trust and wait settings (issues 10, 16), kept apart from the
// table above so that it merges cleanly.
func TestParseConfigBudgetTrustDefaults(t *testing.T) {
	c, err := parseConfig(nil, env(nil), devNull(t))
	if err != nil {
		t.Fatal(err)
	}
	if c.budget.MaxWait != upstream.DefaultBudgetMaxWait || c.budget.UnconfirmedMax != upstream.DefaultBudgetUnconfirmedMax ||
		c.rejectedBackoff != auth.DefaultRejectedBackoff {
		t.Errorf("defaults: max wait %v, unconfirmed max %d, rejected backoff %v", c.budget.MaxWait, c.budget.UnconfirmedMax, c.rejectedBackoff)
	}
	c, err = parseConfig([]string{"-budget-max-wait", "500ms"}, env(map[string]string{"GATEWAY_REJECTED_TOKEN_BACKOFF": "5m"}), devNull(t))
	if err != nil {
		t.Fatal(err)
	}
	if c.budget.MaxWait != 500*time.Millisecond || c.rejectedBackoff != 5*time.Minute {
		t.Errorf("set: max wait %v, rejected backoff %v", c.budget.MaxWait, c.rejectedBackoff)
	}
}

func TestParseConfig(t *testing.T) {
	tests := map[string]struct {
		args    []string
		env     map[string]string
		check   func(t *testing.T, c *config)
		wantErr string // substring of the error; "" for none
	}{
		"env applied": {
			env: map[string]string{"GATEWAY_UPSTREAM_URL": "https://services.example.com/", "GATEWAY_INTROSPECTION": "false",
				"GATEWAY_REQUEST_TIMEOUT": "5s", "GATEWAY_LOCATION_ID": "loc1", "GATEWAY_MAX_BODY_BYTES": "2048"},
			check: func(t *testing.T, c *config) {
				if c.upstreamURL != "https://services.example.com/" || c.introspection || c.requestTimeout != 5*time.Second ||
					c.locationID != "loc1" || c.maxBodyBytes != 2048 {
					t.Errorf("config = %+v", c)
				}
			},
		},
		"sandbox knobs from env": {
			env: map[string]string{"GATEWAY_SANDBOX_LATENCY": "250ms", "GATEWAY_SANDBOX_FAULT_KINDS": "drop,5xx",
				"GATEWAY_SANDBOX_FAULT_OPS": "get-contact", "GATEWAY_SANDBOX_CONTACTS": "7", "GATEWAY_SANDBOX_RATE_MAX": "100"},
			check: func(t *testing.T, c *config) {
				s := c.sandbox
				if s.Latency != 250*time.Millisecond || !slices.Equal(s.Faults.Kinds, []sandbox.FaultKind{sandbox.FaultDrop, sandbox.FaultServerError}) ||
					!slices.Equal(s.Faults.Ops, []string{"get-contact"}) || s.ContactsPerLocation != 7 || s.RateLimit.Max != 100 {
					t.Errorf("sandbox config = %+v", s)
				}
			},
		},
		"flags win over env": {
			args: []string{"-addr", "127.0.0.1:9000", "-sandbox-latency", "1s", "-introspection=true"},
			env:  map[string]string{"GATEWAY_ADDR": "127.0.0.1:1", "GATEWAY_SANDBOX_LATENCY": "5s", "GATEWAY_INTROSPECTION": "false", "GATEWAY_LOG_LEVEL": "debug"},
			check: func(t *testing.T, c *config) {
				if c.addr != "127.0.0.1:9000" || c.sandbox.Latency != time.Second || !c.introspection {
					t.Errorf("flags lost to env: %+v", c)
				}
				if c.logLevel != "debug" {
					t.Errorf("env without a flag not applied: log level %q", c.logLevel)
				}
			},
		},
		"unknown argument":         {args: []string{"serve"}, wantErr: `unexpected argument "serve"`},
		"argument after flags":     {args: []string{"-addr", "127.0.0.1:1", "extra"}, wantErr: `unexpected argument "extra"`},
		"unknown flag":             {args: []string{"-nope"}, wantErr: "nope"},
		"bad env value":            {env: map[string]string{"GATEWAY_MAX_BODY_BYTES": "lots"}, wantErr: "GATEWAY_MAX_BODY_BYTES"},
		"bad env duration":         {env: map[string]string{"GATEWAY_UPSTREAM_TIMEOUT": "soon"}, wantErr: "GATEWAY_UPSTREAM_TIMEOUT"},
		"bad env fault kind":       {env: map[string]string{"GATEWAY_SANDBOX_FAULT_KINDS": "meteor"}, wantErr: "GATEWAY_SANDBOX_FAULT_KINDS"},
		"ftp upstream":             {args: []string{"-upstream-url", "ftp://x"}, wantErr: "-upstream-url"},
		"relative upstream":        {args: []string{"-upstream-url", "/contacts"}, wantErr: "-upstream-url"},
		"addr without port (env)":  {env: map[string]string{"GATEWAY_ADDR": "nonsense"}, wantErr: "addr"},
		"negative request timeout": {args: []string{"-request-timeout", "-1s"}, wantErr: "-request-timeout"},
		"zero upstream timeout":    {args: []string{"-upstream-timeout", "0s"}, wantErr: "-upstream-timeout"},
		"zero shutdown timeout":    {env: map[string]string{"GATEWAY_SHUTDOWN_TIMEOUT": "0s"}, wantErr: "-shutdown-timeout"},
		"tiny body limit":          {args: []string{"-max-body-bytes", "10"}, wantErr: "-max-body-bytes"},
		"bad log level":            {args: []string{"-log-level", "loud"}, wantErr: "-log-level"},
		"breaker ratio over 1":     {args: []string{"-breaker-failure-ratio", "1.5"}, wantErr: "-breaker-failure-ratio"},
		"breaker ratio zero":       {args: []string{"-breaker-failure-ratio", "0"}, wantErr: "-breaker-failure-ratio"},
		"breaker min calls 0":      {args: []string{"-breaker-min-calls", "0"}, wantErr: "-breaker-min-calls"},
		"breaker window 0 (env)":   {env: map[string]string{"GATEWAY_BREAKER_WINDOW": "0s"}, wantErr: "GATEWAY_BREAKER_WINDOW"},
		"breaker max locations 0":  {args: []string{"-breaker-max-locations", "0"}, wantErr: "-breaker-max-locations"},
		"breaker host min 0":       {args: []string{"-breaker-host-min-locations", "0"}, wantErr: "-breaker-host-min-locations"},
		"retry min attempt 0":      {args: []string{"-retry-min-attempt", "0s"}, wantErr: "-retry-min-attempt"},
		"zero budget wait":         {args: []string{"-budget-max-wait", "0s"}, wantErr: "-budget-max-wait"},
		"zero unconfirmed budget":  {env: map[string]string{"GATEWAY_BUDGET_UNCONFIRMED_MAX": "0"}, wantErr: "-budget-unconfirmed-max"},
		"negative token backoff":   {args: []string{"-rejected-token-backoff", "-1s"}, wantErr: "-rejected-token-backoff"},
		"bad log format":           {args: []string{"-log-format", "xml"}, wantErr: "-log-format"},
		"help":                     {args: []string{"-h"}, wantErr: flag.ErrHelp.Error()},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			cfg, err := parseConfig(tc.args, env(tc.env), devNull(t))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tc.check(t, cfg)
		})
	}
}

func TestApplyEnv(t *testing.T) {
	var cfg config
	fs := newFlagSet(&cfg)
	fs.SetOutput(io.Discard)
	if err := fs.Parse([]string{"-addr", "127.0.0.1:7000", "-sandbox-seed", "9"}); err != nil {
		t.Fatal(err)
	}
	var looked []string
	lookup := func(k string) (string, bool) {
		looked = append(looked, k)
		v, ok := map[string]string{
			"GATEWAY_ADDR": "127.0.0.1:1", "GATEWAY_SANDBOX_SEED": "3", "GATEWAY_LOG_FORMAT": "json",
			"GATEWAY_SANDBOX_JITTER": "5ms", "GATEWAY_PLAYGROUND_CDN": "true",
		}[k]
		return v, ok
	}
	if err := applyEnv(fs, lookup); err != nil {
		t.Fatal(err)
	}
	if cfg.addr != "127.0.0.1:7000" || cfg.sandbox.Seed != 9 {
		t.Errorf("env overrode flags: addr %q seed %d", cfg.addr, cfg.sandbox.Seed)
	}
	if cfg.logFormat != "json" || cfg.sandbox.Jitter != 5*time.Millisecond || !cfg.playgroundCDN {
		t.Errorf("env not applied: %+v", cfg)
	}
	// Every flag not given has its variable looked up, and only those.
	var want []string
	fs.VisitAll(func(f *flag.Flag) {
		if f.Name != "addr" && f.Name != "sandbox-seed" {
			want = append(want, envName(f.Name))
		}
	})
	slices.Sort(looked)
	slices.Sort(want)
	if !slices.Equal(looked, want) {
		t.Errorf("looked up %v, want %v", looked, want)
	}
	for _, name := range []string{"GATEWAY_UPSTREAM_URL", "GATEWAY_SANDBOX_LATENCY", "GATEWAY_SANDBOX_RATE_MAX", "GATEWAY_SHUTDOWN_TIMEOUT"} {
		if !slices.Contains(looked, name) {
			t.Errorf("%s is not read", name)
		}
	}

	// Every bad variable is reported, each by name.
	var cfg2 config
	fs = newFlagSet(&cfg2)
	err := applyEnv(fs, env(map[string]string{"GATEWAY_UPSTREAM_TIMEOUT": "x", "GATEWAY_SANDBOX_CONTACTS": "many"}))
	if err == nil || !strings.Contains(err.Error(), "GATEWAY_UPSTREAM_TIMEOUT") || !strings.Contains(err.Error(), "GATEWAY_SANDBOX_CONTACTS") {
		t.Errorf("err = %v, want both variables named", err)
	}
}

// ---- The real binary ----

// buildGateway builds the command into a temporary directory.
func buildGateway(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds and runs the gateway binary; skipped in -short mode")
	}
	bin := filepath.Join(t.TempDir(), "gateway")
	if runtime.GOOS == "windows" {
		bin += ".exe"
	}
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// lockedBuffer is a bytes.Buffer safe for one writer and concurrent readers.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// proc is a running gateway process.
type proc struct {
	cmd    *exec.Cmd
	lines  chan string // stdout, line by line; closed at EOF
	stderr *lockedBuffer
	done   chan struct{} // closed when the process has exited
	err    error         // Wait's answer, once done is closed
}

// cleanEnv is the test process's environment without GATEWAY_ variables.
func cleanEnv(extra ...string) []string {
	var out []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, envPrefix) {
			out = append(out, kv)
		}
	}
	return append(out, extra...)
}

// start runs the binary; the test's cleanup kills it if it is still running.
func start(t *testing.T, bin string, extraEnv []string, args ...string) *proc {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = cleanEnv(extraEnv...)
	p := &proc{cmd: cmd, lines: make(chan string, 100), stderr: &lockedBuffer{}, done: make(chan struct{})}
	cmd.Stderr = p.stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			p.lines <- sc.Text()
		}
		close(p.lines)
		p.err = cmd.Wait() // after the last read from the pipe, as Wait requires
		close(p.done)
	}()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			_ = cmd.Process.Kill() // this test's own process, by its handle
			<-p.done
		}
	})
	return p
}

// waitLines reads stdout until a line starting with each prefix has been
// seen, and returns the rest of each such line.
func (p *proc) waitLines(t *testing.T, prefixes ...string) map[string]string {
	t.Helper()
	found := map[string]string{}
	deadline := time.After(30 * time.Second)
	for len(found) < len(prefixes) {
		select {
		case line, ok := <-p.lines:
			if !ok {
				<-p.done
				t.Fatalf("the process exited (%v) before printing %q; stderr:\n%s", p.err, prefixes, p.stderr)
			}
			for _, pre := range prefixes {
				if rest, has := strings.CutPrefix(line, pre); has {
					found[pre] = strings.TrimSpace(rest)
				}
			}
		case <-deadline:
			t.Fatalf("no %q on stdout; stderr:\n%s", prefixes, p.stderr)
		}
	}
	return found
}

// exitCode waits for the process to exit within limit and returns its code.
func (p *proc) exitCode(t *testing.T, limit time.Duration) int {
	t.Helper()
	select {
	case <-p.done:
	case <-time.After(limit):
		t.Fatalf("the process did not exit within %v; stderr:\n%s", limit, p.stderr)
	}
	var exit *exec.ExitError
	if errors.As(p.err, &exit) {
		return exit.ExitCode()
	}
	if p.err != nil {
		t.Fatalf("wait: %v", p.err)
	}
	return 0
}

// post sends a GraphQL query over a fresh connection and decodes the answer.
// wrote, when not nil, is closed once the whole request has been written.
func post(t *testing.T, endpoint, token, query string, wrote chan<- struct{}) (int, map[string]any, error) {
	body, _ := json.Marshal(map[string]any{"query": query})
	ctx := context.Background()
	if wrote != nil {
		var once sync.Once
		ctx = httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{
			WroteRequest: func(httptrace.WroteRequestInfo) { once.Do(func() { close(wrote) }) },
		})
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, bytes.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: time.Minute}
	resp, err := client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	var out map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		return resp.StatusCode, nil, err
	}
	return resp.StatusCode, out, nil
}

// snapshot is the full snapshot of the newest contacts, as GraphiQL's example.
const snapshot = `{
  contacts(first: %d) {
    totalCount
    nodes { id name email tags customFields { fieldId value } tasks { id title } notes { id body } appointments { id startTime } }
  }
}`

func snapshotQuery(n int) string { return fmt.Sprintf(snapshot, n) }

// wantSnapshot checks a snapshot answer.
func wantSnapshot(t *testing.T, status int, out map[string]any, n int) {
	t.Helper()
	if status != http.StatusOK || out["errors"] != nil {
		t.Fatalf("status %d, answer %v", status, out)
	}
	data, _ := out["data"].(map[string]any)
	contacts, _ := data["contacts"].(map[string]any)
	nodes, _ := contacts["nodes"].([]any)
	if len(nodes) != n || contacts["totalCount"] == nil {
		t.Fatalf("want %d contacts, got %v", n, out)
	}
	for _, node := range nodes {
		c, _ := node.(map[string]any)
		if c["id"] == nil || c["tasks"] == nil || c["notes"] == nil || c["appointments"] == nil {
			t.Errorf("incomplete snapshot: %v", c)
		}
	}
}

func TestBinary(t *testing.T) {
	bin := buildGateway(t)

	t.Run("serves, then drains in-flight requests on SIGTERM", func(t *testing.T) {
		t.Parallel()
		p := start(t, bin, nil, "-addr", "127.0.0.1:0", "-sandbox-latency", "1500ms", "-shutdown-timeout", "20s")
		banner := p.waitLines(t, "GraphQL endpoint:", "Sandbox token:")
		endpoint, token := banner["GraphQL endpoint:"], banner["Sandbox token:"]
		if !strings.HasPrefix(endpoint, "http://127.0.0.1:") || !strings.HasSuffix(endpoint, server.GraphQLPath) ||
			strings.HasSuffix(endpoint, ":0"+server.GraphQLPath) {
			t.Fatalf("endpoint %q: want the real loopback address", endpoint)
		}
		if token == "" {
			t.Fatal("no sandbox token printed")
		}
		base := strings.TrimSuffix(endpoint, server.GraphQLPath)
		addr := strings.TrimPrefix(base, "http://")

		// Ready: bounded by a deadline, never timed.
		deadline := time.Now().Add(20 * time.Second)
		for {
			resp, err := http.Get(base + server.ReadyPath)
			if err == nil {
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					break
				}
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s never answered 200 (last: %v); stderr:\n%s", server.ReadyPath, err, p.stderr)
			}
			time.Sleep(50 * time.Millisecond)
		}
		if resp, err := http.Get(base + server.HealthPath); err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("%s: %v", server.HealthPath, err)
		} else {
			resp.Body.Close()
		}

		status, out, err := post(t, endpoint, token, snapshotQuery(1), nil)
		if err != nil {
			t.Fatalf("snapshot: %v; stderr:\n%s", err, p.stderr)
		}
		wantSnapshot(t, status, out, 1)

		// A query the gateway cannot answer from anything it has seen, in
		// flight when SIGTERM arrives.
		type result struct {
			status int
			out    map[string]any
			err    error
		}
		wrote := make(chan struct{})
		res := make(chan result, 1)
		go func() {
			s, o, err := post(t, endpoint, token, snapshotQuery(3), wrote)
			res <- result{s, o, err}
		}()
		select {
		case <-wrote:
		case r := <-res:
			t.Fatalf("the request failed before it was sent: %+v", r)
		case <-time.After(20 * time.Second):
			t.Fatal("the request was never sent")
		}
		time.Sleep(300 * time.Millisecond) // let the gateway take it up; not an assertion
		select {
		case r := <-res:
			// Not a failure (no timing is asserted), but then this run did
			// not exercise draining.
			t.Logf("the query finished before SIGTERM: %+v", r)
			res <- r
		default:
		}
		if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}

		var r result
		select {
		case r = <-res:
		case <-time.After(40 * time.Second):
			t.Fatalf("the in-flight query never completed; stderr:\n%s", p.stderr)
		}
		if r.err != nil {
			t.Fatalf("in-flight query failed during shutdown: %v; stderr:\n%s", r.err, p.stderr)
		}
		wantSnapshot(t, r.status, r.out, 3)

		if code := p.exitCode(t, 30*time.Second); code != 0 {
			t.Errorf("exit status %d after SIGTERM, want 0; stderr:\n%s", code, p.stderr)
		}
		if !strings.Contains(p.stderr.String(), "shutting down") {
			t.Errorf("no shutdown log line; stderr:\n%s", p.stderr)
		}
		if conn, err := net.DialTimeout("tcp", addr, 5*time.Second); err == nil {
			conn.Close()
			t.Errorf("%s still accepts connections after shutdown", addr)
		}
	})

	t.Run("schema", func(t *testing.T) {
		t.Parallel()
		cmd := exec.Command(bin, "schema")
		cmd.Env = cleanEnv()
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("gateway schema: %v", err)
		}
		for _, want := range []string{"type Query", "type Mutation", "contactsLegacyList"} {
			if !bytes.Contains(out, []byte(want)) {
				t.Errorf("schema lacks %q", want)
			}
		}
		file, err := os.ReadFile(filepath.Join("..", "..", "schema.graphqls"))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(out, file) {
			t.Error("gateway schema differs from schema.graphqls")
		}
		// -h is help, not the schema; an argument is refused.
		cmd = exec.Command(bin, "schema", "-h")
		cmd.Env = cleanEnv()
		help, err := cmd.CombinedOutput()
		if err != nil || !bytes.Contains(help, []byte("Usage: gateway schema")) || bytes.Contains(help, []byte("type Query")) {
			t.Errorf("gateway schema -h: %v\n%s", err, help)
		}
		cmd = exec.Command(bin, "schema", "extra")
		cmd.Env = cleanEnv()
		if out, err := cmd.CombinedOutput(); err == nil || !bytes.Contains(out, []byte(`"extra"`)) {
			t.Errorf("gateway schema extra: %v\n%s", err, out)
		}
	})

	t.Run("help", func(t *testing.T) {
		t.Parallel()
		for _, args := range [][]string{{"-h"}, {"--help"}, {"sandbox", "-h"}} {
			cmd := exec.Command(bin, args...)
			cmd.Env = cleanEnv()
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Errorf("gateway %v: %v\n%s", args, err, out)
			}
			want := "GATEWAY_UPSTREAM_URL"
			if args[0] == "sandbox" {
				want = "-latency"
			}
			if !bytes.Contains(out, []byte(want)) {
				t.Errorf("gateway %v does not mention %s:\n%s", args, want, out)
			}
		}
	})

	t.Run("bad settings", func(t *testing.T) {
		t.Parallel()
		tests := map[string]struct {
			args []string
			env  []string
			want []string // the message names the setting: any of these
		}{
			"ftp upstream":             {args: []string{"-upstream-url", "ftp://x"}, want: []string{"-upstream-url"}},
			"addr from env":            {env: []string{"GATEWAY_ADDR=nonsense"}, want: []string{"GATEWAY_ADDR", "-addr"}},
			"negative request timeout": {args: []string{"-request-timeout", "-1s"}, want: []string{"-request-timeout"}},
			"bad env duration":         {env: []string{"GATEWAY_UPSTREAM_TIMEOUT=soon"}, want: []string{"GATEWAY_UPSTREAM_TIMEOUT"}},
			"unknown flag":             {args: []string{"-upstream"}, want: []string{"-upstream"}},
			"unknown argument":         {args: []string{"serve"}, want: []string{`"serve"`}},
			"bad port":                 {args: []string{"-addr", "127.0.0.1:99999"}, want: []string{"-addr"}},
			"bad fault kind":           {args: []string{"-sandbox-fault-kinds", "meteor"}, want: []string{"-sandbox-fault-kinds"}},
		}
		for name, tc := range tests {
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				defer cancel()
				cmd := exec.CommandContext(ctx, bin, append([]string{"-addr", "127.0.0.1:0"}, tc.args...)...)
				if name == "addr from env" {
					cmd = exec.CommandContext(ctx, bin, tc.args...)
				}
				cmd.Env = cleanEnv(tc.env...)
				out, err := cmd.CombinedOutput()
				if ctx.Err() != nil {
					t.Fatalf("the gateway started with a bad setting:\n%s", out)
				}
				var exit *exec.ExitError
				if !errors.As(err, &exit) || exit.ExitCode() == 0 {
					t.Fatalf("err = %v, want a non-zero exit\n%s", err, out)
				}
				named := slices.ContainsFunc(tc.want, func(w string) bool { return bytes.Contains(out, []byte(w)) })
				if !named {
					t.Errorf("the message does not name the setting (%v):\n%s", tc.want, out)
				}
				if bytes.Contains(out, []byte("goroutine ")) {
					t.Errorf("a panic:\n%s", out)
				}
			})
		}
	})

	t.Run("sandbox subcommand", func(t *testing.T) {
		t.Parallel()
		p := start(t, bin, nil, "sandbox", "-addr", "127.0.0.1:0", "-contacts", "5")
		banner := p.waitLines(t, "Sandbox Contacts API:", "Locations:", "Token (read+write, first location):")
		base := strings.TrimSuffix(banner["Sandbox Contacts API:"], "/")
		token := banner["Token (read+write, first location):"]
		locs := strings.Fields(strings.Trim(banner["Locations:"], "[]"))
		if !strings.HasPrefix(base, "http://127.0.0.1:") || strings.HasSuffix(base, ":0") || token == "" || len(locs) == 0 {
			t.Fatalf("banner = %v", banner)
		}
		call := func(method, path, tok string, body any) (int, map[string]any) {
			t.Helper()
			var rd io.Reader
			if body != nil {
				b, _ := json.Marshal(body)
				rd = bytes.NewReader(b)
			}
			req, _ := http.NewRequest(method, base+path, rd)
			req.Header.Set("Version", upstream.APIVersion)
			req.Header.Set("Accept", "application/json")
			if body != nil {
				req.Header.Set("Content-Type", "application/json")
			}
			if tok != "" {
				req.Header.Set("Authorization", "Bearer "+tok)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatalf("%s %s: %v; stderr:\n%s", method, path, err, p.stderr)
			}
			defer resp.Body.Close()
			var out map[string]any
			_ = json.NewDecoder(resp.Body).Decode(&out)
			return resp.StatusCode, out
		}
		status, out := call(http.MethodPost, "/contacts/search", token, map[string]any{"locationId": locs[0], "pageLimit": 1})
		contacts, _ := out["contacts"].([]any)
		if status != http.StatusOK || len(contacts) != 1 || out["total"] != float64(5) {
			t.Fatalf("search: %d %v", status, out)
		}
		id, _ := contacts[0].(map[string]any)["id"].(string)
		status, out = call(http.MethodGet, "/contacts/"+id, token, nil)
		got, _ := out["contact"].(map[string]any)
		if status != http.StatusOK || got["id"] != id || got["locationId"] != locs[0] {
			t.Errorf("GET /contacts/%s: %d %v", id, status, out)
		}
		if status, _ := call(http.MethodGet, "/contacts/"+id, "", nil); status != http.StatusUnauthorized {
			t.Errorf("GET without a token: %d, want 401", status)
		}
		if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		if code := p.exitCode(t, 30*time.Second); code != 0 {
			t.Errorf("exit status %d after SIGTERM, want 0; stderr:\n%s", code, p.stderr)
		}
	})
}

func TestManagedModeConfig(t *testing.T) {
	key := strings.Repeat("ab", 32)
	base := map[string]string{
		"GATEWAY_AUTH_MODE": "managed", "GATEWAY_OAUTH_CLIENT_ID": "id", "GATEWAY_OAUTH_CLIENT_SECRET": "secret",
		"GATEWAY_OAUTH_REDIRECT_URL": "https://gw.example.com/oauth/callback",
		"GATEWAY_OAUTH_STORE_KEY":    key, "GATEWAY_OAUTH_STATE_KEY": key,
		// Against HighLevel: with the embedded sandbox the app's settings are generated.
		"GATEWAY_UPSTREAM_URL": "https://services.leadconnectorhq.com/",
	}
	with := func(k, v string) map[string]string {
		m := map[string]string{}
		for a, b := range base {
			m[a] = b
		}
		if v == "" {
			delete(m, k)
		} else {
			m[k] = v
		}
		return m
	}
	if _, err := parseConfig(nil, env(base), devNull(t)); err != nil {
		t.Fatalf("complete managed config refused: %v", err)
	}
	for name, tc := range map[string]struct {
		env  map[string]string
		want string
	}{
		"no client secret": {env: with("GATEWAY_OAUTH_CLIENT_SECRET", ""), want: "GATEWAY_OAUTH_CLIENT_SECRET"},
		"short store key":  {env: with("GATEWAY_OAUTH_STORE_KEY", "abcd"), want: "-oauth-store-key"},
		"no state key":     {env: with("GATEWAY_OAUTH_STATE_KEY", ""), want: "-oauth-state-key"},
		"unknown mode":     {env: with("GATEWAY_AUTH_MODE", "magic"), want: "-auth-mode"},
		"both JWT sources": {env: with("GATEWAY_JWT_JWKS_URL", "https://idp.example.com/jwks"), want: ""},
	} {
		t.Run(name, func(t *testing.T) {
			e := tc.env
			if name == "both JWT sources" {
				e["GATEWAY_JWT_PUBLIC_KEY"] = "/tmp/key.pem"
				tc.want = "exclude each other"
			}
			_, err := parseConfig(nil, env(e), devNull(t))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want one mentioning %q", err, tc.want)
			}
		})
	}
}

func TestKeysSubcommand(t *testing.T) {
	store := filepath.Join(t.TempDir(), "keys.json")
	out, errOut := tempFile(t), tempFile(t)
	if err := run(context.Background(), []string{"keys", "create", "-store", store, "-location", "loc1", "-role", "read", "-name", "dash"}, out, errOut); err != nil {
		t.Fatalf("keys create: %v", err)
	}
	b, _ := os.ReadFile(out.Name())
	if !strings.Contains(string(b), "gk_") {
		t.Errorf("keys create printed no key: %s", b)
	}
}

func tempFile(t *testing.T) *os.File {
	t.Helper()
	f, err := os.CreateTemp(t.TempDir(), "out")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}
