// This file holds the token source the upstream client calls with, and the
// refresh: one per location at a time, posted by hand to HighLevel's token
// endpoint (with user_type), its new pair stored before use.

package oauth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"golang.org/x/oauth2"
)

// maxTokenAnswerBytes caps an answer of the token endpoint.
const maxTokenAnswerBytes = 1 << 20

// TokenSource returns the access token source of a location, for the
// upstream client (upstream.WithTokenSource, or per call
// upstream.ContextWithTokenSource). Its Token returns the stored access
// token while it is valid for more than RefreshBefore, and refreshes it
// otherwise. It also implements upstream.Refresher, so that a 401 from the
// API leads to one refresh (Manager.Refresh) and one repeat. Token has no
// context: a refresh it starts runs under context.Background; prefer
// TokenSourceContext within a request.
func (m *Manager) TokenSource(locationID string) oauth2.TokenSource {
	return &tokenSource{m: m, loc: locationID}
}

// TokenSourceContext is TokenSource for one request: a refresh that Token
// starts carries ctx's values (trace, request ID), and Token stops waiting
// when ctx is done. The refresh itself runs to its end even then (see
// Refresh), so that a rotated pair is never lost to a caller who left.
func (m *Manager) TokenSourceContext(ctx context.Context, locationID string) oauth2.TokenSource {
	return &tokenSource{m: m, loc: locationID, ctx: ctx}
}

// tokenSource is a location's token source; it implements oauth2.TokenSource
// and upstream.Refresher.
type tokenSource struct {
	m   *Manager
	loc string
	ctx context.Context // nil: context.Background
}

// Token implements oauth2.TokenSource.
func (s *tokenSource) Token() (*oauth2.Token, error) {
	ctx := s.ctx
	if ctx == nil {
		ctx = context.Background()
	}
	return s.m.Token(ctx, s.loc)
}

// Refresh implements upstream.Refresher: stale is the token the API refused.
func (s *tokenSource) Refresh(ctx context.Context, stale *oauth2.Token) error {
	var tok string
	if stale != nil {
		tok = stale.AccessToken
	}
	return s.m.Refresh(ctx, s.loc, tok)
}

// Token returns a valid access token of the location, refreshing it first
// when it expires within RefreshBefore. Errors: ErrNotInstalled,
// ErrReconsentRequired (without any request to HighLevel), ErrNotPersisted,
// or a refresh failure that the next call tries again.
func (m *Manager) Token(ctx context.Context, locationID string) (*oauth2.Token, error) {
	t, err := m.valid(ctx, locationID, "")
	if err != nil {
		return nil, err
	}
	return &oauth2.Token{AccessToken: t.AccessToken, TokenType: "Bearer", Expiry: t.Expiry}, nil
}

// Refresh replaces the location's access token after the API refused
// staleAccessToken (a 401), whatever its expiry says. It refreshes only if
// the stored access token is still staleAccessToken: of N callers refused
// with the same token, one refreshes, and the others find the new one.
func (m *Manager) Refresh(ctx context.Context, locationID, staleAccessToken string) error {
	if staleAccessToken == "" {
		return errors.New("oauth: refresh: no stale token given")
	}
	_, err := m.valid(ctx, locationID, staleAccessToken)
	return err
}

// usable reports whether t may be handed out as it is: fresh for longer
// than RefreshBefore, and not the token a caller saw refused.
func (m *Manager) usable(t Tokens, stale string) bool {
	if t.AccessToken == "" || t.AccessToken == stale {
		return false
	}
	return t.Expiry.IsZero() || m.now().Before(t.Expiry.Add(-m.cfg.RefreshBefore))
}

// unexpired reports whether t's access token still works: before its
// expiry (inside RefreshBefore included), and not the one refused.
func (m *Manager) unexpired(t Tokens, stale string) bool {
	return t.AccessToken != "" && t.AccessToken != stale && (t.Expiry.IsZero() || m.now().Before(t.Expiry))
}

// valid returns usable tokens of the location, joining or starting its
// refresh when the stored ones are not.
func (m *Manager) valid(ctx context.Context, locationID, stale string) (Tokens, error) {
	t, unsaved, err := m.current(ctx, locationID)
	switch {
	case err != nil:
		return Tokens{}, err
	case t.NeedsConsent:
		return Tokens{}, reconsent(locationID)
	case !unsaved && m.usable(t, stale):
		return t, nil
	}
	// A flight joined late may have settled on the token this caller saw
	// refused (it started before the refusal); one more flight then
	// refreshes it. Two rounds always suffice.
	have := t
	for range 2 {
		t, err = m.fly(ctx, locationID, stale)
		if errors.Is(err, ErrStoreUnavailable) && !unsaved && m.unexpired(have, stale) {
			// A shared store that cannot lock refuses the refresh; the
			// access token in hand still works until its expiry.
			return have, nil
		}
		if err != nil || m.usable(t, stale) {
			return t, err
		}
	}
	return Tokens{}, fmt.Errorf("oauth: location %s: no usable access token after refreshing", locationID)
}

// flight is a refresh under way; done is closed when tokens and err are set.
type flight struct {
	done   chan struct{}
	tokens Tokens
	err    error
}

// fly joins the location's flight, or starts one, and waits for it or for
// ctx. A flight runs detached from the cancellation of the caller who
// started it (keeping its values): once the request is sent HighLevel may
// rotate the pair, and the answer must be read and stored even if every
// caller has gone.
func (m *Manager) fly(ctx context.Context, locationID, stale string) (Tokens, error) {
	m.mu.Lock()
	f, ok := m.flights[locationID]
	if !ok {
		f = &flight{done: make(chan struct{})}
		m.flights[locationID] = f
		fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), m.flightTimeout())
		go func() {
			defer cancel()
			f.tokens, f.err = m.settle(fctx, locationID, stale)
			m.mu.Lock()
			delete(m.flights, locationID)
			m.mu.Unlock()
			close(f.done)
		}()
	}
	m.mu.Unlock()
	select {
	case <-f.done:
		return f.tokens.clone(), f.err
	case <-ctx.Done():
		return Tokens{}, fmt.Errorf("oauth: wait for the refresh of %s: %w", locationID, ctx.Err())
	}
}

// flightTimeout bounds a flight: the lock, one token request, the store.
func (m *Manager) flightTimeout() time.Duration {
	d := DefaultTokenRequestTimeout
	if m.hc.Timeout > 0 {
		d = m.hc.Timeout
	}
	return 2 * d
}

// settle makes the location's tokens usable, under its lock: it stores a
// pair the store refused before, and refreshes when the tokens are still
// not usable once the lock is held (another flight, or replica, may have
// refreshed meanwhile).
func (m *Manager) settle(ctx context.Context, locationID, stale string) (Tokens, error) {
	unlock, err := m.lock(ctx, locationID)
	if err != nil {
		return Tokens{}, err
	}
	defer unlock()

	t, unsaved, err := m.current(ctx, locationID)
	if err != nil {
		return Tokens{}, err
	}
	if t.NeedsConsent {
		return Tokens{}, reconsent(locationID)
	}
	if unsaved {
		if err := m.persist(ctx, locationID, t); err != nil {
			return Tokens{}, err
		}
		m.log.InfoContext(ctx, "oauth: refreshed tokens stored after an earlier failure", "location", locationID)
	}
	if m.usable(t, stale) {
		return t, nil
	}

	next, err := m.postRefresh(ctx, t)
	var ge *grantError
	switch {
	case errors.As(err, &ge) && ge.Code == "invalid_grant":
		m.log.ErrorContext(ctx, "oauth: HighLevel refused the refresh token; the location needs a new install (/oauth/install)",
			"location", locationID, "status", ge.Status, "description", ge.Description)
		m.markRefused(ctx, t)
		m.noteRefresh(RefreshReconsent)
		return Tokens{}, reconsent(locationID)
	case err != nil:
		m.log.WarnContext(ctx, "oauth: refresh failed; the next call tries again", "location", locationID, "err", err)
		m.noteRefresh(RefreshFailed)
		return Tokens{}, fmt.Errorf("oauth: refresh the tokens of %s: %w", locationID, err)
	}

	m.mu.Lock()
	m.unsaved[locationID] = unsavedPair{tokens: next.clone(), replaced: t.RefreshToken}
	m.mu.Unlock()
	if err := m.persist(ctx, locationID, next); err != nil {
		m.noteRefresh(RefreshNotPersisted)
		return Tokens{}, err
	}
	m.noteRefresh(RefreshOK)
	m.log.InfoContext(ctx, "oauth: access token refreshed", "location", locationID, "expiry", next.Expiry)
	return next, nil
}

// persist stores a refreshed pair; on success it is no longer held in
// memory. On failure it stays there, and the error says so loudly: the
// refresh token it replaced is dead, so the pair exists nowhere else.
func (m *Manager) persist(ctx context.Context, locationID string, t Tokens) error {
	if err := m.store.Put(ctx, locationID, t); err != nil {
		m.log.ErrorContext(ctx, "oauth: REFRESHED TOKENS NOT STORED: HighLevel has rotated the refresh token; the new pair is held in memory only and the next call tries to store it again; if the process ends first, the location needs a new install",
			"location", locationID, "err", err)
		return fmt.Errorf("%w (location %s; kept in memory, retried on the next call): %w", ErrNotPersisted, locationID, err)
	}
	m.mu.Lock()
	if p, ok := m.unsaved[locationID]; ok && p.tokens.RefreshToken == t.RefreshToken {
		delete(m.unsaved, locationID)
	}
	m.mu.Unlock()
	return nil
}

// markRefused records that HighLevel refused t's refresh token: in the
// store, and in memory too in case the store fails, so that no later call
// asks HighLevel again.
func (m *Manager) markRefused(ctx context.Context, t Tokens) {
	m.mu.Lock()
	m.refused[t.LocationID] = t.RefreshToken
	m.mu.Unlock()
	t.NeedsConsent = true
	if err := m.store.Put(ctx, t.LocationID, t); err != nil {
		m.log.ErrorContext(ctx, "oauth: could not store that the location needs a new install", "location", t.LocationID, "err", err)
	}
}

// reconsent is the error of a location that needs a new install.
func reconsent(locationID string) error {
	return fmt.Errorf("location %s: %w", locationID, ErrReconsentRequired)
}

// grantError is an error answer of the token endpoint.
type grantError struct {
	Status      int
	Code        string // RFC 6749's error, e.g. invalid_grant
	Description string
}

func (e *grantError) Error() string {
	s := fmt.Sprintf("token endpoint answered %d", e.Status)
	if e.Code != "" {
		s += " " + e.Code
	}
	if e.Description != "" {
		s += ": " + e.Description
	}
	return s
}

// tokenAnswer is HighLevel's token JSON.
type tokenAnswer struct {
	AccessToken      string `json:"access_token"`
	TokenType        string `json:"token_type"`
	ExpiresIn        int64  `json:"expires_in"`
	RefreshToken     string `json:"refresh_token"`
	Scope            string `json:"scope"`
	LocationID       string `json:"locationId"`
	CompanyID        string `json:"companyId"`
	UserID           string `json:"userId"`
	Error            string `json:"error"`
	ErrorDescription string `json:"error_description"`
}

// postRefresh spends t's refresh token for a new pair. It posts the form
// itself: HighLevel wants user_type, which oauth2's refresher never sends.
func (m *Manager) postRefresh(ctx context.Context, t Tokens) (Tokens, error) {
	form := url.Values{
		"grant_type":    {"refresh_token"},
		"refresh_token": {t.RefreshToken},
		"client_id":     {m.cfg.ClientID},
		"client_secret": {m.cfg.ClientSecret},
		"user_type":     {userTypeLocation},
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, m.cfg.TokenURL, strings.NewReader(form.Encode()))
	if err != nil {
		return Tokens{}, fmt.Errorf("build token request: %w", err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	resp, err := m.hc.Do(req)
	if err != nil {
		return Tokens{}, fmt.Errorf("token request: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxTokenAnswerBytes))
	if err != nil {
		// HighLevel may have rotated the pair; its answer is lost.
		return Tokens{}, fmt.Errorf("read token answer (%d): %w", resp.StatusCode, err)
	}
	var a tokenAnswer
	jerr := json.Unmarshal(body, &a)
	if resp.StatusCode != http.StatusOK || a.Error != "" {
		return Tokens{}, &grantError{Status: resp.StatusCode, Code: a.Error, Description: a.ErrorDescription}
	}
	if jerr != nil {
		return Tokens{}, fmt.Errorf("decode token answer: %w", jerr)
	}
	if a.AccessToken == "" {
		return Tokens{}, errors.New("token answer has no access_token")
	}
	next := t.clone()
	next.AccessToken = a.AccessToken
	// HighLevel always rotates; a server that does not keeps the old one valid.
	if a.RefreshToken != "" {
		next.RefreshToken = a.RefreshToken
	}
	next.Expiry = m.expiry(a.ExpiresIn)
	if s := strings.Fields(a.Scope); len(s) > 0 {
		next.Scopes = s
	}
	if a.CompanyID != "" {
		next.CompanyID = a.CompanyID
	}
	if a.UserID != "" {
		next.UserID = a.UserID
	}
	next.NeedsConsent = false
	return next, nil
}

// expiry turns expires_in into an instant on the Manager's clock (not
// oauth2's, which reads time.Now); zero when the answer gave none.
func (m *Manager) expiry(expiresIn int64) time.Time {
	if expiresIn <= 0 {
		return time.Time{}
	}
	return m.now().Add(time.Duration(expiresIn) * time.Second)
}
