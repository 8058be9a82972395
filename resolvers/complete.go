// This file makes contacts whole when a query needs it. Searches, listings
// and the duplicate look-up answer with fewer fields than GET /contacts/{id}
// (upstream.Contact.Fields records which); when the selection asks for a
// field such a contact lacks, the whole contact is read through the loaders
// (batched, coalesced, cached), so that no field is null only because a
// listing left it out.

package resolvers

import (
	"context"
	"fmt"
	"slices"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/ghl-graphql/gateway/upstream"
)

// contactFieldSources maps each field of the GraphQL Contact to the fields
// of the API's contact it is made from. Fields resolved by a call of their
// own (tasks, notes, ...) need only the ID. A field missing here needs the
// whole contact, so a new field is never served from a listing by mistake.
var contactFieldSources = func() map[string]upstream.ContactFields {
	f := upstream.ContactFieldsNamed
	m := map[string]upstream.ContactFields{
		"__typename": 0, "id": 0, "tasks": 0, "task": 0, "notes": 0, "note": 0, "appointments": 0,
		"name":                  f("name", "firstName", "lastName"),
		"business":              f("businessId"),
		"dateOfBirth":           f("dateOfBirth"),
		"dnd":                   f("dnd"),
		"dndSettings":           f("dndSettings"),
		"inboundDndSettings":    f("inboundDndSettings"),
		"attributionSource":     f("attributionSource"),
		"lastAttributionSource": f("lastAttributionSource"),
	}
	// The rest are named as in the API.
	for _, k := range []string{"locationId", "firstName", "lastName", "email", "phone", "companyName",
		"address1", "city", "state", "postalCode", "country", "timezone", "website", "source", "type",
		"gender", "assignedTo", "tags", "followers", "customFields", "businessId", "keyword", "dateAdded",
		"dateUpdated", "lastActivity", "lastSessionActivityAt", "firstNameLowerCase", "lastNameLowerCase",
		"fullNameLowerCase", "emailLowerCase", "birthMonth", "birthDay", "ssn", "attachments", "visitorId",
		"bounceEmail", "unsubscribeEmail", "deleted", "offers", "products", "attributions"} {
		m[k] = f(k)
	}
	return m
}()

// ListingMayLack reports whether the GraphQL Contact field may need the
// whole contact when the contact came from a search or listing: whether it
// is made from a field outside the spec's list item. The cost analysis
// counts the extra read with it.
func ListingMayLack(field string) bool {
	need, ok := contactFieldSources[field]
	return !ok || need&^upstream.ListedContactFields != 0
}

// needOf is what a selection of Contact fields needs of the API's contact.
func needOf(fields []graphql.CollectedField) upstream.ContactFields {
	var need upstream.ContactFields
	for _, f := range fields {
		n, ok := contactFieldSources[f.Name]
		if !ok {
			return upstream.AllContactFields
		}
		need |= n
	}
	return need
}

// selection is the Contact fields a resolver's field selects, and whether
// they are known (outside GraphQL execution they are not, and everything
// is needed).
type selection struct {
	fields []graphql.CollectedField
	known  bool
	// nodes says that a connection's contacts were selected through nodes
	// (else edges.node), for the path of an error about one of them.
	nodes bool
}

func (s selection) need() upstream.ContactFields {
	if !s.known {
		return upstream.AllContactFields
	}
	return needOf(s.fields)
}

// contactSelection is the selection of the current field, a Contact.
func contactSelection(ctx context.Context) selection {
	if !graphql.HasOperationContext(ctx) || graphql.GetFieldContext(ctx) == nil {
		return selection{}
	}
	return selection{fields: graphql.CollectFieldsCtx(ctx, nil), known: true}
}

// nodeSelection is what the current field, a ContactConnection, selects of
// its contacts, through nodes and edges.node together.
func nodeSelection(ctx context.Context) selection {
	if !graphql.HasOperationContext(ctx) || graphql.GetFieldContext(ctx) == nil {
		return selection{}
	}
	op := graphql.GetOperationContext(ctx)
	own := graphql.CollectFieldsCtx(ctx, nil)
	s := selection{known: true, fields: subSelection(op, own, "nodes")}
	s.nodes = len(s.fields) > 0
	for _, f := range own {
		if f.Name == "edges" {
			s.fields = append(s.fields, subSelection(op, graphql.CollectFields(op, f.Selections, nil), "node")...)
		}
	}
	return s
}

// subSelection is what the fields named name among fields select.
func subSelection(op *graphql.OperationContext, fields []graphql.CollectedField, name string) []graphql.CollectedField {
	var out []graphql.CollectedField
	for _, f := range fields {
		if f.Name == name {
			out = append(out, graphql.CollectFields(op, f.Selections, nil)...)
		}
	}
	return out
}

// addContactError adds err, about contact id, to the response at the
// current field's path followed by rest.
func addContactError(ctx context.Context, err error, id string, rest ...ast.PathElement) {
	path := append(slices.Clone(graphql.GetFieldContext(ctx).Path()), rest...)
	graphql.AddError(ctx, &gqlerror.Error{Err: err, Message: err.Error(), Path: path,
		Extensions: map[string]any{"contactId": id}})
}

// completeContacts returns contacts with each one that lacks a field sel
// needs replaced by the whole contact, read in one batch; the children sel
// selects start loading in the same round trip. contacts is not modified.
// errs is nil when every read succeeded, else errs[i] is contacts[i]'s, and
// that contact is left as the listing gave it.
func (r *Resolver) completeContacts(ctx context.Context, contacts []upstream.Contact, sel selection) ([]upstream.Contact, []error) {
	need := sel.need()
	var lacking []int
	for i := range contacts {
		if !contacts[i].Carries(need) {
			lacking = append(lacking, i)
		}
	}
	if len(lacking) == 0 {
		return contacts, nil
	}
	ids := make([]string, len(lacking))
	for j, i := range lacking {
		ids[j] = contacts[i].ID
		r.primeChildren(ctx, ids[j], sel.fields)
	}
	whole, loadErrs := r.loadContacts(ctx, ids)
	out := slices.Clone(contacts)
	var errs []error
	for j, i := range lacking {
		if loadErrs != nil && loadErrs[j] != nil {
			if errs == nil {
				errs = make([]error, len(contacts))
			}
			errs[i] = fmt.Errorf("contact %s: reading the fields the listing left out: %w", ids[j], loadErrs[j])
			continue
		}
		c := *whole[j]
		// The cursor belongs to the listing's copy.
		c.SearchAfter = contacts[i].SearchAfter
		out[i] = c
	}
	return out, errs
}

// completePage is completeContacts for a connection's page: a contact whose
// read failed stays as listed, and its error joins the response on that
// contact's path (nodes[i], else edges[i].node) with extensions.contactId,
// so the rest of the page still arrives and the client is told which
// contact is incomplete.
func (r *Resolver) completePage(ctx context.Context, contacts []upstream.Contact) ([]upstream.Contact, error) {
	sel := nodeSelection(ctx)
	out, errs := r.completeContacts(ctx, contacts, sel)
	for i, err := range errs {
		if err == nil {
			continue
		}
		if !sel.known {
			return nil, err
		}
		if sel.nodes {
			addContactError(ctx, err, contacts[i].ID, ast.PathName("nodes"), ast.PathIndex(i))
		} else {
			addContactError(ctx, err, contacts[i].ID, ast.PathName("edges"), ast.PathIndex(i), ast.PathName("node"))
		}
	}
	return out, nil
}

// completeAnswered is completeContacts for the contact a write answered
// with (a create's lacks fields of a read), selected as the current field's
// "contact". The write is done: a failed read must not make it look failed,
// so the contact stays as answered and the error joins the response on the
// contact's path.
func (r *Resolver) completeAnswered(ctx context.Context, c *upstream.Contact) *upstream.Contact {
	sel := selection{}
	if graphql.HasOperationContext(ctx) && graphql.GetFieldContext(ctx) != nil {
		sel = selection{known: true, fields: subSelection(graphql.GetOperationContext(ctx), graphql.CollectFieldsCtx(ctx, nil), "contact")}
	}
	out, errs := r.completeContacts(ctx, []upstream.Contact{*c}, sel)
	if errs != nil {
		if sel.known {
			addContactError(ctx, errs[0], c.ID, ast.PathName("contact"))
		}
		return c
	}
	return &out[0]
}

// completeContact is completeContacts for one contact; a failed read fails
// the field.
func (r *Resolver) completeContact(ctx context.Context, c *upstream.Contact) (*upstream.Contact, error) {
	out, errs := r.completeContacts(ctx, []upstream.Contact{*c}, contactSelection(ctx))
	if errs != nil {
		return nil, errs[0]
	}
	return &out[0], nil
}

// loadContacts reads whole contacts in one batch through the loaders.
func (r *Resolver) loadContacts(ctx context.Context, ids []string) ([]*upstream.Contact, []error) {
	return r.loaders(ctx).Contacts(ctx, ids)
}

// loadContactCarrying reads a contact that carries need, through the
// loaders, which may answer with a listing's copy that has every needed
// field.
func (r *Resolver) loadContactCarrying(ctx context.Context, id string, need upstream.ContactFields) (*upstream.Contact, error) {
	return r.loaders(ctx).ContactCarrying(ctx, id, need)
}

// FieldsListingsMayLack are the GraphQL Contact fields that can make the
// gateway read a listed contact whole (see ListingMayLack), for the cost
// analysis.
func FieldsListingsMayLack() []string {
	var out []string
	for f := range contactFieldSources {
		if ListingMayLack(f) {
			out = append(out, f)
		}
	}
	slices.Sort(out)
	return out
}
