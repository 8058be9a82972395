package main

import (
	"bufio"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ghl-graphql/gateway/loaders"
	"github.com/ghl-graphql/gateway/server"
	"github.com/ghl-graphql/gateway/webhook"
)

// TestWebhookConfig: the flags, their checks, and the TTL defaults that
// follow whether webhooks are on.
func TestWebhookConfig(t *testing.T) {
	pub, _, _ := ed25519.GenerateKey(rand.Reader)
	pemText, err := webhook.MarshalPublicKeyPEM(pub)
	if err != nil {
		t.Fatal(err)
	}
	keyFile := filepath.Join(t.TempDir(), "ghl-ed25519.pem")
	if err := os.WriteFile(keyFile, pemText, 0o600); err != nil {
		t.Fatal(err)
	}
	for name, tc := range map[string]struct {
		args    []string
		env     map[string]string
		wantErr string
		check   func(t *testing.T, c *config)
	}{
		"defaults": {check: func(t *testing.T, c *config) {
			w := c.webhooks
			if w.ed25519Key != "" || w.legacyRSA || w.window != webhook.DefaultWindow || w.maxBodyBytes != webhook.DefaultMaxBodyBytes ||
				w.confirmEvery != server.DefaultConfirmEvery || !w.sandboxHooks {
				t.Errorf("webhook defaults = %+v", w)
			}
			// No upstream URL: the embedded sandbox's webhooks are on.
			wh, sb, err := w.build(true)
			if err != nil || wh == nil || sb == nil || len(wh.Receiver.Ed25519Keys) != 1 {
				t.Fatalf("embedded build = %v, %v, %v", wh, sb, err)
			}
			if got := c.effectiveTTLs(true); got != (loaders.TTLs{}) {
				t.Errorf("TTLs with webhooks = %+v, want all zero (the server takes loaders.WebhookTTLs)", got)
			}
			if got := c.effectiveTTLs(false); got.Contact != loaders.DefaultTTLs.Contact || got.Search != loaders.DefaultTTLs.Search {
				t.Errorf("TTLs without webhooks = %+v", got)
			}
			// A real upstream and no key: off.
			if wh, _, err := w.build(false); wh != nil || err != nil {
				t.Errorf("build without a key = %v, %v", wh, err)
			}
		}},
		"key from a file, an explicit TTL kept": {
			args: []string{"-webhook-ed25519-key", keyFile, "-cache-contact-ttl", "45s"},
			check: func(t *testing.T, c *config) {
				wh, sb, err := c.webhooks.build(false)
				if err != nil || wh == nil || sb != nil || !wh.Receiver.Ed25519Keys[0].Equal(pub) {
					t.Fatalf("build = %v, %v, %v", wh, sb, err)
				}
				if got := c.effectiveTTLs(true); got.Contact != 45*time.Second || got.Lists != 0 || got.Search != 0 {
					t.Errorf("TTLs = %+v, want the explicit contact TTL only", got)
				}
			}},
		"PEM in the environment, legacy with the published key": {
			env: map[string]string{"GATEWAY_WEBHOOK_ED25519_KEY": string(pemText), "GATEWAY_WEBHOOK_LEGACY_RSA": "true"},
			check: func(t *testing.T, c *config) {
				wh, _, err := c.webhooks.build(false)
				if err != nil || wh == nil || wh.Receiver.RSAKey == nil || len(wh.Receiver.Ed25519Keys) != 1 {
					t.Fatalf("build = %+v, %v", wh, err)
				}
				if !c.explicit["webhook-ed25519-key"] {
					t.Error("a setting from the environment is not recorded as explicit")
				}
			}},
		"bad key":            {args: []string{"-webhook-ed25519-key", "/no/such/file.pem"}, wantErr: "webhook-ed25519-key"},
		"RSA key, no legacy": {args: []string{"-webhook-rsa-key", webhook.LegacyRSAPublicKeyPEM}, wantErr: "webhook-legacy-rsa"},
		"zero window":        {args: []string{"-webhook-window", "0s"}, wantErr: "webhook-window"},
		"zero queue":         {args: []string{"-webhook-queue-depth", "0"}, wantErr: "webhook-queue-depth"},
		"zero seen-set":      {args: []string{"-webhook-seen-max", "0"}, wantErr: "webhook-seen-max"},
		"zero body":          {args: []string{"-webhook-max-body-bytes", "0"}, wantErr: "webhook-max-body-bytes"},
		"zero workers":       {args: []string{"-webhook-workers", "0"}, wantErr: "webhook-workers"},
		"zero confirm":       {args: []string{"-webhook-confirm-interval", "0s"}, wantErr: "webhook-confirm-interval"},
		"negative task TTL":  {args: []string{"-cache-task-ttl", "-1s"}, wantErr: "cache-task-ttl"},
	} {
		t.Run(name, func(t *testing.T) {
			c, ok := parseConfigCase(t, tc.args, tc.env, tc.wantErr)
			if !ok {
				return
			}
			tc.check(t, c)
		})
	}
}

// TestEmbeddedSandboxWebhooks: the default run (no upstream URL) mounts
// the endpoint and the sandbox's webhooks reach it verified: a mutation
// through GraphQL makes the sandbox send a signed webhook the gateway
// accepts (answered 200 in the request log).
func TestEmbeddedSandboxWebhooks(t *testing.T) {
	cfg, err := parseConfig([]string{"-addr", "127.0.0.1:0", "-playground=false", "-sandbox-contacts", "5"}, env(nil), devNull(t))
	if err != nil {
		t.Fatal(err)
	}
	logs := &lockedBuffer{}
	logger := slog.New(slog.NewTextHandler(logs, nil))
	pr, pw := io.Pipe()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- serve(ctx, cfg, logger, pw); pw.Close() }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	}()
	banner := map[string]string{}
	sc := bufio.NewScanner(pr)
	for len(banner) < 3 && sc.Scan() {
		for _, pre := range []string{"GraphQL endpoint:", "Sandbox token:", "Webhooks:"} {
			if rest, ok := strings.CutPrefix(sc.Text(), pre); ok {
				banner[pre] = strings.TrimSpace(rest)
			}
		}
	}
	go func() { _, _ = io.Copy(io.Discard, pr) }()
	if !strings.HasSuffix(banner["Webhooks:"], server.WebhookPath) {
		t.Fatalf("banner = %v, want the webhook endpoint", banner)
	}
	endpoint, token := banner["GraphQL endpoint:"], banner["Sandbox token:"]
	status, out, err := post(t, endpoint, token, `{ contacts(first: 1) { nodes { id } } }`, nil)
	if err != nil || status != http.StatusOK {
		t.Fatalf("query: %d %v %v", status, out, err)
	}
	id := out["data"].(map[string]any)["contacts"].(map[string]any)["nodes"].([]any)[0].(map[string]any)["id"].(string)
	status, out, err = post(t, endpoint, token, `mutation { addContactTags(contactId: "`+id+`", tags: ["webhooked"]) { tags } }`, nil)
	if err != nil || status != http.StatusOK || out["errors"] != nil {
		t.Fatalf("mutation: %d %v %v", status, out, err)
	}
	// The webhook is asynchronous: wait for its line in the request log,
	// bounded by a deadline (a hang guard).
	deadline := time.Now().Add(20 * time.Second)
	for !strings.Contains(logs.String(), "path="+server.WebhookPath+" status=200") {
		if time.Now().After(deadline) {
			t.Fatalf("no accepted webhook in the log:\n%s", logs)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if strings.Contains(logs.String(), "webhook refused") {
		t.Errorf("a sandbox webhook was refused:\n%s", logs)
	}
}

// TestStandaloneSandboxWebhooks: `gateway sandbox -webhook-url` prints the
// public key and delivers a webhook it verifies for a change.
func TestStandaloneSandboxWebhooks(t *testing.T) {
	got := make(chan *http.Request, 10)
	bodies := make(chan []byte, 10)
	sink := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got <- r
		bodies <- b
	}))
	defer sink.Close()
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"sandbox", "-addr", "127.0.0.1:0", "-contacts", "3", "-webhook-url", sink.URL}, pw, devNull(t))
		pw.Close()
	}()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("sandbox: %v", err)
		}
	}()
	var api, token, pemText string
	inPEM, pemDone := false, false
	sc := bufio.NewScanner(pr)
	for (api == "" || token == "" || !pemDone) && sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "-----BEGIN"):
			inPEM = true
		case strings.HasPrefix(line, "Sandbox Contacts API:"):
			api = strings.TrimSpace(strings.TrimPrefix(line, "Sandbox Contacts API:"))
		case strings.HasPrefix(line, "Token"):
			token = strings.TrimSpace(line[strings.LastIndex(line, " "):])
		}
		if inPEM {
			pemText += line + "\n"
			if strings.HasPrefix(line, "-----END") {
				inPEM, pemDone = false, true
			}
		}
	}
	go func() { _, _ = io.Copy(io.Discard, pr) }()
	pub, err := webhook.ParseEd25519Key(pemText)
	if err != nil {
		t.Fatalf("printed key %q: %v", pemText, err)
	}
	// A change through the sandbox's API: a new contact.
	list, _ := http.NewRequest(http.MethodPost, api+"contacts/", strings.NewReader(`{"locationId":"`+locationOf(t, token)+`","firstName":"Standalone"}`))
	list.Header.Set("Authorization", "Bearer "+token)
	list.Header.Set("Version", "2021-07-28")
	list.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(list)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("create: %d", resp.StatusCode)
	}
	select {
	case r := <-got:
		body := <-bodies
		sig, _ := base64.StdEncoding.DecodeString(r.Header.Get(webhook.HeaderSignature))
		if !ed25519.Verify(pub, body, sig) || !strings.Contains(string(body), `"ContactCreate"`) {
			t.Errorf("webhook %s does not verify with the printed key", body)
		}
	case <-time.After(20 * time.Second): // a hang guard
		t.Fatal("no webhook delivered")
	}
}

// locationOf reads the location a sandbox access token (a JWT) names.
func locationOf(t *testing.T, token string) string {
	t.Helper()
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		t.Fatalf("token %q is not a JWT", token)
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var claims struct {
		AuthClassID string `json:"authClassId"`
	}
	if err := json.Unmarshal(b, &claims); err != nil {
		t.Fatal(err)
	}
	return claims.AuthClassID
}
