// Tests of the first ten minutes (issue 17): configuration errors, the
// README's flag table, help texts, and the binary's start-up output used
// as a new user would (the printed curl line, managed mode against the
// sandbox end to end, start-up warnings).

package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ghl-graphql/gateway/server"
)

func TestConfigErrorsOneLineSorted(t *testing.T) {
	args := []string{"-rate-max", "0", "-max-body-bytes", "lots", "-addr", "nonsense", "-nope", "-max-tags", "0",
		"-log-level", "loud", "-breaker-failure-ratio", "2", "-sandbox-fault-kinds", "meteor", "-write-timeout", "-1s"}
	environ := map[string]string{"GATEWAY_UPSTREAM_TIMEOUT": "soon", "GATEWAY_MAX_FILTERS": "0",
		"GATEWAY_AUTH_MODE": "managed", "GATEWAY_SANDBOX_TOKEN_LIFETIME": "2m"}
	want := []string{"-rate-max", "-max-body-bytes", "-addr", "-nope", "-max-tags", "-log-level", "-breaker-failure-ratio",
		"-sandbox-fault-kinds", "-write-timeout", "GATEWAY_UPSTREAM_TIMEOUT", "-max-filters", "-sandbox-token-lifetime"}
	var first []string
	for run := range 20 { // map-ordered checks: the same order every time
		_, err := parseConfig(args, env(environ), devNull(t))
		var ce *configError
		if !errors.As(err, &ce) {
			t.Fatalf("err = %v (%T), want a *configError", err, err)
		}
		if run == 0 {
			first = ce.problems
			continue
		}
		if !slices.Equal(ce.problems, first) {
			t.Fatalf("run %d: order changed:\n%s\nthen\n%s", run, strings.Join(first, "\n"), strings.Join(ce.problems, "\n"))
		}
	}
	if !slices.IsSorted(first) {
		t.Errorf("not sorted:\n%s", strings.Join(first, "\n"))
	}
	for _, w := range want {
		n := 0
		for _, p := range first {
			if strings.HasPrefix(p, w+" ") || strings.HasPrefix(p, w+":") || strings.Contains(p, "("+w+")") {
				n++
			}
		}
		if n == 0 {
			t.Errorf("no problem names %s:\n%s", w, strings.Join(first, "\n"))
		}
	}
	for _, p := range first {
		if strings.Contains(p, "\n") || strings.Contains(p, "Usage") {
			t.Errorf("problem %q is not one line of its own", p)
		}
	}
	if len(first) != len(want) {
		t.Errorf("%d problems, want %d:\n%s", len(first), len(want), strings.Join(first, "\n"))
	}

	// What the user sees: one line each, then the hint.
	var out bytes.Buffer
	printConfigError(&out, &configError{problems: first})
	lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	if len(lines) != len(first)+1 || lines[len(lines)-1] != "gateway: "+configHint {
		t.Errorf("printed:\n%s", out.String())
	}

	// -h still prints the whole usage, and says so with ErrHelp.
	f, err := os.CreateTemp(t.TempDir(), "usage")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := parseConfig([]string{"-h"}, env(nil), f); !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("-h: %v", err)
	}
	usage, _ := os.ReadFile(f.Name())
	if !bytes.Contains(usage, []byte("-sandbox-token-lifetime")) || !bytes.Contains(usage, []byte("GATEWAY_UPSTREAM_URL")) {
		t.Errorf("usage:\n%s", usage)
	}
}

// The sandbox's help texts name its flags as the gateway spells them.
func TestSandboxFlagHelp(t *testing.T) {
	var cfg config
	fs := newFlagSet(&cfg)
	var names []string
	fs.VisitAll(func(f *flag.Flag) {
		if n, ok := strings.CutPrefix(f.Name, "sandbox-"); ok {
			names = append(names, regexp.QuoteMeta(n))
		}
	})
	bare := regexp.MustCompile(`(^|[^\w-])-(` + strings.Join(names, "|") + `)\b`)
	fs.VisitAll(func(f *flag.Flag) {
		if strings.HasPrefix(f.Name, "sandbox-") && bare.MatchString(f.Usage) {
			t.Errorf("-%s: %q names a flag without its sandbox- prefix", f.Name, f.Usage)
		}
	})
	for name, want := range map[string]string{"sandbox-jitter": "-sandbox-latency", "sandbox-rate-max": "-sandbox-rate-interval"} {
		if u := fs.Lookup(name).Usage; !strings.Contains(u, want) {
			t.Errorf("-%s: %q lacks %s", name, u, want)
		}
	}
	if got := sandboxUsage("calls per -rate-interval, see -rate-max and -rate; not-a-flag", []string{"rate-interval", "rate-max"}); got != "calls per -sandbox-rate-interval, see -sandbox-rate-max and -rate; not-a-flag" {
		t.Errorf("sandboxUsage: %q", got)
	}
}

// readmeFlagRows returns, for each flag named in README.md's configuration
// table, the default the table gives it ("" for *(empty)*/*(unset)*).
func readmeFlagRows(t *testing.T) map[string]string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	rows := map[string]string{}
	for _, line := range strings.Split(string(b), "\n") {
		if !strings.HasPrefix(line, "| `-") {
			continue
		}
		cells := strings.Split(line, " | ")
		if len(cells) < 3 {
			t.Errorf("README row %q: want | flags | defaults | meaning |", line)
			continue
		}
		flags := strings.Split(strings.TrimPrefix(cells[0], "| "), ", ")
		defaults := strings.Split(cells[1], ", ")
		if len(defaults) != len(flags) {
			t.Errorf("README row of %s: %d flags and %d defaults (give one per flag, *(empty)* for none)", cells[0], len(flags), len(defaults))
			continue
		}
		for i, f := range flags {
			d := strings.TrimSpace(defaults[i])
			if d == "*(empty)*" || d == "*(unset)*" {
				d = ""
			} else if strings.HasPrefix(d, "`") && strings.HasSuffix(d, "`") && len(d) >= 2 {
				d = d[1 : len(d)-1]
			} else {
				t.Errorf("README default %q of %s: want `value` or *(empty)*", d, f)
			}
			rows[strings.Trim(f, "`-")] = d
		}
	}
	return rows
}

// Every flag is in README.md's configuration table with its real default,
// and the table names no flag that does not exist.
func TestREADMEFlagTable(t *testing.T) {
	rows := readmeFlagRows(t)
	var cfg config
	fs := newFlagSet(&cfg)
	fs.VisitAll(func(f *flag.Flag) {
		d, ok := rows[f.Name]
		if !ok {
			t.Errorf("-%s (default %q) is not in README.md's configuration table", f.Name, f.DefValue)
			return
		}
		if !sameDefault(f, d) {
			t.Errorf("README.md gives -%s the default %q; it is %q", f.Name, d, f.DefValue)
		}
	})
	for name := range rows {
		if fs.Lookup(name) == nil {
			t.Errorf("README.md's table names -%s, which is no flag", name)
		}
	}
}

// sameDefault compares a README default with the flag's, durations and
// numbers by value (the README writes 1m for 1m0s).
func sameDefault(f *flag.Flag, readme string) bool {
	if readme == f.DefValue {
		return true
	}
	g, ok := f.Value.(flag.Getter)
	if !ok {
		return false
	}
	switch v := g.Get().(type) {
	case time.Duration:
		d, err := time.ParseDuration(readme)
		return err == nil && d == v
	case float64:
		x, err := strconv.ParseFloat(readme, 64)
		return err == nil && x == v
	}
	return false
}

// shellWords splits a POSIX shell command line of words, single quotes,
// double quotes and backslashes, what the printed lines use, expanding
// $NAME from vars outside single quotes as a shell does.
func shellWords(line string, vars map[string]string) ([]string, error) {
	expand := func(i int, cur *strings.Builder) int { // line[i] == '$'
		j := i + 1
		for j < len(line) && (line[j] == '_' || 'A' <= line[j] && line[j] <= 'Z' || 'a' <= line[j] && line[j] <= 'z' || '0' <= line[j] && line[j] <= '9') {
			j++
		}
		cur.WriteString(vars[line[i+1:j]])
		return j - 1
	}
	var words []string
	var cur strings.Builder
	inWord := false
	for i := 0; i < len(line); i++ {
		c := line[i]
		switch {
		case c == '\'':
			j := strings.IndexByte(line[i+1:], '\'')
			if j < 0 {
				return nil, errors.New("unterminated single quote")
			}
			cur.WriteString(line[i+1 : i+1+j])
			i += j + 1
			inWord = true
		case c == '"':
			i++
			for ; i < len(line) && line[i] != '"'; i++ {
				if line[i] == '$' {
					i = expand(i, &cur)
					continue
				}
				if line[i] == '\\' && i+1 < len(line) {
					i++
				}
				cur.WriteByte(line[i])
			}
			if i >= len(line) {
				return nil, errors.New("unterminated double quote")
			}
			inWord = true
		case c == '$':
			i = expand(i, &cur)
			inWord = true
		case c == '\\' && i+1 < len(line):
			i++
			cur.WriteByte(line[i])
			inWord = true
		case c == ' ' || c == '\t':
			if inWord {
				words = append(words, cur.String())
				cur.Reset()
				inWord = false
			}
		default:
			cur.WriteByte(c)
			inWord = true
		}
	}
	if inWord {
		words = append(words, cur.String())
	}
	return words, nil
}

// curlRequest builds the request a printed curl line sends: curl -s URL
// -H 'Name: value'... -d 'body' (a POST, as curl makes one of -d).
func curlRequest(t *testing.T, line string, vars map[string]string) *http.Request {
	t.Helper()
	words, err := shellWords(line, vars)
	if err != nil || len(words) < 2 || words[0] != "curl" {
		t.Fatalf("not a curl line (%v): %s", err, line)
	}
	var url, body string
	header := http.Header{}
	for i := 1; i < len(words); i++ {
		switch w := words[i]; w {
		case "-s":
		case "-H":
			i++
			k, v, ok := strings.Cut(words[i], ":")
			if !ok {
				t.Fatalf("header %q", words[i])
			}
			header.Add(strings.TrimSpace(k), strings.TrimSpace(v))
		case "-d":
			i++
			body = words[i]
		default:
			if strings.HasPrefix(w, "-") || url != "" {
				t.Fatalf("curl option %q the test does not know", w)
			}
			url = w
		}
	}
	req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header = header
	return req
}

// wantFullSnapshot checks the answer to the snapshot of one contact: no
// error, and its tasks, notes and appointments all non-empty.
func wantFullSnapshot(t *testing.T, req *http.Request, contactID string) {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct {
		Data struct {
			Contact map[string]any `json:"contact"`
		} `json:"data"`
		Errors []any `json:"errors"`
	}
	b, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(b, &out); err != nil || resp.StatusCode != http.StatusOK || out.Errors != nil {
		t.Fatalf("status %d, %v: %s", resp.StatusCode, err, b)
	}
	c := out.Data.Contact
	if c["id"] != contactID || c["name"] == nil {
		t.Fatalf("contact %v, want %s", c, contactID)
	}
	for _, list := range []string{"tasks", "notes", "appointments"} {
		if items, _ := c[list].([]any); len(items) == 0 {
			t.Errorf("the example contact's %s are empty: %s", list, b)
		}
	}
}

// graphqlAnswer posts query with the Authorization header and returns the
// status and the first error's code and message.
func graphqlAnswer(t *testing.T, endpoint, authorization, query string) (int, string, string) {
	t.Helper()
	body, _ := json.Marshal(map[string]string{"query": query})
	req, _ := http.NewRequest(http.MethodPost, endpoint, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", authorization)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&out)
	code, msg := gqlError(out)
	return resp.StatusCode, code, msg
}

// bannerLines reads stdout until n lines starting with prefix (after
// indentation) have been seen, and returns them without the prefix.
func (p *proc) bannerLines(t *testing.T, prefix string, n int) []string {
	t.Helper()
	var got []string
	deadline := time.After(30 * time.Second)
	for len(got) < n {
		select {
		case line, ok := <-p.lines:
			if !ok {
				<-p.done
				t.Fatalf("exited (%v) before %d %q lines; stderr:\n%s", p.err, n, prefix, p.stderr)
			}
			if rest, has := strings.CutPrefix(strings.TrimSpace(line), prefix); has {
				got = append(got, strings.TrimSpace(rest))
			}
		case <-deadline:
			t.Fatalf("only %d %q lines; stderr:\n%s", len(got), prefix, p.stderr)
		}
	}
	return got
}

// The printed curl line of each sandbox location, run as it is, gets the
// full snapshot of a contact with tasks, notes and appointments; a cut or
// quoted paste of its token is told apart from a token HighLevel rejects.
func TestBinaryFirstRun(t *testing.T) {
	bin := buildGateway(t)
	p := start(t, bin, nil, "-addr", "127.0.0.1:0")
	endpoint := p.waitLines(t, "GraphQL endpoint:")["GraphQL endpoint:"]
	curls := p.bannerLines(t, "curl:", 2) // the sandbox's two locations
	idRE := regexp.MustCompile(`"id":"([^"]+)"`)
	var token string
	for i, line := range curls {
		if !strings.Contains(line, endpoint) {
			t.Errorf("curl line %d does not call %s: %s", i, endpoint, line)
		}
		m := idRE.FindStringSubmatch(line)
		if m == nil {
			t.Fatalf("curl line %d names no contact: %s", i, line)
		}
		req := curlRequest(t, line, nil)
		wantFullSnapshot(t, req, m[1])
		if i == 0 {
			token = strings.TrimPrefix(req.Header.Get("Authorization"), "Bearer ")
		}
	}

	// Pastes gone wrong, and a token HighLevel (the sandbox) rejects.
	query := `{ contacts(first: 1) { totalCount } }`
	forged := token[:len(token)-4] + "AAAA"
	for name, tc := range map[string]struct {
		auth, want string
		status     int
	}{
		"cut":               {auth: "Bearer " + token[:len(token)/2], want: "cut when pasted", status: http.StatusUnauthorized},
		"cut at a dot":      {auth: "Bearer " + token[:strings.LastIndex(token, ".")], want: "cut when pasted", status: http.StatusUnauthorized},
		"quoted":            {auth: `Bearer "` + token + `"`, want: "in quotes", status: http.StatusUnauthorized},
		"line break inside": {auth: "Bearer " + token[:100] + " " + token[100:], want: "whitespace inside", status: http.StatusUnauthorized},
		"no Bearer":         {auth: token, want: `"Bearer <token>"`, status: http.StatusUnauthorized},
		"rejected":          {auth: "Bearer " + forged, want: "HighLevel rejected the token", status: http.StatusOK},
	} {
		status, code, msg := graphqlAnswer(t, endpoint, tc.auth, query)
		if status != tc.status || code != "UNAUTHENTICATED" || !strings.Contains(msg, tc.want) {
			t.Errorf("%s: %d %s %q, want %d UNAUTHENTICATED with %q", name, status, code, msg, tc.status, tc.want)
		}
		if name != "rejected" && !strings.Contains(msg, "not sent to HighLevel") {
			t.Errorf("%s: %q does not say HighLevel was not asked", name, msg)
		}
		if strings.Contains(msg, "locationId is required") {
			t.Errorf("%s: the misleading message is back: %q", name, msg)
		}
	}

	// The start-up output names GraphiQL; the request log has one info line
	// per GraphQL request with its outcome.
	resp, err := http.Get(strings.TrimSuffix(endpoint, server.GraphQLPath) + "/")
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{`"tabs":[`, "contact(id: $id)", "mutation CreateTask", "query Search", "subscription TaskChanged", "endCursor"} {
		if !bytes.Contains(page, []byte(want)) && !bytes.Contains(page, []byte(strings.ReplaceAll(want, `"`, `\u0022`))) {
			t.Errorf("GraphiQL's page lacks %q", want)
		}
	}
	logs := p.stderr.String()
	if !strings.Contains(logs, "msg=graphql") || !strings.Contains(logs, "outcome=ok") || !strings.Contains(logs, "codes=UNAUTHENTICATED:1") {
		t.Errorf("no graphql lines with outcomes at info:\n%s", logs)
	}
	if strings.Contains(logs, "path=/ ") {
		t.Errorf("GraphiQL's page is logged at info:\n%s", logs)
	}
}

// Settings that make the gateway refuse everything are warned of at start.
func TestBinaryRefuseAllWarning(t *testing.T) {
	bin := buildGateway(t)
	empty := filepath.Join(t.TempDir(), "ops.json")
	if err := os.WriteFile(empty, []byte("[]"), 0o600); err != nil {
		t.Fatal(err)
	}
	p := start(t, bin, nil, "-addr", "127.0.0.1:0", "-persisted-operations", empty)
	p.waitLines(t, "GraphQL endpoint:")
	if logs := p.stderr.String(); !strings.Contains(logs, "level=WARN") || !strings.Contains(logs, "persisted-operations list is empty") {
		t.Errorf("no warning of the empty allow-list:\n%s", logs)
	}
}

// A bad setting is one line, all of them at once, sorted, with a hint —
// not the usage.
func TestBinaryConfigErrors(t *testing.T) {
	bin := buildGateway(t)
	cmd := exec.Command(bin, "-addr", "127.0.0.1:0", "-rate-max", "0", "-max-tags", "many", "-log-format", "xml")
	cmd.Env = cleanEnv("GATEWAY_MAX_DEPTH_NOPE=1", "GATEWAY_UPSTREAM_TIMEOUT=soon")
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 2 {
		t.Fatalf("err %v, want exit 2:\n%s", err, out)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	want := []string{"-log-format", "-max-tags", "-rate-max", "-upstream-timeout (GATEWAY_UPSTREAM_TIMEOUT) \"soon\""}
	if len(lines) != len(want)+1 {
		t.Fatalf("%d lines, want %d:\n%s", len(lines), len(want)+1, out)
	}
	for i, l := range lines[:len(want)] {
		if !strings.HasPrefix(l, "gateway: ") || !strings.Contains(l, want[i]) {
			t.Errorf("line %d %q, want one naming %s", i, l, want[i])
		}
	}
	if !strings.Contains(lines[len(lines)-1], "gateway -h") {
		t.Errorf("no hint: %q", lines[len(lines)-1])
	}

	// gateway sandbox the same way.
	cmd = exec.Command(bin, "sandbox", "-contacts", "many", "-nope")
	cmd.Env = cleanEnv()
	out, _ = cmd.CombinedOutput()
	want = []string{"gateway: -contacts \"many\": invalid value", "gateway: -nope: no such flag", "gateway: run 'gateway sandbox -h'"}
	if lines = strings.Split(strings.TrimSpace(string(out)), "\n"); len(lines) != len(want) {
		t.Fatalf("gateway sandbox: %d lines:\n%s", len(lines), out)
	}
	for i, w := range want {
		if !strings.HasPrefix(lines[i], w) {
			t.Errorf("gateway sandbox line %d %q, want %q…", i, lines[i], w)
		}
	}
}

// Managed mode in one command against the embedded sandbox, as the README
// walks through it: install the app through the sandbox's consent page,
// create a key with `gateway keys create`, query with it, and see the
// tokens refreshed.
func TestBinaryManagedSandbox(t *testing.T) {
	bin := buildGateway(t)
	dir := t.TempDir()
	keys := filepath.Join(dir, "keys.json")
	// Access tokens live 3 s longer than the 5 minutes before expiry in
	// which the gateway replaces them: a few seconds after the install the
	// gateway refreshes, and the new token is good.
	p := start(t, bin, nil, "-addr", "127.0.0.1:0", "-auth-mode", "managed", "-keys-file", keys,
		"-sandbox-token-lifetime", "5m3s", "-sandbox-contacts", "10")
	endpoint := p.waitLines(t, "GraphQL endpoint:")["GraphQL endpoint:"]
	base := strings.TrimSuffix(endpoint, server.GraphQLPath)
	install := p.bannerLines(t, "1. Install the app: open", 1)[0]
	createLine := p.bannerLines(t, "2. Create a key:", 1)[0]
	curl := "curl -s " + p.bannerLines(t, "curl -s", 1)[0]
	if !strings.HasPrefix(install, base+"/oauth/install") {
		t.Fatalf("install step %q, want %s/oauth/install", install, base)
	}
	// Before the install the key step's location is not yet installed.
	loc := regexp.MustCompile(`-location (\S+)`).FindStringSubmatch(createLine)
	if loc == nil {
		t.Fatalf("create step names no location: %s", createLine)
	}

	// 1. The admin's browser: the install redirects to the sandbox's
	// consent page, which lists the locations; choosing one comes back to
	// the gateway's callback.
	jar, _ := cookiejar.New(nil)
	browser := &http.Client{Jar: jar, Timeout: 30 * time.Second}
	resp, err := browser.Get(strings.Fields(install)[0])
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	consent := resp.Request.URL
	links := regexp.MustCompile(`href="([^"]+location=` + regexp.QuoteMeta(loc[1]) + `[^"]*)"`).FindSubmatch(page)
	if resp.StatusCode != http.StatusOK || links == nil {
		t.Fatalf("consent page %s: %d\n%s", consent, resp.StatusCode, page)
	}
	resp, err = browser.Get(consent.Scheme + "://" + consent.Host + html.UnescapeString(string(links[1])))
	if err != nil {
		t.Fatal(err)
	}
	done, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Request.URL.Path != "/oauth/callback" {
		t.Fatalf("callback %s: %d %s; stderr:\n%s", resp.Request.URL, resp.StatusCode, done, p.stderr)
	}

	// 2. The key, with the command the banner printed.
	words, err := shellWords(strings.Replace(createLine, "go run ./cmd/gateway", bin, 1), nil)
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(words[0], words[1:]...).Output()
	if err != nil {
		t.Fatalf("%s: %v", createLine, err)
	}
	key := regexp.MustCompile(`(?m)^key: (gk_\S+)$`).FindSubmatch(out)
	if key == nil {
		t.Fatalf("no key printed:\n%s", out)
	}

	// 3. The printed curl line with the key: the full snapshot, through a
	// refreshed access token.
	m := regexp.MustCompile(`"id":"([^"]+)"`).FindStringSubmatch(curl)
	if m == nil {
		t.Fatalf("curl line names no contact: %s", curl)
	}
	// The running gateway notices the new key within keys.ReloadInterval.
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		status, code, msg := graphqlAnswer(t, endpoint, "Bearer "+string(key[1]), `{ __typename }`)
		if status == http.StatusOK && code == "" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the key is still refused: %d %s %s", status, code, msg)
		}
	}
	wantFullSnapshot(t, curlRequest(t, curl, map[string]string{"KEY": string(key[1])}), m[1])
	// Query until the gateway has refreshed (bounded by a deadline, no
	// timing asserted); every answer must be whole.
	for deadline := time.Now().Add(30 * time.Second); !strings.Contains(p.stderr.String(), "oauth: access token refreshed"); time.Sleep(250 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("no refresh; stderr:\n%s", p.stderr)
		}
		req := curlRequest(t, curl, map[string]string{"KEY": string(key[1])})
		req.Header.Set("Cache-Control", "no-cache") // to HighLevel each time, with the install's token
		wantFullSnapshot(t, req, m[1])
	}
	wantFullSnapshot(t, curlRequest(t, curl, map[string]string{"KEY": string(key[1])}), m[1])
	if !strings.Contains(p.stderr.String(), "oauth: installed") {
		t.Errorf("no install logged; stderr:\n%s", p.stderr)
	}
	logs := p.stderr.String()
	for _, want := range []string{"generated for this run", "-oauth-store-key", "-oauth-state-key", "no gateway API key"} {
		if !strings.Contains(logs, want) {
			t.Errorf("start-up logs lack %q:\n%s", want, logs)
		}
	}
	sc := bufio.NewScanner(strings.NewReader(p.stderr.String()))
	refreshed := 0
	for sc.Scan() {
		if strings.Contains(sc.Text(), "oauth: access token refreshed") {
			refreshed++
		}
	}
	if refreshed == 0 || !strings.Contains(p.stderr.String(), "oauth: installed") {
		t.Errorf("install %v, %d refreshes; stderr:\n%s", strings.Contains(p.stderr.String(), "oauth: installed"), refreshed, p.stderr)
	}

	// A made-up key gets no data; a HighLevel token is told why it is refused.
	if status, code, _ := graphqlAnswer(t, endpoint, "Bearer gk_nope", `{ contact(id: "x") { id } }`); status == http.StatusOK && code == "" {
		t.Errorf("a made-up key was served: %d %s", status, code)
	}
	jwt := "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJhdXRoQ2xhc3MiOiJMb2NhdGlvbiIsImF1dGhDbGFzc0lkIjoibG9jMSJ9.c2ln"
	if _, code, msg := graphqlAnswer(t, endpoint, "Bearer "+jwt, `{ contact(id: "x") { id } }`); code != "UNAUTHENTICATED" || !strings.Contains(msg, "this is a HighLevel token") {
		t.Errorf("a HighLevel token in managed mode: %s %q", code, msg)
	}
}

// The README names the exact Go version go.mod requires.
func TestREADMEGoVersion(t *testing.T) {
	mod, err := os.ReadFile(filepath.Join("..", "..", "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^go (\S+)$`).FindSubmatch(mod)
	if m == nil {
		t.Fatal("go.mod has no go line")
	}
	readme, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	if want := "Requires **Go " + string(m[1]) + "**"; !bytes.Contains(readme, []byte(want)) {
		t.Errorf("README.md does not say %q", want)
	}
}
