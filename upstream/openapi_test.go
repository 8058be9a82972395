// This file validates the client's request bodies against the request
// schemas of the official OpenAPI file (a reduced copy in testdata/openapi/,
// with its CC0 notice). Every write is encoded with every optional field set
// and with every clearable field cleared, sent to a recording server, and
// checked by a small JSON-schema checker for the subset the file uses.
//
// Two readings of the file are deliberate:
//   - An object schema that lists properties is closed (unknown properties
//     are errors) unless it says additionalProperties: HighLevel's NestJS
//     validation pipe whitelists, and answers 422 to an unknown property.
//   - {"type": "object"} without properties is how NestJS's generator
//     renders a property typed `any` (dateOfBirth, whose example is
//     "1990-09-25"; NumericField's field_value, whose example is 100): any
//     non-null JSON value passes.

package upstream

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
)

// openAPI is the part of the OpenAPI file the checker reads.
type openAPI struct {
	Paths map[string]map[string]struct {
		OperationID string `json:"operationId"`
		RequestBody *struct {
			Required bool `json:"required"`
			Content  map[string]struct {
				Schema map[string]any `json:"schema"`
			} `json:"content"`
		} `json:"requestBody"`
	} `json:"paths"`
	Components struct {
		Schemas map[string]map[string]any `json:"schemas"`
	} `json:"components"`
}

// specOp is one operation of the file: its route and request body schema.
type specOp struct {
	method, path string
	body         map[string]any // nil: no request body
	required     bool
}

func loadOpenAPI(t *testing.T) (*openAPI, map[string]specOp) {
	t.Helper()
	b, err := os.ReadFile("testdata/openapi/contacts-requests.json")
	if err != nil {
		t.Fatal(err)
	}
	var doc openAPI
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	ops := map[string]specOp{}
	for path, methods := range doc.Paths {
		for method, o := range methods {
			op := specOp{method: strings.ToUpper(method), path: path}
			if rb := o.RequestBody; rb != nil {
				op.body, op.required = rb.Content["application/json"].Schema, rb.Required
			}
			ops[o.OperationID] = op
		}
	}
	return &doc, ops
}

// knownKeywords is the subset of JSON Schema / OpenAPI the checker
// implements; a schema with any other keyword fails the test rather than
// being half-checked.
var knownKeywords = map[string]bool{
	"type": true, "properties": true, "required": true, "enum": true, "items": true, "nullable": true,
	"additionalProperties": true, "anyOf": true, "$ref": true, "maxLength": true,
	"description": true, "example": true, "default": true,
}

// validate checks v (decoded JSON) against schema and returns the problems,
// each prefixed with its path in the body.
func (doc *openAPI) validate(schema map[string]any, v any, path string) []string {
	for k := range schema {
		if !knownKeywords[k] {
			return []string{fmt.Sprintf("%s: the checker does not know the keyword %q", path, k)}
		}
	}
	if ref, ok := schema["$ref"].(string); ok {
		name, found := strings.CutPrefix(ref, "#/components/schemas/")
		target := doc.Components.Schemas[name]
		if !found || target == nil {
			return []string{fmt.Sprintf("%s: unresolvable $ref %q", path, ref)}
		}
		return doc.validate(target, v, path)
	}
	if v == nil {
		if schema["nullable"] == true {
			return nil
		}
		return []string{path + ": null, but the schema is not nullable"}
	}
	if alts, ok := schema["anyOf"].([]any); ok {
		var why []string
		for i, alt := range alts {
			errs := doc.validate(alt.(map[string]any), v, path)
			if len(errs) == 0 {
				return nil
			}
			why = append(why, fmt.Sprintf("anyOf[%d]: %s", i, strings.Join(errs, "; ")))
		}
		return []string{fmt.Sprintf("%s: matches no anyOf alternative (%s)", path, strings.Join(why, " | "))}
	}
	if enum, ok := schema["enum"].([]any); ok && !slices.Contains(enum, v) {
		return []string{fmt.Sprintf("%s: %v is not one of %v", path, v, enum)}
	}
	switch typ, _ := schema["type"].(string); typ {
	case "string":
		s, ok := v.(string)
		if !ok {
			return []string{fmt.Sprintf("%s: %v is not a string", path, v)}
		}
		if maxLen, ok := schema["maxLength"].(float64); ok && float64(len([]rune(s))) > maxLen {
			return []string{fmt.Sprintf("%s: longer than %v", path, maxLen)}
		}
	case "boolean":
		if _, ok := v.(bool); !ok {
			return []string{fmt.Sprintf("%s: %v is not a boolean", path, v)}
		}
	case "number":
		if _, ok := v.(float64); !ok {
			return []string{fmt.Sprintf("%s: %v is not a number", path, v)}
		}
	case "integer":
		if f, ok := v.(float64); !ok || f != float64(int64(f)) {
			return []string{fmt.Sprintf("%s: %v is not an integer", path, v)}
		}
	case "array":
		arr, ok := v.([]any)
		if !ok {
			return []string{fmt.Sprintf("%s: %v is not an array", path, v)}
		}
		items, _ := schema["items"].(map[string]any)
		var out []string
		for i, e := range arr {
			if items != nil {
				out = append(out, doc.validate(items, e, fmt.Sprintf("%s[%d]", path, i))...)
			}
		}
		return out
	case "object":
		props, hasProps := schema["properties"].(map[string]any)
		if !hasProps {
			return nil // `any`, as NestJS renders it (see the file comment)
		}
		obj, ok := v.(map[string]any)
		if !ok {
			return []string{fmt.Sprintf("%s: %v is not an object", path, v)}
		}
		var out []string
		for _, r := range asStrings(schema["required"]) {
			if _, has := obj[r]; !has {
				out = append(out, fmt.Sprintf("%s.%s: required, absent", path, r))
			}
		}
		keys := make([]string, 0, len(obj))
		for k := range obj {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			ps, known := props[k].(map[string]any)
			if !known {
				if schema["additionalProperties"] == nil || schema["additionalProperties"] == false {
					out = append(out, fmt.Sprintf("%s.%s: not a property of the schema", path, k))
				}
				continue
			}
			out = append(out, doc.validate(ps, obj[k], path+"."+k)...)
		}
		return out
	case "":
	default:
		return []string{fmt.Sprintf("%s: the checker does not know the type %q", path, typ)}
	}
	return nil
}

func asStrings(v any) []string {
	list, _ := v.([]any)
	out := make([]string, 0, len(list))
	for _, e := range list {
		if s, ok := e.(string); ok {
			out = append(out, s)
		}
	}
	return out
}

// TestSchemaChecker proves the checker refuses what the file forbids.
func TestSchemaChecker(t *testing.T) {
	doc, ops := loadOpenAPI(t)
	for _, tc := range []struct {
		op, body, want string
	}{
		{"update-contact", `{"tags":null}`, ".tags: null, but the schema is not nullable"},
		{"update-contact", `{"postalCode":null}`, ".postalCode: null"},
		{"update-contact", `{"email":null}`, ""},
		{"update-contact", `{"companyName":"x"}`, ".companyName: not a property"},
		{"update-contact", `{"dndSettings":{"SMS":{"status":"on"}}}`, "is not one of"},
		{"update-contact", `{"dndSettings":{"SMS":{}}}`, ".dndSettings.SMS.status: required"},
		{"update-contact", `{"customFields":[{"id":"f","field_value":null}]}`, "matches no anyOf"},
		{"update-contact", `{"customFields":[{"key":"k","field_value":"v"}]}`, "matches no anyOf"},
		{"update-contact", `{"customFields":[{"id":"f","field_value":""}]}`, ""},
		{"update-contact", `{"dateOfBirth":"1990-09-25"}`, ""},
		{"create-contact", `{"firstName":"x"}`, ".locationId: required"},
		{"update-task", `{"body":null}`, ".body: null"},
		{"add-remove-contact-from-business", `{"locationId":"l","ids":["` + strings.Repeat("x", 51) + `"],"businessId":null}`, "longer than 50"},
		{"add-tags", `{"tags":"x"}`, "is not an array"},
		{"update-task-completed", `{"completed":"yes"}`, "is not a boolean"},
	} {
		var v any
		if err := json.Unmarshal([]byte(tc.body), &v); err != nil {
			t.Fatal(err)
		}
		got := strings.Join(doc.validate(ops[tc.op].body, v, ""), "\n")
		if tc.want == "" && got != "" || !strings.Contains(got, tc.want) {
			t.Errorf("%s %s: got %q, want %q", tc.op, tc.body, got, tc.want)
		}
	}
}

// sent is one request the recording server saw.
type sent struct {
	method, path string
	body         []byte
}

// anyAnswer satisfies the envelope check of every operation.
const anyAnswer = `{"contact":{"id":"c"},"task":{"id":"t","title":"x"},"note":{"id":"n","body":"x"},"tags":[],
"followers":[],"succeded":true,"success":true,"ids":[],"responses":[],"errorCount":0,"new":true,
"contacts":[],"total":0,"events":[],"tasks":[],"notes":[]}`

// allSet fails unless every field of v, at any depth, holds a value:
// "every optional field set" is then a checked claim, not a hope.
func allSet(t *testing.T, path string, v reflect.Value) {
	t.Helper()
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		if v.IsNil() {
			t.Errorf("%s is not set", path)
			return
		}
		allSet(t, path, v.Elem())
	case reflect.Struct:
		if strings.HasPrefix(v.Type().Name(), "Nullable[") {
			if !v.FieldByName("set").Bool() || v.FieldByName("null").Bool() {
				t.Errorf("%s is not set", path)
				return
			}
			allSet(t, path, v.Field(0)) // the value
			return
		}
		for i := range v.NumField() {
			allSet(t, path+"."+v.Type().Field(i).Name, v.Field(i))
		}
	case reflect.Slice:
		if v.Len() == 0 {
			t.Errorf("%s is empty", path)
		}
		for i := range v.Len() {
			allSet(t, fmt.Sprintf("%s[%d]", path, i), v.Index(i))
		}
	default:
		if v.IsZero() {
			t.Errorf("%s is not set", path)
		}
	}
}

// clearAll sets every Nullable field of the struct v points to to Null,
// except those named (by JSON name) in keep, and returns the names it cleared.
func clearAll(t *testing.T, v any, keep []string) []string {
	t.Helper()
	rv := reflect.ValueOf(v).Elem()
	var cleared []string
	for i := range rv.NumField() {
		f, sf := rv.Field(i), rv.Type().Field(i)
		if !strings.HasPrefix(f.Type().Name(), "Nullable[") {
			continue
		}
		name, _, _ := strings.Cut(sf.Tag.Get("json"), ",")
		if slices.Contains(keep, name) {
			continue
		}
		if err := f.Addr().Interface().(json.Unmarshaler).UnmarshalJSON([]byte("null")); err != nil {
			t.Fatal(err)
		}
		cleared = append(cleared, name)
	}
	return cleared
}

// nullableNames returns the JSON names of the Nullable fields of v's type.
func nullableNames(v any) []string {
	rt := reflect.TypeOf(v).Elem()
	var out []string
	for i := range rt.NumField() {
		if strings.HasPrefix(rt.Field(i).Type.Name(), "Nullable[") {
			name, _, _ := strings.Cut(rt.Field(i).Tag.Get("json"), ",")
			out = append(out, name)
		}
	}
	return out
}

// The decisions on the fields whose spec forbids null: these cannot be
// cleared and the client refuses a Null for them; every other Nullable
// field's clear must validate (sent as null where the spec allows it, as
// the spec's empty value where it does not).
var notClearableFields = map[string][]string{
	"UpdateContactRequest": {"dnd", "dndSettings", "inboundDndSettings", "customFields"},
	"UpdateTaskRequest":    {"title", "dueDate", "completed"},
	"UpdateNoteRequest":    {"body", "pinned"},
}

func fullCustomFields() []CustomFieldInput {
	return []CustomFieldInput{
		{ID: "FieldText00000000001", Key: "contact.preferred", Value: "by phone"},
		{ID: "FieldMulti0000000001", Key: "contact.interests", Value: []string{"solar", "storage"}},
		{ID: "FieldNumber000000001", Key: "contact.budget", Value: 1500},
	}
}

func fullDND() DNDSettings {
	one := func(s string) *DNDSetting { return &DNDSetting{Status: s, Message: "m", Code: "c"} }
	return DNDSettings{Call: one(DNDActive), Email: one(DNDInactive), SMS: one(DNDPermanent),
		WhatsApp: one(DNDActive), GMB: one(DNDInactive), FB: one(DNDActive)}
}

func fullInbound() InboundDNDSettings {
	return InboundDNDSettings{All: &InboundDNDSetting{Status: DNDInactive, Message: "m"}}
}

func fullCreateContact() CreateContactRequest {
	dnd := true
	d, in := fullDND(), fullInbound()
	return CreateContactRequest{
		LocationID: tLocationID, FirstName: "Rosan", LastName: "Deo", Name: "Rosan Deo", Email: "rosan@deos.com",
		Gender: "male", Phone: "+1 888-888-8888", Address1: "3535 1st St N", City: "Dolomite", State: "AL",
		PostalCode: "35061", Website: "https://www.tesla.com", Timezone: "America/Chihuahua", DND: &dnd,
		DNDSettings: &d, InboundDNDSettings: &in, Tags: []string{"a", "b"}, CustomFields: fullCustomFields(),
		Source: "public api", DateOfBirth: "1990-09-25", Country: "US", CompanyName: "DGS VolMAX",
		AssignedTo: "y0BeYjuRIlDwsDcOHOJo",
	}
}

func fullUpdateContact() *UpdateContactRequest {
	return &UpdateContactRequest{
		FirstName: Set("rosan"), LastName: Set("Deo"), Name: Set("rosan Deo"), Email: Set("rosan@deos.com"),
		Phone: Set("+1 888-888-8888"), Address1: Set("3535 1st St N"), City: Set("Dolomite"), State: Set("AL"),
		PostalCode: Set("35061"), Website: Set("https://www.tesla.com"), Timezone: Set("America/Chihuahua"),
		DND: Set(true), DNDSettings: Set(fullDND()), InboundDNDSettings: Set(fullInbound()),
		Tags: Set([]string{"a"}), CustomFields: Set(fullCustomFields()), Source: Set("public api"),
		DateOfBirth: Set("1990-09-25"), Country: Set("US"), AssignedTo: Set("y0BeYjuRIlDwsDcOHOJo"),
	}
}

func fullUpdateTask() *UpdateTaskRequest {
	return &UpdateTaskRequest{Title: Set("t"), Body: Set("b"), DueDate: Set("2020-10-25T11:00:00Z"),
		Completed: Set(true), AssignedTo: Set("hxHGVRb1YJUscrCB8eXK")}
}

func fullUpdateNote() *UpdateNoteRequest {
	return &UpdateNoteRequest{UserID: Set("u"), Body: Set("b"), Title: Set("t"), Color: Set("#fff"), Pinned: Set(true)}
}

// specCase is one request of a write operation.
type specCase struct {
	name string
	op   Operation
	// body is the request value, checked by allSet when full is true.
	body any
	full bool
	call func(ctx context.Context, c *Client) error
}

func specCases(t *testing.T) []specCase {
	yes := true
	biz := "BusinessId0000000001"
	fullNote := CreateNoteRequest{UserID: "u", Body: "b", Title: "t", Color: "#fff", Pinned: &yes}
	fullTask := CreateTaskRequest{Title: "t", Body: "b", DueDate: "2020-10-25T11:00:00Z", Completed: true, AssignedTo: "u"}
	upsert := UpsertContactRequest{CreateContactRequest: fullCreateContact(), CreateNewIfDuplicateAllowed: &yes}
	create := fullCreateContact()
	bulkTags := BulkTagsRequest{Contacts: []string{tContactID}, Tags: []string{"x"}, LocationID: tLocationID, RemoveAllTags: true}
	bulkBiz := BulkBusinessRequest{LocationID: tLocationID, IDs: []string{tContactID}, BusinessID: &biz}
	workflow := WorkflowRequest{EventStartTime: "2021-06-23T03:30:00+01:00"}
	cases := []specCase{
		{"full", OpCreateContact, &create, true, func(ctx context.Context, c *Client) error {
			_, _, err := c.Contacts.Create(ctx, &create)
			return err
		}},
		{"full", OpUpsertContact, &upsert, true, func(ctx context.Context, c *Client) error {
			_, _, err := c.Contacts.Upsert(ctx, &upsert)
			return err
		}},
		{"full", OpCreateTask, &fullTask, true, func(ctx context.Context, c *Client) error {
			_, _, err := c.Tasks.Create(ctx, tContactID, &fullTask)
			return err
		}},
		{"full", OpSetTaskCompleted, nil, false, func(ctx context.Context, c *Client) error {
			_, _, err := c.Tasks.SetCompleted(ctx, tContactID, tTaskID, true)
			return err
		}},
		{"no body", OpDeleteTask, nil, false, func(ctx context.Context, c *Client) error {
			_, err := c.Tasks.Delete(ctx, tContactID, tTaskID)
			return err
		}},
		{"full", OpAddTags, nil, false, func(ctx context.Context, c *Client) error {
			_, _, err := c.Contacts.AddTags(ctx, tContactID, []string{"a", "b"})
			return err
		}},
		{"full", OpRemoveTags, nil, false, func(ctx context.Context, c *Client) error {
			_, _, err := c.Contacts.RemoveTags(ctx, tContactID, []string{"a"})
			return err
		}},
		{"full", OpCreateNote, &fullNote, true, func(ctx context.Context, c *Client) error {
			_, _, err := c.Notes.Create(ctx, tContactID, &fullNote)
			return err
		}},
		{"no body", OpDeleteNote, nil, false, func(ctx context.Context, c *Client) error {
			_, err := c.Notes.Delete(ctx, tContactID, tNoteID)
			return err
		}},
		{"full", OpBulkUpdateTags, &bulkTags, true, func(ctx context.Context, c *Client) error {
			_, _, err := c.Bulk.UpdateTags(ctx, BulkTagsRemove, &bulkTags)
			return err
		}},
		{"add", OpBulkUpdateTags, nil, false, func(ctx context.Context, c *Client) error {
			_, _, err := c.Bulk.UpdateTags(ctx, BulkTagsAdd, &BulkTagsRequest{Contacts: []string{tContactID}, Tags: []string{"x"}, LocationID: tLocationID})
			return err
		}},
		{"full", OpBulkUpdateBusiness, &bulkBiz, true, func(ctx context.Context, c *Client) error {
			_, _, err := c.Bulk.UpdateBusiness(ctx, &bulkBiz)
			return err
		}},
		{"detach (businessId null)", OpBulkUpdateBusiness, nil, false, func(ctx context.Context, c *Client) error {
			_, _, err := c.Bulk.UpdateBusiness(ctx, &BulkBusinessRequest{LocationID: tLocationID, IDs: []string{tContactID}})
			return err
		}},
		{"no body", OpDeleteContact, nil, false, func(ctx context.Context, c *Client) error {
			_, err := c.Contacts.Delete(ctx, tContactID)
			return err
		}},
		{"full", OpAddFollowers, nil, false, func(ctx context.Context, c *Client) error {
			_, _, err := c.Contacts.AddFollowers(ctx, tContactID, []string{"u1"})
			return err
		}},
		{"full", OpRemoveFollowers, nil, false, func(ctx context.Context, c *Client) error {
			_, _, err := c.Contacts.RemoveFollowers(ctx, tContactID, []string{"u1"})
			return err
		}},
		{"empty object", OpAddToCampaign, nil, false, func(ctx context.Context, c *Client) error {
			_, err := c.Campaigns.Add(ctx, tContactID, "CampaignId0000000001")
			return err
		}},
		{"no body", OpRemoveFromCampaign, nil, false, func(ctx context.Context, c *Client) error {
			_, err := c.Campaigns.Remove(ctx, tContactID, "CampaignId0000000001")
			return err
		}},
		{"no body", OpRemoveFromAllCampaigns, nil, false, func(ctx context.Context, c *Client) error {
			_, err := c.Campaigns.RemoveAll(ctx, tContactID)
			return err
		}},
		{"full", OpAddToWorkflow, &workflow, true, func(ctx context.Context, c *Client) error {
			_, err := c.Workflows.Add(ctx, tContactID, "WorkflowId0000000001", &workflow)
			return err
		}},
		{"empty", OpAddToWorkflow, nil, false, func(ctx context.Context, c *Client) error {
			_, err := c.Workflows.Add(ctx, tContactID, "WorkflowId0000000001", nil)
			return err
		}},
		{"full", OpRemoveFromWorkflow, &workflow, true, func(ctx context.Context, c *Client) error {
			_, err := c.Workflows.Remove(ctx, tContactID, "WorkflowId0000000001", &workflow)
			return err
		}},
	}

	// The three updates: every field set; every clearable field cleared
	// (the rest left set); each custom field cleared by a nil value.
	type update struct {
		op   Operation
		full func() any
		send func(ctx context.Context, c *Client, body any) error
	}
	updates := []update{
		{OpUpdateContact, func() any { return fullUpdateContact() }, func(ctx context.Context, c *Client, body any) error {
			_, _, err := c.Contacts.Update(ctx, tContactID, body.(*UpdateContactRequest))
			return err
		}},
		{OpUpdateTask, func() any { return fullUpdateTask() }, func(ctx context.Context, c *Client, body any) error {
			_, _, err := c.Tasks.Update(ctx, tContactID, tTaskID, body.(*UpdateTaskRequest))
			return err
		}},
		{OpUpdateNote, func() any { return fullUpdateNote() }, func(ctx context.Context, c *Client, body any) error {
			_, _, err := c.Notes.Update(ctx, tContactID, tNoteID, body.(*UpdateNoteRequest))
			return err
		}},
	}
	for _, u := range updates {
		full := u.full()
		cases = append(cases, specCase{"full", u.op, full, true, func(ctx context.Context, c *Client) error { return u.send(ctx, c, full) }})
		cleared := u.full()
		keep := notClearableFields[reflect.TypeOf(cleared).Elem().Name()]
		names := clearAll(t, cleared, keep)
		if r, ok := cleared.(*UpdateContactRequest); ok {
			fields := fullCustomFields()
			for i := range fields {
				fields[i].Value = nil
			}
			r.CustomFields = Set(fields)
		}
		cases = append(cases, specCase{"cleared " + strings.Join(names, ","), u.op, nil, false,
			func(ctx context.Context, c *Client) error { return u.send(ctx, c, cleared) }})
	}
	return cases
}

// TestRequestsMatchTheSpec sends every write, fully set and cleared, and
// validates each body against the file's request schema.
func TestRequestsMatchTheSpec(t *testing.T) {
	doc, ops := loadOpenAPI(t)
	env := setup(t)
	var mu sync.Mutex
	var got []sent
	env.handle("/", func(w http.ResponseWriter, r *http.Request) {
		b := readBody(t, r)
		mu.Lock()
		got = append(got, sent{r.Method, strings.TrimPrefix(r.URL.EscapedPath(), apiPrefix), b})
		mu.Unlock()
		writeJSON(w, http.StatusOK, []byte(anyAnswer))
	})
	covered := map[string]bool{}
	for _, tc := range specCases(t) {
		covered[tc.op.ID] = true
		t.Run(tc.op.ID+"/"+tc.name, func(t *testing.T) {
			if tc.full {
				allSet(t, "body", reflect.ValueOf(tc.body))
			}
			mu.Lock()
			got = nil
			mu.Unlock()
			if err := tc.call(t.Context(), env.client); err != nil {
				t.Fatalf("call: %v", err)
			}
			mu.Lock()
			defer mu.Unlock()
			if len(got) != 1 {
				t.Fatalf("server saw %d requests, want 1", len(got))
			}
			req, spec := got[0], ops[tc.op.ID]
			if req.method != spec.method || !matchesTemplate(spec.path, req.path) {
				t.Fatalf("sent %s %s, the spec's route is %s %s", req.method, req.path, spec.method, spec.path)
			}
			switch {
			case spec.body == nil && len(req.body) != 0:
				t.Fatalf("sent a body %s; the spec has none", req.body)
			case spec.body == nil:
				return
			case len(req.body) == 0 && spec.required:
				t.Fatal("sent no body; the spec requires one")
			}
			var v any
			if err := json.Unmarshal(req.body, &v); err != nil {
				t.Fatalf("body %s: %v", req.body, err)
			}
			if errs := doc.validate(spec.body, v, ""); len(errs) > 0 {
				t.Errorf("body %s breaks the spec:\n%s", req.body, strings.Join(errs, "\n"))
			}
		})
	}
	for _, op := range Operations() {
		if op.Write && !covered[op.ID] {
			t.Errorf("write %s has no spec case", op.ID)
		}
	}
}

// TestNotClearableFieldsRefused: a Null for a field the spec forbids null
// and the API cannot clear is refused before any call; the table of such
// fields and the request types' Nullable fields must agree.
func TestNotClearableFieldsRefused(t *testing.T) {
	env := setup(t)
	env.handle("/", func(w http.ResponseWriter, r *http.Request) { writeJSON(w, http.StatusOK, []byte(anyAnswer)) })
	for _, tc := range []struct {
		body func() any
		send func(ctx context.Context, c *Client, body any) error
	}{
		{func() any { return &UpdateContactRequest{} }, func(ctx context.Context, c *Client, body any) error {
			_, _, err := c.Contacts.Update(ctx, tContactID, body.(*UpdateContactRequest))
			return err
		}},
		{func() any { return &UpdateTaskRequest{} }, func(ctx context.Context, c *Client, body any) error {
			_, _, err := c.Tasks.Update(ctx, tContactID, tTaskID, body.(*UpdateTaskRequest))
			return err
		}},
		{func() any { return &UpdateNoteRequest{} }, func(ctx context.Context, c *Client, body any) error {
			_, _, err := c.Notes.Update(ctx, tContactID, tNoteID, body.(*UpdateNoteRequest))
			return err
		}},
	} {
		typ := reflect.TypeOf(tc.body()).Elem().Name()
		refused := notClearableFields[typ]
		for _, name := range refused {
			if !slices.Contains(nullableNames(tc.body()), name) {
				t.Errorf("%s has no Nullable field %q", typ, name)
			}
		}
		for _, name := range nullableNames(tc.body()) {
			t.Run(typ+"/"+name, func(t *testing.T) {
				body := tc.body()
				keep := slices.DeleteFunc(nullableNames(body), func(n string) bool { return n == name })
				clearAll(t, body, keep)
				before := len(env.requests())
				err := tc.send(t.Context(), env.client, body)
				if !slices.Contains(refused, name) {
					if err != nil {
						t.Fatalf("clearing %s: %v", name, err)
					}
					return
				}
				if len(env.requests()) != before {
					t.Fatal("the refused body reached the server")
				}
				{
					e, ok := err.(*Error)
					if !ok || !strings.Contains(e.Error(), name+" cannot be cleared") || e.WriteOutcome() != WriteNotApplied {
						t.Fatalf("got %v, want ErrInvalidInput naming %s", err, name)
					}
					if _, merr := json.Marshal(body); merr == nil {
						t.Fatal("the body still encodes: NewRequest could send it")
					}
				}
			})
		}
	}
}

// matchesTemplate reports whether an escaped request path fits a template.
func matchesTemplate(tmpl, path string) bool {
	ts := strings.Split(strings.Trim(tmpl, "/"), "/")
	ps := strings.Split(strings.Trim(path, "/"), "/")
	if len(ts) != len(ps) {
		return false
	}
	for i := range ts {
		if !strings.HasPrefix(ts[i], "{") && ts[i] != ps[i] {
			return false
		}
	}
	return true
}
