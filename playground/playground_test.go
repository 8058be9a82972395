// Tests for the playground handler: page rendering and escaping, asset
// serving, routing, CDN mode and option validation. They use only the
// embedded files and httptest, never the network.

package playground

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"path"
	"regexp"
	"strings"
	"testing"
)

const xssQuery = "</script><script>alert(1)</script>"

// get sends one request to h and returns the recorded response.
func get(t *testing.T, h http.Handler, method, target string, header map[string]string) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(method, target, nil)
	for k, v := range header {
		req.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

func mustHandler(t *testing.T, opts Options) http.Handler {
	t.Helper()
	h, err := Handler(opts)
	if err != nil {
		t.Fatalf("Handler(%+v): %v", opts, err)
	}
	return h
}

var configRE = regexp.MustCompile(`(?s)<script id="graphiql-config" type="application/json">(.*?)</script>`)

// pageConfigOf extracts and decodes the JSON config bootstrap.js reads.
func pageConfigOf(t *testing.T, body string) pageConfig {
	t.Helper()
	m := configRE.FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no config element in page:\n%s", body)
	}
	var cfg pageConfig
	if err := json.Unmarshal([]byte(m[1]), &cfg); err != nil {
		t.Fatalf("config is not JSON: %v\n%s", err, m[1])
	}
	return cfg
}

func TestPage(t *testing.T) {
	tests := []struct {
		name        string
		opts        Options
		wantTitle   string
		wantQuery   string
		wantHeaders string
		wantInBody  []string
	}{
		{
			name:      "defaults",
			opts:      Options{Endpoint: "/graphql"},
			wantTitle: "<title>HighLevel Contacts GraphQL</title>",
		},
		{
			name: "query and headers",
			opts: Options{
				Endpoint:       "/graphql",
				DefaultQuery:   "query { contacts { id } }",
				DefaultHeaders: map[string]string{"Version": "2021-07-28", "Authorization": "Bearer sbx-123"},
			},
			wantTitle:   "<title>HighLevel Contacts GraphQL</title>",
			wantQuery:   "query { contacts { id } }",
			wantHeaders: "{\n  \"Authorization\": \"Bearer sbx-123\",\n  \"Version\": \"2021-07-28\"\n}",
		},
		{
			name: "hostile values are escaped",
			opts: Options{
				Title:          "<b>Contacts</b>",
				Endpoint:       "/graphql?x=</script>",
				DefaultQuery:   "# " + xssQuery + "\n{ __typename }",
				DefaultHeaders: map[string]string{"X-Evil": xssQuery},
			},
			wantTitle:   "<title>&lt;b&gt;Contacts&lt;/b&gt;</title>",
			wantQuery:   "# " + xssQuery + "\n{ __typename }",
			wantHeaders: "{\n  \"X-Evil\": \"" + xssQuery + "\"\n}",
			wantInBody:  []string{`\u003c/script\u003e\u003cscript\u003ealert(1)\u003c/script\u003e`},
		},
		{
			name:       "absolute endpoint",
			opts:       Options{Endpoint: "https://api.example.com/graphql"},
			wantTitle:  "<title>HighLevel Contacts GraphQL</title>",
			wantInBody: []string{`"endpoint":"https://api.example.com/graphql"`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := get(t, mustHandler(t, tt.opts), http.MethodGet, "/", nil)
			if rec.Code != http.StatusOK {
				t.Fatalf("status = %d, want 200", rec.Code)
			}
			for k, want := range map[string]string{
				"Content-Type":           "text/html; charset=utf-8",
				"X-Content-Type-Options": "nosniff",
				"Referrer-Policy":        "no-referrer",
				"Cache-Control":          "no-store",
			} {
				if got := rec.Header().Get(k); got != want {
					t.Errorf("%s = %q, want %q", k, got, want)
				}
			}
			csp := rec.Header().Get("Content-Security-Policy")
			for _, want := range []string{"default-src 'none'", "script-src 'self';", "worker-src 'self'", "frame-ancestors 'none'"} {
				if !strings.Contains(csp, want) {
					t.Errorf("CSP %q lacks %q", csp, want)
				}
			}
			if src := directive(csp, "script-src"); src != "'self'" {
				t.Errorf("CSP script-src = %q, want only 'self' (no inline script)", src)
			}
			if strings.HasPrefix(tt.opts.Endpoint, "https://") && !strings.Contains(csp, "connect-src 'self' https://api.example.com;") {
				t.Errorf("CSP %q does not allow the endpoint origin", csp)
			}

			body := rec.Body.String()
			if !strings.Contains(body, tt.wantTitle) {
				t.Errorf("page lacks %q", tt.wantTitle)
			}
			if strings.Contains(body, xssQuery) || strings.Contains(body, "<b>") {
				t.Errorf("page contains an unescaped hostile value:\n%s", body)
			}
			// Every </script> in the page must close one of its own script elements.
			if opens, closes := strings.Count(body, "<script"), strings.Count(body, "</script>"); opens != closes {
				t.Errorf("page has %d <script and %d </script>", opens, closes)
			}
			for _, want := range tt.wantInBody {
				if !strings.Contains(body, want) {
					t.Errorf("page lacks %q", want)
				}
			}

			cfg := pageConfigOf(t, body)
			if cfg.Endpoint != tt.opts.Endpoint {
				t.Errorf("config endpoint = %q, want %q", cfg.Endpoint, tt.opts.Endpoint)
			}
			if cfg.DefaultQuery != tt.wantQuery {
				t.Errorf("config defaultQuery = %q, want %q", cfg.DefaultQuery, tt.wantQuery)
			}
			if cfg.DefaultHeaders != tt.wantHeaders {
				t.Errorf("config defaultHeaders = %q, want %q", cfg.DefaultHeaders, tt.wantHeaders)
			}
			if cfg.CDNWorkers {
				t.Error("embedded mode asks for CDN workers")
			}
		})
	}
}

func TestPageHEAD(t *testing.T) {
	rec := get(t, mustHandler(t, Options{Endpoint: "/graphql"}), http.MethodHead, "/", nil)
	if rec.Code != http.StatusOK || rec.Body.Len() != 0 {
		t.Fatalf("HEAD / = %d with %d body bytes, want 200 and none", rec.Code, rec.Body.Len())
	}
	if rec.Header().Get("Content-Length") == "" {
		t.Error("HEAD / has no Content-Length")
	}
}

func TestRouting(t *testing.T) {
	h := mustHandler(t, Options{Endpoint: "/graphql"})
	m := manifestOf(t)
	tests := []struct {
		method, target string
		want           int
	}{
		{http.MethodGet, "/", http.StatusOK},
		{http.MethodHead, "/playground/" + m.Script, http.StatusOK},
		{http.MethodPost, "/", http.StatusMethodNotAllowed},
		{http.MethodPut, "/playground/" + m.Script, http.StatusMethodNotAllowed},
		{http.MethodDelete, "/", http.StatusMethodNotAllowed},
		{http.MethodGet, "/playground/nope.js", http.StatusNotFound},
		{http.MethodGet, "/playground/", http.StatusNotFound},
		{http.MethodGet, "/playground/manifest.json", http.StatusNotFound},
		{http.MethodGet, "/playground/" + m.Script + ".gz", http.StatusNotFound},
		{http.MethodGet, "/playground/../assets/manifest.json", http.StatusNotFound},
		{http.MethodGet, "/index.html", http.StatusNotFound},
		{http.MethodGet, "/favicon.ico", http.StatusNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.target, func(t *testing.T) {
			rec := get(t, h, tt.method, tt.target, nil)
			if rec.Code != tt.want {
				t.Fatalf("status = %d, want %d", rec.Code, tt.want)
			}
			if tt.want == http.StatusMethodNotAllowed && rec.Header().Get("Allow") != "GET, HEAD" {
				t.Errorf("Allow = %q, want %q", rec.Header().Get("Allow"), "GET, HEAD")
			}
		})
	}
}

func manifestOf(t *testing.T) manifest {
	t.Helper()
	b, err := loadBundle()
	if err != nil {
		t.Fatal(err)
	}
	return b.manifest
}

func TestAssets(t *testing.T) {
	m := manifestOf(t)
	tests := []struct {
		name, wantType string
	}{
		{m.Script, "text/javascript; charset=utf-8"},
		{m.Style, "text/css; charset=utf-8"},
		{m.Workers.Editor, "text/javascript; charset=utf-8"},
		{m.Workers.JSON, "text/javascript; charset=utf-8"},
		{m.Workers.GraphQL, "text/javascript; charset=utf-8"},
	}
	for _, assetsPath := range []string{"", "/static/gql"} {
		h := mustHandler(t, Options{Endpoint: "/graphql", AssetsPath: assetsPath})
		prefix := DefaultAssetsPath
		if assetsPath != "" {
			prefix = assetsPath + "/"
		}
		for _, tt := range tests {
			t.Run(prefix+tt.name, func(t *testing.T) {
				target := prefix + tt.name
				zipped := get(t, h, http.MethodGet, target, map[string]string{"Accept-Encoding": "gzip, deflate, br"})
				plain := get(t, h, http.MethodGet, target, nil)
				for _, rec := range []*httptest.ResponseRecorder{zipped, plain} {
					if rec.Code != http.StatusOK {
						t.Fatalf("status = %d, want 200", rec.Code)
					}
					for k, want := range map[string]string{
						"Content-Type":           tt.wantType,
						"Cache-Control":          "public, max-age=31536000, immutable",
						"X-Content-Type-Options": "nosniff",
						"Vary":                   "Accept-Encoding",
					} {
						if got := rec.Header().Get(k); got != want {
							t.Errorf("%s = %q, want %q", k, got, want)
						}
					}
					if rec.Header().Get("ETag") == "" {
						t.Error("no ETag")
					}
				}
				if got := zipped.Header().Get("Content-Encoding"); got != "gzip" {
					t.Errorf("Content-Encoding = %q, want gzip", got)
				}
				if got := plain.Header().Get("Content-Encoding"); got != "" {
					t.Errorf("Content-Encoding without Accept-Encoding = %q, want none", got)
				}
				if zipped.Header().Get("ETag") == plain.Header().Get("ETag") {
					t.Error("gzip and identity representations share an ETag")
				}
				zr, err := gzip.NewReader(zipped.Body)
				if err != nil {
					t.Fatal(err)
				}
				inflated, err := io.ReadAll(zr)
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(inflated, plain.Body.Bytes()) || len(inflated) == 0 {
					t.Error("gzip body does not inflate to the identity body")
				}

				etag := plain.Header().Get("ETag")
				if rec := get(t, h, http.MethodGet, target, map[string]string{"If-None-Match": etag}); rec.Code != http.StatusNotModified {
					t.Errorf("conditional GET = %d, want 304", rec.Code)
				}
			})
		}
	}
}

func TestAcceptsGzip(t *testing.T) {
	tests := []struct {
		header string
		want   bool
	}{
		{"", false},
		{"gzip", true},
		{"GZIP", true},
		{"deflate, gzip;q=0.5", true},
		{"br, x-gzip", true},
		{"gzip;q=0", false},
		{"gzip; q=0.0, *", false},
		{"*", true},
		{"*;q=0", false},
		{"identity", false},
		{"br", false},
	}
	for _, tt := range tests {
		if got := acceptsGzip(tt.header); got != tt.want {
			t.Errorf("acceptsGzip(%q) = %v, want %v", tt.header, got, tt.want)
		}
	}
}

var assetRefRE = regexp.MustCompile(`(?:src|href)="([^"]+)"`)

// TestReferencedAssetsExist follows every asset URL the embedded page can
// make the browser load: the page's src/href attributes, the worker URLs in
// its config, and the relative imports between the bundled scripts (chunks
// loaded at run time).
func TestReferencedAssetsExist(t *testing.T) {
	for _, assetsPath := range []string{DefaultAssetsPath, "/static/gql/"} {
		t.Run(assetsPath, func(t *testing.T) {
			h := mustHandler(t, Options{Endpoint: "/graphql", AssetsPath: assetsPath})
			body := get(t, h, http.MethodGet, "/", nil).Body.String()

			var queue []string
			for _, m := range assetRefRE.FindAllStringSubmatch(body, -1) {
				if strings.HasPrefix(m[1], assetsPath) {
					queue = append(queue, m[1])
				}
			}
			if len(queue) != 2 {
				t.Fatalf("page references %d assets under %s, want the script and the stylesheet: %q", len(queue), assetsPath, queue)
			}
			for _, url := range pageConfigOf(t, body).Workers {
				queue = append(queue, url)
			}

			seen := map[string]bool{}
			for len(queue) > 0 {
				url := queue[0]
				queue = queue[1:]
				if seen[url] {
					continue
				}
				seen[url] = true
				rec := get(t, h, http.MethodGet, url, nil)
				if rec.Code != http.StatusOK {
					t.Errorf("GET %s = %d, want 200", url, rec.Code)
					continue
				}
				if strings.HasSuffix(url, ".js") {
					for _, ref := range relativeImports(rec.Body.String()) {
						queue = append(queue, path.Join(path.Dir(url), ref))
					}
				}
			}
			if len(seen) < 6 {
				t.Errorf("followed only %d assets; chunk imports were probably not found", len(seen))
			}
		})
	}
}

// relImportRE matches esbuild's minified relative imports: from"./x.js",
// import("./x.js") and bare import"./x.js".
var relImportRE = regexp.MustCompile(`(?:from|import\(?)\s*"(\.\.?/[^"]+\.js)"`)

func relativeImports(js string) []string {
	var refs []string
	for _, m := range relImportRE.FindAllStringSubmatch(js, -1) {
		refs = append(refs, m[1])
	}
	return refs
}

// directive returns the sources of one CSP directive.
func directive(csp, name string) string {
	for _, d := range strings.Split(csp, ";") {
		if rest, ok := strings.CutPrefix(strings.TrimSpace(d), name+" "); ok {
			return rest
		}
	}
	return ""
}

var nonceAttrRE = regexp.MustCompile(`nonce="([^"]+)"`)

func TestCDNMode(t *testing.T) {
	h := mustHandler(t, Options{
		Endpoint:       "/graphql",
		DefaultQuery:   xssQuery,
		DefaultHeaders: map[string]string{"Authorization": "Bearer sbx-1"},
		UseCDN:         true,
	})
	first := get(t, h, http.MethodGet, "/", nil)
	if first.Code != http.StatusOK {
		t.Fatalf("status = %d, want 200", first.Code)
	}
	body := first.Body.String()
	for _, want := range []string{
		"https://esm.sh/graphiql@" + GraphiQLVersion + "/dist/style.css",
		"https://esm.sh/graphiql@" + GraphiQLVersion + "?",
		"https://esm.sh/@graphiql/react@" + GraphiQLReactVersion + "?",
		"https://esm.sh/@graphiql/toolkit@" + GraphiQLToolkitVersion + "?",
		"https://esm.sh/react@" + ReactVersion,
		"https://esm.sh/react-dom@" + ReactVersion,
		"https://esm.sh/graphql@" + GraphQLJSVersion,
		"https://esm.sh/monaco-editor@" + MonacoEditorVersion + "/esm/vs/editor/editor.worker.js?worker",
		"https://esm.sh/monaco-graphql@" + MonacoGraphQLVersion + "/esm/graphql.worker.js?worker",
		`<script type="importmap" nonce="`,
		"createGraphiQLFetcher", // bootstrap.js is inlined
	} {
		if !strings.Contains(body, want) {
			t.Errorf("CDN page lacks %q", want)
		}
	}
	if strings.Contains(body, DefaultAssetsPath) {
		t.Errorf("CDN page references local assets under %s", DefaultAssetsPath)
	}
	if strings.Contains(body, xssQuery) {
		t.Error("CDN page contains the raw hostile query")
	}
	if opens, closes := strings.Count(body, "<script"), strings.Count(body, "</script>"); opens != closes {
		t.Errorf("page has %d <script and %d </script>", opens, closes)
	}
	if cfg := pageConfigOf(t, body); !cfg.CDNWorkers || cfg.DefaultQuery != xssQuery {
		t.Errorf("config = %+v, want CDN workers and the query", cfg)
	}

	csp := first.Header().Get("Content-Security-Policy")
	nonces := nonceAttrRE.FindAllStringSubmatch(body, -1)
	if len(nonces) != 2 || nonces[0][1] != nonces[1][1] {
		t.Fatalf("want the import map and the bootstrap to share one nonce, got %q", nonces)
	}
	nonce := nonces[0][1]
	if len(nonce) < 22 || strings.Contains(nonce, "<") {
		t.Errorf("nonce %q is not a real random value", nonce)
	}
	for _, want := range []string{"script-src 'nonce-" + nonce + "' https://esm.sh;", "worker-src blob: https://esm.sh", "default-src 'none'"} {
		if !strings.Contains(csp, want) {
			t.Errorf("CSP %q lacks %q", csp, want)
		}
	}
	if src := directive(csp, "script-src"); strings.Contains(src, "unsafe") {
		t.Errorf("CSP script-src %q allows unsafe sources", src)
	}

	second := get(t, h, http.MethodGet, "/", nil)
	if again := nonceAttrRE.FindStringSubmatch(second.Body.String()); again == nil || again[1] == nonce {
		t.Error("nonce is reused across requests")
	}
}

func TestBootstrapIsInlineSafe(t *testing.T) {
	// CDN mode inlines bootstrap.js verbatim, so it must not end its own element.
	if strings.Contains(strings.ToLower(bootstrapJS), "</script") || strings.Contains(bootstrapJS, "<!--") {
		t.Fatal("bootstrap.js contains a sequence that would break out of an inline <script>")
	}
}

func TestInvalidOptions(t *testing.T) {
	tests := []struct {
		name string
		opts Options
	}{
		{"empty endpoint", Options{}},
		{"relative endpoint", Options{Endpoint: "graphql"}},
		{"protocol-relative endpoint", Options{Endpoint: "//evil.example/graphql"}},
		{"javascript endpoint", Options{Endpoint: "javascript:alert(1)"}},
		{"endpoint with quote", Options{Endpoint: "/graphql'; script-src *"}},
		{"root assets path", Options{Endpoint: "/graphql", AssetsPath: "/"}},
		{"relative assets path", Options{Endpoint: "/graphql", AssetsPath: "static/"}},
		{"protocol-relative assets path", Options{Endpoint: "/graphql", AssetsPath: "//cdn.example/"}},
		{"assets path with quote", Options{Endpoint: "/graphql", AssetsPath: `/a"b/`}},
		{"bad header name", Options{Endpoint: "/graphql", DefaultHeaders: map[string]string{"Bad Header": "x"}}},
		{"empty header name", Options{Endpoint: "/graphql", DefaultHeaders: map[string]string{"": "x"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if h, err := Handler(tt.opts); err == nil || h != nil {
				t.Fatalf("Handler(%+v) = %v, %v; want an error", tt.opts, h, err)
			}
		})
	}
}

func TestEmbeddedVersionMatches(t *testing.T) {
	if got := manifestOf(t).GraphiQL; got != GraphiQLVersion {
		t.Fatalf("embedded GraphiQL %s, GraphiQLVersion %s: run update-assets.sh", got, GraphiQLVersion)
	}
}
