// Tests for the error presenter: one table from every error kind to the
// code, message and extensions clients see.

package resolvers

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/ghl-graphql/gateway/errcode"
	"github.com/ghl-graphql/gateway/scalars"
	"github.com/ghl-graphql/gateway/upstream"
)

func TestErrorPresenter(t *testing.T) {
	up := func(status int, kind error, mut func(*upstream.Error)) error {
		e := &upstream.Error{Op: "get-contact", Method: "GET", Path: "/contacts/x", StatusCode: status,
			Messages: []string{"upstream says"}, Err: kind}
		if mut != nil {
			mut(e)
		}
		return fmt.Errorf("wrapped: %w", e)
	}
	tests := map[string]struct {
		err      error
		wantCode string
		wantMsg  string // substring
		wantExt  map[string]any
	}{
		"bad input":                        {err: badInput("email %q is not valid", "x"), wantCode: errcode.CodeBadUserInput, wantMsg: `email "x" is not valid`},
		"no credential":                    {err: errUnauthenticated, wantCode: errcode.CodeUnauthenticated, wantMsg: "Bearer"},
		"not found":                        {err: up(404, upstream.ErrNotFound, nil), wantCode: errcode.CodeNotFound, wantMsg: "no such contact", wantExt: map[string]any{"operation": "get-contact"}},
		"another location's contact (403)": {err: up(403, upstream.ErrForbidden, nil), wantCode: errcode.CodeNotFound, wantMsg: "no such contact", wantExt: map[string]any{"operation": "get-contact"}},
		"unauthorized":                     {err: up(401, upstream.ErrUnauthorized, nil), wantCode: errcode.CodeUnauthenticated},
		"forbidden": {err: up(403, upstream.ErrForbidden, func(e *upstream.Error) { e.Op = upstream.OpSearchContacts.ID }),
			wantCode: errcode.CodeForbidden, wantExt: map[string]any{"upstreamStatus": 403}},
		"scope refusal (401)": {err: up(401, upstream.ErrForbidden, nil), wantCode: errcode.CodeForbidden},
		"422":                 {err: up(422, upstream.ErrInvalidInput, func(e *upstream.Error) { e.Messages = []string{"email must be an email", "x"} }), wantCode: errcode.CodeBadUserInput, wantMsg: "email must be an email; x"},
		"refused before sending": {
			err:      &upstream.Error{Op: "get-contact", Err: fmt.Errorf("%w: contactId must not be empty", upstream.ErrInvalidInput)},
			wantCode: errcode.CodeBadUserInput, wantMsg: "contactId must not be empty",
		},
		"rate limited": {
			err:      up(429, upstream.ErrRateLimited, func(e *upstream.Error) { e.RetryAfter = 1500 * time.Millisecond }),
			wantCode: errcode.CodeRateLimited, wantExt: map[string]any{"retryAfter": 2},
		},
		"rate limited without Retry-After": {err: up(429, upstream.ErrRateLimited, nil), wantCode: errcode.CodeRateLimited, wantExt: map[string]any{"retryAfter": 1}},
		"5xx":                              {err: up(503, upstream.ErrServer, nil), wantCode: errcode.CodeUpstreamError, wantMsg: "503"},
		"timeout":                          {err: up(0, fmt.Errorf("%w: deadline", upstream.ErrTimeout), nil), wantCode: errcode.CodeUpstreamTimeout},
		"dropped connection":               {err: up(0, fmt.Errorf("%w: EOF", upstream.ErrConnection), nil), wantCode: errcode.CodeUpstreamError},
		"malformed answer":                 {err: up(200, fmt.Errorf("%w: bad JSON", upstream.ErrMalformedResponse), nil), wantCode: errcode.CodeUpstreamError},
		"unexpected 409":                   {err: up(409, errors.New("unexpected status 409"), nil), wantCode: errcode.CodeUpstreamError, wantMsg: "409"},
		"cancelled call":                   {err: up(0, context.Canceled, nil), wantCode: errcode.CodeCancelled},
		"invalid cursor":                   {err: fmt.Errorf("x: %w", upstream.ErrInvalidCursor), wantCode: errcode.CodeBadUserInput},
		"internal":                         {err: errors.New("secret detail token=abc"), wantCode: errcode.CodeInternal, wantMsg: "internal server error"},
		"bad scalar, wrapped by gqlgen": {
			err:      &gqlerror.Error{Message: "x", Err: &scalars.InvalidValueError{Scalar: "DateTime", Reason: `"tomorrow": not an RFC 3339 time`}},
			wantCode: errcode.CodeBadUserInput, wantMsg: "DateTime",
		},
	}
	present := ErrorPresenter(slog.New(slog.DiscardHandler))
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			ctx := graphql.WithFieldContext(context.Background(), &graphql.FieldContext{})
			got := present(ctx, tc.err)
			if got.Extensions["code"] != tc.wantCode {
				t.Fatalf("code = %v, want %s (message %q)", got.Extensions["code"], tc.wantCode, got.Message)
			}
			if code, _ := got.Extensions["code"].(string); !declared(code) {
				t.Errorf("code %v is not in the vocabulary (errcode/codes.go)", got.Extensions["code"])
			}
			if !strings.Contains(got.Message, tc.wantMsg) {
				t.Errorf("message %q does not contain %q", got.Message, tc.wantMsg)
			}
			for k, v := range tc.wantExt {
				if got.Extensions[k] != v {
					t.Errorf("extensions[%s] = %v, want %v", k, got.Extensions[k], v)
				}
			}
			if got.Err != nil {
				t.Errorf("the cause must not travel to the client: %v", got.Err)
			}
			if strings.Contains(got.Message, "token=abc") || strings.Contains(got.Message, "/contacts/x") {
				t.Errorf("message leaks internals: %q", got.Message)
			}
		})
	}
}

func TestErrorPresenterKeepsGraphQLErrors(t *testing.T) {
	present := ErrorPresenter(slog.New(slog.DiscardHandler))
	in := &gqlerror.Error{Message: "Cannot query field \"x\"", Extensions: map[string]any{"code": "GRAPHQL_VALIDATION_FAILED"}}
	got := present(context.Background(), in)
	if got.Message != in.Message || got.Extensions["code"] != "GRAPHQL_VALIDATION_FAILED" {
		t.Errorf("got %+v", got)
	}
}

func TestPanicHandlerHidesValue(t *testing.T) {
	err := PanicHandler(slog.New(slog.DiscardHandler))(context.Background(), "boom with token abc")
	if strings.Contains(err.Error(), "abc") {
		t.Errorf("panic value leaked: %v", err)
	}
	code, _, _ := classify(err)
	if code != errcode.CodeInternal {
		t.Errorf("code = %s", code)
	}
}

func declared(code string) bool {
	for _, c := range errcode.Codes() {
		if c.Code == code {
			return true
		}
	}
	return false
}

// TestRateLimitedHasOneShape: the budget's refusal of a whole query and
// HighLevel's 429 are both built by RateLimited, so clients read the same
// code, message form and retryAfter.
func TestRateLimitedHasOneShape(t *testing.T) {
	present := ErrorPresenter(slog.New(slog.DiscardHandler))
	ctx := graphql.WithFieldContext(context.Background(), &graphql.FieldContext{})
	budget := present(ctx, errcode.RateLimited("query cost 9 exceeds the 3 upstream calls the budget allows", 2100*time.Millisecond))
	upstream429 := present(ctx, &upstream.Error{Op: "get-contact", StatusCode: 429, RetryAfter: 2100 * time.Millisecond, Err: upstream.ErrRateLimited})
	spent := present(ctx, &upstream.Error{Op: "get-contact", RetryAfter: 2100 * time.Millisecond, Err: upstream.ErrRateLimited})
	for name, e := range map[string]map[string]any{"budget": budget.Extensions, "429": upstream429.Extensions, "spent": spent.Extensions} {
		if e["code"] != errcode.CodeRateLimited || e["retryAfter"] != 3 {
			t.Errorf("%s: extensions %v, want RATE_LIMITED with retryAfter 3", name, e)
		}
	}
	for _, msg := range []string{budget.Message, upstream429.Message, spent.Message} {
		if !strings.HasSuffix(msg, "; retry after 3 s") {
			t.Errorf("message %q does not end with when to retry", msg)
		}
	}
	if got := errcode.RateLimited("x", 0).Extensions["retryAfter"]; got != 1 {
		t.Errorf("retryAfter for no wait = %v, want at least 1", got)
	}
}

// TestNotFoundHidesWhichIDExists: on every operation whose path names a
// resource, the upstream's 404 (unknown ID) and 403 (another location's
// ID), with whatever message, are presented identically, and the
// gateway's own errContactNotFound too.
func TestNotFoundHidesWhichIDExists(t *testing.T) {
	present := ErrorPresenter(slog.New(slog.DiscardHandler))
	ctx := graphql.WithFieldContext(context.Background(), &graphql.FieldContext{})
	show := func(err error) string {
		b, _ := json.Marshal(present(ctx, err))
		return string(b)
	}
	named := 0
	for _, op := range upstream.Operations() {
		if !strings.Contains(op.Path, "{") || op.ID == upstream.OpBulkUpdateTags.ID {
			continue
		}
		named++
		t.Run(op.ID, func(t *testing.T) {
			unknown := show(&upstream.Error{Op: op.ID, Method: op.Method, Path: "/contacts/unknown", StatusCode: 404,
				Messages: []string{"Contact not found"}, RequestSent: true, Err: upstream.ErrNotFound})
			other := show(&upstream.Error{Op: op.ID, Method: op.Method, Path: "/contacts/other", StatusCode: 403,
				Messages: []string{"The token does not have access to this location."}, RequestSent: true, Err: upstream.ErrForbidden})
			if unknown != other {
				t.Errorf("unknown ID:          %s\nother location's ID: %s", unknown, other)
			}
			if !strings.Contains(unknown, `"code":"NOT_FOUND"`) || strings.Contains(unknown, "upstreamStatus") {
				t.Errorf("answer %s", unknown)
			}
			if op.ID == upstream.OpGetContact.ID {
				if own := show(errContactNotFound); own != unknown {
					t.Errorf("the gateway's own not-found %s differs from the upstream's %s", own, unknown)
				}
			}
		})
	}
	if named != 25 {
		t.Errorf("%d operations name a resource in their path, want 25", named)
	}
	// A scope refusal is about the credential: it stays FORBIDDEN.
	if got := show(&upstream.Error{Op: "get-contact", StatusCode: 401, Err: upstream.ErrForbidden}); !strings.Contains(got, "FORBIDDEN") {
		t.Errorf("scope refusal: %s", got)
	}
}
