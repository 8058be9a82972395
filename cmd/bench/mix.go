// This file holds the budget mix (issue 16): the gateway binary under
// HighLevel's real rate limit, with a realistic load. A sandbox seeded with
// -mix-contacts contacts answers after -latency and refuses a location's
// calls past -mix-limit per -mix-limit-interval, like HighLevel; clients pick
// contacts with Zipf-like popularity (a few hot ones) and send three query
// shapes. Two loops run against each gateway: a closed loop (each connection
// sends its next query when the last is answered) and an open loop (queries
// arrive at a fixed rate whether or not earlier ones were answered).
//
// Both the gateway under test and the baseline are the real cmd/gateway
// binary, started with the flags given on the command line, so flags that
// other changes add can be measured as soon as they exist; a flag the binary
// does not know stops the bench with the binary's own message.

package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/ghl-graphql/gateway/errcode"
	"github.com/ghl-graphql/gateway/upstream/sandbox"
)

// The three query shapes of the mix.
const (
	// mixSnapshotQuery is the snapshot: a contact with its tasks, notes and
	// appointments (four upstream calls when cold).
	mixSnapshotQuery = snapshotQuery
	// mixTasksQuery is a contact with its tasks (two calls when cold).
	mixTasksQuery = `query($id: ID!) { contact(id: $id) { id name email phone tasks { id title dueDate completed } } }`
	// mixSearchQuery is a search of 10 (one call when cold).
	mixSearchQuery = `query($q: String!) { contacts(query: $q, first: 10) { totalCount nodes { id name email phone } } }`
)

// mixOptions configures the budget mix.
type mixOptions struct {
	contacts      int
	seed          uint64
	zipfS         float64
	weights       [3]int // snapshot, tasks, search
	conns         int
	duration      time.Duration
	rate          float64 // open-loop arrivals per second; 0 skips the open loop
	openConns     int
	clientTimeout time.Duration
	limitMax      int
	limitInterval time.Duration
	latency       time.Duration
	gatewayBin    string
	baselineBin   string
	gatewayFlags  []string
	baselineFlags []string
}

// validate names the first bad mix setting.
func (o mixOptions) validate() error {
	switch {
	case o.contacts < 1:
		return fmt.Errorf("-mix-contacts %d: must be at least 1", o.contacts)
	case !(o.zipfS > 1):
		return fmt.Errorf("-mix-zipf %g: must be greater than 1", o.zipfS)
	case o.conns < 1 || o.openConns < 1:
		return fmt.Errorf("-mix-conns %d, -mix-open-conns %d: must be at least 1", o.conns, o.openConns)
	case o.duration <= 0 || o.clientTimeout <= 0 || o.limitInterval <= 0:
		return fmt.Errorf("-mix-duration, -mix-client-timeout and -mix-limit-interval must be positive")
	case o.rate < 0:
		return fmt.Errorf("-mix-rate %g: must not be negative", o.rate)
	case o.limitMax < 0:
		return fmt.Errorf("-mix-limit %d: must not be negative (0: unlimited)", o.limitMax)
	}
	return nil
}

// parseWeights reads "a,b,c": the relative frequencies of the snapshot, the
// contact with tasks and the search.
func parseWeights(s string) ([3]int, error) {
	var w [3]int
	parts := strings.Split(s, ",")
	if len(parts) != 3 {
		return w, fmt.Errorf("-mix-shapes %q: want three weights, snapshot,tasks,search", s)
	}
	sum := 0
	for i, p := range parts {
		n, err := strconv.Atoi(strings.TrimSpace(p))
		if err != nil || n < 0 {
			return w, fmt.Errorf("-mix-shapes %q: weight %q is not a whole number ≥ 0", s, p)
		}
		w[i], sum = n, sum+n
	}
	if sum == 0 {
		return w, fmt.Errorf("-mix-shapes %q: at least one weight must be positive", s)
	}
	return w, nil
}

// splitFlags splits a flag string as a POSIX shell would split words, with
// single and double quotes and backslash escapes, so that
// -mix-gateway-flags '-cors-origins "a, b"' passes one value.
func splitFlags(s string) ([]string, error) {
	var out []string
	var cur strings.Builder
	inWord := false
	var quote rune
	escaped := false
	for _, r := range s {
		switch {
		case escaped:
			cur.WriteRune(r)
			escaped = false
		case quote != 0:
			if r == quote {
				quote = 0
			} else if r == '\\' && quote == '"' {
				escaped = true
			} else {
				cur.WriteRune(r)
			}
		case r == '\\':
			escaped, inWord = true, true
		case r == '\'' || r == '"':
			quote, inWord = r, true
		case r == ' ' || r == '\t' || r == '\n':
			if inWord {
				out = append(out, cur.String())
				cur.Reset()
				inWord = false
			}
		default:
			cur.WriteRune(r)
			inWord = true
		}
	}
	if quote != 0 || escaped {
		return nil, fmt.Errorf("unterminated quote or escape in %q", s)
	}
	if inWord {
		out = append(out, cur.String())
	}
	return out, nil
}

// picker draws the mix's queries: a shape by weight, a contact by Zipf rank.
// It is not safe for concurrent use; each connection has its own, seeded, so
// that a run draws the same sequence of queries.
type picker struct {
	rng     *rand.Rand
	zipf    *rand.Zipf
	weights [3]int
	sum     int
	ids     []string // by popularity rank: ids[0] is the hottest
	terms   []string // search text of rank i: a word of contact i's name
	bodies  *mixBodies
}

// mixBodies holds every request body of the mix, by shape and rank, encoded
// once before a loop starts: encoding JSON per query would spend the load
// generator's share of the two cores it shares with the gateway measured.
type mixBodies [3][][]byte

func newMixBodies(ids, terms []string) *mixBodies {
	var b mixBodies
	for shape := range b {
		b[shape] = make([][]byte, len(ids))
		for rank := range ids {
			b[shape][rank] = mixBody(shape, ids[rank], terms[rank])
		}
	}
	return &b
}

// mixBody is the request body of one shape for one contact.
func mixBody(shape int, id, term string) []byte {
	var req map[string]any
	switch shape {
	case 0:
		req = map[string]any{"query": mixSnapshotQuery, "variables": map[string]any{"id": id}}
	case 1:
		req = map[string]any{"query": mixTasksQuery, "variables": map[string]any{"id": id}}
	default:
		req = map[string]any{"query": mixSearchQuery, "variables": map[string]any{"q": term}}
	}
	body, _ := json.Marshal(req)
	return body
}

func newPicker(seed, stream uint64, s float64, weights [3]int, ids, terms []string) *picker {
	rng := rand.New(rand.NewPCG(seed, stream))
	return &picker{rng: rng, zipf: rand.NewZipf(rng, s, 1, uint64(len(ids)-1)),
		weights: weights, sum: weights[0] + weights[1] + weights[2], ids: ids, terms: terms}
}

// next returns the shape (0 snapshot, 1 tasks, 2 search), the rank drawn and
// the request body.
func (p *picker) next() (shape, rank int, body []byte) {
	n := p.rng.IntN(p.sum)
	for shape = 0; shape < 2 && n >= p.weights[shape]; shape++ {
		n -= p.weights[shape]
	}
	rank = int(p.zipf.Uint64())
	if p.bodies != nil {
		return shape, rank, p.bodies[shape][rank]
	}
	return shape, rank, mixBody(shape, p.ids[rank], p.terms[rank])
}

// outcome is how one query ended, seen from the client.
type outcome int

const (
	outFull        outcome = iota // data, no error, not marked stale
	outStale                      // data, marked stale in extensions.stale
	outPartial                    // data, with errors on some parts, not marked stale
	outRateLimited                // no data; an error with code RATE_LIMITED
	outOtherError                 // no data; any other error, status or transport failure
	outTimeout                    // no answer within -mix-client-timeout
	numOutcomes
)

// hasData reports whether an outcome carries data.
func (o outcome) hasData() bool { return o == outFull || o == outStale || o == outPartial }

// classify sorts one HTTP answer. The common case (a full answer) is decided
// without decoding the body: the load generator must stay cheaper than the
// gateway it measures. Keys are matched with their quote and colon, which a
// JSON string value cannot contain unescaped.
func classify(status int, body []byte) outcome {
	if status == http.StatusOK && !bytes.Contains(body, []byte(`"errors":`)) && !bytes.Contains(body, []byte(`"stale":`)) &&
		bytes.HasPrefix(bytes.TrimSpace(body), []byte(`{"data":{`)) {
		return outFull
	}
	if o, ok := classifyFast(status, body); ok {
		return o
	}
	var a struct {
		Data   map[string]json.RawMessage `json:"data"`
		Errors []struct {
			Extensions struct {
				Code string `json:"code"`
			} `json:"extensions"`
		} `json:"errors"`
		Extensions map[string]json.RawMessage `json:"extensions"`
	}
	if err := json.Unmarshal(body, &a); err != nil {
		return outOtherError
	}
	data := false
	for _, v := range a.Data {
		if !bytes.Equal(bytes.TrimSpace(v), []byte("null")) {
			data = true
		}
	}
	stale := false
	if v, ok := a.Extensions["stale"]; ok {
		t := bytes.TrimSpace(v)
		stale = !bytes.Equal(t, []byte("null")) && !bytes.Equal(t, []byte("[]")) && !bytes.Equal(t, []byte("false"))
	}
	switch {
	case data && stale:
		return outStale
	case data && len(a.Errors) == 0 && status == http.StatusOK:
		return outFull
	case data:
		return outPartial
	}
	for _, e := range a.Errors {
		if e.Extensions.Code == errcode.CodeRateLimited {
			return outRateLimited
		}
	}
	return outOtherError
}

// Byte patterns of classifyFast. Keys are matched with their quotes, which
// a JSON string value cannot hold unescaped.
var (
	dataObject   = []byte(`"data":{"`)
	extObject    = []byte(`"extensions":{`)
	staleEntries = []byte(`"stale":[{`)
	errorEntries = []byte(`"errors":[{"message":`)
)

// classifyFast decides, from its bytes, the answers the mix gets most after
// full ones: stale and partial ones with data. It decides only when the
// first top-level field is not null (so the answer has data); the top-level
// extensions, written last, are the last "extensions" object of the body;
// and gqlgen's errors start with their message. Anything else is left to
// the decoder (ok false).
func classifyFast(status int, body []byte) (outcome, bool) {
	if status != http.StatusOK {
		return 0, false
	}
	i := bytes.Index(body, dataObject)
	if i < 0 {
		return 0, false
	}
	rest := body[i+len(dataObject):]
	j := bytes.Index(rest, []byte(`":`))
	if j < 0 || bytes.HasPrefix(rest[j+2:], []byte("null")) {
		return 0, false
	}
	if k := bytes.LastIndex(body, extObject); k > i && bytes.Contains(body[k:], staleEntries) {
		return outStale, true
	}
	if bytes.Contains(body, errorEntries) {
		return outPartial, true
	}
	return 0, false
}

// tally is what one loop measured.
type tally struct {
	counts         [numOutcomes]int64
	latencies      durations // every query's; a timeout counts as the client timeout
	timeoutAt      time.Duration
	elapsed        time.Duration // first send to last outcome
	late, lateData int64         // queries sent in the second half of the run, and those answered with data
	firstErr       string        // the first transport error or unexpected answer, for the report
	// gatewayCPU is the CPU time the gateway process used, start to exit:
	// per answer, it is the figure least moved by what else the machine runs.
	gatewayCPU time.Duration
}

func (t *tally) answers() int64 {
	var n int64
	for o := outcome(0); o < outTimeout; o++ {
		n += t.counts[o]
	}
	return n
}

func (t *tally) withData() int64 {
	return t.counts[outFull] + t.counts[outStale] + t.counts[outPartial]
}

func (t *tally) merge(o *tally) {
	for i := range t.counts {
		t.counts[i] += o.counts[i]
	}
	t.latencies = append(t.latencies, o.latencies...)
	t.late += o.late
	t.lateData += o.lateData
	if t.firstErr == "" {
		t.firstErr = o.firstErr
	}
}

func (t *tally) record(o outcome, d time.Duration, msg string, late bool) {
	t.counts[o]++
	t.latencies = append(t.latencies, d)
	if late {
		t.late++
		if o.hasData() {
			t.lateData++
		}
	}
	if msg != "" && t.firstErr == "" {
		t.firstErr = msg
	}
}

// closedLoop runs conns connections, each sending its next query when the
// last is answered, until d has passed (or, when limit > 0, until limit
// queries were sent). Queries in flight at the end run to their outcome.
func closedLoop(c *mixClient, conns int, d time.Duration, limit int64, newPick func(i int) *picker) *tally {
	start := time.Now()
	end, half := start.Add(d), start.Add(d/2)
	var sent atomic.Int64
	parts := make([]*tally, conns)
	var wg sync.WaitGroup
	for i := range conns {
		parts[i] = &tally{}
		wg.Add(1)
		go func(t *tally, p *picker) {
			defer wg.Done()
			for {
				now := time.Now()
				if limit > 0 {
					if sent.Add(1) > limit {
						return
					}
				} else if !now.Before(end) {
					return
				}
				_, _, body := p.next()
				o, lat, msg := c.send(now, body)
				t.record(o, lat, msg, limit == 0 && !now.Before(half))
			}
		}(parts[i], newPick(i))
	}
	wg.Wait()
	out := &tally{elapsed: time.Since(start), timeoutAt: c.timeout}
	for _, p := range parts {
		out.merge(p)
	}
	return out
}

// openLoop sends rate queries per second for d, each at its scheduled time
// whether or not earlier ones were answered; latency runs from the scheduled
// time. Queries in flight at the end run to their outcome.
func openLoop(c *mixClient, rate float64, d time.Duration, p *picker) *tally {
	start := time.Now()
	n := int(rate * d.Seconds())
	var mu sync.Mutex
	out := &tally{timeoutAt: c.timeout}
	var wg sync.WaitGroup
	for i := range n {
		at := start.Add(time.Duration(float64(i) / rate * float64(time.Second)))
		if w := time.Until(at); w > 0 {
			time.Sleep(w)
		}
		_, _, body := p.next()
		late := i >= n/2
		wg.Add(1)
		go func() {
			defer wg.Done()
			o, lat, msg := c.send(at, body)
			mu.Lock()
			out.record(o, lat, msg, late)
			mu.Unlock()
		}()
	}
	wg.Wait()
	out.elapsed = time.Since(start)
	return out
}

// serveLoopback serves h on a new loopback port until the server is
// closed, and returns its base URL.
func serveLoopback(h http.Handler) (string, *http.Server, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	return "http://" + ln.Addr().String() + "/", srv, nil
}

// countingHandler counts the sandbox's answers: every request and every 429,
// seen at the upstream itself rather than reported by the gateway.
type countingHandler struct {
	h                http.Handler
	calls, status429 atomic.Int64
}

func (c *countingHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	c.calls.Add(1)
	c.h.ServeHTTP(&statusWriter{ResponseWriter: w, c: c}, r)
}

type statusWriter struct {
	http.ResponseWriter
	c    *countingHandler
	done bool
}

func (s *statusWriter) WriteHeader(code int) {
	if !s.done {
		s.done = true
		if code == http.StatusTooManyRequests {
			s.c.status429.Add(1)
		}
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusWriter) Write(b []byte) (int, error) {
	s.done = true
	return s.ResponseWriter.Write(b)
}

// mixUpstream is one run's sandbox: fresh data, fresh rate windows, fresh
// counters, so that no run inherits another's spent budget.
type mixUpstream struct {
	sb    *sandbox.Server
	count *countingHandler
	srv   *http.Server
	url   string
	ids   []string
	terms []string
}

func startMixUpstream(o mixOptions) (*mixUpstream, error) {
	sb, err := sandbox.New(sandbox.Config{
		Seed: int64(o.seed), Locations: 1, ContactsPerLocation: o.contacts, Latency: o.latency,
		RateLimit: sandbox.RateLimit{Max: o.limitMax, Interval: o.limitInterval, Daily: 200_000},
	})
	if err != nil {
		return nil, err
	}
	u := &mixUpstream{sb: sb, count: &countingHandler{h: sb}}
	if u.url, u.srv, err = serveLoopback(u.count); err != nil {
		return nil, err
	}
	u.ids = sb.ContactIDs(sb.Locations()[0])
	// Popularity ranks follow a seeded shuffle of the contacts, so that the
	// hot ones are not simply the oldest.
	rand.New(rand.NewPCG(o.seed, 0x5eed)).Shuffle(len(u.ids), func(i, j int) { u.ids[i], u.ids[j] = u.ids[j], u.ids[i] })
	u.terms = make([]string, len(u.ids))
	for i, id := range u.ids {
		c, _ := sb.Contact(id)
		u.terms[i] = searchTerm(c.LastName, c.FirstName, c.Email)
	}
	return u, nil
}

// searchTerm is the first non-empty word among a contact's names and email.
func searchTerm(candidates ...string) string {
	for _, s := range candidates {
		if f := strings.Fields(s); len(f) > 0 {
			return f[0]
		}
	}
	return "a"
}

func (u *mixUpstream) close() { _ = u.srv.Close() }

// gatewayProc is a running cmd/gateway binary.
type gatewayProc struct {
	cmd    *exec.Cmd
	url    string
	stderr *capBuffer
	done   chan struct{}
}

// capBuffer keeps the first 64 KiB written to it (a gateway that logs a
// line per refused call must not grow the bench without bound).
type capBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (c *capBuffer) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if room := 64<<10 - c.b.Len(); room > 0 {
		c.b.Write(p[:min(len(p), room)])
	}
	return len(p), nil
}

func (c *capBuffer) String() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.b.String()
}

// firstLines returns the first n non-empty lines of s.
func firstLines(s string, n int) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if l = strings.TrimSpace(l); l != "" && len(out) < n {
			out = append(out, l)
		}
	}
	return strings.Join(out, "; ")
}

// buildGateway builds cmd/gateway of the module the bench is run from into
// dir. It fails, with go build's message, outside the module.
func buildGateway(dir string) (string, error) {
	bin := filepath.Join(dir, "gateway")
	out, err := exec.Command("go", "build", "-o", bin, "github.com/ghl-graphql/gateway/cmd/gateway").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("go build ./cmd/gateway (run the bench from the module, or pass -mix-gateway-bin): %w\n%s", err, out)
	}
	return bin, nil
}

// startGateway starts bin against upstreamURL with the bench's own flags
// first and extra after them (the flag package keeps the last value, so the
// caller's win), and waits for its endpoint line. A binary that exits first,
// e.g. on a flag it does not know, is an error carrying its message.
func startGateway(bin, upstreamURL string, extra []string) (*gatewayProc, error) {
	args := append([]string{"-addr", "127.0.0.1:0", "-upstream-url", upstreamURL,
		"-playground=false", "-log-level", "error", "-shutdown-timeout", "1s"}, extra...)
	cmd := exec.Command(bin, args...)
	cmd.Env = gatewayEnv(os.Environ())
	setDeathSignal(cmd)
	p := &gatewayProc{cmd: cmd, stderr: &capBuffer{}, done: make(chan struct{})}
	cmd.Stderr = p.stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", bin, err)
	}
	urls := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if rest, ok := strings.CutPrefix(sc.Text(), "GraphQL endpoint:"); ok {
				select {
				case urls <- strings.TrimSpace(rest):
				default:
				}
			}
		}
		_, _ = io.Copy(io.Discard, stdout)
	}()
	go func() { _ = cmd.Wait(); close(p.done) }()
	select {
	case p.url = <-urls:
		return p, nil
	case <-p.done:
		return nil, fmt.Errorf("gateway %s with flags %q did not start (%v): %s", bin, strings.Join(extra, " "), cmd.ProcessState, firstLines(p.stderr.String(), 1))
	case <-time.After(30 * time.Second):
		p.stop()
		return nil, fmt.Errorf("gateway %q printed no endpoint within 30s: %s", strings.Join(extra, " "), firstLines(p.stderr.String(), 2))
	}
}

// gatewayEnv drops GATEWAY_* settings from env: the flags given to the bench
// are the whole configuration of the gateways it compares.
func gatewayEnv(env []string) []string {
	out := env[:0:0]
	for _, kv := range env {
		if !strings.HasPrefix(kv, envPrefixGateway) {
			out = append(out, kv)
		}
	}
	return out
}

const envPrefixGateway = "GATEWAY_"

// stop asks the gateway to shut down and kills it if it has not within 5 s.
func (p *gatewayProc) stop() {
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(5 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

// mixRun is one loop against one gateway.
type mixRun struct {
	name, flags      string
	t                *tally
	calls, status429 int64
}

// runMixOnce measures one loop (closed when rate is 0) against one gateway,
// each on a fresh sandbox.
func runMixOnce(o mixOptions, bin string, flags []string, rate float64) (*tally, int64, int64, string, error) {
	up, err := startMixUpstream(o)
	if err != nil {
		return nil, 0, 0, "", err
	}
	defer up.close()
	gw, err := startGateway(bin, up.url, flags)
	if err != nil {
		return nil, 0, 0, "", err
	}
	token := up.sb.DefaultToken()
	var t *tally
	if rate == 0 {
		c := newMixClient(gw.url, token, o.conns, o.clientTimeout)
		bodies := newMixBodies(up.ids, up.terms)
		t = closedLoop(c, o.conns, o.duration, 0, func(i int) *picker {
			p := newPicker(o.seed, uint64(i+1), o.zipfS, o.weights, up.ids, up.terms)
			p.bodies = bodies
			return p
		})
	} else {
		c := newMixClient(gw.url, token, o.openConns, o.clientTimeout)
		p := newPicker(o.seed, 0, o.zipfS, o.weights, up.ids, up.terms)
		p.bodies = newMixBodies(up.ids, up.terms)
		t = openLoop(c, rate, o.duration, p)
	}
	gw.stop()
	if ps := gw.cmd.ProcessState; ps != nil {
		t.gatewayCPU = ps.UserTime() + ps.SystemTime()
	}
	return t, up.count.calls.Load(), up.count.status429.Load(), firstLines(gw.stderr.String(), 3), nil
}

// runMix runs the closed loop, then the open loop, each against the
// baseline and then the gateway under test, and prints the table.
func runMix(o mixOptions) error {
	dir, err := os.MkdirTemp("", "bench-mix-*")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	if o.gatewayBin == "" || o.baselineBin == "" {
		bin, err := buildGateway(dir)
		if err != nil {
			return err
		}
		if o.gatewayBin == "" {
			o.gatewayBin = bin
		}
		if o.baselineBin == "" {
			o.baselineBin = bin
		}
	}
	// Start each gateway once before measuring anything, so that a flag the
	// binary does not know fails the run at once, not after the baseline.
	for _, g := range []struct {
		bin   string
		flags []string
	}{{o.baselineBin, o.baselineFlags}, {o.gatewayBin, o.gatewayFlags}} {
		gw, err := startGateway(g.bin, "http://127.0.0.1:1/", g.flags)
		if err != nil {
			return err
		}
		gw.stop()
	}
	fmt.Fprintf(os.Stderr, "bench: budget mix, %d contacts, limit %d per %v, %v upstream latency, %v per loop\n",
		o.contacts, o.limitMax, o.limitInterval, o.latency, o.duration)
	loops := []struct {
		name string
		rate float64
	}{{fmt.Sprintf("closed, %d conns", o.conns), 0}}
	if o.rate > 0 {
		loops = append(loops, struct {
			name string
			rate float64
		}{fmt.Sprintf("open, %g/s", o.rate), o.rate})
	}
	var runs []mixRun
	for _, l := range loops {
		for _, g := range []struct {
			role, bin string
			flags     []string
		}{{"baseline", o.baselineBin, o.baselineFlags}, {"test", o.gatewayBin, o.gatewayFlags}} {
			t, calls, n429, stderr, err := runMixOnce(o, g.bin, g.flags, l.rate)
			if err != nil {
				return fmt.Errorf("mix %s, %s: %w", l.name, g.role, err)
			}
			r := mixRun{name: l.name + ", " + g.role, flags: flagsLabel(g.flags), t: t, calls: calls, status429: n429}
			fmt.Fprintf(os.Stderr, "  mix %s: %.1f answers/s, %d with data, %d upstream calls, %d 429s\n",
				r.name, float64(t.answers())/t.elapsed.Seconds(), t.withData(), calls, n429)
			if t.firstErr != "" {
				fmt.Fprintf(os.Stderr, "    first unexpected answer: %s\n", t.firstErr)
			}
			if stderr != "" {
				fmt.Fprintf(os.Stderr, "    gateway stderr: %s\n", stderr)
			}
			runs = append(runs, r)
		}
	}
	printMix(os.Stdout, o, runs)
	return nil
}

func flagsLabel(f []string) string {
	if len(f) == 0 {
		return "(defaults)"
	}
	return "`" + strings.Join(f, " ") + "`"
}

// cpuPerAnswer is the gateway's CPU time over the answers it gave.
func cpuPerAnswer(t *tally) string {
	if t.gatewayCPU == 0 || t.answers() == 0 {
		return "-"
	}
	return fmt.Sprintf("%.1fµs", float64(t.gatewayCPU)/float64(t.answers())/float64(time.Microsecond))
}

func perCall(n, calls int64) string {
	if calls == 0 {
		return "∞ (0 calls)"
	}
	return fmt.Sprintf("%.0f", float64(n)/float64(calls))
}

// fmtLat prints a percentile; one that is a timeout is a lower bound.
func fmtLat(d, timeoutAt time.Duration) string {
	if d >= timeoutAt {
		return "≥ " + d.String()
	}
	if d >= time.Second {
		return d.Round(10 * time.Millisecond).String()
	}
	return fmtDur(d)
}

func ratio(a, b float64) string {
	if math.IsInf(a, 1) || math.IsInf(b, 1) {
		return "-" // a run without upstream calls has no finite ratio
	}
	if b == 0 {
		if a == 0 {
			return "-"
		}
		return "∞"
	}
	return fmt.Sprintf("%.2f×", a/b)
}

func printMix(w io.Writer, o mixOptions, runs []mixRun) {
	fmt.Fprintf(w, "\nBudget mix: %d contacts, Zipf s=%g, shapes snapshot:tasks:search %d:%d:%d; sandbox limit %d per %v, %v upstream latency; %v per loop, client timeout %v.\n",
		o.contacts, o.zipfS, o.weights[0], o.weights[1], o.weights[2], o.limitMax, o.limitInterval, o.latency, o.duration, o.clientTimeout)
	fmt.Fprintf(w, "Latency percentiles are of every query; a timeout counts as the client timeout (≥). Upstream calls and 429s are counted at the sandbox.\n\n")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "| run\t| gateway flags\t| answers/s\t| full\t| stale\t| partial\t| RATE_LIMITED\t| other errors\t| client timeouts\t| p50 / p99\t| upstream calls\t| upstream 429s\t| with data / call\t| with data, 2nd half\t| gateway CPU / answer\t|")
	fmt.Fprintln(tw, "|---\t|---\t|---\t|---\t|---\t|---\t|---\t|---\t|---\t|---\t|---\t|---\t|---\t|---\t|---\t|")
	for _, r := range runs {
		t := r.t
		share := "-"
		if t.late > 0 {
			share = fmt.Sprintf("%.1f%%", 100*float64(t.lateData)/float64(t.late))
		}
		fmt.Fprintf(tw, "| %s\t| %s\t| %.1f\t| %d\t| %d\t| %d\t| %d\t| %d\t| %d\t| %s / %s\t| %d\t| %d\t| %s\t| %s\t| %s\t|\n",
			r.name, r.flags, float64(t.answers())/t.elapsed.Seconds(),
			t.counts[outFull], t.counts[outStale], t.counts[outPartial], t.counts[outRateLimited], t.counts[outOtherError], t.counts[outTimeout],
			fmtLat(t.latencies.p(50), t.timeoutAt), fmtLat(t.latencies.p(99), t.timeoutAt),
			r.calls, r.status429, perCall(t.withData(), r.calls), share, cpuPerAnswer(t))
	}
	tw.Flush()
	fmt.Fprintf(w, "\n")
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "| test / baseline\t| answers/s\t| answers with data\t| with data / call\t| p99\t| gateway CPU / answer\t|")
	fmt.Fprintln(tw, "|---\t|---\t|---\t|---\t|---\t|---\t|")
	for i := 0; i+1 < len(runs); i += 2 {
		b, t := runs[i], runs[i+1]
		loop, _, _ := strings.Cut(t.name, ", test")
		perCallOf := func(r mixRun) float64 {
			if r.calls == 0 {
				return math.Inf(1)
			}
			return float64(r.t.withData()) / float64(r.calls)
		}
		cpu := func(r mixRun) float64 {
			if r.t.answers() == 0 {
				return 0
			}
			return float64(r.t.gatewayCPU) / float64(r.t.answers())
		}
		fmt.Fprintf(tw, "| %s\t| %s\t| %s\t| %s\t| %s\t| %s\t|\n", loop,
			ratio(float64(t.t.answers())/t.t.elapsed.Seconds(), float64(b.t.answers())/b.t.elapsed.Seconds()),
			ratio(float64(t.t.withData()), float64(b.t.withData())),
			ratio(perCallOf(t), perCallOf(b)),
			ratio(float64(t.t.latencies.p(99)), float64(b.t.latencies.p(99))),
			ratio(cpu(t), cpu(b)))
	}
	tw.Flush()
}
