package tracing

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
)

func env(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

// Tracing is off unless an endpoint is named by the flag or OTEL_*, and
// OTEL_SDK_DISABLED or OTEL_TRACES_EXPORTER=none switch it off again.
func TestSetupOnOff(t *testing.T) {
	for name, tc := range map[string]struct {
		cfg Config
		env map[string]string
		on  bool
	}{
		"nothing":           {cfg: Config{SampleRatio: SampleFromEnv}},
		"flag":              {cfg: Config{Endpoint: "http://127.0.0.1:4318", SampleRatio: 0.01}, on: true},
		"OTLP endpoint":     {cfg: Config{SampleRatio: SampleFromEnv}, env: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318"}, on: true},
		"traces endpoint":   {cfg: Config{SampleRatio: SampleFromEnv}, env: map[string]string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://127.0.0.1:4318/v1/traces"}, on: true},
		"SDK disabled":      {cfg: Config{Endpoint: "http://127.0.0.1:4318", SampleRatio: 1}, env: map[string]string{"OTEL_SDK_DISABLED": "true"}},
		"exporter none":     {cfg: Config{SampleRatio: SampleFromEnv}, env: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://x:4318", "OTEL_TRACES_EXPORTER": "none"}},
		"sampler from env":  {cfg: Config{Endpoint: "http://127.0.0.1:4318", SampleRatio: SampleFromEnv}, env: map[string]string{"OTEL_TRACES_SAMPLER": "parentbased_traceidratio", "OTEL_TRACES_SAMPLER_ARG": "0.25"}, on: true},
		"service name, env": {cfg: Config{Endpoint: "http://127.0.0.1:4318", SampleRatio: 1}, env: map[string]string{"OTEL_SERVICE_NAME": "gw-eu"}, on: true},
	} {
		t.Run(name, func(t *testing.T) {
			tr, err := Setup(context.Background(), tc.cfg, env(tc.env))
			if err != nil {
				t.Fatal(err)
			}
			if (tr != nil) != tc.on {
				t.Fatalf("on %v, want %v", tr != nil, tc.on)
			}
			if err := tr.Shutdown(context.Background()); err != nil {
				t.Error(err)
			}
		})
	}
}

func TestSetupErrors(t *testing.T) {
	for name, tc := range map[string]struct {
		cfg  Config
		env  map[string]string
		want string
	}{
		"ratio above 1":   {cfg: Config{SampleRatio: 1.5}, want: "sample ratio 1.5"},
		"ratio negative":  {cfg: Config{SampleRatio: -0.5}, want: "sample ratio -0.5"},
		"endpoint scheme": {cfg: Config{Endpoint: "grpc://c:4317", SampleRatio: 1}, want: "OTLP endpoint"},
		"endpoint host":   {cfg: Config{Endpoint: "http://", SampleRatio: 1}, want: "OTLP endpoint"},
		"endpoint user":   {cfg: Config{Endpoint: "http://u:p@c:4318", SampleRatio: 1}, want: "OTLP endpoint"},
		"unknown sampler": {cfg: Config{Endpoint: "http://c:4318", SampleRatio: SampleFromEnv}, env: map[string]string{"OTEL_TRACES_SAMPLER": "jaeger_remote"}, want: "unknown sampler"},
		"bad sampler arg": {cfg: Config{Endpoint: "http://c:4318", SampleRatio: SampleFromEnv}, env: map[string]string{"OTEL_TRACES_SAMPLER": "traceidratio", "OTEL_TRACES_SAMPLER_ARG": "2"}, want: "OTEL_TRACES_SAMPLER_ARG"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := Setup(context.Background(), tc.cfg, env(tc.env))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want %q", err, tc.want)
			}
		})
	}
}

func TestSamplers(t *testing.T) {
	for sampler, want := range map[string]string{
		"":                         "ParentBased{root:AlwaysOnSampler",
		"always_on":                "AlwaysOnSampler",
		"always_off":               "AlwaysOffSampler",
		"parentbased_always_off":   "ParentBased{root:AlwaysOffSampler",
		"traceidratio":             "TraceIDRatioBased{0.5}",
		"parentbased_traceidratio": "ParentBased{root:TraceIDRatioBased{0.5}",
	} {
		s, err := samplerOf(SampleFromEnv, env(map[string]string{"OTEL_TRACES_SAMPLER": sampler, "OTEL_TRACES_SAMPLER_ARG": "0.5"}))
		if err != nil || !strings.HasPrefix(s.Description(), want) {
			t.Errorf("%q: %v %v, want %s", sampler, s, err, want)
		}
	}
	if s, _ := samplerOf(0.01, env(nil)); !strings.HasPrefix(s.Description(), "ParentBased{root:TraceIDRatioBased{0.01}") {
		t.Errorf("ratio 0.01: %s", s.Description())
	}
}

func TestTracesURL(t *testing.T) {
	for in, want := range map[string]string{
		"http://c:4318":            "http://c:4318/v1/traces",
		"http://c:4318/":           "http://c:4318/v1/traces",
		"https://c/otlp/v1/traces": "https://c/otlp/v1/traces",
	} {
		if got := tracesURL(in); got != want {
			t.Errorf("%s: %s, want %s", in, got, want)
		}
	}
}

// The URL a span names keeps no query value (the duplicate look-up sends
// email and phone there), nor user info.
func TestRedactedURL(t *testing.T) {
	u, _ := url.Parse("https://u:p@api.example/contacts/search/duplicate?email=ada%40example.org&locationId=L1&phone=%2B1555#frag")
	got := redactedURL(u)
	for _, bad := range []string{"ada", "example.org", "1555", "u:p", "L1", "frag"} {
		if strings.Contains(got, bad) {
			t.Errorf("%s holds %q", got, bad)
		}
	}
	if !strings.HasPrefix(got, "https://api.example/contacts/search/duplicate?") || !strings.Contains(got, "email=REDACTED") {
		t.Errorf("redacted: %s", got)
	}
}

func TestBoundName(t *testing.T) {
	if got := boundName(strings.Repeat("x", 100)); len(got) != MaxOperationName {
		t.Errorf("len %d", len(got))
	}
	if got := boundName("Snapshot"); got != "Snapshot" {
		t.Errorf("%q", got)
	}
}

// Without tracing every hook is the identity: the handler, the transport,
// the options and the extension are the ones given, or none.
func TestNilIsOff(t *testing.T) {
	var tr *Tracing
	h := http.NotFoundHandler()
	if got := tr.Handler(h); got == nil {
		t.Error("nil handler")
	}
	if tr.Extension() != nil || tr.UpstreamOptions(nil) != nil {
		t.Error("hooks without tracing")
	}
	base := http.DefaultTransport
	if tr.Transport(base) != base {
		t.Error("transport wrapped without tracing")
	}
	if tr.Shutdown(context.Background()) != nil {
		t.Error("shutdown")
	}
}

// The transport sends the context's trace upstream on a copy of the
// request (the caller's headers are left alone) and, inside a call's
// span, records each attempt as an event.
func TestTransport(t *testing.T) {
	var got atomic.Value
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got.Store(r.Header.Get("traceparent"))
		w.WriteHeader(http.StatusTeapot)
	}))
	defer up.Close()
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	tr := New(tp)
	ctx, parent := tp.Tracer("t").Start(context.Background(), "parent")
	call := &callSpan{span: parent}
	ctx = context.WithValue(ctx, callKey{}, call)
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, up.URL+"/contacts/x?email=a@b.c", nil)
	rt := tr.Transport(nil)
	for range 2 {
		resp, err := rt.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	call.end(nil, nil)
	if req.Header.Get("traceparent") != "" {
		t.Error("the caller's request was changed")
	}
	want := "00-" + parent.SpanContext().TraceID().String() + "-" + parent.SpanContext().SpanID().String() + "-01"
	if got.Load() != want {
		t.Errorf("upstream got %q, want %q", got.Load(), want)
	}
	spans := exp.GetSpans()
	if len(spans) != 1 || len(spans[0].Events) != 2 {
		t.Fatalf("spans %+v", spans)
	}
	var full, resend string
	for _, kv := range spans[0].Attributes {
		switch kv.Key {
		case "url.full":
			full = kv.Value.Emit()
		case "http.request.resend_count":
			resend = kv.Value.Emit()
		}
	}
	if strings.Contains(full, "a@b.c") || !strings.HasPrefix(full, up.URL+"/contacts/x?") || resend != "1" {
		t.Errorf("url.full %q, resend_count %q", full, resend)
	}
}
