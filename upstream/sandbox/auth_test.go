// This file tests what happens before a handler: routing and its 404s, path
// escaping, the Version header, tokens, scopes and locations, and the strict
// decoding of request bodies.

package sandbox_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/ghl-graphql/gateway/auth"
	"github.com/ghl-graphql/gateway/upstream"
	"github.com/ghl-graphql/gateway/upstream/sandbox"
)

func TestAuth(t *testing.T) {
	e := newEnv(t, sandboxConfig())
	mine := e.seeded(t, 0)
	foreign := e.s.ContactIDs(e.other)[0]
	readOnly := e.client(t, e.s.Token(e.loc, sandbox.ScopeContactsRead))

	t.Run("no token", func(t *testing.T) {
		resp, text := e.raw(t, http.MethodGet, "/contacts/"+mine.ID, map[string]string{"Version": upstream.APIVersion}, "")
		if resp.StatusCode != http.StatusUnauthorized ||
			text != `{"statusCode":401,"message":"Invalid token: access token is invalid","error":"Unauthorized"}` {
			t.Fatalf("%d %s", resp.StatusCode, text)
		}
	})
	t.Run("unknown token", func(t *testing.T) {
		_, _, err := e.client(t, "pit-not-a-token").Contacts.Get(bg, mine.ID)
		wantMessage(t, wantErr(t, err, upstream.ErrUnauthorized), "Invalid token")
	})
	t.Run("read-only token reads", func(t *testing.T) {
		must[*upstream.Contact](t)(readOnly.Contacts.Get(bg, mine.ID))
		must[*upstream.SearchResult](t)(readOnly.Contacts.Search(bg, &upstream.SearchContactsRequest{LocationID: e.loc}))
	})
	t.Run("read-only token cannot write", func(t *testing.T) {
		_, _, err := readOnly.Contacts.AddTags(bg, mine.ID, []string{"x"})
		ue := wantErr(t, err, upstream.ErrForbidden)
		if ue.StatusCode != http.StatusUnauthorized {
			t.Fatalf("status %d, want HighLevel's 401", ue.StatusCode)
		}
		wantMessage(t, ue, "The token is not authorized for this scope.")
		if got, _ := e.s.Contact(mine.ID); len(got.Tags) != len(mine.Tags) {
			t.Fatal("the refused write was applied")
		}
	})
	t.Run("token without scopes cannot read", func(t *testing.T) {
		_, _, err := e.client(t, e.s.Token(e.loc)).Contacts.Get(bg, mine.ID)
		wantErr(t, err, upstream.ErrForbidden)
	})
	t.Run("another location's contact is invisible", func(t *testing.T) {
		_, _, err := e.c.Contacts.Get(bg, foreign)
		wantMessage(t, wantErr(t, err, upstream.ErrNotFound), "Contact not found")
		_, _, err = e.c.Tasks.List(bg, foreign)
		wantErr(t, err, upstream.ErrNotFound)
	})
	t.Run("another location in the body", func(t *testing.T) {
		_, _, err := e.c.Contacts.Create(bg, &upstream.CreateContactRequest{LocationID: e.other, FirstName: "X"})
		ue := wantErr(t, err, upstream.ErrForbidden)
		if ue.StatusCode != http.StatusForbidden {
			t.Fatalf("status %d", ue.StatusCode)
		}
		wantMessage(t, ue, "The token does not have access to this location.")
		_, _, err = e.c.Contacts.Search(bg, &upstream.SearchContactsRequest{LocationID: e.other})
		wantErr(t, err, upstream.ErrForbidden)
	})
	t.Run("another location in the query", func(t *testing.T) {
		_, _, err := e.c.Contacts.List(bg, upstream.ListOptions{LocationID: e.other})
		wantErr(t, err, upstream.ErrForbidden)
		_, _, err = e.c.Contacts.FindDuplicate(bg, e.other, "a@b.co", "")
		wantErr(t, err, upstream.ErrForbidden)
	})
	t.Run("no Version header", func(t *testing.T) {
		resp, text := e.raw(t, http.MethodGet, "/contacts/"+mine.ID, map[string]string{"Authorization": "Bearer " + e.s.DefaultToken()}, "")
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(text, "version header was not found") {
			t.Fatalf("%d %s", resp.StatusCode, text)
		}
	})
	t.Run("wrong Version header", func(t *testing.T) {
		resp, text := e.raw(t, http.MethodGet, "/contacts/"+mine.ID,
			map[string]string{"Authorization": "Bearer " + e.s.DefaultToken(), "Version": "2021-04-15"}, "")
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(text, upstream.APIVersion) {
			t.Fatalf("%d %s", resp.StatusCode, text)
		}
	})
}

func TestTokens(t *testing.T) {
	s, err := sandbox.New(sandboxConfig())
	if err != nil {
		t.Fatal(err)
	}
	loc := s.Locations()[0]
	if s.Token(loc, sandbox.ScopeContactsRead, sandbox.ScopeContactsWrite) != s.Token(loc, sandbox.ScopeContactsWrite, sandbox.ScopeContactsRead) {
		t.Error("a token depends on the order of its scopes")
	}
	if s.Token(loc, sandbox.ScopeContactsRead) == s.DefaultToken() || s.Token(s.Locations()[1], sandbox.ScopeContactsRead) == s.Token(loc, sandbox.ScopeContactsRead) {
		t.Error("tokens of different scopes or locations collide")
	}
	if s.DefaultToken() != s.AccessToken(loc, sandbox.ScopeContactsRead, sandbox.ScopeContactsWrite) {
		t.Error("DefaultToken is not the read+write access token of the first location")
	}
	if s.Token("no-such-location", sandbox.ScopeContactsRead) != "" || s.AccessToken("no-such-location") != "" {
		t.Error("a token was issued for an unknown location")
	}
	// Access tokens name their location and scopes the way HighLevel's do,
	// so the gateway can read them.
	claims, ok := auth.ParseAccessToken(s.AccessToken(loc, sandbox.ScopeContactsRead))
	if !ok || claims.LocationID != loc || !slices.Equal(claims.Scopes, []string{sandbox.ScopeContactsRead}) {
		t.Errorf("access token claims = %+v, %v", claims, ok)
	}
	if _, ok := auth.ParseAccessToken(s.Token(loc, sandbox.ScopeContactsRead)); ok {
		t.Error("a Private Integration Token must not name its location")
	}
	// Both kinds authenticate.
	for _, tok := range []string{s.AccessToken(loc, sandbox.ScopeContactsRead), s.Token(loc, sandbox.ScopeContactsRead)} {
		r := httptest.NewRequest(http.MethodGet, "/contacts/"+s.ContactIDs(loc)[0], nil)
		r.Header.Set("Authorization", "Bearer "+tok)
		r.Header.Set("Version", upstream.APIVersion)
		w := httptest.NewRecorder()
		s.ServeHTTP(w, r)
		if w.Code != http.StatusOK {
			t.Errorf("token %.12s…: status %d", tok, w.Code)
		}
	}
	// A revoked token is refused until it is issued again.
	pit := s.Token(loc, sandbox.ScopeContactsRead)
	status := func() int {
		r := httptest.NewRequest(http.MethodGet, "/contacts/"+s.ContactIDs(loc)[0], nil)
		r.Header.Set("Authorization", "Bearer "+pit)
		r.Header.Set("Version", upstream.APIVersion)
		w := httptest.NewRecorder()
		s.ServeHTTP(w, r)
		return w.Code
	}
	s.RevokeToken(pit)
	if got := status(); got != http.StatusUnauthorized {
		t.Errorf("revoked token: status %d, want 401", got)
	}
	if s.Token(loc, sandbox.ScopeContactsRead) != pit || status() != http.StatusOK {
		t.Error("a revoked token was not issued again")
	}
}

func TestRouting(t *testing.T) {
	e := newEnv(t, sandboxConfig())
	id := e.seeded(t, 0).ID
	for _, tc := range []struct {
		method, path string
		status       int
		body         string
	}{
		{"GET", "/x", 404, `{"statusCode":404,"message":"Cannot GET /x"}`},
		{"PATCH", "/contacts/" + id, 404, `{"statusCode":404,"message":"Cannot PATCH /contacts/` + id + `"}`},
		{"PUT", "/contacts/", 404, `{"statusCode":404,"message":"Cannot PUT /contacts/"}`},
		{"GET", "/contacts/" + id + "/tasks/t/extra/more", 404, ""},
		{"GET", "/contacts//tasks", 404, `{"statusCode":404,"message":"Cannot GET /contacts//tasks"}`},
	} {
		t.Run(tc.method+" "+tc.path, func(t *testing.T) {
			before := e.s.TotalCalls()
			resp, text := e.raw(t, tc.method, tc.path, nil, "")
			if resp.StatusCode != tc.status || (tc.body != "" && text != tc.body) {
				t.Fatalf("%d %s", resp.StatusCode, text)
			}
			if e.s.TotalCalls() != before {
				t.Fatal("an unrouted request was counted")
			}
		})
	}
	// Trailing slashes do not matter, as in Express; literal segments beat placeholders.
	for _, tc := range []struct{ method, path, op string }{
		{"GET", "/contacts?locationId=" + e.loc, "get-contacts"},
		{"GET", "/contacts/" + id + "/", "get-contact"},
		{"GET", "/contacts/search/duplicate?locationId=" + e.loc + "&email=a%40b.co", "get-duplicate-contact"},
		{"GET", "/contacts/business/" + id + "?locationId=" + e.loc, "get-contacts-by-businessId"},
		{"DELETE", "/contacts/" + id + "/campaigns/removeAll", "remove-contact-from-every-campaign"},
		{"DELETE", "/contacts/" + id + "/campaigns/removeAl", "remove-contact-from-campaign"},
		{"POST", "/contacts/bulk/business", "add-remove-contact-from-business"},
	} {
		t.Run("route "+tc.method+" "+tc.path, func(t *testing.T) {
			before := e.s.Calls(tc.op)
			e.raw(t, tc.method, tc.path, nil, "")
			if e.s.Calls(tc.op) != before+1 {
				t.Fatalf("did not reach %s", tc.op)
			}
		})
	}
}

func TestPathEscaping(t *testing.T) {
	e := newEnv(t, sandboxConfig())
	for _, id := range []string{"a/../../oauth/token", "x?y=1", "%2e%2e", "a#b", "removeAll/../x"} {
		t.Run(id, func(t *testing.T) {
			before := e.s.Calls("get-contact")
			all := e.s.TotalCalls()
			_, _, err := e.c.Contacts.Get(bg, id)
			wantMessage(t, wantErr(t, err, upstream.ErrNotFound), "Contact not found")
			if e.s.Calls("get-contact") != before+1 || e.s.TotalCalls() != all+1 {
				t.Fatalf("the ID did not arrive as one segment of get-contact: calls %v", e.s.AllCalls())
			}
		})
	}
	// An ID equal to a literal segment would reach another route; the
	// client refuses it before any call.
	t.Run("search", func(t *testing.T) {
		all := e.s.TotalCalls()
		_, _, err := e.c.Contacts.Get(bg, "search")
		wantErr(t, err, upstream.ErrInvalidInput)
		if e.s.TotalCalls() != all {
			t.Fatalf("a refused ID reached the sandbox: calls %v", e.s.AllCalls())
		}
	})
	t.Run("task ID", func(t *testing.T) {
		c := e.fresh(t)
		before := e.s.Calls("get-task")
		_, _, err := e.c.Tasks.Get(bg, c.ID, "t/../../x?y#z")
		wantMessage(t, wantErr(t, err, upstream.ErrNotFound), "Task not found")
		if e.s.Calls("get-task") != before+1 {
			t.Fatal("did not reach get-task")
		}
	})
}

// sendJSON sends an arbitrary body to op through the client.
func sendJSON(t *testing.T, e *env, op upstream.Operation, params []string, body any) error {
	t.Helper()
	req, err := e.c.NewRequest(op, params, nil, body)
	if err != nil {
		t.Fatal(err)
	}
	var out json.RawMessage
	_, err = e.c.Do(bg, req, &out)
	return err
}

func TestStrictBodies(t *testing.T) {
	e := newEnv(t, sandboxConfig())
	c := e.seeded(t, 0)
	cases := []struct {
		name   string
		op     upstream.Operation
		params []string
		body   any
		msgs   []string
	}{
		{"unknown top-level properties", upstream.OpCreateContact, nil,
			map[string]any{"locationId": e.loc, "foo": 1, "bar": true},
			[]string{"property bar should not exist", "property foo should not exist"}},
		{"unknown nested property", upstream.OpCreateContact, nil,
			map[string]any{"locationId": e.loc, "dndSettings": map[string]any{"Call": map[string]any{"status": "active", "foo": 1}}},
			[]string{"dndSettings.Call.property foo should not exist"}},
		{"unknown property in a list item", upstream.OpUpdateContact, []string{c.ID},
			map[string]any{"customFields": []any{map[string]any{"id": "x", "field_value": "y", "value": "z"}}},
			[]string{"customFields.0.property value should not exist"}},
		{"update has no companyName", upstream.OpUpdateContact, []string{c.ID},
			map[string]any{"companyName": "Acme"}, []string{"property companyName should not exist"}},
		{"campaign body is empty", upstream.OpAddToCampaign, []string{c.ID, "x"},
			map[string]any{"campaignId": "x"}, []string{"property campaignId should not exist"}},
		{"unknown property in a search filter", upstream.OpSearchContacts, nil,
			map[string]any{"locationId": e.loc, "pageLimit": 1, "filters": []any{map[string]any{"field": "city", "operator": "eq", "value": "x", "op": 1}}},
			[]string{"filters.0.property op should not exist"}},
		{"wrong type", upstream.OpCreateContact, nil,
			map[string]any{"locationId": e.loc, "firstName": 5}, []string{"firstName must be a string"}},
		{"bad email", upstream.OpCreateContact, nil,
			map[string]any{"locationId": e.loc, "email": "not-an-email"}, []string{"email must be an email"}},
		{"missing locationId", upstream.OpCreateContact, nil,
			map[string]any{"firstName": "X"}, []string{"locationId should not be empty"}},
		{"bad dnd status", upstream.OpUpdateContact, []string{c.ID},
			map[string]any{"dndSettings": map[string]any{"SMS": map[string]any{"status": "maybe"}}},
			[]string{"dndSettings.SMS.status must be one of the following values: active, inactive, permanent"}},
		{"tags missing", upstream.OpAddTags, []string{c.ID}, map[string]any{}, []string{"tags must be an array"}},
		{"completed missing", upstream.OpSetTaskCompleted, []string{c.ID, "t"}, map[string]any{}, []string{"completed must be a boolean value"}},
		{"bad eventStartTime", upstream.OpAddToWorkflow, []string{c.ID, "w"},
			map[string]any{"eventStartTime": "soon"}, []string{"eventStartTime must be a valid ISO 8601 date string"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ue := wantErr(t, sendJSON(t, e, tc.op, tc.params, tc.body), upstream.ErrInvalidInput)
			if ue.StatusCode != http.StatusUnprocessableEntity {
				t.Fatalf("status %d: %v", ue.StatusCode, ue)
			}
			for _, m := range tc.msgs {
				wantMessage(t, ue, m)
			}
		})
	}

	t.Run("malformed JSON", func(t *testing.T) {
		resp, text := e.raw(t, http.MethodPost, "/contacts/", nil, `{"locationId":`)
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(text, `"error":"Bad Request"`) {
			t.Fatalf("%d %s", resp.StatusCode, text)
		}
	})
	t.Run("422 body shape", func(t *testing.T) {
		resp, text := e.raw(t, http.MethodPost, "/contacts/", nil, `{"locationId":"`+e.loc+`","foo":1}`)
		want := `{"statusCode":422,"message":["property foo should not exist"],"error":"Unprocessable Entity"}`
		if resp.StatusCode != http.StatusUnprocessableEntity || text != want {
			t.Fatalf("%d %s", resp.StatusCode, text)
		}
	})
	t.Run("refused bodies change nothing", func(t *testing.T) {
		if got, _ := e.s.Contact(c.ID); got.DateUpdated != c.DateUpdated {
			t.Fatal("a refused update was applied")
		}
		if e.s.Applied(upstream.OpCreateContact.ID) != 0 {
			t.Fatal("a refused create was applied")
		}
	})
}
