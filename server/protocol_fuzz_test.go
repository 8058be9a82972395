// Fuzz tests of what the frontend protocol reads from the network: request
// bodies (single, batched, persisted-query extensions) and Accept headers.

package server

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
)

// FuzzProtocolBody: whatever the body and Accept header, the answer is a
// GraphQL response (an object with errors or data) or an array of them,
// never a 5xx, and its Content-Type is one of the two JSON media types.
func FuzzProtocolBody(f *testing.F) {
	up, _ := stubUpstream(f)
	h := newTestHandler(f, up.URL, nil)
	for _, seed := range []struct{ body, accept string }{
		{`{"query":"{ __typename }"}`, ""},
		{`[{"query":"{ __typename }"},{"query":"{ nope }"}]`, "application/graphql-response+json"},
		{`{"extensions":{"persistedQuery":{"version":1,"sha256Hash":"` + hashQuery("{ __typename }") + `"}}}`, "*/*"},
		{`{"query":"{ __typename }","extensions":{"persistedQuery":{"version":1,"sha256Hash":"00"}}}`, "application/json;q=0"},
		{`[[]]`, "text/html, application/*;q=0.1"},
		{`[{"extensions":{"persistedQuery":{"version":"1","sha256Hash":1}}}]`, ";;"},
	} {
		f.Add(seed.body, seed.accept)
	}
	f.Fuzz(func(t *testing.T, body, accept string) {
		r := httptest.NewRequest(http.MethodPost, GraphQLPath, bytes.NewReader([]byte(body)))
		r.Header.Set("Content-Type", "application/json")
		r.Header.Set("Authorization", "Bearer t")
		if accept != "" {
			r.Header.Set("Accept", accept)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, r)
		if rec.Code >= 500 {
			t.Fatalf("status %d for %q: %s", rec.Code, body, rec.Body)
		}
		if ct := rec.Header().Get("Content-Type"); ct != mediaJSON && ct != mediaGraphQLResponse {
			t.Fatalf("Content-Type %q for %q", ct, body)
		}
		var one map[string]json.RawMessage
		var many []map[string]json.RawMessage
		if json.Unmarshal(rec.Body.Bytes(), &one) == nil {
			many = append(many, one)
		} else if json.Unmarshal(rec.Body.Bytes(), &many) != nil {
			t.Fatalf("answer is not JSON for %q: %s", body, rec.Body)
		}
		for _, resp := range many {
			if _, hasErrors := resp["errors"]; !hasErrors && resp["data"] == nil {
				t.Fatalf("neither data nor errors for %q: %s", body, rec.Body)
			}
		}
	})
}
