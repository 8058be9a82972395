// Package tracing holds the gateway's OpenTelemetry traces (issue 15): the
// tracer provider and its OTLP/HTTP exporter, off unless configured; the
// W3C trace-context propagation from clients and to the upstream; a span
// per GraphQL operation, per resolver that calls out, and per upstream
// call. A nil *Tracing is tracing off: every method then returns its input
// untouched, so the hot path pays nothing.
package tracing

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
)

// ScopeName names the gateway's instrumentation scope.
const ScopeName = "github.com/ghl-graphql/gateway/tracing"

// DefaultServiceName is the service.name when OTEL_SERVICE_NAME is unset.
const DefaultServiceName = "ghl-graphql-gateway"

// SampleFromEnv is the Config.SampleRatio that leaves sampling to
// OTEL_TRACES_SAMPLER and OTEL_TRACES_SAMPLER_ARG (the SDK's default:
// parentbased_always_on).
const SampleFromEnv = -1

// Config says where traces go. Its zero value with no OTEL_* variable set
// is tracing off.
type Config struct {
	// Endpoint is the OTLP/HTTP collector's base URL
	// ("http://collector:4318"; "/v1/traces" is added when it has no path).
	// Empty takes OTEL_EXPORTER_OTLP_TRACES_ENDPOINT or
	// OTEL_EXPORTER_OTLP_ENDPOINT; with neither, tracing is off.
	Endpoint string
	// SampleRatio is the share of traces started here that are kept, in
	// [0, 1], parent-based (a client's sampled traceparent is followed);
	// SampleFromEnv leaves it to OTEL_TRACES_SAMPLER.
	SampleRatio float64
}

// Validate reports what is wrong with c.
func (c Config) Validate() error {
	var errs []error
	if c.Endpoint != "" {
		if err := checkEndpoint(c.Endpoint); err != nil {
			errs = append(errs, err)
		}
	}
	if c.SampleRatio != SampleFromEnv && (c.SampleRatio < 0 || c.SampleRatio > 1) {
		errs = append(errs, fmt.Errorf("sample ratio %v: must be in [0, 1], or %d to follow OTEL_TRACES_SAMPLER", c.SampleRatio, SampleFromEnv))
	}
	return errors.Join(errs...)
}

func checkEndpoint(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil {
		return fmt.Errorf("OTLP endpoint %q: must be an http or https URL with a host and no user info", raw)
	}
	return nil
}

// Tracing is the gateway's tracer and propagator; nil is tracing off.
type Tracing struct {
	tracer     trace.Tracer
	propagator propagation.TextMapPropagator
	shutdown   func(context.Context) error
}

// New returns tracing through tp (a test passes an SDK provider with an
// in-memory exporter). The caller shuts tp down.
func New(tp trace.TracerProvider) *Tracing {
	return &Tracing{
		tracer:     tp.Tracer(ScopeName),
		propagator: propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{}),
		shutdown:   func(context.Context) error { return nil },
	}
}

// enabled reports whether cfg and the environment ask for traces: an
// endpoint is named, and neither OTEL_SDK_DISABLED=true nor
// OTEL_TRACES_EXPORTER=none says no.
func enabled(cfg Config, getenv func(string) string) bool {
	if strings.EqualFold(getenv("OTEL_SDK_DISABLED"), "true") || strings.EqualFold(getenv("OTEL_TRACES_EXPORTER"), "none") {
		return false
	}
	return cfg.Endpoint != "" || getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") != "" || getenv("OTEL_EXPORTER_OTLP_ENDPOINT") != ""
}

// Setup returns the tracing cfg and the OTEL_* variables (read through
// getenv) configure, exporting over OTLP/HTTP in batches; nil, nil when
// they configure none. The exporter reads the other OTEL_EXPORTER_OTLP_*
// variables (headers, timeout, compression, certificates) itself.
// Shutdown flushes what is left.
func Setup(ctx context.Context, cfg Config, getenv func(string) string) (*Tracing, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if !enabled(cfg, getenv) {
		return nil, nil
	}
	var opts []otlptracehttp.Option
	if cfg.Endpoint != "" {
		opts = append(opts, otlptracehttp.WithEndpointURL(tracesURL(cfg.Endpoint)))
	}
	exp, err := otlptracehttp.New(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("tracing: OTLP exporter: %w", err)
	}
	// The default name first: OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES,
	// detected after it, override it.
	res, err := resource.New(ctx, resource.WithTelemetrySDK(),
		resource.WithAttributes(semconv.ServiceName(DefaultServiceName)), resource.WithFromEnv())
	if err != nil {
		return nil, fmt.Errorf("tracing: resource: %w", err)
	}
	tpOpts := []sdktrace.TracerProviderOption{sdktrace.WithBatcher(exp), sdktrace.WithResource(res)}
	sampler, err := samplerOf(cfg.SampleRatio, getenv)
	if err != nil {
		return nil, err
	}
	tpOpts = append(tpOpts, sdktrace.WithSampler(sampler))
	tp := sdktrace.NewTracerProvider(tpOpts...)
	t := New(tp)
	t.shutdown = tp.Shutdown
	return t, nil
}

// tracesURL is the traces URL of a collector's base URL.
func tracesURL(endpoint string) string {
	u, _ := url.Parse(endpoint) // checked by Validate
	if u.Path == "" || u.Path == "/" {
		u.Path = "/v1/traces"
	}
	return u.String()
}

// samplerOf is the sampler of a ratio, or of OTEL_TRACES_SAMPLER(_ARG)
// when ratio is SampleFromEnv. Only the standard samplers are known; an
// unknown one is an error rather than a silent always_on.
func samplerOf(ratio float64, getenv func(string) string) (sdktrace.Sampler, error) {
	if ratio != SampleFromEnv {
		return sdktrace.ParentBased(sdktrace.TraceIDRatioBased(ratio)), nil
	}
	arg := 1.0
	if a := getenv("OTEL_TRACES_SAMPLER_ARG"); a != "" {
		v, err := strconv.ParseFloat(a, 64)
		if err != nil || v < 0 || v > 1 {
			return nil, fmt.Errorf("tracing: OTEL_TRACES_SAMPLER_ARG %q: must be a ratio in [0, 1]", a)
		}
		arg = v
	}
	switch s := getenv("OTEL_TRACES_SAMPLER"); s {
	case "", "parentbased_always_on":
		return sdktrace.ParentBased(sdktrace.AlwaysSample()), nil
	case "always_on":
		return sdktrace.AlwaysSample(), nil
	case "always_off":
		return sdktrace.NeverSample(), nil
	case "parentbased_always_off":
		return sdktrace.ParentBased(sdktrace.NeverSample()), nil
	case "traceidratio":
		return sdktrace.TraceIDRatioBased(arg), nil
	case "parentbased_traceidratio":
		return sdktrace.ParentBased(sdktrace.TraceIDRatioBased(arg)), nil
	default:
		return nil, fmt.Errorf("tracing: OTEL_TRACES_SAMPLER %q: unknown sampler", s)
	}
}

// Shutdown flushes the spans not yet exported and stops the exporter.
func (t *Tracing) Shutdown(ctx context.Context) error {
	if t == nil {
		return nil
	}
	return t.shutdown(ctx)
}

// Handler takes the W3C traceparent (and baggage) a client sends, so that
// the operation's span is its child. Without tracing it returns next.
func (t *Tracing) Handler(next http.Handler) http.Handler {
	if t == nil {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("traceparent") != "" {
			r = r.WithContext(t.propagator.Extract(r.Context(), propagation.HeaderCarrier(r.Header)))
		}
		next.ServeHTTP(w, r)
	})
}
