package tracer

import (
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/goexe"
	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/probes/goroutines"
)

// The goroutines probe goes on newproc.func1's one call of runqput; in a
// binary where that call is not found exactly once (here a copy of this
// test's binary with the closure's code patched: its wakep call retargeted
// to runqput, or its runqput call to wakep) it falls back to newproc1's
// RETs and the binary says why.
func TestResolveGoroutinesFallback(t *testing.T) {
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	exe, err := goexe.Inspect(self)
	if err != nil {
		t.Fatal(err)
	}
	sites, fallbacks, err := resolveSites(exe, goroutines.Probe)
	if err != nil || fallbacks != nil {
		t.Fatalf("unpatched: fallbacks %v, err %v", fallbacks, err)
	}
	if len(sites) != 1 || sites[0].Uprobe.Return != goroutines.ProgNewprocRunqput || sites[0].Func.Name != goroutines.FuncNewprocClosure || len(sites[0].Func.ReturnOffsets) != 1 {
		t.Fatalf("unpatched: sites %+v, want the one runqput call of %s", sites, goroutines.FuncNewprocClosure)
	}
	for _, tc := range []struct{ name, from, to string }{
		{"two runqput calls", "runtime.wakep", goroutines.FuncRunqput},
		{"no runqput call", goroutines.FuncRunqput, "runtime.wakep"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			patched, err := goexe.Inspect(retargetCall(t, exe, self, goroutines.FuncNewprocClosure, tc.from, tc.to))
			if err != nil {
				t.Fatal(err)
			}
			sites, fallbacks, err := resolveSites(patched, goroutines.Probe)
			if err != nil {
				t.Fatal(err)
			}
			if !errors.Is(fallbacks, goexe.ErrCallCount) {
				t.Errorf("fallbacks = %v, want ErrCallCount", fallbacks)
			}
			newproc1, err := patched.Func(goroutines.FuncNewproc1)
			if err != nil {
				t.Fatal(err)
			}
			if len(sites) != 1 || sites[0].Uprobe.Return != goroutines.ProgNewproc1Return || sites[0].Func.Name != goroutines.FuncNewproc1 ||
				len(sites[0].Func.ReturnOffsets) == 0 || len(sites[0].Func.ReturnOffsets) != len(newproc1.ReturnOffsets) {
				t.Errorf("sites = %+v, want newproc1's %d RETs", sites, len(newproc1.ReturnOffsets))
			}
		})
	}
}

// retargetCall writes a copy of the executable at path in which fn's one
// call of from calls to instead, and returns the copy's path.
func retargetCall(t *testing.T, exe *goexe.Executable, path, fn, from, to string) string {
	t.Helper()
	off, err := exe.SingleCallOffset(fn, from)
	if err != nil {
		t.Fatal(err)
	}
	f, err := exe.Func(fn)
	if err != nil {
		t.Fatal(err)
	}
	dst, err := exe.Func(to)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if raw[off] != 0xe8 {
		t.Fatalf("byte at %#x is %#x, not CALL rel32", off, raw[off])
	}
	vaddr := f.Entry + (off - f.EntryOffset)
	binary.LittleEndian.PutUint32(raw[off+1:], uint32(int32(int64(dst.Entry)-int64(vaddr+5))))
	out := filepath.Join(t.TempDir(), "patched")
	if err := os.WriteFile(out, raw, 0o755); err != nil {
		t.Fatal(err)
	}
	return out
}
