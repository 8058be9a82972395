// This file holds the contact resource and the calls on single contacts:
// get, create, update, delete, upsert, and the business and legacy listings.

package upstream

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"strconv"
	"strings"
)

// ContactsService calls the contact endpoints.
type ContactsService service

// Contact is a HighLevel contact as the API returns it. One type serves the
// get, create, update, upsert and search answers, which return overlapping
// subsets of these fields.
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
	Followers             StringList          `json:"followers,omitempty"`
	CustomFields          []CustomFieldValue  `json:"customFields,omitempty"`
	BusinessID            string              `json:"businessId,omitempty"`
	DateOfBirth           LooseString         `json:"dateOfBirth,omitempty"`
	DateAdded             string              `json:"dateAdded,omitempty"`
	DateUpdated           string              `json:"dateUpdated,omitempty"`
	LastActivity          string              `json:"lastActivity,omitempty"`
	LastSessionActivityAt string              `json:"lastSessionActivityAt,omitempty"`
	Attachments           LooseString         `json:"attachments,omitempty"`
	Keyword               string              `json:"keyword,omitempty"`
	VisitorID             string              `json:"visitorId,omitempty"`
	SSN                   LooseString         `json:"ssn,omitempty"`
	BounceEmail           bool                `json:"bounceEmail,omitempty"`
	UnsubscribeEmail      bool                `json:"unsubscribeEmail,omitempty"`
	Deleted               bool                `json:"deleted,omitempty"`
	BirthMonth            LooseInt            `json:"birthMonth,omitempty"`
	BirthDay              LooseInt            `json:"birthDay,omitempty"`
	Offers                []string            `json:"offers,omitempty"`
	Products              []string            `json:"products,omitempty"`
	AttributionSource     *Attribution        `json:"attributionSource,omitempty"`
	LastAttributionSource *Attribution        `json:"lastAttributionSource,omitempty"`
	// Attributions is what search answers carry instead of the two above.
	Attributions []Attribution `json:"attributions,omitempty"`
	// SearchAfter is the cursor of this contact in a search answer: pass it as
	// SearchContactsRequest.SearchAfter to get the contacts after it.
	SearchAfter []json.RawMessage `json:"searchAfter,omitempty"`
	// Fields is what the answer carried, for a contact from a search, a
	// listing or the duplicate look-up (answers with fewer fields than a
	// get); zero for a contact read whole. See Carries.
	Fields ContactFields `json:"-"`
}

// DNDSettings holds the do-not-disturb setting of each channel.
type DNDSettings struct {
	Call     *DNDSetting `json:"Call,omitempty"`
	Email    *DNDSetting `json:"Email,omitempty"`
	SMS      *DNDSetting `json:"SMS,omitempty"`
	WhatsApp *DNDSetting `json:"WhatsApp,omitempty"`
	GMB      *DNDSetting `json:"GMB,omitempty"`
	FB       *DNDSetting `json:"FB,omitempty"`
}

// DND statuses of a channel.
const (
	DNDActive    = "active"
	DNDInactive  = "inactive"
	DNDPermanent = "permanent"
)

// DNDSetting is the do-not-disturb setting of one channel.
type DNDSetting struct {
	// Status is DNDActive, DNDInactive or DNDPermanent.
	Status  string `json:"status"`
	Message string `json:"message,omitempty"`
	Code    string `json:"code,omitempty"`
}

// InboundDNDSettings holds the do-not-disturb setting for inbound messages.
type InboundDNDSettings struct {
	All *InboundDNDSetting `json:"all,omitempty"`
}

// InboundDNDSetting is the inbound do-not-disturb setting.
type InboundDNDSetting struct {
	// Status is DNDActive or DNDInactive.
	Status  string `json:"status"`
	Message string `json:"message,omitempty"`
}

// CustomFieldValue is a custom field's value as answers carry it: the field's
// ID and its value (a string, number, list or object), without the field's key.
type CustomFieldValue struct {
	ID    string `json:"id"`
	Value any    `json:"value"`
}

// CustomFieldInput sets a custom field in a create, update or upsert. Either
// ID or Key names the field; Value is a string, number, list of strings or
// object, by the field's type. A nil Value clears the field: it is sent as
// the empty string, since the spec lets no field_value be null.
type CustomFieldInput struct {
	ID    string `json:"id,omitempty"`
	Key   string `json:"key,omitempty"`
	Value any    `json:"field_value"`
}

// MarshalJSON sends a nil Value as "", HighLevel's empty custom field value.
func (f CustomFieldInput) MarshalJSON() ([]byte, error) {
	type wire CustomFieldInput
	w := wire(f)
	if w.Value == nil {
		w.Value = ""
	}
	return json.Marshal(w)
}

// Attribution says where a contact came from.
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

// CreateContactRequest is the body of POST /contacts/.
type CreateContactRequest struct {
	LocationID         string              `json:"locationId"`
	FirstName          string              `json:"firstName,omitempty"`
	LastName           string              `json:"lastName,omitempty"`
	Name               string              `json:"name,omitempty"`
	Email              string              `json:"email,omitempty"`
	Gender             string              `json:"gender,omitempty"`
	Phone              string              `json:"phone,omitempty"`
	Address1           string              `json:"address1,omitempty"`
	City               string              `json:"city,omitempty"`
	State              string              `json:"state,omitempty"`
	PostalCode         string              `json:"postalCode,omitempty"`
	Website            string              `json:"website,omitempty"`
	Timezone           string              `json:"timezone,omitempty"`
	DND                *bool               `json:"dnd,omitempty"`
	DNDSettings        *DNDSettings        `json:"dndSettings,omitempty"`
	InboundDNDSettings *InboundDNDSettings `json:"inboundDndSettings,omitempty"`
	Tags               []string            `json:"tags,omitempty"`
	CustomFields       []CustomFieldInput  `json:"customFields,omitempty"`
	Source             string              `json:"source,omitempty"`
	DateOfBirth        string              `json:"dateOfBirth,omitempty"`
	Country            string              `json:"country,omitempty"`
	CompanyName        string              `json:"companyName,omitempty"`
	AssignedTo         string              `json:"assignedTo,omitempty"`
}

// UpsertContactRequest is the body of POST /contacts/upsert: a create body
// plus the duplicate policy. The upstream matches an existing contact of the
// location by email, then by phone.
//
// An upsert is repeatable only when it cannot create a second contact: it
// names an email or a phone to match by, and does not allow duplicates.
// Otherwise it is a create, and Client.Do never repeats it once it may have
// been sent (its failure is then WriteUnknown).
type UpsertContactRequest struct {
	CreateContactRequest
	CreateNewIfDuplicateAllowed *bool `json:"createNewIfDuplicateAllowed,omitempty"`
}

// repeatable reports whether sending r twice has the effect of sending it
// once: the second finds the contact the first made, by email or phone.
func (r *UpsertContactRequest) repeatable() bool {
	if r.CreateNewIfDuplicateAllowed != nil && *r.CreateNewIfDuplicateAllowed {
		return false
	}
	return strings.TrimSpace(r.Email) != "" || strings.TrimSpace(r.Phone) != ""
}

// UpdateContactRequest is the body of PUT /contacts/{contactId}. A field left
// absent keeps its value; a field set to Null is cleared. The API's update
// body has no companyName, gender or locationId.
//
// Where the spec (UpdateContactDto) does not let a field be null, a Null
// that HighLevel would ignore is not sent as null:
//   - PostalCode and Country are sent as "", and Tags as [] (which
//     replaces every tag): the values the spec accepts as empty;
//   - DND, DNDSettings, InboundDNDSettings and CustomFields cannot be
//     cleared and a Null is refused with ErrInvalidInput before any call:
//     send DND false, each channel's status "inactive", or each custom
//     field with a nil Value (sent as "") instead.
type UpdateContactRequest struct {
	FirstName          Nullable[string]             `json:"firstName,omitzero"`
	LastName           Nullable[string]             `json:"lastName,omitzero"`
	Name               Nullable[string]             `json:"name,omitzero"`
	Email              Nullable[string]             `json:"email,omitzero"`
	Phone              Nullable[string]             `json:"phone,omitzero"`
	Address1           Nullable[string]             `json:"address1,omitzero"`
	City               Nullable[string]             `json:"city,omitzero"`
	State              Nullable[string]             `json:"state,omitzero"`
	PostalCode         Nullable[string]             `json:"postalCode,omitzero"`
	Website            Nullable[string]             `json:"website,omitzero"`
	Timezone           Nullable[string]             `json:"timezone,omitzero"`
	DND                Nullable[bool]               `json:"dnd,omitzero"`
	DNDSettings        Nullable[DNDSettings]        `json:"dndSettings,omitzero"`
	InboundDNDSettings Nullable[InboundDNDSettings] `json:"inboundDndSettings,omitzero"`
	Tags               Nullable[[]string]           `json:"tags,omitzero"`
	CustomFields       Nullable[[]CustomFieldInput] `json:"customFields,omitzero"`
	Source             Nullable[string]             `json:"source,omitzero"`
	DateOfBirth        Nullable[string]             `json:"dateOfBirth,omitzero"`
	Country            Nullable[string]             `json:"country,omitzero"`
	AssignedTo         Nullable[string]             `json:"assignedTo,omitzero"`
}

// checkNulls refuses a Null for a field the API cannot clear.
func (r *UpdateContactRequest) checkNulls() error {
	return refuseNull(OpUpdateContact,
		notClearable{"dnd", r.DND.IsNull(), "set it to false"},
		notClearable{"dndSettings", r.DNDSettings.IsNull(), "set each channel's status to inactive"},
		notClearable{"inboundDndSettings", r.InboundDNDSettings.IsNull(), "set all.status to inactive"},
		notClearable{"customFields", r.CustomFields.IsNull(), "clear each field by giving it a nil value"})
}

// MarshalJSON encodes r as the API takes it: a Null of PostalCode or Country
// as "", of Tags as []. It fails for a Null the API cannot take (checkNulls).
func (r UpdateContactRequest) MarshalJSON() ([]byte, error) {
	if err := r.checkNulls(); err != nil {
		return nil, err
	}
	type wire UpdateContactRequest
	w := wire(r)
	w.PostalCode = clearAs(w.PostalCode, "")
	w.Country = clearAs(w.Country, "")
	w.Tags = clearAs(w.Tags, []string{})
	return json.Marshal(w)
}

// UpsertResult is the answer of an upsert.
type UpsertResult struct {
	// New reports whether the upsert created the contact.
	New     bool     `json:"new"`
	Contact *Contact `json:"contact"`
	TraceID string   `json:"traceId,omitempty"`
}

func (r *UpsertResult) missingField() string {
	if r.Contact == nil {
		return "contact"
	}
	return ""
}

// contactEnvelope is {"contact": {...}}.
type contactEnvelope struct {
	Contact *Contact `json:"contact"`
}

func (e *contactEnvelope) missingField() string {
	if e.Contact == nil {
		return "contact"
	}
	return ""
}

// successEnvelope is the {"succeded": true} answer of deletes and
// enrolments (the API's spelling).
type successEnvelope struct {
	Succeeded *bool `json:"succeded"`
}

func (e *successEnvelope) missingField() string {
	if e.Succeeded == nil {
		return "succeded"
	}
	return ""
}

// check turns a {"succeded": false} answer into an error.
func (e *successEnvelope) check(op Operation, params []string, resp *Response) error {
	if *e.Succeeded {
		return nil
	}
	path, _ := expandPath(op, params)
	return &Error{Op: op.ID, Method: op.Method, Path: path, StatusCode: resp.StatusCode, Rate: resp.Rate,
		RequestSent: true, Err: fmt.Errorf("%w: the upstream answered succeded=false", ErrServer)}
}

// callSuccess makes a call whose answer is {"succeded": bool}.
func (c *Client) callSuccess(ctx context.Context, op Operation, params []string, body any) (*Response, error) {
	var out successEnvelope
	resp, err := c.call(ctx, op, params, nil, body, &out)
	if err != nil {
		return resp, err
	}
	return resp, out.check(op, params, resp)
}

// Get returns one contact.
//
// API: GET /contacts/{contactId} (get-contact).
func (s *ContactsService) Get(ctx context.Context, contactID string) (*Contact, *Response, error) {
	var out contactEnvelope
	resp, err := s.client.call(ctx, OpGetContact, []string{contactID}, nil, nil, &out)
	if err != nil {
		return nil, resp, err
	}
	return out.Contact, resp, nil
}

// Create creates a contact. It is not idempotent: after an ambiguous failure,
// look the contact up (or use Upsert) before creating it again.
//
// API: POST /contacts/ (create-contact).
func (s *ContactsService) Create(ctx context.Context, body *CreateContactRequest) (*Contact, *Response, error) {
	if body == nil || body.LocationID == "" {
		return nil, nil, invalidInput(OpCreateContact, "locationId is required")
	}
	var out createdEnvelope
	resp, err := s.client.call(ctx, OpCreateContact, nil, nil, body, &out)
	if err != nil {
		return nil, resp, err
	}
	return (*Contact)(out.Contact), resp, nil
}

// Update changes the fields set in body and returns the updated contact.
//
// API: PUT /contacts/{contactId} (update-contact).
func (s *ContactsService) Update(ctx context.Context, contactID string, body *UpdateContactRequest) (*Contact, *Response, error) {
	if body == nil {
		body = &UpdateContactRequest{}
	}
	if err := body.checkNulls(); err != nil {
		return nil, nil, err
	}
	var out contactEnvelope
	resp, err := s.client.call(ctx, OpUpdateContact, []string{contactID}, nil, body, &out)
	if err != nil {
		return nil, resp, err
	}
	return out.Contact, resp, nil
}

// Delete deletes a contact.
//
// API: DELETE /contacts/{contactId} (delete-contact).
func (s *ContactsService) Delete(ctx context.Context, contactID string) (*Response, error) {
	return s.client.callSuccess(ctx, OpDeleteContact, []string{contactID}, nil)
}

// Upsert creates a contact, or updates the contact of the same location that
// has the same email (then phone).
//
// API: POST /contacts/upsert (upsert-contact).
func (s *ContactsService) Upsert(ctx context.Context, body *UpsertContactRequest) (*UpsertResult, *Response, error) {
	if body == nil || body.LocationID == "" {
		return nil, nil, invalidInput(OpUpsertContact, "locationId is required")
	}
	var out UpsertResult
	resp, err := s.client.call(ctx, OpUpsertContact, nil, nil, body, &out)
	if err != nil {
		return nil, resp, err
	}
	return &out, resp, nil
}

// ContactList is a page of contacts from the business or legacy listing.
type ContactList struct {
	Contacts []Contact `json:"contacts"`
	// Count is the number of contacts that match, over all pages.
	Count int `json:"count"`
	// Meta carries the legacy listing's paging.
	Meta *ListMeta `json:"meta,omitempty"`
}

func (l *ContactList) missingField() string {
	if l.Contacts == nil {
		return "contacts"
	}
	return ""
}

// ListMeta is the paging of the legacy GET /contacts/ listing.
type ListMeta struct {
	Total        int    `json:"total"`
	NextPageURL  string `json:"nextPageUrl,omitempty"`
	StartAfterID string `json:"startAfterId,omitempty"`
	StartAfter   int64  `json:"startAfter,omitempty"`
	CurrentPage  int    `json:"currentPage,omitempty"`
	NextPage     *int   `json:"nextPage,omitempty"`
	PrevPage     *int   `json:"prevPage,omitempty"`
}

// ListByBusinessOptions selects contacts of a business.
type ListByBusinessOptions struct {
	LocationID string // required
	Query      string // free text
	Limit      int    // page size; 0 for the upstream's default
	Skip       int    // contacts to skip
}

// ListByBusiness returns the contacts of a business.
//
// API: GET /contacts/business/{businessId} (get-contacts-by-businessId).
func (s *ContactsService) ListByBusiness(ctx context.Context, businessID string, opts ListByBusinessOptions) (*ContactList, *Response, error) {
	if opts.LocationID == "" {
		return nil, nil, invalidInput(OpListContactsByBusiness, "locationId is required")
	}
	if opts.Limit < 0 || opts.Skip < 0 {
		return nil, nil, invalidInput(OpListContactsByBusiness, "limit and skip must not be negative")
	}
	q := url.Values{"locationId": {opts.LocationID}}
	if opts.Query != "" {
		q.Set("query", opts.Query)
	}
	if opts.Limit > 0 {
		q.Set("limit", strconv.Itoa(opts.Limit))
	}
	if opts.Skip > 0 {
		q.Set("skip", strconv.Itoa(opts.Skip))
	}
	var out ContactList
	resp, err := s.client.call(ctx, OpListContactsByBusiness, []string{businessID}, q, nil, &out)
	if err != nil {
		return nil, resp, err
	}
	return &out, resp, nil
}

// ListOptions selects contacts from the legacy listing.
type ListOptions struct {
	LocationID   string // required
	Query        string // free text
	Limit        int    // page size; 0 for the upstream's default (20, at most 100)
	StartAfterID string // from ListMeta of the previous page
	StartAfter   int64  // from ListMeta of the previous page
}

// List returns a page of contacts through the legacy listing. Search is its
// successor; List stays for clients that still page this way.
//
// API: GET /contacts/ (get-contacts, deprecated).
func (s *ContactsService) List(ctx context.Context, opts ListOptions) (*ContactList, *Response, error) {
	if opts.LocationID == "" {
		return nil, nil, invalidInput(OpListContactsDeprecated, "locationId is required")
	}
	if opts.Limit < 0 {
		return nil, nil, invalidInput(OpListContactsDeprecated, "limit must not be negative")
	}
	q := url.Values{"locationId": {opts.LocationID}}
	if opts.Query != "" {
		q.Set("query", opts.Query)
	}
	if opts.Limit > 0 {
		q.Set("limit", strconv.Itoa(opts.Limit))
	}
	if opts.StartAfterID != "" {
		q.Set("startAfterId", opts.StartAfterID)
	}
	if opts.StartAfter > 0 {
		q.Set("startAfter", strconv.FormatInt(opts.StartAfter, 10))
	}
	var out ContactList
	resp, err := s.client.call(ctx, OpListContactsDeprecated, nil, q, nil, &out)
	if err != nil {
		return nil, resp, err
	}
	return &out, resp, nil
}
