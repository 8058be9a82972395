// This file is Automatic Persisted Queries, Apollo's protocol as its
// PersistedQueryLink and urql's persisted exchange speak it, over POST and
// GET: a client first sends only extensions.persistedQuery {version: 1,
// sha256Hash}; a gateway that does not know the hash answers
// PersistedQueryNotFound and the client sends the query with its hash,
// which the gateway checks and keeps. Mobile clients send a few dozen bytes
// instead of kilobytes of query per request.
//
// With the allow-list (persisted.go) on, a hash on the list runs without
// any registration, and a query registered here still runs only if its
// text is on the list: APQ adds no way in.

package server

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"strings"

	"github.com/ghl-graphql/gateway/errcode"
)

// DefaultAPQCacheBytes is the memory for automatic persisted queries'
// texts (a query is a few KB: thousands of distinct operations).
const DefaultAPQCacheBytes = 4 << 20

// APQStore keeps the texts of automatic persisted queries by the
// lower-case hex SHA-256 of each. The gateway's own is NewAPQCache; one
// shared between replicas (Redis) implements the same two methods.
type APQStore interface {
	// Get returns the query whose hash is hash; ok is false when it is not
	// known. An error counts as not known (the client resends the query).
	Get(ctx context.Context, hash string) (query string, ok bool, err error)
	// Put keeps query under hash; the caller checked that hash is its
	// SHA-256.
	Put(ctx context.Context, hash, query string) error
}

// apqCache is the in-memory APQStore, bounded by bytes, least recently
// used out first.
type apqCache struct {
	lru *byteLRU[[32]byte, string]
}

// apqEntryOverhead approximates an entry's memory beside its text.
const apqEntryOverhead = 128

// NewAPQCache returns an APQStore in memory holding at most maxBytes of
// queries.
func NewAPQCache(maxBytes int) APQStore {
	return &apqCache{lru: newByteLRU[[32]byte, string](maxBytes)}
}

func apqKey(hash string) ([32]byte, bool) {
	var k [32]byte
	if len(hash) != 64 {
		return k, false
	}
	_, err := hex.Decode(k[:], []byte(hash))
	return k, err == nil
}

func (c *apqCache) Get(_ context.Context, hash string) (string, bool, error) {
	k, ok := apqKey(hash)
	if !ok {
		return "", false, nil
	}
	q, ok := c.lru.Get(k)
	return q, ok, nil
}

func (c *apqCache) Put(_ context.Context, hash, query string) error {
	if k, ok := apqKey(hash); ok {
		c.lru.Add(k, query, apqEntryOverhead+len(query))
	}
	return nil
}

// apqRef is what a request says about its persisted query.
type apqRef struct {
	Query      *string `json:"query"`
	Extensions struct {
		PersistedQuery *struct {
			Version json.Number `json:"version"`
			Hash    string      `json:"sha256Hash"`
		} `json:"persistedQuery"`
	} `json:"extensions"`
}

// withAPQ resolves automatic persisted queries before anything else reads
// the query: a known hash gets its text filled in, so what comes after
// (the response cache, the allow-list, gqlgen) sees an ordinary request. A
// nil store switches APQ off (hash-only requests: PersistedQueryNotSupported,
// unless allow names the hash). allow, when not nil, is the allow-list: its
// hashes resolve too, and only its queries are kept.
// persistedQueryKey is the key of Apollo's extension, looked for in bodies.
var persistedQueryKey = []byte(`"persistedQuery"`)

func withAPQ(store APQStore, allow PersistedOperations, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Most requests carry no persisted query: tell them by a look at the
		// bytes rather than a decode of the whole body (the warm path). A
		// key spelled with escapes is then an ordinary request.
		if body, ok := requestBody(r); r.Method == http.MethodPost && ok && !bytes.Contains(body, persistedQueryKey) {
			next.ServeHTTP(w, r)
			return
		}
		var ref apqRef
		switch r.Method {
		case http.MethodPost:
			body, ok := requestBody(r)
			if !ok || json.Unmarshal(body, &ref) != nil {
				next.ServeHTTP(w, r) // not JSON, or malformed: refused further in
				return
			}
		case http.MethodGet:
			if !strings.Contains(r.URL.RawQuery, "persistedQuery") {
				next.ServeHTTP(w, r)
				return
			}
			vals := r.URL.Query()
			if s := vals.Get("query"); s != "" {
				ref.Query = &s
			}
			if ext := vals.Get("extensions"); ext != "" && json.Unmarshal([]byte(ext), &ref.Extensions) != nil {
				next.ServeHTTP(w, r) // refused further in
				return
			}
		default:
			next.ServeHTTP(w, r)
			return
		}
		pq := ref.Extensions.PersistedQuery
		if pq == nil {
			next.ServeHTTP(w, r)
			return
		}
		if pq.Version != "" && pq.Version != "1" { // Apollo sends 1; some clients omit it
			writeError(w, r, errcode.New(errcode.CodeBadRequest, "extensions.persistedQuery.version %q is not supported: only version 1", pq.Version))
			return
		}
		hash := strings.ToLower(pq.Hash)
		if _, ok := apqKey(hash); !ok {
			writeError(w, r, errcode.New(errcode.CodeBadRequest, "extensions.persistedQuery.sha256Hash must be 64 hex digits"))
			return
		}
		ctx := r.Context()
		if ref.Query != nil && *ref.Query != "" {
			// A registration, or a client that sends both every time.
			if hashQuery(*ref.Query) != hash {
				writeRequestError(w, r, errcode.New(errcode.CodePersistedQueryMismatch, "provided sha does not match query"))
				return
			}
			if _, listed := allow[hash]; store != nil && (allow == nil || listed) {
				if err := store.Put(ctx, hash, *ref.Query); err != nil {
					loggerFrom(ctx).WarnContext(ctx, "apq: could not keep a query", "err", err)
				}
			}
			next.ServeHTTP(w, r)
			return
		}
		query, ok := "", false
		if store != nil {
			var err error
			query, ok, err = store.Get(ctx, hash)
			if err != nil {
				loggerFrom(ctx).WarnContext(ctx, "apq: could not look a hash up", "err", err)
			}
		}
		if !ok && allow != nil {
			query, ok = allow[hash]
		}
		switch {
		case !ok && store == nil && allow != nil:
			next.ServeHTTP(w, r) // the allow-list refuses it
			return
		case !ok && store == nil:
			writeRequestError(w, r, errcode.New(errcode.CodePersistedQueryNotSupported, "PersistedQueryNotSupported"))
			return
		case !ok:
			writeRequestError(w, r, errcode.New(errcode.CodePersistedQueryNotFound, "PersistedQueryNotFound"))
			return
		}
		next.ServeHTTP(w, withQuery(r, query))
	})
}

// withQuery returns r with query as its query text, in its body (POST) or
// its URL (GET).
func withQuery(r *http.Request, query string) *http.Request {
	if r.Method == http.MethodGet {
		vals := r.URL.Query()
		vals.Set("query", query)
		r2 := r.Clone(r.Context())
		r2.URL.RawQuery = vals.Encode()
		return r2
	}
	body, _ := requestBody(r)
	var raw map[string]json.RawMessage
	if json.Unmarshal(body, &raw) != nil {
		return r
	}
	raw["query"], _ = json.Marshal(query)
	body, _ = json.Marshal(raw)
	return withBody(r, body)
}

// writeRequestError answers a GraphQL request error found before gqlgen
// (the persisted-query answers) as the transport answers gqlgen's own
// (transport.go): 200 under application/json, the code's status under
// application/graphql-response+json, no data entry either way.
func writeRequestError(w http.ResponseWriter, r *http.Request, err *errcode.Error) {
	if responseMediaType(r) == mediaJSON {
		err.Status = http.StatusOK
	}
	writeError(w, r, err)
}

// apqStore is the configuration's APQ store: nil when APQ is off.
func (c Config) apqStore() APQStore {
	switch {
	case c.APQ != nil:
		return c.APQ
	case c.APQCacheBytes < 0:
		return nil
	case c.APQCacheBytes == 0:
		return NewAPQCache(DefaultAPQCacheBytes)
	}
	return NewAPQCache(c.APQCacheBytes)
}
