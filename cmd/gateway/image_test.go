package main

import (
	"bufio"
	"debug/buildinfo"
	"debug/elf"
	"encoding/pem"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ghl-graphql/gateway/server"
)

// The image's build: what the Dockerfile's go build runs (checked below).
var imageBuildEnv = []string{"CGO_ENABLED=0", "GOOS=linux"}

const imageLDFlags = "-s -w"

// nonrootUID is the distroless nonroot user, the image's USER.
const nonrootUID = 65532

// caBundles are where Linux distributions keep the CA certificates, the
// first one found is copied where distroless has it.
var caBundles = []string{"/etc/ssl/certs/ca-certificates.crt", "/etc/pki/tls/certs/ca-bundle.crt"}

// TestImageBinary is what can be tested of the image without a container
// daemon: the binary built as the Dockerfile builds it is static (no ELF
// interpreter, no dynamic section), and it serves /healthz and /readyz
// running as user 65532 with only the files the image holds. As root the
// test chroots into a read-only directory of exactly those files (the
// binary, the CA certificates, /etc/passwd and /etc/group), which is the
// image with readOnlyRootFilesystem; otherwise it runs in an empty
// directory as the current (non-root) user.
func TestImageBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the static binary; skipped in -short mode")
	}
	if runtime.GOOS != "linux" {
		t.Skip("the image is linux; this test checks an ELF binary")
	}
	dockerfile, err := os.ReadFile("../../Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range []string{"CGO_ENABLED=0", "-trimpath", `-ldflags="` + imageLDFlags + `"`, "USER 65532", "ENTRYPOINT [\"/gateway\"]",
		"gcr.io/distroless/static-debian12:nonroot"} {
		if !strings.Contains(string(dockerfile), w) {
			t.Errorf("the Dockerfile does not say %s: this test no longer checks the image's build", w)
		}
	}

	bin := filepath.Join(t.TempDir(), "gateway")
	build := exec.Command("go", "build", "-trimpath", "-ldflags="+imageLDFlags, "-o", bin, ".")
	build.Env = append(os.Environ(), imageBuildEnv...)
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	st, err := os.Stat(bin)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("static binary: %d bytes (%.1f MiB)", st.Size(), float64(st.Size())/(1<<20))

	t.Run("static", func(t *testing.T) {
		f, err := elf.Open(bin)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		for _, p := range f.Progs {
			if p.Type == elf.PT_INTERP || p.Type == elf.PT_DYNAMIC {
				t.Errorf("program header %v: the binary is dynamically linked", p.Type)
			}
		}
		if f.Section(".dynamic") != nil || f.Section(".interp") != nil {
			t.Error("the binary has a .dynamic or .interp section")
		}
		if libs, _ := f.ImportedLibraries(); len(libs) > 0 {
			t.Errorf("the binary needs %v", libs)
		}
		info, err := buildinfo.ReadFile(bin)
		if err != nil {
			t.Fatal(err)
		}
		settings := map[string]string{}
		for _, s := range info.Settings {
			settings[s.Key] = s.Value
		}
		// -ldflags is not recorded with -trimpath: its effect is checked.
		for _, sec := range f.Sections {
			if sec.Name == ".symtab" || strings.HasPrefix(sec.Name, ".debug_") || strings.HasPrefix(sec.Name, ".zdebug_") {
				t.Errorf("section %s: the binary is not stripped (-ldflags=%q)", sec.Name, imageLDFlags)
			}
		}
		for k, v := range map[string]string{"CGO_ENABLED": "0", "-trimpath": "true", "GOOS": "linux"} {
			if settings[k] != v {
				t.Errorf("build setting %s = %q, want %q", k, settings[k], v)
			}
		}
	})

	t.Run("runs as nonroot with only the image's files", func(t *testing.T) {
		base, _ := startImage(t, bin, nil, "-addr", "127.0.0.1:0")
		for _, path := range []string{server.HealthPath, server.ReadyPath} {
			if code := waitStatus(t, base+path, http.StatusOK); code != http.StatusOK {
				t.Fatalf("%s answers %d, want 200", path, code)
			}
		}
	})

	// The CA bundle is where the binary looks for it: an HTTPS upstream
	// whose certificate the bundle holds is reachable (/readyz 200), the
	// same upstream with a bundle that does not hold it is not (503).
	t.Run("verifies TLS with the image's CA bundle", func(t *testing.T) {
		if os.Getuid() != 0 {
			t.Skip("needs root to chroot into the image's files")
		}
		upstreamTLS := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
		upstreamTLS.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshake is the point
		upstreamTLS.StartTLS()
		defer upstreamTLS.Close()
		cert := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: upstreamTLS.Certificate().Raw})
		for _, tc := range []struct {
			name  string
			extra []byte
			want  int
		}{{"bundle holds the upstream's CA", cert, http.StatusOK}, {"bundle does not", nil, http.StatusServiceUnavailable}} {
			base, stderr := startImage(t, bin, tc.extra, "-addr", "127.0.0.1:0", "-upstream-url", upstreamTLS.URL+"/")
			if code := waitStatus(t, base+server.HealthPath, http.StatusOK); code != http.StatusOK {
				t.Fatalf("%s: /healthz %d", tc.name, code)
			}
			if code := waitStatus(t, base+server.ReadyPath, tc.want); code != tc.want {
				t.Errorf("%s: /readyz %d, want %d; stderr:\n%s", tc.name, code, tc.want, stderr.String())
			}
		}
	})
}

// startImage runs bin as the image would: as root, chrooted into a fresh
// read-only directory of the image's files (the CA bundle with extraCA
// appended) as uid 65532; otherwise in an empty directory. It returns the
// gateway's base URL and its stderr.
func startImage(t *testing.T, bin string, extraCA []byte, args ...string) (string, *lockedBuffer) {
	t.Helper()
	cmd := &exec.Cmd{Args: append([]string{"/gateway"}, args...), Env: []string{"GATEWAY_LOG_FORMAT=json"}}
	if os.Getuid() == 0 {
		root := t.TempDir()
		data, err := os.ReadFile(bin)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(root, "gateway"), data, 0o755); err != nil {
			t.Fatal(err)
		}
		layImageRoot(t, root, extraCA)
		cmd.Path, cmd.Dir = "/gateway", "/"
		cmd.SysProcAttr = &syscall.SysProcAttr{Chroot: root,
			Credential: &syscall.Credential{Uid: nonrootUID, Gid: nonrootUID, NoSetGroups: true}}
	} else {
		t.Logf("not root: no chroot; runs in an empty directory as uid %d", os.Getuid())
		cmd.Path, cmd.Dir = bin, t.TempDir()
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	stderr := &lockedBuffer{}
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })

	endpoint := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if rest, ok := strings.CutPrefix(sc.Text(), "GraphQL endpoint:"); ok {
				endpoint <- strings.TrimSpace(rest)
			}
		}
		close(endpoint)
	}()
	var base string
	select {
	case e, ok := <-endpoint:
		if !ok {
			t.Fatalf("exited before printing its endpoint; stderr:\n%s", stderr.String())
		}
		base = strings.TrimSuffix(e, server.GraphQLPath)
	case <-time.After(30 * time.Second):
		t.Fatalf("no endpoint printed; stderr:\n%s", stderr.String())
	}
	if os.Getuid() == 0 {
		status, err := os.ReadFile("/proc/" + strconv.Itoa(cmd.Process.Pid) + "/status")
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(status), "\nUid:\t65532\t65532\t65532\t65532\n") {
			t.Errorf("the process does not run as 65532:\n%s", status)
		}
	}
	return base, stderr
}

// waitStatus GETs url until it answers want (or 20 s pass: a deadline,
// not a timing) and returns the last status, 0 for none.
func waitStatus(t *testing.T, url string, want int) int {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	last := 0
	for {
		resp, err := http.Get(url)
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			last = resp.StatusCode
			if last == want {
				return last
			}
		}
		if time.Now().After(deadline) {
			return last
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// layImageRoot makes dir what the distroless static image holds, read-only
// and owned by root: /gateway, the CA certificates, /etc/passwd and
// /etc/group with the nonroot user; extraCA is appended to the bundle.
func layImageRoot(t *testing.T, dir string, extraCA []byte) {
	t.Helper()
	var ca []byte
	for _, p := range caBundles {
		if b, err := os.ReadFile(p); err == nil {
			ca = b
			break
		}
	}
	if ca == nil {
		t.Fatalf("no CA bundle among %v on this machine", caBundles)
	}
	ca = append(append(ca, '\n'), extraCA...)
	files := map[string]string{
		"etc/ssl/certs/ca-certificates.crt": string(ca),
		"etc/passwd":                        "root:x:0:0:root:/root:/sbin/nologin\nnobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n",
		"etc/group":                         "root:x:0:\nnobody:x:65534:\nnonroot:x:65532:\n",
	}
	for name, text := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(text), 0o444); err != nil {
			t.Fatal(err)
		}
	}
	// Read-only for everyone: the gateway must not need to write (Kubernetes'
	// readOnlyRootFilesystem). Directories stay listable and searchable.
	if err := filepath.Walk(dir, func(p string, info os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		if info.IsDir() {
			return os.Chmod(p, 0o555)
		}
		return os.Chmod(p, 0o444|info.Mode().Perm()&0o111)
	}); err != nil {
		t.Fatal(err)
	}
	// t.TempDir's cleanup must be able to remove what is inside.
	t.Cleanup(func() {
		_ = filepath.Walk(dir, func(p string, info os.FileInfo, err error) error {
			if err == nil && info.IsDir() {
				_ = os.Chmod(p, 0o755)
			}
			return nil
		})
	})
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if strings.Join(names, " ") != "etc gateway" {
		t.Fatalf("the image root holds %v, want only etc and gateway", names)
	}
}
