// This file covers idempotency decided from the request: an upsert that may
// create a duplicate is a create, whatever the operation table says.

package upstream

import "testing"

func TestNewRequestIdempotencyFromBody(t *testing.T) {
	yes, no := true, false
	c, err := NewClient()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		body *UpsertContactRequest
		want bool
	}{
		{"by email", &UpsertContactRequest{CreateContactRequest: CreateContactRequest{LocationID: "l", Email: "a@b.co"}}, true},
		{"by phone", &UpsertContactRequest{CreateContactRequest: CreateContactRequest{LocationID: "l", Phone: "+15550001111"}}, true},
		{"duplicates refused explicitly", &UpsertContactRequest{CreateContactRequest: CreateContactRequest{LocationID: "l", Email: "a@b.co"}, CreateNewIfDuplicateAllowed: &no}, true},
		{"duplicates allowed", &UpsertContactRequest{CreateContactRequest: CreateContactRequest{LocationID: "l", Email: "a@b.co"}, CreateNewIfDuplicateAllowed: &yes}, false},
		{"nothing to match by", &UpsertContactRequest{CreateContactRequest: CreateContactRequest{LocationID: "l", FirstName: "Ann"}}, false},
		{"blank email", &UpsertContactRequest{CreateContactRequest: CreateContactRequest{LocationID: "l", Email: "  "}}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, err := c.NewRequest(OpUpsertContact, nil, nil, tc.body)
			if err != nil {
				t.Fatal(err)
			}
			if req.Op.Idempotent != tc.want {
				t.Errorf("Idempotent = %v, want %v", req.Op.Idempotent, tc.want)
			}
			if !OpUpsertContact.Idempotent {
				t.Fatal("the table's entry was changed")
			}
		})
	}
	// Other bodies leave the table's verdict alone.
	for _, op := range []Operation{OpCreateContact, OpUpdateContact} {
		req, err := c.NewRequest(op, map[bool][]string{true: {"AbCdEfGhIjKlMnOpQrSt"}}[op.ID == OpUpdateContact.ID], nil, &UpdateContactRequest{})
		if err != nil {
			t.Fatal(err)
		}
		if req.Op.Idempotent != op.Idempotent {
			t.Errorf("%s: Idempotent = %v, want the table's %v", op.ID, req.Op.Idempotent, op.Idempotent)
		}
	}
}
