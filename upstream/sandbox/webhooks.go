// This file makes the sandbox send webhooks like HighLevel: every change
// made through its API (and through its Go API for appointments, which the
// Contacts API cannot write) is described in HighLevel's payload shapes
// (webhook-events/), with a timestamp and a webhookId, signed with Ed25519
// in X-GHL-Signature (and, when a legacy key is given, RSA in
// x-wh-signature), and delivered to a configured URL in order, retrying
// non-2xx answers a few times. Delivery is bounded (a queue of fixed size;
// past it events are dropped and counted, as a real sender gives up) and
// stoppable.

package sandbox

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Defaults of WebhookConfig's zero fields.
const (
	DefaultWebhookAttempts   = 4
	DefaultWebhookRetryDelay = 200 * time.Millisecond
	DefaultWebhookQueue      = 4096
	webhookTimeout           = 5 * time.Second
)

// WebhookConfig configures webhook delivery (StartWebhooks).
type WebhookConfig struct {
	// URL receives the webhooks (POST); required.
	URL string
	// PrivateKey signs X-GHL-Signature; nil generates a key pair.
	PrivateKey ed25519.PrivateKey
	// LegacyKey, when set, also signs x-wh-signature (RSA PKCS #1 v1.5,
	// SHA-256), as HighLevel did before Ed25519.
	LegacyKey *rsa.PrivateKey
	// Client sends the webhooks; nil means a client with a 5 s timeout.
	Client *http.Client
	// MaxAttempts per webhook (first try included); 0 means 4.
	MaxAttempts int
	// RetryDelay is the wait before the first retry, doubling after; 0
	// means 200 ms.
	RetryDelay time.Duration
	// QueueSize bounds the webhooks waiting for delivery; 0 means 4096.
	QueueSize int
	// OmitTaskContactID leaves contactId out of TaskCreate payloads, as
	// HighLevel is reported to do.
	OmitTaskContactID bool
}

// WebhookStats counts deliveries.
type WebhookStats struct {
	// Sent is how many webhooks were queued; Delivered got a 2xx; Retries
	// is how many extra attempts were made; Failed ran out of attempts;
	// Dropped found the queue full or were pending at stop.
	Sent, Delivered, Retries, Failed, Dropped int64
}

// webhooks is the delivery state of a Server; nil when off.
type webhooks struct {
	cfg    WebhookConfig
	queue  chan []byte
	cancel context.CancelFunc
	done   chan struct{}
	// stopped is set (under mu) by stop, so that no send races the close.
	mu      sync.RWMutex
	stopped bool

	sent, delivered, retries, failed, dropped atomic.Int64
}

// StartWebhooks starts delivering a webhook for every later change to
// cfg.URL and returns the public key that verifies their X-GHL-Signature
// and a function that stops delivery (webhooks not yet delivered are
// dropped) and waits for it to end. Only one delivery runs at a time.
func (s *Server) StartWebhooks(cfg WebhookConfig) (ed25519.PublicKey, func(), error) {
	if cfg.URL == "" {
		return nil, nil, fmt.Errorf("%w: webhook URL missing", ErrInvalidConfig)
	}
	if cfg.PrivateKey == nil {
		_, k, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			return nil, nil, err
		}
		cfg.PrivateKey = k
	}
	if cfg.Client == nil {
		cfg.Client = &http.Client{Timeout: webhookTimeout}
	}
	if cfg.MaxAttempts <= 0 {
		cfg.MaxAttempts = DefaultWebhookAttempts
	}
	if cfg.RetryDelay <= 0 {
		cfg.RetryDelay = DefaultWebhookRetryDelay
	}
	if cfg.QueueSize <= 0 {
		cfg.QueueSize = DefaultWebhookQueue
	}
	ctx, cancel := context.WithCancel(context.Background())
	wh := &webhooks{cfg: cfg, queue: make(chan []byte, cfg.QueueSize), cancel: cancel, done: make(chan struct{})}
	if !s.hooks.CompareAndSwap(nil, wh) {
		cancel()
		return nil, nil, fmt.Errorf("%w: webhooks already started", ErrInvalidConfig)
	}
	go wh.run(ctx)
	stop := func() {
		wh.mu.Lock()
		if !wh.stopped {
			wh.stopped = true
			cancel()
			close(wh.queue)
		}
		wh.mu.Unlock()
		<-wh.done
		wh.cfg.Client.CloseIdleConnections()
		s.hooks.CompareAndSwap(wh, nil)
	}
	return cfg.PrivateKey.Public().(ed25519.PublicKey), stop, nil
}

// WebhookStats returns the counters of the running delivery (zero when none).
func (s *Server) WebhookStats() WebhookStats {
	wh := s.hooks.Load()
	if wh == nil {
		return WebhookStats{}
	}
	return WebhookStats{Sent: wh.sent.Load(), Delivered: wh.delivered.Load(), Retries: wh.retries.Load(),
		Failed: wh.failed.Load(), Dropped: wh.dropped.Load()}
}

// send queues one payload, or drops it when the queue is full.
func (wh *webhooks) send(body []byte) {
	wh.mu.RLock()
	defer wh.mu.RUnlock()
	if wh.stopped {
		return
	}
	select {
	case wh.queue <- body:
		wh.sent.Add(1)
	default:
		wh.dropped.Add(1)
	}
}

// run delivers the queue in order until stopped.
func (wh *webhooks) run(ctx context.Context) {
	defer close(wh.done)
	for body := range wh.queue {
		if ctx.Err() != nil {
			wh.dropped.Add(1)
			continue
		}
		wh.deliver(ctx, body)
	}
}

// deliver posts body, retrying non-2xx answers and failures with a
// doubling delay, at most MaxAttempts times.
func (wh *webhooks) deliver(ctx context.Context, body []byte) {
	headers := http.Header{}
	headers.Set("Content-Type", "application/json")
	headers.Set("X-GHL-Signature", base64.StdEncoding.EncodeToString(ed25519.Sign(wh.cfg.PrivateKey, body)))
	if wh.cfg.LegacyKey != nil {
		sum := sha256.Sum256(body)
		if sig, err := rsa.SignPKCS1v15(nil, wh.cfg.LegacyKey, crypto.SHA256, sum[:]); err == nil {
			headers.Set("x-wh-signature", base64.StdEncoding.EncodeToString(sig))
		}
	}
	delay := wh.cfg.RetryDelay
	for attempt := 1; ; attempt++ {
		if wh.post(ctx, body, headers) {
			wh.delivered.Add(1)
			return
		}
		if attempt >= wh.cfg.MaxAttempts {
			wh.failed.Add(1)
			return
		}
		t := time.NewTimer(delay)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			wh.failed.Add(1)
			return
		}
		delay *= 2
		wh.retries.Add(1)
	}
}

// post makes one attempt; it reports a 2xx answer.
func (wh *webhooks) post(ctx context.Context, body []byte, headers http.Header) bool {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, wh.cfg.URL, bytes.NewReader(body))
	if err != nil {
		return false
	}
	req.Header = headers.Clone()
	resp, err := wh.cfg.Client.Do(req)
	if err != nil {
		return false
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	return resp.StatusCode >= 200 && resp.StatusCode < 300
}

// snapshot is what a contact looks like to webhooks, before or after a
// change: nil for a contact that does not exist.
type snapshot struct {
	c     Contact
	tasks []wireTask
	notes []wireNote
	appts []wireAppointment
}

// snapshots returns copies of the contacts ids (nil for absent ones).
func (st *store) snapshots(ids []string) map[string]*snapshot {
	st.mu.RLock()
	defer st.mu.RUnlock()
	out := make(map[string]*snapshot, len(ids))
	for _, id := range ids {
		out[id] = st.snapshotLocked(id)
	}
	return out
}

func (st *store) snapshotLocked(id string) *snapshot {
	rec := st.byID[id]
	if rec == nil {
		return nil
	}
	return &snapshot{c: cloneContact(rec.c), tasks: cloneTasks(rec.tasks), notes: cloneNotes(rec.notes), appts: cloneAppointments(rec.appts)}
}

// touchedContacts returns the contacts a write call may change, known
// before it runs: the path's contact, or a bulk body's list.
func touchedContacts(c *call) []string {
	switch {
	case strings.HasPrefix(c.op.Path, "/contacts/{contactId}"):
		return []string{c.params[0]}
	case strings.HasPrefix(c.op.Path, "/contacts/bulk/"):
		var body struct {
			Contacts []string `json:"contacts"`
			IDs      []string `json:"ids"`
		}
		_ = json.Unmarshal(c.body, &body)
		return append(body.Contacts, body.IDs...)
	}
	return nil
}

// createdContact returns the contact a create or upsert answer names.
func createdContact(resp response) (string, bool) {
	switch b := resp.body.(type) {
	case contactEnvelope:
		return b.Contact.ID, true
	case upsertEnvelope:
		return b.Contact.ID, b.New
	}
	return "", false
}

// beforeWrite takes the snapshots a write's webhooks compare against; nil
// when webhooks are off.
func (s *Server) beforeWrite(c *call) map[string]*snapshot {
	if s.hooks.Load() == nil || !c.op.Write {
		return nil
	}
	return s.store.snapshots(touchedContacts(c))
}

// afterWrite sends the webhooks of a successful write.
func (s *Server) afterWrite(c *call, before map[string]*snapshot, resp response) {
	wh := s.hooks.Load()
	if wh == nil || before == nil || resp.status < 200 || resp.status >= 300 {
		return
	}
	ids := touchedContacts(c)
	if id, isNew := createdContact(resp); id != "" && !slices.Contains(ids, id) {
		ids = append(ids, id)
		if !isNew {
			// An upsert that updated: its contact's earlier state is not
			// known here; report the update.
			before[id] = &snapshot{}
		}
	}
	after := s.store.snapshots(ids)
	for _, id := range ids {
		s.emitDiff(wh, c.loc, before[id], after[id])
	}
}

// emitDiff sends the webhooks HighLevel would for what changed between two
// snapshots of a contact.
func (s *Server) emitDiff(wh *webhooks, loc string, before, after *snapshot) {
	switch {
	case before == nil && after == nil:
		return
	case before == nil:
		s.emit(wh, contactPayload("ContactCreate", loc, after.c))
		for _, t := range after.tasks {
			s.emit(wh, taskPayload("TaskCreate", loc, t, wh.cfg.OmitTaskContactID))
		}
		return
	case after == nil:
		s.emit(wh, contactPayload("ContactDelete", loc, before.c))
		return
	}
	b, a := before.c, after.c
	if b.ID == "" { // an upsert that updated: no earlier state to compare
		s.emit(wh, contactPayload("ContactUpdate", loc, a))
		return
	}
	if !slices.Equal(b.Tags, a.Tags) {
		s.emit(wh, contactPayload("ContactTagUpdate", loc, a))
	}
	if b.DND != a.DND || !reflect.DeepEqual(b.DNDSettings, a.DNDSettings) || !reflect.DeepEqual(b.InboundDNDSettings, a.InboundDNDSettings) {
		s.emit(wh, contactPayload("ContactDndUpdate", loc, a))
	}
	// Every other field (tags, DND and the dates a child's write touches
	// aside) makes a ContactUpdate.
	strip := func(c Contact) Contact {
		c.Tags, c.DND, c.DNDSettings, c.InboundDNDSettings, c.DateUpdated = nil, false, nil, nil, ""
		return c
	}
	if !reflect.DeepEqual(strip(b), strip(a)) {
		s.emit(wh, contactPayload("ContactUpdate", loc, a))
	}
	for _, t := range after.tasks {
		i := slices.IndexFunc(before.tasks, func(x wireTask) bool { return x.ID == t.ID })
		switch {
		case i < 0:
			s.emit(wh, taskPayload("TaskCreate", loc, t, wh.cfg.OmitTaskContactID))
		case t.Completed && !before.tasks[i].Completed:
			s.emit(wh, taskPayload("TaskComplete", loc, t, false))
		}
		// HighLevel sends no webhook for other task edits.
	}
	for _, t := range before.tasks {
		if !slices.ContainsFunc(after.tasks, func(x wireTask) bool { return x.ID == t.ID }) {
			s.emit(wh, taskPayload("TaskDelete", loc, t, false))
		}
	}
	for _, n := range after.notes {
		i := slices.IndexFunc(before.notes, func(x wireNote) bool { return x.ID == n.ID })
		switch {
		case i < 0:
			s.emit(wh, notePayload("NoteCreate", loc, n))
		case !reflect.DeepEqual(before.notes[i], n):
			s.emit(wh, notePayload("NoteUpdate", loc, n))
		}
	}
	for _, n := range before.notes {
		if !slices.ContainsFunc(after.notes, func(x wireNote) bool { return x.ID == n.ID }) {
			s.emit(wh, notePayload("NoteDelete", loc, n))
		}
	}
	for _, ap := range after.appts {
		i := slices.IndexFunc(before.appts, func(x wireAppointment) bool { return x.ID == ap.ID })
		switch {
		case i < 0:
			s.emit(wh, apptPayload("AppointmentCreate", loc, ap))
		case !reflect.DeepEqual(before.appts[i], ap):
			s.emit(wh, apptPayload("AppointmentUpdate", loc, ap))
		}
	}
	for _, ap := range before.appts {
		if !slices.ContainsFunc(after.appts, func(x wireAppointment) bool { return x.ID == ap.ID }) {
			s.emit(wh, apptPayload("AppointmentDelete", loc, ap))
		}
	}
}

// emit stamps a payload with the common fields and queues it.
func (s *Server) emit(wh *webhooks, p map[string]any) {
	var id [10]byte
	_, _ = rand.Read(id[:])
	p["timestamp"] = s.now().UTC().Format(time.RFC3339Nano)
	p["webhookId"] = hex.EncodeToString(id[:])
	body, err := json.Marshal(p)
	if err != nil {
		return
	}
	wh.send(body)
}

// contactFieldsOfWebhooks are the fields of a contact payload
// (webhook-events/Contact*.md).
var contactFieldsOfWebhooks = []string{"id", "address1", "city", "companyName", "country", "source", "dateAdded",
	"dateOfBirth", "dnd", "email", "name", "firstName", "lastName", "phone", "postalCode", "state", "tags",
	"website", "assignedTo", "customFields"}

func contactPayload(typ, loc string, c Contact) map[string]any {
	var all map[string]any
	b, _ := json.Marshal(c)
	_ = json.Unmarshal(b, &all)
	p := map[string]any{"type": typ, "locationId": loc, "attachments": []any{}} // HighLevel never fills attachments
	for _, k := range contactFieldsOfWebhooks {
		if v, ok := all[k]; ok {
			p[k] = v
		}
	}
	if typ == "ContactDndUpdate" {
		if v, ok := all["dndSettings"]; ok {
			p["dndSettings"] = v
		}
	}
	return p
}

func taskPayload(typ, loc string, t wireTask, omitContact bool) map[string]any {
	p := map[string]any{"type": typ, "locationId": loc, "id": t.ID, "title": t.Title, "body": t.Body,
		"assignedTo": t.AssignedTo, "dueDate": t.DueDate}
	if !omitContact {
		p["contactId"] = t.ContactID
	}
	return p
}

func notePayload(typ, loc string, n wireNote) map[string]any {
	return map[string]any{"type": typ, "locationId": loc, "id": n.ID, "body": n.Body, "contactId": n.ContactID, "dateAdded": n.DateAdded}
}

func apptPayload(typ, loc string, a wireAppointment) map[string]any {
	return map[string]any{"type": typ, "locationId": loc, "appointment": map[string]any{
		"id": a.ID, "address": a.Address, "title": a.Title, "calendarId": a.CalendarID, "contactId": a.ContactID,
		"groupId": a.GroupID, "appointmentStatus": a.AppointmentStatus, "assignedUserId": a.AssignedUserID,
		"users": a.Users, "notes": a.Notes, "startTime": a.StartTime, "endTime": a.EndTime,
		"dateAdded": a.DateAdded, "dateUpdated": a.DateUpdated}}
}

// AppointmentInput is an appointment written through the sandbox's Go API
// (the Contacts API only reads appointments; HighLevel's calendars write
// them).
type AppointmentInput struct {
	// ID names the appointment to update; "" creates one.
	ID                             string
	Title, CalendarID, Status      string
	StartTime, EndTime             string
	AssignedUserID, Address, Notes string
}

// ErrNotFound is returned by the Go API for a contact or appointment the
// sandbox does not have.
var ErrNotFound = errors.New("sandbox: not found")

// PutAppointment creates (in.ID empty) or updates an appointment of a
// contact, sending its webhook, and returns its ID.
func (s *Server) PutAppointment(contactID string, in AppointmentInput) (string, error) {
	var id string
	err := s.changeContact(contactID, func(st *store, rec *contactRec) error {
		now, _ := st.stamp()
		if in.ID == "" {
			id = st.newID()
			rec.appts = append(rec.appts, wireAppointment{ID: id, Title: in.Title, CalendarID: in.CalendarID,
				Status: in.Status, AppointmentStatus: in.Status, StartTime: in.StartTime, EndTime: in.EndTime,
				AssignedUserID: in.AssignedUserID, Address: in.Address, Notes: in.Notes,
				LocationID: rec.c.LocationID, ContactID: rec.c.ID, DateAdded: now, DateUpdated: now})
			return nil
		}
		i := slices.IndexFunc(rec.appts, func(a wireAppointment) bool { return a.ID == in.ID })
		if i < 0 {
			return ErrNotFound
		}
		id = in.ID
		a := &rec.appts[i]
		a.Title, a.CalendarID, a.Status, a.AppointmentStatus = in.Title, in.CalendarID, in.Status, in.Status
		a.StartTime, a.EndTime, a.AssignedUserID, a.Address, a.Notes = in.StartTime, in.EndTime, in.AssignedUserID, in.Address, in.Notes
		a.DateUpdated = now
		return nil
	})
	return id, err
}

// DeleteAppointment deletes an appointment of a contact, sending its webhook.
func (s *Server) DeleteAppointment(contactID, id string) error {
	return s.changeContact(contactID, func(_ *store, rec *contactRec) error {
		i := slices.IndexFunc(rec.appts, func(a wireAppointment) bool { return a.ID == id })
		if i < 0 {
			return ErrNotFound
		}
		rec.appts = slices.Delete(rec.appts, i, i+1)
		return nil
	})
}

// changeContact runs fn on a contact under the write lock and sends the
// webhooks of what it changed.
func (s *Server) changeContact(contactID string, fn func(*store, *contactRec) error) error {
	st := s.store
	st.mu.Lock()
	rec := st.byID[contactID]
	if rec == nil {
		st.mu.Unlock()
		return ErrNotFound
	}
	before := st.snapshotLocked(contactID)
	if err := fn(st, rec); err != nil {
		st.mu.Unlock()
		return err
	}
	after := st.snapshotLocked(contactID)
	loc := rec.c.LocationID
	st.mu.Unlock()
	if wh := s.hooks.Load(); wh != nil {
		s.emitDiff(wh, loc, before, after)
	}
	return nil
}
