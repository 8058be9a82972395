package server_test

import (
	"fmt"
	"log/slog"
	"net/http"
	"regexp"
	"strings"
	"testing"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/ghl-graphql/gateway/server"
)

var generatedID = regexp.MustCompile(`^[0-9a-f]{32}$`)

// A client's sane X-Request-Id is kept, any other replaced by a generated
// one; either way it comes back in the header and in extensions.requestId
// (of an executed answer, of a refusal before execution, and of an answer
// the response cache served, which carries this request's ID, not the
// first one's), and it is on every log line of the request.
func TestRequestIDs(t *testing.T) {
	rig := newTraceRig(t, sdktrace.NeverSample(), nil)
	id := rig.sb.ContactIDs(rig.locA)[0]
	const q = `query One($id: ID!) { contact(id: $id) { id tasks { id } } }`
	for name, tc := range map[string]struct {
		sent  string // "" sends none
		token string
		keep  bool
	}{
		"sane":              {sent: "req-1.a:b/c+d=e_f", token: rig.token, keep: true},
		"longest":           {sent: strings.Repeat("a", server.DefaultMaxRequestIDBytes), token: rig.token, keep: true},
		"absent":            {token: rig.token},
		"too long":          {sent: strings.Repeat("a", server.DefaultMaxRequestIDBytes+1), token: rig.token},
		"space":             {sent: "a b", token: rig.token},
		"markup":            {sent: `<script>"x"`, token: rig.token},
		"non-ASCII":         {sent: "idé", token: rig.token},
		"log injection":     {sent: "a\tlevel=ERROR", token: rig.token},
		"refused, sane":     {sent: "refused-1", token: "not a token", keep: true},
		"refused, insane":   {sent: "a b", token: "not a token"},
		"cache hit, sane":   {sent: "warm-2", token: rig.token, keep: true},
		"cache hit, absent": {token: rig.token},
	} {
		t.Run(name, func(t *testing.T) {
			rig.logs.reset()
			h := map[string]string{}
			if tc.sent != "" {
				h["X-Request-Id"] = tc.sent
			}
			tok := tc.token
			if tok == "not a token" {
				tok = rig.token[:len(rig.token)/2] // a cut paste: refused before execution
			}
			status, header, body := rig.post(t, tok, q, map[string]any{"id": id}, h)
			got := header.Get("X-Request-Id")
			switch {
			case tc.keep && got != tc.sent:
				t.Errorf("header %q, want the client's %q", got, tc.sent)
			case !tc.keep && !generatedID.MatchString(got):
				t.Errorf("header %q, want a generated ID", got)
			}
			ext, _ := body["extensions"].(map[string]any)
			if ext["requestId"] != got {
				t.Errorf("extensions.requestId %v, header %q (status %d): %v", ext["requestId"], got, status, body)
			}
			recs := rig.logs.records(t)
			if len(recs) == 0 {
				t.Fatal("no log line")
			}
			for _, r := range recs {
				if r["request_id"] != got {
					t.Errorf("log line without the request's ID %q: %s", got, r["_line"])
				}
			}
		})
	}
}

// One access line per GraphQL request, at info: operation, status,
// outcome and codes, duration, upstream calls, cache hits, and whether the
// response cache answered.
func TestAccessLine(t *testing.T) {
	rig := newTraceRig(t, sdktrace.NeverSample(), nil)
	id := rig.sb.ContactIDs(rig.locA)[0]
	const q = `query Acc($id: ID!) { contact(id: $id) { id tasks { id } notes { id } } }`
	type want struct {
		status           float64
		outcome          string
		calls            float64
		minHits, maxHits float64
		responseCacheHit bool
		other            bool
	}
	for i, w := range []want{
		// cold: contact, tasks, notes; the contact's resolver prefetches
		// the lists, which their fields may then read from the cache
		{status: 200, outcome: "ok", calls: 3, maxHits: 2},
		{status: 200, outcome: "ok", calls: 0, responseCacheHit: true},              // warm: the response cache
		{status: 200, outcome: "ok", calls: 0, minHits: 3, maxHits: 5, other: true}, // another text: executed from cached answers
	} {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			rig.logs.reset()
			query := q
			if w.other {
				query = strings.ReplaceAll(q, " ", "  ")
			}
			status, _, body := rig.post(t, rig.token, query, map[string]any{"id": id}, nil)
			if status != 200 || body["errors"] != nil {
				t.Fatalf("%d %v", status, body)
			}
			var access []map[string]any
			for _, r := range rig.logs.records(t) {
				if r["msg"] == "graphql" {
					access = append(access, r)
				}
			}
			if len(access) != 1 {
				t.Fatalf("%d access lines, want 1", len(access))
			}
			a := access[0]
			hits, _ := a["cache_hits"].(float64)
			if a["level"] != "INFO" || a["operation"] != "Acc" || a["status"] != w.status || a["outcome"] != w.outcome ||
				a["upstream_calls"] != w.calls || hits < w.minHits || hits > w.maxHits ||
				(a["response_cache"] == "hit") != w.responseCacheHit || a["duration"] == nil {
				t.Errorf("access line %s, want %+v", a["_line"], w)
			}
		})
	}
	t.Run("error codes", func(t *testing.T) {
		rig.logs.reset()
		rig.post(t, rig.token, `query Missing { contact(id: "nosuchcontact00000000") { id } }`, nil, nil)
		for _, r := range rig.logs.records(t) {
			if r["msg"] == "graphql" && (r["outcome"] != "error" || r["codes"] != "NOT_FOUND:1" || r["upstream_calls"] != 1.0) {
				t.Errorf("access line %s", r["_line"])
			}
		}
	})
}

// No token, email, phone or name of the workload's contacts is in a log
// line at info or above, nor in any span's attributes, events or status;
// the duplicate look-up, which sends email and phone in the URL, included.
func TestNoPersonalDataInLogsOrSpans(t *testing.T) {
	rig := newTraceRig(t, sdktrace.AlwaysSample(), nil)
	f := rig.setup(t)
	c := rig.contact(t, f.contactID)
	rig.logs.reset()
	okAnswer := func(status int, _ http.Header, body map[string]any) {
		t.Helper()
		if status != http.StatusOK || body["errors"] != nil {
			t.Fatalf("%d %v", status, body)
		}
	}
	okAnswer(rig.post(t, rig.token, snapshotQuery, map[string]any{"id": f.contactID, "taskId": f.taskID, "noteId": f.noteID}, nil))
	okAnswer(rig.post(t, rig.token, `query Dup($e: String, $p: String) { byEmail: duplicateContact(email: $e) { id } byPhone: duplicateContact(phone: $p) { id } }`,
		map[string]any{"e": c.Email, "p": c.Phone}, nil))
	const newEmail, newPhone = "ada.lovelace@example.org", "+15550104242"
	okAnswer(rig.post(t, rig.token, `mutation Upd($id: ID!, $e: String, $p: String) { updateContact(id: $id, input: {email: $e, phone: $p}) { contact { id email } } }`,
		map[string]any{"id": f.contactID, "e": newEmail, "p": newPhone}, nil))
	rig.post(t, rig.token[:len(rig.token)-3], `query { contact(id: "x") { id } }`, nil, nil) // a token the upstream refuses

	secrets := []string{rig.token, rig.token[:len(rig.token)-3], c.Email, c.Phone, newEmail, newPhone}
	for _, s := range []string{c.FirstName, c.LastName, c.Name} {
		if len(s) >= 4 { // a short first name could match anything
			secrets = append(secrets, s)
		}
	}
	recs := rig.logs.records(t)
	info := 0
	for _, r := range recs {
		if r["level"] == "DEBUG" {
			continue
		}
		info++
		for _, s := range secrets {
			if s != "" && strings.Contains(r["_line"].(string), s) {
				t.Errorf("log line holds %q: %s", s, r["_line"])
			}
		}
	}
	if info < 4 {
		t.Errorf("%d lines at info, want the access lines at least", info)
	}
	spans := rig.spans.GetSpans().Snapshots()
	if len(spans) < 10 {
		t.Fatalf("%d spans", len(spans))
	}
	for _, sp := range spans {
		text := []string{sp.Name(), sp.Status().Description}
		for _, kv := range sp.Attributes() {
			text = append(text, kv.Value.Emit())
		}
		for _, ev := range sp.Events() {
			for _, kv := range ev.Attributes {
				text = append(text, kv.Value.Emit())
			}
		}
		all := strings.Join(text, "\n")
		for _, s := range secrets {
			if s != "" && strings.Contains(all, s) {
				t.Errorf("span %q holds %q: %s", sp.Name(), s, all)
			}
		}
	}
	// The duplicate look-up was traced, its query values redacted.
	found := false
	for _, sp := range spans {
		if v, _ := attr(sp, "url.full"); strings.Contains(v, "/contacts/search/duplicate?") {
			found = true
			if !strings.Contains(v, "REDACTED") {
				t.Errorf("url.full %q", v)
			}
		}
	}
	if !found {
		t.Error("no span of the duplicate look-up")
	}
}

// In managed mode (no pass-through credential middleware) the access line
// counts the upstream calls too, and neither the client's API key or JWT
// nor the install's tokens appear in a log line.
func TestAccessLineManaged(t *testing.T) {
	logs := &syncBuffer{}
	e, clients := newManagedE2EAt(t, nil, withServer(func(c *server.Config) {
		c.Logger = slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}))
	id := e.sb.ContactIDs(e.locA)[0]
	logs.reset()
	before := e.counters()
	e.send(request{token: clients.readKey, query: `query M($id: ID!) { contact(id: $id) { id tasks { id } } }`, vars: map[string]any{"id": id}}).ok(t)
	var calls float64
	for _, n := range e.moved(before) {
		calls += float64(n)
	}
	var access int
	for _, r := range logs.records(t) {
		for _, s := range []string{clients.readKey, clients.readJWT, clients.writeKey} {
			if strings.Contains(r["_line"].(string), s) {
				t.Errorf("log line holds a client credential: %s", r["_line"])
			}
		}
		if r["msg"] == "graphql" {
			access++
			if r["operation"] != "M" || r["upstream_calls"] != calls || calls == 0 || r["request_id"] != "e2e" {
				t.Errorf("access line %s, want %v upstream calls", r["_line"], calls)
			}
		}
	}
	if access != 1 {
		t.Errorf("%d access lines", access)
	}
}
