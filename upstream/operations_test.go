// This file covers every client method, one case per operation of the
// Contacts API keyed by operation ID: the exact method, escaped path, query
// string, headers and JSON body the method sends, and the value it decodes
// from a realistic answer (testdata/, after the spec's examples). It fails
// when an operation of Operations() has no case, or a case names an ID that
// Operations() does not list.

package upstream

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// IDs used by the operation cases; shaped like HighLevel's.
const (
	tLocationID = "ve9EPM428h8vShlRW1KT"
	tContactID  = "seD4PfOuKoVMLkEZqohJ"
	tTaskID     = "lJpzYrWdpkC2hX6t2yue"
	tNoteID     = "HGPcayliwcdoUFzvbTok"
	tCampaignID = "Kg9sVbq3TuWxZa1cDe2F"
	tWorkflowID = "78559bb3-b920-461e-b010-7b2a2816d2a9"
	tBusinessID = "641c094001436dbc2081e642"
)

// opCase is what one client method must send and decode.
type opCase struct {
	// path is the exact escaped request path below apiPrefix.
	path string
	// query is the exact query; nil for none.
	query url.Values
	// body is the exact JSON body; "" for a request with no body.
	body string
	// status and fixture make up the answer.
	status  int
	fixture string
	// call makes the call; got is the decoded value (nil for calls that
	// return only a *Response).
	call func(ctx context.Context, c *Client) (got any, resp *Response, err error)
	want any
}

// wantFullContact is testdata/contact.json decoded.
func wantFullContact() *Contact {
	return &Contact{
		ID:             tContactID,
		Name:           "rubika deo",
		LocationID:     tLocationID,
		FirstName:      "rubika",
		LastName:       "Deo",
		Email:          "rubika@deos.com",
		EmailLowerCase: "rubika@deos.com",
		Timezone:       "Asia/Calcutta",
		CompanyName:    "DGS VolMAX",
		Phone:          "+18832327657",
		DND:            true,
		DNDSettings: &DNDSettings{
			Call:  &DNDSetting{Status: DNDActive, Message: "Asked not to be called", Code: "101"},
			Email: &DNDSetting{Status: DNDInactive},
			SMS:   &DNDSetting{Status: DNDPermanent, Message: "STOP received", Code: "21610"},
		},
		InboundDNDSettings: &InboundDNDSettings{All: &InboundDNDSetting{Status: DNDActive, Message: "Paused by the user"}},
		Type:               "read",
		Source:             "public api",
		AssignedTo:         tLocationID,
		Address1:           "3535 1st St N",
		City:               "ruDolomitebika",
		State:              "AL",
		Country:            "US",
		PostalCode:         "35061",
		Website:            "https://www.tesla.com",
		Tags:               []string{"nisi sint commodo amet", "consequat"},
		DateOfBirth:        "1990-09-25",
		DateAdded:          "2021-07-02T05:18:26.704Z",
		DateUpdated:        "2021-07-02T05:18:26.704Z",
		Keyword:            "test",
		FirstNameLowerCase: "rubika",
		FullNameLowerCase:  "rubika deo",
		LastNameLowerCase:  "deo",
		LastActivity:       "2021-07-16T11:39:30.564Z",
		CustomFields: []CustomFieldValue{
			{ID: "MgobCB14YMVKuE4Ka8p1", Value: "name"},
			{ID: "Q7pHkUo2LmQk1n3rTyVb", Value: float64(42)},
			{ID: "Zr3uVbEw2WnX8aYq9cKd", Value: []any{"red", "blue"}},
		},
		BusinessID: tBusinessID,
		Followers:  StringList{"sx6wyHhbFdRXh302Lunr"},
		AttributionSource: &Attribution{
			URL: "Trigger Link", Campaign: "spring-sale", UTMSource: "google", UTMMedium: "cpc",
			Referrer: "https://www.google.com",
			GCLID:    "CjOKCQjwnNyUBhCZARISAI9AYIFtNnIcWcYGIOQINz_ZoFI5SSLRRugSoPZoiEu27IZBY",
			FBP:      "fb.1.1674748390986.1171287961", UserAgent: "Mozilla/5.0", IP: "58.111.106.198",
			Medium: "survey", MediumID: "FglfHAn30PRwsZVyQlKp",
		},
		LastAttributionSource: &Attribution{URL: "Trigger Link", Medium: "form", MediumID: "FglfHAn30PRwsZVyQlKp", SessionSource: "Direct traffic"},
		VisitorID:             tLocationID,
	}
}

// wantSearchResult is testdata/search.json decoded.
func wantSearchResult() *SearchResult {
	return &SearchResult{
		Total: 57,
		Contacts: []Contact{
			{
				ID:           "ocQHyuzHvysMo5N5VsXc",
				LocationID:   "C2QujeCh8ZnC7al2InWR",
				Email:        "johndeo@gmail.com",
				Timezone:     "Asia/Calcutta",
				Country:      "DE",
				Source:       "xyz form",
				DateAdded:    "2020-10-29T09:31:30.255Z",
				CustomFields: []CustomFieldValue{{ID: "MgobCB14YMVKuE4Ka8p1", Value: "name"}},
				Tags:         []string{"nisi sint commodo amet", "consequat"},
				BusinessID:   tBusinessID,
				Attributions: []Attribution{{URL: "Trigger Link", UTMSource: "google", Medium: "survey", MediumID: "FglfHAn30PRwsZVyQlKp"}},
				// The spec's example gives followers as one string.
				Followers:   StringList{tBusinessID},
				SearchAfter: []json.RawMessage{json.RawMessage(`1603963890255`), json.RawMessage(`"ocQHyuzHvysMo5N5VsXc"`)},
			},
			{
				ID:                 "pOC0uJ97VYOKH2m3fkMD",
				LocationID:         "C2QujeCh8ZnC7al2InWR",
				FirstNameLowerCase: "jane",
				DateOfBirth:        "654220800000",
				BirthMonth:         9,
				Tags:               []string{},
				SearchAfter:        []json.RawMessage{json.RawMessage(`1603963890000`), json.RawMessage(`"pOC0uJ97VYOKH2m3fkMD"`)},
			},
		},
	}
}

func wantTask() *Task {
	return &Task{ID: tTaskID, Title: "First Task", Body: "loram ipsum", AssignedTo: "hxHGVRb1YJUscrCB8eXK",
		DueDate: "2020-10-25T11:00:00.000Z", Completed: true, ContactID: tContactID}
}

func wantNote() *Note {
	return &Note{ID: tNoteID, Body: "lorem ipsum", UserID: "TUcmRxWrjqzJS8EjkxNK", DateAdded: "2021-07-08T12:02:11.285Z",
		ContactID: tContactID, Title: "Follow-up summary", Color: "#FFAA00", Pinned: true}
}

// opCases returns the case of every operation, by operation ID.
func opCases() map[string]opCase {
	p := func(s string) string { return "/contacts/" + tContactID + s }
	return map[string]opCase{
		"search-contacts-advanced": {
			path: "/contacts/search",
			body: `{
				"locationId": "ve9EPM428h8vShlRW1KT", "query": "rubika", "pageLimit": 2,
				"searchAfter": [1603963890000, "pOC0uJ97VYOKH2m3fkMD"],
				"filters": [
					{"field": "tags", "operator": "contains", "value": "vip"},
					{"group": "OR", "filters": [
						{"field": "dnd", "operator": "eq", "value": false},
						{"field": "dateAdded", "operator": "range", "value": {"gte": "2020-01-01T00:00:00Z", "lt": "2021-01-01T00:00:00Z"}},
						{"field": "email", "operator": "exists"}
					]}
				],
				"sort": [{"field": "dateAdded", "direction": "desc"}]
			}`,
			status: 200, fixture: "search.json",
			call: func(ctx context.Context, c *Client) (any, *Response, error) {
				return c.Contacts.Search(ctx, &SearchContactsRequest{
					LocationID: tLocationID, Query: "rubika", PageLimit: 2,
					SearchAfter: []json.RawMessage{json.RawMessage(`1603963890000`), json.RawMessage(`"pOC0uJ97VYOKH2m3fkMD"`)},
					Filters: []SearchFilter{
						{Field: "tags", Operator: FilterContains, Value: "vip"},
						{Group: "OR", Filters: []SearchFilter{
							{Field: "dnd", Operator: FilterEq, Value: false},
							{Field: "dateAdded", Operator: FilterRange, Value: RangeValue{GTE: "2020-01-01T00:00:00Z", LT: "2021-01-01T00:00:00Z"}},
							{Field: "email", Operator: FilterExists},
						}},
					},
					Sort: []SearchSort{{Field: "dateAdded", Direction: SortDesc}},
				})
			},
			want: wantSearchResult(),
		},
		"get-duplicate-contact": {
			path:   "/contacts/search/duplicate",
			query:  url.Values{"locationId": {tLocationID}, "email": {"rubika@deos.com"}, "number": {"+18832327657"}},
			status: 200, fixture: "duplicate.json",
			call: func(ctx context.Context, c *Client) (any, *Response, error) {
				return c.Contacts.FindDuplicate(ctx, tLocationID, "rubika@deos.com", "+18832327657")
			},
			want: &Contact{ID: tContactID, LocationID: tLocationID, Email: "rubika@deos.com", Phone: "+18832327657", Tags: []string{"consequat"}},
		},
		"get-all-tasks": {
			path: p("/tasks"), status: 200, fixture: "tasks.json",
			call: func(ctx context.Context, c *Client) (any, *Response, error) { return c.Tasks.List(ctx, tContactID) },
			want: []Task{
				{ID: tTaskID, Title: "test", Body: "testing", AssignedTo: "tesTUcmRxWrjqzJS8EjkxNKting", DueDate: "2021-07-08T02:30:00.000Z", Completed: true, ContactID: tContactID},
				{ID: "mKqa0ZsXeqlD3iY7u3zf", Title: "Call back", DueDate: "2021-07-09T10:00:00.000Z", ContactID: tContactID},
			},
		},
		"create-task": {
			path: p("/tasks"),
			// completed is required by the API: false must be sent, not left out.
			body:   `{"title":"First Task","body":"loram ipsum","dueDate":"2020-10-25T11:00:00Z","completed":false,"assignedTo":"hxHGVRb1YJUscrCB8eXK"}`,
			status: 201, fixture: "task.json",
			call: func(ctx context.Context, c *Client) (any, *Response, error) {
				return c.Tasks.Create(ctx, tContactID, &CreateTaskRequest{Title: "First Task", Body: "loram ipsum",
					DueDate: "2020-10-25T11:00:00Z", AssignedTo: "hxHGVRb1YJUscrCB8eXK"})
			},
			want: wantTask(),
		},
		"get-task": {
			path: p("/tasks/" + tTaskID), status: 200, fixture: "task.json",
			call: func(ctx context.Context, c *Client) (any, *Response, error) {
				return c.Tasks.Get(ctx, tContactID, tTaskID)
			},
			want: wantTask(),
		},
		"update-task": {
			path:   p("/tasks/" + tTaskID),
			body:   `{"title":"First Task","completed":true,"assignedTo":""}`,
			status: 200, fixture: "task.json",
			call: func(ctx context.Context, c *Client) (any, *Response, error) {
				return c.Tasks.Update(ctx, tContactID, tTaskID, &UpdateTaskRequest{
					Title: Set("First Task"), Completed: Set(true), AssignedTo: Null[string]()})
			},
			want: wantTask(),
		},
		"delete-task": {
			path: p("/tasks/" + tTaskID), status: 200, fixture: "succeded.json",
			call: func(ctx context.Context, c *Client) (any, *Response, error) {
				resp, err := c.Tasks.Delete(ctx, tContactID, tTaskID)
				return nil, resp, err
			},
		},
		"update-task-completed": {
			path:   p("/tasks/" + tTaskID + "/completed"),
			body:   `{"completed":false}`,
			status: 200, fixture: "task.json",
			call: func(ctx context.Context, c *Client) (any, *Response, error) {
				return c.Tasks.SetCompleted(ctx, tContactID, tTaskID, false)
			},
			want: wantTask(),
		},
		"get-appointments-for-contact": {
			path: p("/appointments"), status: 200, fixture: "events.json",
			call: func(ctx context.Context, c *Client) (any, *Response, error) {
				return c.Appointments.List(ctx, tContactID)
			},
			want: []Appointment{{
				ID: "YS3jaqqeehkR2Is80miy", CalendarID: "YlWd2wuCAZQzh2cH1fVZ", Status: "booked", Title: "Test",
				AssignedUserID: "YlWd2wuCAZQzh2cH1fVZ", Notes: "test", StartTime: "2021-07-16 11:00:00", EndTime: "2021-07-16 11:30:00",
				Address: "Address", LocationID: tLocationID, ContactID: tContactID, GroupID: "YlWd2wuCAZQzh2cH1fVZ",
				AppointmentStatus: "booked", Users: StringList{"YlWd2wuCAZQzh2cH1fVZ", "Zr3uVbEw2WnX8aYq9cKd"},
				DateAdded: "2021-07-16 11:00:00", DateUpdated: "2021-07-16 11:30:00",
				AssignedResources: StringList{"YlWd2wuCAZQzh2cH1fVZ"},
			}},
		},
		"add-tags": {
			path: p("/tags"), body: `{"tags":["minim","velit magna"]}`, status: 201, fixture: "tags.json",
			call: func(ctx context.Context, c *Client) (any, *Response, error) {
				return c.Contacts.AddTags(ctx, tContactID, []string{"minim", "velit magna"})
			},
			want: []string{"minim", "velit magna"},
		},
		"remove-tags": {
			path: p("/tags"), body: `{"tags":["minim"]}`, status: 200, fixture: "tags_removed.json",
			call: func(ctx context.Context, c *Client) (any, *Response, error) {
				return c.Contacts.RemoveTags(ctx, tContactID, []string{"minim"})
			},
			want: []string{"velit magna"},
		},
		"get-all-notes": {
			path: p("/notes"), status: 200, fixture: "notes.json",
			call: func(ctx context.Context, c *Client) (any, *Response, error) { return c.Notes.List(ctx, tContactID) },
			want: []Note{{ID: tNoteID, Body: "lorem ipsum", UserID: "TUcmRxWrjqzJS8EjkxNK", DateAdded: "2021-07-08T12:02:11.285Z",
				ContactID: tContactID, Title: "Follow-up summary", Color: "#FFAA00", Pinned: false}},
		},
		"create-note": {
			path:   p("/notes"),
			body:   `{"userId":"GCs5KuzPqTls7vWclkEV","body":"lorem ipsum","title":"Follow-up summary","color":"#FFAA00","pinned":false}`,
			status: 201, fixture: "note.json",
			call: func(ctx context.Context, c *Client) (any, *Response, error) {
				return c.Notes.Create(ctx, tContactID, &CreateNoteRequest{UserID: "GCs5KuzPqTls7vWclkEV", Body: "lorem ipsum",
					Title: "Follow-up summary", Color: "#FFAA00", Pinned: ptr(false)})
			},
			want: wantNote(),
		},
		"get-note": {
			path: p("/notes/" + tNoteID), status: 200, fixture: "note.json",
			call: func(ctx context.Context, c *Client) (any, *Response, error) {
				return c.Notes.Get(ctx, tContactID, tNoteID)
			},
			want: wantNote(),
		},
		"update-note": {
			path: p("/notes/" + tNoteID), body: `{"body":"edited","color":"","pinned":false}`, status: 200, fixture: "note.json",
			call: func(ctx context.Context, c *Client) (any, *Response, error) {
				return c.Notes.Update(ctx, tContactID, tNoteID, &UpdateNoteRequest{Body: Set("edited"), Color: Null[string](), Pinned: Set(false)})
			},
			want: wantNote(),
		},
		"delete-note": {
			path: p("/notes/" + tNoteID), status: 200, fixture: "succeded.json",
			call: func(ctx context.Context, c *Client) (any, *Response, error) {
				resp, err := c.Notes.Delete(ctx, tContactID, tNoteID)
				return nil, resp, err
			},
		},
		"create-association": {
			path:   "/contacts/bulk/tags/update/add",
			body:   `{"contacts":["qFSqySFkVvNzOSqgGqFi","abcdef","3ualbhnV7j3n3a9r2moD"],"tags":["tag-1","tag-2"],"locationId":"asdrwHvLUxlfw5SqKVCN"}`,
			status: 201, fixture: "bulk_tags.json",
			call: func(ctx context.Context, c *Client) (any, *Response, error) {
				return c.Bulk.UpdateTags(ctx, BulkTagsAdd, &BulkTagsRequest{
					Contacts:   []string{"qFSqySFkVvNzOSqgGqFi", "abcdef", "3ualbhnV7j3n3a9r2moD"},
					Tags:       []string{"tag-1", "tag-2"},
					LocationID: "asdrwHvLUxlfw5SqKVCN",
				})
			},
			want: &BulkTagsResult{Succeeded: true, ErrorCount: 3, Responses: []BulkTagsContactResult{
				{ContactID: "qFSqySFkVvNzOSqgGqFi", Message: "Tags updated", Type: "success", OldTags: []string{"tag-1", "tag-2"}, TagsAdded: []string{"tag-3"}, TagsRemoved: []string{}},
				{ContactID: "abcdef", Message: "contact id is not a valid firebase id", Type: "error"},
				{ContactID: "qFSqySFkVvNzOSqgGqFi", Message: "contact is deleted", Type: "error"},
				{Message: "contact does not belong to location"},
			}},
		},
		"add-remove-contact-from-business": {
			path:   "/contacts/bulk/business",
			body:   `{"locationId":"PX8m5VwxEbcpFlzYEPVG","ids":["IDqvFHGColiyK6jiatuz","pOC0uJ97VYOKH2m3fkMD"],"businessId":"63b7ec34ea409a9a8bd2a4ff"}`,
			status: 200, fixture: "bulk_business.json",
			call: func(ctx context.Context, c *Client) (any, *Response, error) {
				return c.Bulk.UpdateBusiness(ctx, &BulkBusinessRequest{LocationID: "PX8m5VwxEbcpFlzYEPVG",
					IDs: []string{"IDqvFHGColiyK6jiatuz", "pOC0uJ97VYOKH2m3fkMD"}, BusinessID: ptr("63b7ec34ea409a9a8bd2a4ff")})
			},
			want: &BulkBusinessResult{Success: true, IDs: []string{"IDqvFHGColiyK6jiatuz", "pOC0uJ97VYOKH2m3fkMD"}},
		},
		"get-contact": {
			path: p(""), status: 200, fixture: "contact.json",
			call: func(ctx context.Context, c *Client) (any, *Response, error) { return c.Contacts.Get(ctx, tContactID) },
			want: wantFullContact(),
		},
		"update-contact": {
			path: p(""),
			body: `{"firstName":"rosan","name":"rosan Deo","email":null,"dnd":false,"tags":["vip"],
				"customFields":[{"key":"contact.favourite_colour","field_value":"red"},{"id":"Q7pHkUo2LmQk1n3rTyVb","field_value":42}]}`,
			status: 200, fixture: "contact_updated.json",
			call: func(ctx context.Context, c *Client) (any, *Response, error) {
				return c.Contacts.Update(ctx, tContactID, &UpdateContactRequest{
					FirstName: Set("rosan"), Name: Set("rosan Deo"), Email: Null[string](), DND: Set(false),
					Tags: Set([]string{"vip"}),
					CustomFields: Set([]CustomFieldInput{
						{Key: "contact.favourite_colour", Value: "red"},
						{ID: "Q7pHkUo2LmQk1n3rTyVb", Value: 42},
					}),
				})
			},
			want: &Contact{ID: tContactID, Name: "rosan Deo", LocationID: tLocationID, FirstName: "rosan", LastName: "Deo",
				Timezone: "America/Chihuahua", Tags: []string{"vip"}, DateAdded: "2021-07-02T05:18:26.704Z", DateUpdated: "2021-07-03T08:00:00.000Z"},
		},
		"delete-contact": {
			path: p(""), status: 200, fixture: "succeded.json",
			call: func(ctx context.Context, c *Client) (any, *Response, error) {
				resp, err := c.Contacts.Delete(ctx, tContactID)
				return nil, resp, err
			},
		},
		"upsert-contact": {
			path: "/contacts/upsert",
			body: `{"locationId":"ve9EPM428h8vShlRW1KT","firstName":"Rosan","lastName":"Deo","name":"Rosan Deo",
				"email":"rosan@deos.com","phone":"+1 888-888-8888","source":"public api","createNewIfDuplicateAllowed":false}`,
			status: 200, fixture: "upsert.json",
			call: func(ctx context.Context, c *Client) (any, *Response, error) {
				return c.Contacts.Upsert(ctx, &UpsertContactRequest{
					CreateContactRequest: CreateContactRequest{LocationID: tLocationID, FirstName: "Rosan", LastName: "Deo", Name: "Rosan Deo",
						Email: "rosan@deos.com", Phone: "+1 888-888-8888", Source: "public api"},
					CreateNewIfDuplicateAllowed: ptr(false),
				})
			},
			want: &UpsertResult{New: true, TraceID: "0c52f1d3-7c4e-4b27-9f5e-9d3a6c2f8a11", Contact: &Contact{
				ID: tContactID, Name: "Rosan Deo", LocationID: tLocationID, FirstName: "Rosan", LastName: "Deo",
				Email: "rosan@deos.com", Phone: "+18888888888", Tags: []string{}, Source: "public api", DateAdded: "2021-07-02T05:18:26.704Z"}},
		},
		"get-contacts-by-businessId": {
			path:   "/contacts/business/" + tBusinessID,
			query:  url.Values{"locationId": {tLocationID}, "query": {"deo"}, "limit": {"10"}, "skip": {"20"}},
			status: 200, fixture: "contacts_business.json",
			call: func(ctx context.Context, c *Client) (any, *Response, error) {
				return c.Contacts.ListByBusiness(ctx, tBusinessID, ListByBusinessOptions{LocationID: tLocationID, Query: "deo", Limit: 10, Skip: 20})
			},
			want: &ContactList{Count: 10, Contacts: []Contact{{
				ID: "ocQHyuzHvysMo5N5VsXc", LocationID: "C2QujeCh8ZnC7al2InWR", Email: "johndeo@gmail.com", Timezone: "Asia/Calcutta",
				Country: "DE", Source: "xyz form", DateAdded: "2020-10-29T09:31:30.255Z", Tags: []string{"consequat"},
				BusinessID: tBusinessID, Followers: StringList{tBusinessID},
			}}},
		},
		"add-followers-contact": {
			path: p("/followers"), body: `{"followers":["Mx6wyHhbFdRXh302Luer","Ka6wyHhbFdRXh302LLsAm"]}`, status: 201, fixture: "followers_added.json",
			call: func(ctx context.Context, c *Client) (any, *Response, error) {
				return c.Contacts.AddFollowers(ctx, tContactID, []string{"Mx6wyHhbFdRXh302Luer", "Ka6wyHhbFdRXh302LLsAm"})
			},
			want: &FollowersResult{Followers: StringList{"sx6wyHhbFdRXh302Lunr", "sx6wyHhbFdRXh302LLss"},
				Added: StringList{"Mx6wyHhbFdRXh302Luer", "Ka6wyHhbFdRXh302LLsAm"}},
		},
		"remove-followers-contact": {
			path: p("/followers"), body: `{"followers":["sx6wyHhbFdRXh302LLss"]}`, status: 200, fixture: "followers_removed.json",
			call: func(ctx context.Context, c *Client) (any, *Response, error) {
				return c.Contacts.RemoveFollowers(ctx, tContactID, []string{"sx6wyHhbFdRXh302LLss"})
			},
			want: &FollowersResult{Followers: StringList{"sx6wyHhbFdRXh302Lunr"}, Removed: StringList{"sx6wyHhbFdRXh302LLss"}},
		},
		"add-contact-to-campaign": {
			// The API's body schema is an empty object, and the body is required.
			path: p("/campaigns/" + tCampaignID), body: `{}`, status: 201, fixture: "succeded.json",
			call: func(ctx context.Context, c *Client) (any, *Response, error) {
				resp, err := c.Campaigns.Add(ctx, tContactID, tCampaignID)
				return nil, resp, err
			},
		},
		"remove-contact-from-campaign": {
			path: p("/campaigns/" + tCampaignID), status: 200, fixture: "succeded.json",
			call: func(ctx context.Context, c *Client) (any, *Response, error) {
				resp, err := c.Campaigns.Remove(ctx, tContactID, tCampaignID)
				return nil, resp, err
			},
		},
		"remove-contact-from-every-campaign": {
			path: p("/campaigns/removeAll"), status: 200, fixture: "succeded.json",
			call: func(ctx context.Context, c *Client) (any, *Response, error) {
				resp, err := c.Campaigns.RemoveAll(ctx, tContactID)
				return nil, resp, err
			},
		},
		"add-contact-to-workflow": {
			path: p("/workflow/" + tWorkflowID), body: `{"eventStartTime":"2021-06-23T03:30:00+01:00"}`, status: 200, fixture: "succeded.json",
			call: func(ctx context.Context, c *Client) (any, *Response, error) {
				resp, err := c.Workflows.Add(ctx, tContactID, tWorkflowID, &WorkflowRequest{EventStartTime: "2021-06-23T03:30:00+01:00"})
				return nil, resp, err
			},
		},
		"delete-contact-from-workflow": {
			path: p("/workflow/" + tWorkflowID), body: `{}`, status: 200, fixture: "succeded.json",
			call: func(ctx context.Context, c *Client) (any, *Response, error) {
				resp, err := c.Workflows.Remove(ctx, tContactID, tWorkflowID, nil)
				return nil, resp, err
			},
		},
		"create-contact": {
			path: "/contacts/",
			body: `{"locationId":"ve9EPM428h8vShlRW1KT","firstName":"Rosan","lastName":"Deo","name":"Rosan Deo","email":"rosan@deos.com",
				"gender":"male","phone":"+1 888-888-8888","address1":"3535 1st St N","city":"Dolomite","state":"AL","postalCode":"35061",
				"website":"https://www.tesla.com","timezone":"America/Chihuahua","dnd":true,
				"dndSettings":{"Call":{"status":"active","message":"Asked not to be called","code":"101"},"Email":{"status":"inactive"}},
				"inboundDndSettings":{"all":{"status":"active"}},
				"tags":["nisi sint commodo amet","consequat"],
				"customFields":[{"id":"6dvNaf7VhkQ9snc5vnjJ","field_value":"9039160788"},{"key":"contact.colours","field_value":["red","blue"]}],
				"source":"public api","dateOfBirth":"1990-09-25","country":"US","companyName":"DGS VolMAX","assignedTo":"y0BeYjuRIlDwsDcOHOJo"}`,
			status: 201, fixture: "contact_created.json",
			call: func(ctx context.Context, c *Client) (any, *Response, error) {
				return c.Contacts.Create(ctx, &CreateContactRequest{
					LocationID: tLocationID, FirstName: "Rosan", LastName: "Deo", Name: "Rosan Deo", Email: "rosan@deos.com",
					Gender: "male", Phone: "+1 888-888-8888", Address1: "3535 1st St N", City: "Dolomite", State: "AL", PostalCode: "35061",
					Website: "https://www.tesla.com", Timezone: "America/Chihuahua", DND: ptr(true),
					DNDSettings: &DNDSettings{
						Call:  &DNDSetting{Status: DNDActive, Message: "Asked not to be called", Code: "101"},
						Email: &DNDSetting{Status: DNDInactive},
					},
					InboundDNDSettings: &InboundDNDSettings{All: &InboundDNDSetting{Status: DNDActive}},
					Tags:               []string{"nisi sint commodo amet", "consequat"},
					CustomFields: []CustomFieldInput{
						{ID: "6dvNaf7VhkQ9snc5vnjJ", Value: "9039160788"},
						{Key: "contact.colours", Value: []string{"red", "blue"}},
					},
					Source: "public api", DateOfBirth: "1990-09-25", Country: "US", CompanyName: "DGS VolMAX", AssignedTo: "y0BeYjuRIlDwsDcOHOJo",
				})
			},
			want: &Contact{
				ID: tContactID, DateAdded: "2021-08-31T09:59:41.937Z", DateUpdated: "2021-08-31T09:59:41.937Z",
				Tags: []string{"nisi sint commodo amet", "consequat"}, Type: "read",
				CustomFields: []CustomFieldValue{{ID: "MgobCB14YMVKuE4Ka8p1", Value: "name"}},
				LocationID:   tLocationID, FirstName: "rosan", FirstNameLowerCase: "rosan", FullNameLowerCase: "rosan deo",
				LastName: "Deo", LastNameLowerCase: "deo", Email: "rosan@deos.com", EmailLowerCase: "rosan@deos.com",
				DND: true, Phone: "+18888888888", Address1: "3535 1st St N", City: "Dolomite", State: "AL", Country: "US",
				PostalCode: "35061", Website: "https://www.tesla.com", Source: "public api", CompanyName: "DGS VolMAX",
				DateOfBirth: "1990-09-25T00:00:00.000Z", BirthMonth: 8, BirthDay: 25,
				LastSessionActivityAt: "2021-07-16T11:39:30.564Z", Offers: []string{}, Products: []string{},
				BusinessID: tBusinessID, AssignedTo: "y0BeYjuRIlDwsDcOHOJo",
			},
		},
		"get-contacts": {
			path: "/contacts/",
			query: url.Values{"locationId": {tLocationID}, "query": {"john"}, "limit": {"20"},
				"startAfterId": {"ocQHyuzHvysMo5N5VsXc"}, "startAfter": {"1603963890255"}},
			status: 200, fixture: "contacts_legacy.json",
			call: func(ctx context.Context, c *Client) (any, *Response, error) {
				return c.Contacts.List(ctx, ListOptions{LocationID: tLocationID, Query: "john", Limit: 20,
					StartAfterID: "ocQHyuzHvysMo5N5VsXc", StartAfter: 1603963890255})
			},
			want: &ContactList{
				Contacts: []Contact{{ID: "ocQHyuzHvysMo5N5VsXc", LocationID: "C2QujeCh8ZnC7al2InWR", FirstName: "john", LastName: "deo",
					Email: "johndeo@gmail.com", Tags: []string{}, DateAdded: "2020-10-29T09:31:30.255Z"}},
				Meta: &ListMeta{Total: 1203,
					NextPageURL:  "https://services.leadconnectorhq.com/contacts/?locationId=C2QujeCh8ZnC7al2InWR&startAfter=1603963890255&startAfterId=ocQHyuzHvysMo5N5VsXc",
					StartAfterID: "ocQHyuzHvysMo5N5VsXc", StartAfter: 1603963890255, CurrentPage: 2, NextPage: ptr(3), PrevPage: ptr(1)},
			},
		},
	}
}

// TestOperationCasesCoverOperations fails when an operation has no case in
// opCases, or when a case names an operation that does not exist.
func TestOperationCasesCoverOperations(t *testing.T) {
	cases := opCases()
	ops := Operations()
	if len(ops) != 32 {
		t.Errorf("Operations() lists %d operations, the Contacts API has 32", len(ops))
	}
	seen := map[string]bool{}
	for _, op := range ops {
		if seen[op.ID] {
			t.Errorf("Operations() lists %q twice", op.ID)
		}
		seen[op.ID] = true
		if _, ok := cases[op.ID]; !ok {
			t.Errorf("operation %q (%s %s) has no case in opCases", op.ID, op.Method, op.Path)
		}
	}
	for id := range cases {
		if !seen[id] {
			t.Errorf("opCases names %q, which Operations() does not list", id)
		}
	}
}

// TestOperations calls every client method against a route that only the
// right method and path template reach, and checks what was sent and decoded.
func TestOperations(t *testing.T) {
	cases := opCases()
	for _, op := range Operations() {
		tc, ok := cases[op.ID]
		if !ok {
			continue // reported by TestOperationCasesCoverOperations
		}
		t.Run(op.ID, func(t *testing.T) {
			env := setup(t)
			env.handle(op.Method+" "+op.Path, func(w http.ResponseWriter, r *http.Request) {
				testMethod(t, r, op.Method)
				if got, want := r.URL.EscapedPath(), apiPrefix+tc.path; got != want {
					t.Errorf("escaped path = %q, want %q", got, want)
				}
				if path, _, _ := strings.Cut(r.RequestURI, "?"); path != apiPrefix+tc.path {
					t.Errorf("request URI %q, want path %q", r.RequestURI, apiPrefix+tc.path)
				}
				testQuery(t, r, tc.query)
				body := readBody(t, r)
				testStandardHeaders(t, r, tc.body != "")
				if tc.body == "" {
					if len(body) != 0 {
						t.Errorf("request body = %q, want none", body)
					}
				} else {
					testJSONBody(t, body, tc.body)
				}
				writeJSON(w, tc.status, fixture(t, tc.fixture))
			})

			got, resp, err := tc.call(t.Context(), env.client)
			if err != nil {
				t.Fatalf("%s: unexpected error: %v", op.ID, err)
			}
			if resp == nil {
				t.Fatalf("%s: nil *Response", op.ID)
			}
			if resp.StatusCode != tc.status {
				t.Errorf("resp.StatusCode = %d, want %d", resp.StatusCode, tc.status)
			}
			if diff := cmp.Diff(testRate, resp.Rate); diff != "" {
				t.Errorf("resp.Rate (-want +got):\n%s", diff)
			}
			if resp.Header.Get(HeaderRateLimitRemaining) != "97" {
				t.Errorf("resp.Header lacks the answer's headers: %v", resp.Header)
			}
			if tc.want != nil {
				if diff := cmp.Diff(tc.want, got, ignoreTrackedFields); diff != "" {
					t.Errorf("decoded result (-want +got):\n%s", diff)
				}
			}
			if n := len(env.requests()); n != 1 {
				t.Errorf("server saw %d requests, want 1: %v", n, env.requests())
			}
		})
	}
}

// TestOperationTable pins the facts of the operation table that the client's
// behaviour depends on: the write scope and which calls may be repeated.
func TestOperationTable(t *testing.T) {
	// Not idempotent: creates and workflow enrolment; everything else is.
	notIdempotent := map[string]bool{"create-contact": true, "create-task": true, "create-note": true, "add-contact-to-workflow": true}
	for _, op := range Operations() {
		if op.Idempotent == notIdempotent[op.ID] {
			t.Errorf("%s: Idempotent = %v, want %v", op.ID, op.Idempotent, !notIdempotent[op.ID])
		}
		wantWrite := op.Method != http.MethodGet && op.ID != "search-contacts-advanced"
		if op.Write != wantWrite {
			t.Errorf("%s: Write = %v, want %v", op.ID, op.Write, wantWrite)
		}
		if op.Deprecated != (op.ID == "get-contacts") {
			t.Errorf("%s: Deprecated = %v", op.ID, op.Deprecated)
		}
		if !strings.HasPrefix(op.Path, "/contacts/") {
			t.Errorf("%s: path %q is not below /contacts/", op.ID, op.Path)
		}
	}
}

// TestConcurrentCalls makes every operation's call many times at once on one
// client (run with -race): the client must be safe for concurrent use, and
// each call must still send and decode exactly its own request and answer.
func TestConcurrentCalls(t *testing.T) {
	const rounds = 4
	cases := opCases()
	byRoute := map[string]opCase{} // "METHOD /path" -> case
	for _, op := range Operations() {
		byRoute[op.Method+" "+cases[op.ID].path] = cases[op.ID]
	}
	if len(byRoute) != len(cases) {
		t.Fatalf("two cases share a method and path; the dispatch below needs them distinct")
	}
	env := setup(t)
	env.handle("/", func(w http.ResponseWriter, r *http.Request) {
		path := strings.TrimPrefix(r.URL.EscapedPath(), apiPrefix)
		tc, ok := byRoute[r.Method+" "+path]
		if !ok {
			t.Errorf("no case for %s %s", r.Method, r.RequestURI)
			w.WriteHeader(http.StatusTeapot)
			return
		}
		testQuery(t, r, tc.query)
		testStandardHeaders(t, r, tc.body != "")
		if body := readBody(t, r); tc.body != "" {
			testJSONBody(t, body, tc.body)
		}
		writeJSON(w, tc.status, fixture(t, tc.fixture))
	})
	var wg sync.WaitGroup
	for range rounds {
		for id, tc := range cases {
			wg.Go(func() {
				got, resp, err := tc.call(t.Context(), env.client)
				if err != nil {
					t.Errorf("%s: %v", id, err)
					return
				}
				if resp.StatusCode != tc.status {
					t.Errorf("%s: status %d, want %d", id, resp.StatusCode, tc.status)
				}
				if tc.want != nil {
					if diff := cmp.Diff(tc.want, got, ignoreTrackedFields); diff != "" {
						t.Errorf("%s: decoded result (-want +got):\n%s", id, diff)
					}
				}
			})
		}
	}
	wg.Wait()
	if got, want := len(env.requests()), rounds*len(cases); got != want {
		t.Errorf("server saw %d requests, want %d", got, want)
	}
}

// ignoreTrackedFields leaves Contact.Fields (what a listing's answer
// carried) to contact_fields_test.go: this table checks decoded values.
var ignoreTrackedFields = cmpopts.IgnoreFields(Contact{}, "Fields")
