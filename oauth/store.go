// This file holds what the Manager keeps per installed location (Tokens),
// the Store interface it keeps them in, the optional Locker a store shared by
// several replicas implements, and MemoryStore, a Store for tests and for a
// gateway that may lose its installs on restart.

package oauth

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"
)

// ErrNotInstalled is returned (wrapped) for a location that has no tokens:
// the app was never installed there through this gateway, or the install
// was deleted.
var ErrNotInstalled = errors.New("oauth: location not installed")

// Tokens is one location's install: the current token pair and what
// HighLevel said about it. The pair is secret; String and LogValue leave it
// out, so that printing or logging a Tokens never leaks it.
type Tokens struct {
	// AccessToken is the bearer token of API calls; it works until Expiry.
	AccessToken string `json:"accessToken"`
	// RefreshToken buys the next pair, once: HighLevel rotates it on each
	// refresh, so the one stored must always be the latest.
	RefreshToken string `json:"refreshToken"`
	// Expiry is when AccessToken stops working; zero when unknown.
	Expiry time.Time `json:"expiry"`
	// LocationID is the sub-account the tokens are bound to.
	LocationID string `json:"locationId"`
	// CompanyID is the agency that owns the location.
	CompanyID string `json:"companyId,omitempty"`
	// UserID is the user who installed the app.
	UserID string `json:"userId,omitempty"`
	// Scopes are the granted scopes.
	Scopes []string `json:"scopes,omitempty"`
	// NeedsConsent records that HighLevel refused the refresh token
	// (invalid_grant: the app was uninstalled or the token revoked). No
	// call is made with these tokens again until a new install replaces them.
	NeedsConsent bool `json:"needsConsent,omitempty"`
}

// String describes t without its tokens.
func (t Tokens) String() string {
	return fmt.Sprintf("oauth.Tokens{LocationID:%s CompanyID:%s UserID:%s Scopes:%v Expiry:%s NeedsConsent:%t}",
		t.LocationID, t.CompanyID, t.UserID, t.Scopes, t.Expiry.Format(time.RFC3339), t.NeedsConsent)
}

// LogValue implements slog.LogValuer: the attributes of t without its tokens.
func (t Tokens) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("location", t.LocationID),
		slog.String("company", t.CompanyID),
		slog.Any("scopes", t.Scopes),
		slog.Time("expiry", t.Expiry),
		slog.Bool("needsConsent", t.NeedsConsent),
	)
}

// clone returns a copy of t that shares no memory with it.
func (t Tokens) clone() Tokens {
	t.Scopes = slices.Clone(t.Scopes)
	return t
}

// Store keeps the tokens of every installed location. Implementations are
// safe for concurrent use, and Put returns only once the tokens are durable:
// a refresh token Put accepted must survive a crash, since HighLevel has
// already killed the one before it.
type Store interface {
	// Get returns the location's tokens; an error wrapping ErrNotInstalled
	// when it has none.
	Get(ctx context.Context, locationID string) (Tokens, error)
	// Put stores the location's tokens, replacing any.
	Put(ctx context.Context, locationID string, t Tokens) error
	// Delete forgets the location's tokens; deleting an absent location is
	// not an error.
	Delete(ctx context.Context, locationID string) error
	// Locations returns the locations that have tokens, sorted.
	Locations(ctx context.Context) ([]string, error)
}

// Locker is implemented by a Store that several gateway replicas share
// (e.g. one on Redis). The Manager holds the location's lock around each
// refresh and each install, so that two replicas never spend the same
// refresh token: the second would get invalid_grant and lose the install.
// Within one process the Manager already lets only one refresh per location
// run at a time, so stores of one process need not implement it.
type Locker interface {
	// Lock waits for the location's lock, or until ctx is done. The unlock
	// function releases it.
	Lock(ctx context.Context, locationID string) (unlock func(), err error)
}

// tokenTable is the map of installs a store serves reads from; both stores
// embed it, so that they answer Get and Locations alike.
type tokenTable struct {
	mu   sync.RWMutex
	data map[string]Tokens
}

func newTokenTable() tokenTable { return tokenTable{data: map[string]Tokens{}} }

// Get implements Store.
func (t *tokenTable) Get(ctx context.Context, locationID string) (Tokens, error) {
	if err := ctx.Err(); err != nil {
		return Tokens{}, err
	}
	t.mu.RLock()
	defer t.mu.RUnlock()
	tok, ok := t.data[locationID]
	if !ok {
		return Tokens{}, fmt.Errorf("%w: %s", ErrNotInstalled, locationID)
	}
	return tok.clone(), nil
}

// Locations implements Store.
func (t *tokenTable) Locations(ctx context.Context) ([]string, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	t.mu.RLock()
	defer t.mu.RUnlock()
	return sortedKeys(t.data), nil
}

// MemoryStore is a Store in memory: installs are lost when the process ends
// (and with them the refresh tokens, which HighLevel will not give again
// without a new install). For tests and trials; use FileStore otherwise.
type MemoryStore struct {
	tokenTable
}

// NewMemoryStore returns an empty MemoryStore.
func NewMemoryStore() *MemoryStore { return &MemoryStore{tokenTable: newTokenTable()} }

// Put implements Store.
func (s *MemoryStore) Put(ctx context.Context, locationID string, t Tokens) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.data[locationID] = t.clone()
	return nil
}

// Delete implements Store.
func (s *MemoryStore) Delete(ctx context.Context, locationID string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.data, locationID)
	return nil
}

// sortedKeys returns the keys of m, sorted.
func sortedKeys(m map[string]Tokens) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
