// This file answers browsers' cross-origin checks for the GraphQL endpoint:
// only origins on the configured allow-list may call it from a page of
// theirs. With no list, no cross-origin headers are sent at all and
// browsers keep pages of other origins out.

package server

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
)

// corsAllowHeaders are the request headers a browser may send.
const corsAllowHeaders = "Authorization, Content-Type, Accept, Cache-Control, X-Location-Id, X-Request-Id, X-API-Key"

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

// withCORS applies the allow-list. A preflight from an allowed origin is
// answered here (204); one from another origin gets 403.
func withCORS(origins []string, next http.Handler) http.Handler {
	if len(origins) == 0 {
		return next
	}
	allowed := map[string]bool{}
	any := false
	for _, o := range origins {
		if o == "*" {
			any = true
		}
		allowed[strings.ToLower(o)] = true
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
		w.Header().Set("Access-Control-Expose-Headers", "X-Request-Id")
		if preflight {
			w.Header().Set("Access-Control-Allow-Methods", "GET, POST, OPTIONS")
			w.Header().Set("Access-Control-Allow-Headers", corsAllowHeaders)
			w.Header().Set("Access-Control-Max-Age", "600")
			w.WriteHeader(http.StatusNoContent)
			return
		}
		next.ServeHTTP(w, r)
	})
}
