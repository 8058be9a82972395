// Tests of the argument-cap flags (issue 10): each has resolvers'
// default, is set by its flag and its GATEWAY_* variable, and refuses a
// value under 1 at start, naming the flag.

package main

import (
	"strings"
	"testing"

	"github.com/ghl-graphql/gateway/resolvers"
)

func TestInputLimitFlags(t *testing.T) {
	fields := func(l *resolvers.Limits) map[string]*int {
		return map[string]*int{
			"max-id-bytes": &l.IDBytes, "max-query-bytes": &l.QueryBytes, "max-short-text-bytes": &l.ShortTextBytes,
			"max-text-bytes": &l.TextBytes, "max-email-bytes": &l.EmailBytes, "max-phone-bytes": &l.PhoneBytes,
			"max-tag-bytes": &l.TagBytes, "max-custom-field-bytes": &l.CustomFieldValueBytes, "max-tags": &l.Tags,
			"max-bulk-ids": &l.BulkIDs, "max-followers": &l.Followers, "max-custom-fields": &l.CustomFields,
			"max-filters": &l.Filters, "max-filter-depth": &l.FilterDepth, "max-filter-values": &l.FilterValues,
			"max-sort-fields": &l.SortFields,
		}
	}
	c, err := parseConfig(nil, env(nil), devNull(t))
	if err != nil {
		t.Fatal(err)
	}
	if c.inputLimits != resolvers.DefaultLimits {
		t.Errorf("defaults = %+v, want %+v", c.inputLimits, resolvers.DefaultLimits)
	}
	for name := range fields(&resolvers.Limits{}) {
		t.Run(name, func(t *testing.T) {
			c, err := parseConfig([]string{"-" + name, "7"}, env(nil), devNull(t))
			if err != nil {
				t.Fatal(err)
			}
			if got := *fields(&c.inputLimits)[name]; got != 7 {
				t.Errorf("-%s 7 gave %d", name, got)
			}
			c, err = parseConfig(nil, env(map[string]string{envName(name): "9"}), devNull(t))
			if err != nil {
				t.Fatal(err)
			}
			if got := *fields(&c.inputLimits)[name]; got != 9 {
				t.Errorf("%s=9 gave %d", envName(name), got)
			}
			for _, bad := range []string{"0", "-1"} {
				if _, err := parseConfig([]string{"-" + name, bad}, env(nil), devNull(t)); err == nil || !strings.Contains(err.Error(), "-"+name) {
					t.Errorf("-%s %s: err = %v, want one naming the flag", name, bad, err)
				}
			}
		})
	}
}
