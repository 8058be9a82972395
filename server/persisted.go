// This file holds the persisted-operations-only mode: the gateway runs only
// the operations on an allow-list that the apps ship with (what mobile apps
// do), so a leaked key cannot be used to run arbitrary queries. Clients name
// an operation by its SHA-256 hash (Apollo's persisted-query extension) or
// send a query whose text is on the list.

package server

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"

	"github.com/ghl-graphql/gateway/errcode"
)

// PersistedOperations is an allow-list of operations, by the hex SHA-256
// of their text.
type PersistedOperations map[string]string

// hashQuery is the key of a query text on the list.
func hashQuery(q string) string {
	sum := sha256.Sum256([]byte(q))
	return hex.EncodeToString(sum[:])
}

// LoadPersistedOperations reads an allow-list file: a JSON list of query
// strings, or an object of hash → query (each hash must be the SHA-256 of
// its query, so that a typo cannot allow something else).
func LoadPersistedOperations(path string) (PersistedOperations, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("persisted operations: %w", err)
	}
	ops := PersistedOperations{}
	var list []string
	if err := json.Unmarshal(b, &list); err == nil {
		for _, q := range list {
			ops[hashQuery(q)] = q
		}
		return ops, nil
	}
	var byHash map[string]string
	if err := json.Unmarshal(b, &byHash); err != nil {
		return nil, fmt.Errorf("persisted operations %s: want a JSON list of queries or an object of sha256 → query", path)
	}
	for h, q := range byHash {
		if got := hashQuery(q); !strings.EqualFold(h, got) {
			return nil, fmt.Errorf("persisted operations %s: %s is not the SHA-256 of its query (%s)", path, h, got)
		}
		ops[strings.ToLower(h)] = q
	}
	if len(ops) == 0 {
		return nil, errors.New("persisted operations: the list is empty")
	}
	return ops, nil
}

// persistedRef is what a request says about its operation.
type persistedRef struct {
	Query      *string `json:"query"`
	Extensions struct {
		PersistedQuery *struct {
			Hash string `json:"sha256Hash"`
		} `json:"persistedQuery"`
	} `json:"extensions"`
}

// withPersistedOnly lets through only operations on ops. A request that
// names an operation by hash alone gets its text filled in, so gqlgen runs
// it as if it had been sent.
func withPersistedOnly(ops PersistedOperations, next http.Handler) http.Handler {
	refuse := func(w http.ResponseWriter, r *http.Request) {
		writeError(w, r, errcode.New(errcode.CodePersistedOnly,
			"this gateway runs only persisted operations: send extensions.persistedQuery.sha256Hash of an operation on its allow-list"))
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.Method {
		case http.MethodPost:
			body, ok := requestBody(r)
			if !ok {
				next.ServeHTTP(w, r) // not JSON: refused further in
				return
			}
			var ref persistedRef
			var raw map[string]json.RawMessage
			if json.Unmarshal(body, &ref) != nil || json.Unmarshal(body, &raw) != nil {
				next.ServeHTTP(w, r) // malformed: refused further in
				return
			}
			q, ok := lookupPersisted(ops, ref)
			if !ok {
				refuse(w, r)
				return
			}
			if ref.Query == nil || *ref.Query == "" {
				raw["query"], _ = json.Marshal(q)
				body, _ = json.Marshal(raw)
				r = withBody(r, body)
			}
		case http.MethodGet:
			vals := r.URL.Query()
			var ref persistedRef
			if s := vals.Get("query"); s != "" {
				ref.Query = &s
			}
			if ext := vals.Get("extensions"); ext != "" {
				_ = json.Unmarshal([]byte(ext), &ref.Extensions)
			}
			q, ok := lookupPersisted(ops, ref)
			if !ok {
				refuse(w, r)
				return
			}
			vals.Set("query", q)
			r2 := r.Clone(r.Context())
			r2.URL.RawQuery = vals.Encode()
			r = r2
		}
		next.ServeHTTP(w, r)
	})
}

// lookupPersisted finds the request's operation on the list.
func lookupPersisted(ops PersistedOperations, ref persistedRef) (string, bool) {
	if ref.Query != nil && *ref.Query != "" {
		q, ok := ops[hashQuery(*ref.Query)]
		return q, ok
	}
	if pq := ref.Extensions.PersistedQuery; pq != nil {
		q, ok := ops[strings.ToLower(pq.Hash)]
		return q, ok
	}
	return "", false
}

// withBody returns r with body as its (already read) body.
func withBody(r *http.Request, body []byte) *http.Request {
	r = attachBody(r, body)
	r.ContentLength = int64(len(body))
	return r
}
