// This file fuzzes the sandbox's request decoding, which faces the network
// when the sandbox is served alone (gateway sandbox): any body must get a
// JSON answer of 2xx, 400 or 422, never a panic or a 500.

package sandbox_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/ghl-graphql/gateway/upstream"
	"github.com/ghl-graphql/gateway/upstream/sandbox"
)

func FuzzWriteBodies(f *testing.F) {
	s, err := sandbox.New(sandbox.Config{ContactsPerLocation: 3})
	if err != nil {
		f.Fatal(err)
	}
	id := s.ContactIDs(s.Locations()[0])[0]
	for _, seed := range []string{
		`{}`, `{"postalCode":null,"tags":null}`, `{"customFields":[{"id":"x","field_value":null}]}`,
		`{"customFields":[{"key":"budget","field_value":[]}]}`, `{"dndSettings":{"SMS":{"status":"active"}}}`,
		`{"firstName":{"a":1}}`, `{"tags":"x"}`, `[1]`, `null`, `{"name":null,"firstName":"A"}`,
		`{"inboundDndSettings":{"all":null}}`, `{"dnd":"yes"}`,
	} {
		f.Add(0, seed)
		f.Add(1, seed)
		f.Add(2, seed)
	}
	f.Fuzz(func(t *testing.T, which int, body string) {
		routes := []struct{ method, path string }{
			{http.MethodPut, "/contacts/" + id},
			{http.MethodPost, "/contacts/upsert"},
			{http.MethodPost, "/contacts/search"},
		}
		rt := routes[(which%len(routes)+len(routes))%len(routes)]
		req := httptest.NewRequest(rt.method, rt.path, bytes.NewBufferString(body))
		req.Header.Set("Version", upstream.APIVersion)
		req.Header.Set("Authorization", "Bearer "+s.DefaultToken())
		req.Header.Set("Content-Type", "application/json")
		w := httptest.NewRecorder()
		s.ServeHTTP(w, req)
		switch w.Code {
		case http.StatusOK, http.StatusCreated, http.StatusBadRequest, http.StatusForbidden, http.StatusUnprocessableEntity:
		default:
			t.Fatalf("%s %s %q: status %d %s", rt.method, rt.path, body, w.Code, w.Body)
		}
		if !json.Valid(w.Body.Bytes()) {
			t.Fatalf("answer is not JSON: %s", w.Body)
		}
	})
}
