// Package events is what the gateway learns of changes made in HighLevel,
// whichever way it learns them (a verified webhook today; a shared bus of
// several replicas later): the Change a webhook describes, and the Bus that
// carries changes from whoever learned them to whoever must act on them
// (cache invalidation, GraphQL subscriptions).
//
// The package holds only the contract, so that the webhook endpoint, the
// caches and the subscriptions can be built and tested apart; the
// in-process Bus lives beside it and a Redis one can follow (issue 13)
// without changing either side.
package events

import (
	"context"
	"time"
)

// Kind is what happened to an object.
type Kind string

// The kinds of change HighLevel's webhooks report.
const (
	KindCreated    Kind = "CREATED"
	KindUpdated    Kind = "UPDATED"
	KindDeleted    Kind = "DELETED"
	KindCompleted  Kind = "COMPLETED"    // a task was completed
	KindTagsChange Kind = "TAGS_CHANGED" // ContactTagUpdate
	KindDNDChange  Kind = "DND_CHANGED"  // ContactDndUpdate
)

// Object is the kind of object a change is about.
type Object string

// The objects HighLevel's contact webhooks describe.
const (
	ObjectContact     Object = "CONTACT"
	ObjectTask        Object = "TASK"
	ObjectNote        Object = "NOTE"
	ObjectAppointment Object = "APPOINTMENT"
)

// Change is one change HighLevel reported. IDs HighLevel left out of the
// payload are "" (TaskCreate is reported to lack contactId): consumers
// must then act on what they have (the object, the location) and never
// guess.
type Change struct {
	// Type is HighLevel's event type as received, e.g. "ContactUpdate".
	Type string
	// Object and Kind are what the change is about and what happened.
	Object Object
	Kind   Kind
	// LocationID is the sub-account the change belongs to (always set).
	LocationID string
	// ContactID is the contact concerned: the object itself for contact
	// events, its owner for tasks, notes and appointments; "" when unknown.
	ContactID string
	// ObjectID is the task's, note's or appointment's ID ("" for contact
	// events, whose object is ContactID).
	ObjectID string
	// WebhookID is HighLevel's ID of the delivery ("" when unknown).
	WebhookID string
	// At is when HighLevel says the change happened (the payload's
	// timestamp), or when it was received when the payload has none.
	At time.Time
	// Payload is the event's JSON body as received (after verification),
	// for consumers that can use the whole object; nil when not kept.
	Payload []byte
}

// Bus carries changes from publishers to subscribers. Implementations are
// safe for concurrent use. Publish never blocks on a slow subscriber: a
// subscriber that cannot keep up is dropped (its channel closed) rather
// than slowing the publisher or the others.
type Bus interface {
	// Publish delivers c to every current subscriber whose filter matches.
	Publish(ctx context.Context, c Change) error
	// Subscribe returns a channel of the changes of locationID that match
	// filter (nil matches all), buffered to hold buffer changes, and a
	// function that ends the subscription and closes the channel. The
	// channel is also closed when the subscriber fell behind by more than
	// buffer changes or ctx ends.
	Subscribe(ctx context.Context, locationID string, filter func(Change) bool, buffer int) (<-chan Change, func())
}
