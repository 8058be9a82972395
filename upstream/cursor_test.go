// This file covers the search cursor the gateway hands to its clients:
// SearchCursor.Encode and ParseSearchCursor round trips, the refusal of
// anything Encode does not make (garbage, other base64 alphabets, unknown
// keys, out-of-range offsets, long or non-scalar searchAfter, trailing data,
// over-long strings), and (*SearchContactsRequest).StartAfter, which places a
// search request after a cursor: searchAfter first, page numbers with a skip
// otherwise, never past the 10,000 results that paging reaches.

package upstream

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"math"
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// raws makes a searchAfter from JSON texts.
func raws(vals ...string) []json.RawMessage {
	out := make([]json.RawMessage, len(vals))
	for i, v := range vals {
		out[i] = json.RawMessage(v)
	}
	return out
}

// b64 encodes a cursor's JSON the way Encode does.
func b64(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }

func TestSearchCursorRoundTrip(t *testing.T) {
	tests := []SearchCursor{
		{},
		{Offset: 20},
		{Offset: 9999},
		{Offset: maxCursorOffset},
		{Offset: 40, SearchAfter: raws(`1603963890255`, `"ocQHyuzHvysMo5N5VsXc"`)},
		{Offset: 123456, SearchAfter: raws(`"rubika deo"`, `"seD4PfOuKoVMLkEZqohJ"`)},
		{Offset: 1, SearchAfter: raws(`true`, `-1.5`, `0`, `""`)},
		{Offset: 7, SearchAfter: raws(`"ü / ? # & = + %2e"`)},
		{Offset: 20, Binding: "AbC-_09xYz12"},
		{Offset: 40, SearchAfter: raws(`1603963890255`, `"ocQHyuzHvysMo5N5VsXc"`), Binding: strings.Repeat("b", MaxCursorBindingLen)},
	}
	for _, c := range tests {
		enc := c.Encode()
		t.Run(enc, func(t *testing.T) {
			if strings.ContainsAny(enc, "+/=") {
				t.Errorf("Encode() = %q is not URL-safe unpadded base64", enc)
			}
			got, err := ParseSearchCursor(enc)
			if err != nil {
				t.Fatalf("ParseSearchCursor(Encode(%+v)): %v", c, err)
			}
			if diff := cmp.Diff(c, got, cmpCursor); diff != "" {
				t.Errorf("round trip (-want +got):\n%s", diff)
			}
			if again := got.Encode(); again != enc {
				t.Errorf("Encode is not stable: %q then %q", enc, again)
			}
		})
	}
}

// cmpCursor compares cursors by the JSON values of searchAfter, and treats
// a nil and an empty searchAfter alike.
var cmpCursor = cmp.Options{
	cmp.Transformer("rawJSON", func(r json.RawMessage) any {
		v, err := decodeJSON(r)
		if err != nil {
			return "invalid JSON: " + string(r)
		}
		return v
	}),
	cmp.FilterPath(func(p cmp.Path) bool { return p.Last().String() == ".SearchAfter" },
		cmp.Transformer("emptyNil", func(s []json.RawMessage) []json.RawMessage {
			if len(s) == 0 {
				return nil
			}
			return s
		})),
}

func TestParseSearchCursorRefuses(t *testing.T) {
	tests := []struct {
		name, in string
		bug      string
	}{
		{name: "empty", in: ""},
		{name: "garbage", in: "not a cursor!"},
		{name: "not base64", in: "***"},
		{name: "padded base64", in: base64.URLEncoding.EncodeToString([]byte(`{"o":1}`))},
		{name: "standard alphabet", in: base64.RawStdEncoding.EncodeToString([]byte(`{"o":0,"a":["??>"]}`))},
		{name: "base64 of garbage", in: b64("garbage")},
		{name: "base64 of a number", in: b64("5")},
		{name: "base64 of an array", in: b64(`[1,"x"]`)},
		{name: "unknown key", in: b64(`{"o":1,"x":2}`)},
		{name: "negative offset", in: b64(`{"o":-1}`)},
		{name: "huge offset", in: b64(`{"o":100000001}`)},
		{name: "offset beyond int64", in: b64(`{"o":99999999999999999999}`)},
		{name: "fractional offset", in: b64(`{"o":1.5}`)},
		{name: "string offset", in: b64(`{"o":"1"}`)},
		{name: "searchAfter too long", in: b64(`{"o":0,"a":[1,2,3,4,5]}`)},
		{name: "searchAfter not a list", in: b64(`{"o":0,"a":"x"}`)},
		{name: "object in searchAfter", in: b64(`{"o":0,"a":[{"x":1}]}`)},
		{name: "list in searchAfter", in: b64(`{"o":0,"a":[[1]]}`)},
		{name: "null in searchAfter", in: b64(`{"o":0,"a":[null]}`)},
		{name: "number beyond float64 in searchAfter", in: b64(`{"o":0,"a":[1e400]}`)},
		{name: "second value", in: b64(`{"o":1}{"o":2}`)},
		{name: "trailing garbage", in: b64(`{"o":1}x`)},
		{name: "over-long string", in: strings.Repeat("A", maxCursorLen+1)},
		{name: "empty binding", in: b64(`{"o":1,"b":""}`)},
		{name: "binding too long", in: b64(`{"o":1,"b":"` + strings.Repeat("b", MaxCursorBindingLen+1) + `"}`)},
		{name: "binding outside base64url", in: b64(`{"o":1,"b":"ab/c"}`)},
		{name: "binding with a space", in: b64(`{"o":1,"b":"ab c"}`)},
		{name: "binding with a control", in: b64(`{"o":1,"b":"ab\u0000"}`)},
		{name: "binding not a string", in: b64(`{"o":1,"b":12}`)},
		{name: "binding null", in: b64(`{"o":1,"b":null}`)},
		{name: "repeated binding", in: b64(`{"o":1,"b":"x","b":"y"}`)},
		{name: "binding in another case", in: b64(`{"o":1,"B":"x"}`)},
		// Regression (upstream-cursor-strict, fixed): ParseSearchCursor says it accepts only
		// what Encode makes, but json.Decoder.More() is false before a closing
		// bracket, JSON null decodes to the zero cursor, and encoding/json
		// matches keys case-insensitively and lets a repeated key win.
		{name: "regression: trailing }", in: b64(`{"o":1}}`), bug: "upstream-cursor-strict"},
		{name: "regression: trailing ]", in: b64(`{"o":1}]`), bug: "upstream-cursor-strict"},
		{name: "regression: JSON null", in: b64(`null`), bug: "upstream-cursor-strict"},
		{name: "regression: empty object", in: b64(`{}`), bug: "upstream-cursor-strict"},
		{name: "regression: key in another case", in: b64(`{"O":5}`), bug: "upstream-cursor-strict"},
		{name: "regression: repeated key", in: b64(`{"o":1,"o":2}`), bug: "upstream-cursor-strict"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseSearchCursor(tt.in)
			if !errors.Is(err, ErrInvalidCursor) {
				prefix := ""
				if tt.bug != "" {
					prefix = "regression " + tt.bug + ": "
				}
				t.Fatalf("%sParseSearchCursor(%q) = %+v, %v; want ErrInvalidCursor", prefix, tt.in, got, err)
			}
			if diff := cmp.Diff(SearchCursor{}, got, cmpCursor); diff != "" {
				t.Errorf("refused cursor came with a value (-want +got):\n%s", diff)
			}
		})
	}
}

// TestSearchCursorReencodeParses: a cursor that ParseSearchCursor accepts
// must re-encode to one it accepts again.
//
// Regression (upstream-cursor-escape, fixed): this test fails. ParseSearchCursor keeps the
// searchAfter values as they came (compacted), but Encode marshals them
// with encoding/json's HTML escaping, which turns each of <, > and & into
// six bytes: an accepted cursor of 200 "<" re-encodes past maxCursorLen,
// and the gateway would refuse the next-page cursor it made itself. The same
// input is a regression seed of FuzzParseSearchCursor
// (testdata/fuzz/FuzzParseSearchCursor/regression-html-escape-growth).
func TestSearchCursorReencodeParses(t *testing.T) {
	for _, tt := range []struct {
		name string
		n    int
	}{{"1", 1}, {"100", 100}, {"regression: 200", 200}} {
		t.Run(tt.name, func(t *testing.T) {
			in := b64(`{"o":0,"a":["` + strings.Repeat("<", tt.n) + `"]}`)
			c, err := ParseSearchCursor(in)
			if err != nil {
				t.Fatalf("ParseSearchCursor(%q): %v", in, err)
			}
			enc := c.Encode()
			if _, err := ParseSearchCursor(enc); err != nil {
				t.Errorf("regression upstream-cursor-escape: a cursor of %d '<' (%d chars) was accepted, but its Encode() (%d chars) is refused: %v",
					tt.n, len(in), len(enc), err)
			}
		})
	}
}

func TestSearchCursorNormalises(t *testing.T) {
	// Whitespace inside searchAfter values is dropped, so that equal cursors
	// encode equally.
	got, err := ParseSearchCursor(b64(`{"o":3,"a":[ 1603963890255 , "x" ]}`))
	if err != nil {
		t.Fatal(err)
	}
	want := SearchCursor{Offset: 3, SearchAfter: raws(`1603963890255`, `"x"`)}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if got.Encode() != want.Encode() {
		t.Errorf("Encode %q, want %q", got.Encode(), want.Encode())
	}
}

func TestStartAfter(t *testing.T) {
	sa := raws(`1603963890255`, `"ocQHyuzHvysMo5N5VsXc"`)
	tests := []struct {
		name     string
		prev     SearchContactsRequest // the request before StartAfter
		cursor   SearchCursor
		limit    int
		want     SearchContactsRequest
		wantSkip int
		wantErr  bool
		bug      string
	}{
		{
			name: "searchAfter is preferred", cursor: SearchCursor{Offset: 45, SearchAfter: sa}, limit: 20,
			want: SearchContactsRequest{PageLimit: 20, SearchAfter: sa},
		},
		{
			name: "searchAfter reaches past 10,000", cursor: SearchCursor{Offset: 50_000, SearchAfter: sa}, limit: 500,
			want: SearchContactsRequest{PageLimit: 500, SearchAfter: sa},
		},
		{
			name: "searchAfter replaces a page", prev: SearchContactsRequest{LocationID: tLocationID, Page: 7, PageLimit: 3},
			cursor: SearchCursor{Offset: 60, SearchAfter: sa}, limit: 20,
			want: SearchContactsRequest{LocationID: tLocationID, PageLimit: 20, SearchAfter: sa},
		},
		{name: "start", cursor: SearchCursor{}, limit: 20, want: SearchContactsRequest{PageLimit: 20, Page: 1}},
		{name: "page boundary", cursor: SearchCursor{Offset: 40}, limit: 20, want: SearchContactsRequest{PageLimit: 20, Page: 3}},
		{
			name: "mid-page offset skips", cursor: SearchCursor{Offset: 45}, limit: 20,
			want: SearchContactsRequest{PageLimit: 20, Page: 3}, wantSkip: 5,
		},
		{
			name: "page replaces a searchAfter", prev: SearchContactsRequest{LocationID: tLocationID, SearchAfter: sa},
			cursor: SearchCursor{Offset: 7}, limit: 5,
			want: SearchContactsRequest{LocationID: tLocationID, PageLimit: 5, Page: 2}, wantSkip: 2,
		},
		{name: "limit 1", cursor: SearchCursor{Offset: 9999}, limit: 1, want: SearchContactsRequest{PageLimit: 1, Page: 10000}},
		{name: "last reachable page", cursor: SearchCursor{Offset: 9980}, limit: 20, want: SearchContactsRequest{PageLimit: 20, Page: 500}},
		{name: "limit 500 at the end", cursor: SearchCursor{Offset: 9500}, limit: 500, want: SearchContactsRequest{PageLimit: 500, Page: 20}},
		{
			// The page is made smaller so that it ends at 10,000.
			name: "near 10,000 without searchAfter", cursor: SearchCursor{Offset: 9981}, limit: 20,
			want: SearchContactsRequest{PageLimit: 19, Page: 526}, wantSkip: 6,
		},
		{name: "one short of 10,000", cursor: SearchCursor{Offset: 9999}, limit: 500, want: SearchContactsRequest{PageLimit: 1, Page: 10000}},
		{name: "at 10,000 without searchAfter", cursor: SearchCursor{Offset: 10_000}, limit: 1, wantErr: true},
		{name: "far beyond", cursor: SearchCursor{Offset: maxCursorOffset}, limit: 20, wantErr: true},
		{name: "limit 0", cursor: SearchCursor{}, limit: 0, wantErr: true},
		{name: "negative limit", cursor: SearchCursor{}, limit: -1, wantErr: true},
		{name: "limit 501", cursor: SearchCursor{}, limit: 501, wantErr: true},
		{name: "limit 501 with searchAfter", cursor: SearchCursor{SearchAfter: sa}, limit: 501, wantErr: true},
		// Regression (upstream-startafter-offset, fixed): a SearchCursor built in code (not
		// parsed) is not checked: a negative offset yields a negative skip,
		// on which a caller's results[skip:] panics, and an offset near
		// MaxInt overflows Offset+limit past the 10,000 check.
		{name: "regression: negative offset", cursor: SearchCursor{Offset: -5}, limit: 20, wantErr: true, bug: "upstream-startafter-offset"},
		{name: "regression: offset overflowing the check", cursor: SearchCursor{Offset: math.MaxInt - 5}, limit: 20, wantErr: true, bug: "upstream-startafter-offset"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := tt.prev
			skip, err := req.StartAfter(tt.cursor, tt.limit)
			if tt.wantErr {
				if !errors.Is(err, ErrInvalidInput) {
					prefix := ""
					if tt.bug != "" {
						prefix = "regression " + tt.bug + ": "
					}
					t.Fatalf("%sStartAfter(%+v, %d) = skip %d, %v, request %+v; want ErrInvalidInput", prefix, tt.cursor, tt.limit, skip, err, req)
				}
				return
			}
			if err != nil {
				t.Fatalf("StartAfter: %v", err)
			}
			if skip != tt.wantSkip {
				t.Errorf("skip = %d, want %d", skip, tt.wantSkip)
			}
			if diff := cmp.Diff(tt.want, req); diff != "" {
				t.Errorf("request (-want +got):\n%s", diff)
			}
			if skip < 0 || skip >= req.PageLimit {
				t.Errorf("skip %d outside 0..%d", skip, req.PageLimit-1)
			}
			if req.Page > 0 && req.Page*req.PageLimit > MaxSearchPagedResults {
				t.Errorf("page %d of %d reaches past %d", req.Page, req.PageLimit, MaxSearchPagedResults)
			}
		})
	}
}

// TestStartAfterThenSearch: a request placed by StartAfter passes Search's
// own checks and is sent as placed.
func TestStartAfterThenSearch(t *testing.T) {
	cur, err := ParseSearchCursor(SearchCursor{Offset: 45, SearchAfter: raws(`1603963890255`, `"ocQHyuzHvysMo5N5VsXc"`)}.Encode())
	if err != nil {
		t.Fatal(err)
	}
	req := &SearchContactsRequest{LocationID: tLocationID, Page: 3}
	if _, err := req.StartAfter(cur, 50); err != nil {
		t.Fatal(err)
	}
	env := setup(t)
	env.handle("POST /contacts/search", func(w http.ResponseWriter, r *http.Request) {
		testJSONBody(t, readBody(t, r), `{"locationId":"ve9EPM428h8vShlRW1KT","pageLimit":50,"searchAfter":[1603963890255,"ocQHyuzHvysMo5N5VsXc"]}`)
		writeJSON(w, 200, fixture(t, "search.json"))
	})
	res, _, err := env.client.Contacts.Search(t.Context(), req)
	if err != nil {
		t.Fatal(err)
	}
	// The last contact's searchAfter makes the next cursor.
	last := res.Contacts[len(res.Contacts)-1]
	next := SearchCursor{Offset: 45 + len(res.Contacts), SearchAfter: last.SearchAfter}
	got, err := ParseSearchCursor(next.Encode())
	if err != nil {
		t.Fatalf("cursor from an answer: %v", err)
	}
	if diff := cmp.Diff(next, got, cmpCursor); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

// An over-long searchAfter is dropped by Encode, so that the gateway never
// hands out a cursor it would refuse; the offset still places the page.
func TestEncodeDropsOverlongSearchAfter(t *testing.T) {
	long := strings.Repeat("x", maxCursorLen)
	enc := SearchCursor{Offset: 7, SearchAfter: raws(`"`+long+`"`, `"id"`)}.Encode()
	c, err := ParseSearchCursor(enc)
	if err != nil {
		t.Fatalf("ParseSearchCursor(Encode()) = %v", err)
	}
	if c.Offset != 7 || c.SearchAfter != nil {
		t.Errorf("cursor = %+v, want offset 7 without searchAfter", c)
	}
}

// A binding survives Encode's dropping of an over-long searchAfter: a
// cursor that falls back to its offset still belongs to its listing.
func TestEncodeKeepsBinding(t *testing.T) {
	long := strings.Repeat("x", maxCursorLen)
	c, err := ParseSearchCursor(SearchCursor{Offset: 7, SearchAfter: raws(`"` + long + `"`), Binding: "bind"}.Encode())
	if err != nil {
		t.Fatal(err)
	}
	if c.Binding != "bind" || c.SearchAfter != nil || c.Offset != 7 {
		t.Errorf("cursor = %+v, want offset 7 and binding \"bind\" without searchAfter", c)
	}
	if (SearchCursor{}).IsZero() != true || (SearchCursor{Binding: "b"}).IsZero() || (SearchCursor{Offset: 1}).IsZero() {
		t.Error("IsZero")
	}
}
