//go:build unix

package main

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/ghl-graphql/gateway/redisx/redistest"
	"github.com/ghl-graphql/gateway/upstream/sandbox"
)

// TestReplicasServeWhileRedisHangs: Redis stops answering without closing
// its connections (a partition, a hung server: what a dead one does not
// show, since its refused connections fail at once). Every request that
// touches Redis (a cold read: the budget's script, the shared cache's
// lease and store, the token store; a write: the eviction every replica
// must acknowledge) still answers with data, well inside the request
// timeout, because no command waits past -redis-op-timeout; /readyz says
// degraded, then ready once Redis answers again.
func TestReplicasServeWhileRedisHangs(t *testing.T) {
	redistest.URL(t) // like every Redis test, run only where REDIS_URL is set
	r := redistest.Start(t, "--appendfsync", "always")
	bin := buildGateway(t)
	up := newCountedUpstream(t, sandbox.Config{Seed: 36, ContactsPerLocation: 20})
	// A request timeout far past the op timeout: a wait on the hung Redis
	// that the op timeout did not bound would end as UPSTREAM_TIMEOUT or a
	// deadline error, not as data.
	gws, key, loc := managedReplicas(t, bin, up, r.URL(), "-request-timeout", "30s", "-redis-op-timeout", "250ms")
	ids := up.sb.ContactIDs(loc)
	read := func(id string) string { return fmt.Sprintf(`{ contact(id: "%s") { id tags } }`, id) }
	// Each replica calls HighLevel once (no-cache: not an answer another
	// replica stored), so each has read the location's token pair: what a
	// replica may keep using while the token store is out of reach.
	for _, gw := range gws {
		mustAsk(t, gw.endpoint, key, read(ids[0]), "Cache-Control", "no-cache")
	}

	r.Pause()
	resumed := false
	defer func() {
		if !resumed {
			r.Resume()
		}
	}()
	for i, gw := range gws {
		// no-cache: past the local cache, to the budget and the shared cache.
		a, err := ask(context.Background(), gw.endpoint, key, read(ids[1+i]), "Cache-Control", "no-cache")
		if err != nil || len(a.Errors) > 0 {
			t.Fatalf("replica %d: %v %v\nstderr:\n%s", i+1, err, a.Errors, gw.p.stderr)
		}
		if a.Data["contact"] == nil {
			t.Errorf("replica %d, cold read with Redis hung: %v", i+1, a.Data)
		}
	}
	tag := "while-redis-hangs"
	mustAsk(t, gws[0].endpoint, key, fmt.Sprintf(`mutation { addContactTags(contactId: "%s", tags: ["%s"]) { tags } }`, ids[0], tag))
	if a := mustAsk(t, gws[0].endpoint, key, read(ids[0])); !strings.Contains(fmt.Sprint(a.Data), tag) {
		t.Errorf("the writing replica reads its own write: %v", a.Data)
	}
	degraded := false
	for range 100 {
		if _, body := readyBody(gws[0]); strings.Contains(body, "degraded") {
			degraded = true
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if !degraded {
		t.Error("/readyz never said degraded while Redis hung")
	}

	r.Resume()
	resumed = true
	for i, gw := range gws {
		ready := false
		for range 300 {
			if status, body := readyBody(gw); status == http.StatusOK && !strings.Contains(body, "degraded") {
				ready = true
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		if !ready {
			t.Errorf("replica %d still degraded 30 s after Redis answered again", i+1)
		}
	}
	for i, gw := range gws {
		select {
		case <-gw.p.done:
			t.Errorf("replica %d exited: %v; stderr:\n%s", i+1, gw.p.err, gw.p.stderr)
		default:
		}
	}
}
