// This file holds the GraphQL subscriptions (issue 12): each one is a
// subscription to the events.Bus, filtered to one location and one topic
// (a contact, or a contact's tasks, notes or appointments), whose changes
// become events that resolve their object through the loaders like any
// query. The server authorizes a connection once (AuthorizeSubscriber, at
// connection_init) and the subscriptions re-check it as events arrive.

package resolvers

import (
	"context"
	"encoding/json"
	"errors"
	"strconv"
	"sync"
	"time"

	"github.com/99designs/gqlgen/graphql"
	lru "github.com/hashicorp/golang-lru/v2"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/ghl-graphql/gateway/auth"
	"github.com/ghl-graphql/gateway/errcode"
	"github.com/ghl-graphql/gateway/events"
	"github.com/ghl-graphql/gateway/graph/model"
	"github.com/ghl-graphql/gateway/loaders"
	"github.com/ghl-graphql/gateway/upstream"
)

// Defaults of the subscription limits.
const (
	// DefaultMaxSubscriptionsPerConnection: a page subscribes to a few
	// contacts and their children; 20 leaves room without letting one
	// socket hold hundreds of bus entries.
	DefaultMaxSubscriptionsPerConnection = 20
	// DefaultMaxSubscriptionsPerCredential bounds what one token (or, in
	// managed mode, one API key or JWT subject) holds over all its
	// connections: some 25 browser tabs of a busy user.
	DefaultMaxSubscriptionsPerCredential = 500
	// DefaultSubscriptionQueue is how many events may wait for one
	// subscriber: a burst of a bulk tag update on 10 contacts fits; a
	// subscriber that cannot drain it is ended rather than held.
	DefaultSubscriptionQueue = 32
	// DefaultSubscriptionConfirmTTL is how long an upstream confirmation of
	// a pass-through credential's location holds: past it, the next event
	// costs one upstream call to confirm the credential again, so a revoked
	// token stops receiving within about this long.
	DefaultSubscriptionConfirmTTL = 60 * time.Second
	// confirmedSize bounds the remembered confirmations.
	confirmedSize = 1 << 14
)

// SubscriptionConfig enables subscriptions.
type SubscriptionConfig struct {
	// Bus carries the changes (required).
	Bus events.Bus
	// MaxPerConnection caps one connection's open subscriptions; 0 means
	// DefaultMaxSubscriptionsPerConnection.
	MaxPerConnection int
	// MaxPerCredential caps one credential's open subscriptions over all
	// its connections; 0 means DefaultMaxSubscriptionsPerCredential.
	MaxPerCredential int
	// Queue is how many events may wait for one subscriber before it is
	// ended as too slow; 0 means DefaultSubscriptionQueue.
	Queue int
	// ConfirmTTL is how long an upstream confirmation of a pass-through
	// credential holds; 0 means DefaultSubscriptionConfirmTTL.
	ConfirmTTL time.Duration
	// Now is the clock of confirmations; nil means time.Now.
	Now func() time.Time
}

// subscriptions is the state subscriptions share.
type subscriptions struct {
	cfg SubscriptionConfig

	mu      sync.Mutex
	perCred map[string]int
	// confirmed maps a credential and location to when the upstream last
	// accepted the credential for the location.
	confirmed *lru.Cache[string, time.Time]
}

// EnableSubscriptions turns the Subscription fields on; without it they
// answer that the gateway has no subscriptions.
func (r *Resolver) EnableSubscriptions(cfg SubscriptionConfig) error {
	if cfg.Bus == nil {
		return errors.New("resolvers: subscriptions need a bus")
	}
	if cfg.MaxPerConnection <= 0 {
		cfg.MaxPerConnection = DefaultMaxSubscriptionsPerConnection
	}
	if cfg.MaxPerCredential <= 0 {
		cfg.MaxPerCredential = DefaultMaxSubscriptionsPerCredential
	}
	if cfg.Queue <= 0 {
		cfg.Queue = DefaultSubscriptionQueue
	}
	if cfg.ConfirmTTL <= 0 {
		cfg.ConfirmTTL = DefaultSubscriptionConfirmTTL
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	confirmed, _ := lru.New[string, time.Time](confirmedSize)
	r.subs = &subscriptions{cfg: cfg, perCred: map[string]int{}, confirmed: confirmed}
	return nil
}

// subscriber is one authorized connection (a WebSocket, or one SSE
// request): its location and how many subscriptions it holds.
type subscriber struct {
	location string
	// trusted: the gateway authenticated the client itself (managed mode),
	// so the location needs no upstream confirmation.
	trusted bool

	mu        sync.Mutex
	open      int
	confirmed time.Time
}

type subscriberKey struct{}

func subscriberFrom(ctx context.Context) *subscriber {
	s, _ := ctx.Value(subscriberKey{}).(*subscriber)
	return s
}

// AuthorizeSubscriber authorizes a subscribing connection whose context
// carries its credential: the connection is bound to the credential's
// location (else the default location), which a pass-through credential
// must have proven by one upstream call (a one-contact search of that
// location) within the confirmation TTL; trusted skips the call (managed
// mode, where the gateway authenticated the client). It returns the
// context the connection's subscriptions run in, or an error to refuse
// the connection with (see Classify for its code).
func (r *Resolver) AuthorizeSubscriber(ctx context.Context, trusted bool) (context.Context, error) {
	if r.subs == nil {
		return ctx, errNoSubscriptions
	}
	cred, ok := auth.FromContext(ctx)
	if !ok {
		return ctx, &authError{code: errcode.CodeUnauthenticated,
			msg: "subscriptions need a credential: send Authorization: Bearer <token> in the connection_init payload or the request's headers"}
	}
	loc := cred.LocationID
	if loc == "" {
		loc = r.defaultLocation
	}
	if loc == "" {
		return ctx, badInput("the credential does not name its location: send X-Location-Id in the connection_init payload or the request's headers")
	}
	if !trusted && cred.LocationID == "" {
		// The default location stands in for the token's: the upstream
		// must confirm it like any other.
		cred.LocationID = loc
		ctx = auth.WithCredential(ctx, cred)
	}
	sub := &subscriber{location: loc, trusted: trusted}
	if !trusted {
		if err := r.subs.confirm(ctx, r, cred, loc); err != nil {
			return ctx, err
		}
		sub.confirmed = r.subs.cfg.Now()
	}
	return context.WithValue(ctx, subscriberKey{}, sub), nil
}

var errNoSubscriptions = &authError{code: errcode.CodeBadUserInput, msg: "this gateway serves no subscriptions"}

// confirm has the upstream accept cred for loc, unless it did within the
// TTL (and has not rejected it since).
func (s *subscriptions) confirm(ctx context.Context, r *Resolver, cred auth.Credential, loc string) error {
	key := cred.ID + "\x1f" + loc
	now := s.cfg.Now()
	if at, ok := s.confirmed.Get(key); ok && !cred.Rejected && now.Sub(at) < s.cfg.ConfirmTTL {
		return nil
	}
	ctx, _, err := upstreamContext(ctx)
	if err != nil {
		return err
	}
	if _, _, err := r.client.Contacts.Search(ctx, &upstream.SearchContactsRequest{LocationID: loc, PageLimit: 1}); err != nil {
		s.confirmed.Remove(key)
		return err
	}
	s.confirmed.Add(key, now)
	return nil
}

// recheck confirms a pass-through subscriber again once its confirmation
// is older than the TTL: one upstream call per credential and TTL, shared
// by all its subscriptions.
func (s *subscriptions) recheck(ctx context.Context, r *Resolver, sub *subscriber) error {
	if sub.trusted {
		return nil
	}
	now := s.cfg.Now()
	sub.mu.Lock()
	fresh := now.Sub(sub.confirmed) < s.cfg.ConfirmTTL
	sub.mu.Unlock()
	if fresh {
		return nil
	}
	cred, _ := auth.FromContext(ctx)
	if err := s.confirm(ctx, r, cred, sub.location); err != nil {
		return err
	}
	sub.mu.Lock()
	sub.confirmed = now
	sub.mu.Unlock()
	return nil
}

// acquire counts a new subscription against its connection's and its
// credential's caps, returning the function that releases it.
func (s *subscriptions) acquire(sub *subscriber, cred auth.Credential) (func(), error) {
	sub.mu.Lock()
	if sub.open >= s.cfg.MaxPerConnection {
		sub.mu.Unlock()
		return nil, &authError{code: errcode.CodeTooManySubscriptions,
			msg: "too many subscriptions on this connection: the cap is " + strconv.Itoa(s.cfg.MaxPerConnection)}
	}
	sub.open++
	sub.mu.Unlock()
	key := cred.ID + "\x1f" + cred.Subject
	s.mu.Lock()
	if s.perCred[key] >= s.cfg.MaxPerCredential {
		s.mu.Unlock()
		sub.mu.Lock()
		sub.open--
		sub.mu.Unlock()
		return nil, &authError{code: errcode.CodeTooManySubscriptions,
			msg: "too many subscriptions for this credential: the cap is " + strconv.Itoa(s.cfg.MaxPerCredential)}
	}
	s.perCred[key]++
	s.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			s.mu.Lock()
			if s.perCred[key]--; s.perCred[key] <= 0 {
				delete(s.perCred, key)
			}
			s.mu.Unlock()
			sub.mu.Lock()
			sub.open--
			sub.mu.Unlock()
		})
	}, nil
}

// open reports the subscriptions counted against credentials, for tests.
func (s *subscriptions) openCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, v := range s.perCred {
		n += v
	}
	return n
}

// OpenSubscriptions is how many subscriptions are open, over all
// connections.
func (r *Resolver) OpenSubscriptions() int {
	if r.subs == nil {
		return 0
	}
	return r.subs.openCount()
}

// topic is what one subscription follows: a contact (or, with contactID
// "", every contact of the location), or a contact's tasks, notes or
// appointments.
type topic struct {
	object    events.Object
	contactID string
	arg       string // the argument naming contactID, for errors
}

func contactTopic(id string) topic {
	return topic{object: events.ObjectContact, contactID: id, arg: "id"}
}

func childTopic(o events.Object, contactID string) topic {
	return topic{object: o, contactID: contactID, arg: "contactId"}
}

// match is the bus filter of t. A child event without contactId matches
// no child topic: the gateway never guesses whose it is.
func (t topic) match(c events.Change) bool {
	if c.Object != t.object {
		return false
	}
	if t.object == events.ObjectContact && t.contactID == "" {
		return true
	}
	return c.ContactID == t.contactID
}

// subscribe starts a subscription to t for the connection in ctx, whose
// changes convert makes into events. The channel it returns is closed when
// the subscription ends; when it ends for a reason the client must hear
// (too slow, credential refused), a nil event is sent first, and the
// end's error is added to that response (see SubscriptionMiddleware).
func subscribe[T any](ctx context.Context, r *Resolver, t topic, convert func(events.Change) *T) (<-chan *T, error) {
	if r.subs == nil {
		return nil, errNoSubscriptions
	}
	if t.contactID != "" || t.object != events.ObjectContact {
		if err := checkID(t.arg, t.contactID); err != nil {
			return nil, err
		}
	}
	sub := subscriberFrom(ctx)
	cred, ok := auth.FromContext(ctx)
	if sub == nil || !ok {
		return nil, &authError{code: errcode.CodeUnauthenticated,
			msg: "subscriptions run over an authorized WebSocket (graphql-transport-ws on /graphql) or Server-Sent Events"}
	}
	if sub.location != cred.LocationID && cred.LocationID != "" {
		return nil, &authError{code: errcode.CodeForbidden, msg: "forbidden: the credential belongs to another location"}
	}
	release, err := r.subs.acquire(sub, cred)
	if err != nil {
		return nil, err
	}
	end := subscriptionEndFrom(ctx)
	changes, cancel := r.subs.cfg.Bus.Subscribe(ctx, sub.location, t.match, r.subs.cfg.Queue)
	out := make(chan *T)
	go func() {
		defer close(out)
		defer release()
		defer cancel()
		finish := func(err error) {
			if end != nil {
				end.set(err)
			}
			select {
			case out <- nil:
			case <-ctx.Done():
			}
		}
		for {
			select {
			case <-ctx.Done():
				return
			case c, ok := <-changes:
				if !ok {
					if cl, ok := r.subs.cfg.Bus.(interface{ Closed() bool }); ok && cl.Closed() {
						finish(&authError{code: errcode.CodeUpstreamUnavailable, msg: "the gateway is shutting down: subscribe again in a moment"})
						return
					}
					if ctx.Err() == nil {
						finish(&authError{code: errcode.CodeSubscriberTooSlow, msg: "the subscription fell more than " +
							strconv.Itoa(r.subs.cfg.Queue) + " events behind and was ended: subscribe again, and catch up with contactsChangedSince"})
					}
					return
				}
				if c.LocationID != sub.location { // the bus filters by location; never trust one filter alone
					continue
				}
				if err := r.subs.recheck(ctx, r, sub); err != nil {
					if ctx.Err() == nil {
						finish(err)
					}
					return
				}
				select {
				case out <- convert(c):
				case <-ctx.Done():
					return
				}
			}
		}
	}()
	return out, nil
}

// subscriptionEnd carries why a subscription ended from its goroutine to
// the response that reports it.
type subscriptionEnd struct {
	// needsLoaders: the operation selects objects (selectsObjects).
	needsLoaders bool

	mu  sync.Mutex
	err error
}

func (e *subscriptionEnd) set(err error) {
	e.mu.Lock()
	e.err = err
	e.mu.Unlock()
}

func (e *subscriptionEnd) take() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	err := e.err
	e.err = nil
	return err
}

type subscriptionEndKey struct{}

func subscriptionEndFrom(ctx context.Context) *subscriptionEnd {
	e, _ := ctx.Value(subscriptionEndKey{}).(*subscriptionEnd)
	return e
}

// SubscriptionOperations is the operation middleware of the subscription
// transports: only subscriptions run there (queries and mutations are
// POSTed to /graphql, with its caches and audit), and each gets the slot
// through which its end is reported.
func SubscriptionOperations(ctx context.Context, next graphql.OperationHandler) graphql.ResponseHandler {
	op := graphql.GetOperationContext(ctx)
	if op.Operation != nil && op.Operation.Operation != ast.Subscription {
		return graphql.OneShot(&graphql.Response{Errors: gqlerror.List{{
			Message:    "only subscriptions run here: send queries and mutations with POST /graphql",
			Extensions: map[string]any{"code": errcode.CodeBadUserInput},
		}}})
	}
	end := &subscriptionEnd{needsLoaders: selectsObjects(op)}
	return next(context.WithValue(ctx, subscriptionEndKey{}, end))
}

// eventScalars are the fields of the event types that need no upstream
// read.
var eventScalars = map[string]bool{"kind": true, "type": true, "locationId": true, "contactId": true, "taskId": true,
	"noteId": true, "appointmentId": true, "at": true, "webhookId": true, "__typename": true}

// selectsObjects reports whether a subscription selects an event's object
// (contact, task, ...), whose reads want fresh loaders per event; an event
// of IDs only is marshalled without them, which matters at 1,000
// subscribers. Fragments count as selecting objects.
func selectsObjects(op *graphql.OperationContext) bool {
	if op.Operation == nil {
		return true
	}
	for _, sel := range op.Operation.SelectionSet {
		root, ok := sel.(*ast.Field)
		if !ok {
			return true
		}
		for _, s := range root.SelectionSet {
			f, ok := s.(*ast.Field)
			if !ok || !eventScalars[f.Name] {
				return true
			}
		}
	}
	return false
}

// SubscriptionResponses returns the response middleware of the
// subscription transports: each event resolves with fresh per-request
// loaders over reader (nil: none), so that an event sees the data as it
// is now rather than as the connection's first event saw it; and the
// response that ends a subscription carries its reason.
func SubscriptionResponses(reader *loaders.Reader) graphql.ResponseMiddleware {
	return func(ctx context.Context, next graphql.ResponseHandler) *graphql.Response {
		end := subscriptionEndFrom(ctx)
		if reader != nil && (end == nil || end.needsLoaders) {
			ctx = loaders.WithLoaders(ctx, loaders.New(reader))
		}
		resp := next(ctx)
		if resp == nil {
			return nil
		}
		if end != nil && isNullField(resp.Data) {
			// Only the nil event that ends a subscription resolves to null;
			// the error set just before it belongs to that response.
			if err := end.take(); err != nil {
				code, msg, ext := classify(err)
				if ext == nil {
					ext = map[string]any{}
				}
				ext["code"] = code
				resp.Errors = append(resp.Errors, &gqlerror.Error{Message: msg, Extensions: ext})
			}
		}
		return resp
	}
}

// isNullField reports whether a subscription response's data is its one
// root field, null.
func isNullField(data []byte) bool {
	var m map[string]json.RawMessage
	if json.Unmarshal(data, &m) != nil || len(m) != 1 {
		return false
	}
	for _, v := range m {
		return string(v) == "null"
	}
	return false
}

// Event conversions.

func kindOf(k events.Kind) model.ChangeKind {
	if m := model.ChangeKind(k); m.IsValid() {
		return m
	}
	return model.ChangeKindUpdated
}

func optionalID(id string) *string {
	if id == "" {
		return nil
	}
	return &id
}

func contactEvent(c events.Change) *model.ContactChangeEvent {
	return &model.ContactChangeEvent{Kind: kindOf(c.Kind), Type: c.Type, LocationID: c.LocationID,
		ContactID: c.ContactID, At: c.At, WebhookID: optionalID(c.WebhookID)}
}

func taskEvent(c events.Change) *model.TaskChangeEvent {
	return &model.TaskChangeEvent{Kind: kindOf(c.Kind), Type: c.Type, LocationID: c.LocationID,
		ContactID: c.ContactID, TaskID: optionalID(c.ObjectID), At: c.At, WebhookID: optionalID(c.WebhookID)}
}

func noteEvent(c events.Change) *model.NoteChangeEvent {
	return &model.NoteChangeEvent{Kind: kindOf(c.Kind), Type: c.Type, LocationID: c.LocationID,
		ContactID: c.ContactID, NoteID: optionalID(c.ObjectID), At: c.At, WebhookID: optionalID(c.WebhookID)}
}

func appointmentEvent(c events.Change) *model.AppointmentChangeEvent {
	return &model.AppointmentChangeEvent{Kind: kindOf(c.Kind), Type: c.Type, LocationID: c.LocationID,
		ContactID: c.ContactID, AppointmentID: optionalID(c.ObjectID), At: c.At, WebhookID: optionalID(c.WebhookID)}
}

// The objects of events: as they are now, through the loaders; null when
// deleted (by the event, or since).

// gone turns "not found" into a null object: the event is still delivered.
func gone[T any](v *T, err error) (*T, error) {
	if errors.Is(err, upstream.ErrNotFound) {
		return nil, nil
	}
	return v, err
}

func (r *Resolver) eventContact(ctx context.Context, contactID string, kind model.ChangeKind, ofContact bool) (*model.Contact, error) {
	if ofContact && kind == model.ChangeKindDeleted {
		return nil, nil
	}
	return gone(r.contact(ctx, contactID))
}

func (r *Resolver) eventTask(ctx context.Context, e *model.TaskChangeEvent) (*model.Task, error) {
	if e.TaskID == nil || e.Kind == model.ChangeKindDeleted {
		return nil, nil
	}
	return gone(r.task(ctx, e.ContactID, *e.TaskID))
}

func (r *Resolver) eventNote(ctx context.Context, e *model.NoteChangeEvent) (*model.Note, error) {
	if e.NoteID == nil || e.Kind == model.ChangeKindDeleted {
		return nil, nil
	}
	return gone(r.note(ctx, e.ContactID, *e.NoteID))
}

// eventAppointment finds the appointment among its contact's (the API has
// no read of one appointment by ID).
func (r *Resolver) eventAppointment(ctx context.Context, e *model.AppointmentChangeEvent) (*model.Appointment, error) {
	if e.AppointmentID == nil || e.Kind == model.ChangeKindDeleted {
		return nil, nil
	}
	ctx, _, err := upstreamContext(ctx)
	if err != nil {
		return nil, err
	}
	list, err := r.loadAppointments(ctx, e.ContactID)
	if _, err := gone[upstream.Appointment](nil, err); err != nil || list == nil {
		return nil, err
	}
	for i := range list {
		if list[i].ID == *e.AppointmentID {
			a := appointmentFromAPI(&list[i])
			return &a, nil
		}
	}
	return nil, nil
}
