// Package oauth makes the gateway a HighLevel marketplace app: it runs the
// install flow (InstallHandler, CallbackHandler), keeps each installed
// location's token pair in a Store, and hands the upstream client access
// tokens that it refreshes itself (TokenSource).
//
// HighLevel rotates refresh tokens: each refresh returns a new one and kills
// the old. A refresh token that is lost, or spent twice, loses the install
// until a user installs the app again. So this package does not use
// golang.org/x/oauth2's refreshing TokenSource, which keeps the rotated
// token in memory only, gives no notice, reuses the context it was made
// with, and does not send HighLevel's user_type. Instead the Manager:
//   - lets one refresh per location run at a time (1,000 callers with an
//     expired token cause one refresh; the rest wait for it);
//   - persists each new pair (Store.Put) before anyone uses it, and keeps a
//     pair the store refused in memory, trying again on the next call;
//   - lets a refresh finish and persist even when the caller who started it
//     gives up, since HighLevel may already have rotated;
//   - marks an install refused by HighLevel (invalid_grant) NeedsConsent and
//     stops calling HighLevel for it until it is installed again.
//
// This file holds the configuration, the Manager and its operator views;
// handlers.go the install flow; refresh.go the token source and refreshes.
package oauth

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"sync"
	"time"

	"golang.org/x/oauth2"
)

// Defaults applied by NewManager to zero Config fields.
const (
	// DefaultAuthURL is HighLevel's consent page.
	DefaultAuthURL = "https://marketplace.gohighlevel.com/v2/oauth/chooselocation"
	// DefaultTokenURL is HighLevel's token endpoint.
	DefaultTokenURL = "https://services.leadconnectorhq.com/oauth/token"
	// DefaultRefreshBefore is how long before its expiry an access token is
	// replaced, so that a call never leaves with a token about to die.
	DefaultRefreshBefore = 5 * time.Minute
	// DefaultTokenRequestTimeout bounds one request to the token endpoint
	// when Config.HTTPClient is nil.
	DefaultTokenRequestTimeout = 30 * time.Second
)

// userTypeLocation is the user_type of every token request: the gateway
// works for sub-accounts (locations), not agencies.
const userTypeLocation = "Location"

// ErrReconsentRequired is returned (wrapped, naming the location) for a
// location whose refresh token HighLevel refused: the app was uninstalled,
// or the token revoked or lost. No call can succeed until a user installs
// the app again.
var ErrReconsentRequired = errors.New("oauth: HighLevel refused the location's refresh token (app uninstalled or token revoked): re-run /oauth/install for it")

// ErrNotPersisted is returned (wrapped) when a refresh succeeded but the
// store refused the new pair. The old refresh token is dead by then, so the
// new pair is kept in memory and the next call tries to store it again;
// the new access token is not used until it is stored.
var ErrNotPersisted = errors.New("oauth: refreshed tokens could not be stored")

// Config configures a Manager.
type Config struct {
	// ClientID and ClientSecret are the marketplace app's credentials.
	ClientID, ClientSecret string
	// RedirectURL is where HighLevel sends the user back after consent: the
	// public URL of CallbackHandler, registered with the app.
	RedirectURL string
	// Scopes are requested at install, e.g. contacts.readonly contacts.write.
	Scopes []string
	// AuthURL is the consent page; "" means DefaultAuthURL.
	AuthURL string
	// TokenURL is the token endpoint; "" means DefaultTokenURL.
	TokenURL string
	// HTTPClient sends token requests; nil means a client that follows no
	// redirects (a redirected POST could carry the client secret elsewhere)
	// with DefaultTokenRequestTimeout.
	HTTPClient *http.Client
	// RefreshBefore is how long before expiry an access token is replaced;
	// 0 means DefaultRefreshBefore.
	RefreshBefore time.Duration
	// StateKey signs the install flow's state (HMAC-SHA256); at least 16
	// bytes. Replicas behind one callback URL must share it. nil means a
	// random key per process: an install started before a restart, or on
	// another replica, then fails its callback and must be started again.
	StateKey []byte
	// Logger receives the Manager's events; nil discards them. Tokens,
	// secrets and codes are never logged.
	Logger *slog.Logger
	// Now is the clock of expiries; nil means time.Now.
	Now func() time.Time
	// OnRefresh, when not nil, is told how each refresh sent to HighLevel
	// ended (Refresh* outcomes, observe.go), for metrics.
	OnRefresh func(outcome string)
}

// Manager runs the install flow and keeps the tokens of every installed
// location fresh. It is safe for concurrent use.
type Manager struct {
	cfg      Config
	store    Store
	locker   Locker // the store's, when it has one
	hc       *http.Client
	log      *slog.Logger
	now      func() time.Time
	redirect *url.URL
	exchange *oauth2.Config

	mu sync.Mutex
	// locks holds one lock per location (a channel of capacity 1, so that
	// waiting for it can be abandoned): refreshes and installs of a
	// location never overlap.
	locks map[string]chan struct{}
	// flights holds the refresh under way per location, which every
	// caller that needs one joins.
	flights map[string]*flight
	// unsaved holds pairs HighLevel issued that the store refused.
	unsaved map[string]unsavedPair
	// refused holds, per location, a refresh token HighLevel refused whose
	// NeedsConsent mark the store refused too.
	refused map[string]string
}

// unsavedPair is a refreshed pair not yet in the store, and the refresh
// token it replaced: it applies only while the store still holds that one.
type unsavedPair struct {
	tokens   Tokens
	replaced string
}

// NewManager checks cfg and returns a Manager that keeps tokens in store.
func NewManager(cfg Config, store Store) (*Manager, error) {
	if store == nil {
		return nil, errors.New("oauth: nil store")
	}
	if cfg.ClientID == "" || cfg.ClientSecret == "" {
		return nil, errors.New("oauth: client ID and client secret are required")
	}
	if len(cfg.Scopes) == 0 {
		return nil, errors.New("oauth: at least one scope is required (e.g. contacts.readonly contacts.write)")
	}
	redirect, err := absoluteURL("redirect URL", cfg.RedirectURL)
	if err != nil {
		return nil, err
	}
	if cfg.AuthURL == "" {
		cfg.AuthURL = DefaultAuthURL
	}
	if cfg.TokenURL == "" {
		cfg.TokenURL = DefaultTokenURL
	}
	if _, err := absoluteURL("auth URL", cfg.AuthURL); err != nil {
		return nil, err
	}
	if _, err := absoluteURL("token URL", cfg.TokenURL); err != nil {
		return nil, err
	}
	switch {
	case cfg.RefreshBefore < 0:
		return nil, fmt.Errorf("oauth: refresh before %v: must not be negative", cfg.RefreshBefore)
	case cfg.RefreshBefore == 0:
		cfg.RefreshBefore = DefaultRefreshBefore
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	switch {
	case cfg.StateKey == nil:
		cfg.StateKey = make([]byte, 32)
		if _, err := rand.Read(cfg.StateKey); err != nil {
			return nil, fmt.Errorf("oauth: state key: %w", err)
		}
		cfg.Logger.Warn("oauth: no state key configured; using a random one: installs must finish on the replica, and within the run, where they started")
	case len(cfg.StateKey) < 16:
		return nil, fmt.Errorf("oauth: state key: %d bytes, want at least 16", len(cfg.StateKey))
	default:
		cfg.StateKey = slices.Clone(cfg.StateKey)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	hc := cfg.HTTPClient
	if hc == nil {
		hc = &http.Client{
			Timeout:       DefaultTokenRequestTimeout,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		}
	}
	cfg.Scopes = slices.Clone(cfg.Scopes)
	m := &Manager{
		cfg:      cfg,
		store:    store,
		hc:       hc,
		log:      cfg.Logger,
		now:      cfg.Now,
		redirect: redirect,
		exchange: &oauth2.Config{
			ClientID:     cfg.ClientID,
			ClientSecret: cfg.ClientSecret,
			RedirectURL:  cfg.RedirectURL,
			Scopes:       cfg.Scopes,
			// HighLevel takes the client's credentials in the form only.
			Endpoint: oauth2.Endpoint{AuthURL: cfg.AuthURL, TokenURL: cfg.TokenURL, AuthStyle: oauth2.AuthStyleInParams},
		},
		locks:   map[string]chan struct{}{},
		flights: map[string]*flight{},
		unsaved: map[string]unsavedPair{},
		refused: map[string]string{},
	}
	if l, ok := store.(Locker); ok {
		m.locker = l
	}
	return m, nil
}

// absoluteURL parses an http(s) URL with a host.
func absoluteURL(what, raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("oauth: %s %q: %w", what, raw, err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("oauth: %s %q: want an absolute http or https URL", what, raw)
	}
	return u, nil
}

// Installed returns the locations that have tokens, sorted, including those
// that need consent again (see Status).
func (m *Manager) Installed(ctx context.Context) ([]string, error) {
	locs, err := m.store.Locations(ctx)
	if err != nil {
		return nil, fmt.Errorf("oauth: list installs: %w", err)
	}
	return locs, nil
}

// Status describes a location's install for operators; it holds no token.
type Status struct {
	// LocationID, CompanyID and UserID say what was installed, and by whom.
	LocationID, CompanyID, UserID string
	// Scopes are the granted scopes.
	Scopes []string
	// Expiry is when the current access token expires.
	Expiry time.Time
	// NeedsConsent: HighLevel refused the refresh token; re-run /oauth/install.
	NeedsConsent bool
	// Unsaved: the current pair is held in memory only, because the store
	// refused it; it is lost if the process ends before the store recovers.
	Unsaved bool
}

// Status returns the state of the location's install; an error wrapping
// ErrNotInstalled when there is none.
func (m *Manager) Status(ctx context.Context, locationID string) (Status, error) {
	t, unsaved, err := m.current(ctx, locationID)
	if err != nil {
		return Status{}, err
	}
	return Status{
		LocationID: t.LocationID, CompanyID: t.CompanyID, UserID: t.UserID,
		Scopes: t.Scopes, Expiry: t.Expiry, NeedsConsent: t.NeedsConsent, Unsaved: unsaved,
	}, nil
}

// current returns the location's tokens as calls should see them: a pair
// the store refused wins over the store's copy while the store still holds
// the pair it replaced, and a refresh token HighLevel refused reads as
// NeedsConsent even if the store could not record it. unsaved reports the
// first case.
func (m *Manager) current(ctx context.Context, locationID string) (t Tokens, unsaved bool, err error) {
	t, err = m.store.Get(ctx, locationID)
	m.mu.Lock()
	defer m.mu.Unlock()
	if err != nil {
		if errors.Is(err, ErrNotInstalled) {
			// Deleted from the store: an operator's decision, which a
			// pending pair must not undo.
			delete(m.unsaved, locationID)
			delete(m.refused, locationID)
			return Tokens{}, false, err
		}
		return Tokens{}, false, fmt.Errorf("oauth: read tokens of %s: %w", locationID, err)
	}
	if p, ok := m.unsaved[locationID]; ok {
		if t.RefreshToken == p.replaced {
			return p.tokens.clone(), true, nil
		}
		// The store moved on (a new install): the pending pair is moot.
		delete(m.unsaved, locationID)
	}
	if dead, ok := m.refused[locationID]; ok {
		if t.RefreshToken == dead {
			t.NeedsConsent = true
		} else {
			delete(m.refused, locationID)
		}
	}
	return t, false, nil
}

// lock takes the location's lock (and the store's, when it has a Locker),
// or gives up when ctx is done.
func (m *Manager) lock(ctx context.Context, locationID string) (unlock func(), err error) {
	m.mu.Lock()
	ch, ok := m.locks[locationID]
	if !ok {
		ch = make(chan struct{}, 1)
		m.locks[locationID] = ch
	}
	m.mu.Unlock()
	select {
	case ch <- struct{}{}:
	case <-ctx.Done():
		return nil, fmt.Errorf("oauth: wait for the lock of %s: %w", locationID, ctx.Err())
	}
	release := func() { <-ch }
	if m.locker == nil {
		return release, nil
	}
	storeUnlock, err := m.locker.Lock(ctx, locationID)
	if err != nil {
		release()
		return nil, fmt.Errorf("oauth: store lock of %s: %w", locationID, err)
	}
	return func() { storeUnlock(); release() }, nil
}

// install stores a new install's tokens, replacing any, under the
// location's lock so that it cannot interleave with a refresh of the old ones.
func (m *Manager) install(ctx context.Context, t Tokens) error {
	unlock, err := m.lock(ctx, t.LocationID)
	if err != nil {
		return err
	}
	defer unlock()
	if err := m.store.Put(ctx, t.LocationID, t); err != nil {
		return fmt.Errorf("oauth: store the tokens of %s: %w", t.LocationID, err)
	}
	m.mu.Lock()
	delete(m.unsaved, t.LocationID)
	delete(m.refused, t.LocationID)
	m.mu.Unlock()
	return nil
}
