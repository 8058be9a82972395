// This file holds the tests of strict list mode: search and listing items
// carry only the spec's ContactsSearchSchema fields.

package sandbox_test

import (
	"encoding/json"
	"net/http"
	"slices"
	"testing"

	"github.com/ghl-graphql/gateway/upstream"
	"github.com/ghl-graphql/gateway/upstream/sandbox"
)

// contactsSearchSchema are the properties of the spec's ContactsSearchSchema.
var contactsSearchSchema = []string{"id", "locationId", "email", "timezone", "country", "source", "dateAdded",
	"customFields", "tags", "businessId", "attributions", "followers"}

// itemKeys returns the keys of every item of the answer's "contacts".
func itemKeys(t *testing.T, body string) [][]string {
	t.Helper()
	var ans struct {
		Contacts []map[string]json.RawMessage `json:"contacts"`
	}
	if err := json.Unmarshal([]byte(body), &ans); err != nil {
		t.Fatalf("answer %s: %v", body, err)
	}
	if len(ans.Contacts) == 0 {
		t.Fatalf("no items in %s", body)
	}
	var out [][]string
	for _, c := range ans.Contacts {
		var keys []string
		for k := range c {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		out = append(out, keys)
	}
	return out
}

func TestStrictListItems(t *testing.T) {
	e := newEnv(t, sandbox.Config{StrictListItems: true, ContactsPerLocation: 60})
	var biz string
	for _, id := range e.s.ContactIDs(e.loc) {
		if c, _ := e.s.Contact(id); c.BusinessID != "" {
			biz = c.BusinessID
		}
	}
	if biz == "" {
		t.Fatal("no seeded contact has a business")
	}
	for _, tc := range []struct {
		name, method, path, body string
		extra                    []string // allowed beyond the schema
	}{
		{"search", http.MethodPost, "/contacts/search", `{"locationId":"` + e.loc + `","pageLimit":50}`, []string{"searchAfter"}},
		{"business listing", http.MethodGet, "/contacts/business/" + biz + "?locationId=" + e.loc, "", nil},
		{"deprecated listing", http.MethodGet, "/contacts/?limit=50&locationId=" + e.loc, "", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, text := e.raw(t, tc.method, tc.path, nil, tc.body)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status %d: %s", resp.StatusCode, text)
			}
			allowed := append(slices.Clone(contactsSearchSchema), tc.extra...)
			seen := map[string]bool{}
			for _, keys := range itemKeys(t, text) {
				for _, k := range keys {
					seen[k] = true
					if !slices.Contains(allowed, k) {
						t.Fatalf("item carries %q, which ContactsSearchSchema lacks: %v", k, keys)
					}
				}
			}
			// The mode drops fields; it must not drop the ones it keeps.
			for _, k := range []string{"id", "locationId", "email", "dateAdded", "tags"} {
				if !seen[k] {
					t.Errorf("no item carries %q", k)
				}
			}
		})
	}

	// Through the client: a hit has no name or phone, the contact has.
	res := must[*upstream.SearchResult](t)(e.c.Contacts.Search(bg, &upstream.SearchContactsRequest{LocationID: e.loc, PageLimit: 5}))
	hit := res.Contacts[0]
	full := must[*upstream.Contact](t)(e.c.Contacts.Get(bg, hit.ID))
	if hit.FirstName != "" || hit.Phone != "" || full.FirstName == "" || full.Phone == "" || hit.Email != full.Email {
		t.Fatalf("strict hit %+v, full contact %+v", hit, full)
	}
	// Paging by the hit's searchAfter still works.
	next := must[*upstream.SearchResult](t)(e.c.Contacts.Search(bg, &upstream.SearchContactsRequest{LocationID: e.loc, PageLimit: 5,
		SearchAfter: res.Contacts[4].SearchAfter}))
	if len(next.Contacts) != 5 || next.Contacts[0].ID == res.Contacts[4].ID {
		t.Fatalf("second page %+v", next.Contacts)
	}

	// The knob switches the mode off again.
	e.s.SetStrictListItems(false)
	res = must[*upstream.SearchResult](t)(e.c.Contacts.Search(bg, &upstream.SearchContactsRequest{LocationID: e.loc, PageLimit: 5}))
	if res.Contacts[0].FirstName == "" {
		t.Fatal("full mode: a hit has no first name")
	}
}

func TestListItemsFullByDefault(t *testing.T) {
	e := newEnv(t, sandbox.Config{ContactsPerLocation: 20})
	resp, text := e.raw(t, http.MethodPost, "/contacts/search", nil, `{"locationId":"`+e.loc+`","pageLimit":20}`)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d: %s", resp.StatusCode, text)
	}
	for _, keys := range itemKeys(t, text) {
		if !slices.Contains(keys, "firstName") || !slices.Contains(keys, "phone") {
			t.Fatalf("default mode item lacks name or phone: %v", keys)
		}
	}
}
