package server_test

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/ghl-graphql/gateway/server"
	"github.com/ghl-graphql/gateway/tracing"
	"github.com/ghl-graphql/gateway/upstream"
)

// traceRig is a gateway over the sandbox with tracing into memory, JSON
// logs at debug from the server and the upstream client, and the
// traceparent headers the upstream received.
type traceRig struct {
	*e2e
	spans *tracetest.InMemoryExporter
	logs  *syncBuffer
	mu    sync.Mutex
	sent  []string // traceparent of each upstream request, "" when none
}

func newTraceRig(t *testing.T, sampler sdktrace.Sampler, mut func(*server.Config)) *traceRig {
	t.Helper()
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp), sdktrace.WithSampler(sampler))
	t.Cleanup(func() { _ = tp.Shutdown(t.Context()) })
	tr := tracing.New(tp)
	rig := &traceRig{spans: exp, logs: &syncBuffer{}}
	h := slog.NewJSONHandler(rig.logs, &slog.HandlerOptions{Level: slog.LevelDebug})
	opts := append([]upstream.Option{upstream.WithLogger(slog.New(server.LogHandler(h)))}, tr.UpstreamOptions(nil)...)
	rig.e2e = newE2E(t, withClientOptions(opts...),
		withServer(func(c *server.Config) {
			c.Tracing, c.Logger = tr, slog.New(h)
			if mut != nil {
				mut(c)
			}
		}),
		withUpstreamMiddleware(func(next http.Handler) http.Handler {
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				rig.mu.Lock()
				rig.sent = append(rig.sent, r.Header.Get("traceparent"))
				rig.mu.Unlock()
				next.ServeHTTP(w, r)
			})
		}))
	return rig
}

// post sends a GraphQL request with the given headers and returns the
// answer's status, headers and decoded body.
func (r *traceRig) post(t *testing.T, token, query string, vars map[string]any, header map[string]string) (int, http.Header, map[string]any) {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"query": query, "variables": vars})
	req, _ := http.NewRequest(http.MethodPost, r.gw.URL+server.GraphQLPath, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := r.gw.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var out map[string]any
	if err := json.Unmarshal(raw, &out); err != nil {
		t.Fatalf("answer %q: %v", raw, err)
	}
	return resp.StatusCode, resp.Header, out
}

func (r *traceRig) upstreamTraceparents() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.sent)
}

func attr(s sdktrace.ReadOnlySpan, key string) (string, bool) {
	for _, kv := range s.Attributes() {
		if string(kv.Key) == key {
			return kv.Value.Emit(), true
		}
	}
	return "", false
}

const (
	clientTraceID = "4bf92f3577b34da6a3ce929d0e0e4736"
	clientSpanID  = "00f067aa0ba902b7"
)

// The span tree of a snapshot: the client's traceparent is the parent of
// the operation's span, resolvers are its children, each upstream call is
// a client span under the resolver that made it, with the HTTP semantic
// conventions, and the upstream receives the call's span as its parent.
// The sampler keeps nothing of its own: the client's sampled flag decides.
func TestTraceSnapshotTree(t *testing.T) {
	rig := newTraceRig(t, sdktrace.ParentBased(sdktrace.TraceIDRatioBased(0)), nil)
	f := rig.setup(t)
	rig.mu.Lock()
	rig.sent = nil
	rig.mu.Unlock()
	rig.logs.reset()
	before := rig.counters()
	status, _, body := rig.post(t, rig.token, snapshotQuery, map[string]any{"id": f.contactID, "taskId": f.taskID, "noteId": f.noteID},
		map[string]string{"traceparent": "00-" + clientTraceID + "-" + clientSpanID + "-01"})
	if status != http.StatusOK || body["errors"] != nil {
		t.Fatalf("status %d: %v", status, body)
	}
	calls := rig.moved(before)
	// Every line of a traced request names its trace, the access line too.
	recs := rig.logs.records(t)
	if len(recs) == 0 {
		t.Error("no log line")
	}
	for _, r := range recs {
		if r["trace_id"] != clientTraceID {
			t.Errorf("log line without the trace ID: %s", r["_line"])
		}
	}

	spans := rig.spans.GetSpans().Snapshots()
	byID := map[trace.SpanID]sdktrace.ReadOnlySpan{}
	var op sdktrace.ReadOnlySpan
	var resolvers, ups []sdktrace.ReadOnlySpan
	for _, s := range spans {
		byID[s.SpanContext().SpanID()] = s
		if s.SpanContext().TraceID().String() != clientTraceID {
			t.Errorf("span %q in trace %s, want the client's", s.Name(), s.SpanContext().TraceID())
		}
		switch {
		case s.Name() == "query Snapshot":
			op = s
		case strings.HasPrefix(s.Name(), "resolve "):
			resolvers = append(resolvers, s)
		case s.SpanKind() == trace.SpanKindClient:
			ups = append(ups, s)
		default:
			t.Errorf("unexpected span %q", s.Name())
		}
	}
	if op == nil {
		t.Fatalf("no operation span among %d", len(spans))
	}
	if p := op.Parent(); p.SpanID().String() != clientSpanID || !p.IsRemote() || op.SpanKind() != trace.SpanKindServer {
		t.Errorf("operation span: parent %s remote %v kind %v, want the client's %s", p.SpanID(), p.IsRemote(), op.SpanKind(), clientSpanID)
	}
	if v, _ := attr(op, "graphql.operation.name"); v != "Snapshot" {
		t.Errorf("graphql.operation.name %q", v)
	}
	names := map[string]bool{}
	for _, s := range resolvers {
		names[s.Name()] = true
		// A resolver's parent is the operation, or the resolver of the
		// object it belongs to (Contact.business under Query.contact).
		parent, ok := byID[s.Parent().SpanID()]
		if !ok || (parent.SpanContext().SpanID() != op.SpanContext().SpanID() && !strings.HasPrefix(parent.Name(), "resolve ")) {
			t.Errorf("resolver %q: parent %s is neither the operation nor a resolver", s.Name(), s.Parent().SpanID())
		}
	}
	if p := byID[spanNamed(resolvers, "resolve Business.contacts").Parent().SpanID()]; p == nil || p.Name() != "resolve Contact.business" {
		t.Errorf("Business.contacts is not under Contact.business")
	}
	for _, want := range []string{"resolve Query.contact", "resolve Contact.tasks", "resolve Contact.notes",
		"resolve Contact.appointments", "resolve Contact.business", "resolve Business.contacts"} {
		if !names[want] {
			t.Errorf("no span %q among %v", want, names)
		}
	}
	if len(resolvers) > 12 {
		t.Errorf("%d resolver spans: plain fields get spans too", len(resolvers))
	}

	gotOps := map[string]int64{}
	upIDs := map[string]bool{}
	for _, s := range ups {
		upIDs[s.SpanContext().SpanID().String()] = true
		opID, _ := attr(s, "ghl.operation")
		gotOps[opID]++
		parent, ok := byID[s.Parent().SpanID()]
		if !ok || !strings.HasPrefix(parent.Name(), "resolve ") {
			t.Errorf("upstream span %q (%s): parent %s is not a resolver span", s.Name(), opID, s.Parent().SpanID())
		}
		method, _ := attr(s, "http.request.method")
		full, _ := attr(s, "url.full")
		code, _ := attr(s, "http.response.status_code")
		host, _ := attr(s, "server.address")
		if method == "" || !strings.HasPrefix(s.Name(), method+" /") || !strings.HasPrefix(full, rig.up.URL+"/") ||
			code != "200" || host != "127.0.0.1" {
			t.Errorf("upstream span %q: method %q url.full %q status %q server.address %q", s.Name(), method, full, code, host)
		}
		if len(s.Events()) != 1 || s.Events()[0].Name != "attempt" {
			t.Errorf("upstream span %q: events %v, want one attempt", s.Name(), s.Events())
		}
	}
	if len(gotOps) != len(calls) {
		t.Errorf("upstream spans %v, calls %v", gotOps, calls)
	}
	for opID, n := range calls {
		if gotOps[opID] != n {
			t.Errorf("%s: %d spans, %d calls", opID, gotOps[opID], n)
		}
	}
	sent := rig.upstreamTraceparents()
	if len(sent) != len(ups) {
		t.Errorf("%d upstream requests, %d upstream spans", len(sent), len(ups))
	}
	for _, tp := range sent {
		parts := strings.Split(tp, "-")
		if len(parts) != 4 || parts[1] != clientTraceID || !upIDs[parts[2]] || parts[3] != "01" {
			t.Errorf("upstream got traceparent %q, want the client's trace and an upstream call's span", tp)
		}
	}
}

// A request without traceparent, under a sampler that keeps none, records
// no span; the upstream still gets a traceparent (not sampled), so that
// its logs can be joined to ours.
func TestTraceUnsampled(t *testing.T) {
	rig := newTraceRig(t, sdktrace.ParentBased(sdktrace.TraceIDRatioBased(0)), nil)
	id := rig.sb.ContactIDs(rig.locA)[0]
	if status, _, body := rig.post(t, rig.token, `query($id: ID!) { contact(id: $id) { id tasks { id } } }`, map[string]any{"id": id}, nil); status != 200 || body["errors"] != nil {
		t.Fatalf("%d %v", status, body)
	}
	if n := len(rig.spans.GetSpans()); n != 0 {
		t.Errorf("%d spans recorded, want none", n)
	}
	sent := rig.upstreamTraceparents()
	if len(sent) == 0 {
		t.Fatal("no upstream call")
	}
	for _, tp := range sent {
		if !strings.HasPrefix(tp, "00-") || !strings.HasSuffix(tp, "-00") {
			t.Errorf("upstream got traceparent %q, want an unsampled one", tp)
		}
	}
}

// spanNamed returns the first span named name, or a span with no parent.
func spanNamed(spans []sdktrace.ReadOnlySpan, name string) sdktrace.ReadOnlySpan {
	for _, s := range spans {
		if s.Name() == name {
			return s
		}
	}
	return tracetest.SpanStub{}.Snapshot()
}
