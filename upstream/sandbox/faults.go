// This file holds fault injection: which faults exist, how a request draws
// one from the seeded RNG, and how each is carried out on the wire.

package sandbox

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"
)

// FaultKind names a way a request can fail.
type FaultKind string

// The fault kinds.
const (
	// FaultServerError answers 500, 502 or 503 with a JSON error body,
	// without applying the request.
	FaultServerError FaultKind = "5xx"
	// FaultSlow waits Faults.SlowDelay (honouring cancellation), then
	// answers normally.
	FaultSlow FaultKind = "slow"
	// FaultDrop closes the connection without answering, before applying anything.
	FaultDrop FaultKind = "drop"
	// FaultDropAfterWrite applies the request (e.g. creates the contact),
	// then closes the connection without answering: the ambiguous failure
	// a non-idempotent write must survive.
	FaultDropAfterWrite FaultKind = "drop-after-write"
	// FaultMalformed applies the request, then answers 2xx with the answer's
	// JSON cut in half.
	FaultMalformed FaultKind = "malformed"
)

// FaultKinds returns every fault kind.
func FaultKinds() []FaultKind {
	return []FaultKind{FaultServerError, FaultSlow, FaultDrop, FaultDropAfterWrite, FaultMalformed}
}

// Faults makes a share of requests fail. The zero value injects none.
type Faults struct {
	// Rate is the share of requests that fail, 0..1.
	Rate float64
	// Kinds are drawn from at random for a failing request; empty means
	// FaultServerError only.
	Kinds []FaultKind
	// SlowDelay is FaultSlow's wait; 0 means DefaultSlowDelay.
	SlowDelay time.Duration
	// Ops, if not empty, limits faults to these operation IDs.
	Ops []string
	// Max, if positive, is the most faults injected (counted from New or
	// the last SetFaults); later requests are served normally. With Rate 1
	// and Max 1 exactly the first matching request fails, which is how a
	// test drops one answer and watches the retry.
	Max int
}

// Validate reports a rate outside 0..1, an unknown kind or operation ID, or
// a negative delay.
func (f Faults) Validate() error {
	if f.Rate < 0 || f.Rate > 1 || f.Rate != f.Rate {
		return fmt.Errorf("%w: fault rate %v outside 0..1", ErrInvalidConfig, f.Rate)
	}
	for _, k := range f.Kinds {
		if !slices.Contains(FaultKinds(), k) {
			return fmt.Errorf("%w: unknown fault kind %q", ErrInvalidConfig, k)
		}
	}
	for _, id := range f.Ops {
		if !knownOp(id) {
			return fmt.Errorf("%w: unknown operation %q in fault ops", ErrInvalidConfig, id)
		}
	}
	if f.SlowDelay < 0 {
		return fmt.Errorf("%w: slow delay must not be negative", ErrInvalidConfig)
	}
	if f.Max < 0 {
		return fmt.Errorf("%w: fault max %d must not be negative", ErrInvalidConfig, f.Max)
	}
	return nil
}

// normalized returns a copy with defaults filled in and what Validate would
// refuse dropped or clamped, sharing no slice with f.
func (f Faults) normalized() Faults {
	if f.Rate != f.Rate || f.Rate < 0 {
		f.Rate = 0
	}
	f.Rate = min(f.Rate, 1)
	var kinds []FaultKind
	for _, k := range f.Kinds {
		if slices.Contains(FaultKinds(), k) {
			kinds = append(kinds, k)
		}
	}
	if len(kinds) == 0 {
		kinds = []FaultKind{FaultServerError}
	}
	f.Kinds = kinds
	if f.SlowDelay <= 0 {
		f.SlowDelay = DefaultSlowDelay
	}
	f.Ops = slices.Clone(f.Ops)
	f.Max = max(f.Max, 0)
	return f
}

// ParseFaultKinds parses a comma-separated list of fault kinds ("5xx,drop").
func ParseFaultKinds(s string) ([]FaultKind, error) {
	var kinds []FaultKind
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		k := FaultKind(part)
		if !slices.Contains(FaultKinds(), k) {
			return nil, fmt.Errorf("%w: unknown fault kind %q (want one of %v)", ErrInvalidConfig, part, FaultKinds())
		}
		kinds = append(kinds, k)
	}
	return kinds, nil
}

// fault is the outcome of one draw.
type fault struct {
	kind   FaultKind // "" for none
	status int       // for FaultServerError
	delay  time.Duration
}

// drawFault decides whether the request to opID fails, and how. The draw
// happens under the knob lock from the seeded RNG, so that a sequential run
// replays exactly.
func (s *Server) drawFault(opID string) fault {
	s.knobMu.Lock()
	defer s.knobMu.Unlock()
	f := s.faults
	if f.Rate <= 0 {
		return fault{}
	}
	if len(f.Ops) > 0 && !slices.Contains(f.Ops, opID) {
		return fault{}
	}
	if f.Max > 0 && s.faultsInjected >= f.Max {
		return fault{}
	}
	if s.rng.Float64() >= f.Rate {
		return fault{}
	}
	s.faultsInjected++
	out := fault{kind: f.Kinds[s.rng.IntN(len(f.Kinds))], delay: f.SlowDelay}
	if out.kind == FaultServerError {
		out.status = []int{http.StatusInternalServerError, http.StatusBadGateway, http.StatusServiceUnavailable}[s.rng.IntN(3)]
	}
	return out
}

// writeServerError answers a FaultServerError.
func writeServerError(w http.ResponseWriter, status int) {
	msg := map[int]string{
		http.StatusInternalServerError: "Internal server error",
		http.StatusBadGateway:          "Bad Gateway",
		http.StatusServiceUnavailable:  "Service Unavailable",
	}[status]
	if status == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", "1")
	}
	writeJSON(w, status, errorBody{StatusCode: status, Message: msg, Error: http.StatusText(status)})
}

// dropConnection closes the connection without an answer. Where the
// connection cannot be hijacked (HTTP/2), aborting the handler resets the
// stream, which the client sees the same way.
func dropConnection(w http.ResponseWriter) {
	if hj, ok := w.(http.Hijacker); ok {
		if conn, _, err := hj.Hijack(); err == nil {
			_ = conn.Close() // the point is to lose the connection
			return
		}
	}
	panic(http.ErrAbortHandler)
}

// writeMalformed answers resp's JSON cut in half: a proper prefix of a JSON
// object is never valid JSON. An error answer is sent as 200 so that the
// client must decode it.
func writeMalformed(w http.ResponseWriter, resp response) {
	b := encodeJSON(resp.body)
	status := resp.status
	if status < 200 || status >= 300 {
		status = http.StatusOK
	}
	writeBytes(w, status, b[:len(b)/2])
}
