// This file holds contactsChangedSince (issue 12): a change feed for
// consumers without webhooks, built on the search endpoint's range filter
// on dateUpdated, its sort on dateUpdated (ascending; the API breaks ties
// by ID) and searchAfter. The cursor is the searchAfter of the last contact
// of a page, so a page resumes exactly after it whatever the ties.

package resolvers

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"time"

	"github.com/ghl-graphql/gateway/graph/model"
	"github.com/ghl-graphql/gateway/upstream"
)

// Limits of the feed.
const (
	// maxFeedPage bounds a page: 100 full contacts is already a large
	// answer, and a poller pages on.
	maxFeedPage = 100
	// defaultFeedPage is the page size when first is not given.
	defaultFeedPage = 20
	// maxFeedCursorBytes bounds a cursor before it is decoded: a
	// searchAfter of a date and a 20-character ID, with since and an
	// offset, is about 100 bytes encoded.
	maxFeedCursorBytes = 512
	// maxFeedSearchAfter is how many values a cursor's searchAfter may hold
	// (the sort value and the ID).
	maxFeedSearchAfter = 2
)

// feedCursor is where a page of the feed ended: the feed's since (a
// cursor resumes only its own feed), how many contacts came before, and
// the last contact's searchAfter.
type feedCursor struct {
	Since  int64             `json:"s"`
	Offset int               `json:"n"`
	After  []json.RawMessage `json:"a"`
}

func (c feedCursor) encode() string {
	b, _ := json.Marshal(c)
	return base64.RawURLEncoding.EncodeToString(b)
}

// parseFeedCursor decodes a cursor of the feed of since.
func parseFeedCursor(s string, since int64) (feedCursor, error) {
	bad := badInput("after: not a cursor of this feed (cursors resume the contactsChangedSince of the same since)")
	if len(s) > maxFeedCursorBytes {
		return feedCursor{}, bad
	}
	raw, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return feedCursor{}, bad
	}
	var c feedCursor
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if dec.Decode(&c) != nil || c.Since != since || c.Offset < 1 || len(c.After) == 0 || len(c.After) > maxFeedSearchAfter {
		return feedCursor{}, bad
	}
	// Only strings and numbers go back to the upstream.
	for _, v := range c.After {
		var x any
		if json.Unmarshal(v, &x) != nil {
			return feedCursor{}, bad
		}
		switch x.(type) {
		case string, float64:
		default:
			return feedCursor{}, bad
		}
	}
	return c, nil
}

// feedSince is since rounded up to the millisecond, HighLevel's precision:
// a contact of the millisecond before since is not "at or after" it.
func feedSince(since time.Time) time.Time {
	t := since.UTC().Truncate(time.Millisecond)
	if t.Before(since) {
		t = t.Add(time.Millisecond)
	}
	return t
}

func (r *Resolver) contactsChangedSince(ctx context.Context, since time.Time, first *int, after *string, locationID *string) (*model.ContactConnection, error) {
	n := defaultFeedPage
	if first != nil {
		n = *first
	}
	if n < 1 || n > maxFeedPage {
		return nil, badInput("first must be between 1 and %d, got %d", maxFeedPage, n)
	}
	from := feedSince(since)
	var cur feedCursor
	if after != nil && *after != "" {
		var err error
		if cur, err = parseFeedCursor(*after, from.UnixMilli()); err != nil {
			return nil, err
		}
	}
	ctx, cred, err := upstreamContext(ctx)
	if err != nil {
		return nil, err
	}
	loc, err := r.location(cred, locationID)
	if err != nil {
		return nil, err
	}
	req := &upstream.SearchContactsRequest{
		LocationID: loc,
		PageLimit:  n,
		Filters: []upstream.SearchFilter{{Field: "dateUpdated", Operator: upstream.FilterRange,
			Value: upstream.RangeValue{GTE: from.Format("2006-01-02T15:04:05.000Z")}}},
		Sort:        []upstream.SearchSort{{Field: "dateUpdated", Direction: upstream.SortAsc}},
		SearchAfter: cur.After,
	}
	if len(cur.After) == 0 {
		req.Page = 1
	}
	res, err := r.search(ctx, req)
	if err != nil {
		return nil, err
	}
	// Search items may lack fields a selection needs: completed as any
	// listing's. A completed contact is a full read, without the search's
	// searchAfter: the cursor takes it from the search's item.
	searchAfter := make(map[string][]json.RawMessage, len(res.Contacts))
	for i := range res.Contacts {
		searchAfter[res.Contacts[i].ID] = res.Contacts[i].SearchAfter
	}
	contacts, err := r.completePage(ctx, res.Contacts)
	if err != nil {
		return nil, err
	}
	conn := &model.ContactConnection{
		Edges:      make([]model.ContactEdge, 0, len(contacts)),
		Nodes:      make([]model.Contact, 0, len(contacts)),
		TotalCount: res.Total,
		PageInfo:   &model.PageInfo{HasPreviousPage: cur.Offset > 0},
	}
	for i := range contacts {
		c := &contacts[i]
		sa := searchAfter[c.ID]
		if len(sa) == 0 {
			// Without it no cursor could resume after this contact.
			return nil, &upstream.Error{Op: "search-contacts-advanced", Err: upstream.ErrMalformedResponse}
		}
		node := contactFromAPI(c)
		cursor := feedCursor{Since: from.UnixMilli(), Offset: cur.Offset + i + 1, After: sa}.encode()
		conn.Edges = append(conn.Edges, model.ContactEdge{Cursor: cursor, Node: node})
		conn.Nodes = append(conn.Nodes, *node)
	}
	if k := len(conn.Edges); k > 0 {
		conn.PageInfo.StartCursor = &conn.Edges[0].Cursor
		conn.PageInfo.EndCursor = &conn.Edges[k-1].Cursor
		// A full page may be followed by more; the total says whether.
		conn.PageInfo.HasNextPage = k == n && cur.Offset+k < res.Total
	}
	return conn, nil
}
