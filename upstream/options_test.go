// This file covers the client's options: WithBaseURL's refusals (other
// schemes, no host, query, fragment, user info) and what it keeps (a path
// prefix, with or without a trailing slash, escaped or not); WithTimeout,
// WithMaxResponseBytes and WithHTTPClient refusals; WithUserAgent; and
// WithLogger, whose debug records must not show the token or the query.

package upstream

import (
	"bytes"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestNewClientDefaults(t *testing.T) {
	c, err := NewClient()
	if err != nil {
		t.Fatal(err)
	}
	if c.BaseURL() != DefaultBaseURL {
		t.Errorf("BaseURL() = %q, want %q", c.BaseURL(), DefaultBaseURL)
	}
	if c.timeout != DefaultTimeout || c.maxBody != DefaultMaxResponseBytes {
		t.Errorf("timeout %v, max body %d; want the defaults", c.timeout, c.maxBody)
	}
	if c.Contacts == nil || c.Tasks == nil || c.Notes == nil || c.Appointments == nil ||
		c.Campaigns == nil || c.Workflows == nil || c.Bulk == nil {
		t.Errorf("a service is nil: %+v", c)
	}
}

func TestWithBaseURL(t *testing.T) {
	tests := []struct {
		in      string
		want    string // BaseURL() afterwards; "" when refused
		wantErr bool
	}{
		{in: "https://services.leadconnectorhq.com/", want: "https://services.leadconnectorhq.com/"},
		{in: "https://services.leadconnectorhq.com", want: "https://services.leadconnectorhq.com/"},
		{in: "http://127.0.0.1:8080/api-prefix", want: "http://127.0.0.1:8080/api-prefix/"},
		{in: "http://127.0.0.1:8080/api-prefix/", want: "http://127.0.0.1:8080/api-prefix/"},
		{in: "http://sandbox:8080/a%2Fb", want: "http://sandbox:8080/a%2Fb/"},
		{in: "HTTPS://services.leadconnectorhq.com/", want: "https://services.leadconnectorhq.com/"},
		{in: "ftp://services.leadconnectorhq.com/", wantErr: true},
		{in: "file:///etc/passwd", wantErr: true},
		{in: "javascript:alert(1)", wantErr: true},
		{in: "services.leadconnectorhq.com", wantErr: true},
		{in: "localhost:8080", wantErr: true},
		{in: "//services.leadconnectorhq.com/", wantErr: true},
		{in: "", wantErr: true},
		{in: "http://", wantErr: true},
		{in: "http:///path", wantErr: true},
		{in: "https://services.leadconnectorhq.com/?locationId=x", wantErr: true},
		{in: "https://services.leadconnectorhq.com/#frag", wantErr: true},
		{in: "https://user:pass@services.leadconnectorhq.com/", wantErr: true},
		{in: "https://user@services.leadconnectorhq.com/", wantErr: true},
		{in: "http://[::1", wantErr: true},
		{in: "http://host/%zz", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			c, err := NewClient(WithBaseURL(tt.in))
			if tt.wantErr {
				if err == nil {
					t.Fatalf("NewClient(WithBaseURL(%q)) accepted it as %q", tt.in, c.BaseURL())
				}
				if c != nil {
					t.Errorf("client returned with an error")
				}
				return
			}
			if err != nil {
				t.Fatalf("NewClient(WithBaseURL(%q)): %v", tt.in, err)
			}
			if got := c.BaseURL(); got != tt.want {
				t.Errorf("BaseURL() = %q, want %q", got, tt.want)
			}
		})
	}
}

// TestBaseURLPrefixReachesServer checks end to end that a base URL's path
// prefix, given without a trailing slash or escaped, prefixes every request.
func TestBaseURLPrefixReachesServer(t *testing.T) {
	tests := []struct {
		name, prefix, wantURI string
	}{
		{"no trailing slash", apiPrefix, apiPrefix + "/contacts/" + tContactID},
		{"trailing slash", apiPrefix + "/", apiPrefix + "/contacts/" + tContactID},
		{"escaped prefix", "/v%2F2", "/v%2F2/contacts/" + tContactID},
		{"no prefix", "", "/contacts/" + tContactID},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got atomic.Value
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				got.Store(r.RequestURI)
				writeJSON(w, 200, fixture(t, "contact.json"))
			}))
			t.Cleanup(srv.Close)
			c, err := NewClient(WithBaseURL(srv.URL+tt.prefix), WithTokenSource(staticToken(testToken)))
			if err != nil {
				t.Fatal(err)
			}
			if _, _, err := c.Contacts.Get(t.Context(), tContactID); err != nil {
				t.Fatal(err)
			}
			if uri, _ := got.Load().(string); uri != tt.wantURI {
				t.Errorf("request URI = %q, want %q", uri, tt.wantURI)
			}
		})
	}
}

// TestWithBaseURLEmptyQuery: a base URL that ends in a bare "?" carries an
// empty query that url.Parse keeps (ForceQuery). WithBaseURL must refuse it
// or drop the "?"; either way every request must reach the prefix.
//
// Regression (upstream-baseurl-forcequery, fixed): this test fails. WithBaseURL checks only
// RawQuery != "", keeps ForceQuery, and Do appends the path to
// baseURL.String(), which ends in "?": the path lands in the query string
// and every call goes to the bare prefix.
func TestWithBaseURLEmptyQuery(t *testing.T) {
	t.Run("regression: forcequery", func(t *testing.T) {
		var got atomic.Value
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			got.Store(r.RequestURI)
			writeJSON(w, 200, fixture(t, "contact.json"))
		}))
		t.Cleanup(srv.Close)
		c, err := NewClient(WithBaseURL(srv.URL+apiPrefix+"/?"), WithTokenSource(staticToken(testToken)))
		if err != nil {
			return // refused: fine
		}
		c.Contacts.Get(t.Context(), tContactID)
		if uri, _ := got.Load().(string); uri != apiPrefix+"/contacts/"+tContactID {
			t.Errorf("regression upstream-baseurl-forcequery: base URL %q accepted as %q, and a get-contact went to %q",
				srv.URL+apiPrefix+"/?", c.BaseURL(), uri)
		}
	})
}

func TestOptionRefusals(t *testing.T) {
	tests := []struct {
		name string
		opt  Option
	}{
		{"negative timeout", WithTimeout(-1)},
		{"very negative timeout", WithTimeout(-time.Hour)},
		{"zero max response bytes", WithMaxResponseBytes(0)},
		{"negative max response bytes", WithMaxResponseBytes(-1)},
		{"nil HTTP client", WithHTTPClient(nil)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := NewClient(tt.opt)
			if err == nil || c != nil {
				t.Fatalf("NewClient = %v, %v; want an error", c, err)
			}
			if !strings.HasPrefix(err.Error(), "upstream: ") {
				t.Errorf("error %q does not say where it comes from", err)
			}
		})
	}
	// Accepted edge values.
	for _, opt := range []Option{WithTimeout(0), WithMaxResponseBytes(1), WithUserAgent(""), WithLogger(nil)} {
		if _, err := NewClient(opt); err != nil {
			t.Errorf("NewClient: %v", err)
		}
	}
}

// TestWithTimeoutZero: 0 leaves only the context's deadline, so a slow
// answer within it succeeds.
func TestWithTimeoutZero(t *testing.T) {
	env := setup(t, WithTimeout(0))
	env.handle("GET /contacts/{contactId}", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 200, fixture(t, "contact.json"))
	})
	if _, _, err := env.client.Contacts.Get(t.Context(), tContactID); err != nil {
		t.Fatal(err)
	}
}

func TestWithHTTPClientAndUserAgent(t *testing.T) {
	var calls atomic.Int32
	env := setup(t)
	tr := NewTransport()
	hc := &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
		calls.Add(1)
		return tr.RoundTrip(r)
	})}
	c, err := NewClient(WithBaseURL(env.srv.URL+apiPrefix), WithTokenSource(staticToken(testToken)),
		WithHTTPClient(hc), WithUserAgent("my-gateway/1.2"))
	if err != nil {
		t.Fatal(err)
	}
	env.handle("GET /contacts/{contactId}", func(w http.ResponseWriter, r *http.Request) {
		testHeader(t, r, "User-Agent", "my-gateway/1.2")
		writeJSON(w, 200, fixture(t, "contact.json"))
	})
	if _, _, err := c.Contacts.Get(t.Context(), tContactID); err != nil {
		t.Fatal(err)
	}
	if calls.Load() != 1 {
		t.Errorf("the given HTTP client carried %d calls, want 1", calls.Load())
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// syncBuffer is a bytes.Buffer safe for concurrent writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestWithLoggerRedaction: the debug log of a call, successful or failed,
// names the operation but never shows the token, nor the query string,
// which carries an email and a phone number.
//
// Regression (upstream-redact, fixed): the failed-call row fails: the logged error is the
// transport's *url.Error, whose text holds the whole URL.
func TestWithLoggerRedaction(t *testing.T) {
	for _, tt := range []struct {
		name   string
		closed bool
		bug    string
	}{
		{name: "answered"},
		{name: "regression: connection refused", closed: true, bug: "upstream-redact"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var buf syncBuffer
			logger := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
			env := setup(t, WithLogger(logger))
			env.handle("GET /contacts/search/duplicate", func(w http.ResponseWriter, r *http.Request) {
				writeJSON(w, 200, fixture(t, "duplicate_none.json"))
			})
			if tt.closed {
				env.srv.Close()
			}
			_, _, err := env.client.Contacts.FindDuplicate(t.Context(), tLocationID, "jane.secret@example.org", "+15550001111")
			if tt.closed != (err != nil) {
				t.Fatalf("err = %v", err)
			}
			if tt.closed && !errors.Is(err, ErrConnection) {
				t.Fatalf("err = %v, want ErrConnection", err)
			}
			logs := buf.String()
			if !strings.Contains(logs, "get-duplicate-contact") {
				t.Errorf("log does not name the operation: %s", logs)
			}
			for _, f := range []string{testToken, "jane.secret", "5550001111", "locationId="} {
				if strings.Contains(logs, f) {
					prefix := ""
					if tt.bug != "" {
						prefix = "regression " + tt.bug + ": "
					}
					t.Errorf("%slog shows %q:\n%s", prefix, f, logs)
				}
			}
		})
	}
}
