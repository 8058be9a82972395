// This file records which fields an answer carried for each contact. The
// search and listing answers (the spec's ContactsSearchSchema) carry fewer
// fields than GET /contacts/{id}, and a decoded Contact cannot tell "this
// contact has no phone" from "this answer does not carry phones": both leave
// Phone empty. Contact.Fields keeps the difference, so that the gateway can
// read the whole contact when a client asks for a field the answer lacked.

package upstream

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
)

// ContactFields is a set of the fields of the API's contact, one bit per
// JSON key of Contact (see ContactFieldsNamed).
type ContactFields uint64

// fieldsTracked marks a contact whose answer carried only the fields in its
// Fields, so that a set of no fields is told apart from "all of them".
const fieldsTracked ContactFields = 1 << 63

// contactFieldBits maps each JSON key of Contact to its bit; lowerFieldBits
// the same keys in lower case, because encoding/json matches keys without
// regard to case and the tracking must agree with what was decoded.
var contactFieldBits, lowerFieldBits = func() (map[string]ContactFields, map[string]ContactFields) {
	exact, lower := map[string]ContactFields{}, map[string]ContactFields{}
	t := reflect.TypeFor[Contact]()
	for i := range t.NumField() {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ",")
		if name == "" || name == "-" {
			continue
		}
		if len(exact) == 63 {
			panic("upstream: Contact has more JSON fields than ContactFields has bits")
		}
		bit := ContactFields(1) << len(exact)
		exact[name], lower[strings.ToLower(name)] = bit, bit
	}
	return exact, lower
}()

// AllContactFields holds every field of Contact.
var AllContactFields = func() ContactFields {
	var all ContactFields
	for _, b := range contactFieldBits {
		all |= b
	}
	return all
}()

// ContactFieldsNamed returns the set of the fields with these JSON keys. It
// panics on a key Contact does not have: the sets are written in code, and a
// misspelt key must fail at start, not make a field look carried.
func ContactFieldsNamed(keys ...string) ContactFields {
	var set ContactFields
	for _, k := range keys {
		b, ok := contactFieldBits[k]
		if !ok {
			panic(fmt.Sprintf("upstream: Contact has no JSON field %q", k))
		}
		set |= b
	}
	return set
}

// ListedContactFields are the fields of the spec's ContactsSearchSchema, the
// item of the search, business and legacy listing answers. A listing's
// contact carries these whether or not the answer spelt them out: an absent
// key of this set means an empty field, not an unknown one.
var ListedContactFields = ContactFieldsNamed("id", "locationId", "email", "timezone", "country", "source",
	"dateAdded", "customFields", "tags", "businessId", "attributions", "followers")

// CreatedContactFields are the fields of the spec's CreateContactSchema, the
// contact of a create's answer: it lacks name, timezone, keyword and the
// attributions of a read, among others.
var CreatedContactFields = ContactFieldsNamed("id", "dateAdded", "dateUpdated", "deleted", "tags", "type",
	"customFields", "locationId", "firstName", "firstNameLowerCase", "fullNameLowerCase", "lastName",
	"lastNameLowerCase", "email", "emailLowerCase", "bounceEmail", "unsubscribeEmail", "dnd", "dndSettings",
	"phone", "address1", "city", "state", "country", "postalCode", "website", "source", "companyName",
	"dateOfBirth", "birthMonth", "birthDay", "lastSessionActivityAt", "offers", "products", "businessId",
	"assignedTo")

// Partial reports whether c came from an answer that carries only some of a
// contact's fields (a search, a listing, the duplicate look-up or a create).
func (c *Contact) Partial() bool { return c.Fields != 0 }

// Carries reports whether c's answer carried every field in need: always
// for a contact read whole, and for a partial one when need is within its
// Fields.
func (c *Contact) Carries(need ContactFields) bool {
	return c.Fields == 0 || c.Fields&need&^fieldsTracked == need&^fieldsTracked
}

// fieldsOfObject returns the fields whose keys the JSON object b holds. Keys
// Contact does not know are ignored. b comes from a decode that succeeded,
// but the scan stays safe (no panic, no loop) on any input.
func fieldsOfObject(b []byte) ContactFields {
	var set ContactFields
	i := skipSpace(b, 0)
	if i >= len(b) || b[i] != '{' {
		return 0
	}
	i++
	for i < len(b) {
		i = skipSpace(b, i)
		if i >= len(b) || b[i] == '}' {
			break
		}
		if b[i] == ',' {
			i++
			continue
		}
		if b[i] != '"' {
			break
		}
		end, escaped := scanString(b, i)
		if end < 0 {
			break
		}
		set |= fieldOfKey(b[i+1:end-1], escaped, b[i:end])
		i = skipSpace(b, end)
		if i >= len(b) || b[i] != ':' {
			break
		}
		next := skipValue(b, i+1)
		if next <= i {
			break
		}
		i = next
	}
	return set
}

// fieldOfKey is the bit of one object key (raw is the key with its quotes,
// for unescaping).
func fieldOfKey(key []byte, escaped bool, raw []byte) ContactFields {
	if escaped {
		var s string
		if json.Unmarshal(raw, &s) != nil {
			return 0
		}
		key = []byte(s)
	}
	if b, ok := contactFieldBits[string(key)]; ok {
		return b
	}
	return lowerFieldBits[strings.ToLower(string(key))]
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// scanString returns the index just past the string that starts at b[i]
// (a quote), and whether it holds escapes; -1 when it does not end.
func scanString(b []byte, i int) (int, bool) {
	escaped := false
	for j := i + 1; j < len(b); j++ {
		switch b[j] {
		case '\\':
			escaped = true
			j++
		case '"':
			return j + 1, escaped
		}
	}
	return -1, escaped
}

// skipValue returns the index just past the JSON value that starts at or
// after b[i]; len(b) or less than i+1 when it does not end.
func skipValue(b []byte, i int) int {
	i = skipSpace(b, i)
	if i >= len(b) {
		return len(b)
	}
	switch b[i] {
	case '"':
		end, _ := scanString(b, i)
		if end < 0 {
			return len(b)
		}
		return end
	case '{', '[':
		depth := 0
		for j := i; j < len(b); j++ {
			switch b[j] {
			case '"':
				end, _ := scanString(b, j)
				if end < 0 {
					return len(b)
				}
				j = end - 1
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return j + 1
				}
			}
		}
		return len(b)
	default:
		j := i
		for j < len(b) && b[j] != ',' && b[j] != '}' && b[j] != ']' {
			j++
		}
		if j == i {
			return i + 1
		}
		return j
	}
}

// listedContacts decodes the contacts of a search or listing answer and
// records in each the fields the answer carried: the spec's listing fields
// and every key that any contact of the answer has. A key one contact has
// is a field this answer carries, so the contacts that lack it have it
// empty; only fields no contact of the answer spells out and the spec does
// not promise are unknown.
type listedContacts []Contact

// UnmarshalJSON implements json.Unmarshaler.
func (l *listedContacts) UnmarshalJSON(b []byte) error {
	var raw []json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil {
		return err
	}
	if raw == nil {
		*l = nil
		return nil
	}
	out := make([]Contact, len(raw))
	carried := ListedContactFields | fieldsTracked
	for i, r := range raw {
		if err := json.Unmarshal(r, &out[i]); err != nil {
			return fmt.Errorf("contacts[%d]: %w", i, err)
		}
		carried |= fieldsOfObject(r)
	}
	for i := range out {
		out[i].Fields = carried
	}
	*l = out
	return nil
}

// UnmarshalJSON implements json.Unmarshaler, tracking the fields of the
// contacts (see listedContacts).
func (r *SearchResult) UnmarshalJSON(b []byte) error {
	type plain SearchResult
	var w struct {
		plain
		Contacts listedContacts `json:"contacts"`
	}
	if err := json.Unmarshal(b, &w); err != nil {
		return err
	}
	*r = SearchResult(w.plain)
	r.Contacts = w.Contacts
	return nil
}

// UnmarshalJSON implements json.Unmarshaler, tracking the fields of the
// contacts (see listedContacts).
func (l *ContactList) UnmarshalJSON(b []byte) error {
	type plain ContactList
	var w struct {
		plain
		Contacts listedContacts `json:"contacts"`
	}
	if err := json.Unmarshal(b, &w); err != nil {
		return err
	}
	*l = ContactList(w.plain)
	l.Contacts = w.Contacts
	return nil
}

// createdEnvelope is a create's {"contact": {...}}.
type createdEnvelope struct {
	Contact *createdContact `json:"contact"`
}

func (e *createdEnvelope) missingField() string {
	if e.Contact == nil {
		return "contact"
	}
	return ""
}

func (e *createdEnvelope) answerLocation() string { return contactLocation((*Contact)(e.Contact)) }

// createdContact decodes a create's contact, which carries the spec's
// CreateContactSchema fields and whatever else the answer spells out.
type createdContact Contact

// UnmarshalJSON implements json.Unmarshaler.
func (c *createdContact) UnmarshalJSON(b []byte) error {
	if err := json.Unmarshal(b, (*Contact)(c)); err != nil {
		return err
	}
	c.Fields = CreatedContactFields | fieldsOfObject(b) | fieldsTracked
	return nil
}
