// This file holds the fuzz targets of the package. Plain `go test` runs
// their seeds (below and in testdata/fuzz/) as ordinary cases; run one with
// e.g. `go test -run='^$' -fuzz=FuzzParseSearchCursor -fuzztime=20s ./upstream/`.
//
//   - FuzzParseSearchCursor: never panics; an accepted cursor is within the
//     bounds (its binding too) and re-encodes to a cursor that parses to the
//     same value.
//   - FuzzDecodeResponse: arbitrary bytes as the answer of get-contact and of
//     a search, under any status, through a stub transport: never panics,
//     never (nil, nil); a 2xx gives a value or ErrMalformedResponse, any other
//     status its sentinel.
//   - FuzzParseRetryAfter: never panics; 0 <= d <= one hour.
//   - FuzzParseRate: never panics; every field is -1 or non-negative.

package upstream

import (
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func FuzzParseSearchCursor(f *testing.F) {
	for _, c := range []SearchCursor{
		{},
		{Offset: 45},
		{Offset: 10_000, SearchAfter: raws(`1603963890255`, `"ocQHyuzHvysMo5N5VsXc"`)},
		{Offset: 3, SearchAfter: raws(`true`, `-0.5e-3`, `"\u00fc"`, `""`)},
		{Offset: maxCursorOffset, SearchAfter: raws(`"a<b>&c"`)},
		{Offset: 20, Binding: "AbC-_09xYz12"},
		{Offset: 40, SearchAfter: raws(`1603963890255`, `"ocQHyuzHvysMo5N5VsXc"`), Binding: strings.Repeat("z", MaxCursorBindingLen)},
	} {
		f.Add(c.Encode())
	}
	for _, s := range []string{
		"", "A", "e30", "bnVsbA", "eyJvIjoxfX0",
		b64(`{"o":-1}`), b64(`{"o":1,"x":2}`), b64(`{"o":0,"a":[{"x":1}]}`), b64(`{"o":0,"a":[1,2,3,4,5]}`),
		b64(`{"o":0,"a":[ 1 , "x" ]}`), b64(`{"o":1}{"o":2}`), strings.Repeat("A", maxCursorLen+1),
		b64(`{"o":1,"b":""}`), b64(`{"o":1,"b":"a/b"}`), b64(`{"o":1,"b":"x","b":"y"}`), b64(`{"o":1,"b":"\u0041"}`),
		b64(`{"o":1,"a":[1],"b":"` + strings.Repeat("b", MaxCursorBindingLen+1) + `"}`),
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		c, err := ParseSearchCursor(s)
		if err != nil {
			if !errors.Is(err, ErrInvalidCursor) {
				t.Fatalf("ParseSearchCursor(%q) error %v does not match ErrInvalidCursor", s, err)
			}
			return
		}
		if c.Offset < 0 || c.Offset > maxCursorOffset {
			t.Fatalf("ParseSearchCursor(%q) accepted offset %d", s, c.Offset)
		}
		if len(c.SearchAfter) > maxCursorSearchAfter {
			t.Fatalf("ParseSearchCursor(%q) accepted %d searchAfter values", s, len(c.SearchAfter))
		}
		if c.Binding != "" && !validBinding(c.Binding) {
			t.Fatalf("ParseSearchCursor(%q) accepted binding %q", s, c.Binding)
		}
		for _, v := range c.SearchAfter {
			var x any
			if err := json.Unmarshal(v, &x); err != nil {
				t.Fatalf("accepted searchAfter value %q is not JSON: %v", v, err)
			}
			switch x.(type) {
			case string, float64, bool:
			default:
				t.Fatalf("accepted searchAfter value %q is not a scalar", v)
			}
		}
		enc := c.Encode()
		again, err := ParseSearchCursor(enc)
		if err != nil {
			t.Fatalf("ParseSearchCursor(%s) accepted a cursor (%d chars), but its Encode() %s (%d chars) does not parse: %v",
				short(s), len(s), short(enc), len(enc), err)
		}
		if diff := cmp.Diff(c, again, cmpCursor); diff != "" {
			t.Fatalf("re-encoded cursor differs (-first +second):\n%s", diff)
		}
		if again.Encode() != enc {
			t.Fatalf("Encode is not stable: %q then %q", enc, again.Encode())
		}
	})
}

// short abbreviates a long fuzz input for a failure message.
func short(s string) string {
	if len(s) > 80 {
		return strconv.Quote(s[:80]) + "..."
	}
	return strconv.Quote(s)
}

// fuzzStatuses are the statuses FuzzDecodeResponse picks from.
var fuzzStatuses = []int{200, 201, 204, 400, 401, 403, 404, 409, 422, 429, 500, 502, 503}

func FuzzDecodeResponse(f *testing.F) {
	for _, name := range []string{"contact.json", "contact_created.json", "search.json", "duplicate.json", "tasks.json"} {
		b, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(uint8(0), uint8(0), b)
		f.Add(uint8(1), uint8(0), b)
	}
	for i, body := range []string{
		``, `{}`, `null`, `[]`, `{"contact":null}`, `{"contacts":null}`, `{"contacts":[],"total":0}`,
		`{"contact":{"id":"x","followers":"u","dateOfBirth":1,"birthMonth":"9","customFields":[{"id":"f","value":{}}]}}`,
		`{"contacts":[{"id":"x","searchAfter":[1,"x"],"tags":null}],"total":"1"}`,
		`{"contact":`, `<html>502</html>`, `{"statusCode":422,"message":["a","b"],"error":"Unprocessable Entity"}`,
		`{"statusCode":401,"message":"The token is not authorized for this scope."}`,
		`{"message":[1,2]}`, `{"message":null,"error":""}`,
	} {
		f.Add(uint8(i), uint8(i%len(fuzzStatuses)), []byte(body))
	}
	f.Fuzz(func(t *testing.T, which, statusIdx uint8, body []byte) {
		status := fuzzStatuses[int(statusIdx)%len(fuzzStatuses)]
		c := stubClient(t, status, body, WithMaxResponseBytes(1<<16))
		var (
			got any
			err error
			op  Operation
		)
		if which%2 == 0 {
			op = OpGetContact
			var ct *Contact
			ct, _, err = c.Contacts.Get(t.Context(), tContactID)
			if ct != nil {
				got = ct
			}
		} else {
			op = OpSearchContacts
			var res *SearchResult
			res, _, err = c.Contacts.Search(t.Context(), &SearchContactsRequest{LocationID: tLocationID})
			if res != nil {
				got = res
				if res.Contacts == nil {
					t.Fatalf("search result without contacts from %q", body)
				}
			}
		}
		if got == nil && err == nil {
			t.Fatalf("%s answered %d %q: nil result and nil error", op.ID, status, body)
		}
		if got != nil && err != nil {
			t.Fatalf("%s answered %d %q: a result and an error (%v)", op.ID, status, body, err)
		}
		if err == nil {
			if status >= 300 {
				t.Fatalf("%s: status %d gave a result", op.ID, status)
			}
			return
		}
		var e *Error
		if !errors.As(err, &e) {
			t.Fatalf("%s: error %v (%T) is not an *Error", op.ID, err, err)
		}
		if e.Op != op.ID || e.Method != op.Method || e.StatusCode != status {
			t.Fatalf("%s: Error %+v lacks Op, Method or StatusCode %d", op.ID, e, status)
		}
		_ = e.Error() // must not panic
		var want error
		switch {
		case status < 300:
			want = ErrMalformedResponse
		case status == 401:
			want = ErrUnauthorized
			if errors.Is(err, ErrForbidden) {
				want = ErrForbidden // a scope refusal
			}
		default:
			want = kindForStatus(status)
		}
		for _, s := range sentinels {
			if errors.Is(err, s) != (s == want) {
				t.Fatalf("%s, status %d, body %q: errors.Is(err, %v) = %v; err: %v", op.ID, status, body, s, !(s == want), err)
			}
		}
	})
}

func FuzzParseRetryAfter(f *testing.F) {
	now := time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC)
	for _, s := range []string{
		"", "0", "7", "-3", "3600", "3601", "99999999999", "9223372036854775807", "99999999999999999999", "1.5", "soon",
		now.Add(90 * time.Second).Format(http.TimeFormat), now.Add(-time.Hour).Format(http.TimeFormat),
		"Fri, 31 Dec 9999 23:59:59 GMT", "Tuesday, 10-Mar-26 12:01:30 GMT", "Tue Mar 10 12:01:30 2026", "+5", " 7 ",
	} {
		f.Add(s, now.Unix())
	}
	f.Add("Mon, 01 Jan 0001 00:00:00 GMT", int64(253402300799))
	f.Add("Fri, 31 Dec 9999 23:59:59 GMT", int64(-62135596800))
	f.Fuzz(func(t *testing.T, v string, nowUnix int64) {
		now := time.Unix(nowUnix, 0)
		d := ParseRetryAfter(v, now)
		if d < 0 || d > time.Hour {
			t.Fatalf("ParseRetryAfter(%q, %v) = %v, outside 0..1h", v, now, d)
		}
		if n, err := strconv.Atoi(strings.TrimSpace(v)); err == nil && n >= 0 && n <= 3600 {
			if d != time.Duration(n)*time.Second {
				t.Fatalf("ParseRetryAfter(%q) = %v, want %ds", v, d, n)
			}
		}
		if d2 := ParseRetryAfter(v, now); d2 != d {
			t.Fatalf("ParseRetryAfter(%q) is not deterministic: %v then %v", v, d, d2)
		}
	})
}

func FuzzParseRate(f *testing.F) {
	f.Add("100", "97", "10000", "200000", "199321")
	f.Add("", "", "", "", "")
	f.Add("-1", "x", "1.5", " 5 ", "0")
	f.Add("9223372036854775807", "99999999999999999999", "9223372036854", "+3", "0x10")
	f.Fuzz(func(t *testing.T, maxCalls, remaining, interval, daily, dailyRemaining string) {
		h := http.Header{}
		for k, v := range map[string]string{
			HeaderRateLimitMax: maxCalls, HeaderRateLimitRemaining: remaining, HeaderRateLimitInterval: interval,
			HeaderRateLimitDaily: daily, HeaderRateLimitDailyRemaining: dailyRemaining,
		} {
			h.Set(k, v)
		}
		r := ParseRate(h)
		for name, v := range map[string]int{"Max": r.Max, "Remaining": r.Remaining, "DailyLimit": r.DailyLimit, "DailyRemaining": r.DailyRemaining} {
			if v < -1 {
				t.Fatalf("%s = %d, want -1 or non-negative", name, v)
			}
		}
		if r.Interval < 0 && r.Interval != -1 {
			t.Fatalf("Interval = %v (%d ns) for %q ms, want -1 or non-negative", r.Interval, int64(r.Interval), interval)
		}
		if n, err := strconv.Atoi(strings.TrimSpace(maxCalls)); err == nil && n >= 0 && r.Max != n {
			t.Fatalf("Max = %d for %q", r.Max, maxCalls)
		}
		known := r.Max >= 0 || r.Remaining >= 0 || r.Interval >= 0 || r.DailyLimit >= 0 || r.DailyRemaining >= 0
		if r.Known() != known {
			t.Fatalf("Known() = %v for %+v", r.Known(), r)
		}
	})
}
