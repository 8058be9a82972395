// This file holds FileStore, the Store of a single gateway process: every
// location's tokens in one file, encrypted at rest with AES-256-GCM and
// replaced atomically on each change, and ParseKey, which reads its key from
// configuration.
//
// The file is: a header (magic, version, a check value of the key) and the
// GCM nonce and ciphertext of the JSON of every location's Tokens; the
// header is the ciphertext's additional data, so it cannot be altered
// either. The key check value tells a wrong key from a damaged file, so that
// the gateway refuses to start with an error that says which.

package oauth

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
)

// KeySize is the size of a FileStore key: AES-256.
const KeySize = 32

// Errors of NewFileStore for a file it will not use. Both are wrapped with
// the file's path.
var (
	// ErrWrongKey: the file was written with another key.
	ErrWrongKey = errors.New("oauth: token store: wrong key (the file was written with another key)")
	// ErrCorruptStore: the file is truncated, altered or not a token store.
	ErrCorruptStore = errors.New("oauth: token store: file is corrupt or truncated")
)

const (
	fileMagic   = "GHLOAUTH"
	fileVersion = 1
	checkLen    = 8
	headerLen   = len(fileMagic) + 1 + checkLen
	// fileMode keeps the file readable by the gateway's user only; the
	// encryption is a second line, not the first.
	fileMode = 0o600
)

// fileContents is the plaintext of the file.
type fileContents struct {
	Locations map[string]Tokens `json:"locations"`
}

// FileStore is a Store in one encrypted file. It is safe for concurrent use
// within one process; two processes must not share a file (use a store
// with a Locker for several replicas). Each Put and Delete rewrites the
// whole file: write a temporary file in the same directory, fsync it,
// rename it over the old one, fsync the directory. A crash at any point
// leaves either the old file or the new one, never a mix.
type FileStore struct {
	path string
	*sealer

	// wmu serialises writers, so that each write starts from the last
	// one's map; the table's mu guards its data, held only to read or
	// swap it.
	wmu sync.Mutex
	tokenTable
}

// ParseKey reads a FileStore key from configuration: 32 bytes as 64 hex
// digits or as base64 (standard or URL alphabet, padded or not), e.g. the
// output of `openssl rand -hex 32`. The error never repeats the value.
func ParseKey(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	if len(s) == 2*KeySize {
		if k, err := hex.DecodeString(s); err == nil {
			return k, nil
		}
	}
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if k, err := enc.DecodeString(s); err == nil && len(k) == KeySize {
			return k, nil
		}
	}
	return nil, fmt.Errorf("oauth: token store key: want %d bytes as %d hex digits or base64 (e.g. `openssl rand -hex 32`), got %d characters that are neither",
		KeySize, 2*KeySize, len(s))
}

// NewFileStore opens the token store at path with key (KeySize bytes),
// creating the file when it does not exist, so that an unwritable path fails
// at start rather than at the first install. It refuses a file written with
// another key (ErrWrongKey) and a damaged one (ErrCorruptStore): starting
// empty instead would silently drop every install. Temporary files left by
// a crash during a write are removed.
func NewFileStore(path string, key []byte) (*FileStore, error) {
	sl, err := newSealer(key)
	if err != nil {
		return nil, err
	}
	s := &FileStore{path: path, sealer: sl, tokenTable: newTokenTable()}

	s.removeTemps()
	raw, err := os.ReadFile(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if err := s.write(s.data); err != nil {
			return nil, err
		}
		return s, nil
	case err != nil:
		return nil, fmt.Errorf("oauth: token store %s: %w", path, err)
	}
	data, err := s.decode(raw)
	if err != nil {
		return nil, fmt.Errorf("%w: %s", err, path)
	}
	s.data = data
	// An older file may be readable by others; the tokens are not theirs.
	if err := os.Chmod(path, fileMode); err != nil {
		return nil, fmt.Errorf("oauth: token store %s: %w", path, err)
	}
	return s, nil
}

// Path returns the file's path.
func (s *FileStore) Path() string { return s.path }

// Put implements Store: it returns once the new file is durable.
func (s *FileStore) Put(ctx context.Context, locationID string, t Tokens) error {
	return s.update(ctx, func(m map[string]Tokens) { m[locationID] = t.clone() })
}

// Delete implements Store.
func (s *FileStore) Delete(ctx context.Context, locationID string) error {
	return s.update(ctx, func(m map[string]Tokens) { delete(m, locationID) })
}

// update applies change to a copy of the map, writes it, and only then
// makes it the map readers see: a failed write changes nothing.
func (s *FileStore) update(ctx context.Context, change func(map[string]Tokens)) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.wmu.Lock()
	defer s.wmu.Unlock()
	s.mu.RLock()
	next := make(map[string]Tokens, len(s.data)+1)
	for k, v := range s.data {
		next[k] = v
	}
	s.mu.RUnlock()
	change(next)
	if err := s.write(next); err != nil {
		return err
	}
	s.mu.Lock()
	s.data = next
	s.mu.Unlock()
	return nil
}

// encode returns the file's bytes for m.
func (s *FileStore) encode(m map[string]Tokens) ([]byte, error) {
	plain, err := json.Marshal(fileContents{Locations: m})
	if err != nil {
		return nil, fmt.Errorf("oauth: token store: encode: %w", err)
	}
	return s.seal(plain, nil)
}

// decode reads the file's bytes.
func (s *FileStore) decode(raw []byte) (map[string]Tokens, error) {
	plain, err := s.open(raw, nil)
	if err != nil {
		return nil, err
	}
	var fc fileContents
	if err := json.Unmarshal(plain, &fc); err != nil {
		return nil, fmt.Errorf("%w (%v)", ErrCorruptStore, err)
	}
	if fc.Locations == nil {
		fc.Locations = map[string]Tokens{}
	}
	return fc.Locations, nil
}

// sealer encrypts what a token store keeps at rest (FileStore's file,
// RedisStore's values), in one format: a header (magic, version, a check
// value of the key), then the GCM nonce and ciphertext. The header, and the
// caller's context (e.g. the location a value belongs to), are the
// ciphertext's additional data, so neither can be altered or swapped.
type sealer struct {
	aead  cipher.AEAD
	check [checkLen]byte
}

// newSealer returns the sealer of key (KeySize bytes).
func newSealer(key []byte) (*sealer, error) {
	if len(key) != KeySize {
		return nil, fmt.Errorf("oauth: token store key: %d bytes, want %d", len(key), KeySize)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("oauth: token store key: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("oauth: token store key: %w", err)
	}
	s := &sealer{aead: aead}
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte("ghl-gateway oauth token store key check"))
	copy(s.check[:], mac.Sum(nil))
	return s, nil
}

// seal encrypts plain, bound to context.
func (s *sealer) seal(plain, context []byte) ([]byte, error) {
	header := s.header()
	nonce := make([]byte, s.aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return nil, fmt.Errorf("oauth: token store: nonce: %w", err)
	}
	out := make([]byte, 0, len(header)+len(nonce)+len(plain)+s.aead.Overhead())
	out = append(out, header...)
	out = append(out, nonce...)
	return s.aead.Seal(out, nonce, plain, append(header, context...)), nil
}

// open decrypts what seal returned for the same context: ErrWrongKey for
// another key's, ErrCorruptStore for damaged bytes.
func (s *sealer) open(raw, context []byte) ([]byte, error) {
	if len(raw) < headerLen+s.aead.NonceSize()+s.aead.Overhead() {
		return nil, fmt.Errorf("%w (%d bytes)", ErrCorruptStore, len(raw))
	}
	header := raw[:headerLen]
	if string(header[:len(fileMagic)]) != fileMagic {
		return nil, fmt.Errorf("%w (not a token store file)", ErrCorruptStore)
	}
	if v := header[len(fileMagic)]; v != fileVersion {
		return nil, fmt.Errorf("%w (version %d, want %d)", ErrCorruptStore, v, fileVersion)
	}
	if !hmac.Equal(header[len(fileMagic)+1:], s.check[:]) {
		return nil, ErrWrongKey
	}
	nonce := raw[headerLen : headerLen+s.aead.NonceSize()]
	aad := append(append([]byte(nil), header...), context...)
	plain, err := s.aead.Open(nil, nonce, raw[headerLen+s.aead.NonceSize():], aad)
	if err != nil {
		// The key is right (its check value matched), so the bytes are
		// damaged (or were sealed for another context).
		return nil, fmt.Errorf("%w (authentication failed)", ErrCorruptStore)
	}
	return plain, nil
}

// header returns the header: magic, version and key check value.
func (s *sealer) header() []byte {
	h := make([]byte, 0, headerLen)
	h = append(h, fileMagic...)
	h = append(h, fileVersion)
	return append(h, s.check[:]...)
}

// tempPattern is the pattern of the temporary files of a write; they sit
// next to the file so that the rename stays within one file system.
func (s *FileStore) tempPattern() string { return "." + filepath.Base(s.path) + ".tmp-*" }

// write replaces the file with m's contents, atomically and durably.
func (s *FileStore) write(m map[string]Tokens) (err error) {
	data, err := s.encode(m)
	if err != nil {
		return err
	}
	dir := filepath.Dir(s.path)
	f, err := os.CreateTemp(dir, s.tempPattern())
	if err != nil {
		return fmt.Errorf("oauth: token store %s: %w", s.path, err)
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			_ = f.Close() // the write already failed; this only frees the descriptor
			_ = os.Remove(tmp)
		}
	}()
	// CreateTemp makes the file 0600 already; Chmod states it, whatever
	// the platform's default.
	if err := f.Chmod(fileMode); err != nil {
		return fmt.Errorf("oauth: token store %s: %w", s.path, err)
	}
	if _, err := f.Write(data); err != nil {
		return fmt.Errorf("oauth: token store %s: write: %w", s.path, err)
	}
	// The data must be on disk before the rename makes it the file; else a
	// crash could leave the new name on empty blocks.
	if err := f.Sync(); err != nil {
		return fmt.Errorf("oauth: token store %s: fsync: %w", s.path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("oauth: token store %s: close: %w", s.path, err)
	}
	if err := os.Rename(tmp, s.path); err != nil {
		return fmt.Errorf("oauth: token store %s: rename: %w", s.path, err)
	}
	// The rename is durable only once the directory is.
	if err := syncDir(dir); err != nil {
		return fmt.Errorf("oauth: token store %s: fsync directory: %w", s.path, err)
	}
	return nil
}

// removeTemps deletes temporary files that a crash during a write left.
func (s *FileStore) removeTemps() {
	matches, _ := filepath.Glob(filepath.Join(filepath.Dir(s.path), s.tempPattern()))
	for _, m := range matches {
		_ = os.Remove(m) // best effort: a leftover costs only disk space
	}
}

// syncDir fsyncs a directory.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}
