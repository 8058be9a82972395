// This file holds what decides whether a contact matches a search: the
// free-text query and the filters ({field, operator, value} conditions and
// nested AND/OR groups), compiled once per request into predicates.

package sandbox

import (
	"strconv"
	"strings"
)

// matchesQuery reports whether the free-text query (lower-cased) is in the
// contact's names, email, phone or company.
func matchesQuery(c *Contact, q string) bool {
	if q == "" {
		return true
	}
	for _, f := range []string{c.Name, c.FirstName, c.LastName, c.Email, c.Phone, c.CompanyName} {
		if strings.Contains(strings.ToLower(f), q) {
			return true
		}
	}
	// "(512) 555" finds "+1512555…": compare digits when the query is a number.
	if strings.Trim(q, "0123456789+-() .") == "" {
		if d := digitsOf(q); len(d) >= 3 && strings.Contains(digitsOf(c.Phone), d) {
			return true
		}
	}
	return false
}

// predicate tells whether a contact passes a filter.
type predicate func(*contactRec) bool

func matchAll(*contactRec) bool { return true }

// fieldKind is how a filter field compares.
type fieldKind int

const (
	kindString fieldKind = iota
	kindList
	kindBool
	kindDate
)

// filterField reads one filterable field.
type filterField struct {
	kind fieldKind
	str  func(*contactRec) string
	list func(*contactRec) []string
	flag func(*contactRec) bool
	date func(*contactRec) (int64, bool)
}

func strField(get func(*Contact) string) filterField {
	return filterField{kind: kindString, str: func(r *contactRec) string { return get(&r.c) }}
}

func parsedDate(s string) (int64, bool) {
	if t, good := parseRFC3339(s); good {
		return t.UnixMilli(), true
	}
	return 0, false
}

// filterFields are the fields search filters accept, with HighLevel's
// lower-case aliases.
var filterFields = map[string]filterField{
	"id":                 strField(func(c *Contact) string { return c.ID }),
	"name":               strField(func(c *Contact) string { return c.Name }),
	"fullNameLowerCase":  strField(func(c *Contact) string { return c.Name }),
	"firstName":          strField(func(c *Contact) string { return c.FirstName }),
	"firstNameLowerCase": strField(func(c *Contact) string { return c.FirstName }),
	"lastName":           strField(func(c *Contact) string { return c.LastName }),
	"lastNameLowerCase":  strField(func(c *Contact) string { return c.LastName }),
	"email":              strField(func(c *Contact) string { return c.Email }),
	"phone":              strField(func(c *Contact) string { return c.Phone }),
	"companyName":        strField(func(c *Contact) string { return c.CompanyName }),
	"address1":           strField(func(c *Contact) string { return c.Address1 }),
	"city":               strField(func(c *Contact) string { return c.City }),
	"state":              strField(func(c *Contact) string { return c.State }),
	"country":            strField(func(c *Contact) string { return c.Country }),
	"postalCode":         strField(func(c *Contact) string { return c.PostalCode }),
	"timezone":           strField(func(c *Contact) string { return c.Timezone }),
	"website":            strField(func(c *Contact) string { return c.Website }),
	"source":             strField(func(c *Contact) string { return c.Source }),
	"type":               strField(func(c *Contact) string { return c.Type }),
	"businessId":         strField(func(c *Contact) string { return c.BusinessID }),
	"assignedTo":         strField(func(c *Contact) string { return c.AssignedTo }),
	"tags":               {kind: kindList, list: func(r *contactRec) []string { return r.c.Tags }},
	"followers":          {kind: kindList, list: func(r *contactRec) []string { return r.c.Followers }},
	"dnd":                {kind: kindBool, flag: func(r *contactRec) bool { return r.c.DND }},
	"dateAdded":          {kind: kindDate, date: func(r *contactRec) (int64, bool) { return r.added, true }},
	"dateUpdated":        {kind: kindDate, date: func(r *contactRec) (int64, bool) { return r.updated, true }},
	"lastActivity":       {kind: kindDate, date: func(r *contactRec) (int64, bool) { return parsedDate(r.c.LastActivity) }},
	"dateOfBirth":        {kind: kindDate, date: func(r *contactRec) (int64, bool) { return parsedDate(string(r.c.DateOfBirth)) }},
}

// compileFilters ANDs a list of filters.
func compileFilters(fs []searchFilter, path string, ck *checks) predicate {
	preds := make([]predicate, 0, len(fs))
	for i, f := range fs {
		preds = append(preds, compileFilter(f, path+"."+strconv.Itoa(i), ck))
	}
	return func(r *contactRec) bool {
		for _, p := range preds {
			if !p(r) {
				return false
			}
		}
		return true
	}
}

// compileFilter compiles one condition or group, reporting what is wrong
// with it at path (e.g. "filters.0.filters.1").
func compileFilter(f searchFilter, path string, ck *checks) predicate {
	if f.Group != "" {
		if f.Field != "" || f.Operator != "" {
			ck.addf("%s must be either a group or a condition", path)
		}
		children := make([]predicate, 0, len(f.Filters))
		for i, sub := range f.Filters {
			children = append(children, compileFilter(sub, path+".filters."+strconv.Itoa(i), ck))
		}
		switch strings.ToUpper(f.Group) {
		case "AND":
			return func(r *contactRec) bool {
				for _, p := range children {
					if !p(r) {
						return false
					}
				}
				return true
			}
		case "OR":
			return func(r *contactRec) bool {
				for _, p := range children {
					if p(r) {
						return true
					}
				}
				return false
			}
		}
		ck.addf("%s.group must be one of the following values: AND, OR", path)
		return matchAll
	}
	if len(f.Filters) > 0 {
		ck.addf("%s.filters needs a group", path)
	}
	fld, known := filterFields[f.Field]
	if !known {
		ck.addf("%s.field %q is not a supported filter field", path, f.Field)
		return matchAll
	}
	p := compileCondition(fld, f.Operator, f.Value, path, ck)
	if p == nil {
		return matchAll
	}
	return p
}

// compileCondition compiles field operator value; nil after a reported error.
func compileCondition(fld filterField, op string, value any, path string, ck *checks) predicate {
	switch op {
	case filterExists, filterNotExists:
		has := func(r *contactRec) bool {
			switch fld.kind {
			case kindString:
				return fld.str(r) != ""
			case kindList:
				return len(fld.list(r)) > 0
			case kindDate:
				_, ok := fld.date(r)
				return ok
			}
			return true // a boolean always has a value
		}
		if op == filterNotExists {
			return func(r *contactRec) bool { return !has(r) }
		}
		return has
	case filterEq, filterNotEq:
		p := compileEq(fld, value, path, ck)
		if p == nil || op == filterEq {
			return p
		}
		return func(r *contactRec) bool { return !p(r) }
	case filterContains, filterNotContains:
		if fld.kind != kindString && fld.kind != kindList {
			ck.addf("%s.operator %s is not supported for this field", path, op)
			return nil
		}
		subs, good := stringValues(value)
		if !good || len(subs) == 0 {
			ck.addf("%s.value must be a string", path)
			return nil
		}
		p := func(r *contactRec) bool {
			vals := []string{}
			if fld.kind == kindString {
				vals = append(vals, fld.str(r))
			} else {
				vals = fld.list(r)
			}
			for _, v := range vals {
				for _, s := range subs {
					if strings.Contains(strings.ToLower(v), strings.ToLower(s)) {
						return true
					}
				}
			}
			return false
		}
		if op == filterNotContains {
			return func(r *contactRec) bool { return !p(r) }
		}
		return p
	case filterRange:
		if fld.kind != kindDate {
			ck.addf("%s.operator range is only supported for date fields", path)
			return nil
		}
		return compileRange(fld, value, path, ck)
	}
	ck.addf("%s.operator must be one of the following values: eq, not_eq, contains, not_contains, exists, not_exists, range", path)
	return nil
}

// compileEq compiles an eq condition: for strings, equal ignoring case (a
// list value matches any of it); for lists (tags), has the value.
func compileEq(fld filterField, value any, path string, ck *checks) predicate {
	switch fld.kind {
	case kindBool:
		var want bool
		switch v := value.(type) {
		case bool:
			want = v
		case string:
			b, err := strconv.ParseBool(v)
			if err != nil {
				ck.addf("%s.value must be a boolean value", path)
				return nil
			}
			want = b
		default:
			ck.addf("%s.value must be a boolean value", path)
			return nil
		}
		return func(r *contactRec) bool { return fld.flag(r) == want }
	case kindDate:
		ms, good := parseInstant(value)
		if !good {
			ck.addf("%s.value must be a date (RFC 3339) or epoch milliseconds", path)
			return nil
		}
		return func(r *contactRec) bool { d, ok := fld.date(r); return ok && d == ms }
	}
	want, good := stringValues(value)
	if !good || len(want) == 0 {
		ck.addf("%s.value must be a string or a list of strings", path)
		return nil
	}
	if fld.kind == kindList {
		return func(r *contactRec) bool {
			for _, w := range want {
				if containsFold(fld.list(r), w) {
					return true
				}
			}
			return false
		}
	}
	return func(r *contactRec) bool {
		v := fld.str(r)
		for _, w := range want {
			if strings.EqualFold(v, w) {
				return true
			}
		}
		return false
	}
}

// compileRange compiles a range over a date field.
func compileRange(fld filterField, value any, path string, ck *checks) predicate {
	obj, isObj := value.(map[string]any)
	if !isObj || len(obj) == 0 {
		ck.addf("%s.value must be an object with gte, gt, lte or lt", path)
		return nil
	}
	bounds := map[string]int64{}
	for k, v := range obj {
		switch k {
		case "gte", "gt", "lte", "lt":
			ms, good := parseInstant(v)
			if !good {
				ck.addf("%s.value.%s must be a date (RFC 3339) or epoch milliseconds", path, k)
				return nil
			}
			bounds[k] = ms
		default:
			ck.addf("%s.value.property %s should not exist", path, k)
			return nil
		}
	}
	return func(r *contactRec) bool {
		d, has := fld.date(r)
		if !has {
			return false
		}
		for k, b := range bounds {
			switch {
			case k == "gte" && d < b, k == "gt" && d <= b, k == "lte" && d > b, k == "lt" && d >= b:
				return false
			}
		}
		return true
	}
}

// stringValues reads a filter value given as a string, a number, or a list
// of them.
func stringValues(v any) ([]string, bool) {
	switch x := v.(type) {
	case string:
		return []string{x}, true
	case float64:
		return []string{strconv.FormatFloat(x, 'f', -1, 64)}, true
	case []any:
		var out []string
		for _, e := range x {
			s, good := stringValues(e)
			if !good || len(s) != 1 {
				return nil, false
			}
			out = append(out, s[0])
		}
		return out, true
	}
	return nil, false
}
