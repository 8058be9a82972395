// Tests of `gateway keys`: create, list, revoke end to end through the
// store, -store defaults, help, and errors that name the flag at fault.

package clientauth

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

func runKeys(t *testing.T, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	var out, errOut bytes.Buffer
	err = RunKeysCommand(args, &out, &errOut)
	return out.String(), errOut.String(), err
}

var printedKey = regexp.MustCompile(`(?m)^key: (gk_\S+)$`)

func TestKeysCommandLifecycle(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "keys.json")
	running, err := OpenKeyStore(path) // the gateway, running all along
	if err != nil {
		t.Fatal(err)
	}

	out, errOut, err := runKeys(t, "create", "-store", path, "-location", "loc123", "-role", "write", "-name", "billing backend")
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	m := printedKey.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("create printed no key line:\n%s", out)
	}
	plain := m[1]
	if strings.Count(out+errOut, plain) != 1 {
		t.Errorf("the key is printed %d times, want once", strings.Count(out+errOut, plain))
	}
	if !strings.Contains(errOut, "only this once") {
		t.Errorf("no shown-once notice on stderr: %q", errOut)
	}
	if err := running.Reload(); err != nil {
		t.Fatal(err)
	}
	p, err := running.Authenticate(plain)
	if err != nil || p.LocationID != "loc123" || p.Role != RoleWrite {
		t.Fatalf("printed key: Authenticate = %+v, %v", p, err)
	}
	if !strings.Contains(out, "id:  "+p.Subject+"\n") {
		t.Errorf("create did not print the id %s:\n%s", p.Subject, out)
	}

	out, _, err = runKeys(t, "list", "-store", path)
	if err != nil {
		t.Fatalf("list: %v", err)
	}
	secret := plain[len("gk_")+keyIDLen+1:]
	if strings.Contains(out, secret) || strings.Contains(out, "sha256$") {
		t.Errorf("list shows a secret or hash:\n%s", out)
	}
	for _, want := range []string{"ID", "NAME", "LOCATION", "ROLE", "CREATED", "REVOKED", p.Subject, "billing backend", "loc123", "write"} {
		if !strings.Contains(out, want) {
			t.Errorf("list lacks %q:\n%s", want, out)
		}
	}

	// Flags after the ID work too.
	out, _, err = runKeys(t, "revoke", p.Subject, "-store", path)
	if err != nil || !strings.Contains(out, "Revoked") {
		t.Fatalf("revoke = %q, %v", out, err)
	}
	if err := running.Reload(); err != nil {
		t.Fatal(err)
	}
	if _, err := running.Authenticate(plain); !errors.Is(err, ErrInvalidCredential) {
		t.Fatalf("revoked key still authenticates: %v", err)
	}
	// The whole key works in place of the ID, and is not printed back.
	out, _, err = runKeys(t, "revoke", "-store", path, plain)
	if err != nil || !strings.Contains(out, "already revoked") || strings.Contains(out, secret) {
		t.Errorf("second revoke = %q, %v", out, err)
	}
	out, _, _ = runKeys(t, "list", "-store", path)
	if row := lineWith(out, p.Subject); strings.HasSuffix(strings.TrimSpace(row), " -") {
		t.Errorf("list does not show the revocation: %q", row)
	}
}

func lineWith(s, sub string) string {
	for line := range strings.Lines(s) {
		if strings.Contains(line, sub) {
			return line
		}
	}
	return ""
}

func TestKeysCommandErrors(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "keys.json")
	if _, _, err := runKeys(t, "create", "-store", path, "-location", "loc", "-role", "read", "-name", "n"); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(t.TempDir(), "nope.json")

	tests := []struct {
		name      string
		args      []string
		wantInErr string
		usage     bool
	}{
		{"no command", nil, "missing command", true},
		{"unknown command", []string{"rotate"}, "rotate", true},
		{"create without -location", []string{"create", "-store", path, "-role", "read", "-name", "n"}, "-location", true},
		{"create with a bad -location", []string{"create", "-store", path, "-location", "a b", "-role", "read", "-name", "n"}, "-location", true},
		{"create without -role", []string{"create", "-store", path, "-location", "loc", "-name", "n"}, "-role", true},
		{"create with a bad -role", []string{"create", "-store", path, "-location", "loc", "-role", "admin", "-name", "n"}, "-role", true},
		{"create without -name", []string{"create", "-store", path, "-location", "loc", "-role", "read"}, "-name", true},
		{"create with an unknown flag", []string{"create", "-store", path, "-locatoin", "loc"}, "-locatoin", true},
		{"create with an argument", []string{"create", "-store", path, "-location", "loc", "-role", "read", "-name", "n", "extra"}, "extra", true},
		{"create with an empty -store", []string{"create", "-store", "", "-location", "loc", "-role", "read", "-name", "n"}, "-store", true},
		{"-store without a value", []string{"list", "-store"}, "-store", true},
		{"revoke without an id", []string{"revoke", "-store", path}, "ID", true},
		{"revoke with two ids", []string{"revoke", "-store", path, "a", "b"}, "one ID", true},
		{"revoke an unknown id", []string{"revoke", "-store", path, "ZZZZZZZZZZZZ"}, "not found", false},
		{"revoke in a missing store", []string{"revoke", "-store", missing, "ZZZZZZZZZZZZ"}, "-store", true},
		{"list a missing store", []string{"list", "-store", missing}, "-store", true},
		{"list with an argument", []string{"list", "-store", path, "x"}, "x", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out, _, err := runKeys(t, tc.args...)
			if err == nil {
				t.Fatalf("succeeded:\n%s", out)
			}
			if !strings.Contains(err.Error(), tc.wantInErr) {
				t.Errorf("error %q does not name %q", err, tc.wantInErr)
			}
			if errors.Is(err, ErrUsage) != tc.usage {
				t.Errorf("errors.Is(%v, ErrUsage) = %v, want %v", err, !tc.usage, tc.usage)
			}
			if strings.Contains(out, "gk_") {
				t.Errorf("a failed command printed a key:\n%s", out)
			}
		})
	}
	if _, err := os.Stat(missing); !os.IsNotExist(err) {
		t.Errorf("list/revoke created the missing store: %v", err)
	}
	if _, err := OpenKeyStore(path); err != nil {
		t.Fatal(err)
	}
	if ks, _ := OpenKeyStore(path); len(ks.List()) != 1 {
		t.Errorf("failed commands changed the store: %d keys", len(ks.List()))
	}
}

func TestKeysCommandHelp(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{{"-h"}, {"help"}, {"create", "-h"}, {"revoke", "-h"}, {"list", "--help"}} {
		out, _, err := runKeys(t, args...)
		if err != nil {
			t.Errorf("%v: %v", args, err)
		}
		if !strings.Contains(out, "Usage") {
			t.Errorf("%v printed no usage:\n%s", args, out)
		}
	}
	out, _, _ := runKeys(t, "create", "-h")
	for _, flag := range []string{"-location", "-role", "-name", "-store"} {
		if !strings.Contains(out, flag) {
			t.Errorf("create -h does not describe %s:\n%s", flag, out)
		}
	}
}

// TestKeysCommandStoreDefaults checks $GATEWAY_KEYS_FILE, then the file in
// the working directory. Not parallel: it sets the environment and cwd.
func TestKeysCommandStoreDefaults(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)

	t.Setenv(KeysFileEnv, "")
	if _, _, err := runKeys(t, "create", "-location", "loc", "-role", "read", "-name", "cwd"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, DefaultKeysFile)); err != nil {
		t.Errorf("no %s in the working directory: %v", DefaultKeysFile, err)
	}

	envPath := filepath.Join(t.TempDir(), "from-env.json")
	t.Setenv(KeysFileEnv, envPath)
	if _, _, err := runKeys(t, "create", "-location", "loc", "-role", "write", "-name", "env"); err != nil {
		t.Fatal(err)
	}
	out, _, err := runKeys(t, "list")
	if err != nil || !strings.Contains(out, "env") || strings.Contains(out, "cwd") {
		t.Errorf("list with $%s = %q, %v", KeysFileEnv, out, err)
	}
	// -store still wins over the environment.
	out, _, err = runKeys(t, "list", "-store", DefaultKeysFile)
	if err != nil || !strings.Contains(out, "cwd") {
		t.Errorf("list -store = %q, %v", out, err)
	}
}
