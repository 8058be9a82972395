// Tests for the call observer and the location an answer names.

package upstream

import (
	"context"
	"errors"
	"io"
	"net/http"
	"sync/atomic"
	"testing"
)

func TestCallObserver(t *testing.T) {
	env := setup(t, WithRetryPolicy(fastRetries))
	var fails atomic.Int32
	env.handle("GET /contacts/{contactId}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		switch r.PathValue("contactId") {
		case "flaky": // one 503, then the contact
			if fails.Add(1) == 1 {
				w.WriteHeader(http.StatusServiceUnavailable)
				io.WriteString(w, `{"statusCode":503,"message":"busy"}`)
				return
			}
			io.WriteString(w, `{"contact":{"id":"flaky","locationId":"loc-1"}}`)
		case "gone":
			w.WriteHeader(http.StatusUnauthorized)
			io.WriteString(w, `{"statusCode":401,"message":"Invalid JWT"}`)
		}
	})
	env.handle("POST /contacts/search", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, `{"contacts":[{"id":"a"},{"id":"b","locationId":"loc-2"}],"total":2}`)
	})
	env.handle("DELETE /contacts/{contactId}", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, `{"succeded":true}`)
	})

	var calls []Call
	ctx := ContextWithCallObserver(context.Background(), func(_ context.Context, c Call) { calls = append(calls, c) })
	observed := func(t *testing.T) Call {
		t.Helper()
		if len(calls) != 1 {
			t.Fatalf("observer called %d times, want once per call", len(calls))
		}
		c := calls[0]
		calls = nil
		return c
	}

	t.Run("success after a retry is one call", func(t *testing.T) {
		_, resp, err := env.client.Contacts.Get(ctx, "flaky")
		if err != nil {
			t.Fatal(err)
		}
		c := observed(t)
		if c.Op.ID != OpGetContact.ID || c.Err != nil || c.Response != resp || resp.LocationID != "loc-1" {
			t.Errorf("observed %+v, response location %q", c, resp.LocationID)
		}
	})
	t.Run("a listing names its contacts' location", func(t *testing.T) {
		_, resp, err := env.client.Contacts.Search(ctx, &SearchContactsRequest{LocationID: "loc-2", PageLimit: 2})
		if err != nil || resp.LocationID != "loc-2" || observed(t).Response.LocationID != "loc-2" {
			t.Errorf("search: %v, location %q", err, resp.LocationID)
		}
	})
	t.Run("an answer without contacts names none", func(t *testing.T) {
		resp, err := env.client.Contacts.Delete(ctx, "c1")
		if err != nil || resp.LocationID != "" || !observed(t).Op.Write {
			t.Errorf("delete: %v, location %q", err, resp.LocationID)
		}
	})
	t.Run("failure", func(t *testing.T) {
		_, _, err := env.client.Contacts.Get(ctx, "gone")
		c := observed(t)
		if c.Response != nil || c.Err == nil || !errors.Is(c.Err, ErrUnauthorized) || error(c.Err) != err {
			t.Errorf("observed %+v for %v", c, err)
		}
		if c.Err.MissingScope() {
			t.Error("a bad credential reported as a missing scope")
		}
	})
	t.Run("refused before sending", func(t *testing.T) {
		_, _, err := env.client.Contacts.Get(ctx, "..")
		if err == nil {
			t.Fatal("a dot segment was sent")
		}
		// Refused while building the request: Do never ran, nothing to observe.
		if len(calls) != 0 {
			t.Errorf("observed %+v", calls)
		}
	})
	t.Run("no observer", func(t *testing.T) {
		if _, _, err := env.client.Contacts.Get(context.Background(), "flaky"); err != nil {
			t.Fatal(err)
		}
	})
}

func TestMissingScope(t *testing.T) {
	env := setup(t)
	env.handle("POST /contacts/{contactId}/tags", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusUnauthorized)
		io.WriteString(w, `{"statusCode":401,"message":"The token is not authorized for this scope."}`)
	})
	env.handle("DELETE /contacts/{contactId}/tags", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusForbidden)
		io.WriteString(w, `{"statusCode":403,"message":"The token does not have access to this location."}`)
	})
	_, _, err := env.client.Contacts.AddTags(context.Background(), "c1", []string{"x"})
	var e *Error
	if !errors.As(err, &e) || !e.MissingScope() {
		t.Errorf("scope refusal: %v", err)
	}
	_, _, err = env.client.Contacts.RemoveTags(context.Background(), "c1", []string{"x"})
	if !errors.As(err, &e) || e.MissingScope() {
		t.Errorf("location refusal reported as a missing scope: %v", err)
	}
}
