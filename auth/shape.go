// This file tells a malformed bearer token (cut short, quoted, with
// whitespace or foreign characters: a paste gone wrong) from a token
// HighLevel rejects, so that the message says which. A malformed token is
// refused before any call; a well-formed one goes to HighLevel, whose 401
// is reported as its rejection.

package auth

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// ErrMalformedToken is wrapped by every error of CheckTokenShape and
// DescribeMalformedAuthorization: the token was not sent to HighLevel.
var ErrMalformedToken = errors.New("malformed bearer token, not sent to HighLevel")

// CheckTokenShape returns an error wrapping ErrMalformedToken when token
// cannot be a HighLevel credential as it stands: it is quoted, holds a
// character no HighLevel token has, or looks like an access token (a JWT,
// "eyJ…") that is not a whole one, which is what a cut paste leaves.
// Private Integration Tokens and API keys of other shapes pass: only
// HighLevel can tell whether they are good.
func CheckTokenShape(token string) error {
	if token == "" {
		return nil
	}
	first, _ := utf8.DecodeRuneInString(token)
	last, _ := utf8.DecodeLastRuneInString(token)
	if strings.ContainsRune("\"'`“”‘’<", first) || strings.ContainsRune("\"'`“”‘’>", last) {
		return fmt.Errorf("%w: it is in quotes; send the token without them", ErrMalformedToken)
	}
	for _, c := range token {
		if !tokenChar(c) {
			return fmt.Errorf("%w: it holds %q, which no HighLevel token has; copy the token again", ErrMalformedToken, c)
		}
	}
	if !strings.HasPrefix(token, "eyJ") {
		return nil
	}
	parts := strings.Split(token, ".")
	cut := fmt.Errorf("%w: it starts like a HighLevel access token (a JWT) but is not a whole one (%d characters, %d of its 3 parts): it was probably cut when pasted; copy it again in full",
		ErrMalformedToken, len(token), min(len(parts), 3))
	if len(parts) != 3 || parts[0] == "" || parts[1] == "" || parts[2] == "" {
		return cut
	}
	for _, p := range parts[:2] {
		raw, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(p, "="))
		if err != nil || !json.Valid(raw) {
			return cut
		}
	}
	return nil
}

// tokenChar reports whether c can appear in a HighLevel token or a gateway
// API key: base64url and base64 characters, '.', '-', '_', '~'.
func tokenChar(c rune) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
		strings.ContainsRune("-._~+/=", c)
}

// DescribeMalformedAuthorization explains why an Authorization header that
// BearerTokenLimit refused as ErrMalformedAuthorization is malformed; the
// error wraps both ErrMalformedAuthorization and ErrMalformedToken.
func DescribeMalformedAuthorization(header string) error {
	h := strings.TrimSpace(header)
	scheme, tok, ok := strings.Cut(h, " ")
	tok = strings.TrimSpace(tok)
	var why string
	switch {
	case !ok && strings.EqualFold(h, "Bearer"):
		why = `it has "Bearer" but no token after it`
	case !ok || !strings.EqualFold(scheme, "Bearer"):
		why = `it must be "Bearer <token>" (the word Bearer, a space, then the token)`
	case strings.ContainsAny(tok, " \t\r\n"):
		why = "the token has whitespace inside it (a line break or space from the paste?); copy it again as one line"
	default:
		why = `it must be "Bearer <token>"`
	}
	return fmt.Errorf("%w: %w: %s", ErrMalformedToken, ErrMalformedAuthorization, why)
}
