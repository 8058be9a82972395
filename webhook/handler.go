package webhook

import (
	"context"
	"crypto/ed25519"
	"crypto/rsa"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ghl-graphql/gateway/events"
)

// Path is where the gateway receives HighLevel's webhooks.
const Path = "/webhooks/highlevel"

// Defaults of Config's zero fields.
const (
	// DefaultMaxBodyBytes bounds a webhook body: HighLevel's largest
	// payloads (a contact with its custom fields) are a few KB.
	DefaultMaxBodyBytes = 256 << 10
	// DefaultWindow is how far a payload's timestamp may be from now, in
	// either direction (HighLevel's guide: "e.g. 5 minutes").
	DefaultWindow = 5 * time.Minute
	// DefaultWorkers is the number of shards (and workers) of the queue.
	DefaultWorkers = 8
	// DefaultQueueDepth is each shard's capacity.
	DefaultQueueDepth = 1024
)

// Config configures a Receiver.
type Config struct {
	// Ed25519Keys verify X-GHL-Signature (HighLevel's current scheme);
	// several while a key rotates.
	Ed25519Keys []ed25519.PublicKey
	// RSAKey verifies the legacy x-wh-signature; nil refuses that scheme.
	RSAKey *rsa.PublicKey
	// MaxBodyBytes bounds a body (larger: 413); 0 means DefaultMaxBodyBytes.
	MaxBodyBytes int64
	// Window is the timestamp window, both ways; 0 means DefaultWindow.
	Window time.Duration
	// Seen remembers accepted webhookIds; nil means a MemorySeen of
	// DefaultSeenMax IDs.
	Seen SeenSet
	// Workers and QueueDepth shape the queue: Workers shards of QueueDepth
	// changes; 0 means the defaults.
	Workers, QueueDepth int
	// Apply acts on one accepted change (evict, publish); required. It runs
	// on a worker, in order per contact.
	Apply func(context.Context, events.Change)
	// Logger gets one line per refused webhook; nil discards.
	Logger *slog.Logger
	// Now is the clock of the timestamp window; nil means time.Now.
	Now func() time.Time
	// OnAccepted, when not nil, is told the type of each accepted change
	// (one of the types Parse knows), for metrics.
	OnAccepted func(eventType string)
}

// Receiver is the webhook endpoint (an http.Handler) and its queue.
type Receiver struct {
	cfg    Config
	verify verifier
	q      *queue
	stats  counters
}

// Reasons a webhook is refused, as counted in Stats.Refused and logged.
const (
	ReasonMethod    = "method"
	ReasonTooLarge  = "too_large"
	ReasonRead      = "read"
	ReasonSignature = "signature"
	ReasonPayload   = "payload"
	ReasonStale     = "stale"
	ReasonSeenFull  = "seen_full"
	ReasonQueueFull = "queue_full"
)

// Stats are the Receiver's counters.
type Stats struct {
	// Accepted were verified, recorded and queued; Applied went through Apply.
	Accepted, Applied uint64
	// Duplicates were webhookIds seen before (answered 200, no effect).
	Duplicates uint64
	// Unknown were verified payloads of types the gateway does not act on
	// (answered 200), by type (at most maxUnknownTypes distinct ones).
	Unknown map[string]uint64
	// Refused by reason (Reason*).
	Refused map[string]uint64
	// Queued is how many changes wait now.
	Queued int
}

// maxUnknownTypes bounds the distinct unknown types counted by name; the
// rest count under "other".
const maxUnknownTypes = 64

type counters struct {
	accepted, applied, duplicates atomic.Uint64
	mu                            sync.Mutex
	unknown, refused              map[string]uint64
}

// New returns a Receiver and starts its workers; Drain stops them.
func New(cfg Config) (*Receiver, error) {
	if cfg.Apply == nil {
		return nil, errors.New("webhook: Config.Apply is required")
	}
	if len(cfg.Ed25519Keys) == 0 && cfg.RSAKey == nil {
		return nil, errors.New("webhook: no public key: configure an Ed25519 key, or enable the legacy RSA scheme")
	}
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if cfg.Window <= 0 {
		cfg.Window = DefaultWindow
	}
	if cfg.Workers <= 0 {
		cfg.Workers = DefaultWorkers
	}
	if cfg.QueueDepth <= 0 {
		cfg.QueueDepth = DefaultQueueDepth
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Seen == nil {
		cfg.Seen = NewMemorySeen(DefaultSeenMax, cfg.Now)
	}
	r := &Receiver{cfg: cfg, verify: verifier{ed: cfg.Ed25519Keys, rsa: cfg.RSAKey},
		stats: counters{unknown: map[string]uint64{}, refused: map[string]uint64{}}}
	r.q = newQueue(cfg.Workers, cfg.QueueDepth, r.apply)
	return r, nil
}

// apply runs Apply on one change. Shutdown drains the queue, so Apply gets
// a context of its own rather than a request's.
func (r *Receiver) apply(c events.Change) {
	r.cfg.Apply(context.Background(), c)
	r.stats.applied.Add(1)
}

// Drain stops accepting webhooks (later ones get 503, which HighLevel
// retries, against another replica or after the restart) and waits until
// every accepted change has been applied, or ctx ends.
func (r *Receiver) Drain(ctx context.Context) error { return r.q.drain(ctx) }

// Stats returns the counters.
func (r *Receiver) Stats() Stats {
	r.stats.mu.Lock()
	defer r.stats.mu.Unlock()
	s := Stats{Accepted: r.stats.accepted.Load(), Applied: r.stats.applied.Load(),
		Duplicates: r.stats.duplicates.Load(), Unknown: map[string]uint64{}, Refused: map[string]uint64{}, Queued: r.q.len()}
	for k, v := range r.stats.unknown {
		s.Unknown[k] = v
	}
	for k, v := range r.stats.refused {
		s.Refused[k] = v
	}
	return s
}

// refuse answers a refused webhook and logs why, never the body nor the
// signature.
func (r *Receiver) refuse(w http.ResponseWriter, req *http.Request, status int, reason string, err error) {
	r.stats.mu.Lock()
	r.stats.refused[reason]++
	r.stats.mu.Unlock()
	r.cfg.Logger.WarnContext(req.Context(), "webhook refused", "reason", reason, "error", err.Error(),
		"status", status, "remote", req.RemoteAddr)
	if status == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", "1")
	}
	writeStatus(w, status, reason)
}

// ServeHTTP verifies, records, enqueues and answers: 200 once a change is
// queued (or was a duplicate, or of an unknown type), 401 for a signature
// or timestamp that fails, 400 for a payload that is not one, 413 for a
// body over the limit, 503 when the queue or the seen-set is full. Nothing
// is applied before the answer.
func (r *Receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	if req.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		r.refuse(w, req, http.StatusMethodNotAllowed, ReasonMethod, fmt.Errorf("method %s", req.Method))
		return
	}
	max := r.cfg.MaxBodyBytes
	if req.ContentLength > max {
		r.refuse(w, req, http.StatusRequestEntityTooLarge, ReasonTooLarge, fmt.Errorf("Content-Length %d over %d bytes", req.ContentLength, max))
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, req.Body, max))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			r.refuse(w, req, http.StatusRequestEntityTooLarge, ReasonTooLarge, fmt.Errorf("body over %d bytes", max))
			return
		}
		r.refuse(w, req, http.StatusBadRequest, ReasonRead, errors.New("could not read the body"))
		return
	}
	// The signature covers the bytes as received: nothing may touch body
	// before this.
	if _, err := r.verify.verify(req.Header, body); err != nil {
		r.refuse(w, req, http.StatusUnauthorized, ReasonSignature, err)
		return
	}
	c, err := Parse(body)
	unknown := errors.Is(err, ErrUnknownType)
	if err != nil && !unknown {
		r.refuse(w, req, http.StatusBadRequest, ReasonPayload, err)
		return
	}
	now := r.cfg.Now()
	if d := now.Sub(c.At); d > r.cfg.Window || d < -r.cfg.Window {
		r.refuse(w, req, http.StatusUnauthorized, ReasonStale, fmt.Errorf("timestamp %s is %v from now, outside ±%v", c.At.Format(time.RFC3339), d.Round(time.Second), r.cfg.Window))
		return
	}
	// Kept until the timestamp leaves the window: after that the window
	// refuses a replay by itself.
	added, err := r.cfg.Seen.Add(req.Context(), c.WebhookID, c.At.Add(r.cfg.Window))
	if err != nil {
		r.refuse(w, req, http.StatusServiceUnavailable, ReasonSeenFull, err)
		return
	}
	if !added {
		r.stats.duplicates.Add(1)
		writeStatus(w, http.StatusOK, "duplicate")
		return
	}
	if unknown {
		r.stats.mu.Lock()
		name := c.Type
		if _, ok := r.stats.unknown[name]; !ok && len(r.stats.unknown) >= maxUnknownTypes {
			name = "other"
		}
		r.stats.unknown[name]++
		r.stats.mu.Unlock()
		writeStatus(w, http.StatusOK, "ignored")
		return
	}
	if !r.q.enqueue(c) {
		// Not applied: HighLevel's retry must be taken, not seen as a replay.
		_ = r.cfg.Seen.Forget(context.WithoutCancel(req.Context()), c.WebhookID)
		r.refuse(w, req, http.StatusServiceUnavailable, ReasonQueueFull, errors.New("queue full or draining"))
		return
	}
	r.stats.accepted.Add(1)
	if r.cfg.OnAccepted != nil {
		r.cfg.OnAccepted(c.Type)
	}
	writeStatus(w, http.StatusOK, "accepted")
}

// writeStatus answers with a one-field JSON body.
func writeStatus(w http.ResponseWriter, status int, s string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = io.WriteString(w, `{"status":"`+s+`"}`)
}
