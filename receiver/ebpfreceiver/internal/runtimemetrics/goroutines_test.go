package runtimemetrics

import (
	"testing"
	"time"
)

// fakeBinary resolves PCs from a fixed table.
type fakeBinary struct {
	Binary
	funcs map[uint64]codeSite
}

func (f fakeBinary) FuncForPC(pc uint64) (string, string, int, bool) {
	s, ok := f.funcs[pc]
	return s.Function, s.File, s.Line, ok
}

func TestSummarizeGoroutines(t *testing.T) {
	bin := fakeBinary{funcs: map[uint64]codeSite{
		0x100: {"main.spawnA", "a.go", 7}, 0x200: {"main.spawnB", "b.go", 9},
		0x1000: {"main.worker", "w.go", 1}, 0x2000: {"runtime.bgsweep", "mgc.go", 1}, 0x3000: {"runtime.main", "proc.go", 1},
	}}
	res := newSiteResolver(bin, 0)
	reasons := []string{"", "GC assist marking", "IO wait", "chan receive"}
	gs := []goroutineRecord{
		{Goid: 1, Status: gWaiting, WaitReason: 3, GoPC: 0x101, StartPC: 0x1000, WaitSince: 1000},
		{Goid: 2, Status: gWaiting | gScanBit, WaitReason: 3, GoPC: 0x101, StartPC: 0x1000, WaitSince: 5000},
		{Goid: 3, Status: gWaiting, WaitReason: 2, GoPC: 0x201, StartPC: 0x1000},
		{Goid: 4, Status: gRunnable, GoPC: 0x201, StartPC: 0x1000},
		{Goid: 5, Status: gRunning, StartPC: 0x3000},
		{Goid: 6, Status: gWaiting, WaitReason: 3, StartPC: 0x2000}, // runtime's own: not counted
		{Goid: 7, Status: gDead, StartPC: 0x1000},                   // dead: not counted
		{Goid: 8, Status: gWaiting, WaitReason: 200, GoPC: 0x201, StartPC: 0x1000},
	}
	sum := summarizeGoroutines(gs, res, reasons, 11000)
	if sum.Total != 6 {
		t.Errorf("total %d, want 6", sum.Total)
	}
	if sum.ByState["waiting"] != 4 || sum.ByState["runnable"] != 1 || sum.ByState["running"] != 1 {
		t.Errorf("by state %v", sum.ByState)
	}
	if sum.ByWaitReason["chan receive"] != 2 || sum.ByWaitReason["IO wait"] != 1 || sum.ByWaitReason["wait reason 200"] != 1 {
		t.Errorf("by wait reason %v", sum.ByWaitReason)
	}
	if len(sum.Blocked) != 2 || sum.Blocked[0].Site.Creation.Function != "main.spawnA" && sum.Blocked[0].Site.Creation.Function != "main.spawnB" {
		t.Fatalf("blocked %+v", sum.Blocked)
	}
	for _, b := range sum.Blocked {
		if b.Site.Start != (codeSite{"main.worker", "w.go", 1}) {
			t.Errorf("start function %+v, want main.worker (w.go:1)", b.Site.Start)
		}
		switch b.Site.Creation.Function {
		case "main.spawnA":
			if b.Count != 2 || b.MaxBlocked != 10000 || b.Site.Creation.Line != 7 {
				t.Errorf("spawnA %+v", b)
			}
		case "main.spawnB":
			if b.Count != 2 || b.MaxBlocked != 0 {
				t.Errorf("spawnB %+v", b)
			}
		}
	}
}

func TestFoldSites(t *testing.T) {
	sites := []siteBlocked{
		{Site: goroutineSite{Creation: codeSite{Function: "a"}}, Count: 9, MaxBlocked: 1},
		{Site: goroutineSite{Creation: codeSite{Function: "b"}}, Count: 5, MaxBlocked: 7},
		{Site: goroutineSite{Creation: codeSite{Function: "a"}, Start: codeSite{Function: "w"}}, Count: 3, MaxBlocked: 2},
	}
	kept, folded := foldSites(sites, 1)
	if folded != 2 || len(kept) != 2 || kept[1].Site != (goroutineSite{Creation: otherSite}) || kept[1].Count != 8 || kept[1].MaxBlocked != 7 {
		t.Errorf("fold: %+v folded %d", kept, folded)
	}
	kept, folded = foldSites(sites, 3)
	if folded != 0 || len(kept) != 3 {
		t.Errorf("no fold expected: %+v", kept)
	}
}

func TestFoldAllocSites(t *testing.T) {
	sites := []allocSite{
		{Key: allocSiteKey{Site: codeSite{Function: "a"}}, Bytes: 100, Objects: 10},
		{Key: allocSiteKey{Site: codeSite{Function: "b"}}, Bytes: 50, Objects: 5},
		{Key: allocSiteKey{Site: codeSite{Function: "c"}, Large: true}, Bytes: 40, Objects: 1},
		{Key: allocSiteKey{Site: codeSite{Function: "d"}}, Bytes: 1, Objects: 1},
	}
	kept, folded := foldAllocSites(sites, 1)
	if folded != 3 || len(kept) != 3 {
		t.Fatalf("%+v folded %d", kept, folded)
	}
	if kept[1].Key != (allocSiteKey{Site: otherSite}) || kept[1].Bytes != 51 || kept[2].Key != (allocSiteKey{Site: otherSite, Large: true}) || kept[2].Bytes != 40 {
		t.Errorf("others: %+v", kept[1:])
	}
}

func TestGoroutineState(t *testing.T) {
	for status, want := range map[uint32]string{gRunnable: "runnable", gRunning: "running", gSyscall: "syscall", gWaiting: "waiting",
		gWaiting | gScanBit: "waiting", gPreempted: "runnable", gCopystack: "runnable", gLeaked: "leaked", gDead: "", gIdle: "", gDeadExtra: ""} {
		got, ok := goroutineState(status)
		if got != want || ok != (want != "") {
			t.Errorf("status %#x: %q %v, want %q", status, got, ok, want)
		}
	}
}

func TestSampleScale(t *testing.T) {
	if s := sampleScale(1024, 0); s != 1 {
		t.Errorf("rate 0: %v", s)
	}
	// A 512 KiB object at the default rate stands for 1/(1-e^-1) ≈ 1.582 objects.
	if s := sampleScale(512<<10, 512<<10); s < 1.58 || s > 1.583 {
		t.Errorf("scale %v", s)
	}
}

func TestOptionsValidate(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*Options)
		want   string
	}{
		{"defaults", func(*Options) {}, ""},
		{"top k creation", func(o *Options) { o.TopKCreationSites = 0 }, "top_k_creation_sites must be at least 1: 0"},
		{"top k alloc", func(o *Options) { o.TopKAllocationSites = -2 }, "top_k_allocation_sites must be at least 1: -2"},
		{"leak threshold", func(o *Options) { o.LeakThreshold = 0 }, "leak_threshold must be at least 1: 0"},
		{"leak window", func(o *Options) { o.LeakWindow = 1 }, "leak_window must be at least 2 collections: 1"},
		{"max goroutines", func(o *Options) { o.MaxGoroutines = 0 }, "max_goroutines must be at least 1: 0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := DefaultOptions()
			tt.mutate(&o)
			err := o.Validate()
			if tt.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || err.Error() != tt.want {
				t.Fatalf("got %v, want %q", err, tt.want)
			}
		})
	}
}

func TestCollectorLifecycleWithoutTargets(t *testing.T) {
	c, err := New(DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	md, err := c.Collect(t.Context(), time.Now())
	if err != nil || md.ResourceMetrics().Len() != 0 {
		t.Fatalf("collect with no targets: %v, %d resources", err, md.ResourceMetrics().Len())
	}
	c.Detach(12345) // unknown pid: no-op
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if err := c.Close(); err != nil {
		t.Fatalf("second close: %v", err)
	}
}
