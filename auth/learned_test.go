// Tests for what Learned learns from the upstream's answers and puts back
// into credentials.

package auth

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/ghl-graphql/gateway/upstream"
)

// Outcomes of calls, as Do reports them.
var (
	readOK = func(loc string) upstream.Call {
		return upstream.Call{Op: upstream.OpGetContact, Response: &upstream.Response{StatusCode: 200, LocationID: loc}}
	}
	writeOK      = upstream.Call{Op: upstream.OpAddTags, Response: &upstream.Response{StatusCode: 201}}
	badToken     = upstream.Call{Op: upstream.OpGetContact, Err: &upstream.Error{StatusCode: 401, Err: upstream.ErrUnauthorized}}
	scopeRefused = upstream.Call{Op: upstream.OpAddTags, Err: &upstream.Error{StatusCode: 401, Err: upstream.ErrForbidden}}
	otherLoc     = upstream.Call{Op: upstream.OpAddTags, Err: &upstream.Error{StatusCode: 403, Err: upstream.ErrForbidden}}
	readScope    = upstream.Call{Op: upstream.OpGetContact, Err: &upstream.Error{StatusCode: 401, Err: upstream.ErrForbidden}}
	serverError  = upstream.Call{Op: upstream.OpGetContact, Err: &upstream.Error{StatusCode: 503, Err: upstream.ErrServer}}
)

func TestLearned(t *testing.T) {
	jwtA := jwt(t, map[string]any{"authClass": "Location", "authClassId": "locA",
		"oauthMeta": map[string]any{"scopes": []string{ScopeContactsRead}}})
	type want struct {
		loc              string
		rejected         bool
		writeKnown, mayW bool
		err              error
	}
	tests := map[string]struct {
		token  string
		header string
		calls  []upstream.Call
		later  time.Duration // between the calls and Apply
		want   want
	}{
		"nothing learned yet":                {token: "pit-1", want: want{}},
		"first answer's location":            {token: "pit-1", calls: []upstream.Call{readOK(""), readOK("locA"), readOK("locB")}, want: want{loc: "locA"}},
		"header that agrees":                 {token: "pit-1", header: "locA", calls: []upstream.Call{readOK("locA")}, want: want{loc: "locA"}},
		"header that disagrees":              {token: "pit-1", header: "locB", calls: []upstream.Call{readOK("locA")}, want: want{loc: "locB", err: ErrOtherLocation}},
		"header with nothing learned":        {token: "pit-1", header: "locB", want: want{loc: "locB"}},
		"a JWT's claims win":                 {token: jwtA, calls: []upstream.Call{readOK("locB")}, want: want{loc: "locA", writeKnown: true}},
		"rejected":                           {token: "pit-1", calls: []upstream.Call{readOK("locA"), badToken}, want: want{loc: "locA", rejected: true}},
		"rejected JWT":                       {token: jwtA, calls: []upstream.Call{badToken}, want: want{loc: "locA", rejected: true, writeKnown: true}},
		"accepted again":                     {token: "pit-1", calls: []upstream.Call{badToken, readOK("")}, want: want{}},
		"server errors teach nothing":        {token: "pit-1", calls: []upstream.Call{serverError}, want: want{}},
		"write refused for scope":            {token: "pit-1", calls: []upstream.Call{scopeRefused}, want: want{writeKnown: true}},
		"write refusal lapses":               {token: "pit-1", calls: []upstream.Call{scopeRefused}, later: refusedWriteTTL, want: want{}},
		"write refusal cleared by a write":   {token: "pit-1", calls: []upstream.Call{scopeRefused, writeOK}, want: want{}},
		"another location is no scope":       {token: "pit-1", calls: []upstream.Call{otherLoc}, want: want{}},
		"a read refused for scope":           {token: "pit-1", calls: []upstream.Call{readScope}, want: want{}},
		"scope refusal is not a rejection":   {token: "pit-1", calls: []upstream.Call{readOK("locA"), scopeRefused}, want: want{loc: "locA", writeKnown: true}},
		"a JWT's write refusal is its claim": {token: jwtA, calls: []upstream.Call{writeOK}, want: want{loc: "locA", writeKnown: true}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
			l := NewLearned(0)
			l.now = func() time.Time { return now }
			cred := NewBearer(tc.token, tc.header)
			ctx := WithCredential(context.Background(), cred)
			for _, c := range tc.calls {
				l.Observe(ctx, c)
			}
			now = now.Add(tc.later)
			got, err := l.Apply(cred)
			if !errors.Is(err, tc.want.err) {
				t.Fatalf("Apply error = %v, want %v", err, tc.want.err)
			}
			allowed, known := got.MayWrite()
			if got.LocationID != tc.want.loc || got.Rejected != tc.want.rejected || known != tc.want.writeKnown || (known && allowed != tc.want.mayW) {
				t.Errorf("credential: location %q rejected %v write (%v, known %v); want %+v",
					got.LocationID, got.Rejected, allowed, known, tc.want)
			}
		})
	}
}

func TestLearnedKeepsTokensApart(t *testing.T) {
	l := NewLearned(0)
	a, b := NewBearer("pit-a", ""), NewBearer("pit-b", "")
	l.Observe(WithCredential(context.Background(), a), readOK("locA"))
	l.Observe(WithCredential(context.Background(), b), badToken)
	if got, _ := l.Apply(a); got.LocationID != "locA" || got.Rejected {
		t.Errorf("token a: %+v", got)
	}
	if got, _ := l.Apply(b); got.LocationID != "" || !got.Rejected {
		t.Errorf("token b: %+v", got)
	}
	// Without a credential in the context there is nothing to learn about.
	l.Observe(context.Background(), readOK("locZ"))
}

func TestLearnedIsBounded(t *testing.T) {
	l := NewLearned(2)
	for _, tok := range []string{"pit-1", "pit-2", "pit-3"} {
		l.Observe(WithCredential(context.Background(), NewBearer(tok, "")), readOK("loc-"+tok))
	}
	if got, _ := l.Apply(NewBearer("pit-1", "")); got.LocationID != "" {
		t.Errorf("the oldest token was kept: %q", got.LocationID)
	}
	if got, _ := l.Apply(NewBearer("pit-3", "")); got.LocationID != "loc-pit-3" {
		t.Errorf("the newest token was forgotten: %q", got.LocationID)
	}
}

// Budget trust (issue 10): a credential's location is confirmed only by an
// answer the upstream gave it, and only then is its budget key the
// location's; a rejected token is gated for the backoff.
func TestLearnedConfirmsLocations(t *testing.T) {
	jwtA := jwt(t, map[string]any{"authClass": "Location", "authClassId": "locA"})
	tests := map[string]struct {
		token, header string
		calls         []upstream.Call
		wantConfirmed bool
		wantConfirm   []string // OnConfirm's locations
	}{
		"a header is a claim":                  {token: "pit-1", header: "locA"},
		"a JWT's claims are a claim":           {token: jwtA},
		"a rejected JWT stays a claim":         {token: jwtA, calls: []upstream.Call{badToken}},
		"a JWT the upstream accepted":          {token: jwtA, calls: []upstream.Call{readOK("")}, wantConfirmed: true, wantConfirm: []string{"locA"}},
		"an answer naming no location":         {token: "pit-1", header: "locA", calls: []upstream.Call{readOK("")}},
		"an error answer":                      {token: "pit-1", header: "locA", calls: []upstream.Call{otherLoc}},
		"an answer naming the location":        {token: "pit-1", calls: []upstream.Call{readOK("locA"), readOK("locA")}, wantConfirmed: true, wantConfirm: []string{"locA"}},
		"rejected after confirmation":          {token: "pit-1", calls: []upstream.Call{readOK("locA"), badToken}, wantConfirm: []string{"locA"}},
		"accepted again after a rejection":     {token: "pit-1", calls: []upstream.Call{readOK("locA"), badToken, readOK("")}, wantConfirmed: true, wantConfirm: []string{"locA", "locA"}},
		"a scope refusal keeps a confirmation": {token: "pit-1", calls: []upstream.Call{readOK("locA"), scopeRefused}, wantConfirmed: true, wantConfirm: []string{"locA"}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			var confirmed []string
			l := NewLearnedConfig(LearnedConfig{OnConfirm: func(id, loc string) {
				if id != TokenID(tc.token) {
					t.Errorf("OnConfirm of %q", id)
				}
				confirmed = append(confirmed, loc)
			}})
			cred := NewBearer(tc.token, tc.header)
			ctx := WithCredential(context.Background(), cred)
			for _, c := range tc.calls {
				l.Observe(ctx, c)
			}
			got, _ := l.Apply(cred)
			if got.Confirmed() != tc.wantConfirmed {
				t.Errorf("Confirmed = %v, want %v", got.Confirmed(), tc.wantConfirmed)
			}
			wantKey := upstream.CredentialBudgetKey(cred.ID)
			if tc.wantConfirmed {
				wantKey = "locA"
			}
			if got.BudgetKey() != wantKey {
				t.Errorf("BudgetKey = %q, want %q", got.BudgetKey(), wantKey)
			}
			if fmt.Sprint(confirmed) != fmt.Sprint(tc.wantConfirm) {
				t.Errorf("OnConfirm told %v, want %v", confirmed, tc.wantConfirm)
			}
		})
	}
}

func TestLearnedGate(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	l := NewLearnedConfig(LearnedConfig{RejectedBackoff: 30 * time.Second, Now: func() time.Time { return now }})
	ctx := WithCredential(context.Background(), NewBearer("pit-1", ""))
	if e := l.Gate(ctx); e != nil {
		t.Fatalf("an unknown token was gated: %v", e)
	}
	l.Observe(ctx, scopeRefused)
	if e := l.Gate(ctx); e != nil {
		t.Fatalf("a scope refusal gated the token: %v", e)
	}
	l.Observe(ctx, badToken)
	e := l.Gate(ctx)
	if e == nil || !errors.Is(e, upstream.ErrUnauthorized) || e.RetryAfter != 30*time.Second || e.RequestSent {
		t.Fatalf("Gate after a 401 = %v, want ErrUnauthorized for 30s", e)
	}
	now = now.Add(29 * time.Second)
	if e := l.Gate(ctx); e == nil || e.RetryAfter != time.Second {
		t.Fatalf("Gate 29 s later = %v, want 1s left", e)
	}
	now = now.Add(time.Second)
	if e := l.Gate(ctx); e != nil {
		t.Fatalf("Gate past the backoff = %v, want the upstream asked again", e)
	}
	// Another 401 starts a new backoff; a success ends it.
	l.Observe(ctx, badToken)
	if l.Gate(ctx) == nil {
		t.Fatal("a second 401 did not gate the token")
	}
	l.Observe(ctx, readOK(""))
	if e := l.Gate(ctx); e != nil {
		t.Fatalf("Gate after a success = %v", e)
	}
	if l.Gate(context.Background()) != nil {
		t.Fatal("a context without a credential was gated")
	}
}

// TestLearnedConfirmation: with a confirmation interval, a token is
// Unconfirmed until the upstream accepts it, and again once the interval
// has passed without an accepted call; a rejection unconfirms at once.
func TestLearnedConfirmation(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	l := NewLearned(0)
	l.SetConfirmInterval(time.Minute)
	l.SetClock(func() time.Time { return now })
	c := NewBearer("pit-confirm", "loc1")
	ctx := WithCredential(context.Background(), c)
	applied := func() Credential {
		got, err := l.Apply(c)
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	if !applied().Unconfirmed {
		t.Error("never-seen token is confirmed")
	}
	l.Observe(ctx, readOK("loc1"))
	if applied().Unconfirmed {
		t.Error("unconfirmed right after an accepted call")
	}
	now = now.Add(59 * time.Second)
	if applied().Unconfirmed {
		t.Error("unconfirmed within the interval")
	}
	now = now.Add(time.Second)
	if !applied().Unconfirmed {
		t.Error("confirmed past the interval with no accepted call")
	}
	l.Observe(ctx, readOK("loc1"))
	if applied().Unconfirmed {
		t.Error("unconfirmed after a new accepted call")
	}
	l.Observe(ctx, badToken)
	if got := applied(); !got.Unconfirmed || !got.Rejected {
		t.Errorf("after a 401: %+v, want rejected and unconfirmed", got)
	}
	// Off: never unconfirmed.
	off := NewLearned(0)
	if got, _ := off.Apply(c); got.Unconfirmed {
		t.Error("unconfirmed without a confirmation interval")
	}
}
