// This file holds what makes the first run usable without reading code
// (issue 17): managed mode against the embedded sandbox in one command,
// the start-up banner (GraphiQL, and for each sandbox location a token and
// a ready-to-paste curl of its example contact's snapshot), and warnings
// for settings that make the gateway refuse everything.

package main

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	gateway "github.com/ghl-graphql/gateway"
	"github.com/ghl-graphql/gateway/errcode"
	"github.com/ghl-graphql/gateway/oauth"
	"github.com/ghl-graphql/gateway/playground"
	"github.com/ghl-graphql/gateway/server"
	"github.com/ghl-graphql/gateway/upstream/sandbox"
)

// sandboxClientID is the app's client ID when managed mode runs against
// the embedded sandbox and -oauth-client-id is not set.
const sandboxClientID = "gateway-sandbox-app"

// sandboxManaged fills in, for managed mode against the embedded sandbox
// (no -upstream-url), every OAuth setting that was not given: the sandbox
// plays HighLevel's marketplace, so the app's client ID and secret are
// made up and registered with it, and the keys of the token store and of
// the install state are random for this run. Given settings are kept.
func (c *config) sandboxManaged() error {
	if c.authMode != "managed" || c.upstreamURL != "" {
		return nil
	}
	var err error
	if l := c.sandbox.AccessTokenLifetime; l > 0 && l <= oauth.DefaultRefreshBefore {
		err = fmt.Errorf("%s %v: must be over %v in managed mode, how long before expiry the gateway replaces a token, or no token would be usable",
			setting("sandbox-token-lifetime"), l, oauth.DefaultRefreshBefore)
	}
	gen := func(name string, p *string, v func() string) {
		if *p == "" {
			*p = v()
			c.generated = append(c.generated, name)
		}
	}
	gen("oauth-client-id", &c.oauthClientID, func() string { return sandboxClientID })
	gen("oauth-client-secret", &c.oauthSecret, randomHex)
	gen("oauth-store-key", &c.oauthStoreKey, randomHex)
	gen("oauth-state-key", &c.oauthStateKey, randomHex)
	// The listener's address is known only once it listens (-addr may end
	// in :0); serve puts the real one in.
	gen("oauth-redirect-url", &c.oauthRedirect, func() string { return "http://" + c.addr + "/oauth/callback" })
	return err
}

// generatedSetting reports whether sandboxManaged made up the setting.
func (c *config) generatedSetting(name string) bool {
	for _, g := range c.generated {
		if g == name {
			return true
		}
	}
	return false
}

// randomHex returns 32 random bytes in hex: a key oauth.ParseKey accepts.
func randomHex() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// prepareSandboxManaged points managed mode at the embedded sandbox once
// it runs at baseURL and the gateway listens at gatewayURL: the sandbox's
// consent page and token endpoint instead of HighLevel's, the app
// registered with it, the redirect URL on the real address, and a token
// store of this run when its key was made up (a file encrypted with
// another run's key could not be read). It returns what to tell the user.
func (c *config) prepareSandboxManaged(sb *sandbox.Server, baseURL, gatewayURL string) ([]string, error) {
	base := strings.TrimSuffix(baseURL, "/")
	if c.oauthAuthURL == oauth.DefaultAuthURL {
		c.oauthAuthURL = base + sandbox.ConsentPath
	}
	if c.oauthTokenURL == oauth.DefaultTokenURL {
		c.oauthTokenURL = base + "/oauth/token"
	}
	sb.RegisterOAuthClient(c.oauthClientID, c.oauthSecret)
	var notes []string
	if c.generatedSetting("oauth-redirect-url") {
		c.oauthRedirect = gatewayURL + "/oauth/callback"
	}
	if c.generatedSetting("oauth-store-key") {
		dir, err := os.MkdirTemp("", "gateway-tokens-")
		if err != nil {
			return nil, fmt.Errorf("token store of this run: %w", err)
		}
		c.oauthStore = filepath.Join(dir, "tokens.enc")
		notes = append(notes, "token store: a key generated for this run, the file in "+c.oauthStore+
			" (installs last as long as the run, as the sandbox's do; set -oauth-store-key to keep them)")
	}
	if len(c.generated) > 0 {
		var names []string
		for _, g := range c.generated {
			names = append(names, "-"+g)
		}
		notes = append(notes, "generated for this run, as the sandbox plays HighLevel: "+strings.Join(names, ", "))
	}
	return notes, nil
}

// snapshotExample is the snapshot query of GraphiQL's first tab and of the
// printed curl lines: one contact with every part.
const snapshotExample = `query Snapshot($id: ID!) {
  contact(id: $id) {
    id name email phone tags
    customFields { fieldId value }
    tasks { id title dueDate completed }
    notes { id body dateAdded }
    appointments { id title startTime status }
  }
}`

// curlLine returns a ready-to-paste curl command that sends the snapshot
// of contactID to endpoint with the token (single-quoted for POSIX shells:
// none of the parts holds a quote).
func curlLine(endpoint, authorization, contactID string) string {
	body, _ := json.Marshal(map[string]any{
		"query":     strings.Join(strings.Fields(snapshotExample), " "),
		"variables": map[string]string{"id": contactID},
	})
	return fmt.Sprintf("curl -s %s -H 'Authorization: %s' -H 'Content-Type: application/json' -d '%s'",
		endpoint, authorization, body)
}

// printSandboxBanner writes, for each sandbox location, its token and a
// curl line of its example contact's snapshot (in pass-through mode), or
// how to install the app and create a key (in managed mode).
func printSandboxBanner(w io.Writer, cfg *config, sb *sandbox.Server, gatewayURL string) {
	endpoint := gatewayURL + server.GraphQLPath
	locs := sb.Locations()
	if cfg.authMode == "managed" {
		fmt.Fprintf(w, "Managed mode against the sandbox, which plays HighLevel's marketplace:\n")
		for i, loc := range locs {
			fmt.Fprintf(w, "  Location %d of %d: %s, example contact %s\n", i+1, len(locs), loc, sb.ExampleContact(loc))
		}
		fmt.Fprintf(w, "  1. Install the app: open %s/oauth/install in a browser and choose a location\n", gatewayURL)
		fmt.Fprintf(w, "  2. Create a key:   go run ./cmd/gateway keys create -store %s -location %s -role write -name me\n", cfg.keysFile, locs[0])
		fmt.Fprintf(w, "  3. Query with it:  KEY=gk_…   (the key step 2 printed), then\n")
		fmt.Fprintf(w, "     %s\n", curlLine(endpoint, `Bearer '"$KEY"'`, sb.ExampleContact(locs[0])))
		return
	}
	for i, loc := range locs {
		token := sb.DefaultToken()
		if i > 0 {
			token = sb.AccessToken(loc, sandbox.ScopeContactsRead, sandbox.ScopeContactsWrite)
		}
		fmt.Fprintf(w, "Location %d of %d: %s, example contact %s (has tasks, notes and appointments)\n", i+1, len(locs), loc, sb.ExampleContact(loc))
		fmt.Fprintf(w, "  token: %s\n", token)
		fmt.Fprintf(w, "  curl:  %s\n", curlLine(endpoint, "Bearer "+token, sb.ExampleContact(loc)))
	}
}

// warnRefuseAll logs, at start, settings with which the gateway refuses
// every request, so that such a gateway does not start silently.
func warnRefuseAll(logger *slog.Logger, cfg *config, ops server.PersistedOperations, managed *server.Managed) {
	if cfg.persistedOps != "" && len(ops) == 0 {
		logger.Warn("the persisted-operations list is empty: every GraphQL request will be refused with "+errcode.CodePersistedOnly,
			"setting", setting("persisted-operations"), "file", cfg.persistedOps)
	}
	if managed != nil && managed.Clients != nil && managed.Clients.JWT == nil && managed.Clients.Keys != nil {
		live := 0
		for _, k := range managed.Clients.Keys.List() {
			if !k.Revoked() {
				live++
			}
		}
		if live == 0 {
			logger.Warn("managed mode has no gateway API key and no JWT verification: every request is refused until a key is created with: gateway keys create",
				"setting", setting("keys-file"), "file", cfg.keysFile)
		}
	}
}

// runSchema serves `gateway schema`: it prints schema.graphqls exactly.
func runSchema(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("gateway schema", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: gateway schema\n\nPrints the gateway's GraphQL schema, schema.graphqls, exactly as in the repository\n(e.g. gateway schema > schema.graphqls for a client's code generator). It takes no flags.\n")
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("schema: unexpected argument %q (see gateway schema -h)", fs.Arg(0))
	}
	_, err := io.WriteString(stdout, gateway.SchemaGraphQLS)
	return err
}

// exampleTabs are GraphiQL's tabs on the sandbox: the snapshot of the
// example contact, a mutation that creates a task on it, a search that
// pages, and with subscriptions on, a subscription to the contact's tasks
// (which the mutation tab makes fire), each with variables that work as
// they are.
func exampleTabs(contactID string, subscriptions bool) []playground.Tab {
	vars := func(v map[string]any) string {
		b, _ := json.MarshalIndent(v, "", "  ")
		return string(b)
	}
	tabs := []playground.Tab{
		// Anonymous: GraphiQL 5 can send a tab's operation name with the
		// document of a tab added after it (the browser check in
		// .ci/front/browser.mjs caught it); an anonymous first tab is immune.
		{Query: "# The full snapshot of a contact in one request.\n# Press play to run it; the Docs are on the left.\n" +
			strings.Replace(snapshotExample, "query Snapshot($id: ID!)", "query (\n  $id: ID! = \""+contactID+"\"\n)", 1) + "\n",
			Variables: vars(map[string]any{"id": contactID})},
		{Query: `# A mutation: create a task on the contact.
mutation CreateTask(
  $contactId: ID! = "` + contactID + `"
  $input: CreateTaskInput! = {
    title: "Call back about the quote"
    dueDate: "2030-01-15T09:00:00Z"
  }
) {
  createTask(contactId: $contactId, input: $input) {
    task { id title body dueDate completed }
  }
}
`, Variables: vars(map[string]any{"contactId": contactID,
			"input": map[string]any{"title": "Call back about the quote", "body": "Created from GraphiQL", "dueDate": "2030-01-15T09:00:00Z"}})},
		{Query: `# A search with paging: for the next page, put
# pageInfo.endCursor into "after" in the variables.
query Search($query: String = "", $first: Int = 5, $after: String) {
  contacts(query: $query, first: $first, after: $after) {
    totalCount
    pageInfo { hasNextPage endCursor }
    nodes { id name email tags }
  }
}
`, Variables: vars(map[string]any{"query": "", "first": 5, "after": nil})},
	}
	if subscriptions {
		tabs = append(tabs, playground.Tab{Query: `# A subscription: run it, then the CreateTask tab;
# the new task arrives here.
subscription TaskChanged($contactId: ID! = "` + contactID + `") {
  taskChanged(contactId: $contactId) {
    kind type at
    task { id title dueDate completed }
  }
}
`, Variables: vars(map[string]any{"contactId": contactID})})
	}
	return tabs
}
