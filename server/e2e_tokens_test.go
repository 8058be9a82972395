// End-to-end tests of what the gateway learns about a pass-through Private
// Integration Token, which says nothing about itself: its location from the
// first answer that names one, that it may not write from the upstream's
// refusal, and that the upstream stopped accepting it.

package server_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/ghl-graphql/gateway/auth"
	"github.com/ghl-graphql/gateway/internal/fakeclock"
	"github.com/ghl-graphql/gateway/server"
	"github.com/ghl-graphql/gateway/upstream"
	"github.com/ghl-graphql/gateway/upstream/sandbox"
)

func TestE2EOpaqueTokenLearnsItsLocation(t *testing.T) {
	t.Parallel()
	budget := upstream.NewLocalBudget(upstream.BudgetConfig{Max: 1000, Interval: time.Minute})
	e := newE2E(t, withClientOptions(upstream.WithRateBudget(budget)))
	pit := e.sb.Token(e.locA, sandbox.ScopeContactsRead, sandbox.ScopeContactsWrite)
	unlearned := "credential:" + auth.TokenID(pit)
	idA := e.sb.ContactIDs(e.locA)[0]
	const search = `{ contacts(first: 500) { totalCount nodes { locationId } } }`

	// Before any answer the gateway cannot know the location.
	before := e.counters()
	e.gql(pit, search, nil).wantError(t, http.StatusOK, "BAD_USER_INPUT", "contacts")
	e.wantNoCalls(t, before)

	// The first answer names it...
	e.gql(pit, `query($id: ID!) { contact(id: $id) { id } }`, map[string]any{"id": idA}).ok(t)
	credLeft, locLeft := budget.Remaining(unlearned), budget.Remaining(e.locA)

	// ...and from then on the token is keyed by it: searches default to it,
	r := e.gql(pit, search, nil).ok(t)
	if num(r.get("contacts.totalCount")) != contactsPerLocation {
		t.Errorf("totalCount = %v", r.get("contacts.totalCount"))
	}
	for _, l := range field(r.get("contacts.nodes"), "locationId") {
		if l != e.locA {
			t.Errorf("search returned a contact of %s", l)
		}
	}
	// its calls count against the location's rate budget (the first one
	// too: the confirmation moved it there, and the credential's own key
	// now names the location's),
	if locLeft != 999 || credLeft != locLeft {
		t.Errorf("after the first answer: location %d left, credential %d; want 999 and the same", locLeft, credLeft)
	}
	if budget.Remaining(e.locA) >= locLeft || budget.Remaining(unlearned) != budget.Remaining(e.locA) {
		t.Errorf("budget left: location %d → %d, credential %d → %d; the learned token's calls must count against its location",
			locLeft, budget.Remaining(e.locA), credLeft, budget.Remaining(unlearned))
	}
	// and another location is refused before any call, by argument or header.
	before = e.counters()
	e.gql(pit, `query($l: ID) { contacts(locationId: $l) { totalCount } }`, map[string]any{"l": e.locB}).
		wantError(t, http.StatusOK, "FORBIDDEN", "contacts")
	e.gqlLoc(pit, e.locB, search, nil).wantError(t, http.StatusForbidden, "FORBIDDEN")
	e.wantNoCalls(t, before)
	// The token still writes: nothing refused it.
	e.gql(pit, `mutation($id: ID!) { addContactTags(contactId: $id, tags: ["learned"]) { tags } }`, map[string]any{"id": idA}).ok(t)
}

func TestE2ERejectedTokenGetsNothingFromCache(t *testing.T) {
	t.Parallel()
	clk := fakeclock.New(time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC))
	const backoff = 30 * time.Second
	e := newE2E(t, withServer(func(c *server.Config) { c.Now, c.RejectedTokenBackoff = clk.Now, backoff }))
	pit := e.sb.Token(e.locA, sandbox.ScopeContactsRead)
	ids := e.sb.ContactIDs(e.locA)
	snapshot := `query($id: ID!) { contact(id: $id) { id email tasks { id } notes { id } } }`
	vars := map[string]any{"id": ids[0]}

	// Warm: the second read is served from the caches.
	e.gqlLoc(pit, e.locA, snapshot, vars).ok(t)
	before := e.counters()
	e.gqlLoc(pit, e.locA, snapshot, vars).ok(t)
	e.wantNoCalls(t, before)

	// The integration is deleted at HighLevel. The gateway cannot know
	// until the upstream tells it, on the next call it makes.
	e.sb.RevokeToken(pit)
	before = e.counters()
	e.gqlLoc(pit, e.locA, `query($id: ID!) { contact(id: $id) { id } }`, map[string]any{"id": ids[1]}).
		wantError(t, http.StatusOK, "UNAUTHENTICATED", "contact")
	e.wantOnly(t, before, "get-contact")

	// From then on nothing cached is served to it: the snapshot it read a
	// moment ago is refused at once, without a call, for the backoff. A
	// variant of the query (another response-cache key, the same cached
	// answers) too.
	for _, q := range []string{snapshot, `query($id: ID!) { contact(id: $id) { email id } }`} {
		before = e.counters()
		r := e.gqlLoc(pit, e.locA, q, vars)
		if r.get("contact") != nil || len(r.Errors) == 0 || r.Errors[0].Extensions["code"] != "UNAUTHENTICATED" {
			t.Fatalf("a rejected token was answered: %s", r.Body)
		}
		e.wantNoCalls(t, before)
	}
	// Past the backoff, the upstream is asked again, and refuses again.
	clk.Advance(backoff)
	before = e.counters()
	e.gqlLoc(pit, e.locA, `query($id: ID!) { contact(id: $id) { email id } }`, vars).
		wantError(t, http.StatusOK, "UNAUTHENTICATED", "contact")
	if e.moved(before)["get-contact"] != 1 {
		t.Errorf("a rejected token's read past the backoff did not go upstream: %v", e.moved(before))
	}
	before = e.counters()
	e.gqlLoc(pit, e.locA, snapshot, vars).wantError(t, http.StatusOK, "UNAUTHENTICATED", "contact")
	e.wantNoCalls(t, before)
	clk.Advance(backoff)

	// Issued again, the token is accepted, and cached again.
	if e.sb.Token(e.locA, sandbox.ScopeContactsRead) != pit {
		t.Fatal("the sandbox issued another token")
	}
	e.gqlLoc(pit, e.locA, snapshot, vars).ok(t)
	e.gqlLoc(pit, e.locA, snapshot, vars).ok(t)
	before = e.counters()
	e.gqlLoc(pit, e.locA, snapshot, vars).ok(t)
	e.wantNoCalls(t, before)
}
