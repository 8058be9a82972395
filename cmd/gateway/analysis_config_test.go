// Tests of the query analysis flags (issue 10), in a file of their own so
// that the shared configuration tests stay as they were.

package main

import (
	"strings"
	"testing"

	"github.com/ghl-graphql/gateway/server"
)

func TestQueryAnalysisFlags(t *testing.T) {
	tests := map[string]struct {
		args    []string
		env     map[string]string
		want    server.QueryLimits // checked when wantErr is ""
		wantErr string
	}{
		"defaults": {want: server.DefaultQueryLimits},
		"flags": {
			args: []string{"-max-query-tokens", "900", "-max-query-selections", "90", "-max-query-repeated-fields", "9"},
			want: server.QueryLimits{MaxCost: 500, MaxDepth: 12, MaxAliases: 50, MaxTokens: 900, MaxSelections: 90, MaxRepeatedFields: 9},
		},
		"environment": {
			env:  map[string]string{"GATEWAY_MAX_QUERY_TOKENS": "800", "GATEWAY_MAX_QUERY_SELECTIONS": "80", "GATEWAY_MAX_QUERY_REPEATED_FIELDS": "8"},
			want: server.QueryLimits{MaxCost: 500, MaxDepth: 12, MaxAliases: 50, MaxTokens: 800, MaxSelections: 80, MaxRepeatedFields: 8},
		},
		"zero tokens":              {args: []string{"-max-query-tokens", "0"}, wantErr: "-max-query-tokens"},
		"zero selections (env)":    {env: map[string]string{"GATEWAY_MAX_QUERY_SELECTIONS": "0"}, wantErr: "-max-query-selections"},
		"negative repeated fields": {args: []string{"-max-query-repeated-fields", "-1"}, wantErr: "-max-query-repeated-fields"},
		"not a number (env)":       {env: map[string]string{"GATEWAY_MAX_QUERY_TOKENS": "many"}, wantErr: "GATEWAY_MAX_QUERY_TOKENS"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			c, err := parseConfig(tc.args, env(tc.env), devNull(t))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.limits != tc.want {
				t.Errorf("limits = %+v, want %+v", c.limits, tc.want)
			}
		})
	}
}
