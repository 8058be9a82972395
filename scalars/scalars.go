// Package scalars holds the GraphQL scalars whose parsing is the gateway's
// own: DateTime accepts only RFC 3339 instants with a time zone, and refuses
// anything else with an error the presenter shows as BAD_USER_INPUT.
package scalars

import (
	"errors"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/99designs/gqlgen/graphql"
)

// InvalidValueError is a scalar value a client sent that cannot be used.
type InvalidValueError struct {
	// Scalar is the GraphQL scalar's name.
	Scalar string
	// Reason says what is wrong, for the client.
	Reason string
}

func (e *InvalidValueError) Error() string { return e.Scalar + ": " + e.Reason }

// MarshalDateTime writes an instant as RFC 3339 in UTC, with milliseconds
// when it has them.
func MarshalDateTime(t time.Time) graphql.Marshaler {
	return graphql.WriterFunc(func(w io.Writer) {
		_, _ = io.WriteString(w, strconv.Quote(t.UTC().Format(time.RFC3339Nano)))
	})
}

// UnmarshalDateTime reads an RFC 3339 instant with a time zone, e.g.
// "2026-05-01T09:30:00Z" or "2026-05-01T11:30:00+02:00".
func UnmarshalDateTime(v any) (time.Time, error) {
	s, ok := v.(string)
	if !ok {
		return time.Time{}, &InvalidValueError{Scalar: "DateTime", Reason: fmt.Sprintf("want an RFC 3339 string, got %T", v)}
	}
	if s == "" {
		return time.Time{}, &InvalidValueError{Scalar: "DateTime", Reason: "must not be empty"}
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		var pe *time.ParseError
		if errors.As(err, &pe) {
			err = errors.New("not an RFC 3339 time with a time zone")
		}
		return time.Time{}, &InvalidValueError{Scalar: "DateTime", Reason: fmt.Sprintf("%q: %v, e.g. 2026-05-01T09:30:00Z", s, err)}
	}
	if t.Year() < 1900 || t.Year() > 9999 {
		return time.Time{}, &InvalidValueError{Scalar: "DateTime", Reason: fmt.Sprintf("%q: year out of range", s)}
	}
	return t, nil
}
