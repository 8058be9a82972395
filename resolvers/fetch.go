// This file holds the resolver steps that several fields share: look-ups
// by ID, the business listing, and the small enrolment mutations.

package resolvers

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"time"

	"github.com/99designs/gqlgen/graphql"

	"github.com/ghl-graphql/gateway/graph/model"
	"github.com/ghl-graphql/gateway/loaders"
	"github.com/ghl-graphql/gateway/upstream"
)

func (r *Resolver) contact(ctx context.Context, id string) (*model.Contact, error) {
	if err := checkID("id", id); err != nil {
		return nil, err
	}
	ctx, cred, err := upstreamContext(ctx)
	if err != nil {
		return nil, err
	}
	sel := contactSelection(ctx)
	r.primeChildren(ctx, id, sel.fields)
	c, err := r.loadContactCarrying(ctx, id, sel.need())
	if err != nil {
		return nil, err
	}
	if cred.LocationID != "" && c.LocationID != "" && c.LocationID != cred.LocationID {
		// An upstream that serves another location's contact to this
		// credential (HighLevel refuses it) must not make the gateway do
		// so, nor tell it from an unknown ID: the same error as a 404.
		return nil, errContactNotFound
	}
	return contactFromAPI(c), nil
}

// errContactNotFound is get-contact's 404, for a contact the gateway itself
// finds is not the credential's; the presenter gives it exactly the answer
// of the upstream's own 404.
var errContactNotFound = &upstream.Error{Op: upstream.OpGetContact.ID, Method: upstream.OpGetContact.Method,
	StatusCode: http.StatusNotFound, RequestSent: true, Err: upstream.ErrNotFound}

// primeChildren starts loading the contact's tasks, notes, appointments and
// single tasks and notes that fields (the contact's selection) select,
// before the contact itself is back: all of them depend only on the ID, so
// they can share the contact's round trip instead of waiting for it.
func (r *Resolver) primeChildren(ctx context.Context, contactID string, fields []graphql.CollectedField) {
	l := loaders.For(ctx)
	if l == nil || len(fields) == 0 {
		return
	}
	vars := graphql.GetOperationContext(ctx).Variables
	for _, f := range fields {
		switch f.Name {
		case "tasks":
			l.Start(ctx, loaders.StartTasks, contactID)
		case "notes":
			l.Start(ctx, loaders.StartNotes, contactID)
		case "appointments":
			l.Start(ctx, loaders.StartAppointments, contactID)
		case "task", "note":
			// Only an ID CheckArguments will accept: a refused field must
			// cause no upstream call.
			id, _ := f.ArgumentMap(vars)["id"].(string)
			if checkIDLimit("id", id, r.limits.IDBytes) != nil {
				continue
			}
			if f.Name == "task" {
				l.StartTask(ctx, loaders.ChildKey{ContactID: contactID, ID: id})
			} else {
				l.StartNote(ctx, loaders.ChildKey{ContactID: contactID, ID: id})
			}
		}
	}
}

func checkTaskIDs(contactID, taskID string) error {
	if err := checkID("contactId", contactID); err != nil {
		return err
	}
	return checkID("id", taskID)
}

func checkNoteIDs(contactID, noteID string) error {
	return checkTaskIDs(contactID, noteID)
}

func (r *Resolver) task(ctx context.Context, contactID, id string) (*model.Task, error) {
	if err := checkTaskIDs(contactID, id); err != nil {
		return nil, err
	}
	ctx, _, err := upstreamContext(ctx)
	if err != nil {
		return nil, err
	}
	t, err := r.loadTask(ctx, contactID, id)
	if err != nil {
		return nil, err
	}
	task := taskFromAPI(t, contactID)
	return &task, nil
}

func (r *Resolver) note(ctx context.Context, contactID, id string) (*model.Note, error) {
	if err := checkNoteIDs(contactID, id); err != nil {
		return nil, err
	}
	ctx, _, err := upstreamContext(ctx)
	if err != nil {
		return nil, err
	}
	n, err := r.loadNote(ctx, contactID, id)
	if err != nil {
		return nil, err
	}
	note := noteFromAPI(n, contactID)
	return &note, nil
}

// contactsByBusiness pages through a business's contacts with limit/skip.
func (r *Resolver) contactsByBusiness(ctx context.Context, businessID, locationID string, query *string, first *int, after *string) (*model.ContactConnection, error) {
	if err := checkID("businessId", businessID); err != nil {
		return nil, err
	}
	n, start, err := pageArgs(first, after, maxBusinessPage)
	if err != nil {
		return nil, err
	}
	opts := upstream.ListByBusinessOptions{LocationID: locationID, Limit: n, Skip: start.Offset}
	if query != nil {
		opts.Query = *query
	}
	p, err := businessPager(start, locationID, businessID, opts.Query)
	if err != nil {
		return nil, err
	}
	ctx, _, err = upstreamContext(ctx)
	if err != nil {
		return nil, err
	}
	list, err := r.listByBusiness(ctx, businessID, opts)
	if err != nil {
		return nil, err
	}
	contacts, err := r.completePage(ctx, list.Contacts)
	if err != nil {
		return nil, err
	}
	return p.connection(contacts, list.Count), nil
}

// legacyCursorOf is the cursor of a legacy-list contact: the listing pages
// with the dateAdded (epoch ms) and ID of the last contact seen. When the
// contact's dateAdded does not parse, the answer's meta gives the
// upstream's own marker for the page's last contact.
func legacyCursorOf(start upstream.SearchCursor, meta *upstream.ListMeta) func(int, *upstream.Contact) upstream.SearchCursor {
	return func(i int, c *upstream.Contact) upstream.SearchCursor {
		var ms int64
		if t := parseTime(c.DateAdded); t != nil {
			ms = t.UnixMilli()
		} else if meta != nil && meta.StartAfterID == c.ID {
			ms = meta.StartAfter
		}
		id, _ := json.Marshal(c.ID)
		return upstream.SearchCursor{
			Offset:      start.Offset + i + 1,
			SearchAfter: []json.RawMessage{json.RawMessage(strconv.FormatInt(ms, 10)), id},
		}
	}
}

// changeTags adds or removes tags with change.
func (r *Resolver) changeTags(ctx context.Context, contactID string, tags []string,
	change func(context.Context, string, []string) ([]string, *upstream.Response, error)) (*model.ContactTagsPayload, error) {
	return apply(ctx, r, writeSpec{contacts: ids(contactID), limits: firstError(checkID("contactId", contactID), checkTags("tags", tags, false))},
		func(ctx context.Context, _ string) ([]string, error) { return answer(change(ctx, contactID, tags)) },
		nil, func(after []string) *model.ContactTagsPayload {
			return &model.ContactTagsPayload{ContactID: contactID, Tags: orEmpty(after)}
		})
}

// changeFollowers adds or removes followers with change.
func (r *Resolver) changeFollowers(ctx context.Context, contactID string, followers []string,
	change func(context.Context, string, []string) (*upstream.FollowersResult, *upstream.Response, error)) (*model.ContactFollowersPayload, error) {
	return apply(ctx, r, writeSpec{contacts: ids(contactID), limits: firstError(checkID("contactId", contactID), checkIDs("followers", followers))},
		func(ctx context.Context, _ string) (*upstream.FollowersResult, error) {
			return answer(change(ctx, contactID, followers))
		},
		nil, func(res *upstream.FollowersResult) *model.ContactFollowersPayload {
			changed := res.Added
			if changed == nil {
				changed = res.Removed
			}
			return &model.ContactFollowersPayload{
				ContactID: contactID, Followers: orEmpty([]string(res.Followers)), Changed: orEmpty([]string(changed)),
			}
		})
}

// changeCampaign adds or removes a campaign enrolment; campaignID is nil for
// "every campaign".
func (r *Resolver) changeCampaign(ctx context.Context, contactID string, campaignID *string,
	change func(context.Context, string, string) (*upstream.Response, error)) (*model.CampaignPayload, error) {
	campaign := ""
	if campaignID != nil {
		campaign = *campaignID
	}
	return apply(ctx, r, writeSpec{contacts: ids(contactID), others: ids(campaign),
		limits: firstError(checkID("contactId", contactID), checkOptionalID("campaignId", campaignID))},
		func(ctx context.Context, _ string) (*upstream.Response, error) {
			return change(ctx, contactID, campaign)
		},
		nil, func(*upstream.Response) *model.CampaignPayload {
			return &model.CampaignPayload{ContactID: contactID, CampaignID: campaignID, Success: true}
		})
}

// changeWorkflow adds or removes a workflow enrolment.
func (r *Resolver) changeWorkflow(ctx context.Context, contactID, workflowID string, eventStartTime *time.Time,
	change func(context.Context, string, string, *upstream.WorkflowRequest) (*upstream.Response, error)) (*model.WorkflowPayload, error) {
	body := &upstream.WorkflowRequest{}
	if eventStartTime != nil {
		body.EventStartTime = eventStartTime.Format(time.RFC3339)
	}
	return apply(ctx, r, writeSpec{contacts: ids(contactID), others: ids(workflowID),
		limits: firstError(checkID("contactId", contactID), checkID("workflowId", workflowID))},
		func(ctx context.Context, _ string) (*upstream.Response, error) {
			return change(ctx, contactID, workflowID, body)
		},
		nil, func(*upstream.Response) *model.WorkflowPayload {
			return &model.WorkflowPayload{ContactID: contactID, WorkflowID: workflowID, Success: true}
		})
}
