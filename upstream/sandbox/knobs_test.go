// This file tests the sandbox's knobs and bookkeeping: latency, rate limits,
// fault injection, call counters, determinism, configuration, flags, and
// safety under concurrent use.

package sandbox_test

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/ghl-graphql/gateway/upstream"
	"github.com/ghl-graphql/gateway/upstream/sandbox"
)

func TestLatency(t *testing.T) {
	e := newEnv(t, sandbox.Config{Seed: 42, Latency: time.Minute})
	id := e.seeded(t, 0).ID
	ctx, cancel := context.WithTimeout(bg, 50*time.Millisecond)
	defer cancel()
	_, _, err := e.c.Contacts.Get(ctx, id)
	wantErr(t, err, upstream.ErrTimeout)

	// The answer of a write that timed out during the latency was never applied.
	ctx2, cancel2 := context.WithTimeout(bg, 50*time.Millisecond)
	defer cancel2()
	_, _, err = e.c.Contacts.AddTags(ctx2, id, []string{"late"})
	wantErr(t, err, upstream.ErrTimeout)

	e.s.SetLatency(0, 0)
	must[*upstream.Contact](t)(e.c.Contacts.Get(bg, id))
	if got, _ := e.s.Contact(id); slices.Contains(got.Tags, "late") {
		t.Fatal("a write cancelled during its latency was applied")
	}

	e.s.SetLatency(0, time.Minute) // jitter alone: 0..1 min, never negative
	ctx3, cancel3 := context.WithTimeout(bg, 100*time.Millisecond)
	defer cancel3()
	if _, _, err := e.c.Contacts.Get(ctx3, id); err != nil && !errors.Is(err, upstream.ErrTimeout) {
		t.Fatalf("with jitter: %v", err)
	}
}

func TestRateLimit(t *testing.T) {
	clock := newFakeClock()
	e := newEnv(t, sandbox.Config{Seed: 42, Now: clock.Now,
		RateLimit: sandbox.RateLimit{Max: 3, Interval: 10 * time.Second, Daily: 5}})
	id := e.seeded(t, 0).ID
	get := func() (*upstream.Response, error) {
		_, resp, err := e.c.Contacts.Get(bg, id)
		return resp, err
	}
	for i := 1; i <= 3; i++ {
		resp, err := get()
		if err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
		want := upstream.Rate{Max: 3, Remaining: 3 - i, Interval: 10 * time.Second, DailyLimit: 5, DailyRemaining: 5 - i}
		if resp.Rate != want {
			t.Fatalf("call %d: rate %+v, want %+v", i, resp.Rate, want)
		}
		// Requests that fail authentication are answered with headers but
		// not counted against the location.
		r, _ := e.raw(t, http.MethodGet, "/contacts/"+id, map[string]string{"Version": upstream.APIVersion, "Authorization": "Bearer nope"}, "")
		if r.StatusCode != http.StatusUnauthorized || r.Header.Get(upstream.HeaderRateLimitMax) != "3" {
			t.Fatalf("unauthenticated: %d, headers %v", r.StatusCode, r.Header)
		}
	}
	_, err := get()
	ue := wantErr(t, err, upstream.ErrRateLimited)
	if ue.StatusCode != http.StatusTooManyRequests || ue.RetryAfter != 10*time.Second || ue.Rate.Remaining != 0 || !ue.Retryable {
		t.Fatalf("429: %+v", ue)
	}

	// Another location has its own budget.
	other := e.client(t, e.s.Token(e.other, sandbox.ScopeContactsRead))
	if _, resp, err := other.Contacts.Get(bg, e.s.ContactIDs(e.other)[0]); err != nil || resp.Rate.Remaining != 2 {
		t.Fatalf("other location: %v %+v", err, resp)
	}

	clock.Advance(10 * time.Second)
	for i := 4; i <= 5; i++ {
		if _, err := get(); err != nil {
			t.Fatalf("call %d after the window: %v", i, err)
		}
	}
	_, err = get()
	ue = wantErr(t, err, upstream.ErrRateLimited)
	if ue.Rate.DailyRemaining != 0 || ue.RetryAfter <= 0 {
		t.Fatalf("daily cap: %+v", ue)
	}

	e.s.SetRateLimit(sandbox.RateLimit{})
	resp, err := get()
	if err != nil || resp.Rate.Max < 100_000 || resp.Rate.DailyRemaining < 100_000 {
		t.Fatalf("unlimited: %v %+v", err, resp)
	}
}

func TestFaults(t *testing.T) {
	e := newEnv(t, sandboxConfig())
	c := e.fresh(t)
	short := func() (context.Context, context.CancelFunc) { return context.WithTimeout(bg, 50*time.Millisecond) }
	cases := []struct {
		kind sandbox.FaultKind
		want error
	}{
		{sandbox.FaultServerError, upstream.ErrServer},
		{sandbox.FaultDrop, upstream.ErrConnection},
		{sandbox.FaultMalformed, upstream.ErrMalformedResponse},
		{sandbox.FaultSlow, upstream.ErrTimeout},
		{sandbox.FaultDropAfterWrite, upstream.ErrConnection},
	}
	for _, tc := range cases {
		t.Run(string(tc.kind), func(t *testing.T) {
			e.s.SetFaults(sandbox.Faults{Rate: 1, Kinds: []sandbox.FaultKind{tc.kind}, SlowDelay: time.Minute,
				Ops: []string{upstream.OpGetContact.ID}})
			defer e.s.SetFaults(sandbox.Faults{})
			ctx, cancel := short()
			defer cancel()
			_, _, err := e.c.Contacts.Get(ctx, c.ID)
			ue := wantErr(t, err, tc.want)
			if tc.kind == sandbox.FaultServerError && !slices.Contains([]int{500, 502, 503}, ue.StatusCode) {
				t.Fatalf("status %d", ue.StatusCode)
			}
			// Operations outside Faults.Ops are untouched.
			must[[]upstream.Task](t)(e.c.Tasks.List(bg, c.ID))
		})
	}
}

func TestFaultsOnWrites(t *testing.T) {
	e := newEnv(t, sandboxConfig())
	create := upstream.OpCreateContact.ID
	body := func(email string) *upstream.CreateContactRequest {
		return &upstream.CreateContactRequest{LocationID: e.loc, FirstName: "Drop", Email: email}
	}
	found := func(email string) bool {
		c := must[*upstream.Contact](t)(e.c.Contacts.FindDuplicate(bg, e.loc, email, ""))
		return c != nil
	}

	t.Run("drop-after-write applies", func(t *testing.T) {
		e.s.SetFaults(sandbox.Faults{Rate: 1, Kinds: []sandbox.FaultKind{sandbox.FaultDropAfterWrite}, Ops: []string{create}})
		defer e.s.SetFaults(sandbox.Faults{})
		before := e.s.Applied(create)
		_, _, err := e.c.Contacts.Create(bg, body("after@example.com"))
		ue := wantErr(t, err, upstream.ErrConnection)
		if !ue.RequestSent || ue.Retryable {
			t.Fatalf("a dropped create must be ambiguous and not retryable: %+v", ue)
		}
		if e.s.Applied(create) != before+1 || !found("after@example.com") {
			t.Fatal("the create was not applied")
		}
	})
	t.Run("drop does not apply", func(t *testing.T) {
		e.s.SetFaults(sandbox.Faults{Rate: 1, Kinds: []sandbox.FaultKind{sandbox.FaultDrop}, Ops: []string{create}})
		defer e.s.SetFaults(sandbox.Faults{})
		before := e.s.Applied(create)
		_, _, err := e.c.Contacts.Create(bg, body("before@example.com"))
		wantErr(t, err, upstream.ErrConnection)
		if e.s.Applied(create) != before || found("before@example.com") {
			t.Fatal("a dropped create was applied")
		}
	})
	t.Run("5xx does not apply", func(t *testing.T) {
		e.s.SetFaults(sandbox.Faults{Rate: 1, Kinds: []sandbox.FaultKind{sandbox.FaultServerError}, Ops: []string{create}})
		defer e.s.SetFaults(sandbox.Faults{})
		_, _, err := e.c.Contacts.Create(bg, body("fivexx@example.com"))
		if ue := wantErr(t, err, upstream.ErrServer); ue.Retryable {
			t.Fatal("a failed create must not be retryable")
		}
		if found("fivexx@example.com") {
			t.Fatal("a create answered 5xx was applied")
		}
	})
	t.Run("malformed applies", func(t *testing.T) {
		e.s.SetFaults(sandbox.Faults{Rate: 1, Kinds: []sandbox.FaultKind{sandbox.FaultMalformed}, Ops: []string{create}})
		defer e.s.SetFaults(sandbox.Faults{})
		_, _, err := e.c.Contacts.Create(bg, body("garbled@example.com"))
		wantErr(t, err, upstream.ErrMalformedResponse)
		if !found("garbled@example.com") {
			t.Fatal("a create answered with a garbled 2xx was not applied")
		}
	})
}

// faultPattern makes n sequential reads and records which failed.
func faultPattern(t *testing.T, seed int64, n int) []bool {
	t.Helper()
	e := newEnv(t, sandbox.Config{Seed: seed, Faults: sandbox.Faults{Rate: 0.5, Kinds: []sandbox.FaultKind{sandbox.FaultServerError}}})
	id := e.s.ContactIDs(e.loc)[0]
	out := make([]bool, n)
	for i := range out {
		_, _, err := e.c.Contacts.Get(bg, id)
		if err != nil && !errors.Is(err, upstream.ErrServer) {
			t.Fatalf("call %d: %v", i, err)
		}
		out[i] = err != nil
	}
	return out
}

func TestFaultDrawsAreSeeded(t *testing.T) {
	a, b := faultPattern(t, 11, 40), faultPattern(t, 11, 40)
	if !slices.Equal(a, b) {
		t.Fatal("the same seed drew different faults")
	}
	if !slices.Contains(a, true) || !slices.Contains(a, false) {
		t.Fatalf("rate 0.5 gave %v", a)
	}
	if slices.Equal(a, faultPattern(t, 12, 40)) {
		t.Fatal("another seed drew the same 40 faults")
	}
}

func TestCounters(t *testing.T) {
	e := newEnv(t, sandboxConfig())
	id := e.seeded(t, 0).ID
	e.s.ResetCounters()
	for range 3 {
		must[*upstream.Contact](t)(e.c.Contacts.Get(bg, id))
	}
	must[*upstream.SearchResult](t)(e.c.Contacts.Search(bg, &upstream.SearchContactsRequest{LocationID: e.loc}))
	e.fresh(t)
	_, _, err := e.c.Contacts.Create(bg, &upstream.CreateContactRequest{LocationID: e.loc, Email: "bad"})
	wantErr(t, err, upstream.ErrInvalidInput)
	e.raw(t, http.MethodGet, "/nowhere", nil, "")

	all := e.s.AllCalls()
	want := map[string]int64{"get-contact": 3, "search-contacts-advanced": 1, "create-contact": 2}
	for op, n := range all {
		if n != want[op] {
			t.Errorf("Calls(%s) = %d, want %d", op, n, want[op])
		}
	}
	if len(all) != 32 || e.s.TotalCalls() != 6 || e.s.Calls("get-contact") != 3 {
		t.Fatalf("%d operations, total %d", len(all), e.s.TotalCalls())
	}
	if e.s.Applied("create-contact") != 1 || e.s.Applied("get-contact") != 0 {
		t.Fatalf("applied: create %d, get %d", e.s.Applied("create-contact"), e.s.Applied("get-contact"))
	}
	e.s.ResetCounters()
	if e.s.TotalCalls() != 0 || e.s.Applied("create-contact") != 0 || e.s.Calls("no-such-op") != 0 {
		t.Fatal("ResetCounters left counts")
	}
}

// snapshot renders every contact of a server, with its IDs and tokens.
func snapshot(t *testing.T, s *sandbox.Server) string {
	t.Helper()
	out := fmt.Sprint(s.Locations(), s.DefaultToken(), s.Token(s.Locations()[1], sandbox.ScopeContactsRead))
	for _, loc := range s.Locations() {
		for _, id := range s.ContactIDs(loc) {
			c, _ := s.Contact(id)
			out += string(mustJSON(t, c))
		}
		out += fmt.Sprint(s.Businesses(loc))
	}
	return out
}

func TestDeterminism(t *testing.T) {
	fixed := func() time.Time { return time.Date(2025, 7, 1, 0, 0, 0, 0, time.UTC) }
	a := newEnv(t, sandbox.Config{Seed: 99, Now: fixed})
	b := newEnv(t, sandbox.Config{Seed: 99, Now: fixed})
	if snapshot(t, a.s) != snapshot(t, b.s) {
		t.Fatal("the same seed gave different data or tokens")
	}
	// The same writes make the same IDs.
	ca, cb := a.fresh(t), b.fresh(t)
	if ca.ID != cb.ID {
		t.Fatalf("the same write sequence made contacts %s and %s", ca.ID, cb.ID)
	}
	ta := must[*upstream.Task](t)(a.c.Tasks.Create(bg, ca.ID, &upstream.CreateTaskRequest{Title: "x", DueDate: "2025-07-01T00:00:00Z"}))
	tb := must[*upstream.Task](t)(b.c.Tasks.Create(bg, cb.ID, &upstream.CreateTaskRequest{Title: "x", DueDate: "2025-07-01T00:00:00Z"}))
	if ta.ID != tb.ID {
		t.Fatalf("the same write sequence made IDs %s and %s", ta.ID, tb.ID)
	}
	c := newEnv(t, sandbox.Config{Seed: 100, Now: fixed})
	if c.s.DefaultToken() == a.s.DefaultToken() || c.loc == a.loc || c.seeded(t, 0).Email == a.seeded(t, 0).Email && c.seeded(t, 1).Email == a.seeded(t, 1).Email {
		t.Fatal("another seed gave the same data or tokens")
	}
	d, err := sandbox.New(sandbox.Config{})
	if err != nil || len(d.Locations()) != 2 || len(d.ContactIDs(d.Locations()[0])) != 250 {
		t.Fatalf("defaults: %v", err)
	}
	one, _ := sandbox.New(sandbox.Config{Seed: 1})
	if d.DefaultToken() != one.DefaultToken() {
		t.Fatal("the default seed is not 1")
	}
}

func TestConfigValidation(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  sandbox.Config
	}{
		{"negative locations", sandbox.Config{Locations: -1}},
		{"too many contacts", sandbox.Config{ContactsPerLocation: 2_000_000}},
		{"negative latency", sandbox.Config{Latency: -time.Second}},
		{"negative rate limit", sandbox.Config{RateLimit: sandbox.RateLimit{Max: -1}}},
		{"fault rate above 1", sandbox.Config{Faults: sandbox.Faults{Rate: 1.5}}},
		{"unknown fault kind", sandbox.Config{Faults: sandbox.Faults{Rate: 0.1, Kinds: []sandbox.FaultKind{"explode"}}}},
		{"unknown fault op", sandbox.Config{Faults: sandbox.Faults{Rate: 0.1, Ops: []string{"get-contactz"}}}},
		{"negative fault max", sandbox.Config{Faults: sandbox.Faults{Rate: 0.1, Max: -1}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := sandbox.New(tc.cfg); !errors.Is(err, sandbox.ErrInvalidConfig) {
				t.Fatalf("got %v, want ErrInvalidConfig", err)
			}
		})
	}
}

func TestRegisterFlags(t *testing.T) {
	var cfg sandbox.Config
	fs := flag.NewFlagSet("sandbox", flag.ContinueOnError)
	cfg.RegisterFlags(fs)
	err := fs.Parse([]string{"-seed", "9", "-locations", "3", "-contacts", "10", "-latency", "5ms", "-jitter", "1ms",
		"-rate-max", "100", "-rate-interval", "10s", "-rate-daily", "200000", "-fault-rate", "0.25",
		"-fault-kinds", "5xx, drop,drop-after-write", "-fault-ops", "get-contact,create-contact", "-fault-max", "4", "-slow-delay", "2s",
		"-strict-list-items"})
	if err != nil {
		t.Fatal(err)
	}
	want := sandbox.Config{Seed: 9, Locations: 3, ContactsPerLocation: 10, Latency: 5 * time.Millisecond, Jitter: time.Millisecond,
		RateLimit: sandbox.RateLimit{Max: 100, Interval: 10 * time.Second, Daily: 200000},
		Faults: sandbox.Faults{Rate: 0.25, Kinds: []sandbox.FaultKind{"5xx", "drop", "drop-after-write"},
			Ops: []string{"get-contact", "create-contact"}, SlowDelay: 2 * time.Second, Max: 4},
		StrictListItems: true}
	if fmt.Sprintf("%+v", cfg) != fmt.Sprintf("%+v", want) {
		t.Fatalf("parsed %+v\nwant   %+v", cfg, want)
	}
	s, err := sandbox.New(cfg)
	if err != nil || len(s.Locations()) != 3 {
		t.Fatalf("New from flags: %v", err)
	}

	var defaults sandbox.Config
	fs = flag.NewFlagSet("sandbox", flag.ContinueOnError)
	defaults.RegisterFlags(fs)
	if err := fs.Parse(nil); err != nil || defaults.Seed != 1 || defaults.Locations != 2 || defaults.ContactsPerLocation != 250 {
		t.Fatalf("defaults %+v, %v", defaults, err)
	}
	fs = flag.NewFlagSet("sandbox", flag.ContinueOnError)
	fs.SetOutput(discard{})
	(&sandbox.Config{}).RegisterFlags(fs)
	if err := fs.Parse([]string{"-fault-kinds", "5xx,boom"}); err == nil {
		t.Fatal("an unknown fault kind was accepted")
	}
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

// TestConcurrentUse runs reads, writes and knob changes at once; the race
// detector does the checking.
func TestConcurrentUse(t *testing.T) {
	e := newEnv(t, sandboxConfig())
	ids := e.s.ContactIDs(e.loc)
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			for i := range 15 {
				id := ids[(w*15+i)%len(ids)]
				var err error
				switch i % 6 {
				case 0:
					_, _, err = e.c.Contacts.Get(bg, id)
				case 1:
					_, _, err = e.c.Contacts.Update(bg, id, &upstream.UpdateContactRequest{City: upstream.Set(fmt.Sprint("City", w))})
				case 2:
					_, _, err = e.c.Contacts.Search(bg, &upstream.SearchContactsRequest{LocationID: e.loc, Query: "a", PageLimit: 50})
				case 3:
					_, _, err = e.c.Contacts.AddTags(bg, id, []string{fmt.Sprint("w", w)})
				case 4:
					_, _, err = e.c.Contacts.Create(bg, &upstream.CreateContactRequest{LocationID: e.loc, Email: fmt.Sprintf("w%d.i%d@example.com", w, i)})
				case 5:
					_, _, err = e.c.Tasks.Create(bg, id, &upstream.CreateTaskRequest{Title: "t", DueDate: "2025-07-01T00:00:00Z"})
					e.s.SetLatency(0, 0)
					e.s.SetFaults(sandbox.Faults{})
					e.s.SetRateLimit(sandbox.RateLimit{})
					_ = e.s.AllCalls()
					_, _ = e.s.Contact(id)
				}
				if err != nil {
					t.Errorf("worker %d step %d: %v", w, i, err)
				}
			}
		})
	}
	wg.Wait()
	if e.s.Applied(upstream.OpCreateContact.ID) != 8*2 {
		t.Fatalf("applied %d creates", e.s.Applied(upstream.OpCreateContact.ID))
	}
}
