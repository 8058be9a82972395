// This file reports bad configuration the way a user can act on: every
// problem at once, one line each, in a stable (sorted) order, with a hint
// to the full list of flags rather than the list itself.

package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
)

// configHint ends every configuration error: where the full list is.
const configHint = "run 'gateway -h' for every flag, its environment variable and its default"

// configError is every problem of a configuration, one line each, sorted.
type configError struct {
	problems []string
	hint     string // configHint when empty
}

// Error lists the problems, one per line.
func (e *configError) Error() string { return strings.Join(e.problems, "\n") }

// problems collects configuration problems.
type problems []string

// add records each line of err (errors.Join puts one error per line) as a
// problem; nil adds nothing.
func (p *problems) add(err error) {
	if err == nil {
		return
	}
	for _, line := range strings.Split(err.Error(), "\n") {
		if line = strings.TrimSpace(line); line != "" {
			*p = append(*p, line)
		}
	}
}

// err returns the problems as a *configError, sorted and without
// duplicates, or nil when there are none. Sorting makes the order the same
// on every run (several checks range over maps).
func (p problems) err() error {
	if len(p) == 0 {
		return nil
	}
	out := slices.Clone(p)
	slices.Sort(out)
	return &configError{problems: slices.Compact(out)}
}

// parseAll parses args into fs like fs.Parse, but does not stop at the
// first bad flag: a flag with a bad value, or one that does not exist, is
// recorded and parsing goes on after it, so that every such problem is
// reported at once. It returns flag.ErrHelp alone for -h and -help.
//
// label names a flag in the messages (setting, for the gateway's flags,
// which have environment variables).
func parseAll(fs *flag.FlagSet, args []string, label func(flagName string) string) ([]string, []error) {
	fs.SetOutput(io.Discard) // the flag package's own report prints the whole usage
	fs.Usage = func() {}
	var errs []error
	for {
		err := fs.Parse(args)
		if err == nil {
			return fs.Args(), errs
		}
		if errors.Is(err, flag.ErrHelp) {
			return nil, []error{flag.ErrHelp}
		}
		errs = append(errs, friendlyFlagError(err, label))
		// A bad value leaves the flag zeroed: back to its default, so
		// that the checks after parsing do not report it a second time.
		if name := badFlagName(err); name != "" {
			if f := fs.Lookup(name); f != nil {
				_ = f.Value.Set(f.DefValue)
			}
		}
		i := badFlagIndex(fs, args, err)
		if i < 0 {
			return nil, errs
		}
		args = args[i:]
	}
}

// badFlagIndex returns where parsing should resume after err, the flag
// package's report of a bad flag in args: after the flag (and its value,
// when given as a separate argument); -1 when the flag cannot be found.
func badFlagIndex(fs *flag.FlagSet, args []string, err error) int {
	name := badFlagName(err)
	if name == "" {
		return -1
	}
	for i, a := range args {
		if a == "--" {
			return -1
		}
		n := strings.TrimLeft(a, "-")
		if len(a)-len(n) < 1 || len(a)-len(n) > 2 {
			continue
		}
		bare, _, hasValue := strings.Cut(n, "=")
		if bare != name {
			continue
		}
		if !hasValue && fs.Lookup(name) != nil && !isBoolFlag(fs.Lookup(name)) {
			return min(i+2, len(args))
		}
		return i + 1
	}
	return -1
}

// badFlagName returns the name of the flag the flag package's error is
// about: one that does not exist or has a bad value; "" for other errors
// (a missing value is the last argument: nothing follows to parse).
func badFlagName(err error) string {
	msg := err.Error()
	switch {
	case strings.HasPrefix(msg, "flag provided but not defined: -"):
		return strings.TrimLeft(strings.TrimPrefix(msg, "flag provided but not defined: -"), "-")
	case strings.Contains(msg, " for flag -"):
		rest := msg[strings.Index(msg, " for flag -")+len(" for flag -"):]
		name, _, _ := strings.Cut(rest, ":")
		return name
	case strings.HasPrefix(msg, "invalid boolean value ") && strings.Contains(msg, " for -"):
		rest := msg[strings.Index(msg, " for -")+len(" for -"):]
		name, _, _ := strings.Cut(rest, ":")
		return name
	}
	return ""
}

// friendlyFlagError rewrites the flag package's error in the form of the
// other problems, starting with the setting, so that sorting groups a
// setting's problems whatever found them: -max-tags (GATEWAY_MAX_TAGS)
// "many": invalid value: parse error.
func friendlyFlagError(err error, label func(string) string) error {
	msg := err.Error()
	name := badFlagName(err)
	switch {
	case name == "":
		return err
	case strings.HasPrefix(msg, "flag provided but not defined"):
		return fmt.Errorf("-%s: no such flag (%s)", name, msg) // the flag package's words too: scripts grep them
	}
	value := ""
	if i := strings.Index(msg, "value "); i >= 0 {
		if q, err := strconv.QuotedPrefix(msg[i+len("value "):]); err == nil {
			value = q
		}
	}
	_, cause, _ := strings.Cut(msg, ": ")
	return fmt.Errorf("%s %s: invalid value: %s", label(name), value, cause)
}

// isBoolFlag reports whether f takes no separate value.
func isBoolFlag(f *flag.Flag) bool {
	b, ok := f.Value.(interface{ IsBoolFlag() bool })
	return ok && b.IsBoolFlag()
}

// printConfigError writes err for the user: a configuration error as one
// line per problem and the hint; anything else on one line.
func printConfigError(w io.Writer, err error) {
	var ce *configError
	if !errors.As(err, &ce) {
		fmt.Fprintln(w, "gateway:", err)
		return
	}
	for _, p := range ce.problems {
		fmt.Fprintln(w, "gateway:", p)
	}
	hint := ce.hint
	if hint == "" {
		hint = configHint
	}
	fmt.Fprintln(w, "gateway:", hint)
}
