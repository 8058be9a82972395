// This file holds the settings of traces and request IDs (issue 15):
// OpenTelemetry traces over OTLP/HTTP, off unless -otel-endpoint or the
// standard OTEL_* variables name a collector, and the bound on a client's
// X-Request-Id.

package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"time"

	"go.opentelemetry.io/otel"

	"github.com/ghl-graphql/gateway/server"
	"github.com/ghl-graphql/gateway/tracing"
	"github.com/ghl-graphql/gateway/upstream"
)

// tracingConfig is the trace and request-ID settings.
type tracingConfig struct {
	endpoint          string
	sampleRatio       float64
	maxRequestIDBytes int
}

// registerTracingFlags declares the trace and request-ID flags.
func registerTracingFlags(fs *flag.FlagSet, c *tracingConfig) {
	fs.StringVar(&c.endpoint, "otel-endpoint", "", "OTLP/HTTP collector receiving traces (e.g. http://collector:4318; /v1/traces is added to a bare host); empty: OTEL_EXPORTER_OTLP_TRACES_ENDPOINT or OTEL_EXPORTER_OTLP_ENDPOINT, and with neither no traces")
	fs.Float64Var(&c.sampleRatio, "trace-sample-ratio", tracing.SampleFromEnv, "share of traces started here that are kept, 0 to 1, following a client's sampled traceparent; -1: OTEL_TRACES_SAMPLER decides (default: all)")
	fs.IntVar(&c.maxRequestIDBytes, "max-request-id-bytes", server.DefaultMaxRequestIDBytes, "longest X-Request-Id kept from a client (letters, digits and -_.:/+= only); others are replaced by a generated ID")
}

// validate names the bad trace settings.
func (c tracingConfig) validate() error {
	if err := (tracing.Config{Endpoint: c.endpoint, SampleRatio: tracing.SampleFromEnv}).Validate(); err != nil {
		return fmt.Errorf("%s: %w", setting("otel-endpoint"), err)
	}
	if err := (tracing.Config{SampleRatio: c.sampleRatio}).Validate(); err != nil {
		return fmt.Errorf("%s: %w", setting("trace-sample-ratio"), err)
	}
	if c.maxRequestIDBytes < 1 {
		return fmt.Errorf("%s %d: must be at least 1", setting("max-request-id-bytes"), c.maxRequestIDBytes)
	}
	return nil
}

// start sets tracing up (nil when off) and returns the function that
// flushes its last spans at shutdown.
func (c tracingConfig) start(ctx context.Context, logger *slog.Logger) (*tracing.Tracing, func(), error) {
	t, err := tracing.Setup(ctx, tracing.Config{Endpoint: c.endpoint, SampleRatio: c.sampleRatio}, os.Getenv)
	if err != nil {
		return nil, nil, err
	}
	if t == nil {
		return nil, func() {}, nil
	}
	// The SDK reports failed exports (a collector down) to otel's one
	// process-wide handler, by default the standard log package's stderr:
	// into our log instead, in its format.
	otel.SetErrorHandler(otel.ErrorHandlerFunc(func(err error) {
		logger.Warn("tracing: spans not exported", "err", err)
	}))
	logger.Info("tracing on: spans exported over OTLP/HTTP")
	return t, func() {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := t.Shutdown(sctx); err != nil {
			logger.Warn("tracing: spans lost at shutdown", "err", err)
		}
	}, nil
}

// tracedClient is the upstream option that traces calls through hc's
// transport: nothing without tracing. It comes after WithHTTPClient.
func tracedClient(t *tracing.Tracing, hc *http.Client) upstream.Option {
	opts := t.UpstreamOptions(hc)
	return func(c *upstream.Client) error {
		for _, o := range opts {
			if err := o(c); err != nil {
				return err
			}
		}
		return nil
	}
}
