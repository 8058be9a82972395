// This file keeps the waits a stored partial answer tells of true while it
// is served: a refusal's retryAfter (in its extensions and its message) is
// the time to the next slot when the answer was built, and a copy served
// later must say what is left of it. The numbers are rewritten in the
// stored bytes at each hit, so a partial answer can be stored for as long
// as its refused calls could not go, not for the second a fixed number
// stays right.

package server

import (
	"bytes"
	"context"
	"net/http"
	"slices"
	"strconv"
	"time"
)

// countdownFallback bounds how long a partial answer is stored when its
// waits cannot be found in its bytes to be rewritten: its numbers are then
// right to the second for that long at most.
const countdownFallback = time.Second

// countdown is one number of whole seconds in a stored body that counts
// down as the body ages.
type countdown struct {
	at, n int   // offset and length of its digits in the body
	secs  int64 // its value when the body was stored
}

// countdowns are the waits of a stored body, all in its errors, which
// gqlgen writes before data: nothing a client chose (aliases, variables,
// the data itself) comes before them.
type countdowns struct {
	spots  []countdown
	end    int       // offset where the errors end: every spot is before it
	stored time.Time // when the body was built
}

// Patterns of the waits errcode.RateLimited writes.
var (
	retryAfterKey = []byte(`"retryAfter":`)
	retryAfterMsg = []byte(`retry after `)
	secondsUnit   = []byte(` s`)
	errorsStart   = []byte(`{"errors":[`)
	dataKey       = []byte(`],"data":`)
)

// findCountdowns finds the waits of body, a partial answer with want
// RATE_LIMITED errors built at stored. ok is false when they cannot all be
// found with certainty: the body must then not outlive its numbers.
func findCountdowns(body []byte, want int, stored time.Time) (c countdowns, ok bool) {
	if !bytes.HasPrefix(body, errorsStart) {
		return countdowns{}, false
	}
	end := bytes.Index(body, dataKey)
	if end < 0 {
		// No data key after the errors: a refusal with no data at all
		// ends its errors where the body's extensions or end begin.
		end = len(body)
	}
	region := body[:end]
	keys := 0
	for _, p := range []struct {
		pat, unit []byte
		key       bool
	}{{retryAfterKey, nil, true}, {retryAfterMsg, secondsUnit, false}} {
		for off := 0; ; {
			i := bytes.Index(region[off:], p.pat)
			if i < 0 {
				break
			}
			at := off + i + len(p.pat)
			n := 0
			for at+n < len(region) && region[at+n] >= '0' && region[at+n] <= '9' {
				n++
			}
			off = at + n
			if n == 0 || n > 18 || !bytes.HasPrefix(region[at+n:], p.unit) {
				continue
			}
			secs, err := strconv.ParseInt(string(region[at:at+n]), 10, 64)
			if err != nil {
				continue
			}
			if p.key {
				keys++
			}
			c.spots = append(c.spots, countdown{at: at, n: n, secs: secs})
		}
	}
	if keys != want {
		return countdowns{}, false
	}
	slices.SortFunc(c.spots, func(a, b countdown) int { return a.at - b.at })
	c.end, c.stored = end, stored
	return c, true
}

// write writes resp's body as of now: each wait less the whole seconds the
// body has aged (at least one second, as errcode.RateLimited writes a wait),
// and this request's ID where the body holds its first request's.
func (c *countdowns) write(ctx context.Context, w http.ResponseWriter, resp *cachedResponse, now time.Time) {
	aged := int64(now.Sub(c.stored) / time.Second)
	if len(c.spots) == 0 || aged <= 0 {
		resp.requestID.write(ctx, w, resp.body)
		return
	}
	var buf [20]byte
	prev := 0
	for _, s := range c.spots {
		_, _ = w.Write(resp.body[prev:s.at])
		_, _ = w.Write(strconv.AppendInt(buf[:0], max(s.secs-aged, 1), 10))
		prev = s.at + s.n
	}
	_, _ = w.Write(resp.body[prev:c.end])
	resp.requestID.writeFrom(ctx, w, resp.body, c.end)
}

// requestIDsAfter reports whether every request-ID spot lies past end,
// which write leaves to requestIDSpot.writeFrom.
func requestIDsAfter(spot requestIDSpot, end int) bool {
	for _, at := range spot.at {
		if at < end {
			return false
		}
	}
	return true
}
