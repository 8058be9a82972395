// End-to-end tests of bounded credentials (issue 10) against the real
// handler over the sandbox: long credentials are refused as
// UNAUTHENTICATED in both modes before any upstream call, and a malformed
// X-Location-Id as BAD_USER_INPUT.

package server_test

import (
	"net/http"
	"strings"
	"testing"
)

func TestE2ELongCredentialsRefused(t *testing.T) {
	t.Parallel()
	const snapshot = `{ contacts(first: 1) { nodes { id } } }`
	huge := strings.Repeat("a", 900<<10)

	t.Run("pass-through", func(t *testing.T) {
		t.Parallel()
		e := newE2E(t)
		before := e.counters()
		for name, req := range map[string]request{
			"900 KB token":      {token: huge, query: snapshot},
			"4 KiB + 1 token":   {token: "pit-" + strings.Repeat("a", 4<<10-3), query: snapshot},
			"900 KB JWT-shaped": {token: "e30." + huge + ".c2ln", query: snapshot},
		} {
			if r := e.send(req); r.Status != http.StatusUnauthorized || r.code(t) != "UNAUTHENTICATED" {
				t.Errorf("%s: status %d, %.200s", name, r.Status, r.Body)
			}
		}
		for name, loc := range map[string]string{
			"too long":        strings.Repeat("L", 65),
			"path characters": e.locA + "/../x",
		} {
			r := e.send(request{token: e.token, locationID: loc, query: snapshot})
			if r.Status != http.StatusBadRequest || r.code(t) != "BAD_USER_INPUT" {
				t.Errorf("X-Location-Id %s: status %d, %s", name, r.Status, r.Body)
			}
		}
		e.wantNoCalls(t, before)
		e.gql(e.token, snapshot, nil).ok(t)
	})

	t.Run("managed", func(t *testing.T) {
		t.Parallel()
		e, c := newManagedE2E(t)
		before := e.counters()
		for name, req := range map[string]request{
			"900 KB bearer":    {token: huge, query: snapshot},
			"900 KB X-API-Key": {query: snapshot, header: http.Header{"X-Api-Key": {"gk_" + huge}}},
			"900 KB JWT":       {token: "e30." + huge + ".c2ln", query: snapshot},
		} {
			r := e.send(req)
			if r.Status != http.StatusUnauthorized || r.code(t) != "UNAUTHENTICATED" {
				t.Errorf("%s: status %d, %.200s", name, r.Status, r.Body)
			}
		}
		e.wantNoCalls(t, before)
		e.gql(c.readKey, snapshot, nil).ok(t)
		e.gql(c.readJWT, snapshot, nil).ok(t)
	})
}
