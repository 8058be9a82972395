// End-to-end tests of issue 10's "budget and limits keyed only by what the
// upstream has confirmed" and issue 16's request priority: what a client
// claims (a header, an unverified JWT, an argument) spends no location's
// rate budget; a rejected token is refused without a call for a while; a
// cold start under HighLevel's real limit draws no 429.

package server_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"github.com/ghl-graphql/gateway/errcode"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ghl-graphql/gateway/auth"
	"github.com/ghl-graphql/gateway/internal/fakeclock"
	"github.com/ghl-graphql/gateway/server"
	"github.com/ghl-graphql/gateway/upstream"
	"github.com/ghl-graphql/gateway/upstream/sandbox"
)

// unsignedJWT returns a JWT whose claims name loc, signed by no one.
func unsignedJWT(t *testing.T, loc string) string {
	t.Helper()
	payload, err := json.Marshal(map[string]any{"authClass": "Location", "authClassId": loc,
		"oauthMeta": map[string]any{"scopes": []string{"contacts.readonly", "contacts.write"}}})
	if err != nil {
		t.Fatal(err)
	}
	enc := base64.RawURLEncoding.EncodeToString
	return enc([]byte(`{"alg":"none","typ":"JWT"}`)) + "." + enc(payload) + "." + enc([]byte("forged"))
}

// statusCounter counts the sandbox's answers by status.
type statusCounter struct {
	mu sync.Mutex
	n  map[int]int
}

func (c *statusCounter) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sw := &rsStatusWriter{ResponseWriter: w}
		next.ServeHTTP(sw, r)
		c.mu.Lock()
		if c.n == nil {
			c.n = map[int]int{}
		}
		c.n[sw.status]++
		c.mu.Unlock()
	})
}

func (c *statusCounter) count(status int) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n[status]
}

func TestE2EClaimsSpendNoLocationBudget(t *testing.T) {
	t.Parallel()
	clk := fakeclock.New(time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC))
	budget := upstream.NewLocalBudget(upstream.BudgetConfig{Max: 100, Interval: 10 * time.Second, Now: clk.Now})
	var statuses statusCounter
	e := newE2E(t, withClientOptions(upstream.WithRateBudget(budget)), withUpstreamMiddleware(statuses.wrap),
		withServer(func(c *server.Config) { c.Now = clk.Now }))
	e.sb.SetRateLimit(sandbox.RateLimit{Max: 100, Interval: 10 * time.Second})
	victim := e.locA
	idA := e.sb.ContactIDs(victim)[0]
	pitB := e.sb.Token(e.locB, sandbox.ScopeContactsRead)
	snapshot := `query($id: ID!) { contact(id: $id) { id tasks { id } notes { id } appointments { id } } }`
	search := `query($l: ID) { contacts(locationId: $l, first: 5) { nodes { id } } }`

	tests := []struct {
		name     string
		token    string
		header   string
		query    string
		vars     map[string]any
		wantCode string
		// refused: after the first answer, the token gets no more calls.
		refused bool
	}{
		{name: "random token with X-Location-Id", token: "pit-" + strings.Repeat("7", 36), header: victim,
			query: snapshot, vars: map[string]any{"id": idA}, wantCode: "UNAUTHENTICATED", refused: true},
		{name: "unsigned JWT naming the location", token: unsignedJWT(t, victim),
			query: snapshot, vars: map[string]any{"id": idA}, wantCode: "UNAUTHENTICATED", refused: true},
		{name: "random token with the locationId argument", token: "made-up-token",
			query: search, vars: map[string]any{"l": victim}, wantCode: "UNAUTHENTICATED", refused: true},
		{name: "another location's real token claiming the victim's", token: pitB, header: victim,
			query: search, vars: map[string]any{"l": victim}, wantCode: "FORBIDDEN"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := budget.Remaining(victim)
			calls := e.sb.TotalCalls()
			for i := range 5 {
				r := e.gqlLoc(tt.token, tt.header, tt.query, tt.vars)
				if len(r.Errors) == 0 || r.Errors[0].Extensions["code"] != tt.wantCode {
					t.Fatalf("attempt %d: %s, want %s", i, r.Body, tt.wantCode)
				}
				if i == 0 {
					calls = e.sb.TotalCalls()
				}
			}
			if got := budget.Remaining(victim); got != before {
				t.Errorf("the victim's budget went from %d to %d", before, got)
			}
			if tt.refused && e.sb.TotalCalls() != calls {
				t.Errorf("a rejected token made %d more upstream calls, want 0", e.sb.TotalCalls()-calls)
			}
		})
	}
	if n := statuses.count(http.StatusTooManyRequests); n != 0 {
		t.Errorf("the sandbox answered 429 %d times", n)
	}
	// The victim's own token still has the whole budget, and spends it.
	before := budget.Remaining(victim)
	if before != 100 {
		t.Errorf("victim's budget %d before its own call, want 100", before)
	}
	e.gql(e.token, snapshot, map[string]any{"id": idA}).ok(t)
	if got := budget.Remaining(victim); got != before-4 {
		t.Errorf("victim's budget %d after its own snapshot, want %d", got, before-4)
	}
}

// A cold start, HighLevel's real limit on: a token whose location the
// gateway has not confirmed yet, 250 snapshots with 50 in flight. The calls
// made before the confirmation move into the location's window, so the
// upstream never sees more than its limit. Before, 157 answers were 429s.
func TestE2EColdStartDrawsNo429(t *testing.T) {
	for _, tc := range []struct {
		name   string
		token  func(sb *sandbox.Server, loc string) string
		header bool
	}{
		{"HighLevel JWT", func(sb *sandbox.Server, loc string) string { return sb.AccessToken(loc, sandbox.ScopeContactsRead) }, false},
		{"Private Integration Token with X-Location-Id", func(sb *sandbox.Server, loc string) string { return sb.Token(loc, sandbox.ScopeContactsRead) }, true},
		{"Private Integration Token, location learned from answers", func(sb *sandbox.Server, loc string) string { return sb.Token(loc, sandbox.ScopeContactsRead) }, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rsNoLeaks(t)
			budget := upstream.NewLocalBudget(upstream.BudgetConfig{})
			e := newRSEnv(t, rsConfig{contacts: 250,
				clientOpts: []upstream.Option{upstream.WithRateBudget(budget), upstream.WithRetryPolicy(rsRetries)},
				server:     func(c *server.Config) { c.RequestTimeout = 10 * time.Second },
			})
			e.sb.SetRateLimit(sandbox.RateLimit{Max: upstream.DefaultBudgetMax, Interval: upstream.DefaultBudgetInterval})
			e.token = tc.token(e.sb, e.loc) // gql sends it
			header := http.Header{}
			if tc.header {
				header.Set(server.HeaderLocationID, e.loc)
			}
			ids := e.sb.ContactIDs(e.loc)
			jobs := make(chan string)
			var mu sync.Mutex
			var full, limited int
			codes := map[string]int{}
			var wg sync.WaitGroup
			for range 50 {
				wg.Go(func() {
					for id := range jobs {
						a, err := e.gql(context.Background(), rsSnapshot, map[string]any{"id": id}, header)
						mu.Lock()
						switch {
						case err != nil:
							t.Errorf("%s: %v", id, err)
						case len(a.errors) == 0:
							full++
						default:
							for _, ge := range a.errors {
								codes[ge.code()]++
							}
							limited++
						}
						mu.Unlock()
					}
				})
			}
			for _, id := range ids[:250] {
				jobs <- id
			}
			close(jobs)
			wg.Wait()
			t.Logf("250 snapshots: %d full, %d with errors %v; upstream calls %d", full, limited, codes, e.sb.TotalCalls())
			if n := e.watch.count(http.StatusTooManyRequests); n != 0 {
				t.Errorf("the sandbox answered 429 %d times, want 0", n)
			}
			for code := range codes {
				if code != "RATE_LIMITED" {
					t.Errorf("error code %s, want only RATE_LIMITED", code)
				}
			}
			// The window's 100 calls are shared by snapshots that began at
			// once; those left partial spent some of them, and how many end
			// full depends on how fair shares split the window as they
			// arrive (15-24 of 250 on an idle machine, 7 under the race
			// detector in CI). What the cold start must show: data served,
			// and the credential, once confirmed, spending the location's
			// window rather than the small one of an unconfirmed credential.
			if full < 1 {
				t.Errorf("%d full snapshots, want some", full)
			}
			if calls := e.sb.TotalCalls(); calls <= int64(upstream.DefaultBudgetUnconfirmedMax) {
				t.Errorf("%d upstream calls: the credential never reached its location's window", calls)
			}
			if calls := e.sb.TotalCalls(); calls > int64(upstream.DefaultBudgetMax) {
				t.Errorf("%d upstream calls in one window, want at most %d", calls, upstream.DefaultBudgetMax)
			}
			// Everything the token spent is in its location's window.
			if got := budget.Remaining(e.loc); got > upstream.DefaultBudgetMax-int(e.sb.TotalCalls()) {
				t.Errorf("location Remaining = %d after %d calls", got, e.sb.TotalCalls())
			}
		})
	}
}

func TestE2EPriorityHeader(t *testing.T) {
	t.Parallel()
	e := newE2E(t)
	ids := e.sb.ContactIDs(e.locA)
	q := `query($id: ID!) { contact(id: $id) { id } }`
	for i, tc := range []struct {
		value  string
		status int
	}{{"background", 200}, {"Interactive", 200}, {"", 200}, {"urgent", 400}} {
		t.Run(fmt.Sprintf("%q", tc.value), func(t *testing.T) {
			// A contact each: a stored response would answer before the check.
			r := e.send(request{token: e.token, query: q, vars: map[string]any{"id": ids[i]},
				header: http.Header{server.HeaderPriority: {tc.value}}})
			if r.Status != tc.status {
				t.Fatalf("status %d, want %d: %s", r.Status, tc.status, r.Body)
			}
			if tc.status == 400 {
				r.wantError(t, 400, errcode.CodeBadRequest)
			} else {
				r.ok(t)
			}
		})
	}
}

// Managed mode's credentials are confirmed by construction: their calls
// count against their location's budget from the first one.
func TestManagedCredentialIsConfirmed(t *testing.T) {
	cred := auth.NewManaged("loc-1", nil, false, "key:1")
	if !cred.Confirmed() || cred.BudgetKey() != "loc-1" {
		t.Errorf("managed credential: confirmed %v, key %q", cred.Confirmed(), cred.BudgetKey())
	}
	for _, tok := range []string{"pit-123", unsignedJWT(t, "loc-1")} {
		c := auth.NewBearer(tok, "loc-1")
		if c.Confirmed() || c.BudgetKey() != upstream.CredentialBudgetKey(c.ID) {
			t.Errorf("bearer %q: confirmed %v, key %q; want its own key", tok[:8], c.Confirmed(), c.BudgetKey())
		}
	}
}
