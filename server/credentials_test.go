// Tests of bounded credentials (issue 10): long tokens and malformed
// X-Location-Id headers are refused before anything is stored, the cache of
// parsed credentials stays within its bytes, and media types are compared
// case-insensitively.

package server

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/ghl-graphql/gateway/auth"
	"github.com/ghl-graphql/gateway/errcode"
)

// credentialProbe is withCredential in front of a handler that records
// whether it ran and with which credential.
type credentialProbe struct {
	lim     credentialLimits
	h       http.Handler
	reached int
	cred    auth.Credential
}

func newCredentialProbe(cacheBytes int) *credentialProbe {
	p := &credentialProbe{lim: credentialLimits{maxTokenBytes: auth.DefaultMaxTokenBytes, maxLocationIDBytes: DefaultMaxLocationIDBytes,
		parsed: newByteLRU[credentialKey, auth.Credential](cacheBytes)}}
	p.h = withCredential(auth.NewLearned(0), p.lim, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.reached++
		p.cred, _ = auth.FromContext(r.Context())
		w.WriteHeader(http.StatusNoContent)
	}))
	return p
}

func TestLongTokensRefusedAndNotStored(t *testing.T) {
	tests := map[string]struct {
		tokens     func(i int) string
		n          int
		wantStatus int
	}{
		// The attack: distinct 900 KB tokens.
		"900 KB tokens": {tokens: func(i int) string { return fmt.Sprintf("%06d", i) + strings.Repeat("a", 900<<10) }, n: 20, wantStatus: http.StatusUnauthorized},
		"one byte over the limit": {tokens: func(i int) string {
			return fmt.Sprintf("%06d", i) + strings.Repeat("b", auth.DefaultMaxTokenBytes-5)
		}, n: 200, wantStatus: http.StatusUnauthorized},
		"900 KB JWT-shaped": {tokens: func(i int) string { return fmt.Sprintf("h%d.", i) + strings.Repeat("e", 900<<10) + ".s" }, n: 5, wantStatus: http.StatusUnauthorized},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			p := newCredentialProbe(DefaultCredentialCacheBytes)
			for i := range tc.n {
				r := post(`{}`, "Bearer "+tc.tokens(i))
				rec, out := do(t, p.h, r)
				if rec.Code != tc.wantStatus || len(out.Errors) != 1 || out.Errors[0].Extensions["code"] != errcode.CodeUnauthenticated {
					t.Fatalf("token %d: status %d, errors %+v", i, rec.Code, out.Errors)
				}
			}
			if p.reached != 0 {
				t.Errorf("%d refused requests reached the handler", p.reached)
			}
			if n, b := p.lim.parsed.Len(), p.lim.parsed.Bytes(); n != 0 || b != 0 {
				t.Errorf("cache holds %d credentials, %d bytes; want none", n, b)
			}
		})
	}
}

func TestCredentialCacheBoundedInBytes(t *testing.T) {
	const cacheBytes = 64 << 10
	tests := map[string]struct {
		tokenLen, n int
	}{
		"1 KB tokens (JWT-sized)": {tokenLen: 1 << 10, n: 300},
		"tokens at the limit":     {tokenLen: auth.DefaultMaxTokenBytes, n: 100},
		"short PITs":              {tokenLen: 40, n: 1000},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			p := newCredentialProbe(cacheBytes)
			maxLen := 0
			for i := range tc.n {
				tok := fmt.Sprintf("pit-%06d-", i)
				tok += strings.Repeat("x", tc.tokenLen-len(tok))
				if rec, _ := do(t, p.h, post(`{}`, "Bearer "+tok)); rec.Code != http.StatusNoContent {
					t.Fatalf("token %d: status %d", i, rec.Code)
				}
				if p.cred.TokenSource() == nil {
					t.Fatalf("token %d: no credential in the context", i)
				}
				if b := p.lim.parsed.Bytes(); b > cacheBytes {
					t.Fatalf("after %d tokens the cache holds %d bytes, over its %d", i+1, b, cacheBytes)
				}
				maxLen = max(maxLen, p.lim.parsed.Len())
			}
			// Every entry is counted at its token's size at least.
			if limit := cacheBytes / (credentialOverhead + tc.tokenLen); maxLen > limit {
				t.Errorf("the cache held %d entries, more than %d bytes allow (%d)", maxLen, cacheBytes, limit)
			}
			if p.lim.parsed.Len() == 0 {
				t.Error("nothing cached: the cache is not used")
			}
		})
	}
}

func TestByteLRU(t *testing.T) {
	c := newByteLRU[string, int](100)
	c.Add("a", 1, 40)
	c.Add("b", 2, 40)
	if _, ok := c.Get("a"); !ok { // a is now the most recently used
		t.Fatal("a missing")
	}
	c.Add("c", 3, 40) // over 100: evicts b, the least recently used
	if _, ok := c.Get("b"); ok {
		t.Error("b survived; the least recently used entry should go first")
	}
	if _, ok := c.Get("a"); !ok {
		t.Error("a was evicted although used recently")
	}
	if c.Len() != 2 || c.Bytes() != 80 {
		t.Errorf("Len %d Bytes %d, want 2 and 80", c.Len(), c.Bytes())
	}
	c.Add("a", 9, 10) // replacing re-counts the size
	if v, _ := c.Get("a"); v != 9 || c.Bytes() != 50 {
		t.Errorf("after replacing a: value %d, Bytes %d; want 9, 50", v, c.Bytes())
	}
	c.Add("huge", 0, 101) // larger than the cache: not stored, nothing evicted
	if _, ok := c.Get("huge"); ok || c.Len() != 2 {
		t.Errorf("an entry larger than the cache was stored (Len %d)", c.Len())
	}
}

func TestLocationHeaderChecked(t *testing.T) {
	tests := map[string]struct {
		header     string
		wantStatus int
		wantLoc    string
	}{
		"HighLevel-shaped ID": {header: "ve9EPM428h8vShlRW1KT", wantStatus: http.StatusNoContent, wantLoc: "ve9EPM428h8vShlRW1KT"},
		"with _ and -":        {header: "loc_X-1", wantStatus: http.StatusNoContent, wantLoc: "loc_X-1"},
		"trimmed":             {header: "  loc1 ", wantStatus: http.StatusNoContent, wantLoc: "loc1"},
		"at the length limit": {header: strings.Repeat("a", DefaultMaxLocationIDBytes), wantStatus: http.StatusNoContent, wantLoc: strings.Repeat("a", DefaultMaxLocationIDBytes)},
		"one byte over":       {header: strings.Repeat("a", DefaultMaxLocationIDBytes+1), wantStatus: http.StatusBadRequest},
		"900 KB":              {header: strings.Repeat("a", 900<<10), wantStatus: http.StatusBadRequest},
		"path characters":     {header: "loc/../oauth", wantStatus: http.StatusBadRequest},
		"query characters":    {header: "loc?x=1", wantStatus: http.StatusBadRequest},
		"inner space":         {header: "loc 1", wantStatus: http.StatusBadRequest},
		"non-ASCII":           {header: "locé", wantStatus: http.StatusBadRequest},
		"control character":   {header: "loc\x01", wantStatus: http.StatusBadRequest},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			p := newCredentialProbe(DefaultCredentialCacheBytes)
			r := post(`{}`, "Bearer pit-abc")
			r.Header.Set(HeaderLocationID, tc.header)
			rec, out := do(t, p.h, r)
			if rec.Code != tc.wantStatus {
				t.Fatalf("status %d, want %d (%+v)", rec.Code, tc.wantStatus, out.Errors)
			}
			if tc.wantStatus != http.StatusNoContent {
				if len(out.Errors) != 1 || out.Errors[0].Extensions["code"] != errcode.CodeBadUserInput {
					t.Errorf("errors %+v, want one %s", out.Errors, errcode.CodeBadUserInput)
				}
				if p.reached != 0 || p.lim.parsed.Len() != 0 {
					t.Errorf("a refused header reached the handler (%d) or the cache (%d)", p.reached, p.lim.parsed.Len())
				}
				return
			}
			if p.cred.LocationID != tc.wantLoc {
				t.Errorf("location %q, want %q", p.cred.LocationID, tc.wantLoc)
			}
		})
	}
}

// TestLongTokenEndToEnd: through New, a long token is UNAUTHENTICATED
// before any upstream call, in pass-through mode.
func TestLongTokenEndToEnd(t *testing.T) {
	up, calls := stubUpstream(t)
	h := newTestHandler(t, up.URL, func(c *Config) { c.MaxTokenBytes = 512 })
	for name, tc := range map[string]struct {
		token      string
		wantStatus int
		wantCode   string
	}{
		"at the configured limit": {token: "pit-" + strings.Repeat("a", 508), wantStatus: http.StatusOK},
		"over it":                 {token: "pit-" + strings.Repeat("a", 509), wantStatus: http.StatusUnauthorized, wantCode: errcode.CodeUnauthenticated},
		"900 KB":                  {token: strings.Repeat("a", 900<<10), wantStatus: http.StatusUnauthorized, wantCode: errcode.CodeUnauthenticated},
	} {
		t.Run(name, func(t *testing.T) {
			before := calls.Load()
			rec, out := do(t, h, post(`{"query":"{ contact(id: \"c1\") { id } }"}`, "Bearer "+tc.token))
			if rec.Code != tc.wantStatus {
				t.Fatalf("status %d, want %d (%+v)", rec.Code, tc.wantStatus, out.Errors)
			}
			if tc.wantCode == "" {
				return
			}
			if len(out.Errors) != 1 || out.Errors[0].Extensions["code"] != tc.wantCode {
				t.Errorf("errors %+v, want %s", out.Errors, tc.wantCode)
			}
			if calls.Load() != before {
				t.Error("a refused token reached the upstream")
			}
		})
	}
}

func TestMediaTypesCaseInsensitive(t *testing.T) {
	up, _ := stubUpstream(t)
	h := newTestHandler(t, up.URL, nil)
	tests := map[string]struct {
		contentType, accept string
		wantStatus          int
	}{
		"canonical":                      {contentType: "application/json", wantStatus: 200},
		"upper case with charset":        {contentType: "APPLICATION/JSON; charset=UTF-8", wantStatus: 200},
		"mixed case, no space":           {contentType: "Application/Json;Charset=utf-8", wantStatus: 200},
		"spaces around the separator":    {contentType: "application/json ; charset=utf-8", wantStatus: 200},
		"upper-case Accept":              {contentType: "application/json", accept: "APPLICATION/JSON", wantStatus: 200},
		"upper-case graphql-response":    {contentType: "application/json", accept: "Application/GraphQL-Response+JSON", wantStatus: 200},
		"another JSON-like type":         {contentType: "application/jsonx", wantStatus: 415},
		"text/plain":                     {contentType: "text/plain", wantStatus: 415},
		"no Content-Type":                {contentType: "", wantStatus: 415},
		"malformed parameters":           {contentType: "application/json; =", wantStatus: 415},
		"graphql-response is no request": {contentType: "application/graphql-response+json", wantStatus: 415},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			r := post(`{"query":"{ __typename }"}`, "")
			r.Header.Set("Content-Type", tc.contentType)
			if tc.accept != "" {
				r.Header.Set("Accept", tc.accept)
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, r)
			if rec.Code != tc.wantStatus {
				t.Fatalf("status %d, want %d: %s", rec.Code, tc.wantStatus, rec.Body)
			}
			if tc.wantStatus == 200 && !strings.Contains(rec.Body.String(), `"__typename":"Query"`) {
				t.Errorf("answer %s", rec.Body)
			}
		})
	}
}

// FuzzCheckLocationHeader: the header comes from the network; whatever it
// holds, an accepted value is short and made only of ID characters.
func FuzzCheckLocationHeader(f *testing.F) {
	for _, s := range []string{"ve9EPM428h8vShlRW1KT", " loc1 ", "loc_X-1", "loc/../x", "", strings.Repeat("a", 65), "locé"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, header string) {
		r := httptest.NewRequest(http.MethodPost, GraphQLPath, nil)
		r.Header[HeaderLocationID] = []string{header}
		loc, err := checkLocationHeader(r, DefaultMaxLocationIDBytes)
		if err != nil {
			if loc != "" {
				t.Fatalf("refused %q but returned %q", header, loc)
			}
			return
		}
		if len(loc) > DefaultMaxLocationIDBytes {
			t.Fatalf("accepted %d bytes", len(loc))
		}
		for _, c := range []byte(loc) {
			if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '-') {
				t.Fatalf("accepted %q with %q", loc, c)
			}
		}
	})
}
