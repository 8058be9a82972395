// Tests of the one write path, for every mutation: the audit line names the
// records the write touched, the IDs it created included; what the write
// made stale is evicted after the call, not before; and a create whose
// outcome is unknown still evicts.

package server_test

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ghl-graphql/gateway/server"
	"github.com/ghl-graphql/gateway/upstream"
	"github.com/ghl-graphql/gateway/upstream/sandbox"
)

// syncBuffer is a bytes.Buffer the gateway's goroutines may write to while
// the test reads it.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// lines decodes the JSON lines written so far.
func (b *syncBuffer) lines(t *testing.T) []map[string]any { return b.decode(t, false) }

// records is lines with each line's text under "_line", for messages.
func (b *syncBuffer) records(t *testing.T) []map[string]any { return b.decode(t, true) }

func (b *syncBuffer) decode(t *testing.T, keepLine bool) []map[string]any {
	t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(b.buf.String()), "\n") {
		if l == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("log line %q is not JSON: %v", l, err)
		}
		if keepLine {
			m["_line"] = l
		}
		out = append(out, m)
	}
	return out
}

// reset forgets what was written.
func (b *syncBuffer) reset() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf.Reset()
}

// holdFirstWrite holds the first write request to the upstream until
// release is closed, and closes arrived when it is held.
type holdFirstWrite struct {
	arrived, release chan struct{}
	once             sync.Once
}

func newHold() *holdFirstWrite {
	return &holdFirstWrite{arrived: make(chan struct{}), release: make(chan struct{})}
}

func (h *holdFirstWrite) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && !strings.HasSuffix(r.URL.Path, "/search") {
			h.once.Do(func() {
				close(h.arrived)
				<-h.release
			})
		}
		next.ServeHTTP(w, r)
	})
}

// post sends a GraphQL request from any goroutine (e.send may fail the
// test, which only the test's goroutine may do).
func post(gwURL, token, query string, vars map[string]any) (string, error) {
	body, _ := json.Marshal(map[string]any{"query": query, "variables": vars})
	req, err := http.NewRequest(http.MethodPost, gwURL+server.GraphQLPath, bytes.NewReader(body))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), err
}

// staleRead reads what every write evicts: the location's searches, and the
// fixture contact with its tasks and notes.
const staleRead = `query($id: ID!) { contacts(first: 3) { nodes { id } } contact(id: $id) { id tasks { id } notes { id } } }`

// createdID digs the ID a create made out of its answer.
func createdID(t *testing.T, field, body string) string {
	t.Helper()
	var out struct {
		Data map[string]map[string]struct {
			ID string `json:"id"`
		} `json:"data"`
	}
	if err := json.Unmarshal([]byte(body), &out); err != nil {
		t.Fatal(err)
	}
	for _, v := range out.Data[field] {
		if v.ID != "" {
			return v.ID
		}
	}
	t.Fatalf("%s: no created ID in %s", field, body)
	return ""
}

func TestE2EWritePath(t *testing.T) {
	t.Parallel()
	mutations := 0
	for op, reach := range operationFields {
		field, ok := strings.CutPrefix(reach.field, "Mutation.")
		if !ok {
			continue
		}
		mutations++
		t.Run(field, func(t *testing.T) {
			t.Parallel()
			hold := newHold()
			audit := &syncBuffer{}
			e := newE2E(t, withUpstreamMiddleware(hold.wrap),
				withServer(func(c *server.Config) { c.AuditLog = slog.New(slog.NewJSONHandler(audit, nil)) }))
			f := e.setup(t)
			var vars map[string]any
			if reach.vars != nil {
				vars = reach.vars(e, f)
			}
			read := map[string]any{"id": f.contactID}
			e.gql(e.token, staleRead, read).ok(t) // cached

			done := make(chan string, 1)
			go func() {
				body, err := post(e.gw.URL, e.token, reach.query, vars)
				if err != nil {
					body = err.Error()
				}
				done <- body
			}()
			select {
			case <-hold.arrived:
			case <-time.After(10 * time.Second):
				t.Fatalf("%s never reached the upstream", op)
			}
			// While the write is in flight, a read sees what was cached
			// before it; had the write evicted before its call, this read
			// would store the old state again, and the read after the
			// write would be served that.
			e.gql(e.token, staleRead, read)
			close(hold.release)
			body := <-done
			if strings.Contains(body, `"errors"`) {
				t.Fatalf("%s: %s", field, body)
			}
			e.sb.ResetCounters()
			e.gql(e.token, staleRead, read)
			if got := e.sb.Calls("search-contacts-advanced"); got == 0 {
				t.Errorf("the read after %s was served from the cache: the write evicted before its call, or not at all", field)
			}

			// The audit line names the records: the arguments' IDs, then
			// what the write created.
			lines := audit.lines(t)
			if len(lines) != 1 {
				t.Fatalf("%d audit lines, want 1", len(lines))
			}
			line := lines[0]
			if line["operation"] != field || line["outcome"] != "ok" || line["location"] != e.locA || line["who"] == "" {
				t.Errorf("audit line %v", line)
			}
			var targets []string
			for _, v := range line["targets"].([]any) {
				targets = append(targets, v.(string))
			}
			var want []string
			for _, k := range []string{"id", "t", "n", "b"} {
				if id, ok := vars[k].(string); ok {
					want = append(want, id)
				}
			}
			for _, literal := range []string{"c1", "w1"} { // the campaign and workflow IDs of the queries
				if strings.Contains(reach.query, `"`+literal+`"`) {
					want = append(want, literal)
				}
			}
			switch field {
			case "createContact", "createTask", "createNote":
				want = append(want, createdID(t, field, body))
			case "upsertContact":
				if len(targets) != 1 {
					t.Fatalf("upsert: targets %v, want the upserted contact", targets)
				}
				c, _, err := e.client.Contacts.Get(e.ctx(e.token), targets[0])
				if err != nil || c.Email != "covered@example.org" {
					t.Errorf("upsert: audited %s, which is %+v (%v)", targets[0], c, err)
				}
				want = append(want, targets[0])
			}
			slices.Sort(want)
			slices.Sort(targets)
			if !slices.Equal(targets, want) {
				t.Errorf("audit targets %v, want %v", targets, want)
			}
		})
	}
	if mutations != 22 {
		t.Errorf("%d mutations reach the upstream, want 22", mutations)
	}
}

// TestE2EFailedCreateStillEvicts: a create whose answer was lost (the
// upstream applied it, then the connection dropped) is reported UNKNOWN,
// evicts what it may have changed, and is audited as such.
func TestE2EFailedCreateStillEvicts(t *testing.T) {
	t.Parallel()
	for _, op := range []string{"create-contact", "create-task", "create-note"} {
		t.Run(op, func(t *testing.T) {
			t.Parallel()
			audit := &syncBuffer{}
			e := newE2E(t, withServer(func(c *server.Config) { c.AuditLog = slog.New(slog.NewJSONHandler(audit, nil)) }))
			f := e.setup(t)
			read := map[string]any{"id": f.contactID}
			e.gql(e.token, staleRead, read).ok(t)
			e.sb.SetFaults(sandbox.Faults{Rate: 1, Kinds: []sandbox.FaultKind{sandbox.FaultDropAfterWrite}, Ops: []string{op}})
			reach := operationFields[op]
			var vars map[string]any
			if reach.vars != nil {
				vars = reach.vars(e, f)
			}
			r := e.gql(e.token, reach.query, vars)
			if r.code(t) != "UPSTREAM_ERROR" || r.Errors[0].Extensions["writeOutcome"] != upstream.WriteUnknown {
				t.Fatalf("answer %s, want UPSTREAM_ERROR with writeOutcome UNKNOWN", r.Body)
			}
			e.sb.SetFaults(sandbox.Faults{})
			e.sb.ResetCounters()
			e.gql(e.token, staleRead, read).ok(t)
			if e.sb.Calls("search-contacts-advanced") == 0 {
				t.Error("a create of unknown outcome left the location's searches cached")
			}
			if op != "create-contact" && e.sb.Calls("get-all-tasks")+e.sb.Calls("get-all-notes") == 0 {
				t.Error("a create of unknown outcome left the contact's tasks and notes cached")
			}
			lines := audit.lines(t)
			if len(lines) != 1 || lines[0]["outcome"] != "error" || lines[0]["writeOutcome"] != upstream.WriteUnknown {
				t.Errorf("audit %v, want one line with writeOutcome UNKNOWN", lines)
			}
		})
	}
}
