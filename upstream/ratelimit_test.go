// This file covers the rate-limit headers: ParseRate (present, absent,
// garbage and negative values read as -1, "unknown"), Rate.Known, the Rate
// of a Response and of an *Error, and ParseRetryAfter (seconds, HTTP dates
// in the future and the past, garbage, huge values capped at one hour, zero
// and negative values).

package upstream

import (
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestParseRate(t *testing.T) {
	unknown := Rate{Max: -1, Remaining: -1, Interval: -1, DailyLimit: -1, DailyRemaining: -1}
	tests := []struct {
		name      string
		header    map[string]string
		want      Rate
		wantKnown bool
	}{
		{name: "all present", header: testRateHeaders, want: testRate, wantKnown: true},
		{name: "none", header: nil, want: unknown},
		{
			name:   "some absent",
			header: map[string]string{HeaderRateLimitMax: "100", HeaderRateLimitDailyRemaining: "5"},
			want:   Rate{Max: 100, Remaining: -1, Interval: -1, DailyLimit: -1, DailyRemaining: 5}, wantKnown: true,
		},
		{
			name:   "zero is a value, not unknown",
			header: map[string]string{HeaderRateLimitRemaining: "0", HeaderRateLimitDailyRemaining: "0", HeaderRateLimitInterval: "0"},
			want:   Rate{Max: -1, Remaining: 0, Interval: 0, DailyLimit: -1, DailyRemaining: 0}, wantKnown: true,
		},
		{
			name: "garbage",
			header: map[string]string{HeaderRateLimitMax: "lots", HeaderRateLimitRemaining: "9.5", HeaderRateLimitInterval: "10s",
				HeaderRateLimitDaily: "0x10", HeaderRateLimitDailyRemaining: "1e3"},
			want: unknown,
		},
		{
			name: "negative",
			header: map[string]string{HeaderRateLimitMax: "-1", HeaderRateLimitRemaining: "-5", HeaderRateLimitInterval: "-10000",
				HeaderRateLimitDaily: "-200000", HeaderRateLimitDailyRemaining: "-1"},
			want: unknown,
		},
		{
			name:   "empty values",
			header: map[string]string{HeaderRateLimitMax: "", HeaderRateLimitRemaining: "   "},
			want:   unknown,
		},
		{
			name:   "surrounding spaces",
			header: map[string]string{HeaderRateLimitMax: " 100 ", HeaderRateLimitInterval: "\t10000"},
			want:   Rate{Max: 100, Remaining: -1, Interval: 10 * time.Second, DailyLimit: -1, DailyRemaining: -1}, wantKnown: true,
		},
		{
			name:   "beyond int",
			header: map[string]string{HeaderRateLimitDaily: "99999999999999999999999"},
			want:   unknown,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := http.Header{}
			for k, v := range tt.header {
				h.Set(k, v)
			}
			got := ParseRate(h)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("ParseRate (-want +got):\n%s", diff)
			}
			if got.Known() != tt.wantKnown {
				t.Errorf("Known() = %v, want %v", got.Known(), tt.wantKnown)
			}
		})
	}
}

// TestParseRateIntervalOverflow: an interval in milliseconds too large for
// a time.Duration must read as unknown (-1) or as a non-negative duration,
// never as a negative one that Known() and budgeting code misread.
//
// Regression (upstream-rate-overflow, fixed): this test fails. ParseRate multiplies the
// milliseconds by time.Millisecond without an overflow check, so
// "9223372036854775807" gives -1ms and "10000000000000" gives a large
// negative duration.
func TestParseRateIntervalOverflow(t *testing.T) {
	for _, v := range []string{"9223372036854775807", "10000000000000", "9223372036855"} {
		t.Run("regression: "+v, func(t *testing.T) {
			h := http.Header{}
			h.Set(HeaderRateLimitInterval, v)
			got := ParseRate(h).Interval
			if got != -1 && got < 0 {
				t.Errorf("regression upstream-rate-overflow: Interval for %q ms = %v (%d ns), want -1 or a non-negative duration", v, got, int64(got))
			}
		})
	}
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name string
		in   string
		want time.Duration
		bug  string
	}{
		{name: "absent", in: "", want: 0},
		{name: "seconds", in: "7", want: 7 * time.Second},
		{name: "seconds with spaces", in: " 7 ", want: 7 * time.Second},
		{name: "zero", in: "0", want: 0},
		{name: "negative", in: "-3", want: 0},
		{name: "one hour", in: "3600", want: time.Hour},
		{name: "just over an hour is capped", in: "3601", want: time.Hour},
		{name: "huge is capped", in: "99999999999", want: time.Hour},
		{name: "max int64 is capped", in: "9223372036854775807", want: time.Hour},
		// Regression (upstream-retry-after-range, fixed): a delay-seconds value too large for
		// int64 is still a (huge) delay, but ParseRetryAfter reads it as
		// garbage and returns 0: "retry at once" instead of the cap.
		{name: "regression: beyond int64 is capped", in: "99999999999999999999", want: time.Hour, bug: "upstream-retry-after-range"},
		{name: "fraction is garbage", in: "1.5", want: 0},
		{name: "garbage", in: "soon", want: 0},
		{name: "hex is garbage", in: "0x10", want: 0},
		{name: "HTTP date in the future", in: now.Add(90 * time.Second).Format(http.TimeFormat), want: 90 * time.Second},
		{name: "HTTP date now", in: now.Format(http.TimeFormat), want: 0},
		{name: "HTTP date in the past", in: now.Add(-time.Hour).Format(http.TimeFormat), want: 0},
		{name: "HTTP date far ahead is capped", in: now.Add(48 * time.Hour).Format(http.TimeFormat), want: time.Hour},
		{name: "HTTP date in year 9999 is capped", in: "Fri, 31 Dec 9999 23:59:59 GMT", want: time.Hour},
		{name: "RFC 850 date", in: "Tuesday, 10-Mar-26 12:01:30 GMT", want: 90 * time.Second},
		{name: "ANSI C date", in: "Tue Mar 10 12:01:30 2026", want: 90 * time.Second},
		{name: "date without zone is garbage", in: "2026-03-10T12:01:30", want: 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := ParseRetryAfter(tt.in, now)
			if got != tt.want {
				prefix := ""
				if tt.bug != "" {
					prefix = "regression " + tt.bug + ": "
				}
				t.Errorf("%sParseRetryAfter(%q) = %v, want %v", prefix, tt.in, got, tt.want)
			}
		})
	}
}

// TestRateOnResponses checks that the Rate of an answer reaches the caller on
// success and on error, and reads as unknown when the headers are absent.
func TestRateOnResponses(t *testing.T) {
	env := setup(t)
	env.handle("GET /contacts/{contactId}", func(w http.ResponseWriter, r *http.Request) {
		switch r.PathValue("contactId") {
		case "ok":
			writeJSON(w, 200, fixture(t, "contact.json"))
		case "bare":
			w.Write(fixture(t, "contact.json"))
		case "limited":
			w.Header().Set(HeaderRateLimitMax, "100")
			w.Header().Set(HeaderRateLimitRemaining, "0")
			w.Header().Set(HeaderRateLimitInterval, "10000")
			w.Header().Set("Retry-After", "3")
			w.WriteHeader(http.StatusTooManyRequests)
			w.Write([]byte(`{"statusCode":429,"message":"Too many requests"}`))
		}
	})

	_, resp, err := env.client.Contacts.Get(t.Context(), "ok")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(testRate, resp.Rate); diff != "" {
		t.Errorf("Rate on success (-want +got):\n%s", diff)
	}

	_, resp, err = env.client.Contacts.Get(t.Context(), "bare")
	if err != nil {
		t.Fatal(err)
	}
	if resp.Rate.Known() {
		t.Errorf("Rate without headers = %+v, want unknown", resp.Rate)
	}

	_, _, err = env.client.Contacts.Get(t.Context(), "limited")
	var e *Error
	if !errors.As(err, &e) || !errors.Is(err, ErrRateLimited) {
		t.Fatalf("err = %v, want an *Error matching ErrRateLimited", err)
	}
	want := Rate{Max: 100, Remaining: 0, Interval: 10 * time.Second, DailyLimit: -1, DailyRemaining: -1}
	if diff := cmp.Diff(want, e.Rate); diff != "" {
		t.Errorf("Rate on a 429 (-want +got):\n%s", diff)
	}
	if e.RetryAfter != 3*time.Second {
		t.Errorf("RetryAfter = %v, want 3s", e.RetryAfter)
	}
}
