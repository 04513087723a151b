package inject

import "testing"

// The BPF program's counters (enum counter of bpf/inject.bpf.c, through the
// constants bpf2go generates) each have one field of their own in Counters,
// and the counters map holds exactly that many.
func TestCountersCoverEveryIndex(t *testing.T) {
	var c Counters
	seen := map[*uint64]injectCounter{}
	for i, f := range c.fields() {
		if f == nil {
			t.Errorf("counter %d of enum counter has no field in Counters", i)
			continue
		}
		if j, dup := seen[f]; dup {
			t.Errorf("counters %d and %d share one field", j, i)
		}
		seen[f] = injectCounter(i)
	}
	spec, err := loadInject()
	if err != nil {
		t.Fatal(err)
	}
	m := spec.Maps["counters"]
	if m == nil {
		t.Fatal("the object has no counters map")
	}
	if m.MaxEntries != uint32(injectCounterC_MAX) {
		t.Errorf("counters map holds %d entries, enum counter has C_MAX = %d", m.MaxEntries, injectCounterC_MAX)
	}
}
