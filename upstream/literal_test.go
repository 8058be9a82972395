// This file covers literal path segments: an ID that equals a literal
// segment of a route (campaignId "removeAll", contactId "search") would turn
// one operation's path into another's, so it is refused before any call.

package upstream

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
)

func TestLiteralSegmentsOfTheTable(t *testing.T) {
	want := []string{"appointments", "bulk", "business", "campaigns", "completed", "contacts", "duplicate",
		"followers", "notes", "removeAll", "search", "tags", "tasks", "update", "upsert", "workflow"}
	if got := LiteralSegments(); !slices.Equal(got, want) {
		t.Fatalf("LiteralSegments() = %q, want %q", got, want)
	}
}

// TestLiteralSegmentRefused tries every literal (as written, upper- and
// lower-cased) in every path parameter of every operation.
func TestLiteralSegmentRefused(t *testing.T) {
	c, err := NewClient()
	if err != nil {
		t.Fatal(err)
	}
	for _, op := range Operations() {
		n := strings.Count(op.Path, "{")
		for slot := range n {
			for _, lit := range LiteralSegments() {
				for _, v := range []string{lit, strings.ToUpper(lit), strings.ToLower(lit)} {
					params := make([]string, n)
					for i := range params {
						params[i] = "AbCdEfGhIjKlMnOpQrSt"
					}
					params[slot] = v
					_, err := c.NewRequest(op, params, nil, nil)
					if !errors.Is(err, ErrInvalidInput) {
						t.Errorf("%s with parameter %d = %q: got %v, want ErrInvalidInput", op.ID, slot, v, err)
					}
				}
			}
			// A real ID in the same slot still goes through.
			params := make([]string, n)
			for i := range params {
				params[i] = "AbCdEfGhIjKlMnOpQrSt"
			}
			if _, err := c.NewRequest(op, params, nil, nil); err != nil {
				t.Errorf("%s with real IDs: %v", op.ID, err)
			}
		}
	}
}

// TestRemoveFromCampaignRemoveAll is the reported defect: the call must not
// reach DELETE /contacts/{id}/campaigns/removeAll.
func TestRemoveFromCampaignRemoveAll(t *testing.T) {
	env := setup(t)
	for _, tc := range []struct {
		name string
		call func(context.Context, *Client) error
	}{
		{"campaignId removeAll", func(ctx context.Context, c *Client) error {
			_, err := c.Campaigns.Remove(ctx, tContactID, "removeAll")
			return err
		}},
		{"campaignId REMOVEALL", func(ctx context.Context, c *Client) error {
			_, err := c.Campaigns.Remove(ctx, tContactID, "REMOVEALL")
			return err
		}},
		{"contactId search", func(ctx context.Context, c *Client) error {
			_, err := c.Contacts.Delete(ctx, "search")
			return err
		}},
		{"contactId upsert", func(ctx context.Context, c *Client) error {
			_, _, err := c.Contacts.Update(ctx, "upsert", &UpdateContactRequest{FirstName: Set("x")})
			return err
		}},
		{"contactId business", func(ctx context.Context, c *Client) error {
			_, _, err := c.Tasks.List(ctx, "business")
			return err
		}},
		{"contactId bulk", func(ctx context.Context, c *Client) error {
			_, _, err := c.Contacts.AddTags(ctx, "bulk", []string{"x"})
			return err
		}},
		{"businessId tasks", func(ctx context.Context, c *Client) error {
			_, _, err := c.Contacts.ListByBusiness(ctx, "tasks", ListByBusinessOptions{LocationID: "loc"})
			return err
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.call(context.Background(), env.client)
			if !errors.Is(err, ErrInvalidInput) {
				t.Fatalf("got %v, want ErrInvalidInput", err)
			}
			var e *Error
			if errors.As(err, &e) && e.WriteOutcome() != "" && e.WriteOutcome() != WriteNotApplied {
				t.Errorf("writeOutcome %q, want %q", e.WriteOutcome(), WriteNotApplied)
			}
		})
	}
	env.mu.Lock()
	defer env.mu.Unlock()
	if len(env.hits) != 0 {
		t.Fatalf("the server saw %d requests, want none: %v", len(env.hits), env.hits)
	}
}
