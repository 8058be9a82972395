// This file holds the whole-response cache: a warm query is answered with
// the bytes of an earlier identical answer, without running the executor.
// A response is stored only when it is a query's, carries no error, and was
// built wholly from cached upstream answers; it is tagged with those
// answers' tags, so the writes that evict them evict it too, and it expires
// when the first of them would.

package server

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"

	"github.com/ghl-graphql/gateway/auth"
	"github.com/ghl-graphql/gateway/cache"
	"github.com/ghl-graphql/gateway/loaders"
)

// maxCachedResponse bounds a stored response; larger ones are served, not kept.
const maxCachedResponse = 1 << 20

// cachedResponse is a stored answer.
type cachedResponse struct {
	contentType string
	body        []byte
}

// withResponseCache answers repeated identical queries of one credential
// from c.
func withResponseCache(c cache.Cache, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		cred, ok := auth.FromContext(r.Context())
		// A token the upstream rejected gets nothing cached, and leaves
		// nothing: its next answer decides whether it is still good.
		if !ok || cred.Rejected || (r.Method != http.MethodPost && r.Method != http.MethodGet) {
			next.ServeHTTP(w, r)
			return
		}
		var req []byte
		if r.Method == http.MethodPost {
			body, ok := requestBody(r)
			if !ok {
				next.ServeHTTP(w, r)
				return
			}
			req = body
		} else {
			req = []byte(r.URL.RawQuery)
		}
		sum := sha256.Sum256(req)
		key := "response\x1f" + cred.ID + "\x1f" + cred.LocationID + "\x1f" + r.Method + "\x1f" +
			r.Header.Get("Content-Type") + "\x1f" + r.Header.Get("Accept") + "\x1f" + hex.EncodeToString(sum[:])

		// An unconfirmed credential (webhooks on, not accepted by the
		// upstream lately) is confirmed by the loaders before anything
		// cached is served to it.
		if !loaders.NoCacheRequested(r.Header) && !cred.Unconfirmed {
			if v, _, ok := c.Get(key); ok {
				resp := v.(*cachedResponse)
				w.Header().Set("Content-Type", resp.contentType)
				_, _ = w.Write(resp.body)
				return
			}
		}

		epoch := c.Epoch()
		ctx, touched := loaders.WithTouched(r.Context())
		rec := &teeWriter{ResponseWriter: w, status: http.StatusOK}
		next.ServeHTTP(rec, r.WithContext(ctx))
		if rec.status != http.StatusOK || rec.overflow {
			return
		}
		tags, expires, ok := touched.Result()
		if !ok {
			return
		}
		ttl := time.Until(expires)
		resp := &cachedResponse{contentType: rec.Header().Get("Content-Type"), body: rec.buf.Bytes()}
		c.Set(key, resp, len(resp.body), ttl, tags, epoch)
	})
}

// teeWriter passes a response through and keeps a copy of its body.
type teeWriter struct {
	http.ResponseWriter
	status   int
	buf      bytes.Buffer
	overflow bool
}

func (t *teeWriter) WriteHeader(code int) {
	t.status = code
	t.ResponseWriter.WriteHeader(code)
}

func (t *teeWriter) Write(b []byte) (int, error) {
	if !t.overflow {
		if t.buf.Len()+len(b) > maxCachedResponse {
			t.overflow = true
			t.buf = bytes.Buffer{}
		} else {
			t.buf.Write(b)
		}
	}
	return t.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (t *teeWriter) Unwrap() http.ResponseWriter { return t.ResponseWriter }

// onlyQueriesCached marks a request's response uncacheable unless it is a
// query's.
func onlyQueriesCached(ctx context.Context, next graphql.OperationHandler) graphql.ResponseHandler {
	if t := loaders.TouchedFrom(ctx); t != nil {
		if op := graphql.GetOperationContext(ctx).Operation; op == nil || op.Operation != ast.Query {
			t.MarkUncacheable()
		}
	}
	return next(ctx)
}

// noErrorsCached marks a response with errors (partial data included)
// uncacheable.
func noErrorsCached(ctx context.Context, next graphql.ResponseHandler) *graphql.Response {
	resp := next(ctx)
	if t := loaders.TouchedFrom(ctx); t != nil && (resp == nil || len(resp.Errors) > 0) {
		t.MarkUncacheable()
	}
	return resp
}
