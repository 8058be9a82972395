// This file parses HighLevel's rate-limit headers and Retry-After.

package upstream

import (
	"errors"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// The rate-limit headers HighLevel sends on every answer.
const (
	HeaderRateLimitMax            = "X-RateLimit-Max"
	HeaderRateLimitRemaining      = "X-RateLimit-Remaining"
	HeaderRateLimitInterval       = "X-RateLimit-Interval-Milliseconds"
	HeaderRateLimitDaily          = "X-RateLimit-Limit-Daily"
	HeaderRateLimitDailyRemaining = "X-RateLimit-Daily-Remaining"
)

// Rate is the upstream's view of the caller's rate budget, read from the
// headers of one answer. Fields whose header was absent or unreadable are -1,
// so that "unknown" is never mistaken for "exhausted".
type Rate struct {
	// Max is the number of calls allowed per Interval (burst budget).
	Max int
	// Remaining is what is left of Max in the current interval.
	Remaining int
	// Interval is the length of the burst window.
	Interval time.Duration
	// DailyLimit is the number of calls allowed per day.
	DailyLimit int
	// DailyRemaining is what is left of DailyLimit today.
	DailyRemaining int
}

// Known reports whether the answer carried any rate-limit header.
func (r Rate) Known() bool {
	return r.Max >= 0 || r.Remaining >= 0 || r.Interval >= 0 || r.DailyLimit >= 0 || r.DailyRemaining >= 0
}

// ParseRate reads the X-RateLimit-* headers.
func ParseRate(h http.Header) Rate {
	r := Rate{
		Max:            headerInt(h, HeaderRateLimitMax),
		Remaining:      headerInt(h, HeaderRateLimitRemaining),
		Interval:       -1,
		DailyLimit:     headerInt(h, HeaderRateLimitDaily),
		DailyRemaining: headerInt(h, HeaderRateLimitDailyRemaining),
	}
	// An interval too long for a Duration is garbage, not a huge window.
	if ms := headerInt(h, HeaderRateLimitInterval); ms >= 0 && int64(ms) <= math.MaxInt64/int64(time.Millisecond) {
		r.Interval = time.Duration(ms) * time.Millisecond
	}
	return r
}

func headerInt(h http.Header, name string) int {
	v := strings.TrimSpace(h.Get(name))
	if v == "" {
		return -1
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		return -1
	}
	return n
}

// maxRetryAfter bounds what a Retry-After header can ask for, so a garbled or
// hostile value cannot park callers for days.
const maxRetryAfter = time.Hour

// ParseRetryAfter reads a Retry-After header given in seconds or as an HTTP
// date, relative to now. It returns 0 when the header is absent or unreadable.
func ParseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	var d time.Duration
	secs, err := strconv.ParseInt(v, 10, 64)
	if errors.Is(err, strconv.ErrRange) && v[0] != '-' {
		// All digits, too many of them: the longest wait we allow.
		return maxRetryAfter
	}
	if err == nil {
		if secs <= 0 {
			return 0
		}
		if secs > int64(maxRetryAfter/time.Second) {
			return maxRetryAfter
		}
		d = time.Duration(secs) * time.Second
	} else if t, err := http.ParseTime(v); err == nil {
		d = t.Sub(now)
	} else {
		return 0
	}
	return min(max(d, 0), maxRetryAfter)
}
