// This file holds the two bulk updates: tags and business of many contacts
// at once, with an outcome per contact.

package sandbox

import (
	"slices"
	"strings"
)

// bulkTagsSuccess and bulkTagsError are the per-contact outcomes of a bulk
// tag update; a success always carries its three lists.
type (
	bulkTagsSuccess struct {
		ContactID   string   `json:"contactId"`
		Message     string   `json:"message"`
		Type        string   `json:"type"`
		OldTags     []string `json:"oldTags"`
		TagsAdded   []string `json:"tagsAdded"`
		TagsRemoved []string `json:"tagsRemoved"`
	}
	bulkTagsError struct {
		ContactID string `json:"contactId"`
		Message   string `json:"message"`
		Type      string `json:"type"`
	}
	bulkTagsAnswer struct {
		Succeeded  bool  `json:"succeded"`
		ErrorCount int   `json:"errorCount"`
		Responses  []any `json:"responses"`
	}
)

// handleBulkTags serves POST /contacts/bulk/tags/update/{type}: each listed
// contact gets an outcome; one that fails does not fail the call.
func handleBulkTags(c *call) response {
	action := c.params[0]
	var body bulkTagsBody
	raw, bad := c.bind(&body)
	if bad != nil {
		return *bad
	}
	var ck checks
	if action != bulkTagsAdd && action != bulkTagsRemove {
		ck.addf("type must be one of the following values: add, remove")
	}
	ck.requireString(raw, "locationId")
	if !present(raw, "contacts") {
		ck.addf("contacts must be an array")
	} else if len(body.Contacts) == 0 {
		ck.addf("contacts should not be empty")
	}
	removeAll := action == bulkTagsRemove && body.RemoveAllTags
	if !present(raw, "tags") {
		ck.addf("tags must be an array")
	} else if len(body.Tags) == 0 && !removeAll {
		ck.addf("tags should not be empty")
	}
	ck.eachNonEmpty("tags", body.Tags)
	if r := ck.result(); r != nil {
		return *r
	}
	st := c.s.store
	st.mu.Lock()
	defer st.mu.Unlock()
	out := bulkTagsAnswer{Succeeded: true, Responses: []any{}}
	fail := func(id, msg string) {
		out.ErrorCount++
		out.Responses = append(out.Responses, bulkTagsError{ContactID: id, Message: msg, Type: "error"})
	}
	for _, id := range body.Contacts {
		rec := st.byID[id]
		switch {
		case !isFirebaseID(id):
			fail(id, "contact id is not a valid firebase id")
			continue
		case rec == nil && st.deleted[id] != "":
			fail(id, "contact is deleted")
			continue
		case rec == nil:
			fail(id, "contact not found")
			continue
		case rec.c.LocationID != c.loc:
			fail(id, "contact does not belong to location")
			continue
		}
		old := slices.Clone(rec.c.Tags)
		res := bulkTagsSuccess{ContactID: id, Message: "Tags updated", Type: "success", OldTags: old,
			TagsAdded: []string{}, TagsRemoved: []string{}}
		switch {
		case action == bulkTagsAdd:
			rec.c.Tags, res.TagsAdded = mergeTags(rec.c.Tags, body.Tags)
		case removeAll:
			rec.c.Tags, res.TagsRemoved = []string{}, old
		default:
			rec.c.Tags, res.TagsRemoved = dropTags(rec.c.Tags, body.Tags)
		}
		st.touch(rec)
		out.Responses = append(out.Responses, res)
	}
	return created(out)
}

// bulkBusinessAnswer is the answer of POST /contacts/bulk/business.
type bulkBusinessAnswer struct {
	Success bool     `json:"success"`
	IDs     []string `json:"ids"`
}

// handleBulkBusiness attaches the listed contacts of the location to a
// business, or detaches them (businessId null); other IDs are skipped.
func handleBulkBusiness(c *call) response {
	var body bulkBusinessBody
	raw, bad := c.bind(&body)
	if bad != nil {
		return *bad
	}
	var ck checks
	ck.requireString(raw, "locationId")
	if !present(raw, "ids") {
		ck.addf("ids must be an array")
	} else if len(body.IDs) == 0 {
		ck.addf("ids should not be empty")
	}
	for _, id := range body.IDs {
		if len(id) > 50 {
			ck.addf("each value in ids must be shorter than or equal to 50 characters")
			break
		}
	}
	if _, has := raw["businessId"]; !has {
		ck.addf("businessId must be a string")
	} else if body.BusinessID != nil && strings.TrimSpace(*body.BusinessID) == "" {
		ck.addf("businessId should not be empty")
	}
	if r := ck.result(); r != nil {
		return *r
	}
	st := c.s.store
	st.mu.Lock()
	defer st.mu.Unlock()
	out := bulkBusinessAnswer{Success: true, IDs: []string{}}
	for _, id := range body.IDs {
		rec := st.visible(c.loc, id)
		if rec == nil || slices.Contains(out.IDs, id) {
			continue
		}
		rec.c.BusinessID = ""
		if body.BusinessID != nil {
			rec.c.BusinessID = *body.BusinessID
		}
		st.touch(rec)
		out.IDs = append(out.IDs, id)
	}
	return ok(out)
}
