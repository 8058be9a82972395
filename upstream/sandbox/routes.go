// This file holds the router: it matches a request's escaped path against the
// path templates of upstream.Operations(), one unescaped segment per
// placeholder, so that an ID holding "/", "?", "#" or "%" stays one segment
// and can never reach another route.

package sandbox

import (
	"fmt"
	"net/url"
	"strings"

	"github.com/ghl-graphql/gateway/upstream"
)

// segment is one segment of a path template: a literal or a placeholder.
type segment struct {
	literal string
	param   bool
}

// route binds an operation to its template and handler.
type route struct {
	op     upstream.Operation
	segs   []segment
	handle func(*call) response
}

// router holds every route.
type router struct {
	routes []route
}

// newRouter builds the routes of ops; every operation must have a handler.
func newRouter(ops []upstream.Operation, hs map[string]func(*call) response) (*router, error) {
	rt := &router{}
	for _, op := range ops {
		h, ok := hs[op.ID]
		if !ok {
			return nil, fmt.Errorf("no handler for operation %s", op.ID)
		}
		var segs []segment
		for _, p := range splitSegments(op.Path) {
			if strings.HasPrefix(p, "{") && strings.HasSuffix(p, "}") {
				segs = append(segs, segment{param: true})
			} else {
				segs = append(segs, segment{literal: p})
			}
		}
		rt.routes = append(rt.routes, route{op: op, segs: segs, handle: h})
	}
	return rt, nil
}

// splitSegments splits a path on "/", ignoring the leading slash and one
// trailing slash, as Express's non-strict routing does ("/contacts/" and
// "/contacts" are one route).
func splitSegments(p string) []string {
	p = strings.TrimPrefix(p, "/")
	p = strings.TrimSuffix(p, "/")
	if p == "" {
		return nil
	}
	return strings.Split(p, "/")
}

// match returns the route for method and the escaped path, and the
// unescaped values of its placeholders. Where several templates match, the
// one with a literal at the first segment where they differ wins, so that
// /contacts/{id}/campaigns/removeAll beats /contacts/{id}/campaigns/{campaignId}.
// A path that matches only with another method matches nothing.
func (rt *router) match(method, escapedPath string) (*route, []string, bool) {
	if !strings.HasPrefix(escapedPath, "/") {
		return nil, nil, false
	}
	raw := splitSegments(escapedPath)
	segs := make([]string, len(raw))
	for i, r := range raw {
		u, err := url.PathUnescape(r)
		if err != nil {
			return nil, nil, false
		}
		segs[i] = u
	}
	var best *route
	for i := range rt.routes {
		r := &rt.routes[i]
		if r.op.Method != method || len(r.segs) != len(segs) {
			continue
		}
		if !r.matches(segs) {
			continue
		}
		if best == nil || r.moreSpecific(best) {
			best = r
		}
	}
	if best == nil {
		return nil, nil, false
	}
	var params []string
	for i, sg := range best.segs {
		if sg.param {
			params = append(params, segs[i])
		}
	}
	return best, params, true
}

// matches reports whether the unescaped segments fit the template; a
// placeholder needs a non-empty segment, a literal matches in any case.
func (r *route) matches(segs []string) bool {
	for i, sg := range r.segs {
		if sg.param {
			if segs[i] == "" {
				return false
			}
		} else if !strings.EqualFold(segs[i], sg.literal) {
			// Express routes are case-insensitive by default, so
			// …/campaigns/REMOVEALL is remove-from-every-campaign too.
			return false
		}
	}
	return true
}

// moreSpecific reports whether r has a literal where o has a placeholder at
// the first segment where they differ.
func (r *route) moreSpecific(o *route) bool {
	for i := range r.segs {
		if r.segs[i].param != o.segs[i].param {
			return !r.segs[i].param
		}
	}
	return false
}
