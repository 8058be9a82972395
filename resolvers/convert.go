// This file converts between the upstream client's types and the GraphQL
// models. The two are kept apart on purpose: the API's JSON may change
// without the GraphQL schema changing, and the other way round.

package resolvers

import (
	"strings"
	"time"

	"github.com/ghl-graphql/gateway/graph/model"
	"github.com/ghl-graphql/gateway/upstream"
)

// strPtr returns nil for "", so that absent API fields are null in GraphQL.
func strPtr(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// timeLayouts are the forms in which the API writes instants.
var timeLayouts = []string{
	time.RFC3339Nano,
	"2006-01-02T15:04:05.000Z0700",
	"2006-01-02T15:04:05Z0700",
}

// parseTime reads an API instant; nil when absent or unreadable, since a
// garbled date must not fail the whole contact.
func parseTime(s string) *time.Time {
	if s == "" {
		return nil
	}
	for _, layout := range timeLayouts {
		if t, err := time.Parse(layout, s); err == nil {
			t = t.UTC()
			return &t
		}
	}
	return nil
}

// orEmpty returns a non-nil slice, for non-null GraphQL lists.
func orEmpty[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

func contactFromAPI(c *upstream.Contact) *model.Contact {
	name := c.Name
	if name == "" {
		name = strings.TrimSpace(c.FirstName + " " + c.LastName)
	}
	m := &model.Contact{
		ID:                 c.ID,
		LocationID:         c.LocationID,
		Name:               strPtr(name),
		FirstName:          strPtr(c.FirstName),
		LastName:           strPtr(c.LastName),
		Email:              strPtr(c.Email),
		Phone:              strPtr(c.Phone),
		CompanyName:        strPtr(c.CompanyName),
		Address1:           strPtr(c.Address1),
		City:               strPtr(c.City),
		State:              strPtr(c.State),
		PostalCode:         strPtr(c.PostalCode),
		Country:            strPtr(c.Country),
		Timezone:           strPtr(c.Timezone),
		Website:            strPtr(c.Website),
		Source:             strPtr(c.Source),
		Type:               strPtr(c.Type),
		Gender:             strPtr(c.Gender),
		DateOfBirth:        strPtr(string(c.DateOfBirth)),
		AssignedTo:         strPtr(c.AssignedTo),
		Dnd:                c.DND,
		DndSettings:        dndSettingsFromAPI(c.DNDSettings),
		InboundDndSettings: inboundDNDFromAPI(c.InboundDNDSettings),
		Tags:               orEmpty(c.Tags),
		Followers:          orEmpty([]string(c.Followers)),
		CustomFields:       make([]model.CustomFieldValue, 0, len(c.CustomFields)),
		BusinessID:         strPtr(c.BusinessID),
		Keyword:            strPtr(c.Keyword),
		DateAdded:          parseTime(c.DateAdded),
		DateUpdated:        parseTime(c.DateUpdated),
		LastActivity:       parseTime(c.LastActivity),

		LastSessionActivityAt: parseTime(c.LastSessionActivityAt),
		FirstNameLowerCase:    strPtr(c.FirstNameLowerCase),
		LastNameLowerCase:     strPtr(c.LastNameLowerCase),
		FullNameLowerCase:     strPtr(c.FullNameLowerCase),
		EmailLowerCase:        strPtr(c.EmailLowerCase),
		BirthMonth:            intPtr(int(c.BirthMonth)),
		BirthDay:              intPtr(int(c.BirthDay)),
		Ssn:                   strPtr(string(c.SSN)),
		Attachments:           strPtr(string(c.Attachments)),
		VisitorID:             strPtr(c.VisitorID),
		BounceEmail:           c.BounceEmail,
		UnsubscribeEmail:      c.UnsubscribeEmail,
		Deleted:               c.Deleted,
		Offers:                orEmpty(c.Offers),
		Products:              orEmpty(c.Products),

		AttributionSource:     attributionFromAPI(c.AttributionSource),
		LastAttributionSource: attributionFromAPI(c.LastAttributionSource),
	}
	for _, f := range c.CustomFields {
		m.CustomFields = append(m.CustomFields, model.CustomFieldValue{FieldID: f.ID, Value: f.Value})
	}
	m.Attributions = attributionsFromAPI(c, m.AttributionSource, m.LastAttributionSource)
	return m
}

// intPtr returns nil for 0, which the API's birthMonth and birthDay never
// are when recorded.
func intPtr(n int) *int {
	if n == 0 {
		return nil
	}
	return &n
}

// attributionsFromAPI is the contact's attributions, first to last: the
// list a search or listing carries, else the first and latest a read by ID
// carries (first and last, already converted; the latest once when it is
// the first).
func attributionsFromAPI(c *upstream.Contact, first, last *model.Attribution) []model.Attribution {
	if len(c.Attributions) > 0 {
		out := make([]model.Attribution, 0, len(c.Attributions))
		for i := range c.Attributions {
			out = append(out, *attributionFromAPI(&c.Attributions[i]))
		}
		return out
	}
	switch {
	case first == nil && last == nil:
		return []model.Attribution{}
	case last == nil || first != nil && *c.LastAttributionSource == *c.AttributionSource:
		return []model.Attribution{*first}
	case first == nil:
		return []model.Attribution{*last}
	}
	return []model.Attribution{*first, *last}
}

func dndStatusFromAPI(s string) model.DndStatus {
	switch strings.ToLower(s) {
	case upstream.DNDActive:
		return model.DndStatusActive
	case upstream.DNDPermanent:
		return model.DndStatusPermanent
	}
	return model.DndStatusInactive
}

func dndStatusToAPI(s model.DndStatus) string {
	switch s {
	case model.DndStatusActive:
		return upstream.DNDActive
	case model.DndStatusPermanent:
		return upstream.DNDPermanent
	}
	return upstream.DNDInactive
}

func dndSettingFromAPI(s *upstream.DNDSetting) *model.DndSetting {
	if s == nil {
		return nil
	}
	return &model.DndSetting{Status: dndStatusFromAPI(s.Status), Message: strPtr(s.Message), Code: strPtr(s.Code)}
}

func dndSettingsFromAPI(s *upstream.DNDSettings) *model.DndSettings {
	if s == nil {
		return nil
	}
	return &model.DndSettings{
		Call:     dndSettingFromAPI(s.Call),
		Email:    dndSettingFromAPI(s.Email),
		Sms:      dndSettingFromAPI(s.SMS),
		WhatsApp: dndSettingFromAPI(s.WhatsApp),
		Gmb:      dndSettingFromAPI(s.GMB),
		Fb:       dndSettingFromAPI(s.FB),
	}
}

func inboundDNDFromAPI(s *upstream.InboundDNDSettings) *model.InboundDndSettings {
	if s == nil {
		return nil
	}
	out := &model.InboundDndSettings{}
	if s.All != nil {
		out.All = &model.InboundDndSetting{Status: dndStatusFromAPI(s.All.Status), Message: strPtr(s.All.Message)}
	}
	return out
}

func attributionFromAPI(a *upstream.Attribution) *model.Attribution {
	if a == nil {
		return nil
	}
	return &model.Attribution{
		URL: strPtr(a.URL), Campaign: strPtr(a.Campaign), CampaignID: strPtr(a.CampaignID),
		UtmSource: strPtr(a.UTMSource), UtmMedium: strPtr(a.UTMMedium), UtmContent: strPtr(a.UTMContent),
		Referrer: strPtr(a.Referrer), Fbclid: strPtr(a.FBCLID), Gclid: strPtr(a.GCLID),
		Msclkid: strPtr(a.MSCLKID), Dclid: strPtr(a.DCLID), Fbc: strPtr(a.FBC), Fbp: strPtr(a.FBP),
		FbEventID: strPtr(a.FBEventID), UserAgent: strPtr(a.UserAgent), IP: strPtr(a.IP),
		Medium: strPtr(a.Medium), MediumID: strPtr(a.MediumID), SessionSource: strPtr(a.SessionSource),
	}
}

func taskFromAPI(t *upstream.Task, contactID string) model.Task {
	cid := t.ContactID
	if cid == "" {
		cid = contactID
	}
	return model.Task{
		ID: t.ID, ContactID: cid, Title: t.Title, Body: strPtr(t.Body),
		AssignedTo: strPtr(t.AssignedTo), DueDate: parseTime(t.DueDate), Completed: t.Completed,
	}
}

func noteFromAPI(n *upstream.Note, contactID string) model.Note {
	cid := n.ContactID
	if cid == "" {
		cid = contactID
	}
	return model.Note{
		ID: n.ID, ContactID: cid, Body: n.Body, Title: strPtr(n.Title), Color: strPtr(n.Color),
		Pinned: n.Pinned, UserID: strPtr(n.UserID), DateAdded: parseTime(n.DateAdded),
	}
}

func appointmentFromAPI(a *upstream.Appointment) model.Appointment {
	return model.Appointment{
		ID: a.ID, ContactID: strPtr(a.ContactID), CalendarID: strPtr(a.CalendarID),
		LocationID: strPtr(a.LocationID), Title: strPtr(a.Title), Status: strPtr(a.Status),
		AppointmentStatus: strPtr(a.AppointmentStatus), StartTime: strPtr(a.StartTime),
		EndTime: strPtr(a.EndTime), Address: strPtr(a.Address), Notes: strPtr(a.Notes),
		AssignedUserID: strPtr(a.AssignedUserID), Users: orEmpty([]string(a.Users)),
		AssignedResources: orEmpty([]string(a.AssignedResources)), GroupID: strPtr(a.GroupID),
		DateAdded: strPtr(a.DateAdded), DateUpdated: strPtr(a.DateUpdated),
	}
}

// formatTime writes an instant the way the API reads it.
func formatTime(t time.Time) string {
	return t.UTC().Format("2006-01-02T15:04:05.000Z")
}
