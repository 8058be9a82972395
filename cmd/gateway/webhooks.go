// This file holds the settings of HighLevel's webhooks (issue 12): the
// keys that verify them, the endpoint's limits, the credential
// confirmation interval, and the embedded sandbox's own webhooks, wired to
// the gateway's endpoint with a key pair generated at start.

package main

import (
	"crypto/ed25519"
	"crypto/rand"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/ghl-graphql/gateway/loaders"
	"github.com/ghl-graphql/gateway/server"
	"github.com/ghl-graphql/gateway/upstream/sandbox"
	"github.com/ghl-graphql/gateway/webhook"
)

// webhookConfig is the webhook settings.
type webhookConfig struct {
	ed25519Key     string
	rsaKey         string
	legacyRSA      bool
	maxBodyBytes   int64
	window         time.Duration
	seenMax        int
	workers        int
	queueDepth     int
	confirmEvery   time.Duration
	taskTTL        time.Duration
	sandboxHooks   bool
	sandboxOmitTID bool
}

// registerWebhookFlags declares the webhook flags.
func registerWebhookFlags(fs *flag.FlagSet, c *webhookConfig) {
	fs.StringVar(&c.ed25519Key, "webhook-ed25519-key", "", "HighLevel's Ed25519 public key verifying X-GHL-Signature: a PEM file path or the PEM itself; set (or -webhook-legacy-rsa) to mount POST "+server.WebhookPath)
	fs.StringVar(&c.rsaKey, "webhook-rsa-key", "", "public key of the legacy x-wh-signature scheme (PEM path or PEM); empty: the key HighLevel publishes (used only with -webhook-legacy-rsa)")
	fs.BoolVar(&c.legacyRSA, "webhook-legacy-rsa", false, "also accept webhooks signed with the legacy RSA scheme (x-wh-signature)")
	fs.Int64Var(&c.maxBodyBytes, "webhook-max-body-bytes", webhook.DefaultMaxBodyBytes, "largest webhook body accepted (past it: 413)")
	fs.DurationVar(&c.window, "webhook-window", webhook.DefaultWindow, "how far a webhook's timestamp may be from now, either way (past it: 401)")
	fs.IntVar(&c.seenMax, "webhook-seen-max", webhook.DefaultSeenMax, "webhookIds remembered against replays (full with live IDs: 503, HighLevel retries)")
	fs.IntVar(&c.workers, "webhook-workers", webhook.DefaultWorkers, "workers applying accepted webhooks (each owns a shard of contacts, in order)")
	fs.IntVar(&c.queueDepth, "webhook-queue-depth", webhook.DefaultQueueDepth, "accepted webhooks each worker may hold waiting (full: 503, HighLevel retries)")
	fs.DurationVar(&c.confirmEvery, "webhook-confirm-interval", server.DefaultConfirmEvery, "with webhooks on, a token the upstream has not accepted for this long pays one upstream call before cached answers")
	fs.DurationVar(&c.taskTTL, "cache-task-ttl", 0, "how long a contact's tasks are served from the cache; 0: -cache-list-ttl, or 30s with webhooks on (HighLevel sends no webhook for a task edit)")
	fs.BoolVar(&c.sandboxHooks, "sandbox-webhooks", true, "embedded sandbox (no -upstream-url): deliver its signed webhooks to this gateway's endpoint (a key pair generated at start)")
	fs.BoolVar(&c.sandboxOmitTID, "sandbox-webhooks-omit-task-contact", false, "embedded sandbox: leave contactId out of TaskCreate webhooks, as HighLevel is reported to")
}

// validate names the first bad webhook setting.
func (c webhookConfig) validate() error {
	for name, v := range map[string]int64{
		"webhook-max-body-bytes": c.maxBodyBytes, "webhook-seen-max": int64(c.seenMax),
		"webhook-workers": int64(c.workers), "webhook-queue-depth": int64(c.queueDepth),
	} {
		if v < 1 {
			return fmt.Errorf("%s %d: must be at least 1", setting(name), v)
		}
	}
	for name, d := range map[string]time.Duration{"webhook-window": c.window, "webhook-confirm-interval": c.confirmEvery} {
		if d <= 0 {
			return fmt.Errorf("%s %v: must be positive", setting(name), d)
		}
	}
	if c.taskTTL < 0 {
		return fmt.Errorf("%s %v: must not be negative", setting("cache-task-ttl"), c.taskTTL)
	}
	if c.ed25519Key != "" {
		if _, err := webhook.ParseEd25519Key(c.ed25519Key); err != nil {
			return fmt.Errorf("%s: %w", setting("webhook-ed25519-key"), err)
		}
	}
	if c.rsaKey != "" {
		if _, err := webhook.ParseRSAKey(c.rsaKey); err != nil {
			return fmt.Errorf("%s: %w", setting("webhook-rsa-key"), err)
		}
		if !c.legacyRSA {
			return fmt.Errorf("%s is set but %s is off: the legacy scheme would not be accepted", setting("webhook-rsa-key"), setting("webhook-legacy-rsa"))
		}
	}
	return nil
}

// sandboxWebhooks is the embedded sandbox's side of the wiring.
type sandboxWebhooks struct {
	key         ed25519.PrivateKey
	omitTaskCID bool
}

// build returns the server's webhook settings, nil when webhooks are off:
// on when a key is configured, or when the embedded sandbox sends its own
// (embedded is true with no -upstream-url), with a generated key pair.
func (c webhookConfig) build(embedded bool) (*server.Webhooks, *sandboxWebhooks, error) {
	rc := webhook.Config{MaxBodyBytes: c.maxBodyBytes, Window: c.window, Workers: c.workers, QueueDepth: c.queueDepth,
		Seen: webhook.NewMemorySeen(c.seenMax, nil)}
	var sb *sandboxWebhooks
	if c.ed25519Key != "" {
		k, err := webhook.ParseEd25519Key(c.ed25519Key)
		if err != nil {
			return nil, nil, fmt.Errorf("%s: %w", setting("webhook-ed25519-key"), err)
		}
		rc.Ed25519Keys = append(rc.Ed25519Keys, k)
	}
	if c.legacyRSA {
		src := c.rsaKey
		if src == "" {
			src = webhook.LegacyRSAPublicKeyPEM
		}
		k, err := webhook.ParseRSAKey(src)
		if err != nil {
			return nil, nil, fmt.Errorf("%s: %w", setting("webhook-rsa-key"), err)
		}
		rc.RSAKey = k
	}
	if embedded && c.sandboxHooks {
		pub, priv, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			return nil, nil, err
		}
		rc.Ed25519Keys = append(rc.Ed25519Keys, pub)
		sb = &sandboxWebhooks{key: priv, omitTaskCID: c.sandboxOmitTID}
	}
	if len(rc.Ed25519Keys) == 0 && rc.RSAKey == nil {
		return nil, nil, nil
	}
	return &server.Webhooks{Receiver: rc, ConfirmEvery: c.confirmEvery}, sb, nil
}

// start makes the embedded sandbox deliver its webhooks to gatewayURL's
// endpoint; the returned function stops it.
func (s *sandboxWebhooks) start(sb *sandbox.Server, gatewayURL string, logger *slog.Logger) (func(), error) {
	_, stop, err := sb.StartWebhooks(sandbox.WebhookConfig{URL: gatewayURL + server.WebhookPath, PrivateKey: s.key,
		OmitTaskContactID: s.omitTaskCID})
	if err != nil {
		return nil, fmt.Errorf("embedded sandbox webhooks: %w", err)
	}
	logger.Info("embedded sandbox delivers its webhooks to the gateway", "url", gatewayURL+server.WebhookPath)
	return stop, nil
}

// effectiveTTLs returns the cache lifetimes: the flags', except that with
// webhooks on the lifetimes no flag set explicitly are left zero, for the
// server to take loaders.WebhookTTLs (long; tasks short).
func (c *config) effectiveTTLs(webhooks bool) loaders.TTLs {
	ttls := c.cacheTTLs
	ttls.Tasks = c.webhooks.taskTTL
	if !webhooks {
		return ttls
	}
	for name, d := range map[string]*time.Duration{
		"cache-contact-ttl": &ttls.Contact, "cache-list-ttl": &ttls.Lists, "cache-search-ttl": &ttls.Search,
	} {
		if !c.explicit[name] {
			*d = 0
		}
	}
	return ttls
}

// startStandaloneWebhooks makes `gateway sandbox -webhook-url` deliver
// signed webhooks to url, and prints the public key to give the gateway
// (-webhook-ed25519-key, or GATEWAY_WEBHOOK_ED25519_KEY with the PEM).
func startStandaloneWebhooks(sb *sandbox.Server, url string, stdout io.Writer) (func(), error) {
	pub, stop, err := sb.StartWebhooks(sandbox.WebhookConfig{URL: url})
	if err != nil {
		return nil, fmt.Errorf("-webhook-url: %w", err)
	}
	pemText, err := webhook.MarshalPublicKeyPEM(pub)
	if err != nil {
		stop()
		return nil, err
	}
	fmt.Fprintf(stdout, "Webhooks to:      %s, signed with the Ed25519 key:\n%s", url, pemText)
	return stop, nil
}
