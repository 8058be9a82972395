// Tests of the settings of stale answers and refresh-ahead (issue 16).

package main

import (
	"testing"
	"time"

	"github.com/ghl-graphql/gateway/loaders"
)

func TestStaleSettings(t *testing.T) {
	for _, tc := range []struct {
		name    string
		args    []string
		env     map[string]string
		stale   time.Duration
		refresh loaders.RefreshConfig
		wantErr string
	}{
		{name: "defaults", stale: loaders.DefaultStaleFor,
			refresh: loaders.RefreshConfig{Ahead: loaders.DefaultRefreshAhead, Share: loaders.DefaultRefreshShare, WindowMax: 100, HotKeys: loaders.DefaultRefreshHotKeys}},
		{name: "off", args: []string{"-cache-stale", "0", "-refresh-ahead", "0"}, stale: -1,
			refresh: loaders.RefreshConfig{Share: loaders.DefaultRefreshShare, WindowMax: 100, HotKeys: loaders.DefaultRefreshHotKeys}},
		{name: "from the environment, with the budget's window",
			env:   map[string]string{"GATEWAY_CACHE_STALE": "2m", "GATEWAY_REFRESH_AHEAD": "0.1", "GATEWAY_REFRESH_SHARE": "0.5", "GATEWAY_REFRESH_HOT_KEYS": "50", "GATEWAY_RATE_MAX": "40"},
			stale: 2 * time.Minute, refresh: loaders.RefreshConfig{Ahead: 0.1, Share: 0.5, WindowMax: 40, HotKeys: 50}},
		{name: "negative stale bound", args: []string{"-cache-stale", "-1s"}, wantErr: "-cache-stale"},
		{name: "refresh ahead of the whole TTL", args: []string{"-refresh-ahead", "1"}, wantErr: "-refresh-ahead"},
		{name: "negative refresh ahead", args: []string{"-refresh-ahead", "-0.1"}, wantErr: "-refresh-ahead"},
		{name: "no share", args: []string{"-refresh-share", "0"}, wantErr: "-refresh-share"},
		{name: "more than the window", args: []string{"-refresh-share", "1.5"}, wantErr: "-refresh-share"},
		{name: "NaN share", args: []string{"-refresh-share", "NaN"}, wantErr: "-refresh-share"},
		{name: "no hot keys", env: map[string]string{"GATEWAY_REFRESH_HOT_KEYS": "0"}, wantErr: "GATEWAY_REFRESH_HOT_KEYS"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, ok := parseConfigCase(t, tc.args, tc.env, tc.wantErr)
			if !ok {
				return
			}
			stale, refresh := c.staleSettings()
			if stale != tc.stale || refresh != tc.refresh {
				t.Errorf("settings = %v, %+v; want %v, %+v", stale, refresh, tc.stale, tc.refresh)
			}
		})
	}
}
