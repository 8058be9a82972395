// This file answers browsers' cross-origin checks for the GraphQL endpoint:
// only origins on the configured allow-list may call it from a page of
// theirs. With no list, no cross-origin headers are sent at all and
// browsers keep pages of other origins out.

package server

import (
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// DefaultCORSAllowHeaders are the request headers a page may send by
// default: the gateway's own, Apollo Client's client awareness and CSRF
// headers, what urql and graphql-request send, and tracing.
var DefaultCORSAllowHeaders = []string{
	"Authorization", "Content-Type", "Accept", "Cache-Control",
	HeaderLocationID, "X-Request-Id", "X-API-Key",
	// Apollo Client: client awareness, CSRF prevention, operation name.
	"apollographql-client-name", "apollographql-client-version", "apollo-require-preflight", "x-apollo-operation-name",
	// urql and graphql-request send only the above plus what the app adds;
	// GraphQL multipart uploads and graphql-sse name these.
	"x-graphql-client-name", "x-graphql-client-version",
	// W3C trace context.
	"traceparent", "tracestate",
}

// DefaultCORSMaxAge is how long browsers may reuse a preflight's answer:
// Chromium's ceiling (Firefox allows a day), so a page preflights each
// operation's shape at most every two hours.
const DefaultCORSMaxAge = 2 * time.Hour

// CheckOrigins validates allow-list entries: "*" or scheme://host[:port].
func CheckOrigins(origins []string) error {
	for _, o := range origins {
		if o == "*" {
			continue
		}
		u, err := url.Parse(o)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.Path != "" || u.RawQuery != "" {
			return fmt.Errorf("CORS origin %q: want scheme://host[:port] or *", o)
		}
	}
	return nil
}

// CheckCORSHeaders validates allowed request header names (RFC 9110 tokens).
func CheckCORSHeaders(headers []string) error {
	for _, h := range headers {
		if h == "" || strings.ContainsFunc(h, func(c rune) bool {
			return c <= ' ' || c >= 0x7f || strings.ContainsRune(`"(),/:;<=>?@[\]{}`, c)
		}) {
			return fmt.Errorf("CORS header %q: want a header name", h)
		}
	}
	return nil
}

// corsConfig is what withCORS answers with.
type corsConfig struct {
	origins      []string
	allowHeaders []string
	// maxAge is Access-Control-Max-Age; 0 sends none.
	maxAge time.Duration
}

// cors returns the configuration's CORS settings, defaults applied.
func (c Config) cors() corsConfig {
	cc := corsConfig{origins: c.CORSOrigins, allowHeaders: c.CORSAllowHeaders, maxAge: c.CORSMaxAge}
	if cc.allowHeaders == nil {
		cc.allowHeaders = DefaultCORSAllowHeaders
	}
	switch {
	case cc.maxAge == 0:
		cc.maxAge = DefaultCORSMaxAge
	case cc.maxAge < 0:
		cc.maxAge = 0
	}
	return cc
}

// withCORS applies the allow-list. A preflight from an allowed origin is
// answered here (204); one from another origin gets 403.
func withCORS(cc corsConfig, next http.Handler) http.Handler {
	if len(cc.origins) == 0 {
		return next
	}
	allowed := map[string]bool{}
	any := false
	for _, o := range cc.origins {
		if o == "*" {
			any = true
		}
		allowed[strings.ToLower(o)] = true
	}
	allowHeaders := strings.Join(cc.allowHeaders, ", ")
	maxAge := ""
	if cc.maxAge > 0 {
		maxAge = strconv.Itoa(int(cc.maxAge / time.Second))
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		origin := r.Header.Get("Origin")
		if origin == "" {
			next.ServeHTTP(w, r)
			return
		}
		w.Header().Add("Vary", "Origin")
		ok := any || allowed[strings.ToLower(origin)]
		preflight := r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != ""
		if !ok {
			if preflight {
				http.Error(w, "origin not allowed", http.StatusForbidden)
				return
			}
			// The browser will withhold the answer from the page; requests
			// without an Origin (servers, curl) are unaffected.
			next.ServeHTTP(w, r)
			return
		}
		if any {
			w.Header().Set("Access-Control-Allow-Origin", "*")
		} else {
			w.Header().Set("Access-Control-Allow-Origin", origin)
		}
		w.Header().Set("Access-Control-Expose-Headers", "X-Request-Id, Retry-After")
		if preflight {
			w.Header().Set("Access-Control-Allow-Methods", "GET, POST, OPTIONS")
			w.Header().Set("Access-Control-Allow-Headers", allowHeaders)
			if maxAge != "" {
				w.Header().Set("Access-Control-Max-Age", maxAge)
			}
			w.WriteHeader(http.StatusNoContent)
			return
		}
		next.ServeHTTP(w, r)
	})
}
