// This file holds the handlers of single contacts: get, create, update,
// delete and upsert, and the decoding of their bodies.

package sandbox

import (
	"fmt"
	"slices"
	"strings"
)

func handleGetContact(c *call) response {
	return c.s.store.read(c.loc, c.params[0], func(rec *contactRec) response {
		return ok(contactEnvelope{Contact: cloneContact(rec.c)})
	})
}

// bindContact decodes a create, update or upsert body into dst, the
// operation's own type, which decides what is allowed, and returns the
// patch it asks for.
func (c *call) bindContact(dst any) (*contactPatch, []fieldValue, *response) {
	raw, bad := c.bind(dst)
	if bad != nil {
		return nil, nil, bad
	}
	var p contactPatch
	var ck checks
	switch b := dst.(type) {
	case *updateContactBody:
		p.contactFields = b.contactFields
	case *createContactBody:
		p.contactFields, p.CompanyName, p.Gender = b.contactFields, b.CompanyName, b.Gender
	case *upsertContactBody:
		p.contactFields, p.CompanyName, p.Gender = b.contactFields, b.CompanyName, b.Gender
	}
	if _, isUpdate := dst.(*updateContactBody); !isUpdate {
		ck.requireString(raw, "locationId")
		// CreateContactDto and UpsertContactDto, unlike UpdateContactDto,
		// do not let source and assignedTo be null.
		p.Source.dropNull()
		p.AssignedTo.dropNull()
		p.Gender.dropNull()
	}
	p.dropForbiddenNulls()
	if v, has := p.Email.get(); has {
		ck.email("email", strings.TrimSpace(v))
	}
	if d, has := p.DNDSettings.get(); has {
		for name, s := range map[string]*DNDSetting{"Call": d.Call, "Email": d.Email, "SMS": d.SMS,
			"WhatsApp": d.WhatsApp, "GMB": d.GMB, "FB": d.FB} {
			if s != nil && !slices.Contains([]string{dndActive, dndInactive, dndPermanent}, s.Status) {
				ck.addf("dndSettings.%s.status must be one of the following values: active, inactive, permanent", name)
			}
		}
	}
	if d, has := p.InboundDNDSettings.get(); has && d.All != nil &&
		d.All.Status != dndActive && d.All.Status != dndInactive {
		ck.addf("inboundDndSettings.all.status must be one of the following values: active, inactive")
	}
	var fields []fieldValue
	if cf, has := p.CustomFields.get(); has {
		fields = resolveCustomFields(c.s.store.locs[c.loc], cf, &ck)
	}
	slices.Sort(ck.msgs) // map order must not decide the message order
	if r := ck.result(); r != nil {
		return nil, nil, r
	}
	return &p, fields, nil
}

// newContact returns an empty contact of loc stamped now; the caller holds
// the write lock.
func (st *store) newContact(loc string) *contactRec {
	now, ms := st.stamp()
	return &contactRec{
		c: Contact{ID: st.newID(), LocationID: loc, Type: "lead", Tags: []string{},
			DateAdded: now, DateUpdated: now},
		added: ms, updated: ms,
	}
}

func handleCreateContact(c *call) response {
	var body createContactBody
	p, fields, bad := c.bindContact(&body)
	if bad != nil {
		return *bad
	}
	st := c.s.store
	st.mu.Lock()
	defer st.mu.Unlock()
	if email, has := p.Email.get(); has && strings.TrimSpace(email) != "" {
		if dup, _ := st.findDuplicate(c.loc, email, ""); dup != nil {
			return duplicateContact(dup.c.ID, "email")
		}
	}
	rec := st.newContact(c.loc)
	applyPatch(&rec.c, p, fields)
	st.insert(rec)
	return created(contactEnvelope{Contact: cloneContact(rec.c)})
}

func handleUpdateContact(c *call) response {
	var body updateContactBody
	p, fields, bad := c.bindContact(&body)
	if bad != nil {
		return *bad
	}
	st := c.s.store
	return st.write(c.loc, c.params[0], func(rec *contactRec) response {
		if email, has := p.Email.get(); has && strings.TrimSpace(email) != "" {
			if dup, _ := st.findDuplicate(c.loc, email, ""); dup != nil && dup != rec {
				return duplicateContact(dup.c.ID, "email")
			}
		}
		applyPatch(&rec.c, p, fields)
		st.touch(rec)
		return ok(updatedEnvelope{Succeeded: true, Contact: cloneContact(rec.c)})
	})
}

func handleDeleteContact(c *call) response {
	st := c.s.store
	return st.write(c.loc, c.params[0], func(rec *contactRec) response {
		st.remove(rec)
		return ok(succeededTrue)
	})
}

// handleUpsertContact updates the contact of the location with the body's
// email (else phone), only the fields given, or creates one.
func handleUpsertContact(c *call) response {
	var body upsertContactBody
	p, fields, bad := c.bindContact(&body)
	if bad != nil {
		return *bad
	}
	st := c.s.store
	st.mu.Lock()
	defer st.mu.Unlock()
	var rec *contactRec
	if allow, _ := body.CreateNewIfDuplicateAllowed.get(); !allow {
		email, _ := p.Email.get()
		phone, _ := p.Phone.get()
		rec, _ = st.findDuplicate(c.loc, email, phone)
	}
	isNew := rec == nil
	if isNew {
		rec = st.newContact(c.loc)
		st.insert(rec)
	} else {
		st.touch(rec)
	}
	applyPatch(&rec.c, p, fields)
	return ok(upsertEnvelope{New: isNew, Contact: cloneContact(rec.c), TraceID: randomUUID(st)})
}

// randomUUID draws a trace ID; the caller holds the write lock.
func randomUUID(st *store) string {
	a, b := st.rng.Uint64(), st.rng.Uint64()
	return fmt.Sprintf("%08x-%04x-4%03x-%04x-%012x", a>>32, (a>>16)&0xffff, a&0xfff, 0x8000|(b>>48)&0x3fff, b&0xffffffffffff)
}
