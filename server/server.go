// Package server assembles the gateway's HTTP surface: the GraphQL endpoint
// (POST and GET), GraphiQL, /healthz and /readyz, with the middleware every
// request passes through (request IDs, logging, body limits, credentials,
// deadlines).
package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/handler"
	"github.com/99designs/gqlgen/graphql/handler/extension"
	"github.com/99designs/gqlgen/graphql/handler/lru"
	"github.com/99designs/gqlgen/graphql/handler/transport"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/formatter"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/ghl-graphql/gateway/auth"
	"github.com/ghl-graphql/gateway/cache"
	"github.com/ghl-graphql/gateway/errcode"
	"github.com/ghl-graphql/gateway/events"
	"github.com/ghl-graphql/gateway/graph"
	"github.com/ghl-graphql/gateway/loaders"
	"github.com/ghl-graphql/gateway/playground"
	"github.com/ghl-graphql/gateway/resolvers"
	"github.com/ghl-graphql/gateway/tracing"
	"github.com/ghl-graphql/gateway/upstream"
)

// Paths the gateway serves.
const (
	GraphQLPath = "/graphql"
	HealthPath  = "/healthz"
	ReadyPath   = "/readyz"
)

// HeaderLocationID lets a client name its location when its token does not
// (a Private Integration Token).
const HeaderLocationID = "X-Location-Id"

// Defaults.
const (
	DefaultMaxBodyBytes   = 1 << 20
	DefaultRequestTimeout = 60 * time.Second
	queryCacheSize        = 1000
)

// Config configures the handler.
type Config struct {
	// Client calls the Contacts API (required).
	Client *upstream.Client
	// Logger receives request and error logs; nil discards them.
	Logger *slog.Logger
	// DefaultLocationID is used when a request names no location.
	DefaultLocationID string
	// Introspection enables __schema and __type queries (GraphiQL needs them).
	Introspection bool
	// Playground, when not nil, serves GraphiQL at "/".
	Playground *playground.Options
	// MaxBodyBytes caps a GraphQL request body; 0 means DefaultMaxBodyBytes.
	MaxBodyBytes int64
	// RequestTimeout bounds one GraphQL request, upstream calls included;
	// 0 means DefaultRequestTimeout.
	RequestTimeout time.Duration
	// Ready reports whether the upstream is reachable, for /readyz; nil
	// means always ready.
	Ready func(context.Context) error
	// Degraded lists why the gateway serves degraded (e.g. Redis down, its
	// shared pieces local), for /readyz: still 200, since it serves, but
	// the body says "degraded" and why. nil or empty: not degraded.
	Degraded func() []string
	// CacheMaxBytes bounds the shared cache of upstream answers; 0 means
	// DefaultCacheMaxBytes, a negative value switches the shared cache off.
	CacheMaxBytes int64
	// CacheTTLs are the cache's lifetimes per kind of answer; zero fields
	// take loaders.DefaultTTLs'.
	CacheTTLs loaders.TTLs
	// MaxConcurrentPerLocation bounds concurrent upstream calls per
	// location; 0 means loaders.DefaultMaxConcurrentPerLocation.
	MaxConcurrentPerLocation int
	// Limits bound each request's cost, depth and aliases; zero fields take
	// DefaultQueryLimits'.
	Limits QueryLimits
	// InputLimits bound the IDs, free text and lists of every field's
	// arguments; zero fields take resolvers.DefaultLimits'.
	InputLimits resolvers.Limits
	// CORSOrigins are the origins whose pages may call the endpoint
	// ("https://app.example.com", or "*"); none sends no CORS headers.
	CORSOrigins []string
	// PersistedOperations, when not nil, is the only operations the gateway
	// runs (persisted-operations-only mode).
	PersistedOperations PersistedOperations
	// AuditLog, when not nil, gets one line per mutation: who, location,
	// operation, target IDs (the created ones included), outcome, duration.
	AuditLog *slog.Logger
	// Managed, when not nil, puts the gateway in managed mode (see Managed);
	// otherwise clients' bearer tokens are passed through.
	Managed *Managed
	// NoResponseCache switches off the whole-response cache (the shared
	// cache of upstream answers stays).
	NoResponseCache bool
	// CacheStale is how long past its time-to-live an upstream answer is
	// kept, to be served marked stale (extensions.stale) when the rate
	// budget is spent or the circuit is open; 0 means
	// loaders.DefaultStaleFor, negative serves nothing stale.
	CacheStale time.Duration
	// Refresh configures refresh-ahead of hot answers on spare budget; the
	// zero value switches it off.
	Refresh loaders.RefreshConfig
	// PartialCacheTTL bounds how long a partial answer whose only errors
	// are RATE_LIMITED is stored in the whole-response cache (never past
	// the refusal's retryAfter); 0 stores none.
	PartialCacheTTL time.Duration
	// Prime configures priming the contact cache from the location's
	// listing when reads miss contacts; the zero value switches it off.
	Prime loaders.PrimeConfig
	// Changes, when not nil, vouches for cached answers no change event has
	// touched (webhooks): they stay fresh past their time-to-live.
	Changes loaders.ChangeFeed
	// Now is the clock of the caches and of what is learned about tokens
	// (default time.Now), for tests.
	Now func() time.Time

	// Connection hygiene and bounded credentials (issue 10; conn.go,
	// credentials.go).

	// BodyReadTimeout is how long a request's whole body may take to
	// arrive after its headers; 0 means DefaultBodyReadTimeout, a negative
	// value no deadline.
	BodyReadTimeout time.Duration
	// MaxConcurrentRequests caps the GraphQL requests served at once (past
	// it: 503 OVERLOADED with Retry-After); 0 means
	// DefaultMaxConcurrentRequests, a negative value no cap.
	MaxConcurrentRequests int
	// MaxTokenBytes is the longest bearer token (pass-through) or API key
	// and JWT (managed) accepted; 0 means auth.DefaultMaxTokenBytes.
	MaxTokenBytes int
	// MaxLocationIDBytes is the longest X-Location-Id accepted; 0 means
	// DefaultMaxLocationIDBytes.
	MaxLocationIDBytes int
	// CredentialCacheBytes bounds the cache of parsed bearer credentials;
	// 0 means DefaultCredentialCacheBytes.
	CredentialCacheBytes int

	// Frontend protocol (issue 14; apq.go, batch.go, cors.go).

	// APQCacheBytes bounds the memory for automatic persisted queries; 0
	// means DefaultAPQCacheBytes, a negative value switches APQ off.
	APQCacheBytes int
	// APQ, when not nil, is the store of automatic persisted queries
	// instead of the in-memory one (a store shared between replicas).
	APQ APQStore
	// MaxBatch caps the operations of one batched request; 0 means
	// DefaultMaxBatch, a negative value refuses batches.
	MaxBatch int
	// CORSAllowHeaders are the request headers pages of allowed origins may
	// send; nil means DefaultCORSAllowHeaders.
	CORSAllowHeaders []string
	// CORSMaxAge is how long browsers may cache a preflight's answer; 0
	// means DefaultCORSMaxAge, a negative value sends no Max-Age.
	CORSMaxAge time.Duration

	// Subscriptions (issue 12; subscriptions.go).

	// Bus carries changes to subscribers, and the gateway's own mutations
	// publish theirs on it; nil makes an in-process events.Local.
	Bus events.Bus
	// NoSubscriptions switches subscriptions off, and with them the
	// publishing of mutations.
	NoSubscriptions bool
	// Subscriptions bound subscriptions; zero fields take the defaults.
	Subscriptions SubscriptionLimits
	// observeQueryWork, when not nil, gets each request's query analysis
	// work (tests prove it linear in the request's size).
	observeQueryWork func(QueryWork)

	// Budget trust and waits (issues 10, 16; see budgetwait.go).
	//
	// BudgetMaxWait bounds the total time one request waits for rate-budget
	// slots, all its calls together; 0 means upstream.DefaultBudgetMaxWait.
	// Past it a call is refused at once with RATE_LIMITED.
	BudgetMaxWait time.Duration
	// RejectedTokenBackoff is how long a pass-through token the upstream
	// rejected (401) is refused at once, without a call; 0 means
	// auth.DefaultRejectedBackoff.
	RejectedTokenBackoff time.Duration
	// Webhooks, when not nil, mounts POST /webhooks/highlevel and makes
	// cache lifetimes long (webhooks.go, issue 12).
	Webhooks *Webhooks
	// Observer, when not nil, is shown the parts metrics read and told of
	// each GraphQL request (observe.go, issue 15).
	Observer Observer
	// LearnedShared, when not nil, shares what pass-through mode learns
	// about tokens between replicas (auth.RedisLearned, issue 13).
	LearnedShared auth.SharedFacts

	// Tracing, when not nil, makes spans of operations and resolvers and
	// follows a client's traceparent (issue 15, package tracing).
	Tracing *tracing.Tracing
	// MaxRequestIDBytes is the longest X-Request-Id kept from a client; 0
	// means DefaultMaxRequestIDBytes (requestlog.go).
	MaxRequestIDBytes int
	// SharedCache, when not nil, shares the cache of upstream answers with
	// the other replicas on Redis (loaders/shared.go, issue 13); the
	// whole-response cache stays local but is evicted on every replica too.
	SharedCache *loaders.SharedConfig
}

// DefaultCacheMaxBytes is the shared cache's default size.
const DefaultCacheMaxBytes = 64 << 20

// New returns the gateway's HTTP handler.
func New(cfg Config) (http.Handler, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	cfg.Logger = slog.New(LogHandler(cfg.Logger.Handler())) // request IDs on every line
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if cfg.RequestTimeout <= 0 {
		cfg.RequestTimeout = DefaultRequestTimeout
	}
	if err := CheckOrigins(cfg.CORSOrigins); err != nil {
		return nil, err
	}
	if err := CheckCORSHeaders(cfg.CORSAllowHeaders); err != nil {
		return nil, err
	}
	conn := cfg.connDefaults()
	if cfg.CacheMaxBytes == 0 {
		cfg.CacheMaxBytes = DefaultCacheMaxBytes
	}
	if cfg.Webhooks != nil {
		cfg.CacheTTLs = webhookTTLs(cfg.CacheTTLs)
		if cfg.Changes == nil {
			now := time.Now
			if cfg.Now != nil {
				now = cfg.Now
			}
			cfg.Changes = webhookFeed{since: now()}
		}
	}
	var shared cache.Cache
	if cfg.CacheMaxBytes > 0 {
		shared = cache.NewLRUWithClock(cfg.CacheMaxBytes, cfg.Now)
	}
	reader, err := loaders.NewReader(loaders.Config{Client: cfg.Client, Cache: shared, TTLs: cfg.CacheTTLs,
		MaxConcurrentPerLocation: cfg.MaxConcurrentPerLocation,
		StaleFor:                 cfg.CacheStale, Changes: cfg.Changes, Refresh: cfg.Refresh, Prime: cfg.Prime, Now: cfg.Now,
		Shared: cfg.SharedCache})
	if err != nil {
		return nil, err
	}
	var onWrite func(context.Context, resolvers.WriteResult)
	if cfg.AuditLog != nil {
		onWrite = auditWrites(cfg.AuditLog)
	}
	root, err := resolvers.New(resolvers.Config{Client: cfg.Client, Reader: reader, Logger: cfg.Logger, DefaultLocationID: cfg.DefaultLocationID,
		Limits: cfg.InputLimits, OnWrite: onWrite})
	if err != nil {
		return nil, err
	}
	limits := cfg.Limits
	if limits.MaxCost == 0 {
		limits.MaxCost = DefaultQueryLimits.MaxCost
	}
	if limits.MaxDepth == 0 {
		limits.MaxDepth = DefaultQueryLimits.MaxDepth
	}
	if limits.MaxAliases == 0 {
		limits.MaxAliases = DefaultQueryLimits.MaxAliases
	}
	if limits.MaxTokens == 0 {
		limits.MaxTokens = DefaultQueryLimits.MaxTokens
	}
	if limits.MaxSelections == 0 {
		limits.MaxSelections = DefaultQueryLimits.MaxSelections
	}
	if limits.MaxRepeatedFields == 0 {
		limits.MaxRepeatedFields = DefaultQueryLimits.MaxRepeatedFields
	}
	gql := NewGraphQLHandler(root, cfg.Logger, cfg.Introspection)
	if ext := cfg.Tracing.Extension(); ext != nil {
		gql.Use(ext) // first: the operation's span holds the rest
	}
	gql.AroundResponses(recordOutcome) // the request log's outcome and codes
	gql.AroundResponses(requestIDExtension)
	// Argument caps, before any resolver and so before any upstream call.
	gql.AroundFields(cfg.Tracing.Fields(root.CheckArguments)) // and resolvers' spans, when tracing
	if cfg.BudgetMaxWait <= 0 {
		cfg.BudgetMaxWait = upstream.DefaultBudgetMaxWait
	}
	budget := budgetOf(cfg.Client, cfg.BudgetMaxWait)
	if reader.Cache() != nil {
		gql.Use(cacheFirst{}) // before the limiter: queries may be answered from the cache
		budget = cacheFirstBudget(budget)
	}
	// The limiter pre-scans the documents the query cache does not hold, so
	// it shares the cache; the parser's own token limit backs the pre-scan.
	parsed := lru.New[*ast.QueryDocument](queryCacheSize)
	gql.SetQueryCache(parsed)
	gql.SetParserTokenLimit(limits.MaxTokens)
	gql.Use(queryLimiter{limits: limits, budget: budget, cache: parsed, observe: cfg.observeQueryWork})
	subscriptions, err := enableSubscriptions(&cfg, root, gql)
	if err != nil {
		return nil, err
	}
	if rb, ok := cfg.Bus.(interface{ OnRemote(func(events.Change)) }); ok && reader.Cache() != nil {
		// Another replica's change (issue 13): evicted here before the
		// subscribers here resolve it. Locally only: the replica that
		// learned it has evicted it from the shared cache and told every
		// replica already (loaders/shared.go); this covers a replica whose
		// acknowledgement came too late, or no shared cache at all.
		rb.OnRemote(func(c events.Change) { reader.EvictLocal(loaders.StaleOf(c)) })
	}
	// Outermost first: CORS, credential, body limit, response cache (a hit
	// needs nothing after it), persisted-operations check, request shape,
	// deadline, loaders, executor.
	gql.AroundResponses(staleMarks)
	exec := loaders.Middleware(reader, gql)
	exec = withWellFormedRequest(withTimeout(cfg.RequestTimeout, withBudgetWait(cfg.BudgetMaxWait, exec)))
	if cfg.PersistedOperations != nil {
		exec = withPersistedOnly(cfg.PersistedOperations, exec)
	}
	parts := Parts{Cache: reader.Cache(), Reader: reader, Bus: cfg.Bus, Webhooks: cfg.Webhooks}
	if reader.Cache() != nil && !cfg.NoResponseCache {
		gql.AroundOperations(onlyQueriesCached)
		gql.AroundResponses(noErrorsCached(cfg.PartialCacheTTL, reader.Now))
		counts := &hitCounter{}
		parts.ResponseCache = counts.stats
		exec = withResponseCache(reader, counts, exec)
	}
	apq := cfg.apqStore()
	if mem, ok := apq.(*apqCache); ok {
		parts.APQ = mem.lru.stats
	}
	exec = withBatches(cfg.maxBatch(), cfg.RequestTimeout, withAPQ(apq, cfg.PersistedOperations, exec))

	mux := http.NewServeMux()
	var endpoint http.Handler // GraphQLPath's
	if cfg.Managed != nil {
		if cfg.Managed.OAuth == nil || cfg.Managed.Clients == nil {
			return nil, errors.New("managed mode needs an OAuth manager and a client authenticator")
		}
		install, callback := cfg.Managed.InstallPath, cfg.Managed.CallbackPath
		if install == "" {
			install = "/oauth/install"
		}
		if callback == "" {
			callback = "/oauth/callback"
		}
		mux.Handle(install, cfg.Managed.OAuth.InstallHandler())
		mux.Handle(callback, cfg.Managed.OAuth.CallbackHandler())
		m := cfg.Managed
		if m.Clients.MaxTokenBytes == 0 && conn.MaxTokenBytes != 0 {
			// A copy: the caller's Authenticator is left as it was.
			mc, clients := *m, *m.Clients
			clients.MaxTokenBytes = conn.MaxTokenBytes
			mc.Clients = &clients
			m = &mc
		}
		subs := subscriptions.handler(subscriptionAuth{credential: func(h http.Handler) http.Handler { return withPrincipal(m, h) },
			trusted: true, root: root}, reader, limits, cfg)
		endpoint = withCORS(cfg.cors(), withSubscriptions(subs, conn.limit(withPrincipal(m,
			withBodyLimit(cfg.MaxBodyBytes, conn.BodyReadTimeout, exec)))))
	} else {
		lim := credentialLimits{maxTokenBytes: conn.MaxTokenBytes, maxLocationIDBytes: conn.MaxLocationIDBytes,
			parsed: newByteLRU[credentialKey, auth.Credential](conn.CredentialCacheBytes)}
		parts.Credentials = lim.parsed.stats
		learned := newLearned(cfg) // shared with subscriptions: they learn from, and obey, the same answers
		learned.SetConfirmInterval(cfg.Webhooks.confirmEvery())
		if cfg.LearnedShared != nil {
			learned.SetShared(cfg.LearnedShared)
		}
		if cfg.Webhooks != nil && cfg.Webhooks.Now != nil {
			learned.SetClock(cfg.Webhooks.Now)
		}
		subs := subscriptions.handler(subscriptionAuth{credential: func(h http.Handler) http.Handler { return withCredential(learned, lim, h) },
			root: root}, reader, limits, cfg)
		endpoint = withCORS(cfg.cors(), withSubscriptions(subs, conn.limit(withCredential(learned, lim,
			withBodyLimit(cfg.MaxBodyBytes, conn.BodyReadTimeout, exec)))))
	}
	mux.Handle(GraphQLPath, endpoint)
	mux.HandleFunc(HealthPath, func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.Handle(ReadyPath, readyHandler(cfg.Ready, cfg.Degraded))
	if cfg.Playground != nil {
		pg, err := playground.Handler(*cfg.Playground)
		if err != nil {
			return nil, fmt.Errorf("playground: %w", err)
		}
		mux.Handle("/", pg)
		assets := cfg.Playground.AssetsPath
		if assets == "" {
			assets = "/playground/"
		}
		mux.Handle(assets, pg)
	}
	// Last: the receiver starts workers, which nothing would stop if New failed after.
	if cfg.Webhooks != nil {
		if err := mountWebhooks(cfg.Webhooks, mux, reader, cfg.Logger); err != nil {
			return nil, err
		}
	}
	if cfg.Observer != nil {
		cfg.Observer.Mounted(parts)
	}
	// The client's traceparent first, so that every log line of a traced request has its trace ID.
	return withBodyDeadline(conn.BodyReadTimeout, cfg.Tracing.Handler(withRequestLog(cfg.Logger, cfg.MaxRequestIDBytes,
		withObserver(cfg.Observer, graphQLFirst(endpoint, mux))))), nil
}

// graphQLFirst sends a request for GraphQLPath straight to endpoint, the
// handler mux has for it, and the rest to mux. The path is exact and clean,
// and no other pattern could be more specific, so mux would choose the
// same; its pattern matching cost the warm path more than the rest of the
// routing together.
func graphQLFirst(endpoint, mux http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == GraphQLPath && r.Method != http.MethodConnect {
			endpoint.ServeHTTP(w, r)
			return
		}
		mux.ServeHTTP(w, r)
	})
}

// NewGraphQLHandler returns the GraphQL executor behind /graphql, set up
// explicitly rather than with gqlgen's NewDefaultServer: POST and GET (GET
// runs queries only), a bounded cache of parsed queries, our error presenter
// and panic handler, and introspection only when enabled. root is the
// gateway's resolvers.Resolver; the benchmark's naive baseline passes its
// own.
func NewGraphQLHandler(root graph.ResolverRoot, logger *slog.Logger, introspection bool) *handler.Server {
	es := graph.NewExecutableSchema(graph.Config{Resolvers: root})
	srv := handler.New(es)
	srv.AddTransport(transport.Options{})
	srv.AddTransport(newMultipartDefer()) // before httpTransport: it takes the POSTs that accept multipart/mixed
	srv.AddTransport(httpTransport{})     // POST and GET, spec-exact (transport.go)
	srv.SetQueryCache(lru.New[*ast.QueryDocument](queryCacheSize))
	if introspection {
		srv.Use(extension.Introspection{})
	}
	srv.Use(deferInline{})                          // @defer answered whole where parts cannot be sent
	srv.Use(deferPlaceholders{schema: es.Schema()}) // and streamed without null placeholders
	srv.SetErrorPresenter(resolvers.ErrorPresenter(logger))
	srv.SetRecoverFunc(resolvers.PanicHandler(logger))
	return srv
}

// withCredential puts the request's bearer token, as a credential, into the
// context, with what learned knows of it, and has the upstream's answers to
// it teach learned more. A request without one still runs (introspection
// needs none); fields that call the upstream then fail with UNAUTHENTICATED.
// A token over the length limit is refused (401) and a malformed
// X-Location-Id (400) before anything is stored.
func withCredential(learned *auth.Learned, lim credentialLimits, next http.Handler) http.Handler {
	observe := countCalls(learned.Observe) // bound once, not per request; counted for the access line
	gate := upstream.CallGate(learned.Gate)
	bound := upstream.ContextWithCallGate(upstream.ContextWithCallObserver(context.Background(), observe), gate) // for setCredential
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tok, err := auth.BearerTokenLimit(r, lim.maxTokenBytes)
		switch {
		case errors.Is(err, auth.ErrTokenTooLong):
			writeError(w, r, errcode.New(errcode.CodeUnauthenticated, "the bearer token is longer than %d bytes", lim.maxTokenBytes))
			return
		case err != nil:
			writeError(w, r, errcode.New(errcode.CodeUnauthenticated, "%s", auth.DescribeMalformedAuthorization(r.Header.Get("Authorization")).Error()))
			return
		}
		loc, err := checkLocationHeader(r, lim.maxLocationIDBytes)
		if err != nil {
			writeError(w, r, errcode.New(errcode.CodeBadUserInput, "%s", err.Error()))
			return
		}
		if tok != "" {
			cred, ok := lim.parsed.Get(credentialKey{loc: loc, tok: tok})
			if !ok {
				// A cut, quoted or garbled paste is told apart from a token
				// HighLevel rejects (issue 17), rather than sent and misread.
				// Checked once per token: a cached credential passed it.
				if err := auth.CheckTokenShape(tok); err != nil {
					writeError(w, r, errcode.New(errcode.CodeUnauthenticated, "%s", err.Error()))
					return
				}
				key := storedCredentialKey(loc, tok)
				cred = auth.NewBearer(key.tok, key.loc)
				lim.parsed.Add(key, cred, credentialOverhead+len(tok)+len(loc)+len(cred.LocationID)+scopeBytes(cred.Scopes))
			}
			cred, err := learned.Apply(cred)
			if err != nil {
				writeError(w, r, errcode.New(errcode.CodeForbidden, "%s", err.Error()))
				return
			}
			if !setCredential(r.Context(), cred, bound) { // in the request's state: no copy of the request
				ctx := upstream.ContextWithCallObserver(auth.WithCredential(r.Context(), cred), observe)
				r = r.WithContext(upstream.ContextWithCallGate(ctx, gate))
			}
		}
		next.ServeHTTP(w, r)
	})
}

type bodyKey struct{}

// readBody is a request body read into memory: the reader handed on as
// r.Body and the bytes requestBody returns, in one allocation.
type readBody struct {
	bytes.Reader
	b []byte
}

// Close implements io.Closer: there is nothing left to release.
func (*readBody) Close() error { return nil }

// attachBody returns r with body, already read, as its body and as what
// requestBody returns.
func attachBody(r *http.Request, body []byte) *http.Request {
	rb := &readBody{b: body}
	rb.Reset(body)
	r = r.WithContext(context.WithValue(r.Context(), bodyKey{}, rb))
	r.Body = rb
	return r
}

// headerValue is h.Get(key) for a key already in canonical form, as every
// key net/http parses is: the map's own look-up, without canonicalizing
// key again.
func headerValue(h http.Header, key string) string {
	if v := h[key]; len(v) > 0 {
		return v[0]
	}
	return ""
}

// requestBody returns the POST body withBodyLimit read, if any.
func requestBody(r *http.Request) ([]byte, bool) {
	rb, ok := r.Context().Value(bodyKey{}).(*readBody)
	if !ok {
		return nil, false
	}
	return rb.b, true
}

// isJSONPost reports whether r is a POST with a JSON body. Media types are
// case-insensitive (RFC 9110 §8.3.1), and parameters may follow.
func isJSONPost(r *http.Request) bool {
	if r.Method != http.MethodPost {
		return false
	}
	ct := r.Header.Get("Content-Type")
	if isCanonicalJSONType(ct) { // what nearly every client sends: no parse
		return true
	}
	mt, _, err := mime.ParseMediaType(ct)
	return err == nil && mt == "application/json"
}

// isCanonicalJSONType reports whether ct is one of the canonical spellings
// of the JSON media type.
func isCanonicalJSONType(ct string) bool {
	return ct == "application/json" || ct == "application/json; charset=utf-8"
}

// canonicalJSONType rewrites a JSON request's Content-Type in canonical
// form (lower-case type, parameter names and charset), so that what comes
// after (gqlgen, the response cache's key) sees one spelling of it.
func canonicalJSONType(r *http.Request) {
	ct := r.Header.Get("Content-Type")
	if isCanonicalJSONType(ct) {
		return
	}
	_, params, err := mime.ParseMediaType(ct)
	if err != nil {
		return
	}
	if cs, ok := params["charset"]; ok {
		params["charset"] = strings.ToLower(cs)
	}
	if ct := mime.FormatMediaType("application/json", params); ct != "" {
		r.Header.Set("Content-Type", ct)
	}
}

// withBodyLimit refuses bodies over max bytes before gqlgen reads them, and
// reads a JSON body into memory once for the middleware after it. A body
// that misses its read deadline (withBodyDeadline, readTimeout) is answered
// 408 and its connection closed.
func withBodyLimit(max int64, readTimeout time.Duration, next http.Handler) http.Handler {
	// Made when a body is refused, not per request: every request passes here.
	tooLarge := func() error {
		return &errcode.Error{Code: errcode.CodeBadUserInput, Status: http.StatusRequestEntityTooLarge,
			Message: fmt.Sprintf("request body exceeds %d bytes", max)}
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ContentLength > max {
			writeError(w, r, tooLarge())
			return
		}
		jsonBody := isJSONPost(r)
		if !jsonBody || r.ContentLength < 0 {
			// A declared length was checked above, and net/http reads no
			// further than it: only a chunked JSON body, or one left for
			// gqlgen to read, needs the limit as it reads.
			r.Body = http.MaxBytesReader(w, r.Body, max)
		}
		if jsonBody {
			canonicalJSONType(r)
			buf, err := readPooledBody(r.Body, r.ContentLength)
			defer releaseBody(buf) // after every handler below has returned
			if err != nil {
				var tooBig *http.MaxBytesError
				switch {
				case errors.As(err, &tooBig):
					writeError(w, r, tooLarge())
				case isReadTimeout(err):
					writeBodyTimeout(w, r, readTimeout)
				default:
					writeError(w, r, errcode.New(errcode.CodeBadRequest, "could not read the request body"))
				}
				return
			}
			body := *buf
			if st := stateFrom(r.Context()); st != nil && st.body == nil {
				// The request's own body: kept in its state, which its
				// context already answers for, rather than in a new context
				// and a copy of the request.
				st.bodyReader = readBody{b: body}
				st.bodyReader.Reset(body)
				st.body = &st.bodyReader
				r.Body = st.body
			} else {
				r = attachBody(r, body)
			}
		}
		next.ServeHTTP(w, r)
	})
}

// bodyBuffers holds the buffers request bodies are read into. A body is a
// few hundred bytes, read on every request and unused once the request is
// answered: the handlers decode it (encoding/json copies what it keeps),
// hash it or scan it, and none keeps a slice of it, so its buffer goes back
// for the next request rather than to the garbage collector, which on the
// warm path runs as often as requests allocate.
var bodyBuffers = sync.Pool{New: func() any { b := make([]byte, 0, 1024); return &b }}

// maxPooledBody is the largest buffer kept for reuse: a rare large body
// does not pin its memory in the pool.
const maxPooledBody = 64 << 10

// readPooledBody reads r to its end into a pooled buffer, as io.ReadAll
// does (and as large as length, when it is known, so that a known length
// reads without growing); the caller hands the buffer back with
// releaseBody once nothing uses the body.
func readPooledBody(r io.Reader, length int64) (*[]byte, error) {
	buf := bodyBuffers.Get().(*[]byte)
	b := (*buf)[:0]
	if length > int64(cap(b)) && length <= maxPooledBody {
		b = make([]byte, 0, length+1) // +1: the read that sees EOF needs room
	}
	for {
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)] // grow as append does
		}
		n, err := r.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		if err != nil {
			if err == io.EOF {
				err = nil
			}
			*buf = b
			return buf, err
		}
	}
}

// releaseBody returns a body's buffer to the pool; the body must not be
// used after.
func releaseBody(buf *[]byte) {
	if cap(*buf) > maxPooledBody {
		return
	}
	*buf = (*buf)[:0]
	bodyBuffers.Put(buf)
}

// graphQLRequest is the shape of a GraphQL request over HTTP.
type graphQLRequest struct {
	Query         *string        `json:"query"`
	OperationName *string        `json:"operationName"`
	Variables     map[string]any `json:"variables"`
	Extensions    map[string]any `json:"extensions"`
}

// withWellFormedRequest answers what is not a GraphQL request at all (wrong
// method or Content-Type, a body that is not a request object, variables
// that are not an object) with a BAD_REQUEST error; gqlgen's own answers
// carry no code and may echo the body. It runs after the response cache: a
// request answered from it was well formed when first seen.
func withWellFormedRequest(next http.Handler) http.Handler {
	const shape = "the request must be a JSON object with query (string), operationName (string), variables (object) and extensions (object)"
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.Method {
		case http.MethodPost:
			body, ok := requestBody(r)
			if !ok {
				writeError(w, r, &errcode.Error{Code: errcode.CodeBadRequest, Status: http.StatusUnsupportedMediaType,
					Message: "POST bodies must be application/json"})
				return
			}
			var req graphQLRequest
			trimmed := bytes.TrimLeft(body, " \t\r\n")
			if len(trimmed) == 0 || trimmed[0] != '{' || json.Unmarshal(body, &req) != nil {
				writeError(w, r, errcode.New(errcode.CodeBadRequest, shape))
				return
			}
			if req.Query == nil || *req.Query == "" {
				writeError(w, r, errcode.New(errcode.CodeBadRequest, "the request has no query"))
				return
			}
		case http.MethodGet:
			q := r.URL.Query()
			if q.Get("query") == "" {
				writeError(w, r, errcode.New(errcode.CodeBadRequest, "the request has no query parameter"))
				return
			}
			for _, name := range []string{"variables", "extensions"} {
				if v := q.Get(name); v != "" {
					var m map[string]any
					if json.Unmarshal([]byte(v), &m) != nil {
						writeError(w, r, errcode.New(errcode.CodeBadRequest, "%s must be a JSON object", name))
						return
					}
				}
			}
		case http.MethodOptions:
		default:
			w.Header().Set("Allow", "GET, POST, OPTIONS")
			writeError(w, r, &errcode.Error{Code: errcode.CodeBadRequest, Status: http.StatusMethodNotAllowed,
				Message: r.Method + " is not allowed: use POST, or GET for queries"})
			return
		}
		next.ServeHTTP(w, r)
	})
}

// withTimeout bounds the whole request; upstream calls inherit the deadline,
// and a client that disconnects cancels them through the same context.
func withTimeout(d time.Duration, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), d)
		defer cancel()
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

// readyHandler answers /readyz from the readiness check, caching the answer
// briefly so that a probe storm does not become an upstream storm. A
// gateway that serves degraded is ready (taking it out of the load
// balancer would not bring Redis back), and says so.
func readyHandler(check func(context.Context) error, degraded func() []string) http.Handler {
	ready := func(w http.ResponseWriter) {
		if degraded != nil {
			if why := degraded(); len(why) > 0 {
				writeJSON(w, http.StatusOK, map[string]any{"status": "degraded", "degraded": why})
				return
			}
		}
		writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
	}
	var (
		mu      sync.Mutex
		checked time.Time
		last    error
	)
	const ttl = 2 * time.Second
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if check == nil {
			ready(w)
			return
		}
		mu.Lock()
		if time.Since(checked) > ttl {
			ctx, cancel := context.WithTimeout(r.Context(), 3*time.Second)
			last = check(ctx)
			cancel()
			checked = time.Now()
		}
		err := last
		mu.Unlock()
		if err != nil {
			writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "unavailable", "error": err.Error()})
			return
		}
		ready(w)
	})
}

// budgetOf reports what the request's budget key can still spend with the
// upstream within the wait the request is allowed (its wait allowance, at
// most maxWait, or its deadline when sooner): the budget waits for slots as
// its window slides, but never longer than that. It also says how long
// until the budget could afford cost. A query that no window could afford
// within the wait (cost above what a fresh window allows) is not judged
// here (ok false): only cached answers can serve it, and its calls are
// refused one by one when they cannot go.
func budgetOf(client *upstream.Client, maxWait time.Duration) budgetFunc {
	return func(ctx context.Context, cost int) (int, time.Duration, bool) {
		cred, ok := auth.FromContext(ctx)
		if !ok {
			return 0, 0, false
		}
		key := resolvers.BudgetKey(cred)
		now := time.Now()
		wait := maxWait
		if left, ok := upstream.BudgetWaitLeft(ctx, now); ok {
			wait = left
		}
		if dl, ok := ctx.Deadline(); ok {
			wait = min(wait, dl.Sub(now))
		}
		wait = max(wait, 0)
		capacity := client.RateCapacity(key, wait)
		if capacity < 0 {
			return 0, 0, false
		}
		if capacity >= cost {
			return capacity, 0, true
		}
		maxN, interval, _ := client.RateLimit(key)
		fresh := maxN
		if interval > 0 {
			fresh += maxN * int(wait/interval)
		}
		if cost > fresh {
			return capacity, 0, false
		}
		// The shortest wait after which the window would have freed enough
		// for cost within the wait allowed: by seconds up to two windows,
		// then doubling, up to a day.
		after := time.Second
		for after < 24*time.Hour && min(client.RateCapacity(key, after+wait), fresh) < cost {
			if after < 2*interval {
				after += time.Second
			} else {
				after *= 2
			}
		}
		return capacity, after, true
	}
}

// UpstreamReady returns the readiness check of a gateway: the upstream host
// answers, and the host's circuit breaker is not open. One location's open
// breaker does not count: that tenant's trouble is no reason to route the
// others away from this replica.
func UpstreamReady(client *upstream.Client, hc *http.Client) func(context.Context) error {
	reachable := UpstreamReachable(hc, client.BaseURL())
	return func(ctx context.Context) error {
		if client.BreakerState() == upstream.BreakerOpen {
			return errors.New("circuit open: the upstream host failed for several locations; calls are paused for a cool-down")
		}
		return reachable(ctx)
	}
}

// UpstreamReachable returns a readiness check that any HTTP answer from
// baseURL satisfies: without a credential the gateway can only learn that
// the upstream answers, not that a token is good.
func UpstreamReachable(client *http.Client, baseURL string) func(context.Context) error {
	return func(ctx context.Context) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, baseURL, nil)
		if err != nil {
			return err
		}
		resp, err := client.Do(req)
		if err != nil {
			return errors.New("upstream unreachable")
		}
		resp.Body.Close()
		return nil
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// writeError answers a request refused before execution: err presented by
// the one presenter (resolvers.Present), so it has the shape of every other
// error, in the response shape gqlgen gives its own refusals, with the HTTP
// status its code declares (or the more precise one a *errcode.Error
// names), and Retry-After when it says when to retry.
func writeError(w http.ResponseWriter, r *http.Request, err error) {
	ctx := r.Context()
	presented := resolvers.Present(ctx, loggerFrom(ctx), err)
	code, _ := presented.Extensions["code"].(string)
	status := errcode.Status(code)
	var own *errcode.Error
	if errors.As(err, &own) {
		status = own.HTTPStatus()
	}
	if secs, ok := presented.Extensions["retryAfter"].(int); ok {
		w.Header().Set("Retry-After", strconv.Itoa(secs))
	}
	// A refused request has no data entry (GraphQL spec §7.1.2).
	w.Header().Set("Cache-Control", "no-store")
	writeResponse(w, responseMediaType(r), status, &graphql.Response{Errors: gqlerror.List{presented},
		Extensions: requestIDExtensions(ctx)}, false)
}

// loggerFrom returns the gateway's logger that withRequestLog put in ctx.
func loggerFrom(ctx context.Context) *slog.Logger {
	if st := stateFrom(ctx); st != nil && st.logger != nil {
		return st.logger
	}
	return slog.New(slog.DiscardHandler)
}

// SchemaSDL returns the gateway's GraphQL schema as SDL, descriptions included.
func SchemaSDL() string {
	var b strings.Builder
	formatter.NewFormatter(&b).FormatSchema(graph.NewExecutableSchema(graph.Config{}).Schema())
	return b.String()
}
