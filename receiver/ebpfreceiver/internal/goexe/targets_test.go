package goexe

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/otelcol-goebpf/otelcol-goebpf/internal/testutil/prereq"
)

// toolchain is a Go toolchain that builds test targets: either a go command
// installed on the machine (Debian's golang-1.19-go) or a release that the
// host go command downloads through the module proxy (GOTOOLCHAIN).
type toolchain struct {
	name  string // "go1.21.13", or "debian-go1.19" for an installed go
	goBin string // installed go command; empty: host go with GOTOOLCHAIN=name
}

// debianGo119 is where Debian's golang-1.19-go installs its go command.
const debianGo119 = "/usr/lib/go-1.19/bin/go"

var (
	tcDebian119 = toolchain{name: "debian-go1.19", goBin: debianGo119}
	tcGo120     = toolchain{name: "go1.20.14"}
	tcGo121     = toolchain{name: "go1.21.13"}
	tcGo122     = toolchain{name: "go1.22.12"}
	tcGo123     = toolchain{name: "go1.23.12"}
	tcGo124     = toolchain{name: "go1.24.13"}
	tcGo125     = toolchain{name: "go1.25.14"}
	tcHost      = toolchain{name: "host"} // the go command running the tests (Go 1.26)
)

type variant struct {
	stripped, pie, cgo bool
	tiny               bool // testdata/tiny instead of testdata/httpapp
	rawDWARF           bool // -compressdwarf=false, so mutations reach the DWARF parser
}

func (v variant) String() string {
	s := "exe"
	if v.pie {
		s = "pie"
	}
	if v.stripped {
		s += "-stripped"
	}
	if v.cgo {
		s += "-cgo"
	}
	if v.tiny {
		s += "-tiny"
	}
	if v.rawDWARF {
		s += "-rawdwarf"
	}
	return s
}

// buildCacheDir keeps built targets across test runs; a target's file name
// hashes its sources, toolchain and flags, so edits rebuild it.
var buildCacheDir = filepath.Join(os.TempDir(), "goexe-testbins")

var buildLocks sync.Map // cache file name -> *sync.Mutex

// requireCI fails the test under CI=true, where missing prerequisites are
// defects, and skips it elsewhere.
func requireCI(t testing.TB, format string, args ...any) {
	t.Helper()
	prereq.Missing(t, format, args...)
}

func (tc toolchain) command(dir string, args ...string) *exec.Cmd {
	bin := tc.goBin
	if bin == "" {
		bin = "go"
	}
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	var env []string
	for _, kv := range os.Environ() {
		switch k, _, _ := strings.Cut(kv, "="); k {
		case "GOTOOLCHAIN", "GOFLAGS", "GOWORK", "GOROOT", "CGO_ENABLED", "GOOS", "GOARCH", "GO111MODULE", "GOEXPERIMENT":
			continue
		}
		env = append(env, kv)
	}
	tcName := "local"
	if tc.goBin == "" && tc.name != "host" {
		tcName = tc.name
	}
	cmd.Env = append(env, "GOTOOLCHAIN="+tcName, "GOWORK=off", "GOFLAGS=-buildvcs=false", "GO111MODULE=on")
	return cmd
}

// version runs `go env GOVERSION`, which also downloads a GOTOOLCHAIN
// release on first use. An error means the toolchain is unavailable.
func (tc toolchain) version() (string, error) {
	if tc.goBin != "" {
		if _, err := os.Stat(tc.goBin); err != nil {
			return "", err
		}
	}
	cmd := tc.command(os.TempDir(), "env", "GOVERSION")
	// Only stdout holds the version: on a cold cache the go command also prints
	// "go: downloading go1.x.y" on stderr.
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("%v: %s%s", err, out, stderr.String())
	}
	return strings.TrimSpace(string(out)), nil
}

var versionCache sync.Map // toolchain name -> result

type versionResult struct {
	v   string
	err error
}

// requireToolchain returns the toolchain's Go version, skipping the test
// (failing it under CI=true) when the toolchain is unavailable.
func requireToolchain(t testing.TB, tc toolchain) string {
	t.Helper()
	r, ok := versionCache.Load(tc.name)
	if !ok {
		v, err := tc.version()
		r, _ = versionCache.LoadOrStore(tc.name, versionResult{v, err})
	}
	res := r.(versionResult)
	if res.err != nil {
		requireCI(t, "toolchain %s unavailable: %v", tc.name, res.err)
	}
	return res.v
}

// buildTarget builds testdata/httpapp (or cgoapp) with tc and v, reusing a
// cached binary when one exists, and returns the binary's path.
func buildTarget(t testing.TB, tc toolchain, v variant) string {
	t.Helper()
	goVersion := requireToolchain(t, tc)
	srcDir := filepath.Join("testdata", "httpapp")
	switch {
	case v.cgo:
		srcDir = filepath.Join("testdata", "cgoapp")
	case v.tiny:
		srcDir = filepath.Join("testdata", "tiny")
	}
	sources, err := filepath.Glob(filepath.Join(srcDir, "*.go"))
	if err != nil || len(sources) == 0 {
		t.Fatalf("no sources in %s: %v", srcDir, err)
	}
	h := sha256.New()
	fmt.Fprintf(h, "goexe-target-v1 %s %s %s\n", tc.name, goVersion, v)
	for _, s := range sources {
		b, err := os.ReadFile(s)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(h, "%s %d\n", filepath.Base(s), len(b))
		h.Write(b)
	}
	out := filepath.Join(buildCacheDir, fmt.Sprintf("%s-%s-%s", goVersion, v, hex.EncodeToString(h.Sum(nil))[:12]))

	mu, _ := buildLocks.LoadOrStore(out, &sync.Mutex{})
	mu.(*sync.Mutex).Lock()
	defer mu.(*sync.Mutex).Unlock()
	if _, err := os.Stat(out); err == nil {
		return out
	}
	if err := os.MkdirAll(buildCacheDir, 0o755); err != nil {
		t.Fatal(err)
	}
	work := t.TempDir()
	for _, s := range sources {
		b, _ := os.ReadFile(s)
		if err := os.WriteFile(filepath.Join(work, filepath.Base(s)), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(work, "go.mod"), []byte("module example.com/httpapp\n\ngo 1.19\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	args := []string{"build", "-o", out + ".tmp"}
	if v.pie {
		args = append(args, "-buildmode=pie")
	}
	var ldflags []string
	if v.stripped {
		ldflags = append(ldflags, "-s", "-w")
	}
	if v.cgo {
		ldflags = append(ldflags, "-linkmode=external")
	}
	if v.rawDWARF {
		ldflags = append(ldflags, "-compressdwarf=false")
	}
	if len(ldflags) > 0 {
		args = append(args, "-ldflags="+strings.Join(ldflags, " "))
	}
	args = append(args, ".")
	cmd := tc.command(work, args...)
	if v.cgo {
		cmd.Env = append(cmd.Env, "CGO_ENABLED=1")
	} else {
		cmd.Env = append(cmd.Env, "CGO_ENABLED=0")
	}
	var buf bytes.Buffer
	cmd.Stdout, cmd.Stderr = &buf, &buf
	if err := cmd.Run(); err != nil {
		t.Fatalf("build target with %s (%s): %v\n%s", tc.name, strings.Join(args, " "), err, buf.String())
	}
	if err := os.Rename(out+".tmp", out); err != nil {
		t.Fatal(err)
	}
	return out
}
