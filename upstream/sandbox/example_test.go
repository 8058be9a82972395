package sandbox

import "testing"

// The example contact of every location has tasks, notes and appointments
// whatever the seed, and is the same for the same seed.
func TestExampleContactIsComplete(t *testing.T) {
	for _, seed := range []int64{1, 2, 5, 7, 42, 1234} {
		s, err := New(Config{Seed: seed, Locations: 3, ContactsPerLocation: 20})
		if err != nil {
			t.Fatal(err)
		}
		again, _ := New(Config{Seed: seed, Locations: 3, ContactsPerLocation: 20})
		for _, loc := range s.Locations() {
			id := s.ExampleContact(loc)
			if id == "" || id != s.ContactIDs(loc)[0] || id != again.ExampleContact(loc) {
				t.Fatalf("seed %d location %s: example %q, oldest %q, again %q", seed, loc, id, s.ContactIDs(loc)[0], again.ExampleContact(loc))
			}
			rec := s.store.byID[id]
			if len(rec.tasks) == 0 || len(rec.notes) == 0 || len(rec.appts) == 0 {
				t.Errorf("seed %d location %s: example %s has %d tasks, %d notes, %d appointments",
					seed, loc, id, len(rec.tasks), len(rec.notes), len(rec.appts))
			}
		}
	}
	if s, _ := New(Config{}); s.ExampleContact("nope") != "" {
		t.Error("an unknown location has an example contact")
	}
}
