// This file builds Relay connections from the API's three ways of listing
// contacts (search, business, legacy list), and converts search filters.
// Cursors are upstream.SearchCursor strings: opaque to clients, and carrying
// what the next call needs (an offset, and searchAfter when known).

package resolvers

import (
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
	maxFilterDepth  = 5
	maxFilters      = 100
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

// connection builds a page of contacts that starts after `start`. cursorOf
// gives the cursor of the i-th contact of the page.
func connection(contacts []upstream.Contact, start upstream.SearchCursor, total int,
	cursorOf func(i int, c *upstream.Contact) upstream.SearchCursor) *model.ContactConnection {
	conn := &model.ContactConnection{
		Edges:      make([]model.ContactEdge, 0, len(contacts)),
		Nodes:      make([]model.Contact, 0, len(contacts)),
		TotalCount: total,
		PageInfo:   &model.PageInfo{HasPreviousPage: start.Offset > 0},
	}
	for i := range contacts {
		node := contactFromAPI(&contacts[i])
		cursor := cursorOf(i, &contacts[i]).Encode()
		conn.Edges = append(conn.Edges, model.ContactEdge{Cursor: cursor, Node: node})
		conn.Nodes = append(conn.Nodes, *node)
	}
	if n := len(conn.Edges); n > 0 {
		conn.PageInfo.StartCursor = &conn.Edges[0].Cursor
		conn.PageInfo.EndCursor = &conn.Edges[n-1].Cursor
	}
	conn.PageInfo.HasNextPage = start.Offset+len(contacts) < total
	return conn
}

// offsetCursor is the cursor of the i-th contact of a page that starts after
// start, carrying the contact's searchAfter when the API gave one.
func offsetCursor(start upstream.SearchCursor) func(int, *upstream.Contact) upstream.SearchCursor {
	return func(i int, c *upstream.Contact) upstream.SearchCursor {
		return upstream.SearchCursor{Offset: start.Offset + i + 1, SearchAfter: c.SearchAfter}
	}
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
func filtersToAPI(in []model.ContactFilter) ([]upstream.SearchFilter, error) {
	count := 0
	return convertFilters(in, "filters", 1, &count)
}

func convertFilters(in []model.ContactFilter, path string, depth int, count *int) ([]upstream.SearchFilter, error) {
	if depth > maxFilterDepth {
		return nil, badInput("%s: groups nest deeper than %d", path, maxFilterDepth)
	}
	out := make([]upstream.SearchFilter, 0, len(in))
	for i, f := range in {
		*count++
		if *count > maxFilters {
			return nil, badInput("filters: more than %d conditions", maxFilters)
		}
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
			conv, err := convertFilters(sub, p+".filters", depth+1, count)
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
