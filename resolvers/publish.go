// This file publishes the gateway's own writes on the events bus (issue
// 12), so that subscribers see a change made through the gateway at once,
// webhooks or not. It is one field middleware over the root mutation
// fields, run after the resolver (which has already evicted what the write
// made stale), so the subscribers' reads see the new data. Changes are named
// with HighLevel's webhook event types.

package resolvers

import (
	"context"
	"time"

	"github.com/99designs/gqlgen/graphql"

	"github.com/ghl-graphql/gateway/auth"
	"github.com/ghl-graphql/gateway/events"
	"github.com/ghl-graphql/gateway/graph/model"
)

// PublishMutations returns the field middleware that publishes on bus the
// change each successful mutation made. A failed mutation publishes
// nothing (it evicts, since it may have been applied, but an event would
// announce a change that may not exist). now stamps the changes (nil:
// time.Now).
func (r *Resolver) PublishMutations(bus events.Bus, now func() time.Time) graphql.FieldMiddleware {
	if now == nil {
		now = time.Now
	}
	return func(ctx context.Context, next graphql.Resolver) (any, error) {
		fc := graphql.GetFieldContext(ctx)
		if fc == nil || fc.Object != "Mutation" {
			return next(ctx)
		}
		res, err := next(ctx)
		if err != nil || res == nil {
			return res, err
		}
		cred, _ := auth.FromContext(ctx)
		at := now().UTC()
		// The publish must happen even if the client has gone meanwhile.
		pctx := context.WithoutCancel(ctx)
		for _, c := range mutationChanges(fc.Field.Name, fc.Args, res) {
			c.At = at
			if c.LocationID == "" {
				c.LocationID = cred.LocationID
			}
			if c.LocationID == "" {
				c.LocationID = r.defaultLocation
			}
			if c.LocationID == "" {
				// No subscriber can be told without knowing whose it is.
				continue
			}
			if err := bus.Publish(pctx, c); err != nil {
				r.logger.WarnContext(ctx, "publishing a mutation's change", "operation", fc.Field.Name, "err", err)
			}
		}
		return res, err
	}
}

// mutationChanges describes what the mutation named field, with these
// arguments, did according to its result. Mutations that change no object
// a subscription follows (campaigns, workflows) describe nothing.
func mutationChanges(field string, args map[string]any, res any) []events.Change {
	str := func(name string) string { s, _ := args[name].(string); return s }
	contact := func(typ string, kind events.Kind, id, loc string) []events.Change {
		return []events.Change{{Type: typ, Object: events.ObjectContact, Kind: kind, ContactID: id, LocationID: loc}}
	}
	child := func(typ string, o events.Object, kind events.Kind, contactID, id string) []events.Change {
		return []events.Change{{Type: typ, Object: o, Kind: kind, ContactID: contactID, ObjectID: id}}
	}
	switch field {
	case "createContact":
		if p, ok := res.(*model.ContactPayload); ok && p.Contact != nil {
			return contact("ContactCreate", events.KindCreated, p.Contact.ID, p.Contact.LocationID)
		}
	case "upsertContact":
		if p, ok := res.(*model.UpsertContactPayload); ok && p.Contact != nil {
			if p.Created {
				return contact("ContactCreate", events.KindCreated, p.Contact.ID, p.Contact.LocationID)
			}
			return contact("ContactUpdate", events.KindUpdated, p.Contact.ID, p.Contact.LocationID)
		}
	case "updateContact":
		loc := ""
		if p, ok := res.(*model.ContactPayload); ok && p.Contact != nil {
			loc = p.Contact.LocationID
		}
		return contact("ContactUpdate", events.KindUpdated, str("id"), loc)
	case "deleteContact":
		return contact("ContactDelete", events.KindDeleted, str("id"), "")
	case "addContactTags", "removeContactTags":
		return contact("ContactTagUpdate", events.KindTagsChange, str("contactId"), "")
	case "addContactFollowers", "removeContactFollowers":
		return contact("ContactUpdate", events.KindUpdated, str("contactId"), "")
	case "bulkUpdateContactTags":
		p, ok := res.(*model.BulkUpdateContactTagsPayload)
		if !ok {
			return nil
		}
		var out []events.Change
		for _, x := range p.Results {
			if x.Success && x.ContactID != nil {
				out = append(out, contact("ContactTagUpdate", events.KindTagsChange, *x.ContactID, "")...)
			}
		}
		return out
	case "bulkSetContactsBusiness":
		p, ok := res.(*model.BulkSetContactsBusinessPayload)
		if !ok {
			return nil
		}
		var out []events.Change
		for _, id := range p.ContactIds {
			out = append(out, contact("ContactUpdate", events.KindUpdated, id, "")...)
		}
		return out
	case "createTask", "updateTask", "setTaskCompleted":
		p, ok := res.(*model.TaskPayload)
		if !ok || p.Task == nil {
			return nil
		}
		typ, kind := "TaskUpdate", events.KindUpdated
		switch {
		case field == "createTask":
			typ, kind = "TaskCreate", events.KindCreated
		case field == "setTaskCompleted" && args["completed"] == true:
			typ, kind = "TaskComplete", events.KindCompleted
		}
		return child(typ, events.ObjectTask, kind, str("contactId"), p.Task.ID)
	case "deleteTask":
		return child("TaskDelete", events.ObjectTask, events.KindDeleted, str("contactId"), str("id"))
	case "createNote", "updateNote":
		p, ok := res.(*model.NotePayload)
		if !ok || p.Note == nil {
			return nil
		}
		typ, kind := "NoteUpdate", events.KindUpdated
		if field == "createNote" {
			typ, kind = "NoteCreate", events.KindCreated
		}
		return child(typ, events.ObjectNote, kind, str("contactId"), p.Note.ID)
	case "deleteNote":
		return child("NoteDelete", events.ObjectNote, events.KindDeleted, str("contactId"), str("id"))
	}
	return nil
}
