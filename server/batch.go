// This file is batched requests: a POST whose body is a JSON array of
// GraphQL requests (Apollo's BatchHttpLink, graphql-request's batchRequests)
// is answered with the array of their answers, in order. Each operation
// goes through everything a single request does (persisted queries, the
// response cache, the allow-list, the cost check, the deadline), one after
// the other; the batch shares one deadline, and the cost limit applies to
// the operations' costs added up, so a batch cannot buy more upstream work
// than one request may.

package server

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"sync"
	"time"

	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/ghl-graphql/gateway/errcode"
)

// DefaultMaxBatch is the most operations one batched request may hold
// (BatchHttpLink's own default batchMax).
const DefaultMaxBatch = 10

// batchCost adds up the costs of a batch's operations.
type batchCost struct {
	mu    sync.Mutex
	total int
}

type batchCostKey struct{}

// chargeBatch adds cost to the batch ctx belongs to, unless that takes its
// total past limit (limit <= 0: none); it returns the total the operation
// would make and whether that is refused. Outside a batch nothing is
// refused. A refused operation is not counted: the others may still fit.
func chargeBatch(ctx context.Context, cost, limit int) (total int, refused bool) {
	b, ok := ctx.Value(batchCostKey{}).(*batchCost)
	if !ok {
		return cost, false
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	total = b.total + cost
	if limit > 0 && total > limit {
		return total, true
	}
	b.total = total
	return total, false
}

// isBatch reports whether body is a JSON array.
func isBatch(body []byte) bool {
	trimmed := bytes.TrimLeft(body, " \t\r\n")
	return len(trimmed) > 0 && trimmed[0] == '['
}

// withBatches splits a batched POST into its operations, runs each through
// next, and answers the array of their answers. max caps the operations
// (a negative max refuses every batch); timeout bounds the whole batch.
func withBatches(max int, timeout time.Duration, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, ok := requestBody(r)
		if r.Method != http.MethodPost || !ok || !isBatch(body) {
			next.ServeHTTP(w, r)
			return
		}
		if max < 0 {
			writeError(w, r, errcode.New(errcode.CodeBadRequest, "batched requests are switched off on this gateway: send one operation per request"))
			return
		}
		var ops []json.RawMessage
		if err := json.Unmarshal(body, &ops); err != nil || !allObjects(ops) {
			writeError(w, r, errcode.New(errcode.CodeBadRequest, "a batched request must be a JSON array of request objects"))
			return
		}
		switch {
		case len(ops) == 0:
			writeError(w, r, errcode.New(errcode.CodeBadRequest, "the batch holds no operation"))
			return
		case len(ops) > max:
			writeError(w, r, errcode.New(errcode.CodeBadRequest, "the batch holds %d operations; the limit is %d", len(ops), max).
				With("maxBatch", max))
			return
		}
		ctx, cancel := context.WithTimeout(context.WithValue(r.Context(), batchCostKey{}, &batchCost{}), timeout)
		defer cancel()
		media := responseMediaType(r)
		var out bytes.Buffer
		out.WriteByte('[')
		for i, op := range ops {
			if i > 0 {
				out.WriteByte(',')
			}
			sub := withBody(r.WithContext(ctx), op)
			sub.Header = r.Header.Clone()
			sub.Header.Set("Accept", media) // one JSON answer each, never a stream
			rec := &bufferedResponse{header: http.Header{}, status: http.StatusOK}
			next.ServeHTTP(rec, sub)
			answer := bytes.TrimSpace(rec.body.Bytes())
			if !json.Valid(answer) || len(answer) == 0 || answer[0] != '{' {
				answer, _ = json.Marshal(wireResponse{Errors: gqlerror.List{{Message: "the operation's answer could not be read",
					Extensions: map[string]any{"code": errcode.CodeInternal}}}})
			}
			out.Write(answer)
		}
		out.WriteByte(']')
		w.Header().Set("Content-Type", media)
		w.Header().Set("Cache-Control", "no-store")
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(out.Bytes())
	})
}

// allObjects reports whether every item of a batch is a JSON object.
func allObjects(ops []json.RawMessage) bool {
	for _, op := range ops {
		if t := bytes.TrimLeft(op, " \t\r\n"); len(t) == 0 || t[0] != '{' {
			return false
		}
	}
	return true
}

// bufferedResponse keeps one operation's answer in memory.
type bufferedResponse struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (b *bufferedResponse) Header() http.Header         { return b.header }
func (b *bufferedResponse) Write(p []byte) (int, error) { return b.body.Write(p) }
func (b *bufferedResponse) WriteHeader(status int)      { b.status = status }

// maxBatch is the batch cap, default applied.
func (c Config) maxBatch() int {
	if c.MaxBatch == 0 {
		return DefaultMaxBatch
	}
	return c.MaxBatch
}
