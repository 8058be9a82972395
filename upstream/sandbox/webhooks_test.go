package sandbox_test

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/ghl-graphql/gateway/upstream"
	"github.com/ghl-graphql/gateway/upstream/sandbox"
)

// noLeak checks, after every other cleanup of t, that no goroutine started
// by the test outlives it.
func noLeak(t *testing.T) {
	opt := goleak.IgnoreCurrent()
	t.Cleanup(func() { goleak.VerifyNone(t, opt) })
}

// hookSink receives webhooks, checks their signature and records them.
type hookSink struct {
	t    *testing.T
	pub  ed25519.PublicKey
	mu   sync.Mutex
	got  []map[string]any
	fail int // answer 500 to this many first attempts
	each chan map[string]any
}

func (h *hookSink) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.fail > 0 {
		h.fail--
		w.WriteHeader(http.StatusInternalServerError)
		return
	}
	sig, err := base64.StdEncoding.DecodeString(r.Header.Get("X-GHL-Signature"))
	if err != nil || h.pub == nil || !ed25519.Verify(h.pub, body, sig) {
		h.t.Errorf("webhook signature does not verify: %q", r.Header.Get("X-GHL-Signature"))
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	var p map[string]any
	if err := json.Unmarshal(body, &p); err != nil {
		h.t.Errorf("webhook body: %v", err)
	}
	h.got = append(h.got, p)
	h.each <- p
}

// next waits for the next webhook (the delivery's own order).
func (h *hookSink) next(t *testing.T) map[string]any {
	t.Helper()
	select {
	case p := <-h.each:
		return p
	case <-time.After(10 * time.Second): // a hang guard, not a threshold
		t.Fatal("no webhook delivered")
		return nil
	}
}

func startHooks(t *testing.T, e *env, cfg sandbox.WebhookConfig, fail int) *hookSink {
	t.Helper()
	sink := &hookSink{t: t, fail: fail, each: make(chan map[string]any, 100)}
	srv := httptest.NewServer(sink)
	t.Cleanup(srv.Close)
	cfg.URL = srv.URL
	sink.mu.Lock()
	pub, stop, err := e.s.StartWebhooks(cfg)
	sink.pub = pub
	sink.mu.Unlock()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop)
	return sink
}

// TestWebhooksForEveryChange: each kind of change made through the API
// (and appointments through the Go API) is delivered, signed, in
// HighLevel's shape, with a timestamp and a webhookId.
func TestWebhooksForEveryChange(t *testing.T) {
	noLeak(t)
	e := newEnv(t, sandbox.Config{ContactsPerLocation: 3})
	sink := startHooks(t, e, sandbox.WebhookConfig{}, 0)
	ctx := context.Background()
	seen := map[string]bool{}
	want := func(typ string, check func(p map[string]any)) {
		t.Helper()
		p := sink.next(t)
		if p["type"] != typ {
			t.Fatalf("webhook type %v, want %s: %v", p["type"], typ, p)
		}
		if p["locationId"] != e.loc || p["webhookId"] == "" || p["webhookId"] == nil {
			t.Errorf("%s: locationId %v webhookId %v", typ, p["locationId"], p["webhookId"])
		}
		if ts, _ := p["timestamp"].(string); ts == "" {
			t.Errorf("%s: no timestamp", typ)
		} else if _, err := time.Parse(time.RFC3339, ts); err != nil {
			t.Errorf("%s: timestamp %q: %v", typ, ts, err)
		}
		seen[p["webhookId"].(string)] = true
		if check != nil {
			check(p)
		}
	}

	c, _, err := e.c.Contacts.Create(ctx, &upstream.CreateContactRequest{LocationID: e.loc, FirstName: "Ada", Email: "ada@example.com"})
	if err != nil {
		t.Fatal(err)
	}
	want("ContactCreate", func(p map[string]any) {
		if p["id"] != c.ID || p["firstName"] != "Ada" {
			t.Errorf("ContactCreate payload %v", p)
		}
	})
	if _, _, err := e.c.Contacts.Update(ctx, c.ID, &upstream.UpdateContactRequest{City: upstream.Set("Oslo")}); err != nil {
		t.Fatal(err)
	}
	want("ContactUpdate", func(p map[string]any) {
		if p["city"] != "Oslo" {
			t.Errorf("ContactUpdate payload %v", p)
		}
	})
	if _, _, err := e.c.Contacts.AddTags(ctx, c.ID, []string{"vip"}); err != nil {
		t.Fatal(err)
	}
	want("ContactTagUpdate", func(p map[string]any) {
		if tags, _ := p["tags"].([]any); !slices.Contains(tags, any("vip")) {
			t.Errorf("ContactTagUpdate tags %v", p["tags"])
		}
	})
	if _, _, err := e.c.Contacts.Update(ctx, c.ID, &upstream.UpdateContactRequest{DND: upstream.Set(true)}); err != nil {
		t.Fatal(err)
	}
	want("ContactDndUpdate", func(p map[string]any) {
		if p["dnd"] != true {
			t.Errorf("ContactDndUpdate %v", p)
		}
	})
	task, _, err := e.c.Tasks.Create(ctx, c.ID, &upstream.CreateTaskRequest{Title: "Call", DueDate: "2026-01-01T10:00:00Z"})
	if err != nil {
		t.Fatal(err)
	}
	want("TaskCreate", func(p map[string]any) {
		if p["id"] != task.ID || p["contactId"] != c.ID || p["title"] != "Call" {
			t.Errorf("TaskCreate %v", p)
		}
	})
	if _, _, err := e.c.Tasks.SetCompleted(ctx, c.ID, task.ID, true); err != nil {
		t.Fatal(err)
	}
	want("TaskComplete", nil)
	if _, err := e.c.Tasks.Delete(ctx, c.ID, task.ID); err != nil {
		t.Fatal(err)
	}
	want("TaskDelete", nil)
	note, _, err := e.c.Notes.Create(ctx, c.ID, &upstream.CreateNoteRequest{Body: "hello"})
	if err != nil {
		t.Fatal(err)
	}
	want("NoteCreate", func(p map[string]any) {
		if p["id"] != note.ID || p["contactId"] != c.ID || p["body"] != "hello" {
			t.Errorf("NoteCreate %v", p)
		}
	})
	if _, _, err := e.c.Notes.Update(ctx, c.ID, note.ID, &upstream.UpdateNoteRequest{Body: upstream.Set("edited")}); err != nil {
		t.Fatal(err)
	}
	want("NoteUpdate", nil)
	if _, err := e.c.Notes.Delete(ctx, c.ID, note.ID); err != nil {
		t.Fatal(err)
	}
	want("NoteDelete", nil)
	aid, err := e.s.PutAppointment(c.ID, sandbox.AppointmentInput{Title: "Demo", Status: "confirmed", StartTime: "2026-01-02T10:00:00Z"})
	if err != nil {
		t.Fatal(err)
	}
	want("AppointmentCreate", func(p map[string]any) {
		a, _ := p["appointment"].(map[string]any)
		if a["id"] != aid || a["contactId"] != c.ID || a["title"] != "Demo" {
			t.Errorf("AppointmentCreate %v", p)
		}
	})
	if _, err := e.s.PutAppointment(c.ID, sandbox.AppointmentInput{ID: aid, Title: "Demo 2"}); err != nil {
		t.Fatal(err)
	}
	want("AppointmentUpdate", nil)
	if err := e.s.DeleteAppointment(c.ID, aid); err != nil {
		t.Fatal(err)
	}
	want("AppointmentDelete", nil)
	if _, err := e.c.Contacts.Delete(ctx, c.ID); err != nil {
		t.Fatal(err)
	}
	want("ContactDelete", func(p map[string]any) {
		if p["id"] != c.ID {
			t.Errorf("ContactDelete %v", p)
		}
	})
	if len(seen) != 14 {
		t.Errorf("%d distinct webhookIds for 14 webhooks", len(seen))
	}
	// A read sends nothing; a failed write sends nothing.
	if _, _, err := e.c.Contacts.Get(ctx, e.s.ContactIDs(e.loc)[0]); err != nil {
		t.Fatal(err)
	}
	if _, err := e.c.Contacts.Delete(ctx, c.ID); err == nil {
		t.Fatal("deleting a deleted contact succeeded")
	}
	// The receiver has each webhook before the sender has read its answer
	// and counted it delivered: give the last count a moment to land.
	st := e.s.WebhookStats()
	for deadline := time.Now().Add(5 * time.Second); st.Delivered < 14 && time.Now().Before(deadline); st = e.s.WebhookStats() {
		time.Sleep(time.Millisecond)
	}
	if st.Sent != 14 || st.Delivered != 14 {
		t.Errorf("stats = %+v, want 14 sent and delivered", st)
	}
}

// TestWebhookRetriesNon2xx: a 500 is retried, and the retry delivered.
func TestWebhookRetriesNon2xx(t *testing.T) {
	noLeak(t)
	e := newEnv(t, sandbox.Config{ContactsPerLocation: 3})
	sink := startHooks(t, e, sandbox.WebhookConfig{RetryDelay: time.Millisecond}, 2)
	id := e.s.ContactIDs(e.loc)[0]
	if _, _, err := e.c.Contacts.AddTags(context.Background(), id, []string{"x"}); err != nil {
		t.Fatal(err)
	}
	if p := sink.next(t); p["type"] != "ContactTagUpdate" {
		t.Fatalf("got %v", p)
	}
	// The sink has the body; the counter moves once its answer is read.
	for e.s.WebhookStats().Delivered == 0 {
		runtime.Gosched()
	}
	if st := e.s.WebhookStats(); st.Retries != 2 || st.Delivered != 1 {
		t.Errorf("stats = %+v, want 2 retries and 1 delivery", st)
	}
}

// TestWebhookTaskCreateWithoutContact reproduces HighLevel's reported gap.
func TestWebhookTaskCreateWithoutContact(t *testing.T) {
	noLeak(t)
	e := newEnv(t, sandbox.Config{ContactsPerLocation: 3})
	sink := startHooks(t, e, sandbox.WebhookConfig{OmitTaskContactID: true}, 0)
	id := e.s.ContactIDs(e.loc)[0]
	if _, _, err := e.c.Tasks.Create(context.Background(), id, &upstream.CreateTaskRequest{Title: "T", DueDate: "2026-01-01T10:00:00Z"}); err != nil {
		t.Fatal(err)
	}
	p := sink.next(t)
	if _, has := p["contactId"]; p["type"] != "TaskCreate" || has {
		t.Errorf("got %v, want a TaskCreate without contactId", p)
	}
}

// TestWebhookStopIsBounded: stopping with a receiver that never answers
// well ends delivery at once, leaving no goroutine.
func TestWebhookStopIsBounded(t *testing.T) {
	noLeak(t)
	e := newEnv(t, sandbox.Config{ContactsPerLocation: 3})
	sink := &hookSink{t: t, fail: 1 << 30, each: make(chan map[string]any, 1)}
	srv := httptest.NewServer(sink)
	defer srv.Close()
	_, stop, err := e.s.StartWebhooks(sandbox.WebhookConfig{URL: srv.URL, RetryDelay: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	id := e.s.ContactIDs(e.loc)[0]
	for range 3 {
		if _, _, err := e.c.Contacts.AddTags(context.Background(), id, []string{"x" + time.Now().String()}); err != nil {
			t.Fatal(err)
		}
	}
	stop()
	_, stop2, err := e.s.StartWebhooks(sandbox.WebhookConfig{URL: srv.URL})
	if err != nil {
		t.Fatalf("start after stop: %v", err)
	}
	stop2()
}
