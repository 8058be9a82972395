// Package playground serves a GraphiQL page for the gateway's GraphQL endpoint.
//
// GraphiQL (see GraphiQLVersion) is embedded in the binary, so the page works
// offline and behind networks that block public CDNs; Options.UseCDN loads the
// same pinned versions from esm.sh instead. The page carries a strict
// Content-Security-Policy: in embedded mode it runs no inline script at all.
//
// To move to another GraphiQL release, change the versions in versions.go and
// run update-assets.sh, which rebuilds assets/ and LICENSES from npm.
//
// This file holds the options, the request routing and the HTML page.
package playground

import (
	"bytes"
	"crypto/rand"
	_ "embed"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// Options configures the GraphiQL page.
type Options struct {
	Title          string            // page title; default "HighLevel Contacts GraphQL"
	Endpoint       string            // GraphQL endpoint URL path, e.g. "/graphql" (required)
	DefaultQuery   string            // query pre-filled in the editor when the user has none saved ("" = GraphiQL default)
	DefaultHeaders map[string]string // headers pre-filled in the headers pane, e.g. {"Authorization": "Bearer sbx-..."}; nil = none
	AssetsPath     string            // URL path prefix where embedded assets are served, default "/playground/"
	UseCDN         bool              // load the pinned assets from a public CDN instead of the embedded copy
	// SubscriptionEndpoint is the URL path of the GraphQL endpoint's WebSocket
	// (graphql-transport-ws), usually Endpoint; "" leaves subscriptions off.
	SubscriptionEndpoint string
	// Tabs, when not empty, are the tabs the page opens with for a user who
	// has none saved, in order (each with DefaultHeaders); DefaultQuery is
	// then unused. Subscriptions and other examples add a Tab each.
	Tabs []Tab
}

// Tab is one tab of examples in GraphiQL: a document and its variables.
type Tab struct {
	Query     string // the GraphQL document
	Variables string // the variables pane's text (a JSON object), "" for none
}

// DefaultTitle is the page title used when Options.Title is empty.
const DefaultTitle = "HighLevel Contacts GraphQL"

// DefaultAssetsPath is the asset URL prefix used when Options.AssetsPath is empty.
const DefaultAssetsPath = "/playground/"

// cdnOrigin is the only third-party origin CDN mode talks to. esm.sh is used
// because GraphiQL 5 is ESM-only and esm.sh resolves its bare imports and
// wraps monaco's workers, which plain file CDNs cannot.
const cdnOrigin = "https://esm.sh"

//go:embed page.html
var pageHTML string

//go:embed bootstrap.js
var bootstrapJS string

var pageTemplate = template.Must(template.New("page").Parse(pageHTML))

// pageConfig is what bootstrap.js reads from the page; its JSON field names
// are that script's contract.
type pageConfig struct {
	Endpoint       string            `json:"endpoint"`
	DefaultQuery   string            `json:"defaultQuery,omitempty"`
	DefaultHeaders string            `json:"defaultHeaders,omitempty"`
	Workers        map[string]string `json:"workers"`
	CDNWorkers     bool              `json:"cdnWorkers,omitempty"`
	// SubscriptionEndpoint is where subscriptions go (over a WebSocket).
	SubscriptionEndpoint string    `json:"subscriptionEndpoint,omitempty"`
	Tabs                 []pageTab `json:"tabs,omitempty"`
}

// pageTab is a Tab as bootstrap.js reads it.
type pageTab struct {
	Query     string `json:"query"`
	Variables string `json:"variables,omitempty"`
}

// pageData fills page.html. The values typed template.JS or template.HTML
// are built by this package from json.Marshal output, which escapes '<', '>'
// and '&', so user-supplied options can never close the script element.
type pageData struct {
	Title           string
	StyleURL        string
	ScriptURL       string
	Config          template.JS
	ImportMap       template.HTML
	InlineBootstrap template.JS
	Nonce           string
}

// handler is the http.Handler returned by Handler.
type handler struct {
	assetsPath string
	bundle     *bundle
	useCDN     bool
	csp        string // without the per-request nonce in CDN mode
	// page is rendered once in embedded mode, where nothing varies per request.
	page []byte
	// data is the template input for CDN mode, which needs a fresh nonce per request.
	data pageData
}

// Handler returns an http.Handler that serves the page at the request path it is mounted on
// (GET/HEAD only; other methods 405) and the embedded assets under opts.AssetsPath.
//
// The page is served for the path "/" and the assets for paths starting with
// opts.AssetsPath; everything else is 404. The embedded assets stay reachable
// in CDN mode too, which costs nothing and keeps routing the same in both modes.
func Handler(opts Options) (http.Handler, error) {
	if opts.Title == "" {
		opts.Title = DefaultTitle
	}
	if opts.AssetsPath == "" {
		opts.AssetsPath = DefaultAssetsPath
	}
	if !strings.HasSuffix(opts.AssetsPath, "/") {
		opts.AssetsPath += "/"
	}
	// "//host/" would be a protocol-relative URL that loads scripts from another host.
	if !strings.HasPrefix(opts.AssetsPath, "/") || strings.HasPrefix(opts.AssetsPath, "//") || opts.AssetsPath == "/" || strings.ContainsAny(opts.AssetsPath, "?#\"'<> \t\r\n") {
		return nil, fmt.Errorf("playground: AssetsPath %q must be an absolute URL path other than \"/\"", opts.AssetsPath)
	}
	endpointOrigin, err := checkEndpoint(opts.Endpoint)
	if err != nil {
		return nil, err
	}
	for name := range opts.DefaultHeaders {
		if !validHeaderName(name) {
			return nil, fmt.Errorf("playground: DefaultHeaders has invalid header name %q", name)
		}
	}

	b, err := loadBundle()
	if err != nil {
		return nil, err
	}
	h := &handler{assetsPath: opts.AssetsPath, bundle: b, useCDN: opts.UseCDN}

	cfg := pageConfig{Endpoint: opts.Endpoint, DefaultQuery: opts.DefaultQuery}
	if opts.SubscriptionEndpoint != "" {
		if _, err := checkEndpoint(opts.SubscriptionEndpoint); err != nil {
			return nil, fmt.Errorf("playground: SubscriptionEndpoint: %w", err)
		}
		cfg.SubscriptionEndpoint = opts.SubscriptionEndpoint
	}
	for i, t := range opts.Tabs {
		if strings.TrimSpace(t.Query) == "" {
			return nil, fmt.Errorf("playground: Tabs[%d] has no query", i)
		}
		if t.Variables != "" {
			var v map[string]any
			if err := json.Unmarshal([]byte(t.Variables), &v); err != nil {
				return nil, fmt.Errorf("playground: Tabs[%d].Variables must be a JSON object: %w", i, err)
			}
		}
		cfg.Tabs = append(cfg.Tabs, pageTab{Query: t.Query, Variables: t.Variables})
	}
	if len(opts.DefaultHeaders) > 0 {
		// The pane shows this text verbatim, so no HTML escaping here: the
		// config as a whole is escaped when it is marshalled into the page.
		// Map keys are sorted, so the pane reads the same on every load.
		var pretty bytes.Buffer
		enc := json.NewEncoder(&pretty)
		enc.SetEscapeHTML(false)
		enc.SetIndent("", "  ")
		if err := enc.Encode(opts.DefaultHeaders); err != nil {
			return nil, fmt.Errorf("playground: DefaultHeaders: %w", err)
		}
		cfg.DefaultHeaders = strings.TrimSuffix(pretty.String(), "\n")
	}
	data := pageData{Title: opts.Title}
	connectSrc := "'self'"
	if endpointOrigin != "" {
		connectSrc += " " + endpointOrigin
	}
	if opts.UseCDN {
		cfg.CDNWorkers = true
		cfg.Workers = cdnWorkers()
		data.StyleURL = cdnOrigin + "/graphiql@" + GraphiQLVersion + "/dist/style.css"
		importMap, err := json.Marshal(map[string]any{"imports": cdnImports()})
		if err != nil {
			return nil, err
		}
		// The nonce placeholder is swapped per request in ServeHTTP.
		data.ImportMap = template.HTML(`<script type="importmap" nonce="` + noncePlaceholder + `">` + string(importMap) + `</script>`)
		data.InlineBootstrap = template.JS(bootstrapJS)
		h.csp = "default-src 'none'; " +
			"script-src 'nonce-" + noncePlaceholder + "' " + cdnOrigin + "; " +
			// Monaco injects <style> elements at run time (themes, decorations).
			"style-src " + cdnOrigin + " 'unsafe-inline'; " +
			"font-src " + cdnOrigin + " data:; " +
			"img-src 'self' data:; " +
			"connect-src " + connectSrc + " " + cdnOrigin + "; " +
			// esm.sh's worker wrappers start workers from blob: URLs.
			"worker-src blob: " + cdnOrigin + "; " +
			"base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
	} else {
		m := b.manifest
		cfg.Workers = map[string]string{
			"editor":  opts.AssetsPath + m.Workers.Editor,
			"json":    opts.AssetsPath + m.Workers.JSON,
			"graphql": opts.AssetsPath + m.Workers.GraphQL,
		}
		data.StyleURL = opts.AssetsPath + m.Style
		data.ScriptURL = opts.AssetsPath + m.Script
		h.csp = "default-src 'none'; " +
			// No inline script: the config is a JSON data block, which CSP does not govern.
			"script-src 'self'; " +
			// Monaco injects <style> elements at run time (themes, decorations)
			// and sets no nonce on them, so inline styles must be allowed.
			"style-src 'self' 'unsafe-inline'; " +
			// GraphiQL's stylesheet inlines its fonts as data: URLs.
			"font-src 'self' data:; " +
			"img-src 'self' data:; " +
			"connect-src " + connectSrc + "; " +
			"worker-src 'self'; " +
			"base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
	}
	cfgJSON, err := json.Marshal(cfg)
	if err != nil {
		return nil, fmt.Errorf("playground: %w", err)
	}
	data.Config = template.JS(cfgJSON)

	if opts.UseCDN {
		h.data = data
		// Render once now so template errors surface here, not per request.
		if _, err := h.render(noncePlaceholder); err != nil {
			return nil, err
		}
	} else {
		h.page, err = h.renderData(data)
		if err != nil {
			return nil, err
		}
	}
	return h, nil
}

// noncePlaceholder marks where CDN mode's per-request nonce goes. It cannot
// occur in real output: json.Marshal escapes '<' and '>'.
const noncePlaceholder = "<nonce>"

// ServeHTTP routes between the assets and the page.
func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	if name, ok := strings.CutPrefix(r.URL.Path, h.assetsPath); ok {
		a := h.bundle.assets[name]
		if a == nil {
			http.NotFound(w, r)
			return
		}
		a.serve(w, r)
		return
	}
	if r.URL.Path != "/" {
		http.NotFound(w, r)
		return
	}
	page, csp := h.page, h.csp
	if h.useCDN {
		nonce, err := newNonce()
		if err != nil {
			http.Error(w, "cannot generate nonce", http.StatusInternalServerError)
			return
		}
		if page, err = h.render(nonce); err != nil {
			http.Error(w, "cannot render page", http.StatusInternalServerError)
			return
		}
		csp = strings.ReplaceAll(csp, noncePlaceholder, nonce)
	}
	hdr := w.Header()
	hdr.Set("Content-Type", "text/html; charset=utf-8")
	hdr.Set("X-Content-Type-Options", "nosniff")
	hdr.Set("Referrer-Policy", "no-referrer")
	hdr.Set("Content-Security-Policy", csp)
	// The page embeds DefaultHeaders, which may hold a token, and (in CDN
	// mode) a one-time nonce: neither may be cached or shared.
	hdr.Set("Cache-Control", "no-store")
	hdr.Set("Content-Length", strconv.Itoa(len(page)))
	if r.Method == http.MethodHead {
		return
	}
	_, _ = w.Write(page)
}

// render fills the CDN-mode template with a nonce.
func (h *handler) render(nonce string) ([]byte, error) {
	data := h.data
	data.Nonce = nonce
	data.ImportMap = template.HTML(strings.ReplaceAll(string(data.ImportMap), noncePlaceholder, nonce))
	return h.renderData(data)
}

func (h *handler) renderData(data pageData) ([]byte, error) {
	var buf bytes.Buffer
	if err := pageTemplate.Execute(&buf, data); err != nil {
		return nil, fmt.Errorf("playground: render page: %w", err)
	}
	return buf.Bytes(), nil
}

// newNonce returns 128 random bits in URL-safe base64, which CSP accepts and
// which needs no escaping in an HTML attribute.
func newNonce() (string, error) {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// checkEndpoint accepts an absolute URL path or an absolute http(s) URL and
// returns the URL's origin for the CSP when it is not same-origin.
func checkEndpoint(endpoint string) (origin string, err error) {
	if endpoint == "" {
		return "", errors.New("playground: Endpoint is required")
	}
	u, err := url.Parse(endpoint)
	if err != nil || strings.ContainsAny(endpoint, " \t\r\n'\";") {
		return "", fmt.Errorf("playground: invalid Endpoint %q", endpoint)
	}
	switch {
	case u.Scheme == "" && u.Host == "" && strings.HasPrefix(endpoint, "/") && !strings.HasPrefix(endpoint, "//"):
		return "", nil
	case (u.Scheme == "http" || u.Scheme == "https") && u.Host != "":
		return u.Scheme + "://" + u.Host, nil
	}
	return "", fmt.Errorf("playground: Endpoint %q must be an absolute path like \"/graphql\" or an http(s) URL", endpoint)
}

// validHeaderName reports whether name is an RFC 9110 token, so the headers
// pane never offers a header that fetch() would reject.
func validHeaderName(name string) bool {
	if name == "" {
		return false
	}
	for _, c := range []byte(name) {
		if c >= 0x80 || !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0) {
			return false
		}
	}
	return true
}

// cdnImports maps bootstrap.js's bare imports to pinned esm.sh builds. The
// "standalone"/"external" parameters make esm.sh bundle each package with
// its private dependencies while sharing one copy of react, graphql and
// @graphiql/react; "deps" pins monaco to the versions the embedded build uses.
func cdnImports() map[string]string {
	return map[string]string{
		"react":             cdnOrigin + "/react@" + ReactVersion,
		"react/":            cdnOrigin + "/react@" + ReactVersion + "/",
		"react-dom":         cdnOrigin + "/react-dom@" + ReactVersion,
		"react-dom/":        cdnOrigin + "/react-dom@" + ReactVersion + "/",
		"graphiql":          cdnOrigin + "/graphiql@" + GraphiQLVersion + "?standalone&external=react,react-dom,@graphiql/react,graphql",
		"graphiql/":         cdnOrigin + "/graphiql@" + GraphiQLVersion + "/",
		"@graphiql/react":   cdnOrigin + "/@graphiql/react@" + GraphiQLReactVersion + "?standalone&external=react,react-dom,graphql,@graphiql/toolkit,@emotion/is-prop-valid&deps=monaco-editor@" + MonacoEditorVersion + ",monaco-graphql@" + MonacoGraphQLVersion,
		"@graphiql/toolkit": cdnOrigin + "/@graphiql/toolkit@" + GraphiQLToolkitVersion + "?standalone&external=graphql",
		"graphql":           cdnOrigin + "/graphql@" + GraphQLJSVersion,
		// An optional dependency of GraphiQL's animation library that esm.sh
		// turns into a hard import; it must resolve for the module graph to load.
		"@emotion/is-prop-valid": cdnOrigin + "/@emotion/is-prop-valid@" + EmotionIsPropValidVersion,
	}
}

// cdnWorkers lists esm.sh "?worker" modules for monaco's workers, the same
// mechanism GraphiQL's own setup-workers/esm.sh uses, but version-pinned.
func cdnWorkers() map[string]string {
	return map[string]string{
		"editor":  cdnOrigin + "/monaco-editor@" + MonacoEditorVersion + "/esm/vs/editor/editor.worker.js?worker",
		"json":    cdnOrigin + "/monaco-editor@" + MonacoEditorVersion + "/esm/vs/language/json/json.worker.js?worker",
		"graphql": cdnOrigin + "/monaco-graphql@" + MonacoGraphQLVersion + "/esm/graphql.worker.js?worker&deps=monaco-editor@" + MonacoEditorVersion,
	}
}
