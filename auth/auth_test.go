// Tests for reading bearer tokens and HighLevel access-token claims.

package auth

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
)

// jwt builds an unsigned JWT-shaped token with the given payload.
func jwt(t testing.TB, payload any) string {
	t.Helper()
	b, err := json.Marshal(payload)
	if err != nil {
		t.Fatal(err)
	}
	enc := base64.RawURLEncoding.EncodeToString
	return enc([]byte(`{"alg":"HS256","typ":"JWT"}`)) + "." + enc(b) + "." + enc([]byte("sig"))
}

func TestParseAccessToken(t *testing.T) {
	tests := map[string]struct {
		token      string
		wantOK     bool
		wantLoc    string
		wantScopes []string
	}{
		"location token with scope list": {
			token: jwt(t, map[string]any{"authClass": "Location", "authClassId": "loc1",
				"oauthMeta": map[string]any{"scopes": []string{ScopeContactsRead, ScopeContactsWrite}}}),
			wantOK: true, wantLoc: "loc1", wantScopes: []string{ScopeContactsRead, ScopeContactsWrite},
		},
		"scopes as one space-separated string": {
			token:  jwt(t, map[string]any{"authClass": "Location", "authClassId": "loc1", "oauthMeta": map[string]any{"scopes": "contacts.readonly  contacts.write"}}),
			wantOK: true, wantLoc: "loc1", wantScopes: []string{ScopeContactsRead, ScopeContactsWrite},
		},
		"locationId claim": {
			token:  jwt(t, map[string]any{"locationId": "loc2"}),
			wantOK: true, wantLoc: "loc2",
		},
		"company token has no location": {
			token: jwt(t, map[string]any{"authClass": "Company", "authClassId": "co1"}),
		},
		"private integration token": {token: "pit-1234-abcd"},
		"two parts":                 {token: "a.b"},
		"payload not base64":        {token: "a.!!!.c"},
		"payload not JSON":          {token: "a." + base64.RawURLEncoding.EncodeToString([]byte("nope")) + ".c"},
		"scopes of the wrong type": {
			token: jwt(t, map[string]any{"authClass": "Location", "authClassId": "loc1", "oauthMeta": map[string]any{"scopes": 7}}),
		},
		"too long": {token: strings.Repeat("a", maxTokenLen+1)},
		"empty":    {token: ""},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			c, ok := ParseAccessToken(tc.token)
			if ok != tc.wantOK {
				t.Fatalf("ok = %v, want %v", ok, tc.wantOK)
			}
			if c.LocationID != tc.wantLoc || !slices.Equal(c.Scopes, tc.wantScopes) {
				t.Errorf("claims = %+v, want location %q scopes %v", c, tc.wantLoc, tc.wantScopes)
			}
		})
	}
}

func TestNewBearer(t *testing.T) {
	tok := jwt(t, map[string]any{"authClass": "Location", "authClassId": "fromtoken", "oauthMeta": map[string]any{"scopes": []string{ScopeContactsRead}}})
	tests := map[string]struct {
		token, header          string
		wantLoc                string
		wantAllowed, wantKnown bool
	}{
		"token names its location, header ignored": {token: tok, header: "other", wantLoc: "fromtoken", wantAllowed: false, wantKnown: true},
		"opaque token takes the header":            {token: "pit-x", header: "hdr", wantLoc: "hdr", wantAllowed: true, wantKnown: false},
		"opaque token, no header":                  {token: "pit-x", wantAllowed: true},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			c := NewBearer(tc.token, tc.header)
			if c.LocationID != tc.wantLoc {
				t.Errorf("location = %q, want %q", c.LocationID, tc.wantLoc)
			}
			allowed, known := c.MayWrite()
			if allowed != tc.wantAllowed || known != tc.wantKnown {
				t.Errorf("MayWrite = %v, %v; want %v, %v", allowed, known, tc.wantAllowed, tc.wantKnown)
			}
			if strings.Contains(c.ID, tc.token) || c.ID == "" {
				t.Errorf("ID %q must identify the token without revealing it", c.ID)
			}
			got, err := c.TokenSource().Token()
			if err != nil || got.AccessToken != tc.token {
				t.Errorf("TokenSource gave %v, %v", got, err)
			}
		})
	}
}

func TestBearerToken(t *testing.T) {
	tests := map[string]struct {
		header  string
		want    string
		wantErr bool
	}{
		"none":             {header: ""},
		"bearer":           {header: "Bearer abc.def", want: "abc.def"},
		"case-insensitive": {header: "bearer abc", want: "abc"},
		"extra spaces":     {header: "  Bearer   abc  ", want: "abc"},
		"basic":            {header: "Basic dXNlcjpwYXNz", wantErr: true},
		"no token":         {header: "Bearer ", wantErr: true},
		"scheme only":      {header: "Bearer", wantErr: true},
		"two tokens":       {header: "Bearer a b", wantErr: true},
		"a tab inside":     {header: "Bearer a\tb", wantErr: true},
		"a CR inside":      {header: "Bearer a\rb", wantErr: true},
		"a LF inside":      {header: "Bearer a\nb", wantErr: true},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			r := httptest.NewRequest("POST", "/graphql", nil)
			if tc.header != "" {
				r.Header.Set("Authorization", tc.header)
			}
			got, err := BearerToken(r)
			if tc.wantErr {
				if !errors.Is(err, ErrMalformedAuthorization) {
					t.Fatalf("err = %v, want ErrMalformedAuthorization", err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Errorf("BearerToken = %q, %v; want %q", got, err, tc.want)
			}
		})
	}
}

func TestHasSpace(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want bool
	}{
		{"", false}, {"abc.def-ghi_jkl", false}, {strings.Repeat("x", 2000), false},
		{" ", true}, {"a b", true}, {"a\tb", true}, {"a\rb", true}, {"a\nb", true},
		{strings.Repeat("x", 2000) + "\n", true}, {"\v\f", false},
	} {
		if got, want := hasSpace(tc.in), strings.ContainsAny(tc.in, " \t\r\n"); got != tc.want || got != want {
			t.Errorf("hasSpace(%.20q) = %v, want %v (ContainsAny says %v)", tc.in, got, tc.want, want)
		}
	}
}

func TestBearerTokenLimit(t *testing.T) {
	tests := map[string]struct {
		token   string
		max     int
		wantErr error
	}{
		"at the limit":            {token: strings.Repeat("a", 64), max: 64},
		"one byte over":           {token: strings.Repeat("a", 65), max: 64, wantErr: ErrTokenTooLong},
		"900 KB":                  {token: strings.Repeat("a", 900<<10), max: 64, wantErr: ErrTokenTooLong},
		"default limit, at it":    {token: strings.Repeat("a", DefaultMaxTokenBytes)},
		"default limit, over it":  {token: strings.Repeat("a", DefaultMaxTokenBytes+1), wantErr: ErrTokenTooLong},
		"a real-sized JWT passes": {token: jwt(t, map[string]any{"authClass": "Location", "authClassId": "loc1", "pad": strings.Repeat("x", 1500)})},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			r := httptest.NewRequest("POST", "/graphql", nil)
			r.Header.Set("Authorization", "Bearer "+tc.token)
			got, err := BearerTokenLimit(r, tc.max)
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("err = %v, want %v", err, tc.wantErr)
			}
			if tc.wantErr == nil && got != tc.token {
				t.Errorf("token = %.20q…, want the header's", got)
			}
			if tc.wantErr != nil && got != "" {
				t.Errorf("a refused token was returned")
			}
		})
	}
}

// FuzzParseAccessToken: the token comes from the network; parsing it must
// never panic, and a location it reports must be non-empty.
func FuzzParseAccessToken(f *testing.F) {
	f.Add(jwt(f, map[string]any{"authClass": "Location", "authClassId": "loc1", "oauthMeta": map[string]any{"scopes": []string{"contacts.write"}}}))
	f.Add(jwt(f, map[string]any{"locationId": "x", "oauthMeta": map[string]any{"scopes": "a b"}}))
	f.Add("pit-abc")
	f.Add("a.b.c")
	f.Add("..")
	f.Fuzz(func(t *testing.T, token string) {
		c, ok := ParseAccessToken(token)
		if ok && c.LocationID == "" {
			t.Fatalf("ok with an empty location for %q", token)
		}
		if !ok && (c.LocationID != "" || c.Scopes != nil) {
			t.Fatalf("not ok but claims %+v", c)
		}
	})
}

func TestNewManaged(t *testing.T) {
	ts := NewBearer("upstream-token", "").TokenSource()
	w := NewManaged("loc1", ts, true, "key:abc")
	r := NewManaged("loc1", ts, false, "jwt:user-7")
	if allowed, known := w.MayWrite(); !allowed || !known {
		t.Errorf("write role: MayWrite = %v, %v", allowed, known)
	}
	if allowed, known := r.MayWrite(); allowed || !known {
		t.Errorf("read role: MayWrite = %v, %v", allowed, known)
	}
	if w.ID != r.ID || w.LocationID != "loc1" || w.Subject != "key:abc" {
		t.Errorf("clients of one install must share cache keys and keep their own subject: %+v %+v", w, r)
	}
	if tok, err := r.TokenSource().Token(); err != nil || tok.AccessToken != "upstream-token" {
		t.Errorf("token source: %v, %v", tok, err)
	}
}
