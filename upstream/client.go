// Package upstream is a typed client for HighLevel's Contacts REST API v2
// (https://services.leadconnectorhq.com). One service per resource hangs off
// Client; every call goes through Client.Do, which sets the headers, escapes
// the path, applies the timeout, caps and decodes the answer, and turns every
// failure into an *Error. Do is also where the client behaves as a good
// citizen of the upstream: it waits for the location's rate budget
// (budget.go), repeats what may safely be repeated (retry.go), and stops
// calling a host that keeps failing (breaker.go).
package upstream

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	"golang.org/x/oauth2"
)

const (
	// DefaultBaseURL is HighLevel's API host.
	DefaultBaseURL = "https://services.leadconnectorhq.com/"
	// APIVersion is sent in the Version header of every call.
	APIVersion = "2021-07-28"
	// DefaultTimeout bounds one call when no other timeout is configured.
	DefaultTimeout = 30 * time.Second
	// DefaultMaxResponseBytes caps a successful answer. The largest legitimate
	// answer, a search page of 500 contacts, stays well below it.
	DefaultMaxResponseBytes = 16 << 20
	// maxErrorBodyBytes caps an error answer: only its message is of use.
	maxErrorBodyBytes = 1 << 20
	defaultUserAgent  = "ghl-graphql-gateway"
)

// Client calls the Contacts API. It is safe for concurrent use.
type Client struct {
	httpClient *http.Client
	baseURL    *url.URL
	tokens     oauth2.TokenSource
	timeout    time.Duration
	maxBody    int64
	userAgent  string
	logger     *slog.Logger
	now        func() time.Time
	budget     RateBudget
	retry      RetryPolicy
	breaker    *breaker
	obs        Observer // metrics (metrics.go); nil when none
	// jitter draws a backoff from [0, ceiling]; tests replace it.
	jitter func(ceiling time.Duration) time.Duration
	// callTracer, when not nil, wraps each call (calltrace.go).
	callTracer CallTracer

	// Contacts covers contacts and their tags, followers, search and business look-ups.
	Contacts *ContactsService
	// Tasks covers a contact's tasks.
	Tasks *TasksService
	// Notes covers a contact's notes.
	Notes *NotesService
	// Appointments covers a contact's appointments.
	Appointments *AppointmentsService
	// Campaigns adds contacts to and removes them from campaigns.
	Campaigns *CampaignsService
	// Workflows adds contacts to and removes them from workflows.
	Workflows *WorkflowsService
	// Bulk updates tags and businesses of many contacts at once.
	Bulk *BulkService
}

type service struct{ client *Client }

// Option configures a Client.
type Option func(*Client) error

// WithBaseURL sets the API host, e.g. the sandbox's URL. A path prefix is kept.
func WithBaseURL(raw string) Option {
	return func(c *Client) error {
		u, err := url.Parse(raw)
		if err != nil {
			return fmt.Errorf("base URL %q: %w", raw, err)
		}
		if u.Scheme != "http" && u.Scheme != "https" {
			return fmt.Errorf("base URL %q: scheme must be http or https", raw)
		}
		if u.Host == "" {
			return fmt.Errorf("base URL %q: no host", raw)
		}
		if u.RawQuery != "" || u.ForceQuery || u.Fragment != "" || u.User != nil {
			return fmt.Errorf("base URL %q: must not carry a query, fragment or user info", raw)
		}
		if !strings.HasSuffix(u.Path, "/") {
			u.Path += "/"
			if u.RawPath != "" {
				u.RawPath += "/"
			}
		}
		c.baseURL = u
		return nil
	}
}

// WithHTTPClient sets the HTTP client; its transport is where tracing can be
// layered. Retries, rate budgets and the circuit breaker belong to Do
// (WithRetryPolicy, WithRateBudget, WithCircuitBreaker), which knows which
// calls may be repeated.
func WithHTTPClient(hc *http.Client) Option {
	return func(c *Client) error {
		if hc == nil {
			return errors.New("nil HTTP client")
		}
		c.httpClient = hc
		return nil
	}
}

// WithTokenSource sets the credential used when a call's context carries none
// (see ContextWithTokenSource). A gateway that holds one install's tokens sets it here.
func WithTokenSource(ts oauth2.TokenSource) Option {
	return func(c *Client) error { c.tokens = ts; return nil }
}

// WithTimeout bounds each call; 0 leaves only the context's deadline.
func WithTimeout(d time.Duration) Option {
	return func(c *Client) error {
		if d < 0 {
			return fmt.Errorf("timeout %v: must not be negative", d)
		}
		c.timeout = d
		return nil
	}
}

// WithMaxResponseBytes caps the size of a successful answer.
func WithMaxResponseBytes(n int64) Option {
	return func(c *Client) error {
		if n <= 0 {
			return fmt.Errorf("max response bytes %d: must be positive", n)
		}
		c.maxBody = n
		return nil
	}
}

// WithUserAgent sets the User-Agent header.
func WithUserAgent(ua string) Option {
	return func(c *Client) error { c.userAgent = ua; return nil }
}

// WithLogger sets the logger; calls are logged at debug level, without tokens.
func WithLogger(l *slog.Logger) Option {
	return func(c *Client) error {
		if l != nil {
			c.logger = l
		}
		return nil
	}
}

// NewClient returns a client for the Contacts API at DefaultBaseURL unless
// WithBaseURL says otherwise.
func NewClient(opts ...Option) (*Client, error) {
	c := &Client{
		timeout:   DefaultTimeout,
		maxBody:   DefaultMaxResponseBytes,
		userAgent: defaultUserAgent,
		logger:    slog.New(slog.DiscardHandler),
		now:       time.Now,
		retry:     RetryPolicy{MaxAttempts: 1},
		jitter:    fullJitter,
	}
	if err := WithBaseURL(DefaultBaseURL)(c); err != nil {
		return nil, err
	}
	for _, opt := range opts {
		if err := opt(c); err != nil {
			return nil, fmt.Errorf("upstream: %w", err)
		}
	}
	if c.httpClient == nil {
		c.httpClient = NewHTTPClient()
	}
	s := &service{client: c}
	c.Contacts = (*ContactsService)(s)
	c.Tasks = (*TasksService)(s)
	c.Notes = (*NotesService)(s)
	c.Appointments = (*AppointmentsService)(s)
	c.Campaigns = (*CampaignsService)(s)
	c.Workflows = (*WorkflowsService)(s)
	c.Bulk = (*BulkService)(s)
	return c, nil
}

// NewTransport returns an HTTP transport sized for a gateway: many concurrent
// calls to one host, so many idle connections kept per host.
func NewTransport() *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConns = 512
	t.MaxIdleConnsPerHost = 256
	t.IdleConnTimeout = 90 * time.Second
	t.ResponseHeaderTimeout = 0 // the per-call context deadline governs
	return t
}

// NewHTTPClient returns the HTTP client NewClient uses by default: the
// NewTransport transport, and no redirects followed, since the API never
// redirects and a redirect could carry a request body to another host.
func NewHTTPClient() *http.Client {
	return &http.Client{
		Transport:     NewTransport(),
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// BaseURL returns the API host the client calls.
func (c *Client) BaseURL() string { return c.baseURL.String() }

type tokenSourceKey struct{}

// ContextWithTokenSource returns a context whose calls authenticate with ts,
// overriding the client's own token source. Pass-through mode uses it to send
// each client's bearer token.
func ContextWithTokenSource(ctx context.Context, ts oauth2.TokenSource) context.Context {
	return context.WithValue(ctx, tokenSourceKey{}, ts)
}

// Refresher is implemented by a token source that can replace a token the
// upstream refused. When an attempt answers 401 for a bad credential (not a
// missing scope), Do calls Refresh once with the token it sent, takes a new
// token from the source and repeats the call once; see Do.
type Refresher interface {
	// Refresh replaces stale, the token the upstream refused, so that the
	// source's next Token is a new one. Concurrent calls with the same stale
	// token should cause one refresh.
	Refresh(ctx context.Context, stale *oauth2.Token) error
}

// TokenSourceFromContext returns the token source set by ContextWithTokenSource.
func TokenSourceFromContext(ctx context.Context) (oauth2.TokenSource, bool) {
	ts, ok := ctx.Value(tokenSourceKey{}).(oauth2.TokenSource)
	return ts, ok && ts != nil
}

// Request is a call ready to be sent by Do.
type Request struct {
	// Op is the operation called, as this request makes it: NewRequest
	// clears Op.Idempotent when the body makes a repeatable operation a
	// create (an upsert with CreateNewIfDuplicateAllowed, or without the
	// email and phone it matches by). Do decides retries from it.
	Op Operation
	// Method, Path (escaped) and Query make up the URL below the base URL.
	Method, Path string
	Query        url.Values
	// Body is the encoded JSON body; nil for none.
	Body []byte
}

// Response describes a successful answer.
type Response struct {
	// StatusCode is the HTTP status.
	StatusCode int
	// Header holds the answer's headers.
	Header http.Header
	// Rate holds the parsed rate-limit headers.
	Rate Rate
	// BodyBytes is the size of the answer's body, e.g. to weigh a cache entry.
	BodyBytes int
	// LocationID is the location the answer's data belongs to, when the
	// answer names one (a contact's locationId); "" otherwise.
	LocationID string
}

// NewRequest builds the request for op. params fill the path template's
// placeholders in order; each is refused when empty, a dot segment or a
// literal segment of any route (LiteralSegments, e.g. "removeAll"), and
// escaped so that it stays one path segment whatever it holds. body, when not
// nil, is encoded as JSON.
func (c *Client) NewRequest(op Operation, params []string, query url.Values, body any) (*Request, error) {
	path, err := expandPath(op, params)
	if err != nil {
		return nil, err
	}
	req := &Request{Op: op, Method: op.Method, Path: path, Query: query}
	if r, ok := body.(repeatable); ok && !r.repeatable() {
		// This body makes the call a create (an upsert that may add a
		// duplicate): Do must not repeat it once it may have been sent.
		req.Op.Idempotent = false
	}
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, invalidInput(op, "encode body: %v", err)
		}
		req.Body = b
	}
	return req, nil
}

// expandPath fills the template's {placeholders} with escaped params.
func expandPath(op Operation, params []string) (string, error) {
	var b strings.Builder
	rest := op.Path
	i := 0
	for {
		open := strings.IndexByte(rest, '{')
		if open < 0 {
			b.WriteString(rest)
			break
		}
		end := strings.IndexByte(rest[open:], '}')
		if end < 0 {
			return "", invalidInput(op, "bad path template %q", op.Path)
		}
		name := rest[open+1 : open+end]
		if i >= len(params) {
			return "", invalidInput(op, "missing %s", name)
		}
		p := params[i]
		switch p {
		case "":
			return "", invalidInput(op, "%s must not be empty", name)
		case ".", "..":
			return "", invalidInput(op, "%s %q is not a valid ID", name, p)
		}
		if isLiteralSegment(p) {
			// It would reach a sibling route: campaignId "removeAll"
			// removes the contact from every campaign.
			return "", invalidInput(op, "%s %q is a path segment of another route, not an ID", name, p)
		}
		b.WriteString(rest[:open])
		b.WriteString(url.PathEscape(p))
		rest = rest[open+end+1:]
		i++
	}
	if i != len(params) {
		return "", invalidInput(op, "%d path parameters given, %d expected", len(params), i)
	}
	return b.String(), nil
}

// Do sends req and decodes a successful JSON answer into v (when v is not
// nil). Every failure is an *Error; a context cancelled before or during an
// attempt yields an *Error that wraps ctx.Err() (cancelled while waiting to
// retry, the last attempt's error).
//
// Do first asks the circuit breakers of the context's key
// (ContextWithBudgetKey) and of the host: an open one fails the call at once
// with ErrUnavailable. Before each attempt it waits for a slot of the key's
// rate budget, and reports each answer to it; the breakers are told how the
// whole call went, once. A failure whose error is Retryable is tried again
// as the RetryPolicy allows, only when the backoff and a useful attempt
// (RetryPolicy.MinAttempt) fit before ctx's deadline; each attempt is
// bounded by the client's timeout and by that deadline. The error returned
// describes the last attempt, with Attempts counting them all.
//
// A 401 for a bad credential (ErrUnauthorized, not the scope refusal that is
// ErrForbidden) from a token source that implements Refresher leads to one
// Refresh with the token sent and one immediate repeat with the new token;
// that repeat does not count against the RetryPolicy's attempts. If the
// refresh fails, its error is returned (wrapped with ErrUnauthorized); a
// second 401 is returned as it is.
//
// A call the context's CallGate (ContextWithCallGate) refuses fails at once.
// How the call ended, after its last attempt, is reported to the context's
// CallObserver (ContextWithCallObserver), if any.
func (c *Client) Do(ctx context.Context, req *Request, v any) (out *Response, outErr error) {
	op := req.Op
	ctx, traced := c.traceCall(ctx, op)
	if traced != nil {
		defer func() { traced(out, outErr) }()
	}
	fail := func(e *Error) (*Response, error) {
		e.Op, e.Method, e.Path = op.ID, req.Method, req.Path
		e.write, e.writeKnown = op.Write, true
		observe(ctx, op, nil, e)
		return nil, e
	}
	if e := gateCall(ctx); e != nil {
		return fail(e)
	}

	ts, ok := TokenSourceFromContext(ctx)
	if !ok {
		ts = c.tokens
	}
	if ts == nil {
		return fail(&Error{Err: fmt.Errorf("%w: no credential for the call", ErrUnauthorized), Retryable: false})
	}
	tok, err := ts.Token()
	if err != nil {
		return fail(&Error{Err: fmt.Errorf("%w: obtain token: %w", ErrUnauthorized, err)})
	}
	if tok == nil || tok.AccessToken == "" {
		return fail(&Error{Err: fmt.Errorf("%w: empty access token", ErrUnauthorized)})
	}

	key := BudgetKeyFromContext(ctx)
	// The breakers are asked once per call and told its verdict once, when
	// it ends: a call that succeeded on a retry is a success (see breaker.go).
	var ticket breakerTicket
	verdict := breakerNeutral
	if c.breaker != nil {
		t, refused := c.breaker.allow(key)
		if refused != nil {
			return fail(refused)
		}
		ticket = t
		defer func() { c.breaker.record(ticket, verdict) }()
	}
	var (
		last     *Error
		attempts int
		// sent: some attempt may have reached the upstream. unknown: some
		// earlier attempt of a write may have been carried out.
		sent, unknown bool
		// refreshed: the credential was refreshed after a 401, which is
		// done once per call. again: the next attempt follows the refresh
		// at once, outside the retry policy.
		refreshed, again bool
		// bonus is the number of attempts granted beyond the policy's.
		bonus int
	)
	for {
		if again {
			again = false
			resetTarget(v)
		} else if last != nil {
			if !last.Retryable || attempts >= c.retry.MaxAttempts+bonus {
				break
			}
			// A probe has one attempt, and retries stop when the tenant's
			// or the host's circuit opens.
			if c.breaker != nil && !c.breaker.retryAllowed(ticket) {
				break
			}
			delay := c.backoff(attempts, last.RetryAfter)
			if !c.retryFits(ctx, delay) {
				break
			}
			c.logger.DebugContext(ctx, "upstream retry", "op", op.ID, "attempt", attempts+1,
				"delay", delay, "status", last.StatusCode, "cause", last.Err)
			if !sleepCtx(ctx, delay) {
				break
			}
			if c.obs != nil {
				c.obs.Retry(op)
			}
			resetTarget(v)
		}

		if c.budget != nil {
			var waitStart time.Time
			if c.obs != nil {
				waitStart = time.Now()
			}
			err := c.budget.Wait(ctx, key)
			if c.obs != nil {
				c.obs.BudgetWait(key, time.Since(waitStart), err != nil)
			}
			if err != nil {
				if last != nil {
					break
				}
				return fail(budgetWaitError(err))
			}
		}

		attempts++
		var attemptStart time.Time
		if c.obs != nil {
			attemptStart = time.Now()
		}
		resp, e := c.attempt(ctx, req, tok.AccessToken, v)
		if c.obs != nil {
			c.obs.Attempt(op, attemptStatus(resp, e), time.Since(attemptStart))
		}
		if c.budget != nil {
			if e == nil {
				c.budget.Observe(key, resp.Rate, resp.StatusCode, 0)
			} else if e.StatusCode != 0 {
				c.budget.Observe(key, e.Rate, e.StatusCode, e.RetryAfter)
			} else {
				c.budget.Observe(key, unknownRate, 0, 0)
			}
		}
		if v := breakerVerdict(e); v != breakerNeutral {
			verdict = v
		}
		if e == nil {
			observe(ctx, op, resp, nil)
			return resp, nil
		}
		e.Op, e.Method, e.Path = op.ID, req.Method, req.Path
		e.write, e.writeKnown = op.Write, true
		if last != nil && last.attemptOutcome() != WriteNotApplied {
			unknown = true
		}
		sent = sent || e.RequestSent
		last = e

		if r, ok := ts.(Refresher); ok && !refreshed && e.StatusCode == http.StatusUnauthorized &&
			errors.Is(e.Err, ErrUnauthorized) && (op.Idempotent || !unknown) {
			refreshed = true
			next, rerr := c.refreshToken(ctx, r, ts, tok)
			if rerr != nil {
				// The upstream's "Invalid JWT" says less than why no new
				// token could be had (e.g. the install needs consent again).
				last.Messages = nil
				last.Err = fmt.Errorf("%w: refresh after 401: %w", ErrUnauthorized, rerr)
				break
			}
			c.logger.DebugContext(ctx, "upstream 401: credential refreshed, repeating the call", "op", op.ID)
			tok, again = next, true
			bonus++
		}
	}

	last.Attempts = attempts
	if last.write {
		last.outcome = last.attemptOutcome()
		if unknown && last.outcome == WriteNotApplied {
			last.outcome = WriteUnknown
		}
	}
	last.RequestSent = sent
	// A write that is not idempotent and may have been carried out must
	// never be repeated, whatever the last attempt said.
	last.Retryable = last.Retryable && (op.Idempotent || !unknown)
	return fail(last)
}

// refreshToken asks r to replace stale and returns the source's new token.
func (c *Client) refreshToken(ctx context.Context, r Refresher, ts oauth2.TokenSource, stale *oauth2.Token) (*oauth2.Token, error) {
	if err := r.Refresh(ctx, stale); err != nil {
		return nil, err
	}
	tok, err := ts.Token()
	if err != nil {
		return nil, fmt.Errorf("obtain token: %w", err)
	}
	if tok == nil || tok.AccessToken == "" {
		return nil, errors.New("empty access token")
	}
	return tok, nil
}

// unknownRate is the Rate of an attempt that got no answer.
var unknownRate = Rate{Max: -1, Remaining: -1, Interval: -1, DailyLimit: -1, DailyRemaining: -1}

// budgetWaitError makes the error of a refused budget wait an *Error, even
// when a RateBudget of another package returned something else.
func budgetWaitError(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		e.RequestSent = false
		return e
	}
	return &Error{Err: fmt.Errorf("%w: %w", ErrRateLimited, err)}
}

// breakerVerdict says what an attempt's outcome tells about the upstream's
// health: transport failures, timeouts and 5xx count against it; any answer
// below 500 (a 404, a 429, even a malformed body) shows it alive; the
// caller's cancellation, or a request that could not be built, says nothing.
// A call's verdict is that of its last attempt that said something.
func breakerVerdict(e *Error) breakerResult {
	switch {
	case e == nil:
		return breakerSuccess
	case errors.Is(e.Err, context.Canceled):
		return breakerNeutral
	case e.StatusCode >= 500, errors.Is(e.Err, ErrTimeout), errors.Is(e.Err, ErrConnection):
		return breakerFailure
	case e.StatusCode == 0:
		return breakerNeutral
	}
	return breakerSuccess
}

// attempt makes one exchange with the upstream, under the per-call timeout.
// The returned error lacks Op, Method and Path, which Do fills in.
func (c *Client) attempt(ctx context.Context, req *Request, token string, v any) (*Response, *Error) {
	op := req.Op
	ctx, cancel := c.attemptContext(ctx)
	defer cancel()

	u := c.baseURL.String() + strings.TrimPrefix(req.Path, "/")
	if len(req.Query) > 0 {
		u += "?" + req.Query.Encode()
	}
	var body io.Reader
	if req.Body != nil {
		body = bytes.NewReader(req.Body)
	}
	hreq, err := http.NewRequestWithContext(ctx, req.Method, u, body)
	if err != nil {
		return nil, &Error{Err: fmt.Errorf("%w: build request: %w", ErrInvalidInput, err)}
	}
	hreq.Header.Set("Authorization", "Bearer "+token)
	hreq.Header.Set("Version", APIVersion)
	hreq.Header.Set("Accept", "application/json")
	if req.Body != nil {
		hreq.Header.Set("Content-Type", "application/json")
	}
	if c.userAgent != "" {
		hreq.Header.Set("User-Agent", c.userAgent)
	}

	// Whether any byte of the request may have left: it decides whether a
	// failed write can be repeated without risk of doing it twice.
	var wrote atomic.Bool
	trace := &httptrace.ClientTrace{
		WroteHeaderField: func(string, []string) { wrote.Store(true) },
		WroteRequest:     func(httptrace.WroteRequestInfo) { wrote.Store(true) },
	}
	hreq = hreq.WithContext(httptrace.WithClientTrace(ctx, trace))

	start := c.now()
	resp, err := c.httpClient.Do(hreq)
	if err != nil {
		e := transportError(ctx, err, wrote.Load())
		e.Retryable = e.Retryable && (op.Idempotent || !e.RequestSent)
		c.logger.DebugContext(ctx, "upstream call failed", "op", op.ID, "err", e.Err, "duration", c.now().Sub(start))
		return nil, e
	}
	defer resp.Body.Close()

	rate := ParseRate(resp.Header)
	success := resp.StatusCode >= 200 && resp.StatusCode < 300
	limit := int64(maxErrorBodyBytes)
	if success {
		limit = c.maxBody
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		e := transportError(ctx, err, true)
		e.StatusCode, e.Rate = resp.StatusCode, rate
		// The upstream answered, so a write has been carried out even though
		// its answer was lost: only idempotent calls may be repeated.
		e.Retryable = e.Retryable && op.Idempotent
		return nil, e
	}
	c.logger.DebugContext(ctx, "upstream call", "op", op.ID, "status", resp.StatusCode, "duration", c.now().Sub(start))

	if !success {
		if int64(len(data)) > limit {
			data = data[:limit]
		}
		return nil, c.statusError(op, resp, data, rate)
	}
	// A 2xx whose body cannot be read: a read may be asked again (the
	// answer was probably cut); a write was carried out, so it must not.
	malformed := func(retryable bool, format string, args ...any) *Error {
		return &Error{StatusCode: resp.StatusCode, Rate: rate, RequestSent: true, Retryable: retryable && !op.Write,
			Err: fmt.Errorf("%w: "+format, append([]any{ErrMalformedResponse}, args...)...)}
	}
	if int64(len(data)) > limit {
		// The same call would bring the same oversize answer again.
		return nil, malformed(false, "body exceeds %d bytes", limit)
	}
	if v != nil {
		if len(bytes.TrimSpace(data)) == 0 {
			return nil, malformed(true, "empty body")
		}
		if err := json.Unmarshal(data, v); err != nil {
			return nil, malformed(true, "%w", err)
		}
		if env, ok := v.(envelope); ok {
			if field := env.missingField(); field != "" {
				return nil, malformed(true, "answer has no %q", field)
			}
		}
	}
	out := &Response{StatusCode: resp.StatusCode, Header: resp.Header, Rate: rate, BodyBytes: len(data)}
	if la, ok := v.(locatedAnswer); ok {
		out.LocationID = la.answerLocation()
	}
	return out, nil
}

// attemptContext bounds one attempt by the smaller of the client's timeout
// and the time left before ctx's deadline (a derived context's deadline is
// the earlier of the two), so that no attempt outlives its call.
func (c *Client) attemptContext(ctx context.Context) (context.Context, context.CancelFunc) {
	if c.timeout <= 0 {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, c.timeout)
}

// transportError classifies a failure that left no HTTP status.
func transportError(ctx context.Context, err error, sent bool) *Error {
	e := &Error{RequestSent: sent, Retryable: true}
	err = redactURL(err)
	var netErr net.Error
	switch {
	case errors.Is(ctx.Err(), context.Canceled):
		// The caller gave up; repeating is pointless.
		e.Err, e.Retryable = ctx.Err(), false
	case errors.Is(ctx.Err(), context.DeadlineExceeded), errors.Is(err, context.DeadlineExceeded):
		e.Err = fmt.Errorf("%w: %w", ErrTimeout, context.DeadlineExceeded)
	case errors.As(err, &netErr) && netErr.Timeout():
		e.Err = fmt.Errorf("%w: %w", ErrTimeout, err)
	default:
		e.Err = fmt.Errorf("%w: %w", ErrConnection, err)
	}
	return e
}

// redactURL removes the query string from the URL a *url.Error names: it
// may carry personal data (the duplicate look-up sends email and phone).
func redactURL(err error) error {
	var ue *url.Error
	if !errors.As(err, &ue) {
		return err
	}
	u, perr := url.Parse(ue.URL)
	if perr != nil {
		return &url.Error{Op: ue.Op, URL: "(unparsable URL)", Err: ue.Err}
	}
	u.RawQuery, u.ForceQuery, u.Fragment = "", false, ""
	return &url.Error{Op: ue.Op, URL: u.String(), Err: ue.Err}
}

// errorBody is HighLevel's error answer: message is a string, or a list of
// strings for 422.
type errorBody struct {
	StatusCode int             `json:"statusCode"`
	Message    json.RawMessage `json:"message"`
	Error      string          `json:"error"`
}

// statusError builds the error for a non-2xx answer.
func (c *Client) statusError(op Operation, resp *http.Response, data []byte, rate Rate) *Error {
	e := &Error{StatusCode: resp.StatusCode, Rate: rate, RequestSent: true}
	var eb errorBody
	if json.Unmarshal(data, &eb) == nil {
		var one string
		var many []string
		switch {
		case json.Unmarshal(eb.Message, &one) == nil && one != "":
			e.Messages = []string{one}
		case json.Unmarshal(eb.Message, &many) == nil && len(many) > 0:
			e.Messages = many
		case eb.Error != "":
			e.Messages = []string{eb.Error}
		}
	}
	kind := kindForStatus(resp.StatusCode)
	if resp.StatusCode == http.StatusUnauthorized && isScopeRefusal(e.Messages) {
		// HighLevel answers a valid token that lacks a scope with 401; it is
		// a permission problem, not a bad credential.
		kind = ErrForbidden
	}
	if kind == nil {
		kind = fmt.Errorf("unexpected status %d", resp.StatusCode)
	}
	e.Err = kind
	switch {
	case resp.StatusCode == http.StatusTooManyRequests:
		// A 429 is refused before any work, so any call may be repeated.
		e.Retryable = true
		e.RetryAfter = ParseRetryAfter(resp.Header.Get("Retry-After"), c.now())
	case resp.StatusCode >= 500:
		e.Retryable = op.Idempotent
		e.RetryAfter = ParseRetryAfter(resp.Header.Get("Retry-After"), c.now())
	}
	return e
}

// call is the one path every service method takes: build, send, decode.
func (c *Client) call(ctx context.Context, op Operation, params []string, query url.Values, body, v any) (*Response, error) {
	req, err := c.NewRequest(op, params, query, body)
	if err != nil {
		return nil, err
	}
	return c.Do(ctx, req, v)
}

// repeatable is implemented by request bodies that can make an idempotent
// operation a create: sending them twice may do the write twice.
type repeatable interface {
	// repeatable reports whether sending the body twice has the effect of
	// sending it once.
	repeatable() bool
}

// envelope is implemented by answer types whose payload must be present: a
// get-contact answer without "contact" is an error, never a zero value.
type envelope interface {
	// missingField names the required field that the answer lacks, or "".
	missingField() string
}

// isScopeRefusal reports whether a 401's messages say the token lacks a
// scope ("The token is not authorized for this scope.").
func isScopeRefusal(msgs []string) bool {
	for _, m := range msgs {
		if strings.Contains(strings.ToLower(m), "not authorized for this scope") {
			return true
		}
	}
	return false
}
