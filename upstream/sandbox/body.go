// This file holds request decoding as HighLevel's NestJS pipeline does it:
// body-parser refuses malformed JSON (400), the location guard refuses
// another location's locationId (403), and the whitelisting validation pipe
// refuses unknown properties, wrong types and failed constraints (422, with
// a list of messages in class-validator's words).

package sandbox

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/ghl-graphql/gateway/upstream"
)

// maxBodyBytes bounds a request body; the largest legitimate one, a bulk
// update of many contacts, stays far below it.
const maxBodyBytes = 4 << 20

// call is one request on its way through a handler.
type call struct {
	s      *Server
	r      *http.Request
	op     upstream.Operation
	params []string
	// loc is the location the token is bound to.
	loc string
	// body is the request body, read before any wait.
	body []byte
}

// readBody reads the whole request body, bounded. Reading it before any
// wait matters: net/http notices a client that went away (and cancels the
// request's context) only once the body has been consumed.
func readBody(w http.ResponseWriter, r *http.Request) ([]byte, *response) {
	data, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBodyBytes))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			r := response{status: http.StatusRequestEntityTooLarge, body: errorBody{
				StatusCode: http.StatusRequestEntityTooLarge, Message: "request entity too large", Error: "Payload Too Large"}}
			return nil, &r
		}
		r := failure(http.StatusBadRequest, "request body could not be read")
		return nil, &r
	}
	return data, nil
}

// bind decodes the JSON body into dst, a pointer to the operation's body
// type, and returns the body's top-level object so that handlers can tell
// an absent key from a zero value. An empty body counts as {}.
func (c *call) bind(dst any) (map[string]any, *response) {
	data := c.body
	if len(bytes.TrimSpace(data)) == 0 {
		data = []byte("{}")
	}
	raw, resp := parseObject(data)
	if resp != nil {
		return nil, resp
	}
	if loc, isString := raw["locationId"].(string); isString && loc != c.loc {
		return nil, &locationForbidden
	}
	var msgs []string
	unknownProperties("", raw, reflect.TypeOf(dst), &msgs)
	if err := json.Unmarshal(data, dst); err != nil {
		msgs = append(msgs, typeMessage(err))
	}
	if len(msgs) > 0 {
		r := invalid(msgs...)
		return nil, &r
	}
	return raw, nil
}

// parseObject parses data as one JSON object, answering 400 in
// body-parser's words when it is not.
func parseObject(data []byte) (map[string]any, *response) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var v any
	err := dec.Decode(&v)
	if err == nil && dec.More() {
		err = &json.SyntaxError{Offset: dec.InputOffset()}
	}
	if err == nil {
		if _, trailing := dec.Token(); trailing != io.EOF {
			err = &json.SyntaxError{Offset: dec.InputOffset()}
		}
	}
	if err != nil {
		msg := "Unexpected end of JSON input"
		var se *json.SyntaxError
		if errors.As(err, &se) {
			msg = fmt.Sprintf("Unexpected token in JSON at position %d", se.Offset)
		}
		r := response{status: http.StatusBadRequest, body: errorBody{StatusCode: http.StatusBadRequest, Message: msg, Error: "Bad Request"}}
		return nil, &r
	}
	obj, isObj := v.(map[string]any)
	if !isObj {
		r := response{status: http.StatusBadRequest, body: errorBody{StatusCode: http.StatusBadRequest,
			Message: "request body must be a JSON object", Error: "Bad Request"}}
		return nil, &r
	}
	return obj, nil
}

// typeMessage words a decoding error as class-validator would.
func typeMessage(err error) string {
	var te *json.UnmarshalTypeError
	if !errors.As(err, &te) {
		return "body could not be decoded: " + err.Error()
	}
	field := te.Field
	if field == "" {
		field = "value"
	}
	t := te.Type
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == nil {
		return field + " has the wrong type"
	}
	switch t.Kind() {
	case reflect.String:
		return field + " must be a string"
	case reflect.Bool:
		return field + " must be a boolean value"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64,
		reflect.Float32, reflect.Float64:
		return field + " must be a number conforming to the specified constraints"
	case reflect.Slice, reflect.Array:
		return field + " must be an array"
	default:
		return field + " must be an object"
	}
}

// fieldPkg identifies field[T], whose JSON is its T's.
var fieldPkg = reflect.TypeFor[field[int]]().PkgPath()

// unwrapType strips pointers and field wrappers.
func unwrapType(t reflect.Type) reflect.Type {
	for {
		switch {
		case t.Kind() == reflect.Pointer:
			t = t.Elem()
		case t.Kind() == reflect.Struct && t.PkgPath() == fieldPkg && strings.HasPrefix(t.Name(), "field["):
			t = t.Field(0).Type
		default:
			return t
		}
	}
}

// fieldCache maps a struct type to its JSON field names and types.
var fieldCache sync.Map // reflect.Type → map[string]reflect.Type

// jsonFields returns the JSON names of t's fields, embedded structs
// flattened as encoding/json does.
func jsonFields(t reflect.Type) map[string]reflect.Type {
	if m, ok := fieldCache.Load(t); ok {
		return m.(map[string]reflect.Type)
	}
	m := map[string]reflect.Type{}
	for i := range t.NumField() {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, _, _ := strings.Cut(tag, ",")
		if f.Anonymous && name == "" {
			if et := unwrapType(f.Type); et.Kind() == reflect.Struct {
				for k, v := range jsonFields(et) {
					if _, shadowed := m[k]; !shadowed {
						m[k] = v
					}
				}
				continue
			}
		}
		if !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		m[name] = f.Type
	}
	fieldCache.Store(t, m)
	return m
}

// unknownProperties appends a message for every property of v that t does
// not declare, at any depth, in NestJS's form ("property foo should not
// exist", nested as "dndSettings.property foo should not exist").
func unknownProperties(prefix string, v any, t reflect.Type, out *[]string) {
	t = unwrapType(t)
	switch t.Kind() {
	case reflect.Struct:
		obj, isObj := v.(map[string]any)
		if !isObj {
			return
		}
		fields := jsonFields(t)
		keys := make([]string, 0, len(obj))
		for k := range obj {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			ft, known := fields[k]
			if !known {
				*out = append(*out, prefix+"property "+k+" should not exist")
				continue
			}
			unknownProperties(prefix+k+".", obj[k], ft, out)
		}
	case reflect.Slice, reflect.Array:
		arr, isArr := v.([]any)
		if !isArr {
			return
		}
		for i, e := range arr {
			unknownProperties(prefix+strconv.Itoa(i)+".", e, t.Elem(), out)
		}
	}
}

// checks collects validation messages.
type checks struct {
	msgs []string
}

func (ck *checks) addf(format string, args ...any) {
	ck.msgs = append(ck.msgs, fmt.Sprintf(format, args...))
}

// result is the 422 answer, or nil when every check passed.
func (ck *checks) result() *response {
	if len(ck.msgs) == 0 {
		return nil
	}
	r := invalid(ck.msgs...)
	return &r
}

// present reports whether key is in raw with a non-null value.
func present(raw map[string]any, key string) bool {
	v, ok := raw[key]
	return ok && v != nil
}

// requireString checks that raw[key] is a non-empty string.
func (ck *checks) requireString(raw map[string]any, key string) {
	v, ok := raw[key].(string)
	switch {
	case !present(raw, key):
		ck.addf("%s should not be empty", key)
		ck.addf("%s must be a string", key)
	case !ok:
		// the type message comes from decoding
	case strings.TrimSpace(v) == "":
		ck.addf("%s should not be empty", key)
	}
}

// notNull checks that key, when present, is not null: for fields the API
// requires whenever they are sent.
func (ck *checks) notNull(raw map[string]any, key, what string) {
	if v, ok := raw[key]; ok && v == nil {
		ck.addf("%s %s", key, what)
	}
}

// emailPattern is close to class-validator's IsEmail for what people type.
var emailPattern = regexp.MustCompile(`^[^\s@"(),:;<>\[\]\\]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*\.[A-Za-z]{2,}$`)

func (ck *checks) email(key, v string) {
	if v != "" && !emailPattern.MatchString(v) {
		ck.addf("%s must be an email", key)
	}
}

// parseRFC3339 parses an RFC 3339 time, with or without fractions.
func parseRFC3339(s string) (time.Time, bool) {
	t, err := time.Parse(time.RFC3339Nano, strings.TrimSpace(s))
	return t, err == nil
}

func (ck *checks) rfc3339(key, v string) {
	if _, good := parseRFC3339(v); !good {
		ck.addf("%s must be a valid ISO 8601 date string", key)
	}
}

// eachNonEmpty checks that no item of a list is empty.
func (ck *checks) eachNonEmpty(key string, items []string) {
	for _, it := range items {
		if strings.TrimSpace(it) == "" {
			ck.addf("each value in %s should not be empty", key)
			return
		}
	}
}

// queryLocation reads the locationId query parameter, refusing a missing
// one (422) and another location's (403).
func (c *call) queryLocation() *response {
	loc := c.r.URL.Query().Get("locationId")
	if loc == "" {
		r := invalid("locationId should not be empty", "locationId must be a string")
		return &r
	}
	if loc != c.loc {
		return &locationForbidden
	}
	return nil
}

// queryInt reads an optional integer query parameter within lo..hi.
func (c *call) queryInt(ck *checks, key string, def, lo, hi int) int {
	v := c.r.URL.Query().Get(key)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	switch {
	case err != nil:
		ck.addf("%s must be a number conforming to the specified constraints", key)
	case n < lo:
		ck.addf("%s must not be less than %d", key, lo)
	case hi > 0 && n > hi:
		ck.addf("%s must not be greater than %d", key, hi)
	default:
		return n
	}
	return def
}
