// Tests of the real binary in managed mode, with a sandbox in the test
// process acting as HighLevel (API and OAuth server): keys made with the
// keys subcommand, the install flow through the binary's own routes, roles,
// a refresh after the access token expires, the encrypted token store
// surviving a restart, and no secret in the binary's output. And /readyz
// reporting an open circuit breaker.

package main

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ghl-graphql/gateway/oauth"
	"github.com/ghl-graphql/gateway/server"
	"github.com/ghl-graphql/gateway/upstream/sandbox"
)

// createKey runs "gateway keys create" and returns the key it printed.
func createKey(t *testing.T, bin, store, loc, role string) string {
	t.Helper()
	out, err := exec.Command(bin, "keys", "create", "-store", store, "-location", loc, "-role", role, "-name", role+"-client").Output()
	if err != nil {
		t.Fatalf("keys create: %v", err)
	}
	m := regexp.MustCompile(`(?m)^key: (gk_\S+)$`).FindSubmatch(out)
	if m == nil {
		t.Fatalf("keys create printed no key:\n%s", out)
	}
	return string(m[1])
}

// gqlError returns the first error's code and message of a GraphQL answer.
func gqlError(out map[string]any) (code, msg string) {
	errs, _ := out["errors"].([]any)
	if len(errs) == 0 {
		return "", ""
	}
	e, _ := errs[0].(map[string]any)
	ext, _ := e["extensions"].(map[string]any)
	code, _ = ext["code"].(string)
	msg, _ = e["message"].(string)
	return code, msg
}

func TestBinaryManagedMode(t *testing.T) {
	bin := buildGateway(t)
	sb, err := sandbox.New(sandbox.Config{Seed: 5, ContactsPerLocation: 5})
	if err != nil {
		t.Fatal(err)
	}
	const clientID, clientSecret = "binary-app", "app-secret-7f3c9e1d"
	sb.RegisterOAuthClient(clientID, clientSecret)
	up := httptest.NewServer(sb)
	t.Cleanup(up.Close)
	loc := sb.Locations()[0]
	contact := sb.ContactIDs(loc)[0]

	dir := t.TempDir()
	keysFile, storeFile := filepath.Join(dir, "keys.json"), filepath.Join(dir, "tokens.enc")
	readKey := createKey(t, bin, keysFile, loc, "read")
	writeKey := createKey(t, bin, keysFile, loc, "write")
	storeKey, stateKey := strings.Repeat("5a", 32), strings.Repeat("c3", 32)
	env := []string{
		"GATEWAY_OAUTH_CLIENT_SECRET=" + clientSecret,
		"GATEWAY_OAUTH_STORE_KEY=" + storeKey,
		"GATEWAY_OAUTH_STATE_KEY=" + stateKey,
	}
	args := []string{"-addr", "127.0.0.1:0", "-upstream-url", up.URL, "-auth-mode", "managed",
		"-oauth-client-id", clientID, "-oauth-redirect-url", "http://127.0.0.1/oauth/callback",
		"-oauth-token-url", up.URL + "/oauth/token", "-oauth-token-store", storeFile, "-keys-file", keysFile,
		"-log-level", "debug", "-audit-log", "-"}

	var outputs []*lockedBuffer
	startGateway := func() (endpoint string, p *proc) {
		p = start(t, bin, env, args...)
		outputs = append(outputs, p.stderr)
		return p.waitLines(t, "GraphQL endpoint:")["GraphQL endpoint:"], p
	}
	endpoint, p := startGateway()
	base := strings.TrimSuffix(endpoint, server.GraphQLPath)
	read := `{ contact(id: "` + contact + `") { id email } }`
	write := func(tag string) string {
		return `mutation { addContactTags(contactId: "` + contact + `", tags: ["` + tag + `"]) { tags } }`
	}
	var answers strings.Builder // every answer clients saw, for the secret grep
	query := func(key, q string) (string, string) {
		t.Helper()
		status, out, err := post(t, endpoint, key, q, nil)
		if err != nil || status != http.StatusOK {
			t.Fatalf("status %d, %v; stderr:\n%s", status, err, p.stderr)
		}
		b, _ := json.Marshal(out)
		answers.Write(b)
		return gqlError(out)
	}

	// Not installed yet: the answer says what to do.
	if code, msg := query(writeKey, read); code != "UNAUTHENTICATED" || !strings.Contains(msg, "/oauth/install") {
		t.Fatalf("before install: %s %q", code, msg)
	}

	// The admin installs the app through the binary's routes.
	install, err := sb.Install(base+"/oauth/install", base+"/oauth/callback", loc)
	if err != nil || install.Consent.Query().Get("client_id") != clientID {
		t.Fatalf("install: %v, consent URL %v", err, install.Consent)
	}
	if install.Status != http.StatusOK {
		t.Fatalf("callback: status %d; stderr:\n%s", install.Status, p.stderr)
	}

	// Roles.
	if code, msg := query(readKey, read); code != "" {
		t.Fatalf("read key reads: %s %s", code, msg)
	}
	calls := sb.TotalCalls()
	if code, _ := query(readKey, write("by-read-key")); code != "FORBIDDEN" || sb.TotalCalls() != calls {
		t.Errorf("read key's mutation: code %q, %d upstream calls", code, sb.TotalCalls()-calls)
	}
	if code, msg := query(writeKey, write("by-write-key")); code != "" {
		t.Fatalf("write key writes: %s %s", code, msg)
	}

	// The store holds the install, encrypted, readable by its owner only.
	storedPair := func() oauth.Tokens {
		t.Helper()
		key, _ := hex.DecodeString(storeKey)
		fs, err := oauth.NewFileStore(storeFile, key)
		if err != nil {
			t.Fatal(err)
		}
		tok, err := fs.Get(context.Background(), loc)
		if err != nil {
			t.Fatalf("token store: %v", err)
		}
		return tok
	}
	installed := storedPair()
	raw, _ := os.ReadFile(storeFile)
	if info, _ := os.Stat(storeFile); info.Mode().Perm() != 0o600 {
		t.Errorf("token store mode %v, want 0600", info.Mode().Perm())
	}
	if bytes.Contains(raw, []byte(installed.AccessToken)) || bytes.Contains(raw, []byte(installed.RefreshToken)) {
		t.Error("the token store holds tokens in the clear")
	}

	// The access token expires early: one refresh, the call goes through,
	// and the rotated pair is what the store holds.
	sb.ExpireAccessTokens(loc)
	refreshes := sb.Refreshes()
	if code, msg := query(writeKey, write("after-expiry")); code != "" {
		t.Fatalf("after expiry: %s %s", code, msg)
	}
	rotated := storedPair()
	if sb.Refreshes() != refreshes+1 || rotated.RefreshToken == installed.RefreshToken || rotated.AccessToken == installed.AccessToken {
		t.Errorf("refreshes %d → %d; store rotated: %v", refreshes, sb.Refreshes(), rotated.RefreshToken != installed.RefreshToken)
	}

	// A restart keeps the install: no new consent, no refresh.
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if c := p.exitCode(t, 30*time.Second); c != 0 {
		t.Fatalf("exit code %d; stderr:\n%s", c, p.stderr)
	}
	endpoint, p = startGateway()
	refreshes = sb.Refreshes()
	if code, msg := query(readKey, read); code != "" || sb.Refreshes() != refreshes {
		t.Errorf("after restart: %s %s, refreshes %d → %d", code, msg, refreshes, sb.Refreshes())
	}

	// The audit log records the mutations. No log, answer or other page
	// (/metrics, once there is one) holds a secret.
	var all strings.Builder
	for _, o := range outputs {
		all.WriteString(o.String())
	}
	logs := all.String()
	all.WriteString(answers.String())
	for _, path := range []string{"/metrics", server.ReadyPath, "/"} {
		resp, err := http.Get(strings.TrimSuffix(endpoint, server.GraphQLPath) + path)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		all.Write(b)
	}
	everything := all.String()
	if !strings.Contains(logs, `"operation":"addContactTags"`) {
		t.Errorf("no audit line for the mutations:\n%s", logs)
	}
	secrets := map[string]string{
		"client secret": clientSecret, "store key": storeKey, "state key": stateKey, "read key": readKey,
		"write key": writeKey, "authorization code": install.Code,
		"installed access token": installed.AccessToken, "installed refresh token": installed.RefreshToken,
		"rotated access token": rotated.AccessToken, "rotated refresh token": rotated.RefreshToken,
	}
	for name, s := range secrets {
		if s == "" {
			t.Fatalf("%s is empty: the grep would prove nothing", name)
		}
		if strings.Contains(everything, s) {
			t.Errorf("the binary's logs or answers contain the %s", name)
		}
	}
	if len(logs) < 1000 {
		t.Errorf("only %d bytes of output captured: the grep proves little", len(logs))
	}
}

func TestBinaryReadyzReportsOpenBreaker(t *testing.T) {
	bin := buildGateway(t)
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusServiceUnavailable)
		io.WriteString(w, `{"statusCode":503,"message":"down for maintenance"}`)
	}))
	t.Cleanup(up.Close)
	p := start(t, bin, nil, "-addr", "127.0.0.1:0", "-upstream-url", up.URL,
		"-breaker-min-calls", "2", "-breaker-cooldown", "10m", "-retry-attempts", "1")
	endpoint := p.waitLines(t, "GraphQL endpoint:")["GraphQL endpoint:"]
	for i := range 2 {
		status, out, err := post(t, endpoint, "pit-any", fmt.Sprintf(`{ contact(id: "c%d") { id } }`, i), nil)
		if err != nil || status != http.StatusOK {
			t.Fatalf("query: %d %v", status, err)
		}
		if code, _ := gqlError(out); code != "UPSTREAM_UNAVAILABLE" && code != "UPSTREAM_ERROR" {
			t.Fatalf("query against a failing upstream: %v", out)
		}
	}
	resp, err := http.Get(strings.TrimSuffix(endpoint, server.GraphQLPath) + server.ReadyPath)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(string(body), "circuit open") {
		t.Errorf("/readyz with an open breaker: %d %s", resp.StatusCode, body)
	}
}
