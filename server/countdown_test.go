package server

import (
	"context"
	"net/http/httptest"
	"testing"
	"time"
)

func TestFindCountdowns(t *testing.T) {
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	const two = `{"errors":[{"message":"the location's rate budget with HighLevel is spent; retry after 12 s","path":["contact","tasks"],"extensions":{"code":"RATE_LIMITED","retryAfter":12}},` +
		`{"message":"the location's rate budget with HighLevel is spent; retry after 3 s","path":["contact","notes"],"extensions":{"code":"RATE_LIMITED","retryAfter":3}}],` +
		`"data":{"contact":{"id":"c1","retryAfter":"retry after 99 s","notes":null}},"extensions":{"requestId":"r-1"}}`
	cases := []struct {
		name  string
		body  string
		want  int
		ok    bool
		spots []int64 // values found, in body order
	}{
		{"two refusals: both numbers of each, none of the data's", two, 2, true, []int64{12, 12, 3, 3}},
		{"fewer errors than said", two, 3, false, nil},
		{"no data at all", `{"errors":[{"message":"spent; retry after 7 s","extensions":{"code":"RATE_LIMITED","retryAfter":7}}],"data":null}`, 1, true, []int64{7, 7}},
		{"not an errors-first body", `{"data":{"x":1},"errors":[{"extensions":{"retryAfter":5}}]}`, 1, false, nil},
		{"a wait without digits", `{"errors":[{"message":"retry after soon","extensions":{"code":"RATE_LIMITED","retryAfter":null}}],"data":null}`, 1, false, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, ok := findCountdowns([]byte(c.body), c.want, t0)
			if ok != c.ok {
				t.Fatalf("ok = %v, want %v", ok, c.ok)
			}
			if !ok {
				return
			}
			var vals []int64
			for i, s := range got.spots {
				vals = append(vals, s.secs)
				if i > 0 && s.at < got.spots[i-1].at {
					t.Errorf("spots out of order: %+v", got.spots)
				}
				if s.at+s.n > got.end {
					t.Errorf("spot %+v past the errors' end %d", s, got.end)
				}
			}
			if len(vals) != len(c.spots) {
				t.Fatalf("values %v, want %v", vals, c.spots)
			}
			for i := range vals {
				if vals[i] != c.spots[i] {
					t.Fatalf("values %v, want %v", vals, c.spots)
				}
			}
		})
	}
}

func TestCountdownsWrite(t *testing.T) {
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	body := []byte(`{"errors":[{"message":"spent; retry after 12 s","extensions":{"code":"RATE_LIMITED","retryAfter":12}},` +
		`{"message":"spent; retry after 3 s","extensions":{"code":"RATE_LIMITED","retryAfter":3}}],"data":{"a":null},"extensions":{"requestId":"first"}}`)
	waits, ok := findCountdowns(body, 2, t0)
	if !ok {
		t.Fatal("waits not found")
	}
	resp := &cachedResponse{body: body, requestID: findRequestID(body, "first")}
	if !requestIDsAfter(resp.requestID, waits.end) {
		t.Fatal("the request ID lies before the errors' end")
	}
	cases := []struct {
		aged time.Duration
		id   string
		want string
	}{
		{900 * time.Millisecond, "", string(body)}, // under a second: the bytes as stored
		{2500 * time.Millisecond, "second", `{"errors":[{"message":"spent; retry after 10 s","extensions":{"code":"RATE_LIMITED","retryAfter":10}},` +
			`{"message":"spent; retry after 1 s","extensions":{"code":"RATE_LIMITED","retryAfter":1}}],"data":{"a":null},"extensions":{"requestId":"second"}}`},
		{11 * time.Second, "third", `{"errors":[{"message":"spent; retry after 1 s","extensions":{"code":"RATE_LIMITED","retryAfter":1}},` +
			`{"message":"spent; retry after 1 s","extensions":{"code":"RATE_LIMITED","retryAfter":1}}],"data":{"a":null},"extensions":{"requestId":"third"}}`},
	}
	for _, c := range cases {
		ctx := context.Background()
		if c.id != "" {
			ctx = withRequestID(ctx, c.id)
		}
		rec := httptest.NewRecorder()
		waits.write(ctx, rec, resp, t0.Add(c.aged))
		if got := rec.Body.String(); got != c.want {
			t.Errorf("aged %v:\n got %s\nwant %s", c.aged, got, c.want)
		}
	}
}

// withRequestID is ctx as the request log middleware leaves it for a
// request whose ID is id.
func withRequestID(ctx context.Context, id string) context.Context {
	return &requestState{Context: ctx, id: id}
}
