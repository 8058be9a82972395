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
	if err := checkID("contactId", contactID); err != nil {
		return nil, err
	}
	if err := checkTags("tags", tags, false); err != nil {
		return nil, err
	}
	var after []string
	err := r.mutate(ctx, func(ctx context.Context) (err error) {
		after, _, err = change(ctx, contactID, tags)
		return err
	}, contactID)
	if err != nil {
		return nil, err
	}
	return &model.ContactTagsPayload{ContactID: contactID, Tags: orEmpty(after)}, nil
}

// changeFollowers adds or removes followers with change.
func (r *Resolver) changeFollowers(ctx context.Context, contactID string, followers []string,
	change func(context.Context, string, []string) (*upstream.FollowersResult, *upstream.Response, error)) (*model.ContactFollowersPayload, error) {
	if err := checkID("contactId", contactID); err != nil {
		return nil, err
	}
	if err := checkIDs("followers", followers); err != nil {
		return nil, err
	}
	var res *upstream.FollowersResult
	err := r.mutate(ctx, func(ctx context.Context) (err error) {
		res, _, err = change(ctx, contactID, followers)
		return err
	}, contactID)
	if err != nil {
		return nil, err
	}
	changed := res.Added
	if changed == nil {
		changed = res.Removed
	}
	return &model.ContactFollowersPayload{
		ContactID: contactID, Followers: orEmpty([]string(res.Followers)), Changed: orEmpty([]string(changed)),
	}, nil
}

// changeCampaign adds or removes a campaign enrolment; campaignID is nil for
// "every campaign".
func (r *Resolver) changeCampaign(ctx context.Context, contactID string, campaignID *string,
	change func(context.Context, string, string) (*upstream.Response, error)) (*model.CampaignPayload, error) {
	if err := checkID("contactId", contactID); err != nil {
		return nil, err
	}
	var campaign string
	if campaignID != nil {
		if err := checkID("campaignId", *campaignID); err != nil {
			return nil, err
		}
		campaign = *campaignID
	}
	err := r.mutate(ctx, func(ctx context.Context) (err error) {
		_, err = change(ctx, contactID, campaign)
		return err
	}, contactID)
	if err != nil {
		return nil, err
	}
	return &model.CampaignPayload{ContactID: contactID, CampaignID: campaignID, Success: true}, nil
}

// changeWorkflow adds or removes a workflow enrolment.
func (r *Resolver) changeWorkflow(ctx context.Context, contactID, workflowID string, eventStartTime *time.Time,
	change func(context.Context, string, string, *upstream.WorkflowRequest) (*upstream.Response, error)) (*model.WorkflowPayload, error) {
	if err := checkID("contactId", contactID); err != nil {
		return nil, err
	}
	if err := checkID("workflowId", workflowID); err != nil {
		return nil, err
	}
	body := &upstream.WorkflowRequest{}
	if eventStartTime != nil {
		body.EventStartTime = eventStartTime.Format(time.RFC3339)
	}
	err := r.mutate(ctx, func(ctx context.Context) (err error) {
		_, err = change(ctx, contactID, workflowID, body)
		return err
	}, contactID)
	if err != nil {
		return nil, err
	}
	return &model.WorkflowPayload{ContactID: contactID, WorkflowID: workflowID, Success: true}, nil
}
