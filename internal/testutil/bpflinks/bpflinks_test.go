package bpflinks

import (
	"debug/elf"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/link"
	"github.com/cilium/ebpf/rlimit"

	"github.com/otelcol-goebpf/otelcol-goebpf/internal/testutil/prereq"
)

// probeTargetA and probeTargetB are never called: uprobes on them never fire.
//
//go:noinline
func probeTargetA() int { return 1 }

//go:noinline
func probeTargetB() int { return 2 }

// fileOffset is where fn's code sits in the executable at path (this
// process's own binary, not position independent).
func fileOffset(t *testing.T, path string, fn func() int) uint64 {
	t.Helper()
	addr := uint64(reflect.ValueOf(fn).Pointer())
	f, err := elf.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_LOAD && p.Flags&elf.PF_X != 0 && addr >= p.Vaddr && addr < p.Vaddr+p.Filesz {
			return addr - p.Vaddr + p.Off
		}
	}
	t.Fatalf("%#x is in no executable segment of %s", addr, path)
	return 0
}

// TestUprobesCountsRealAttachments attaches uprobes to a copy of this test
// binary at a path of its own (perf-event links, and an uprobe-multi link
// of two probes) and checks the count follows them, while uprobes on
// another file are not counted.
func TestUprobesCountsRealAttachments(t *testing.T) {
	prereq.RequireRoot(t, "reading every BPF link on the machine")
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	// Copies: a path nobody else probes, and a second one that must not count.
	dir := t.TempDir()
	target, other := filepath.Join(dir, "target"), filepath.Join(dir, "other")
	for _, p := range []string{target, other} {
		if out, err := exec.Command("cp", self, p).CombinedOutput(); err != nil {
			t.Fatalf("cp: %v %s", err, out)
		}
	}
	if err := rlimit.RemoveMemlock(); err != nil {
		t.Fatal(err)
	}
	newProg := func(attach ebpf.AttachType) *ebpf.Program {
		p, err := ebpf.NewProgram(&ebpf.ProgramSpec{
			Type: ebpf.Kprobe, AttachType: attach, License: "GPL",
			Instructions: asm.Instructions{asm.Mov.Imm(asm.R0, 0), asm.Return()},
		})
		if err != nil {
			prereq.Missing(t, "cannot load a BPF program: %v", err)
		}
		t.Cleanup(func() { _ = p.Close() })
		return p
	}
	prog := newProg(ebpf.AttachNone)
	count := func(path string) int {
		t.Helper()
		n, err := Uprobes(path)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	if n := count(target); n != 0 {
		t.Fatalf("%d uprobes on a fresh copy", n)
	}
	// go test links without a symbol table: probe by file offset.
	offA, offB := fileOffset(t, self, probeTargetA), fileOffset(t, self, probeTargetB)
	var links []link.Link
	for _, c := range []struct {
		path string
		off  uint64
	}{{target, offA}, {target, offB}, {target, offA}, {other, offA}} {
		ex, err := link.OpenExecutable(c.path)
		if err != nil {
			t.Fatal(err)
		}
		l, err := ex.Uprobe("probe", prog, &link.UprobeOptions{Address: c.off})
		if err != nil {
			t.Fatalf("uprobe at %#x of %s: %v", c.off, c.path, err)
		}
		links = append(links, l)
	}
	want := 3
	ex, err := link.OpenExecutable(target)
	if err != nil {
		t.Fatal(err)
	}
	if multi, err := ex.UprobeMulti(nil, newProg(ebpf.AttachTraceUprobeMulti), &link.UprobeMultiOptions{Addresses: []uint64{offA, offB}}); err == nil {
		links = append(links, multi)
		want += 2
	} else {
		t.Logf("uprobe-multi links unavailable (%v); perf-event links only", err)
	}
	if n := count(target); n != want {
		t.Errorf("%d uprobes counted on the target, %d attached", n, want)
	}
	if n := count(other); n != 1 {
		t.Errorf("%d uprobes counted on the other file, 1 attached", n)
	}
	for _, l := range links {
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
	}
	if n := count(target); n != 0 {
		t.Errorf("%d uprobes counted after every link was closed", n)
	}
}
