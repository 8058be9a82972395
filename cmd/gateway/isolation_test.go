// This file checks the defaults of the failure-isolation settings (issue
// 10): the breakers' window, minimum calls, failure ratio, host rule and
// memory bound, and the least time a retry needs, reach the client as the
// upstream package's defaults.

package main

import (
	"reflect"
	"testing"

	"github.com/ghl-graphql/gateway/upstream"
)

func TestParseConfigIsolationDefaults(t *testing.T) {
	c, err := parseConfig(nil, env(nil), devNull(t))
	if err != nil {
		t.Fatal(err)
	}
	for name, pair := range map[string][2]any{
		"breaker-window":             {c.breaker.Window, upstream.DefaultBreakerWindow},
		"breaker-min-calls":          {c.breaker.MinCalls, upstream.DefaultBreakerMinCalls},
		"breaker-failure-ratio":      {c.breaker.FailureRatio, upstream.DefaultBreakerFailureRatio},
		"breaker-host-min-locations": {c.breaker.HostMinLocations, upstream.DefaultBreakerHostMinLocations},
		"breaker-max-locations":      {c.breaker.MaxLocations, upstream.DefaultBreakerMaxLocations},
		"retry-min-attempt":          {c.retry.MinAttempt, upstream.DefaultRetryMinAttempt},
	} {
		if !reflect.DeepEqual(pair[0], pair[1]) {
			t.Errorf("default -%s = %v, want %v", name, pair[0], pair[1])
		}
	}
	// Set through the environment, like every setting.
	c, err = parseConfig(nil, env(map[string]string{"GATEWAY_BREAKER_FAILURE_RATIO": "0.25", "GATEWAY_BREAKER_MIN_CALLS": "4"}), devNull(t))
	if err != nil {
		t.Fatal(err)
	}
	if c.breaker.FailureRatio != 0.25 || c.breaker.MinCalls != 4 {
		t.Errorf("breaker config from env = %+v", c.breaker)
	}
}
