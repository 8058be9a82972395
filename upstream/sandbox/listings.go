// This file holds the other reads over many contacts: the duplicate look-up,
// the business listing and the deprecated GET /contacts/ listing.

package sandbox

import (
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
)

// handleDuplicate serves GET /contacts/search/duplicate: the contact of the
// location with this email, else with this phone number, else null.
func handleDuplicate(c *call) response {
	if bad := c.queryLocation(); bad != nil {
		return *bad
	}
	q := c.r.URL.Query()
	email, phone := strings.TrimSpace(q.Get("email")), strings.TrimSpace(q.Get("number"))
	var ck checks
	ck.email("email", email)
	if r := ck.result(); r != nil {
		return *r
	}
	st := c.s.store
	st.mu.RLock()
	defer st.mu.RUnlock()
	out := struct {
		Contact *Contact `json:"contact"`
	}{}
	if email != "" || phone != "" {
		if rec, _ := st.findDuplicate(c.loc, email, phone); rec != nil {
			ct := cloneContact(rec.c)
			out.Contact = &ct
		}
	}
	return ok(out)
}

// contactList is the answer of the business and deprecated listings.
type contactList struct {
	// Contacts is a []Contact, or a []searchItem in strict list mode.
	Contacts any       `json:"contacts"`
	Count    int       `json:"count"`
	Meta     *listMeta `json:"meta,omitempty"`
}

// listMeta is the paging of the deprecated listing; absent values are null.
type listMeta struct {
	Total        int     `json:"total"`
	NextPageURL  *string `json:"nextPageUrl"`
	StartAfterID *string `json:"startAfterId"`
	StartAfter   *int64  `json:"startAfter"`
	CurrentPage  int     `json:"currentPage"`
	NextPage     *int    `json:"nextPage"`
	PrevPage     *int    `json:"prevPage"`
}

// handleListByBusiness serves GET /contacts/business/{businessId}, oldest first.
func handleListByBusiness(c *call) response {
	if bad := c.queryLocation(); bad != nil {
		return *bad
	}
	var ck checks
	limit := c.queryInt(&ck, "limit", 25, 1, 0)
	skip := c.queryInt(&ck, "skip", 0, 0, 0)
	if r := ck.result(); r != nil {
		return *r
	}
	businessID := c.params[0]
	query := strings.ToLower(strings.TrimSpace(c.r.URL.Query().Get("query")))
	st := c.s.store
	st.mu.RLock()
	defer st.mu.RUnlock()
	var hits []*contactRec
	for _, rec := range st.sortedRecs(c.loc) {
		if rec.c.BusinessID == businessID && matchesQuery(&rec.c, query) {
			hits = append(hits, rec)
		}
	}
	page := []Contact{}
	for _, rec := range hits[min(skip, len(hits)):min(skip+limit, len(hits))] {
		page = append(page, cloneContact(rec.c))
	}
	return ok(contactList{Contacts: c.s.listItems(page), Count: len(hits)})
}

// Limits of the deprecated listing.
const (
	defaultListLimit = 20
	maxListLimit     = 100
)

// handleListDeprecated serves the deprecated GET /contacts/: oldest first
// (dateAdded, then ID), paged by startAfter (epoch ms) and startAfterId.
func handleListDeprecated(c *call) response {
	if bad := c.queryLocation(); bad != nil {
		return *bad
	}
	q := c.r.URL.Query()
	var ck checks
	limit := c.queryInt(&ck, "limit", defaultListLimit, 1, maxListLimit)
	var startAfter int64
	hasStartAfter := q.Get("startAfter") != ""
	if hasStartAfter {
		n, err := strconv.ParseInt(q.Get("startAfter"), 10, 64)
		if err != nil {
			ck.addf("startAfter must be a number conforming to the specified constraints")
		}
		startAfter = n
	}
	if r := ck.result(); r != nil {
		return *r
	}
	startAfterID := q.Get("startAfterId")
	query := strings.ToLower(strings.TrimSpace(q.Get("query")))

	st := c.s.store
	st.mu.RLock()
	defer st.mu.RUnlock()
	var hits []*contactRec
	for _, rec := range st.sortedRecs(c.loc) {
		if matchesQuery(&rec.c, query) {
			hits = append(hits, rec)
		}
	}
	if startAfterID != "" && !hasStartAfter {
		// An ID alone positions after that contact, wherever it sorts.
		if rec := st.visible(c.loc, startAfterID); rec != nil {
			startAfter, hasStartAfter = rec.added, true
		}
	}
	start := 0
	if hasStartAfter {
		start, _ = slices.BinarySearchFunc(hits, startAfter, func(r *contactRec, after int64) int {
			if r.added < after || (r.added == after && (startAfterID == "" || r.c.ID <= startAfterID)) {
				return -1
			}
			return 1
		})
	}
	end := min(start+limit, len(hits))
	page := []Contact{}
	for _, rec := range hits[start:end] {
		page = append(page, cloneContact(rec.c))
	}
	out := contactList{Contacts: c.s.listItems(page), Count: len(hits)}
	meta := &listMeta{Total: len(hits), CurrentPage: start/limit + 1}
	if meta.CurrentPage > 1 {
		prev := meta.CurrentPage - 1
		meta.PrevPage = &prev
	}
	if end > start {
		last := hits[end-1]
		id, ms := last.c.ID, last.added
		meta.StartAfterID, meta.StartAfter = &id, &ms
		if end < len(hits) {
			next := meta.CurrentPage + 1
			meta.NextPage = &next
			u := nextPageURL(c.r, c.loc, limit, q.Get("query"), ms, id)
			meta.NextPageURL = &u
		}
	}
	out.Meta = meta
	return ok(out)
}

// nextPageURL is the absolute URL of the next page of the deprecated listing.
func nextPageURL(r *http.Request, loc string, limit int, query string, startAfter int64, startAfterID string) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	v := url.Values{"locationId": {loc}, "startAfter": {strconv.FormatInt(startAfter, 10)}, "startAfterId": {startAfterID}}
	if limit != defaultListLimit {
		v.Set("limit", strconv.Itoa(limit))
	}
	if query != "" {
		v.Set("query", query)
	}
	return scheme + "://" + r.Host + "/contacts/?" + v.Encode()
}
