package upstream_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/ghl-graphql/gateway/redisx/redistest"
	"github.com/ghl-graphql/gateway/upstream"
	"github.com/ghl-graphql/gateway/upstream/sandbox"
	"golang.org/x/oauth2"
)

// TestRedisBudgetClientsOverSandbox: three Clients (as three replicas),
// each with a RedisBudget on one Redis, overload one location of a
// sandbox that enforces 10 calls per second: Client.Do's whole path
// (waits, answers observed, headers) sends no call the sandbox refuses.
func TestRedisBudgetClientsOverSandbox(t *testing.T) {
	url := redistest.URL(t)
	prefix := redistest.Prefix(t, url)
	sb, err := sandbox.New(sandbox.Config{Seed: 1, ContactsPerLocation: 20, RateLimit: sandbox.RateLimit{Max: 10, Interval: time.Second}})
	if err != nil {
		t.Fatal(err)
	}
	sc := &statusCounter{h: sb, n: map[int]int{}}
	srv := httptest.NewServer(sc)
	defer srv.Close()
	loc := sb.Locations()[0]
	ids := sb.ContactIDs(loc)
	tok := sb.Token(loc, sandbox.ScopeContactsRead)
	var clients []*upstream.Client
	for _, conn := range redistest.Conns(t, url, prefix, 3) {
		hc := upstream.NewHTTPClient()
		defer hc.CloseIdleConnections()
		c, err := upstream.NewClient(upstream.WithBaseURL(srv.URL), upstream.WithHTTPClient(hc),
			upstream.WithTokenSource(oauth2.StaticTokenSource(&oauth2.Token{AccessToken: tok})),
			upstream.WithRateBudget(upstream.NewRedisBudget(conn, upstream.BudgetConfig{Max: 10, Interval: time.Second, MaxWait: 500 * time.Millisecond}, nil)))
		if err != nil {
			t.Fatal(err)
		}
		clients = append(clients, c)
	}
	end := time.Now().Add(3 * time.Second)
	var wg sync.WaitGroup
	var mu sync.Mutex
	ok, refused := 0, 0
	for i, c := range clients {
		for w := range 4 {
			wg.Go(func() {
				for n := 0; time.Now().Before(end); n++ {
					ctx := upstream.ContextWithBudgetKey(context.Background(), loc)
					_, _, err := c.Contacts.Get(ctx, ids[(i*4+w+n)%len(ids)])
					mu.Lock()
					if err == nil {
						ok++
					} else {
						refused++
					}
					mu.Unlock()
					var e *upstream.Error
					if errors.As(err, &e) && errors.Is(err, upstream.ErrRateLimited) {
						time.Sleep(min(max(e.RetryAfter, 5*time.Millisecond), time.Until(end)))
					} else if err != nil {
						t.Errorf("Get: %v", err)
						return
					}
				}
			})
		}
	}
	wg.Wait()
	t.Logf("%d reads served, %d refused by the budget; the sandbox answered %d 200s and %d 429s",
		ok, refused, sc.count(http.StatusOK), sc.count(http.StatusTooManyRequests))
	if n := sc.count(http.StatusTooManyRequests); n != 0 {
		t.Errorf("the sandbox answered %d 429s, want 0", n)
	}
	if ok < 10 {
		t.Errorf("%d reads served in 3 s at 10 per s: the budget let too few go", ok)
	}
}
