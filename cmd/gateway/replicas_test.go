package main

// Three gateway processes over one sandbox and one Redis (issue 13): what
// several replicas must do as one gateway. Each test runs the real binary
// three times, with its own key prefix in Redis; the test that kills Redis
// starts its own redis-server.

import (
	"bufio"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ghl-graphql/gateway/redisx/redistest"
	"github.com/ghl-graphql/gateway/server"
	"github.com/ghl-graphql/gateway/upstream/sandbox"
	"github.com/ghl-graphql/gateway/webhook"
)

// countedUpstream is the sandbox behind a handler that counts its answers.
type countedUpstream struct {
	sb       *sandbox.Server
	srv      *httptest.Server
	calls    atomic.Int64
	tooMany  atomic.Int64
	mu       sync.Mutex
	apiTimes []time.Time // when each API call (not the token endpoint) arrived
}

func newCountedUpstream(t *testing.T, cfg sandbox.Config) *countedUpstream {
	t.Helper()
	sb, err := sandbox.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	u := &countedUpstream{sb: sb}
	u.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasPrefix(r.URL.Path, "/oauth/") {
			u.calls.Add(1)
			u.mu.Lock()
			u.apiTimes = append(u.apiTimes, time.Now())
			u.mu.Unlock()
		}
		rec := &statusRecorder{ResponseWriter: w}
		sb.ServeHTTP(rec, r)
		if rec.status == http.StatusTooManyRequests {
			u.tooMany.Add(1)
		}
	}))
	t.Cleanup(u.srv.Close)
	return u
}

// maxInWindow is the most API calls that arrived within any window of d.
func (u *countedUpstream) maxInWindow(d time.Duration) int {
	u.mu.Lock()
	defer u.mu.Unlock()
	best, lo := 0, 0
	for hi, at := range u.apiTimes {
		for at.Sub(u.apiTimes[lo]) >= d {
			lo++
		}
		best = max(best, hi-lo+1)
	}
	return best
}

type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (r *statusRecorder) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *statusRecorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	return r.ResponseWriter.Write(b)
}

func (r *statusRecorder) Flush() {
	if f, ok := r.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// replica is one running gateway process.
type replica struct {
	p        *proc
	endpoint string // …/graphql
	base     string
}

// startReplicas starts n gateways with the same arguments and environment.
func startReplicas(t *testing.T, bin string, n int, env []string, args ...string) []*replica {
	t.Helper()
	out := make([]*replica, n)
	var wg sync.WaitGroup
	for i := range out {
		p := start(t, bin, env, append([]string{"-addr", "127.0.0.1:0"}, args...)...)
		wg.Add(1)
		go func() {
			defer wg.Done()
			ep := p.waitLines(t, "GraphQL endpoint:")["GraphQL endpoint:"]
			out[i] = &replica{p: p, endpoint: ep, base: strings.TrimSuffix(ep, server.GraphQLPath)}
			go func() { // keep stdout drained
				for range p.lines {
				}
			}()
		}()
	}
	wg.Wait()
	return out
}

// client is a keep-alive client for many concurrent requests.
var replicaClient = &http.Client{Timeout: time.Minute, Transport: &http.Transport{MaxIdleConnsPerHost: 512, MaxConnsPerHost: 0}}

// gqlAnswer is a decoded GraphQL answer.
type gqlAnswer struct {
	status int
	Data   map[string]any   `json:"data"`
	Errors []map[string]any `json:"errors"`
}

func (a gqlAnswer) code() string {
	if len(a.Errors) == 0 {
		return ""
	}
	ext, _ := a.Errors[0]["extensions"].(map[string]any)
	c, _ := ext["code"].(string)
	if c == "" {
		c = "(no code)"
	}
	return c
}

// ask posts a query with headers (name, value pairs) and decodes the answer.
func ask(ctx context.Context, endpoint, token, query string, headers ...string) (gqlAnswer, error) {
	body, _ := json.Marshal(map[string]any{"query": query})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, strings.NewReader(string(body)))
	if err != nil {
		return gqlAnswer{}, err
	}
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := replicaClient.Do(req)
	if err != nil {
		return gqlAnswer{}, err
	}
	defer resp.Body.Close()
	var a gqlAnswer
	a.status = resp.StatusCode
	if err := json.NewDecoder(resp.Body).Decode(&a); err != nil {
		return a, fmt.Errorf("status %d: %w", resp.StatusCode, err)
	}
	return a, nil
}

func mustAsk(t *testing.T, endpoint, token, query string, headers ...string) gqlAnswer {
	t.Helper()
	a, err := ask(context.Background(), endpoint, token, query, headers...)
	if err != nil {
		t.Fatalf("%s: %v", endpoint, err)
	}
	if a.status != http.StatusOK || len(a.Errors) > 0 {
		t.Fatalf("%s: status %d, errors %v", endpoint, a.status, a.Errors)
	}
	return a
}

const replicaSnapshot = `{ contact(id: "%s") { id email tags tasks { id title } notes { id body } appointments { id startTime } } }`

// TestReplicasShareTheBudget: ten times the budget, spread over three
// replicas, reaches the upstream as at most the budget: zero 429s.
func TestReplicasShareTheBudget(t *testing.T) {
	redisURL := redistest.URL(t)
	bin := buildGateway(t)
	up := newCountedUpstream(t, sandbox.Config{Seed: 31, ContactsPerLocation: 300, Latency: 5 * time.Millisecond,
		RateLimit: sandbox.RateLimit{Max: 20, Interval: 2 * time.Second}})
	gws := startReplicas(t, bin, 3, nil, "-upstream-url", up.srv.URL, "-redis-url", redisURL, "-redis-prefix", redistest.Prefix(t, redisURL),
		"-rate-max", "20", "-rate-interval", "2s", "-log-level", "warn")
	loc := up.sb.Locations()[0]
	token := up.sb.AccessToken(loc, sandbox.ScopeContactsRead, sandbox.ScopeContactsWrite)
	ids := up.sb.ContactIDs(loc)

	// 30 clients, each asking for contacts no one asked for yet, for 6 s:
	// about ten times the 10 calls per second the location allows.
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Second)
	defer cancel()
	var next atomic.Int64
	var answers, withData, rateLimited, other atomic.Int64
	var wg sync.WaitGroup
	for c := range 30 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			gw := gws[c%3]
			for ctx.Err() == nil {
				id := ids[int(next.Add(1))%len(ids)]
				a, err := ask(ctx, gw.endpoint, token, fmt.Sprintf(`{ contact(id: "%s") { id email } }`, id), "Cache-Control", "no-cache")
				if err != nil {
					continue // the loop's end cut it off
				}
				answers.Add(1)
				switch {
				case a.Data["contact"] != nil && len(a.Errors) == 0:
					withData.Add(1)
				case a.code() == "RATE_LIMITED":
					rateLimited.Add(1)
				default:
					other.Add(1)
					t.Errorf("answer: status %d, %v", a.status, a.Errors)
				}
			}
		}()
	}
	wg.Wait()
	t.Logf("%d answers: %d with data, %d RATE_LIMITED; %d upstream calls, most in any 2 s: %d",
		answers.Load(), withData.Load(), rateLimited.Load(), up.calls.Load(), up.maxInWindow(2*time.Second))
	if n := up.tooMany.Load(); n != 0 {
		t.Errorf("the upstream answered %d 429s: the replicas spent more than the one budget", n)
	}
	if n := up.maxInWindow(2 * time.Second); n > 20 {
		t.Errorf("%d calls in one 2-s window, limit 20", n)
	}
	if withData.Load() == 0 || rateLimited.Load() == 0 {
		t.Errorf("the load did not exceed the budget (%d with data, %d refused): the test proves nothing", withData.Load(), rateLimited.Load())
	}
}

// TestReplicasColdSnapshotOnce: the same cold snapshot asked of three
// replicas, at once or one after another, costs its four calls once.
func TestReplicasColdSnapshotOnce(t *testing.T) {
	redisURL := redistest.URL(t)
	bin := buildGateway(t)
	up := newCountedUpstream(t, sandbox.Config{Seed: 32, ContactsPerLocation: 10, Latency: 50 * time.Millisecond})
	gws := startReplicas(t, bin, 3, nil, "-upstream-url", up.srv.URL, "-redis-url", redisURL, "-redis-prefix", redistest.Prefix(t, redisURL), "-log-level", "warn")
	loc := up.sb.Locations()[0]
	token := up.sb.AccessToken(loc, sandbox.ScopeContactsRead, sandbox.ScopeContactsWrite)
	ids := up.sb.ContactIDs(loc)
	// Confirm the token on every replica first, so that the counts below
	// are the snapshot's own calls.
	for _, gw := range gws {
		mustAsk(t, gw.endpoint, token, fmt.Sprintf(`{ contact(id: "%s") { id } }`, ids[9]))
	}

	t.Run("one after another", func(t *testing.T) {
		before := up.calls.Load()
		for _, gw := range gws {
			mustAsk(t, gw.endpoint, token, fmt.Sprintf(replicaSnapshot, ids[0]))
		}
		if n := up.calls.Load() - before; n != 4 {
			t.Errorf("%d upstream calls for one snapshot on three replicas, want 4", n)
		}
	})
	t.Run("at once", func(t *testing.T) {
		before := up.calls.Load()
		var wg sync.WaitGroup
		for _, gw := range gws {
			for range 5 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					mustAsk(t, gw.endpoint, token, fmt.Sprintf(replicaSnapshot, ids[1]))
				}()
			}
		}
		wg.Wait()
		if n := up.calls.Load() - before; n != 4 {
			t.Errorf("%d upstream calls for 15 identical cold snapshots on three replicas, want 4", n)
		}
	})
}

// sseStream is an open subscription over Server-Sent Events.
type sseStream struct {
	events chan string
	cancel context.CancelFunc
}

// subscribe opens a subscription on gw and returns the data of its events.
func subscribe(t *testing.T, gw *replica, token, query string) *sseStream {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	body, _ := json.Marshal(map[string]any{"query": query})
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, gw.endpoint, strings.NewReader(string(body)))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "text/event-stream")
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := (&http.Client{}).Do(req)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		cancel()
		t.Fatalf("subscription: status %d: %s", resp.StatusCode, b)
	}
	s := &sseStream{events: make(chan string, 100), cancel: cancel}
	go func() {
		defer resp.Body.Close()
		defer close(s.events)
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			if data, ok := strings.CutPrefix(sc.Text(), "data:"); ok && strings.Contains(data, `"data"`) {
				s.events <- strings.TrimSpace(data)
			}
		}
	}()
	t.Cleanup(cancel)
	return s
}

// next waits for the stream's next event.
func (s *sseStream) next(t *testing.T, what string) string {
	t.Helper()
	select {
	case e, ok := <-s.events:
		if !ok {
			t.Fatalf("%s: the stream ended", what)
		}
		return e
	case <-time.After(20 * time.Second):
		t.Fatalf("%s: no event", what)
	}
	return ""
}

// quiet checks that no further event arrives within d.
func (s *sseStream) quiet(t *testing.T, d time.Duration, what string) {
	t.Helper()
	select {
	case e := <-s.events:
		t.Errorf("%s: an extra event %s", what, e)
	case <-time.After(d):
	}
}

// TestReplicasCoherent: a write on one replica is seen on the others at
// once; a webhook to one replica reaches the subscribers of all, once each;
// one webhook delivered to two replicas takes effect once.
func TestReplicasCoherent(t *testing.T) {
	redisURL := redistest.URL(t)
	bin := buildGateway(t)
	up := newCountedUpstream(t, sandbox.Config{Seed: 33, ContactsPerLocation: 10})
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	pemText, err := webhook.MarshalPublicKeyPEM(pub)
	if err != nil {
		t.Fatal(err)
	}
	gws := startReplicas(t, bin, 3, []string{"GATEWAY_WEBHOOK_ED25519_KEY=" + string(pemText)},
		"-upstream-url", up.srv.URL, "-redis-url", redisURL, "-redis-prefix", redistest.Prefix(t, redisURL), "-log-level", "warn")
	loc := up.sb.Locations()[0]
	token := up.sb.AccessToken(loc, sandbox.ScopeContactsRead, sandbox.ScopeContactsWrite)
	ids := up.sb.ContactIDs(loc)
	read := fmt.Sprintf(`{ contact(id: "%s") { id tags } }`, ids[0])

	t.Run("a write on 1 is read on 2 and 3", func(t *testing.T) {
		for _, gw := range gws {
			mustAsk(t, gw.endpoint, token, read) // warm every replica's caches
		}
		mustAsk(t, gws[0].endpoint, token, fmt.Sprintf(`mutation { addContactTags(contactId: "%s", tags: ["replicated"]) { tags } }`, ids[0]))
		for i, gw := range gws[1:] {
			a := mustAsk(t, gw.endpoint, token, read)
			if b, _ := json.Marshal(a.Data); !strings.Contains(string(b), "replicated") {
				t.Errorf("replica %d after the write on replica 1: %s", i+2, b)
			}
		}
	})

	hook := func(id, wid string) []byte {
		b, _ := json.Marshal(map[string]any{"type": "ContactUpdate", "locationId": loc, "id": id,
			"timestamp": time.Now().UTC().Format(time.RFC3339), "webhookId": wid})
		return b
	}
	deliver := func(gw *replica, body []byte) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPost, gw.base+server.WebhookPath, strings.NewReader(string(body)))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set(webhook.HeaderSignature, webhook.SignEd25519(priv, body))
		resp, err := replicaClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("webhook to %s: status %d", gw.base, resp.StatusCode)
		}
	}

	t.Run("a webhook to 2 reaches subscribers on 1 and 3 once each", func(t *testing.T) {
		subs := []*sseStream{
			subscribe(t, gws[0], token, `subscription { contactsChanged { contactId webhookId } }`),
			subscribe(t, gws[2], token, `subscription { contactsChanged { contactId webhookId } }`),
		}
		// The streams are open once a first webhook reaches both (the
		// subscription registers just after the answer's headers).
		ready := false
		for try := 0; !ready && try < 20; try++ {
			wid := "ready-" + strconv.Itoa(try)
			deliver(gws[1], hook(ids[2], wid))
			ready = true
			for _, s := range subs {
				select {
				case e := <-s.events:
					if !strings.Contains(e, wid) {
						ready = false
					}
				case <-time.After(500 * time.Millisecond):
					ready = false
				}
			}
		}
		if !ready {
			t.Fatal("the subscriptions never received a webhook")
		}
		for _, s := range subs { // what the readiness loop left behind
			for len(s.events) > 0 {
				<-s.events
			}
		}
		deliver(gws[1], hook(ids[3], "to-replica-2"))
		for i, s := range subs {
			if e := s.next(t, "subscriber "+strconv.Itoa(i)); !strings.Contains(e, "to-replica-2") {
				t.Errorf("subscriber %d: %s", i, e)
			}
		}
		for i, s := range subs {
			s.quiet(t, time.Second, "subscriber "+strconv.Itoa(i))
		}

		// The same webhook to replicas 1 and 3 (HighLevel's retry landing
		// elsewhere): one event in all.
		twice := hook(ids[4], "delivered-twice")
		var wg sync.WaitGroup
		for _, gw := range []*replica{gws[0], gws[2]} {
			wg.Add(1)
			go func() { defer wg.Done(); deliver(gw, twice) }()
		}
		wg.Wait()
		for i, s := range subs {
			if e := s.next(t, "subscriber "+strconv.Itoa(i)); !strings.Contains(e, "delivered-twice") {
				t.Errorf("subscriber %d: %s", i, e)
			}
		}
		for i, s := range subs {
			s.quiet(t, time.Second, "subscriber "+strconv.Itoa(i)+" after a webhook delivered twice")
		}
	})
}

// managedReplicas starts three gateways in managed mode sharing Redis,
// installs the app through the first, and returns them with a key.
func managedReplicas(t *testing.T, bin string, up *countedUpstream, redisURL string, extra ...string) ([]*replica, string, string) {
	t.Helper()
	const clientID, clientSecret = "replica-app", "app-secret-3e1d7f9c"
	up.sb.RegisterOAuthClient(clientID, clientSecret)
	loc := up.sb.Locations()[0]
	keysFile := filepath.Join(t.TempDir(), "keys.json")
	key := createKey(t, bin, keysFile, loc, "write")
	env := []string{
		"GATEWAY_OAUTH_CLIENT_SECRET=" + clientSecret,
		"GATEWAY_OAUTH_STORE_KEY=" + strings.Repeat("5a", 32),
		"GATEWAY_OAUTH_STATE_KEY=" + strings.Repeat("c3", 32),
	}
	args := append([]string{"-upstream-url", up.srv.URL, "-auth-mode", "managed",
		"-oauth-client-id", clientID, "-oauth-redirect-url", "http://127.0.0.1/oauth/callback",
		"-oauth-token-url", up.srv.URL + "/oauth/token", "-keys-file", keysFile,
		"-redis-url", redisURL, "-log-level", "warn"}, extra...)
	gws := startReplicas(t, bin, 3, env, args...)
	install, err := up.sb.Install(gws[0].base+"/oauth/install", gws[0].base+"/oauth/callback", loc)
	if err != nil || install.Status != http.StatusOK {
		t.Fatalf("install: %v, status %d; stderr:\n%s", err, install.Status, gws[0].p.stderr)
	}
	return gws, key, loc
}

// TestReplicasRefreshOnce: 1,000 concurrent requests on an expired managed
// token, spread over three replicas, cause exactly one refresh, and every
// request succeeds.
func TestReplicasRefreshOnce(t *testing.T) {
	redisURL := redistest.URL(t)
	bin := buildGateway(t)
	up := newCountedUpstream(t, sandbox.Config{Seed: 34, ContactsPerLocation: 10, Latency: 10 * time.Millisecond})
	gws, key, loc := managedReplicas(t, bin, up, redisURL, "-redis-prefix", redistest.Prefix(t, redisURL), "-redis-accept-no-persistence",
		"-max-conns-per-client", "2000", "-max-concurrent-requests", "2000")
	ids := up.sb.ContactIDs(loc)
	for _, gw := range gws {
		mustAsk(t, gw.endpoint, key, fmt.Sprintf(`{ contact(id: "%s") { id } }`, ids[0]))
	}
	up.sb.ExpireAccessTokens(loc)
	before := up.sb.Refreshes()
	var wg sync.WaitGroup
	var failed atomic.Int64
	for i := range 1000 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// no-cache: every request needs the upstream, so every one
			// meets the expired token.
			a, err := ask(context.Background(), gws[i%3].endpoint, key, fmt.Sprintf(`{ contact(id: "%s") { id } }`, ids[1+i%9]), "Cache-Control", "no-cache")
			if err != nil || a.status != http.StatusOK || len(a.Errors) > 0 {
				if failed.Add(1) <= 5 {
					t.Errorf("request %d: %v, status %d, %v", i, err, a.status, a.Errors)
				}
			}
		}()
	}
	wg.Wait()
	if n := up.sb.Refreshes() - before; n != 1 {
		t.Errorf("%d refreshes for 1,000 requests on three replicas, want exactly 1", n)
	}
	if n := failed.Load(); n != 0 {
		t.Errorf("%d of 1,000 requests failed", n)
	}
}

// readyBody is /readyz's status and body.
func readyBody(gw *replica) (int, string) {
	resp, err := replicaClient.Get(gw.base + server.ReadyPath)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestReplicasSurviveARedisRestart: Redis killed and restarted mid-load:
// no replica crashes, the upstream sees no 429, no token is lost, and the
// replicas leave their degraded mode within seconds of Redis returning.
func TestReplicasSurviveARedisRestart(t *testing.T) {
	redistest.URL(t) // like every Redis test, run only where REDIS_URL is set
	// AOF with fsync on every write: the kill loses no token written before it.
	r := redistest.Start(t, "--appendfsync", "always")
	bin := buildGateway(t)
	up := newCountedUpstream(t, sandbox.Config{Seed: 35, ContactsPerLocation: 200, Latency: 5 * time.Millisecond,
		RateLimit: sandbox.RateLimit{Max: 30, Interval: 3 * time.Second}})
	gws, key, loc := managedReplicas(t, bin, up, r.URL(), "-rate-max", "30", "-rate-interval", "3s")
	ids := up.sb.ContactIDs(loc)
	for _, gw := range gws {
		if status, body := readyBody(gw); status != http.StatusOK || strings.Contains(body, "degraded") {
			t.Fatalf("before: /readyz %d %s", status, body)
		}
	}

	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	var answers, withData, refused atomic.Int64
	for c := range 12 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := c; ctx.Err() == nil; i += 12 {
				a, err := ask(ctx, gws[c%3].endpoint, key, fmt.Sprintf(`{ contact(id: "%s") { id } }`, ids[i%len(ids)]))
				if err != nil {
					continue
				}
				answers.Add(1)
				switch code := a.code(); {
				case a.status == http.StatusOK && code == "":
					withData.Add(1)
				case code == "RATE_LIMITED" || code == "UNAVAILABLE":
					refused.Add(1)
				default:
					t.Errorf("answer during the restart: status %d, %v", a.status, a.Errors)
				}
			}
		}()
	}
	time.Sleep(2 * time.Second)
	r.Kill()
	degradedSeen := false
	for range 50 {
		if _, body := readyBody(gws[1]); strings.Contains(body, "degraded") {
			degradedSeen = true
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	time.Sleep(2 * time.Second)
	r.Restart()
	restarted := time.Now()
	recovered := map[int]time.Duration{}
	for len(recovered) < len(gws) && time.Since(restarted) < 30*time.Second {
		for i, gw := range gws {
			if _, ok := recovered[i]; ok {
				continue
			}
			if status, body := readyBody(gw); status == http.StatusOK && !strings.Contains(body, "degraded") {
				recovered[i] = time.Since(restarted)
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	time.Sleep(time.Second)
	cancel()
	wg.Wait()
	t.Logf("%d answers: %d with data, %d refused; recovered after %v", answers.Load(), withData.Load(), refused.Load(), recovered)
	if !degradedSeen {
		t.Error("/readyz never said degraded while Redis was down")
	}
	if len(recovered) < len(gws) {
		t.Errorf("only %d of %d replicas left the degraded mode within 30 s of Redis returning", len(recovered), len(gws))
	}
	for i, gw := range gws {
		select {
		case <-gw.p.done:
			t.Errorf("replica %d exited: %v; stderr:\n%s", i+1, gw.p.err, gw.p.stderr)
		default:
		}
	}
	if n := up.tooMany.Load(); n != 0 {
		t.Errorf("%d upstream 429s", n)
	}
	// No token was lost: the pair survives, and a refresh after the
	// restart works (HighLevel would refuse a lost, rotated one).
	up.sb.ExpireAccessTokens(loc)
	before := up.sb.Refreshes()
	// The load spent the window: wait (as a client told retryAfter would)
	// for a slot, then the call must succeed.
	for deadline := time.Now().Add(20 * time.Second); ; {
		a, err := ask(context.Background(), gws[2].endpoint, key, fmt.Sprintf(`{ contact(id: "%s") { id } }`, ids[0]), "Cache-Control", "no-cache")
		if err == nil && a.code() == "RATE_LIMITED" && time.Now().Before(deadline) {
			time.Sleep(500 * time.Millisecond)
			continue
		}
		if err != nil || a.status != http.StatusOK || len(a.Errors) > 0 {
			t.Fatalf("after the restart: %v, status %d, %v", err, a.status, a.Errors)
		}
		break
	}
	if up.sb.Refreshes() != before+1 {
		t.Errorf("refreshes %d → %d after the restart", before, up.sb.Refreshes())
	}
}
