package runtimemetrics

import (
	"encoding/json"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// goVersions are the toolchains the reader is checked against, besides the
// local one. Each is fetched from the Go module proxy (golang.org/toolchain)
// when not in the module cache.
var goVersions = []string{"1.19.13", "1.20.14", "1.21.13", "1.22.12", "1.23.12", "1.24.13", "1.25.14"}

// toolchainGo returns the go command of a released toolchain.
func toolchainGo(t *testing.T, version string) string {
	t.Helper()
	mod := "golang.org/toolchain@v0.0.1-go" + version + ".linux-amd64"
	cmd := exec.Command("go", "mod", "download", "-json", mod)
	cmd.Dir = t.TempDir()
	cmd.Env = append(os.Environ(), "GOFLAGS=-mod=mod", "GOWORK=off")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("download %s: %v (%s)", mod, err, out)
	}
	var info struct{ Dir string }
	if err := json.Unmarshal(out, &info); err != nil || info.Dir == "" {
		t.Fatalf("download %s: %v (%s)", mod, err, out)
	}
	// A module download extracts files without execute permission; the go
	// command's own toolchain switch marks the binaries executable, and so must we.
	for _, sub := range []string{"bin", filepath.Join("pkg", "tool")} {
		err := filepath.WalkDir(filepath.Join(info.Dir, sub), func(path string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			fi, err := d.Info()
			if err != nil || fi.Mode()&0o111 != 0 {
				return err
			}
			return os.Chmod(path, fi.Mode()|0o555)
		})
		if err != nil {
			t.Fatalf("make %s executable: %v", mod, err)
		}
	}
	return filepath.Join(info.Dir, "bin", "go")
}

// buildDemoWith builds runtimedemo with an older toolchain, unstripped and stripped.
func buildDemoWith(t *testing.T, goCmd string) (plain, stripped string) {
	t.Helper()
	dir := t.TempDir()
	src, err := os.ReadFile(filepath.Join("..", "..", "..", "..", "integration", "testdata", "runtimedemo", "main.go"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "main.go"), src, 0o644); err != nil {
		t.Fatal(err)
	}
	plain, stripped = filepath.Join(dir, "demo"), filepath.Join(dir, "demo-stripped")
	for _, b := range []struct{ out, ldflags string }{{plain, ""}, {stripped, "-s -w"}} {
		cmd := exec.Command(goCmd, "build", "-ldflags="+b.ldflags, "-o", b.out, "main.go")
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "GOTOOLCHAIN=local", "GOWORK=off", "GOFLAGS=-buildvcs=false", "GO111MODULE=off")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("build with %s: %v\n%s", goCmd, err, out)
		}
	}
	return plain, stripped
}

// TestGoVersions runs the goroutine, leak, GC and allocation checks against
// runtimedemo built by every Go release from 1.19 to 1.25 (1.26 is the
// local toolchain, covered by the other tests), with symbols and stripped.
// Struct offsets come from the unstripped build's DWARF here; goexe's
// per-version table stands in for it in the receiver.
func TestGoVersions(t *testing.T) {
	requireRoot(t)
	if testing.Short() {
		t.Skip("builds the demo with seven toolchains")
	}
	for _, v := range goVersions {
		t.Run("go"+v, func(t *testing.T) {
			plain, stripped := buildDemoWith(t, toolchainGo(t, v))
			for _, variant := range []struct {
				name, run  string
				hideSymtab bool
			}{{"unstripped", plain, false}, {"stripped", stripped, true}} {
				t.Run(variant.name, func(t *testing.T) {
					open := func(t *testing.T) Binary {
						b, err := openStdlibBinary(variant.run, plain)
						if err != nil {
							t.Fatal(err)
						}
						b.noSymtab = variant.hideSymtab
						t.Cleanup(func() { _ = b.f.Close() })
						if want := strings.Split(v, ".")[1]; want != strconv.Itoa(b.GoMinor()) {
							t.Fatalf("binary says go1.%d, built with %s", b.GoMinor(), v)
						}
						return b
					}
					if !variant.hideSymtab {
						// The same build with its symbol table hidden: every global
						// located from code must be the symbol table's, round after round.
						t.Run("locator", func(t *testing.T) {
							demo := startDemo(t, plain, "-mode", "leak")
							checkLocatorAgainstSymtab(t, demo, plain, 5)
						})
					}
					t.Run("goroutines and GC", func(t *testing.T) { checkLeakAndGC(t, variant.run, open(t)) })
					t.Run("allocations", func(t *testing.T) { checkAllocations(t, variant.run, open(t)) })
				})
			}
		})
	}
}

func checkLeakAndGC(t *testing.T, run string, bin Binary) {
	demo := startDemo(t, run, "-mode", "leak")
	opts := DefaultOptions()
	opts.Allocations = false
	opts.LeakThreshold = 20
	c, _ := newTestCollector(t, opts)
	if err := c.AttachBinary(demo.cmd.Process.Pid, bin); err != nil {
		t.Fatal(err)
	}
	md := collect(t, c)
	first, _ := pointWhere(md, "go.goroutine.blocked", "code.function.name", "main.leakyWorkerSpawner")
	prev := first
	for i := 0; i < 3; i++ {
		time.Sleep(450 * time.Millisecond)
		md = collect(t, c)
		n, ok := pointWhere(md, "go.goroutine.blocked", "code.function.name", "main.leakyWorkerSpawner")
		if !ok || n < prev {
			t.Fatalf("blocked at main.leakyWorkerSpawner: %v (ok=%v), previous %v", n, ok, prev)
		}
		prev = n
	}
	if prev < first+40 {
		t.Fatalf("blocked count at the leaking site does not grow: %v -> %v", first, prev)
	}
	if _, ok := pointWhere(md, "go.goroutine.leak.suspected", "code.function.name", "main.leakyWorkerSpawner"); !ok {
		t.Error("leak not flagged")
	}
	// g.startpc read with this version's layout: the leaked goroutines run main.leakyWorker.
	if _, dp, ok := pointWithAttrs(md, "go.goroutine.blocked", map[string]string{"code.function.name": "main.leakyWorkerSpawner"}); ok {
		if fn, _ := dp.Attributes().Get("go.goroutine.start.function.name"); fn.Str() != "main.leakyWorker" {
			t.Errorf("start function %q, want main.leakyWorker", fn.Str())
		}
	}
	if n, ok := pointWhere(md, "go.goroutine.waiting", "go.wait_reason", "chan receive"); !ok || n < prev {
		t.Errorf("chan receive waiters %v (ok=%v), want >= %v", n, ok, prev)
	}
	if d, ok := pointWhere(md, "go.goroutine.blocked.duration.max", "code.function.name", "main.leakyWorkerSpawner"); !ok || d <= 0 || d > 60 {
		t.Errorf("longest blocked %v s (ok=%v)", d, ok)
	}
	if forced, ok := pointWhere(md, "go.gc.cycles", "go.gc.forced", true); !ok || forced < 3 {
		t.Errorf("forced GC cycles %v (ok=%v)", forced, ok)
	}
	if g := singleValue(t, md, "go.config.gogc"); g != 100 {
		t.Errorf("GOGC %v", g)
	}
	if sl, ok := findMetric(md, "go.schedule.duration"); bin.GoMinor() >= minGoForTimeHist && (!ok || sl.Histogram().DataPoints().At(0).Count() == 0) {
		t.Errorf("no goroutine scheduling latency (ok=%v)", ok)
	}
	if _, ok := findMetric(md, "go.memory.gc.goal"); !ok {
		t.Log("go.memory.gc.goal not reported for this version (no gcPercentHeapGoal field)")
	}
}

func checkAllocations(t *testing.T, run string, bin Binary) {
	demo := startDemo(t, run, "-mode", "alloc")
	opts := DefaultOptions()
	opts.Scheduler, opts.GC, opts.Goroutines = false, false, false
	c, _ := newTestCollector(t, opts)
	if err := c.AttachBinary(demo.cmd.Process.Pid, bin); err != nil {
		t.Fatal(err)
	}
	time.Sleep(1500 * time.Millisecond)
	md := collect(t, c)
	heavy, ok1 := pointWhere(md, "go.memory.profile.allocated", "code.function.name", "main.allocHeavy")
	light, ok2 := pointWhere(md, "go.memory.profile.allocated", "code.function.name", "main.allocLight")
	if !ok1 || !ok2 || light == 0 {
		t.Fatalf("allocation sites missing: heavy %v (%v) light %v (%v)", heavy, ok1, light, ok2)
	}
	if r := heavy / light; r < 3*0.85 || r > 3*1.15 {
		t.Errorf("ratio %.3f, want 3 ± 15%%", r)
	}
}
