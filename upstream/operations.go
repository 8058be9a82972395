// This file lists the 32 operations of HighLevel's Contacts API (apps/contacts.json)
// as data, so that the client, the sandbox and the coverage tests share one table.

package upstream

import (
	"slices"
	"strings"
)

// Operation describes one operation of the Contacts API.
type Operation struct {
	// ID is the operationId of the official OpenAPI file, e.g. "get-contact".
	ID string
	// Method is the HTTP method.
	Method string
	// Path is the path template, e.g. "/contacts/{contactId}/tasks/{taskId}".
	Path string
	// Write reports whether the operation needs the contacts.write scope.
	// POST /contacts/search reads, although it is a POST.
	Write bool
	// Idempotent reports whether sending the request twice has the same effect
	// as sending it once, so that a failed attempt may be repeated.
	Idempotent bool
	// Deprecated marks operations the API still serves but no longer documents.
	Deprecated bool
}

// The operations of the Contacts API, by operationId.
var (
	OpSearchContacts         = Operation{ID: "search-contacts-advanced", Method: "POST", Path: "/contacts/search", Idempotent: true}
	OpGetDuplicateContact    = Operation{ID: "get-duplicate-contact", Method: "GET", Path: "/contacts/search/duplicate", Idempotent: true}
	OpListTasks              = Operation{ID: "get-all-tasks", Method: "GET", Path: "/contacts/{contactId}/tasks", Idempotent: true}
	OpCreateTask             = Operation{ID: "create-task", Method: "POST", Path: "/contacts/{contactId}/tasks", Write: true}
	OpGetTask                = Operation{ID: "get-task", Method: "GET", Path: "/contacts/{contactId}/tasks/{taskId}", Idempotent: true}
	OpUpdateTask             = Operation{ID: "update-task", Method: "PUT", Path: "/contacts/{contactId}/tasks/{taskId}", Write: true, Idempotent: true}
	OpDeleteTask             = Operation{ID: "delete-task", Method: "DELETE", Path: "/contacts/{contactId}/tasks/{taskId}", Write: true, Idempotent: true}
	OpSetTaskCompleted       = Operation{ID: "update-task-completed", Method: "PUT", Path: "/contacts/{contactId}/tasks/{taskId}/completed", Write: true, Idempotent: true}
	OpListAppointments       = Operation{ID: "get-appointments-for-contact", Method: "GET", Path: "/contacts/{contactId}/appointments", Idempotent: true}
	OpAddTags                = Operation{ID: "add-tags", Method: "POST", Path: "/contacts/{contactId}/tags", Write: true, Idempotent: true}
	OpRemoveTags             = Operation{ID: "remove-tags", Method: "DELETE", Path: "/contacts/{contactId}/tags", Write: true, Idempotent: true}
	OpListNotes              = Operation{ID: "get-all-notes", Method: "GET", Path: "/contacts/{contactId}/notes", Idempotent: true}
	OpCreateNote             = Operation{ID: "create-note", Method: "POST", Path: "/contacts/{contactId}/notes", Write: true}
	OpGetNote                = Operation{ID: "get-note", Method: "GET", Path: "/contacts/{contactId}/notes/{id}", Idempotent: true}
	OpUpdateNote             = Operation{ID: "update-note", Method: "PUT", Path: "/contacts/{contactId}/notes/{id}", Write: true, Idempotent: true}
	OpDeleteNote             = Operation{ID: "delete-note", Method: "DELETE", Path: "/contacts/{contactId}/notes/{id}", Write: true, Idempotent: true}
	OpBulkUpdateTags         = Operation{ID: "create-association", Method: "POST", Path: "/contacts/bulk/tags/update/{type}", Write: true, Idempotent: true}
	OpBulkUpdateBusiness     = Operation{ID: "add-remove-contact-from-business", Method: "POST", Path: "/contacts/bulk/business", Write: true, Idempotent: true}
	OpGetContact             = Operation{ID: "get-contact", Method: "GET", Path: "/contacts/{contactId}", Idempotent: true}
	OpUpdateContact          = Operation{ID: "update-contact", Method: "PUT", Path: "/contacts/{contactId}", Write: true, Idempotent: true}
	OpDeleteContact          = Operation{ID: "delete-contact", Method: "DELETE", Path: "/contacts/{contactId}", Write: true, Idempotent: true}
	OpUpsertContact          = Operation{ID: "upsert-contact", Method: "POST", Path: "/contacts/upsert", Write: true, Idempotent: true}
	OpListContactsByBusiness = Operation{ID: "get-contacts-by-businessId", Method: "GET", Path: "/contacts/business/{businessId}", Idempotent: true}
	OpAddFollowers           = Operation{ID: "add-followers-contact", Method: "POST", Path: "/contacts/{contactId}/followers", Write: true, Idempotent: true}
	OpRemoveFollowers        = Operation{ID: "remove-followers-contact", Method: "DELETE", Path: "/contacts/{contactId}/followers", Write: true, Idempotent: true}
	OpAddToCampaign          = Operation{ID: "add-contact-to-campaign", Method: "POST", Path: "/contacts/{contactId}/campaigns/{campaignId}", Write: true, Idempotent: true}
	OpRemoveFromCampaign     = Operation{ID: "remove-contact-from-campaign", Method: "DELETE", Path: "/contacts/{contactId}/campaigns/{campaignId}", Write: true, Idempotent: true}
	OpRemoveFromAllCampaigns = Operation{ID: "remove-contact-from-every-campaign", Method: "DELETE", Path: "/contacts/{contactId}/campaigns/removeAll", Write: true, Idempotent: true}
	OpAddToWorkflow          = Operation{ID: "add-contact-to-workflow", Method: "POST", Path: "/contacts/{contactId}/workflow/{workflowId}", Write: true}
	OpRemoveFromWorkflow     = Operation{ID: "delete-contact-from-workflow", Method: "DELETE", Path: "/contacts/{contactId}/workflow/{workflowId}", Write: true, Idempotent: true}
	OpCreateContact          = Operation{ID: "create-contact", Method: "POST", Path: "/contacts/", Write: true}
	OpListContactsDeprecated = Operation{ID: "get-contacts", Method: "GET", Path: "/contacts/", Idempotent: true, Deprecated: true}
)

// Operations returns every operation of the Contacts API, in the order of the
// OpenAPI file.
func Operations() []Operation {
	return []Operation{
		OpSearchContacts, OpGetDuplicateContact,
		OpListTasks, OpCreateTask, OpGetTask, OpUpdateTask, OpDeleteTask, OpSetTaskCompleted,
		OpListAppointments, OpAddTags, OpRemoveTags,
		OpListNotes, OpCreateNote, OpGetNote, OpUpdateNote, OpDeleteNote,
		OpBulkUpdateTags, OpBulkUpdateBusiness,
		OpGetContact, OpUpdateContact, OpDeleteContact, OpUpsertContact,
		OpListContactsByBusiness, OpAddFollowers, OpRemoveFollowers,
		OpAddToCampaign, OpRemoveFromCampaign, OpRemoveFromAllCampaigns,
		OpAddToWorkflow, OpRemoveFromWorkflow,
		OpCreateContact, OpListContactsDeprecated,
	}
}

// literalSegments are the literal path segments of every route of
// Operations(): "contacts", "search", "duplicate", "tasks", "completed",
// "appointments", "tags", "notes", "bulk", "update", "business", "upsert",
// "followers", "campaigns", "removeAll", "workflow".
//
// An ID equal to one of them would make the path of one operation the path
// of another: removeContactFromCampaign(campaignId: "removeAll") is DELETE
// /contacts/{id}/campaigns/removeAll, remove-from-every-campaign. The set is
// every literal of the table rather than only those of routes that collide
// today, because HighLevel adds routes (and Express matches literals without
// regard to case); no real ID (20 characters of [A-Za-z0-9]) is one of them.
var literalSegments = func() []string {
	var out []string
	for _, op := range Operations() {
		for _, seg := range strings.Split(op.Path, "/") {
			if seg != "" && !strings.HasPrefix(seg, "{") && !slices.Contains(out, seg) {
				out = append(out, seg)
			}
		}
	}
	slices.Sort(out)
	return out
}()

// LiteralSegments returns the literal path segments of the operation table,
// sorted: the values a path parameter may not take, in any case (see
// Client.NewRequest).
func LiteralSegments() []string { return slices.Clone(literalSegments) }

// isLiteralSegment reports whether a path parameter equals a literal segment
// of some route, compared without regard to case as Express routes are. It
// does not allocate: it runs for every parameter of every call.
func isLiteralSegment(p string) bool {
	for _, lit := range literalSegments {
		if len(p) == len(lit) && strings.EqualFold(p, lit) {
			return true
		}
	}
	return false
}
