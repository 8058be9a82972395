// This file holds the request log (issue 17): one line per request, at
// info for what tells the story of the service (GraphQL requests with
// their outcome and error codes, the install flow, anything else) and at
// debug for GraphiQL's page and assets and the health and readiness probes. GraphQL
// answers errors with status 200, so the status alone would hide a dead
// upstream: the line counts the codes of the answer's errors.
//
// It also holds the request ID (issue 15): taken from X-Request-Id when the
// client's is sane, else generated; echoed in the answer's header and in
// its extensions.requestId; put on every log line logged with the
// request's context (LogHandler). The access line says what the request
// cost: its upstream calls and cache hits. It never holds a token or a
// contact's data: IDs, names of operations, counts and codes only.

package server

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"io"
	"log/slog"
	"maps"
	mrand "math/rand/v2"
	"net/http"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"go.opentelemetry.io/otel/trace"

	"github.com/ghl-graphql/gateway/auth"
	"github.com/ghl-graphql/gateway/loaders"
	"github.com/ghl-graphql/gateway/playground"
	"github.com/ghl-graphql/gateway/upstream"
)

// requestOutcome is what the request log learns of a GraphQL request while
// it runs.
type requestOutcome struct {
	mu        sync.Mutex
	executed  bool // gqlgen answered (a parse or validation error counts)
	operation string
	errors    int
	noData    bool
	codes     map[string]int
	// budgetRefused and budgetKey: the query limiter refused the request
	// for want of this key's rate budget (for metrics, observe.go).
	budgetRefused bool
	budgetKey     string
	// calls counts the request's upstream calls (countCalls), hits the
	// answers its loaders took from the cache; cached is set when the
	// whole response came from the response cache.
	calls, hits atomic.Int64
	cached      atomic.Bool
}

type outcomeKey struct{}

// outcomeFrom returns the request's outcome, nil outside a GraphQL request.
func outcomeFrom(ctx context.Context) *requestOutcome {
	o, _ := ctx.Value(outcomeKey{}).(*requestOutcome)
	return o
}

// countCalls returns observe (which may be nil) also counting each call in
// the request's outcome, for the access line.
func countCalls(observe upstream.CallObserver) upstream.CallObserver {
	return func(ctx context.Context, call upstream.Call) {
		if observe != nil {
			observe(ctx, call)
		}
		if o := outcomeFrom(ctx); o != nil {
			o.calls.Add(1)
		}
	}
}

// countedCalls counts the calls of a request no credential middleware
// observes (managed mode); withCredential replaces it with its own, counted.
var countedCalls = countCalls(nil)

// recordOutcome is an AroundResponses middleware that records each
// answer's operation, errors and codes for the request log.
func recordOutcome(ctx context.Context, next graphql.ResponseHandler) *graphql.Response {
	resp := next(ctx)
	o := outcomeFrom(ctx)
	if o == nil || resp == nil {
		return resp
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	o.executed = true
	if graphql.HasOperationContext(ctx) {
		if oc := graphql.GetOperationContext(ctx); oc != nil {
			o.operation = oc.OperationName
			if op := oc.Operation; o.operation == "" && op != nil {
				o.operation = op.Name
				if o.operation == "" {
					o.operation = string(op.Operation) // "query", "mutation", ...
				}
			}
		}
	}
	if len(resp.Errors) > 0 {
		// Only when something failed: reading the data costs.
		o.noData = o.noData || noData(resp.Data)
	}
	for _, e := range resp.Errors {
		code, _ := e.Extensions["code"].(string)
		o.count(code)
	}
	return resp
}

// count records one error with its code; the caller holds mu.
func (o *requestOutcome) count(code string) {
	if code == "" {
		code = "NO_CODE"
	}
	if o.codes == nil {
		o.codes = map[string]int{}
	}
	o.codes[code]++
	o.errors++
}

// readBody records the codes of an answer written before execution (a
// refused credential, a body too large, a persisted-only refusal: see
// writeGraphQLError), from its body.
func (o *requestOutcome) readBody(body []byte) {
	var ans struct {
		Data   json.RawMessage `json:"data"`
		Errors []struct {
			Extensions struct {
				Code string `json:"code"`
			} `json:"extensions"`
		} `json:"errors"`
	}
	if json.Unmarshal(body, &ans) != nil {
		return
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	o.noData = noData(ans.Data)
	for _, e := range ans.Errors {
		o.count(e.Extensions.Code)
	}
}

// noData reports whether an answer's data holds nothing: absent, null, or
// an object whose every field is null (each top-level field failed).
func noData(data json.RawMessage) bool {
	d := strings.TrimSpace(string(data))
	if d == "" || d == "null" {
		return true
	}
	var fields map[string]json.RawMessage
	if json.Unmarshal(data, &fields) != nil {
		return false
	}
	for _, v := range fields {
		if strings.TrimSpace(string(v)) != "null" {
			return false
		}
	}
	return true
}

// appendAttrs appends the log attributes of the outcome to dst: the
// operation, ok, partial (data and errors) or error (errors, no data), the
// error count and the codes with their counts, sorted
// ("NOT_FOUND:1,UPSTREAM_UNAVAILABLE:3", a form log handlers need not quote).
func (o *requestOutcome) appendAttrs(dst []slog.Attr) []slog.Attr {
	o.mu.Lock()
	defer o.mu.Unlock()
	outcome := "ok"
	switch {
	case o.errors > 0 && o.noData:
		outcome = "error"
	case o.errors > 0:
		outcome = "partial"
	}
	dst = append(dst, slog.String("outcome", outcome))
	if o.operation != "" {
		dst = append(dst, slog.String("operation", o.operation))
	}
	if o.errors > 0 {
		var parts []string
		for _, code := range slices.Sorted(maps.Keys(o.codes)) {
			parts = append(parts, code+":"+strconv.Itoa(o.codes[code]))
		}
		dst = append(dst, slog.Int("errors", o.errors), slog.String("codes", strings.Join(parts, ",")))
	}
	return dst
}

// appendCostAttrs appends what the request cost to dst: its upstream
// calls, its loaders' cache hits, and whether the response cache answered
// it.
func (o *requestOutcome) appendCostAttrs(dst []slog.Attr) []slog.Attr {
	dst = append(dst, slog.Int64("upstream_calls", o.calls.Load()), slog.Int64("cache_hits", o.hits.Load()))
	if o.cached.Load() {
		dst = append(dst, slog.String("response_cache", "hit"))
	}
	return dst
}

// maxLoggedBody bounds what the request log keeps of an answer written
// before execution, to read its codes: those answers are one small error.
const maxLoggedBody = 8 << 10

// logLevelOf is the request log's level of a path: debug for GraphiQL's
// page and assets and the health and readiness probes, which come often
// and say nothing of the service; info for the rest (GraphQL, the install
// flow, webhooks, unknown paths).
func logLevelOf(path string) slog.Level {
	switch {
	case path == "/", path == HealthPath, path == ReadyPath, strings.HasPrefix(path, playground.DefaultAssetsPath):
		return slog.LevelDebug
	}
	return slog.LevelInfo
}

// DefaultMaxRequestIDBytes bounds a client's X-Request-Id; a longer one is
// replaced by a generated ID.
const DefaultMaxRequestIDBytes = 64

// RequestID returns the ID of the request being served.
func RequestID(ctx context.Context) string {
	if st := stateFrom(ctx); st != nil {
		return st.id
	}
	return ""
}

// saneRequestID reports whether a client's request ID may be kept: 1 to
// max bytes of letters, digits and "-_.:/+=", which need no quoting in a
// log line, a header or JSON.
func saneRequestID(id string, max int) bool {
	if id == "" || len(id) > max {
		return false
	}
	for i := 0; i < len(id); i++ {
		switch c := id[i]; {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case c == '-', c == '_', c == '.', c == ':', c == '/', c == '+', c == '=':
		default:
			return false
		}
	}
	return true
}

// newRequestID returns 128 random bits in hex. An ID needs to be unique,
// not secret: the runtime's per-thread ChaCha8 (math/rand/v2) draws them
// without the system call crypto/rand makes on every request. The string
// is the one allocation.
func newRequestID() string {
	var b [16]byte
	binary.LittleEndian.PutUint64(b[:8], mrand.Uint64())
	binary.LittleEndian.PutUint64(b[8:], mrand.Uint64())
	var h [32]byte
	hex.Encode(h[:], b[:])
	return string(h[:])
}

// requestState is what the gateway keeps of one HTTP request, made in one
// allocation by withRequestLog: the request's ID and logger, the outcome
// of a GraphQL request, the recorder of its answer's status and the body
// withBodyLimit read. It is also the request's context: one node that
// answers each of their keys, where a context.WithValue per key would cost
// a node and a copy of the request each.
type requestState struct {
	context.Context
	id         string
	idHeader   [1]string // X-Request-Id's value, set without a slice of its own
	logger     *slog.Logger
	start      time.Time
	rec        statusRecorder
	outcome    *requestOutcome // &graphQL for a GraphQL request, else nil
	graphQL    requestOutcome
	body       *readBody // set once, by withBodyLimit, to &bodyReader; nil until then
	bodyReader readBody
	// credential holds the values withCredential derives from the
	// request's credential (auth's credential on top of the call observer
	// and gate the handler binds once), on a base without values or
	// deadline of its own; nil until then. Value asks it before the
	// parent, as it would ask a context derived from the state: the
	// request keeps its one context, and withCredential needs no copy of
	// the request (see setCredential). counted, for a GraphQL request, is
	// the same for countedCalls, the observer the credential's replaces.
	credential, counted context.Context
}

type stateKey struct{}

// Value answers for the state itself, the outcome and the body it holds,
// then from the credential's values, and asks the parent for the rest. The
// ID and logger are read through the state (RequestID, loggerFrom): an
// interface holding a string would cost an allocation per look-up.
func (s *requestState) Value(key any) any {
	switch key.(type) {
	case stateKey:
		return s
	case outcomeKey:
		if s.outcome != nil {
			return s.outcome
		}
	case bodyKey:
		if s.body != nil {
			return s.body
		}
	}
	if s.credential != nil {
		if v := s.credential.Value(key); v != nil {
			return v
		}
	}
	if s.counted != nil {
		if v := s.counted.Value(key); v != nil {
			return v
		}
	}
	return s.Context.Value(key)
}

// setCredential gives the request whose context is ctx the credential
// cred on top of base (a context of values only), when ctx is the
// request's state itself: nothing has derived a context from it yet, so no
// context in use by another goroutine can see the change, and
// withRequestLog's request copy is the only one. It reports false
// otherwise (no request log in front, a subscription's context, a second
// credential), and the caller derives a context as usual.
func setCredential(ctx context.Context, cred auth.Credential, base context.Context) bool {
	st, ok := ctx.(*requestState)
	if !ok || st.credential != nil {
		return false
	}
	st.credential = auth.WithCredential(base, cred)
	return true
}

// stateFrom returns the request's state, nil outside withRequestLog.
func stateFrom(ctx context.Context) *requestState {
	st, _ := ctx.Value(stateKey{}).(*requestState)
	return st
}

// withRequestLog gives each request an ID (X-Request-Id, kept from the
// client when sane) and logs one line per request: at info a GraphQL
// request with its outcome, error codes, upstream calls and cache hits,
// at debug GraphiQL's assets and the probes. logger must carry LogHandler,
// which puts the ID on the line.
func withRequestLog(logger *slog.Logger, maxIDBytes int, next http.Handler) http.Handler {
	if maxIDBytes <= 0 {
		maxIDBytes = DefaultMaxRequestIDBytes
	}
	// The access line's source is this function, whichever request it is
	// of: found once here, where slog would walk the stack (runtime.Callers)
	// for every line.
	var pcs [1]uintptr
	runtime.Callers(1, pcs[:])
	linePC := pcs[0]
	counted := upstream.ContextWithCallObserver(context.Background(), countedCalls) // a value for every request, made once
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		st := &requestState{Context: r.Context(), logger: logger, start: time.Now()}
		id := headerValue(r.Header, "X-Request-Id")
		if !saneRequestID(id, maxIDBytes) {
			id = newRequestID()
		}
		st.id, st.idHeader[0] = id, id
		w.Header()["X-Request-Id"] = st.idHeader[:] // the canonical key: what Set would store
		level := logLevelOf(r.URL.Path)
		graphQL := r.URL.Path == GraphQLPath
		st.rec = statusRecorder{ResponseWriter: w, status: http.StatusOK, keepErrorBody: graphQL}
		rec := &st.rec
		var outcome *requestOutcome
		if graphQL {
			// Under the state, so that the request's context is the state
			// itself (setCredential); the credential's observer, which the
			// state answers for first, replaces countedCalls.
			outcome = &st.graphQL
			st.outcome = outcome
			st.Context = loaders.WithHitCounter(st.Context, &outcome.hits)
			st.counted = counted
		}
		var ctx context.Context = st
		next.ServeHTTP(rec, r.WithContext(ctx))
		if !logger.Enabled(ctx, level) {
			return
		}
		// Attributes typed, on the stack, in one record handed to the
		// handler: what logger.Log would do with the same pairs, without
		// boxing each value and walking the stack.
		var buf [16]slog.Attr
		attrs := append(buf[:0], slog.String("method", r.Method), slog.String("path", r.URL.Path), slog.Int("status", rec.status))
		if outcome != nil {
			if !outcome.executed && rec.body != nil {
				outcome.readBody(rec.body.Bytes())
			}
			attrs = outcome.appendAttrs(attrs)
		}
		now := time.Now()
		attrs = append(attrs, slog.Duration("duration", now.Sub(st.start)))
		if outcome != nil {
			attrs = outcome.appendCostAttrs(attrs)
		}
		msg := "request"
		if graphQL {
			msg = "graphql"
		}
		line := slog.NewRecord(now, level, msg, linePC)
		h := logger.Handler()
		if rh, ok := h.(requestLogHandler); ok {
			// The IDs its Handle would add, added here with the rest: one
			// growth of the record's attributes instead of two.
			h, attrs = rh.Handler, appendRequestIDs(ctx, attrs)
		}
		line.AddAttrs(attrs...)
		_ = h.Handle(ctx, line)
	})
}

// statusRecorder remembers the status written, for the request log, and
// with keepErrorBody the start of an error answer's body (see
// requestOutcome.readBody).
type statusRecorder struct {
	http.ResponseWriter
	status        int
	keepErrorBody bool
	body          *bytes.Buffer
}

func (s *statusRecorder) WriteHeader(code int) {
	s.status = code
	if s.keepErrorBody && code >= 400 {
		s.body = &bytes.Buffer{}
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Write(p []byte) (int, error) {
	if s.body != nil && s.body.Len() < maxLoggedBody {
		s.body.Write(p[:min(len(p), maxLoggedBody-s.body.Len())])
	}
	return s.ResponseWriter.Write(p)
}

// WriteString writes p without a copy into a []byte when the writer below
// takes strings (net/http's does): a stored answer's request ID is written
// this way on every hit.
func (s *statusRecorder) WriteString(p string) (int, error) {
	if s.body != nil && s.body.Len() < maxLoggedBody {
		s.body.WriteString(p[:min(len(p), maxLoggedBody-s.body.Len())])
	}
	return io.WriteString(s.ResponseWriter, p)
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (s *statusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// requestIDExtension is an AroundResponses middleware that puts the
// request's ID in every answer's extensions.requestId.
func requestIDExtension(ctx context.Context, next graphql.ResponseHandler) *graphql.Response {
	resp := next(ctx)
	if id := RequestID(ctx); resp != nil && id != "" {
		if resp.Extensions == nil {
			resp.Extensions = map[string]any{}
		}
		resp.Extensions["requestId"] = id
	}
	return resp
}

// requestIDExtensions is the extensions of an answer written before
// execution (writeError): the request's ID, or nil outside a request.
func requestIDExtensions(ctx context.Context) map[string]any {
	if id := RequestID(ctx); id != "" {
		return map[string]any{"requestId": id}
	}
	return nil
}

// requestIDSpot is where a stored answer holds the ID of the request that
// made it (each part of a multipart answer holds it), so that a later
// request served the same bytes gets its own ID there (see
// withResponseCache).
type requestIDSpot struct {
	at []int // offsets of the ID in the body
	n  int   // its length
}

// findRequestID finds id's values in a body requestIDExtension wrote: each
// `"requestId":"<id>"`.
func findRequestID(body []byte, id string) requestIDSpot {
	if id == "" {
		return requestIDSpot{}
	}
	key := `"requestId":"`
	pat := []byte(key + id + `"`)
	var spot requestIDSpot
	for off := 0; ; {
		i := bytes.Index(body[off:], pat)
		if i < 0 {
			break
		}
		spot.at = append(spot.at, off+i+len(key))
		off += i + len(pat)
	}
	spot.n = len(id)
	return spot
}

// write writes body with the request's ID in the spot.
func (s requestIDSpot) write(ctx context.Context, w http.ResponseWriter, body []byte) {
	s.writeFrom(ctx, w, body, 0)
}

// writeFrom is write of body[from:], for a caller that wrote what comes
// before from itself; every spot must be at or past from.
func (s requestIDSpot) writeFrom(ctx context.Context, w http.ResponseWriter, body []byte, from int) {
	id := RequestID(ctx)
	if len(s.at) == 0 || id == "" {
		_, _ = w.Write(body[from:])
		return
	}
	// Pieces, not a copy: the writer buffers them.
	prev := from
	for _, at := range s.at {
		_, _ = w.Write(body[prev:at])
		_, _ = io.WriteString(w, id)
		prev = at + s.n
	}
	_, _ = w.Write(body[prev:])
}

// markCached records that the response cache answered the request, with
// the stored answer's operation.
func markCached(ctx context.Context, operation string) {
	if o := outcomeFrom(ctx); o != nil {
		o.cached.Store(true)
		o.mu.Lock()
		o.operation = operation
		o.mu.Unlock()
	}
}

// requestOperation returns the operation the request ran, for a stored answer.
func requestOperation(ctx context.Context) string {
	o := outcomeFrom(ctx)
	if o == nil {
		return ""
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.operation
}

// LogHandler returns h putting the request's ID (request_id) and, when
// the request is traced, its trace ID (trace_id) on every record logged
// with the request's context. The gateway's loggers are built on it, so
// that a request's lines can be found together.
func LogHandler(h slog.Handler) slog.Handler {
	if _, ok := h.(requestLogHandler); ok {
		return h
	}
	return requestLogHandler{h}
}

type requestLogHandler struct{ slog.Handler }

// Handle adds the request's IDs to r.
func (h requestLogHandler) Handle(ctx context.Context, r slog.Record) error {
	var buf [2]slog.Attr
	if ids := appendRequestIDs(ctx, buf[:0]); len(ids) > 0 {
		r.AddAttrs(ids...)
	}
	return h.Handler.Handle(ctx, r)
}

// appendRequestIDs appends the attributes Handle adds to a record of ctx:
// request_id, and trace_id when the request is traced.
func appendRequestIDs(ctx context.Context, dst []slog.Attr) []slog.Attr {
	if ctx == nil {
		return dst
	}
	if id := RequestID(ctx); id != "" {
		dst = append(dst, slog.String("request_id", id))
	}
	if sc := trace.SpanContextFromContext(ctx); sc.IsSampled() {
		dst = append(dst, slog.String("trace_id", sc.TraceID().String()))
	}
	return dst
}

// WithAttrs keeps the wrapper on the derived handler.
func (h requestLogHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return requestLogHandler{h.Handler.WithAttrs(attrs)}
}

// WithGroup keeps the wrapper on the derived handler.
func (h requestLogHandler) WithGroup(name string) slog.Handler {
	return requestLogHandler{h.Handler.WithGroup(name)}
}
