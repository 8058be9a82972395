// Tests of the budget policy's settings (issue 16): priming and the
// completing calls' share.

package main

import (
	"testing"
	"time"

	"github.com/ghl-graphql/gateway/loaders"
	"github.com/ghl-graphql/gateway/server"
	"github.com/ghl-graphql/gateway/upstream"
)

func TestPrimeSettings(t *testing.T) {
	for _, tc := range []struct {
		name    string
		args    []string
		env     map[string]string
		prime   loaders.PrimeConfig
		share   float64
		partial time.Duration
		wantErr string
	}{
		{name: "defaults", prime: loaders.PrimeConfig{Contacts: loaders.DefaultPrimeContacts, PageSize: loaders.DefaultPrimePageSize, WhenRemaining: loaders.DefaultPrimeWhenRemaining},
			share: upstream.DefaultBudgetCompletingShare, partial: server.DefaultPartialCacheTTL},
		{name: "off", args: []string{"-prime-contacts", "0", "-cache-partial-ttl", "0"}, prime: loaders.PrimeConfig{PageSize: loaders.DefaultPrimePageSize, WhenRemaining: loaders.DefaultPrimeWhenRemaining},
			share: upstream.DefaultBudgetCompletingShare},
		{name: "from the environment",
			env: map[string]string{"GATEWAY_PRIME_CONTACTS": "5000", "GATEWAY_PRIME_PAGE_SIZE": "500", "GATEWAY_BUDGET_COMPLETING_SHARE": "1",
				"GATEWAY_CACHE_PARTIAL_TTL": "300ms", "GATEWAY_PRIME_WHEN_REMAINING": "1"},
			prime: loaders.PrimeConfig{Contacts: 5000, PageSize: 500, WhenRemaining: 1}, share: 1, partial: 300 * time.Millisecond},
		{name: "sweeps with no window left", args: []string{"-prime-when-remaining", "0"}, wantErr: "-prime-when-remaining"},
		{name: "sweeps past a whole window", args: []string{"-prime-when-remaining", "1.1"}, wantErr: "-prime-when-remaining"},
		{name: "negative partial TTL", args: []string{"-cache-partial-ttl", "-1s"}, wantErr: "-cache-partial-ttl"},
		{name: "negative contacts", args: []string{"-prime-contacts", "-1"}, wantErr: "-prime-contacts"},
		{name: "page of none", args: []string{"-prime-page-size", "0"}, wantErr: "-prime-page-size"},
		{name: "page past the search's limit", args: []string{"-prime-page-size", "501"}, wantErr: "-prime-page-size"},
		{name: "no share", args: []string{"-budget-completing-share", "0"}, wantErr: "-budget-completing-share"},
		{name: "more than the window", env: map[string]string{"GATEWAY_BUDGET_COMPLETING_SHARE": "1.5"}, wantErr: "GATEWAY_BUDGET_COMPLETING_SHARE"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, ok := parseConfigCase(t, tc.args, tc.env, tc.wantErr)
			if !ok {
				return
			}
			if got := c.prime.settings(); got.Contacts != tc.prime.Contacts || got.PageSize != tc.prime.PageSize || got.WhenRemaining != tc.prime.WhenRemaining {
				t.Errorf("prime = %+v, want %+v", got, tc.prime)
			}
			if c.prime.partialTTL != tc.partial {
				t.Errorf("partial TTL = %v, want %v", c.prime.partialTTL, tc.partial)
			}
			if c.budget.CompletingShare != tc.share {
				t.Errorf("completing share = %v, want %v", c.budget.CompletingShare, tc.share)
			}
		})
	}
}
