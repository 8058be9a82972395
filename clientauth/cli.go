// This file holds the `gateway keys` sub-command that creates, revokes and
// lists gateway API keys, as a function the gateway's main calls with its
// arguments, so that it is tested without building a binary.

package clientauth

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"
)

// KeysFileEnv names the environment variable that gives the default key
// store path, so that operators set it once for the gateway and the CLI.
const KeysFileEnv = "GATEWAY_KEYS_FILE"

// DefaultKeysFile is the key store path when neither -store nor
// GATEWAY_KEYS_FILE is given.
const DefaultKeysFile = "gateway-keys.json"

// ErrUsage is wrapped by RunKeysCommand's errors that come from a bad
// command line, so that main can exit with status 2 rather than 1.
var ErrUsage = errors.New("clientauth: bad command line")

// usageError is a command-line mistake; its text names the flag at fault.
type usageError struct{ msg string }

func (e usageError) Error() string        { return e.msg }
func (e usageError) Is(target error) bool { return target == ErrUsage }

func usagef(format string, args ...any) error {
	return usageError{fmt.Sprintf(format, args...)}
}

const keysUsage = `Usage: gateway keys <command> [flags]

Manages the API keys the gateway's clients authenticate with in managed mode.

Commands:
  create -location LOC -role read|write -name NAME [-store PATH]
         Creates a key and prints it once; only its hash is stored.
  revoke [-store PATH] ID
         Revokes a key (by its ID, or the whole key); a running gateway
         refuses it within a second.
  list   [-store PATH]
         Lists the keys (never their secrets).

-store defaults to $` + KeysFileEnv + `, then ` + DefaultKeysFile + `.
Run 'gateway keys <command> -h' for a command's flags.
`

// RunKeysCommand runs `gateway keys` with args (after "keys"): create,
// revoke or list. Output goes to stdout, help to stdout, and notices to
// stderr; errors are returned, not printed, and those caused by the
// command line wrap ErrUsage. -h or "help" prints help and returns nil.
func RunKeysCommand(args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, keysUsage)
		return usagef("gateway keys: missing command: create, revoke or list")
	}
	switch cmd, rest := args[0], args[1:]; cmd {
	case "create":
		return runCreate(rest, stdout, stderr)
	case "revoke":
		return runRevoke(rest, stdout)
	case "list":
		return runList(rest, stdout)
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, keysUsage)
		return nil
	default:
		return usagef("gateway keys: unknown command %q: want create, revoke or list", truncate(cmd, 40))
	}
}

// newFlagSet returns a flag set that prints nothing by itself: errors are
// returned, and help is printed by parseArgs to stdout.
func newFlagSet(name, synopsis string) (*flag.FlagSet, *string) {
	set := flag.NewFlagSet("gateway keys "+name, flag.ContinueOnError)
	set.SetOutput(io.Discard)
	set.Usage = func() {
		fmt.Fprintf(set.Output(), "Usage: gateway keys %s %s\n\nFlags:\n", name, synopsis)
		set.PrintDefaults()
	}
	def := os.Getenv(KeysFileEnv)
	if def == "" {
		def = DefaultKeysFile
	}
	store := set.String("store", def, "key store file; $"+KeysFileEnv+" sets the default")
	return set, store
}

// errHelp says -h was given and help printed.
var errHelp = errors.New("help requested")

// parseArgs parses flags wherever they stand among the positional
// arguments ("revoke ID -store f" as well as "revoke -store f ID"), which
// the flag package alone does not.
func parseArgs(fs *flag.FlagSet, args []string, stdout io.Writer) ([]string, error) {
	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				fs.SetOutput(stdout)
				fs.Usage()
				return nil, errHelp
			}
			return nil, usagef("%s: %v", fs.Name(), err)
		}
		args = fs.Args()
		if len(args) == 0 {
			return positional, nil
		}
		positional = append(positional, args[0])
		args = args[1:]
	}
}

func runCreate(args []string, stdout, stderr io.Writer) error {
	fs, store := newFlagSet("create", "-location LOC -role read|write -name NAME [-store PATH]")
	location := fs.String("location", "", "HighLevel location ID the key may act on (required)")
	name := fs.String("name", "", "label to recognise the key by, e.g. \"billing backend\" (required)")
	var role Role
	fs.Func("role", `"read" or "write"; mutations need "write" (required)`, func(s string) error {
		r, err := ParseRole(s)
		role = r
		return err
	})
	pos, err := parseArgs(fs, args, stdout)
	if err != nil {
		return helpIsNil(err)
	}
	switch {
	case len(pos) > 0:
		return usagef("%s: unexpected argument %q", fs.Name(), truncate(pos[0], 40))
	case *store == "":
		return usagef("%s: -store is empty", fs.Name())
	case *location == "":
		return usagef("%s: -location is required", fs.Name())
	case role == "":
		return usagef(`%s: -role is required: "read" or "write"`, fs.Name())
	case strings.TrimSpace(*name) == "":
		return usagef("%s: -name is required", fs.Name())
	}
	if !validLocationID(*location) {
		return usagef("%s: -location %q: only letters, digits, '_' and '-', at most 128", fs.Name(), truncate(*location, 40))
	}
	if err := validName(*name); err != nil {
		return usagef("%s: -name: %v", fs.Name(), err)
	}
	ks, err := OpenKeyStore(*store)
	if err != nil {
		return err
	}
	plaintext, k, err := ks.Create(*name, *location, role)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "Created API key %s (%q) for location %s, role %s.\n", k.ID, k.Name, k.LocationID, k.Role)
	fmt.Fprintf(stdout, "id:  %s\nkey: %s\n", k.ID, plaintext)
	fmt.Fprintln(stderr, "Store the key now: it is shown only this once and cannot be recovered, only revoked.")
	return nil
}

func runRevoke(args []string, stdout io.Writer) error {
	fs, store := newFlagSet("revoke", "[-store PATH] ID")
	pos, err := parseArgs(fs, args, stdout)
	if err != nil {
		return helpIsNil(err)
	}
	switch {
	case len(pos) == 0:
		return usagef("%s: missing the ID of the key to revoke", fs.Name())
	case len(pos) > 1:
		return usagef("%s: one ID at a time; unexpected %q", fs.Name(), truncate(pos[1], 40))
	}
	id := pos[0]
	if keyID, _, ok := parseAPIKey(id); ok {
		// A whole key pasted instead of its ID: revoke it by its ID, and
		// say so without printing the key again.
		id = keyID
		fmt.Fprintf(stdout, "That is a whole key; revoking it by its ID %s.\n", id)
	}
	ks, err := openExisting(fs.Name(), *store)
	if err != nil {
		return err
	}
	for _, k := range ks.List() {
		if k.ID == id && k.Revoked() {
			fmt.Fprintf(stdout, "API key %s was already revoked at %s.\n", id, k.RevokedAt.UTC().Format(time.RFC3339))
			return nil
		}
	}
	if err := ks.Revoke(id); err != nil {
		return fmt.Errorf("%s: %w", fs.Name(), err)
	}
	fmt.Fprintf(stdout, "Revoked API key %s.\n", id)
	return nil
}

func runList(args []string, stdout io.Writer) error {
	fs, store := newFlagSet("list", "[-store PATH]")
	pos, err := parseArgs(fs, args, stdout)
	if err != nil {
		return helpIsNil(err)
	}
	if len(pos) > 0 {
		return usagef("%s: unexpected argument %q", fs.Name(), truncate(pos[0], 40))
	}
	ks, err := openExisting(fs.Name(), *store)
	if err != nil {
		return err
	}
	keys := ks.List()
	if len(keys) == 0 {
		fmt.Fprintf(stdout, "No API keys in %s.\n", *store)
		return nil
	}
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tNAME\tLOCATION\tROLE\tCREATED\tREVOKED")
	for _, k := range keys {
		revoked := "-"
		if k.Revoked() {
			revoked = k.RevokedAt.UTC().Format(time.RFC3339)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", k.ID, k.Name, k.LocationID, k.Role, k.CreatedAt.UTC().Format(time.RFC3339), revoked)
	}
	return tw.Flush()
}

// openExisting opens a store that must already exist: a list or revoke
// against a mistyped path should say so, not create an empty file there.
func openExisting(cmd, path string) (*KeyStore, error) {
	if path == "" {
		return nil, usagef("%s: -store is empty", cmd)
	}
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		return nil, usagef("%s: -store %s: no such key store (set -store or $%s)", cmd, path, KeysFileEnv)
	}
	return OpenKeyStore(path)
}

// helpIsNil turns "help was printed" into success.
func helpIsNil(err error) error {
	if errors.Is(err, errHelp) {
		return nil
	}
	return err
}
