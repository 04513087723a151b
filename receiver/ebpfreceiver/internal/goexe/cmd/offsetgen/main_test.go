package main

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/goexe"
)

func u64(v uint64) *uint64 { return &v }

// TestBuildTable checks that per-release results become a table whose
// lookups give back every release's own offset: change points inside a minor
// (including a field appearing), and minors without changes.
func TestBuildTable(t *testing.T) {
	t.Parallel()
	mk := func(v string, status, pattern *uint64) *build {
		minor, patch, ok := parseVersion(v)
		if !ok {
			t.Fatalf("bad version %s", v)
		}
		return &build{version: v, minor: minor, patch: patch, offsets: map[string]*uint64{
			"net/http.response.status": status, "net/http.Request.Pattern": pattern,
		}}
	}
	builds := map[string]*build{}
	for _, b := range []*build{
		mk("go1.22.0", u64(120), nil), mk("go1.22.12", u64(120), nil),
		mk("go1.26.0", u64(120), u64(232)), mk("go1.26.5", u64(120), u64(232)),
		mk("go1.26.11", u64(128), u64(232)), mk("go1.26.12", u64(136), u64(232)),
		mk("go1.23.0", u64(120), nil), mk("go1.23.4", u64(120), u64(232)),
	} {
		builds[b.version] = b
	}
	fields := []string{"net/http.response.status", "net/http.Request.Pattern"}
	table := buildTable(fields, builds)
	if got := table.Fields["net/http.response.status"].Offsets; len(got) != 5 { // 22, 23, 26, go1.26.11, go1.26.12
		t.Errorf("response.status keys = %v, want 5", got)
	}
	for v, b := range builds {
		for _, f := range fields {
			got, err := table.Lookup(f, v, nil)
			want := b.offsets[f]
			if want == nil {
				if !errors.Is(err, goexe.ErrFieldAbsent) {
					t.Errorf("%s in %s: %d, %v; want absent", f, v, got, err)
				}
				continue
			}
			if err != nil || got != *want {
				t.Errorf("%s in %s: %d, %v; want %d", f, v, got, err, *want)
			}
		}
	}
	// Releases between built ones take the latest change point before them.
	if got, err := table.Lookup("net/http.response.status", "go1.26.8", nil); err != nil || got != 120 {
		t.Errorf("go1.26.8: %d, %v; want 120", got, err)
	}
	if got, err := table.Lookup("net/http.Request.Pattern", "go1.23.9", nil); err != nil || got != 232 {
		t.Errorf("go1.23.9 Pattern: %d, %v; want 232", got, err)
	}
	if len(table.Toolchains["26"]) != 4 {
		t.Errorf("toolchains = %v", table.Toolchains)
	}
}

func TestDiffering(t *testing.T) {
	t.Parallel()
	a := &build{version: "go1.24.0", offsets: map[string]*uint64{"x": u64(1), "y": nil, "z": u64(3)}}
	b := &build{version: "go1.24.13", offsets: map[string]*uint64{"x": u64(1), "y": u64(2), "z": u64(4)}}
	got := differing([]string{"x", "y", "z"}, []*build{a, b})
	if len(got) != 2 || got[0] != "y" || got[1] != "z" {
		t.Errorf("differing = %v, want [y z]", got)
	}
}

// offsets_fields.txt lists standard-library fields alone and other
// modules' fields with "@module"; anything else is an error naming the
// line.
func TestReadFields(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	write := func(s string) string {
		p := filepath.Join(dir, "fields.txt")
		if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	fields, mods, err := readFields(write("# comment\nruntime.g.goid\n\nexample.com/m/v2.T.f @example.com/m/v2\nexample.com/m/v2.U.g @example.com/m/v2\n"))
	if err != nil {
		t.Fatal(err)
	}
	if len(fields) != 1 || fields[0] != "runtime.g.goid" {
		t.Errorf("fields %v", fields)
	}
	if got := mods["example.com/m/v2"]; len(mods) != 1 || len(got) != 2 || got[0] != "example.com/m/v2.T.f" || got[1] != "example.com/m/v2.U.g" {
		t.Errorf("module fields %v", mods)
	}
	for _, bad := range []string{"nofield\n", "a.T.f example.com/m\n", "a.T.f @\n", "a.T.f @m extra\n"} {
		if _, _, err := readFields(write(bad)); err == nil || !strings.Contains(err.Error(), strings.TrimSpace(bad)) {
			t.Errorf("%q: %v, want an error naming the line", bad, err)
		}
	}
	// The module mode's markers: the key alone is returned, marked.
	fields, mods, err = readFields(write("google.golang.org/genproto/googleapis/rpc/status.Status.Code @protoc-gen-go\ninternal/runtime/maps.Map.dirLen ?\n"))
	if err != nil || len(mods) != 0 || len(fields) != 2 || !byGeneration[fields[0]] || !mayLackType[fields[1]] || fields[1] != "internal/runtime/maps.Map.dirLen" {
		t.Errorf("marked fields %v, modules %v, %v", fields, mods, err)
	}
	if got := moduleProgram("github.com/redis/go-redis/v9"); got != filepath.Join("testdata", "modules", "github_com_redis_go-redis_v9") {
		t.Errorf("moduleProgram = %s", got)
	}
}

func TestModuleVersions(t *testing.T) {
	t.Parallel()
	if minorOf("v1.33.2") != "v1.33" || minorOf("v1.60.0") != "v1.60" {
		t.Errorf("minorOf: %s %s", minorOf("v1.33.2"), minorOf("v1.60.0"))
	}
	ordered := []string{"v1.9.0", "v1.33.1", "v1.33.2", "v1.100.0"}
	for i := 0; i+1 < len(ordered); i++ {
		if !semverLess(ordered[i], ordered[i+1]) || semverLess(ordered[i+1], ordered[i]) {
			t.Errorf("%s < %s not ordered", ordered[i], ordered[i+1])
		}
	}
	if d := differingMaps([]string{"a", "b", "c"}, map[string]*uint64{"a": u64(1), "b": nil, "c": u64(2)}, map[string]*uint64{"a": u64(1), "b": u64(0), "c": u64(3)}); len(d) != 2 || d[0] != "b" || d[1] != "c" {
		t.Errorf("differingMaps = %v", d)
	}
}

// -modules-only replaces the entries of the modules it regenerated and
// keeps the standard library's and the module mode's (grpc-go's).
func TestMergeModulesKeepsOthers(t *testing.T) {
	t.Parallel()
	p := filepath.Join(t.TempDir(), "offsets.json")
	old := &goexe.OffsetTable{
		Toolchains: map[string][]string{"26": {"go1.26.0"}},
		Modules:    map[string][]string{"google.golang.org/grpc": {"v1.60.1"}},
		Fields: map[string]goexe.FieldOffsets{
			"runtime.g.goid":   {Offsets: map[string]*uint64{"26": u64(152)}},
			"grpc.T.f":         {Module: "google.golang.org/grpc", Offsets: map[string]*uint64{"v1.60": u64(8)}},
			"redis.T.f":        {Module: "example.com/redis", Offsets: map[string]*uint64{"v1.0.0": u64(1)}},
			"redis.T.obsolete": {Module: "example.com/redis", Offsets: map[string]*uint64{"v1.0.0": u64(2)}},
		},
	}
	if err := writeTable(p, old); err != nil {
		t.Fatal(err)
	}
	if err := mergeModules(p, map[string]goexe.FieldOffsets{"redis.T.f": {Module: "example.com/redis", Offsets: map[string]*uint64{"v1.0.0": u64(1), "v1.1.0": u64(16)}}}, map[string][]string{"example.com/redis": {"v1.0.0", "v1.1.0"}}); err != nil {
		t.Fatal(err)
	}
	got, err := readTable(p)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := got.Fields["redis.T.obsolete"]; ok || len(got.Fields) != 3 || len(got.Fields["redis.T.f"].Offsets) != 2 {
		t.Errorf("fields %+v", got.Fields)
	}
	if g := got.Fields["grpc.T.f"]; g.Module != "google.golang.org/grpc" || *g.Offsets["v1.60"] != 8 || len(got.Modules["google.golang.org/grpc"]) != 1 {
		t.Errorf("grpc entry %+v, modules %v: want them kept", g, got.Modules)
	}
	if *got.Fields["runtime.g.goid"].Offsets["26"] != 152 || len(got.Toolchains["26"]) != 1 {
		t.Errorf("standard-library part changed: %+v", got)
	}
}
