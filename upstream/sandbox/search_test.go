// This file tests search (query, filters, sort, page and searchAfter paging)
// and the business and deprecated listings, against expectations computed
// here from the seeded contacts.

package sandbox_test

import (
	"encoding/json"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ghl-graphql/gateway/upstream"
	"github.com/ghl-graphql/gateway/upstream/sandbox"
)

// allContacts returns the location's contacts, oldest first, as the client
// reads them.
func allContacts(t *testing.T, e *env, loc string) []upstream.Contact {
	t.Helper()
	var out []upstream.Contact
	for _, id := range e.s.ContactIDs(loc) {
		c, ok := e.s.Contact(id)
		if !ok {
			t.Fatalf("contact %s vanished", id)
		}
		b, err := json.Marshal(c)
		if err != nil {
			t.Fatal(err)
		}
		var uc upstream.Contact
		if err := json.Unmarshal(b, &uc); err != nil {
			t.Fatal(err)
		}
		out = append(out, uc)
	}
	return out
}

// searchAll returns every contact a search matches, in one page.
func searchAll(t *testing.T, e *env, req upstream.SearchContactsRequest) *upstream.SearchResult {
	t.Helper()
	req.LocationID, req.PageLimit = e.loc, upstream.MaxSearchPageLimit
	res := must[*upstream.SearchResult](t)(e.c.Contacts.Search(bg, &req))
	if len(res.Contacts) != res.Total {
		t.Fatalf("one page holds %d of %d", len(res.Contacts), res.Total)
	}
	return res
}

func ids(cs []upstream.Contact) []string {
	out := make([]string, len(cs))
	for i, c := range cs {
		out[i] = c.ID
	}
	return out
}

func sortedIDs(cs []upstream.Contact) []string {
	out := ids(cs)
	slices.Sort(out)
	return out
}

func millis(s string) int64 {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t.UnixMilli()
}

func TestSearchQuery(t *testing.T) {
	e := newEnv(t, sandboxConfig())
	all := allContacts(t, e, e.loc)
	phoneDigits := strings.TrimPrefix(all[5].Phone, "+")[1:7]
	cases := []string{strings.ToUpper(all[0].LastName[:3]), all[3].Email, "gmail", phoneDigits, all[7].FirstName}
	for _, q := range cases {
		t.Run(q, func(t *testing.T) {
			lq := strings.ToLower(q)
			var want []upstream.Contact
			for _, c := range all {
				for _, f := range []string{c.Name, c.FirstName, c.LastName, c.Email, c.Phone, c.CompanyName} {
					if strings.Contains(strings.ToLower(f), lq) {
						want = append(want, c)
						break
					}
				}
			}
			got := searchAll(t, e, upstream.SearchContactsRequest{Query: q})
			if len(want) == 0 || !slices.Equal(sortedIDs(got.Contacts), sortedIDs(want)) {
				t.Fatalf("query %q: got %d contacts, want %d", q, len(got.Contacts), len(want))
			}
		})
	}
}

func TestSearchFilters(t *testing.T) {
	e := newEnv(t, sandboxConfig())
	all := allContacts(t, e, e.loc)
	base := sandbox.BaseDate()
	from, to := base.AddDate(0, -6, 0), base.AddDate(0, -3, 0)
	f := func(field, op string, v any) upstream.SearchFilter {
		return upstream.SearchFilter{Field: field, Operator: op, Value: v}
	}
	cases := []struct {
		name    string
		filters []upstream.SearchFilter
		want    func(c upstream.Contact) bool
	}{
		{"eq ignores case", []upstream.SearchFilter{f("city", "eq", "AUSTIN")},
			func(c upstream.Contact) bool { return c.City == "Austin" }},
		{"eq with a list", []upstream.SearchFilter{f("country", "eq", []string{"GB", "DE"})},
			func(c upstream.Contact) bool { return c.Country == "GB" || c.Country == "DE" }},
		{"not_eq", []upstream.SearchFilter{f("type", "not_eq", "lead")},
			func(c upstream.Contact) bool { return c.Type != "lead" }},
		{"contains", []upstream.SearchFilter{f("email", "contains", "GMAIL")},
			func(c upstream.Contact) bool { return strings.Contains(c.Email, "gmail") }},
		{"not_contains", []upstream.SearchFilter{f("companyName", "not_contains", "dental")},
			func(c upstream.Contact) bool { return !strings.Contains(strings.ToLower(c.CompanyName), "dental") }},
		{"exists", []upstream.SearchFilter{f("businessId", "exists", nil)},
			func(c upstream.Contact) bool { return c.BusinessID != "" }},
		{"not_exists", []upstream.SearchFilter{f("assignedTo", "not_exists", nil)},
			func(c upstream.Contact) bool { return c.AssignedTo == "" }},
		{"tags eq is has-tag", []upstream.SearchFilter{f("tags", "eq", "vip")},
			func(c upstream.Contact) bool { return slices.Contains(c.Tags, "vip") }},
		{"tags not_eq", []upstream.SearchFilter{f("tags", "not_eq", "vip")},
			func(c upstream.Contact) bool { return !slices.Contains(c.Tags, "vip") }},
		{"tags contains", []upstream.SearchFilter{f("tags", "contains", "lead")},
			func(c upstream.Contact) bool {
				return slices.ContainsFunc(c.Tags, func(s string) bool { return strings.Contains(s, "lead") })
			}},
		{"followers exists", []upstream.SearchFilter{f("followers", "exists", nil)},
			func(c upstream.Contact) bool { return len(c.Followers) > 0 }},
		{"dnd eq", []upstream.SearchFilter{f("dnd", "eq", true)},
			func(c upstream.Contact) bool { return c.DND }},
		{"id eq", []upstream.SearchFilter{f("id", "eq", all[9].ID)},
			func(c upstream.Contact) bool { return c.ID == all[9].ID }},
		{"range dateAdded, RFC 3339", []upstream.SearchFilter{f("dateAdded", "range", upstream.RangeValue{
			GTE: from.Format(time.RFC3339), LT: to.Format(time.RFC3339)})},
			func(c upstream.Contact) bool {
				m := millis(c.DateAdded)
				return m >= from.UnixMilli() && m < to.UnixMilli()
			}},
		{"range dateAdded, epoch ms", []upstream.SearchFilter{f("dateAdded", "range", upstream.RangeValue{
			GT: from.UnixMilli(), LTE: to.UnixMilli()})},
			func(c upstream.Contact) bool {
				m := millis(c.DateAdded)
				return m > from.UnixMilli() && m <= to.UnixMilli()
			}},
		{"range dateUpdated", []upstream.SearchFilter{f("dateUpdated", "range", upstream.RangeValue{GTE: to.UnixMilli()})},
			func(c upstream.Contact) bool { return millis(c.DateUpdated) >= to.UnixMilli() }},
		{"top level is AND", []upstream.SearchFilter{f("type", "eq", "customer"), f("businessId", "exists", nil)},
			func(c upstream.Contact) bool { return c.Type == "customer" && c.BusinessID != "" }},
		{"nested OR of AND", []upstream.SearchFilter{{Group: "OR", Filters: []upstream.SearchFilter{
			{Group: "AND", Filters: []upstream.SearchFilter{f("country", "eq", "US"), f("type", "eq", "customer")}},
			f("tags", "eq", "vip"),
		}}},
			func(c upstream.Contact) bool {
				return c.Country == "US" && c.Type == "customer" || slices.Contains(c.Tags, "vip")
			}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var want []upstream.Contact
			for _, c := range all {
				if tc.want(c) {
					want = append(want, c)
				}
			}
			if len(want) == 0 || len(want) == len(all) {
				t.Fatalf("fixture selects %d of %d: the case proves nothing", len(want), len(all))
			}
			got := searchAll(t, e, upstream.SearchContactsRequest{Filters: tc.filters})
			if !slices.Equal(sortedIDs(got.Contacts), sortedIDs(want)) {
				t.Fatalf("got %d contacts, want %d", len(got.Contacts), len(want))
			}
		})
	}

	bad := []struct {
		name   string
		filter upstream.SearchFilter
		msg    string
	}{
		{"unknown field", f("favouriteColour", "eq", "red"), "filters.0.field"},
		{"unknown operator", f("city", "like", "a"), "filters.0.operator must be one of"},
		{"range on a string", f("city", "range", upstream.RangeValue{GT: 1}), "only supported for date fields"},
		{"bad range bound", f("dateAdded", "range", map[string]any{"after": 1}), "property after should not exist"},
		{"bad group", upstream.SearchFilter{Group: "XOR", Filters: []upstream.SearchFilter{f("city", "eq", "a")}}, "group must be one of"},
		{"nested unknown field", upstream.SearchFilter{Group: "AND", Filters: []upstream.SearchFilter{f("nope", "eq", "a")}}, "filters.0.filters.0.field"},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := e.c.Contacts.Search(bg, &upstream.SearchContactsRequest{LocationID: e.loc, Filters: []upstream.SearchFilter{tc.filter}})
			ue := wantErr(t, err, upstream.ErrInvalidInput)
			if ue.StatusCode != http.StatusUnprocessableEntity {
				t.Fatalf("status %d", ue.StatusCode)
			}
			wantMessage(t, ue, tc.msg)
		})
	}
}

// sortValue returns the contact's value for a sort field: epoch ms for
// dates, lower-case text otherwise ("" for missing).
func sortValue(c upstream.Contact, field string) (int64, string) {
	switch field {
	case "dateAdded":
		return millis(c.DateAdded), ""
	case "dateUpdated":
		return millis(c.DateUpdated), ""
	case "firstName":
		return 0, strings.ToLower(c.FirstName)
	case "lastName":
		return 0, strings.ToLower(c.LastName)
	case "email":
		return 0, strings.ToLower(c.Email)
	case "companyName":
		return 0, strings.ToLower(c.CompanyName)
	}
	panic(field)
}

// inOrder reports whether a may come before b under one sort criterion,
// ties broken by ID ascending and missing strings last.
func inOrder(a, b upstream.Contact, field string, desc bool) bool {
	an, as := sortValue(a, field)
	bn, bs := sortValue(b, field)
	c := 0
	switch {
	case an != bn:
		c = map[bool]int{true: -1, false: 1}[an < bn]
	case as == bs:
	case as == "":
		return false
	case bs == "":
		return true
	default:
		c = strings.Compare(as, bs)
	}
	if desc {
		c = -c
	}
	return c < 0 || c == 0 && a.ID < b.ID
}

func TestSearchSortAndPaging(t *testing.T) {
	e := newEnv(t, sandboxConfig())
	sorts := []upstream.SearchSort{
		{Field: "dateAdded", Direction: "desc"}, {Field: "dateAdded", Direction: "asc"},
		{Field: "dateUpdated", Direction: "desc"}, {Field: "firstName", Direction: "asc"},
		{Field: "firstName", Direction: "desc"}, {Field: "lastName", Direction: "asc"},
		{Field: "email", Direction: "desc"}, {Field: "companyName", Direction: "asc"},
		{Field: "companyName", Direction: "desc"},
	}
	for _, s := range sorts {
		t.Run(s.Field+" "+s.Direction, func(t *testing.T) {
			full := searchAll(t, e, upstream.SearchContactsRequest{Sort: []upstream.SearchSort{s}}).Contacts
			for i := 1; i < len(full); i++ {
				if !inOrder(full[i-1], full[i], s.Field, s.Direction == "desc") {
					t.Fatalf("contacts %d and %d out of order: %s / %s", i-1, i, full[i-1].ID, full[i].ID)
				}
			}
			// searchAfter with 7 a page visits each contact exactly once, in order.
			var visited []string
			req := upstream.SearchContactsRequest{LocationID: e.loc, PageLimit: 7, Sort: []upstream.SearchSort{s}}
			for range 100 {
				page := must[*upstream.SearchResult](t)(e.c.Contacts.Search(bg, &req))
				if page.Total != len(full) {
					t.Fatalf("total %d, want %d", page.Total, len(full))
				}
				if len(page.Contacts) == 0 {
					break
				}
				visited = append(visited, ids(page.Contacts)...)
				req.SearchAfter = page.Contacts[len(page.Contacts)-1].SearchAfter
			}
			if !slices.Equal(visited, ids(full)) {
				t.Fatalf("searchAfter paging visited %d contacts, want the %d of the full listing in order", len(visited), len(full))
			}
		})
	}

	full := searchAll(t, e, upstream.SearchContactsRequest{}).Contacts
	for i := 1; i < len(full); i++ {
		if !inOrder(full[i-1], full[i], "dateAdded", true) {
			t.Fatal("the default order is not dateAdded, newest first")
		}
	}
	var sa []any
	if err := json.Unmarshal(mustJSON(t, full[0].SearchAfter), &sa); err != nil || len(sa) != 2 ||
		sa[0] != float64(millis(full[0].DateAdded)) || sa[1] != full[0].ID {
		t.Fatalf("searchAfter %s", mustJSON(t, full[0].SearchAfter))
	}
	page2 := must[*upstream.SearchResult](t)(e.c.Contacts.Search(bg, &upstream.SearchContactsRequest{LocationID: e.loc, PageLimit: 10, Page: 2}))
	if !slices.Equal(ids(page2.Contacts), ids(full[10:20])) {
		t.Fatal("page 2 of 10 is not contacts 10..19")
	}
	last := must[*upstream.SearchResult](t)(e.c.Contacts.Search(bg, &upstream.SearchContactsRequest{LocationID: e.loc, PageLimit: 100, Page: 3}))
	if len(last.Contacts) != 50 || last.Total != 250 {
		t.Fatalf("page 3 of 100: %d of %d", len(last.Contacts), last.Total)
	}
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestSearchValidation(t *testing.T) {
	e := newEnv(t, sandboxConfig())
	for _, tc := range []struct {
		name string
		req  upstream.SearchContactsRequest
		msg  string
	}{
		{"bad sort field", upstream.SearchContactsRequest{Sort: []upstream.SearchSort{{Field: "city", Direction: "asc"}}}, "sort.0.field"},
		{"bad direction", upstream.SearchContactsRequest{Sort: []upstream.SearchSort{{Field: "email", Direction: "up"}}}, "sort.0.direction"},
		{"bad searchAfter", upstream.SearchContactsRequest{SearchAfter: []json.RawMessage{json.RawMessage(`"x"`)}}, "searchAfter must hold 2 values"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.req.LocationID = e.loc
			_, _, err := e.c.Contacts.Search(bg, &tc.req)
			wantMessage(t, wantErr(t, err, upstream.ErrInvalidInput), tc.msg)
		})
	}
	for _, tc := range []struct{ name, body, msg string }{
		{"no pageLimit", `{"locationId":"` + e.loc + `"}`, "pageLimit must not be less than 1"},
		{"pageLimit too large", `{"locationId":"` + e.loc + `","pageLimit":501}`, "pageLimit must not be greater than 500"},
		{"no locationId", `{"pageLimit":10}`, "locationId should not be empty"},
		// The client refuses these itself; the sandbox must too.
		{"past 10,000 by page", `{"locationId":"` + e.loc + `","pageLimit":500,"page":21}`, "use searchAfter"},
		{"past 10,000, small pages", `{"locationId":"` + e.loc + `","pageLimit":100,"page":101}`, "use searchAfter"},
		{"page and searchAfter", `{"locationId":"` + e.loc + `","pageLimit":10,"page":2,"searchAfter":[1,"x"]}`, "cannot be used together"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, text := e.raw(t, http.MethodPost, "/contacts/search", nil, tc.body)
			if resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(text, tc.msg) {
				t.Fatalf("%d %s", resp.StatusCode, text)
			}
		})
	}
}

func TestSearchAfterBeyondTenThousand(t *testing.T) {
	if testing.Short() {
		t.Skip("seeds 10,050 contacts")
	}
	const n = 10_050
	e := newEnv(t, sandbox.Config{Seed: 5, Locations: 1, ContactsPerLocation: n})
	seen := make(map[string]bool, n)
	req := upstream.SearchContactsRequest{LocationID: e.loc, PageLimit: upstream.MaxSearchPageLimit}
	for range n/upstream.MaxSearchPageLimit + 2 {
		page := must[*upstream.SearchResult](t)(e.c.Contacts.Search(bg, &req))
		if len(page.Contacts) == 0 {
			break
		}
		for _, c := range page.Contacts {
			if seen[c.ID] {
				t.Fatalf("contact %s seen twice", c.ID)
			}
			seen[c.ID] = true
		}
		req.SearchAfter = page.Contacts[len(page.Contacts)-1].SearchAfter
	}
	if len(seen) != n {
		t.Fatalf("searchAfter reached %d of %d contacts", len(seen), n)
	}
}

func TestListByBusiness(t *testing.T) {
	e := newEnv(t, sandboxConfig())
	all := allContacts(t, e, e.loc)
	count := map[string]int{}
	for _, c := range all {
		count[c.BusinessID]++
	}
	biz := e.s.Businesses(e.loc)[0]
	for _, b := range e.s.Businesses(e.loc) {
		if count[b] > count[biz] {
			biz = b
		}
	}
	full := must[*upstream.ContactList](t)(e.c.Contacts.ListByBusiness(bg, biz, upstream.ListByBusinessOptions{LocationID: e.loc, Limit: 500}))
	if full.Count != count[biz] || len(full.Contacts) != count[biz] || count[biz] < 4 {
		t.Fatalf("business %s: %d listed, count %d, want %d", biz, len(full.Contacts), full.Count, count[biz])
	}
	page := must[*upstream.ContactList](t)(e.c.Contacts.ListByBusiness(bg, biz, upstream.ListByBusinessOptions{LocationID: e.loc, Skip: 1, Limit: 2}))
	if !slices.Equal(ids(page.Contacts), ids(full.Contacts[1:3])) || page.Count != full.Count {
		t.Fatalf("skip 1 limit 2: %q (count %d)", ids(page.Contacts), page.Count)
	}
	q := full.Contacts[0].FirstName
	filtered := must[*upstream.ContactList](t)(e.c.Contacts.ListByBusiness(bg, biz, upstream.ListByBusinessOptions{LocationID: e.loc, Query: q, Limit: 500}))
	if len(filtered.Contacts) == 0 || len(filtered.Contacts) > len(full.Contacts) {
		t.Fatalf("query %q: %d contacts", q, len(filtered.Contacts))
	}
	def := must[*upstream.ContactList](t)(e.c.Contacts.ListByBusiness(bg, "000000000000000000000000", upstream.ListByBusinessOptions{LocationID: e.loc}))
	if def.Count != 0 || def.Contacts == nil {
		t.Fatalf("unknown business: %+v", def)
	}
}

func TestListDeprecatedPaging(t *testing.T) {
	e := newEnv(t, sandboxConfig())
	want := e.s.ContactIDs(e.loc)
	var got []string
	opts := upstream.ListOptions{LocationID: e.loc, Limit: 7}
	for page := 1; page < 100; page++ {
		list := must[*upstream.ContactList](t)(e.c.Contacts.List(bg, opts))
		m := list.Meta
		if m == nil || m.Total != len(want) || m.CurrentPage != page || list.Count != len(want) {
			t.Fatalf("page %d meta %+v count %d", page, m, list.Count)
		}
		got = append(got, ids(list.Contacts)...)
		if m.NextPage == nil {
			if m.NextPageURL != "" || len(got) != len(want) {
				t.Fatalf("last page %d: next %q after %d contacts", page, m.NextPageURL, len(got))
			}
			break
		}
		last := list.Contacts[len(list.Contacts)-1]
		if m.StartAfterID != last.ID || m.StartAfter != millis(last.DateAdded) ||
			!strings.Contains(m.NextPageURL, "startAfter="+strconv.FormatInt(m.StartAfter, 10)) {
			t.Fatalf("page %d meta %+v", page, m)
		}
		opts.StartAfter, opts.StartAfterID = m.StartAfter, m.StartAfterID
	}
	if !slices.Equal(got, want) {
		t.Fatal("the legacy listing is not every contact, oldest first")
	}

	byID := must[*upstream.ContactList](t)(e.c.Contacts.List(bg, upstream.ListOptions{LocationID: e.loc, StartAfterID: want[9]}))
	if byID.Contacts[0].ID != want[10] {
		t.Fatal("startAfterId alone does not resume after that contact")
	}
	_, _, err := e.c.Contacts.List(bg, upstream.ListOptions{LocationID: e.loc, Limit: 101})
	wantMessage(t, wantErr(t, err, upstream.ErrInvalidInput), "limit must not be greater than 100")
}
