// Command bench measures the gateway against the sandbox on loopback and
// prints a table. Every figure is measured in the same run as its baseline:
// latencies against the upstream round trip, throughput against a naive
// baseline (naive.go: the same schema and GraphQL handler, one upstream call
// per field, in sequence, no loaders and no cache) and against a bare
// net/http handler that returns the same bytes.
//
//	go run ./cmd/bench            # the full run (about a minute)
//	go run ./cmd/bench -short     # a few seconds, as CI runs it
//	go run ./cmd/bench -mix-only -mix-gateway-flags '-request-timeout=5s'
//	go run ./cmd/bench -warm-only -warm-baseline-bin /tmp/gw-878212e
//
// The budget mix (mix.go) then measures the cmd/gateway binary under
// HighLevel's rate limit with a realistic load, against a baseline gateway
// started with other flags in the same run. The warm comparison (warm.go)
// measures warm snapshot throughput of the cmd/gateway binary against a
// baseline binary, in rounds taking turns.
//
// The gateways and the bare handler run as child processes (this binary,
// re-executed), so that they are measured alike and peak RSS is the
// gateway's own; the sandbox and the load generator run in this process.
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
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"text/tabwriter"
	"time"

	"github.com/ghl-graphql/gateway/auth"
	"github.com/ghl-graphql/gateway/server"
	"github.com/ghl-graphql/gateway/upstream"
	"github.com/ghl-graphql/gateway/upstream/sandbox"
)

// snapshotQuery is the full snapshot of one contact.
const snapshotQuery = `query($id: ID!) { contact(id: $id) {
  id name firstName lastName email phone companyName tags dnd
  customFields { fieldId value } dateAdded dateUpdated
  tasks { id title body dueDate completed }
  notes { id body dateAdded }
  appointments { id title startTime endTime status }
} }`

// listQuery is a page of 20 contacts with their tasks and notes.
const listQuery = `{ contacts(first: 20) { totalCount edges { cursor node {
  id name email tags tasks { id title dueDate completed } notes { id body } } } } }`

type options struct {
	latency     time.Duration
	samples     int
	duration    time.Duration
	concurrency int
	conns       int
}

func main() {
	serve := flag.String("serve", "", "internal: run as a child server (gateway, naive or bare)")
	upstreamURL := flag.String("upstream", "", "internal: upstream URL of a child gateway")
	bodyFile := flag.String("body", "", "internal: response body file of the bare child")
	short := flag.Bool("short", false, "a few seconds in all, for CI: fewer samples, shorter runs")
	var o options
	flag.DurationVar(&o.latency, "latency", 50*time.Millisecond, "latency the sandbox adds to every answer (the upstream round trip)")
	flag.IntVar(&o.samples, "samples", 40, "latency samples per figure")
	flag.DurationVar(&o.duration, "duration", 5*time.Second, "length of each throughput run")
	flag.IntVar(&o.concurrency, "concurrency", 32, "concurrent clients of the throughput runs")
	flag.IntVar(&o.conns, "conns", 1000, "concurrent connections of the peak-RSS run")

	// The budget mix (issue 16).
	mixOn := flag.Bool("mix", true, "run the budget mix after the figures above")
	mixOnly := flag.Bool("mix-only", false, "run only the budget mix")
	var m mixOptions
	flag.IntVar(&m.contacts, "mix-contacts", 1000, "mix: contacts seeded in the sandbox")
	flag.Uint64Var(&m.seed, "mix-seed", 1, "mix: seed of the sandbox data and of every client's draws")
	flag.Float64Var(&m.zipfS, "mix-zipf", 1.1, "mix: Zipf exponent s (> 1) of contact popularity; larger means fewer, hotter contacts")
	shapes := flag.String("mix-shapes", "1,1,1", "mix: relative frequency of the snapshot, the contact with tasks and the search of 10")
	flag.IntVar(&m.conns, "mix-conns", 50, "mix: client connections of the closed loop")
	flag.DurationVar(&m.duration, "mix-duration", 20*time.Second, "mix: length of each loop (queries in flight at the end run to their outcome)")
	flag.Float64Var(&m.rate, "mix-rate", 200, "mix: arrivals per second of the open loop; 0 skips it")
	flag.IntVar(&m.openConns, "mix-open-conns", 256, "mix: most client connections of the open loop (later arrivals queue in the client, and their wait counts)")
	flag.DurationVar(&m.clientTimeout, "mix-client-timeout", 10*time.Second, "mix: a query without an answer after this is a client timeout")
	flag.IntVar(&m.limitMax, "mix-limit", 100, "mix: sandbox calls per -mix-limit-interval and location (HighLevel: 100 per 10 s)")
	flag.DurationVar(&m.limitInterval, "mix-limit-interval", 10*time.Second, "mix: the sandbox rate limit's window")
	flag.StringVar(&m.gatewayBin, "mix-gateway-bin", "", "mix: gateway binary under test; empty: go build ./cmd/gateway of this module")
	flag.StringVar(&m.baselineBin, "mix-baseline-bin", "", "mix: baseline gateway binary (e.g. one built from main); empty: the same as -mix-gateway-bin's default")
	gwFlags := flag.String("mix-gateway-flags", "", "mix: flags of the gateway under test, as one shell-quoted string, e.g. '-budget-max-wait=2s'")
	baseFlags := flag.String("mix-baseline-flags", "-request-timeout 2s", "mix: flags of the baseline gateway")
	var ro replicaOptions
	replicasOnly := flag.Bool("replicas-only", false, "run only the replica figures (issue 13: what Redis costs and saves; needs -redis-url)")
	flag.StringVar(&ro.redisURL, "redis-url", os.Getenv("REDIS_URL"), "Redis of the replica figures (default $REDIS_URL); empty skips them")
	flag.IntVar(&ro.contacts, "replicas-snapshots", 20, "replicas: distinct cold snapshots, each asked three times")
	// The warm comparison (warm.go, issue 16: warm throughput unchanged).
	warmOnly := flag.Bool("warm-only", false, "run only the warm comparison: warm snapshot throughput of -warm-baseline-bin and of the gateway under test, in rounds taking turns")
	var wo warmOptions
	flag.StringVar(&wo.gatewayBin, "warm-gateway-bin", "", "warm: gateway binary under test; empty: go build ./cmd/gateway of this module")
	flag.StringVar(&wo.baselineBin, "warm-baseline-bin", "", "warm: baseline gateway binary (e.g. one built from the commit a goal was set against); empty: the same as -warm-gateway-bin's default. Set, the full run ends with the warm comparison")
	warmGwFlags := flag.String("warm-gateway-flags", "", "warm: flags of the gateway under test, as one shell-quoted string")
	warmBaseFlags := flag.String("warm-baseline-flags", "", "warm: flags of the baseline gateway")
	flag.IntVar(&wo.rounds, "warm-rounds", 5, "warm: rounds; each runs both gateways for -duration, taking turns at going first")
	flag.Parse()

	if *serve != "" {
		if err := runChild(*serve, *upstreamURL, *bodyFile); err != nil {
			fmt.Fprintln(os.Stderr, "bench child:", err)
			os.Exit(1)
		}
		return
	}
	if *short {
		o.samples, o.duration, o.conns = 10, time.Second, 300
		m.duration, m.clientTimeout, m.rate = 3*time.Second, 2*time.Second, min(m.rate, 100)
	}
	var err error
	m.latency = o.latency
	if m.weights, err = parseWeights(*shapes); err == nil {
		if m.gatewayFlags, err = splitFlags(*gwFlags); err == nil {
			m.baselineFlags, err = splitFlags(*baseFlags)
		}
	}
	if err == nil {
		err = m.validate()
	}
	if err == nil {
		if wo.gatewayFlags, err = splitFlags(*warmGwFlags); err == nil {
			wo.baselineFlags, err = splitFlags(*warmBaseFlags)
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(2)
	}
	ro.samples, ro.duration, ro.concurrency = o.samples*5, o.duration, o.concurrency
	if *short {
		ro.contacts = min(ro.contacts, 5)
	}
	wo.duration, wo.concurrency, wo.latency = o.duration, o.concurrency, o.latency
	if *warmOnly {
		if err := runWarm(wo); err != nil {
			fmt.Fprintln(os.Stderr, "bench:", err)
			os.Exit(1)
		}
		return
	}
	if *replicasOnly {
		if err := runReplicas(ro); err != nil {
			fmt.Fprintln(os.Stderr, "bench:", err)
			os.Exit(1)
		}
		return
	}
	if !*mixOnly {
		if err := run(o); err != nil {
			fmt.Fprintln(os.Stderr, "bench:", err)
			os.Exit(1)
		}
	}
	if *mixOn || *mixOnly {
		if err := runMix(m); err != nil {
			fmt.Fprintln(os.Stderr, "bench:", err)
			os.Exit(1)
		}
	}
	if !*mixOnly && ro.redisURL != "" {
		if err := runReplicas(ro); err != nil {
			fmt.Fprintln(os.Stderr, "bench:", err)
			os.Exit(1)
		}
	}
	if !*mixOnly && wo.baselineBin != "" {
		if err := runWarm(wo); err != nil {
			fmt.Fprintln(os.Stderr, "bench:", err)
			os.Exit(1)
		}
	}
}

// row is one line of the result table.
type row struct {
	figure, value, baseline, ratio, goal string
}

func run(o options) error {
	sb, err := sandbox.New(sandbox.Config{ContactsPerLocation: 400})
	if err != nil {
		return err
	}
	sb.SetLatency(o.latency, 0)
	upURL, sbSrv, err := serveLoopback(sb)
	if err != nil {
		return err
	}
	defer sbSrv.Close()
	token := sb.DefaultToken()
	ids := sb.ContactIDs(sb.Locations()[0])

	gw, err := startChild("gateway", upURL, "")
	if err != nil {
		return err
	}
	defer gw.stop()

	c := newClient(o.concurrency)
	var rows []row
	add := func(r row) {
		rows = append(rows, r)
		fmt.Fprintf(os.Stderr, "  %s: %s\n", r.figure, r.value)
	}
	fmt.Fprintf(os.Stderr, "bench: sandbox latency %v, %d samples, %v runs, %d clients\n", o.latency, o.samples, o.duration, o.concurrency)

	// 0. The upstream round trip, the baseline of the latency figures.
	rtt, err := upstreamRTT(upURL, token, ids, o.samples)
	if err != nil {
		return err
	}
	add(row{figure: "upstream round trip p50 / p99", value: fmtDur(rtt.p(50)) + " / " + fmtDur(rtt.p(99))})

	// 1. Cold snapshot latency: Cache-Control: no-cache makes every read go upstream.
	next := 0
	pick := func() string { id := ids[next%len(ids)]; next++; return id }
	var snap durations
	for range o.samples {
		d, _, err := c.query(gw.url, token, snapshotQuery, map[string]any{"id": pick()}, true)
		if err != nil {
			return fmt.Errorf("cold snapshot: %w", err)
		}
		snap = append(snap, d)
	}
	add(row{figure: "cold snapshot p50 / p99", value: fmtDur(snap.p(50)) + " / " + fmtDur(snap.p(99)),
		baseline: "round trip p50", ratio: fmtX(snap.p(50), rtt.p(50)) + " / " + fmtX(snap.p(99), rtt.p(50)), goal: "≤ 1.2×"})

	// 2. Cold list of 20 contacts with tasks and notes: the search, then all nested calls at once.
	var list durations
	for range max(o.samples/2, 5) {
		d, _, err := c.query(gw.url, token, listQuery, nil, true)
		if err != nil {
			return fmt.Errorf("cold list: %w", err)
		}
		list = append(list, d)
	}
	add(row{figure: "cold list of 20 (tasks, notes) p50 / p99", value: fmtDur(list.p(50)) + " / " + fmtDur(list.p(99)),
		baseline: "round trip p50", ratio: fmtX(list.p(50), rtt.p(50)) + " / " + fmtX(list.p(99), rtt.p(50)), goal: "≤ 2.3×"})

	// 3. Upstream calls: cold, warm, and 100 concurrent identical cold snapshots.
	id := pick()
	sb.ResetCounters()
	if _, _, err := c.query(gw.url, token, snapshotQuery, map[string]any{"id": id}, false); err != nil {
		return err
	}
	add(row{figure: "upstream calls per cold snapshot", value: strconv.FormatInt(sb.TotalCalls(), 10), goal: "4"})
	sb.ResetCounters()
	if _, _, err := c.query(gw.url, token, snapshotQuery, map[string]any{"id": id}, false); err != nil {
		return err
	}
	add(row{figure: "upstream calls per warm snapshot", value: strconv.FormatInt(sb.TotalCalls(), 10), goal: "0"})
	id = pick()
	sb.ResetCounters()
	burst := newClient(100)
	var wg sync.WaitGroup
	var failures atomic.Int64
	for range 100 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, _, err := burst.query(gw.url, token, snapshotQuery, map[string]any{"id": id}, false); err != nil {
				failures.Add(1)
			}
		}()
	}
	wg.Wait()
	if failures.Load() > 0 {
		return fmt.Errorf("%d of 100 concurrent snapshots failed", failures.Load())
	}
	add(row{figure: "upstream calls, 100 concurrent identical cold snapshots", value: strconv.FormatInt(sb.TotalCalls(), 10), goal: "4 in all"})

	// 4. Warm snapshot throughput against (a) the naive gateway and (b) a bare handler.
	hot := pick()
	_, body, err := c.query(gw.url, token, snapshotQuery, map[string]any{"id": hot}, false)
	if err != nil {
		return err
	}
	warm, err := throughput(c, gw.url, token, hot, o)
	if err != nil {
		return err
	}
	naive, err := startChild("naive", upURL, "")
	if err != nil {
		return err
	}
	naiveRPS, err := throughput(c, naive.url, token, hot, o)
	naive.stop()
	if err != nil {
		return err
	}
	bodyPath, err := writeTemp(body)
	if err != nil {
		return err
	}
	defer os.Remove(bodyPath)
	bare, err := startChild("bare", "", bodyPath)
	if err != nil {
		return err
	}
	bareRPS, err := throughput(c, bare.url, token, hot, o)
	bare.stop()
	if err != nil {
		return err
	}
	add(row{figure: "warm snapshot throughput (req/s)", value: fmt.Sprintf("%.0f", warm),
		baseline: fmt.Sprintf("naive %.0f", naiveRPS), ratio: fmt.Sprintf("%.1f×", warm/naiveRPS), goal: "≥ 10×"})
	add(row{figure: "warm snapshot throughput (req/s)", value: fmt.Sprintf("%.0f", warm),
		baseline: fmt.Sprintf("bare net/http %.0f", bareRPS), ratio: fmt.Sprintf("%.2f×", warm/bareRPS), goal: "≥ 0.5×, ≥ 10,000 req/s"})

	// 5. Allocations per warm request (in-process, no network), and peak RSS
	// of the gateway process under many connections.
	allocs, bytesPerOp, err := warmAllocs(upURL, token, hot)
	if err != nil {
		return err
	}
	add(row{figure: "allocations per warm request", value: fmt.Sprintf("%d allocs, %d B", allocs, bytesPerOp)})
	rss, err := peakRSS(gw, token, hot, o)
	if err != nil {
		return err
	}
	add(row{figure: fmt.Sprintf("gateway peak RSS, %d concurrent connections", o.conns), value: fmt.Sprintf("%.1f MB", float64(rss)/1e6), goal: "< 150 MB"})

	printTable(os.Stdout, o, rows)
	return nil
}

func printTable(w io.Writer, o options, rows []row) {
	fmt.Fprintf(w, "\nGateway benchmark: sandbox upstream with %v latency on loopback; %d clients, %v per throughput run.\n\n", o.latency, o.concurrency, o.duration)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "| figure\t| measured\t| baseline\t| ratio\t| goal\t|")
	fmt.Fprintln(tw, "|---\t|---\t|---\t|---\t|---\t|")
	for _, r := range rows {
		fmt.Fprintf(tw, "| %s\t| %s\t| %s\t| %s\t| %s\t|\n", r.figure, r.value, r.baseline, r.ratio, r.goal)
	}
	tw.Flush()
}

// durations are latency samples.
type durations []time.Duration

// p returns the q-th percentile (nearest rank).
func (d durations) p(q int) time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := slices.Clone(d)
	slices.Sort(s)
	i := (q*len(s)+99)/100 - 1
	return s[max(0, min(i, len(s)-1))]
}

func fmtDur(d time.Duration) string { return d.Round(100 * time.Microsecond).String() }

func fmtX(d, base time.Duration) string {
	if base == 0 {
		return "-"
	}
	return fmt.Sprintf("%.2f×", float64(d)/float64(base))
}

// upstreamRTT times single get-contact calls straight to the sandbox.
func upstreamRTT(upURL, token string, ids []string, n int) (durations, error) {
	client, err := upstream.NewClient(upstream.WithBaseURL(upURL), upstream.WithTokenSource(auth.NewBearer(token, "").TokenSource()))
	if err != nil {
		return nil, err
	}
	// One call first, so that connection set-up is not counted.
	if _, _, err := client.Contacts.Get(context.Background(), ids[0]); err != nil {
		return nil, err
	}
	var out durations
	for i := range n {
		start := time.Now()
		if _, _, err := client.Contacts.Get(context.Background(), ids[i%len(ids)]); err != nil {
			return nil, err
		}
		out = append(out, time.Since(start))
	}
	return out, nil
}

// client is the load generator's HTTP client.
type client struct{ hc *http.Client }

func newClient(conns int) *client {
	t := &http.Transport{MaxIdleConns: conns, MaxIdleConnsPerHost: conns, IdleConnTimeout: time.Minute}
	return &client{hc: &http.Client{Transport: t, Timeout: time.Minute}}
}

// query posts a GraphQL request and returns its duration and body; an
// answer with errors is an error.
func (c *client) query(url, token, q string, vars map[string]any, noCache bool) (time.Duration, []byte, error) {
	payload, _ := json.Marshal(map[string]any{"query": q, "variables": vars})
	req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(payload))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	if noCache {
		req.Header.Set("Cache-Control", "no-cache")
	}
	start := time.Now()
	resp, err := c.hc.Do(req)
	if err != nil {
		return 0, nil, err
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	d := time.Since(start)
	if err != nil {
		return 0, nil, err
	}
	if resp.StatusCode != http.StatusOK || bytes.Contains(body, []byte(`"errors"`)) {
		return 0, nil, fmt.Errorf("status %d: %.300s", resp.StatusCode, body)
	}
	return d, body, nil
}

// throughput runs o.concurrency clients sending the snapshot query for
// o.duration and returns completed requests per second.
func throughput(c *client, url, token, id string, o options) (float64, error) {
	n, elapsed, err := throughputCount(c, url, token, snapshotQuery, id, o)
	if err != nil {
		return 0, err
	}
	return float64(n) / elapsed.Seconds(), nil
}

// throughputCount is throughput's count, for any query with variable id:
// the requests completed and the time they took.
func throughputCount(c *client, url, token, query, id string, o options) (int64, time.Duration, error) {
	payload, _ := json.Marshal(map[string]any{"query": query, "variables": map[string]any{"id": id}})
	var done atomic.Int64
	var firstErr atomic.Value
	ctx, cancel := context.WithTimeout(context.Background(), o.duration)
	defer cancel()
	var wg sync.WaitGroup
	start := time.Now()
	for range o.concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				req, _ := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(payload))
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set("Authorization", "Bearer "+token)
				resp, err := c.hc.Do(req)
				if err != nil {
					if ctx.Err() == nil {
						firstErr.CompareAndSwap(nil, err)
					}
					return
				}
				_, err = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if err == nil && resp.StatusCode == http.StatusOK {
					done.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	if err, _ := firstErr.Load().(error); err != nil {
		return 0, 0, err
	}
	return done.Load(), elapsed, nil
}

// warmAllocs measures allocations of one warm snapshot request through the
// gateway's handler in this process (no network, no load generator).
func warmAllocs(upURL, token, id string) (allocs, bytesPerOp int64, err error) {
	client, err := upstream.NewClient(upstream.WithBaseURL(upURL))
	if err != nil {
		return 0, 0, err
	}
	h, err := server.New(server.Config{Client: client})
	if err != nil {
		return 0, 0, err
	}
	payload, _ := json.Marshal(map[string]any{"query": snapshotQuery, "variables": map[string]any{"id": id}})
	do := func() int {
		req, _ := http.NewRequest(http.MethodPost, server.GraphQLPath, bytes.NewReader(payload))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+token)
		rec := &discardWriter{h: http.Header{}}
		h.ServeHTTP(rec, req)
		return rec.status
	}
	if st := do(); st != http.StatusOK {
		return 0, 0, fmt.Errorf("warm-up status %d", st)
	}
	res := testing.Benchmark(func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			do()
		}
	})
	return res.AllocsPerOp(), res.AllocedBytesPerOp(), nil
}

// discardWriter is a ResponseWriter that keeps only the status.
type discardWriter struct {
	h      http.Header
	status int
}

func (d *discardWriter) Header() http.Header { return d.h }
func (d *discardWriter) Write(b []byte) (int, error) {
	if d.status == 0 {
		d.status = http.StatusOK
	}
	return len(b), nil
}
func (d *discardWriter) WriteHeader(s int) { d.status = s }

// peakRSS keeps o.conns connections busy with warm snapshots, then reads
// the gateway process's peak resident set (VmHWM).
func peakRSS(gw *child, token, id string, o options) (int64, error) {
	c := newClient(o.conns)
	oo := o
	oo.concurrency = o.conns
	oo.duration = max(o.duration/2, time.Second)
	if _, err := throughput(c, gw.url, token, id, oo); err != nil {
		return 0, err
	}
	return vmHWM(gw.cmd.Process.Pid)
}

func vmHWM(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, fmt.Errorf("peak RSS: %w (needs Linux /proc)", err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			return kb * 1024, err
		}
	}
	return 0, errors.New("peak RSS: no VmHWM in /proc status")
}

func writeTemp(b []byte) (string, error) {
	f, err := os.CreateTemp("", "bench-body-*.json")
	if err != nil {
		return "", err
	}
	defer f.Close()
	_, err = f.Write(b)
	return f.Name(), err
}

// child is a server process started by startChild.
type child struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	url   string
}

// startChild re-executes this binary as a server and waits for its address.
func startChild(kind, upURL, bodyPath string) (*child, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(self, "-serve", kind, "-upstream", upURL, "-body", bodyPath)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	stdin, err := cmd.StdinPipe() // closed when we exit: the child follows
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		_ = cmd.Process.Kill()
		return nil, fmt.Errorf("child %s: %w", kind, err)
	}
	addr := strings.TrimSpace(strings.TrimPrefix(line, "ADDR "))
	return &child{cmd: cmd, stdin: stdin, url: "http://" + addr + server.GraphQLPath}, nil
}

func (c *child) stop() {
	_ = c.stdin.Close()
	_ = c.cmd.Process.Kill()
	_ = c.cmd.Wait()
}

// runChild serves one of the measured servers until stdin closes.
func runChild(kind, upURL, bodyPath string) error {
	var h http.Handler
	switch kind {
	case "gateway", "naive":
		client, err := upstream.NewClient(upstream.WithBaseURL(upURL))
		if err != nil {
			return err
		}
		if kind == "naive" {
			h, err = newNaiveHandler(client) // naive.go
		} else {
			h, err = server.New(server.Config{Client: client, Logger: slog.New(slog.DiscardHandler)})
		}
		if err != nil {
			return err
		}
	case "bare":
		body, err := os.ReadFile(bodyPath)
		if err != nil {
			return err
		}
		// What a hand-written endpoint that already has the answer does: read
		// the request, write the bytes.
		h = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			_, _ = io.Copy(io.Discard, r.Body)
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("Content-Length", strconv.Itoa(len(body)))
			_, _ = w.Write(body)
		})
	default:
		return fmt.Errorf("unknown child %q", kind)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	fmt.Printf("ADDR %s\n", ln.Addr())
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		_, _ = io.Copy(io.Discard, os.Stdin)
		_ = srv.Close()
	}()
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
