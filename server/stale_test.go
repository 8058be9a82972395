// End-to-end tests of stale answers, partial snapshots and refresh-ahead
// through the gateway, with the caches and the rate budget on one fake
// clock: a spent budget stays spent until the test moves the clock a window.

package server_test

import (
	"encoding/json"
	"net/http"
	"reflect"
	"testing"
	"time"

	"github.com/ghl-graphql/gateway/internal/fakeclock"
	"github.com/ghl-graphql/gateway/loaders"
	"github.com/ghl-graphql/gateway/server"
	"github.com/ghl-graphql/gateway/upstream"
)

const (
	staleTTL    = 30 * time.Second
	staleWindow = time.Hour // the budget's window
)

// newStaleE2E is a gateway whose budget allows max calls per staleWindow,
// with refresh as given, on clock.
func newStaleE2E(t *testing.T, clock *fakeclock.Clock, max int, refresh loaders.RefreshConfig) *e2e {
	t.Helper()
	budget := upstream.NewLocalBudget(upstream.BudgetConfig{Max: max, Interval: staleWindow, Now: clock.Now})
	return newE2E(t, withFullListings(), withClientOptions(upstream.WithRateBudget(budget)), withServer(func(c *server.Config) {
		c.Now = clock.Now
		c.CacheTTLs = loaders.TTLs{Contact: staleTTL, Lists: staleTTL, Search: staleTTL}
		c.Refresh = refresh
	}))
}

// staleMarks decodes extensions.stale of an answer.
func staleMarks(t *testing.T, r response) []map[string]any {
	t.Helper()
	var env struct {
		Extensions struct {
			Stale []map[string]any `json:"stale"`
		} `json:"extensions"`
	}
	if err := json.Unmarshal([]byte(r.Body), &env); err != nil {
		t.Fatal(err)
	}
	return env.Extensions.Stale
}

// wantMarks checks the stale marks of r: path (joined by '.') to age in seconds.
func wantMarks(t *testing.T, r response, want map[string]float64) {
	t.Helper()
	got := map[string]float64{}
	for _, m := range staleMarks(t, r) {
		var path string
		for i, p := range m["path"].([]any) {
			if i > 0 {
				path += "."
			}
			path += p.(string)
		}
		got[path], _ = m["ageSeconds"].(float64)
	}
	if len(want) == 0 && len(got) == 0 {
		return
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("stale marks = %v, want %v; body %s", got, want, r.Body)
	}
}

// errorsByPath maps each error's path (joined by '.') to its code.
func errorsByPath(r response) map[string]string {
	out := map[string]string{}
	for _, e := range r.Errors {
		var path string
		for i, p := range normalizePath(e.Path) {
			if i > 0 {
				path += "."
			}
			path += p
		}
		out[path], _ = e.Extensions["code"].(string)
	}
	return out
}

const staleSnapshot = `query($id: ID!) { contact(id: $id) { id name tasks { id } notes { id } } }`

// A snapshot read when the budget is spent returns what the gateway has:
// fresh parts as they are, kept parts marked stale with their path and age,
// parts it never had as RATE_LIMITED errors on those fields only.
func TestStaleAndPartialSnapshots(t *testing.T) {
	clock := fakeclock.New(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
	e := newStaleE2E(t, clock, 3, loaders.RefreshConfig{})
	ids := e.sb.ContactIDs(e.locA)
	id := ids[0]
	t0 := clock.Now()
	// The contact and its notes (2 calls), then another contact: the budget is spent.
	e.gql(e.token, `query($id: ID!) { contact(id: $id) { id name notes { id } } }`, map[string]any{"id": id}).ok(t)
	e.gql(e.token, `query($id: ID!) { contact(id: $id) { id } }`, map[string]any{"id": ids[1]}).ok(t)
	vars := map[string]any{"id": id}

	t.Run("within the TTL: fresh parts, the missing list RATE_LIMITED", func(t *testing.T) {
		clock.Set(t0.Add(10 * time.Second))
		r := e.gql(e.token, staleSnapshot, vars)
		if got := errorsByPath(r); !reflect.DeepEqual(got, map[string]string{"contact.tasks": "RATE_LIMITED"}) {
			t.Errorf("errors = %v; body %s", got, r.Body)
		}
		if r.get("contact.name") == nil || r.get("contact.notes") == nil || r.get("contact.tasks") != nil {
			t.Errorf("want the contact and its notes, tasks null; body %s", r.Body)
		}
		wantMarks(t, r, nil)
	})
	t.Run("past the TTL: kept parts marked stale", func(t *testing.T) {
		for _, at := range []time.Duration{40 * time.Second, 45 * time.Second} {
			clock.Set(t0.Add(at))
			r := e.gql(e.token, staleSnapshot, vars)
			if got := errorsByPath(r); !reflect.DeepEqual(got, map[string]string{"contact.tasks": "RATE_LIMITED"}) {
				t.Errorf("errors = %v; body %s", got, r.Body)
			}
			if r.get("contact.id") != id || r.get("contact.notes") == nil {
				t.Errorf("stale data missing; body %s", r.Body)
			}
			// The second answer is executed again (age 45), not a stored copy
			// of the first: a response with stale parts is stored only while
			// its ages read the same.
			secs := at.Seconds()
			wantMarks(t, r, map[string]float64{"contact": secs, "contact.notes": secs})
		}
	})
	t.Run("an alias is the path", func(t *testing.T) {
		clock.Set(t0.Add(40 * time.Second))
		r := e.gql(e.token, `query($id: ID!) { c: contact(id: $id) { id n: notes { id } } }`, vars).ok(t)
		wantMarks(t, r, map[string]float64{"c": 40, "c.n": 40})
	})
	t.Run("max-stale=0: RATE_LIMITED instead", func(t *testing.T) {
		clock.Set(t0.Add(40 * time.Second))
		r := e.send(request{token: e.token, query: staleSnapshot, vars: vars,
			header: http.Header{"Cache-Control": {"max-stale=0"}}})
		if got := errorsByPath(r); got["contact"] != "RATE_LIMITED" {
			t.Errorf("errors = %v; body %s", got, r.Body)
		}
		wantMarks(t, r, nil)
	})
	t.Run("max-stale=5 bounds it", func(t *testing.T) {
		clock.Set(t0.Add(36 * time.Second))
		hdr := http.Header{"Cache-Control": {"max-stale=5"}}
		r := e.send(request{token: e.token, query: `query($id: ID!) { contact(id: $id) { id } }`, vars: vars, header: hdr})
		if len(r.Errors) == 0 || r.Errors[0].Extensions["code"] != "RATE_LIMITED" {
			t.Errorf("6 s stale with max-stale=5 served; body %s", r.Body)
		}
		clock.Set(t0.Add(35 * time.Second))
		r = e.send(request{token: e.token, query: `query($id: ID!) { contact(id: $id) { id } }`, vars: vars, header: hdr}).ok(t)
		wantMarks(t, r, map[string]float64{"contact": 35})
	})
	t.Run("a write refused before it was sent changes nothing: still stale", func(t *testing.T) {
		clock.Set(t0.Add(40 * time.Second))
		w := e.gql(e.token, `mutation($id: ID!) { updateContact(id: $id, input: {firstName: "Zed"}) { contact { id } } }`, vars)
		if w.code(t) != "RATE_LIMITED" {
			t.Fatalf("write: %s", w.Body)
		}
		r := e.gql(e.token, `query($id: ID!) { contact(id: $id) { id } }`, vars).ok(t)
		wantMarks(t, r, map[string]float64{"contact": 40})
	})
}

// What a write through the gateway evicted is never served stale, even
// when the budget is spent right after it.
func TestNoStaleAnswerAfterAWrite(t *testing.T) {
	clock := fakeclock.New(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
	e := newStaleE2E(t, clock, 3, loaders.RefreshConfig{})
	ids := e.sb.ContactIDs(e.locA)
	t0 := clock.Now()
	for _, id := range ids[:2] { // 2 calls
		e.gql(e.token, `query($id: ID!) { contact(id: $id) { id } }`, map[string]any{"id": id}).ok(t)
	}
	// The write spends the last slot and evicts the contact.
	e.gql(e.token, `mutation($id: ID!) { updateContact(id: $id, input: {firstName: "Zed"}) { contact { id } } }`,
		map[string]any{"id": ids[0]}).ok(t)
	clock.Set(t0.Add(40 * time.Second))
	r := e.gql(e.token, `query($id: ID!) { contact(id: $id) { id } }`, map[string]any{"id": ids[0]})
	if got := errorsByPath(r); got["contact"] != "RATE_LIMITED" {
		t.Errorf("written contact: errors %v; body %s", got, r.Body)
	}
	wantMarks(t, r, nil)
	// The contact the write did not touch is still served stale.
	r = e.gql(e.token, `query($id: ID!) { contact(id: $id) { id } }`, map[string]any{"id": ids[1]}).ok(t)
	wantMarks(t, r, map[string]float64{"contact": 40})
}

// Hot answers served from the response cache are refreshed ahead of their
// expiry on spare budget, so a hot snapshot never goes cold.
func TestRefreshAheadKeepsAHotSnapshotWarm(t *testing.T) {
	clock := fakeclock.New(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
	e := newStaleE2E(t, clock, 100, loaders.RefreshConfig{Ahead: 0.5, WindowMax: 100})
	id := e.sb.ContactIDs(e.locA)[0]
	vars := map[string]any{"id": id}
	t0 := clock.Now()
	before := e.sb.TotalCalls()
	e.gql(e.token, staleSnapshot, vars).ok(t) // contact, tasks, notes: 3 calls
	if got := e.sb.TotalCalls() - before; got != 3 {
		t.Fatalf("cold snapshot: %d calls, want 3", got)
	}
	clock.Set(t0.Add(5 * time.Second))
	e.gql(e.token, staleSnapshot, vars).ok(t) // a stored response, not due
	if got := e.sb.TotalCalls() - before; got != 3 {
		t.Fatalf("warm snapshot: %d calls, want 3", got)
	}

	clock.Set(t0.Add(20 * time.Second)) // in the last half of the answers' lives
	e.gql(e.token, staleSnapshot, vars).ok(t)
	waitFor(t, func() bool { return e.sb.TotalCalls()-before == 6 }) // the three answers refreshed
	e.gql(e.token, staleSnapshot, vars).ok(t)                        // no second refresh of the same answers
	if got := e.sb.TotalCalls() - before; got != 6 {
		t.Errorf("%d calls, want 6", got)
	}

	// Past the first answers' expiry the snapshot is still warm and fresh
	// (the refreshed answers live to 50 s, due from 35 s).
	clock.Set(t0.Add(33 * time.Second))
	r := e.gql(e.token, staleSnapshot, vars).ok(t)
	wantMarks(t, r, nil)
	if got := e.sb.TotalCalls() - before; got != 6 {
		t.Errorf("after the first expiry: %d calls, want 6 (the refreshed answers)", got)
	}
}

// waitFor waits until cond holds, for background work the test cannot
// join; it fails after a generous bound so that a bug cannot hang the run.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached")
		}
		time.Sleep(time.Millisecond)
	}
}

// A search served stale is marked at the search field; the lists of its
// contacts that the gateway does not hold are RATE_LIMITED each.
func TestStaleSearch(t *testing.T) {
	clock := fakeclock.New(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
	e := newStaleE2E(t, clock, 1, loaders.RefreshConfig{})
	t0 := clock.Now()
	const search = `{ contacts(first: 2) { nodes { id name } } }`
	fresh := e.gql(e.token, search, nil).ok(t) // the budget's only call
	clock.Set(t0.Add(45 * time.Second))
	r := e.gql(e.token, search, nil).ok(t)
	if !reflect.DeepEqual(r.Data, fresh.Data) {
		t.Errorf("stale search differs: %s", r.Body)
	}
	wantMarks(t, r, map[string]float64{"contacts": 45})

	r = e.gql(e.token, `{ contacts(first: 2) { nodes { id notes { id } } } }`, nil)
	if got := errorsByPath(r); !reflect.DeepEqual(got, map[string]string{
		"contacts.nodes.0.notes": "RATE_LIMITED", "contacts.nodes.1.notes": "RATE_LIMITED"}) {
		t.Errorf("errors = %v; body %s", got, r.Body)
	}
	wantMarks(t, r, map[string]float64{"contacts": 45})
}
