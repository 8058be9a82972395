// End-to-end tests of contacts from searches and listings, against a
// sandbox whose listing answers carry only the spec's list item
// (ContactsSearchSchema): the gateway reads a contact whole when a query
// selects a field the listing lacked, and only then.

package server_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/ghl-graphql/gateway/server"
	"github.com/ghl-graphql/gateway/upstream"
	"github.com/ghl-graphql/gateway/upstream/sandbox"
)

// specListItemKeys are the properties of the spec's ContactsSearchSchema,
// plus searchAfter, which HighLevel's search items carry for paging.
var specListItemKeys = map[string]bool{
	"id": true, "locationId": true, "email": true, "timezone": true, "country": true, "source": true,
	"dateAdded": true, "customFields": true, "tags": true, "businessId": true, "attributions": true,
	"followers": true, "searchAfter": true,
}

// duplicateKeys are what the stripped duplicate look-up answers with: the
// spec gives that answer no schema.
var duplicateKeys = map[string]bool{"id": true, "locationId": true, "email": true}

// createdKeys are the properties of the spec's CreateContactSchema, the
// contact of a create's answer.
var createdKeys = func() map[string]bool {
	m := map[string]bool{}
	for _, k := range strings.Fields(`id dateAdded dateUpdated deleted tags type customFields locationId firstName
		firstNameLowerCase fullNameLowerCase lastName lastNameLowerCase email emailLowerCase bounceEmail
		unsubscribeEmail dnd dndSettings phone address1 city state country postalCode website source companyName
		dateOfBirth birthMonth birthDay lastSessionActivityAt offers products businessId assignedTo`) {
		m[k] = true
	}
	return m
}()

// specListings wraps the sandbox so that the contacts of its search, legacy
// and business listing answers carry only specListItemKeys, the duplicate
// look-up's only duplicateKeys and a create's only createdKeys. Everything
// else passes as is.
func specListings(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := r.URL.Path
		var keys map[string]bool
		envelope := "contacts"
		switch {
		case r.Method == http.MethodPost && p == "/contacts/search",
			r.Method == http.MethodGet && (p == "/contacts/" || strings.HasPrefix(p, "/contacts/business/")):
			keys = specListItemKeys
		case r.Method == http.MethodGet && p == "/contacts/search/duplicate":
			keys, envelope = duplicateKeys, "contact"
		case r.Method == http.MethodPost && p == "/contacts/":
			keys, envelope = createdKeys, "contact"
		default:
			next.ServeHTTP(w, r)
			return
		}
		rec := httptest.NewRecorder()
		next.ServeHTTP(rec, r)
		body := rec.Body.Bytes()
		if rec.Code/100 == 2 {
			body = stripContacts(body, envelope, keys)
		}
		for k, v := range rec.Header() {
			if k != "Content-Length" {
				w.Header()[k] = v
			}
		}
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		w.WriteHeader(rec.Code)
		_, _ = w.Write(body)
	})
}

// stripContacts keeps only keys in each contact under envelope (a list or
// one object); a body it cannot read is returned unchanged.
func stripContacts(body []byte, envelope string, keys map[string]bool) []byte {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var env map[string]any
	if dec.Decode(&env) != nil {
		return body
	}
	strip := func(v any) {
		if c, ok := v.(map[string]any); ok {
			for k := range c {
				if !keys[k] {
					delete(c, k)
				}
			}
		}
	}
	switch v := env[envelope].(type) {
	case []any:
		for _, c := range v {
			strip(c)
		}
	default:
		strip(v)
	}
	out, err := json.Marshal(env)
	if err != nil {
		return body
	}
	return out
}

// isContactPath reports whether p is /contacts/{id}.
func isContactPath(p string) bool {
	rest, ok := strings.CutPrefix(p, "/contacts/")
	return ok && rest != "" && !strings.Contains(rest, "/") && rest != "search"
}

// failContacts answers 404 to GET /contacts/{id} for the contact in victim,
// or for every contact when it holds "*".
func failContacts(victim *atomic.Value) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			id, _ := victim.Load().(string)
			if id != "" && r.Method == http.MethodGet && (r.URL.Path == "/contacts/"+id || id == "*" && isContactPath(r.URL.Path)) {
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(http.StatusNotFound)
				_, _ = w.Write([]byte(`{"statusCode":404,"message":"Contact not found"}`))
				return
			}
			next.ServeHTTP(w, r)
		})
	}
}

// noCache makes a request that reads nothing from the gateway's caches, so
// that its upstream calls can be counted exactly.
func (e *e2e) noCache(query string, vars map[string]any) response {
	e.t.Helper()
	return e.send(request{token: e.token, query: query, vars: vars, header: http.Header{"Cache-Control": {"no-cache"}}})
}

// wantContactFields fails unless each node (a contact in GraphQL) has the
// sandbox's values of the fields compared.
func (e *e2e) wantContactFields(t *testing.T, nodes []any) {
	t.Helper()
	if len(nodes) == 0 {
		t.Fatal("no contacts to compare")
	}
	for _, n := range nodes {
		id := str(dig(n, "id"))
		c := e.contact(t, id)
		want := map[string]string{"firstName": c.FirstName, "lastName": c.LastName, "name": c.Name, "phone": c.Phone,
			"email": c.Email, "companyName": c.CompanyName}
		for k, w := range want {
			v, selected := n.(map[string]any)[k]
			if !selected {
				continue
			}
			if got := str(v); got != w {
				t.Errorf("contact %s: %s = %q, want %q", id, k, got, w)
			}
		}
		if v, selected := n.(map[string]any)["dnd"]; selected && v != c.DND {
			t.Errorf("contact %s: dnd = %v, want %v", id, v, c.DND)
		}
	}
}

func TestE2EListingsCarryOnlyTheSpecFields(t *testing.T) {
	t.Parallel()
	e := newE2E(t, withUpstreamMiddleware(specListings))
	ctx := e.ctx(e.token)
	// The stripping works, or the rest would prove nothing.
	res, _, err := e.client.Contacts.Search(ctx, &upstream.SearchContactsRequest{LocationID: e.locA, PageLimit: 5})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range res.Contacts {
		if c.FirstName != "" || c.Phone != "" || c.Email == "" || !c.Partial() {
			t.Fatalf("the sandbox's search answer was not stripped to the spec's fields: %+v", c)
		}
	}

	var endCursor string
	var page1 []string
	t.Run("names and phones are right after a search, at 20 coalesced reads", func(t *testing.T) {
		before := e.counters()
		r := e.gql(e.token, `{ contacts(first: 20) { pageInfo { endCursor } nodes { id name firstName lastName phone dnd email } } }`, nil).ok(t)
		e.wantExactly(t, before, map[string]int64{"search-contacts-advanced": 1, "get-contact": 20})
		nodes := list(r.get("contacts.nodes"))
		e.wantContactFields(t, nodes)
		page1 = field(nodes, "id")
		endCursor = str(r.get("contacts.pageInfo.endCursor"))
	})

	t.Run("a following contact(id) is right, from the cache", func(t *testing.T) {
		before := e.counters()
		r := e.gql(e.token, `query($id: ID!) { contact(id: $id) { id firstName phone companyName } }`,
			map[string]any{"id": page1[3]}).ok(t)
		e.wantNoCalls(t, before)
		e.wantContactFields(t, []any{r.get("contact")})
	})

	var page2 []string
	t.Run("a selection of carried fields makes no read", func(t *testing.T) {
		before := e.counters()
		r := e.gql(e.token, `query($after: String) { contacts(first: 20, after: $after) { nodes {
			id locationId email tags timezone country source dateAdded businessId followers
			customFields { fieldId value } attributions { url } business { id } tasks { id } } } }`,
			map[string]any{"after": endCursor}).ok(t)
		nodes := list(r.get("contacts.nodes"))
		e.wantExactly(t, before, map[string]int64{"search-contacts-advanced": 1, "get-all-tasks": int64(len(nodes))})
		e.wantContactFields(t, nodes)
		for _, n := range nodes {
			c := e.contact(t, str(dig(n, "id")))
			if got := strs(dig(n, "tags")); strings.Join(got, ",") != strings.Join(c.Tags, ",") {
				t.Errorf("contact %s: tags %v, want %v", c.ID, got, c.Tags)
			}
		}
		page2 = field(nodes, "id")
	})

	t.Run("contact(id) answers from the listing's copy when it carries the selection", func(t *testing.T) {
		before := e.counters()
		r := e.gql(e.token, `query($id: ID!) { contact(id: $id) { id email tags } }`, map[string]any{"id": page2[0]}).ok(t)
		e.wantNoCalls(t, before)
		e.wantContactFields(t, []any{r.get("contact")})
		r = e.gql(e.token, `query($id: ID!) { contact(id: $id) { id firstName phone } }`, map[string]any{"id": page2[0]}).ok(t)
		e.wantExactly(t, before, map[string]int64{"get-contact": 1})
		e.wantContactFields(t, []any{r.get("contact")})
	})

	t.Run("children load alongside the reads", func(t *testing.T) {
		before := e.counters()
		r := e.noCache(`{ contacts(first: 5, sort: [{field: "lastName"}]) { nodes { id firstName tasks { id } notes { id } } } }`, nil).ok(t)
		e.wantExactly(t, before, map[string]int64{"search-contacts-advanced": 1, "get-contact": 5, "get-all-tasks": 5, "get-all-notes": 5})
		e.wantContactFields(t, list(r.get("contacts.nodes")))
	})

	t.Run("the legacy listing", func(t *testing.T) {
		before := e.counters()
		r := e.noCache(`{ contactsLegacyList(first: 5) { nodes { id firstName phone } } }`, nil).ok(t)
		e.wantExactly(t, before, map[string]int64{"get-contacts": 1, "get-contact": 5})
		e.wantContactFields(t, list(r.get("contactsLegacyList.nodes")))
	})

	t.Run("the business listing", func(t *testing.T) {
		var business string
		members := 0
		for _, c := range e.contactsOf(t, e.locA) {
			if c.BusinessID != "" && (business == "" || c.BusinessID == business) {
				business = c.BusinessID
				members++
			}
		}
		if business == "" {
			t.Fatal("no contact of the seed has a business")
		}
		before := e.counters()
		r := e.noCache(`query($b: ID!) { contactsByBusiness(businessId: $b) { nodes { id name companyName } } }`, map[string]any{"b": business}).ok(t)
		nodes := list(r.get("contactsByBusiness.nodes"))
		if len(nodes) != members {
			t.Fatalf("%d contacts of business %s, want %d", len(nodes), business, members)
		}
		e.wantExactly(t, before, map[string]int64{"get-contacts-by-businessId": 1, "get-contact": int64(members)})
		e.wantContactFields(t, nodes)
	})

	t.Run("the duplicate look-up", func(t *testing.T) {
		c := e.contact(t, page2[5])
		before := e.counters()
		r := e.noCache(`query($e: String) { duplicateContact(email: $e) { id email } }`, map[string]any{"e": c.Email}).ok(t)
		e.wantExactly(t, before, map[string]int64{"get-duplicate-contact": 1})
		e.wantContactFields(t, []any{r.get("duplicateContact")})
		before = e.counters()
		r = e.noCache(`query($e: String) { duplicateContact(email: $e) { id firstName phone tasks { id } } }`, map[string]any{"e": c.Email}).ok(t)
		e.wantExactly(t, before, map[string]int64{"get-duplicate-contact": 1, "get-contact": 1, "get-all-tasks": 1})
		e.wantContactFields(t, []any{r.get("duplicateContact")})
	})
}

// TestE2EFailedCompletionKeepsThePage: when reading one contact whole
// fails, the page still arrives, and an error names that contact.
func TestE2EFailedCompletionKeepsThePage(t *testing.T) {
	t.Parallel()
	var victim atomic.Value
	e := newE2E(t, withUpstreamMiddleware(func(h http.Handler) http.Handler { return specListings(failContacts(&victim)(h)) }))
	ids := e.sb.ContactIDs(e.locA)
	r := e.noCache(`{ contacts(first: 3, sort: [{field: "dateAdded", direction: ASC}]) { nodes { id } } }`, nil).ok(t)
	first := field(list(r.get("contacts.nodes")), "id")
	if len(first) != 3 || len(ids) < 3 {
		t.Fatalf("page %v", first)
	}
	victim.Store(first[1])
	r = e.noCache(`{ contacts(first: 3, sort: [{field: "dateAdded", direction: ASC}]) { nodes { id firstName } } }`, nil)
	if r.code(t) != "NOT_FOUND" || r.Errors[0].Extensions["contactId"] != first[1] {
		t.Errorf("error %+v, want NOT_FOUND with contactId %s", r.Errors, first[1])
	}
	if got := normalizePath(r.Errors[0].Path); strings.Join(got, ".") != "contacts.nodes.1" {
		t.Errorf("error path %v, want the contact's", got)
	}
	nodes := list(r.get("contacts.nodes"))
	if len(nodes) != 3 {
		t.Fatalf("the page lost contacts: %v", r.Body)
	}
	e.wantContactFields(t, []any{nodes[0], nodes[2]})

	r = e.noCache(`{ contacts(first: 3, sort: [{field: "dateAdded", direction: ASC}]) { edges { node { id phone } } } }`, nil)
	if got := normalizePath(r.Errors[0].Path); r.code(t) != "NOT_FOUND" || strings.Join(got, ".") != "contacts.edges.1.node" {
		t.Errorf("through edges: error path %v, want the edge's node", got)
	}
}

// TestE2EContactFieldsOfTheAPI: fields the schema gained for issue 11, read
// through the sandbox (the fields it does not fill are covered by
// resolvers' TestContactFromAPIFields).
func TestE2EContactFieldsOfTheAPI(t *testing.T) {
	t.Parallel()
	e := newE2E(t)
	var withAttribution sandbox.Contact
	for _, c := range e.contactsOf(t, e.locA) {
		if c.AttributionSource != nil {
			withAttribution = c
			break
		}
	}
	if withAttribution.ID == "" {
		t.Fatal("no contact of the seed has an attribution")
	}
	r := e.gql(e.token, `query($id: ID!) { contact(id: $id) {
		firstNameLowerCase lastNameLowerCase fullNameLowerCase emailLowerCase
		bounceEmail unsubscribeEmail deleted offers products birthMonth birthDay ssn attachments visitorId lastSessionActivityAt
		attributionSource { url medium } attributions { url medium } } }`, map[string]any{"id": withAttribution.ID}).ok(t)
	c := withAttribution
	for k, want := range map[string]any{
		"firstNameLowerCase": c.FirstNameLowerCase, "lastNameLowerCase": c.LastNameLowerCase,
		"fullNameLowerCase": c.FullNameLowerCase, "emailLowerCase": c.EmailLowerCase,
		"bounceEmail": false, "unsubscribeEmail": false, "deleted": false, "birthMonth": nil, "visitorId": nil,
		"attributionSource.url": c.AttributionSource.URL, "attributions.0.url": c.AttributionSource.URL,
	} {
		if got := r.get("contact." + k); got != want {
			t.Errorf("%s = %v, want %v", k, got, want)
		}
	}
	if n := len(list(r.get("contact.attributions"))); n != 1 {
		t.Errorf("%d attributions, want the one the sandbox holds", n)
	}
	if offers, products := list(r.get("contact.offers")), list(r.get("contact.products")); offers == nil || products == nil {
		t.Errorf("offers %v, products %v: want empty lists", r.get("contact.offers"), r.get("contact.products"))
	}

	up := e.gql(e.token, `mutation($email: String) { upsertContact(input: {email: $email, firstName: "Trace"}) { created traceId contact { id } } }`,
		map[string]any{"email": "trace.id@example.com"}).ok(t)
	if up.get("upsertContact.created") != true || str(up.get("upsertContact.traceId")) == "" {
		t.Errorf("upsert: created %v, traceId %q; want a trace ID", up.get("upsertContact.created"), up.get("upsertContact.traceId"))
	}
}

// TestE2EListingsCompletedWithoutCaches: the completion does not depend on
// the shared cache. (The naive baseline that ran without loaders lives in
// cmd/bench now: the gateway always has them.)
func TestE2EListingsCompletedWithoutCaches(t *testing.T) {
	t.Parallel()
	for name, mut := range map[string]func(*server.Config){
		"no shared cache": func(c *server.Config) { c.CacheMaxBytes = -1 },
	} {
		t.Run(name, func(t *testing.T) {
			e := newE2E(t, withUpstreamMiddleware(specListings), withServer(mut))
			before := e.counters()
			r := e.gql(e.token, `{ contacts(first: 10) { nodes { id firstName phone email } } }`, nil).ok(t)
			e.wantExactly(t, before, map[string]int64{"search-contacts-advanced": 1, "get-contact": 10})
			nodes := list(r.get("contacts.nodes"))
			e.wantContactFields(t, nodes)
			before = e.counters()
			r = e.gql(e.token, `query($id: ID!) { contact(id: $id) { id firstName phone } }`, map[string]any{"id": dig(nodes[2], "id")}).ok(t)
			e.wantExactly(t, before, map[string]int64{"get-contact": 1})
			e.wantContactFields(t, []any{r.get("contact")})
		})
	}
}

// TestE2ECreateAnswerCompleted: a create's answer lacks fields of a read
// (timezone, name, ...); selecting one reads the contact, and a failed read
// leaves the create reported done.
func TestE2ECreateAnswerCompleted(t *testing.T) {
	t.Parallel()
	var victim atomic.Value
	e := newE2E(t, withUpstreamMiddleware(func(h http.Handler) http.Handler { return specListings(failContacts(&victim)(h)) }))
	const q = `mutation($in: CreateContactInput!) { createContact(input: $in) { contact { %s } } }`
	in := func(email string) map[string]any {
		return map[string]any{"in": map[string]any{"firstName": "Ada", "lastName": "Byron", "email": email, "timezone": "Europe/London"}}
	}

	before := e.counters()
	r := e.gql(e.token, fmt.Sprintf(q, "id firstName email"), in("ada.1@example.com")).ok(t)
	e.wantExactly(t, before, map[string]int64{"create-contact": 1})

	before = e.counters()
	r = e.gql(e.token, fmt.Sprintf(q, "id name timezone"), in("ada.2@example.com")).ok(t)
	e.wantExactly(t, before, map[string]int64{"create-contact": 1, "get-contact": 1})
	if got := r.get("createContact.contact.timezone"); got != "Europe/London" {
		t.Errorf("timezone %v, want the one created", got)
	}
	e.wantContactFields(t, []any{r.get("createContact.contact")})

	victim.Store("*") // no contact can be read back
	r = e.gql(e.token, fmt.Sprintf(q, "id timezone"), in("ada.3@example.com"))
	id := str(r.get("createContact.contact.id"))
	if id == "" {
		t.Fatalf("a failed read after the create lost the payload: %s", r.Body)
	}
	if _, ok := e.sb.Contact(id); !ok {
		t.Errorf("the payload names %s, which the sandbox does not have", id)
	}
	e1 := r.wantError(t, http.StatusOK, "NOT_FOUND", "createContact", "contact")
	if e1.Extensions["contactId"] != id || e1.Extensions["writeOutcome"] != nil {
		t.Errorf("error %+v: want the contact's ID and no write outcome (the create is done)", e1)
	}
}
