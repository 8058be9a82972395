// This file holds what withCredential (server.go) uses to bound
// credentials (issue 10): the pass-through bearer token and the
// X-Location-Id header are checked for length and shape before anything is
// stored or decoded, and the cache of parsed credentials is bounded in
// bytes, so that no sequence of requests can make it hold more than its
// budget.

package server

import (
	"container/list"
	"fmt"
	"net/http"
	"strings"
	"sync"

	"github.com/ghl-graphql/gateway/auth"
)

// Defaults of the credential limits.
const (
	// DefaultMaxLocationIDBytes bounds X-Location-Id: HighLevel's location
	// IDs are 20 characters.
	DefaultMaxLocationIDBytes = 64
	// DefaultCredentialCacheBytes bounds the cache of parsed bearer
	// credentials: some 4,000 HighLevel JWTs of about 1 KB, or 1,800
	// tokens of the largest length accepted.
	DefaultCredentialCacheBytes = 8 << 20
	// credentialOverhead is what a cached credential costs besides its
	// token and location: the list element, map entry, key, Credential
	// struct, token source and ID string, rounded up.
	credentialOverhead = 512
)

// credentialLimits are the checks withCredential applies and the cache it
// keeps.
type credentialLimits struct {
	maxTokenBytes      int
	maxLocationIDBytes int
	parsed             *byteLRU[credentialKey, auth.Credential]
}

// checkLocationHeader returns the X-Location-Id header, trimmed, or an
// error when it is too long or holds anything but letters, digits, '_' and
// '-' (HighLevel's IDs are alphanumeric; '_' and '-' are allowed because
// gateway API keys accept them too, and they are safe in a URL path).
func checkLocationHeader(r *http.Request, maxBytes int) (string, error) {
	raw := r.Header.Get(HeaderLocationID)
	if len(raw) > maxBytes+16 { // before trimming: a huge header is not looked at
		return "", fmt.Errorf("the %s header is longer than %d bytes", HeaderLocationID, maxBytes)
	}
	loc := strings.TrimSpace(raw)
	if len(loc) > maxBytes {
		return "", fmt.Errorf("the %s header is longer than %d bytes", HeaderLocationID, maxBytes)
	}
	for i := 0; i < len(loc); i++ {
		c := loc[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '-') {
			return "", fmt.Errorf("the %s header must hold a location ID (letters, digits, '_' and '-')", HeaderLocationID)
		}
	}
	return loc, nil
}

// credentialKey is the parsed-credential cache's key: a token and the
// X-Location-Id it came with. The map hashes the two strings with the
// runtime's seeded hash and compares them whole, so no two tokens share an
// entry, and a look-up costs tens of nanoseconds where SHA-256 of a 1 KB
// JWT (and clearing the stack buffer it was assembled in) took a
// microsecond on every request. The map holds two string headers per
// entry, as many bytes as a hash, and the key's token is the string the
// credential keeps (see storedCredentialKey), so it is kept once.
type credentialKey struct{ loc, tok string }

// storedCredentialKey is the key under which a new credential is stored:
// copies of loc and tok, so that the entry keeps these bytes and not the
// request's headers, and tok is the string to build the credential from.
func storedCredentialKey(loc, tok string) credentialKey {
	return credentialKey{loc: strings.Clone(loc), tok: strings.Clone(tok)}
}

// scopeBytes is what a credential's scopes cost.
func scopeBytes(scopes []string) int {
	n := 24 * len(scopes)
	for _, s := range scopes {
		n += len(s)
	}
	return n
}

// byteLRU is a least-recently-used cache bounded by the sum of its entries'
// sizes, as given by the caller. Safe for concurrent use.
type byteLRU[K comparable, V any] struct {
	mu       sync.Mutex
	maxBytes int
	bytes    int
	order    *list.List // front: most recently used
	entries  map[K]*list.Element
	// hits, misses and evictions are counted for metrics (observe.go).
	hits, misses, evictions uint64
}

type byteLRUEntry[K comparable, V any] struct {
	key   K
	value V
	size  int
}

// newByteLRU returns a cache holding at most maxBytes.
func newByteLRU[K comparable, V any](maxBytes int) *byteLRU[K, V] {
	return &byteLRU[K, V]{maxBytes: maxBytes, order: list.New(), entries: map[K]*list.Element{}}
}

// Get returns key's value and marks it recently used.
func (c *byteLRU[K, V]) Get(key K) (V, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.entries[key]
	if !ok {
		c.misses++
		var zero V
		return zero, false
	}
	c.hits++
	c.order.MoveToFront(el)
	return el.Value.(*byteLRUEntry[K, V]).value, true
}

// Add stores value under key at the given size, evicting the least
// recently used entries until the total fits; a value larger than the
// whole cache is not stored.
func (c *byteLRU[K, V]) Add(key K, value V, size int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.entries[key]; ok {
		c.remove(el)
	}
	if size > c.maxBytes {
		return
	}
	c.entries[key] = c.order.PushFront(&byteLRUEntry[K, V]{key: key, value: value, size: size})
	c.bytes += size
	for c.bytes > c.maxBytes {
		c.remove(c.order.Back())
		c.evictions++
	}
}

func (c *byteLRU[K, V]) remove(el *list.Element) {
	e := c.order.Remove(el).(*byteLRUEntry[K, V])
	delete(c.entries, e.key)
	c.bytes -= e.size
}

// Len returns the number of entries.
func (c *byteLRU[K, V]) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.entries)
}

// Bytes returns the sum of the entries' sizes.
func (c *byteLRU[K, V]) Bytes() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.bytes
}
