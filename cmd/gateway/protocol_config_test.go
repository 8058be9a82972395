// Tests of the frontend protocol's settings (issue 14).

package main

import (
	"slices"
	"testing"
	"time"

	"github.com/ghl-graphql/gateway/server"
)

func TestProtocolSettings(t *testing.T) {
	for _, tc := range []struct {
		name    string
		args    []string
		env     map[string]string
		want    server.Config
		wantErr string
	}{
		{name: "defaults", want: server.Config{APQCacheBytes: server.DefaultAPQCacheBytes, MaxBatch: server.DefaultMaxBatch,
			CORSAllowHeaders: server.DefaultCORSAllowHeaders, CORSMaxAge: server.DefaultCORSMaxAge}},
		{name: "off", args: []string{"-apq-cache-bytes", "0", "-max-batch", "0", "-cors-max-age", "0", "-cors-allow-headers", ""},
			want: server.Config{APQCacheBytes: -1, MaxBatch: -1, CORSAllowHeaders: []string{}, CORSMaxAge: -1}},
		{name: "from the environment",
			env:  map[string]string{"GATEWAY_APQ_CACHE_BYTES": "1024", "GATEWAY_MAX_BATCH": "3", "GATEWAY_CORS_ALLOW_HEADERS": "Content-Type, X-Custom", "GATEWAY_CORS_MAX_AGE": "90s"},
			want: server.Config{APQCacheBytes: 1024, MaxBatch: 3, CORSAllowHeaders: []string{"Content-Type", "X-Custom"}, CORSMaxAge: 90 * time.Second}},
		{name: "negative APQ cache", args: []string{"-apq-cache-bytes", "-1"}, wantErr: "-apq-cache-bytes"},
		{name: "negative batch cap", args: []string{"-max-batch", "-2"}, wantErr: "-max-batch"},
		{name: "negative max age", args: []string{"-cors-max-age", "-1s"}, wantErr: "-cors-max-age"},
		{name: "not a header name", env: map[string]string{"GATEWAY_CORS_ALLOW_HEADERS": "Content-Type,bad header"}, wantErr: "GATEWAY_CORS_ALLOW_HEADERS"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, ok := parseConfigCase(t, tc.args, tc.env, tc.wantErr)
			if !ok {
				return
			}
			var got server.Config
			c.protocolSettings(&got)
			if got.APQCacheBytes != tc.want.APQCacheBytes || got.MaxBatch != tc.want.MaxBatch || got.CORSMaxAge != tc.want.CORSMaxAge ||
				!slices.Equal(got.CORSAllowHeaders, tc.want.CORSAllowHeaders) {
				t.Errorf("got APQ %d, batch %d, headers %v, max age %v; want %d, %d, %v, %v", got.APQCacheBytes, got.MaxBatch, got.CORSAllowHeaders, got.CORSMaxAge,
					tc.want.APQCacheBytes, tc.want.MaxBatch, tc.want.CORSAllowHeaders, tc.want.CORSMaxAge)
			}
		})
	}
}
