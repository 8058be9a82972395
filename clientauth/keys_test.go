// Tests of the API key store: format, hashing, refusals, the file on disk,
// reloads across stores and concurrency. A fuzz target covers the parser.

package clientauth

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ghl-graphql/gateway/internal/fakeclock"
)

// newFakeClock is the clock of these tests, so that reload intervals and
// expiries are tested without sleeping.
func newFakeClock() *fakeclock.Clock {
	return fakeclock.New(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
}

// openTestStore opens a fresh store driven by clock.
func openTestStore(t testing.TB, path string, clock *fakeclock.Clock) *KeyStore {
	t.Helper()
	ks, err := OpenKeyStore(path)
	if err != nil {
		t.Fatalf("OpenKeyStore: %v", err)
	}
	if clock != nil {
		ks.now = clock.Now
		// The open stat ran on the real clock; restart the interval on
		// the fake one.
		ks.lastCheck.Store(clock.Now().UnixNano())
	}
	return ks
}

func mustCreate(t testing.TB, ks *KeyStore, name, loc string, role Role) (string, Key) {
	t.Helper()
	plain, k, err := ks.Create(name, loc, role)
	if err != nil {
		t.Fatalf("Create(%q, %q, %q): %v", name, loc, role, err)
	}
	return plain, k
}

var keyShape = regexp.MustCompile(`^gk_[A-Za-z0-9]{12}_[A-Za-z0-9_-]{43}$`)

func TestKeyStoreCreateThenAuthenticate(t *testing.T) {
	t.Parallel()
	clock := newFakeClock()
	ks := openTestStore(t, filepath.Join(t.TempDir(), "keys.json"), clock)

	for _, tc := range []struct {
		name, loc string
		role      Role
	}{
		{"billing backend", "locA1", RoleWrite},
		{"reporting", "loc_B-2", RoleRead},
		{"", "locC", RoleRead}, // the name is optional in the API
	} {
		plain, k := mustCreate(t, ks, tc.name, tc.loc, tc.role)
		if !keyShape.MatchString(plain) {
			t.Errorf("key %q does not have the shape gk_<id>_<secret>", plain)
		}
		if !strings.HasPrefix(plain, "gk_"+k.ID+"_") {
			t.Errorf("key does not embed its id %s", k.ID)
		}
		if !k.CreatedAt.Equal(clock.Now()) || k.Revoked() {
			t.Errorf("Key = %+v, want created now and active", k)
		}
		p, err := ks.Authenticate(plain)
		if err != nil {
			t.Fatalf("Authenticate: %v", err)
		}
		want := Principal{Kind: KindAPIKey, Subject: k.ID, LocationID: tc.loc, Role: tc.role}
		if p != want {
			t.Errorf("Principal = %+v, want %+v", p, want)
		}
		if p.CanWrite() != (tc.role == RoleWrite) {
			t.Errorf("CanWrite() = %v for role %s", p.CanWrite(), tc.role)
		}
	}
	if got := len(ks.List()); got != 3 {
		t.Errorf("List() has %d keys, want 3", got)
	}
}

func TestKeyStoreRefusals(t *testing.T) {
	t.Parallel()
	ks := openTestStore(t, filepath.Join(t.TempDir(), "keys.json"), nil)
	plain, k := mustCreate(t, ks, "victim", "loc1", RoleWrite)
	revokedPlain, revoked := mustCreate(t, ks, "old", "loc1", RoleWrite)
	if err := ks.Revoke(revoked.ID); err != nil {
		t.Fatal(err)
	}
	prefix := "gk_" + k.ID + "_"
	secret := strings.TrimPrefix(plain, prefix)
	otherSecret := base64.RawURLEncoding.EncodeToString(bytes.Repeat([]byte{7}, 32))
	// The last character of a 43-character secret carries 2 padding bits;
	// a non-zero value there spells the same bytes non-canonically.
	nonCanonical := secret[:42] + string(flipPadding(secret[42]))
	// An underscore in place of the secret's first character, unless that
	// character is one (1 time in 64): then the token would be the key.
	extraUnderscore := "gk_" + k.ID + "__" + secret[1:]
	if extraUnderscore == plain {
		extraUnderscore = "gk_" + k.ID + "__" + secret[:len(secret)-1]
	}

	tests := []struct {
		name  string
		token string
	}{
		{"wrong secret", prefix + otherSecret},
		{"unknown id", "gk_ZZZZZZZZZZZZ_" + secret},
		{"revoked", revokedPlain},
		{"empty", ""},
		{"prefix only", "gk_"},
		{"short", "gk_x"},
		{"id only", "gk_" + k.ID},
		{"id and separator only", prefix},
		{"extra underscore", extraUnderscore},
		{"extra underscores in id", "gk_" + k.ID[:5] + "_" + k.ID[6:] + "_" + secret},
		{"trailing data", plain + "x"},
		{"truncated secret", plain[:len(plain)-1]},
		{"padded secret", plain[:len(plain)-1] + "="},
		{"non-canonical secret", prefix + nonCanonical},
		{"standard base64", prefix + strings.NewReplacer("-", "+", "_", "/").Replace(secret) + "A"},
		{"other prefix", "gx_" + strings.TrimPrefix(plain, "gk_")},
		{"upper-case prefix", "GK_" + strings.TrimPrefix(plain, "gk_")},
		{"leading space", " " + plain[:len(plain)-1]},
		{"huge", "gk_" + strings.Repeat("A", 1<<20)},
		{"huge with valid start", plain + strings.Repeat("_", 1<<16)},
		{"nul bytes", "gk_" + strings.Repeat("\x00", 56)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, err := ks.Authenticate(tc.token)
			if !errors.Is(err, ErrInvalidCredential) {
				t.Fatalf("Authenticate = %+v, %v; want ErrInvalidCredential", p, err)
			}
			if p != (Principal{}) {
				t.Errorf("a refusal returned principal %+v", p)
			}
			if strings.Contains(err.Error(), secret) || strings.Contains(err.Error(), otherSecret) {
				t.Errorf("error %q contains a secret", err)
			}
			if len(err.Error()) > 200 {
				t.Errorf("error is %d bytes long; attacker input must not be echoed", len(err.Error()))
			}
		})
	}
	// The valid key still works: refusals changed nothing.
	if _, err := ks.Authenticate(plain); err != nil {
		t.Fatalf("valid key refused after the refusals: %v", err)
	}
}

// flipPadding returns a base64url character equal to c in its top 4 bits
// but with the low 2 bits, which a 43-character secret must leave 0, set.
func flipPadding(c byte) byte {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	return alphabet[strings.IndexByte(alphabet, c)|1]
}

func TestKeyStoreFileHoldsNoSecret(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "keys.json")
	ks := openTestStore(t, path, nil)
	var plains []string
	for i := range 5 {
		plain, _ := mustCreate(t, ks, fmt.Sprintf("key %d", i), "loc1", RoleRead)
		plains = append(plains, plain)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, plain := range plains {
		secretText := plain[len("gk_")+keyIDLen+1:]
		raw, err := base64.RawURLEncoding.DecodeString(secretText)
		if err != nil {
			t.Fatal(err)
		}
		for what, needle := range map[string][]byte{
			"plaintext key":     []byte(plain),
			"base64url secret":  []byte(secretText),
			"std base64 secret": []byte(base64.StdEncoding.EncodeToString(raw)),
			"raw secret bytes":  raw,
			"hex secret":        fmt.Appendf(nil, "%x", raw),
		} {
			if bytes.Contains(data, needle) {
				t.Errorf("the key file contains the %s", what)
			}
		}
	}
	// Nor do the listings.
	for _, k := range ks.List() {
		for _, s := range []string{k.String(), fmt.Sprintf("%v %+v %#v", k, k, k)} {
			if strings.Contains(s, "sha256$") {
				t.Errorf("Key formatting shows the hash: %s", s)
			}
			for _, plain := range plains {
				if strings.Contains(s, plain[len("gk_")+keyIDLen+1:]) {
					t.Errorf("Key formatting shows a secret: %s", s)
				}
			}
		}
	}
}

func TestKeyStoreFileMode(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()

	fresh := filepath.Join(dir, "fresh.json")
	ks := openTestStore(t, fresh, nil)
	assertMode(t, fresh, 0o600)
	mustCreate(t, ks, "k", "loc1", RoleRead)
	assertMode(t, fresh, 0o600)

	// A store made readable by others is tightened when opened.
	loose := filepath.Join(dir, "loose.json")
	if err := os.WriteFile(loose, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(loose, 0o644); err != nil {
		t.Fatal(err)
	}
	openTestStore(t, loose, nil)
	assertMode(t, loose, 0o600)

	// No temporary file is left behind.
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if strings.Contains(e.Name(), ".tmp-") {
			t.Errorf("temporary file %s left behind", e.Name())
		}
	}
}

func assertMode(t *testing.T, path string, want os.FileMode) {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := fi.Mode().Perm(); got != want {
		t.Errorf("%s has mode %v, want %v", filepath.Base(path), got, want)
	}
}

// TestKeyStoreSeesOtherWriter is the `gateway keys revoke` case: a second
// KeyStore on the same file (another process, in life) revokes a key, and
// the running one refuses it once its reload interval has passed.
func TestKeyStoreSeesOtherWriter(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "keys.json")
	clock := newFakeClock()
	gateway := openTestStore(t, path, clock)
	cli := openTestStore(t, path, clock)

	plain, k := mustCreate(t, gateway, "app", "loc1", RoleWrite)
	if _, err := gateway.Authenticate(plain); err != nil {
		t.Fatal(err)
	}
	if err := cli.Revoke(k.ID); err != nil {
		t.Fatal(err)
	}
	// Within the interval the gateway has not looked at the file yet.
	if _, err := gateway.Authenticate(plain); err != nil {
		t.Fatalf("key refused before the reload interval elapsed: %v", err)
	}
	clock.Advance(ReloadInterval)
	if _, err := gateway.Authenticate(plain); !errors.Is(err, ErrInvalidCredential) {
		t.Fatalf("revoked key accepted after the reload interval: %v", err)
	}

	// A key the CLI creates is usable by the gateway after the interval,
	// and a write by the gateway keeps it (writes start from the disk, not
	// from a stale snapshot).
	plain2, k2 := mustCreate(t, cli, "app2", "loc2", RoleRead)
	mustCreate(t, gateway, "app3", "loc3", RoleRead)
	clock.Advance(ReloadInterval)
	p, err := gateway.Authenticate(plain2)
	if err != nil || p.Subject != k2.ID {
		t.Fatalf("Authenticate(key created elsewhere) = %+v, %v", p, err)
	}
	if got := len(cli.List()); got != 3 {
		t.Errorf("the other store lists %d keys, want 3", got)
	}
}

func TestKeyStoreReload(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "keys.json")
	clock := newFakeClock() // never advanced: only Reload may pick changes up
	a := openTestStore(t, path, clock)
	b := openTestStore(t, path, clock)
	plain, k := mustCreate(t, a, "app", "loc1", RoleRead)
	if _, err := b.Authenticate(plain); !errors.Is(err, ErrInvalidCredential) {
		t.Fatalf("b knew the key before reloading: %v", err)
	}
	if err := b.Reload(); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Authenticate(plain); err != nil {
		t.Fatalf("b refused the key after Reload: %v", err)
	}
	if err := a.Revoke(k.ID); err != nil {
		t.Fatal(err)
	}
	if err := b.Reload(); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Authenticate(plain); !errors.Is(err, ErrInvalidCredential) {
		t.Fatalf("b accepted a revoked key after Reload: %v", err)
	}
}

func TestKeyStoreKeepsLastGoodKeysOnBadFile(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "keys.json")
	clock := newFakeClock()
	ks := openTestStore(t, path, clock)
	plain, _ := mustCreate(t, ks, "app", "loc1", RoleRead)

	if err := os.WriteFile(path+".new", []byte("{not json"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(path+".new", path); err != nil {
		t.Fatal(err)
	}
	if err := ks.Reload(); err == nil {
		t.Error("Reload of a corrupt file succeeded")
	}
	clock.Advance(ReloadInterval)
	if _, err := ks.Authenticate(plain); err != nil {
		t.Errorf("a corrupt file on disk dropped the loaded keys: %v", err)
	}
	if _, err := OpenKeyStore(path); err == nil {
		t.Error("OpenKeyStore accepted a corrupt file")
	}
}

func TestOpenKeyStoreRefusesBadFiles(t *testing.T) {
	t.Parallel()
	goodHash := "sha256$" + base64.RawURLEncoding.EncodeToString(make([]byte, 16)) + "$" + base64.RawURLEncoding.EncodeToString(make([]byte, 32))
	rec := func(id, loc, role, hash string) string {
		return fmt.Sprintf(`{"id":%q,"name":"n","locationId":%q,"role":%q,"hash":%q,"createdAt":"2026-01-01T00:00:00Z","revokedAt":null}`, id, loc, role, hash)
	}
	tests := []struct {
		name, content string
		ok            bool
	}{
		{"empty file", "", true},
		{"no keys", `{"version":1,"keys":[]}`, true},
		{"one key", `{"version":1,"keys":[` + rec("AAAAAAAAAAAA", "loc", "read", goodHash) + `]}`, true},
		{"not json", `nope`, false},
		{"wrong version", `{"version":2,"keys":[]}`, false},
		{"unknown field", `{"version":1,"keys":[],"pepper":"x"}`, false},
		{"bad id", `{"version":1,"keys":[` + rec("short", "loc", "read", goodHash) + `]}`, false},
		{"bad role", `{"version":1,"keys":[` + rec("AAAAAAAAAAAA", "loc", "admin", goodHash) + `]}`, false},
		{"bad location", `{"version":1,"keys":[` + rec("AAAAAAAAAAAA", "", "read", goodHash) + `]}`, false},
		{"bad hash", `{"version":1,"keys":[` + rec("AAAAAAAAAAAA", "loc", "read", "md5$x$y") + `]}`, false},
		{"duplicate id", `{"version":1,"keys":[` + rec("AAAAAAAAAAAA", "loc", "read", goodHash) + `,` + rec("AAAAAAAAAAAA", "loc", "read", goodHash) + `]}`, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "keys.json")
			if err := os.WriteFile(path, []byte(tc.content), 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := OpenKeyStore(path)
			if (err == nil) != tc.ok {
				t.Fatalf("OpenKeyStore error = %v, want ok=%v", err, tc.ok)
			}
		})
	}
	if _, err := OpenKeyStore(""); err == nil {
		t.Error("OpenKeyStore(\"\") succeeded")
	}
	if _, err := OpenKeyStore(t.TempDir()); err == nil {
		t.Error("OpenKeyStore(directory) succeeded")
	}
	if _, err := OpenKeyStore(filepath.Join(t.TempDir(), "missing-dir", "keys.json")); err == nil {
		t.Error("OpenKeyStore in a missing directory succeeded")
	}
}

func TestKeyStoreCreateValidates(t *testing.T) {
	t.Parallel()
	ks := openTestStore(t, filepath.Join(t.TempDir(), "keys.json"), nil)
	tests := []struct {
		name, keyName, loc string
		role               Role
		wantInErr          string
	}{
		{"empty location", "n", "", RoleRead, "location"},
		{"location with slash", "n", "loc/../x", RoleRead, "location"},
		{"location with space", "n", "loc 1", RoleRead, "location"},
		{"long location", "n", strings.Repeat("a", 129), RoleRead, "location"},
		{"empty role", "n", "loc", "", "role"},
		{"unknown role", "n", "loc", "admin", "role"},
		{"role in capitals", "n", "loc", "WRITE", "role"},
		{"name with newline", "a\nb", "loc", RoleRead, "name"},
		{"long name", strings.Repeat("n", maxNameLen+1), "loc", RoleRead, "name"},
		{"name not utf-8", "\xff", "loc", RoleRead, "name"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			plain, _, err := ks.Create(tc.keyName, tc.loc, tc.role)
			if err == nil || plain != "" {
				t.Fatalf("Create succeeded: %q", plain)
			}
			if !strings.Contains(err.Error(), tc.wantInErr) {
				t.Errorf("error %q does not mention %q", err, tc.wantInErr)
			}
		})
	}
	if n := len(ks.List()); n != 0 {
		t.Errorf("refused creations left %d keys", n)
	}
}

func TestKeyStoreRevoke(t *testing.T) {
	t.Parallel()
	clock := newFakeClock()
	ks := openTestStore(t, filepath.Join(t.TempDir(), "keys.json"), clock)
	_, k := mustCreate(t, ks, "app", "loc1", RoleRead)

	if err := ks.Revoke("ZZZZZZZZZZZZ"); !errors.Is(err, ErrKeyNotFound) {
		t.Errorf("Revoke(unknown) = %v, want ErrKeyNotFound", err)
	}
	if err := ks.Revoke(""); !errors.Is(err, ErrKeyNotFound) {
		t.Errorf("Revoke(\"\") = %v, want ErrKeyNotFound", err)
	}
	if err := ks.Revoke(k.ID); err != nil {
		t.Fatal(err)
	}
	first := clock.Now()
	clock.Advance(time.Hour)
	if err := ks.Revoke(k.ID); err != nil {
		t.Fatalf("second Revoke: %v", err)
	}
	got := ks.List()
	if len(got) != 1 || !got[0].RevokedAt.Equal(first) {
		t.Errorf("after two revokes List() = %+v, want revoked at %v", got, first)
	}
}

// TestKeyStoreConcurrency runs authentications while keys are created and
// revoked, in one store and through a second one on the same file; run
// with -race. Every key created must survive the concurrent writers.
func TestKeyStoreConcurrency(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "keys.json")
	a := openTestStore(t, path, nil)
	b := openTestStore(t, path, nil)
	a.checkEvery, b.checkEvery = 0, 0 // reload on every call, to exercise it
	stable, stableKey := mustCreate(t, a, "stable", "loc1", RoleWrite)
	doomed, doomedKey := mustCreate(t, a, "doomed", "loc1", RoleWrite)

	const writers, perWriter, readers, reads = 4, 5, 8, 200
	var wg sync.WaitGroup
	errs := make(chan error, writers*perWriter+readers*reads+1)
	for w := range writers {
		store := a
		if w%2 == 1 {
			store = b
		}
		wg.Go(func() {
			for i := range perWriter {
				if _, _, err := store.Create(fmt.Sprintf("w%d-%d", w, i), "loc2", RoleRead); err != nil {
					errs <- err
				}
			}
		})
	}
	wg.Go(func() {
		if err := b.Revoke(doomedKey.ID); err != nil {
			errs <- err
		}
	})
	for range readers {
		wg.Go(func() {
			for range reads {
				p, err := a.Authenticate(stable)
				if err != nil || p.Subject != stableKey.ID {
					errs <- fmt.Errorf("stable key: %+v, %v", p, err)
				}
				// The doomed key may go either way mid-run, but never
				// errs otherwise.
				if _, err := b.Authenticate(doomed); err != nil && !errors.Is(err, ErrInvalidCredential) {
					errs <- err
				}
				_ = a.List()
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if err := a.Reload(); err != nil {
		t.Fatal(err)
	}
	if got, want := len(a.List()), 2+writers*perWriter; got != want {
		t.Errorf("after concurrent writes the store has %d keys, want %d (a write was lost)", got, want)
	}
	if _, err := a.Authenticate(doomed); !errors.Is(err, ErrInvalidCredential) {
		t.Errorf("revoked key accepted: %v", err)
	}
}

func TestParseRole(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]Role{"read": RoleRead, "write": RoleWrite} {
		if got, err := ParseRole(in); err != nil || got != want {
			t.Errorf("ParseRole(%q) = %q, %v", in, got, err)
		}
	}
	for _, in := range []string{"", "Read", "WRITE", "admin", "read ", "rw"} {
		if _, err := ParseRole(in); err == nil {
			t.Errorf("ParseRole(%q) succeeded", in)
		}
	}
}

func TestNewKeyIDAlphabet(t *testing.T) {
	t.Parallel()
	seen := map[string]bool{}
	for range 1000 {
		id := newKeyID()
		if !validKeyID(id) {
			t.Fatalf("newKeyID() = %q, not a valid id", id)
		}
		if seen[id] {
			t.Fatalf("newKeyID() repeated %q", id)
		}
		seen[id] = true
	}
}

// FuzzKeyStoreAuthenticate feeds arbitrary tokens to Authenticate: only
// the one real key may pass, every refusal is ErrInvalidCredential, and no
// error echoes the secret part of what it was given. `go test` runs the
// seeds; `go test -fuzz=FuzzKeyStoreAuthenticate` explores.
func FuzzKeyStoreAuthenticate(f *testing.F) {
	ks := openTestStore(f, filepath.Join(f.TempDir(), "keys.json"), nil)
	plain, k := mustCreate(f, ks, "fuzz", "loc1", RoleRead)
	for _, seed := range []string{
		plain, "", "gk_", "gk_x", "gk_" + k.ID, "gk_" + k.ID + "_", "gk_" + k.ID + "__" + plain[17:],
		plain[:len(plain)-1], plain + "=", strings.ToUpper(plain), "gk_AAAAAAAAAAAA_" + plain[16:],
		"a.b.c", strings.Repeat("_", apiKeyLen), "gk_" + strings.Repeat("é", 28),
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, token string) {
		p, err := ks.Authenticate(token)
		if token == plain {
			if err != nil || p.Subject != k.ID {
				t.Fatalf("the real key was refused: %v", err)
			}
			return
		}
		if !errors.Is(err, ErrInvalidCredential) {
			t.Fatalf("Authenticate(%q) = %+v, %v; want ErrInvalidCredential", token, p, err)
		}
		if secretPart := token[min(len(token), 16):]; len(secretPart) >= 8 && strings.Contains(err.Error(), secretPart) {
			t.Fatalf("error %q echoes the token's secret part", err)
		}
	})
}
