// This file holds the install flow: InstallHandler sends the user to
// HighLevel's consent page with a signed state that it also sets in a
// cookie; CallbackHandler accepts HighLevel's redirect only when the state
// in the URL is the one in the cookie, correctly signed and not expired
// (so that nobody can make a browser complete an install it did not start),
// then exchanges the code and stores the install before answering.

package oauth

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"html/template"
	"net/http"
	"net/url"
	"strings"
	"time"

	"golang.org/x/oauth2"
)

const (
	// stateCookie holds the install's state between install and callback.
	stateCookie = "ghl_oauth_state"
	// stateTTL is how long a user has to consent.
	stateTTL = 10 * time.Minute
	// nonceLen is the random part of a state.
	nonceLen = 16
)

// InstallHandler starts an install (serve it at /oauth/install): it answers
// 302 to the consent page (AuthURL) with response_type=code, client_id,
// redirect_uri, the scopes and a signed state, and sets the same state in an
// HttpOnly, SameSite=Lax cookie (Secure when the request came over TLS or
// the redirect URL is https) that the callback checks.
func (m *Manager) InstallHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		state, err := m.newState()
		if err != nil {
			m.log.ErrorContext(r.Context(), "oauth: install: make state", "err", err)
			http.Error(w, "could not start the install", http.StatusInternalServerError)
			return
		}
		http.SetCookie(w, &http.Cookie{
			Name:     stateCookie,
			Value:    state,
			Path:     m.cookiePath(),
			MaxAge:   int(stateTTL / time.Second),
			HttpOnly: true,
			Secure:   m.secure(r),
			// Lax: the cookie comes back with HighLevel's top-level GET
			// redirect, and with no cross-site request of any other kind.
			SameSite: http.SameSiteLaxMode,
		})
		w.Header().Set("Cache-Control", "no-store")
		http.Redirect(w, r, m.authCodeURL(state), http.StatusFound)
	})
}

// authCodeURL returns the consent page's URL for state. The scope is
// space-separated, as HighLevel's documentation writes it.
func (m *Manager) authCodeURL(state string) string {
	u, _ := url.Parse(m.cfg.AuthURL) // checked by NewManager
	q := u.Query()
	q.Set("response_type", "code")
	q.Set("client_id", m.cfg.ClientID)
	q.Set("redirect_uri", m.cfg.RedirectURL)
	q.Set("scope", strings.Join(m.cfg.Scopes, " "))
	q.Set("state", state)
	u.RawQuery = q.Encode()
	return u.String()
}

// cookiePath limits the state cookie to the callback's path.
func (m *Manager) cookiePath() string {
	if m.redirect.Path == "" {
		return "/"
	}
	return m.redirect.Path
}

// secure reports whether the state cookie must be Secure: the install came
// over TLS, or the callback will (behind a proxy that ends TLS, the request
// itself is plain).
func (m *Manager) secure(r *http.Request) bool {
	return r.TLS != nil || m.redirect.Scheme == "https"
}

// newState returns a state: a random nonce and an expiry, signed.
func (m *Manager) newState() (string, error) {
	payload := make([]byte, nonceLen+8)
	if _, err := rand.Read(payload[:nonceLen]); err != nil {
		return "", err
	}
	binary.BigEndian.PutUint64(payload[nonceLen:], uint64(m.now().Add(stateTTL).Unix()))
	enc := base64.RawURLEncoding
	return enc.EncodeToString(payload) + "." + enc.EncodeToString(m.stateMAC(payload)), nil
}

// stateMAC signs a state's payload.
func (m *Manager) stateMAC(payload []byte) []byte {
	mac := hmac.New(sha256.New, m.cfg.StateKey)
	mac.Write([]byte("ghl-gateway oauth state\x00"))
	mac.Write(payload)
	return mac.Sum(nil)
}

// The reasons a callback's state is refused; each is named in the 400 answer.
var (
	errStateMissing   = errors.New("no state")
	errStateNoCookie  = errors.New("no state cookie (the install was started in another browser, or more than 10 minutes ago)")
	errStateMismatch  = errors.New("state does not match the cookie")
	errStateMalformed = errors.New("malformed state")
	errStateSignature = errors.New("bad state signature")
	errStateExpired   = errors.New("state expired")
)

// checkState verifies the callback's state against the cookie, its
// signature and its expiry.
func (m *Manager) checkState(r *http.Request) error {
	state := r.URL.Query().Get("state")
	if state == "" {
		return errStateMissing
	}
	c, err := r.Cookie(stateCookie)
	if err != nil || c.Value == "" {
		return errStateNoCookie
	}
	if !hmac.Equal([]byte(c.Value), []byte(state)) {
		return errStateMismatch
	}
	p, s, ok := strings.Cut(state, ".")
	if !ok {
		return errStateMalformed
	}
	enc := base64.RawURLEncoding
	payload, err1 := enc.DecodeString(p)
	sig, err2 := enc.DecodeString(s)
	if err1 != nil || err2 != nil || len(payload) != nonceLen+8 {
		return errStateMalformed
	}
	if !hmac.Equal(sig, m.stateMAC(payload)) {
		return errStateSignature
	}
	exp := time.Unix(int64(binary.BigEndian.Uint64(payload[nonceLen:])), 0)
	if !m.now().Before(exp) {
		return errStateExpired
	}
	return nil
}

// CallbackHandler finishes an install (serve it at the path of
// RedirectURL, e.g. /oauth/callback). It answers 400 without any exchange
// when the state is missing, does not match the cookie, is badly signed or
// expired, or when the user refused consent; otherwise it exchanges the
// code (user_type Location), stores the location's tokens, replacing any,
// and only then answers a page naming the installed location.
func (m *Manager) CallbackHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// The URL holds the code: keep it out of Referer headers and caches.
		w.Header().Set("Referrer-Policy", "no-referrer")
		w.Header().Set("Cache-Control", "no-store")
		if r.Method != http.MethodGet {
			w.Header().Set("Allow", "GET")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		ctx := r.Context()
		if err := m.checkState(r); err != nil {
			m.log.WarnContext(ctx, "oauth: callback refused", "reason", err.Error())
			http.Error(w, "invalid install state ("+err.Error()+"): start the install again at /oauth/install", http.StatusBadRequest)
			return
		}
		// The state is spent: a replayed callback finds no cookie.
		http.SetCookie(w, &http.Cookie{Name: stateCookie, Value: "", Path: m.cookiePath(), MaxAge: -1,
			HttpOnly: true, Secure: m.secure(r), SameSite: http.SameSiteLaxMode})
		q := r.URL.Query()
		if e := q.Get("error"); e != "" {
			m.log.InfoContext(ctx, "oauth: install not approved", "error", e)
			http.Error(w, "the install was not approved: start it again at /oauth/install", http.StatusBadRequest)
			return
		}
		code := q.Get("code")
		if code == "" {
			http.Error(w, "no authorization code: start the install again at /oauth/install", http.StatusBadRequest)
			return
		}

		// Like a refresh, the exchange and the store run to their end even
		// if the browser leaves: the code is spent once sent.
		xctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), m.flightTimeout())
		defer cancel()
		t, status, err := m.exchangeCode(xctx, code)
		if err != nil {
			http.Error(w, err.Error(), status)
			return
		}
		if err := m.install(xctx, t); err != nil {
			m.log.ErrorContext(ctx, "oauth: install not stored", "location", t.LocationID, "err", err)
			http.Error(w, "the install could not be stored; start it again at /oauth/install", http.StatusInternalServerError)
			return
		}
		m.log.InfoContext(ctx, "oauth: installed", "install", t)
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_ = installedPage.Execute(w, t.LocationID) // a failed write means the browser left
	})
}

// installedPage is the callback's answer; the location ID is escaped.
var installedPage = template.Must(template.New("installed").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>App installed</title></head>
<body><p>The app is installed for location {{.}}.</p></body></html>
`))

// exchangeCode trades code for the install's tokens with oauth2, sending
// HighLevel's user_type. On failure it returns the status to answer and a
// message fit for the user (no code, no secret).
func (m *Manager) exchangeCode(ctx context.Context, code string) (Tokens, int, error) {
	ctx = context.WithValue(ctx, oauth2.HTTPClient, m.hc)
	tok, err := m.exchange.Exchange(ctx, code, oauth2.SetAuthURLParam("user_type", userTypeLocation))
	if err != nil {
		var re *oauth2.RetrieveError
		if errors.As(err, &re) {
			status := 0
			if re.Response != nil {
				status = re.Response.StatusCode
			}
			m.log.WarnContext(ctx, "oauth: code exchange refused", "status", status, "error", re.ErrorCode, "description", re.ErrorDescription)
			if re.ErrorCode == "invalid_grant" {
				return Tokens{}, http.StatusBadRequest, errors.New("the authorization code is invalid, expired or used: start the install again at /oauth/install")
			}
		} else {
			m.log.WarnContext(ctx, "oauth: code exchange failed", "err", redact(err))
		}
		return Tokens{}, http.StatusBadGateway, errors.New("HighLevel's token endpoint failed; start the install again at /oauth/install")
	}
	t := Tokens{
		AccessToken:  tok.AccessToken,
		RefreshToken: tok.RefreshToken,
		Expiry:       m.expiry(tok.ExpiresIn),
		LocationID:   extra(tok, "locationId"),
		CompanyID:    extra(tok, "companyId"),
		UserID:       extra(tok, "userId"),
		Scopes:       strings.Fields(extra(tok, "scope")),
	}
	switch {
	case t.LocationID == "":
		m.log.WarnContext(ctx, "oauth: token answer names no location", "userType", extra(tok, "userType"))
		return Tokens{}, http.StatusBadGateway, errors.New("HighLevel's answer names no location: install the app on a sub-account (location), not an agency")
	case t.RefreshToken == "":
		m.log.WarnContext(ctx, "oauth: token answer has no refresh token", "location", t.LocationID)
		return Tokens{}, http.StatusBadGateway, errors.New("HighLevel's answer has no refresh token; start the install again at /oauth/install")
	}
	return t, 0, nil
}

// extra returns a string field of the token answer.
func extra(tok *oauth2.Token, key string) string {
	s, _ := tok.Extra(key).(string)
	return s
}

// redact strips what an oauth2 transport error may carry beyond its kind:
// the URL's query (none is sent, but a configured token URL could hold one).
func redact(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		u, perr := url.Parse(ue.URL)
		if perr == nil {
			u.RawQuery, u.User = "", nil
			return ue.Op + " " + u.String() + ": " + ue.Err.Error()
		}
	}
	return err.Error()
}
