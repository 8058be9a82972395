// This file reads the claims of a HighLevel OAuth access token, a JWT, to
// learn its location and scopes without a call. The signature is not
// checked here: the upstream checks it on every call, and the claims only
// choose defaults and refuse early what the upstream would refuse anyway.

package auth

import (
	"encoding/base64"
	"encoding/json"
	"strings"
)

// Claims are what the gateway reads from an access token.
type Claims struct {
	// LocationID is the sub-account the token is bound to.
	LocationID string
	// Scopes the token was granted.
	Scopes []string
}

// accessTokenPayload is the part of HighLevel's JWT payload the gateway
// reads: authClass "Location" with authClassId the location ID, and the
// granted scopes under oauthMeta.
type accessTokenPayload struct {
	AuthClass   string `json:"authClass"`
	AuthClassID string `json:"authClassId"`
	LocationID  string `json:"locationId"`
	OAuthMeta   struct {
		Scopes scopeList `json:"scopes"`
	} `json:"oauthMeta"`
}

// scopeList decodes scopes given as a JSON list or as one space-separated
// string (the form of OAuth's scope parameter).
type scopeList []string

func (l *scopeList) UnmarshalJSON(b []byte) error {
	var s string
	if json.Unmarshal(b, &s) == nil {
		*l = strings.Fields(s)
		return nil
	}
	var v []string
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	*l = v
	return nil
}

// maxTokenLen bounds what is decoded; real tokens are a few KB.
const maxTokenLen = 16 << 10

// ParseAccessToken reads the claims of a JWT access token. ok is false for
// anything that is not a JWT with a location (e.g. a Private Integration Token).
func ParseAccessToken(token string) (c Claims, ok bool) {
	if len(token) > maxTokenLen {
		return Claims{}, false
	}
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return Claims{}, false
	}
	raw, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(parts[1], "="))
	if err != nil {
		return Claims{}, false
	}
	var p accessTokenPayload
	if err := json.Unmarshal(raw, &p); err != nil {
		return Claims{}, false
	}
	switch {
	case strings.EqualFold(p.AuthClass, "Location") && p.AuthClassID != "":
		c.LocationID = p.AuthClassID
	case p.LocationID != "":
		c.LocationID = p.LocationID
	default:
		return Claims{}, false
	}
	c.Scopes = p.OAuthMeta.Scopes
	return c, true
}
