// This file holds the sandbox's own wire format: the JSON of every answer it
// sends and every request body it accepts, written from HighLevel's OpenAPI
// file (apps/contacts.json) and its known corrections, never shared with
// package upstream. A wrong JSON tag in the client then disagrees with the
// sandbox, and the round-trip and request-validation tests catch it; were
// the types shared, the fake would mirror the client's mistake.
//
// The sandbox still imports package upstream for the operation table
// (upstream.Operations()), which says which routes exist, not what they carry.

package sandbox

import (
	"bytes"
	"encoding/json"
)

// Constants of the API, from the OpenAPI file and its documentation.
const (
	// apiVersion is the Version header every call must carry.
	apiVersion = "2021-07-28"

	// maxSearchPageLimit is the largest pageLimit of a search.
	maxSearchPageLimit = 500
	// maxSearchPagedResults is how far page/pageLimit paging reaches.
	maxSearchPagedResults = 10000

	// The rate-limit headers of every answer.
	headerRateLimitMax            = "X-RateLimit-Max"
	headerRateLimitRemaining      = "X-RateLimit-Remaining"
	headerRateLimitInterval       = "X-RateLimit-Interval-Milliseconds"
	headerRateLimitDaily          = "X-RateLimit-Limit-Daily"
	headerRateLimitDailyRemaining = "X-RateLimit-Daily-Remaining"
)

// DND statuses (DndSettingSchema.status; inbound takes the first two).
const (
	dndActive    = "active"
	dndInactive  = "inactive"
	dndPermanent = "permanent"
)

// The {type} of POST /contacts/bulk/tags/update/{type}.
const (
	bulkTagsAdd    = "add"
	bulkTagsRemove = "remove"
)

// Search filter operators and sort directions.
const (
	filterEq          = "eq"
	filterNotEq       = "not_eq"
	filterContains    = "contains"
	filterNotContains = "not_contains"
	filterExists      = "exists"
	filterNotExists   = "not_exists"
	filterRange       = "range"

	sortAsc  = "asc"
	sortDesc = "desc"
)

// Contact is a contact as the sandbox stores and answers it: the union of
// the spec's GetContectByIdSchema (get, update, upsert), CreateContactSchema
// (create) and ContactsSearchSchema (search and listings), plus fields the
// API is known to return beyond them (followers, gender, …). Fields the
// answer has no value for are left out, as the API does, except dnd and
// tags, which it always sends.
type Contact struct {
	ID                    string              `json:"id"`
	LocationID            string              `json:"locationId,omitempty"`
	Name                  string              `json:"name,omitempty"`
	FirstName             string              `json:"firstName,omitempty"`
	LastName              string              `json:"lastName,omitempty"`
	FirstNameLowerCase    string              `json:"firstNameLowerCase,omitempty"`
	LastNameLowerCase     string              `json:"lastNameLowerCase,omitempty"`
	FullNameLowerCase     string              `json:"fullNameLowerCase,omitempty"`
	Email                 string              `json:"email,omitempty"`
	EmailLowerCase        string              `json:"emailLowerCase,omitempty"`
	Phone                 string              `json:"phone,omitempty"`
	CompanyName           string              `json:"companyName,omitempty"`
	Address1              string              `json:"address1,omitempty"`
	City                  string              `json:"city,omitempty"`
	State                 string              `json:"state,omitempty"`
	Country               string              `json:"country,omitempty"`
	PostalCode            string              `json:"postalCode,omitempty"`
	Timezone              string              `json:"timezone,omitempty"`
	Website               string              `json:"website,omitempty"`
	Source                string              `json:"source,omitempty"`
	Type                  string              `json:"type,omitempty"`
	Gender                string              `json:"gender,omitempty"`
	AssignedTo            string              `json:"assignedTo,omitempty"`
	DND                   bool                `json:"dnd"`
	DNDSettings           *DNDSettings        `json:"dndSettings,omitempty"`
	InboundDNDSettings    *InboundDNDSettings `json:"inboundDndSettings,omitempty"`
	Tags                  []string            `json:"tags"`
	Followers             []string            `json:"followers,omitempty"`
	CustomFields          []CustomFieldValue  `json:"customFields,omitempty"`
	BusinessID            string              `json:"businessId,omitempty"`
	DateOfBirth           string              `json:"dateOfBirth,omitempty"`
	DateAdded             string              `json:"dateAdded,omitempty"`
	DateUpdated           string              `json:"dateUpdated,omitempty"`
	LastActivity          string              `json:"lastActivity,omitempty"`
	LastSessionActivityAt string              `json:"lastSessionActivityAt,omitempty"`
	Attachments           string              `json:"attachments,omitempty"`
	Keyword               string              `json:"keyword,omitempty"`
	VisitorID             string              `json:"visitorId,omitempty"`
	SSN                   string              `json:"ssn,omitempty"`
	BounceEmail           bool                `json:"bounceEmail,omitempty"`
	UnsubscribeEmail      bool                `json:"unsubscribeEmail,omitempty"`
	Deleted               bool                `json:"deleted,omitempty"`
	BirthMonth            int                 `json:"birthMonth,omitempty"`
	BirthDay              int                 `json:"birthDay,omitempty"`
	Offers                []string            `json:"offers,omitempty"`
	Products              []string            `json:"products,omitempty"`
	AttributionSource     *Attribution        `json:"attributionSource,omitempty"`
	LastAttributionSource *Attribution        `json:"lastAttributionSource,omitempty"`
	// Attributions is what search and listing items carry instead of the
	// two fields above.
	Attributions []Attribution `json:"attributions,omitempty"`
	// SearchAfter is the contact's cursor in a search answer.
	SearchAfter []json.RawMessage `json:"searchAfter,omitempty"`
}

// DNDSettings is DndSettingsSchema: the do-not-disturb setting per channel.
type DNDSettings struct {
	Call     *DNDSetting `json:"Call,omitempty"`
	Email    *DNDSetting `json:"Email,omitempty"`
	SMS      *DNDSetting `json:"SMS,omitempty"`
	WhatsApp *DNDSetting `json:"WhatsApp,omitempty"`
	GMB      *DNDSetting `json:"GMB,omitempty"`
	FB       *DNDSetting `json:"FB,omitempty"`
}

// DNDSetting is DndSettingSchema: status is active, inactive or permanent.
type DNDSetting struct {
	Status  string `json:"status"`
	Message string `json:"message,omitempty"`
	Code    string `json:"code,omitempty"`
}

// InboundDNDSettings is InboundDndSettingsSchema.
type InboundDNDSettings struct {
	All *InboundDNDSetting `json:"all,omitempty"`
}

// InboundDNDSetting is InboundDndSettingSchema: status is active or inactive.
type InboundDNDSetting struct {
	Status  string `json:"status"`
	Message string `json:"message,omitempty"`
}

// CustomFieldValue is CustomFieldSchema as answers carry it: the field's ID
// and its value (a string, number, list or object), never its key.
type CustomFieldValue struct {
	ID    string `json:"id"`
	Value any    `json:"value"`
}

// Attribution is the spec's AttributionSource, plus sessionSource, which
// answers carry.
type Attribution struct {
	URL           string `json:"url,omitempty"`
	Campaign      string `json:"campaign,omitempty"`
	UTMSource     string `json:"utmSource,omitempty"`
	UTMMedium     string `json:"utmMedium,omitempty"`
	UTMContent    string `json:"utmContent,omitempty"`
	Referrer      string `json:"referrer,omitempty"`
	CampaignID    string `json:"campaignId,omitempty"`
	FBCLID        string `json:"fbclid,omitempty"`
	GCLID         string `json:"gclid,omitempty"`
	MSCLKID       string `json:"msclikid,omitempty"`
	DCLID         string `json:"dclid,omitempty"`
	FBC           string `json:"fbc,omitempty"`
	FBP           string `json:"fbp,omitempty"`
	FBEventID     string `json:"fbEventId,omitempty"`
	UserAgent     string `json:"userAgent,omitempty"`
	IP            string `json:"ip,omitempty"`
	Medium        string `json:"medium,omitempty"`
	MediumID      string `json:"mediumId,omitempty"`
	SessionSource string `json:"sessionSource,omitempty"`
}

// searchItem is ContactsSearchSchema: the twelve fields that the spec gives
// search and listing items. In strict list mode (Config.StrictListItems)
// answers carry only these (and a search hit's searchAfter), so a client
// that takes a hit for a whole contact shows empty names and phones.
type searchItem struct {
	ID           string             `json:"id"`
	LocationID   string             `json:"locationId,omitempty"`
	Email        string             `json:"email,omitempty"`
	Timezone     string             `json:"timezone,omitempty"`
	Country      string             `json:"country,omitempty"`
	Source       string             `json:"source,omitempty"`
	DateAdded    string             `json:"dateAdded,omitempty"`
	CustomFields []CustomFieldValue `json:"customFields,omitempty"`
	Tags         []string           `json:"tags"`
	BusinessID   string             `json:"businessId,omitempty"`
	Attributions []Attribution      `json:"attributions,omitempty"`
	Followers    []string           `json:"followers,omitempty"`
	SearchAfter  []json.RawMessage  `json:"searchAfter,omitempty"`
}

// asSearchItem keeps of c only what ContactsSearchSchema has.
func asSearchItem(c Contact) searchItem {
	return searchItem{ID: c.ID, LocationID: c.LocationID, Email: c.Email, Timezone: c.Timezone,
		Country: c.Country, Source: c.Source, DateAdded: c.DateAdded, CustomFields: c.CustomFields,
		Tags: c.Tags, BusinessID: c.BusinessID, Attributions: c.Attributions, Followers: c.Followers,
		SearchAfter: c.SearchAfter}
}

// wireTask is TaskSchema.
type wireTask struct {
	ID         string `json:"id"`
	Title      string `json:"title"`
	Body       string `json:"body,omitempty"`
	AssignedTo string `json:"assignedTo,omitempty"`
	DueDate    string `json:"dueDate,omitempty"`
	Completed  bool   `json:"completed"`
	ContactID  string `json:"contactId,omitempty"`
}

// wireNote is GetNoteSchema.
type wireNote struct {
	ID        string `json:"id"`
	Body      string `json:"body"`
	UserID    string `json:"userId,omitempty"`
	DateAdded string `json:"dateAdded,omitempty"`
	ContactID string `json:"contactId,omitempty"`
	Title     string `json:"title,omitempty"`
	Color     string `json:"color,omitempty"`
	Pinned    bool   `json:"pinned"`
}

// wireAppointment is GetEventSchema; its times are "2021-07-16 11:00:00".
type wireAppointment struct {
	ID                string   `json:"id"`
	CalendarID        string   `json:"calendarId,omitempty"`
	Status            string   `json:"status,omitempty"`
	Title             string   `json:"title,omitempty"`
	AssignedUserID    string   `json:"assignedUserId,omitempty"`
	Notes             string   `json:"notes,omitempty"`
	StartTime         string   `json:"startTime,omitempty"`
	EndTime           string   `json:"endTime,omitempty"`
	Address           string   `json:"address,omitempty"`
	LocationID        string   `json:"locationId,omitempty"`
	ContactID         string   `json:"contactId,omitempty"`
	GroupID           string   `json:"groupId,omitempty"`
	AppointmentStatus string   `json:"appointmentStatus,omitempty"`
	Users             []string `json:"users,omitempty"`
	DateAdded         string   `json:"dateAdded,omitempty"`
	DateUpdated       string   `json:"dateUpdated,omitempty"`
	AssignedResources []string `json:"assignedResources,omitempty"`
}

// field is a request property with three states: absent, null, or a value.
// Handlers decide what a null means field by field, from the spec: where
// the property is nullable it clears; where it is not, it is ignored and
// the value kept, as HighLevel's validation (class-validator's
// @IsOptional, which lets null through) and service do.
type field[T any] struct {
	value T
	set   bool
	null  bool
}

// UnmarshalJSON records presence and null.
func (f *field[T]) UnmarshalJSON(b []byte) error {
	f.set = true
	if bytes.Equal(bytes.TrimSpace(b), []byte("null")) {
		var zero T
		f.value, f.null = zero, true
		return nil
	}
	f.null = false
	return json.Unmarshal(b, &f.value)
}

// absent reports whether the property was not in the body.
func (f field[T]) absent() bool { return !f.set }

// isNull reports whether the property was null.
func (f field[T]) isNull() bool { return f.set && f.null }

// get returns the value and whether there is one (not absent, not null).
func (f field[T]) get() (T, bool) { return f.value, f.set && !f.null }

// dropNull makes a null absent: for properties the spec does not let be null.
func (f *field[T]) dropNull() {
	if f.isNull() {
		*f = field[T]{}
	}
}

// customFieldIn is an item of a write's customFields (TextField,
// NumericField, … of the spec): the field by id or key, and its value.
// An empty string or list clears the field; a null is ignored.
type customFieldIn struct {
	ID    string     `json:"id"`
	Key   string     `json:"key"`
	Value field[any] `json:"field_value"`
}

// contactFields are the properties that CreateContactDto, UpdateContactDto
// and UpsertContactDto share.
type contactFields struct {
	FirstName          field[string]             `json:"firstName"`
	LastName           field[string]             `json:"lastName"`
	Name               field[string]             `json:"name"`
	Email              field[string]             `json:"email"`
	Phone              field[string]             `json:"phone"`
	Address1           field[string]             `json:"address1"`
	City               field[string]             `json:"city"`
	State              field[string]             `json:"state"`
	PostalCode         field[string]             `json:"postalCode"`
	Website            field[string]             `json:"website"`
	Timezone           field[string]             `json:"timezone"`
	DND                field[bool]               `json:"dnd"`
	DNDSettings        field[DNDSettings]        `json:"dndSettings"`
	InboundDNDSettings field[InboundDNDSettings] `json:"inboundDndSettings"`
	Tags               field[[]string]           `json:"tags"`
	CustomFields       field[[]customFieldIn]    `json:"customFields"`
	Source             field[string]             `json:"source"`
	DateOfBirth        field[string]             `json:"dateOfBirth"`
	Country            field[string]             `json:"country"`
	AssignedTo         field[string]             `json:"assignedTo"`
}

// dropForbiddenNulls ignores the nulls of the shared properties the spec
// does not declare nullable in any of the three bodies.
func (p *contactFields) dropForbiddenNulls() {
	p.PostalCode.dropNull()
	p.Country.dropNull()
	p.DND.dropNull()
	p.DNDSettings.dropNull()
	p.InboundDNDSettings.dropNull()
	p.Tags.dropNull()
	p.CustomFields.dropNull()
}

// updateContactBody is UpdateContactDto: no locationId, companyName or gender.
type updateContactBody struct {
	contactFields
}

// createContactBody is CreateContactDto.
type createContactBody struct {
	LocationID  field[string] `json:"locationId"`
	Gender      field[string] `json:"gender"`
	CompanyName field[string] `json:"companyName"`
	contactFields
}

// upsertContactBody is UpsertContactDto.
type upsertContactBody struct {
	createContactBody
	CreateNewIfDuplicateAllowed field[bool] `json:"createNewIfDuplicateAllowed"`
}

// createTaskBody is CreateTaskParams.
type createTaskBody struct {
	Title      string `json:"title"`
	Body       string `json:"body"`
	DueDate    string `json:"dueDate"`
	Completed  bool   `json:"completed"`
	AssignedTo string `json:"assignedTo"`
}

// updateTaskBody is UpdateTaskBody; no property is nullable.
type updateTaskBody struct {
	Title      field[string] `json:"title"`
	Body       field[string] `json:"body"`
	DueDate    field[string] `json:"dueDate"`
	Completed  field[bool]   `json:"completed"`
	AssignedTo field[string] `json:"assignedTo"`
}

// completedBody is UpdateTaskStatusParams.
type completedBody struct {
	Completed *bool `json:"completed"`
}

// createNoteBody is NotesDTO.
type createNoteBody struct {
	UserID string `json:"userId"`
	Body   string `json:"body"`
	Title  string `json:"title"`
	Color  string `json:"color"`
	Pinned *bool  `json:"pinned"`
}

// updateNoteBody is UpdateNoteDTO; no property is nullable.
type updateNoteBody struct {
	UserID field[string] `json:"userId"`
	Body   field[string] `json:"body"`
	Title  field[string] `json:"title"`
	Color  field[string] `json:"color"`
	Pinned field[bool]   `json:"pinned"`
}

// tagsBody is TagsDTO.
type tagsBody struct {
	Tags []string `json:"tags"`
}

// followersBody is FollowersDTO.
type followersBody struct {
	Followers []string `json:"followers"`
}

// campaignBody is AddContactToCampaignDto: no properties at all.
type campaignBody struct{}

// workflowBody is CreateWorkflowDto.
type workflowBody struct {
	EventStartTime string `json:"eventStartTime"`
}

// bulkTagsBody is UpdateTagsDTO.
type bulkTagsBody struct {
	Contacts      []string `json:"contacts"`
	Tags          []string `json:"tags"`
	LocationID    string   `json:"locationId"`
	RemoveAllTags bool     `json:"removeAllTags"`
}

// bulkBusinessBody is ContactsBusinessUpdate; businessId null detaches.
type bulkBusinessBody struct {
	LocationID string   `json:"locationId"`
	IDs        []string `json:"ids"`
	BusinessID *string  `json:"businessId"`
}

// searchBody is the documented body of POST /contacts/search (the spec's
// SearchBodyV2DTO is empty; see NOTES).
type searchBody struct {
	LocationID  string            `json:"locationId"`
	Query       string            `json:"query"`
	PageLimit   int               `json:"pageLimit"`
	Page        int               `json:"page"`
	SearchAfter []json.RawMessage `json:"searchAfter"`
	Filters     []searchFilter    `json:"filters"`
	Sort        []searchSort      `json:"sort"`
}

// searchFilter is one condition ({field, operator, value}) or a group
// ({group, filters}).
type searchFilter struct {
	Field    string         `json:"field"`
	Operator string         `json:"operator"`
	Value    any            `json:"value"`
	Group    string         `json:"group"`
	Filters  []searchFilter `json:"filters"`
}

// searchSort orders by one field.
type searchSort struct {
	Field     string `json:"field"`
	Direction string `json:"direction"`
}

// Answer envelopes.
type (
	contactEnvelope struct {
		Contact Contact `json:"contact"`
	}
	updatedEnvelope struct {
		Succeeded bool    `json:"succeded"`
		Contact   Contact `json:"contact"`
	}
	upsertEnvelope struct {
		New     bool    `json:"new"`
		Contact Contact `json:"contact"`
		TraceID string  `json:"traceId"`
	}
	taskEnvelope struct {
		Task wireTask `json:"task"`
	}
	tasksEnvelope struct {
		Tasks []wireTask `json:"tasks"`
	}
	noteEnvelope struct {
		Note wireNote `json:"note"`
	}
	notesEnvelope struct {
		Notes []wireNote `json:"notes"`
	}
	eventsEnvelope struct {
		Events []wireAppointment `json:"events"`
	}
	tagsEnvelope struct {
		Tags []string `json:"tags"`
	}
)
