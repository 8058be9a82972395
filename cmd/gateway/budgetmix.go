// This file holds the settings of the budget policy (issue 16): how many of
// a location's contacts a sweep of its listing brings into the cache when
// reads miss contacts, in pages of how many, how long a partial answer
// is stored, and the share of a window that
// calls which only complete answers (a contact's lists) may fill.

package main

import (
	"flag"
	"fmt"
	"time"

	"github.com/ghl-graphql/gateway/loaders"
	"github.com/ghl-graphql/gateway/server"
	"github.com/ghl-graphql/gateway/upstream"
)

// primeConfig is the priming settings.
type primeConfig struct {
	contacts      int
	pageSize      int
	whenRemaining float64
	partialTTL    time.Duration
	// completingShare is set into the budget's configuration (see
	// upstream.BudgetConfig.CompletingShare).
	completingShare *float64
}

// registerPrimeFlags declares the priming flags, and the budget's share of
// completing calls into budget.
func registerPrimeFlags(fs *flag.FlagSet, c *primeConfig, budget *upstream.BudgetConfig) {
	c.completingShare = &budget.CompletingShare
	fs.Float64Var(&budget.CompletingShare, "budget-completing-share", upstream.DefaultBudgetCompletingShare, "share of a location's -rate-max window that calls completing an answer which has data without them (a contact's tasks, notes, appointments) may fill; the rest is left to calls that turn RATE_LIMITED answers into data")
	fs.IntVar(&c.contacts, "prime-contacts", loaders.DefaultPrimeContacts, "when reads miss contacts, list up to this many of the location's contacts into the cache (a call per -prime-page-size, at most once per contact TTL); 0 switches priming off")
	fs.DurationVar(&c.partialTTL, "cache-partial-ttl", server.DefaultPartialCacheTTL, "longest a partial answer whose only errors are RATE_LIMITED is stored in the whole-response cache (never past its retryAfter); 0 stores none")
	fs.IntVar(&c.pageSize, "prime-page-size", loaders.DefaultPrimePageSize, "contacts per listing call of -prime-contacts (1 to 500)")
	fs.Float64Var(&c.whenRemaining, "prime-when-remaining", loaders.DefaultPrimeWhenRemaining, "share of a location's rate window (0 to 1] at or under which a miss starts a sweep of -prime-contacts; 1 sweeps on every miss")
}

// validate names the first bad priming setting.
func (c primeConfig) validate() error {
	if c.contacts < 0 {
		return fmt.Errorf("%s %d: must not be negative (0 switches priming off)", setting("prime-contacts"), c.contacts)
	}
	if v := *c.completingShare; !(v > 0 && v <= 1) {
		return fmt.Errorf("%s %v: must be above 0 and at most 1", setting("budget-completing-share"), v)
	}
	if !(c.whenRemaining > 0 && c.whenRemaining <= 1) {
		return fmt.Errorf("%s %v: must be above 0 and at most 1", setting("prime-when-remaining"), c.whenRemaining)
	}
	if c.partialTTL < 0 {
		return fmt.Errorf("%s %v: must not be negative (0 stores no partial answer)", setting("cache-partial-ttl"), c.partialTTL)
	}
	if c.pageSize < 1 || c.pageSize > upstream.MaxSearchPageLimit {
		return fmt.Errorf("%s %d: must be 1 to %d", setting("prime-page-size"), c.pageSize, upstream.MaxSearchPageLimit)
	}
	return nil
}

// settings returns the loaders' priming configuration.
func (c primeConfig) settings() loaders.PrimeConfig {
	return loaders.PrimeConfig{Contacts: c.contacts, PageSize: c.pageSize, WhenRemaining: c.whenRemaining}
}
