package playground

import (
	"compress/gzip"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestSubscriptionEndpointReachesThePage: with SubscriptionEndpoint set,
// the page tells the script where to subscribe, and the embedded script
// sends subscriptions over graphql-transport-ws (issue 12).
func TestSubscriptionEndpointReachesThePage(t *testing.T) {
	tests := []struct {
		name, endpoint, want string
	}{
		{"on", "/graphql", `"subscriptionEndpoint":"/graphql"`},
		{"off", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, err := Handler(Options{Endpoint: "/graphql", SubscriptionEndpoint: tt.endpoint})
			if err != nil {
				t.Fatal(err)
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
			page := rec.Body.String()
			if tt.want != "" && !strings.Contains(page, tt.want) {
				t.Errorf("page lacks %s", tt.want)
			}
			if tt.want == "" && strings.Contains(page, "subscriptionEndpoint") {
				t.Error("page names a subscription endpoint")
			}
		})
	}
	if _, err := Handler(Options{Endpoint: "/graphql", SubscriptionEndpoint: "javascript:x"}); err == nil {
		t.Error("a bad SubscriptionEndpoint was accepted")
	}

	b, err := loadBundle()
	if err != nil {
		t.Fatal(err)
	}
	f, err := assetsFS.Open("assets/" + b.manifest.Script + ".gz")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	js, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	// Strings that survive esbuild's minification: the bundle is rebuilt
	// from bootstrap.js by update-assets.sh, which renames functions and
	// variables and rewrites quotes.
	for _, want := range []string{".subscriptionEndpoint&&", `"graphql-transport-ws"`, `type:"connection_init"`, ".tabs.map("} {
		if !strings.Contains(string(js), want) {
			t.Errorf("the embedded script lacks %s", want)
		}
	}
}
