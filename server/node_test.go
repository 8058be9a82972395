// Tests with real clients in Node (server/testdata/node, installed by
// .ci/run with npm ci): graphql-http's GraphQL-over-HTTP audit and Apollo
// Client's PersistedQueryLink and BatchHttpLink, each against a gateway in front of the
// sandbox. They skip, saying why, where Node or the packages are missing.

package server_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ghl-graphql/gateway/server"
)

const nodeDir = "testdata/node"

// runNode runs script in testdata/node with args and fails the test when it
// exits non-zero, showing its output.
func runNode(t *testing.T, script string, args ...string) string {
	t.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node is not installed: the real-client tests need Node (apt-get install nodejs)")
	}
	if _, err := os.Stat(filepath.Join(nodeDir, "node_modules")); err != nil {
		t.Skipf("%s/node_modules is missing: run npm ci in %s (.ci/run does)", nodeDir, nodeDir)
	}
	// A bound on a hung client, not a performance threshold.
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, append([]string{script}, args...)...)
	cmd.Dir = nodeDir
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("node %s: %v\n%s", script, err, out)
	}
	t.Logf("node %s:\n%s", script, out)
	return string(out)
}

// TestGraphQLOverHTTPAudit runs graphql-http's serverAudits: every MUST and
// every SHOULD passes (audit.mjs exits 1 otherwise), and so do the MAYs.
func TestGraphQLOverHTTPAudit(t *testing.T) {
	e := newE2E(t)
	out := runNode(t, "audit.mjs", e.gw.URL+server.GraphQLPath)
	if !strings.Contains(out, "audit: every MUST and SHOULD passes") {
		t.Fatalf("audit did not report success:\n%s", out)
	}
	if strings.Contains(out, "\nmay ") {
		t.Errorf("a MAY audit fails (not required, but they passed when this test was written):\n%s", out)
	}
}

// TestAPQWithApolloPersistedQueryLink: hit, miss and mismatch as Apollo
// Client's PersistedQueryLink sees them, by POST and GET.
func TestAPQWithApolloPersistedQueryLink(t *testing.T) {
	e := newE2E(t)
	out := runNode(t, "apq.mjs", e.gw.URL+server.GraphQLPath, e.token)
	if !strings.Contains(out, "apq: every check passes") || strings.Contains(out, "FAIL") {
		t.Fatalf("apq checks did not pass:\n%s", out)
	}
}

// TestBatchWithApolloBatchHttpLink: Apollo Client's BatchHttpLink sends one
// request for three queries and gets each one's answer, in order.
func TestBatchWithApolloBatchHttpLink(t *testing.T) {
	e := newE2E(t)
	out := runNode(t, "batch.mjs", e.gw.URL+server.GraphQLPath, e.token)
	if !strings.Contains(out, "batch: every check passes") || strings.Contains(out, "FAIL") {
		t.Fatalf("batch checks did not pass:\n%s", out)
	}
}
