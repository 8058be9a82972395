// Package examples_test runs every examples/*.graphql document against the
// gateway in front of the in-process sandbox, step by step as its sibling
// .json file says, and checks each answer's shape, so the examples the
// README shows cannot rot.
//
// A .json file holds:
//
//	{"credential": "read-only" (optional; default read+write),
//	 "steps": [{"operation": "Name", "variables": {...},
//	            "save": {"name": "path"}, "expect": {"path": value}, "error": "CODE"}]}
//
// A string value "$name" in variables or expect is replaced by a saved
// value or one the harness provides: $contact (a contact of the token's
// location with a last activity) and $contactWithAppointments. An expected value "~string",
// "~datetime", "~list", "~nonempty" checks the kind only. A path is dotted;
// a number picks a list item, and name[$var] the item whose id is $var.
package examples_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ghl-graphql/gateway/server"
	"github.com/ghl-graphql/gateway/upstream"
	"github.com/ghl-graphql/gateway/upstream/sandbox"
)

type step struct {
	Operation string            `json:"operation"`
	Variables map[string]any    `json:"variables"`
	Save      map[string]string `json:"save"`
	Expect    map[string]any    `json:"expect"`
	Error     string            `json:"error"`
}

type script struct {
	Credential string `json:"credential"`
	Steps      []step `json:"steps"`
}

type answer struct {
	Data   map[string]any `json:"data"`
	Errors []struct {
		Message    string         `json:"message"`
		Extensions map[string]any `json:"extensions"`
	} `json:"errors"`
}

// gateway is a gateway in front of a fresh sandbox.
type gateway struct {
	url      string
	sb       *sandbox.Server
	loc      string
	rw, read string // tokens: read+write and read-only, of loc
}

func newGateway(t *testing.T) *gateway {
	t.Helper()
	sb, err := sandbox.New(sandbox.Config{Seed: 1, ContactsPerLocation: 20})
	if err != nil {
		t.Fatal(err)
	}
	up := httptest.NewServer(sb)
	t.Cleanup(up.Close)
	client, err := upstream.NewClient(upstream.WithBaseURL(up.URL))
	if err != nil {
		t.Fatal(err)
	}
	h, err := server.New(server.Config{Client: client})
	if err != nil {
		t.Fatal(err)
	}
	gw := httptest.NewServer(h)
	t.Cleanup(gw.Close)
	loc := sb.Locations()[0]
	return &gateway{url: gw.URL + server.GraphQLPath, sb: sb, loc: loc,
		rw: sb.DefaultToken(), read: sb.Token(loc, sandbox.ScopeContactsRead)}
}

func (g *gateway) do(t *testing.T, token, doc, op string, vars map[string]any) answer {
	t.Helper()
	body, err := json.Marshal(map[string]any{"query": doc, "operationName": op, "variables": vars})
	if err != nil {
		t.Fatal(err)
	}
	req, err := http.NewRequest(http.MethodPost, g.url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	var a answer
	if err := json.Unmarshal(raw, &a); err != nil {
		t.Fatalf("%s: status %d, not JSON: %s", op, resp.StatusCode, raw)
	}
	return a
}

// contactWithActivity returns a contact of loc with a last activity, as a
// CRM view's example wants one.
func (g *gateway) contactWithActivity(t *testing.T) string {
	t.Helper()
	for _, id := range g.sb.ContactIDs(g.loc) {
		if c, ok := g.sb.Contact(id); ok && c.LastActivity != "" {
			return id
		}
	}
	t.Fatal("no sandbox contact has a last activity")
	return ""
}

// contactWithAppointments returns a contact of loc with at least one
// appointment, asked through the gateway.
func (g *gateway) contactWithAppointments(t *testing.T) string {
	t.Helper()
	for _, id := range g.sb.ContactIDs(g.loc) {
		a := g.do(t, g.rw, `query($id: ID!) { contact(id: $id) { appointments { id } } }`, "", map[string]any{"id": id})
		if l, _ := dig(a.Data, "contact.appointments", nil); len(asList(l)) > 0 {
			return id
		}
	}
	t.Fatal("no sandbox contact has an appointment")
	return ""
}

func TestExamples(t *testing.T) {
	docs, err := filepath.Glob("*.graphql")
	if err != nil || len(docs) == 0 {
		t.Fatalf("no examples: %v", err)
	}
	g := newGateway(t)
	base := map[string]any{
		"contact":                 g.contactWithActivity(t),
		"contactWithAppointments": g.contactWithAppointments(t),
	}
	for _, doc := range docs {
		name := strings.TrimSuffix(doc, ".graphql")
		t.Run(name, func(t *testing.T) {
			text, err := os.ReadFile(doc)
			if err != nil {
				t.Fatal(err)
			}
			raw, err := os.ReadFile(name + ".json")
			if err != nil {
				t.Fatalf("every example has its steps beside it: %v", err)
			}
			var s script
			dec := json.NewDecoder(bytes.NewReader(raw))
			dec.DisallowUnknownFields()
			if err := dec.Decode(&s); err != nil || len(s.Steps) == 0 {
				t.Fatalf("%s.json: %v (%d steps)", name, err, len(s.Steps))
			}
			token := g.rw
			switch s.Credential {
			case "":
			case "read-only":
				token = g.read
			default:
				t.Fatalf("unknown credential %q", s.Credential)
			}
			vars := map[string]any{}
			for k, v := range base {
				vars[k] = v
			}
			ran := map[string]bool{}
			for i, st := range s.Steps {
				if !strings.Contains(string(text), st.Operation) {
					t.Fatalf("step %d: operation %s is not in %s", i, st.Operation, doc)
				}
				ran[st.Operation] = true
				a := g.do(t, token, string(text), st.Operation, substitute(t, st.Variables, vars).(map[string]any))
				if st.Error != "" {
					if len(a.Errors) == 0 || a.Errors[0].Extensions["code"] != st.Error {
						t.Fatalf("step %d %s: want error %s, got %+v", i, st.Operation, st.Error, a.Errors)
					}
					if a.Data != nil && !allNull(a.Data) {
						t.Fatalf("step %d %s: refused write still has data %v", i, st.Operation, a.Data)
					}
					continue
				}
				if len(a.Errors) > 0 {
					t.Fatalf("step %d %s: errors %+v", i, st.Operation, a.Errors)
				}
				for path, want := range st.Expect {
					got, ok := dig(a.Data, path, vars)
					if !ok {
						t.Errorf("step %d %s: no %s in %v", i, st.Operation, path, a.Data)
						continue
					}
					if err := match(got, substitute(t, want, vars)); err != nil {
						t.Errorf("step %d %s: %s: %v", i, st.Operation, path, err)
					}
				}
				for k, path := range st.Save {
					v, ok := dig(a.Data, path, vars)
					if !ok || v == nil {
						t.Fatalf("step %d %s: nothing at %s to save", i, st.Operation, path)
					}
					vars[k] = v
				}
			}
			// Every operation of a document is shown to work.
			for _, line := range strings.Split(string(text), "\n") {
				f := strings.Fields(line)
				if len(f) >= 2 && (f[0] == "query" || f[0] == "mutation") {
					op := strings.FieldsFunc(f[1], func(r rune) bool { return r == '(' || r == '{' })[0]
					if !ran[op] {
						t.Errorf("operation %s of %s is run by no step", op, doc)
					}
				}
			}
		})
	}
}

func allNull(m map[string]any) bool {
	for _, v := range m {
		if v != nil {
			return false
		}
	}
	return true
}

// substitute replaces "$name" strings in v with vars' values.
func substitute(t *testing.T, v any, vars map[string]any) any {
	t.Helper()
	switch v := v.(type) {
	case string:
		if strings.HasPrefix(v, "$") {
			got, ok := vars[v[1:]]
			if !ok {
				t.Fatalf("no value for %s", v)
			}
			return got
		}
		return v
	case map[string]any:
		out := make(map[string]any, len(v))
		for k, e := range v {
			out[k] = substitute(t, e, vars)
		}
		return out
	case []any:
		out := make([]any, len(v))
		for i, e := range v {
			out[i] = substitute(t, e, vars)
		}
		return out
	case nil:
		return map[string]any{}
	}
	return v
}

func asList(v any) []any { l, _ := v.([]any); return l }

// dig follows path into v.
func dig(v any, path string, vars map[string]any) (any, bool) {
	for _, seg := range strings.Split(path, ".") {
		key, sel := seg, ""
		if i := strings.IndexByte(seg, '['); i >= 0 && strings.HasSuffix(seg, "]") {
			key, sel = seg[:i], seg[i+1:len(seg)-1]
		}
		if n, err := strconv.Atoi(key); err == nil {
			l := asList(v)
			if n >= len(l) {
				return nil, false
			}
			v = l[n]
		} else {
			m, ok := v.(map[string]any)
			if !ok {
				return nil, false
			}
			if v, ok = m[key]; !ok {
				return nil, false
			}
		}
		if sel != "" {
			want := vars[strings.TrimPrefix(sel, "$")]
			found := false
			for _, item := range asList(v) {
				if m, ok := item.(map[string]any); ok && m["id"] == want {
					v, found = item, true
					break
				}
			}
			if !found {
				return nil, false
			}
		}
	}
	return v, true
}

// match checks got against want: a kind ("~string", ...) or a value.
func match(got, want any) error {
	if w, ok := want.(string); ok && strings.HasPrefix(w, "~") {
		switch w {
		case "~string":
			if s, ok := got.(string); !ok || s == "" {
				return fmt.Errorf("got %v, want a string", got)
			}
		case "~datetime":
			s, _ := got.(string)
			if _, err := time.Parse(time.RFC3339, s); err != nil {
				return fmt.Errorf("got %v, want an RFC 3339 instant", got)
			}
		case "~list":
			if _, ok := got.([]any); !ok {
				return fmt.Errorf("got %v, want a list", got)
			}
		case "~nonempty":
			if len(asList(got)) == 0 {
				return fmt.Errorf("got %v, want a non-empty list", got)
			}
		default:
			return fmt.Errorf("unknown kind %s", w)
		}
		return nil
	}
	if !reflect.DeepEqual(got, want) {
		return fmt.Errorf("got %#v, want %#v", got, want)
	}
	return nil
}
