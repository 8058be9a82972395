// This file holds the gateway's configuration: flags, each with an
// environment variable of the same name (GATEWAY_ + upper case, - as _),
// and the checks that make bad configuration fail at start.

package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"net/url"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/ghl-graphql/gateway/auth"
	"github.com/ghl-graphql/gateway/clientauth"
	"github.com/ghl-graphql/gateway/loaders"
	"github.com/ghl-graphql/gateway/oauth"
	"github.com/ghl-graphql/gateway/redisx"
	"github.com/ghl-graphql/gateway/resolvers"
	"github.com/ghl-graphql/gateway/server"
	"github.com/ghl-graphql/gateway/upstream"
	"github.com/ghl-graphql/gateway/upstream/sandbox"
)

// config is the gateway's configuration.
type config struct {
	addr            string
	upstreamURL     string
	locationID      string
	upstreamTimeout time.Duration
	requestTimeout  time.Duration
	shutdownTimeout time.Duration
	maxBodyBytes    int64
	introspection   bool
	playground      bool
	playgroundCDN   bool
	logLevel        string
	logFormat       string
	cacheMaxBytes   int64
	cacheTTLs       loaders.TTLs
	responseCache   bool
	upstreamPerLoc  int
	limits          server.QueryLimits
	inputLimits     resolvers.Limits
	authMode        string
	oauthClientID   string
	oauthSecret     string
	oauthRedirect   string
	oauthScopes     string
	oauthAuthURL    string
	oauthTokenURL   string
	oauthStore      string
	oauthStoreKey   string
	oauthStateKey   string
	keysFile        string
	jwtJWKSURL      string
	jwtPublicKey    string
	jwtIssuer       string
	jwtAudience     string
	corsOrigins     string
	persistedOps    string
	auditLog        string
	budget          upstream.BudgetConfig
	rejectedBackoff time.Duration
	retry           upstream.RetryPolicy
	breaker         upstream.BreakerConfig
	sandbox         sandbox.Config
	conn            connConfig
	subs            subsConfig

	// Stale answers and refresh-ahead (issue 16).
	cacheStale     time.Duration
	refreshAhead   float64
	refreshShare   float64
	refreshHotKeys int

	// Managed mode against the embedded sandbox (issue 17): the settings
	// sandboxManaged made up, for the start-up message.
	generated []string
	// Frontend protocol (issue 14): APQ, batches, CORS headers.
	protocol protocolConfig
	// HighLevel's webhooks and freshness (issue 12).
	webhooks webhookConfig
	// The configuration file and each setting's source (issue 15; configfile.go).
	file configFile
	// Managed mode's token store on Redis (issue 13; redis_tokens.go).
	redisTokens redisTokenConfig
	// Prometheus metrics and pprof (issue 15; metrics.go).
	metrics metricsConfig
	// Real-time pieces shared on Redis, echo suppression (issue 13).
	realtime realtimeConfig
	// Traces and request IDs (issue 15; tracing.go).
	tracing tracingConfig
	// The cache replicas share on Redis (issue 13; redis_cache.go).
	redisCache redisCacheConfig
	// Redis, shared by replicas (issue 13; redis.go).
	redis redisConfig
	// Priming the contact cache from the listing (issue 16; budgetmix.go).
	prime primeConfig
	// explicit are the flags set on the command line or in the
	// environment, for defaults that follow other settings.
	explicit map[string]bool
}

// connConfig is connection hygiene and bounded credentials (issue 10).
type connConfig struct {
	readHeaderTimeout     time.Duration
	bodyReadTimeout       time.Duration
	idleTimeout           time.Duration
	writeTimeout          time.Duration
	maxHeaderBytes        int
	maxConcurrentRequests int
	maxConnsPerClient     int
	connLimitExempt       string
	maxTokenBytes         int
	maxLocationIDBytes    int
	credentialCacheBytes  int
}

// subsConfig is GraphQL subscriptions (issue 12).
type subsConfig struct {
	enabled       bool
	perConnection int
	perCredential int
	queue         int
	confirmTTL    time.Duration
	writeTimeout  time.Duration
	initTimeout   time.Duration
	pingInterval  time.Duration
}

// limits are the server's subscription limits.
func (s subsConfig) limits() server.SubscriptionLimits {
	return server.SubscriptionLimits{PerConnection: s.perConnection, PerCredential: s.perCredential, Queue: s.queue,
		ConfirmTTL: s.confirmTTL, WriteTimeout: s.writeTimeout, InitTimeout: s.initTimeout, PingInterval: s.pingInterval}
}

func (s subsConfig) validate() error {
	for name, v := range map[string]int{"subscriptions-per-connection": s.perConnection,
		"subscriptions-per-credential": s.perCredential, "subscription-queue": s.queue} {
		if v < 1 {
			return fmt.Errorf("%s: must be at least 1", setting(name))
		}
	}
	for name, v := range map[string]time.Duration{"subscription-confirm-ttl": s.confirmTTL,
		"subscription-write-timeout": s.writeTimeout, "subscription-init-timeout": s.initTimeout} {
		if v <= 0 {
			return fmt.Errorf("%s: must be positive", setting(name))
		}
	}
	return nil
}

// envPrefix is the prefix of every setting's environment variable.
const envPrefix = "GATEWAY_"

// envName is the environment variable of a flag.
func envName(flagName string) string {
	return envPrefix + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// newFlagSet declares the serve command's flags into cfg.
func newFlagSet(cfg *config) *flag.FlagSet {
	fs := flag.NewFlagSet("gateway", flag.ContinueOnError)
	fs.StringVar(&cfg.addr, "addr", "127.0.0.1:8080", "address to listen on")
	fs.StringVar(&cfg.upstreamURL, "upstream-url", "", "Contacts API base URL, e.g. "+upstream.DefaultBaseURL+"; unset: run the built-in sandbox in-process")
	fs.StringVar(&cfg.locationID, "location-id", "", "location used when neither the request nor its token names one")
	fs.DurationVar(&cfg.upstreamTimeout, "upstream-timeout", upstream.DefaultTimeout, "timeout of one upstream call")
	fs.DurationVar(&cfg.requestTimeout, "request-timeout", server.DefaultRequestTimeout, "timeout of one GraphQL request, upstream calls included")
	fs.DurationVar(&cfg.shutdownTimeout, "shutdown-timeout", 30*time.Second, "how long in-flight requests may run after SIGINT/SIGTERM")
	fs.Int64Var(&cfg.maxBodyBytes, "max-body-bytes", server.DefaultMaxBodyBytes, "largest GraphQL request body accepted")
	fs.BoolVar(&cfg.introspection, "introspection", true, "answer introspection queries (GraphiQL's docs need them)")
	fs.BoolVar(&cfg.playground, "playground", true, "serve GraphiQL at /")
	fs.BoolVar(&cfg.playgroundCDN, "playground-cdn", false, "load GraphiQL's assets from a public CDN instead of the copy embedded in the binary")
	fs.Int64Var(&cfg.cacheMaxBytes, "cache-max-bytes", server.DefaultCacheMaxBytes, "size of the shared cache of upstream answers and responses; 0 switches it off")
	fs.DurationVar(&cfg.cacheTTLs.Contact, "cache-contact-ttl", loaders.DefaultTTLs.Contact, "how long a contact is served from the cache")
	fs.DurationVar(&cfg.cacheTTLs.Lists, "cache-list-ttl", loaders.DefaultTTLs.Lists, "how long a contact's tasks, notes and appointments are served from the cache")
	fs.DurationVar(&cfg.cacheTTLs.Search, "cache-search-ttl", loaders.DefaultTTLs.Search, "how long searches, listings and duplicate look-ups are served from the cache")
	fs.BoolVar(&cfg.responseCache, "response-cache", true, "answer repeated identical queries from stored responses (evicted by the same writes as the data)")
	fs.IntVar(&cfg.upstreamPerLoc, "upstream-concurrency", loaders.DefaultMaxConcurrentPerLocation, "most upstream calls in flight at once per location")
	fs.IntVar(&cfg.budget.Max, "rate-max", upstream.DefaultBudgetMax, "upstream calls per -rate-interval and location (HighLevel allows 100 per 10 s); the gateway never sends more")
	fs.DurationVar(&cfg.budget.Interval, "rate-interval", upstream.DefaultBudgetInterval, "the rate budget's sliding window")
	fs.IntVar(&cfg.budget.Daily, "rate-daily", upstream.DefaultBudgetDaily, "upstream calls per UTC day and location (HighLevel allows 200,000)")
	fs.IntVar(&cfg.retry.MaxAttempts, "retry-attempts", 3, "attempts of an upstream call that failed transiently (reads, idempotent writes; creates only when the request never left); 1 disables retries")
	fs.DurationVar(&cfg.retry.BaseDelay, "retry-base-delay", 100*time.Millisecond, "ceiling of the first retry's backoff (doubling, full jitter)")
	fs.DurationVar(&cfg.retry.MaxDelay, "retry-max-delay", 2*time.Second, "cap of the retry backoff (a longer Retry-After is still honoured)")
	// Failure isolation and deadlines (issue 10): breakers per location and
	// for the host, on a failure rate; retries only when a useful attempt fits.
	fs.DurationVar(&cfg.retry.MinAttempt, "retry-min-attempt", upstream.DefaultRetryMinAttempt, "a retry starts only if its backoff plus this much time fits before the request's deadline (capped at -upstream-timeout)")
	fs.DurationVar(&cfg.breaker.Window, "breaker-window", upstream.DefaultBreakerWindow, "sliding window over which the circuit breakers count upstream calls (a call and its retries count once)")
	fs.IntVar(&cfg.breaker.MinCalls, "breaker-min-calls", upstream.DefaultBreakerMinCalls, "calls a breaker's window must hold before it may open")
	fs.Float64Var(&cfg.breaker.FailureRatio, "breaker-failure-ratio", upstream.DefaultBreakerFailureRatio, "share of failed calls (5xx, timeouts, connection failures) in the window that opens a breaker, over 0 and at most 1")
	fs.DurationVar(&cfg.breaker.CoolDown, "breaker-cooldown", upstream.DefaultBreakerCoolDown, "how long an open breaker fails calls fast before probing the upstream again")
	fs.IntVar(&cfg.breaker.HostMinLocations, "breaker-host-min-locations", upstream.DefaultBreakerHostMinLocations, "failing locations that open the host's breaker (and /readyz), or all active ones when fewer are active")
	fs.IntVar(&cfg.breaker.MaxLocations, "breaker-max-locations", upstream.DefaultBreakerMaxLocations, "most per-location breakers kept in memory (idle ones are pruned)")
	fs.IntVar(&cfg.limits.MaxCost, "max-query-cost", server.DefaultQueryLimits.MaxCost, "most upstream calls one GraphQL request may cause; costlier queries are refused before they run")
	fs.IntVar(&cfg.limits.MaxDepth, "max-query-depth", server.DefaultQueryLimits.MaxDepth, "deepest field nesting of a request")
	fs.IntVar(&cfg.limits.MaxAliases, "max-query-aliases", server.DefaultQueryLimits.MaxAliases, "most aliased fields in a request")

	// Caps on arguments (issue 10): lengths in bytes, counts in items.
	il, d := &cfg.inputLimits, resolvers.DefaultLimits
	fs.IntVar(&il.IDBytes, "max-id-bytes", d.IDBytes, "longest ID argument (contact, task, note, location, business, campaign, workflow, user)")
	fs.IntVar(&il.QueryBytes, "max-query-bytes", d.QueryBytes, "longest free-text query of a search or listing")
	fs.IntVar(&il.ShortTextBytes, "max-short-text-bytes", d.ShortTextBytes, "longest one-line text: names, address parts, website, source, titles, custom field keys, filter fields and values")
	fs.IntVar(&il.TextBytes, "max-text-bytes", d.TextBytes, "longest task or note body, on creates and updates")
	fs.IntVar(&il.EmailBytes, "max-email-bytes", d.EmailBytes, "longest email address")
	fs.IntVar(&il.PhoneBytes, "max-phone-bytes", d.PhoneBytes, "longest phone number, punctuation included")
	fs.IntVar(&il.TagBytes, "max-tag-bytes", d.TagBytes, "longest tag")
	fs.IntVar(&il.CustomFieldValueBytes, "max-custom-field-bytes", d.CustomFieldValueBytes, "largest custom field value, as JSON")
	fs.IntVar(&il.Tags, "max-tags", d.Tags, "most tags in one argument")
	fs.IntVar(&il.BulkIDs, "max-bulk-ids", d.BulkIDs, "most contact IDs in one bulk operation")
	fs.IntVar(&il.Followers, "max-followers", d.Followers, "most followers added or removed at once")
	fs.IntVar(&il.CustomFields, "max-custom-fields", d.CustomFields, "most custom field values in one write")
	fs.IntVar(&il.Filters, "max-filters", d.Filters, "most search conditions and groups, over all nesting levels")
	fs.IntVar(&il.FilterDepth, "max-filter-depth", d.FilterDepth, "deepest nesting of search filter groups")
	fs.IntVar(&il.FilterValues, "max-filter-values", d.FilterValues, "most values in one search filter's value list")
	fs.IntVar(&il.SortFields, "max-sort-fields", d.SortFields, "most sort entries of one search")

	// Query analysis (issue 10): documents over these are refused before
	// they are parsed or validated.
	fs.IntVar(&cfg.limits.MaxTokens, "max-query-tokens", server.DefaultQueryLimits.MaxTokens, "most tokens in a GraphQL document (comments included); larger ones are refused before parsing")
	fs.IntVar(&cfg.limits.MaxSelections, "max-query-selections", server.DefaultQueryLimits.MaxSelections, "most selections (fields, fragment spreads, inline fragments) written in a document; validation cost grows with its square")
	fs.IntVar(&cfg.limits.MaxRepeatedFields, "max-query-repeated-fields", server.DefaultQueryLimits.MaxRepeatedFields, "most fields in a document that select a response name their selection set already selects (validation compares every such pair)")
	fs.StringVar(&cfg.authMode, "auth-mode", "passthrough", "passthrough: forward clients' HighLevel tokens; managed: hold the locations' tokens and authenticate clients with gateway API keys or JWTs")
	fs.StringVar(&cfg.oauthClientID, "oauth-client-id", "", "managed: the HighLevel app's client ID")
	fs.StringVar(&cfg.oauthSecret, "oauth-client-secret", "", "managed: the HighLevel app's client secret (prefer the environment variable)")
	fs.StringVar(&cfg.oauthRedirect, "oauth-redirect-url", "", "managed: the app's redirect URL, served by the gateway (its path is the callback route)")
	fs.StringVar(&cfg.oauthScopes, "oauth-scopes", "contacts.readonly contacts.write", "managed: scopes asked for at install")
	fs.StringVar(&cfg.oauthAuthURL, "oauth-auth-url", oauth.DefaultAuthURL, "managed: HighLevel's consent page")
	fs.StringVar(&cfg.oauthTokenURL, "oauth-token-url", oauth.DefaultTokenURL, "managed: HighLevel's token endpoint")
	fs.StringVar(&cfg.oauthStore, "oauth-token-store", "gateway-tokens.enc", "managed: file of the locations' tokens, encrypted at rest")
	fs.StringVar(&cfg.oauthStoreKey, "oauth-store-key", "", "managed: 32-byte key (hex or base64) encrypting the token store (prefer the environment variable)")
	fs.StringVar(&cfg.oauthStateKey, "oauth-state-key", "", "managed: key (hex or base64, 32 bytes) signing the install flow's state; every replica needs the same")
	fs.StringVar(&cfg.keysFile, "keys-file", clientauth.DefaultKeysFile, "managed: file of gateway API keys (see: gateway keys)")
	fs.StringVar(&cfg.jwtJWKSURL, "jwt-jwks-url", "", "managed: JWKS URL of the identity provider whose JWTs clients may send")
	fs.StringVar(&cfg.jwtPublicKey, "jwt-public-key", "", "managed: PEM file of the key verifying clients' JWTs (instead of -jwt-jwks-url)")
	fs.StringVar(&cfg.jwtIssuer, "jwt-issuer", "", "managed: required iss of clients' JWTs")
	fs.StringVar(&cfg.jwtAudience, "jwt-audience", "", "managed: required aud of clients' JWTs")
	fs.StringVar(&cfg.corsOrigins, "cors-origins", "", "comma-separated origins whose pages may call the endpoint (e.g. https://app.example.com, or *); empty: no cross-origin access")
	fs.StringVar(&cfg.persistedOps, "persisted-operations", "", "JSON file of the only operations to run (a list of queries, or sha256 → query); empty: any operation")
	fs.StringVar(&cfg.auditLog, "audit-log", "", "where to write one JSON line per mutation: a file path (appended), - for stderr; empty: no audit log")
	// Budget trust and waits (issues 10, 16).
	fs.DurationVar(&cfg.budget.MaxWait, "budget-max-wait", upstream.DefaultBudgetMaxWait, "longest one request waits for rate-budget slots in total; past it a call is refused at once with RATE_LIMITED and the time to the next slot")
	fs.IntVar(&cfg.budget.UnconfirmedMax, "budget-unconfirmed-max", upstream.DefaultBudgetUnconfirmedMax, "upstream calls per -rate-interval of a token whose location HighLevel has not confirmed yet (one at a time until its first answer); they move to the location's budget once confirmed")
	fs.DurationVar(&cfg.rejectedBackoff, "rejected-token-backoff", auth.DefaultRejectedBackoff, "how long a token HighLevel rejected (401) is refused at once, without a call")
	fs.StringVar(&cfg.logLevel, "log-level", "info", "log level: debug, info, warn or error")
	fs.StringVar(&cfg.logFormat, "log-format", "text", "log format: text or json")

	// Connection hygiene and bounded credentials (issue 10).
	fs.DurationVar(&cfg.conn.readHeaderTimeout, "read-header-timeout", 10*time.Second, "how long a client may take to send a request's headers")
	fs.DurationVar(&cfg.conn.bodyReadTimeout, "body-read-timeout", server.DefaultBodyReadTimeout, "how long a request's whole body may take to arrive after its headers (past it: 408, connection closed)")
	fs.DurationVar(&cfg.conn.idleTimeout, "idle-timeout", 120*time.Second, "how long an idle keep-alive connection is kept open")
	fs.DurationVar(&cfg.conn.writeTimeout, "write-timeout", 0, "how long after its headers a request's answer may take to be written; 0: -request-timeout + -body-read-timeout + 10s")
	fs.IntVar(&cfg.conn.maxHeaderBytes, "max-header-bytes", 32<<10, "largest request header block (past it: 431)")
	fs.IntVar(&cfg.conn.maxConcurrentRequests, "max-concurrent-requests", server.DefaultMaxConcurrentRequests, "most GraphQL requests served at once; past it a request is answered 503 OVERLOADED with Retry-After at once")
	fs.IntVar(&cfg.conn.maxConnsPerClient, "max-conns-per-client", server.DefaultMaxConnsPerClient, "most connections one client address (IPv6: /64) may hold open; past it a new connection is closed at once")
	fs.StringVar(&cfg.conn.connLimitExempt, "conn-limit-exempt", "127.0.0.0/8,::1/128", "comma-separated CIDRs or addresses the per-client connection cap does not apply to (a reverse proxy's); empty: none")
	fs.IntVar(&cfg.conn.maxTokenBytes, "max-token-bytes", auth.DefaultMaxTokenBytes, "longest bearer token, API key or JWT accepted (longer: 401 UNAUTHENTICATED before anything is stored)")
	fs.IntVar(&cfg.conn.maxLocationIDBytes, "max-location-id-bytes", server.DefaultMaxLocationIDBytes, "longest X-Location-Id header accepted (it must also be letters, digits, _ and -)")
	fs.IntVar(&cfg.conn.credentialCacheBytes, "credential-cache-bytes", server.DefaultCredentialCacheBytes, "memory for parsed bearer credentials (keyed by a hash of the token)")

	// GraphQL subscriptions (issue 12).
	fs.BoolVar(&cfg.subs.enabled, "subscriptions", true, "serve GraphQL subscriptions on /graphql (WebSocket graphql-transport-ws, and SSE), fed by webhooks and the gateway's own mutations")
	fs.IntVar(&cfg.subs.perConnection, "subscriptions-per-connection", resolvers.DefaultMaxSubscriptionsPerConnection, "most subscriptions one WebSocket may hold open (past it: TOO_MANY_SUBSCRIPTIONS)")
	fs.IntVar(&cfg.subs.perCredential, "subscriptions-per-credential", resolvers.DefaultMaxSubscriptionsPerCredential, "most subscriptions one credential (token; managed: API key or JWT subject) may hold open over all its connections")
	fs.IntVar(&cfg.subs.queue, "subscription-queue", resolvers.DefaultSubscriptionQueue, "events that may wait for one subscriber; one more ends its subscription with SUBSCRIBER_TOO_SLOW")
	fs.DurationVar(&cfg.subs.confirmTTL, "subscription-confirm-ttl", resolvers.DefaultSubscriptionConfirmTTL, "how long the upstream's confirmation of a pass-through credential's location holds; past it the next event costs one upstream call")
	fs.DurationVar(&cfg.subs.writeTimeout, "subscription-write-timeout", server.DefaultSubscriptionWriteTimeout, "how long writing one message to a subscriber may take; past it the connection is closed")
	fs.DurationVar(&cfg.subs.initTimeout, "subscription-init-timeout", server.DefaultSubscriptionInitTimeout, "how long a WebSocket may take to send connection_init")
	fs.DurationVar(&cfg.subs.pingInterval, "subscription-ping-interval", server.DefaultSubscriptionPingInterval, "how often WebSocket clients are pinged (two missed pongs close the connection); negative: never")
	// Stale answers and refresh-ahead (issue 16).
	fs.DurationVar(&cfg.cacheStale, "cache-stale", loaders.DefaultStaleFor, "how long past its TTL an upstream answer is kept, to be served marked stale (extensions.stale) when the rate budget is spent or the circuit is open; 0 switches stale answers off")
	fs.Float64Var(&cfg.refreshAhead, "refresh-ahead", loaders.DefaultRefreshAhead, "share of an answer's TTL, before it expires, in which a read refreshes it in the background on spare budget; 0 switches refresh-ahead off")
	fs.Float64Var(&cfg.refreshShare, "refresh-share", loaders.DefaultRefreshShare, "share of a location's -rate-max window refreshes may use: one goes only while more than (1 - share) of the window is free")
	fs.IntVar(&cfg.refreshHotKeys, "refresh-hot-keys", loaders.DefaultRefreshHotKeys, "most answers the gateway remembers how to refresh ahead")

	// Frontend protocol (issue 14): APQ, batches, CORS headers.
	fs.IntVar(&cfg.protocol.apqCacheBytes, "apq-cache-bytes", server.DefaultAPQCacheBytes, "memory for automatic persisted queries' texts (Apollo's persisted-query protocol); 0 switches APQ off (hash-only requests: PersistedQueryNotSupported)")
	fs.IntVar(&cfg.protocol.maxBatch, "max-batch", server.DefaultMaxBatch, "most operations in one batched request (a JSON array, Apollo's BatchHttpLink); 0 refuses batches")
	fs.StringVar(&cfg.protocol.corsAllowHeaders, "cors-allow-headers", strings.Join(server.DefaultCORSAllowHeaders, ","), "comma-separated request headers pages of -cors-origins may send")
	fs.DurationVar(&cfg.protocol.corsMaxAge, "cors-max-age", server.DefaultCORSMaxAge, "how long browsers may cache a CORS preflight's answer (Access-Control-Max-Age, whole seconds); 0 sends none")
	// HighLevel's webhooks and freshness (issue 12; webhooks.go).
	registerWebhookFlags(fs, &cfg.webhooks)
	registerConfigFileFlags(fs, &cfg.file)
	registerRedisTokenFlags(fs, &cfg.redisTokens)
	registerMetricsFlags(fs, &cfg.metrics)   // metrics.go (issue 15)
	registerRealtimeFlags(fs, &cfg.realtime) // issue 13; redis_realtime.go
	registerTracingFlags(fs, &cfg.tracing)   // issue 15; tracing.go
	registerRedisCacheFlags(fs, &cfg.redisCache)
	registerRedisFlags(fs, &cfg.redis)
	registerPrimeFlags(fs, &cfg.prime, &cfg.budget)

	// The embedded sandbox's knobs, under a sandbox- prefix.
	sfs := flag.NewFlagSet("sandbox", flag.ContinueOnError)
	cfg.sandbox.RegisterFlags(sfs)
	var names []string
	sfs.VisitAll(func(f *flag.Flag) { names = append(names, f.Name) })
	sfs.VisitAll(func(f *flag.Flag) {
		fs.Var(f.Value, "sandbox-"+f.Name, "embedded sandbox (no -upstream-url): "+sandboxUsage(f.Usage, names))
	})
	return fs
}

// sandboxUsage rewrites the sandbox's help text of a flag for the
// gateway, where its flags carry a sandbox- prefix: "-latency" there is
// "-sandbox-latency" here.
func sandboxUsage(usage string, names []string) string {
	// Longest names first, so that -rate-max is not taken for -rate.
	sorted := slices.Clone(names)
	slices.SortFunc(sorted, func(a, b string) int { return len(b) - len(a) })
	var b strings.Builder
	for i := 0; i < len(usage); {
		if usage[i] == '-' && (i == 0 || !isFlagChar(usage[i-1])) {
			matched := false
			for _, n := range sorted {
				end := i + 1 + len(n)
				if strings.HasPrefix(usage[i+1:], n) && (end == len(usage) || !isFlagChar(usage[end])) {
					b.WriteString("-sandbox-" + n)
					i, matched = end, true
					break
				}
			}
			if matched {
				continue
			}
		}
		b.WriteByte(usage[i])
		i++
	}
	return b.String()
}

// isFlagChar reports whether c can be part of a flag's name.
func isFlagChar(c byte) bool {
	return c == '-' || c == '_' || '0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z'
}

// applyEnv sets every flag that has an environment variable and was not
// given on the command line. Command-line flags win over the environment.
func applyEnv(fs *flag.FlagSet, lookup func(string) (string, bool)) error {
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	var errs []error
	fs.VisitAll(func(f *flag.Flag) {
		if given[f.Name] {
			return
		}
		if v, ok := lookup(envName(f.Name)); ok {
			if err := fs.Set(f.Name, v); err != nil {
				errs = append(errs, fmt.Errorf("%s %q (from the environment): %w", setting(f.Name), v, err))
				_ = f.Value.Set(f.DefValue) // reported once, not again by the checks
			}
		}
	})
	return errors.Join(errs...)
}

// parseConfig reads flags, then the environment, and checks the result.
// Every problem found is reported at once (a *configError); -h prints the
// full usage to usageOut and returns flag.ErrHelp.
func parseConfig(args []string, lookup func(string) (string, bool), usageOut *os.File) (*config, error) {
	cfg := &config{}
	fs := newFlagSet(cfg)
	rest, parseErrs := parseAll(fs, args, setting)
	if len(parseErrs) == 1 && errors.Is(parseErrs[0], flag.ErrHelp) {
		if usageOut != nil {
			fs.SetOutput(usageOut)
		}
		printUsage(fs)
		return nil, flag.ErrHelp
	}
	var p problems
	for _, err := range parseErrs {
		p.add(err)
	}
	if len(rest) > 0 {
		p.add(fmt.Errorf("unexpected argument %q", rest[0]))
	}
	p.add(cfg.applySources(fs, lookup)) // environment, then -config
	cfg.explicit = map[string]bool{}
	fs.Visit(func(f *flag.Flag) { cfg.explicit[f.Name] = true })
	// Checked even after a bad flag, which keeps its default: every
	// problem is reported in one go.
	p.add(cfg.file.annotate(cfg.sandboxManaged()))
	p.add(cfg.file.annotate(cfg.validate())) // a file's value: which line
	if err := p.err(); err != nil {
		return nil, err
	}
	return cfg, nil
}

// printUsage writes the full usage of the serve command to fs's output.
func printUsage(fs *flag.FlagSet) {
	out := fs.Output()
	fmt.Fprintf(out, "Usage: gateway [flags]\n       gateway schema   (print the GraphQL SDL, schema.graphqls as it is)\n       gateway sandbox  (serve the sandbox Contacts API alone; -h for its flags)\n       gateway keys     (create, list and revoke gateway API keys for managed mode; -h for help)\n       gateway config print [flags]  (the effective configuration, as a -config file; secrets masked)\n\n")
	fmt.Fprintf(out, "Every flag can also be set with an environment variable, e.g. -upstream-url as %s,\nor as a key of the -config YAML file (upstream-url: ...); flags win over the environment, which wins over the file.\n\n", envName("upstream-url"))
	fs.PrintDefaults()
}

// setting names a flag and its environment variable, for error messages:
// the user may have set either.
func setting(flagName string) string {
	return "-" + flagName + " (" + envName(flagName) + ")"
}

// validate checks every setting and reports every bad one at once (see
// configError), so that a user fixes them all in one go.
func (c *config) validate() error {
	var p problems
	p.add(c.validateBasics())
	p.add(c.validateIsolation())
	p.add(c.conn.validate(c.requestTimeout))
	p.add(c.validateStale())
	p.add(c.webhooks.validate())
	p.add(c.redisTokens.validate())
	p.add(c.metrics.validate())
	p.add(c.realtime.validate())
	p.add(c.tracing.validate())
	p.add(c.redisCache.validate())
	p.add(c.redis.validate())
	p.add(c.prime.validate())
	return p.err()
}

// validateBasics checks the general, cache, budget, limit and auth settings.
func (c *config) validateBasics() error {
	var errs []error
	if _, _, err := net.SplitHostPort(c.addr); err != nil {
		errs = append(errs, fmt.Errorf("%s %q: %w", setting("addr"), c.addr, err))
	}
	if c.upstreamURL != "" {
		u, err := url.Parse(c.upstreamURL)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			errs = append(errs, fmt.Errorf("%s %q: must be an absolute http(s) URL", setting("upstream-url"), c.upstreamURL))
		}
	}
	for name, d := range map[string]time.Duration{
		"upstream-timeout": c.upstreamTimeout, "request-timeout": c.requestTimeout, "shutdown-timeout": c.shutdownTimeout,
	} {
		if d <= 0 {
			errs = append(errs, fmt.Errorf("%s %v: must be positive", setting(name), d))
		}
	}
	if c.cacheMaxBytes < 0 {
		errs = append(errs, fmt.Errorf("%s %d: must not be negative (0 switches the cache off)", setting("cache-max-bytes"), c.cacheMaxBytes))
	}
	for name, d := range map[string]time.Duration{
		"cache-contact-ttl": c.cacheTTLs.Contact, "cache-list-ttl": c.cacheTTLs.Lists, "cache-search-ttl": c.cacheTTLs.Search,
		"rate-interval": c.budget.Interval, "breaker-cooldown": c.breaker.CoolDown,
		"budget-max-wait": c.budget.MaxWait, "rejected-token-backoff": c.rejectedBackoff,
	} {
		if d <= 0 {
			errs = append(errs, fmt.Errorf("%s %v: must be positive", setting(name), d))
		}
	}
	if c.upstreamPerLoc < 1 {
		errs = append(errs, fmt.Errorf("%s %d: must be at least 1", setting("upstream-concurrency"), c.upstreamPerLoc))
	}
	for name, v := range map[string]int{
		"rate-max": c.budget.Max, "rate-daily": c.budget.Daily, "retry-attempts": c.retry.MaxAttempts,
		"budget-unconfirmed-max": c.budget.UnconfirmedMax,
		"max-query-cost":         c.limits.MaxCost, "max-query-depth": c.limits.MaxDepth, "max-query-aliases": c.limits.MaxAliases,
		"max-query-tokens": c.limits.MaxTokens, "max-query-selections": c.limits.MaxSelections, "max-query-repeated-fields": c.limits.MaxRepeatedFields,
	} {
		if v < 1 {
			errs = append(errs, fmt.Errorf("%s %d: must be at least 1", setting(name), v))
		}
	}
	il := c.inputLimits
	for name, v := range map[string]int{
		"max-id-bytes": il.IDBytes, "max-query-bytes": il.QueryBytes, "max-short-text-bytes": il.ShortTextBytes,
		"max-text-bytes": il.TextBytes, "max-email-bytes": il.EmailBytes, "max-phone-bytes": il.PhoneBytes,
		"max-tag-bytes": il.TagBytes, "max-custom-field-bytes": il.CustomFieldValueBytes, "max-tags": il.Tags,
		"max-bulk-ids": il.BulkIDs, "max-followers": il.Followers, "max-custom-fields": il.CustomFields,
		"max-filters": il.Filters, "max-filter-depth": il.FilterDepth, "max-filter-values": il.FilterValues,
		"max-sort-fields": il.SortFields,
	} {
		if v < 1 {
			errs = append(errs, fmt.Errorf("%s %d: must be at least 1", setting(name), v))
		}
	}
	if c.maxBodyBytes < 1024 {
		errs = append(errs, fmt.Errorf("%s %d: must be at least 1024", setting("max-body-bytes"), c.maxBodyBytes))
	}
	switch c.authMode {
	case "passthrough":
	case "managed":
		for name, v := range map[string]string{
			"oauth-client-id": c.oauthClientID, "oauth-client-secret": c.oauthSecret, "oauth-redirect-url": c.oauthRedirect,
			"oauth-store-key": c.oauthStoreKey, "oauth-state-key": c.oauthStateKey,
		} {
			if v == "" {
				errs = append(errs, fmt.Errorf("%s: required with -auth-mode managed", setting(name)))
			}
		}
		for name, v := range map[string]string{"oauth-store-key": c.oauthStoreKey, "oauth-state-key": c.oauthStateKey} {
			if _, err := oauth.ParseKey(v); err != nil && v != "" {
				errs = append(errs, fmt.Errorf("%s: %w", setting(name), err))
			}
		}
		if c.jwtJWKSURL != "" && c.jwtPublicKey != "" {
			errs = append(errs, fmt.Errorf("%s and %s exclude each other", setting("jwt-jwks-url"), setting("jwt-public-key")))
		}
	default:
		errs = append(errs, fmt.Errorf("%s %q: must be passthrough or managed", setting("auth-mode"), c.authMode))
	}
	if err := c.subs.validate(); err != nil {
		return err
	}
	if err := server.CheckOrigins(c.origins()); err != nil {
		errs = append(errs, fmt.Errorf("%s: %w", setting("cors-origins"), err))
	}
	if _, err := parseLevel(c.logLevel); err != nil {
		errs = append(errs, err)
	}
	if c.logFormat != "text" && c.logFormat != "json" {
		errs = append(errs, fmt.Errorf("%s %q: must be text or json", setting("log-format"), c.logFormat))
	}
	if err := c.validateProtocol(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// validateStale checks the settings of stale answers and refresh-ahead.
func (c *config) validateStale() error {
	var errs []error
	if c.cacheStale < 0 {
		errs = append(errs, fmt.Errorf("%s %v: must not be negative (0 switches stale answers off)", setting("cache-stale"), c.cacheStale))
	}
	if !(c.refreshAhead >= 0 && c.refreshAhead < 1) {
		errs = append(errs, fmt.Errorf("%s %v: must be at least 0 (off) and below 1", setting("refresh-ahead"), c.refreshAhead))
	}
	if !(c.refreshShare > 0 && c.refreshShare <= 1) {
		errs = append(errs, fmt.Errorf("%s %v: must be above 0 and at most 1", setting("refresh-share"), c.refreshShare))
	}
	if c.refreshHotKeys < 1 {
		errs = append(errs, fmt.Errorf("%s %d: must be at least 1", setting("refresh-hot-keys"), c.refreshHotKeys))
	}
	return errors.Join(errs...)
}

// staleSettings returns the server's settings of stale answers and
// refresh-ahead: -cache-stale 0 is off, which server.Config says with a
// negative value; refreshes share the budget's window of -rate-max.
func (c *config) staleSettings() (time.Duration, loaders.RefreshConfig) {
	stale := c.cacheStale
	if stale == 0 {
		stale = -1
	}
	return stale, loaders.RefreshConfig{Ahead: c.refreshAhead, Share: c.refreshShare, WindowMax: c.budget.Max, HotKeys: c.refreshHotKeys}
}

func parseLevel(s string) (slog.Level, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(s)); err != nil {
		return 0, fmt.Errorf("%s %q: must be debug, info, warn or error", setting("log-level"), s)
	}
	return l, nil
}

// newLogger builds the process logger.
func (c *config) newLogger(out *os.File) *slog.Logger {
	level, _ := parseLevel(c.logLevel)
	opts := &slog.HandlerOptions{Level: level}
	if c.logFormat == "json" {
		return slog.New(slog.NewJSONHandler(out, opts))
	}
	return slog.New(slog.NewTextHandler(out, opts))
}

// origins splits -cors-origins.
func (c *config) origins() []string {
	var out []string
	for _, o := range strings.Split(c.corsOrigins, ",") {
		if o = strings.TrimSpace(o); o != "" {
			out = append(out, o)
		}
	}
	return out
}

// managed builds managed mode from the configuration.
func (c *config) managed(ctx context.Context, conn *redisx.Conn, logger *slog.Logger) (*server.Managed, error) {
	stateKey, _ := oauth.ParseKey(c.oauthStateKey)
	// Issue 13: pass the shared Redis connection (-redis-url) for the token store on Redis.
	store, err := c.tokenStore(ctx, conn, logger)
	if err != nil {
		return nil, err
	}
	mgr, err := oauth.NewManager(oauth.Config{
		ClientID: c.oauthClientID, ClientSecret: c.oauthSecret, RedirectURL: c.oauthRedirect,
		Scopes: strings.Fields(c.oauthScopes), AuthURL: c.oauthAuthURL, TokenURL: c.oauthTokenURL,
		StateKey: stateKey, Logger: logger, OnRefresh: c.metrics.refreshHook(),
	}, store)
	if err != nil {
		return nil, fmt.Errorf("OAuth: %w", err)
	}
	keys, err := clientauth.OpenKeyStore(c.keysFile)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", setting("keys-file"), err)
	}
	authn := &clientauth.Authenticator{Keys: keys, MaxTokenBytes: c.conn.maxTokenBytes}
	if c.jwtJWKSURL != "" || c.jwtPublicKey != "" {
		jc := clientauth.JWTConfig{JWKSURL: c.jwtJWKSURL, Issuer: c.jwtIssuer, Audience: c.jwtAudience}
		if c.jwtPublicKey != "" {
			pemBytes, err := os.ReadFile(c.jwtPublicKey)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", setting("jwt-public-key"), err)
			}
			jc.PublicKeyPEM = pemBytes
		}
		v, err := clientauth.NewJWTVerifier(ctx, jc)
		if err != nil {
			return nil, fmt.Errorf("JWT verification: %w", err)
		}
		authn.JWT = v
	}
	u, _ := url.Parse(c.oauthRedirect)
	return &server.Managed{OAuth: mgr, Clients: authn, CallbackPath: u.Path}, nil
}

// validateIsolation checks the settings of the circuit breakers and of the
// retries' deadline rule (issue 10).
func (c *config) validateIsolation() error {
	var errs []error
	for name, d := range map[string]time.Duration{
		"breaker-window": c.breaker.Window, "retry-min-attempt": c.retry.MinAttempt,
	} {
		if d <= 0 {
			errs = append(errs, fmt.Errorf("%s %v: must be positive", setting(name), d))
		}
	}
	for name, v := range map[string]int{
		"breaker-min-calls": c.breaker.MinCalls, "breaker-host-min-locations": c.breaker.HostMinLocations,
		"breaker-max-locations": c.breaker.MaxLocations,
	} {
		if v < 1 {
			errs = append(errs, fmt.Errorf("%s %d: must be at least 1", setting(name), v))
		}
	}
	if r := c.breaker.FailureRatio; !(r > 0 && r <= 1) {
		errs = append(errs, fmt.Errorf("%s %v: must be over 0 and at most 1", setting("breaker-failure-ratio"), r))
	}
	return errors.Join(errs...)
}

// validate checks every connection setting. The write timeout must
// leave a request its body's time and its whole run, or an answer that
// was computed could not be written.
func (c connConfig) validate(requestTimeout time.Duration) error {
	var errs []error
	for name, d := range map[string]time.Duration{
		"read-header-timeout": c.readHeaderTimeout, "body-read-timeout": c.bodyReadTimeout, "idle-timeout": c.idleTimeout,
	} {
		if d <= 0 {
			errs = append(errs, fmt.Errorf("%s %v: must be positive", setting(name), d))
		}
	}
	if c.writeTimeout < 0 {
		errs = append(errs, fmt.Errorf("%s %v: must not be negative (0 derives it)", setting("write-timeout"), c.writeTimeout))
	}
	if c.writeTimeout > 0 && c.writeTimeout < requestTimeout+c.bodyReadTimeout {
		errs = append(errs, fmt.Errorf("%s %v: must be at least -request-timeout + -body-read-timeout (%v), or a request's answer could not be written",
			setting("write-timeout"), c.writeTimeout, requestTimeout+c.bodyReadTimeout))
	}
	for name, v := range map[string]int{
		"max-concurrent-requests": c.maxConcurrentRequests, "max-conns-per-client": c.maxConnsPerClient,
		"max-location-id-bytes": c.maxLocationIDBytes,
	} {
		if v < 1 {
			errs = append(errs, fmt.Errorf("%s %d: must be at least 1", setting(name), v))
		}
	}
	if c.maxHeaderBytes < 4096 {
		errs = append(errs, fmt.Errorf("%s %d: must be at least 4096", setting("max-header-bytes"), c.maxHeaderBytes))
	}
	if c.maxTokenBytes < 256 {
		errs = append(errs, fmt.Errorf("%s %d: must be at least 256 (HighLevel's JWTs are about 1 KB)", setting("max-token-bytes"), c.maxTokenBytes))
	}
	if c.maxTokenBytes > c.maxHeaderBytes {
		errs = append(errs, fmt.Errorf("%s %d: must not exceed %s (%d): the header could not hold such a token",
			setting("max-token-bytes"), c.maxTokenBytes, setting("max-header-bytes"), c.maxHeaderBytes))
	}
	if c.credentialCacheBytes < 64<<10 {
		errs = append(errs, fmt.Errorf("%s %d: must be at least 65536", setting("credential-cache-bytes"), c.credentialCacheBytes))
	}
	if _, err := c.exempt(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// exempt parses -conn-limit-exempt.
func (c connConfig) exempt() ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, s := range strings.Split(c.connLimitExempt, ",") {
		if s = strings.TrimSpace(s); s == "" {
			continue
		}
		if !strings.Contains(s, "/") { // one address
			a, err := netip.ParseAddr(s)
			if err != nil {
				return nil, fmt.Errorf("%s %q: want a CIDR or an address: %w", setting("conn-limit-exempt"), s, err)
			}
			s = netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()).String()
		}
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return nil, fmt.Errorf("%s %q: %w", setting("conn-limit-exempt"), s, err)
		}
		out = append(out, p.Masked())
	}
	return out, nil
}

// effectiveWriteTimeout is -write-timeout, or when 0 the request's whole
// time (body and run) plus time to write the answer.
func (c connConfig) effectiveWriteTimeout(requestTimeout time.Duration) time.Duration {
	if c.writeTimeout > 0 {
		return c.writeTimeout
	}
	return requestTimeout + c.bodyReadTimeout + 10*time.Second
}
