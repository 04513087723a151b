package runtimemetrics

import (
	"strings"
	"testing"
	"time"
)

func TestAttributeAllocation(t *testing.T) {
	f := func(names ...string) []codeSite {
		var out []codeSite
		for i, n := range names {
			out = append(out, codeSite{Function: n, File: "f.go", Line: i + 1})
		}
		return out
	}
	tests := []struct {
		name   string
		frames []codeSite
		want   string
	}{
		{"new in user code", f("runtime.mallocgc", "runtime.newobject", "main.handle", "main.main"), "main.handle"},
		{"append", f("runtime.mallocgc", "runtime.growslice", "main.collect"), "main.collect"},
		{"Go 1.24+ split allocator", f("runtime.mallocgcSmallScanNoHeader", "runtime.mallocgc", "runtime.makeslice", "bytes.growSlice"), "bytes.growSlice"},
		// Go >= 1.24 maps: the allocation happens in internal/runtime/maps,
		// which is the runtime, not the caller.
		{"swiss map growth", f("runtime.mallocgc", "runtime.newarray", "internal/runtime/maps.newarray", "internal/runtime/maps.(*table).grow",
			"runtime.mapassign_fast64", "main.fill"), "main.fill"},
		{"runtime/internal before 1.23", f("runtime.mallocgc", "runtime/internal/sys.x", "main.f"), "main.f"},
		// The runtime allocating for itself on the system stack: no frame
		// outside the runtime; the runtime function that asked, not mallocgc.
		{"g of a new M", f("runtime.mallocgc", "runtime.newobject", "runtime.malg", "runtime.allocm", "runtime.newm", "runtime.systemstack"), "runtime.malg"},
		{"timer heap", f("runtime.mallocgc", "runtime.growslice", "runtime.(*timers).addHeap", "runtime.park_m", "runtime.mcall"), "runtime.(*timers).addHeap"},
		{"unresolved frames skipped", f("runtime.mallocgc", "unknown", "main.f"), "main.f"},
		{"libraries under runtime/ are callers", f("runtime.mallocgc", "runtime.makeslice", "runtime/pprof.(*profileBuilder).build"), "runtime/pprof.(*profileBuilder).build"},
		{"nothing but the allocator", f("runtime.mallocgc", "runtime.growslice"), "runtime.mallocgc"},
		{"empty stack", nil, "unknown"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := attributeAllocation(tt.frames); got.Function != tt.want {
				t.Errorf("attributed to %s, want %s", got.Function, tt.want)
			}
		})
	}
}

// TestAllocationSitesNeverNameTheAllocator samples every allocation of
// runtimedemo -mode alloc (MemProfileRate 1, so the runtime's own
// allocations on the system stack are sampled too) and checks that no site
// is the allocator itself, and that map growth, done inside the runtime's
// map code, goes to the function filling the map.
func TestAllocationSitesNeverNameTheAllocator(t *testing.T) {
	requireRoot(t)
	for _, v := range variants(t) {
		t.Run(v.name, func(t *testing.T) {
			demo := startDemo(t, v.run, "-mode", "alloc", "-memprofilerate", "1")
			opts := DefaultOptions()
			opts.Scheduler, opts.GC, opts.Goroutines = false, false, false
			opts.TopKAllocationSites = 1000
			c, _ := newTestCollector(t, opts)
			if err := c.AttachBinary(demo.cmd.Process.Pid, v.bin(t)); err != nil {
				t.Fatal(err)
			}
			time.Sleep(time.Second)
			md := collect(t, c)
			m, ok := findMetric(md, "go.memory.profile.allocated")
			if !ok {
				t.Fatal("no allocation sites")
			}
			dps := m.Sum().DataPoints()
			var sites []string
			var mapBytes float64
			for i := 0; i < dps.Len(); i++ {
				fn, _ := dps.At(i).Attributes().Get("code.function.name")
				sites = append(sites, fn.Str())
				if isAllocator(fn.Str()) {
					t.Errorf("allocation site %s is the allocator itself", fn.Str())
				}
				if fn.Str() == "main.allocMap" {
					mapBytes += dps.At(i).DoubleValue()
				}
			}
			if mapBytes == 0 {
				t.Errorf("no allocations attributed to main.allocMap; sites: %s", strings.Join(sites, ", "))
			}
			t.Logf("%d sites: %s", len(sites), strings.Join(sites, ", "))
		})
	}
}
