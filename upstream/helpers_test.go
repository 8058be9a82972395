// This file holds the helpers every upstream test shares, in the style of
// google/go-github: setup starts an httptest server whose routes live under a
// path prefix (so a client that builds absolute paths wrongly fails loudly),
// records every request it sees, and returns a client pointed at it; the
// test* helpers assert on one request's method, headers, query and JSON body;
// fixture reads an answer from testdata/; stubTransport answers from memory.

package upstream

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/oauth2"
)

const (
	// apiPrefix is where the test server mounts the API. A client that drops
	// the base URL's path, or builds absolute paths, misses every route.
	apiPrefix = "/api-prefix"
	// testToken is the access token of the client made by setup.
	testToken = "tok-123"
)

// hit is one request the test server saw.
type hit struct {
	Method     string
	RequestURI string
}

// testEnv is a test server and a client pointed at it.
type testEnv struct {
	t      *testing.T
	srv    *httptest.Server
	mux    *http.ServeMux
	client *Client
	// done is closed when the test ends, so that handlers which block can
	// never outlive it.
	done chan struct{}

	mu   sync.Mutex
	hits []hit
}

// setup starts a test server with an empty mux under apiPrefix and a client
// made with WithBaseURL(srv.URL+"/api-prefix/") and a static token source
// of testToken, plus opts. A request that reaches no route registered with
// handle fails the test.
func setup(t *testing.T, opts ...Option) *testEnv {
	t.Helper()
	env := &testEnv{t: t, mux: http.NewServeMux(), done: make(chan struct{})}
	env.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		t.Errorf("request to no route: %s %s", r.Method, r.RequestURI)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusTeapot)
		io.WriteString(w, `{"statusCode":418,"message":"no route in the test server"}`)
	})
	env.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		env.mu.Lock()
		env.hits = append(env.hits, hit{Method: r.Method, RequestURI: r.RequestURI})
		env.mu.Unlock()
		env.mux.ServeHTTP(w, r)
	}))
	// Cleanups run last-in first-out: release blocked handlers, then close.
	t.Cleanup(env.srv.Close)
	t.Cleanup(func() { close(env.done) })

	all := append([]Option{
		WithBaseURL(env.srv.URL + apiPrefix + "/"),
		WithTokenSource(oauth2.StaticTokenSource(&oauth2.Token{AccessToken: testToken})),
	}, opts...)
	c, err := NewClient(all...)
	if err != nil {
		t.Fatalf("NewClient: %v", err)
	}
	env.client = c
	return env
}

// handle registers h for a mux pattern below apiPrefix, e.g.
// handle("GET /contacts/{contactId}", h).
func (env *testEnv) handle(pattern string, h http.HandlerFunc) {
	method, path, ok := strings.Cut(pattern, " ")
	if !ok {
		method, path = "", pattern
	}
	if path == "/contacts/" {
		path = "/contacts/{$}"
	}
	full := apiPrefix + path
	if method != "" {
		full = method + " " + full
	}
	env.mux.HandleFunc(full, h)
}

// requests returns a copy of the requests seen so far.
func (env *testEnv) requests() []hit {
	env.mu.Lock()
	defer env.mu.Unlock()
	return slices.Clone(env.hits)
}

// wantNoRequest fails the test when the server saw any request.
func (env *testEnv) wantNoRequest() {
	env.t.Helper()
	if got := env.requests(); len(got) != 0 {
		env.t.Errorf("server saw %d requests, want none: %v", len(got), got)
	}
}

// wantRequests fails the test unless the server saw exactly these requests.
func (env *testEnv) wantRequests(want ...hit) {
	env.t.Helper()
	if diff := cmp.Diff(want, env.requests()); diff != "" {
		env.t.Errorf("requests seen by the server (-want +got):\n%s", diff)
	}
}

// block waits until the request's context ends (the client gave up) or the
// test is over.
func (env *testEnv) block(r *http.Request) {
	select {
	case <-r.Context().Done():
	case <-env.done:
	}
}

// testMethod checks the request's method.
func testMethod(t *testing.T, r *http.Request, want string) {
	t.Helper()
	if r.Method != want {
		t.Errorf("method = %s, want %s", r.Method, want)
	}
}

// testHeader checks one request header; want "" means the header must be absent.
func testHeader(t *testing.T, r *http.Request, name, want string) {
	t.Helper()
	got, present := r.Header[http.CanonicalHeaderKey(name)]
	switch {
	case want == "" && present:
		t.Errorf("header %s = %q, want it absent", name, got)
	case want != "" && (len(got) != 1 || got[0] != want):
		t.Errorf("header %s = %q, want exactly [%q]", name, got, want)
	}
}

// testStandardHeaders checks the headers every call carries, and that
// Content-Type is present exactly when the request has a body.
func testStandardHeaders(t *testing.T, r *http.Request, hasBody bool) {
	t.Helper()
	testHeader(t, r, "Authorization", "Bearer "+testToken)
	testHeader(t, r, "Version", "2021-07-28")
	testHeader(t, r, "Accept", "application/json")
	testHeader(t, r, "User-Agent", "ghl-graphql-gateway")
	if hasBody {
		testHeader(t, r, "Content-Type", "application/json")
	} else {
		testHeader(t, r, "Content-Type", "")
	}
}

// testQuery checks the request's query string; nil or empty want means none
// at all (not even a bare "?").
func testQuery(t *testing.T, r *http.Request, want url.Values) {
	t.Helper()
	if len(want) == 0 {
		if strings.Contains(r.RequestURI, "?") {
			t.Errorf("request URI %q has a query string, want none", r.RequestURI)
		}
		return
	}
	got, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		t.Errorf("query %q: %v", r.URL.RawQuery, err)
		return
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("query %q (-want +got):\n%s", r.URL.RawQuery, diff)
	}
}

// readBody reads the request body; the handler may read it only once.
func readBody(t *testing.T, r *http.Request) []byte {
	t.Helper()
	b, err := io.ReadAll(r.Body)
	if err != nil {
		t.Errorf("read request body: %v", err)
	}
	return b
}

// decodeJSON decodes b keeping numbers exact, so that 1624264547891 and
// 1624264547890 differ.
func decodeJSON(b []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	if dec.More() {
		return nil, errors.New("trailing data after the JSON value")
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("trailing data after the JSON value")
	}
	return v, nil
}

// testJSONBody checks that body is the JSON value want, semantically: key
// order and spacing do not matter, but every key does, so a key sent as null
// differs from a key left out.
func testJSONBody(t *testing.T, body []byte, want string) {
	t.Helper()
	got, err := decodeJSON(body)
	if err != nil {
		t.Errorf("request body %q is not JSON: %v", body, err)
		return
	}
	w, err := decodeJSON([]byte(want))
	if err != nil {
		t.Fatalf("bad want JSON %q: %v", want, err)
	}
	if diff := cmp.Diff(w, got); diff != "" {
		t.Errorf("request body %s (-want +got):\n%s", body, diff)
	}
}

// testJSONKeys checks the exact set of top-level keys of a JSON object, and
// which of them are null: the null-vs-missing contract of update bodies.
func testJSONKeys(t *testing.T, body []byte, wantKeys []string, wantNull []string) {
	t.Helper()
	var m map[string]json.RawMessage
	if err := json.Unmarshal(body, &m); err != nil {
		t.Errorf("body %q is not a JSON object: %v", body, err)
		return
	}
	var keys, nulls []string
	for k, v := range m {
		keys = append(keys, k)
		if string(bytes.TrimSpace(v)) == "null" {
			nulls = append(nulls, k)
		}
	}
	sort.Strings(keys)
	sort.Strings(nulls)
	wantKeys, wantNull = slices.Sorted(slices.Values(wantKeys)), slices.Sorted(slices.Values(wantNull))
	if !slices.Equal(keys, wantKeys) {
		t.Errorf("body %s has keys %q, want exactly %q", body, keys, wantKeys)
	}
	if !slices.Equal(nulls, wantNull) {
		t.Errorf("body %s has null keys %q, want exactly %q", body, nulls, wantNull)
	}
}

// fixture returns testdata/name.
func fixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatalf("fixture: %v", err)
	}
	return b
}

// Rate-limit headers sent by writeJSON, and the Rate they parse to.
var (
	testRateHeaders = map[string]string{
		HeaderRateLimitMax:            "100",
		HeaderRateLimitRemaining:      "97",
		HeaderRateLimitInterval:       "10000",
		HeaderRateLimitDaily:          "200000",
		HeaderRateLimitDailyRemaining: "199321",
	}
	testRate = Rate{Max: 100, Remaining: 97, Interval: 10_000_000_000, DailyLimit: 200000, DailyRemaining: 199321}
)

// writeJSON answers status and body as JSON, with HighLevel's rate-limit headers.
func writeJSON(w http.ResponseWriter, status int, body []byte) {
	for k, v := range testRateHeaders {
		w.Header().Set(k, v)
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	w.Write(body)
}

// asError returns err as an *Error, failing the test when it is not one.
func asError(t *testing.T, err error) *Error {
	t.Helper()
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("error %v (%T) is not an *upstream.Error", err, err)
	}
	return e
}

// staticToken returns a token source that always yields tok.
func staticToken(tok string) oauth2.TokenSource {
	return oauth2.StaticTokenSource(&oauth2.Token{AccessToken: tok})
}

// ptr returns a pointer to v.
func ptr[T any](v T) *T { return &v }

// stubTransport answers every request with a fixed status and body, without
// any network: it lets a fuzz target drive the decoding path directly.
type stubTransport struct {
	status int
	header http.Header
	body   []byte
}

func (s stubTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Body != nil {
		r.Body.Close()
	}
	h := s.header.Clone()
	if h == nil {
		h = http.Header{}
	}
	return &http.Response{
		Status:        http.StatusText(s.status),
		StatusCode:    s.status,
		Proto:         "HTTP/1.1",
		ProtoMajor:    1,
		ProtoMinor:    1,
		Header:        h,
		Body:          io.NopCloser(bytes.NewReader(s.body)),
		ContentLength: int64(len(s.body)),
		Request:       r,
	}, nil
}

// stubClient returns a client whose every call is answered by stubTransport.
func stubClient(t testing.TB, status int, body []byte, opts ...Option) *Client {
	t.Helper()
	all := append([]Option{
		WithBaseURL("http://upstream.test/api-prefix/"),
		WithTokenSource(oauth2.StaticTokenSource(&oauth2.Token{AccessToken: testToken})),
		WithHTTPClient(&http.Client{Transport: stubTransport{status: status, body: body}}),
	}, opts...)
	c, err := NewClient(all...)
	if err != nil {
		t.Fatalf("NewClient: %v", err)
	}
	return c
}
