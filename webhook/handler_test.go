package webhook

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/ghl-graphql/gateway/events"
	"github.com/ghl-graphql/gateway/internal/fakeclock"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// recorder is the Apply of the tests: it records what was applied, and can
// hold the workers at a barrier.
type recorder struct {
	mu   sync.Mutex
	got  []events.Change
	hold chan struct{} // when not nil, Apply waits for it to close
	seen chan events.Change
}

func (r *recorder) apply(_ context.Context, c events.Change) {
	if r.hold != nil {
		<-r.hold
	}
	r.mu.Lock()
	r.got = append(r.got, c)
	r.mu.Unlock()
	if r.seen != nil {
		r.seen <- c
	}
}

func (r *recorder) changes() []events.Change {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]events.Change(nil), r.got...)
}

type keys struct {
	ed    ed25519.PrivateKey
	rsa   *rsa.PrivateKey
	other ed25519.PrivateKey // a key the receiver does not trust
}

var testKeys = func() keys {
	_, ed, _ := ed25519.GenerateKey(rand.Reader)
	_, other, _ := ed25519.GenerateKey(rand.Reader)
	rk, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	return keys{ed: ed, rsa: rk, other: other}
}()

type harness struct {
	t     *testing.T
	rec   *recorder
	r     *Receiver
	clock *fakeclock.Clock
	logs  *bytes.Buffer
}

func newHarness(t *testing.T, mod func(*Config)) *harness {
	t.Helper()
	h := &harness{t: t, rec: &recorder{}, clock: fakeclock.New(t0), logs: &bytes.Buffer{}}
	cfg := Config{Ed25519Keys: []ed25519.PublicKey{testKeys.ed.Public().(ed25519.PublicKey)},
		RSAKey: &testKeys.rsa.PublicKey, Apply: h.rec.apply, Now: h.clock.Now,
		Logger: slog.New(slog.NewTextHandler(h.logs, nil))}
	if mod != nil {
		mod(&cfg)
	}
	r, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	h.r = r
	t.Cleanup(func() { h.drain() })
	return h
}

// drain applies everything queued; after it, what was accepted was applied.
func (h *harness) drain() {
	h.t.Helper()
	if err := h.r.Drain(context.Background()); err != nil {
		h.t.Fatal(err)
	}
}

// payload returns a ContactUpdate body for contact id.
func payload(typ, id string, at time.Time, webhookID string) []byte {
	b, _ := json.Marshal(map[string]any{"type": typ, "locationId": "loc1", "id": id, "timestamp": at.Format(time.RFC3339),
		"webhookId": webhookID, "firstName": "Ada"})
	return b
}

func (h *harness) post(body []byte, header map[string]string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(http.MethodPost, Path, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	for k, v := range header {
		req.Header.Set(k, v)
	}
	w := httptest.NewRecorder()
	h.r.ServeHTTP(w, req)
	return w
}

func edSig(body []byte) map[string]string {
	return map[string]string{HeaderSignature: SignEd25519(testKeys.ed, body)}
}

func rsaSig(t *testing.T, body []byte) map[string]string {
	s, err := SignRSA(testKeys.rsa, body)
	if err != nil {
		t.Fatal(err)
	}
	return map[string]string{"x-wh-signature": s}
}

func TestAcceptsBothSchemes(t *testing.T) {
	h := newHarness(t, nil)
	b1 := payload("ContactUpdate", "c1", t0, "w1")
	if w := h.post(b1, edSig(b1)); w.Code != http.StatusOK || !strings.Contains(w.Body.String(), "accepted") {
		t.Fatalf("Ed25519: %d %s", w.Code, w.Body)
	}
	b2 := payload("ContactUpdate", "c2", t0, "w2")
	if w := h.post(b2, rsaSig(t, b2)); w.Code != http.StatusOK {
		t.Fatalf("RSA: %d %s", w.Code, w.Body)
	}
	h.drain()
	got := h.rec.changes()
	if len(got) != 2 {
		t.Fatalf("applied %d changes, want 2", len(got))
	}
	for _, c := range got {
		if c.Object != events.ObjectContact || c.Kind != events.KindUpdated || c.LocationID != "loc1" || !c.At.Equal(t0) {
			t.Errorf("change = %+v", c)
		}
	}
	if s := h.r.Stats(); s.Accepted != 2 || s.Applied != 2 {
		t.Errorf("stats = %+v", s)
	}
}

// TestRefusedChangeNothing: every webhook that is not authentic, fresh and
// new is refused (or, for a replay, acknowledged) and nothing is applied.
func TestRefusedChangeNothing(t *testing.T) {
	body := payload("ContactUpdate", "c1", t0, "w1")
	tampered := bytes.Replace(body, []byte("Ada"), []byte("Eve"), 1)
	otherSig := SignEd25519(testKeys.other, body)
	rsaOther, _ := rsa.GenerateKey(rand.Reader, 2048)
	rsaForged, _ := SignRSA(rsaOther, body)
	big := payload("ContactUpdate", strings.Repeat("x", 10), t0, "w9")
	big = append(big[:len(big)-1], []byte(`,"pad":"`+strings.Repeat("a", DefaultMaxBodyBytes)+`"}`)...)
	stale := payload("ContactUpdate", "c1", t0.Add(-6*time.Minute), "w3")
	future := payload("ContactUpdate", "c1", t0.Add(6*time.Minute), "w4")
	noLoc := []byte(`{"type":"ContactUpdate","id":"c1","timestamp":"2026-03-01T12:00:00Z","webhookId":"w5"}`)
	array := []byte(`[{"type":"ContactUpdate"}]`)

	for _, tc := range []struct {
		name   string
		legacy bool // the legacy scheme enabled
		body   []byte
		header map[string]string
		status int
		reason string
	}{
		{"unsigned", true, body, nil, 401, ReasonSignature},
		{"signed by another key", true, body, map[string]string{HeaderSignature: otherSig}, 401, ReasonSignature},
		{"body changed after signing", true, tampered, edSig(body), 401, ReasonSignature},
		{"signature not base64", true, body, map[string]string{HeaderSignature: "%%%"}, 401, ReasonSignature},
		{"empty-looking signature", true, body, map[string]string{HeaderSignature: "AAAA"}, 401, ReasonSignature},
		{"legacy forged", true, body, map[string]string{"x-wh-signature": rsaForged}, 401, ReasonSignature},
		{"legacy when disabled", false, body, rsaSig(t, body), 401, ReasonSignature},
		{"bad Ed25519 with good legacy", true, body, map[string]string{HeaderSignature: otherSig, "x-wh-signature": rsaSig(t, body)["x-wh-signature"]}, 401, ReasonSignature},
		{"oversized", true, big, edSig(big), 413, ReasonTooLarge},
		{"stale", true, stale, edSig(stale), 401, ReasonStale},
		{"from the future", true, future, edSig(future), 401, ReasonStale},
		{"no locationId", true, noLoc, edSig(noLoc), 400, ReasonPayload},
		{"not an object", true, array, edSig(array), 400, ReasonPayload},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, func(c *Config) {
				if !tc.legacy {
					c.RSAKey = nil
				}
			})
			w := h.post(tc.body, tc.header)
			if w.Code != tc.status {
				t.Fatalf("status = %d, want %d (%s)", w.Code, tc.status, w.Body)
			}
			h.drain()
			if got := h.rec.changes(); len(got) != 0 {
				t.Errorf("applied %v", got)
			}
			if s := h.r.Stats(); s.Refused[tc.reason] != 1 || s.Accepted != 0 {
				t.Errorf("stats = %+v, want one refusal for %s", s, tc.reason)
			}
			logs := h.logs.String()
			if n := strings.Count(logs, "webhook refused"); n != 1 {
				t.Errorf("%d log lines, want 1: %s", n, logs)
			}
			for _, secret := range []string{"Ada", "Eve", otherSig, tc.header[HeaderSignature]} {
				if secret != "" && strings.Contains(logs, secret) {
					t.Errorf("log holds the body or the signature: %s", logs)
				}
			}
		})
	}
}

func TestReplayIsAcknowledgedWithoutEffect(t *testing.T) {
	h := newHarness(t, nil)
	body := payload("ContactUpdate", "c1", t0, "w1")
	for i := range 3 {
		if w := h.post(body, edSig(body)); w.Code != http.StatusOK {
			t.Fatalf("delivery %d: %d", i, w.Code)
		}
	}
	h.drain()
	if got := h.rec.changes(); len(got) != 1 {
		t.Errorf("applied %d times, want once", len(got))
	}
	if s := h.r.Stats(); s.Duplicates != 2 {
		t.Errorf("duplicates = %d, want 2", s.Duplicates)
	}
}

func TestUnknownTypeAcknowledgedAndCounted(t *testing.T) {
	h := newHarness(t, nil)
	body := payload("OpportunityCreate", "o1", t0, "w1")
	if w := h.post(body, edSig(body)); w.Code != http.StatusOK || !strings.Contains(w.Body.String(), "ignored") {
		t.Fatalf("%d %s", w.Code, w.Body)
	}
	h.drain()
	if got := h.rec.changes(); len(got) != 0 {
		t.Errorf("applied %v", got)
	}
	if s := h.r.Stats(); s.Unknown["OpportunityCreate"] != 1 {
		t.Errorf("stats = %+v", s)
	}
}

// TestFullQueueAnswers503ThenRetrySucceeds: a full shard refuses with 503
// and forgets the webhookId, so HighLevel's retry is taken, not dropped as
// a replay.
func TestFullQueueAnswers503ThenRetrySucceeds(t *testing.T) {
	hold := make(chan struct{})
	h := newHarness(t, func(c *Config) { c.Workers, c.QueueDepth = 1, 1 })
	h.rec.hold = hold
	h.rec.seen = make(chan events.Change, 10)
	send := func(id string) int {
		b := payload("ContactUpdate", "c1", t0, id)
		return h.post(b, edSig(b)).Code
	}
	if c := send("w1"); c != 200 { // taken by the worker, held at the barrier
		t.Fatal(c)
	}
	// The worker may not have taken w1 yet: fill until the shard refuses.
	var refused string
	for i := 2; i < 5 && refused == ""; i++ {
		id := fmt.Sprintf("w%d", i)
		switch c := send(id); c {
		case 200:
		case 503:
			refused = id
		default:
			t.Fatalf("status %d", c)
		}
	}
	if refused == "" {
		t.Fatal("the queue never filled")
	}
	close(hold)
	// Wait until everything queued has been applied, then retry.
	for h.r.Stats().Queued > 0 || h.r.Stats().Applied < h.r.Stats().Accepted {
		<-h.rec.seen
	}
	if c := send(refused); c != 200 {
		t.Fatalf("retry of the refused webhook: %d, want 200", c)
	}
	// seen may still hold the signals of earlier changes: wait for the
	// retried one itself.
	for c := range h.rec.seen {
		if c.WebhookID == refused {
			break
		}
	}
	var ids []string
	for _, c := range h.rec.changes() {
		ids = append(ids, c.WebhookID)
	}
	if ids[len(ids)-1] != refused {
		t.Errorf("applied %v, want the retried %s last", ids, refused)
	}
}

// TestOrderedPerContact: changes of one contact are applied in the order
// they were accepted.
func TestOrderedPerContact(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.Workers = 4 })
	for i := range 200 {
		b := payload("ContactUpdate", fmt.Sprintf("c%d", i%5), t0, fmt.Sprintf("w%03d", i))
		if w := h.post(b, edSig(b)); w.Code != 200 {
			t.Fatal(w.Code)
		}
	}
	h.drain()
	last := map[string]string{}
	for _, c := range h.rec.changes() {
		if c.WebhookID < last[c.ContactID] {
			t.Fatalf("contact %s: %s applied after %s", c.ContactID, c.WebhookID, last[c.ContactID])
		}
		last[c.ContactID] = c.WebhookID
	}
	if n := len(h.rec.changes()); n != 200 {
		t.Errorf("applied %d, want 200", n)
	}
}

// TestDrainAppliesEverythingThenRefuses: shutdown applies what was
// accepted and answers 503 to what comes after.
func TestDrainAppliesEverythingThenRefuses(t *testing.T) {
	hold := make(chan struct{})
	h := newHarness(t, nil)
	h.rec.hold = hold
	for i := range 10 {
		b := payload("ContactUpdate", fmt.Sprintf("c%d", i), t0, fmt.Sprintf("w%d", i))
		if w := h.post(b, edSig(b)); w.Code != 200 {
			t.Fatal(w.Code)
		}
	}
	done := make(chan error)
	go func() { done <- h.r.Drain(context.Background()) }()
	close(hold)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if n := len(h.rec.changes()); n != 10 {
		t.Errorf("applied %d after drain, want 10", n)
	}
	b := payload("ContactUpdate", "c1", t0, "late")
	if w := h.post(b, edSig(b)); w.Code != http.StatusServiceUnavailable {
		t.Errorf("after drain: %d, want 503", w.Code)
	}
}

func TestWindowFollowsTheClock(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.Window = time.Minute })
	b := payload("ContactUpdate", "c1", t0, "w1")
	h.clock.Advance(61 * time.Second)
	if w := h.post(b, edSig(b)); w.Code != 401 {
		t.Errorf("61 s old with a 1-minute window: %d, want 401", w.Code)
	}
	h.clock.Set(t0.Add(59 * time.Second))
	if w := h.post(b, edSig(b)); w.Code != 200 {
		t.Errorf("59 s old: %d, want 200", w.Code)
	}
}

func TestNewNeedsAKey(t *testing.T) {
	if _, err := New(Config{Apply: func(context.Context, events.Change) {}}); err == nil {
		t.Error("New with no key succeeded")
	}
	if _, err := New(Config{RSAKey: &testKeys.rsa.PublicKey}); err == nil {
		t.Error("New with no Apply succeeded")
	}
}

func TestMethodNotAllowed(t *testing.T) {
	h := newHarness(t, nil)
	w := httptest.NewRecorder()
	h.r.ServeHTTP(w, httptest.NewRequest(http.MethodGet, Path, nil))
	if w.Code != http.StatusMethodNotAllowed {
		t.Errorf("GET: %d", w.Code)
	}
}
