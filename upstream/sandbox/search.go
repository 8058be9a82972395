// This file holds advanced search (POST /contacts/search): paging by page or
// searchAfter, sorting, and the cursor every answered contact carries. The
// query and filters are in filters.go.

package sandbox

import (
	"encoding/json"
	"slices"
	"strconv"
	"strings"
	"time"
)

// searchResult is the answer of POST /contacts/search.
type searchResult struct {
	// Contacts is a []Contact, or a []searchItem in strict list mode.
	Contacts any `json:"contacts"`
	Total    int `json:"total"`
}

// handleSearch serves POST /contacts/search.
func handleSearch(c *call) response {
	var body searchBody
	raw, bad := c.bind(&body)
	if bad != nil {
		return *bad
	}
	var ck checks
	ck.requireString(raw, "locationId")
	switch {
	case !present(raw, "pageLimit"):
		ck.addf("pageLimit must not be less than 1")
		ck.addf("pageLimit must be a number conforming to the specified constraints")
	case body.PageLimit < 1:
		ck.addf("pageLimit must not be less than 1")
	case body.PageLimit > maxSearchPageLimit:
		ck.addf("pageLimit must not be greater than %d", maxSearchPageLimit)
	}
	page := 1
	if present(raw, "page") {
		if body.Page < 1 {
			ck.addf("page must not be less than 1")
		} else {
			page = body.Page
		}
	}
	if len(body.SearchAfter) > 0 {
		if page > 1 {
			ck.addf("page and searchAfter cannot be used together")
		}
	} else if body.PageLimit > 0 && page*body.PageLimit > maxSearchPagedResults {
		ck.addf("page * pageLimit must not exceed %d: use searchAfter to page further", maxSearchPagedResults)
	}
	match := compileFilters(body.Filters, "filters", &ck)
	sorts := compileSort(body.Sort, &ck)
	cursor, hasCursor := parseCursor(body.SearchAfter, sorts, &ck)
	if r := ck.result(); r != nil {
		return *r
	}
	query := strings.ToLower(strings.TrimSpace(body.Query))

	st := c.s.store
	st.mu.RLock()
	defer st.mu.RUnlock()
	type hit struct {
		rec *contactRec
		key []sortVal
	}
	var hits []hit
	for _, rec := range st.locs[c.loc].contacts {
		if matchesQuery(&rec.c, query) && match(rec) {
			hits = append(hits, hit{rec: rec, key: sortKey(rec, sorts)})
		}
	}
	slices.SortFunc(hits, func(a, b hit) int { return compareKeys(a.key, b.key, sorts) })
	start := (page - 1) * body.PageLimit
	if hasCursor {
		start, _ = slices.BinarySearchFunc(hits, cursor, func(h hit, cur []sortVal) int {
			if compareKeys(h.key, cur, sorts) <= 0 {
				return -1
			}
			return 1
		})
	}
	start = min(start, len(hits))
	end := min(start+body.PageLimit, len(hits))
	items := make([]Contact, 0, end-start)
	for _, h := range hits[start:end] {
		ct := cloneContact(h.rec.c)
		ct.SearchAfter = encodeKey(h.key, sorts)
		items = append(items, ct)
	}
	return ok(searchResult{Contacts: c.s.listItems(items), Total: len(hits)})
}

// sortVal is one sort value: a number for dates, a lower-cased string
// otherwise; an empty string is a missing value, which sorts last in both
// directions, as Elasticsearch puts it.
type sortVal struct {
	num int64
	str string
}

// sortSpec is one compiled sort criterion. The ID is always the last,
// ascending criterion, so that the order is total and a cursor exact.
type sortSpec struct {
	field string
	desc  bool
	date  bool
}

var sortableDates = map[string]func(*contactRec) int64{
	"dateAdded":   func(r *contactRec) int64 { return r.added },
	"dateUpdated": func(r *contactRec) int64 { return r.updated },
}

var sortableStrings = map[string]func(*Contact) string{
	"firstName":   func(c *Contact) string { return c.FirstName },
	"lastName":    func(c *Contact) string { return c.LastName },
	"email":       func(c *Contact) string { return c.Email },
	"companyName": func(c *Contact) string { return c.CompanyName },
}

// compileSort checks the sort criteria; the default is dateAdded, newest first.
func compileSort(in []searchSort, ck *checks) []sortSpec {
	if len(in) == 0 {
		return []sortSpec{{field: "dateAdded", desc: true, date: true}}
	}
	if len(in) > 3 {
		ck.addf("sort must contain no more than 3 elements")
	}
	var out []sortSpec
	for i, s := range in {
		_, isDate := sortableDates[s.Field]
		_, isString := sortableStrings[s.Field]
		if !isDate && !isString {
			ck.addf("sort.%d.field must be one of the following values: dateAdded, dateUpdated, firstName, lastName, email, companyName", i)
			continue
		}
		var desc bool
		switch strings.ToLower(s.Direction) {
		case sortAsc:
		case sortDesc:
			desc = true
		default:
			ck.addf("sort.%d.direction must be one of the following values: asc, desc", i)
		}
		out = append(out, sortSpec{field: s.Field, desc: desc, date: isDate})
	}
	return out
}

// sortKey returns rec's sort values, its ID last.
func sortKey(rec *contactRec, sorts []sortSpec) []sortVal {
	key := make([]sortVal, 0, len(sorts)+1)
	for _, s := range sorts {
		if s.date {
			key = append(key, sortVal{num: sortableDates[s.field](rec)})
		} else {
			key = append(key, sortVal{str: strings.ToLower(sortableStrings[s.field](&rec.c))})
		}
	}
	return append(key, sortVal{str: rec.c.ID})
}

// compareKeys orders two keys by the criteria, then by ID.
func compareKeys(a, b []sortVal, sorts []sortSpec) int {
	for i, s := range sorts {
		var c int
		if s.date {
			c = cmpInt(a[i].num, b[i].num)
		} else {
			switch {
			case a[i].str == b[i].str:
			case a[i].str == "":
				c = 1 // missing values last, whatever the direction
			case b[i].str == "":
				c = -1
			default:
				c = strings.Compare(a[i].str, b[i].str)
			}
			if c != 0 && (a[i].str == "" || b[i].str == "") {
				return c
			}
		}
		if s.desc {
			c = -c
		}
		if c != 0 {
			return c
		}
	}
	n := len(sorts)
	return strings.Compare(a[n].str, b[n].str)
}

func cmpInt(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// encodeKey renders a key as the searchAfter the answer carries: epoch
// milliseconds for dates, strings otherwise, the ID last.
func encodeKey(key []sortVal, sorts []sortSpec) []json.RawMessage {
	out := make([]json.RawMessage, 0, len(key))
	for i, s := range sorts {
		if s.date {
			out = append(out, json.RawMessage(strconv.FormatInt(key[i].num, 10)))
		} else {
			out = append(out, encodeJSON(key[i].str))
		}
	}
	return append(out, encodeJSON(key[len(sorts)].str))
}

// parseCursor reads the searchAfter of a request: the sort values and ID of
// the last contact of the previous page.
func parseCursor(raw []json.RawMessage, sorts []sortSpec, ck *checks) ([]sortVal, bool) {
	if len(raw) == 0 {
		return nil, false
	}
	if len(raw) != len(sorts)+1 {
		ck.addf("searchAfter must hold %d values: the sort values and the id of the last contact of the previous page", len(sorts)+1)
		return nil, false
	}
	key := make([]sortVal, len(raw))
	for i, r := range raw {
		var v any
		if err := json.Unmarshal(r, &v); err != nil {
			ck.addf("searchAfter.%d is not a JSON value", i)
			return nil, false
		}
		switch {
		case i == len(sorts):
			id, isString := v.(string)
			if !isString {
				ck.addf("searchAfter.%d must be a string (the contact id)", i)
				return nil, false
			}
			key[i] = sortVal{str: id}
		case sorts[i].date:
			ms, good := parseInstant(v)
			if !good {
				ck.addf("searchAfter.%d must be epoch milliseconds", i)
				return nil, false
			}
			key[i] = sortVal{num: ms}
		default:
			s, isString := v.(string)
			if !isString && v != nil {
				ck.addf("searchAfter.%d must be a string", i)
				return nil, false
			}
			key[i] = sortVal{str: strings.ToLower(s)}
		}
	}
	return key, true
}

// parseInstant reads a time given as epoch milliseconds (number or numeric
// string), RFC 3339, or a date.
func parseInstant(v any) (int64, bool) {
	switch x := v.(type) {
	case float64:
		return int64(x), true
	case json.Number:
		n, err := x.Int64()
		return n, err == nil
	case string:
		x = strings.TrimSpace(x)
		if n, err := strconv.ParseInt(x, 10, 64); err == nil {
			return n, true
		}
		if t, good := parseRFC3339(x); good {
			return t.UnixMilli(), true
		}
		if t, err := time.Parse(time.DateOnly, x); err == nil {
			return t.UnixMilli(), true
		}
	}
	return 0, false
}
