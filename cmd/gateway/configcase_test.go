package main

import (
	"strings"
	"testing"
)

// parseConfigCase parses one table case of a configuration test. With
// wantErr set it checks that parsing fails naming it and reports ok false
// (nothing more to check); otherwise parsing must succeed.
func parseConfigCase(t *testing.T, args []string, environ map[string]string, wantErr string) (*config, bool) {
	t.Helper()
	c, err := parseConfig(args, env(environ), devNull(t))
	if wantErr != "" {
		if err == nil || !strings.Contains(err.Error(), wantErr) {
			t.Fatalf("err = %v, want one naming %s", err, wantErr)
		}
		return nil, false
	}
	if err != nil {
		t.Fatal(err)
	}
	return c, true
}
