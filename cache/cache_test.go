// Tests for the byte-bounded LRU: expiry, the byte budget, tags and the
// write epoch.

package cache

import (
	"fmt"
	"sync"
	"testing"
	"time"
)

type fakeClock struct{ t time.Time }

func (f *fakeClock) now() time.Time { return f.t }

func newTestLRU(max int64) (*LRU, *fakeClock) {
	c := NewLRU(max)
	clk := &fakeClock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	c.now = clk.now
	return c, clk
}

func TestGetSetExpire(t *testing.T) {
	c, clk := newTestLRU(1 << 20)
	if !c.Set("k", "v", 10, time.Minute, nil, c.Epoch()) {
		t.Fatal("Set refused")
	}
	if v, exp, ok := c.Get("k"); !ok || v != "v" || !exp.Equal(clk.t.Add(time.Minute)) {
		t.Fatalf("Get = %v, %v, %v", v, exp, ok)
	}
	clk.t = clk.t.Add(time.Minute)
	if _, _, ok := c.Get("k"); ok {
		t.Fatal("expired entry served")
	}
	if s := c.Stats(); s.Entries != 0 || s.Bytes != 0 || s.Hits != 1 || s.Misses != 1 {
		t.Errorf("stats = %+v", s)
	}
	if c.Set("z", "v", 1, 0, nil, c.Epoch()) {
		t.Error("an entry without a TTL was stored")
	}
}

func TestByteBudget(t *testing.T) {
	const size = 1000
	per := int64(size + entryOverhead)
	c, _ := newTestLRU(3 * per)
	for i := range 3 {
		c.Set(fmt.Sprint(i), i, size, time.Hour, nil, c.Epoch())
	}
	c.Get("0") // 0 is now the most recently used; 1 goes first
	c.Set("3", 3, size, time.Hour, nil, c.Epoch())
	if _, _, ok := c.Get("1"); ok {
		t.Error("least recently used entry kept over budget")
	}
	for _, k := range []string{"0", "2", "3"} {
		if _, _, ok := c.Get(k); !ok {
			t.Errorf("entry %s evicted", k)
		}
	}
	s := c.Stats()
	if s.Bytes != 3*per || s.Entries != 3 || s.Evictions != 1 {
		t.Errorf("stats = %+v", s)
	}
	if c.Set("huge", 0, int(4*per), time.Hour, nil, c.Epoch()) {
		t.Error("an entry larger than the whole budget was stored")
	}
	// Replacing a key does not count it twice.
	c.Set("3", 33, size, time.Hour, nil, c.Epoch())
	if s := c.Stats(); s.Bytes != 3*per {
		t.Errorf("bytes after replace = %d", s.Bytes)
	}
}

func TestInvalidateByTag(t *testing.T) {
	c, _ := newTestLRU(1 << 20)
	c.Set("contact/a", 1, 1, time.Hour, []string{"c:a", "s:loc"}, c.Epoch())
	c.Set("tasks/a", 2, 1, time.Hour, []string{"c:a"}, c.Epoch())
	c.Set("contact/b", 3, 1, time.Hour, []string{"c:b"}, c.Epoch())
	c.Set("search/loc", 4, 1, time.Hour, []string{"s:loc"}, c.Epoch())
	c.Invalidate("c:a")
	for key, want := range map[string]bool{"contact/a": false, "tasks/a": false, "contact/b": true, "search/loc": true} {
		if _, _, ok := c.Get(key); ok != want {
			t.Errorf("%s present = %v, want %v", key, ok, want)
		}
	}
	c.Invalidate("s:loc")
	if _, _, ok := c.Get("search/loc"); ok {
		t.Error("search entry survived its tag")
	}
	if len(c.byTag) != 1 { // only c:b is left
		t.Errorf("tag index leaks: %v", c.byTag)
	}
}

func TestEpochRefusesStaleStores(t *testing.T) {
	c, _ := newTestLRU(1 << 20)
	before := c.Epoch()
	c.Invalidate("c:a") // a write lands while the read is in flight
	if c.Set("contact/a", "old", 1, time.Hour, []string{"c:a"}, before) {
		t.Fatal("a value read before a write was stored after it")
	}
	if !c.Set("contact/a", "new", 1, time.Hour, []string{"c:a"}, c.Epoch()) {
		t.Fatal("a fresh value was refused")
	}
}

func TestConcurrentUse(t *testing.T) {
	c, _ := newTestLRU(50 * (10 + entryOverhead))
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 500 {
				k := fmt.Sprint((g*31 + i) % 100)
				c.Set(k, i, 10, time.Hour, []string{"t" + k[:1]}, c.Epoch())
				c.Get(k)
				if i%50 == 0 {
					c.Invalidate("t" + k[:1])
				}
			}
		}()
	}
	wg.Wait()
	s := c.Stats()
	if s.Bytes > 50*(10+entryOverhead) || s.Bytes != int64(s.Entries)*(10+entryOverhead) {
		t.Errorf("byte accounting off: %+v", s)
	}
}

// TestKeptPastTTL: an entry stored with SetStale is a miss for Get once its
// time-to-live has passed, is found by GetStale until the keep bound, and
// then is gone; an entry stored with Set is never kept.
func TestKeptPastTTL(t *testing.T) {
	c, clk := newTestLRU(1 << 20)
	start := clk.t
	if !c.SetStale("k", "v", 10, time.Minute, 5*time.Minute, []string{"t"}, c.Epoch()) {
		t.Fatal("SetStale refused")
	}
	c.Set("plain", "p", 10, time.Minute, nil, c.Epoch())
	steps := []struct {
		at              time.Duration
		fresh, kept     bool
		plainKept       bool
		wantEntries     int
		wantStaleExpiry time.Time
	}{
		{at: 0, fresh: true, kept: true, plainKept: true, wantEntries: 2},
		{at: time.Minute - time.Nanosecond, fresh: true, kept: true, plainKept: true, wantEntries: 2},
		{at: time.Minute + time.Nanosecond, fresh: false, kept: true, plainKept: false, wantEntries: 1},
		{at: 6 * time.Minute, fresh: false, kept: true, wantEntries: 1},
		{at: 6*time.Minute + time.Nanosecond, fresh: false, kept: false, wantEntries: 0},
	}
	for _, s := range steps {
		clk.t = start.Add(s.at)
		if _, _, ok := c.Get("k"); ok != s.fresh {
			t.Errorf("at %v: Get ok = %v, want %v", s.at, ok, s.fresh)
		}
		v, stored, expires, ok := c.GetStale("k")
		if ok != s.kept {
			t.Errorf("at %v: GetStale ok = %v, want %v", s.at, ok, s.kept)
		}
		if ok && (v != "v" || !stored.Equal(start) || !expires.Equal(start.Add(time.Minute))) {
			t.Errorf("at %v: GetStale = %v, %v, %v", s.at, v, stored, expires)
		}
		if _, _, _, ok := c.GetStale("plain"); ok != s.plainKept {
			t.Errorf("at %v: plain entry kept = %v, want %v", s.at, ok, s.plainKept)
		}
		if n := c.Stats().Entries; n != s.wantEntries {
			t.Errorf("at %v: %d entries, want %d", s.at, n, s.wantEntries)
		}
	}
}

// TestInvalidatedEntryIsNotKept: a write's invalidation removes an entry
// kept for staleness too, so GetStale never finds what a write changed.
func TestInvalidatedEntryIsNotKept(t *testing.T) {
	c, clk := newTestLRU(1 << 20)
	c.SetStale("k", "v", 10, time.Minute, time.Hour, []string{"c:1"}, c.Epoch())
	c.SetStale("other", "o", 10, time.Minute, time.Hour, []string{"c:2"}, c.Epoch())
	clk.t = clk.t.Add(2 * time.Minute) // both stale now
	c.Invalidate("c:1")
	if _, _, _, ok := c.GetStale("k"); ok {
		t.Error("an invalidated entry is still kept for stale answers")
	}
	if _, _, _, ok := c.GetStale("other"); !ok {
		t.Error("an entry without the tag was dropped")
	}
	// A fetch that began before the invalidation stores nothing, stale or not.
	epoch := c.Epoch()
	c.Invalidate("c:3")
	if c.SetStale("late", "l", 10, time.Minute, time.Hour, nil, epoch) {
		t.Error("SetStale stored an answer fetched before a write")
	}
}

// TestPurgeAndCap: Purge empties the cache and advances the epoch; Cap
// shortens lifetimes and keeps stale keeps.
func TestPurgeAndCap(t *testing.T) {
	now := time.Unix(1000, 0)
	clock := func() time.Time { return now }
	tests := []struct {
		name string
		run  func(c *LRU)
		// after advancing 2s: Get hit of "fresh" and of "kept", GetStale of "kept"
		wantFresh, wantKept, wantKeptStale bool
	}{
		{"nothing", func(*LRU) {}, true, true, true},
		{"purge", func(c *LRU) { c.Purge() }, false, false, false},
		{"cap 1s", func(c *LRU) { c.Cap(time.Second) }, false, false, true},
		{"cap 1h", func(c *LRU) { c.Cap(time.Hour) }, true, true, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			now = time.Unix(1000, 0)
			c := NewLRUWithClock(1<<20, clock)
			c.Set("fresh", 1, 10, time.Minute, []string{"a"}, c.Epoch())
			c.SetStale("kept", 2, 10, time.Minute, time.Hour, []string{"a"}, c.Epoch())
			epoch := c.Epoch()
			tc.run(c)
			if tc.name == "purge" && (c.Epoch() == epoch || c.Stats().Entries != 0 || c.Stats().Bytes != 0) {
				t.Errorf("after purge: epoch %d (was %d), stats %+v", c.Epoch(), epoch, c.Stats())
			}
			now = now.Add(2 * time.Second)
			if _, _, ok := c.Get("fresh"); ok != tc.wantFresh {
				t.Errorf("Get(fresh) = %v, want %v", ok, tc.wantFresh)
			}
			if _, _, ok := c.Get("kept"); ok != tc.wantKept {
				t.Errorf("Get(kept) = %v, want %v", ok, tc.wantKept)
			}
			if _, _, _, ok := c.GetStale("kept"); ok != tc.wantKeptStale {
				t.Errorf("GetStale(kept) = %v, want %v", ok, tc.wantKeptStale)
			}
			// Tags still evict after a cap.
			c.Invalidate("a")
			if _, _, _, ok := c.GetStale("kept"); ok {
				t.Error("Invalidate missed a capped entry")
			}
		})
	}
}
