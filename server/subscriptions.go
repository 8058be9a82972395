// This file serves GraphQL subscriptions on /graphql (issue 12): a
// WebSocket upgrade (graphql-transport-ws, and the older graphql-ws) or a
// POST that accepts text/event-stream (Server-Sent Events) goes to an
// executor of its own, which runs only subscriptions. The credential is the
// same as for queries, found by the same middleware (withCredential, or
// withPrincipal in managed mode) from the request's headers or, since
// browsers cannot set headers on a WebSocket, from the connection_init
// payload; then resolvers.AuthorizeSubscriber binds the connection to a
// location the upstream confirmed.

package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	coderws "github.com/coder/websocket"

	"github.com/99designs/gqlgen/graphql/handler"
	"github.com/99designs/gqlgen/graphql/handler/extension"
	"github.com/99designs/gqlgen/graphql/handler/lru"
	"github.com/99designs/gqlgen/graphql/handler/transport"
	"github.com/vektah/gqlparser/v2/ast"

	"github.com/ghl-graphql/gateway/errcode"
	"github.com/ghl-graphql/gateway/events"
	"github.com/ghl-graphql/gateway/graph"
	"github.com/ghl-graphql/gateway/loaders"
	"github.com/ghl-graphql/gateway/resolvers"
)

// Defaults of the subscription transports.
const (
	// DefaultSubscriptionWriteTimeout bounds writing one message to a
	// subscriber: a client that stops reading is disconnected after it
	// rather than holding its goroutines forever.
	DefaultSubscriptionWriteTimeout = 10 * time.Second
	// DefaultSubscriptionInitTimeout is how long a WebSocket may take to
	// send connection_init.
	DefaultSubscriptionInitTimeout = 10 * time.Second
	// DefaultSubscriptionPingInterval is how often the server pings a
	// graphql-transport-ws client; one that does not answer within two
	// intervals is disconnected, which frees its subscriptions.
	DefaultSubscriptionPingInterval = 30 * time.Second
	// maxSubscriptionMessage bounds a message a subscriber sends (a
	// subscribe with its query): the request body limit's size.
	maxSubscriptionMessage = DefaultMaxBodyBytes
	// closeForbidden is graphql-transport-ws's close code for a refused
	// connection_init.
	closeForbidden = 4403
	// maxCloseReason is the longest close reason a WebSocket frame holds.
	maxCloseReason = 123
)

// SubscriptionLimits bound subscriptions; zero fields take the defaults.
type SubscriptionLimits struct {
	// PerConnection caps one connection's open subscriptions
	// (resolvers.DefaultMaxSubscriptionsPerConnection).
	PerConnection int
	// PerCredential caps one credential's open subscriptions over all its
	// connections (resolvers.DefaultMaxSubscriptionsPerCredential).
	PerCredential int
	// Queue is how many events wait for one subscriber before it is ended
	// as too slow (resolvers.DefaultSubscriptionQueue).
	Queue int
	// ConfirmTTL is how long the upstream's confirmation of a pass-through
	// credential holds (resolvers.DefaultSubscriptionConfirmTTL).
	ConfirmTTL time.Duration
	// WriteTimeout bounds writing one message to a subscriber
	// (DefaultSubscriptionWriteTimeout).
	WriteTimeout time.Duration
	// InitTimeout bounds the wait for connection_init
	// (DefaultSubscriptionInitTimeout).
	InitTimeout time.Duration
	// PingInterval is how often graphql-transport-ws clients are pinged
	// (DefaultSubscriptionPingInterval); negative: never.
	PingInterval time.Duration
	// Now is the clock of confirmations; nil means time.Now.
	Now func() time.Time
}

func (l SubscriptionLimits) withDefaults() SubscriptionLimits {
	if l.WriteTimeout <= 0 {
		l.WriteTimeout = DefaultSubscriptionWriteTimeout
	}
	if l.InitTimeout <= 0 {
		l.InitTimeout = DefaultSubscriptionInitTimeout
	}
	if l.PingInterval == 0 {
		l.PingInterval = DefaultSubscriptionPingInterval
	}
	return l
}

// subscriptionAuth finds a subscribing request's credential: it runs the
// request (with the connection_init payload's authorization and location,
// when given, in place of its headers) through the same credential
// middleware as queries, then has the resolvers bind it to a location.
type subscriptionAuth struct {
	// credential is withCredential or withPrincipal around the handler it
	// is given.
	credential func(http.Handler) http.Handler
	// trusted: the gateway authenticated the client itself (managed mode).
	trusted bool
	root    *resolvers.Resolver
}

// refusal is why a subscribing request was refused.
type refusal struct {
	code, msg string
}

func (e *refusal) Error() string { return e.code + ": " + e.msg }

// authorize returns the context of r's subscriptions, with init's
// authorization and location (nil for SSE) standing in for r's headers.
func (a subscriptionAuth) authorize(ctx context.Context, r *http.Request, init transport.InitPayload) (context.Context, error) {
	r = r.Clone(ctx)
	if v := init.Authorization(); v != "" {
		r.Header.Set("Authorization", v)
	}
	for _, k := range []string{HeaderLocationID, strings.ToLower(HeaderLocationID), "locationId"} {
		if v := init.GetString(k); v != "" {
			r.Header.Set(HeaderLocationID, v)
			break
		}
	}
	var got context.Context
	rec := &refusalRecorder{header: http.Header{}}
	a.credential(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) { got = r.Context() })).ServeHTTP(rec, r)
	if got == nil {
		return ctx, rec.refusal()
	}
	got, err := a.root.AuthorizeSubscriber(got, a.trusted)
	if err != nil {
		code, msg := resolvers.Classify(err)
		return ctx, &refusal{code: code, msg: msg}
	}
	return got, nil
}

// refusalRecorder keeps the error answer the credential middleware wrote.
type refusalRecorder struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (w *refusalRecorder) Header() http.Header { return w.header }
func (w *refusalRecorder) WriteHeader(s int)   { w.status = s }
func (w *refusalRecorder) Write(b []byte) (int, error) {
	if w.body.Len() > 4096 {
		return len(b), nil
	}
	return w.body.Write(b)
}

func (w *refusalRecorder) refusal() *refusal {
	var resp struct {
		Errors []struct {
			Message    string         `json:"message"`
			Extensions map[string]any `json:"extensions"`
		} `json:"errors"`
	}
	out := &refusal{code: errcode.CodeUnauthenticated, msg: "the credential was refused"}
	if json.Unmarshal(w.body.Bytes(), &resp) == nil && len(resp.Errors) > 0 {
		out.msg = resp.Errors[0].Message
		if c, ok := resp.Errors[0].Extensions["code"].(string); ok {
			out.code = c
		}
	}
	return out
}

type upgradeRequestKey struct{}

// newSubscriptionHandler returns the handler of subscribing requests.
func newSubscriptionHandler(a subscriptionAuth, reader *loaders.Reader, limits QueryLimits, sl SubscriptionLimits,
	origins []string, introspection bool, logger *slog.Logger) http.Handler {
	sl = sl.withDefaults()
	srv := handler.New(graph.NewExecutableSchema(graph.Config{Resolvers: a.root}))
	ws := transport.Websocket{
		Implementation: wsImplementation{accept: acceptOptions(origins), writeTimeout: sl.WriteTimeout},
		InitTimeout:    sl.InitTimeout,
		InitFunc: func(ctx context.Context, init transport.InitPayload) (context.Context, *transport.InitPayload, error) {
			r, _ := ctx.Value(upgradeRequestKey{}).(*http.Request)
			got, err := a.authorize(ctx, r, init)
			if err != nil {
				reason := err.Error()
				if len(reason) > maxCloseReason {
					reason = reason[:maxCloseReason]
				}
				logger.InfoContext(ctx, "subscription connection refused", "reason", reason)
				return transport.AppendCloseReason(transport.WithWebsocketCloseCode(ctx, closeForbidden), reason), nil, err
			}
			return got, nil, nil
		},
		ErrorFunc: func(ctx context.Context, err error) {
			logger.DebugContext(ctx, "subscription connection", "err", err)
		},
	}
	if sl.PingInterval > 0 {
		ws.PingPongInterval = sl.PingInterval
	}
	readLimit := int64(maxSubscriptionMessage)
	ws.PayloadReadLimit = &readLimit
	srv.AddTransport(ws)
	srv.AddTransport(transport.SSE{})
	parsed := lru.New[*ast.QueryDocument](queryCacheSize)
	srv.SetQueryCache(parsed)
	srv.SetParserTokenLimit(limits.MaxTokens)
	if introspection {
		srv.Use(extension.Introspection{})
	}
	// The query limits apply to each event's selection; there is no rate
	// budget check, since a subscription has no deadline to spend it by.
	srv.Use(queryLimiter{limits: limits, cache: parsed})
	srv.AroundFields(a.root.CheckArguments)
	srv.SetErrorPresenter(resolvers.ErrorPresenter(logger))
	srv.SetRecoverFunc(resolvers.PanicHandler(logger))
	srv.AroundOperations(resolvers.SubscriptionOperations)
	srv.AroundResponses(resolvers.SubscriptionResponses(reader))

	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// A subscription outlives the server's read and write timeouts,
		// which a hijacked connection would otherwise keep; writes are
		// bounded per message instead (WriteTimeout).
		rc := http.NewResponseController(w)
		_ = rc.SetReadDeadline(time.Time{})
		_ = rc.SetWriteDeadline(time.Time{})
		if isWebSocketUpgrade(r) {
			srv.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), upgradeRequestKey{}, r)))
			return
		}
		// Server-Sent Events: the credential comes from the headers, and is
		// checked before the stream starts.
		ctx, err := a.authorize(r.Context(), r, nil)
		if err != nil {
			var ref *refusal
			if errors.As(err, &ref) {
				writeError(w, r, errcode.New(ref.code, "%s", ref.msg))
				return
			}
			writeError(w, r, err)
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, maxSubscriptionMessage)
		srv.ServeHTTP(flushWriter{w}, r.WithContext(ctx))
	})
}

// isWebSocketUpgrade reports whether r asks for a WebSocket.
func isWebSocketUpgrade(r *http.Request) bool {
	return r.Method == http.MethodGet && strings.EqualFold(headerValue(r.Header, "Upgrade"), "websocket")
}

// isEventStream reports whether r is a POST that asks for Server-Sent
// Events (gqlgen's SSE transport).
func isEventStream(r *http.Request) bool {
	return r.Method == http.MethodPost && strings.HasPrefix(headerValue(r.Header, "Accept"), "text/event-stream")
}

// withSubscriptions sends subscribing requests to subs and the others to
// next.
func withSubscriptions(subs, next http.Handler) http.Handler {
	if subs == nil {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if isWebSocketUpgrade(r) || isEventStream(r) {
			subs.ServeHTTP(w, r)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// acceptOptions checks a WebSocket's Origin as CORS does: the page's own
// origin, and the configured CORS origins ("*": any). Tokens travel in the
// init payload, not cookies, but a page of another origin should not hold
// a socket to the gateway unless allowed.
func acceptOptions(origins []string) coderws.AcceptOptions {
	var opts coderws.AcceptOptions
	for _, o := range origins {
		if o == "*" {
			opts.InsecureSkipVerify = true
			continue
		}
		if u, err := url.Parse(o); err == nil && u.Host != "" {
			opts.OriginPatterns = append(opts.OriginPatterns, u.Host)
		}
	}
	return opts
}

// wsImplementation is gqlgen's coder/websocket adapter with a deadline on
// every write: gqlgen's own writes with no deadline, so a client that
// stops reading would hold the subscription's goroutine (and the
// connection's write lock) forever.
type wsImplementation struct {
	accept       coderws.AcceptOptions
	writeTimeout time.Duration
}

// Accept implements transport.WebsocketImplementation.
func (u wsImplementation) Accept(w http.ResponseWriter, r *http.Request, opts transport.WebsocketAcceptOptions) (transport.WebsocketConn, error) {
	for k, vs := range opts.ResponseHeader {
		for _, v := range vs {
			w.Header().Add(k, v)
		}
	}
	ao := u.accept
	ao.Subprotocols = append(ao.Subprotocols[:len(ao.Subprotocols):len(ao.Subprotocols)], opts.Subprotocols...)
	c, err := coderws.Accept(w, r, &ao)
	if err != nil {
		return nil, fmt.Errorf("websocket accept: %w", err)
	}
	return &wsConn{c: c, writeTimeout: u.writeTimeout}, nil
}

type wsConn struct {
	c            *coderws.Conn
	writeTimeout time.Duration
	closing      atomic.Bool
}

func (c *wsConn) NextReader() (int, io.Reader, error) {
	typ, data, err := c.c.Read(context.Background())
	if err != nil {
		switch coderws.CloseStatus(err) {
		case coderws.StatusNormalClosure, coderws.StatusNoStatusRcvd, coderws.StatusGoingAway:
			return int(typ), nil, transport.ErrWebsocketClosed
		}
		return int(typ), nil, err
	}
	return int(typ), bytes.NewReader(data), nil
}

func (c *wsConn) WriteJSON(v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), c.writeTimeout)
	defer cancel()
	return c.c.Write(ctx, coderws.MessageText, data)
}

// WriteClose starts the close handshake in the background: it waits (up
// to 5 s, coder/websocket's bound) for the peer's close frame, which a
// gone peer never sends.
func (c *wsConn) WriteClose(code int, msg string) error {
	if c.closing.Swap(true) {
		return nil
	}
	go func() { _ = c.c.Close(coderws.StatusCode(code), msg) }()
	return nil
}

func (c *wsConn) Close() error {
	if c.closing.Load() {
		return nil // the handshake's goroutine closes
	}
	return c.c.CloseNow()
}

func (c *wsConn) Subprotocol() string { return c.c.Subprotocol() }

func (c *wsConn) SetReadLimit(n int64) { c.c.SetReadLimit(n) }

// subscriptionSetup is whether subscriptions are on, and with what.
type subscriptionSetup struct{ on bool }

// enableSubscriptions turns subscriptions on in root unless cfg switches
// them off, with an in-process bus when cfg has none, and has the
// gateway's mutations publish their changes on the bus.
func enableSubscriptions(cfg *Config, root *resolvers.Resolver, gql *handler.Server) (subscriptionSetup, error) {
	if cfg.NoSubscriptions {
		return subscriptionSetup{}, nil
	}
	if cfg.Bus == nil {
		cfg.Bus = events.NewLocal()
	}
	l := cfg.Subscriptions
	err := root.EnableSubscriptions(resolvers.SubscriptionConfig{Bus: cfg.Bus, MaxPerConnection: l.PerConnection,
		MaxPerCredential: l.PerCredential, Queue: l.Queue, ConfirmTTL: l.ConfirmTTL, Now: l.Now})
	if err != nil {
		return subscriptionSetup{}, err
	}
	gql.AroundFields(root.PublishMutations(cfg.Bus, nil))
	if cfg.Webhooks != nil && cfg.Webhooks.Bus == nil {
		cfg.Webhooks.Bus = cfg.Bus // webhooks' changes reach the subscribers too
	}
	return subscriptionSetup{on: true}, nil
}

// handler returns the subscribing requests' handler, nil when
// subscriptions are off.
func (s subscriptionSetup) handler(a subscriptionAuth, reader *loaders.Reader, limits QueryLimits, cfg Config) http.Handler {
	if !s.on {
		return nil
	}
	return newSubscriptionHandler(a, reader, limits, cfg.Subscriptions, cfg.CORSOrigins, cfg.Introspection, cfg.Logger)
}

// flushWriter gives gqlgen's SSE transport the http.Flusher it needs
// through the middleware's wrappers (which only Unwrap).
type flushWriter struct{ http.ResponseWriter }

func (w flushWriter) Flush() { _ = http.NewResponseController(w.ResponseWriter).Flush() }

// Unwrap lets http.ResponseController reach the underlying writer.
func (w flushWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
