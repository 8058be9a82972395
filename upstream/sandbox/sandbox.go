// Package sandbox is an in-process implementation of HighLevel's Contacts API
// v2: the gateway's embedded default upstream (so the product can be tried
// without a HighLevel account) and the upstream of every test and benchmark.
//
// It speaks the API's JSON through its own types, written from the OpenAPI
// file (wire.go) and never shared with package upstream's client, serves the
// 32 routes of upstream.Operations() with the API's envelopes, status codes
// and error bodies, and keeps real semantics over deterministic seed data. Knobs for
// latency, rate limits and faults let tests drive the gateway's failure paths.
//
// This file holds the configuration, the Server and its request pipeline:
// route → auth → rate limit → latency → fault → handle. HighLevel's OAuth
// token endpoint (POST /oauth/token) lives in oauth.go.
package sandbox

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ghl-graphql/gateway/upstream"
)

// The scopes a token can carry.
const (
	// ScopeContactsRead allows every read (every GET and POST /contacts/search).
	ScopeContactsRead = "contacts.readonly"
	// ScopeContactsWrite allows every operation, reads included.
	ScopeContactsWrite = "contacts.write"
)

// Defaults applied by New to zero Config fields.
const (
	// DefaultSeed is the seed when Config.Seed is 0.
	DefaultSeed = 1
	// DefaultLocations is the number of locations when Config.Locations is 0.
	DefaultLocations = 2
	// DefaultContactsPerLocation is the number of seeded contacts per
	// location when Config.ContactsPerLocation is 0.
	DefaultContactsPerLocation = 250
	// DefaultSlowDelay is FaultSlow's wait when Faults.SlowDelay is 0.
	DefaultSlowDelay = 5 * time.Second
)

// Bounds that keep a mistyped flag from seeding gigabytes of data.
const (
	maxLocations           = 1000
	maxContactsPerLocation = 1_000_000
)

// ErrInvalidConfig is wrapped by every error New returns for a bad Config.
var ErrInvalidConfig = errors.New("sandbox: invalid config")

// Config configures a Server. The zero value is valid: every field has a default.
type Config struct {
	// Seed drives the data, the IDs, the tokens and the fault and jitter
	// draws: the same seed gives the same data, IDs and tokens. 0 means 1.
	Seed int64
	// Locations is the number of locations (sub-accounts); 0 means 2.
	Locations int
	// ContactsPerLocation is the number of seeded contacts per location; 0 means 250.
	ContactsPerLocation int
	// Latency and Jitter: each authorised answer waits Latency ± a uniform
	// draw of Jitter (never below 0). A cancelled request stops waiting.
	Latency, Jitter time.Duration
	// RateLimit bounds calls per location; the zero value is unlimited.
	RateLimit RateLimit
	// Faults makes a share of requests fail; the zero value injects none.
	Faults Faults
	// Now is the clock for the dates that writes record and for the rate
	// limit's windows; nil means time.Now.
	Now func() time.Time
	// StrictListItems makes search and listing answers (search, the
	// business listing, the deprecated listing) carry only the fields of
	// the spec's ContactsSearchSchema: id, locationId, email, timezone,
	// country, source, dateAdded, customFields, tags, businessId,
	// attributions, followers (and a search hit's searchAfter); no name,
	// no phone. Off by default: the full contacts are what the gateway
	// shows today.
	StrictListItems bool
	// AccessTokenLifetime is how long the OAuth token endpoint's access
	// tokens work; 0 means DefaultAccessTokenLifetime.
	AccessTokenLifetime time.Duration
}

// RateLimit bounds the calls of each location, like HighLevel's per-location
// limits (Max 100 per Interval 10s, Daily 200,000). Zero fields are unlimited.
type RateLimit struct {
	// Max is the number of calls allowed per Interval; 0 is unlimited.
	Max int
	// Interval is the burst window; 0 means 10 seconds when Max is set.
	Interval time.Duration
	// Daily is the number of calls allowed per UTC day; 0 is unlimited.
	Daily int
}

// tokenInfo is what a bearer token grants.
type tokenInfo struct {
	location    string
	read, write bool
	// expires is when the token stops working; zero for never (Private
	// Integration Tokens and the seed-derived AccessToken tokens, which
	// start-up banners print and tests hold for a whole run).
	expires time.Time
}

// Server is the sandbox. It implements http.Handler and is safe for
// concurrent use; every accessor returns copies, never internal state.
type Server struct {
	seed   int64
	now    func() time.Time
	store  *store
	router *router

	// calls and applied hold one counter per operation ID; the maps are
	// fixed at New, so only the counters change.
	calls, applied map[string]*atomic.Int64

	tokMu        sync.Mutex
	tokens       map[string]tokenInfo
	defaultToken string

	knobMu  sync.Mutex
	latency time.Duration
	jitter  time.Duration
	faults  Faults
	// faultsInjected counts the faults drawn since the faults were set,
	// for Faults.Max.
	faultsInjected int
	// rng draws jitter and faults; it is seeded so that a run can be replayed.
	rng *rand.Rand

	limiter *limiter

	// strictLists is Config.StrictListItems, changeable at run time.
	strictLists atomic.Bool

	// oauth is the state of the OAuth token endpoint (oauth.go).
	oauth *oauthServer

	// hooks is the webhook delivery (webhooks.go); nil when off.
	hooks atomic.Pointer[webhooks]
}

// New validates cfg, seeds the data and returns a Server.
func New(cfg Config) (*Server, error) {
	if cfg.Seed == 0 {
		cfg.Seed = DefaultSeed
	}
	if cfg.Locations == 0 {
		cfg.Locations = DefaultLocations
	}
	if cfg.ContactsPerLocation == 0 {
		cfg.ContactsPerLocation = DefaultContactsPerLocation
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	switch {
	case cfg.Locations < 0 || cfg.Locations > maxLocations:
		return nil, fmt.Errorf("%w: locations %d outside 1..%d", ErrInvalidConfig, cfg.Locations, maxLocations)
	case cfg.ContactsPerLocation < 0 || cfg.ContactsPerLocation > maxContactsPerLocation:
		return nil, fmt.Errorf("%w: contacts per location %d outside 1..%d", ErrInvalidConfig, cfg.ContactsPerLocation, maxContactsPerLocation)
	case cfg.Latency < 0 || cfg.Jitter < 0:
		return nil, fmt.Errorf("%w: latency and jitter must not be negative", ErrInvalidConfig)
	}
	if err := cfg.RateLimit.validate(); err != nil {
		return nil, err
	}
	if err := cfg.Faults.Validate(); err != nil {
		return nil, err
	}
	rt, err := newRouter(upstream.Operations(), handlers)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidConfig, err)
	}
	s := &Server{
		seed:    cfg.Seed,
		now:     cfg.Now,
		router:  rt,
		calls:   map[string]*atomic.Int64{},
		applied: map[string]*atomic.Int64{},
		tokens:  map[string]tokenInfo{},
		latency: cfg.Latency,
		jitter:  cfg.Jitter,
		faults:  cfg.Faults.normalized(),
		rng:     rand.New(rand.NewPCG(uint64(cfg.Seed), streamKnobs)),
		limiter: newLimiter(cfg.RateLimit),
		oauth:   newOAuthServer(),
	}
	s.strictLists.Store(cfg.StrictListItems)
	if cfg.AccessTokenLifetime < 0 {
		return nil, fmt.Errorf("%w: access token lifetime must not be negative", ErrInvalidConfig)
	}
	s.SetAccessTokenLifetime(cfg.AccessTokenLifetime)
	for _, op := range upstream.Operations() {
		s.calls[op.ID] = new(atomic.Int64)
		s.applied[op.ID] = new(atomic.Int64)
	}
	s.store = seedStore(cfg.Seed, cfg.Locations, cfg.ContactsPerLocation, cfg.Now)
	// Issue the read+write token of every location up front, so that a
	// start-up banner can print them and a restarted sandbox accepts them.
	for _, loc := range s.store.locationIDs() {
		s.Token(loc, ScopeContactsRead, ScopeContactsWrite)
	}
	s.defaultToken = s.AccessToken(s.store.locationIDs()[0], ScopeContactsRead, ScopeContactsWrite)
	return s, nil
}

// Locations returns the location IDs, stable for a seed.
func (s *Server) Locations() []string { return s.store.locationIDs() }

// Token returns a Private Integration Token (opaque, "pit-…") bound to
// locationID with exactly the given scopes (ScopeContactsRead,
// ScopeContactsWrite), issuing it on first use. Like HighLevel's, it does not
// name its location: a client of the gateway must send X-Location-Id or
// locationId with it. The token is derived from the seed, the location and
// the scopes, so it is the same for every server with the same seed. It
// returns "" for a location the sandbox does not have.
func (s *Server) Token(locationID string, scopes ...string) string {
	set, ok := s.scopeSet(locationID, scopes)
	if !ok {
		return ""
	}
	sum := sha256.Sum256([]byte(fmt.Sprintf("sandbox-token|%d|%s|%s", s.seed, locationID, strings.Join(set, " "))))
	h := hex.EncodeToString(sum[:16])
	// The shape of a HighLevel Private Integration Token.
	return s.issue("pit-"+h[0:8]+"-"+h[8:12]+"-"+h[12:16]+"-"+h[16:20]+"-"+h[20:32], locationID, set)
}

// AccessToken returns an OAuth access token of the location (user type
// Location), shaped like HighLevel's: a JWT whose payload names the location
// (authClass "Location", authClassId) and the granted scopes
// (oauthMeta.scopes), signed with a key derived from the seed. Same seed,
// location and scopes, same token. It returns "" for an unknown location.
func (s *Server) AccessToken(locationID string, scopes ...string) string {
	set, ok := s.scopeSet(locationID, scopes)
	if !ok {
		return ""
	}
	return s.issue(s.signJWT(s.jwtClaims(locationID, set, "sandbox", BaseDate())), locationID, set)
}

// jwtClaims returns the payload of a location's access token, shaped like
// HighLevel's.
func (s *Server) jwtClaims(locationID string, set []string, client string, iat time.Time) map[string]any {
	return map[string]any{
		"authClass":          "Location",
		"authClassId":        locationID,
		"primaryAuthClassId": locationID,
		"source":             "INTEGRATION",
		"channel":            "OAUTH",
		"oauthMeta":          map[string]any{"scopes": set, "client": client},
		"iat":                iat.Unix(),
	}
}

// signJWT encodes claims as an HS256 JWT signed with the seed's key.
func (s *Server) signJWT(claims map[string]any) string {
	enc := base64.RawURLEncoding.EncodeToString
	payload, _ := json.Marshal(claims)
	unsigned := enc([]byte(`{"alg":"HS256","typ":"JWT"}`)) + "." + enc(payload)
	mac := hmac.New(sha256.New, []byte(fmt.Sprintf("sandbox-signing-key|%d", s.seed)))
	mac.Write([]byte(unsigned))
	return unsigned + "." + enc(mac.Sum(nil))
}

// scopeSet sorts and de-duplicates scopes; ok is false for an unknown location.
func (s *Server) scopeSet(locationID string, scopes []string) ([]string, bool) {
	if !s.store.hasLocation(locationID) {
		return nil, false
	}
	set := slices.Clone(scopes)
	slices.Sort(set)
	return slices.Compact(set), true
}

// issue records tok as valid for the location with the scopes in set, for ever.
func (s *Server) issue(tok, locationID string, set []string) string {
	return s.issueUntil(tok, locationID, set, time.Time{})
}

// issueUntil records tok as valid for the location with the scopes in set
// until expires (zero: for ever).
func (s *Server) issueUntil(tok, locationID string, set []string, expires time.Time) string {
	info := tokenInfo{location: locationID, expires: expires}
	for _, sc := range set {
		switch sc {
		case ScopeContactsRead:
			info.read = true
		case ScopeContactsWrite:
			info.write = true
		}
	}
	s.tokMu.Lock()
	s.tokens[tok] = info
	s.tokMu.Unlock()
	return tok
}

// RevokeToken makes the API answer 401 to tok from now on, as HighLevel
// does once a Private Integration is deleted or an app uninstalled. Token
// and AccessToken issue it again when asked for it.
func (s *Server) RevokeToken(tok string) {
	s.tokMu.Lock()
	delete(s.tokens, tok)
	s.tokMu.Unlock()
}

// DefaultToken returns the read+write OAuth access token (see AccessToken)
// of Locations()[0]; it is stable for a seed.
func (s *Server) DefaultToken() string { return s.defaultToken }

// SetLatency changes the latency and jitter of later answers; negative
// values count as 0.
func (s *Server) SetLatency(latency, jitter time.Duration) {
	s.knobMu.Lock()
	defer s.knobMu.Unlock()
	s.latency, s.jitter = max(latency, 0), max(jitter, 0)
}

// SetFaults replaces the fault injection of later requests. Unlike New it
// does not fail: a rate outside 0..1 is clamped and unknown kinds are
// dropped (use Faults.Validate first to be told).
func (s *Server) SetFaults(f Faults) {
	f = f.normalized()
	s.knobMu.Lock()
	defer s.knobMu.Unlock()
	s.faults, s.faultsInjected = f, 0
}

// SetStrictListItems switches strict list mode (Config.StrictListItems)
// for later answers.
func (s *Server) SetStrictListItems(on bool) { s.strictLists.Store(on) }

// listItems returns the items of a search or listing answer: the contacts,
// or in strict list mode only their ContactsSearchSchema fields.
func (s *Server) listItems(cs []Contact) any {
	if !s.strictLists.Load() {
		return cs
	}
	out := make([]searchItem, len(cs))
	for i, c := range cs {
		out[i] = asSearchItem(c)
	}
	return out
}

// SetRateLimit replaces the rate limit and starts every location's windows
// afresh. Negative fields count as 0 (unlimited).
func (s *Server) SetRateLimit(r RateLimit) { s.limiter.set(r) }

// Calls returns the number of requests routed to the operation opID (counted
// before auth, rate limit and faults).
func (s *Server) Calls(opID string) int64 {
	if c, ok := s.calls[opID]; ok {
		return c.Load()
	}
	return 0
}

// AllCalls returns Calls for every operation, by operation ID.
func (s *Server) AllCalls() map[string]int64 {
	out := make(map[string]int64, len(s.calls))
	for id, c := range s.calls {
		out[id] = c.Load()
	}
	return out
}

// TotalCalls returns the number of requests routed to any operation;
// requests that matched no route are not counted.
func (s *Server) TotalCalls() int64 {
	var n int64
	for _, c := range s.calls {
		n += c.Load()
	}
	return n
}

// Applied returns the number of requests of the write operation opID whose
// effect was carried out (a 2xx outcome, including those whose answer a
// FaultDropAfterWrite or FaultMalformed then lost). Tests use it to prove
// that a retried create did not create twice.
func (s *Server) Applied(opID string) int64 {
	if c, ok := s.applied[opID]; ok {
		return c.Load()
	}
	return 0
}

// ResetCounters sets every Calls and Applied counter to 0.
func (s *Server) ResetCounters() {
	for _, c := range s.calls {
		c.Store(0)
	}
	for _, c := range s.applied {
		c.Store(0)
	}
}

// Contact returns a copy of a contact of any location, for tests that check
// an effect directly.
func (s *Server) Contact(id string) (Contact, bool) { return s.store.contact(id) }

// ContactIDs returns the IDs of a location's contacts, oldest first (by
// dateAdded, then ID); nil for an unknown location.
func (s *Server) ContactIDs(locationID string) []string { return s.store.contactIDs(locationID) }

// Businesses returns the IDs of the businesses the seed data attached
// contacts of the location to.
func (s *Server) Businesses(locationID string) []string { return s.store.businessIDs(locationID) }

// Campaigns returns the campaign IDs a contact is in, in the order added.
func (s *Server) Campaigns(contactID string) []string { return s.store.campaigns(contactID) }

// Workflows returns the workflow IDs a contact is enrolled in, in the order added.
func (s *Server) Workflows(contactID string) []string { return s.store.workflows(contactID) }

// ServeHTTP serves the Contacts API and the OAuth token endpoint.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	path := r.URL.EscapedPath()
	if path == oauthTokenPath {
		s.serveOAuthToken(w, r)
		return
	}
	if path == ConsentPath {
		s.serveConsent(w, r)
		return
	}
	rt, params, ok := s.router.match(r.Method, path)
	if !ok {
		// NestJS's answer for a route it does not have, whatever the method.
		s.limiter.nominal().setHeaders(w.Header())
		writeJSON(w, http.StatusNotFound, errorBody{StatusCode: http.StatusNotFound, Message: "Cannot " + r.Method + " " + path})
		return
	}
	op := rt.op
	s.calls[op.ID].Add(1)
	body, bad := readBody(w, r)
	if bad != nil {
		s.limiter.nominal().setHeaders(w.Header())
		writeJSON(w, bad.status, bad.body)
		return
	}

	if v := r.Header.Get("Version"); v != apiVersion {
		s.limiter.nominal().setHeaders(w.Header())
		msg := "version header was not found"
		if v != "" {
			msg = "version header is invalid: expected " + apiVersion
		}
		writeJSON(w, http.StatusBadRequest, errorBody{StatusCode: http.StatusBadRequest, Message: msg, Error: "Bad Request"})
		return
	}
	info, ok := s.authenticate(r)
	if !ok {
		s.limiter.nominal().setHeaders(w.Header())
		writeJSON(w, http.StatusUnauthorized, errorBody{StatusCode: http.StatusUnauthorized,
			Message: "Invalid token: access token is invalid", Error: "Unauthorized"})
		return
	}
	if !info.expires.IsZero() && !s.now().Before(info.expires) {
		s.limiter.nominal().setHeaders(w.Header())
		// HighLevel's answer for an access token past its exp.
		writeJSON(w, http.StatusUnauthorized, errorBody{StatusCode: http.StatusUnauthorized,
			Message: "Invalid JWT", Error: "Unauthorized"})
		return
	}
	if (op.Write && !info.write) || (!op.Write && !info.read && !info.write) {
		s.limiter.nominal().setHeaders(w.Header())
		// HighLevel answers a missing scope with 401, not 403.
		writeJSON(w, http.StatusUnauthorized, errorBody{StatusCode: http.StatusUnauthorized,
			Message: "The token is not authorized for this scope.", Error: "Unauthorized"})
		return
	}

	state, retry, allowed := s.limiter.take(info.location, s.now())
	state.setHeaders(w.Header())
	if !allowed {
		secs := int64((retry + time.Second - 1) / time.Second)
		w.Header().Set("Retry-After", strconv.FormatInt(max(secs, 1), 10))
		writeJSON(w, http.StatusTooManyRequests, errorBody{StatusCode: http.StatusTooManyRequests,
			Message: "Too many requests, please try again later.", Error: "Too Many Requests"})
		return
	}

	ctx := r.Context()
	if !sleep(ctx, s.drawLatency()) {
		return // the caller gave up; nothing was applied
	}
	f := s.drawFault(op.ID)
	switch f.kind {
	case FaultServerError:
		writeServerError(w, f.status)
		return
	case FaultDrop:
		dropConnection(w)
		return
	case FaultSlow:
		if !sleep(ctx, f.delay) {
			return
		}
	}

	c := &call{s: s, r: r, op: op, params: params, loc: info.location, body: body}
	before := s.beforeWrite(c)
	resp := rt.handle(c)
	if op.Write && resp.status >= 200 && resp.status < 300 {
		s.applied[op.ID].Add(1)
		s.afterWrite(c, before, resp)
	}
	switch f.kind {
	case FaultDropAfterWrite:
		dropConnection(w)
	case FaultMalformed:
		writeMalformed(w, resp)
	default:
		writeJSON(w, resp.status, resp.body)
	}
}

// authenticate resolves the bearer token of r.
func (s *Server) authenticate(r *http.Request) (tokenInfo, bool) {
	h := r.Header.Get("Authorization")
	scheme, tok, ok := strings.Cut(strings.TrimSpace(h), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return tokenInfo{}, false
	}
	tok = strings.TrimSpace(tok)
	s.tokMu.Lock()
	defer s.tokMu.Unlock()
	info, ok := s.tokens[tok]
	return info, ok
}

// drawLatency returns this answer's wait: latency ± uniform jitter.
func (s *Server) drawLatency() time.Duration {
	s.knobMu.Lock()
	defer s.knobMu.Unlock()
	d := s.latency
	if s.jitter > 0 {
		d += time.Duration(s.rng.Int64N(int64(2*s.jitter)+1)) - s.jitter
	}
	return max(d, 0)
}

// sleep waits d or until ctx is done; it reports whether the wait completed.
func sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// Seed streams: each purpose draws from its own PCG stream so that, for
// instance, changing the fault rate does not change the IDs of writes.
const (
	streamData    = 0x5eed_da7a
	streamRuntime = 0x5eed_0001
	streamKnobs   = 0x5eed_0002
)

// operationIDs returns the known operation IDs, sorted.
func operationIDs() []string {
	ids := make([]string, 0, 32)
	for _, op := range upstream.Operations() {
		ids = append(ids, op.ID)
	}
	slices.Sort(ids)
	return ids
}

// knownOp reports whether id is an operation ID of upstream.Operations().
func knownOp(id string) bool {
	_, ok := slices.BinarySearch(operationIDs(), id)
	return ok
}
