// This file holds contact search, the duplicate look-up, and the search
// cursor that lets a client page past the first 10,000 results.

package upstream

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
)

// Search limits documented by HighLevel.
const (
	// MaxSearchPageLimit is the largest pageLimit search accepts.
	MaxSearchPageLimit = 500
	// DefaultSearchPageLimit is the page size when none is given.
	DefaultSearchPageLimit = 20
	// MaxSearchPagedResults is how far page/pageLimit paging reaches; past it
	// only searchAfter works.
	MaxSearchPagedResults = 10000
)

// SearchContactsRequest is the body of POST /contacts/search.
type SearchContactsRequest struct {
	LocationID string `json:"locationId"`
	// Query is free text matched against names, email, phone and company.
	Query string `json:"query,omitempty"`
	// PageLimit is the page size, 1..MaxSearchPageLimit. The upstream answers
	// 422 without it, so Search sends DefaultSearchPageLimit when it is 0.
	PageLimit int `json:"pageLimit"`
	// Page is 1-based; leave 0 when SearchAfter is set.
	Page int `json:"page,omitempty"`
	// SearchAfter is the SearchAfter of the last contact of the previous page.
	SearchAfter []json.RawMessage `json:"searchAfter,omitempty"`
	Filters     []SearchFilter    `json:"filters,omitempty"`
	Sort        []SearchSort      `json:"sort,omitempty"`
}

// Search filter operators.
const (
	FilterEq          = "eq"
	FilterNotEq       = "not_eq"
	FilterContains    = "contains"
	FilterNotContains = "not_contains"
	FilterExists      = "exists"
	FilterNotExists   = "not_exists"
	FilterRange       = "range"
)

// SearchFilter is one search condition, or a group of them: set Field,
// Operator and Value, or Group ("AND" or "OR") and Filters.
type SearchFilter struct {
	Field    string `json:"field,omitempty"`
	Operator string `json:"operator,omitempty"`
	// Value is a string, number, boolean, list, or for FilterRange a
	// RangeValue. FilterExists and FilterNotExists take none.
	Value   any            `json:"value,omitempty"`
	Group   string         `json:"group,omitempty"`
	Filters []SearchFilter `json:"filters,omitempty"`
}

// RangeValue bounds a FilterRange condition; nil bounds are left out.
type RangeValue struct {
	GTE any `json:"gte,omitempty"`
	GT  any `json:"gt,omitempty"`
	LTE any `json:"lte,omitempty"`
	LT  any `json:"lt,omitempty"`
}

// Sort directions.
const (
	SortAsc  = "asc"
	SortDesc = "desc"
)

// SearchSort orders search results by one field.
type SearchSort struct {
	Field     string `json:"field"`
	Direction string `json:"direction"`
}

// SearchResult is a page of search results.
type SearchResult struct {
	Contacts []Contact `json:"contacts"`
	// Total is the number of contacts that match, over all pages.
	Total int `json:"total"`
}

func (r *SearchResult) missingField() string {
	if r.Contacts == nil {
		return "contacts"
	}
	return ""
}

// Search returns a page of the contacts of a location that match body.
//
// API: POST /contacts/search (search-contacts-advanced).
func (s *ContactsService) Search(ctx context.Context, body *SearchContactsRequest) (*SearchResult, *Response, error) {
	if body == nil || body.LocationID == "" {
		return nil, nil, invalidInput(OpSearchContacts, "locationId is required")
	}
	req := *body
	if req.PageLimit == 0 {
		req.PageLimit = DefaultSearchPageLimit
	}
	if req.PageLimit < 1 || req.PageLimit > MaxSearchPageLimit {
		return nil, nil, invalidInput(OpSearchContacts, "pageLimit %d is outside 1..%d", req.PageLimit, MaxSearchPageLimit)
	}
	if req.Page < 0 {
		return nil, nil, invalidInput(OpSearchContacts, "page must not be negative")
	}
	if req.Page > 0 && len(req.SearchAfter) > 0 {
		return nil, nil, invalidInput(OpSearchContacts, "page and searchAfter exclude each other")
	}
	if req.Page > MaxSearchPagedResults/req.PageLimit {
		return nil, nil, invalidInput(OpSearchContacts, "page %d of %d reaches past the first %d results; use searchAfter",
			req.Page, req.PageLimit, MaxSearchPagedResults)
	}
	var out SearchResult
	resp, err := s.client.call(ctx, OpSearchContacts, nil, nil, &req, &out)
	if err != nil {
		return nil, resp, err
	}
	return &out, resp, nil
}

// duplicateEnvelope is {"contact": {...}} or {"contact": null}. The key
// must be there: an answer without it is not "no duplicate", and reading it
// so could make a caller create one.
type duplicateEnvelope struct {
	Contact json.RawMessage `json:"contact"`
}

func (e *duplicateEnvelope) missingField() string {
	if len(e.Contact) == 0 {
		return "contact"
	}
	return ""
}

// FindDuplicate returns the contact of the location that has this email or
// phone number, or nil when there is none. The upstream checks the email
// first when both are given.
//
// API: GET /contacts/search/duplicate (get-duplicate-contact).
func (s *ContactsService) FindDuplicate(ctx context.Context, locationID, email, phone string) (*Contact, *Response, error) {
	if locationID == "" {
		return nil, nil, invalidInput(OpGetDuplicateContact, "locationId is required")
	}
	if email == "" && phone == "" {
		return nil, nil, invalidInput(OpGetDuplicateContact, "an email or a phone number is required")
	}
	q := url.Values{"locationId": {locationID}}
	if email != "" {
		q.Set("email", email)
	}
	if phone != "" {
		q.Set("number", phone)
	}
	var out duplicateEnvelope
	resp, err := s.client.call(ctx, OpGetDuplicateContact, nil, q, nil, &out)
	if err != nil {
		return nil, resp, err
	}
	if string(out.Contact) == "null" {
		return nil, resp, nil
	}
	var c Contact
	if err := json.Unmarshal(out.Contact, &c); err != nil {
		return nil, resp, &Error{Op: OpGetDuplicateContact.ID, Method: OpGetDuplicateContact.Method, Path: OpGetDuplicateContact.Path,
			StatusCode: resp.StatusCode, Rate: resp.Rate, RequestSent: true, Err: fmt.Errorf("%w: %w", ErrMalformedResponse, err)}
	}
	// The spec gives this answer no schema: it promises no field, so only
	// the keys it spells out are known.
	c.Fields = fieldsOfObject(out.Contact) | fieldsTracked
	return &c, resp, nil
}

// SearchCursor is a position in a list of search results: Offset results
// come before it, and SearchAfter, when known, is the searchAfter of the
// result just before it. Binding, when set, names the listing the cursor
// belongs to (a short hash of its query, filters and sort, made by the
// caller), so that a cursor used with another listing can be told apart.
// Clients see it only as the opaque string of Encode; the gateway's GraphQL
// cursors are these strings.
type SearchCursor struct {
	Offset      int
	SearchAfter []json.RawMessage
	Binding     string
}

// IsZero reports whether c is the start of a listing, bound to none.
func (c SearchCursor) IsZero() bool {
	return c.Offset == 0 && len(c.SearchAfter) == 0 && c.Binding == ""
}

// MaxCursorLen is the longest encoded cursor ParseSearchCursor accepts.
const MaxCursorLen = maxCursorLen

// MaxCursorBindingLen is the longest Binding a cursor may carry.
const MaxCursorBindingLen = 32

// Bounds on a cursor that arrives from a client, so that a forged one
// cannot make the gateway send an absurd request.
const (
	maxCursorLen         = 1024
	maxCursorOffset      = 100_000_000
	maxCursorSearchAfter = 4
)

// cursorWire is the JSON inside an encoded cursor.
type cursorWire struct {
	Offset      int               `json:"o"`
	SearchAfter []json.RawMessage `json:"a,omitempty"`
	Binding     string            `json:"b,omitempty"`
}

// Encode returns the cursor as an opaque URL-safe string. A searchAfter too
// long to fit a cursor is dropped, leaving the offset and the binding: the
// next page is then found by page number, which is slower but right.
func (c SearchCursor) Encode() string {
	s := encodeCursor(cursorWire{Offset: c.Offset, SearchAfter: c.SearchAfter, Binding: c.Binding})
	if len(s) > maxCursorLen && len(c.SearchAfter) > 0 {
		s = encodeCursor(cursorWire{Offset: c.Offset, Binding: c.Binding})
	}
	return s
}

// validBinding reports whether b is a binding a cursor may carry: 1 to
// MaxCursorBindingLen characters of the URL-safe base64 alphabet.
func validBinding(b string) bool {
	if b == "" || len(b) > MaxCursorBindingLen {
		return false
	}
	for i := 0; i < len(b); i++ {
		c := b[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

func encodeCursor(w cursorWire) string {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	// HTML escaping would grow "<" to six bytes and push a cursor we
	// accepted past the length we accept.
	enc.SetEscapeHTML(false)
	_ = enc.Encode(w)
	return base64.RawURLEncoding.EncodeToString(bytes.TrimSuffix(buf.Bytes(), []byte("\n")))
}

// ErrInvalidCursor is returned for a cursor the gateway did not make.
var ErrInvalidCursor = errors.New("invalid cursor")

// ParseSearchCursor decodes a cursor made by Encode. It accepts only what
// Encode makes: one JSON object with the keys "o" (a non-negative integer),
// optionally "a" (a short list of scalars) and optionally "b" (a binding of
// URL-safe base64 characters), each once, in that case.
func ParseSearchCursor(s string) (SearchCursor, error) {
	bad := func(why string) (SearchCursor, error) {
		return SearchCursor{}, fmt.Errorf("%w: %s", ErrInvalidCursor, why)
	}
	if s == "" || len(s) > maxCursorLen {
		return bad("empty or too long")
	}
	raw, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return bad("not base64url")
	}
	if !json.Valid(raw) {
		return bad("not a cursor")
	}
	// Walk the object's keys ourselves: encoding/json would accept keys in
	// any case and repeated keys.
	dec := json.NewDecoder(bytes.NewReader(raw))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return bad("not a cursor")
	}
	var (
		c           SearchCursor
		seenOffset  bool
		seenAfter   bool
		seenBinding bool
	)
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return bad("not a cursor")
		}
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return bad("not a cursor")
		}
		switch tok {
		case "o":
			if seenOffset || json.Unmarshal(v, &c.Offset) != nil {
				return bad("bad offset")
			}
			seenOffset = true
		case "a":
			if seenAfter || json.Unmarshal(v, &c.SearchAfter) != nil {
				return bad("bad searchAfter")
			}
			seenAfter = true
		case "b":
			if seenBinding || json.Unmarshal(v, &c.Binding) != nil || !validBinding(c.Binding) {
				return bad("bad binding")
			}
			seenBinding = true
		default:
			return bad("unknown key")
		}
	}
	if !seenOffset {
		return bad("no offset")
	}
	if c.Offset < 0 || c.Offset > maxCursorOffset {
		return bad("offset out of range")
	}
	if len(c.SearchAfter) > maxCursorSearchAfter {
		return bad("searchAfter too long")
	}
	for i, v := range c.SearchAfter {
		var x any
		if err := json.Unmarshal(v, &x); err != nil {
			return bad("bad searchAfter")
		}
		switch x.(type) {
		case string, float64, bool:
		default:
			return bad("searchAfter holds a non-scalar")
		}
		// Keep the compact form so that equal cursors encode equally.
		var buf bytes.Buffer
		if err := json.Compact(&buf, v); err != nil {
			return bad("bad searchAfter")
		}
		c.SearchAfter[i] = buf.Bytes()
	}
	if len(c.SearchAfter) == 0 {
		c.SearchAfter = nil
	}
	return c, nil
}

// StartAfter positions req so that its page starts right after the cursor and
// holds up to limit results. It prefers searchAfter, which reaches past
// MaxSearchPagedResults; without one it falls back to page numbers, and
// returns how many leading results of the page the caller must skip when the
// offset is not a multiple of limit. A page by number that would reach past
// MaxSearchPagedResults is made smaller so that it ends there: a cursor short
// of the end is always usable, whatever the page size.
func (req *SearchContactsRequest) StartAfter(c SearchCursor, limit int) (skip int, err error) {
	if limit < 1 || limit > MaxSearchPageLimit {
		return 0, fmt.Errorf("%w: page size %d is outside 1..%d", ErrInvalidInput, limit, MaxSearchPageLimit)
	}
	if c.Offset < 0 || c.Offset > maxCursorOffset {
		return 0, fmt.Errorf("%w: cursor offset %d out of range", ErrInvalidInput, c.Offset)
	}
	req.PageLimit = limit
	if len(c.SearchAfter) > 0 {
		req.SearchAfter, req.Page = c.SearchAfter, 0
		return 0, nil
	}
	if c.Offset >= MaxSearchPagedResults {
		return 0, fmt.Errorf("%w: paging by page number reaches only the first %d results", ErrInvalidInput, MaxSearchPagedResults)
	}
	if c.Offset > MaxSearchPagedResults-limit {
		// (offset/limit+1)*limit <= offset+limit = MaxSearchPagedResults.
		limit = MaxSearchPagedResults - c.Offset
		req.PageLimit = limit
	}
	req.SearchAfter = nil
	req.Page = c.Offset/limit + 1
	return c.Offset % limit, nil
}
