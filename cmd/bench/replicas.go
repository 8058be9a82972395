// This file measures what Redis costs and buys when several replicas share
// it (issue 13): the latency Redis adds to a call that goes upstream (the
// shared budget's script, the shared cache and its flight lock), warm
// snapshot throughput of one replica with and without Redis, and upstream
// calls per served snapshot for three replicas sharing Redis, three that
// do not, and one alone, all in the same run against the same sandbox.

package main

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"slices"
	"text/tabwriter"
	"time"

	"github.com/ghl-graphql/gateway/upstream/sandbox"
)

// replicaOptions configures the replica figures.
type replicaOptions struct {
	redisURL    string
	bin         string
	samples     int
	duration    time.Duration
	concurrency int
	contacts    int // distinct cold snapshots of the calls-per-snapshot figure
}

// replicaFigure is one line of the replica table.
type replicaFigure struct {
	figure, measured, baseline, ratio string
}

// runReplicas measures the replica figures and prints their table.
func runReplicas(o replicaOptions) error {
	if o.redisURL == "" {
		return fmt.Errorf("the replica figures need Redis: set REDIS_URL or -redis-url")
	}
	if o.bin == "" {
		dir, err := os.MkdirTemp("", "bench-replicas-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		if o.bin, err = buildGateway(dir); err != nil {
			return err
		}
	}
	sb, err := sandbox.New(sandbox.Config{Seed: 13, ContactsPerLocation: max(400, o.contacts+10)})
	if err != nil {
		return err
	}
	up := &countingHandler{h: sb}
	upURL, srv, err := serveLoopback(up)
	if err != nil {
		return err
	}
	defer srv.Close()
	token := sb.DefaultToken()
	ids := sb.ContactIDs(sb.Locations()[0])

	var b [6]byte
	_, _ = rand.Read(b[:])
	prefix := "bench:" + hex.EncodeToString(b[:]) + ":"
	shared := []string{"-redis-url", o.redisURL, "-redis-prefix", prefix}
	// The sandbox has no rate limit here, nor need the gateways: these
	// figures are about Redis, not about waiting for HighLevel's budget.
	start := func(extra []string) (*gatewayProc, error) {
		// No sweeps of the listing either: they would answer some
		// snapshots from listed copies, and the calls per snapshot would
		// measure the sweeps rather than the sharing.
		return startGateway(o.bin, upURL, append([]string{"-rate-max", "1000000", "-budget-unconfirmed-max", "1000", "-prime-contacts", "0"}, extra...))
	}
	var figs []replicaFigure
	add := func(f replicaFigure) {
		figs = append(figs, f)
		fmt.Fprintf(os.Stderr, "  %s: %s\n", f.figure, f.measured)
	}
	fmt.Fprintf(os.Stderr, "bench replicas: Redis %s, %d samples, %v runs, %d clients\n", redactURL(o.redisURL), o.samples, o.duration, o.concurrency)

	// 1. Latency of a call that must go upstream (no-cache; the sandbox
	// answers at once), with and without Redis: what Redis adds per call.
	plain, err := start(nil)
	if err != nil {
		return err
	}
	defer plain.stop()
	withRedis, err := start(shared)
	if err != nil {
		return err
	}
	defer withRedis.stop()
	c := newClient(o.concurrency)
	cold := func(url string) (durations, error) {
		var d durations
		for i := range o.samples {
			took, _, err := c.query(url, token, `query($id: ID!) { contact(id: $id) { id email } }`, map[string]any{"id": ids[i%len(ids)]}, true)
			if err != nil {
				return nil, err
			}
			d = append(d, took)
		}
		return d, nil
	}
	for _, url := range []string{plain.url, withRedis.url} { // confirm the token, warm connections
		if _, err := cold(url); err != nil {
			return fmt.Errorf("cold calls: %w", err)
		}
	}
	base, err := cold(plain.url)
	if err != nil {
		return err
	}
	red, err := cold(withRedis.url)
	if err != nil {
		return err
	}
	add(replicaFigure{figure: "call through the gateway, upstream answering at once, p50 / p99",
		measured: fmtDur(red.p(50)) + " / " + fmtDur(red.p(99)) + " with Redis",
		baseline: fmtDur(base.p(50)) + " / " + fmtDur(base.p(99)) + " without",
		ratio:    "+" + fmtDur(red.p(50)-base.p(50)) + " / +" + fmtDur(red.p(99)-base.p(99))})

	// 2. Warm snapshot throughput of one replica, with and without Redis.
	if _, _, err := c.query(withRedis.url, token, snapshotQuery, map[string]any{"id": ids[0]}, false); err != nil {
		return err
	}
	if _, _, err := c.query(plain.url, token, snapshotQuery, map[string]any{"id": ids[0]}, false); err != nil {
		return err
	}
	// Rounds taking turns, so that both see the same machine: on a shared
	// one, a neighbour's burst during one long run would decide the ratio.
	const rounds = 5
	to := options{duration: o.duration / rounds, concurrency: o.concurrency}
	var rBase, rRedis float64
	for i := range rounds {
		first, second, rFirst, rSecond := plain.url, withRedis.url, &rBase, &rRedis
		if i%2 == 1 {
			first, second, rFirst, rSecond = withRedis.url, plain.url, &rRedis, &rBase
		}
		v, err := throughput(c, first, token, ids[0], to)
		if err != nil {
			return err
		}
		*rFirst += v / rounds
		if v, err = throughput(c, second, token, ids[0], to); err != nil {
			return err
		}
		*rSecond += v / rounds
	}
	add(replicaFigure{figure: "warm snapshot throughput, one replica (req/s)", measured: fmt.Sprintf("%.0f with Redis", rRedis),
		baseline: fmt.Sprintf("%.0f without", rBase), ratio: fmt.Sprintf("%.2f×", rRedis/rBase)})
	plain.stop()
	withRedis.stop()

	// 3. Upstream calls per served snapshot: each of o.contacts cold
	// snapshots asked once on each of three replicas, and three times of
	// one replica.
	perSnapshot := func(gws []*gatewayProc, offset int) (float64, error) {
		before := up.calls.Load()
		served := 0
		for i := range o.contacts {
			for k := range 3 {
				url := gws[k%len(gws)].url
				if _, _, err := c.query(url, token, snapshotQuery, map[string]any{"id": ids[offset+i]}, false); err != nil {
					return 0, err
				}
				served++
			}
		}
		return float64(up.calls.Load()-before) / float64(served), nil
	}
	startN := func(n int, extra []string) ([]*gatewayProc, func(), error) {
		var gws []*gatewayProc
		stop := func() {
			for _, g := range gws {
				g.stop()
			}
		}
		for range n {
			g, err := start(extra)
			if err != nil {
				stop()
				return nil, nil, err
			}
			gws = append(gws, g)
		}
		// Confirm the token on each, so that the counts are the snapshots'.
		for _, g := range gws {
			if _, _, err := c.query(g.url, token, `query($id: ID!) { contact(id: $id) { id } }`, map[string]any{"id": ids[len(ids)-1]}, true); err != nil {
				stop()
				return nil, nil, err
			}
		}
		return gws, stop, nil
	}
	type setup struct {
		name  string
		n     int
		extra []string
	}
	perCallOf := map[string]float64{}
	for i, s := range []setup{{"one replica", 1, nil}, {"three replicas sharing Redis", 3, append(slices.Clone(shared[:2]), "-redis-prefix", prefix+"calls:")},
		{"three replicas without Redis", 3, nil}} {
		gws, stop, err := startN(s.n, s.extra)
		if err != nil {
			return err
		}
		v, err := perSnapshot(gws, 1+i*o.contacts)
		stop()
		if err != nil {
			return fmt.Errorf("%s: %w", s.name, err)
		}
		perCallOf[s.name] = v
	}
	one := perCallOf["one replica"]
	add(replicaFigure{figure: "upstream calls per served snapshot, three replicas sharing Redis",
		measured: fmt.Sprintf("%.2f", perCallOf["three replicas sharing Redis"]), baseline: fmt.Sprintf("one replica %.2f", one),
		ratio: fmt.Sprintf("%.2f×", perCallOf["three replicas sharing Redis"]/one)})
	add(replicaFigure{figure: "upstream calls per served snapshot, three replicas without Redis",
		measured: fmt.Sprintf("%.2f", perCallOf["three replicas without Redis"]), baseline: fmt.Sprintf("one replica %.2f", one),
		ratio: fmt.Sprintf("%.2f×", perCallOf["three replicas without Redis"]/one)})
	printReplicas(os.Stdout, o, figs)
	return nil
}

// printReplicas prints the replica figures as a Markdown table.
func printReplicas(w io.Writer, o replicaOptions, figs []replicaFigure) {
	fmt.Fprintf(w, "\nReplicas on Redis: %d samples, %v throughput runs with %d clients, %d distinct snapshots asked three times each.\n\n",
		o.samples, o.duration, o.concurrency, o.contacts)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "| figure\t| measured\t| baseline\t| difference\t|")
	fmt.Fprintln(tw, "|---\t|---\t|---\t|---\t|")
	for _, f := range figs {
		fmt.Fprintf(tw, "| %s\t| %s\t| %s\t| %s\t|\n", f.figure, f.measured, f.baseline, f.ratio)
	}
	tw.Flush()
}

// redactURL drops a password from a Redis URL for printing.
func redactURL(s string) string {
	for i := len("redis://"); i < len(s); i++ {
		if s[i] == '@' {
			return s[:len("redis://")] + "…@" + s[i+1:]
		}
	}
	return s
}
