package main

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/ghl-graphql/gateway/redisx/redistest"
	"github.com/ghl-graphql/gateway/server"
)

// TestBinaryRedisDegraded runs the gateway against a Redis of the test's
// own: ready and serving; Redis killed: still serving, /readyz 200 but
// "degraded" with why, and a log line; Redis back: ready again by itself.
func TestBinaryRedisDegraded(t *testing.T) {
	redistest.URL(t) // like every Redis test, run only where REDIS_URL is set
	rs := redistest.Start(t)
	bin := buildGateway(t)
	p := start(t, bin, nil, "-addr", "127.0.0.1:0", "-redis-url", rs.URL(), "-replicas", "2")
	banner := p.waitLines(t, "GraphQL endpoint:", "Sandbox token:")
	endpoint, token := banner["GraphQL endpoint:"], banner["Sandbox token:"]
	base := strings.TrimSuffix(endpoint, server.GraphQLPath)
	readyz := func() (int, map[string]any) {
		resp, err := http.Get(base + server.ReadyPath)
		if err != nil {
			return 0, nil
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		var out map[string]any
		_ = json.Unmarshal(body, &out)
		return resp.StatusCode, out
	}
	waitReadyz := func(status string) map[string]any {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for {
			code, out := readyz()
			if code == http.StatusOK && out["status"] == status {
				return out
			}
			if time.Now().After(deadline) {
				t.Fatalf("/readyz never said %q (last %d %v); stderr:\n%s", status, code, out, p.stderr)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	query := func() {
		t.Helper()
		status, out, err := post(t, endpoint, token, snapshotQuery(1), nil)
		if err != nil {
			t.Fatalf("snapshot: %v; stderr:\n%s", err, p.stderr)
		}
		wantSnapshot(t, status, out, 1)
	}

	waitReadyz("ready")
	query()

	rs.Kill()
	query() // the first call after the kill finds Redis gone, and goes on
	out := waitReadyz("degraded")
	why, _ := json.Marshal(out["degraded"])
	if !strings.Contains(string(why), "redis") || !strings.Contains(string(why), "1/2") {
		t.Errorf("/readyz degraded reasons %s: want Redis and the budget at 1/2", why)
	}
	query()
	if !strings.Contains(p.stderr.String(), "redis: unreachable") {
		t.Errorf("no log line of Redis going down; stderr:\n%s", p.stderr)
	}

	rs.Restart()
	waitReadyz("ready")
	query()
	if !strings.Contains(p.stderr.String(), "redis: reachable again") {
		t.Errorf("no log line of Redis coming back; stderr:\n%s", p.stderr)
	}
}
