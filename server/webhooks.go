// This file mounts HighLevel's webhooks (issue 12): the verified endpoint
// of package webhook at POST /webhooks/highlevel, whose accepted changes
// evict exactly what they make stale from the shared cache (and so from
// the whole-response cache) and are published on an events.Bus; and the
// freshness rules that come with it: long cache lifetimes, and credentials
// confirmed by the upstream at a bounded interval.

package server

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"time"

	"github.com/ghl-graphql/gateway/events"
	"github.com/ghl-graphql/gateway/loaders"
	"github.com/ghl-graphql/gateway/webhook"
)

// WebhookPath is where HighLevel's webhooks are received.
const WebhookPath = webhook.Path

// DefaultConfirmEvery is how long, with webhooks on, a pass-through
// credential counts as confirmed after the upstream last accepted it;
// past it, one upstream call must succeed before cached answers are
// served to it again.
const DefaultConfirmEvery = 60 * time.Second

// Webhooks turns on HighLevel's webhooks. With it, zero CacheTTLs fields
// take loaders.WebhookTTLs (long) instead of loaders.DefaultTTLs.
type Webhooks struct {
	// Receiver holds the keys and limits of the endpoint; its Apply is set
	// by New (what is set is ignored). At least one key is required.
	Receiver webhook.Config
	// Bus, when not nil, gets every accepted change after its eviction
	// (GraphQL subscriptions listen there).
	Bus events.Bus
	// ConfirmEvery is DefaultConfirmEvery when 0; negative switches
	// confirmation off (only for short TTLs).
	ConfirmEvery time.Duration
	// Now is the clock of credential confirmation; nil means time.Now
	// (the receiver's timestamp window has its own, Receiver.Now).
	Now func() time.Time

	receiver *webhook.Receiver
}

// Drain stops taking webhooks and waits until every accepted change has
// been applied, or ctx ends. Call it at shutdown, before the server stops
// serving. It is a no-op before New mounted the endpoint.
func (w *Webhooks) Drain(ctx context.Context) error {
	if w == nil || w.receiver == nil {
		return nil
	}
	return w.receiver.Drain(ctx)
}

// Stats returns the endpoint's counters (zero before New mounted it).
func (w *Webhooks) Stats() webhook.Stats {
	if w == nil || w.receiver == nil {
		return webhook.Stats{}
	}
	return w.receiver.Stats()
}

// confirmEvery returns the effective confirmation interval; 0 when off.
func (w *Webhooks) confirmEvery() time.Duration {
	switch {
	case w == nil || w.ConfirmEvery < 0:
		return 0
	case w.ConfirmEvery == 0:
		return DefaultConfirmEvery
	}
	return w.ConfirmEvery
}

// webhookTTLs fills the zero fields of ttls with the webhook lifetimes.
func webhookTTLs(ttls loaders.TTLs) loaders.TTLs {
	if ttls.Contact == 0 {
		ttls.Contact = loaders.WebhookTTLs.Contact
	}
	if ttls.Lists == 0 {
		ttls.Lists = loaders.WebhookTTLs.Lists
	}
	if ttls.Tasks == 0 {
		ttls.Tasks = loaders.WebhookTTLs.Tasks
	}
	if ttls.Search == 0 {
		ttls.Search = loaders.WebhookTTLs.Search
	}
	return ttls
}

// mountWebhooks starts the receiver and mounts it on mux. Each accepted
// change evicts, through the same function mutations use (the cache tags
// of loaders.Evict), what it makes stale for every credential, then is
// published.
func mountWebhooks(w *Webhooks, mux *http.ServeMux, reader *loaders.Reader, logger *slog.Logger) error {
	if w.receiver != nil {
		return errors.New("server: a Webhooks value can serve one server only")
	}
	rc := w.Receiver
	if rc.Logger == nil {
		rc.Logger = logger
	}
	bus := w.Bus
	rc.Apply = func(ctx context.Context, c events.Change) {
		if reader != nil {
			reader.Evict(loaders.StaleOf(c))
		}
		if bus != nil {
			if err := bus.Publish(ctx, c); err != nil {
				logger.WarnContext(ctx, "webhook: publishing a change failed", "type", c.Type, "webhookId", c.WebhookID, "error", err)
			}
		}
	}
	r, err := webhook.New(rc)
	if err != nil {
		return err
	}
	w.receiver = r
	mux.Handle(WebhookPath, r)
	return nil
}

// webhookFeed is the loaders.ChangeFeed of a gateway with webhooks on: an
// answer stored since the endpoint was mounted, that no event evicted (an
// event removes what it names, kept stale copies included), is still right
// past its time-to-live, within what the cache keeps. Tasks are the
// exception: HighLevel sends no webhook when a task is edited, so they are
// never vouched for.
type webhookFeed struct {
	since time.Time
}

// Unchanged implements loaders.ChangeFeed.
func (f webhookFeed) Unchanged(tags []string, stored time.Time) bool {
	if stored.Before(f.since) {
		return false // stored before the feed was connected
	}
	for _, t := range tags {
		if loaders.IsTaskTag(t) {
			return false
		}
	}
	return true
}
