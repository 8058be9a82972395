// Tests of the request's share of the rate budget: what withBudgetWait puts
// in the context (allowance, client, priority; a bad priority refused), and
// the upfront capacity check reckoning with the wait bound, not the deadline.

package server

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/ghl-graphql/gateway/auth"
	"github.com/ghl-graphql/gateway/internal/fakeclock"
	"github.com/ghl-graphql/gateway/upstream"
)

func TestWithBudgetWait(t *testing.T) {
	tests := []struct {
		header     string
		wantStatus int
		want       upstream.Priority
	}{
		{"", http.StatusOK, upstream.PriorityInteractive},
		{"interactive", http.StatusOK, upstream.PriorityInteractive},
		{" Background ", http.StatusOK, upstream.PriorityBackground},
		{"urgent", http.StatusBadRequest, 0},
	}
	for _, tc := range tests {
		t.Run(tc.header, func(t *testing.T) {
			var got upstream.BudgetRequest
			var seen bool
			h := withBudgetWait(3*time.Second, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				got, seen = upstream.BudgetRequestFromContext(r.Context())
			}))
			req := httptest.NewRequest(http.MethodPost, GraphQLPath, nil)
			req.Header.Set(HeaderPriority, tc.header)
			cred := auth.NewManaged("loc-1", nil, false, "key:abc")
			req = req.WithContext(auth.WithCredential(req.Context(), cred))
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != tc.wantStatus {
				t.Fatalf("status %d, want %d: %s", rec.Code, tc.wantStatus, rec.Body)
			}
			if tc.wantStatus != http.StatusOK {
				if seen {
					t.Error("a refused request ran")
				}
				return
			}
			want := upstream.BudgetRequest{Client: "key:abc", Priority: tc.want, MaxWait: 3 * time.Second}
			if !seen || got != want {
				t.Errorf("budget request %+v (%v), want %+v", got, seen, want)
			}
		})
	}
}

func TestBudgetOfReckonsWithTheWait(t *testing.T) {
	clk := fakeclock.New(time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC))
	budget := upstream.NewLocalBudget(upstream.BudgetConfig{Max: 10, Interval: 10 * time.Second, Now: clk.Now})
	client, err := upstream.NewClient(upstream.WithRateBudget(budget))
	if err != nil {
		t.Fatal(err)
	}
	for range 8 {
		if err := budget.Wait(context.Background(), "loc"); err != nil {
			t.Fatal(err)
		}
		budget.Observe("loc", upstream.Rate{Max: -1, Remaining: -1, Interval: -1, DailyLimit: -1, DailyRemaining: -1}, 200, 0)
	}
	check := budgetOf(client, 2*time.Second)
	// A minute of deadline, but 2 s of allowed wait.
	ctx, cancel := context.WithTimeout(auth.WithCredential(context.Background(), auth.NewManaged("loc", nil, false, "k")), time.Minute)
	defer cancel()
	ctx = upstream.ContextWithBudgetRequest(ctx, upstream.BudgetRequest{MaxWait: 2 * time.Second})
	tests := []struct {
		cost      int
		wantCap   int
		wantAfter time.Duration
		wantOK    bool
	}{
		{cost: 2, wantCap: 2, wantOK: true},
		// The 8 calls leave the window in 10 s: 8 s from now, a 2 s wait
		// reaches them. The whole deadline would have let it run now.
		{cost: 3, wantCap: 2, wantAfter: 8 * time.Second, wantOK: true},
		// More than any window allows within 2 s: not judged upfront.
		{cost: 11, wantCap: 2, wantOK: false},
	}
	for _, tc := range tests {
		capacity, after, ok := check(ctx, tc.cost)
		if capacity != tc.wantCap || after != tc.wantAfter || ok != tc.wantOK {
			t.Errorf("cost %d: capacity %d, retry after %v, ok %v; want %d, %v, %v",
				tc.cost, capacity, after, ok, tc.wantCap, tc.wantAfter, tc.wantOK)
		}
	}
	// An unconfirmed credential is judged against its own small key.
	cctx := auth.WithCredential(context.Background(), auth.NewBearer("pit-x", "loc"))
	if capacity, _, ok := check(cctx, 4); !ok || capacity != 10 {
		t.Errorf("unconfirmed credential: capacity %d (ok %v), want its own fresh 10", capacity, ok)
	}
}
