package registry

import (
	"testing"

	"github.com/cilium/ebpf/btf"

	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/bpfprog"
	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/fields"
	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/probes"
)

// TestProbesMatchTheObject checks each registered probe against the one BPF
// object: its programs and maps exist, its event kind is one the object
// declares and no other probe claims, and every event kind has a probe.
func TestProbesMatchTheObject(t *testing.T) {
	t.Parallel()
	spec, err := bpfprog.LoadGoebpf()
	if err != nil {
		t.Fatal(err)
	}
	kinds := map[bpfprog.GoebpfEventKind]string{}
	names := map[string]bool{}
	for _, p := range All() {
		if p.Name == "" || names[p.Name] {
			t.Errorf("probe name %q empty or used twice", p.Name)
		}
		names[p.Name] = true
		if len(p.Uprobes) == 0 {
			t.Errorf("%s: no uprobes", p.Name)
		}
		for _, u := range p.Uprobes {
			if u.Entry == "" && u.Return == "" {
				t.Errorf("%s: uprobe on %s runs no program", p.Name, u.Symbol)
			}
			for _, prog := range []string{u.Entry, u.Return} {
				if prog != "" && spec.Programs[prog] == nil {
					t.Errorf("%s: program %s is not in the object", p.Name, prog)
				}
			}
		}
		for _, m := range p.GoroutineMaps {
			if spec.Maps[m] == nil {
				t.Errorf("%s: map %s is not in the object", p.Name, m)
			}
		}
		if p.Constants != nil {
			for name := range p.Constants(probes.Settings{}) {
				if spec.Variables[name] == nil {
					t.Errorf("%s: constant %s is not in the object", p.Name, name)
				}
			}
		}
		for _, id := range p.Fields {
			if id >= fields.Count {
				t.Errorf("%s: field ID %d out of range", p.Name, id)
			}
		}
		switch {
		case p.Kind == 0 && p.Decode != nil, p.Kind != 0 && p.Decode == nil:
			t.Errorf("%s: kind %d with decoder %v", p.Name, p.Kind, p.Decode != nil)
		case p.Kind != 0:
			if other, dup := kinds[p.Kind]; dup {
				t.Errorf("%s and %s both send event kind %d", other, p.Name, p.Kind)
			}
			kinds[p.Kind] = p.Name
		}
		if p.CarriesSpans && (p.StartsSpans || p.JoinsSpans || p.Kind != 0) {
			t.Errorf("%s: a span carrier makes no spans of its own", p.Name)
		}
	}
	var enum *btf.Enum
	if err := spec.Types.TypeByName("event_kind", &enum); err != nil {
		t.Fatal(err)
	}
	for _, v := range enum.Values {
		if kinds[bpfprog.GoebpfEventKind(v.Value)] == "" {
			t.Errorf("event kind %s (%d) has no probe", v.Name, v.Value)
		}
	}
	if len(kinds) != len(enum.Values) {
		t.Errorf("%d event kinds claimed, the object declares %d", len(kinds), len(enum.Values))
	}
}
