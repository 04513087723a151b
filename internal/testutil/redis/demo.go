package redis

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// go-redis module paths.
const (
	ModuleV9 = "github.com/redis/go-redis/v9"
	ModuleV8 = "github.com/go-redis/redis/v8"
)

// Demo is one build of integration/testdata/redisdemo: against a go-redis
// module and version, stripped (-ldflags=-s -w) or not.
type Demo struct {
	Module, Version string
	Stripped        bool
}

// Name is a subtest name for d ("v9.23.0", "v8-v8.11.5-stripped").
func (d Demo) Name() string {
	n := d.Version
	if d.Module == ModuleV8 {
		n = "v8-" + n
	}
	if d.Stripped {
		n += "-stripped"
	}
	return n
}

// Demos are the go-redis versions the probe is tested on: the newest v9 and
// the oldest v9 the module proxy serves, and the newest v8.
var Demos = []Demo{
	{ModuleV9, "v9.23.0", false},
	{ModuleV9, "v9.0.0", false},
	{ModuleV8, "v8.11.5", false},
}

// Unlisted is a stripped build against a go-redis version the offsets
// table does not list (a pre-release): its layout is unknown.
var Unlisted = Demo{ModuleV9, "v9.0.0-rc.4", true}

// BuildDemo builds the redisdemo sources in srcDir against d's go-redis (a
// module of its own, fetched through the module proxy; -tags redisv8 for
// v8), cached in $TMPDIR/redisdemo-bins by build and source.
func BuildDemo(t testing.TB, srcDir string, d Demo) string {
	t.Helper()
	h := sha256.New()
	names := []string{"main.go", "client_v8.go", "client_v9.go"}
	var srcs [][]byte
	for _, f := range names {
		b, err := os.ReadFile(filepath.Join(srcDir, f))
		if err != nil {
			t.Fatal(err)
		}
		h.Write(b)
		srcs = append(srcs, b)
	}
	dir := filepath.Join(os.TempDir(), "redisdemo-bins", d.Name()+"-"+hex.EncodeToString(h.Sum(nil)[:6]))
	exe := filepath.Join(dir, "redisdemo")
	if _, err := os.Stat(exe); err == nil {
		return exe
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	// Both modules are required (go mod tidy sees each file's import); the
	// build tag picks the one linked.
	v9, v8 := d.Version, "v8.11.5"
	if d.Module == ModuleV8 {
		v9, v8 = "v9.0.0", d.Version
	}
	gomod := "module redisdemo\n\ngo 1.24\n\nrequire (\n\t" + ModuleV9 + " " + v9 + "\n\t" + ModuleV8 + " " + v8 + "\n)\n"
	if err := os.WriteFile(filepath.Join(dir, "go.mod"), []byte(gomod), 0o644); err != nil {
		t.Fatal(err)
	}
	for i, f := range names {
		if err := os.WriteFile(filepath.Join(dir, f), srcs[i], 0o644); err != nil {
			t.Fatal(err)
		}
	}
	build := []string{"build", "-o", exe + ".tmp"}
	if d.Module == ModuleV8 {
		build = append(build, "-tags", "redisv8")
	}
	if d.Stripped {
		build = append(build, "-ldflags=-s -w")
	}
	for _, args := range [][]string{{"mod", "tidy"}, append(build, ".")} {
		cmd := exec.Command("go", args...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOFLAGS=-mod=mod")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("redisdemo with %s %s: go %v: %v\n%s", d.Module, d.Version, args, err, out)
		}
	}
	if err := os.Rename(exe+".tmp", exe); err != nil {
		t.Fatal(err)
	}
	return exe
}
