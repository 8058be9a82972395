// This file is the gateway's GraphQL-over-HTTP transport for POST and GET,
// written to the GraphQL-over-HTTP specification rather than taken from
// gqlgen (whose transports answer 422 for request errors under
// application/json and put "data": null beside them): graphql-http's audit
// (server/testdata/node/audit.mjs) passes every MUST and every SHOULD.
//
// The rules, per the response's media type (Accept decides it):
//   - application/json (also for */*, application/*, no Accept): every
//     well-formed request is answered 200, request errors (parse,
//     validation, variables, the cost check) included.
//   - application/graphql-response+json: a request error is answered with
//     its code's status (400 for parse, validation and variables), an
//     executed operation 200.
//   - A request error's answer has no "data" entry (GraphQL spec §7.1.2).
//   - A mutation over GET is 405 with Allow: POST.
//
// Our own codes stay in extensions.code whatever the status.

package server

import (
	"bytes"
	"encoding/json"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/ghl-graphql/gateway/errcode"
)

// Response media types.
const (
	mediaJSON            = "application/json"
	mediaGraphQLResponse = "application/graphql-response+json"
)

// responseMediaType is the media type of the answer to r: the first of
// Accept's entries the gateway can serve; application/json when Accept is
// missing or names nothing the gateway serves (the spec allows either 406
// or a default; a default keeps old clients working).
func responseMediaType(r *http.Request) string {
	accept := r.Header.Get("Accept")
	if accept == "" {
		return mediaJSON
	}
	best, bestQ := "", -1.0
	for part := range strings.SplitSeq(accept, ",") {
		mt, params, err := mime.ParseMediaType(strings.TrimSpace(part))
		if err != nil {
			continue
		}
		var chosen string
		switch strings.ToLower(mt) {
		case mediaGraphQLResponse:
			chosen = mediaGraphQLResponse
		case mediaJSON, "*/*", "application/*":
			chosen = mediaJSON
		default:
			continue
		}
		q := 1.0
		if s, ok := params["q"]; ok {
			f, err := strconv.ParseFloat(s, 64)
			if err != nil {
				continue
			}
			q = f
		}
		if q > bestQ {
			best, bestQ = chosen, q
		}
	}
	if best == "" || bestQ <= 0 {
		return mediaJSON
	}
	return best
}

// httpTransport serves GraphQL over POST (application/json bodies) and GET
// (queries only).
type httpTransport struct{}

var _ graphql.Transport = httpTransport{}

// Supports takes plain POST and GET requests; upgrades (websockets) are
// another transport's.
func (httpTransport) Supports(r *http.Request) bool {
	if r.Header.Get("Upgrade") != "" {
		return false
	}
	if r.Method == http.MethodGet {
		return true
	}
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	return r.Method == http.MethodPost && err == nil && strings.EqualFold(mt, mediaJSON)
}

// Do runs one request.
func (httpTransport) Do(w http.ResponseWriter, r *http.Request, exec graphql.GraphExecutor) {
	ctx := r.Context()
	media := responseMediaType(r)
	start := graphql.Now()
	params := &graphql.RawParams{Headers: r.Header}
	if r.Method == http.MethodGet {
		q := r.URL.Query()
		params.Query, params.OperationName = q.Get("query"), q.Get("operationName")
		for name, into := range map[string]*map[string]any{"variables": &params.Variables, "extensions": &params.Extensions} {
			if v := q.Get(name); v != "" {
				if err := decodeJSON([]byte(v), into); err != nil {
					writeError(w, r, errcode.New(errcode.CodeBadRequest, "%s must be a JSON object", name))
					return
				}
			}
		}
	} else {
		body, ok := requestBody(r)
		if !ok { // a handler without withBodyLimit in front (the benchmark's baseline)
			b, err := io.ReadAll(r.Body)
			if err != nil {
				writeError(w, r, errcode.New(errcode.CodeBadRequest, "could not read the request body"))
				return
			}
			body = b
		}
		if err := decodeJSON(body, params); err != nil {
			writeError(w, r, errcode.New(errcode.CodeBadRequest, "the body is not a GraphQL request object"))
			return
		}
		params.Headers = r.Header
	}
	params.ReadTime = graphql.TraceTiming{Start: start, End: graphql.Now()}

	oc, errs := exec.CreateOperationContext(ctx, params)
	if errs != nil {
		resp := exec.DispatchError(graphql.WithOperationContext(ctx, oc), errs)
		status := http.StatusOK
		if media == mediaGraphQLResponse {
			status = requestErrorStatus(resp.Errors)
		}
		writeResponse(w, media, status, resp, false)
		return
	}
	if r.Method == http.MethodGet {
		if op := oc.Doc.Operations.ForName(oc.OperationName); op != nil && op.Operation != ast.Query {
			w.Header().Set("Allow", http.MethodPost)
			writeError(w, r, &errcode.Error{Code: errcode.CodeBadRequest, Status: http.StatusMethodNotAllowed,
				Message: "GET runs queries only: send a " + string(op.Operation) + " with POST"})
			return
		}
	}
	responses, ctx := exec.DispatchOperation(ctx, oc)
	writeResponse(w, media, http.StatusOK, responses(ctx), true)
}

// requestErrorStatus is the status of a request error under
// application/graphql-response+json: the first error's code's (400 when it
// names none, or a code whose status is not a client's or server's error).
func requestErrorStatus(errs gqlerror.List) int {
	for _, e := range errs {
		if c, ok := e.Extensions["code"].(string); ok {
			if s := errcode.Status(c); s >= 400 {
				return s
			}
		}
	}
	return http.StatusBadRequest
}

// wireResponse is a GraphQL response as written: data is left out when
// the operation never ran (a request error), which graphql.Response cannot
// say (it writes "data": null).
type wireResponse struct {
	Errors     gqlerror.List   `json:"errors,omitempty"`
	Data       json.RawMessage `json:"data,omitempty"`
	Extensions map[string]any  `json:"extensions,omitempty"`
}

// writeResponse writes resp; executed says whether the operation ran, in
// which case data is always present (null included).
func writeResponse(w http.ResponseWriter, media string, status int, resp *graphql.Response, executed bool) {
	out := wireResponse{Errors: resp.Errors, Extensions: resp.Extensions}
	if executed {
		out.Data = resp.Data
		if len(out.Data) == 0 {
			out.Data = json.RawMessage("null")
		}
	}
	b, err := json.Marshal(out)
	if err != nil {
		b, _ = json.Marshal(wireResponse{Errors: gqlerror.List{{Message: "the answer could not be encoded",
			Extensions: map[string]any{"code": errcode.CodeInternal}}}})
		status = http.StatusInternalServerError
	}
	w.Header().Set("Content-Type", media)
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// decodeJSON decodes b into v keeping numbers exact, as gqlgen does.
func decodeJSON(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	return dec.Decode(v)
}
