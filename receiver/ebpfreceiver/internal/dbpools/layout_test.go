package dbpools

import (
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pmetric"

	"github.com/otelcol-goebpf/otelcol-goebpf/internal/testutil/prereq"
	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/goexe"
)

// releasedGo are the toolchains between Debian's 1.19 and the host's whose
// database/sql.DB layout is checked, fetched from the Go module proxy
// (golang.org/toolchain) when not in the module cache (runtimemetrics's
// TestGoVersions uses the same ones).
var releasedGo = []string{"1.20.14", "1.21.13", "1.22.12", "1.23.12", "1.24.13", "1.25.14"}

// moduleToolchain returns the go command of a released toolchain.
func moduleToolchain(t *testing.T, version string) string {
	t.Helper()
	mod := "golang.org/toolchain@v0.0.1-go" + version + ".linux-amd64"
	cmd := exec.Command("go", "mod", "download", "-json", mod)
	cmd.Dir = t.TempDir()
	cmd.Env = append(os.Environ(), "GOFLAGS=-mod=mod", "GOWORK=off")
	out, err := cmd.Output()
	var info struct{ Dir string }
	if err != nil || json.Unmarshal(out, &info) != nil || info.Dir == "" {
		t.Fatalf("download %s: %v (%s)", mod, err, out)
	}
	// A module download extracts files without execute permission.
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

// TestLayoutOf: for every Go from Debian's 1.19 (connRequests a map) to
// the host's (a connRequestSet since 1.23), the layout a stripped build
// gets from the rule is the one DWARF gives the same program built with
// DWARF, and the rule's for that version.
func TestLayoutOf(t *testing.T) {
	t.Parallel()
	type tc struct{ name, goBin string }
	tcs := []tc{{"go1.19", "/usr/lib/go-1.19/bin/go"}}
	for _, v := range releasedGo {
		tcs = append(tcs, tc{"go" + v, ""})
	}
	tcs = append(tcs, tc{"host", "go"})
	minors := map[int]bool{}
	for _, tc := range tcs {
		if tc.goBin == "" {
			tc.goBin = moduleToolchain(t, tc.name[2:])
		}
		if _, err := exec.LookPath(tc.goBin); err != nil {
			prereq.Missing(t, "%s toolchain %s: %v", tc.name, tc.goBin, err)
			continue
		}
		exes := map[bool]*goexe.Executable{}
		for _, stripped := range []bool{false, true} {
			bin := filepath.Join(t.TempDir(), "layoutapp")
			args := []string{"build", "-o", bin}
			if stripped {
				args = append(args, "-ldflags=-s -w")
			}
			cmd := exec.Command(tc.goBin, append(args, ".")...)
			cmd.Dir = filepath.Join("..", "probes", "sqlclient", "testdata", "layoutapp")
			cmd.Env = append(os.Environ(), "GOTOOLCHAIN=local", "GO111MODULE=off", "GOWORK=off")
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("%s build: %v\n%s", tc.name, err, out)
			}
			exe, err := goexe.Inspect(bin)
			if err != nil {
				t.Fatal(err)
			}
			if exe.HasDWARF == stripped {
				t.Fatalf("%s stripped=%v: HasDWARF %v", tc.name, stripped, exe.HasDWARF)
			}
			exes[stripped] = exe
		}
		minor := exes[true].GoMinor()
		minors[minor] = true
		dwarf, err := LayoutOf(exes[false])
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if dwarf.ConnRequestsIsSet != (minor >= 23) || dwarf.NumOpen == 0 || dwarf.MaxOpen == 0 || dwarf.WaitCount == 0 || dwarf.size < dwarf.WaitCount+8 {
			t.Errorf("%s: DWARF layout %+v", tc.name, dwarf)
		}
		stripped, err := LayoutOf(exes[true])
		if err != nil {
			t.Fatalf("%s (%s) stripped: %v", tc.name, exes[true].GoVersion, err)
		}
		if stripped != dwarf {
			t.Errorf("%s (%s): stripped layout %+v, DWARF's %+v", tc.name, exes[true].GoVersion, stripped, dwarf)
		}
	}
	// Every minor the rule covers was checked (host is 1.26).
	for m := minRuleGoMinor; m <= maxRuleGoMinor; m++ {
		if !minors[m] {
			t.Errorf("go1.%d: covered by the rule, not checked against DWARF", m)
		}
	}
}

// ruleLayout knows Go 1.19 through 1.26 by the build info's version
// (release candidates, experiments) and nothing else.
func TestRuleLayout(t *testing.T) {
	t.Parallel()
	for v, want := range map[string]*Layout{
		"go1.19.2": &mapLayout, "go1.22.12": &mapLayout, "go1.21.0 X:boringcrypto": &mapLayout,
		"go1.23rc1": &setLayout, "go1.26.8": &setLayout,
		"go1.18.10": nil, "go1.27.0": nil, "go1.27rc1": nil, "devel go1.27-abcdef": nil, "": nil,
	} {
		l, err := ruleLayout(v)
		if want == nil {
			if !errors.Is(err, ErrGoVersionUnknown) {
				t.Errorf("%q: layout %+v, err %v; want ErrGoVersionUnknown", v, l, err)
			}
			continue
		}
		if err != nil || l != *want {
			t.Errorf("%q: %+v, %v; want %+v", v, l, err, *want)
		}
	}
}

// A stripped binary of a Go version the rule does not cover: no metrics,
// told once per executable, with the version.
func TestUnknownGoVersionToldOnce(t *testing.T) {
	t.Parallel()
	exe := &goexe.Executable{Path: "/app", GoVersion: "go1.99.0"}
	c := NewCollector(time.Unix(100, 0))
	var told []error
	c.SQLLayoutUnknown = func(path string, err error) {
		if path != exe.Path {
			t.Errorf("told about %q", path)
		}
		told = append(told, err)
	}
	procOf := func(int) (Process, bool) { return Process{Exe: exe}, true }
	for i := 0; i < 3; i++ {
		md := pmetric.NewMetrics()
		if err := c.Collect(md, time.Unix(200, 0), map[int][]uint64{1: {0xc000100000}, 2: {0xc000200000}}, nil, procOf); err != nil {
			t.Fatal(err)
		}
		if md.MetricCount() != 0 {
			t.Errorf("%d metrics with an unknown layout", md.MetricCount())
		}
	}
	if len(told) != 1 || !errors.Is(told[0], ErrGoVersionUnknown) || !strings.Contains(told[0].Error(), "go1.99.0") {
		t.Errorf("told %v, want once ErrGoVersionUnknown naming go1.99.0", told)
	}
}
