// This file holds the data store: locations, contacts and what hangs off them,
// the lock that guards them, deep copies for everything that leaves it, and
// the mutations shared by several handlers (patching a contact, tags, IDs).

package sandbox

import (
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"time"
)

// contactRec is a stored contact and everything attached to it.
type contactRec struct {
	c Contact
	// added and updated mirror c.DateAdded and c.DateUpdated as epoch
	// milliseconds, for sorting and range filters.
	added, updated int64
	tasks          []wireTask
	notes          []wireNote
	appts          []wireAppointment
	campaigns      []string
	workflows      []string
}

// customFieldDef is a custom field of a location.
type customFieldDef struct {
	id, key string
}

// business is a business (company record) of a location.
type business struct {
	id, name string
}

// locData is one location. Everything but contacts is fixed at seeding,
// so it may be read without the lock.
type locData struct {
	id         string
	users      []string
	calendars  []string
	fields     []customFieldDef
	businesses []business
	// contacts is guarded by store.mu.
	contacts map[string]*contactRec
}

// store holds every location. mu guards the contacts maps, byID, deleted
// and rng; the rest is fixed at seeding.
type store struct {
	mu      sync.RWMutex
	order   []string
	locs    map[string]*locData
	byID    map[string]*contactRec
	deleted map[string]string // deleted contact ID → its location
	// rng makes the IDs of writes, so that a replayed run makes the same IDs.
	rng *rand.Rand
	now func() time.Time
}

func (st *store) locationIDs() []string { return slices.Clone(st.order) }

func (st *store) hasLocation(id string) bool {
	_, ok := st.locs[id]
	return ok
}

// stamp returns the current time as the API writes it and as epoch ms.
func (st *store) stamp() (string, int64) {
	t := st.now().UTC().Truncate(time.Millisecond)
	return formatTime(t), t.UnixMilli()
}

// newID returns a fresh 20-character ID; the caller holds mu for writing.
func (st *store) newID() string {
	for {
		id := randomID(st.rng, 20)
		if _, taken := st.byID[id]; !taken {
			return id
		}
	}
}

// touch records a write to rec.
func (st *store) touch(rec *contactRec) {
	rec.c.DateUpdated, rec.updated = st.stamp()
}

// visible returns the contact id of location loc, or nil: a contact of
// another location does not exist for the caller. The caller holds mu.
func (st *store) visible(loc, id string) *contactRec {
	rec := st.byID[id]
	if rec == nil || rec.c.LocationID != loc {
		return nil
	}
	return rec
}

// read runs fn on a visible contact under the read lock.
func (st *store) read(loc, id string, fn func(*contactRec) response) response {
	st.mu.RLock()
	defer st.mu.RUnlock()
	rec := st.visible(loc, id)
	if rec == nil {
		return contactNotFound
	}
	return fn(rec)
}

// write runs fn on a visible contact under the write lock.
func (st *store) write(loc, id string, fn func(*contactRec) response) response {
	st.mu.Lock()
	defer st.mu.Unlock()
	rec := st.visible(loc, id)
	if rec == nil {
		return contactNotFound
	}
	return fn(rec)
}

// contact returns a copy of any location's contact.
func (st *store) contact(id string) (Contact, bool) {
	st.mu.RLock()
	defer st.mu.RUnlock()
	rec := st.byID[id]
	if rec == nil {
		return Contact{}, false
	}
	return cloneContact(rec.c), true
}

// sortedRecs returns a location's contacts oldest first; the caller holds mu.
func (st *store) sortedRecs(loc string) []*contactRec {
	l := st.locs[loc]
	if l == nil {
		return nil
	}
	recs := make([]*contactRec, 0, len(l.contacts))
	for _, rec := range l.contacts {
		recs = append(recs, rec)
	}
	slices.SortFunc(recs, func(a, b *contactRec) int {
		if a.added != b.added {
			if a.added < b.added {
				return -1
			}
			return 1
		}
		return strings.Compare(a.c.ID, b.c.ID)
	})
	return recs
}

func (st *store) contactIDs(loc string) []string {
	st.mu.RLock()
	defer st.mu.RUnlock()
	var ids []string
	for _, rec := range st.sortedRecs(loc) {
		ids = append(ids, rec.c.ID)
	}
	return ids
}

func (st *store) businessIDs(loc string) []string {
	l := st.locs[loc]
	if l == nil {
		return nil
	}
	ids := make([]string, len(l.businesses))
	for i, b := range l.businesses {
		ids[i] = b.id
	}
	return ids
}

func (st *store) campaigns(id string) []string {
	st.mu.RLock()
	defer st.mu.RUnlock()
	if rec := st.byID[id]; rec != nil {
		return slices.Clone(rec.campaigns)
	}
	return nil
}

func (st *store) workflows(id string) []string {
	st.mu.RLock()
	defer st.mu.RUnlock()
	if rec := st.byID[id]; rec != nil {
		return slices.Clone(rec.workflows)
	}
	return nil
}

// insert adds a new contact; the caller holds mu for writing.
func (st *store) insert(rec *contactRec) {
	st.locs[rec.c.LocationID].contacts[rec.c.ID] = rec
	st.byID[rec.c.ID] = rec
}

// remove deletes a contact; the caller holds mu for writing.
func (st *store) remove(rec *contactRec) {
	delete(st.locs[rec.c.LocationID].contacts, rec.c.ID)
	delete(st.byID, rec.c.ID)
	st.deleted[rec.c.ID] = rec.c.LocationID
}

// findDuplicate returns the oldest contact of loc whose email
// (case-insensitive) or else phone matches; the caller holds mu.
func (st *store) findDuplicate(loc, email, phone string) (*contactRec, string) {
	var byEmail, byPhone *contactRec
	email = strings.ToLower(strings.TrimSpace(email))
	phone = normalizePhone(phone)
	older := func(a, b *contactRec) bool {
		return b == nil || a.added < b.added || (a.added == b.added && a.c.ID < b.c.ID)
	}
	for _, rec := range st.locs[loc].contacts {
		if email != "" && rec.c.EmailLowerCase == email && older(rec, byEmail) {
			byEmail = rec
		}
		if phone != "" && rec.c.Phone != "" && samePhone(rec.c.Phone, phone) && older(rec, byPhone) {
			byPhone = rec
		}
	}
	switch {
	case byEmail != nil:
		return byEmail, "email"
	case byPhone != nil:
		return byPhone, "phone"
	}
	return nil, ""
}

// contactPatch is a create, update or upsert body with every field's
// presence known: absent keeps, a value sets, and null clears (the nulls
// the spec forbids were dropped by bindContact, so they keep).
type contactPatch struct {
	contactFields
	CompanyName field[string]
	Gender      field[string]
}

// fieldValue is a custom field value of a write, its field resolved to an ID.
type fieldValue struct {
	id    string
	value any // nil clears the field
}

// resolveCustomFields maps the customFields of a write to field IDs, by ID
// or by key, and reports unknown keys in class-validator's words. An item
// whose field_value is absent or null changes nothing (the spec lets no
// field_value be null); an empty string or list clears the field.
func resolveCustomFields(l *locData, in []customFieldIn, ck *checks) []fieldValue {
	var out []fieldValue
	for i, f := range in {
		id := f.ID
		if id == "" {
			if f.Key == "" {
				ck.addf("customFields.%d.id should not be empty", i)
				continue
			}
			for _, d := range l.fields {
				if d.key == f.Key || strings.TrimPrefix(d.key, "contact.") == f.Key {
					id = d.id
				}
			}
			if id == "" {
				ck.addf("customFields.%d.key %s is not a custom field of this location", i, f.Key)
				continue
			}
		}
		v, has := f.Value.get()
		if !has {
			continue
		}
		switch x := v.(type) {
		case string:
			if x == "" {
				v = nil
			}
		case []any:
			if len(x) == 0 {
				v = nil
			}
		}
		out = append(out, fieldValue{id: id, value: v})
	}
	return out
}

// applyPatch applies p to c: only the fields present in p change.
func applyPatch(c *Contact, p *contactPatch, fields []fieldValue) {
	str := func(dst *string, f field[string]) bool {
		if f.absent() {
			return false
		}
		v, _ := f.get()
		*dst = strings.TrimSpace(v)
		return true
	}
	first := str(&c.FirstName, p.FirstName)
	last := str(&c.LastName, p.LastName)
	switch {
	case first || last:
		c.Name = strings.TrimSpace(c.FirstName + " " + c.LastName)
	case p.Name.isNull():
		c.Name, c.FirstName, c.LastName = "", "", ""
	case !p.Name.absent():
		name, _ := p.Name.get()
		c.Name = strings.Join(strings.Fields(name), " ")
		c.FirstName, c.LastName, _ = strings.Cut(c.Name, " ")
	}
	str(&c.Email, p.Email)
	if str(&c.Phone, p.Phone) {
		c.Phone = normalizePhone(c.Phone)
	}
	str(&c.Address1, p.Address1)
	str(&c.City, p.City)
	str(&c.State, p.State)
	str(&c.PostalCode, p.PostalCode)
	str(&c.Website, p.Website)
	str(&c.Timezone, p.Timezone)
	str(&c.Source, p.Source)
	str(&c.Country, p.Country)
	str(&c.AssignedTo, p.AssignedTo)
	str(&c.CompanyName, p.CompanyName)
	str(&c.Gender, p.Gender)
	str(&c.DateOfBirth, p.DateOfBirth)
	if v, has := p.DND.get(); has {
		c.DND = v
	}
	if v, has := p.DNDSettings.get(); has {
		c.DNDSettings = cloneDND(&v)
	}
	if v, has := p.InboundDNDSettings.get(); has {
		c.InboundDNDSettings = cloneInboundDND(&v)
	}
	if tags, has := p.Tags.get(); has {
		// The spec: "This field will overwrite all current tags".
		c.Tags = addTags(nil, tags)
	}
	for _, f := range fields {
		i := slices.IndexFunc(c.CustomFields, func(v CustomFieldValue) bool { return v.ID == f.id })
		switch {
		case f.value == nil && i >= 0:
			c.CustomFields = slices.Delete(c.CustomFields, i, i+1)
		case f.value == nil:
		case i >= 0:
			c.CustomFields[i].Value = cloneAny(f.value)
		default:
			c.CustomFields = append(c.CustomFields, CustomFieldValue{ID: f.id, Value: cloneAny(f.value)})
		}
	}
	normalizeContact(c)
}

// normalizeContact fills the fields HighLevel derives from others.
func normalizeContact(c *Contact) {
	c.FirstNameLowerCase = strings.ToLower(c.FirstName)
	c.LastNameLowerCase = strings.ToLower(c.LastName)
	c.FullNameLowerCase = strings.ToLower(c.Name)
	c.EmailLowerCase = strings.ToLower(c.Email)
	if c.Tags == nil {
		c.Tags = []string{}
	}
}

// addTags appends the tags not yet in have (compared case-insensitively,
// first spelling kept) and returns the result and what was added.
func addTags(have, add []string) []string {
	out, _ := mergeTags(have, add)
	return out
}

func mergeTags(have, add []string) (all, added []string) {
	all = append([]string{}, have...)
	added = []string{}
	for _, t := range add {
		t = strings.TrimSpace(t)
		if t == "" || containsFold(all, t) {
			continue
		}
		all = append(all, t)
		added = append(added, t)
	}
	return all, added
}

// dropTags removes the tags in drop (case-insensitively) and returns the
// result and what was removed.
func dropTags(have, drop []string) (kept, removed []string) {
	kept, removed = []string{}, []string{}
	for _, t := range have {
		if containsFold(drop, t) {
			removed = append(removed, t)
		} else {
			kept = append(kept, t)
		}
	}
	return kept, removed
}

func containsFold(list []string, s string) bool {
	return slices.ContainsFunc(list, func(v string) bool { return strings.EqualFold(strings.TrimSpace(v), strings.TrimSpace(s)) })
}

// normalizePhone writes a phone number the way HighLevel stores it (E.164)
// when its digits allow, and leaves anything else as typed.
func normalizePhone(p string) string {
	p = strings.TrimSpace(p)
	if p == "" {
		return ""
	}
	var digits strings.Builder
	for _, r := range p {
		switch {
		case r >= '0' && r <= '9':
			digits.WriteRune(r)
		case strings.ContainsRune(" -().+", r):
		default:
			return p // letters, extensions: not a number we can rewrite
		}
	}
	d := digits.String()
	switch {
	case strings.HasPrefix(p, "+") && len(d) >= 7 && len(d) <= 15:
		return "+" + d
	case len(d) == 10:
		return "+1" + d
	case len(d) == 11 && d[0] == '1':
		return "+" + d
	}
	return p
}

// samePhone compares phone numbers by their normalized form, or by their
// digits when one was typed without a country code.
func samePhone(a, b string) bool {
	na, nb := normalizePhone(a), normalizePhone(b)
	if na == nb {
		return true
	}
	da, db := digitsOf(na), digitsOf(nb)
	return len(da) >= 7 && da == db
}

func digitsOf(s string) string {
	var b strings.Builder
	for _, r := range s {
		if r >= '0' && r <= '9' {
			b.WriteRune(r)
		}
	}
	return b.String()
}

// formatTime writes a time as the API does: UTC, milliseconds, "Z".
func formatTime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z") }

// formatMillis writes epoch milliseconds as formatTime does.
func formatMillis(ms int64) string { return formatTime(time.UnixMilli(ms)) }

// formatEventTime writes a time as the appointments endpoint does.
func formatEventTime(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05") }

// cloneContact returns a deep copy of c.
func cloneContact(c Contact) Contact {
	out := c
	out.Tags = append([]string{}, c.Tags...)
	out.Followers = slices.Clone(c.Followers)
	if c.CustomFields != nil {
		out.CustomFields = make([]CustomFieldValue, len(c.CustomFields))
		for i, f := range c.CustomFields {
			out.CustomFields[i] = CustomFieldValue{ID: f.ID, Value: cloneAny(f.Value)}
		}
	}
	out.DNDSettings = cloneDND(c.DNDSettings)
	out.InboundDNDSettings = cloneInboundDND(c.InboundDNDSettings)
	out.Offers = slices.Clone(c.Offers)
	out.Products = slices.Clone(c.Products)
	out.AttributionSource = cloneAttribution(c.AttributionSource)
	out.LastAttributionSource = cloneAttribution(c.LastAttributionSource)
	out.Attributions = slices.Clone(c.Attributions)
	out.SearchAfter = nil
	return out
}

func cloneDND(d *DNDSettings) *DNDSettings {
	if d == nil {
		return nil
	}
	one := func(s *DNDSetting) *DNDSetting {
		if s == nil {
			return nil
		}
		v := *s
		return &v
	}
	return &DNDSettings{Call: one(d.Call), Email: one(d.Email), SMS: one(d.SMS),
		WhatsApp: one(d.WhatsApp), GMB: one(d.GMB), FB: one(d.FB)}
}

func cloneInboundDND(d *InboundDNDSettings) *InboundDNDSettings {
	if d == nil {
		return nil
	}
	out := &InboundDNDSettings{}
	if d.All != nil {
		v := *d.All
		out.All = &v
	}
	return out
}

func cloneAttribution(a *Attribution) *Attribution {
	if a == nil {
		return nil
	}
	v := *a
	return &v
}

// cloneAny deep-copies a decoded JSON value.
func cloneAny(v any) any {
	switch x := v.(type) {
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = cloneAny(e)
		}
		return out
	case []string:
		return slices.Clone(x)
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = cloneAny(e)
		}
		return out
	}
	return v
}

func cloneTasks(ts []wireTask) []wireTask {
	return append([]wireTask{}, ts...)
}

func cloneNotes(ns []wireNote) []wireNote {
	return append([]wireNote{}, ns...)
}

func cloneAppointments(as []wireAppointment) []wireAppointment {
	out := make([]wireAppointment, len(as))
	for i, a := range as {
		out[i] = a
		out[i].Users = slices.Clone(a.Users)
		out[i].AssignedResources = slices.Clone(a.AssignedResources)
	}
	return out
}

// randomID returns n characters of [A-Za-z0-9], the shape of HighLevel's IDs.
func randomID(r *rand.Rand, n int) string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	b := make([]byte, n)
	for i := range b {
		b[i] = alphabet[r.IntN(len(alphabet))]
	}
	return string(b)
}

// isFirebaseID reports whether id has the shape of a contact ID.
func isFirebaseID(id string) bool {
	if len(id) != 20 {
		return false
	}
	for _, r := range id {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
			return false
		}
	}
	return true
}
