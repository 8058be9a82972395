// This file builds Relay connections from the API's three ways of listing
// contacts (search, business, legacy list), and converts search filters.
// Cursors are upstream.SearchCursor strings: opaque to clients, and carrying
// what the next call needs (an offset, and searchAfter when known).

package resolvers

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"strconv"
	"strings"

	"github.com/ghl-graphql/gateway/graph/model"
	"github.com/ghl-graphql/gateway/upstream"
)

// Page sizes the API accepts per listing.
const (
	maxBusinessPage = 100
	maxLegacyPage   = 100
)

// pageArgs checks first/after and returns the page size and start cursor.
func pageArgs(first *int, after *string, maxFirst int) (int, upstream.SearchCursor, error) {
	n := 20
	if first != nil {
		n = *first
	}
	if n < 1 || n > maxFirst {
		return 0, upstream.SearchCursor{}, badInput("first must be between 1 and %d, got %d", maxFirst, n)
	}
	if after == nil || *after == "" {
		return n, upstream.SearchCursor{}, nil
	}
	c, err := upstream.ParseSearchCursor(*after)
	if err != nil {
		return 0, upstream.SearchCursor{}, badInput("after: %v", err)
	}
	return n, c, nil
}

// errCursorMismatch refuses a cursor made by another listing: following it
// would silently page through other results (or skip some).
var errCursorMismatch = &inputError{msg: "after: the cursor was made by another query, filters, sort or listing; " +
	"page again from the start (without after)"}

// pager pages one listing: what binds its cursors to it, where the page
// starts, the cursor of each contact, and whether the next call would
// accept a cursor.
type pager struct {
	binding  string
	start    upstream.SearchCursor
	cursorOf func(i int, c *upstream.Contact) upstream.SearchCursor
	usable   func(upstream.SearchCursor) bool
}

// bindingOf is a short hash of a listing's normalised parameters (its kind,
// location and what the upstream is asked: the query, and the converted
// filters and sort, in which defaults are already explicit). It is not a
// secret: it keeps a client from using one listing's cursor with another,
// and ParseSearchCursor bounds what a forged cursor can do.
func bindingOf(kind string, parts ...any) string {
	h := sha256.New()
	enc := json.NewEncoder(h)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(append([]any{kind}, parts...)) // plain data from decoded JSON: cannot fail
	return base64.RawURLEncoding.EncodeToString(h.Sum(nil)[:9])
}

// newPager checks that start (the client's after, if any) was made by this
// listing.
func newPager(start upstream.SearchCursor, binding string) (pager, error) {
	if !start.IsZero() && start.Binding != binding {
		return pager{}, errCursorMismatch
	}
	return pager{binding: binding, start: start}, nil
}

// searchPager pages a search: by searchAfter when the contact has one,
// else by offset (page numbers, which reach only the first 10,000).
func searchPager(start upstream.SearchCursor, req *upstream.SearchContactsRequest) (pager, error) {
	p, err := newPager(start, bindingOf("search", req.LocationID, req.Query, req.Filters, req.Sort))
	if err != nil {
		return p, err
	}
	p.cursorOf = func(i int, c *upstream.Contact) upstream.SearchCursor {
		return upstream.SearchCursor{Offset: start.Offset + i + 1, SearchAfter: c.SearchAfter}
	}
	p.usable = func(c upstream.SearchCursor) bool {
		var next upstream.SearchContactsRequest
		_, err := next.StartAfter(c, 1)
		return err == nil
	}
	return p, nil
}

// businessPager pages a business's contacts by offset (limit/skip).
func businessPager(start upstream.SearchCursor, locationID, businessID, query string) (pager, error) {
	if len(start.SearchAfter) > 0 {
		return pager{}, badInput("after: not a cursor of this list")
	}
	p, err := newPager(start, bindingOf("business", locationID, businessID, query))
	if err != nil {
		return p, err
	}
	p.cursorOf = func(i int, _ *upstream.Contact) upstream.SearchCursor {
		// Offsets only: a business cursor must not carry a searchAfter.
		return upstream.SearchCursor{Offset: start.Offset + i + 1}
	}
	p.usable = func(c upstream.SearchCursor) bool { return len(c.SearchAfter) == 0 }
	return p, nil
}

// legacyPager pages the legacy listing by the dateAdded and ID of the last
// contact seen. Once the answer is in, its meta can replace cursorOf
// (legacyCursorOf).
func legacyPager(start upstream.SearchCursor, locationID, query string) (pager, error) {
	p, err := newPager(start, bindingOf("legacy", locationID, query))
	if err != nil {
		return p, err
	}
	p.cursorOf = legacyCursorOf(start, nil)
	p.usable = func(c upstream.SearchCursor) bool {
		_, id, err := legacyCursor(c)
		return err == nil && id != ""
	}
	return p, nil
}

// connection builds the page of contacts that starts at p.start, of a
// listing of total contacts. hasNextPage is true only with an endCursor
// the next call accepts: an empty page, or a last contact whose cursor
// cannot place the next call, ends the listing, since a client would
// otherwise ask for the same page forever.
func (p pager) connection(contacts []upstream.Contact, total int) *model.ContactConnection {
	conn := &model.ContactConnection{
		Edges:      make([]model.ContactEdge, 0, len(contacts)),
		Nodes:      make([]model.Contact, 0, len(contacts)),
		TotalCount: total,
		PageInfo:   &model.PageInfo{HasPreviousPage: p.start.Offset > 0},
	}
	for i := range contacts {
		node := contactFromAPI(&contacts[i])
		c := p.cursorOf(i, &contacts[i])
		c.Binding = p.binding
		conn.Edges = append(conn.Edges, model.ContactEdge{Cursor: c.Encode(), Node: node})
		conn.Nodes = append(conn.Nodes, *node)
	}
	n := len(conn.Edges)
	if n == 0 {
		return conn
	}
	conn.PageInfo.StartCursor = &conn.Edges[0].Cursor
	conn.PageInfo.EndCursor = &conn.Edges[n-1].Cursor
	if p.start.Offset+len(contacts) < total {
		// Read the cursor back as the next call will: Encode may have
		// dropped an over-long searchAfter.
		next, err := upstream.ParseSearchCursor(*conn.PageInfo.EndCursor)
		conn.PageInfo.HasNextPage = err == nil && next.Binding == p.binding && p.usable(next)
	}
	return conn
}

var filterOperators = map[model.FilterOperator]string{
	model.FilterOperatorEq:          upstream.FilterEq,
	model.FilterOperatorNotEq:       upstream.FilterNotEq,
	model.FilterOperatorContains:    upstream.FilterContains,
	model.FilterOperatorNotContains: upstream.FilterNotContains,
	model.FilterOperatorExists:      upstream.FilterExists,
	model.FilterOperatorNotExists:   upstream.FilterNotExists,
	model.FilterOperatorRange:       upstream.FilterRange,
}

// filtersToAPI checks and converts search filters.
// Their number and nesting are bounded by Limits (CheckArguments).
func filtersToAPI(in []model.ContactFilter) ([]upstream.SearchFilter, error) {
	return convertFilters(in, "filters")
}

func convertFilters(in []model.ContactFilter, path string) ([]upstream.SearchFilter, error) {
	out := make([]upstream.SearchFilter, 0, len(in))
	for i, f := range in {
		p := path + "[" + strconv.Itoa(i) + "]"
		group, op := f.Group.Value(), f.Operator.Value()
		field := strings.TrimSpace(val(f.Field))
		if group != nil {
			if op != nil || field != "" || f.Value.IsSet() || f.Range.IsSet() {
				return nil, badInput("%s: a group takes only group and filters", p)
			}
			sub := f.Filters.Value()
			if len(sub) == 0 {
				return nil, badInput("%s: a group needs at least one filter", p)
			}
			conv, err := convertFilters(sub, p+".filters")
			if err != nil {
				return nil, err
			}
			out = append(out, upstream.SearchFilter{Group: string(*group), Filters: conv})
			continue
		}
		if field == "" || op == nil {
			return nil, badInput("%s: give field and operator, or group and filters", p)
		}
		if f.Filters.IsSet() {
			return nil, badInput("%s: filters belong in a group", p)
		}
		sf := upstream.SearchFilter{Field: field, Operator: filterOperators[*op]}
		switch *op {
		case model.FilterOperatorExists, model.FilterOperatorNotExists:
			if f.Value.Value() != nil || f.Range.IsSet() {
				return nil, badInput("%s: %s takes no value", p, *op)
			}
		case model.FilterOperatorRange:
			r := f.Range.Value()
			if r == nil || (r.Gte.Value() == nil && r.Gt.Value() == nil && r.Lte.Value() == nil && r.Lt.Value() == nil) {
				return nil, badInput("%s: RANGE needs range with at least one bound", p)
			}
			sf.Value = upstream.RangeValue{GTE: r.Gte.Value(), GT: r.Gt.Value(), LTE: r.Lte.Value(), LT: r.Lt.Value()}
		default:
			v := f.Value.Value()
			if v == nil {
				return nil, badInput("%s: %s needs a value", p, *op)
			}
			if f.Range.IsSet() {
				return nil, badInput("%s: range is only for RANGE", p)
			}
			sf.Value = v
		}
		out = append(out, sf)
	}
	return out, nil
}

// sortFields are the fields search can order by.
var sortFields = map[string]bool{
	"dateAdded": true, "dateUpdated": true, "firstName": true, "lastName": true, "email": true, "companyName": true,
}

func sortToAPI(in []model.ContactSort) ([]upstream.SearchSort, error) {
	out := make([]upstream.SearchSort, 0, len(in))
	for i, s := range in {
		if !sortFields[s.Field] {
			return nil, badInput("sort[%d].field %q: sort by dateAdded, dateUpdated, firstName, lastName, email or companyName", i, s.Field)
		}
		for _, prev := range out {
			if prev.Field == s.Field {
				// A second key on the same field orders nothing, and makes
				// equal sorts look different to the cursor binding.
				return nil, badInput("sort[%d].field %q is already sorted on", i, s.Field)
			}
		}
		dir := upstream.SortAsc
		if d := s.Direction.Value(); d != nil && *d == model.SortDirectionDesc {
			dir = upstream.SortDesc
		}
		out = append(out, upstream.SearchSort{Field: s.Field, Direction: dir})
	}
	return out, nil
}

// legacyCursor reads the startAfter/startAfterId pair a legacy-list cursor
// carries in its searchAfter.
func legacyCursor(c upstream.SearchCursor) (startAfter int64, startAfterID string, err error) {
	if len(c.SearchAfter) == 0 {
		if c.Offset != 0 {
			return 0, "", badInput("after: not a cursor of this list")
		}
		return 0, "", nil
	}
	if len(c.SearchAfter) != 2 ||
		json.Unmarshal(c.SearchAfter[0], &startAfter) != nil ||
		json.Unmarshal(c.SearchAfter[1], &startAfterID) != nil || startAfterID == "" {
		return 0, "", badInput("after: not a cursor of this list")
	}
	return startAfter, startAfterID, nil
}
