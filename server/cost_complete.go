// This file holds the cost of reading listed contacts whole: a contact from
// a search or listing lacks most fields (the spec's list item has twelve),
// and selecting one it lacks makes the gateway read the whole contact, one
// call per contact of the page (resolvers/complete.go).
//
// The walker sums the costs of a field's selections, and a page multiplies
// them by its size; "at most one read per contact, whatever the number of
// such fields selected" is not a sum. So each field a listing may lack
// costs lackMark, and every field that returns contacts turns the marks of
// its selection into the calls they can cause: one read for a listed
// contact, none for a contact read whole.

package server

import "github.com/ghl-graphql/gateway/resolvers"

// lackMark is the cost of a Contact field that a listing may lack. It is
// far above any cost a selection can reach by calls (MaxCost is in the
// hundreds), so calls and marks stay apart in one sum; a selection with
// thousands of marked fields saturates and is refused as too costly.
const lackMark = 1 << 20

func init() {
	for _, f := range resolvers.FieldsListingsMayLack() {
		fieldCosts["Contact."+f] = mayLack
	}
}

// mayLack is a Contact field a listing may lack.
func mayLack(_ map[string]any, child int) int { return saturatingAdd(lackMark, child) }

// contactCalls is the calls a contact's selection causes, without its marks,
// and whether it selects a field a listing may lack.
func contactCalls(child int) (calls int, lacks bool) { return child % lackMark, child >= lackMark }

// listedContact is a contact of a page (nodes, edges.node): its selection's
// calls, and one read of the whole contact when it selects a field the
// listing may lack.
func listedContact(_ map[string]any, child int) int {
	calls, lacks := contactCalls(child)
	if lacks {
		calls++
	}
	return calls
}

// readContact is a contact read by ID: one call, and its selection's.
func readContact(_ map[string]any, child int) int {
	calls, _ := contactCalls(child)
	return saturatingAdd(1, calls)
}

// answeredContact is the contact a write answered with: no call of its own.
func answeredContact(_ map[string]any, child int) int {
	calls, _ := contactCalls(child)
	return calls
}

// duplicateLookup is the duplicate look-up, whose answer the spec gives no
// schema: any field but the ID may be missing, so it counts the read of the
// whole contact always (one too many for a selection of the ID alone).
func duplicateLookup(_ map[string]any, child int) int {
	calls, _ := contactCalls(child)
	return saturatingAdd(2, calls)
}

// createContact is the create and, since its answer (the spec's
// CreateContactSchema) lacks fields of a read, one read of the whole
// contact, counted whatever the payload selects.
func createContact(_ map[string]any, child int) int { return saturatingAdd(2, child) }
