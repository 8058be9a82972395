// Tests for the whole-response cache's rules: only error-free query answers
// built from cached data are stored, per credential, and never past the
// data's own expiry.

package server

import (
	"net/http"
	"testing"
	"time"

	"github.com/ghl-graphql/gateway/loaders"
	"github.com/ghl-graphql/gateway/upstream/sandbox"
)

func TestResponseCacheRules(t *testing.T) {
	e := newCacheEnv(t, nil)
	id := e.contacts[0]
	q := snapshotQuery(id)

	// A stored answer costs nothing the second time.
	e.mustQuery(t, q)
	before := e.sb.TotalCalls()
	e.mustQuery(t, q)
	if e.sb.TotalCalls() != before {
		t.Fatalf("identical warm query made calls")
	}

	// Partial data is not stored: once the fault is gone, the next answer is whole.
	e.sb.SetFaults(sandbox.Faults{Rate: 1, Kinds: []sandbox.FaultKind{sandbox.FaultServerError}, Ops: []string{"get-all-notes"}})
	broken := snapshotQuery(e.contacts[1])
	if out := e.query(t, broken); len(out.Errors) == 0 {
		t.Fatal("fault did not surface")
	}
	e.sb.SetFaults(sandbox.Faults{})
	if out := e.query(t, broken); len(out.Errors) != 0 {
		t.Errorf("an answer with errors was stored: %+v", out.Errors)
	}

	// An answer with a NOT_FOUND error is not stored either: the contact
	// may be created later.
	missing := `{ contact(id: "no-such-contact") { id } }`
	e.query(t, missing)
	calls := e.sb.Calls("get-contact")
	e.query(t, missing)
	if e.sb.Calls("get-contact") != calls+1 {
		t.Errorf("an error answer was served from the response cache")
	}

	// Mutations are never stored or replayed.
	m := `mutation { addContactTags(contactId: "` + e.contacts[2] + `", tags: ["x"]) { tags } }`
	e.mustQuery(t, m)
	e.mustQuery(t, m)
	if got := e.sb.Calls("add-tags"); got != 2 {
		t.Errorf("a repeated mutation reached the upstream %d times, want 2", got)
	}

	// Cache-Control: no-cache is answered afresh.
	before = e.sb.TotalCalls()
	e.mustQuery(t, q, func(r *http.Request) { r.Header.Set("Cache-Control", "no-cache") })
	if e.sb.TotalCalls() != before+4 {
		t.Errorf("no-cache query served from the response cache")
	}
}

func TestResponseCacheExpiresWithItsData(t *testing.T) {
	e := newCacheEnv(t, func(c *Config) {
		c.CacheTTLs = loaders.TTLs{Contact: time.Hour, Lists: 150 * time.Millisecond, Search: time.Hour}
	})
	q := snapshotQuery(e.contacts[0])
	e.mustQuery(t, q)
	before := e.sb.TotalCalls()
	// Wait past the lists' TTL (not a timing assertion: a lower bound only).
	time.Sleep(200 * time.Millisecond)
	e.mustQuery(t, q)
	// The contact is still cached; tasks, notes and appointments are not,
	// and the stored response must not have outlived them.
	if got := e.sb.TotalCalls() - before; got != 3 {
		t.Errorf("after the lists expired: %d calls, want 3 (tasks, notes, appointments)", got)
	}
}

func TestResponseCacheOff(t *testing.T) {
	e := newCacheEnv(t, func(c *Config) { c.NoResponseCache = true })
	q := snapshotQuery(e.contacts[0])
	e.mustQuery(t, q)
	e.mustQuery(t, q)
	if got := e.sb.TotalCalls(); got != 4 {
		t.Errorf("with the upstream-answer cache alone: %d calls for two snapshots, want 4", got)
	}
}
