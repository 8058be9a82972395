// This file is the one place where errors become GraphQL errors: it sorts
// every error into a code of the vocabulary (codes.go), and keeps internal
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
	"math"
	"strings"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/gqlerror"

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

// Error is an error the gateway raises itself with a code of the
// vocabulary, before or outside an upstream call: a refusal by the HTTP
// middleware, the cost check, the rate budget.
type Error struct {
	// Code is one of the vocabulary's codes.
	Code string
	// Message is what the client reads.
	Message string
	// Extensions are extra extensions beside code (retryAfter, cost, …).
	Extensions map[string]any
	// Status, when not 0, is a more precise HTTP status than the code's for
	// a refusal before execution (405 for a method, 413 for a body size,
	// 415 for a media type).
	Status int
}

func (e *Error) Error() string { return e.Message }

// HTTPStatus is the status of an answer that refuses the whole request
// with e before execution.
func (e *Error) HTTPStatus() int {
	if e.Status != 0 {
		return e.Status
	}
	return CodeStatus(e.Code)
}

// NewError returns an Error with this code and message.
func NewError(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// With returns e with one more extension.
func (e *Error) With(key string, value any) *Error {
	if e.Extensions == nil {
		e.Extensions = map[string]any{}
	}
	e.Extensions[key] = value
	return e
}

// RateLimited is the one constructor of RATE_LIMITED errors, wherever the
// refusal comes from (the gateway's budget, HighLevel's 429, a refusal of
// the whole query for its cost): reason, then when to retry, in the
// message and in extensions.retryAfter (whole seconds, at least one).
func RateLimited(reason string, retryAfter time.Duration) *Error {
	secs := retryAfterSeconds(retryAfter)
	return NewError(CodeRateLimited, "%s; retry after %d s", reason, secs).With("retryAfter", secs)
}

// authError is a missing or refused credential found by the gateway.
type authError struct {
	code, msg string
}

func (e *authError) Error() string { return e.msg }

// errUnauthenticated is returned for a call that needs a credential when the
// request has none.
var errUnauthenticated = &authError{code: CodeUnauthenticated,
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
	if code == CodeInternal {
		logger.ErrorContext(ctx, "internal error", "err", err, "path", out.Path.String())
	}
	out.Message = msg
	out.Extensions = make(map[string]any, len(ext)+1)
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
	var own *Error
	var in *inputError
	var iv *scalars.InvalidValueError
	var au *authError
	var up *upstream.Error
	var gqlErr *gqlerror.Error
	switch {
	case errors.As(err, &own):
		return own.Code, own.Message, own.Extensions
	case errors.As(err, &in):
		return CodeBadUserInput, in.msg, nil
	case errors.As(err, &iv):
		return CodeBadUserInput, iv.Error(), nil
	case errors.As(err, &au):
		return au.code, au.msg, nil
	case errors.Is(err, upstream.ErrInvalidCursor):
		return CodeBadUserInput, "after: " + err.Error(), nil
	case errors.As(err, &up):
		return classifyUpstream(up)
	case errors.Is(err, context.Canceled):
		return CodeCancelled, "the request was cancelled", nil
	case errors.Is(err, context.DeadlineExceeded):
		return CodeUpstreamTimeout, "the request ran out of time", nil
	case errors.As(err, &gqlErr):
		if c, ok := gqlErr.Extensions["code"].(string); ok {
			return c, gqlErr.Message, nil
		}
	}
	return CodeInternal, "internal server error", nil
}

// retryAfterSeconds rounds a wait up to whole seconds, at least one.
func retryAfterSeconds(d time.Duration) int {
	return max(1, int(math.Ceil(d.Seconds())))
}

// classifyUpstream maps a failed upstream call. A failed write also says
// whether it was carried out (extensions.writeOutcome), so that nothing is
// silently duplicated or lost: UNKNOWN means look before writing again.
func classifyUpstream(e *upstream.Error) (code, msg string, ext map[string]any) {
	ext = map[string]any{"operation": e.Op}
	if e.StatusCode != 0 {
		ext["upstreamStatus"] = e.StatusCode
	}
	if outcome := e.WriteOutcome(); outcome != "" {
		ext["writeOutcome"] = outcome
	}
	upstreamMsg := e.Message()
	switch {
	case errors.Is(e, oauth.ErrReconsentRequired):
		return CodeUnauthenticated, "the HighLevel install of this location needs consent again: an admin must run the gateway's /oauth/install", ext
	case errors.Is(e, oauth.ErrNotInstalled):
		return CodeUnauthenticated, "the gateway holds no HighLevel tokens for this location: an admin must install the app with the gateway's /oauth/install", ext
	case errors.Is(e, upstream.ErrUnavailable):
		secs := retryAfterSeconds(e.RetryAfter)
		ext["retryAfter"] = secs
		return CodeUpstreamUnavailable, fmt.Sprintf("HighLevel is failing; the gateway stopped calling it for a cool-down; retry after %d s", secs), ext
	case errors.Is(e, context.Canceled):
		return CodeCancelled, "the request was cancelled", ext
	case errors.Is(e, upstream.ErrNotFound):
		return CodeNotFound, "not found: " + upstreamMsg, ext
	case errors.Is(e, upstream.ErrForbidden):
		return CodeForbidden, "forbidden: " + upstreamMsg, ext
	case errors.Is(e, upstream.ErrUnauthorized):
		return CodeUnauthenticated, "unauthenticated: " + upstreamMsg, ext
	case errors.Is(e, upstream.ErrRateLimited):
		reason := "HighLevel's rate limit was reached"
		if e.StatusCode == 0 {
			reason = "the location's rate budget with HighLevel is spent"
		}
		rl := RateLimited(reason, e.RetryAfter)
		for k, v := range rl.Extensions {
			ext[k] = v
		}
		return rl.Code, rl.Message, ext
	case errors.Is(e, upstream.ErrInvalidInput):
		if e.StatusCode == 0 {
			// Refused by the client before sending: the cause is ours to show.
			return CodeBadUserInput, strings.TrimPrefix(e.Err.Error(), upstream.ErrInvalidInput.Error()+": "), ext
		}
		return CodeBadUserInput, "HighLevel refused the input: " + upstreamMsg, ext
	case errors.Is(e, upstream.ErrTimeout):
		return CodeUpstreamTimeout, "HighLevel did not answer in time", ext
	case errors.Is(e, upstream.ErrMalformedResponse):
		return CodeUpstreamError, "HighLevel sent an answer the gateway could not read", ext
	case errors.Is(e, upstream.ErrConnection):
		return CodeUpstreamError, "the connection to HighLevel failed", ext
	case errors.Is(e, upstream.ErrServer):
		return CodeUpstreamError, fmt.Sprintf("HighLevel failed (%d)", e.StatusCode), ext
	}
	return CodeUpstreamError, fmt.Sprintf("HighLevel answered %d: %s", e.StatusCode, upstreamMsg), ext
}

// PanicHandler answers a resolver panic with an internal error and logs it;
// the panic value never reaches the client.
func PanicHandler(logger *slog.Logger) graphql.RecoverFunc {
	return func(ctx context.Context, p any) error {
		logger.ErrorContext(ctx, "resolver panic", "panic", fmt.Sprint(p))
		return errors.New("internal server error")
	}
}
