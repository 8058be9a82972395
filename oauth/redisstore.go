// This file holds RedisStore, the Store and Locker that several gateway
// replicas share (issue 13): each location's pair sealed with the
// FileStore's scheme and key under conn.Key(loc, "tokens"), a sorted index
// of the locations, and a per-location lock with a lease and a fencing
// token, so that exactly one replica spends a refresh token and a replica
// that paused past its lease cannot overwrite the pair of the one after it.
//
// Keys (all of one location share its hash tag, so each script touches one
// Cluster slot):
//
//	{loc}:tokens         the sealed pair (bound to the location: a value
//	                     copied to another location's key does not open)
//	{loc}:tokens:lock    the lock: the holder's random owner string, PX lease
//	{loc}:tokens:fence   the fencing counter, INCR at each acquisition
//	tokens:index         sorted set of the locations that have a pair
//
// When Redis cannot be reached, Get serves the last pair this replica read
// (for at most LocalTTL, and only while its access token is unexpired), and
// Lock, Put, Delete and Locations fail with an error wrapping
// ErrStoreUnavailable that presents as TOKEN_STORE_UNAVAILABLE: a refresh
// without the lock could spend a refresh token another replica is spending.

package oauth

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	mrand "math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/ghl-graphql/gateway/errcode"
	"github.com/ghl-graphql/gateway/redisx"
)

// Defaults of RedisStoreConfig.
const (
	// DefaultLockLease is how long a replica's lock outlives its last
	// renewal: a replica that dies holding the lock frees it this long
	// after. The holder renews it every third of the lease, so a refresh
	// may take longer than the lease.
	DefaultLockLease = 15 * time.Second
	// DefaultLocalTTL is how long after its last read from Redis a pair
	// may still be served from memory while Redis is down.
	DefaultLocalTTL = 5 * time.Minute
	// DefaultReadCache is how long a pair read from Redis answers Get
	// without asking again: a call with a valid token then costs no
	// round trip. A pair another replica replaced shows here this much
	// later at most; the refresh itself never uses the copy (see Get).
	DefaultReadCache = time.Second
)

// Lock polling bounds: a waiting replica asks again after a delay that
// doubles from the first to the last, with jitter. The holder's refresh
// is one HTTP request, so waiters find the new pair within a poll of it.
const (
	lockPollMin = 2 * time.Millisecond
	lockPollMax = 50 * time.Millisecond
)

// Errors of RedisStore.
var (
	// ErrStoreUnavailable: Redis could not be reached (or did not answer in
	// time). The errors that wrap it present as TOKEN_STORE_UNAVAILABLE.
	ErrStoreUnavailable = errors.New("oauth: the shared token store (Redis) is unavailable")
	// ErrFenced: the lock this replica held was taken by another replica
	// (its lease ran out), so the write was refused: the newer holder's
	// pair stands.
	ErrFenced = errors.New("oauth: token store: the write was refused: another replica has held the location's lock since this one's lease ran out")
	// ErrNoPersistence: NewRedisStore refused a Redis that keeps nothing on
	// disk (or could not tell), without RedisStoreConfig.AcceptNoPersistence.
	ErrNoPersistence = errors.New("oauth: token store: Redis persists nothing (no AOF, no RDB snapshots): a restart of Redis would lose every refresh token, and HighLevel gives none again without a new install")
)

// storeRetryAfter is the retryAfter of a refusal for an unavailable store:
// redisx reconnects within seconds of Redis returning.
const storeRetryAfter = 2 * time.Second

// storeUnavailableError is an operation of the store that Redis did not
// answer. It is ErrStoreUnavailable, and carries the errcode.Error that
// the resolvers present (TOKEN_STORE_UNAVAILABLE).
type storeUnavailableError struct {
	op, loc string
	err     error
	coded   *errcode.Error
}

func storeUnavailable(op, loc string, err error) error {
	msg := "the gateway cannot reach its shared token store (Redis), so it does not refresh HighLevel tokens now (a refresh without the lock could lose the install)"
	if loc != "" {
		msg = fmt.Sprintf("the gateway cannot reach its shared token store (Redis), so it does not refresh the HighLevel token of location %s now (a refresh without the lock could lose the install)", loc)
	}
	secs := errcode.RetryAfterSeconds(storeRetryAfter)
	coded := errcode.New(errcode.CodeTokenStoreUnavailable, "%s; retry after %d s", msg, secs).With("retryAfter", secs)
	return &storeUnavailableError{op: op, loc: loc, err: err, coded: coded}
}

func (e *storeUnavailableError) Error() string {
	return fmt.Sprintf("%v: %s %s: %v", ErrStoreUnavailable, e.op, e.loc, e.err)
}

// Is makes the error ErrStoreUnavailable.
func (e *storeUnavailableError) Is(target error) bool { return target == ErrStoreUnavailable }

// Unwrap returns the cause and the client-facing error.
func (e *storeUnavailableError) Unwrap() []error { return []error{e.err, e.coded} }

// RedisStoreConfig configures a RedisStore.
type RedisStoreConfig struct {
	// Key seals the pairs (KeySize bytes), as FileStore's key: the same
	// key may serve both, and every replica needs the same.
	Key []byte
	// Lease is the lock's lease; 0 means DefaultLockLease.
	Lease time.Duration
	// LocalTTL bounds how long a pair read from Redis is served from
	// memory while Redis is down; 0 means DefaultLocalTTL, negative never.
	LocalTTL time.Duration
	// ReadCache is how long a pair read from Redis answers Get from
	// memory; 0 means DefaultReadCache, negative never.
	ReadCache time.Duration
	// AcceptNoPersistence lets the store start on a Redis that persists
	// nothing, or whose persistence cannot be read: the operator accepts
	// that a restart of Redis loses every install.
	AcceptNoPersistence bool
	// Logger receives the store's events; nil discards them.
	Logger *slog.Logger
	// Now is the clock of access-token expiries and of LocalTTL; nil means
	// time.Now. (Leases are Redis's, in real time.)
	Now func() time.Time
}

// RedisStore is a Store and Locker on Redis shared by the replicas. Put
// returns once Redis has acknowledged the write; how durable that is is
// Redis's persistence (see CheckRedisPersistence and the README: with
// appendfsync everysec, a crash of Redis itself may lose the last second).
//
// Locks are per process: one RedisStore serves one Manager (whose
// in-process lock lets one refresh per location run at a time); two
// Managers in one process need two RedisStores.
type RedisStore struct {
	conn  *redisx.Conn
	seal  *sealer
	cfg   RedisStoreConfig
	log   *slog.Logger
	index string

	// verified: the persistence check has passed (or was waived). A store
	// started while Redis was down checks on its first write.
	verified atomic.Bool

	mu sync.Mutex
	// held holds the locks this process holds, with their fencing tokens.
	held map[string]*heldLock
	// local holds the last pair read from or written to Redis per location.
	local map[string]localPair
	// reads holds the Redis read under way per location, which concurrent
	// Gets share. Taking the lock forgets it: a Get under the lock (the
	// Manager's re-read before refreshing) must see every write made
	// before the lock was taken, so it may only join a read begun after.
	reads map[string]*pairRead
	// degraded: Get is serving local copies (logged once per episode).
	degraded bool
}

// heldLock is a lock this process holds.
type heldLock struct {
	owner string
	fence int64
	lost  atomic.Bool
	stop  chan struct{}
	done  chan struct{}
}

// localPair is a pair as last seen in Redis, and when: at on the
// configured clock (for LocalTTL, beside the tokens' expiry), seen on the
// process's (for ReadCache).
type localPair struct {
	tokens Tokens
	at     time.Time
	seen   time.Time
}

// pairRead is a GET of a pair under way.
type pairRead struct {
	done chan struct{}
	raw  []byte
	err  error
}

var (
	// lockScript takes the lock if it is free, and returns the new fencing
	// token (0: held by another).
	lockScript = redis.NewScript(`
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
  return redis.call('INCR', KEYS[2])
end
return 0`)
	// renewScript extends the lease if the caller still holds the lock.
	renewScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0`)
	// unlockScript releases the lock if the caller still holds it.
	unlockScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0`)
	// putScript writes the pair unless the writer's fencing token is not
	// the latest (a newer holder exists) or, for a write outside any lock
	// (token 0), unless someone holds the lock now.
	putScript = redis.NewScript(`
local fence = tonumber(ARGV[2])
if fence == 0 then
  if redis.call('EXISTS', KEYS[3]) == 1 then return 0 end
elseif tonumber(redis.call('GET', KEYS[2]) or '0') ~= fence then
  return 0
end
redis.call('SET', KEYS[1], ARGV[1])
return 1`)
)

// NewRedisStore returns the token store on conn. It checks Redis's
// persistence (ErrNoPersistence, unless cfg.AcceptNoPersistence) and that
// the pairs already there open with cfg.Key (ErrWrongKey); when Redis is
// down it starts anyway, degraded, and checks on its first write.
func NewRedisStore(ctx context.Context, conn *redisx.Conn, cfg RedisStoreConfig) (*RedisStore, error) {
	if conn == nil {
		return nil, errors.New("oauth: redis token store: nil connection")
	}
	seal, err := newSealer(cfg.Key)
	if err != nil {
		return nil, err
	}
	switch {
	case cfg.Lease < 0:
		return nil, fmt.Errorf("oauth: redis token store: lease %v: must not be negative", cfg.Lease)
	case cfg.Lease == 0:
		cfg.Lease = DefaultLockLease
	case cfg.Lease < 3*time.Millisecond:
		return nil, fmt.Errorf("oauth: redis token store: lease %v: must be at least 3ms", cfg.Lease)
	}
	if cfg.LocalTTL == 0 {
		cfg.LocalTTL = DefaultLocalTTL
	}
	if cfg.ReadCache == 0 {
		cfg.ReadCache = DefaultReadCache
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	s := &RedisStore{
		conn: conn, seal: seal, cfg: cfg, log: cfg.Logger, index: conn.GlobalKey("tokens", "index"),
		held: map[string]*heldLock{}, local: map[string]localPair{}, reads: map[string]*pairRead{},
	}
	if err := s.verify(ctx); err != nil {
		if !errors.Is(err, ErrStoreUnavailable) {
			return nil, err
		}
		s.log.WarnContext(ctx, "oauth: Redis is unreachable at start; the token store starts degraded and checks Redis's persistence on its first write", "err", err)
		return s, nil
	}
	if err := s.checkKey(ctx); err != nil {
		return nil, err
	}
	return s, nil
}

// verify runs the persistence check once it has not passed yet.
func (s *RedisStore) verify(ctx context.Context) error {
	if s.verified.Load() {
		return nil
	}
	cctx, cancel := context.WithTimeout(ctx, max(s.conn.OpTimeout(), time.Second))
	defer cancel()
	p, err := CheckRedisPersistence(cctx, s.conn.Client())
	s.conn.Report(err)
	if err != nil {
		return storeUnavailable("check persistence", "", err)
	}
	switch {
	case p.AOF || p.RDB:
		if !p.AOF {
			s.log.WarnContext(ctx, "oauth: Redis persists by RDB snapshots only: a crash of Redis loses the refresh tokens rotated since the last snapshot; prefer appendonly yes", "detail", p.Detail)
		} else if p.Fsync != "" && p.Fsync != "always" {
			s.log.InfoContext(ctx, "oauth: Redis persists by AOF; with appendfsync "+p.Fsync+" a crash of Redis itself may lose the last second of writes", "detail", p.Detail)
		}
	case s.cfg.AcceptNoPersistence:
		s.log.WarnContext(ctx, "oauth: Redis token store on a Redis without known persistence, accepted by configuration: a restart of Redis loses every install", "detail", p.Detail)
	case !p.Known:
		return fmt.Errorf("%w: could not tell (%s); if it does persist (e.g. a managed Redis with snapshots), or to accept the risk, set -redis-accept-no-persistence", ErrNoPersistence, p.Detail)
	default:
		return fmt.Errorf("%w (%s); turn on appendonly yes, or set -redis-accept-no-persistence to accept the risk", ErrNoPersistence, p.Detail)
	}
	s.verified.Store(true)
	return nil
}

// verifyLate is verify for a store that started while Redis was down: a
// Redis found to persist nothing refuses the write, and the refusal
// presents as TOKEN_STORE_UNAVAILABLE like any other.
func (s *RedisStore) verifyLate(ctx context.Context, loc string) error {
	err := s.verify(ctx)
	var ue *storeUnavailableError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &ue):
		return storeUnavailable(ue.op, loc, ue.err) // the client's message names the location
	}
	s.log.ErrorContext(ctx, "oauth: the token store refuses to write: Redis does not persist", "location", loc, "err", err)
	return storeUnavailable("check persistence", loc, err)
}

// checkKey opens one stored pair, so that a wrong key fails at start (as
// FileStore's does) rather than at the first refresh.
func (s *RedisStore) checkKey(ctx context.Context) error {
	cctx, cancel := s.conn.WithTimeout(ctx)
	defer cancel()
	locs, err := s.conn.Client().ZRangeArgs(cctx, redis.ZRangeArgs{Key: s.index, Start: 0, Stop: 0}).Result()
	s.conn.Report(err)
	if err != nil || len(locs) == 0 {
		return nil // nothing to check against, or Redis left: Get reports it
	}
	if _, err := s.Get(ctx, locs[0]); err != nil && (errors.Is(err, ErrWrongKey) || errors.Is(err, ErrCorruptStore)) {
		return err
	}
	return nil
}

// Persistence is what CheckRedisPersistence found.
type Persistence struct {
	// AOF: appendonly is on (on every master, in a Cluster).
	AOF bool
	// RDB: snapshots are configured (save is not empty).
	RDB bool
	// Fsync is appendfsync when known.
	Fsync string
	// Known: the settings could be read (CONFIG GET, or INFO persistence
	// for AOF where CONFIG is disabled, as in many managed Redis).
	Known bool
	// Detail says what was read, for logs and errors.
	Detail string
}

// CheckRedisPersistence reads whether Redis keeps its data on disk: CONFIG
// GET appendonly, appendfsync and save; where CONFIG is refused, INFO
// persistence (which shows AOF, not the snapshot schedule). In a Cluster it
// asks every master and reports what all of them do. An error means Redis
// did not answer.
func CheckRedisPersistence(ctx context.Context, client redis.UniversalClient) (Persistence, error) {
	cc, ok := client.(*redis.ClusterClient)
	if !ok {
		return checkNode(ctx, client)
	}
	var mu sync.Mutex
	all := Persistence{AOF: true, RDB: true, Known: true}
	var details []string
	err := cc.ForEachMaster(ctx, func(ctx context.Context, n *redis.Client) error {
		p, err := checkNode(ctx, n)
		if err != nil {
			return err
		}
		mu.Lock()
		defer mu.Unlock()
		all.AOF, all.RDB, all.Known = all.AOF && p.AOF, all.RDB && p.RDB, all.Known && p.Known
		if all.Fsync == "" || p.Fsync != "always" {
			all.Fsync = p.Fsync
		}
		details = append(details, n.Options().Addr+": "+p.Detail)
		return nil
	})
	all.Detail = strings.Join(details, "; ")
	return all, err
}

// checkNode is CheckRedisPersistence on one node.
func checkNode(ctx context.Context, c redis.Cmdable) (Persistence, error) {
	cfg, err := c.ConfigGet(ctx, "append*").Result()
	var save map[string]string
	if err == nil {
		save, err = c.ConfigGet(ctx, "save").Result()
	}
	if err == nil {
		p := Persistence{Known: true, AOF: cfg["appendonly"] == "yes", RDB: strings.TrimSpace(save["save"]) != "", Fsync: cfg["appendfsync"]}
		p.Detail = fmt.Sprintf("appendonly %q, appendfsync %q, save %q", cfg["appendonly"], cfg["appendfsync"], save["save"])
		return p, nil
	}
	if !isRedisReply(err) {
		return Persistence{}, err
	}
	// CONFIG is disabled or renamed: INFO still says whether AOF is on.
	info, ierr := c.Info(ctx, "persistence").Result()
	if ierr != nil {
		if !isRedisReply(ierr) {
			return Persistence{}, ierr
		}
		return Persistence{Detail: fmt.Sprintf("CONFIG GET refused (%v), INFO persistence refused (%v)", err, ierr)}, nil
	}
	if infoField(info, "aof_enabled") == "1" {
		return Persistence{Known: true, AOF: true, Detail: fmt.Sprintf("CONFIG GET refused (%v); INFO persistence: aof_enabled:1", err)}, nil
	}
	return Persistence{Detail: fmt.Sprintf("CONFIG GET refused (%v); INFO persistence: aof_enabled:%s, snapshot schedule unknown", err, infoField(info, "aof_enabled"))}, nil
}

// infoField returns a field of INFO's answer.
func infoField(info, name string) string {
	for _, line := range strings.Split(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), name+":"); ok {
			return v
		}
	}
	return ""
}

// isRedisReply reports whether err is an answer of Redis (a refused
// command), not a failure to reach it.
func isRedisReply(err error) bool {
	var re redis.Error
	return errors.As(err, &re) && !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, context.Canceled)
}

// report tells the connection how a command went, and returns whether
// Redis failed to answer it (as opposed to answering with an error or nil).
func (s *RedisStore) report(err error) (unreachable bool) {
	s.conn.Report(err)
	return err != nil && !errors.Is(err, redis.Nil) && !isRedisReply(err)
}

func (s *RedisStore) pairKey(loc string) string  { return s.conn.Key(loc, "tokens") }
func (s *RedisStore) lockKey(loc string) string  { return s.conn.Key(loc, "tokens", "lock") }
func (s *RedisStore) fenceKey(loc string) string { return s.conn.Key(loc, "tokens", "fence") }

// sealContext binds a value to its location.
func sealContext(loc string) []byte { return []byte("redis:" + loc) }

// Get implements Store. It answers from the pair last seen here while that
// is younger than ReadCache, else reads Redis; when Redis does not answer
// it serves the last pair seen while that is younger than LocalTTL and its
// access token unexpired. Under the location's lock it always reads Redis
// and never serves a copy: the Manager re-reads there before it refreshes,
// and a refresh must start from the newest pair.
func (s *RedisStore) Get(ctx context.Context, locationID string) (Tokens, error) {
	if err := ctx.Err(); err != nil {
		return Tokens{}, err
	}
	if t, ok := s.cached(locationID); ok {
		return t, nil
	}
	raw, err := s.read(ctx, locationID)
	switch {
	case err == nil:
	case errors.Is(err, redis.Nil):
		s.mu.Lock()
		delete(s.local, locationID)
		s.mu.Unlock()
		return Tokens{}, fmt.Errorf("%w: %s", ErrNotInstalled, locationID)
	case ctx.Err() != nil && errors.Is(err, ctx.Err()):
		return Tokens{}, fmt.Errorf("oauth: read tokens of %s: %w", locationID, err) // the caller gave up, not Redis
	case isRedisReply(err):
		return Tokens{}, fmt.Errorf("oauth: redis token store: read %s: %w", locationID, err)
	default:
		if t, ok := s.localCopy(ctx, locationID, err); ok {
			return t, nil
		}
		return Tokens{}, storeUnavailable("read", locationID, err)
	}
	plain, err := s.seal.open(raw, sealContext(locationID))
	if err != nil {
		return Tokens{}, fmt.Errorf("oauth: redis token store: the pair of %s: %w", locationID, err)
	}
	var t Tokens
	if err := json.Unmarshal(plain, &t); err != nil {
		return Tokens{}, fmt.Errorf("%w (the pair of %s: %v)", ErrCorruptStore, locationID, err)
	}
	s.remember(locationID, t)
	return t.clone(), nil
}

// read GETs the location's sealed pair, sharing a read under way.
func (s *RedisStore) read(ctx context.Context, loc string) ([]byte, error) {
	s.mu.Lock()
	r, joined := s.reads[loc]
	if !joined {
		r = &pairRead{done: make(chan struct{})}
		s.reads[loc] = r
	}
	s.mu.Unlock()
	if !joined {
		// The read is shared: it must not end with the first caller.
		cctx, cancel := s.conn.WithTimeout(context.WithoutCancel(ctx))
		r.raw, r.err = s.conn.Client().Get(cctx, s.pairKey(loc)).Bytes()
		cancel()
		s.report(r.err)
		s.mu.Lock()
		if s.reads[loc] == r {
			delete(s.reads, loc)
		}
		s.mu.Unlock()
		close(r.done)
	}
	select {
	case <-r.done:
		return r.raw, r.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// cached returns the pair last seen here if it is younger than ReadCache
// and the location's lock is not held here.
func (s *RedisStore) cached(loc string) (Tokens, bool) {
	if s.cfg.ReadCache < 0 {
		return Tokens{}, false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, locked := s.held[loc]; locked {
		return Tokens{}, false
	}
	p, ok := s.local[loc]
	if !ok || time.Since(p.seen) >= s.cfg.ReadCache {
		return Tokens{}, false
	}
	return p.tokens.clone(), true
}

// remember keeps t as the location's last pair seen in Redis.
func (s *RedisStore) remember(loc string, t Tokens) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.local[loc] = localPair{tokens: t.clone(), at: s.cfg.Now(), seen: time.Now()}
	if s.degraded {
		s.degraded = false
		s.log.Info("oauth: Redis token store reachable again")
	}
}

// localCopy returns the pair to serve while Redis is down, if any.
func (s *RedisStore) localCopy(ctx context.Context, loc string, cause error) (Tokens, bool) {
	if s.cfg.LocalTTL < 0 {
		return Tokens{}, false
	}
	now := s.cfg.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, locked := s.held[loc]; locked {
		return Tokens{}, false
	}
	p, ok := s.local[loc]
	if !ok || now.Sub(p.at) > s.cfg.LocalTTL || p.tokens.NeedsConsent ||
		(!p.tokens.Expiry.IsZero() && !now.Before(p.tokens.Expiry)) {
		return Tokens{}, false
	}
	if !s.degraded {
		s.degraded = true
		s.log.WarnContext(ctx, "oauth: Redis token store unreachable: serving the access tokens last read while they are valid; refreshes are refused until Redis is back", "err", cause)
	}
	return p.tokens.clone(), true
}

// Put implements Store. Under the lock it carries the lock's fencing
// token, and Redis refuses it (ErrFenced) once a newer holder exists;
// outside any lock it is refused while another replica holds the lock.
// It returns once Redis has acknowledged the write.
func (s *RedisStore) Put(ctx context.Context, locationID string, t Tokens) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := s.verifyLate(ctx, locationID); err != nil {
		return err
	}
	plain, err := json.Marshal(t)
	if err != nil {
		return fmt.Errorf("oauth: redis token store: encode: %w", err)
	}
	val, err := s.seal.seal(plain, sealContext(locationID))
	if err != nil {
		return err
	}
	var fence int64
	s.mu.Lock()
	h := s.held[locationID]
	s.mu.Unlock()
	if h != nil {
		if h.lost.Load() {
			return fmt.Errorf("%w (location %s: the lease could not be renewed)", ErrFenced, locationID)
		}
		fence = h.fence
	}
	cctx, cancel := s.conn.WithTimeout(ctx)
	defer cancel()
	// The index first: a location listed without a pair reads as not
	// installed, but a pair missing from the index would be invisible.
	err = s.conn.Client().ZAdd(cctx, s.index, redis.Z{Member: locationID}).Err()
	if s.report(err) {
		return storeUnavailable("write", locationID, err)
	} else if err != nil {
		return fmt.Errorf("oauth: redis token store: index %s: %w", locationID, err)
	}
	ok, err := putScript.Run(cctx, s.conn.Client(),
		[]string{s.pairKey(locationID), s.fenceKey(locationID), s.lockKey(locationID)}, val, fence).Int()
	if s.report(err) {
		return storeUnavailable("write", locationID, err)
	} else if err != nil {
		return fmt.Errorf("oauth: redis token store: write %s: %w", locationID, err)
	}
	if ok == 0 {
		if fence == 0 {
			return fmt.Errorf("%w (location %s: written outside the lock while another replica holds it)", ErrFenced, locationID)
		}
		return fmt.Errorf("%w (location %s, fencing token %d)", ErrFenced, locationID, fence)
	}
	s.remember(locationID, t)
	return nil
}

// Delete implements Store.
func (s *RedisStore) Delete(ctx context.Context, locationID string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	cctx, cancel := s.conn.WithTimeout(ctx)
	defer cancel()
	err := s.conn.Client().Del(cctx, s.pairKey(locationID)).Err()
	if err == nil {
		err = s.conn.Client().ZRem(cctx, s.index, locationID).Err()
	}
	if s.report(err) {
		return storeUnavailable("delete", locationID, err)
	} else if err != nil {
		return fmt.Errorf("oauth: redis token store: delete %s: %w", locationID, err)
	}
	s.mu.Lock()
	delete(s.local, locationID)
	s.mu.Unlock()
	return nil
}

// Locations implements Store.
func (s *RedisStore) Locations(ctx context.Context) ([]string, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	cctx, cancel := s.conn.WithTimeout(ctx)
	defer cancel()
	locs, err := s.conn.Client().ZRange(cctx, s.index, 0, -1).Result()
	if s.report(err) {
		return nil, storeUnavailable("list", "", err)
	} else if err != nil {
		return nil, fmt.Errorf("oauth: redis token store: list: %w", err)
	}
	return locs, nil
}

// Lock implements Locker: it waits for the location's lock (polling with
// backoff) until ctx is done, and fails at once, with an error wrapping
// ErrStoreUnavailable, when Redis does not answer. The lock is renewed
// while held; unlock releases it if it is still this holder's.
func (s *RedisStore) Lock(ctx context.Context, locationID string) (unlock func(), err error) {
	if err := s.verifyLate(ctx, locationID); err != nil {
		return nil, err
	}
	owner := randomOwner()
	lease := s.cfg.Lease.Milliseconds()
	keys := []string{s.lockKey(locationID), s.fenceKey(locationID)}
	wait := lockPollMin
	for {
		cctx, cancel := s.conn.WithTimeout(ctx)
		fence, err := lockScript.Run(cctx, s.conn.Client(), keys, owner, lease).Int64()
		cancel()
		switch {
		case err != nil && ctx.Err() != nil:
			return nil, fmt.Errorf("oauth: wait for the shared lock of %s: %w", locationID, ctx.Err())
		case s.report(err):
			return nil, storeUnavailable("lock", locationID, err)
		case err != nil:
			return nil, fmt.Errorf("oauth: redis token store: lock %s: %w", locationID, err)
		case fence > 0:
			return s.hold(locationID, owner, fence), nil
		}
		t := time.NewTimer(wait/2 + mrand.N(wait/2+1))
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return nil, fmt.Errorf("oauth: wait for the shared lock of %s: %w", locationID, ctx.Err())
		}
		wait = min(2*wait, lockPollMax)
	}
}

// hold records a lock taken and starts renewing it.
func (s *RedisStore) hold(loc, owner string, fence int64) func() {
	h := &heldLock{owner: owner, fence: fence, stop: make(chan struct{}), done: make(chan struct{})}
	s.mu.Lock()
	s.held[loc] = h
	delete(s.reads, loc) // begun before the lock: see reads
	s.mu.Unlock()
	go s.renew(loc, h)
	var once sync.Once
	return func() {
		once.Do(func() {
			h.stopRenewing()
			s.mu.Lock()
			if s.held[loc] == h {
				delete(s.held, loc)
			}
			s.mu.Unlock()
			ctx, cancel := s.conn.WithTimeout(context.Background())
			defer cancel()
			err := unlockScript.Run(ctx, s.conn.Client(), []string{s.lockKey(loc)}, owner).Err()
			if s.report(err) || err != nil {
				s.log.Warn("oauth: could not release the shared lock; it frees itself when its lease ends", "location", loc, "lease", s.cfg.Lease, "err", err)
			}
		})
	}
}

// stopRenewing stops the renewal and waits for it.
func (h *heldLock) stopRenewing() {
	select {
	case <-h.stop:
	default:
		close(h.stop)
	}
	<-h.done
}

// renew extends the lease every third of it while the lock is held. A
// renewal that finds the lock gone, or no successful renewal for a whole
// lease, marks it lost: Put then refuses before asking Redis.
func (s *RedisStore) renew(loc string, h *heldLock) {
	defer close(h.done)
	every := s.cfg.Lease / 3
	t := time.NewTicker(every)
	defer t.Stop()
	last := time.Now()
	for {
		select {
		case <-h.stop:
			return
		case <-t.C:
		}
		ctx, cancel := s.conn.WithTimeout(context.Background())
		n, err := renewScript.Run(ctx, s.conn.Client(), []string{s.lockKey(loc)}, h.owner, s.cfg.Lease.Milliseconds()).Int()
		cancel()
		s.report(err)
		switch {
		case err == nil && n == 1:
			last = time.Now()
			continue
		case err == nil:
			h.lost.Store(true)
			s.log.Error("oauth: the shared lock was lost (its lease ran out); this replica's write is refused", "location", loc)
			return
		case time.Since(last) >= s.cfg.Lease:
			h.lost.Store(true)
			s.log.Error("oauth: the shared lock could not be renewed for a whole lease; this replica's write is refused", "location", loc, "err", err)
			return
		}
	}
}

// randomOwner returns a value that tells this acquisition from every other.
func randomOwner() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (Go 1.24+)
	return hex.EncodeToString(b)
}
