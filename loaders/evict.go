// This file says which cached answers a change makes stale, in the cache's
// tags: Stale describes a change's reach, Evict removes what it reaches
// from the shared cache (and so from the whole-response cache, whose
// entries carry the tags of the answers they were built from), and
// StaleOf reads the reach of a change HighLevel reported by webhook.

package loaders

import (
	"strings"

	"github.com/ghl-graphql/gateway/events"
)

// Fine tags, beside tagContact (everything about a contact) and the search
// tags. A location-wide tag of an answer read with a credential whose
// location is unknown uses the location "*", which every location-wide
// eviction evicts too.
func tagContactObject(id string) string { return "co:" + id }
func tagTaskList(id string) string      { return "ct:" + id }
func tagNoteList(id string) string      { return "cn:" + id }
func tagApptList(id string) string      { return "ca:" + id }
func tagTask(id string) string          { return "t:" + id }
func tagNote(id string) string          { return "n:" + id }
func tagLocTasks(loc string) string     { return "lt:" + orAny(loc) }
func tagLocNotes(loc string) string     { return "ln:" + orAny(loc) }
func tagLocAppts(loc string) string     { return "la:" + orAny(loc) }

func orAny(loc string) string {
	if loc == "" {
		return "*"
	}
	return loc
}

// contactTags are the tags of an answer of this kind about contactID
// (childID: the task or note), read with a credential of location loc.
func contactTags(kind, loc, contactID string, childID ...string) []string {
	tags := []string{tagContact(contactID)}
	switch kind {
	case "contact":
		tags = append(tags, tagContactObject(contactID))
	case "tasks":
		tags = append(tags, tagTaskList(contactID), tagLocTasks(loc))
	case "task":
		tags = append(tags, tagTask(childID[0]), tagLocTasks(loc))
	case "notes":
		tags = append(tags, tagNoteList(contactID), tagLocNotes(loc))
	case "note":
		tags = append(tags, tagNote(childID[0]), tagLocNotes(loc))
	case "appointments":
		tags = append(tags, tagApptList(contactID), tagLocAppts(loc))
	}
	return tags
}

// Stale is the reach of a change: which cached answers it makes stale.
// Answers of every credential are reached (tags do not name credentials).
type Stale struct {
	// LocationID is the change's location; "" when unknown (then the
	// location-wide parts reach every location).
	LocationID string
	// Contacts lose everything: the contact, its lists, its tasks and notes.
	Contacts []string
	// ContactObjects lose the contact object only (its tasks, notes and
	// appointments stay).
	ContactObjects []string
	// TaskLists, NoteLists and ApptLists are contacts whose list of that
	// kind is stale.
	TaskLists, NoteLists, ApptLists []string
	// Tasks and Notes are single tasks and notes that are stale, whoever
	// their contact.
	Tasks, Notes []string
	// LocationTasks, LocationNotes and LocationAppts make every list of
	// that kind (and every single task or note) of the location stale: for
	// a change whose contact is not known.
	LocationTasks, LocationNotes, LocationAppts bool
	// Searches makes the location's searches and listings stale.
	Searches bool
}

// tags returns the cache tags of s.
func (s Stale) tags() []string {
	var tags []string
	add := func(f func(string) string, ids []string) {
		for _, id := range ids {
			tags = append(tags, f(id))
		}
	}
	add(tagContact, s.Contacts)
	add(tagContactObject, s.ContactObjects)
	add(tagTaskList, s.TaskLists)
	add(tagNoteList, s.NoteLists)
	add(tagApptList, s.ApptLists)
	add(tagTask, s.Tasks)
	add(tagNote, s.Notes)
	locWide := func(on bool, f func(string) string) {
		if !on {
			return
		}
		if s.LocationID == "" {
			tags = append(tags, f("*")) // best effort: "*" marks answers of unknown location
			return
		}
		tags = append(tags, f(s.LocationID), f("*"))
	}
	locWide(s.LocationTasks, tagLocTasks)
	locWide(s.LocationNotes, tagLocNotes)
	locWide(s.LocationAppts, tagLocAppts)
	if s.Searches {
		if s.LocationID == "" {
			tags = append(tags, tagAllSearches)
		} else {
			tags = append(tags, tagSearch(s.LocationID))
		}
	}
	return tags
}

// Evict removes every cached answer s reaches, in one invalidation (which
// also advances the cache's epoch, so that an answer fetched before it is
// not stored after it). Mutations reach it through Invalidate, webhooks
// directly.
func (r *Reader) Evict(s Stale) {
	if r.cache == nil {
		return
	}
	if tags := s.tags(); len(tags) > 0 {
		r.cache.Invalidate(tags...)
		if r.shared != nil {
			// Every replica, before the write answers (shared.go).
			r.shared.evict(s, tags)
		}
	}
}

// EvictLocal removes what s reaches from this replica's cache only: for a
// change another replica has already evicted everywhere (an event that
// came over the replicas' bus), where Evict would spread it again, once
// per replica that heard it.
func (r *Reader) EvictLocal(s Stale) {
	if r.cache == nil {
		return
	}
	if tags := s.tags(); len(tags) > 0 {
		r.cache.Invalidate(tags...)
	}
}

// StaleOf returns the reach of a change HighLevel reported:
//
//   - a contact created, updated, tagged or DND-changed: the contact object
//     and the location's searches (its lists are untouched);
//   - a contact deleted: everything about it, and the searches;
//   - a task or note created, updated, completed or deleted: the contact's
//     list of that kind and the object itself; without a contactId, the
//     object and every list of that kind in the location (never a guess);
//   - an appointment: the contact's appointments, or without a contactId
//     every appointment list of the location.
//
// A change of an unknown object reaches nothing.
func StaleOf(c events.Change) Stale {
	s := Stale{LocationID: c.LocationID}
	one := func(id string) []string {
		if id == "" {
			return nil
		}
		return []string{id}
	}
	switch c.Object {
	case events.ObjectContact:
		s.Searches = true
		if c.Kind == events.KindDeleted {
			s.Contacts = one(c.ContactID)
		} else {
			s.ContactObjects = one(c.ContactID)
		}
	case events.ObjectTask:
		s.Tasks = one(c.ObjectID)
		if c.ContactID != "" {
			s.TaskLists = one(c.ContactID)
		} else {
			s.LocationTasks = true
		}
	case events.ObjectNote:
		s.Notes = one(c.ObjectID)
		if c.ContactID != "" {
			s.NoteLists = one(c.ContactID)
		} else {
			s.LocationNotes = true
		}
	case events.ObjectAppointment:
		if c.ContactID != "" {
			s.ApptLists = one(c.ContactID)
		} else {
			s.LocationAppts = true
		}
	}
	return s
}

// IsTaskTag reports whether tag marks an answer about tasks (a contact's
// task list, one task, or a location's task lists), which no webhook
// reports every change of (HighLevel has no TaskUpdate event).
func IsTaskTag(tag string) bool {
	return strings.HasPrefix(tag, "ct:") || strings.HasPrefix(tag, "t:") || strings.HasPrefix(tag, "lt:")
}
