// This file holds the gateway API keys: their format, the JSON file that
// stores them hashed, and how a running gateway notices a key created or
// revoked by `gateway keys` in another process.
//
// A key is "gk_<id>_<secret>": the id (12 alphanumeric characters) names
// the key in the file, logs and the audit trail; the secret (32 random
// bytes, base64url) is shown once at creation and only its salted SHA-256
// is stored. A fast hash is enough here, unlike for passwords: 256 random
// bits cannot be brute-forced from the hash, so a slow KDF would only cost
// latency on every request.
//
// Writers take a lock on "<file>.lock" beside the store (see lock_unix.go),
// so that file is expected to appear there.

package clientauth

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode"
	"unicode/utf8"
)

// The shape of a key: "gk_" + id + "_" + secret.
const (
	keyPrefix   = "gk_"
	keyIDLen    = 12
	secretBytes = 32
	secretLen   = 43 // base64.RawURLEncoding.EncodedLen(secretBytes)
	apiKeyLen   = len(keyPrefix) + keyIDLen + 1 + secretLen
	saltBytes   = 16
	hashScheme  = "sha256"
	maxNameLen  = 100
	keyFileVer  = 1
	maxKeyFile  = 8 << 20 // ~30,000 keys; anything larger is not ours
	idAlphabet  = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	lockSuffix  = ".lock"
)

// secretEncoding is strict so that each secret has exactly one spelling.
var secretEncoding = base64.RawURLEncoding.Strict()

// ErrKeyNotFound is returned by Revoke for an ID that is not in the store.
var ErrKeyNotFound = errors.New("clientauth: api key not found")

// Key describes a stored API key. It holds neither the secret nor its hash,
// so printing a Key with any verb cannot leak them.
type Key struct {
	// ID names the key; it is the middle part of the key and the Subject of
	// its Principal.
	ID string
	// Name is a label for humans ("billing backend").
	Name string
	// LocationID is the location the key may act on.
	LocationID string
	// Role is RoleRead or RoleWrite.
	Role Role
	// CreatedAt is when the key was created.
	CreatedAt time.Time
	// RevokedAt is when the key was revoked; zero while it is active.
	RevokedAt time.Time
}

// Revoked reports whether the key has been revoked.
func (k Key) Revoked() bool { return !k.RevokedAt.IsZero() }

// String describes the key for logs and listings, without any secret.
func (k Key) String() string {
	state := "active"
	if k.Revoked() {
		state = "revoked " + k.RevokedAt.UTC().Format(time.RFC3339)
	}
	return fmt.Sprintf("api key %s (name %q, location %s, role %s, created %s, %s)",
		k.ID, k.Name, k.LocationID, k.Role, k.CreatedAt.UTC().Format(time.RFC3339), state)
}

// keyRecord is one key as the JSON file stores it.
type keyRecord struct {
	ID         string     `json:"id"`
	Name       string     `json:"name"`
	LocationID string     `json:"locationId"`
	Role       Role       `json:"role"`
	Hash       string     `json:"hash"` // "sha256$<salt>$<digest>", base64url
	CreatedAt  time.Time  `json:"createdAt"`
	RevokedAt  *time.Time `json:"revokedAt"`
}

// keyFile is the JSON file. The version lets a later format be told apart
// instead of being misread.
type keyFile struct {
	Version int         `json:"version"`
	Keys    []keyRecord `json:"keys"`
}

// storedKey is a record checked and decoded, ready to authenticate against.
type storedKey struct {
	Key
	salt []byte
	sum  [sha256.Size]byte
}

// keySnapshot is an immutable view of the file; readers load it without a
// lock and a reload swaps in a new one.
type keySnapshot struct {
	byID    map[string]*storedKey
	records []keyRecord // file order, for rewriting
}

// KeyStore is the API keys of one JSON file. It is safe for concurrent use,
// also by several processes on the same file: a change made elsewhere is
// seen within a second (ReloadInterval) and writes are atomic renames
// serialised by a lock file.
type KeyStore struct {
	path string
	// now and checkEvery are fields so that tests can drive the reload
	// interval without sleeping.
	now        func() time.Time
	checkEvery time.Duration

	snap      atomic.Pointer[keySnapshot]
	lastCheck atomic.Int64 // UnixNano of the last stat

	// mu serialises reloads and writes within the process; the lock file
	// does the same across processes.
	mu     sync.Mutex
	loaded os.FileInfo // the file the snapshot came from
}

// ReloadInterval is how often at most a KeyStore stats its file to notice
// keys created or revoked by another process: often enough that a revoke
// bites at once, rarely enough that the stat costs nothing under load.
const ReloadInterval = time.Second

// OpenKeyStore opens the key file at path, creating it empty with mode
// 0600 if it does not exist. A file readable by others is tightened to
// 0600: it holds only hashes, but nobody else has a reason to read it.
func OpenKeyStore(path string) (*KeyStore, error) {
	if path == "" {
		return nil, errors.New("clientauth: key store path is empty")
	}
	s := &KeyStore{path: path, now: time.Now, checkEvery: ReloadInterval}
	// O_EXCL so that two processes opening a missing file cannot clobber
	// one another; an empty file is a valid, empty store, so nothing needs
	// writing into it.
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	switch {
	case err == nil:
		syncErr := f.Sync()
		if err := errors.Join(syncErr, f.Close()); err != nil {
			return nil, fmt.Errorf("clientauth: create key store: %w", err)
		}
	case errors.Is(err, fs.ErrExist):
		fi, err := os.Stat(path)
		if err != nil {
			return nil, fmt.Errorf("clientauth: open key store: %w", err)
		}
		if !fi.Mode().IsRegular() {
			return nil, fmt.Errorf("clientauth: key store %s is not a regular file", path)
		}
		if fi.Mode().Perm()&0o077 != 0 {
			if err := os.Chmod(path, 0o600); err != nil {
				return nil, fmt.Errorf("clientauth: restrict key store to mode 0600: %w", err)
			}
		}
	default:
		return nil, fmt.Errorf("clientauth: create key store: %w", err)
	}
	if err := s.Reload(); err != nil {
		return nil, err
	}
	return s, nil
}

// Reload reads the file now if it changed since it was last read. Reads
// already do so at most once per ReloadInterval; Reload is for callers
// that must see a change at once (tests, a SIGHUP handler).
func (s *KeyStore) Reload() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.reloadLocked()
}

// reloadLocked reloads the file if its identity changed. Every write is a
// rename, so a new inode tells a change apart even within one mtime tick.
func (s *KeyStore) reloadLocked() error {
	s.lastCheck.Store(s.now().UnixNano())
	fi, err := os.Stat(s.path)
	if err != nil {
		return fmt.Errorf("clientauth: stat key store: %w", err)
	}
	if s.loaded != nil && os.SameFile(fi, s.loaded) && fi.ModTime().Equal(s.loaded.ModTime()) && fi.Size() == s.loaded.Size() {
		return nil
	}
	snap, fi, err := readKeyFile(s.path)
	if err != nil {
		return err
	}
	s.snap.Store(snap)
	s.loaded = fi
	return nil
}

// maybeReload reloads at most once per interval. A failed reload keeps the
// last good keys: the file is only ever replaced whole, so a failure means
// a hand edit gone wrong, and refusing every client for it would be worse.
// Callers that cannot take the lock (a write or a reload is under way) go
// on with the current snapshot rather than queue behind the disk.
func (s *KeyStore) maybeReload() {
	now := s.now().UnixNano()
	last := s.lastCheck.Load()
	if now >= last && now-last < int64(s.checkEvery) {
		return
	}
	if !s.mu.TryLock() {
		return
	}
	defer s.mu.Unlock()
	_ = s.reloadLocked()
}

// readKeyFile reads and checks the whole file. The FileInfo is taken from
// the open file, so it names the very version that was read.
func readKeyFile(path string) (*keySnapshot, os.FileInfo, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, fmt.Errorf("clientauth: open key store: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, nil, fmt.Errorf("clientauth: stat key store: %w", err)
	}
	b, err := io.ReadAll(io.LimitReader(f, maxKeyFile+1))
	if err != nil {
		return nil, nil, fmt.Errorf("clientauth: read key store: %w", err)
	}
	if len(b) > maxKeyFile {
		return nil, nil, fmt.Errorf("clientauth: key store %s is larger than %d bytes", path, maxKeyFile)
	}
	snap, err := decodeKeyFile(b)
	if err != nil {
		return nil, nil, fmt.Errorf("clientauth: key store %s: %w", path, err)
	}
	return snap, fi, nil
}

// decodeKeyFile parses the file and checks every record, refusing the
// whole file on any error: a half-understood key file could let a revoked
// key back in.
func decodeKeyFile(b []byte) (*keySnapshot, error) {
	snap := &keySnapshot{byID: map[string]*storedKey{}}
	if len(bytes.TrimSpace(b)) == 0 {
		return snap, nil // freshly created
	}
	var kf keyFile
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&kf); err != nil {
		return nil, fmt.Errorf("decode: %w", err)
	}
	if kf.Version != keyFileVer {
		return nil, fmt.Errorf("unsupported version %d", kf.Version)
	}
	for i, r := range kf.Keys {
		k, err := r.decode()
		if err != nil {
			return nil, fmt.Errorf("key #%d: %w", i+1, err)
		}
		if _, dup := snap.byID[k.ID]; dup {
			return nil, fmt.Errorf("key #%d: duplicate id %s", i+1, k.ID)
		}
		snap.byID[k.ID] = k
	}
	snap.records = kf.Keys
	return snap, nil
}

// decode checks a record and decodes its hash.
func (r keyRecord) decode() (*storedKey, error) {
	if !validKeyID(r.ID) {
		return nil, fmt.Errorf("malformed id %q", truncate(r.ID, 32))
	}
	if !r.Role.Valid() {
		return nil, fmt.Errorf("id %s: invalid role %q", r.ID, truncate(string(r.Role), 32))
	}
	if !validLocationID(r.LocationID) {
		return nil, fmt.Errorf("id %s: invalid locationId", r.ID)
	}
	scheme, rest, _ := strings.Cut(r.Hash, "$")
	saltB64, sumB64, _ := strings.Cut(rest, "$")
	salt, err1 := base64.RawURLEncoding.DecodeString(saltB64)
	sum, err2 := base64.RawURLEncoding.DecodeString(sumB64)
	if scheme != hashScheme || err1 != nil || err2 != nil || len(salt) < saltBytes || len(sum) != sha256.Size {
		return nil, fmt.Errorf("id %s: malformed hash", r.ID)
	}
	k := &storedKey{
		Key:  Key{ID: r.ID, Name: r.Name, LocationID: r.LocationID, Role: r.Role, CreatedAt: r.CreatedAt},
		salt: salt,
	}
	copy(k.sum[:], sum)
	if r.RevokedAt != nil {
		k.RevokedAt = *r.RevokedAt
	}
	return k, nil
}

// hashSecret is SHA-256 over the salt and the decoded secret. The salt
// makes equal secrets (which random ones never are) and precomputed
// tables useless; it costs nothing.
func hashSecret(salt, secret []byte) [sha256.Size]byte {
	h := sha256.New()
	h.Write(salt)
	h.Write(secret)
	var out [sha256.Size]byte
	h.Sum(out[:0])
	return out
}

// dummySalt is hashed against for an unknown id, so that an unknown id
// costs the same as a wrong secret.
var dummySalt = make([]byte, saltBytes)

// parseAPIKey splits "gk_<id>_<secret>". Positions are fixed because the
// base64url secret may itself contain "_" and "-"; the id's alphabet has
// neither, so the split is unambiguous.
func parseAPIKey(token string) (id string, secret []byte, ok bool) {
	if len(token) != apiKeyLen || !strings.HasPrefix(token, keyPrefix) {
		return "", nil, false
	}
	id = token[len(keyPrefix) : len(keyPrefix)+keyIDLen]
	if !validKeyID(id) || token[len(keyPrefix)+keyIDLen] != '_' {
		return "", nil, false
	}
	secret, err := secretEncoding.DecodeString(token[len(keyPrefix)+keyIDLen+1:])
	if err != nil || len(secret) != secretBytes {
		return "", nil, false
	}
	return id, secret, true
}

// validKeyID reports whether s has the shape of a key ID.
func validKeyID(s string) bool {
	if len(s) != keyIDLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		if strings.IndexByte(idAlphabet, s[i]) < 0 {
			return false
		}
	}
	return true
}

// Authenticate checks an API key and returns its principal. Every refusal
// wraps ErrInvalidCredential; the details name the key ID at most.
func (s *KeyStore) Authenticate(token string) (Principal, error) {
	id, secret, ok := parseAPIKey(token)
	if !ok {
		return Principal{}, invalid("malformed api key")
	}
	s.maybeReload()
	k := s.snap.Load().byID[id]
	if k == nil {
		hashSecret(dummySalt, secret)
		return Principal{}, invalid("unknown api key id %s", id)
	}
	sum := hashSecret(k.salt, secret)
	if subtle.ConstantTimeCompare(sum[:], k.sum[:]) != 1 {
		return Principal{}, invalid("api key %s: wrong secret", id)
	}
	// Checked after the secret so that only the key's holder learns it
	// was revoked.
	if k.Revoked() {
		return Principal{}, invalid("api key %s: revoked", id)
	}
	return Principal{Kind: KindAPIKey, Subject: k.ID, LocationID: k.LocationID, Role: k.Role}, nil
}

// List returns the keys, oldest first, revoked ones included.
func (s *KeyStore) List() []Key {
	s.maybeReload()
	snap := s.snap.Load()
	keys := make([]Key, 0, len(snap.byID))
	for _, k := range snap.byID {
		keys = append(keys, k.Key)
	}
	slices.SortFunc(keys, func(a, b Key) int {
		if c := a.CreatedAt.Compare(b.CreatedAt); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	return keys
}

// Create makes a key for locationID with role and returns its plaintext,
// which exists nowhere else afterwards: the caller must show it once and
// forget it.
func (s *KeyStore) Create(name, locationID string, role Role) (plaintext string, k Key, err error) {
	if err := validName(name); err != nil {
		return "", Key{}, err
	}
	if locationID == "" {
		return "", Key{}, errors.New("clientauth: location is required")
	}
	if !validLocationID(locationID) {
		return "", Key{}, fmt.Errorf("clientauth: location %q: only letters, digits, '_' and '-', at most 128", truncate(locationID, 40))
	}
	if !role.Valid() {
		return "", Key{}, fmt.Errorf("clientauth: role %q: must be %q or %q", truncate(string(role), 32), RoleRead, RoleWrite)
	}
	secret := make([]byte, secretBytes)
	salt := make([]byte, saltBytes)
	rand.Read(secret) // crypto/rand.Read never fails (it crashes instead)
	rand.Read(salt)
	sum := hashSecret(salt, secret)

	err = s.mutate(func(snap *keySnapshot) ([]keyRecord, error) {
		id := newKeyID()
		for snap.byID[id] != nil {
			id = newKeyID()
		}
		now := s.now().UTC().Truncate(time.Second)
		k = Key{ID: id, Name: name, LocationID: locationID, Role: role, CreatedAt: now}
		rec := keyRecord{
			ID: id, Name: name, LocationID: locationID, Role: role, CreatedAt: now,
			Hash: hashScheme + "$" + base64.RawURLEncoding.EncodeToString(salt) + "$" + base64.RawURLEncoding.EncodeToString(sum[:]),
		}
		return append(slices.Clone(snap.records), rec), nil
	})
	if err != nil {
		return "", Key{}, err
	}
	return keyPrefix + k.ID + "_" + secretEncoding.EncodeToString(secret), k, nil
}

// Revoke revokes the key id. Revoking a revoked key changes nothing, so
// that a retried revoke keeps the first revocation time.
func (s *KeyStore) Revoke(id string) error {
	if !validKeyID(id) {
		// Not echoed: a whole key pasted here by mistake would put its
		// secret into the error and whatever logs it.
		return fmt.Errorf("%w: the ID is not %d letters and digits", ErrKeyNotFound, keyIDLen)
	}
	return s.mutate(func(snap *keySnapshot) ([]keyRecord, error) {
		i := slices.IndexFunc(snap.records, func(r keyRecord) bool { return r.ID == id })
		if i < 0 {
			return nil, fmt.Errorf("%w: %s", ErrKeyNotFound, id)
		}
		if snap.records[i].RevokedAt != nil {
			return nil, nil
		}
		now := s.now().UTC().Truncate(time.Second)
		recs := slices.Clone(snap.records)
		recs[i].RevokedAt = &now
		return recs, nil
	})
}

// mutate applies fn to the file as it is on disk now — not to this
// process's possibly stale snapshot, so that keys another process wrote
// are kept — and writes the result atomically. fn returns nil records for
// "nothing to write".
func (s *KeyStore) mutate(fn func(*keySnapshot) ([]keyRecord, error)) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	unlock, err := lockFile(s.path + lockSuffix)
	if err != nil {
		return fmt.Errorf("clientauth: lock key store: %w", err)
	}
	defer unlock()

	snap, fi, err := readKeyFile(s.path)
	if err != nil {
		return err
	}
	s.snap.Store(snap)
	s.loaded = fi
	recs, err := fn(snap)
	if err != nil || recs == nil {
		return err
	}
	b, err := json.MarshalIndent(keyFile{Version: keyFileVer, Keys: recs}, "", "  ")
	if err != nil {
		return fmt.Errorf("clientauth: encode key store: %w", err)
	}
	b = append(b, '\n')
	newSnap, err := decodeKeyFile(b)
	if err != nil {
		return fmt.Errorf("clientauth: encode key store: %w", err) // a bug, caught before it reaches the disk
	}
	fi, err = writeFileAtomic(s.path, b)
	if err != nil {
		return err
	}
	s.snap.Store(newSnap)
	s.loaded = fi
	s.lastCheck.Store(s.now().UnixNano())
	return nil
}

// writeFileAtomic replaces path with data so that a reader sees the old
// file or the new one, never a part: write a temporary file in the same
// directory, fsync it, rename it over path, fsync the directory.
func writeFileAtomic(path string, data []byte) (fi os.FileInfo, err error) {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return nil, fmt.Errorf("clientauth: write key store: %w", err)
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(tmp)
		}
	}()
	// CreateTemp already uses 0600; Chmod says so explicitly, whatever the umask.
	if err = f.Chmod(0o600); err != nil {
		return nil, fmt.Errorf("clientauth: write key store: %w", err)
	}
	if _, err = f.Write(data); err != nil {
		return nil, fmt.Errorf("clientauth: write key store: %w", err)
	}
	if err = f.Sync(); err != nil {
		return nil, fmt.Errorf("clientauth: write key store: %w", err)
	}
	if fi, err = f.Stat(); err != nil {
		return nil, fmt.Errorf("clientauth: write key store: %w", err)
	}
	if err = f.Close(); err != nil {
		return nil, fmt.Errorf("clientauth: write key store: %w", err)
	}
	if err = os.Rename(tmp, path); err != nil {
		return nil, fmt.Errorf("clientauth: write key store: %w", err)
	}
	syncDir(dir)
	return fi, nil
}

// syncDir makes a rename durable. It is best effort: some systems cannot
// fsync a directory, and the rename has happened either way.
func syncDir(dir string) {
	d, err := os.Open(dir)
	if err != nil {
		return
	}
	_ = d.Sync()
	_ = d.Close()
}

// newKeyID returns keyIDLen characters drawn uniformly from idAlphabet.
func newKeyID() string {
	// Rejection sampling: 248 is the largest multiple of 62 below 256, so
	// every character is equally likely.
	const limit = 256 - 256%len(idAlphabet)
	out := make([]byte, 0, keyIDLen)
	var buf [32]byte
	for len(out) < keyIDLen {
		rand.Read(buf[:])
		for _, b := range buf {
			if int(b) < limit && len(out) < keyIDLen {
				out = append(out, idAlphabet[int(b)%len(idAlphabet)])
			}
		}
	}
	return string(out)
}

// validName keeps names printable: they end up in a terminal table.
func validName(name string) error {
	if len(name) > maxNameLen {
		return fmt.Errorf("clientauth: name is longer than %d bytes", maxNameLen)
	}
	if !utf8.ValidString(name) {
		return errors.New("clientauth: name is not valid UTF-8")
	}
	for _, r := range name {
		if !unicode.IsPrint(r) {
			return fmt.Errorf("clientauth: name contains the unprintable character %U", r)
		}
	}
	return nil
}
