// This file tests the refresh against the sandbox's rotating refresh
// tokens: before expiry on the Manager's clock, once for 1,000 concurrent
// callers, across a restart (nothing lost), when the store refuses the new
// pair, on invalid_grant (no loop), on transient failures, after a 401 from
// the API (one refresh, one repeat, also for 20 concurrent calls), for a
// caller who gives up, and with a store's Locker.

package oauth

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/ghl-graphql/gateway/upstream"
)

// The token source is what the upstream client refreshes through.
var _ upstream.Refresher = (*tokenSource)(nil)

func TestRefreshBeforeExpiry(t *testing.T) {
	e := newEnv(t)
	m := e.manager(nil)
	installed := e.install(m)
	ts := m.TokenSource(e.loc)

	// Valid for more than RefreshBefore: the stored token, no refresh.
	e.clock.Set(installed.Expiry.Add(-DefaultRefreshBefore - time.Second))
	tok, err := ts.Token()
	if err != nil || tok.AccessToken != installed.AccessToken || tok.RefreshToken != "" {
		t.Fatalf("Token = %+v, %v; want the installed access token only", tok, err)
	}
	if e.sb.Refreshes() != 0 {
		t.Fatalf("%d refreshes before the refresh point", e.sb.Refreshes())
	}

	// Past Expiry-RefreshBefore: exactly one refresh.
	e.clock.Advance(2 * time.Second)
	tok, err = ts.Token()
	if err != nil {
		t.Fatal(err)
	}
	if tok.AccessToken == installed.AccessToken || e.sb.Refreshes() != 1 {
		t.Fatalf("token unchanged or %d refreshes", e.sb.Refreshes())
	}
	stored, _ := m.store.Get(context.Background(), e.loc)
	if stored.AccessToken != tok.AccessToken || stored.RefreshToken == installed.RefreshToken ||
		!stored.Expiry.Equal(e.clock.Now().Add(86399*time.Second)) || stored.LocationID != e.loc {
		t.Fatalf("stored %v", stored)
	}
	// Later calls use it without another refresh.
	for range 3 {
		if again, err := ts.Token(); err != nil || again.AccessToken != tok.AccessToken {
			t.Fatalf("Token = %v, %v", again, err)
		}
	}
	if e.sb.Refreshes() != 1 {
		t.Fatalf("%d refreshes", e.sb.Refreshes())
	}
	if err := e.getContact(e.client(m, e.loc)); err != nil {
		t.Fatal(err)
	}
	// HighLevel rotated: the old refresh token is dead, the stored one lives.
	if e.refreshWorks(installed.RefreshToken) {
		t.Error("the sandbox still accepts the replaced refresh token")
	}
	if !e.refreshWorks(stored.RefreshToken) {
		t.Error("the sandbox refuses the stored refresh token")
	}
}

func TestConcurrentTokenCallsRefreshOnce(t *testing.T) {
	e := newEnv(t)
	m := e.manager(nil)
	installed := e.install(m)
	e.expire(installed.Expiry)
	ts := m.TokenSource(e.loc)

	const callers = 1000
	start := make(chan struct{})
	got := make([]string, callers)
	var wg sync.WaitGroup
	for i := range callers {
		wg.Go(func() {
			<-start
			tok, err := ts.Token()
			if err != nil {
				t.Error(err)
				return
			}
			got[i] = tok.AccessToken
		})
	}
	close(start)
	wg.Wait()
	if e.sb.Refreshes() != 1 || e.tokenRequests.Load() != 2 { // the install's exchange and one refresh
		t.Fatalf("%d refreshes, %d token requests; want 1 refresh", e.sb.Refreshes(), e.tokenRequests.Load())
	}
	for i, tok := range got {
		if tok != got[0] || tok == installed.AccessToken {
			t.Fatalf("caller %d got another or the old token", i)
		}
	}
}

func TestRestartLosesNothing(t *testing.T) {
	e := newEnv(t)
	path := filepath.Join(t.TempDir(), "tokens.enc")
	key := make([]byte, KeySize)
	// The first process installs, refreshes, and dies right after the
	// refresh, before the token is used: nothing of it but the file remains.
	refreshed := func() *oauth2.Token {
		fs1, err := NewFileStore(path, key)
		if err != nil {
			t.Fatal(err)
		}
		m1 := e.manager(fs1)
		installed := e.install(m1)
		e.expire(installed.Expiry)
		tok, err := m1.Token(context.Background(), e.loc)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}()

	fs2, err := NewFileStore(path, key)
	if err != nil {
		t.Fatal(err)
	}
	m2 := e.manager(fs2)
	tok, err := m2.Token(context.Background(), e.loc)
	if err != nil {
		t.Fatal(err)
	}
	if tok.AccessToken != refreshed.AccessToken || e.sb.Refreshes() != 1 {
		t.Fatalf("the restarted manager did not resume the persisted pair (%d refreshes)", e.sb.Refreshes())
	}
	if err := e.getContact(e.client(m2, e.loc)); err != nil {
		t.Fatal(err)
	}
	// And the persisted refresh token is the live one: HighLevel accepts it.
	persisted, _ := fs2.Get(context.Background(), e.loc)
	e.expire(persisted.Expiry)
	again, err := m2.Token(context.Background(), e.loc)
	if err != nil {
		t.Fatalf("refresh after restart: %v", err)
	}
	if again.AccessToken == refreshed.AccessToken || e.sb.Refreshes() != 2 {
		t.Fatalf("no second refresh (%d)", e.sb.Refreshes())
	}
}

func TestStoreRefusesRefreshedPair(t *testing.T) {
	e := newEnv(t)
	store := &faultyStore{MemoryStore: NewMemoryStore()}
	m := e.manager(store)
	installed := e.install(m)
	e.expire(installed.Expiry)
	c := e.client(m, e.loc)
	apiCalls := e.sb.TotalCalls()

	store.failPut.Store(true)
	tok, err := m.Token(context.Background(), e.loc)
	if !errors.Is(err, ErrNotPersisted) || !errors.Is(err, errDiskFull) || tok != nil {
		t.Fatalf("Token = %v, %v; want no token and ErrNotPersisted", tok, err)
	}
	if e.sb.Refreshes() != 1 {
		t.Fatalf("%d refreshes", e.sb.Refreshes())
	}
	if st, _ := m.Status(context.Background(), e.loc); !st.Unsaved {
		t.Error("Status does not report the unsaved pair")
	}
	// The store still has the dead pair; the new one lives in memory only.
	if s, _ := store.MemoryStore.Get(context.Background(), e.loc); s.RefreshToken != installed.RefreshToken {
		t.Fatal("the store changed despite the failure")
	}
	// While the store fails, no call uses the new token and HighLevel is
	// not asked again.
	err = e.getContact(c)
	if !errors.Is(err, ErrNotPersisted) || !errors.Is(err, upstream.ErrUnauthorized) {
		t.Fatalf("call err = %v", err)
	}
	if e.sb.TotalCalls() != apiCalls || e.sb.Refreshes() != 1 {
		t.Fatalf("the API saw %d calls, %d refreshes", e.sb.TotalCalls()-apiCalls, e.sb.Refreshes())
	}

	// The store recovers: the next call stores the pair, then uses it.
	store.failPut.Store(false)
	tok, err = m.Token(context.Background(), e.loc)
	if err != nil {
		t.Fatal(err)
	}
	stored, _ := store.Get(context.Background(), e.loc)
	if stored.AccessToken != tok.AccessToken || stored.RefreshToken == installed.RefreshToken || e.sb.Refreshes() != 1 {
		t.Fatalf("stored %v after recovery (%d refreshes)", stored, e.sb.Refreshes())
	}
	if st, _ := m.Status(context.Background(), e.loc); st.Unsaved {
		t.Error("Status still reports an unsaved pair")
	}
	if err := e.getContact(c); err != nil {
		t.Fatal(err)
	}
	// The stored refresh token is the live one.
	e.expire(stored.Expiry)
	if _, err := m.Token(context.Background(), e.loc); err != nil || e.sb.Refreshes() != 2 {
		t.Fatalf("refresh with the recovered pair: %v (%d refreshes)", err, e.sb.Refreshes())
	}

	t.Run("a new install supersedes the unsaved pair", func(t *testing.T) {
		cur, _ := store.Get(context.Background(), e.loc)
		e.expire(cur.Expiry)
		store.failPut.Store(true)
		if _, err := m.Token(context.Background(), e.loc); !errors.Is(err, ErrNotPersisted) {
			t.Fatalf("err = %v", err)
		}
		store.failPut.Store(false)
		fresh := e.install(m)
		tok, err := m.Token(context.Background(), e.loc)
		if err != nil || tok.AccessToken != fresh.AccessToken {
			t.Fatalf("Token = %v, %v; want the new install's", tok, err)
		}
	})
}

func TestInvalidGrant(t *testing.T) {
	e := newEnv(t)
	m := e.manager(nil)
	installed := e.install(m)
	e.sb.RevokeRefreshTokens(e.loc) // the app is uninstalled
	e.expire(installed.Expiry)

	_, err := m.Token(context.Background(), e.loc)
	if !errors.Is(err, ErrReconsentRequired) || !strings.Contains(err.Error(), "/oauth/install") || !strings.Contains(err.Error(), e.loc) {
		t.Fatalf("err = %v", err)
	}
	stored, _ := m.store.Get(context.Background(), e.loc)
	if !stored.NeedsConsent {
		t.Fatal("NeedsConsent not stored")
	}
	if st, _ := m.Status(context.Background(), e.loc); !st.NeedsConsent {
		t.Error("Status lacks NeedsConsent")
	}
	requests := e.tokenRequests.Load()
	apiCalls := e.sb.TotalCalls()

	// Every later attempt fails at once, without a request.
	if _, err := m.Token(context.Background(), e.loc); !errors.Is(err, ErrReconsentRequired) {
		t.Fatalf("second call: %v", err)
	}
	if err := m.Refresh(context.Background(), e.loc, stored.AccessToken); !errors.Is(err, ErrReconsentRequired) {
		t.Fatalf("Refresh: %v", err)
	}
	err = e.getContact(e.client(m, e.loc))
	if !errors.Is(err, ErrReconsentRequired) || !errors.Is(err, upstream.ErrUnauthorized) {
		t.Fatalf("call err = %v", err)
	}
	if e.tokenRequests.Load() != requests || e.sb.TotalCalls() != apiCalls {
		t.Fatalf("%d token requests and %d API calls after invalid_grant", e.tokenRequests.Load()-requests, e.sb.TotalCalls()-apiCalls)
	}

	// A new install clears it.
	e.install(m)
	if err := e.getContact(e.client(m, e.loc)); err != nil {
		t.Fatal(err)
	}

	t.Run("store refuses the mark", func(t *testing.T) {
		store := &faultyStore{MemoryStore: NewMemoryStore()}
		m := e.manager(store)
		installed := e.install(m)
		e.sb.RevokeRefreshTokens(e.loc)
		e.expire(installed.Expiry)
		store.failPut.Store(true)
		if _, err := m.Token(context.Background(), e.loc); !errors.Is(err, ErrReconsentRequired) {
			t.Fatalf("err = %v", err)
		}
		requests := e.tokenRequests.Load()
		if _, err := m.Token(context.Background(), e.loc); !errors.Is(err, ErrReconsentRequired) {
			t.Fatalf("err = %v", err)
		}
		if e.tokenRequests.Load() != requests {
			t.Fatal("asked HighLevel again")
		}
	})
}

func TestTransientRefreshFailure(t *testing.T) {
	e := newEnv(t)
	m := e.manager(nil)
	installed := e.install(m)
	e.expire(installed.Expiry)

	e.failTokens.Store(1)
	_, err := m.Token(context.Background(), e.loc)
	if err == nil || errors.Is(err, ErrReconsentRequired) || !strings.Contains(err.Error(), "503") {
		t.Fatalf("err = %v, want the 503", err)
	}
	if stored, _ := m.store.Get(context.Background(), e.loc); stored.NeedsConsent || stored.RefreshToken != installed.RefreshToken {
		t.Fatal("a transient failure changed the install")
	}
	// The next call tries again, and succeeds.
	tok, err := m.Token(context.Background(), e.loc)
	if err != nil || tok.AccessToken == installed.AccessToken || e.sb.Refreshes() != 1 {
		t.Fatalf("retry: %v, %v (%d refreshes)", tok, err, e.sb.Refreshes())
	}

	t.Run("network failure", func(t *testing.T) {
		cfg := e.config()
		cfg.TokenURL = "http://127.0.0.1:1/oauth/token" // nothing listens on port 1
		m2, err := NewManager(cfg, m.store)
		if err != nil {
			t.Fatal(err)
		}
		cur, _ := m.store.Get(context.Background(), e.loc)
		e.expire(cur.Expiry)
		if _, err := m2.Token(context.Background(), e.loc); err == nil || errors.Is(err, ErrReconsentRequired) {
			t.Fatalf("err = %v", err)
		}
		if _, err := m.Token(context.Background(), e.loc); err != nil {
			t.Fatalf("the install did not survive: %v", err)
		}
	})
}

func TestAPI401RefreshesAndRepeats(t *testing.T) {
	e := newEnv(t)
	m := e.manager(nil)
	installed := e.install(m)
	c := e.client(m, e.loc)
	// The token dies early: the Manager's clock still calls it valid.
	e.sb.ExpireAccessTokens(e.loc)
	before := e.sb.Calls(upstream.OpGetContact.ID)
	if err := e.getContact(c); err != nil {
		t.Fatal(err)
	}
	if e.sb.Refreshes() != 1 || e.sb.Calls(upstream.OpGetContact.ID)-before != 2 {
		t.Fatalf("%d refreshes, %d calls; want 1 refresh and 1 repeat", e.sb.Refreshes(), e.sb.Calls(upstream.OpGetContact.ID)-before)
	}
	if stored, _ := m.store.Get(context.Background(), e.loc); stored.AccessToken == installed.AccessToken {
		t.Fatal("the refused token is still stored")
	}

	t.Run("20 concurrent calls", func(t *testing.T) {
		e.sb.ExpireAccessTokens(e.loc)
		refreshes := e.sb.Refreshes()
		var wg sync.WaitGroup
		for range 20 {
			wg.Go(func() {
				if err := e.getContact(c); err != nil {
					t.Error(err)
				}
			})
		}
		wg.Wait()
		if n := e.sb.Refreshes() - refreshes; n != 1 {
			t.Fatalf("%d refreshes, want 1", n)
		}
	})
	t.Run("Refresh with a token already replaced", func(t *testing.T) {
		refreshes := e.sb.Refreshes()
		if err := m.Refresh(context.Background(), e.loc, installed.AccessToken); err != nil {
			t.Fatal(err)
		}
		if e.sb.Refreshes() != refreshes {
			t.Fatal("refreshed for a token no longer stored")
		}
		if err := m.Refresh(context.Background(), e.loc, ""); err == nil {
			t.Fatal("Refresh without a stale token")
		}
	})
	t.Run("uninstalled meanwhile", func(t *testing.T) {
		e.sb.ExpireAccessTokens(e.loc)
		e.sb.RevokeRefreshTokens(e.loc)
		err := e.getContact(c)
		if !errors.Is(err, ErrReconsentRequired) || !errors.Is(err, upstream.ErrUnauthorized) {
			t.Fatalf("err = %v", err)
		}
	})
}

func TestCallerGivesUpRefreshCompletes(t *testing.T) {
	e := newEnv(t)
	m := e.manager(nil)
	installed := e.install(m)
	e.expire(installed.Expiry)

	hold := make(chan struct{})
	e.holdTokens.Store(&hold)
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		_, err := m.TokenSourceContext(ctx, e.loc).Token()
		errc <- err
	}()
	// Wait until the refresh request is at the token endpoint, then leave.
	for e.tokenRequests.Load() < 2 {
		time.Sleep(time.Millisecond)
	}
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	e.holdTokens.Store(nil)
	close(hold)
	// The refresh ran to its end and was stored: the next caller gets the
	// new pair (waiting for the flight if it is still running).
	tok, err := m.Token(context.Background(), e.loc)
	if err != nil || tok.AccessToken == installed.AccessToken || e.sb.Refreshes() != 1 {
		t.Fatalf("Token = %v, %v (%d refreshes)", tok, err, e.sb.Refreshes())
	}
	stored, _ := m.store.Get(context.Background(), e.loc)
	if stored.AccessToken != tok.AccessToken || !e.refreshWorks(stored.RefreshToken) {
		t.Fatal("the refreshed pair was not stored")
	}
}

func TestStoreLocker(t *testing.T) {
	e := newEnv(t)
	store := &lockingStore{MemoryStore: NewMemoryStore(), held: map[string]bool{}}
	m := e.manager(store)
	installed := e.install(m)
	if store.locks.Load() != 1 {
		t.Fatalf("install took %d store locks, want 1", store.locks.Load())
	}
	e.expire(installed.Expiry)
	var wg sync.WaitGroup
	for range 50 {
		wg.Go(func() {
			if _, err := m.Token(context.Background(), e.loc); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if store.locks.Load() != 2 || store.overlp.Load() || e.sb.Refreshes() != 1 {
		t.Fatalf("%d store locks (overlap %v), %d refreshes", store.locks.Load(), store.overlp.Load(), e.sb.Refreshes())
	}
}

func TestTokenSourceShape(t *testing.T) {
	e := newEnv(t)
	m := e.manager(nil)
	installed := e.install(m)
	tok, err := m.TokenSource(e.loc).Token()
	if err != nil {
		t.Fatal(err)
	}
	want := oauth2.Token{AccessToken: installed.AccessToken, TokenType: "Bearer", Expiry: installed.Expiry}
	if tok.AccessToken != want.AccessToken || tok.TokenType != want.TokenType || !tok.Expiry.Equal(want.Expiry) || tok.RefreshToken != "" {
		t.Fatalf("token %+v", tok)
	}
}
