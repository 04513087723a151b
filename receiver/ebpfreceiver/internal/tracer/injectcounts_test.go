package tracer

import (
	"testing"

	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/bpfprog"
)

// Every index of enum inject_counter (bpf/common/inject.h, through bpf2go's
// constants) has a field of its own in InjectProbeCounts, and the
// inject_counters map holds exactly that many.
func TestInjectCountsCoverEveryIndex(t *testing.T) {
	var c InjectProbeCounts
	seen := map[*uint64]int{}
	for i, f := range c.fields() {
		if f == nil {
			t.Errorf("inject_counters[%d] has no field in InjectProbeCounts", i)
			continue
		}
		if j, dup := seen[f]; dup {
			t.Errorf("inject_counters[%d] and [%d] share one field", j, i)
		}
		seen[f] = i
	}
	spec, err := bpfprog.LoadGoebpf()
	if err != nil {
		t.Fatal(err)
	}
	m := spec.Maps["inject_counters"]
	if m == nil {
		t.Fatal("the object has no inject_counters map")
	}
	if m.MaxEntries != uint32(bpfprog.GoebpfInjectCounterINJECT_COUNTERS) {
		t.Errorf("inject_counters holds %d entries, enum inject_counter has INJECT_COUNTERS = %d", m.MaxEntries, bpfprog.GoebpfInjectCounterINJECT_COUNTERS)
	}
}
