// Tests for the HTTP surface that need no real upstream: transports, limits,
// credentials, health and readiness. The end-to-end tests against the
// sandbox are in e2e_test.go.

package server

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/ghl-graphql/gateway/errcode"
	"github.com/ghl-graphql/gateway/playground"
	"github.com/ghl-graphql/gateway/upstream"
)

// stubUpstream answers every call with a contact and counts calls.
func stubUpstream(t testing.TB) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	var calls atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"contact":{"id":"c1","locationId":"loc1","firstName":"Ada","tags":[]}}`)
	}))
	t.Cleanup(srv.Close)
	return srv, &calls
}

func newTestHandler(t testing.TB, upstreamURL string, mut func(*Config)) http.Handler {
	t.Helper()
	client, err := upstream.NewClient(upstream.WithBaseURL(upstreamURL))
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{Client: client, Introspection: true, MaxBodyBytes: 4096}
	if mut != nil {
		mut(&cfg)
	}
	h, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

type gqlResponse struct {
	Data   json.RawMessage `json:"data"`
	Errors []struct {
		Message    string         `json:"message"`
		Path       []any          `json:"path"`
		Extensions map[string]any `json:"extensions"`
	} `json:"errors"`
}

func do(t *testing.T, h http.Handler, req *http.Request) (*httptest.ResponseRecorder, gqlResponse) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	var out gqlResponse
	if strings.HasPrefix(rec.Header().Get("Content-Type"), "application/json") || strings.HasPrefix(rec.Header().Get("Content-Type"), "application/graphql-response+json") {
		if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil {
			t.Fatalf("body %q: %v", rec.Body.String(), err)
		}
	}
	return rec, out
}

func post(body, token string) *http.Request {
	r := httptest.NewRequest(http.MethodPost, GraphQLPath, strings.NewReader(body))
	r.Header.Set("Content-Type", "application/json")
	if token != "" {
		r.Header.Set("Authorization", token)
	}
	return r
}

func TestGraphQLTransports(t *testing.T) {
	up, calls := stubUpstream(t)
	h := newTestHandler(t, up.URL, nil)
	big := `{"query":"{ contact(id: \"` + strings.Repeat("x", 5000) + `\") { id } }"}`
	tests := map[string]struct {
		req        *http.Request
		wantStatus int
		wantCode   string // extensions.code of the first error, "" for none
		wantData   string // substring of data
	}{
		"POST query": {
			req: post(`{"query":"{ contact(id: \"c1\") { id firstName } }"}`, "Bearer t"), wantStatus: 200,
			wantData: `"firstName":"Ada"`,
		},
		"GET query": {
			req:        httptest.NewRequest(http.MethodGet, GraphQLPath+"?query="+url.QueryEscape(`{ contact(id: "c1") { id } }`), nil),
			wantStatus: 200, wantCode: "UNAUTHENTICATED", // no token: the field fails, the request does not
		},
		"GET mutation refused": {
			req:        httptest.NewRequest(http.MethodGet, GraphQLPath+"?query="+url.QueryEscape(`mutation { deleteContact(id: "c1") { success } }`), nil),
			wantStatus: 405, wantCode: errcode.CodeBadRequest, // GraphQL over HTTP: 405 with Allow: POST
		},
		"malformed JSON body": {
			req: post(`{"query": `, "Bearer t"), wantStatus: 400, wantCode: errcode.CodeBadRequest,
		},
		"chunked body over the limit": {
			req: func() *http.Request {
				r := post(big, "Bearer t")
				r.ContentLength = -1
				return r
			}(), wantStatus: 413, wantCode: "BAD_USER_INPUT",
		},
		"malformed query": {
			req: post(`{"query":"{ contact(id: "}`, "Bearer t"), wantStatus: 200, wantCode: "GRAPHQL_PARSE_FAILED",
		},
		"unknown field": {
			req: post(`{"query":"{ contact(id: \"c1\") { nope } }"}`, "Bearer t"), wantStatus: 200, wantCode: "GRAPHQL_VALIDATION_FAILED",
		},
		"wrong variable type": {
			req:        post(`{"query":"query($id: ID!) { contact(id: $id) { id } }","variables":{"id":{"a":1}}}`, "Bearer t"),
			wantStatus: 200, wantCode: "GRAPHQL_VALIDATION_FAILED",
		},
		"unknown enum value": {
			req:        post(`{"query":"mutation { bulkUpdateContactTags(input: {action: SOMETIMES, contactIds: [\"a\"], tags: [\"t\"]}) { success } }"}`, "Bearer t"),
			wantStatus: 200, wantCode: "GRAPHQL_VALIDATION_FAILED",
		},
		"body over the limit": {
			req: post(big, "Bearer t"), wantStatus: 413, wantCode: "BAD_USER_INPUT",
		},
		"malformed Authorization": {
			req: post(`{"query":"{ contact(id: \"c1\") { id } }"}`, "Basic abc"), wantStatus: 401, wantCode: "UNAUTHENTICATED",
		},
		"empty id refused before any call": {
			req: post(`{"query":"{ contact(id: \"\") { id } }"}`, "Bearer t"), wantStatus: 200, wantCode: "BAD_USER_INPUT",
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			before := calls.Load()
			rec, out := do(t, h, tc.req)
			if rec.Code != tc.wantStatus {
				t.Fatalf("status = %d, want %d; body %s", rec.Code, tc.wantStatus, rec.Body)
			}
			if tc.wantCode != "" {
				if len(out.Errors) == 0 || out.Errors[0].Extensions["code"] != tc.wantCode {
					t.Fatalf("errors = %+v, want code %s", out.Errors, tc.wantCode)
				}
				if tc.wantCode != "UNAUTHENTICATED" && calls.Load() != before {
					t.Errorf("bad input reached the upstream")
				}
			}
			if tc.wantData != "" && !strings.Contains(string(out.Data), tc.wantData) {
				t.Errorf("data = %s, want %s", out.Data, tc.wantData)
			}
		})
	}
}

func TestIntrospectionSwitch(t *testing.T) {
	up, _ := stubUpstream(t)
	q := `{"query":"{ __schema { queryType { name } } }"}`
	for _, on := range []bool{true, false} {
		h := newTestHandler(t, up.URL, func(c *Config) { c.Introspection = on })
		_, out := do(t, h, post(q, ""))
		got := len(out.Errors) == 0 && strings.Contains(string(out.Data), "Query")
		if got != on {
			t.Errorf("introspection %v: data %s errors %+v", on, out.Data, out.Errors)
		}
	}
}

func TestHealthAndReadiness(t *testing.T) {
	up, _ := stubUpstream(t)
	var fail atomic.Bool
	h := newTestHandler(t, up.URL, func(c *Config) {
		c.Ready = func(context.Context) error {
			if fail.Load() {
				return errors.New("upstream unreachable")
			}
			return nil
		}
	})
	rec, _ := do(t, h, httptest.NewRequest(http.MethodGet, HealthPath, nil))
	if rec.Code != 200 {
		t.Errorf("healthz = %d", rec.Code)
	}
	rec, _ = do(t, h, httptest.NewRequest(http.MethodGet, ReadyPath, nil))
	if rec.Code != 200 {
		t.Errorf("readyz = %d", rec.Code)
	}

	// A fresh handler sees the failure (answers are cached per handler).
	fail.Store(true)
	h = newTestHandler(t, up.URL, func(c *Config) {
		c.Ready = func(context.Context) error { return errors.New("upstream unreachable") }
	})
	rec, _ = do(t, h, httptest.NewRequest(http.MethodGet, ReadyPath, nil))
	if rec.Code != http.StatusServiceUnavailable {
		t.Errorf("readyz with the upstream down = %d", rec.Code)
	}
}

func TestUpstreamReachable(t *testing.T) {
	up, _ := stubUpstream(t)
	if err := UpstreamReachable(http.DefaultClient, up.URL)(context.Background()); err != nil {
		t.Errorf("reachable upstream: %v", err)
	}
	closed := httptest.NewServer(http.NotFoundHandler())
	closed.Close()
	if err := UpstreamReachable(http.DefaultClient, closed.URL)(context.Background()); err == nil {
		t.Error("closed upstream reported reachable")
	}
}

func TestRequestID(t *testing.T) {
	up, _ := stubUpstream(t)
	h := newTestHandler(t, up.URL, nil)
	r := httptest.NewRequest(http.MethodGet, HealthPath, nil)
	r.Header.Set("X-Request-Id", "abc-123")
	rec, _ := do(t, h, r)
	if rec.Header().Get("X-Request-Id") != "abc-123" {
		t.Errorf("client request ID not kept: %q", rec.Header().Get("X-Request-Id"))
	}
	r = httptest.NewRequest(http.MethodGet, HealthPath, nil)
	r.Header.Set("X-Request-Id", "bad id\n")
	rec, _ = do(t, h, r)
	if id := rec.Header().Get("X-Request-Id"); id == "" || strings.ContainsAny(id, " \n") {
		t.Errorf("unsafe request ID kept: %q", id)
	}
}

func TestPlaygroundMounted(t *testing.T) {
	up, _ := stubUpstream(t)
	h := newTestHandler(t, up.URL, func(c *Config) {
		c.Playground = &playground.Options{Endpoint: GraphQLPath, DefaultHeaders: map[string]string{"Authorization": "Bearer sbx"}}
	})
	rec, _ := do(t, h, httptest.NewRequest(http.MethodGet, "/", nil))
	if rec.Code != 200 || !strings.Contains(rec.Body.String(), GraphQLPath) {
		t.Errorf("GraphiQL page: %d", rec.Code)
	}
	h = newTestHandler(t, up.URL, nil)
	rec, _ = do(t, h, httptest.NewRequest(http.MethodGet, "/", nil))
	if rec.Code != http.StatusNotFound {
		t.Errorf("GraphiQL switched off still served: %d", rec.Code)
	}
}

func TestSchemaSDL(t *testing.T) {
	sdl := SchemaSDL()
	for _, want := range []string{"type Query", "type Mutation", "createContact", "DateTime", `"""`} {
		if !strings.Contains(sdl, want) {
			t.Errorf("SDL lacks %q", want)
		}
	}
}
