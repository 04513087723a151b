package sarama

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/otelcol-goebpf/otelcol-goebpf/internal/testutil/prereq"
	"github.com/otelcol-goebpf/otelcol-goebpf/internal/testutil/saramademo"
	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/fields"
	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/goexe"
)

// TestLayoutRule: Layout is what DWARF says for the oldest and the newest
// github.com/IBM/sarama the module proxy serves and for
// github.com/Shopify/sarama v1.38.1, and Complete fills it in for their
// stripped builds.
func TestLayoutRule(t *testing.T) {
	if _, err := exec.LookPath("go"); err != nil {
		prereq.Missing(t, "go toolchain: %v", err)
		return
	}
	for _, r := range []saramademo.Release{saramademo.Newest, saramademo.Oldest, saramademo.Shopify} {
		for _, stripped := range []bool{false, true} {
			exe, err := goexe.Inspect(saramademo.Build(t, r, stripped, t.TempDir(), "saramademo"))
			if err != nil {
				t.Fatal(err)
			}
			if !HasKnownLayout(exe) {
				t.Fatalf("%s %s: not recognised (modules %v)", r.Module, r.Version, exe.Modules)
			}
			if !stripped {
				for id, want := range Layout {
					// The fields are keyed by IBM's path; DWARF names
					// Shopify's types by its own.
					key := strings.Replace(id.String(), Module, r.Module, 1)
					dot := strings.LastIndexByte(key, '.')
					got, err := exe.DWARFFieldOffset(key[:dot], key[dot+1:])
					if err != nil {
						t.Fatalf("%s %s: %s: %v", r.Module, r.Version, key, err)
					}
					if got != want {
						t.Errorf("%s %s: DWARF %s = %d, Layout says %d", r.Module, r.Version, key, got, want)
					}
				}
				continue
			}
			tab := fields.NewTable()
			Complete(exe, &tab)
			for id, want := range Layout {
				if tab[id] != want {
					t.Errorf("%s %s stripped: Complete set %s = %d, want %d", r.Module, r.Version, id, tab[id], want)
				}
			}
		}
	}
}

// TestCompleteLeavesOtherVersions: a binary without a sarama release of
// the rule's range gets no offsets from it.
func TestCompleteLeavesOtherVersions(t *testing.T) {
	t.Parallel()
	for _, mods := range []map[string]string{
		nil,
		{ShopifyModule: "v1.37.2"},
		{ShopifyModule: "v1.39.0"},
		{Module: "v1.62.0"},
		{Module: "v2.0.0"},
		{Module: "v1.4x.0"},
		{"github.com/segmentio/kafka-go": "v0.4.51"},
	} {
		exe := &goexe.Executable{Modules: mods}
		tab := fields.NewTable()
		Complete(exe, &tab)
		for id := range Layout {
			if tab.Known(id) {
				t.Errorf("modules %v: %s set to %d", mods, id, tab[id])
			}
		}
	}
	for _, mods := range []map[string]string{{Module: "v1.40.1"}, {Module: "v1.61.1"}, {Module: "v1.45.0"}, {ShopifyModule: "v1.38.0"}} {
		if !HasKnownLayout(&goexe.Executable{Modules: mods}) {
			t.Errorf("modules %v: not recognised", mods)
		}
	}
}
