// This file holds lenient JSON types for fields whose shape the upstream does
// not keep to its own schema: a contact must still decode when one of them
// arrives as another JSON kind.

package upstream

import (
	"bytes"
	"encoding/json"
	"strconv"
)

// LooseString decodes a JSON string, number, boolean or null into a string.
// dateOfBirth and attachments arrive as any of these.
type LooseString string

// UnmarshalJSON implements json.Unmarshaler.
func (s *LooseString) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	switch {
	case bytes.Equal(b, []byte("null")):
		*s = ""
	case len(b) > 0 && b[0] == '"':
		var v string
		if err := json.Unmarshal(b, &v); err != nil {
			return err
		}
		*s = LooseString(v)
	case bytes.Equal(b, []byte("true")), bytes.Equal(b, []byte("false")):
		*s = LooseString(b)
	default:
		var n json.Number
		if err := json.Unmarshal(b, &n); err != nil {
			// Objects and arrays are kept as their JSON text rather than lost.
			if !json.Valid(b) {
				return err
			}
		}
		*s = LooseString(b)
	}
	return nil
}

// StringList decodes a JSON array of strings, a single string, or null.
// The spec's example gives followers as one string; answers give arrays.
type StringList []string

// UnmarshalJSON implements json.Unmarshaler.
func (l *StringList) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	switch {
	case bytes.Equal(b, []byte("null")):
		*l = nil
	case len(b) > 0 && b[0] == '"':
		var v string
		if err := json.Unmarshal(b, &v); err != nil {
			return err
		}
		if v == "" {
			*l = nil
		} else {
			*l = StringList{v}
		}
	default:
		var v []string
		if err := json.Unmarshal(b, &v); err != nil {
			return err
		}
		*l = v
	}
	return nil
}

// LooseInt decodes a JSON number or a numeric string; null is 0.
type LooseInt int

// UnmarshalJSON implements json.Unmarshaler.
func (n *LooseInt) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if bytes.Equal(b, []byte("null")) {
		*n = 0
		return nil
	}
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		b = []byte(s)
	}
	f, err := strconv.ParseFloat(string(b), 64)
	if err != nil {
		return err
	}
	*n = LooseInt(f)
	return nil
}
