package server

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"net/http"
	"testing"
	"testing/iotest"
)

// TestResponseCacheKey: the key built in one allocation is the one the
// concatenation built, part for part.
func TestResponseCacheKey(t *testing.T) {
	tests := []struct {
		name                                         string
		credID, locationID, method, contentType, acc string
		req                                          string
	}{
		{"POST", "tok:1a2b", "loc1", http.MethodPost, "application/json", "application/graphql-response+json", `{"query":"{ a }"}`},
		{"GET without headers", "tok:1a2b", "", http.MethodGet, "", "", "query=%7B+a+%7D"},
		{"empty everything", "", "", "", "", "", ""},
	}
	for _, tt := range tests {
		sum := sha256.Sum256([]byte(tt.req))
		want := "response\x1f" + tt.credID + "\x1f" + tt.locationID + "\x1f" + tt.method + "\x1f" +
			tt.contentType + "\x1f" + tt.acc + "\x1f" + hex.EncodeToString(sum[:])
		if got := responseCacheKey(tt.credID, tt.locationID, tt.method, tt.contentType, tt.acc, sum); got != want {
			t.Errorf("%s: responseCacheKey = %q, want %q", tt.name, got, want)
		}
	}
	sum := sha256.Sum256(nil)
	if n := testing.AllocsPerRun(100, func() { _ = responseCacheKey("id", "loc", "POST", "application/json", "", sum) }); n != 1 {
		t.Errorf("responseCacheKey allocates %v times, want 1", n)
	}
}

// TestNoCacheRequested: the shortcut for a request without Cache-Control
// or Pragma answers as loaders.NoCacheRequested does.
func TestNoCacheRequested(t *testing.T) {
	tests := []struct {
		name string
		h    http.Header
		want bool
	}{
		{"no headers", http.Header{}, false},
		{"other headers", http.Header{"Accept": {"application/json"}}, false},
		{"no-cache", http.Header{"Cache-Control": {"no-cache"}}, true},
		{"max-age=0 among others", http.Header{"Cache-Control": {"private, max-age=0"}}, true},
		{"max-age=60", http.Header{"Cache-Control": {"max-age=60"}}, false},
		{"Pragma", http.Header{"Pragma": {" No-Cache "}}, true},
	}
	for _, tt := range tests {
		if got := noCacheRequested(tt.h); got != tt.want {
			t.Errorf("%s: noCacheRequested = %v, want %v", tt.name, got, tt.want)
		}
	}
}

// TestReadPooledBody: a body read into a pooled buffer is what io.ReadAll
// reads, whatever its length, declared or not, and however the reader
// splits it; a reader's error is returned with what came before it.
func TestReadPooledBody(t *testing.T) {
	boom := errors.New("boom")
	for _, n := range []int{0, 1, 1023, 1024, 1025, 5000, maxPooledBody + 10} {
		body := bytes.Repeat([]byte("abcdefghij"), n/10+1)[:n]
		for _, tc := range []struct {
			name   string
			length int64
			r      io.Reader
		}{
			{"declared", int64(n), bytes.NewReader(body)},
			{"undeclared", -1, bytes.NewReader(body)},
			{"one byte at a time", int64(n), iotest.OneByteReader(bytes.NewReader(body))},
			{"declared short", int64(n / 2), bytes.NewReader(body)},
		} {
			buf, err := readPooledBody(tc.r, tc.length)
			if err != nil || !bytes.Equal(*buf, body) {
				t.Errorf("%d bytes, %s: read %d bytes, %v", n, tc.name, len(*buf), err)
			}
			releaseBody(buf)
		}
		buf, err := readPooledBody(io.MultiReader(bytes.NewReader(body), iotest.ErrReader(boom)), -1)
		if !errors.Is(err, boom) || !bytes.Equal(*buf, body) {
			t.Errorf("%d bytes then an error: read %d bytes, %v", n, len(*buf), err)
		}
		releaseBody(buf)
	}
}
