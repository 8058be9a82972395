// This file makes the caches of several replicas one (issue 13), on the
// Redis connection they share (redisx.Conn):
//
//   - a second-level cache: on a local miss a replica reads the answer
//     another replica stored in Redis (one MGET, bounded by the connection's
//     op timeout), and every answer fetched is stored there too, JSON of the
//     same Go type, under a key hashed from the local key (credential
//     included: no credential reads another's answer), with the same
//     time-to-live and stale keep;
//   - coherence: every eviction deletes what it reaches from Redis first
//     (a script per location, holding the tags as sets), then is published,
//     and each replica applies it to its local cache and acknowledges; the
//     write waits for every acknowledgement, at most AckWait, before it
//     answers. A per-location generation in Redis, bumped by each eviction,
//     keeps an answer fetched before the eviction from being stored after it;
//   - cross-replica single-flight: a cold key is fetched under a lease (SET
//     NX PX); the others wait for the answer to appear in Redis, at most
//     LeaseWait, and fetch themselves if it does not;
//   - degraded mode: with Redis down a replica caches locally only, with
//     lifetimes capped to DegradedTTL, remembers the evictions it could not
//     publish, and when Redis is back drops its local cache (it may have
//     missed others' evictions) and replays what it remembered.

package loaders

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/ghl-graphql/gateway/redisx"
	"github.com/ghl-graphql/gateway/upstream"
)

// Defaults of SharedConfig.
const (
	// DefaultDegradedTTL caps cache lifetimes while Redis is down: writes
	// on other replicas cannot reach this one then, so what it holds may go
	// stale unseen for at most this long.
	DefaultDegradedTTL = 5 * time.Second
	// DefaultLeaseFor is how long a replica fetching a cold answer holds
	// its lease: a replica that dies holding it frees the key after this.
	DefaultLeaseFor = 10 * time.Second
	// DefaultLeaseWait bounds how long a replica waits for another's
	// lease-holding fetch before it fetches itself.
	DefaultLeaseWait = 2 * time.Second
	// DefaultMaxPendingEvictions bounds the evictions remembered while
	// Redis is down; past it the replay wipes every shared entry instead.
	DefaultMaxPendingEvictions = 1024
	// leasePoll is how often a waiting replica looks for the answer.
	leasePoll = 10 * time.Millisecond
	// receiveEvery bounds one wait of the subscriber for a message, so
	// that a silently dead connection is pinged and replaced.
	receiveEvery = 5 * time.Second
)

// SharedConfig makes a Reader share its cache with other replicas through
// Redis (Config.Shared).
type SharedConfig struct {
	// Conn is the connection the replicas share (required).
	Conn *redisx.Conn
	// DegradedTTL caps lifetimes while Redis is down; 0 means
	// DefaultDegradedTTL.
	DegradedTTL time.Duration
	// LeaseFor is the lease of a cold fetch; 0 means DefaultLeaseFor.
	LeaseFor time.Duration
	// LeaseWait bounds the wait for another replica's fetch; 0 means
	// DefaultLeaseWait, negative switches cross-replica single-flight off.
	LeaseWait time.Duration
	// AckWait bounds how long an eviction waits for the other replicas to
	// acknowledge it; 0 means the connection's op timeout.
	AckWait time.Duration
	// MaxPendingEvictions bounds what is remembered while Redis is down; 0
	// means DefaultMaxPendingEvictions.
	MaxPendingEvictions int
	// Logger receives warnings; nil discards them.
	Logger *slog.Logger
}

// SharedStats are the shared cache's counters, for metrics and tests.
type SharedStats struct {
	// L2Hits and L2Misses count reads of Redis after a local miss; L2Sets
	// the answers stored there.
	L2Hits, L2Misses, L2Sets uint64
	// LeaseWaits counts waits for another replica's fetch; LeaseWaitHits
	// those that ended with its answer.
	LeaseWaits, LeaseWaitHits uint64
	// Published counts evictions published; Applied those received from
	// other replicas and applied; AckTimeouts the evictions some replica
	// did not acknowledge within AckWait.
	Published, Applied, AckTimeouts uint64
	// Purges counts local caches dropped after Redis came back; Errors the
	// Redis commands that failed.
	Purges, Errors uint64
}

// purger and capper are what the in-memory cache offers beyond Cache.
type purger interface{ Purge() }
type capper interface{ Cap(time.Duration) }

// shared is a Reader's link to the other replicas.
type shared struct {
	r      *Reader
	conn   *redisx.Conn
	cfg    SharedConfig
	id     string // this replica, in published messages
	log    *slog.Logger
	evictC string // channel of evictions
	ackC   string // this replica's channel of acknowledgements
	// stopped is closed when the subscriber ends (the connection closed).
	stopped chan struct{}

	mu      sync.Mutex
	waiters map[string]chan struct{} // eviction id → acknowledgements
	pending []Stale                  // evictions not published (Redis down)
	overrun bool                     // pending overflowed: replay wipes all

	l2Hits, l2Misses, l2Sets, leaseWaits, leaseWaitHits atomic.Uint64
	published, applied, ackTimeouts, purges, errs       atomic.Uint64
}

// The key space, per location slot ("*" for answers of a credential whose
// location is unknown): cache:gen (the generation), cache:v:<hash> (an
// answer), cache:t:<tag> (the set of answers carrying tag), cache:l:<hash>
// (a lease); and the global set cache:locs of the slots that hold answers,
// for evictions whose location is unknown.

// storeScript stores an answer unless the generation moved since it was
// read. KEYS: gen, value, tag sets; ARGV: generation read, value, PX.
var storeScript = redis.NewScript(`
local g = redis.call('GET', KEYS[1]) or '0'
if g ~= ARGV[1] then return 0 end
local px = tonumber(ARGV[3])
redis.call('SET', KEYS[2], ARGV[2], 'PX', px)
for i = 3, #KEYS do
  redis.call('SADD', KEYS[i], KEYS[2])
  if redis.call('PTTL', KEYS[i]) < px then redis.call('PEXPIRE', KEYS[i], px) end
end
return 1`)

// evictScript bumps the generation and deletes every answer of the tag
// sets, and the sets. KEYS: gen, tag sets (answers share their slot).
var evictScript = redis.NewScript(`
redis.call('INCR', KEYS[1])
redis.call('PEXPIRE', KEYS[1], 86400000)
local n = 0
for i = 2, #KEYS do
  for _, k in ipairs(redis.call('SMEMBERS', KEYS[i])) do n = n + redis.call('DEL', k) end
  redis.call('DEL', KEYS[i])
end
return n`)

// releaseScript ends a lease if it is still ours.
var releaseScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0`)

// message is what replicas publish on the eviction channel.
type message struct {
	Kind   string   `json:"k"` // "evict" or "purge"
	Origin string   `json:"o"`
	ID     string   `json:"i"`
	Tags   []string `json:"t,omitempty"`
}

// envelope is an answer in Redis: when it expires, and the value.
type envelope struct {
	Expires int64           `json:"x"` // unix milliseconds
	V       json.RawMessage `json:"v"`
	// F are the Fields of the contacts in V (contactsIn), which JSON does
	// not carry: a contact a listing returned partial must not come back
	// whole, nor claim fields its answer lacked.
	F []upstream.ContactFields `json:"f,omitempty"`
}

// contactsIn returns the contacts of an answer, in order.
func contactsIn(v any) []*upstream.Contact {
	var list []upstream.Contact
	switch v := v.(type) {
	case *upstream.Contact:
		if v != nil {
			return []*upstream.Contact{v}
		}
		return nil
	case *upstream.SearchResult:
		if v != nil {
			list = v.Contacts
		}
	case *upstream.ContactList:
		if v != nil {
			list = v.Contacts
		}
	}
	out := make([]*upstream.Contact, len(list))
	for i := range list {
		out[i] = &list[i]
	}
	return out
}

func randomID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func newShared(r *Reader, cfg SharedConfig) (*shared, error) {
	if cfg.Conn == nil {
		return nil, errors.New("loaders: shared cache needs a Redis connection")
	}
	if cfg.DegradedTTL <= 0 {
		cfg.DegradedTTL = DefaultDegradedTTL
	}
	if cfg.LeaseFor <= 0 {
		cfg.LeaseFor = DefaultLeaseFor
	}
	if cfg.LeaseWait == 0 {
		cfg.LeaseWait = DefaultLeaseWait
	}
	if cfg.AckWait <= 0 {
		cfg.AckWait = cfg.Conn.OpTimeout()
	}
	if cfg.MaxPendingEvictions <= 0 {
		cfg.MaxPendingEvictions = DefaultMaxPendingEvictions
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	s := &shared{r: r, conn: cfg.Conn, cfg: cfg, id: randomID(), log: cfg.Logger,
		waiters: map[string]chan struct{}{}, stopped: make(chan struct{})}
	s.evictC = s.conn.Channel("cache", "evict")
	s.ackC = s.conn.Channel("cache", "ack", s.id)
	s.conn.OnChange(s.changed)
	ready := make(chan struct{})
	go s.subscribe(ready)
	// Wait (bounded) for the subscription, so that a replica receives the
	// evictions published as soon as it serves.
	select {
	case <-ready:
	case <-time.After(max(s.conn.OpTimeout(), time.Second)):
	}
	return s, nil
}

// up reports whether Redis is usable now.
func (s *shared) up() bool { return s.conn.Up() }

// ttl caps a lifetime while Redis is down.
func (s *shared) ttl(ttl time.Duration) time.Duration {
	if s.up() {
		return ttl
	}
	return min(ttl, s.cfg.DegradedTTL)
}

// report passes a command's outcome to the connection's health.
func (s *shared) report(err error) {
	if err != nil && !errors.Is(err, redis.Nil) {
		s.errs.Add(1)
	}
	s.conn.Report(err)
}

func slotOf(loc string) string { return orAny(loc) }

func (s *shared) genKey(slot string) string { return s.conn.Key(slot, "cache", "gen") }
func (s *shared) tagKey(slot, tag string) string {
	return s.conn.Key(slot, "cache", "t", tag)
}

// hashKey names a local cache key in Redis: hashed, so that neither its
// length nor its bytes reach Redis as they are; the key holds the
// credential's ID, so the hash is as credential-scoped as the key.
func hashKey(key string) string {
	sum := sha256.Sum256([]byte(key))
	return hex.EncodeToString(sum[:16])
}

func (s *shared) valueKey(req request) string {
	return s.conn.Key(slotOf(req.loc), "cache", "v", hashKey(req.key))
}

func (s *shared) leaseKey(req request) string {
	return s.conn.Key(slotOf(req.loc), "cache", "l", hashKey(req.key))
}

// sharedLoad looks for req's answer in Redis after a local miss; without
// one it takes req's lease, or waits for the replica holding it. On a miss
// it records in req the generation read (for the store) and returns the
// release of the lease taken (a no-op when none).
func sharedLoad[T any](ctx context.Context, r *Reader, req *request) (fetched, func(), bool) {
	s := r.shared
	noop := func() {}
	if !s.up() {
		return fetched{}, noop, false
	}
	slot := slotOf(req.loc)
	keys := []string{s.valueKey(*req), s.genKey(slot), s.leaseKey(*req)}
	token := s.id + ":" + randomID()
	lease := s.cfg.LeaseWait >= 0
	epoch := r.cache.Epoch()
	raw, gen, won, err := s.load(ctx, slot, keys, token, lease)
	if err != nil {
		return fetched{}, noop, false
	}
	if f, ok := decodeInto[T](ctx, r, *req, raw, epoch); ok {
		s.l2Hits.Add(1)
		return f, noop, true
	}
	s.l2Misses.Add(1)
	req.l2gen, req.l2genOK = gen, true
	release := func() { s.release(keys[2], token) }
	if !lease {
		return fetched{}, noop, false
	}
	if won {
		return fetched{}, release, false
	}
	// Another replica fetches it: wait for its answer.
	s.leaseWaits.Add(1)
	wait := time.NewTimer(s.cfg.LeaseWait)
	defer wait.Stop()
	tick := time.NewTicker(leasePoll)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return fetched{}, noop, false
		case <-wait.C:
			return fetched{}, noop, false
		case <-tick.C:
		}
		epoch := r.cache.Epoch()
		raw, gen, won, err := s.load(ctx, slot, keys, token, true)
		if err != nil {
			return fetched{}, noop, false
		}
		if f, ok := decodeInto[T](ctx, r, *req, raw, epoch); ok {
			s.leaseWaitHits.Add(1)
			return f, noop, true
		}
		req.l2gen = gen
		if won {
			// The holder ended without storing (it failed, or an eviction
			// came between): fetch under our own lease.
			return fetched{}, release, false
		}
	}
}

// loadScript reads an answer and its slot's generation and, when the answer
// is absent, tries the lease: one round trip, and no gap between finding no
// answer and taking the lease in which the holder could store it and leave.
// KEYS: value, gen, lease; ARGV: token, lease PX, "1" to try the lease.
var loadScript = redis.NewScript(`
local v = redis.call('GET', KEYS[1])
local g = redis.call('GET', KEYS[2])
local won = 0
if not v and ARGV[3] == '1' and redis.call('SET', KEYS[3], ARGV[1], 'NX', 'PX', ARGV[2]) then won = 1 end
return {v, g, won}`)

// load runs loadScript, and records slot among those an eviction of unknown
// location must reach, before the generation is read, so that such an
// eviction bumps it under every fetch in flight. A failed Redis wins the
// lease: nobody is known to hold it, so the caller fetches as without Redis.
func (s *shared) load(ctx context.Context, slot string, keys []string, token string, lease bool) (raw any, gen string, won bool, err error) {
	cctx, cancel := s.conn.WithTimeout(ctx)
	defer cancel()
	try := "0"
	if lease {
		try = "1"
	}
	pipe := s.conn.Client().Pipeline()
	pipe.SAdd(cctx, s.conn.GlobalKey("cache", "locs"), slot)
	got := loadScript.Eval(cctx, pipe, keys, token, s.cfg.LeaseFor.Milliseconds(), try)
	_, err = pipe.Exec(cctx)
	s.report(err)
	if err != nil {
		return nil, "", true, err
	}
	vals, _ := got.Val().([]any)
	if len(vals) != 3 {
		return nil, "", true, fmt.Errorf("redis: the load script returned %v", got.Val())
	}
	n, _ := vals[2].(int64)
	return vals[0], asString(vals[1]), n == 1, nil
}

func asString(v any) string {
	if v == nil {
		return "0"
	}
	str, _ := v.(string)
	return str
}

// mget reads keys of slot in one round trip, and records slot among those
// an eviction of unknown location must reach: before the generation is
// read, so that such an eviction bumps it under every fetch in flight.
func (s *shared) mget(ctx context.Context, slot string, keys ...string) ([]any, error) {
	cctx, cancel := s.conn.WithTimeout(ctx)
	defer cancel()
	pipe := s.conn.Client().Pipeline()
	pipe.SAdd(cctx, s.conn.GlobalKey("cache", "locs"), slot)
	got := pipe.MGet(cctx, keys...)
	_, err := pipe.Exec(cctx)
	s.report(err)
	vals := got.Val()
	if err == nil && len(vals) != len(keys) {
		err = fmt.Errorf("redis: MGET returned %d values for %d keys", len(vals), len(keys))
	}
	return vals, err
}

// decodeInto decodes a stored answer into T and keeps it in the local
// cache (unless an eviction came since epoch, read before the answer was);
// a search's contacts are kept as single contacts too, as when it is
// fetched (Reader.Search).
func decodeInto[T any](ctx context.Context, r *Reader, req request, raw any, epoch uint64) (fetched, bool) {
	str, ok := raw.(string)
	if !ok {
		return fetched{}, false
	}
	var env envelope
	if err := json.Unmarshal([]byte(str), &env); err != nil {
		return fetched{}, false
	}
	expires := time.UnixMilli(env.Expires)
	ttl := expires.Sub(r.now())
	if ttl <= 0 {
		// Kept in Redis for stale answers only: those are served from the
		// local cache, so this one is a miss.
		return fetched{}, false
	}
	var v T
	if err := json.Unmarshal(env.V, &v); err != nil {
		r.shared.log.Warn("shared cache: an answer in Redis does not decode", "error", err)
		return fetched{}, false
	}
	contacts := contactsIn(any(v))
	if len(contacts) != len(env.F) {
		return fetched{}, false
	}
	for i, c := range contacts {
		c.Fields = env.F[i]
	}
	r.cache.SetStale(req.key, v, 2*len(str), ttl, r.keep(), req.tags, epoch)
	if res, ok := any(v).(*upstream.SearchResult); ok && res != nil {
		r.storeContacts(ctx, credential(ctx), res.Contacts, &upstream.Response{BodyBytes: len(str) / 2}, epoch)
	}
	return fetched{v, expires}, true
}

func (s *shared) release(key, token string) {
	ctx, cancel := s.conn.WithTimeout(context.Background())
	defer cancel()
	s.report(releaseScript.Run(ctx, s.conn.Client(), []string{key}, token).Err())
}

// gen reads the generation of req's slot before a fetch that sharedLoad did
// not precede (a refresh, a no-cache read).
func (s *shared) gen(ctx context.Context, req request) (string, bool) {
	if !s.up() {
		return "", false
	}
	slot := slotOf(req.loc)
	vals, err := s.mget(ctx, slot, s.genKey(slot))
	if err != nil {
		return "", false
	}
	return asString(vals[0]), true
}

// store writes a fetched answer to Redis, unless an eviction bumped the
// generation since gen was read.
func (s *shared) store(ctx context.Context, req request, gen string, v any, ttl, keep time.Duration, expires time.Time) {
	if !s.up() {
		return
	}
	body, err := json.Marshal(v)
	if err != nil {
		return
	}
	e := envelope{Expires: expires.UnixMilli(), V: body}
	for _, c := range contactsIn(v) {
		e.F = append(e.F, c.Fields)
	}
	env, err := json.Marshal(e)
	if err != nil {
		return
	}
	slot := slotOf(req.loc)
	keys := []string{s.genKey(slot), s.valueKey(req)}
	for _, t := range req.tags {
		keys = append(keys, s.tagKey(slot, t))
	}
	cctx, cancel := s.conn.WithTimeout(context.WithoutCancel(ctx))
	defer cancel()
	px := (ttl + max(keep, 0)).Milliseconds()
	n, err := storeScript.Run(cctx, s.conn.Client(), keys, gen, env, px).Int()
	s.report(err)
	if n == 1 {
		s.l2Sets.Add(1)
	}
}

// evict makes every replica forget what st reaches: Redis first, so that no
// replica can read the old answer there, then each replica's local cache,
// waiting (at most AckWait) for each to acknowledge. The local cache has
// been invalidated already.
func (s *shared) evict(st Stale, tags []string) {
	if !s.up() {
		s.remember(st)
		return
	}
	ctx, cancel := s.conn.WithTimeout(context.Background())
	defer cancel()
	if err := s.deleteShared(ctx, st.LocationID, tags); err != nil {
		s.remember(st)
		return
	}
	s.publish(message{Kind: "evict", Tags: tags})
}

// deleteShared runs the eviction script on each slot st reaches: its
// location and "*", or with no location every slot that holds answers.
func (s *shared) deleteShared(ctx context.Context, loc string, tags []string) error {
	slots := []string{"*"}
	if loc != "" {
		slots = append(slots, loc)
	} else {
		all, err := s.conn.Client().SMembers(ctx, s.conn.GlobalKey("cache", "locs")).Result()
		s.report(err)
		if err != nil {
			return err
		}
		for _, l := range all {
			if l != "*" {
				slots = append(slots, l)
			}
		}
	}
	pipe := s.conn.Client().Pipeline()
	for _, slot := range slots {
		keys := []string{s.genKey(slot)}
		for _, t := range tags {
			keys = append(keys, s.tagKey(slot, t))
		}
		evictScript.Eval(ctx, pipe, keys)
	}
	_, err := pipe.Exec(ctx)
	s.report(err)
	return err
}

// publish sends msg to every replica and waits for their acknowledgements
// (this replica's subscriber acknowledges too, so PUBLISH's count of
// receivers is the number to wait for).
func (s *shared) publish(msg message) {
	msg.Origin, msg.ID = s.id, randomID()
	b, _ := json.Marshal(msg)
	acks := make(chan struct{}, 256)
	s.mu.Lock()
	s.waiters[msg.ID] = acks
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.waiters, msg.ID)
		s.mu.Unlock()
	}()
	ctx, cancel := s.conn.WithTimeout(context.Background())
	n, err := s.conn.Client().Publish(ctx, s.evictC, b).Result()
	cancel()
	s.report(err)
	if err != nil {
		s.log.Warn("shared cache: publishing an eviction failed; replicas drop their caches when Redis is back", "error", err)
		return
	}
	s.published.Add(1)
	timeout := time.NewTimer(s.cfg.AckWait)
	defer timeout.Stop()
	for got := int64(0); got < n; got++ {
		select {
		case <-acks:
		case <-timeout.C:
			s.ackTimeouts.Add(1)
			s.log.Warn("shared cache: replicas did not acknowledge an eviction in time", "acked", got, "receivers", n, "wait", s.cfg.AckWait)
			return
		}
	}
}

// remember keeps an eviction that could not reach Redis, for the replay.
func (s *shared) remember(st Stale) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.pending) >= s.cfg.MaxPendingEvictions {
		s.overrun, s.pending = true, nil
		return
	}
	if !s.overrun {
		s.pending = append(s.pending, st)
	}
}

// changed follows Redis going down and coming back.
func (s *shared) changed(up bool) {
	if !up {
		if c, ok := s.r.cache.(capper); ok {
			c.Cap(s.cfg.DegradedTTL)
		}
		return
	}
	s.purgeLocal()
	s.replay()
}

// purgeLocal drops the local cache: evictions may have been missed.
func (s *shared) purgeLocal() {
	if p, ok := s.r.cache.(purger); ok {
		p.Purge()
		s.purges.Add(1)
	}
}

// wipeTimeout bounds a wipe of every shared answer (a background task
// after an overflow of remembered evictions, not a request's wait).
const wipeTimeout = 30 * time.Second

// wipeShared deletes every shared answer and tag set, and bumps every
// slot's generation so that no fetch in flight stores after it. It scans
// (on every master of a Cluster): a rare path, after an outage.
func (s *shared) wipeShared() error {
	ctx, cancel := context.WithTimeout(context.Background(), wipeTimeout)
	defer cancel()
	c := s.conn.Client()
	slots, err := c.SMembers(ctx, s.conn.GlobalKey("cache", "locs")).Result()
	s.report(err)
	if err != nil {
		return err
	}
	pipe := c.Pipeline()
	for _, slot := range append(slots, "*") {
		pipe.Incr(ctx, s.genKey(slot))
	}
	if _, err := pipe.Exec(ctx); err != nil {
		s.report(err)
		return err
	}
	pattern := globEscape(s.conn.GlobalKey()) + "{*}:cache:[vt]:*"
	wipe := func(ctx context.Context, node redis.UniversalClient) error {
		iter := node.Scan(ctx, 0, pattern, 1000).Iterator()
		for iter.Next(ctx) {
			if err := node.Del(ctx, iter.Val()).Err(); err != nil {
				return err
			}
		}
		return iter.Err()
	}
	if cc, ok := c.(*redis.ClusterClient); ok {
		err = cc.ForEachMaster(ctx, func(ctx context.Context, node *redis.Client) error { return wipe(ctx, node) })
	} else {
		err = wipe(ctx, c)
	}
	s.report(err)
	return err
}

// globEscape escapes the glob characters of a key prefix for SCAN MATCH.
func globEscape(p string) string {
	var b strings.Builder
	for _, r := range p {
		if strings.ContainsRune(`*?[]\`, r) {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}

// replay publishes the evictions remembered while Redis was down; after an
// overflow it wipes every shared answer and has every replica purge.
func (s *shared) replay() {
	s.mu.Lock()
	pending, overrun := s.pending, s.overrun
	s.pending, s.overrun = nil, false
	s.mu.Unlock()
	if overrun {
		if err := s.wipeShared(); err != nil {
			s.mu.Lock()
			s.overrun = true // try again when Redis is back
			s.mu.Unlock()
			return
		}
		s.publish(message{Kind: "purge"})
		return
	}
	for _, st := range pending {
		s.evict(st, st.tags())
	}
}

// subscribe receives evictions and acknowledgements until the connection
// is closed. After the subscription was lost and is back, the local cache
// is dropped: evictions may have been published meanwhile.
func (s *shared) subscribe(ready chan struct{}) {
	defer close(s.stopped)
	ctx := context.Background()
	ps := s.conn.Client().Subscribe(ctx, s.evictC, s.ackC)
	defer ps.Close()
	lost, once := false, sync.Once{}
	for {
		m, err := ps.ReceiveTimeout(ctx, receiveEvery)
		if err != nil {
			if errors.Is(err, redis.ErrClosed) || s.closed() {
				return
			}
			var ne interface{ Timeout() bool }
			if errors.As(err, &ne) && ne.Timeout() {
				// Quiet: a ping makes a dead connection fail, and be replaced.
				_ = ps.Ping(ctx)
				continue
			}
			s.report(err)
			lost = true
			time.Sleep(100 * time.Millisecond)
			continue
		}
		switch m := m.(type) {
		case *redis.Subscription:
			if m.Channel == s.evictC {
				once.Do(func() { close(ready) })
				s.report(nil)
				if lost {
					lost = false
					s.purgeLocal()
				}
			}
		case *redis.Message:
			s.receive(m)
		}
	}
}

// closed reports whether the connection was closed (the subscriber ends).
func (s *shared) closed() bool {
	ctx, cancel := s.conn.WithTimeout(context.Background())
	defer cancel()
	return errors.Is(s.conn.Client().Ping(ctx).Err(), redis.ErrClosed)
}

// receive applies one message.
func (s *shared) receive(m *redis.Message) {
	if m.Channel == s.ackC {
		s.mu.Lock()
		acks := s.waiters[m.Payload]
		s.mu.Unlock()
		if acks != nil {
			select {
			case acks <- struct{}{}:
			default:
			}
		}
		return
	}
	var msg message
	if json.Unmarshal([]byte(m.Payload), &msg) != nil {
		return
	}
	if msg.Origin != s.id {
		switch msg.Kind {
		case "evict":
			if s.r.cache != nil && len(msg.Tags) > 0 {
				s.r.cache.Invalidate(msg.Tags...)
			}
		case "purge":
			s.purgeLocal()
		}
		s.applied.Add(1)
	}
	ctx, cancel := s.conn.WithTimeout(context.Background())
	defer cancel()
	s.report(s.conn.Client().Publish(ctx, s.conn.Channel("cache", "ack", msg.Origin), msg.ID).Err())
}

// SharedStats returns the shared cache's counters; zero without one.
func (r *Reader) SharedStats() SharedStats {
	s := r.shared
	if s == nil {
		return SharedStats{}
	}
	return SharedStats{L2Hits: s.l2Hits.Load(), L2Misses: s.l2Misses.Load(), L2Sets: s.l2Sets.Load(),
		LeaseWaits: s.leaseWaits.Load(), LeaseWaitHits: s.leaseWaitHits.Load(),
		Published: s.published.Load(), Applied: s.applied.Load(), AckTimeouts: s.ackTimeouts.Load(),
		Purges: s.purges.Load(), Errors: s.errs.Load()}
}
