// This file bounds what one field's arguments may hold: the length of every
// ID and free-text value, the number of items of every list, and the
// characters that may appear in identifiers, tags and one-line text. The
// checks run in a field middleware (Resolver.CheckArguments), before the
// resolver and so before any upstream call, over the argument values as the
// client sent them, typed by the schema: every ID argument is an identifier
// wherever it appears, and every String, JSON and list coordinate of the
// schema has a rule in the tables below (a test walks the schema to keep it
// so). Input types that share a field name share its rule, so a create and
// an update of the same field are held to the same limits.

package resolvers

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"sync"
	"unicode"
	"unicode/utf8"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"

	"github.com/ghl-graphql/gateway/graph"
	"github.com/ghl-graphql/gateway/upstream"
)

// Limits bound the arguments of one field. Lengths are in bytes of UTF-8,
// which is what the upstream's body limits count. Zero fields take
// DefaultLimits' value.
type Limits struct {
	// IDBytes bounds every ID argument (contact, task, note, location,
	// business, campaign, workflow, user, custom field IDs).
	IDBytes int
	// QueryBytes bounds the free-text query of the searches and listings.
	QueryBytes int
	// ShortTextBytes bounds one-line text: names, address parts, website,
	// time zone, date of birth, source, gender, task and note titles, note
	// colour, do-not-disturb messages, custom field keys, filter fields and
	// filter values.
	ShortTextBytes int
	// TextBytes bounds task and note bodies.
	TextBytes int
	// EmailBytes bounds an email address (RFC 5321 allows 254).
	EmailBytes int
	// PhoneBytes bounds a phone number, punctuation included.
	PhoneBytes int
	// TagBytes bounds one tag.
	TagBytes int
	// CustomFieldValueBytes bounds one custom field value, as JSON.
	CustomFieldValueBytes int
	// Tags bounds the tags of one argument.
	Tags int
	// BulkIDs bounds the contact IDs of one bulk operation.
	BulkIDs int
	// Followers bounds the followers added or removed at once.
	Followers int
	// CustomFields bounds the custom field values of one write.
	CustomFields int
	// Filters bounds the conditions and groups of one search, over all
	// nesting levels.
	Filters int
	// FilterDepth bounds how deep filter groups nest (1: no groups).
	FilterDepth int
	// FilterValues bounds the items of one filter's value list.
	FilterValues int
	// SortFields bounds the sort entries of one search.
	SortFields int
}

// DefaultLimits are generous for real use (HighLevel's IDs are about 20
// characters, its search pages hold at most 500 contacts) and small enough
// that one request cannot make the gateway build an absurd upstream call.
var DefaultLimits = Limits{
	IDBytes:               128,
	QueryBytes:            256,
	ShortTextBytes:        1024,
	TextBytes:             64 << 10,
	EmailBytes:            254,
	PhoneBytes:            32,
	TagBytes:              256,
	CustomFieldValueBytes: 64 << 10,
	Tags:                  100,
	BulkIDs:               500,
	Followers:             100,
	CustomFields:          100,
	Filters:               100,
	FilterDepth:           5,
	FilterValues:          100,
	SortFields:            6,
}

// withDefaults returns l with zero fields set from DefaultLimits.
func (l Limits) withDefaults() Limits {
	d := DefaultLimits
	for _, f := range []struct{ v, def *int }{
		{&l.IDBytes, &d.IDBytes}, {&l.QueryBytes, &d.QueryBytes}, {&l.ShortTextBytes, &d.ShortTextBytes},
		{&l.TextBytes, &d.TextBytes}, {&l.EmailBytes, &d.EmailBytes}, {&l.PhoneBytes, &d.PhoneBytes},
		{&l.TagBytes, &d.TagBytes}, {&l.CustomFieldValueBytes, &d.CustomFieldValueBytes}, {&l.Tags, &d.Tags},
		{&l.BulkIDs, &d.BulkIDs}, {&l.Followers, &d.Followers}, {&l.CustomFields, &d.CustomFields},
		{&l.Filters, &d.Filters}, {&l.FilterDepth, &d.FilterDepth}, {&l.FilterValues, &d.FilterValues},
		{&l.SortFields, &d.SortFields},
	} {
		if *f.v == 0 {
			*f.v = *f.def
		}
	}
	return l
}

// Validate reports the first negative limit.
func (l Limits) Validate() error {
	for name, v := range map[string]int{
		"IDBytes": l.IDBytes, "QueryBytes": l.QueryBytes, "ShortTextBytes": l.ShortTextBytes, "TextBytes": l.TextBytes,
		"EmailBytes": l.EmailBytes, "PhoneBytes": l.PhoneBytes, "TagBytes": l.TagBytes,
		"CustomFieldValueBytes": l.CustomFieldValueBytes, "Tags": l.Tags, "BulkIDs": l.BulkIDs,
		"Followers": l.Followers, "CustomFields": l.CustomFields, "Filters": l.Filters,
		"FilterDepth": l.FilterDepth, "FilterValues": l.FilterValues, "SortFields": l.SortFields,
	} {
		if v < 0 {
			return fmt.Errorf("resolvers: limit %s is %d, must not be negative", name, v)
		}
	}
	return nil
}

// textKind is the rule of a String (or a JSON scalar's strings).
type textKind int

const (
	textShort textKind = iota + 1
	textQuery
	textLong
	textEmail
	textPhone
	textTag
	textCursor
)

// jsonKind is the rule of a JSON value.
type jsonKind int

const (
	jsonFilterValue jsonKind = iota + 1
	jsonRangeBound
	jsonCustomFieldValue
)

// listKind is the count rule of a list.
type listKind int

const (
	listTags listKind = iota + 1
	listBulkIDs
	listFollowers
	listCustomFields
	listFilters
	listSort
)

// textRules gives the rule of every String argument and input field, by
// name: the same name means the same kind of text in every field and input
// type of the schema (creates and updates alike).
var textRules = map[string]textKind{
	"query": textQuery, "after": textCursor,
	"email": textEmail, "phone": textPhone,
	"body":      textLong,
	"tags":      textTag,
	"firstName": textShort, "lastName": textShort, "name": textShort, "companyName": textShort,
	"gender": textShort, "address1": textShort, "city": textShort, "state": textShort,
	"postalCode": textShort, "country": textShort, "website": textShort, "timezone": textShort,
	"dateOfBirth": textShort, "source": textShort, "title": textShort, "color": textShort,
	"message": textShort, "code": textShort, "key": textShort, "field": textShort,
}

// jsonRules gives the rule of every JSON argument and input field, by
// coordinate ("Type.field"): "value" means different things in a filter and
// a custom field.
var jsonRules = map[string]jsonKind{
	"ContactFilter.value":    jsonFilterValue,
	"RangeInput.gte":         jsonRangeBound,
	"RangeInput.gt":          jsonRangeBound,
	"RangeInput.lte":         jsonRangeBound,
	"RangeInput.lt":          jsonRangeBound,
	"CustomFieldInput.value": jsonCustomFieldValue,
}

// listRules gives the count rule of every list argument and input field, by name.
var listRules = map[string]listKind{
	"tags": listTags, "contactIds": listBulkIDs, "followers": listFollowers,
	"customFields": listCustomFields, "filters": listFilters, "sort": listSort,
}

// CheckArguments is a gqlgen field middleware (handler.AroundFields) that
// refuses, with BAD_USER_INPUT naming the argument and the limit, a field
// whose arguments break the Limits, before its resolver runs.
func (r *Resolver) CheckArguments(ctx context.Context, next graphql.Resolver) (any, error) {
	fc := graphql.GetFieldContext(ctx)
	if fc == nil || len(fc.Field.Arguments) == 0 || fc.Field.Definition == nil || !graphql.HasOperationContext(ctx) {
		return next(ctx)
	}
	if err := r.checkArguments(fc.Field.Field, graphql.GetOperationContext(ctx).Variables); err != nil {
		return nil, err
	}
	return next(ctx)
}

// checkArguments checks the arguments a client gave a field.
func (r *Resolver) checkArguments(f *ast.Field, vars map[string]any) error {
	w := argWalker{lim: &r.limits, schema: schema()}
	for _, arg := range f.Arguments {
		def := f.Definition.Arguments.ForName(arg.Name)
		if def == nil || arg.Value == nil {
			continue // gqlgen's validation has refused it already
		}
		v, err := arg.Value.Value(vars)
		if err != nil {
			continue // likewise
		}
		if err := w.typed("", arg.Name, def.Type, v, arg.Name, 0); err != nil {
			return err
		}
	}
	return nil
}

var (
	schemaOnce sync.Once
	parsed     *ast.Schema
)

// schema is the gateway's parsed schema, to type input values.
func schema() *ast.Schema {
	schemaOnce.Do(func() { parsed = graph.NewExecutableSchema(graph.Config{}).Schema() })
	return parsed
}

// argWalker checks one field's argument values against the schema's types.
type argWalker struct {
	lim     *Limits
	schema  *ast.Schema
	filters int // ContactFilter values seen, over all nesting levels
}

// typed checks v, of type t, found at path; name is the argument's or
// input field's name, and owner the input type that has it ("" for an
// argument); depth is the nesting of ContactFilter values around it.
func (w *argWalker) typed(owner, name string, t *ast.Type, v any, path string, depth int) error {
	if v == nil {
		return nil
	}
	if t.Elem != nil {
		items, ok := v.([]any)
		if !ok {
			// GraphQL coerces a single value to a list of one.
			items = []any{v}
		}
		if max, ok := w.listCap(name); ok && len(items) > max {
			return badInput("%s holds %d items, over the limit of %d", path, len(items), max)
		}
		for i, it := range items {
			if err := w.typed(owner, name, t.Elem, it, path+"["+strconv.Itoa(i)+"]", depth); err != nil {
				return err
			}
		}
		return nil
	}
	switch t.NamedType {
	case "ID":
		return checkIDLimit(path, idString(v), w.lim.IDBytes)
	case "String":
		s, _ := v.(string)
		kind, ok := textRules[name]
		if !ok {
			kind = textShort // a field added without a rule is held to the tightest general rule
		}
		return w.text(kind, path, s)
	case "JSON":
		return w.json(jsonRules[owner+"."+name], path, v)
	}
	def := w.schema.Types[t.NamedType]
	if def == nil || def.Kind != ast.InputObject {
		return nil // Int, Boolean, DateTime and enums are bounded by their type
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil
	}
	if def.Name == "ContactFilter" {
		depth++
		w.filters++
		if w.filters > w.lim.Filters {
			return badInput("%s: filters hold more than %d conditions and groups, over the limit", path, w.lim.Filters)
		}
		if depth > w.lim.FilterDepth {
			return badInput("%s: filter groups nest %d deep, over the limit of %d", path, depth, w.lim.FilterDepth)
		}
	}
	for _, fd := range def.Fields {
		fv, present := m[fd.Name]
		if !present {
			continue
		}
		if err := w.typed(def.Name, fd.Name, fd.Type, fv, path+"."+fd.Name, depth); err != nil {
			return err
		}
	}
	return nil
}

// listCap is the most items a list of this name may hold.
func (w *argWalker) listCap(name string) (int, bool) {
	switch listRules[name] {
	case listTags:
		return w.lim.Tags, true
	case listBulkIDs:
		return w.lim.BulkIDs, true
	case listFollowers:
		return w.lim.Followers, true
	case listCustomFields:
		return w.lim.CustomFields, true
	case listFilters:
		return w.lim.Filters, true
	case listSort:
		return w.lim.SortFields, true
	}
	return 0, false
}

// text checks a string of the given kind.
func (w *argWalker) text(kind textKind, path, s string) error {
	var max int
	oneLine := true
	switch kind {
	case textQuery:
		max = w.lim.QueryBytes
	case textLong:
		max, oneLine = w.lim.TextBytes, false
	case textEmail:
		max = w.lim.EmailBytes
	case textPhone:
		max = w.lim.PhoneBytes
	case textTag:
		if len(s) > w.lim.TagBytes {
			return badInput("%s is %d bytes long, over the limit of %d bytes", path, len(s), w.lim.TagBytes)
		}
		if bad := tagProblem(s); bad != "" {
			return badInput("%s %s", path, bad)
		}
		return nil
	case textCursor:
		max = upstream.MaxCursorLen
	default:
		max = w.lim.ShortTextBytes
	}
	if len(s) > max {
		return badInput("%s is %d bytes long, over the limit of %d bytes", path, len(s), max)
	}
	if bad := textProblem(s, oneLine); bad != "" {
		return badInput("%s %s", path, bad)
	}
	return nil
}

// json checks a JSON value of the given kind.
func (w *argWalker) json(kind jsonKind, path string, v any) error {
	switch kind {
	case jsonFilterValue:
		items, isList := v.([]any)
		if !isList {
			return w.jsonScalar(path, v, "a filter value must be a string, number, boolean or a list of them")
		}
		if len(items) > w.lim.FilterValues {
			return badInput("%s holds %d values, over the limit of %d", path, len(items), w.lim.FilterValues)
		}
		for i, it := range items {
			if err := w.jsonScalar(path+"["+strconv.Itoa(i)+"]", it, "a filter value list holds strings, numbers or booleans"); err != nil {
				return err
			}
		}
		return nil
	case jsonRangeBound:
		return w.jsonScalar(path, v, "a range bound must be a string or a number")
	}
	// A custom field value may be any JSON (text, number, list, file
	// object): only its size is bounded. Anything else without a rule too.
	max := w.lim.CustomFieldValueBytes
	if n := jsonSize(v, max); n > max {
		return badInput("%s is more than %d bytes long as JSON, over the limit", path, max)
	}
	return nil
}

// jsonSize is the size of v as compact JSON, strings counted by their
// length and quotes (escapes aside), counted no further than past limit:
// a value too big is found without encoding it, however many fields of a
// request (aliases) share it.
func jsonSize(v any, limit int) int {
	n := 0
	var walk func(any)
	walk = func(v any) {
		if n > limit {
			return
		}
		switch x := v.(type) {
		case nil:
			n += 4
		case bool:
			n += len(strconv.FormatBool(x))
		case string:
			n += len(x) + 2
		case json.Number:
			n += len(x)
		case int64:
			n += len(strconv.FormatInt(x, 10))
		case int:
			n += len(strconv.Itoa(x))
		case float64:
			n += len(strconv.FormatFloat(x, 'g', -1, 64))
		case []any:
			n += 2 + max(len(x)-1, 0) // brackets and commas
			for _, it := range x {
				walk(it)
			}
		case map[string]any:
			n += 2 + max(len(x)-1, 0)
			for k, it := range x {
				n += len(k) + 3 // quotes and colon
				walk(it)
			}
		default:
			n += len(fmt.Sprint(x))
		}
	}
	walk(v)
	return n
}

// jsonScalar checks that v is a JSON scalar, its strings one-line short text.
func (w *argWalker) jsonScalar(path string, v any, what string) error {
	switch x := v.(type) {
	case string:
		return w.text(textShort, path, x)
	case bool, float64, int, int64, json.Number:
		return nil
	case nil:
		return nil
	}
	return badInput("%s: %s", path, what)
}

// idString is an ID value as its resolver will see it: GraphQL accepts an
// integer for an ID, and gqlgen turns it into its decimal string.
func idString(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case json.Number:
		return x.String()
	case int64:
		return strconv.FormatInt(x, 10)
	case int:
		return strconv.Itoa(x)
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	}
	return fmt.Sprint(v)
}

// checkIDLimit refuses an ID longer than max bytes, or one that breaks
// checkID's rules.
func checkIDLimit(field, id string, max int) error {
	if len(id) > max {
		return badInput("%s is %d bytes long, over the limit of %d bytes", field, len(id), max)
	}
	if bad := idProblem(id); bad != "" {
		return badInput("%s %s", field, bad)
	}
	return nil
}

// idProblem says what makes id unusable as one path segment of an upstream
// call, or "" when nothing does. HighLevel's IDs are ASCII letters and
// digits; anything invisible or that breaks a line is refused, since it
// can only be a mistake or an attempt to confuse a log or a person.
func idProblem(id string) string {
	switch {
	case id == "" || isBlank(id):
		return "must not be empty"
	case id == "." || id == "..":
		return fmt.Sprintf("%q is not a valid ID", id)
	case !utf8.ValidString(id):
		return "is not valid UTF-8"
	}
	for _, r := range id {
		if unicode.IsControl(r) || unicode.Is(unicode.Cf, r) || unicode.Is(unicode.Zl, r) || unicode.Is(unicode.Zp, r) || r == utf8.RuneError {
			return fmt.Sprintf("must not contain control or invisible characters (found %U)", r)
		}
	}
	return ""
}

// tagProblem says what makes t unusable as a tag, or "". A tag is shown to
// people and matched by equality: control characters, line separators and
// bidirectional overrides (which make a tag display as another) are
// refused; other format characters stay, since emoji sequences use the
// zero-width joiner.
func tagProblem(t string) string {
	if !utf8.ValidString(t) {
		return "is not valid UTF-8"
	}
	for _, r := range t {
		if unicode.IsControl(r) || unicode.Is(unicode.Zl, r) || unicode.Is(unicode.Zp, r) || isBidiControl(r) || r == utf8.RuneError {
			return fmt.Sprintf("must not contain control characters (found %U)", r)
		}
	}
	return ""
}

// textProblem says what makes s unusable as free text, or "": control
// characters (in long text, tab, newline and carriage return are allowed;
// one-line text allows none, nor line separators).
func textProblem(s string, oneLine bool) string {
	if !utf8.ValidString(s) {
		return "is not valid UTF-8"
	}
	for _, r := range s {
		switch {
		case !oneLine && (r == '\t' || r == '\n' || r == '\r'):
		case unicode.IsControl(r), oneLine && (unicode.Is(unicode.Zl, r) || unicode.Is(unicode.Zp, r)):
			return fmt.Sprintf("must not contain control characters (found %U)", r)
		}
	}
	return ""
}

// isBidiControl reports the explicit bidirectional formatting characters.
func isBidiControl(r rune) bool {
	return r == '\u200e' || r == '\u200f' || (r >= '\u202a' && r <= '\u202e') || (r >= '\u2066' && r <= '\u2069') || r == '\u061c'
}

func isBlank(s string) bool {
	for _, r := range s {
		if !unicode.IsSpace(r) {
			return false
		}
	}
	return true
}
