// This file checks GraphQL inputs and turns them into upstream requests.
// Everything a client can get wrong is refused here, with a message naming
// the field, before any upstream call.

package resolvers

import (
	"net/mail"
	"strings"

	"github.com/99designs/gqlgen/graphql"

	"github.com/ghl-graphql/gateway/graph/model"
	"github.com/ghl-graphql/gateway/upstream"
)

// The lengths and counts of every argument are bounded by Limits, checked
// by CheckArguments before any resolver runs; the checks here are about
// meaning (empty, ".", a group without filters, ...), so they hold whatever
// the limits are set to.

// checkID refuses an empty, dot-segment or control-character ID. Anything
// else is passed on, escaped, as one path segment.
func checkID(field, id string) error {
	if bad := idProblem(id); bad != "" {
		return badInput("%s %s", field, bad)
	}
	return nil
}

// checkIDs checks a non-empty list of IDs.
func checkIDs(field string, ids []string) error {
	if len(ids) == 0 {
		return badInput("%s must not be empty", field)
	}
	for _, id := range ids {
		if err := checkID(field+" item", id); err != nil {
			return err
		}
	}
	return nil
}

// checkTags checks a list of tags; empty lists are allowed only where said.
func checkTags(field string, tags []string, allowEmpty bool) error {
	if len(tags) == 0 && !allowEmpty {
		return badInput("%s must hold at least one tag", field)
	}
	for _, t := range tags {
		if strings.TrimSpace(t) == "" {
			return badInput("%s must not hold an empty tag", field)
		}
		if bad := tagProblem(t); bad != "" {
			return badInput("%s: a tag %s", field, bad)
		}
	}
	return nil
}

// checkEmail accepts a bare address (no display name) with a domain.
func checkEmail(field, email string) error {
	a, err := mail.ParseAddress(email)
	if err != nil || a.Address != email || a.Name != "" {
		return badInput("%s %q is not a valid email address", field, email)
	}
	at := strings.LastIndexByte(email, '@')
	if at < 1 || !strings.Contains(email[at+1:], ".") {
		return badInput("%s %q is not a valid email address", field, email)
	}
	return nil
}

// checkPhone accepts digits with the usual punctuation and a leading +.
func checkPhone(field, phone string) error {
	digits := 0
	for i, r := range phone {
		switch {
		case r >= '0' && r <= '9':
			digits++
		case r == '+' && i == 0, r == ' ', r == '-', r == '(', r == ')', r == '.':
		default:
			return badInput("%s %q is not a valid phone number", field, phone)
		}
	}
	if digits < 5 || digits > 17 {
		return badInput("%s %q is not a valid phone number", field, phone)
	}
	return nil
}

// val returns an optional input's value, or "" when absent or null.
func val(o graphql.Omittable[*string]) string {
	if v := o.Value(); v != nil {
		return *v
	}
	return ""
}

// boolPtr returns an optional boolean's value, or nil when absent or null.
func boolPtr(o graphql.Omittable[*bool]) *bool { return o.Value() }

// nullable maps an optional GraphQL input to an upstream update field:
// absent stays absent, null clears, a value sets.
func nullable[T any](o graphql.Omittable[*T]) upstream.Nullable[T] {
	v, set := o.ValueOK()
	switch {
	case !set:
		return upstream.Nullable[T]{}
	case v == nil:
		return upstream.Null[T]()
	}
	return upstream.Set(*v)
}

func dndSettingToAPI(o graphql.Omittable[*model.DndSettingInput]) *upstream.DNDSetting {
	in := o.Value()
	if in == nil {
		return nil
	}
	return &upstream.DNDSetting{Status: dndStatusToAPI(in.Status), Message: val(in.Message), Code: val(in.Code)}
}

func dndSettingsToAPI(in *model.DndSettingsInput) *upstream.DNDSettings {
	if in == nil {
		return nil
	}
	return &upstream.DNDSettings{
		Call: dndSettingToAPI(in.Call), Email: dndSettingToAPI(in.Email), SMS: dndSettingToAPI(in.Sms),
		WhatsApp: dndSettingToAPI(in.WhatsApp), GMB: dndSettingToAPI(in.Gmb), FB: dndSettingToAPI(in.Fb),
	}
}

func inboundDNDToAPI(in *model.InboundDndSettingsInput) (*upstream.InboundDNDSettings, error) {
	if in == nil {
		return nil, nil
	}
	out := &upstream.InboundDNDSettings{}
	if all := in.All.Value(); all != nil {
		if all.Status == model.DndStatusPermanent {
			return nil, badInput("inboundDndSettings.all.status must be ACTIVE or INACTIVE")
		}
		out.All = &upstream.InboundDNDSetting{Status: dndStatusToAPI(all.Status), Message: val(all.Message)}
	}
	return out, nil
}

func customFieldsToAPI(in []model.CustomFieldInput) ([]upstream.CustomFieldInput, error) {
	out := make([]upstream.CustomFieldInput, 0, len(in))
	for i, f := range in {
		id, key := val(f.ID), val(f.Key)
		if id == "" && key == "" {
			return nil, badInput("customFields[%d] needs an id or a key", i)
		}
		out = append(out, upstream.CustomFieldInput{ID: id, Key: key, Value: f.Value.Value()})
	}
	return out, nil
}

// checkContactIdentity checks the fields that identify a person.
func checkContactIdentity(email, phone *string) error {
	if email != nil && *email != "" {
		if err := checkEmail("email", *email); err != nil {
			return err
		}
	}
	if phone != nil && *phone != "" {
		if err := checkPhone("phone", *phone); err != nil {
			return err
		}
	}
	return nil
}

// createContactRequest checks a CreateContactInput and builds the upstream body.
func createContactRequest(in model.CreateContactInput, locationID string) (*upstream.CreateContactRequest, error) {
	if val(in.Name) == "" && val(in.FirstName) == "" && val(in.LastName) == "" && val(in.Email) == "" && val(in.Phone) == "" {
		return nil, badInput("give at least one of name, firstName, lastName, email or phone")
	}
	if err := checkContactIdentity(in.Email.Value(), in.Phone.Value()); err != nil {
		return nil, err
	}
	if err := checkTags("tags", in.Tags.Value(), true); err != nil {
		return nil, err
	}
	fields, err := customFieldsToAPI(in.CustomFields.Value())
	if err != nil {
		return nil, err
	}
	inbound, err := inboundDNDToAPI(in.InboundDndSettings.Value())
	if err != nil {
		return nil, err
	}
	if len(fields) == 0 {
		fields = nil
	}
	return &upstream.CreateContactRequest{
		LocationID: locationID, FirstName: val(in.FirstName), LastName: val(in.LastName), Name: val(in.Name),
		Email: val(in.Email), Gender: val(in.Gender), Phone: val(in.Phone), Address1: val(in.Address1),
		City: val(in.City), State: val(in.State), PostalCode: val(in.PostalCode), Website: val(in.Website),
		Timezone: val(in.Timezone), DND: boolPtr(in.Dnd), DNDSettings: dndSettingsToAPI(in.DndSettings.Value()),
		InboundDNDSettings: inbound, Tags: in.Tags.Value(), CustomFields: fields, Source: val(in.Source),
		DateOfBirth: val(in.DateOfBirth), Country: val(in.Country), CompanyName: val(in.CompanyName),
		AssignedTo: val(in.AssignedTo),
	}, nil
}

// updateContactRequest checks an UpdateContactInput and builds the upstream body.
func updateContactRequest(in model.UpdateContactInput) (*upstream.UpdateContactRequest, error) {
	if err := checkContactIdentity(in.Email.Value(), in.Phone.Value()); err != nil {
		return nil, err
	}
	req := &upstream.UpdateContactRequest{
		FirstName: nullable(in.FirstName), LastName: nullable(in.LastName), Name: nullable(in.Name),
		Email: nullable(in.Email), Phone: nullable(in.Phone), Address1: nullable(in.Address1),
		City: nullable(in.City), State: nullable(in.State), PostalCode: nullable(in.PostalCode),
		Website: nullable(in.Website), Timezone: nullable(in.Timezone), DND: nullable(in.Dnd),
		Source: nullable(in.Source), DateOfBirth: nullable(in.DateOfBirth), Country: nullable(in.Country),
		AssignedTo: nullable(in.AssignedTo),
	}
	if v, set := in.DndSettings.ValueOK(); set {
		if v == nil {
			req.DNDSettings = upstream.Null[upstream.DNDSettings]()
		} else {
			req.DNDSettings = upstream.Set(*dndSettingsToAPI(v))
		}
	}
	if v, set := in.InboundDndSettings.ValueOK(); set {
		if v == nil {
			req.InboundDNDSettings = upstream.Null[upstream.InboundDNDSettings]()
		} else {
			inbound, err := inboundDNDToAPI(v)
			if err != nil {
				return nil, err
			}
			req.InboundDNDSettings = upstream.Set(*inbound)
		}
	}
	if tags, set := in.Tags.ValueOK(); set {
		if tags == nil {
			req.Tags = upstream.Null[[]string]()
		} else {
			if err := checkTags("tags", tags, true); err != nil {
				return nil, err
			}
			req.Tags = upstream.Set(tags)
		}
	}
	if fields, set := in.CustomFields.ValueOK(); set {
		if fields == nil {
			req.CustomFields = upstream.Null[[]upstream.CustomFieldInput]()
		} else {
			out, err := customFieldsToAPI(fields)
			if err != nil {
				return nil, err
			}
			req.CustomFields = upstream.Set(out)
		}
	}
	return req, nil
}

// createTaskRequest checks a CreateTaskInput and builds the upstream body.
func createTaskRequest(in model.CreateTaskInput) (*upstream.CreateTaskRequest, error) {
	if strings.TrimSpace(in.Title) == "" {
		return nil, badInput("title must not be empty")
	}
	completed := boolPtr(in.Completed)
	return &upstream.CreateTaskRequest{
		Title: in.Title, Body: val(in.Body), DueDate: formatTime(in.DueDate),
		Completed: completed != nil && *completed, AssignedTo: val(in.AssignedTo),
	}, nil
}

// updateTaskRequest checks an UpdateTaskInput and builds the upstream body.
// The API cannot clear a task's title, due date or completion, so null is
// refused for them rather than sent.
func updateTaskRequest(in model.UpdateTaskInput) (*upstream.UpdateTaskRequest, error) {
	if v, set := in.Title.ValueOK(); set && (v == nil || strings.TrimSpace(*v) == "") {
		return nil, badInput("title must not be null or empty")
	}
	if v, set := in.DueDate.ValueOK(); set && v == nil {
		return nil, badInput("dueDate must not be null")
	}
	if v, set := in.Completed.ValueOK(); set && v == nil {
		return nil, badInput("completed must not be null")
	}
	req := &upstream.UpdateTaskRequest{
		Title: nullable(in.Title), Body: nullable(in.Body), Completed: nullable(in.Completed),
		AssignedTo: nullable(in.AssignedTo),
	}
	if v := in.DueDate.Value(); v != nil {
		req.DueDate = upstream.Set(formatTime(*v))
	}
	return req, nil
}

// createNoteRequest checks a CreateNoteInput and builds the upstream body.
func createNoteRequest(in model.CreateNoteInput) (*upstream.CreateNoteRequest, error) {
	if strings.TrimSpace(in.Body) == "" {
		return nil, badInput("body must not be empty")
	}
	return &upstream.CreateNoteRequest{
		Body: in.Body, Title: val(in.Title), Color: val(in.Color), Pinned: boolPtr(in.Pinned), UserID: val(in.UserID),
	}, nil
}

// updateNoteRequest checks an UpdateNoteInput and builds the upstream body.
func updateNoteRequest(in model.UpdateNoteInput) (*upstream.UpdateNoteRequest, error) {
	if v, set := in.Body.ValueOK(); set && (v == nil || strings.TrimSpace(*v) == "") {
		return nil, badInput("body must not be null or empty")
	}
	if v, set := in.Pinned.ValueOK(); set && v == nil {
		return nil, badInput("pinned must not be null")
	}
	return &upstream.UpdateNoteRequest{
		Body: nullable(in.Body), Title: nullable(in.Title), Color: nullable(in.Color),
		Pinned: nullable(in.Pinned), UserID: nullable(in.UserID),
	}, nil
}
