package webhook

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/ghl-graphql/gateway/events"
)

// maxIDBytes bounds every ID a payload carries: HighLevel's IDs are 20 to
// 24 characters, and IDs become cache tags and log fields.
const maxIDBytes = 128

// ErrUnknownType is returned by Parse for a well-formed payload of an event
// type the gateway does not act on; the handler acknowledges it (HighLevel
// would retry anything else) and counts it.
var ErrUnknownType = errors.New("webhook: unknown event type")

// errPayload wraps every reason Parse refuses a payload.
var errPayload = errors.New("webhook payload")

// kinds maps each event type the gateway understands to what it is about.
var kinds = map[string]struct {
	object events.Object
	kind   events.Kind
}{
	"ContactCreate":     {events.ObjectContact, events.KindCreated},
	"ContactUpdate":     {events.ObjectContact, events.KindUpdated},
	"ContactDelete":     {events.ObjectContact, events.KindDeleted},
	"ContactTagUpdate":  {events.ObjectContact, events.KindTagsChange},
	"ContactDndUpdate":  {events.ObjectContact, events.KindDNDChange},
	"NoteCreate":        {events.ObjectNote, events.KindCreated},
	"NoteUpdate":        {events.ObjectNote, events.KindUpdated},
	"NoteDelete":        {events.ObjectNote, events.KindDeleted},
	"TaskCreate":        {events.ObjectTask, events.KindCreated},
	"TaskComplete":      {events.ObjectTask, events.KindCompleted},
	"TaskDelete":        {events.ObjectTask, events.KindDeleted},
	"AppointmentCreate": {events.ObjectAppointment, events.KindCreated},
	"AppointmentUpdate": {events.ObjectAppointment, events.KindUpdated},
	"AppointmentDelete": {events.ObjectAppointment, events.KindDeleted},
}

// Types returns the event types the gateway understands.
func Types() []string {
	out := make([]string, 0, len(kinds))
	for t := range kinds {
		out = append(out, t)
	}
	return out
}

// envelope is what the gateway reads of a payload: the common fields and
// the IDs. Everything else is kept as received in Change.Payload.
type envelope struct {
	Type        string `json:"type"`
	LocationID  string `json:"locationId"`
	Timestamp   string `json:"timestamp"`
	WebhookID   string `json:"webhookId"`
	ID          string `json:"id"`
	ContactID   string `json:"contactId"`
	Appointment *struct {
		ID        string `json:"id"`
		ContactID string `json:"contactId"`
	} `json:"appointment"`
}

// Parse reads a verified payload into a Change. It refuses (an error
// wrapping errPayload) a body that is not a JSON object, lacks type,
// locationId, timestamp (RFC 3339) or webhookId, carries an ID that is too
// long or holds control characters, or lacks the ID of the object its type
// is about. A payload of an unknown type that is otherwise well formed
// returns the Change (Object and Kind empty) and ErrUnknownType. contactId
// is optional for tasks, notes and appointments (TaskCreate is reported to
// omit it): the Change then leaves ContactID empty, never guessed.
func Parse(body []byte) (events.Change, error) {
	trimmed := bytes.TrimLeft(body, " \t\r\n")
	if len(trimmed) == 0 || trimmed[0] != '{' {
		return events.Change{}, fmt.Errorf("%w: not a JSON object", errPayload)
	}
	var env envelope
	if err := json.Unmarshal(body, &env); err != nil {
		return events.Change{}, fmt.Errorf("%w: not a JSON object of the expected shape", errPayload)
	}
	switch {
	case env.Type == "":
		return events.Change{}, fmt.Errorf("%w: type missing", errPayload)
	case env.LocationID == "":
		return events.Change{}, fmt.Errorf("%w: locationId missing", errPayload)
	case env.WebhookID == "":
		return events.Change{}, fmt.Errorf("%w: webhookId missing", errPayload)
	case env.Timestamp == "":
		return events.Change{}, fmt.Errorf("%w: timestamp missing", errPayload)
	}
	at, err := time.Parse(time.RFC3339Nano, env.Timestamp)
	if err != nil {
		return events.Change{}, fmt.Errorf("%w: timestamp is not RFC 3339", errPayload)
	}
	if len(env.Type) > maxIDBytes || !cleanID(env.Type) {
		return events.Change{}, fmt.Errorf("%w: type is not a name", errPayload)
	}
	c := events.Change{Type: env.Type, LocationID: env.LocationID, WebhookID: env.WebhookID, At: at, Payload: body}
	k, known := kinds[env.Type]
	if known {
		c.Object, c.Kind = k.object, k.kind
		switch k.object {
		case events.ObjectContact:
			c.ContactID = env.ID
		case events.ObjectAppointment:
			if env.Appointment != nil {
				c.ObjectID, c.ContactID = env.Appointment.ID, env.Appointment.ContactID
			}
		default:
			c.ObjectID, c.ContactID = env.ID, env.ContactID
		}
	}
	for _, f := range [...]struct{ name, v string }{{"locationId", c.LocationID}, {"webhookId", c.WebhookID},
		{"contactId", c.ContactID}, {"id", c.ObjectID}} {
		if len(f.v) > maxIDBytes || !cleanID(f.v) {
			return events.Change{}, fmt.Errorf("%w: %s is not an ID", errPayload, f.name)
		}
	}
	if !known {
		return c, ErrUnknownType
	}
	if c.Object == events.ObjectContact && c.ContactID == "" {
		return events.Change{}, fmt.Errorf("%w: id missing", errPayload)
	}
	if c.Object != events.ObjectContact && c.ObjectID == "" {
		return events.Change{}, fmt.Errorf("%w: the %s's id missing", errPayload, c.Object)
	}
	return c, nil
}

// cleanID reports whether s holds only printable ASCII without spaces: IDs
// become cache tags, log fields and shard keys.
func cleanID(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] > '~' {
			return false
		}
	}
	return true
}
