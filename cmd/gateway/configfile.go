// This file holds the configuration file (issue 15): -config gateway.yaml
// (GATEWAY_CONFIG), a flat YAML mapping whose keys are the flags' names,
// and `gateway config print`, the effective configuration as such a file.
//
// The keys are not a second list kept by hand: they are the flag set's
// flags, walked when the file is read, so every flag (including those
// another file registers, like the redis-*, metrics-* and otel-* ones) is
// a key the day it is added, with the same parser and the same checks.
// Precedence: command line > environment > file > default.

package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/parser"
)

// configFileFlag is the flag (and, as GATEWAY_CONFIG, the environment
// variable) naming the configuration file. It is no key of the file: a
// file does not name another file.
const configFileFlag = "config"

// Where a setting's value came from, for `gateway config print`.
const (
	fromFlag = "flag"
	fromEnv  = "environment"
	fromFile = "file"
)

// configFile is the configuration file and where every set flag got its
// value from.
type configFile struct {
	path    string
	fs      *flag.FlagSet     // the serve command's flags, for config print
	sources map[string]string // flag name → fromFlag, fromEnv or fromFile
	lines   map[string]int    // flag name → its line in the file, for fromFile
}

// registerConfigFileFlags declares -config.
func registerConfigFileFlags(fs *flag.FlagSet, c *configFile) {
	fs.StringVar(&c.path, configFileFlag, "", "YAML file of settings: keys are these flags' names (e.g. upstream-url: https://...); flags and environment variables override it; see: gateway config print")
}

// applySources fills fs from the environment and then the configuration
// file, each only for flags not set by what precedes it (the command line,
// already parsed, then the environment), and records each set flag's
// source.
func (c *config) applySources(fs *flag.FlagSet, lookup func(string) (string, bool)) error {
	c.file.fs = fs
	c.file.sources, c.file.lines = map[string]string{}, map[string]int{}
	fs.Visit(func(f *flag.Flag) { c.file.sources[f.Name] = fromFlag })
	errEnv := applyEnv(fs, lookup)
	fs.Visit(func(f *flag.Flag) {
		if c.file.sources[f.Name] == "" {
			c.file.sources[f.Name] = fromEnv
		}
	})
	if c.file.path == "" {
		return errEnv
	}
	data, err := os.ReadFile(c.file.path)
	if err != nil {
		return errors.Join(errEnv, fmt.Errorf("%s: %w", setting(configFileFlag), err))
	}
	vals, err := parseConfigFile(c.file.path, data, fs)
	if err != nil {
		return errors.Join(errEnv, err)
	}
	var errs []error
	for _, v := range vals {
		if c.file.sources[v.name] != "" {
			continue // the command line or the environment wins
		}
		if err := fs.Set(v.name, v.text); err != nil {
			errs = append(errs, fmt.Errorf("%s:%d: %s %q: invalid value: %w", c.file.path, v.line, v.name, v.text, err))
			f := fs.Lookup(v.name)
			_ = f.Value.Set(f.DefValue) // reported once, not again by the checks
			continue
		}
		c.file.sources[v.name] = fromFile
		c.file.lines[v.name] = v.line
	}
	return errors.Join(errEnv, errors.Join(errs...))
}

// annotate adds to each problem about a setting the file set (a line
// starting with setting(name)) where in the file it was set, since the
// message names the flag and its variable, neither of which the user
// wrote: "-rate-max (GATEWAY_RATE_MAX) 0: must be at least 1 (gateway.yaml:3)".
func (f *configFile) annotate(err error) error {
	if err == nil || len(f.lines) == 0 {
		return err
	}
	lines := strings.Split(err.Error(), "\n")
	for i, line := range lines {
		name, _, ok := strings.Cut(strings.TrimPrefix(line, "-"), " (")
		if ok && strings.HasPrefix(line, "-") && f.sources[name] == fromFile && strings.HasPrefix(line, setting(name)) {
			lines[i] = fmt.Sprintf("%s (%s:%d)", line, f.path, f.lines[name])
		}
	}
	return errors.New(strings.Join(lines, "\n"))
}

// fileValue is one key of a configuration file: the flag it sets, the
// value as the flag's parser takes it, and its line.
type fileValue struct {
	name, text string
	line       int
}

// valueKind is what YAML value a flag takes.
type valueKind int

const (
	kindText     valueKind = iota // any scalar, as written: strings, and flags of other types
	kindBool                      // true or false
	kindInt                       // an integer
	kindFloat                     // a number
	kindDuration                  // a Go duration, e.g. 250ms or 1m30s
)

// flagKind returns the kind of value f takes, from its Go type.
func flagKind(f *flag.Flag) valueKind {
	if g, ok := f.Value.(flag.Getter); ok {
		switch g.Get().(type) {
		case bool:
			return kindBool
		case int, int64, uint, uint64:
			return kindInt
		case float64:
			return kindFloat
		case time.Duration:
			return kindDuration
		case string:
			return kindText
		}
	}
	if isBoolFlag(f) {
		return kindBool
	}
	return kindText
}

// String names the kind in messages.
func (k valueKind) String() string {
	return [...]string{"a string", "true or false", "an integer", "a number", "a duration such as 30s or 1m30s"}[k]
}

// parseConfigFile reads a configuration file: one YAML document holding a
// mapping of flag names to scalars. Every problem is reported at once,
// each with the file, the line and the key.
func parseConfigFile(path string, data []byte, fs *flag.FlagSet) ([]fileValue, error) {
	file, err := parser.ParseBytes(data, 0)
	if err != nil {
		return nil, yamlSyntaxError(path, err)
	}
	var docs []*ast.DocumentNode
	for _, d := range file.Docs {
		if d.Body != nil {
			docs = append(docs, d)
		}
	}
	if len(docs) == 0 {
		return nil, nil // an empty file (or only comments) sets nothing
	}
	if len(docs) > 1 {
		return nil, fmt.Errorf("%s:%d: a second YAML document: the configuration is one mapping", path, docs[1].Body.GetToken().Position.Line)
	}
	m, ok := docs[0].Body.(*ast.MappingNode)
	if !ok {
		return nil, fmt.Errorf("%s:%d: want a mapping of settings (key: value, keys are flag names), got %s",
			path, docs[0].Body.GetToken().Position.Line, nodeKind(docs[0].Body))
	}
	var names []string
	fs.VisitAll(func(f *flag.Flag) {
		if f.Name != configFileFlag {
			names = append(names, f.Name)
		}
	})
	var out []fileValue
	var errs []error
	for _, mv := range m.Values {
		key := mv.Key.GetToken().Value
		line := mv.Key.GetToken().Position.Line
		if _, isStr := mv.Key.(*ast.StringNode); !isStr {
			errs = append(errs, fmt.Errorf("%s:%d: key %s: want a flag name", path, line, mv.Key.GetToken().Value))
			continue
		}
		f := fs.Lookup(key)
		if f == nil || key == configFileFlag {
			msg := fmt.Sprintf("%s:%d: unknown key %q: no such setting", path, line, key)
			if key == configFileFlag {
				msg = fmt.Sprintf("%s:%d: key %q: a configuration file cannot name another one", path, line, key)
			} else if s := suggest(key, names); s != "" {
				msg += fmt.Sprintf(" (did you mean %q?)", s)
			}
			errs = append(errs, errors.New(msg))
			continue
		}
		text, err := scalarText(mv.Value, flagKind(f))
		if err != nil {
			errs = append(errs, fmt.Errorf("%s:%d: %s: %w", path, line, key, err))
			continue
		}
		out = append(out, fileValue{name: key, text: text, line: line})
	}
	return out, errors.Join(errs...)
}

// scalarText checks that n is a value of kind k and returns it as the
// flag's parser takes it. Integers are taken as written (0123 stays 0123
// for a string; for an integer flag Go's parser reads it).
func scalarText(n ast.Node, k valueKind) (string, error) {
	bad := func() (string, error) { return "", fmt.Errorf("want %s, got %s", k, nodeKind(n)) }
	switch v := n.(type) {
	case *ast.StringNode:
		if k == kindText || k == kindDuration {
			return v.Value, nil
		}
		return bad()
	case *ast.LiteralNode: // | and > blocks: a PEM, say
		if k == kindText {
			return v.Value.Value, nil
		}
		return bad()
	case *ast.BoolNode:
		if k == kindBool || k == kindText {
			return v.Token.Value, nil
		}
		return bad()
	case *ast.IntegerNode:
		if k == kindInt || k == kindFloat || k == kindText || (k == kindDuration && v.Token.Value == "0") {
			return v.Token.Value, nil
		}
		return bad()
	case *ast.FloatNode:
		if k == kindFloat || k == kindText {
			return v.Token.Value, nil
		}
		return bad()
	case *ast.NullNode:
		if k == kindText {
			return "", nil // `key:` with nothing: the empty string
		}
		return bad()
	}
	return bad()
}

// nodeKind names a YAML node's kind in messages.
func nodeKind(n ast.Node) string {
	switch v := n.(type) {
	case *ast.StringNode:
		return fmt.Sprintf("the string %q", v.Value)
	case *ast.LiteralNode:
		return "a block string"
	case *ast.BoolNode:
		return "the boolean " + v.Token.Value
	case *ast.IntegerNode:
		return "the integer " + v.Token.Value
	case *ast.FloatNode:
		return "the number " + v.Token.Value
	case *ast.NullNode:
		return "no value"
	case *ast.MappingNode:
		return "a mapping (keys are flat flag names: no nesting)"
	case *ast.SequenceNode:
		return "a list"
	case *ast.AnchorNode, *ast.AliasNode:
		return "an anchor or alias (not supported)"
	case *ast.TagNode:
		return "a tagged value (not supported)"
	}
	return "a " + strings.ToLower(n.Type().String())
}

// yamlSyntaxError turns the YAML parser's report ("[3:1] message" and a
// source excerpt) into one line: path:3:1: message.
func yamlSyntaxError(path string, err error) error {
	first, _, _ := strings.Cut(err.Error(), "\n")
	if strings.HasPrefix(first, "[") {
		if pos, msg, ok := strings.Cut(first[1:], "] "); ok {
			return fmt.Errorf("%s:%s: %s", path, pos, msg)
		}
	}
	return fmt.Errorf("%s: %s", path, first)
}

// suggest returns the name closest to key, when it is close enough to be
// the likely intent: a typo, an underscore or upper case for a dash, a
// leading dash.
func suggest(key string, names []string) string {
	norm := strings.ToLower(strings.ReplaceAll(strings.TrimLeft(key, "-"), "_", "-"))
	best, bestD := "", len(norm)/3+1
	for _, n := range names {
		if n == norm {
			return n
		}
		if d := editDistance(norm, n); d < bestD {
			best, bestD = n, d
		}
	}
	return best
}

// editDistance is the Levenshtein distance of a and b.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// isSecretSetting reports whether a flag holds a secret, by its name, so
// that a new flag named like one (…-secret, …-password, …-token, …-key,
// …-headers) is masked without a list to update. The public keys are
// named ones, not secrets.
func isSecretSetting(name string) bool {
	if strings.Contains(name, "public") || strings.HasPrefix(name, "webhook-") && strings.HasSuffix(name, "-key") {
		return false // jwt-public-key, webhook-ed25519-key, webhook-rsa-key: public keys (or their files)
	}
	parts := strings.Split(name, "-")
	switch parts[len(parts)-1] {
	case "secret", "password", "passwd", "token", "key", "headers", "credentials":
		return true
	}
	return false
}

// maskURLPassword returns s with the password of a URL's user info, and
// the values of query parameters named like secrets (token, key, ...),
// masked, and whether there was any: redis://:pw@host → redis://:xxxxx@host.
// It works on the text, not url.Parse, which refuses the host lists of
// Sentinel and Cluster URLs (redis+sentinel://:pw@h1:26379,h2:26379/m):
// a URL the parser refuses must not be printed with its password.
func maskURLPassword(s string) (string, bool) {
	scheme, rest, ok := strings.Cut(s, "://")
	if !ok || strings.ContainsAny(scheme, " /") {
		return s, false
	}
	masked := false
	authority, path := rest, ""
	if k := strings.IndexAny(rest, "/?#"); k >= 0 {
		authority, path = rest[:k], rest[k:]
	}
	if at := strings.LastIndex(authority, "@"); at >= 0 {
		if user, pass, has := strings.Cut(authority[:at], ":"); has && pass != "" {
			authority = user + ":xxxxx" + authority[at:]
			masked = true
		}
	}
	if q := strings.IndexByte(path, '?'); q >= 0 {
		query, frag, _ := strings.Cut(path[q+1:], "#")
		params := strings.Split(query, "&")
		for i, p := range params {
			k, v, has := strings.Cut(p, "=")
			if name := strings.ToLower(strings.ReplaceAll(k, "_", "-")); has && v != "" && (isSecretSetting(name) || strings.Contains(name, "password")) {
				params[i] = k + "=xxxxx"
				masked = true
			}
		}
		path = path[:q+1] + strings.Join(params, "&")
		if frag != "" {
			path += "#" + frag
		}
	}
	return scheme + "://" + authority + path, masked
}

// printEffectiveConfig writes the effective configuration as a file that
// -config accepts back. Settings that were set (flag, environment, file)
// are keys, each with a comment saying where its value came from; the
// others are commented out with their defaults, so the output is also a
// template of every setting. Only set settings are keys because a setting
// given explicitly can change a default that follows others (with webhooks
// on, an unset cache TTL follows the webhook TTLs): the printed file then
// means what the configuration meant. With mask, secrets are printed as
// comments with their value masked: they come back from the environment
// (a Kubernetes Secret), not from a printed file.
func printEffectiveConfig(w io.Writer, c *config, mask bool) error {
	var b strings.Builder
	b.WriteString("# The gateway's effective configuration (gateway config print).\n")
	b.WriteString("# Keys are flag names; -flag and GATEWAY_* environment variables override this file.\n")
	b.WriteString("# Commented-out keys are unset: their defaults (or, marked so, a value made up for this run).\n")
	if mask {
		b.WriteString("# Secrets are masked and commented out: give them in the environment.\n")
	}
	if c.file.path != "" {
		fmt.Fprintf(&b, "# Read from -config %s.\n", c.file.path)
	}
	c.file.fs.VisitAll(func(f *flag.Flag) {
		if f.Name == configFileFlag {
			return
		}
		val := yamlScalar(f)
		src := c.file.sources[f.Name]
		note := ""
		switch src {
		case fromFlag:
			note = "-" + f.Name
		case fromEnv:
			note = envName(f.Name)
		case fromFile:
			note = fmt.Sprintf("%s:%d", c.file.path, c.file.lines[f.Name])
		}
		if src == "" {
			why := "default"
			if c.generatedSetting(f.Name) {
				why = "made up for this run against the sandbox"
			} else if f.Value.String() != f.DefValue {
				why = "derived from other settings"
			}
			if mask && f.Value.String() != "" && isSecretSetting(f.Name) {
				val = `"********"`
			}
			fmt.Fprintf(&b, "# %s: %s   (%s)\n", f.Name, val, why)
			return
		}
		if mask && f.Value.String() != "" {
			if isSecretSetting(f.Name) {
				fmt.Fprintf(&b, "# %s: \"********\"   (secret, from %s; masked)\n", f.Name, note)
				return
			}
			if masked, ok := maskURLPassword(f.Value.String()); ok {
				fmt.Fprintf(&b, "# %s: %s   (from %s; password masked)\n", f.Name, strconv.Quote(masked), note)
				return
			}
		}
		fmt.Fprintf(&b, "%s: %s   # from %s\n", f.Name, val, note)
	})
	_, err := io.WriteString(w, b.String())
	return err
}

// yamlScalar writes f's value as a YAML scalar of its kind: strings and
// durations double-quoted (Go's escapes are YAML's for these), others
// plain.
func yamlScalar(f *flag.Flag) string {
	s := f.Value.String()
	switch flagKind(f) {
	case kindBool, kindInt, kindFloat:
		if s != "" {
			return s
		}
	}
	return strconv.Quote(s)
}

// runConfigCommand is `gateway config print [flags]`: the configuration
// the same flags, environment and file would give the server, checked
// like at start (a bad one fails the same way), printed with secrets
// masked.
func runConfigCommand(args []string, stdout, stderr *os.File) error {
	if len(args) == 0 || args[0] != "print" {
		if len(args) > 0 && (args[0] == "-h" || args[0] == "-help" || args[0] == "--help") {
			fmt.Fprintln(stderr, configUsage)
			return flag.ErrHelp
		}
		return &configError{problems: []string{"config: want a subcommand: print"}, hint: configUsage}
	}
	cfg, err := parseConfig(args[1:], os.LookupEnv, stderr)
	if err != nil {
		return err
	}
	return printEffectiveConfig(stdout, cfg, true)
}

// configUsage is the help of `gateway config`.
const configUsage = "usage: gateway config print [flags]   (the effective configuration of these flags, the environment and -config, as YAML -config accepts; secrets masked)"
