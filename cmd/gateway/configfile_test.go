package main

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// writeConfigFile writes a configuration file into a temporary directory.
func writeConfigFile(t *testing.T, text string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "gateway.yaml")
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// effective is every flag's value, the state a configuration is.
func effective(c *config) map[string]string {
	out := map[string]string{}
	c.file.fs.VisitAll(func(f *flag.Flag) {
		if f.Name != configFileFlag {
			out[f.Name] = f.Value.String()
		}
	})
	return out
}

// printed is config print's output of c.
func printed(t *testing.T, c *config, mask bool) string {
	t.Helper()
	var b bytes.Buffer
	if err := printEffectiveConfig(&b, c, mask); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// nonDefault returns a value of f's kind other than its default, chosen to
// stress the YAML encoding (strings with quotes, colons, #, newlines,
// unicode, and texts YAML would read as other types), or "" when f's
// parser takes none of them.
func nonDefault(f *flag.Flag) string {
	switch flagKind(f) {
	case kindBool:
		b, _ := strconv.ParseBool(f.DefValue)
		return strconv.FormatBool(!b)
	case kindInt:
		n, _ := strconv.ParseInt(f.DefValue, 10, 64)
		return strconv.FormatInt(n+7, 10)
	case kindFloat:
		x, _ := strconv.ParseFloat(f.DefValue, 64)
		return strconv.FormatFloat(x+0.125, 'g', -1, 64)
	case kindDuration:
		d, _ := time.ParseDuration(f.DefValue)
		return (d + 1500*time.Millisecond).String()
	}
	for _, s := range []string{
		"a \"quoted\": value # not a comment\n\tline two ü €", "true", "0123", "null", " lead", "slow,drop", "a,b",
	} {
		if s != f.DefValue && f.Value.Set(s) == nil {
			_ = f.Value.Set(f.DefValue)
			return s
		}
	}
	return ""
}

// Every flag, set to a value other than its default, survives config
// print → file → -config unchanged: the encoding round trip, over the
// whole flag set (so a flag added tomorrow is covered).
func TestConfigFileRoundTripEveryFlag(t *testing.T) {
	src := &config{}
	fs := newFlagSet(src)
	src.file.fs, src.file.sources = fs, map[string]string{}
	want := map[string]string{}
	fs.VisitAll(func(f *flag.Flag) {
		if f.Name == configFileFlag {
			return
		}
		v := nonDefault(f)
		if v == "" {
			t.Errorf("-%s: none of nonDefault's test values is accepted by its parser (default %q): add one there", f.Name, f.DefValue)
			return
		}
		if err := fs.Set(f.Name, v); err != nil {
			t.Fatalf("-%s %q: %v", f.Name, v, err)
		}
		src.file.sources[f.Name] = fromFlag
		want[f.Name] = f.Value.String()
	})
	text := printed(t, src, false)
	path := writeConfigFile(t, text)

	dst := &config{}
	dfs := newFlagSet(dst)
	dst.file.path = path
	if err := dst.applySources(dfs, env(nil)); err != nil {
		t.Fatalf("reading the printed file back: %v\n%s", err, text)
	}
	got := effective(dst)
	for name, w := range want {
		if got[name] != w {
			t.Errorf("%s: printed %q, read back %q", name, w, got[name])
		}
		if dst.file.sources[name] != fromFile {
			t.Errorf("%s: source %q, want %q", name, dst.file.sources[name], fromFile)
		}
	}
	if len(want) < 100 {
		t.Errorf("only %d flags round-tripped; the flag set has more", len(want))
	}
}

// A realistic configuration, from flags and the environment with secrets,
// printed masked, written to a file and read back with the same secrets in
// the environment, is the same effective configuration with the same
// explicitly set settings.
func TestConfigFileRoundTripValidated(t *testing.T) {
	environ := map[string]string{
		"GATEWAY_OAUTH_CLIENT_SECRET": "s3cret-client",
		"GATEWAY_OAUTH_STORE_KEY":     strings.Repeat("ab", 32),
		"GATEWAY_OAUTH_STATE_KEY":     strings.Repeat("cd", 32),
		"GATEWAY_RATE_MAX":            "50",
	}
	args := []string{"-addr", "0.0.0.0:9090", "-auth-mode", "managed", "-upstream-url", "https://services.leadconnectorhq.com/",
		"-oauth-client-id", "app-1", "-oauth-redirect-url", "https://gw.example.com/oauth/callback",
		"-cors-origins", "https://app.example.com", "-breaker-failure-ratio", "0.25", "-subscriptions=false", "-cache-list-ttl", "1m30s"}
	first, ok := parseConfigCase(t, args, environ, "")
	if !ok {
		return
	}
	text := printed(t, first, true)
	for _, secret := range []string{"s3cret-client", strings.Repeat("ab", 32), strings.Repeat("cd", 32)} {
		if strings.Contains(text, secret) {
			t.Errorf("config print shows a secret:\n%s", text)
		}
	}
	path := writeConfigFile(t, text)
	secrets := map[string]string{}
	for k, v := range environ {
		if k != "GATEWAY_RATE_MAX" {
			secrets[k] = v
		}
	}
	second, ok := parseConfigCase(t, []string{"-config", path}, secrets, "")
	if !ok {
		return
	}
	a, b := effective(first), effective(second)
	for name, v := range a {
		if b[name] != v {
			t.Errorf("%s: %q before the round trip, %q after", name, v, b[name])
		}
	}
	for name := range first.explicit {
		if !second.explicit[name] && name != configFileFlag {
			t.Errorf("%s was set before the round trip, not after", name)
		}
	}
	for name := range second.explicit {
		if !first.explicit[name] && name != configFileFlag {
			t.Errorf("%s is set after the round trip, not before (it would no longer follow other settings)", name)
		}
	}
}

// Command line > environment > file > default, for a setting and for the
// file's own name (-config over GATEWAY_CONFIG).
func TestConfigFilePrecedence(t *testing.T) {
	file := writeConfigFile(t, "rate-max: 50\nlog-level: warn\n")
	other := writeConfigFile(t, "rate-max: 60\n")
	for _, tc := range []struct {
		name       string
		args       []string
		environ    map[string]string
		want       string // -rate-max
		wantSource string
	}{
		{"default", nil, nil, "100", ""},
		{"file", []string{"-config", file}, nil, "50", fromFile},
		{"file named by GATEWAY_CONFIG", nil, map[string]string{"GATEWAY_CONFIG": file}, "50", fromFile},
		{"-config over GATEWAY_CONFIG", []string{"-config", other}, map[string]string{"GATEWAY_CONFIG": file}, "60", fromFile},
		{"environment over file", []string{"-config", file}, map[string]string{"GATEWAY_RATE_MAX": "40"}, "40", fromEnv},
		{"flag over environment and file", []string{"-config", file, "-rate-max", "30"}, map[string]string{"GATEWAY_RATE_MAX": "40"}, "30", fromFlag},
		{"flag over file", []string{"-rate-max=30", "-config=" + file}, nil, "30", fromFlag},
		{"environment, no file", nil, map[string]string{"GATEWAY_RATE_MAX": "40"}, "40", fromEnv},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, ok := parseConfigCase(t, tc.args, tc.environ, "")
			if !ok {
				return
			}
			if got := strconv.Itoa(c.budget.Max); got != tc.want {
				t.Errorf("-rate-max = %s, want %s", got, tc.want)
			}
			if got := c.file.sources["rate-max"]; got != tc.wantSource {
				t.Errorf("source of -rate-max = %q, want %q", got, tc.wantSource)
			}
			if tc.wantSource != "" && !c.explicit["rate-max"] {
				t.Error("-rate-max is not explicit: defaults that follow it would ignore it")
			}
		})
	}
	// The file's other key applies whoever set -rate-max.
	c, ok := parseConfigCase(t, []string{"-config", file, "-rate-max", "30"}, nil, "")
	if ok && c.logLevel != "warn" {
		t.Errorf("-log-level = %q, want warn from the file", c.logLevel)
	}
}

// Unknown keys, wrong types and bad YAML are errors naming the file, the
// line and the key; every problem of a file is reported at once.
func TestConfigFileErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		text string
		want []string // each must be in the error
	}{
		{"unknown key, suggestion", "addr: 127.0.0.1:0\nupstream_url: https://x/\n", []string{`gateway.yaml:2: unknown key "upstream_url"`, `did you mean "upstream-url"?`}},
		{"typo", "rate-maxx: 5\n", []string{`gateway.yaml:1: unknown key "rate-maxx"`, `did you mean "rate-max"?`}},
		{"far from any key", "colour: blue\n", []string{`gateway.yaml:1: unknown key "colour": no such setting`}},
		{"integer got string", "\n\nrate-max: lots\n", []string{`gateway.yaml:3: rate-max: want an integer, got the string "lots"`}},
		{"bool got string", "introspection: \"yes\"\n", []string{`gateway.yaml:1: introspection: want true or false`}},
		{"duration got integer", "breaker-cooldown: 30\n", []string{`gateway.yaml:1: breaker-cooldown: want a duration`}},
		{"duration unparsable", "breaker-cooldown: soon\n", []string{`gateway.yaml:1: breaker-cooldown "soon": invalid value`}},
		{"integer too large", "rate-max: 99999999999999999999999\n", []string{`gateway.yaml:1: rate-max: want an integer`}},
		{"float for an integer", "rate-max: 2.5\n", []string{`gateway.yaml:1: rate-max: want an integer, got the number 2.5`}},
		{"nested", "oauth:\n  client-id: x\n", []string{`gateway.yaml:1: unknown key "oauth"`}},
		{"mapping for a scalar", "addr:\n  host: x\n", []string{`gateway.yaml:1: addr: want a string, got a mapping`}},
		{"list", "cors-origins: [a, b]\n", []string{`gateway.yaml:1: cors-origins: want a string, got a list`}},
		{"no mapping", "- addr\n", []string{`gateway.yaml:1: want a mapping`}},
		{"two documents", "addr: 127.0.0.1:0\n---\nrate-max: 5\n", []string{`gateway.yaml:3: a second YAML document`}},
		{"duplicate key", "rate-max: 5\nrate-max: 6\n", []string{`gateway.yaml:2:1: mapping key "rate-max" already defined`}},
		{"syntax", "rate-max: [5\n", []string{`gateway.yaml:1:`}},
		{"names a file", "config: other.yaml\n", []string{`gateway.yaml:1: key "config": a configuration file cannot name another one`}},
		{"all at once", "rate-maxx: 5\nrate-max: x\n", []string{`gateway.yaml:1: unknown key "rate-maxx"`, `gateway.yaml:2: rate-max: want an integer`}},
		{"checks still apply, naming the line", "addr: \":0\"\n\nrate-max: 0\n", []string{`-rate-max (GATEWAY_RATE_MAX) 0: must be at least 1 (`, `gateway.yaml:3)`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := writeConfigFile(t, tc.text)
			_, err := parseConfig([]string{"-config", path}, env(nil), devNull(t))
			if err == nil {
				t.Fatal("parsed without error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error\n%v\ndoes not contain %q", err, w)
				}
			}
		})
	}
	t.Run("missing file", func(t *testing.T) {
		_, err := parseConfig([]string{"-config", filepath.Join(t.TempDir(), "none.yaml")}, env(nil), devNull(t))
		if err == nil || !strings.Contains(err.Error(), "-config (GATEWAY_CONFIG)") || !strings.Contains(err.Error(), "no such file") {
			t.Fatalf("err = %v, want one naming -config and the missing file", err)
		}
	})
	t.Run("empty and comment-only files set nothing", func(t *testing.T) {
		for _, text := range []string{"", "# nothing yet\n"} {
			c, ok := parseConfigCase(t, []string{"-config", writeConfigFile(t, text)}, nil, "")
			if ok && c.budget.Max != 100 {
				t.Errorf("%q: -rate-max = %d, want the default", text, c.budget.Max)
			}
		}
	})
	t.Run("block scalar and null", func(t *testing.T) {
		c, ok := parseConfigCase(t, []string{"-config", writeConfigFile(t, "location-id: 0123\ncors-origins:\njwt-issuer: |\n  line1\n  line2\n")}, nil, "")
		if !ok {
			return
		}
		if c.locationID != "0123" || c.corsOrigins != "" || c.jwtIssuer != "line1\nline2\n" {
			t.Errorf("location-id %q, cors-origins %q, jwt-issuer %q", c.locationID, c.corsOrigins, c.jwtIssuer)
		}
	})
}

// config print masks every secret, wherever it came from: the managed
// mode's client secret and keys, a URL's password, and the keys made up
// for a run against the sandbox.
func TestConfigPrintMasksSecrets(t *testing.T) {
	storeKey, stateKey := strings.Repeat("1f", 32), strings.Repeat("2e", 32)
	file := writeConfigFile(t, "oauth-state-key: "+stateKey+"\n")
	c, ok := parseConfigCase(t, []string{"-config", file, "-auth-mode", "managed",
		"-upstream-url", "https://user:url-pass-word@upstream.example.com/", "-oauth-client-id", "app",
		"-oauth-redirect-url", "https://gw.example.com/cb"},
		map[string]string{"GATEWAY_OAUTH_CLIENT_SECRET": "client-secret-value", "GATEWAY_OAUTH_STORE_KEY": storeKey}, "")
	if !ok {
		return
	}
	text := printed(t, c, true)
	for _, secret := range []string{"client-secret-value", storeKey, stateKey, "url-pass-word"} {
		if strings.Contains(text, secret) {
			t.Errorf("config print shows %q:\n%s", secret, text)
		}
	}
	for _, want := range []string{
		`# oauth-client-secret: "********"   (secret, from GATEWAY_OAUTH_CLIENT_SECRET; masked)`,
		`# oauth-store-key: "********"   (secret, from GATEWAY_OAUTH_STORE_KEY; masked)`,
		`# oauth-state-key: "********"   (secret, from ` + file + `:1; masked)`,
		`# upstream-url: "https://user:xxxxx@upstream.example.com/"   (from -upstream-url; password masked)`,
		`oauth-client-id: "app"   # from -oauth-client-id`,
		`# rate-max: 100   (default)`,
	} {
		if !strings.Contains(text, want+"\n") {
			t.Errorf("config print lacks the line %q:\n%s", want, text)
		}
	}

	// Managed mode against the sandbox makes secrets up: masked too.
	sb, ok := parseConfigCase(t, []string{"-auth-mode", "managed"}, nil, "")
	if !ok {
		return
	}
	text = printed(t, sb, true)
	for _, s := range []string{sb.oauthSecret, sb.oauthStoreKey, sb.oauthStateKey} {
		if s == "" || strings.Contains(text, s) {
			t.Errorf("a made-up secret %q is empty or printed:\n%s", s, text)
		}
	}
	if !strings.Contains(text, `# oauth-client-secret: "********"   (made up for this run against the sandbox)`) {
		t.Errorf("the made-up client secret is not marked so:\n%s", text)
	}
}

// Secrets are told by name, so a new flag named like one is masked.
func TestIsSecretSetting(t *testing.T) {
	for name, want := range map[string]bool{
		"oauth-client-secret": true, "oauth-store-key": true, "oauth-state-key": true,
		"redis-password": true, "otel-exporter-otlp-headers": true, "metrics-token": true,
		"jwt-public-key": false, "webhook-ed25519-key": false, "webhook-rsa-key": false,
		"oauth-token-store": false, "oauth-token-url": false, "max-token-bytes": false, "keys-file": false,
		"refresh-hot-keys": false, "redis-url": false, "addr": false,
	} {
		if got := isSecretSetting(name); got != want {
			t.Errorf("isSecretSetting(%q) = %v, want %v", name, got, want)
		}
	}
}

// URLs are masked on their text: also the host lists url.Parse refuses.
func TestMaskURLPassword(t *testing.T) {
	for in, want := range map[string]string{
		"redis://:pw@redis:6379/0":                              "redis://:xxxxx@redis:6379/0",
		"rediss://user:p%40ss@r.example.com:6380":               "rediss://user:xxxxx@r.example.com:6380",
		"redis+sentinel://:pw@h1:26379,h2:26379/mymaster":       "redis+sentinel://:xxxxx@h1:26379,h2:26379/mymaster",
		"redis://u:a@b@h:1/0":                                   "redis://u:xxxxx@h:1/0",
		"https://collector:4318/v1/traces?api_key=k1&region=eu": "https://collector:4318/v1/traces?api_key=xxxxx&region=eu",
		"https://x/?token=t#frag":                               "https://x/?token=xxxxx#frag",
		"redis://user@host/0":                                   "",
		"https://services.leadconnectorhq.com/":                 "",
		"127.0.0.1:8080":                                        "",
	} {
		got, masked := maskURLPassword(in)
		if want == "" {
			if masked || got != in {
				t.Errorf("%q: masked to %q, want unchanged", in, got)
			}
			continue
		}
		if !masked || got != want {
			t.Errorf("%q: %q (masked %v), want %q", in, got, masked, want)
		}
	}
}

// Every key config print writes is a flag in README.md's configuration
// table, which is thus the file's documentation too; and every flag is a
// key the file accepts.
func TestConfigFileKeysDocumented(t *testing.T) {
	rows := readmeFlagRows(t)
	c, ok := parseConfigCase(t, nil, nil, "")
	if !ok {
		return
	}
	var all strings.Builder
	c.file.fs.VisitAll(func(f *flag.Flag) {
		if f.Name == configFileFlag {
			return
		}
		if _, ok := rows[f.Name]; !ok {
			t.Errorf("key %s is not in README.md's table", f.Name)
		}
		all.WriteString(f.Name + ": " + yamlScalar(f) + "\n")
	})
	// Every key at its default is a valid file.
	if _, ok := parseConfigCase(t, []string{"-config", writeConfigFile(t, all.String())}, nil, ""); !ok {
		return
	}
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range []string{"gateway config print", "-config", "GATEWAY_CONFIG"} {
		if !bytes.Contains(readme, []byte(w)) {
			t.Errorf("README.md does not mention %s", w)
		}
	}
}

// gateway config: print writes the configuration; no subcommand, or a bad
// setting, is a configuration error.
func TestConfigCommand(t *testing.T) {
	out, err := os.Create(filepath.Join(t.TempDir(), "out"))
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	if err := runConfigCommand([]string{"print", "-rate-max", "42"}, out, devNull(t)); err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(out.Name())
	if !strings.Contains(string(got), "rate-max: 42   # from -rate-max\n") {
		t.Errorf("config print:\n%s", got)
	}
	for _, args := range [][]string{nil, {"show"}, {"print", "-rate-max", "0"}} {
		if err := runConfigCommand(args, out, devNull(t)); err == nil {
			t.Errorf("gateway config %v: no error", args)
		} else if _, ok := err.(*configError); !ok {
			t.Errorf("gateway config %v: %T %v, want a configuration error", args, err, err)
		}
	}
}
