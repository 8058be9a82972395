package tracing

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	"golang.org/x/oauth2"

	"github.com/ghl-graphql/gateway/upstream"
)

// One client span per call, however many attempts: a retried call has one
// span with an attempt event each, its resend count, and the last
// attempt's status; a call that fails carries its error's class, never its
// message; a call outside a sampled trace gets no span.
func TestCallSpans(t *testing.T) {
	const token = "secret-token-value"
	var hits atomic.Int32
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := hits.Add(1)
		w.Header().Set("Content-Type", "application/json")
		switch {
		case strings.Contains(r.URL.Path, "missing"):
			w.WriteHeader(http.StatusNotFound)
			_, _ = w.Write([]byte(`{"message":"Contact with id missing@example.org not found"}`))
		case n == 1:
			w.WriteHeader(http.StatusServiceUnavailable)
		default:
			_, _ = w.Write([]byte(`{"contact":{"id":"c1","locationId":"L1","email":"ada@example.org"}}`))
		}
	}))
	defer up.Close()
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	tr := New(tp)
	client, err := upstream.NewClient(append([]upstream.Option{upstream.WithBaseURL(up.URL),
		upstream.WithRetryPolicy(upstream.RetryPolicy{MaxAttempts: 2, BaseDelay: time.Millisecond})}, tr.UpstreamOptions(nil)...)...)
	if err != nil {
		t.Fatal(err)
	}
	ctx := upstream.ContextWithTokenSource(context.Background(), oauth2.StaticTokenSource(&oauth2.Token{AccessToken: token}))

	// Outside a trace: no span.
	if _, _, err := client.Contacts.Get(ctx, "c0"); err != nil {
		t.Fatal(err)
	}
	if n := len(exp.GetSpans()); n != 0 {
		t.Fatalf("%d spans outside a trace", n)
	}

	ctx, root := tp.Tracer("test").Start(ctx, "root")
	hits.Store(0)
	if _, _, err := client.Contacts.Get(ctx, "c1"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := client.Contacts.Get(ctx, "missing"); err == nil {
		t.Fatal("missing contact found")
	}
	root.End()

	var calls []sdktrace.ReadOnlySpan
	for _, s := range exp.GetSpans().Snapshots() {
		if s.SpanKind() == trace.SpanKindClient {
			calls = append(calls, s)
		}
	}
	if len(calls) != 2 {
		t.Fatalf("%d call spans, want 2", len(calls))
	}
	attrs := func(s sdktrace.ReadOnlySpan) map[string]string {
		m := map[string]string{}
		for _, kv := range s.Attributes() {
			m[string(kv.Key)] = kv.Value.Emit()
		}
		return m
	}
	ok, missing := attrs(calls[0]), attrs(calls[1])
	if calls[0].Name() != "GET /contacts/{contactId}" || ok["http.request.method"] != "GET" || ok["url.template"] != "/contacts/{contactId}" ||
		ok["url.full"] != up.URL+"/contacts/c1" || ok["http.response.status_code"] != "200" || ok["http.request.resend_count"] != "1" ||
		ok["server.address"] != "127.0.0.1" || ok["server.port"] == "" || ok["ghl.operation"] != "get-contact" || len(calls[0].Events()) != 2 {
		t.Errorf("retried call: %s %v, %d events", calls[0].Name(), ok, len(calls[0].Events()))
	}
	if missing["http.response.status_code"] != "404" || missing["error.type"] != "404" || calls[1].Status().Description != "404" {
		t.Errorf("failed call: %v, status %v", missing, calls[1].Status())
	}
	for _, s := range calls {
		if s.Parent().SpanID() != root.SpanContext().SpanID() {
			t.Errorf("%s: parent %s, want the caller's span", s.Name(), s.Parent().SpanID())
		}
		all := s.Status().Description
		for _, v := range attrs(s) {
			all += " " + v
		}
		for _, ev := range s.Events() {
			for _, kv := range ev.Attributes {
				all += " " + kv.Value.Emit()
			}
		}
		for _, bad := range []string{token, "example.org", "not found"} {
			if strings.Contains(all, bad) {
				t.Errorf("%s holds %q: %s", s.Name(), bad, all)
			}
		}
	}
}
