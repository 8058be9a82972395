package webhook

import (
	"errors"
	"strings"
	"testing"

	"github.com/ghl-graphql/gateway/events"
)

const common = `"locationId":"ve9EPM428h8vShlRW1KT","timestamp":"2025-01-28T14:35:00Z","webhookId":"abc123xyz"`

// TestParseEveryEventType reads each documented event type (payloads from
// webhook-events/, with timestamp and webhookId) into its Change.
func TestParseEveryEventType(t *testing.T) {
	contact := `"id":"nmFmQEsNgz6AVpgLVUJ0","firstName":"John","tags":["a"],"dnd":true,"customFields":[{"id":"x","value":"XYZ Corp"}]`
	task := `"id":"UlRWGLSXh0ji5qbiGu4i","assignedTo":"63e4","body":"Loram","contactId":"CWBf1PR9LvvBkcYqiXlc","title":"T","dateAdded":"2021-11-26T12:41:02.193Z","dueDate":"2021-11-26T12:41:02.193Z"`
	note := `"id":"otg8dTQqGLh3Q6iQI55w","body":"Loram ipsum","contactId":"CWBf1PR9LvvBkcYqiXlc","dateAdded":"2021-11-26T12:41:02.193Z"`
	appt := `"appointment":{"id":"0007BWpSzSwfiuSl0tR2","calendarId":"Bq","contactId":"9NkT25Vor1v4aQatFsv2","users":["a"],"startTime":"2023-09-25T16:00:00+05:30"}`
	for _, tc := range []struct {
		typ, fields         string
		object              events.Object
		kind                events.Kind
		contactID, objectID string
	}{
		{"ContactCreate", contact, events.ObjectContact, events.KindCreated, "nmFmQEsNgz6AVpgLVUJ0", ""},
		{"ContactUpdate", contact, events.ObjectContact, events.KindUpdated, "nmFmQEsNgz6AVpgLVUJ0", ""},
		{"ContactDelete", contact, events.ObjectContact, events.KindDeleted, "nmFmQEsNgz6AVpgLVUJ0", ""},
		{"ContactTagUpdate", contact, events.ObjectContact, events.KindTagsChange, "nmFmQEsNgz6AVpgLVUJ0", ""},
		{"ContactDndUpdate", contact + `,"dndSettings":{"SMS":{"status":"inactive","message":"m","code":"101"}}`, events.ObjectContact, events.KindDNDChange, "nmFmQEsNgz6AVpgLVUJ0", ""},
		{"NoteCreate", note, events.ObjectNote, events.KindCreated, "CWBf1PR9LvvBkcYqiXlc", "otg8dTQqGLh3Q6iQI55w"},
		{"NoteUpdate", note, events.ObjectNote, events.KindUpdated, "CWBf1PR9LvvBkcYqiXlc", "otg8dTQqGLh3Q6iQI55w"},
		{"NoteDelete", note, events.ObjectNote, events.KindDeleted, "CWBf1PR9LvvBkcYqiXlc", "otg8dTQqGLh3Q6iQI55w"},
		{"TaskCreate", task, events.ObjectTask, events.KindCreated, "CWBf1PR9LvvBkcYqiXlc", "UlRWGLSXh0ji5qbiGu4i"},
		{"TaskCreate", strings.Replace(task, `"contactId":"CWBf1PR9LvvBkcYqiXlc",`, "", 1), events.ObjectTask, events.KindCreated, "", "UlRWGLSXh0ji5qbiGu4i"},
		{"TaskComplete", task, events.ObjectTask, events.KindCompleted, "CWBf1PR9LvvBkcYqiXlc", "UlRWGLSXh0ji5qbiGu4i"},
		{"TaskDelete", task, events.ObjectTask, events.KindDeleted, "CWBf1PR9LvvBkcYqiXlc", "UlRWGLSXh0ji5qbiGu4i"},
		{"AppointmentCreate", appt, events.ObjectAppointment, events.KindCreated, "9NkT25Vor1v4aQatFsv2", "0007BWpSzSwfiuSl0tR2"},
		{"AppointmentUpdate", appt, events.ObjectAppointment, events.KindUpdated, "9NkT25Vor1v4aQatFsv2", "0007BWpSzSwfiuSl0tR2"},
		{"AppointmentDelete", appt, events.ObjectAppointment, events.KindDeleted, "9NkT25Vor1v4aQatFsv2", "0007BWpSzSwfiuSl0tR2"},
	} {
		body := `{"type":"` + tc.typ + `",` + common + `,` + tc.fields + `}`
		c, err := Parse([]byte(body))
		if err != nil {
			t.Errorf("%s: %v", tc.typ, err)
			continue
		}
		if c.Type != tc.typ || c.Object != tc.object || c.Kind != tc.kind || c.ContactID != tc.contactID ||
			c.ObjectID != tc.objectID || c.LocationID != "ve9EPM428h8vShlRW1KT" || c.WebhookID != "abc123xyz" ||
			c.At.IsZero() || string(c.Payload) != body {
			t.Errorf("%s: %+v", tc.typ, c)
		}
	}
	if len(kinds) != 14 {
		t.Errorf("%d event types understood, want the 14 of webhook-events/", len(kinds))
	}
}

func TestParseRefuses(t *testing.T) {
	for name, body := range map[string]string{
		"empty":              ``,
		"array":              `[]`,
		"string":             `"x"`,
		"not JSON":           `{"type":`,
		"no type":            `{` + common + `,"id":"c1"}`,
		"type not a string":  `{"type":1,` + common + `}`,
		"no location":        `{"type":"ContactUpdate","timestamp":"2025-01-28T14:35:00Z","webhookId":"w","id":"c1"}`,
		"no timestamp":       `{"type":"ContactUpdate","locationId":"l","webhookId":"w","id":"c1"}`,
		"bad timestamp":      `{"type":"ContactUpdate","locationId":"l","webhookId":"w","id":"c1","timestamp":"yesterday"}`,
		"no webhookId":       `{"type":"ContactUpdate","locationId":"l","timestamp":"2025-01-28T14:35:00Z","id":"c1"}`,
		"contact without id": `{"type":"ContactUpdate",` + common + `}`,
		"task without id":    `{"type":"TaskCreate",` + common + `,"contactId":"c"}`,
		"appt without id":    `{"type":"AppointmentCreate",` + common + `,"appointment":{"contactId":"c"}}`,
		"id with a space":    `{"type":"ContactUpdate",` + common + `,"id":"a b"}`,
		"id too long":        `{"type":"ContactUpdate",` + common + `,"id":"` + strings.Repeat("a", 200) + `"}`,
		"control in loc":     `{"type":"ContactUpdate","locationId":"l\u0000","timestamp":"2025-01-28T14:35:00Z","webhookId":"w","id":"c1"}`,
	} {
		if _, err := Parse([]byte(body)); err == nil || errors.Is(err, ErrUnknownType) {
			t.Errorf("%s: err = %v, want a refusal", name, err)
		}
	}
}

// FuzzParse: whatever comes in, Parse returns a Change with its IDs clean
// and bounded, or an error; it never panics.
func FuzzParse(f *testing.F) {
	f.Add([]byte(`{"type":"ContactUpdate",` + common + `,"id":"c1"}`))
	f.Add([]byte(`{"type":"TaskCreate",` + common + `,"id":"t1"}`))
	f.Add([]byte(`{"type":"AppointmentDelete",` + common + `,"appointment":{"id":"a","contactId":"c"}}`))
	f.Add([]byte(`{"type":"Nope",` + common + `}`))
	f.Add([]byte(`{"type":"NoteCreate",` + common + `,"id":"n","contactId":null,"appointment":null}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		c, err := Parse(body)
		if err != nil && !errors.Is(err, ErrUnknownType) {
			return
		}
		for _, id := range []string{c.LocationID, c.WebhookID, c.ContactID, c.ObjectID, c.Type} {
			if len(id) > maxIDBytes || !cleanID(id) {
				t.Fatalf("unclean ID %q from %q", id, body)
			}
		}
		if c.LocationID == "" || c.WebhookID == "" || c.At.IsZero() {
			t.Fatalf("accepted without location, webhookId or timestamp: %q", body)
		}
		if err == nil && c.Object == events.ObjectContact && c.ContactID == "" {
			t.Fatalf("contact event without contact: %q", body)
		}
	})
}
