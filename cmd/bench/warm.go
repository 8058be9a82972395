// This file holds the warm comparison (issue 16's "warm snapshot throughput
// unchanged"): warm snapshot throughput over HTTP of a baseline gateway
// binary (e.g. one built from the commit the goal was set against) and of
// the gateway under test, in rounds that take turns, against the same
// sandbox with the same clients. On a shared machine a neighbour's burst
// during one long run would decide the ratio; alternating short rounds and
// taking medians lets both gateways see the same machine.
//
//	go run ./cmd/bench -warm-only -warm-baseline-bin /tmp/gw-878212e
//
// Both gateways are the real cmd/gateway binary (metrics on, as deployed),
// started with the flags the two know alike, so that a baseline from before
// later flags existed still starts. Each round also reads each gateway's
// CPU time (Linux /proc): CPU per answer is the figure least moved by the
// load generator and the rest of the machine sharing the cores.

package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/parser"

	"github.com/ghl-graphql/gateway/upstream/sandbox"
)

// warmOptions configures the warm comparison.
type warmOptions struct {
	gatewayBin, baselineBin     string
	gatewayFlags, baselineFlags []string
	rounds                      int
	duration                    time.Duration // of each run: one gateway, one round
	concurrency                 int
	latency                     time.Duration // of the sandbox, met only when warming up
}

// warmFlags are the flags both gateways get before their own: every
// version of cmd/gateway since the response cache knows them. The long
// TTLs keep the answers, and so the stored response, warm for the whole
// comparison: an entry expiring mid-round would measure a cold snapshot.
var warmFlags = []string{"-cache-contact-ttl", "1h", "-cache-list-ttl", "1h"}

// warmRun is what one gateway did in one round.
type warmRun struct {
	answers int64
	elapsed time.Duration
	cpu     time.Duration // the gateway process's, user and system; 0 when unknown
}

func (r warmRun) rps() float64 {
	if r.elapsed <= 0 {
		return 0
	}
	return float64(r.answers) / r.elapsed.Seconds()
}

// cpuPerAnswer is in microseconds; 0 when unknown.
func (r warmRun) cpuPerAnswer() float64 {
	if r.cpu <= 0 || r.answers == 0 {
		return 0
	}
	return float64(r.cpu) / float64(r.answers) / float64(time.Microsecond)
}

// warmRound is one round: the baseline's run and the test's.
type warmRound struct {
	baseline, test warmRun
	baselineFirst  bool
}

// baselineFirst reports whether round i runs the baseline first: rounds
// take turns (baseline, test; test, baseline; ...), so that neither
// gateway always runs right after the other's load.
func baselineFirst(i int) bool { return i%2 == 0 }

// median returns the median of v (the mean of the middle two when even),
// 0 for none.
func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// warmSummary is the medians of the rounds and the ratios test/baseline.
type warmSummary struct {
	baselineRPS, testRPS float64 // medians
	ratio                float64 // of the medians
	medianRoundRatio     float64 // the median of each round's test/baseline
	baselineCPU, testCPU float64 // medians, µs per answer; 0 when unknown
	cpuRatio             float64 // of the medians; 0 when unknown
	medianRoundCPURatio  float64 // the median of each round's test/baseline; 0 when unknown
}

func summarize(rounds []warmRound) warmSummary {
	var b, t, perRound, bc, tc, perRoundCPU []float64
	for _, r := range rounds {
		b, t = append(b, r.baseline.rps()), append(t, r.test.rps())
		if r.baseline.rps() > 0 {
			perRound = append(perRound, r.test.rps()/r.baseline.rps())
		}
		if x, y := r.baseline.cpuPerAnswer(), r.test.cpuPerAnswer(); x > 0 && y > 0 {
			bc, tc, perRoundCPU = append(bc, x), append(tc, y), append(perRoundCPU, y/x)
		}
	}
	s := warmSummary{baselineRPS: median(b), testRPS: median(t), medianRoundRatio: median(perRound),
		baselineCPU: median(bc), testCPU: median(tc), medianRoundCPURatio: median(perRoundCPU)}
	if s.baselineRPS > 0 {
		s.ratio = s.testRPS / s.baselineRPS
	}
	if s.baselineCPU > 0 {
		s.cpuRatio = s.testCPU / s.baselineCPU
	}
	return s
}

// procCPU returns a process's CPU time, user and system, from the text of
// /proc/<pid>/stat. Its second field (the command) is in parentheses and may
// hold spaces, so the fields are counted from the last ')'; utime and stime
// are the 14th and 15th, in clock ticks of ticksPerSecond.
func procCPU(stat string, ticksPerSecond int64) (time.Duration, error) {
	i := strings.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, errors.New("no command field in /proc stat")
	}
	f := strings.Fields(stat[i+1:]) // f[0] is the 3rd field, the state
	if len(f) < 13 {
		return 0, fmt.Errorf("/proc stat has %d fields after the command, want at least 13", len(f))
	}
	var ticks int64
	for _, s := range f[11:13] {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("/proc stat: %w", err)
		}
		ticks += n
	}
	return time.Duration(ticks) * time.Second / time.Duration(ticksPerSecond), nil
}

// clockTicks is USER_HZ, the unit of /proc's CPU times: 100 on every Linux
// the bench runs on (it is fixed by the kernel's ABI, whatever HZ is).
const clockTicks = 100

// gatewayCPU returns the CPU time the gateway process has used so far, 0
// when it cannot be read (not Linux).
func gatewayCPU(p *gatewayProc) time.Duration {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(p.cmd.Process.Pid) + "/stat")
	if err != nil {
		return 0
	}
	d, err := procCPU(string(b), clockTicks)
	if err != nil {
		return 0
	}
	return d
}

// snapshotQueryFor returns the snapshot query in the words of a gateway
// whose schema is sdl: since the custom field's ID became fieldId (it was
// id), an older gateway is asked for id under the alias fieldId, so that
// both answer the same bytes to the same question. A schema that cannot be
// read gets the current query, and its validation error at the warm-up.
func snapshotQueryFor(sdl string) string {
	doc, err := parser.ParseSchema(&ast.Source{Name: "schema", Input: sdl})
	if err != nil {
		return snapshotQuery
	}
	for _, d := range doc.Definitions {
		if d.Name == "CustomFieldValue" && d.Fields.ForName("fieldId") == nil && d.Fields.ForName("id") != nil {
			return strings.Replace(snapshotQuery, "customFields { fieldId value }", "customFields { fieldId: id value }", 1)
		}
	}
	return snapshotQuery
}

// gatewaySnapshotQuery is snapshotQueryFor the schema bin prints.
func gatewaySnapshotQuery(bin string) (string, error) {
	out, err := exec.Command(bin, "schema").Output()
	if err != nil {
		return "", fmt.Errorf("%s schema: %w", bin, err)
	}
	return snapshotQueryFor(string(out)), nil
}

// runWarm measures the warm comparison and prints its table.
func runWarm(o warmOptions) error {
	if o.rounds < 1 {
		return fmt.Errorf("-warm-rounds %d: must be at least 1", o.rounds)
	}
	if o.gatewayBin == "" || o.baselineBin == "" {
		dir, err := os.MkdirTemp("", "bench-warm-*")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		bin, err := buildGateway(dir)
		if err != nil {
			return err
		}
		if o.gatewayBin == "" {
			o.gatewayBin = bin
		}
		if o.baselineBin == "" {
			o.baselineBin = bin // an A/A comparison: the ratio shows the noise
		}
	}
	sb, err := sandbox.New(sandbox.Config{ContactsPerLocation: 400})
	if err != nil {
		return err
	}
	sb.SetLatency(o.latency, 0)
	up := &countingHandler{h: sb}
	upURL, srv, err := serveLoopback(up)
	if err != nil {
		return err
	}
	defer srv.Close()
	token := sb.DefaultToken()
	hot := sb.ContactIDs(sb.Locations()[0])[0]

	baseQuery, err := gatewaySnapshotQuery(o.baselineBin)
	if err != nil {
		return err
	}
	testQuery, err := gatewaySnapshotQuery(o.gatewayBin)
	if err != nil {
		return err
	}
	base, err := startGateway(o.baselineBin, upURL, append(slices.Clone(warmFlags), o.baselineFlags...))
	if err != nil {
		return fmt.Errorf("baseline: %w", err)
	}
	defer base.stop()
	test, err := startGateway(o.gatewayBin, upURL, append(slices.Clone(warmFlags), o.gatewayFlags...))
	if err != nil {
		return fmt.Errorf("test: %w", err)
	}
	defer test.stop()

	c := newClient(o.concurrency)
	// Warm each: the cold snapshot stores the response; a short run opens
	// the connections and grows each heap to its working size.
	warmUp := options{duration: min(o.duration, time.Second), concurrency: o.concurrency}
	type gateway struct {
		role  string
		p     *gatewayProc
		query string
	}
	var bodies [2][]byte
	for i, g := range []gateway{{"baseline", base, baseQuery}, {"test", test, testQuery}} {
		_, body, err := c.query(g.p.url, token, g.query, map[string]any{"id": hot}, false)
		if err != nil {
			return fmt.Errorf("warm-up of the %s: %w", g.role, err)
		}
		bodies[i] = body
		if _, _, err := throughputCount(c, g.p.url, token, g.query, hot, warmUp); err != nil {
			return fmt.Errorf("warm-up of the %s: %w", g.role, err)
		}
	}
	if a, b := dataOf(bodies[0]), dataOf(bodies[1]); !bytes.Equal(a, b) {
		fmt.Fprintf(os.Stderr, "bench: warning: the two gateways answer different data (%d and %d bytes)\n", len(a), len(b))
	}
	fmt.Fprintf(os.Stderr, "bench: warm snapshot, %d rounds of %v per gateway, %d clients\n  baseline %s %s\n  test     %s %s\n",
		o.rounds, o.duration, o.concurrency, o.baselineBin, flagsLabel(o.baselineFlags), o.gatewayBin, flagsLabel(o.gatewayFlags))
	callsBefore := up.calls.Load()
	to := options{duration: o.duration, concurrency: o.concurrency}
	measure := func(g *gatewayProc, query string) (warmRun, error) {
		cpu0 := gatewayCPU(g)
		n, elapsed, err := throughputCount(c, g.url, token, query, hot, to)
		r := warmRun{answers: n, elapsed: elapsed}
		if cpu0 > 0 {
			r.cpu = gatewayCPU(g) - cpu0
		}
		return r, err
	}
	var rounds []warmRound
	for i := range o.rounds {
		r := warmRound{baselineFirst: baselineFirst(i)}
		order := []struct {
			g     *gatewayProc
			query string
			run   *warmRun
		}{{base, baseQuery, &r.baseline}, {test, testQuery, &r.test}}
		if !r.baselineFirst {
			order[0], order[1] = order[1], order[0]
		}
		for _, x := range order {
			v, err := measure(x.g, x.query)
			if err != nil {
				return fmt.Errorf("round %d: %w", i+1, err)
			}
			*x.run = v
		}
		fmt.Fprintf(os.Stderr, "  round %d: baseline %.0f req/s, test %.0f req/s (%.3f×)\n",
			i+1, r.baseline.rps(), r.test.rps(), r.test.rps()/max(r.baseline.rps(), 1e-9))
		rounds = append(rounds, r)
	}
	// A warm snapshot costs no upstream call: a round that made some
	// measured something else (an expired entry, a refused token).
	calls := up.calls.Load() - callsBefore
	printWarm(os.Stdout, o, rounds, calls)
	if calls != 0 {
		return fmt.Errorf("the warm rounds made %d upstream calls; want 0", calls)
	}
	return nil
}

// printWarm prints each round, the medians and the ratios test/baseline.
func printWarm(w io.Writer, o warmOptions, rounds []warmRound, upstreamCalls int64) {
	fmt.Fprintf(w, "\nWarm snapshot throughput: %d rounds taking turns, %v per gateway and round, %d clients; %d upstream calls during the rounds.\n",
		len(rounds), o.duration, o.concurrency, upstreamCalls)
	fmt.Fprintf(w, "baseline: %s %s\ntest:     %s %s\n\n", o.baselineBin, flagsLabel(o.baselineFlags), o.gatewayBin, flagsLabel(o.gatewayFlags))
	cpu := func(v float64) string {
		if v <= 0 {
			return "-"
		}
		return fmt.Sprintf("%.1fµs", v)
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "| round\t| first\t| baseline req/s\t| test req/s\t| test / baseline\t| baseline CPU / answer\t| test CPU / answer\t|")
	fmt.Fprintln(tw, "|---\t|---\t|---\t|---\t|---\t|---\t|---\t|")
	for i, r := range rounds {
		first := "test"
		if r.baselineFirst {
			first = "baseline"
		}
		fmt.Fprintf(tw, "| %d\t| %s\t| %.0f\t| %.0f\t| %s\t| %s\t| %s\t|\n", i+1, first, r.baseline.rps(), r.test.rps(),
			ratio(r.test.rps(), r.baseline.rps()), cpu(r.baseline.cpuPerAnswer()), cpu(r.test.cpuPerAnswer()))
	}
	s := summarize(rounds)
	cpuRatio := "-"
	if s.cpuRatio > 0 {
		cpuRatio = fmt.Sprintf("%.3f× (of the medians), %.3f× (median of the rounds' ratios)", s.cpuRatio, s.medianRoundCPURatio)
	}
	fmt.Fprintf(tw, "| median\t| \t| %.0f\t| %.0f\t| %.3f×\t| %s\t| %s\t|\n", s.baselineRPS, s.testRPS, s.ratio, cpu(s.baselineCPU), cpu(s.testCPU))
	tw.Flush()
	fmt.Fprintf(w, "\nthroughput test / baseline: %.3f× (of the medians), %.3f× (median of the rounds' ratios); CPU per answer test / baseline: %s\n",
		s.ratio, s.medianRoundRatio, cpuRatio)
}

// dataOf returns an answer's data member, nil when it has none.
func dataOf(body []byte) []byte {
	var a struct {
		Data json.RawMessage `json:"data"`
	}
	if json.Unmarshal(body, &a) != nil {
		return nil
	}
	return a.Data
}
