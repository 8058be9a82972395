package main

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ghl-graphql/gateway/server"
	"github.com/ghl-graphql/gateway/tracing"
	"github.com/ghl-graphql/gateway/upstream"
)

func TestTracingConfig(t *testing.T) {
	for name, tc := range map[string]struct {
		args    []string
		env     map[string]string
		wantErr string
		want    tracingConfig
	}{
		"defaults": {want: tracingConfig{sampleRatio: tracing.SampleFromEnv, maxRequestIDBytes: server.DefaultMaxRequestIDBytes}},
		"flags": {args: []string{"-otel-endpoint", "http://collector:4318", "-trace-sample-ratio", "0.01", "-max-request-id-bytes", "128"},
			want: tracingConfig{endpoint: "http://collector:4318", sampleRatio: 0.01, maxRequestIDBytes: 128}},
		"environment": {env: map[string]string{"GATEWAY_OTEL_ENDPOINT": "https://c", "GATEWAY_TRACE_SAMPLE_RATIO": "1", "GATEWAY_MAX_REQUEST_ID_BYTES": "32"},
			want: tracingConfig{endpoint: "https://c", sampleRatio: 1, maxRequestIDBytes: 32}},
		"ratio above 1":   {args: []string{"-trace-sample-ratio", "2"}, wantErr: "-trace-sample-ratio"},
		"ratio negative":  {args: []string{"-trace-sample-ratio", "-0.5"}, wantErr: "-trace-sample-ratio"},
		"bad endpoint":    {args: []string{"-otel-endpoint", "collector:4318"}, wantErr: "-otel-endpoint"},
		"request ID zero": {args: []string{"-max-request-id-bytes", "0"}, wantErr: "-max-request-id-bytes"},
	} {
		t.Run(name, func(t *testing.T) {
			c, ok := parseConfigCase(t, tc.args, tc.env, tc.wantErr)
			if !ok {
				return
			}
			if c.tracing != tc.want {
				t.Errorf("tracing = %+v, want %+v", c.tracing, tc.want)
			}
		})
	}
}

// With an endpoint, start sets tracing up and its stop flushes spans to
// the collector over OTLP/HTTP; without one, tracing is off.
func TestTracingStart(t *testing.T) {
	var posts atomic.Int32
	collector := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/v1/traces" && r.Method == http.MethodPost {
			posts.Add(1)
		}
		w.WriteHeader(http.StatusOK)
	}))
	defer collector.Close()
	logger := slog.New(slog.DiscardHandler)
	// The test's own OTEL_* (a developer's shell) must not decide.
	for _, k := range []string{"OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_SDK_DISABLED", "OTEL_TRACES_EXPORTER", "OTEL_TRACES_SAMPLER"} {
		t.Setenv(k, "")
	}
	tr, stop, err := tracingConfig{sampleRatio: tracing.SampleFromEnv}.start(context.Background(), logger)
	if err != nil || tr != nil {
		t.Fatalf("no endpoint: %v, %v", tr, err)
	}
	stop()
	tr, stop, err = tracingConfig{endpoint: collector.URL, sampleRatio: 1}.start(context.Background(), logger)
	if err != nil || tr == nil {
		t.Fatalf("endpoint: %v, %v", tr, err)
	}
	// A call's span under a client's sampled traceparent, through the
	// handler and call tracer the gateway uses.
	h := tr.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, end := tr.CallTracer()(r.Context(), upstream.OpGetContact)
		if end == nil {
			t.Error("no span under a sampled traceparent")
			return
		}
		end(&upstream.Response{StatusCode: 200}, nil)
	}))
	req := httptest.NewRequest(http.MethodGet, "/graphql", nil)
	req.Header.Set("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
	h.ServeHTTP(httptest.NewRecorder(), req)
	stop()
	deadline := time.Now().Add(5 * time.Second)
	for posts.Load() == 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if posts.Load() == 0 {
		t.Error("no span reached the collector")
	}
}
