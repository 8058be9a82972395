// This file gives each GraphQL request its share of the rate budget: a
// bounded wait for budget slots (one allowance for all its calls, so that a
// query never waits longer than -budget-max-wait in total), who it is for
// fair shares between clients, and its priority (X-Gateway-Priority); and
// it wires what is learned about pass-through tokens to the budget.

package server

import (
	"github.com/ghl-graphql/gateway/errcode"
	"net/http"
	"strings"
	"time"

	"github.com/ghl-graphql/gateway/auth"
	"github.com/ghl-graphql/gateway/upstream"
)

// HeaderPriority lets a client say that a request may yield to others:
// "background" (bulk syncs, prefetches) waits behind every interactive
// request of its location; "interactive", the default, does not.
const HeaderPriority = "X-Gateway-Priority"

// The values of HeaderPriority.
const (
	PriorityInteractive = "interactive"
	PriorityBackground  = "background"
)

// withBudgetWait puts the request's wait allowance, client and priority in
// its context for the rate budget (upstream.ContextWithBudgetRequest). A
// priority header with another value is refused with BAD_REQUEST.
func withBudgetWait(maxWait time.Duration, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		br := upstream.BudgetRequest{MaxWait: maxWait}
		switch v := strings.TrimSpace(r.Header.Get(HeaderPriority)); {
		case v == "" || strings.EqualFold(v, PriorityInteractive):
		case strings.EqualFold(v, PriorityBackground):
			br.Priority = upstream.PriorityBackground
		default:
			writeError(w, r, errcode.New(errcode.CodeBadRequest, "%s must be %s or %s", HeaderPriority, PriorityInteractive, PriorityBackground))
			return
		}
		if cred, ok := auth.FromContext(r.Context()); ok {
			// The subject, not the token's ID: in managed mode every client
			// of a location shares the install's token.
			br.Client = cred.Subject
		}
		next.ServeHTTP(w, r.WithContext(upstream.ContextWithBudgetRequest(r.Context(), br)))
	})
}

// newLearned returns what pass-through mode learns about tokens: when an
// answer confirms a token's location, the calls it made under its own
// budget key are moved to the location's, so that a cold start counts them
// where the upstream does.
func newLearned(cfg Config) *auth.Learned {
	client := cfg.Client
	return auth.NewLearnedConfig(auth.LearnedConfig{
		RejectedBackoff: cfg.RejectedTokenBackoff,
		Now:             cfg.Now,
		OnConfirm: func(id, location string) {
			client.ConfirmRateBudget(upstream.CredentialBudgetKey(id), location)
		},
	})
}
