// Tests for the DateTime scalar.

package scalars

import (
	"bytes"
	"errors"
	"testing"
	"time"
)

func TestUnmarshalDateTime(t *testing.T) {
	tests := map[string]struct {
		in   any
		want time.Time
		ok   bool
	}{
		"UTC":              {in: "2026-05-01T09:30:00Z", want: time.Date(2026, 5, 1, 9, 30, 0, 0, time.UTC), ok: true},
		"offset":           {in: "2026-05-01T11:30:00+02:00", want: time.Date(2026, 5, 1, 9, 30, 0, 0, time.UTC), ok: true},
		"milliseconds":     {in: "2026-05-01T09:30:00.250Z", want: time.Date(2026, 5, 1, 9, 30, 0, 250e6, time.UTC), ok: true},
		"empty":            {in: ""},
		"words":            {in: "tomorrow"},
		"no zone":          {in: "2026-05-01T09:30:00"},
		"date only":        {in: "2026-05-01"},
		"appointment form": {in: "2021-07-16 11:00:00"},
		"year 1":           {in: "0001-01-01T00:00:00Z"},
		"number":           {in: 1714555800},
		"null":             {in: nil},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got, err := UnmarshalDateTime(tc.in)
			if !tc.ok {
				var iv *InvalidValueError
				if !errors.As(err, &iv) || iv.Scalar != "DateTime" {
					t.Fatalf("err = %v, want an InvalidValueError", err)
				}
				return
			}
			if err != nil || !got.Equal(tc.want) {
				t.Errorf("got %v, %v; want %v", got, err, tc.want)
			}
		})
	}
}

func TestMarshalDateTime(t *testing.T) {
	var b bytes.Buffer
	MarshalDateTime(time.Date(2026, 5, 1, 11, 30, 0, 250e6, time.FixedZone("", 7200))).MarshalGQL(&b)
	if b.String() != `"2026-05-01T09:30:00.25Z"` {
		t.Errorf("got %s", b.String())
	}
}
