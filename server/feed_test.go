package server_test

// contactsChangedSince (issue 12): the change feed pages by dateUpdated
// with no contact skipped or repeated, ties included.

import (
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	"github.com/ghl-graphql/gateway/internal/fakeclock"
	"github.com/ghl-graphql/gateway/server"
	"github.com/ghl-graphql/gateway/upstream"
	"github.com/ghl-graphql/gateway/upstream/sandbox"
)

const feedQuery = `query($since: DateTime!, $first: Int, $after: String) {
  contactsChangedSince(since: $since, first: $first, after: $after) {
    edges { cursor node { id firstName dateUpdated } }
    pageInfo { hasNextPage endCursor }
    totalCount
  }
}`

func TestContactsChangedSincePagesThroughTies(t *testing.T) {
	start := sandbox.BaseDate().Add(1000 * time.Hour)
	clk := fakeclock.New(start)
	sb, err := sandbox.New(sandbox.Config{Seed: 3, ContactsPerLocation: 20, Now: clk.Now, StrictListItems: true})
	if err != nil {
		t.Fatal(err)
	}
	up := httptest.NewServer(sb)
	t.Cleanup(up.Close)
	client, err := upstream.NewClient(upstream.WithBaseURL(up.URL))
	if err != nil {
		t.Fatal(err)
	}
	h, err := server.New(server.Config{Client: client})
	if err != nil {
		t.Fatal(err)
	}
	gw := httptest.NewServer(h)
	t.Cleanup(gw.Close)
	e := &e2e{t: t, sb: sb, up: up, gw: gw, client: client, locA: sb.Locations()[0], locB: sb.Locations()[1], token: sb.DefaultToken()}
	ctx := e.ctx(e.token)

	// Seven contacts changed in the same millisecond, then three a
	// millisecond later: pages of three cut through both groups of ties.
	var want []string
	create := func() string {
		c, _, err := client.Contacts.Create(ctx, &upstream.CreateContactRequest{LocationID: e.locA, FirstName: "Feed"})
		if err != nil {
			t.Fatal(err)
		}
		return c.ID
	}
	var tied []string
	for i := 0; i < 7; i++ {
		tied = append(tied, create())
	}
	slices.Sort(tied) // ties are ordered by ID
	want = append(want, tied...)
	clk.Advance(time.Millisecond)
	var later []string
	for i := 0; i < 3; i++ {
		later = append(later, create())
	}
	slices.Sort(later)
	want = append(want, later...)

	page := func(since time.Time, after any) response {
		t.Helper()
		return e.gql(e.token, feedQuery, map[string]any{"since": since.Format(time.RFC3339Nano), "first": 3, "after": after}).ok(t)
	}
	walk := func(since time.Time, after any, total int) (ids []string, end string) {
		t.Helper()
		for {
			r := page(since, after)
			for _, edge := range list(r.get("contactsChangedSince.edges")) {
				ids = append(ids, str(dig(edge, "node.id")))
				// Search items lack names (strict listing): the feed's
				// contacts are completed like any listing's.
				if name := str(dig(edge, "node.firstName")); name != "Feed" && name != "Again" {
					t.Errorf("firstName %q", name)
				}
			}
			if n := num(r.get("contactsChangedSince.totalCount")); n != total {
				t.Errorf("totalCount %d, want %d", n, total)
			}
			end = str(r.get("contactsChangedSince.pageInfo.endCursor"))
			if r.get("contactsChangedSince.pageInfo.hasNextPage") != true {
				return ids, end
			}
			after = end
		}
	}
	got, end := walk(start, nil, len(want))
	if !slices.Equal(got, want) {
		t.Fatalf("feed:\n got %v\nwant %v", got, want)
	}

	// A contact of the first group changes again: resuming from the last
	// cursor yields it, and only it.
	clk.Advance(time.Millisecond)
	if _, _, err := client.Contacts.Update(ctx, tied[0], &upstream.UpdateContactRequest{FirstName: upstream.Set("Again")}); err != nil {
		t.Fatal(err)
	}
	r := page(start, end)
	edges := list(r.get("contactsChangedSince.edges"))
	if len(edges) != 1 || str(dig(edges[0], "node.id")) != tied[0] {
		t.Errorf("after resuming: %v, want only %s", edges, tied[0])
	}

	// since is inclusive, to the millisecond.
	got, _ = walk(start.Add(time.Millisecond), nil, len(later)+1)
	if want := append(append([]string(nil), later...), tied[0]); !slices.Equal(got, want) {
		t.Errorf("since the second millisecond: %v, want %v", got, want)
	}

	// A cursor resumes only the feed of its own since; garbage is refused.
	for _, bad := range []string{end + "x", "bm90IGEgY3Vyc29y", end} {
		since := start
		if bad == end {
			since = start.Add(time.Hour)
		}
		r := e.gql(e.token, feedQuery, map[string]any{"since": since.Format(time.RFC3339Nano), "after": bad})
		if r.code(t) != "BAD_USER_INPUT" {
			t.Errorf("after %q: %s", bad, r.Body)
		}
	}
	for _, first := range []int{0, 101} {
		r := e.gql(e.token, feedQuery, map[string]any{"since": start.Format(time.RFC3339Nano), "first": first})
		if r.code(t) != "BAD_USER_INPUT" {
			t.Errorf("first %d: %s", first, r.Body)
		}
	}
}
