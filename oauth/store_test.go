// This file tests the stores: FileStore's round trip, file mode, refusal of
// a wrong key and of damaged files, atomic replacement across a crash, that
// no secret is written in clear, and concurrent writers; MemoryStore's
// contract; ParseKey; and that a Tokens never prints its tokens.

package oauth

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// sampleTokens returns distinctive tokens of a location.
func sampleTokens(loc string) Tokens {
	return Tokens{
		AccessToken:  "eyJhbGciOiJIUzI1NiJ9.access-" + loc,
		RefreshToken: "refresh-secret-" + loc,
		Expiry:       time.Date(2026, 3, 2, 12, 0, 0, 0, time.UTC),
		LocationID:   loc,
		CompanyID:    "company-1",
		UserID:       "user-1",
		Scopes:       []string{"contacts.readonly", "contacts.write"},
	}
}

func testKey(b byte) []byte { return bytes.Repeat([]byte{b}, KeySize) }

func openStore(t *testing.T, path string, key []byte) *FileStore {
	t.Helper()
	s, err := NewFileStore(path, key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestFileStoreRoundTrip(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "tokens.enc")
	s := openStore(t, path, testKey(1))
	if locs, err := s.Locations(ctx); err != nil || len(locs) != 0 {
		t.Fatalf("new store holds %v, %v", locs, err)
	}
	if _, err := s.Get(ctx, "loc-a"); !errors.Is(err, ErrNotInstalled) {
		t.Fatalf("Get of nothing: %v", err)
	}
	a, b := sampleTokens("loc-a"), sampleTokens("loc-b")
	b.NeedsConsent = true
	for _, tok := range []Tokens{a, b} {
		if err := s.Put(ctx, tok.LocationID, tok); err != nil {
			t.Fatal(err)
		}
	}
	// The caller's slice is not shared with the store.
	a.Scopes[0] = "changed"
	a = sampleTokens("loc-a")
	if got, _ := s.Get(ctx, "loc-a"); got.Scopes[0] != "contacts.readonly" {
		t.Fatal("Put shares the caller's scopes")
	}

	re := openStore(t, path, testKey(1))
	for _, want := range []Tokens{a, b} {
		got, err := re.Get(ctx, want.LocationID)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("reopened %s (-want +got):\n%s", want.LocationID, diff)
		}
	}
	if locs, _ := re.Locations(ctx); !slices.Equal(locs, []string{"loc-a", "loc-b"}) {
		t.Errorf("Locations %v", locs)
	}
	if err := re.Delete(ctx, "loc-a"); err != nil {
		t.Fatal(err)
	}
	if err := re.Delete(ctx, "loc-a"); err != nil {
		t.Fatalf("deleting an absent location: %v", err)
	}
	if locs, _ := openStore(t, path, testKey(1)).Locations(ctx); !slices.Equal(locs, []string{"loc-b"}) {
		t.Errorf("after Delete: %v", locs)
	}
	if s.Path() != path {
		t.Errorf("Path %q", s.Path())
	}
}

func TestFileStoreMode(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tokens.enc")
	s := openStore(t, path, testKey(1))
	wantMode := func(when string) {
		t.Helper()
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: mode %v, want 0600", when, fi.Mode().Perm())
		}
	}
	wantMode("created")
	if err := s.Put(context.Background(), "loc", sampleTokens("loc")); err != nil {
		t.Fatal(err)
	}
	wantMode("after Put")
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	openStore(t, path, testKey(1))
	wantMode("reopened after a chmod 0644")
}

func TestFileStoreRefusesBadFiles(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "tokens.enc")
	s := openStore(t, path, testKey(1))
	if err := s.Put(context.Background(), "loc", sampleTokens("loc")); err != nil {
		t.Fatal(err)
	}
	good, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	flipped := bytes.Clone(good)
	flipped[len(flipped)-5] ^= 0x40
	header := bytes.Clone(good)
	header[len(fileMagic)] = 9 // version

	tests := []struct {
		name string
		data []byte
		key  []byte
		want error
	}{
		{name: "wrong key", data: good, key: testKey(2), want: ErrWrongKey},
		{name: "flipped byte", data: flipped, key: testKey(1), want: ErrCorruptStore},
		{name: "truncated in half", data: good[:len(good)/2], key: testKey(1), want: ErrCorruptStore},
		{name: "truncated to the header", data: good[:headerLen+3], key: testKey(1), want: ErrCorruptStore},
		{name: "empty", data: []byte{}, key: testKey(1), want: ErrCorruptStore},
		{name: "not a store", data: []byte(`{"locations":{}}` + strings.Repeat(" ", 64)), key: testKey(1), want: ErrCorruptStore},
		{name: "unknown version", data: header, key: testKey(1), want: ErrCorruptStore},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := filepath.Join(dir, strings.ReplaceAll(tt.name, " ", "-"))
			if err := os.WriteFile(p, tt.data, 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := NewFileStore(p, tt.key)
			if !errors.Is(err, tt.want) || !strings.Contains(err.Error(), p) {
				t.Fatalf("err = %v, want %v naming the file", err, tt.want)
			}
			// The file is left as it was, for an operator to inspect.
			if got, _ := os.ReadFile(p); !bytes.Equal(got, tt.data) {
				t.Error("the refused file was changed")
			}
		})
	}
	t.Run("bad key length", func(t *testing.T) {
		if _, err := NewFileStore(path, []byte("short")); err == nil {
			t.Fatal("no error")
		}
	})
	t.Run("missing directory", func(t *testing.T) {
		if _, err := NewFileStore(filepath.Join(dir, "no", "such", "dir", "t.enc"), testKey(1)); err == nil {
			t.Fatal("no error")
		}
	})
}

func TestFileStoreAtomicReplace(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	path := filepath.Join(dir, "tokens.enc")
	s := openStore(t, path, testKey(1))
	old := sampleTokens("loc")
	if err := s.Put(ctx, "loc", old); err != nil {
		t.Fatal(err)
	}
	// A crash mid-write: the new contents reached a temporary file, never
	// renamed over the store.
	newer := sampleTokens("loc")
	newer.RefreshToken = "refresh-secret-newer"
	data, err := s.encode(map[string]Tokens{"loc": newer})
	if err != nil {
		t.Fatal(err)
	}
	tmp, err := os.CreateTemp(dir, s.tempPattern())
	if err != nil {
		t.Fatal(err)
	}
	tmp.Write(data[:len(data)/2])
	tmp.Close()

	re := openStore(t, path, testKey(1))
	got, err := re.Get(ctx, "loc")
	if err != nil || got.RefreshToken != old.RefreshToken {
		t.Fatalf("after the crash: %v, %v; want the old pair", got, err)
	}
	if _, err := os.Stat(tmp.Name()); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the crash's temporary file was not removed: %v", err)
	}
	// A completed write leaves no temporary file behind.
	if err := re.Put(ctx, "loc", newer); err != nil {
		t.Fatal(err)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 || entries[0].Name() != "tokens.enc" {
		t.Errorf("directory holds %v", entries)
	}
}

func TestFileStoreFailedWriteChangesNothing(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	path := filepath.Join(dir, "tokens.enc")
	s := openStore(t, path, testKey(1))
	if err := s.Put(ctx, "loc", sampleTokens("loc")); err != nil {
		t.Fatal(err)
	}
	// The rename cannot happen: the store's path is now a non-empty
	// directory (permissions would not stop root).
	if err := os.Rename(path, path+".moved"); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(path, "blocker"), 0o700); err != nil {
		t.Fatal(err)
	}
	newer := sampleTokens("loc")
	newer.RefreshToken = "refresh-secret-newer"
	if err := s.Put(ctx, "loc", newer); err == nil {
		t.Fatal("Put succeeded without its rename")
	}
	if got, _ := s.Get(ctx, "loc"); got.RefreshToken != "refresh-secret-loc" {
		t.Error("a failed Put changed what Get returns")
	}
	matches, _ := filepath.Glob(filepath.Join(dir, s.tempPattern()))
	if len(matches) != 0 {
		t.Errorf("temporary files left: %v", matches)
	}
}

func TestFileStoreNoSecretsInClear(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tokens.enc")
	s := openStore(t, path, testKey(1))
	tok := sampleTokens("locationXYZ")
	if err := s.Put(context.Background(), tok.LocationID, tok); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, secret := range []string{tok.RefreshToken, tok.AccessToken, tok.LocationID, "refresh-secret", "refreshToken"} {
		for _, form := range []string{secret, base64.StdEncoding.EncodeToString([]byte(secret)), hex.EncodeToString([]byte(secret))} {
			if bytes.Contains(raw, []byte(form)) {
				t.Errorf("the file holds %q in clear", form)
			}
		}
	}
	// Two writes of the same contents differ (a fresh nonce each time).
	if err := s.Put(context.Background(), tok.LocationID, tok); err != nil {
		t.Fatal(err)
	}
	raw2, _ := os.ReadFile(path)
	if bytes.Equal(raw, raw2) {
		t.Error("the same contents were encrypted the same way twice")
	}
}

func TestFileStoreConcurrentWriters(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "tokens.enc")
	s := openStore(t, path, testKey(1))
	var wg sync.WaitGroup
	for i := range 40 {
		wg.Go(func() {
			loc := fmt.Sprintf("loc-%02d", i)
			if err := s.Put(ctx, loc, sampleTokens(loc)); err != nil {
				t.Error(err)
			}
			if _, err := s.Get(ctx, loc); err != nil {
				t.Error(err)
			}
			if _, err := s.Locations(ctx); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	locs, _ := openStore(t, path, testKey(1)).Locations(ctx)
	if len(locs) != 40 {
		t.Fatalf("%d locations survived, want 40", len(locs))
	}
}

func TestMemoryStore(t *testing.T) {
	ctx := context.Background()
	s := NewMemoryStore()
	if _, err := s.Get(ctx, "x"); !errors.Is(err, ErrNotInstalled) {
		t.Fatal(err)
	}
	tok := sampleTokens("x")
	if err := s.Put(ctx, "x", tok); err != nil {
		t.Fatal(err)
	}
	got, _ := s.Get(ctx, "x")
	got.Scopes[0] = "changed"
	if again, _ := s.Get(ctx, "x"); again.Scopes[0] != "contacts.readonly" {
		t.Fatal("Get shares memory with the store")
	}
	if locs, _ := s.Locations(ctx); !slices.Equal(locs, []string{"x"}) {
		t.Fatal(locs)
	}
	if err := s.Delete(ctx, "x"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(ctx, "x"); !errors.Is(err, ErrNotInstalled) {
		t.Fatal(err)
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if err := s.Put(cancelled, "x", tok); !errors.Is(err, context.Canceled) {
		t.Fatalf("Put with a cancelled context: %v", err)
	}
}

func TestParseKey(t *testing.T) {
	key := make([]byte, KeySize)
	for i := range key {
		key[i] = byte(i * 7)
	}
	for _, s := range []string{
		hex.EncodeToString(key),
		strings.ToUpper(hex.EncodeToString(key)),
		" " + hex.EncodeToString(key) + "\n",
		base64.StdEncoding.EncodeToString(key),
		base64.RawStdEncoding.EncodeToString(key),
		base64.URLEncoding.EncodeToString(key),
		base64.RawURLEncoding.EncodeToString(key),
	} {
		got, err := ParseKey(s)
		if err != nil || !bytes.Equal(got, key) {
			t.Errorf("ParseKey(%q) = %x, %v", s, got, err)
		}
	}
	for _, s := range []string{"", "abc", hex.EncodeToString(key[:16]), base64.StdEncoding.EncodeToString(append(key, 1)), "zz" + hex.EncodeToString(key)[2:]} {
		_, err := ParseKey(s)
		if err == nil {
			t.Errorf("ParseKey(%q) accepted", s)
		} else if len(s) > 3 && strings.Contains(err.Error(), s) {
			t.Errorf("the error repeats the key: %v", err)
		}
	}
}

func TestTokensNeverPrintSecrets(t *testing.T) {
	tok := sampleTokens("loc")
	var buf bytes.Buffer
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("x", "tokens", tok)
	slog.New(slog.NewTextHandler(&buf, nil)).Info("x", "tokens", tok)
	for _, out := range []string{fmt.Sprint(tok), fmt.Sprintf("%v %+v %s", tok, tok, tok), buf.String()} {
		if strings.Contains(out, tok.AccessToken) || strings.Contains(out, tok.RefreshToken) {
			t.Errorf("printed a token: %s", out)
		}
		if !strings.Contains(out, "loc") {
			t.Errorf("printed no location: %s", out)
		}
	}
}
