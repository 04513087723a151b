package main

import (
	"errors"
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
