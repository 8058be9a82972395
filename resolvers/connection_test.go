// Tests for the connections: a cursor is bound to the listing that made it
// (query, filters, sort, location, kind), and hasNextPage is never true
// without an endCursor the next call of the same listing accepts.

package resolvers

import (
	"encoding/json"
	"strconv"
	"strings"
	"testing"

	"github.com/ghl-graphql/gateway/upstream"
)

func searchReq(loc, query string, filters []upstream.SearchFilter, sort []upstream.SearchSort) *upstream.SearchContactsRequest {
	return &upstream.SearchContactsRequest{LocationID: loc, Query: query, Filters: filters, Sort: sort}
}

// endCursorOf pages once from the start of p's listing (two contacts of
// ten) and returns the parsed endCursor.
func endCursorOf(t *testing.T, p pager) upstream.SearchCursor {
	t.Helper()
	contacts := []upstream.Contact{
		{ID: "a", DateAdded: "2026-01-01T00:00:00Z", SearchAfter: raw(`1`, `"a"`)},
		{ID: "b", DateAdded: "2026-01-02T00:00:00Z", SearchAfter: raw(`2`, `"b"`)},
	}
	conn := p.connection(contacts, 10)
	if !conn.PageInfo.HasNextPage || conn.PageInfo.EndCursor == nil {
		t.Fatalf("first page: hasNextPage %v, endCursor %v", conn.PageInfo.HasNextPage, conn.PageInfo.EndCursor)
	}
	c, err := upstream.ParseSearchCursor(*conn.PageInfo.EndCursor)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func raw(vals ...string) []json.RawMessage {
	out := make([]json.RawMessage, len(vals))
	for i, v := range vals {
		out[i] = json.RawMessage(v)
	}
	return out
}

func TestCursorBoundToItsListing(t *testing.T) {
	vip := []upstream.SearchFilter{{Field: "tags", Operator: upstream.FilterEq, Value: "vip"}}
	newest := []upstream.SearchSort{{Field: "dateAdded", Direction: upstream.SortDesc}}
	base := searchReq("loc", "ada", vip, newest)
	mustSearch := func(start upstream.SearchCursor, req *upstream.SearchContactsRequest) (pager, error) {
		return searchPager(start, req)
	}
	from, err := mustSearch(upstream.SearchCursor{}, base)
	if err != nil {
		t.Fatal(err)
	}
	cur := endCursorOf(t, from)

	tests := []struct {
		name string
		use  func(upstream.SearchCursor) error
		ok   bool
	}{
		{"the same search", func(c upstream.SearchCursor) error {
			_, err := mustSearch(c, searchReq("loc", "ada", vip, newest))
			return err
		}, true},
		{"another query", func(c upstream.SearchCursor) error {
			_, err := mustSearch(c, searchReq("loc", "bob", vip, newest))
			return err
		}, false},
		{"no query", func(c upstream.SearchCursor) error {
			_, err := mustSearch(c, searchReq("loc", "", vip, newest))
			return err
		}, false},
		{"other filters", func(c upstream.SearchCursor) error {
			_, err := mustSearch(c, searchReq("loc", "ada", []upstream.SearchFilter{{Field: "tags", Operator: upstream.FilterEq, Value: "new"}}, newest))
			return err
		}, false},
		{"no filters", func(c upstream.SearchCursor) error {
			_, err := mustSearch(c, searchReq("loc", "ada", nil, newest))
			return err
		}, false},
		{"other sort", func(c upstream.SearchCursor) error {
			_, err := mustSearch(c, searchReq("loc", "ada", vip, []upstream.SearchSort{{Field: "dateAdded", Direction: upstream.SortAsc}}))
			return err
		}, false},
		{"another location", func(c upstream.SearchCursor) error {
			_, err := mustSearch(c, searchReq("other", "ada", vip, newest))
			return err
		}, false},
		{"the legacy list", func(c upstream.SearchCursor) error { _, err := legacyPager(c, "loc", "ada"); return err }, false},
		{"a business", func(c upstream.SearchCursor) error {
			c.SearchAfter = nil
			_, err := businessPager(c, "loc", "biz", "ada")
			return err
		}, false},
		{"without its binding", func(c upstream.SearchCursor) error {
			c.Binding = ""
			_, err := mustSearch(c, searchReq("loc", "ada", vip, newest))
			return err
		}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.use(cur)
			if tc.ok && err != nil {
				t.Errorf("refused: %v", err)
			}
			if !tc.ok && !isBadInput(err) {
				t.Errorf("err = %v, want BAD_USER_INPUT", err)
			}
		})
	}

	// The business and legacy listings are bound the same way.
	b, _ := businessPager(upstream.SearchCursor{}, "loc", "biz", "")
	bc := endCursorOf(t, b)
	if _, err := businessPager(bc, "loc", "biz", ""); err != nil {
		t.Errorf("business cursor on its business: %v", err)
	}
	if _, err := businessPager(bc, "loc", "other-biz", ""); !isBadInput(err) {
		t.Errorf("business cursor on another business: %v", err)
	}
	l, _ := legacyPager(upstream.SearchCursor{}, "loc", "x")
	lc := endCursorOf(t, l)
	if _, err := legacyPager(lc, "loc", "x"); err != nil {
		t.Errorf("legacy cursor on its listing: %v", err)
	}
	if _, err := legacyPager(lc, "loc", "y"); !isBadInput(err) {
		t.Errorf("legacy cursor with another query: %v", err)
	}
	// The start of a listing is no listing's: a zero cursor is accepted anywhere.
	if _, err := searchPager(upstream.SearchCursor{}, searchReq("x", "", nil, nil)); err != nil {
		t.Error(err)
	}
}

// TestBindingIsNormalised: what the upstream is asked decides the binding,
// so requests that differ only in how the client spelled a default bind
// alike; sortToAPI makes the default direction explicit.
func TestBindingIsNormalised(t *testing.T) {
	if bindingOf("search", "l", "q", []upstream.SearchFilter(nil), []upstream.SearchSort{}) ==
		bindingOf("search", "l", "q2", []upstream.SearchFilter(nil), []upstream.SearchSort{}) {
		t.Error("different queries bind alike")
	}
	a := bindingOf("search", "l", "", []upstream.SearchFilter{{Field: "f", Operator: "eq", Value: map[string]any{"b": 1, "a": 2}}}, nil)
	b := bindingOf("search", "l", "", []upstream.SearchFilter{{Field: "f", Operator: "eq", Value: map[string]any{"a": 2, "b": 1}}}, nil)
	if a != b {
		t.Error("equal filters bind differently")
	}
	if len(a) != 12 || len(a) > upstream.MaxCursorBindingLen {
		t.Errorf("binding %q: want 12 characters", a)
	}
}

// TestHasNextPageHasUsableEndCursor: over every kind of listing and the
// pages that used to end with hasNextPage true and a null or unusable
// endCursor, hasNextPage implies an endCursor that the next call of the
// same listing parses, accepts and can place.
func TestHasNextPageHasUsableEndCursor(t *testing.T) {
	long := strings.Repeat("x", upstream.MaxCursorLen)
	contactsN := func(n int, f func(i int, c *upstream.Contact)) []upstream.Contact {
		out := make([]upstream.Contact, n)
		for i := range out {
			out[i] = upstream.Contact{ID: "c" + strconv.Itoa(i), DateAdded: "2026-01-01T00:00:00Z"}
			if f != nil {
				f(i, &out[i])
			}
		}
		return out
	}
	withAfter := func(i int, c *upstream.Contact) { c.SearchAfter = raw(strconv.Itoa(i), `"`+c.ID+`"`) }
	search := func(start upstream.SearchCursor) pager {
		p, err := searchPager(start, searchReq("loc", "", nil, nil))
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	business := func(start upstream.SearchCursor) pager {
		p, err := businessPager(start, "loc", "biz", "")
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	legacy := func(start upstream.SearchCursor, meta *upstream.ListMeta) pager {
		p, err := legacyPager(start, "loc", "")
		if err != nil {
			t.Fatal(err)
		}
		p.cursorOf = legacyCursorOf(start, meta)
		return p
	}
	bound := func(p pager, offset int) upstream.SearchCursor {
		return upstream.SearchCursor{Offset: offset, Binding: p.binding}
	}
	s0 := search(upstream.SearchCursor{})
	tests := []struct {
		name     string
		p        pager
		contacts []upstream.Contact
		total    int
		wantNext bool
	}{
		{"search, first page", s0, contactsN(20, withAfter), 45, true},
		{"search, last page", search(bound(s0, 40)), contactsN(5, withAfter), 45, false},
		{"search, empty page though total says more", search(bound(s0, 40)), nil, 45, false},
		{"search, empty result", s0, nil, 0, false},
		{"search by offset, far from 10,000", s0, contactsN(20, nil), 50_000, true},
		{"search by offset, at 10,000", search(bound(s0, 9980)), contactsN(20, nil), 50_000, false},
		{"search by offset, short of 10,000", search(bound(s0, 9970)), contactsN(20, nil), 50_000, true},
		{"search by searchAfter, past 10,000", search(bound(s0, 20_000)), contactsN(20, withAfter), 50_000, true},
		{"search, searchAfter too long for a cursor, at 10,000", search(bound(s0, 9990)), contactsN(10, func(i int, c *upstream.Contact) {
			c.SearchAfter = raw(`"` + long + `"`)
		}), 50_000, false},
		{"business, first page", business(upstream.SearchCursor{}), contactsN(20, nil), 21, true},
		{"business, last page", business(upstream.SearchCursor{}), contactsN(21, nil), 21, false},
		{"business, empty page though count says more", business(upstream.SearchCursor{}), nil, 5, false},
		{"legacy, first page", legacy(upstream.SearchCursor{}, nil), contactsN(20, nil), 40, true},
		{"legacy, last page", legacy(upstream.SearchCursor{}, nil), contactsN(40, nil), 40, false},
		{"legacy, empty page though total says more", legacy(upstream.SearchCursor{}, nil), nil, 40, false},
		{"legacy, no dateAdded, meta marks the last", legacy(upstream.SearchCursor{}, &upstream.ListMeta{StartAfterID: "c1", StartAfter: 1700000000000}),
			contactsN(2, func(i int, c *upstream.Contact) { c.DateAdded = "" }), 40, true},
		{"legacy, ID too long for a cursor", legacy(upstream.SearchCursor{}, nil), contactsN(2, func(i int, c *upstream.Contact) { c.ID = long }), 40, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			conn := tc.p.connection(tc.contacts, tc.total)
			pi := conn.PageInfo
			if pi.HasNextPage != tc.wantNext {
				t.Errorf("hasNextPage = %v, want %v", pi.HasNextPage, tc.wantNext)
			}
			if len(conn.Edges) > 0 && (pi.EndCursor == nil || *pi.EndCursor != conn.Edges[len(conn.Edges)-1].Cursor) {
				t.Errorf("endCursor %v is not the last edge's cursor", pi.EndCursor)
			}
			if !pi.HasNextPage {
				return
			}
			if pi.EndCursor == nil {
				t.Fatal("hasNextPage with a null endCursor")
			}
			next, err := upstream.ParseSearchCursor(*pi.EndCursor)
			if err != nil {
				t.Fatalf("endCursor does not parse: %v", err)
			}
			if _, err := newPager(next, tc.p.binding); err != nil {
				t.Fatalf("endCursor is refused by its own listing: %v", err)
			}
			if !tc.p.usable(next) {
				t.Fatalf("endCursor cannot place the next call: %+v", next)
			}
			if next.Offset <= tc.p.start.Offset {
				t.Errorf("endCursor does not move forward: %d after %d", next.Offset, tc.p.start.Offset)
			}
			// Whatever page size the client asks for next.
			if len(next.SearchAfter) == 0 && tc.p.binding == s0.binding {
				for _, first := range []int{1, 20, upstream.MaxSearchPageLimit} {
					var req upstream.SearchContactsRequest
					if _, err := req.StartAfter(next, first); err != nil {
						t.Errorf("next page of %d after %+v: %v", first, next, err)
					}
				}
			}
		})
	}
}
