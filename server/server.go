// Package server assembles the gateway's HTTP surface: the GraphQL endpoint
// (POST and GET), GraphiQL, /healthz and /readyz, with the middleware every
// request passes through (request IDs, logging, body limits, credentials,
// deadlines).
package server

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/handler"
	"github.com/99designs/gqlgen/graphql/handler/extension"
	"github.com/99designs/gqlgen/graphql/handler/lru"
	"github.com/99designs/gqlgen/graphql/handler/transport"
	lrucache "github.com/hashicorp/golang-lru/v2"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/formatter"

	"github.com/ghl-graphql/gateway/auth"
	"github.com/ghl-graphql/gateway/cache"
	"github.com/ghl-graphql/gateway/graph"
	"github.com/ghl-graphql/gateway/loaders"
	"github.com/ghl-graphql/gateway/playground"
	"github.com/ghl-graphql/gateway/resolvers"
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
	// CORSOrigins are the origins whose pages may call the endpoint
	// ("https://app.example.com", or "*"); none sends no CORS headers.
	CORSOrigins []string
	// PersistedOperations, when not nil, is the only operations the gateway
	// runs (persisted-operations-only mode).
	PersistedOperations PersistedOperations
	// AuditLog, when not nil, gets one line per mutation: who, location,
	// operation, target IDs, outcome, duration.
	AuditLog *slog.Logger
	// Managed, when not nil, puts the gateway in managed mode (see Managed);
	// otherwise clients' bearer tokens are passed through.
	Managed *Managed
	// NoResponseCache switches off the whole-response cache (the shared
	// cache of upstream answers stays).
	NoResponseCache bool
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
	// Now is the clock of what is learned about tokens; nil means time.Now.
	Now func() time.Time
	// Naive switches off the loaders and the cache and resolves fields one
	// at a time, one upstream call per field: the baseline the benchmark
	// measures the gateway against. Not for production.
	Naive bool
}

// DefaultCacheMaxBytes is the shared cache's default size.
const DefaultCacheMaxBytes = 64 << 20

// New returns the gateway's HTTP handler.
func New(cfg Config) (http.Handler, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if cfg.RequestTimeout <= 0 {
		cfg.RequestTimeout = DefaultRequestTimeout
	}
	if err := CheckOrigins(cfg.CORSOrigins); err != nil {
		return nil, err
	}
	if cfg.CacheMaxBytes == 0 {
		cfg.CacheMaxBytes = DefaultCacheMaxBytes
	}
	var reader *loaders.Reader
	if !cfg.Naive {
		var shared cache.Cache
		if cfg.CacheMaxBytes > 0 {
			shared = cache.NewLRU(cfg.CacheMaxBytes)
		}
		var err error
		reader, err = loaders.NewReader(loaders.Config{Client: cfg.Client, Cache: shared, TTLs: cfg.CacheTTLs,
			MaxConcurrentPerLocation: cfg.MaxConcurrentPerLocation})
		if err != nil {
			return nil, err
		}
	}
	root, err := resolvers.New(resolvers.Config{Client: cfg.Client, Reader: reader, Logger: cfg.Logger, DefaultLocationID: cfg.DefaultLocationID})
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
	gql := NewGraphQLHandler(root, cfg.Logger, cfg.Introspection)
	if cfg.BudgetMaxWait <= 0 {
		cfg.BudgetMaxWait = upstream.DefaultBudgetMaxWait
	}
	gql.Use(queryLimiter{limits: limits, budget: budgetOf(cfg.Client, cfg.BudgetMaxWait)})
	if cfg.AuditLog != nil {
		gql.AroundFields(auditMutations(cfg.AuditLog))
	}
	// Outermost first: CORS, credential, body limit, response cache (a hit
	// needs nothing after it), persisted-operations check, request shape,
	// deadline, loaders, executor.
	var exec http.Handler = gql
	if cfg.Naive {
		gql.AroundOperations(oneFieldAtATime)
		gql.AroundFields(lockField)
	} else {
		exec = loaders.Middleware(reader, gql)
	}
	exec = withWellFormedRequest(withTimeout(cfg.RequestTimeout, withBudgetWait(cfg.BudgetMaxWait, exec)))
	if cfg.PersistedOperations != nil {
		exec = withPersistedOnly(cfg.PersistedOperations, exec)
	}
	if !cfg.Naive && reader.Cache() != nil && !cfg.NoResponseCache {
		gql.AroundOperations(onlyQueriesCached)
		gql.AroundResponses(noErrorsCached)
		exec = withResponseCache(reader.Cache(), exec)
	}

	mux := http.NewServeMux()
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
		mux.Handle(GraphQLPath, withCORS(cfg.CORSOrigins, withPrincipal(cfg.Managed, withBodyLimit(cfg.MaxBodyBytes, exec))))
	} else {
		mux.Handle(GraphQLPath, withCORS(cfg.CORSOrigins, withCredential(newLearned(cfg), withBodyLimit(cfg.MaxBodyBytes, exec))))
	}
	mux.HandleFunc(HealthPath, func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.Handle(ReadyPath, readyHandler(cfg.Ready))
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
	return withRequestLog(cfg.Logger, mux), nil
}

// NewGraphQLHandler returns the GraphQL executor behind /graphql, set up
// explicitly rather than with gqlgen's NewDefaultServer: POST and GET (GET
// runs queries only), a bounded cache of parsed queries, our error presenter
// and panic handler, and introspection only when enabled.
func NewGraphQLHandler(root *resolvers.Resolver, logger *slog.Logger, introspection bool) *handler.Server {
	srv := handler.New(graph.NewExecutableSchema(graph.Config{Resolvers: root}))
	srv.AddTransport(transport.Options{})
	srv.AddTransport(transport.GET{})
	srv.AddTransport(transport.POST{})
	srv.SetQueryCache(lru.New[*ast.QueryDocument](queryCacheSize))
	if introspection {
		srv.Use(extension.Introspection{})
	}
	srv.SetErrorPresenter(resolvers.ErrorPresenter(logger))
	srv.SetRecoverFunc(resolvers.PanicHandler(logger))
	return srv
}

type fieldLockKey struct{}

// oneFieldAtATime gives each operation a lock that lockField takes around
// every resolver, so that the naive baseline makes its calls in sequence.
func oneFieldAtATime(ctx context.Context, next graphql.OperationHandler) graphql.ResponseHandler {
	return next(context.WithValue(ctx, fieldLockKey{}, &sync.Mutex{}))
}

func lockField(ctx context.Context, next graphql.Resolver) (any, error) {
	if fc := graphql.GetFieldContext(ctx); fc != nil && fc.IsResolver {
		if mu, ok := ctx.Value(fieldLockKey{}).(*sync.Mutex); ok {
			mu.Lock()
			defer mu.Unlock()
		}
	}
	return next(ctx)
}

// credentialCacheSize bounds the parsed credentials kept, so that a
// token's claims are decoded once rather than on every request.
const credentialCacheSize = 4096

// withCredential puts the request's bearer token, as a credential, into the
// context, with what learned knows of it, and has the upstream's answers to
// it teach learned more. A request without one still runs (introspection
// needs none); fields that call the upstream then fail with UNAUTHENTICATED.
func withCredential(learned *auth.Learned, next http.Handler) http.Handler {
	parsed, _ := lrucache.New[string, auth.Credential](credentialCacheSize)
	observe := upstream.CallObserver(learned.Observe) // bound once, not per request
	gate := upstream.CallGate(learned.Gate)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tok, err := auth.BearerToken(r)
		if err != nil {
			writeGraphQLError(w, http.StatusUnauthorized, err.Error(), resolvers.CodeUnauthenticated)
			return
		}
		if tok != "" {
			loc := strings.TrimSpace(r.Header.Get(HeaderLocationID))
			key := loc + "\x00" + tok
			cred, ok := parsed.Get(key)
			if !ok {
				cred = auth.NewBearer(tok, loc)
				parsed.Add(key, cred)
			}
			cred, err := learned.Apply(cred)
			if err != nil {
				writeGraphQLError(w, http.StatusForbidden, err.Error(), resolvers.CodeForbidden)
				return
			}
			ctx := upstream.ContextWithCallObserver(auth.WithCredential(r.Context(), cred), observe)
			ctx = upstream.ContextWithCallGate(ctx, gate)
			r = r.WithContext(ctx)
		}
		next.ServeHTTP(w, r)
	})
}

type bodyKey struct{}

// requestBody returns the POST body withBodyLimit read, if any.
func requestBody(r *http.Request) ([]byte, bool) {
	b, ok := r.Context().Value(bodyKey{}).([]byte)
	return b, ok
}

// isJSONPost reports whether r is a POST with a JSON body.
func isJSONPost(r *http.Request) bool {
	return r.Method == http.MethodPost && strings.HasPrefix(r.Header.Get("Content-Type"), "application/json")
}

// withBodyLimit refuses bodies over max bytes before gqlgen reads them, and
// reads a JSON body into memory once for the middleware after it.
func withBodyLimit(max int64, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ContentLength > max {
			writeGraphQLError(w, http.StatusRequestEntityTooLarge,
				fmt.Sprintf("request body exceeds %d bytes", max), resolvers.CodeBadUserInput)
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, max)
		if isJSONPost(r) {
			body, err := io.ReadAll(r.Body)
			var tooBig *http.MaxBytesError
			switch {
			case errors.As(err, &tooBig):
				writeGraphQLError(w, http.StatusRequestEntityTooLarge,
					fmt.Sprintf("request body exceeds %d bytes", max), resolvers.CodeBadUserInput)
				return
			case err != nil:
				writeGraphQLError(w, http.StatusBadRequest, "could not read the request body", CodeBadRequest)
				return
			}
			r.Body = io.NopCloser(bytes.NewReader(body))
			r = r.WithContext(context.WithValue(r.Context(), bodyKey{}, body))
		}
		next.ServeHTTP(w, r)
	})
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
				writeGraphQLError(w, http.StatusUnsupportedMediaType, "POST bodies must be application/json", CodeBadRequest)
				return
			}
			var req graphQLRequest
			trimmed := bytes.TrimLeft(body, " \t\r\n")
			if len(trimmed) == 0 || trimmed[0] != '{' || json.Unmarshal(body, &req) != nil {
				writeGraphQLError(w, http.StatusBadRequest, shape, CodeBadRequest)
				return
			}
		case http.MethodGet:
			q := r.URL.Query()
			for _, name := range []string{"variables", "extensions"} {
				if v := q.Get(name); v != "" {
					var m map[string]any
					if json.Unmarshal([]byte(v), &m) != nil {
						writeGraphQLError(w, http.StatusBadRequest, name+" must be a JSON object", CodeBadRequest)
						return
					}
				}
			}
		case http.MethodOptions:
		default:
			w.Header().Set("Allow", "GET, POST, OPTIONS")
			writeGraphQLError(w, http.StatusMethodNotAllowed, r.Method+" is not allowed: use POST, or GET for queries", CodeBadRequest)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// CodeBadRequest is the code of a request that is not a GraphQL request at
// all (e.g. a body that is not JSON).
const CodeBadRequest = "BAD_REQUEST"

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
// briefly so that a probe storm does not become an upstream storm.
func readyHandler(check func(context.Context) error) http.Handler {
	var (
		mu      sync.Mutex
		checked time.Time
		last    error
	)
	const ttl = 2 * time.Second
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if check == nil {
			writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
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
		writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
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
// answers, and the circuit breaker is not open.
func UpstreamReady(client *upstream.Client, hc *http.Client) func(context.Context) error {
	reachable := UpstreamReachable(hc, client.BaseURL())
	return func(ctx context.Context) error {
		if client.BreakerState() == upstream.BreakerOpen {
			return errors.New("circuit open: the upstream failed repeatedly; calls are paused for a cool-down")
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

type requestIDKey struct{}

// RequestID returns the ID of the request being served.
func RequestID(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey{}).(string)
	return id
}

// withRequestLog gives each request an ID (X-Request-Id, kept from the
// client when sane) and logs one line per request.
func withRequestLog(logger *slog.Logger, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		id := r.Header.Get("X-Request-Id")
		if id == "" || len(id) > 64 || strings.ContainsFunc(id, func(c rune) bool { return c < 0x21 || c > 0x7e }) {
			var b [8]byte
			_, _ = rand.Read(b[:])
			id = hex.EncodeToString(b[:])
		}
		w.Header().Set("X-Request-Id", id)
		rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
		next.ServeHTTP(rec, r.WithContext(context.WithValue(r.Context(), requestIDKey{}, id)))
		logger.InfoContext(r.Context(), "request", "id", id, "method", r.Method, "path", r.URL.Path,
			"status", rec.status, "duration", time.Since(start))
	})
}

// statusRecorder remembers the status written, for the request log.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (s *statusRecorder) WriteHeader(code int) {
	s.status = code
	s.ResponseWriter.WriteHeader(code)
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (s *statusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// writeGraphQLError answers with a GraphQL response holding one error, for
// failures before execution starts.
func writeGraphQLError(w http.ResponseWriter, status int, msg, code string) {
	writeJSON(w, status, map[string]any{
		"errors": []map[string]any{{"message": msg, "extensions": map[string]any{"code": code}}},
	})
}

// SchemaSDL returns the gateway's GraphQL schema as SDL, descriptions included.
func SchemaSDL() string {
	var b strings.Builder
	formatter.NewFormatter(&b).FormatSchema(graph.NewExecutableSchema(graph.Config{}).Schema())
	return b.String()
}
