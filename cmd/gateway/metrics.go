// This file holds the settings of Prometheus metrics and profiling (issue
// 15): /metrics on the main address, or on its own with -metrics-addr;
// net/http/pprof only on that own address, and only with -pprof.

package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"slices"
	"time"

	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/parser"

	"github.com/ghl-graphql/gateway/metrics"
	"github.com/ghl-graphql/gateway/server"
	"github.com/ghl-graphql/gateway/upstream"
)

// MetricsPath is where the metrics are served.
const MetricsPath = "/metrics"

// metricsConfig is the metrics and profiling settings.
type metricsConfig struct {
	enabled       bool
	addr          string
	pprof         bool
	maxOperations int
	maxLocations  int

	// m is the gateway's metrics once built (nil when off).
	m *metrics.Metrics
}

// registerMetricsFlags declares the metrics and profiling flags.
func registerMetricsFlags(fs *flag.FlagSet, c *metricsConfig) {
	fs.BoolVar(&c.enabled, "metrics", true, "serve Prometheus metrics at "+MetricsPath+" (on -metrics-addr when set, else on -addr)")
	fs.StringVar(&c.addr, "metrics-addr", "", "own listen address of "+MetricsPath+" (and of -pprof), e.g. 127.0.0.1:9090; empty: "+MetricsPath+" on -addr")
	fs.BoolVar(&c.pprof, "pprof", false, "serve net/http/pprof at /debug/pprof/ on -metrics-addr (required; never on -addr)")
	fs.IntVar(&c.maxOperations, "metrics-max-operations", metrics.DefaultMaxOperations, "distinct GraphQL operation names with metrics of their own (persisted ones first); the rest count as other")
	fs.IntVar(&c.maxLocations, "metrics-max-locations", metrics.DefaultMaxLocations, "distinct locations with metrics of their own (budget, breaker); the rest count as other")
}

// validate names every bad metrics setting.
func (c metricsConfig) validate() error {
	var errs []error
	if c.pprof && c.addr == "" {
		errs = append(errs, fmt.Errorf("%s needs %s: profiles are never served on the main address", setting("pprof"), setting("metrics-addr")))
	}
	if c.pprof && !c.enabled {
		errs = append(errs, fmt.Errorf("%s needs %s", setting("pprof"), setting("metrics")))
	}
	if c.addr != "" && !c.enabled {
		errs = append(errs, fmt.Errorf("%s is set but %s is off", setting("metrics-addr"), setting("metrics")))
	}
	if c.addr != "" {
		if _, _, err := net.SplitHostPort(c.addr); err != nil {
			errs = append(errs, fmt.Errorf("%s %q: %w", setting("metrics-addr"), c.addr, err))
		}
	}
	for name, v := range map[string]int{"metrics-max-operations": c.maxOperations, "metrics-max-locations": c.maxLocations} {
		if v < 1 {
			errs = append(errs, fmt.Errorf("%s %d: must be at least 1", setting(name), v))
		}
	}
	return errors.Join(errs...)
}

// build makes the gateway's metrics (nil when off).
func (c *metricsConfig) build() *metrics.Metrics {
	if !c.enabled {
		return nil
	}
	c.m = metrics.New(metrics.Config{MaxOperations: c.maxOperations, MaxLocations: c.maxLocations})
	return c.m
}

// clientOption is the upstream client's observer option (none when off).
func (c *metricsConfig) clientOption() upstream.Option {
	if c.m == nil {
		return func(*upstream.Client) error { return nil }
	}
	return upstream.WithObserver(c.m)
}

// refreshHook is the OAuth manager's OnRefresh (nil when off).
func (c *metricsConfig) refreshHook() func(string) {
	if c.m == nil {
		return nil
	}
	return c.m.OAuthRefresh
}

// wire hands the metrics the client and the server's hooks.
func (c *metricsConfig) wire(client *upstream.Client, scfg *server.Config) {
	if c.m == nil {
		return
	}
	c.m.WatchClient(client)
	c.m.AddOperations(operationNames(scfg.PersistedOperations)) // the allow-list's names are labelled first
	scfg.Observer = c.m
	if scfg.Webhooks != nil {
		scfg.Webhooks.Receiver.OnAccepted = c.m.WebhookAccepted
	}
}

// mainHandler adds /metrics to the gateway's handler when it has no
// address of its own.
func (c *metricsConfig) mainHandler(h http.Handler) http.Handler {
	if c.m == nil || c.addr != "" {
		return h
	}
	mh := c.m.Handler()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == MetricsPath {
			mh.ServeHTTP(w, r)
			return
		}
		h.ServeHTTP(w, r)
	})
}

// handler is what -metrics-addr serves: /metrics, and pprof with -pprof.
func (c *metricsConfig) handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle(MetricsPath, c.m.Handler())
	if c.pprof {
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	}
	return mux
}

// start listens on -metrics-addr, when set, and serves until ctx ends;
// the returned stop waits for that. The address is returned for the
// start-up banner (it may end in :0).
func (c *metricsConfig) start(ctx context.Context, logger *slog.Logger) (addr string, stop func(), err error) {
	if c.m == nil || c.addr == "" {
		return "", func() {}, nil
	}
	ln, err := net.Listen("tcp", c.addr)
	if err != nil {
		return "", nil, fmt.Errorf("%s %q: %w", setting("metrics-addr"), c.addr, err)
	}
	// A profile takes up to its ?seconds=, so no write deadline; headers
	// and idle connections are bounded like the main server's.
	srv := &http.Server{Handler: c.handler(), ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute,
		ErrorLog: slog.NewLogLogger(logger.Handler(), slog.LevelWarn)}
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			logger.Error("metrics listener stopped", "err", err)
		}
	}()
	go func() {
		defer close(done)
		<-ctx.Done()
		sctx, scancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer scancel()
		_ = srv.Shutdown(sctx)
	}()
	return ln.Addr().String(), func() { cancel(); <-done }, nil
}

// operationNames returns the names of the persisted operations, which
// take the first places of the capped set of operation labels.
func operationNames(ops server.PersistedOperations) []string {
	var names []string
	for _, q := range ops {
		doc, err := parser.ParseQuery(&ast.Source{Input: q})
		if err != nil {
			continue
		}
		for _, op := range doc.Operations {
			if op.Name != "" {
				names = append(names, op.Name)
			}
		}
	}
	slices.Sort(names) // the map's order is random; the labels' must not be
	return slices.Compact(names)
}

// banner prints where the metrics (and profiles) are served.
func (c *metricsConfig) banner(out io.Writer, mainURL, addr string) {
	switch {
	case c.m == nil:
	case addr == "":
		fmt.Fprintf(out, "Metrics:          %s%s\n", mainURL, MetricsPath)
	case c.pprof:
		fmt.Fprintf(out, "Metrics:          http://%s%s   (pprof: http://%s/debug/pprof/)\n", addr, MetricsPath, addr)
	default:
		fmt.Fprintf(out, "Metrics:          http://%s%s\n", addr, MetricsPath)
	}
}
