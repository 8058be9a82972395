// Tests for contacts that listings returned with fewer fields than a read by
// ID: they are never handed out, nor cached, as whole contacts.

package loaders

import (
	"testing"

	"github.com/ghl-graphql/gateway/upstream"
)

// partial is a listing's copy of a contact: the spec's list fields only.
func partial(id string) *upstream.Contact {
	return &upstream.Contact{ID: id, Email: "listed@example.com", Fields: upstream.ListedContactFields}
}

func TestListedContactsNeverStandInForWholeOnes(t *testing.T) {
	email := upstream.ContactFieldsNamed("email", "tags")
	name := upstream.ContactFieldsNamed("firstName")
	for _, tt := range []struct {
		name   string
		shared bool // primed through the shared cache (a search), else only in the request
	}{
		{"primed in the request", false},
		{"primed in the shared cache", true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, false, nil)
			id := e.ids[0]
			l := New(e.reader)
			c := partial(id)
			if tt.shared {
				e.reader.storeContacts(e.ctx, credential(e.ctx), []upstream.Contact{*c}, &upstream.Response{BodyBytes: 100}, e.reader.epoch())
				l = New(e.reader) // a later request
			} else {
				l.PrimeContact(c)
			}

			got, err := l.ContactCarrying(e.ctx, id, email)
			if err != nil || got.Email != "listed@example.com" || e.gate.calls.Load() != 0 {
				t.Fatalf("carried fields: %+v, %v, %d calls; want the listing's copy and no call", got, err, e.gate.calls.Load())
			}
			got, err = l.ContactCarrying(e.ctx, id, name)
			if err != nil || got.Partial() || got.FirstName == "" || e.gate.calls.Load() != 1 {
				t.Fatalf("a lacking field: %+v, %v, %d calls; want the whole contact in one call", got, err, e.gate.calls.Load())
			}
			if whole, err := New(e.reader).Contact(e.ctx, id); err != nil || whole.Partial() || e.gate.calls.Load() != 1 {
				t.Fatalf("Contact after the read: %+v, %v, %d calls; want the cached whole contact", whole, err, e.gate.calls.Load())
			}
		})
	}

	t.Run("Contact ignores a primed partial contact", func(t *testing.T) {
		e := newEnv(t, false, func(c *Config) { c.Cache = nil })
		l := New(e.reader)
		l.PrimeContact(partial(e.ids[1]))
		got, err := l.Contact(e.ctx, e.ids[1])
		if err != nil || got.Partial() || got.FirstName == "" || e.gate.calls.Load() != 1 {
			t.Fatalf("got %+v, %v, %d calls; want the whole contact read", got, err, e.gate.calls.Load())
		}
	})

	t.Run("a search stores its contacts apart from whole ones", func(t *testing.T) {
		e := newEnv(t, false, nil)
		if _, err := e.reader.Contact(e.ctx, e.ids[2]); err != nil {
			t.Fatal(err)
		}
		if _, err := e.reader.Search(e.ctx, &upstream.SearchContactsRequest{LocationID: e.sb.Locations()[0], PageLimit: 30}); err != nil {
			t.Fatal(err)
		}
		v, _, ok := e.reader.cache.Get(e.reader.contactRequest(e.ctx, "contact", e.ids[2]).key)
		if !ok || v.(*upstream.Contact).Partial() {
			t.Errorf("the whole contact was replaced by the search's copy: %v", v)
		}
		v, _, ok = e.reader.cache.Get(e.reader.contactRequest(e.ctx, listedKind, e.ids[3]).key)
		if !ok || !v.(*upstream.Contact).Partial() {
			t.Errorf("the search's copy is not kept as a listed contact: %v", v)
		}
		if _, _, ok := e.reader.cache.Get(e.reader.contactRequest(e.ctx, "contact", e.ids[3]).key); ok {
			t.Error("the search's copy was stored as a whole contact")
		}
	})

	t.Run("Forget drops the request's listed contacts", func(t *testing.T) {
		e := newEnv(t, false, func(c *Config) { c.Cache = nil })
		l := New(e.reader)
		l.PrimeContact(partial(e.ids[4]))
		l.Forget(e.ids[4])
		if _, err := l.ContactCarrying(e.ctx, e.ids[4], email); err != nil || e.gate.calls.Load() != 1 {
			t.Errorf("%v, %d calls; want a read after Forget", err, e.gate.calls.Load())
		}
	})
}

func TestContactsLoadsTogether(t *testing.T) {
	e := newEnv(t, false, nil)
	if _, err := e.reader.Contact(e.ctx, e.ids[0]); err != nil { // cached: no second call
		t.Fatal(err)
	}
	ids := append([]string{e.ids[0]}, e.ids[0:10]...)
	ids = append(ids, "no-such-contact")
	got, errs := New(e.reader).Contacts(e.ctx, ids)
	if n := e.gate.calls.Load(); n != 1+9+1 {
		t.Errorf("%d calls, want 11 (one per distinct uncached ID)", n)
	}
	for i, id := range ids[:len(ids)-1] {
		if errs != nil && errs[i] != nil || got[i] == nil || got[i].ID != id {
			t.Errorf("ids[%d]: %+v, %v", i, got[i], errs)
		}
	}
	if errs == nil || errs[len(ids)-1] == nil {
		t.Errorf("an unknown contact has no error: %v", errs)
	}
}
