package server

import (
	"bytes"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ghl-graphql/gateway/internal/fakeclock"
	"github.com/ghl-graphql/gateway/playground"
	"github.com/ghl-graphql/gateway/upstream"
	"github.com/ghl-graphql/gateway/upstream/sandbox"
)

// syncBuffer is a bytes.Buffer safe for the handler's concurrent writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) lines(sub string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, l := range strings.Split(s.b.String(), "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return out
}

// At info the log tells the story: one line per GraphQL request with its
// outcome and codes, so that a dead upstream shows as UPSTREAM_UNAVAILABLE
// counts although every answer is a 200; GraphiQL's page and assets and the
// probes appear at debug only.
func TestRequestLogLevels(t *testing.T) {
	// A dead upstream: nothing listens where the client calls.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := "http://" + ln.Addr().String() + "/"
	ln.Close()
	sb, err := sandbox.New(sandbox.Config{ContactsPerLocation: 1})
	if err != nil {
		t.Fatal(err)
	}
	token := sb.DefaultToken()

	for _, level := range []slog.Level{slog.LevelInfo, slog.LevelDebug} {
		t.Run(level.String(), func(t *testing.T) {
			clock := fakeclock.New(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
			client, err := upstream.NewClient(upstream.WithBaseURL(dead),
				upstream.WithRetryPolicy(upstream.RetryPolicy{MaxAttempts: 1}),
				upstream.WithCircuitBreaker(upstream.BreakerConfig{MinCalls: 2, CoolDown: time.Hour, Now: clock.Now}))
			if err != nil {
				t.Fatal(err)
			}
			var logs syncBuffer
			h, err := New(Config{Client: client, Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: level})),
				Playground: &playground.Options{Endpoint: GraphQLPath}, Introspection: true})
			if err != nil {
				t.Fatal(err)
			}
			srv := httptest.NewServer(h)
			defer srv.Close()
			query := func(tok, q string) int {
				t.Helper()
				req, _ := http.NewRequest(http.MethodPost, srv.URL+GraphQLPath, strings.NewReader(`{"query":`+q+`}`))
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set("Authorization", "Bearer "+tok)
				resp, err := srv.Client().Do(req)
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				return resp.StatusCode
			}
			// Two distinct contacts fail on the connection and open the
			// breaker; the next two fail fast.
			for i := range 4 {
				if s := query(token, `"query Snap { contact(id: \"c`+string(rune('0'+i))+`\") { id } }"`); s != http.StatusOK {
					t.Fatalf("status %d", s)
				}
			}
			query(token[:len(token)/2], `"{ __typename }"`) // a cut paste
			query(token, `"{ __typename }"`)                // fine, no upstream call
			for _, p := range []string{HealthPath, ReadyPath, "/", "/playground/manifest.json"} {
				resp, err := srv.Client().Get(srv.URL + p)
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
			}

			gql := logs.lines("msg=graphql")
			if len(gql) != 6 {
				t.Fatalf("%d graphql lines, want 6:\n%s", len(gql), strings.Join(gql, "\n"))
			}
			for i, want := range []string{
				"outcome=error operation=Snap errors=1 codes=UPSTREAM_ERROR:1",
				"outcome=error operation=Snap errors=1 codes=UPSTREAM_ERROR:1",
				"outcome=error operation=Snap errors=1 codes=UPSTREAM_UNAVAILABLE:1",
				"outcome=error operation=Snap errors=1 codes=UPSTREAM_UNAVAILABLE:1",
				"status=401 outcome=error errors=1 codes=UNAUTHENTICATED:1",
				"status=200 outcome=ok operation=query duration=",
			} {
				if !strings.Contains(gql[i], want) || !strings.Contains(gql[i], "level=INFO") {
					t.Errorf("line %d: %s\nwant %q at INFO", i, gql[i], want)
				}
			}
			quiet := logs.lines("msg=request")
			if level == slog.LevelInfo && len(quiet) != 0 {
				t.Errorf("assets and probes logged at info:\n%s", strings.Join(quiet, "\n"))
			}
			if level == slog.LevelDebug {
				for _, p := range []string{HealthPath, ReadyPath, "path=/ ", "/playground/manifest.json"} {
					found := false
					for _, l := range quiet {
						found = found || (strings.Contains(l, p) && strings.Contains(l, "level=DEBUG"))
					}
					if !found {
						t.Errorf("no debug line for %s:\n%s", p, strings.Join(quiet, "\n"))
					}
				}
			}
		})
	}
}

func TestRequestOutcomeAttrs(t *testing.T) {
	for name, tc := range map[string]struct {
		o    *requestOutcome
		want string
	}{
		"ok":      {o: &requestOutcome{}, want: "[outcome ok]"},
		"partial": {o: &requestOutcome{errors: 3, codes: map[string]int{"RATE_LIMITED": 1, "NOT_FOUND": 2}}, want: "[outcome partial errors 3 codes NOT_FOUND:2,RATE_LIMITED:1]"},
		"error":   {o: &requestOutcome{noData: true, operation: "Q", errors: 1, codes: map[string]int{"X": 1}}, want: "[outcome error operation Q errors 1 codes X:1]"},
	} {
		got := fmtAttrs(tc.o.appendAttrs(nil))
		if got != tc.want {
			t.Errorf("%s: %s, want %s", name, got, tc.want)
		}
	}
}

func fmtAttrs(a []slog.Attr) string {
	var parts []string
	for _, v := range a {
		parts = append(parts, v.Key, fmt.Sprint(v.Value.Any()))
	}
	return "[" + strings.Join(parts, " ") + "]"
}
