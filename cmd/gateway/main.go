// Command gateway serves one GraphQL endpoint in front of HighLevel's
// Contacts REST API v2.
//
//	gateway            serve (with no -upstream-url, against the built-in sandbox)
//	gateway schema     print the GraphQL SDL
//	gateway sandbox    serve the sandbox Contacts API alone
//	gateway keys       create, list and revoke gateway API keys (managed mode)
//	gateway config print  the effective configuration as a -config YAML file
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
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/ghl-graphql/gateway/clientauth"
	"github.com/ghl-graphql/gateway/playground"
	"github.com/ghl-graphql/gateway/server"
	"github.com/ghl-graphql/gateway/upstream"
	"github.com/ghl-graphql/gateway/upstream/sandbox"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(0)
		}
		printConfigError(os.Stderr, err)
		os.Exit(2)
	}
}

// run is main without the process: it returns when ctx ends (after a
// graceful shutdown) or on a start-up error.
func run(ctx context.Context, args []string, stdout, stderr *os.File) error {
	if len(args) > 0 {
		switch args[0] {
		case "schema":
			return runSchema(args[1:], stdout, stderr)
		case "sandbox":
			return runSandbox(ctx, args[1:], stdout, stderr)
		case "keys":
			return clientauth.RunKeysCommand(args[1:], stdout, stderr)
		case "config":
			return runConfigCommand(args[1:], stdout, stderr)
		}
	}
	cfg, err := parseConfig(args, os.LookupEnv, stderr)
	if err != nil {
		return err
	}
	logger := slog.New(server.LogHandler(cfg.newLogger(stderr).Handler())) // request IDs on every line
	return serve(ctx, cfg, logger, stdout)
}

// serve runs the gateway until ctx ends.
func serve(ctx context.Context, cfg *config, logger *slog.Logger, stdout io.Writer) error {
	baseURL := cfg.upstreamURL
	var sb *sandbox.Server
	if baseURL == "" {
		var stopSandbox func()
		var err error
		sb, baseURL, stopSandbox, err = startSandbox(cfg.sandbox, logger)
		if err != nil {
			return err
		}
		defer stopSandbox()
	}

	// Listen first: the banner, GraphiQL's examples and managed mode
	// against the sandbox need the real address (-addr may end in :0).
	tcp, err := net.Listen("tcp", cfg.addr)
	if err != nil {
		return fmt.Errorf("-addr %q: %w", cfg.addr, err)
	}
	defer tcp.Close()
	url := "http://" + tcp.Addr().String()
	var notes []string
	if sb != nil && cfg.authMode == "managed" {
		if notes, err = cfg.prepareSandboxManaged(sb, baseURL, url); err != nil {
			return err
		}
	}

	tr, stopTracing, err := cfg.tracing.start(ctx, logger)
	if err != nil {
		return err
	}
	defer stopTracing()
	// What replicas share on Redis (issue 13; redis.go): nothing without -redis-url.
	shared, err := cfg.redis.openShared(ctx, logger)
	if err != nil {
		return err
	}
	defer shared.close()
	httpClient := upstream.NewHTTPClient()
	cfg.metrics.build() // before the client, which reports to it (metrics.go)
	client, err := upstream.NewClient(
		upstream.WithBaseURL(baseURL),
		upstream.WithHTTPClient(httpClient),
		upstream.WithTimeout(cfg.upstreamTimeout),
		upstream.WithLogger(logger),
		upstream.WithRateBudget(shared.rateBudget(cfg.budget)),
		upstream.WithRetryPolicy(cfg.retry),
		upstream.WithCircuitBreaker(cfg.breaker),
		cfg.metrics.clientOption(),
		tracedClient(tr, httpClient),
	)
	if err != nil {
		return fmt.Errorf("-upstream-url: %w", err)
	}

	scfg := server.Config{
		Client:                   client,
		Logger:                   logger,
		DefaultLocationID:        cfg.locationID,
		Introspection:            cfg.introspection,
		MaxBodyBytes:             cfg.maxBodyBytes,
		RequestTimeout:           cfg.requestTimeout,
		CacheTTLs:                cfg.cacheTTLs,
		NoResponseCache:          !cfg.responseCache,
		MaxConcurrentPerLocation: cfg.upstreamPerLoc,
		Limits:                   cfg.limits,
		InputLimits:              cfg.inputLimits,
		BudgetMaxWait:            cfg.budget.MaxWait,
		RejectedTokenBackoff:     cfg.rejectedBackoff,
		Tracing:                  tr,
		MaxRequestIDBytes:        cfg.tracing.maxRequestIDBytes,
		Ready:                    server.UpstreamReady(client, &http.Client{Transport: httpClient.Transport, Timeout: 3 * time.Second}),
	}
	scfg.CacheStale, scfg.Refresh = cfg.staleSettings()
	scfg.Degraded = shared.degradedReasons
	scfg.Prime, scfg.PartialCacheTTL = cfg.prime.settings(), cfg.prime.partialTTL
	if cfg.playground {
		pg := &playground.Options{Endpoint: server.GraphQLPath, UseCDN: cfg.playgroundCDN}
		if cfg.subs.enabled {
			pg.SubscriptionEndpoint = server.GraphQLPath // subscribe in one tab, mutate in another
		}
		if sb != nil {
			pg.Tabs = exampleTabs(sb.ExampleContact(sb.Locations()[0]), cfg.subs.enabled)
			if cfg.authMode != "managed" {
				pg.DefaultHeaders = map[string]string{"Authorization": "Bearer " + sb.DefaultToken()}
			} else {
				// The key is made after start (gateway keys create): say where it goes.
				pg.DefaultHeaders = map[string]string{"Authorization": "Bearer PASTE_THE_KEY_OF_gateway_keys_create"}
			}
		}
		scfg.Playground = pg
	}
	scfg.CORSOrigins = cfg.origins()
	cfg.protocolSettings(&scfg)
	if cfg.authMode == "managed" {
		m, err := cfg.managed(ctx, shared.conn, logger)
		if err != nil {
			return err
		}
		scfg.Managed = m
	}
	if cfg.persistedOps != "" {
		ops, err := server.LoadPersistedOperations(cfg.persistedOps)
		if err != nil {
			return fmt.Errorf("%s: %w", setting("persisted-operations"), err)
		}
		scfg.PersistedOperations = ops
	}
	warnRefuseAll(logger, cfg, scfg.PersistedOperations, scfg.Managed)
	switch cfg.auditLog {
	case "":
	case "-":
		scfg.AuditLog = slog.New(slog.NewJSONHandler(os.Stderr, nil))
	default:
		f, err := os.OpenFile(cfg.auditLog, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
		if err != nil {
			return fmt.Errorf("%s: %w", setting("audit-log"), err)
		}
		defer f.Close()
		scfg.AuditLog = slog.New(slog.NewJSONHandler(f, nil))
	}
	scfg.BodyReadTimeout = cfg.conn.bodyReadTimeout
	scfg.MaxConcurrentRequests = cfg.conn.maxConcurrentRequests
	scfg.MaxTokenBytes = cfg.conn.maxTokenBytes
	scfg.MaxLocationIDBytes = cfg.conn.maxLocationIDBytes
	scfg.CredentialCacheBytes = cfg.conn.credentialCacheBytes
	// One bus for every publisher (the gateway's mutations; webhooks) and
	// the subscriptions (issue 12).
	bus, closeBus := cfg.realtime.bus(shared.conn, logger) // across replicas with -redis-url (issue 13)
	scfg.Bus, scfg.NoSubscriptions, scfg.Subscriptions = bus, !cfg.subs.enabled, cfg.subs.limits()
	scfg.CacheMaxBytes = cfg.cacheMaxBytes
	if scfg.CacheMaxBytes == 0 {
		scfg.CacheMaxBytes = -1 // 0 on the command line means off
	}
	wh, sbHooks, err := cfg.webhooks.build(sb != nil)
	if err != nil {
		return err
	}
	scfg.Webhooks = wh
	scfg.CacheTTLs = cfg.effectiveTTLs(wh != nil)
	cfg.metrics.wire(client, &scfg)
	cfg.realtime.share(shared.conn, &scfg, logger) // APQ, webhook de-duplication, learned token facts (issue 13)
	scfg.SharedCache = cfg.redisCache.shared(shared.conn, logger)
	handler, err := server.New(scfg)
	if err != nil {
		return err
	}
	handler = cfg.metrics.mainHandler(handler)
	metricsAddr, stopMetrics, err := cfg.metrics.start(ctx, logger)
	if err != nil {
		return err
	}
	defer stopMetrics()

	exempt, _ := cfg.conn.exempt() // checked by validate
	ln := server.LimitConnsPerClient(tcp, server.ClientConnLimit{Max: cfg.conn.maxConnsPerClient, Exempt: exempt})
	srv := newHTTPServer(cfg, handler, logger)
	for _, n := range notes {
		logger.Info("managed mode against the sandbox: " + n)
	}
	// Shutdown does not wait for hijacked WebSockets: closing the bus ends
	// their subscriptions with an error and complete.
	srv.RegisterOnShutdown(closeBus)
	fmt.Fprintf(stdout, "GraphQL endpoint: %s%s\n", url, server.GraphQLPath)
	cfg.metrics.banner(stdout, url, metricsAddr)
	if cfg.playground {
		hint := "open it in a browser: tabs of examples"
		if sb != nil && cfg.authMode != "managed" {
			hint += " with a working token"
		}
		fmt.Fprintf(stdout, "GraphiQL:         %s/   (%s)\n", url, hint)
	}
	if sb != nil {
		fmt.Fprintf(stdout, "Upstream:         built-in sandbox at %s (locations %v)\n", baseURL, sb.Locations())
		if cfg.authMode != "managed" {
			fmt.Fprintf(stdout, "Sandbox token:    %s\n", sb.DefaultToken())
		}
		printSandboxBanner(stdout, cfg, sb, url)
	} else {
		fmt.Fprintf(stdout, "Upstream:         %s\n", baseURL)
	}
	var stopHooks func()
	if wh != nil {
		fmt.Fprintf(stdout, "Webhooks:         %s%s\n", url, server.WebhookPath)
		if sbHooks != nil {
			if stopHooks, err = sbHooks.start(sb, url, logger); err != nil {
				return err
			}
		}
	}

	err = serveUntil(ctx, srv, ln, cfg.shutdownTimeout, logger)
	// The sandbox stops sending, then what was accepted is applied.
	if stopHooks != nil {
		stopHooks()
	}
	if wh != nil {
		dctx, cancel := context.WithTimeout(context.Background(), cfg.shutdownTimeout)
		defer cancel()
		if derr := wh.Drain(dctx); derr != nil && err == nil {
			err = fmt.Errorf("draining accepted webhooks: %w", derr)
		}
	}
	return err
}

// newHTTPServer returns the gateway's http.Server: every phase of a
// connection has a deadline (headers, idle keep-alive, the answer; the
// body's is set by the handler), and the header block a size cap, so that
// a slow or silent client is cut off rather than kept.
func newHTTPServer(cfg *config, handler http.Handler, logger *slog.Logger) *http.Server {
	return &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: cfg.conn.readHeaderTimeout,
		IdleTimeout:       cfg.conn.idleTimeout,
		WriteTimeout:      cfg.conn.effectiveWriteTimeout(cfg.requestTimeout),
		MaxHeaderBytes:    cfg.conn.maxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
}

// serveUntil serves ln until ctx ends, then lets in-flight requests finish
// for at most timeout.
func serveUntil(ctx context.Context, srv *http.Server, ln net.Listener, timeout time.Duration, logger *slog.Logger) error {
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	logger.Info("shutting down: letting in-flight requests finish", "timeout", timeout)
	sctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	return nil
}

// startSandbox runs the sandbox Contacts API on a loopback port in this process.
func startSandbox(cfg sandbox.Config, logger *slog.Logger) (*sandbox.Server, string, func(), error) {
	sb, err := sandbox.New(cfg)
	if err != nil {
		// The sandbox's errors name their setting; the flags carry a sandbox- prefix here.
		return nil, "", nil, fmt.Errorf("embedded sandbox (-sandbox-* flags): %w", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, "", nil, fmt.Errorf("embedded sandbox: %w", err)
	}
	srv := &http.Server{Handler: sb, ReadHeaderTimeout: 10 * time.Second,
		ErrorLog: slog.NewLogLogger(logger.Handler(), slog.LevelWarn)}
	go func() { _ = srv.Serve(ln) }()
	stop := func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
	}
	return sb, "http://" + ln.Addr().String() + "/", stop, nil
}

// runSandbox serves the sandbox API alone, for any HTTP client.
func runSandbox(ctx context.Context, args []string, stdout, stderr *os.File) error {
	var cfg sandbox.Config
	fs := flag.NewFlagSet("gateway sandbox", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", "127.0.0.1:4010", "address to listen on")
	hookURL := fs.String("webhook-url", "", "deliver signed webhooks (like HighLevel's) of every change to this URL, e.g. http://127.0.0.1:8080"+server.WebhookPath+"; the public key is printed at start")
	cfg.RegisterFlags(fs)
	// As the gateway's: every bad flag at once, one line each; -h the usage.
	rest, errs := parseAll(fs, args, func(name string) string { return "-" + name })
	if len(errs) == 1 && errors.Is(errs[0], flag.ErrHelp) {
		fs.SetOutput(stderr)
		fmt.Fprintf(stderr, "Usage: gateway sandbox [flags]\n")
		fs.PrintDefaults()
		return flag.ErrHelp
	}
	var p problems
	for _, err := range errs {
		p.add(err)
	}
	if len(rest) > 0 {
		p.add(fmt.Errorf("unexpected argument %q", rest[0]))
	}
	if err := p.err(); err != nil {
		err.(*configError).hint = "run 'gateway sandbox -h' for its flags and their defaults"
		return err
	}
	sb, err := sandbox.New(cfg)
	if err != nil {
		return err
	}
	if *hookURL != "" {
		stop, err := startStandaloneWebhooks(sb, *hookURL, stdout)
		if err != nil {
			return err
		}
		defer stop()
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return fmt.Errorf("-addr %q: %w", *addr, err)
	}
	srv := &http.Server{Handler: sb, ReadHeaderTimeout: 10 * time.Second}
	fmt.Fprintf(stdout, "Sandbox Contacts API: http://%s/\nLocations: %v\nToken (read+write, first location): %s\n",
		ln.Addr(), sb.Locations(), sb.DefaultToken())
	for i, loc := range sb.Locations() {
		fmt.Fprintf(stdout, "Location %d: %s, example contact %s, token (read+write): %s\n", i+1, loc, sb.ExampleContact(loc),
			sb.AccessToken(loc, sandbox.ScopeContactsRead, sandbox.ScopeContactsWrite))
	}
	return serveUntil(ctx, srv, ln, 10*time.Second, slog.New(slog.DiscardHandler))
}
