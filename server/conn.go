// This file holds connection hygiene (issue 10): a deadline by which a
// request's whole body must have arrived, a cap on the requests the
// GraphQL endpoint serves at once, and a listener that caps the
// connections one client address may hold open. The http.Server timeouts
// (ReadHeaderTimeout, IdleTimeout, WriteTimeout, MaxHeaderBytes) are set by
// the command that owns the server (cmd/gateway); these are the parts the
// handler and the listener can enforce.

package server

import (
	"errors"
	"net"
	"net/http"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ghl-graphql/gateway/auth"
	"github.com/ghl-graphql/gateway/errcode"
)

// Defaults of the connection limits.
const (
	// DefaultBodyReadTimeout is how long a request's body may take to
	// arrive, counted from when its headers were read. A GraphQL request is
	// a few KB; 15 s lets a 1 MiB body through at 70 KB/s.
	DefaultBodyReadTimeout = 15 * time.Second
	// DefaultMaxConcurrentRequests caps the GraphQL requests served at
	// once. Past it a request is answered 503 at once rather than queued.
	// Sized above the benchmark's 1,000 concurrent connections (cmd/bench),
	// which a 2-core box serves warm in well under 150 MB.
	DefaultMaxConcurrentRequests = 1024
	// DefaultMaxConnsPerClient caps the connections one client address (an
	// IPv4 address, or an IPv6 /64) may hold open at once: a browser opens
	// six, an office behind one NAT a few hundred.
	DefaultMaxConnsPerClient = 256
	// overloadRetryAfter is the Retry-After of a 503 for the request cap:
	// requests last tens of milliseconds when warm, so a slot is soon free.
	overloadRetryAfter = 1
)

// DefaultConnLimitExempt are the addresses the per-client connection cap
// does not apply to by default: loopback, where the peer is a reverse proxy
// on the same host (all of whose clients share its address) or a local
// benchmark.
var DefaultConnLimitExempt = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}

// withBodyDeadline makes the whole body of a request that has one arrive
// within d of its headers: the connection's read deadline is set before the
// handler reads. net/http clears it once the body has been read to its end
// (it does so before it starts watching the connection for the client's
// disconnect), so that the rest of the request (upstream calls, that
// watch) is bounded by the request timeout instead. A body that has not
// arrived by then fails to read (withBodyLimit answers 408), and a handler
// that never reads its body leaves the deadline in place, which bounds the
// server's drain of it. d <= 0 disables the deadline.
//
// Clearing the deadline again ourselves at the body's end, as a wrapper of
// the body did, cost a second timer update and an allocation per request
// for nothing: TestBodyReadDeadline holds a request past the deadline
// after its body is in, and uses the connection again after it.
func withBodyDeadline(d time.Duration, next http.Handler) http.Handler {
	if d <= 0 {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Body == nil || r.Body == http.NoBody || r.ContentLength == 0 {
			next.ServeHTTP(w, r)
			return
		}
		// A writer without a connection (a test's recorder) cannot take a
		// deadline; the request still runs.
		if set := readDeadliner(w); set != nil {
			_ = set.SetReadDeadline(time.Now().Add(d))
		}
		next.ServeHTTP(w, r)
	})
}

// deadliner is what sets a connection's read deadline: net/http's own
// ResponseWriter (what http.ResponseController calls).
type deadliner interface{ SetReadDeadline(time.Time) error }

// readDeadliner finds the deadliner under w's wrappers, as
// http.ResponseController does, without allocating; nil when none.
func readDeadliner(w http.ResponseWriter) deadliner {
	for {
		switch t := w.(type) {
		case deadliner:
			return t
		case interface{ Unwrap() http.ResponseWriter }:
			w = t.Unwrap()
		default:
			return nil
		}
	}
}

// isReadTimeout reports whether err is a body read that hit its deadline.
func isReadTimeout(err error) bool {
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return true
	}
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// writeBodyTimeout answers a request whose body did not arrive in time, and
// closes its connection: what is left of the body is not worth waiting for.
func writeBodyTimeout(w http.ResponseWriter, r *http.Request, d time.Duration) {
	w.Header().Set("Connection", "close")
	writeError(w, r, errcode.New(errcode.CodeRequestTimeout, "the request body did not arrive within %s", d))
}

// requestLimiter caps the requests a handler serves at once. The count is
// an atomic (a compare-and-swap to take a slot, an add to give it back):
// the channel of slots it replaced cost two locked channel operations per
// request on the warm path.
type requestLimiter struct {
	max      int64
	inFlight atomic.Int64
	// refused counts requests answered 503, for tests and logs.
	refused atomic.Int64
}

func newRequestLimiter(n int) *requestLimiter {
	return &requestLimiter{max: int64(n)}
}

// acquire takes a slot, unless all are taken.
func (l *requestLimiter) acquire() bool {
	for {
		n := l.inFlight.Load()
		if n >= l.max {
			return false
		}
		if l.inFlight.CompareAndSwap(n, n+1) {
			return true
		}
	}
}

// wrap returns next behind the cap: a request past it is answered 503 with
// Retry-After and an OVERLOADED error at once, never queued, so that a
// burst costs a refusal each rather than memory and goroutines without end.
func (l *requestLimiter) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !l.acquire() {
			l.refused.Add(1)
			writeError(w, r, errcode.New(errcode.CodeOverloaded,
				"the gateway is serving as many requests as it may at once; retry after %d s", overloadRetryAfter).
				With("retryAfter", overloadRetryAfter))
			return
		}
		defer l.inFlight.Add(-1)
		next.ServeHTTP(w, r)
	})
}

// ClientConnLimit configures LimitConnsPerClient.
type ClientConnLimit struct {
	// Max is the most connections one client may hold open at once; 0
	// means DefaultMaxConnsPerClient, a negative value no cap.
	Max int
	// Exempt are client addresses the cap does not apply to (a reverse
	// proxy's, loopback). nil means none.
	Exempt []netip.Prefix
}

// ConnLimitListener is a net.Listener that caps the connections each client
// address holds open: past the cap, a new connection is closed as soon as it
// is accepted, before a byte is read, so one host cannot take all of the
// gateway's connections. IPv4 clients are counted per address, IPv6 ones
// per /64 (what one subscriber is given). Its Accept returns only
// connections within the cap.
type ConnLimitListener struct {
	net.Listener
	max    int
	exempt []netip.Prefix

	mu   sync.Mutex
	open map[netip.Addr]int

	refused atomic.Int64
}

// LimitConnsPerClient wraps ln with the per-client connection cap.
func LimitConnsPerClient(ln net.Listener, cfg ClientConnLimit) *ConnLimitListener {
	if cfg.Max == 0 {
		cfg.Max = DefaultMaxConnsPerClient
	}
	return &ConnLimitListener{Listener: ln, max: cfg.Max, exempt: cfg.Exempt, open: map[netip.Addr]int{}}
}

// Accept returns the next connection within its client's cap, closing the
// ones past it.
func (l *ConnLimitListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		key, counted := l.clientKey(c.RemoteAddr())
		if !counted {
			return c, nil
		}
		l.mu.Lock()
		if l.open[key] >= l.max {
			l.mu.Unlock()
			l.refused.Add(1)
			_ = c.Close()
			continue
		}
		l.open[key]++
		l.mu.Unlock()
		return &countedConn{Conn: c, release: sync.OnceFunc(func() { l.release(key) })}, nil
	}
}

// clientKey is what a remote address is counted under; counted is false
// when the cap does not apply to it.
func (l *ConnLimitListener) clientKey(remote net.Addr) (key netip.Addr, counted bool) {
	if l.max < 0 {
		return netip.Addr{}, false
	}
	var addr netip.Addr
	switch a := remote.(type) {
	case *net.TCPAddr:
		addr = a.AddrPort().Addr().Unmap()
	default:
		ap, err := netip.ParseAddrPort(remote.String())
		if err != nil {
			return netip.Addr{}, false // not an IP peer (a unix socket): nothing to key on
		}
		addr = ap.Addr().Unmap()
	}
	for _, p := range l.exempt {
		if p.Contains(addr) {
			return netip.Addr{}, false
		}
	}
	if addr.Is6() {
		p, _ := addr.Prefix(64)
		return p.Addr(), true
	}
	return addr, true
}

func (l *ConnLimitListener) release(key netip.Addr) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.open[key]--; l.open[key] <= 0 {
		delete(l.open, key) // an idle client costs no memory
	}
}

// Refused returns how many connections were closed for being past the cap.
func (l *ConnLimitListener) Refused() int64 { return l.refused.Load() }

// Open returns how many connections addr's client holds open.
func (l *ConnLimitListener) Open(addr netip.Addr) int {
	key, counted := l.clientKey(&net.TCPAddr{IP: addr.AsSlice()})
	if !counted {
		return 0
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.open[key]
}

// countedConn gives its slot back when it is closed (once, however often
// Close is called).
type countedConn struct {
	net.Conn
	release func()
}

func (c *countedConn) Close() error {
	err := c.Conn.Close()
	c.release()
	return err
}

// connSettings are Config's connection and credential settings with their
// defaults applied.
type connSettings struct {
	BodyReadTimeout      time.Duration
	MaxTokenBytes        int
	MaxLocationIDBytes   int
	CredentialCacheBytes int
	limiter              *requestLimiter // nil: no cap
}

// connDefaults applies the defaults of cfg's connection settings.
func (cfg Config) connDefaults() connSettings {
	s := connSettings{BodyReadTimeout: cfg.BodyReadTimeout, MaxTokenBytes: cfg.MaxTokenBytes,
		MaxLocationIDBytes: cfg.MaxLocationIDBytes, CredentialCacheBytes: cfg.CredentialCacheBytes}
	if s.BodyReadTimeout == 0 {
		s.BodyReadTimeout = DefaultBodyReadTimeout
	}
	if s.MaxTokenBytes <= 0 {
		s.MaxTokenBytes = auth.DefaultMaxTokenBytes
	}
	if s.MaxLocationIDBytes <= 0 {
		s.MaxLocationIDBytes = DefaultMaxLocationIDBytes
	}
	if s.CredentialCacheBytes <= 0 {
		s.CredentialCacheBytes = DefaultCredentialCacheBytes
	}
	switch n := cfg.MaxConcurrentRequests; {
	case n == 0:
		s.limiter = newRequestLimiter(DefaultMaxConcurrentRequests)
	case n > 0:
		s.limiter = newRequestLimiter(n)
	}
	return s
}

// limit puts next behind the concurrent-request cap, if any.
func (s connSettings) limit(next http.Handler) http.Handler {
	if s.limiter == nil {
		return next
	}
	return s.limiter.wrap(next)
}
