// This file is the one place where errors become GraphQL errors: it sorts
// every error into a code of the vocabulary (package errcode), and keeps internal
// details out of what clients see. Errors raised before execution (HTTP
// middleware, the cost check) are presented here too, so every error has
// one shape: message, extensions.code, and the same extra extensions
// (retryAfter, cost, operation, writeOutcome) wherever they apply.

package resolvers

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/ghl-graphql/gateway/errcode"
	"github.com/ghl-graphql/gateway/oauth"
	"github.com/ghl-graphql/gateway/scalars"
	"github.com/ghl-graphql/gateway/upstream"
)

// inputError is bad input found by the gateway before any upstream call.
type inputError struct {
	msg string
}

func (e *inputError) Error() string { return e.msg }

// badInput returns an error that is presented as BAD_USER_INPUT.
func badInput(format string, args ...any) error {
	return &inputError{msg: fmt.Sprintf(format, args...)}
}

// authError is a missing or refused credential found by the gateway.
type authError struct {
	code, msg string
}

func (e *authError) Error() string { return e.msg }

// errUnauthenticated is returned for a call that needs a credential when the
// request has none.
var errUnauthenticated = &authError{code: errcode.CodeUnauthenticated,
	msg: "no credential: send Authorization: Bearer <HighLevel access token or Private Integration Token>"}

// ErrorPresenter turns an error returned by a resolver into the GraphQL error
// the client sees. It is the gateway's only error translator.
func ErrorPresenter(logger *slog.Logger) graphql.ErrorPresenterFunc {
	return func(ctx context.Context, err error) *gqlerror.Error {
		return Present(ctx, logger, err)
	}
}

// Present turns err into the GraphQL error the client sees; ErrorPresenter
// and the HTTP middleware's refusals both use it.
func Present(ctx context.Context, logger *slog.Logger, err error) *gqlerror.Error {
	var gqlErr *gqlerror.Error
	if errors.As(err, &gqlErr) && gqlErr.Err == nil {
		// Errors gqlgen made itself (parse, validation, coercion of
		// variables) are already fit for clients.
		return gqlErr
	}
	out := graphql.DefaultErrorPresenter(ctx, err)
	code, msg, ext := classify(err)
	if code == errcode.CodeInternal {
		logger.ErrorContext(ctx, "internal error", "err", err, "path", out.Path.String())
	}
	out.Message = msg
	if out.Extensions == nil {
		out.Extensions = make(map[string]any, len(ext)+1)
	}
	out.Extensions["code"] = code
	for k, v := range ext {
		out.Extensions[k] = v
	}
	// The wrapped error stays server-side.
	out.Err = nil
	return out
}

// Classify returns the code and client-safe message an error is presented
// with, for logs that must agree with what clients see (the audit log).
func Classify(err error) (code, message string) {
	code, message, _ = classify(err)
	return code, message
}

// classify sorts err into a code, a client-safe message and extra extensions.
func classify(err error) (code, msg string, ext map[string]any) {
	var own *errcode.Error
	var in *inputError
	var iv *scalars.InvalidValueError
	var au *authError
	var up *upstream.Error
	var gqlErr *gqlerror.Error
	switch {
	case errors.As(err, &own):
		return own.Code, own.Message, own.Extensions
	case errors.As(err, &in):
		return errcode.CodeBadUserInput, in.msg, nil
	case errors.As(err, &iv):
		return errcode.CodeBadUserInput, iv.Error(), nil
	case errors.As(err, &au):
		return au.code, au.msg, nil
	case errors.Is(err, upstream.ErrInvalidCursor):
		return errcode.CodeBadUserInput, "after: " + err.Error(), nil
	case errors.As(err, &up):
		return classifyUpstream(up)
	case errors.Is(err, context.Canceled):
		return errcode.CodeCancelled, "the request was cancelled", nil
	case errors.Is(err, context.DeadlineExceeded):
		return errcode.CodeUpstreamTimeout, "the request ran out of time", nil
	case errors.As(err, &gqlErr):
		if c, ok := gqlErr.Extensions["code"].(string); ok {
			return c, gqlErr.Message, nil
		}
	}
	return errcode.CodeInternal, "internal server error", nil
}

// classifyUpstream maps a failed upstream call. A failed write also says
// whether it was carried out (extensions.writeOutcome), so that nothing is
// silently duplicated or lost: UNKNOWN means look before writing again.
func classifyUpstream(e *upstream.Error) (code, msg string, ext map[string]any) {
	ext = map[string]any{"operation": e.Op}
	if outcome := e.WriteOutcome(); outcome != "" {
		ext["writeOutcome"] = outcome
	}
	if msg, hidden := notFound(e); hidden {
		// Nothing of the upstream's answer (status, message) goes out:
		// it is what would tell another location's ID from an unknown one.
		return errcode.CodeNotFound, msg, ext
	}
	if e.StatusCode != 0 {
		ext["upstreamStatus"] = e.StatusCode
	}
	upstreamMsg := e.Message()
	switch {
	case errors.Is(e, oauth.ErrReconsentRequired):
		return errcode.CodeUnauthenticated, "the HighLevel install of this location needs consent again: an admin must run the gateway's /oauth/install", ext
	case errors.Is(e, oauth.ErrNotInstalled):
		return errcode.CodeUnauthenticated, "the gateway holds no HighLevel tokens for this location: an admin must install the app with the gateway's /oauth/install", ext
	case errors.Is(e, upstream.ErrUnavailable):
		secs := errcode.RetryAfterSeconds(e.RetryAfter)
		ext["retryAfter"] = secs
		return errcode.CodeUpstreamUnavailable, fmt.Sprintf("HighLevel is failing; the gateway stopped calling it for a cool-down; retry after %d s", secs), ext
	case errors.Is(e, context.Canceled):
		return errcode.CodeCancelled, "the request was cancelled", ext
	case errors.Is(e, upstream.ErrNotFound):
		return errcode.CodeNotFound, "not found: " + upstreamMsg, ext
	case errors.Is(e, upstream.ErrForbidden):
		return errcode.CodeForbidden, "forbidden: " + upstreamMsg, ext
	case errors.Is(e, upstream.ErrUnauthorized):
		// The token reached HighLevel and was refused: not a paste gone
		// wrong (those are refused before any call, see auth.CheckTokenShape).
		return errcode.CodeUnauthenticated, "HighLevel rejected the token (well-formed, but expired, revoked or not valid for this API): " + upstreamMsg, ext
	case errors.Is(e, upstream.ErrRateLimited):
		reason := "HighLevel's rate limit was reached"
		if e.StatusCode == 0 {
			reason = "the location's rate budget with HighLevel is spent"
		}
		rl := errcode.RateLimited(reason, e.RetryAfter)
		for k, v := range rl.Extensions {
			ext[k] = v
		}
		return rl.Code, rl.Message, ext
	case errors.Is(e, upstream.ErrInvalidInput):
		if e.StatusCode == 0 {
			// Refused by the client before sending: the cause is ours to show.
			return errcode.CodeBadUserInput, strings.TrimPrefix(e.Err.Error(), upstream.ErrInvalidInput.Error()+": "), ext
		}
		return errcode.CodeBadUserInput, "HighLevel refused the input: " + upstreamMsg, ext
	case errors.Is(e, upstream.ErrTimeout):
		return errcode.CodeUpstreamTimeout, "HighLevel did not answer in time", ext
	case errors.Is(e, upstream.ErrMalformedResponse):
		return errcode.CodeUpstreamError, "HighLevel sent an answer the gateway could not read", ext
	case errors.Is(e, upstream.ErrConnection):
		return errcode.CodeUpstreamError, "the connection to HighLevel failed", ext
	case errors.Is(e, upstream.ErrServer):
		return errcode.CodeUpstreamError, fmt.Sprintf("HighLevel failed (%d)", e.StatusCode), ext
	}
	return errcode.CodeUpstreamError, fmt.Sprintf("HighLevel answered %d: %s", e.StatusCode, upstreamMsg), ext
}

// PanicHandler answers a resolver panic with an internal error and logs it;
// the panic value never reaches the client.
func PanicHandler(logger *slog.Logger) graphql.RecoverFunc {
	return func(ctx context.Context, p any) error {
		logger.ErrorContext(ctx, "resolver panic", "panic", fmt.Sprint(p))
		return errors.New("internal server error")
	}
}

// notFound reports whether e says that what the call's path names does not
// exist for the credential, and the one message every such answer gets. An
// ID of another location must answer exactly as an unknown ID does, or the
// gateway would tell an attacker which IDs exist: HighLevel answers the
// first 403 ("The token does not have access to this location.") and the
// second 404, so on an operation whose path names a resource, both become
// the same NOT_FOUND, with a message that depends only on the operation.
// Scope refusals (401) stay FORBIDDEN: they are about the credential, not
// the ID.
func notFound(e *upstream.Error) (string, bool) {
	names := pathResources(e.Op)
	switch {
	case errors.Is(e, upstream.ErrNotFound):
	case e.StatusCode == http.StatusForbidden && len(names) > 0:
	default:
		return "", false
	}
	if len(names) == 0 {
		return "not found", true
	}
	return "not found: no such " + strings.Join(names, " or ") + " in the credential's location", true
}

// pathResources names what each ID parameter of an operation's path points
// at, in order ("contact", "task"); nil for an operation without one.
func pathResources(opID string) []string {
	for _, op := range upstream.Operations() {
		if op.ID != opID {
			continue
		}
		var out []string
		for rest := op.Path; ; {
			i := strings.IndexByte(rest, '{')
			if i < 0 {
				return out
			}
			j := strings.IndexByte(rest[i:], '}')
			if j < 0 {
				return out
			}
			param := rest[i+1 : i+j]
			rest = rest[i+j:]
			switch param {
			case "contactId":
				out = append(out, "contact")
			case "taskId":
				out = append(out, "task")
			case "id": // the notes' routes name their note "{id}"
				out = append(out, "note")
			case "campaignId":
				out = append(out, "campaign")
			case "workflowId":
				out = append(out, "workflow")
			case "businessId":
				out = append(out, "business")
			}
		}
	}
	return nil
}
