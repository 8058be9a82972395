package auth

import (
	"errors"
	"strings"
	"testing"
)

func TestCheckTokenShape(t *testing.T) {
	// A whole JWT shaped like HighLevel's (the signature is not checked).
	jwt := "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJhdXRoQ2xhc3MiOiJMb2NhdGlvbiIsImF1dGhDbGFzc0lkIjoibG9jMSJ9.c2lnbmF0dXJl"
	tests := map[string]struct {
		token string
		want  string // substring of the error; "" for none
	}{
		"whole JWT":              {token: jwt},
		"private integration":    {token: "pit-1234abcd-12ab-34cd-56ef-1234567890ab"},
		"gateway API key":        {token: "gk_abc_DEF-123"},
		"opaque short":           {token: "abc"},
		"JWT cut in the payload": {token: jwt[:60], want: "cut when pasted"},
		"JWT cut at a dot":       {token: jwt[:strings.LastIndex(jwt, ".")+1], want: "cut when pasted"},
		"JWT cut in the header":  {token: jwt[:20], want: "cut when pasted"},
		"JWT payload cut short":  {token: jwt[:strings.Index(jwt, ".")+10] + ".c2ln", want: "cut when pasted"},
		"double quoted":          {token: `"` + jwt + `"`, want: "in quotes"},
		"single quoted":          {token: "'" + jwt + "'", want: "in quotes"},
		"trailing quote":         {token: jwt + `"`, want: "in quotes"},
		"typographic quotes":     {token: "“" + jwt + "”", want: "in quotes"},
		"backslash":              {token: jwt[:40] + `\` + jwt[40:], want: `'\\'`},
		"ellipsis of a display":  {token: jwt[:30] + "…", want: "'…'"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			err := CheckTokenShape(tc.token)
			if tc.want == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			if err == nil || !errors.Is(err, ErrMalformedToken) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want ErrMalformedToken with %q", err, tc.want)
			}
			if !strings.Contains(err.Error(), "not sent to HighLevel") {
				t.Errorf("the message does not say HighLevel was not asked: %v", err)
			}
		})
	}
}

func TestDescribeMalformedAuthorization(t *testing.T) {
	for header, want := range map[string]string{
		"Bearer":                    "no token after it",
		"eyJhbGciOi.eyJ.sig":        `"Bearer <token>"`,
		"Basic dXNlcjpwYXNz":        `"Bearer <token>"`,
		"Bearer eyJhbG ciOi.eyJ.x":  "whitespace inside",
		"Bearer eyJhbG\tciOi.eyJ.x": "whitespace inside",
	} {
		err := DescribeMalformedAuthorization(header)
		if !errors.Is(err, ErrMalformedToken) || !errors.Is(err, ErrMalformedAuthorization) || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v, want %q", header, err, want)
		}
	}
}

func FuzzCheckTokenShape(f *testing.F) {
	for _, s := range []string{"eyJ", "eyJa.eyJb.c", `"x"`, "pit-1", "", "“"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, tok string) {
		if err := CheckTokenShape(tok); err != nil && !errors.Is(err, ErrMalformedToken) {
			t.Fatalf("%q: %v does not wrap ErrMalformedToken", tok, err)
		}
	})
}
