// This file holds a contact's appointments.

package upstream

import "context"

// AppointmentsService calls the appointment endpoint of a contact.
type AppointmentsService service

// Appointment is a calendar event booked for a contact. Its times come as
// "2021-07-16 11:00:00" (no zone) from this endpoint.
type Appointment struct {
	ID                string     `json:"id"`
	CalendarID        string     `json:"calendarId,omitempty"`
	Status            string     `json:"status,omitempty"`
	Title             string     `json:"title,omitempty"`
	AssignedUserID    string     `json:"assignedUserId,omitempty"`
	Notes             string     `json:"notes,omitempty"`
	StartTime         string     `json:"startTime,omitempty"`
	EndTime           string     `json:"endTime,omitempty"`
	Address           string     `json:"address,omitempty"`
	LocationID        string     `json:"locationId,omitempty"`
	ContactID         string     `json:"contactId,omitempty"`
	GroupID           string     `json:"groupId,omitempty"`
	AppointmentStatus string     `json:"appointmentStatus,omitempty"`
	Users             StringList `json:"users,omitempty"`
	DateAdded         string     `json:"dateAdded,omitempty"`
	DateUpdated       string     `json:"dateUpdated,omitempty"`
	AssignedResources StringList `json:"assignedResources,omitempty"`
}

type eventsEnvelope struct {
	Events []Appointment `json:"events"`
}

func (e *eventsEnvelope) missingField() string {
	if e.Events == nil {
		return "events"
	}
	return ""
}

// List returns the appointments of a contact.
//
// API: GET /contacts/{contactId}/appointments (get-appointments-for-contact).
func (s *AppointmentsService) List(ctx context.Context, contactID string) ([]Appointment, *Response, error) {
	var out eventsEnvelope
	resp, err := s.client.call(ctx, OpListAppointments, []string{contactID}, nil, nil, &out)
	if err != nil {
		return nil, resp, err
	}
	return out.Events, resp, nil
}
