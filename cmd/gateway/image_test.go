package main

import (
	"bufio"
	"debug/buildinfo"
	"debug/elf"
	"io"
	"net/http"
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

	root := t.TempDir()
	bin := filepath.Join(root, "gateway")
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
		cmd := &exec.Cmd{Args: []string{"/gateway", "-addr", "127.0.0.1:0"}, Env: []string{"GATEWAY_LOG_FORMAT=json"}}
		if os.Getuid() == 0 {
			layImageRoot(t, root)
			cmd.Path = "/gateway"
			cmd.Dir = "/"
			cmd.SysProcAttr = &syscall.SysProcAttr{Chroot: root,
				Credential: &syscall.Credential{Uid: nonrootUID, Gid: nonrootUID, NoSetGroups: true}}
		} else {
			t.Logf("not root: no chroot; runs in an empty directory as uid %d", os.Getuid())
			empty := t.TempDir()
			cmd.Path, cmd.Dir = bin, empty
		}
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		var stderr lockedBuffer
		cmd.Stderr = &stderr
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
		for _, path := range []string{server.HealthPath, server.ReadyPath} {
			deadline := time.Now().Add(20 * time.Second)
			for {
				resp, err := http.Get(base + path)
				if err == nil {
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode == http.StatusOK {
						break
					}
				}
				if time.Now().After(deadline) {
					t.Fatalf("%s never answered 200 (last: %v); stderr:\n%s", path, err, stderr.String())
				}
				time.Sleep(50 * time.Millisecond)
			}
		}
	})
}

// layImageRoot makes dir what the distroless static image holds, read-only
// and owned by root: /gateway, the CA certificates, /etc/passwd and
// /etc/group with the nonroot user.
func layImageRoot(t *testing.T, dir string) {
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
