package goexe

import (
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/arch/x86/x86asm"
)

// The goroutines probe (bpf/probes/goroutines.c) runs at the one call of
// runtime.runqput in runtime.newproc.func1, newproc's systemstack closure
// (newg := newproc1(...); runqput(pp, newg, true)), reading the new
// goroutine in BX, runqput's second argument. For every toolchain of
// Go 1.19 to 1.26, stripped and PIE: the call is found, it is a CALL rel32
// to runqput's entry, it is the closure's only call of runqput and follows
// its only call of newproc1, and BX holds newproc1's result (AX) there.
func TestRunqputCallMatrix(t *testing.T) {
	toolchains := []toolchain{tcDebian119, tcGo120, tcGo121, tcGo122, tcGo123, tcGo124, tcGo125, tcHost}
	if testing.Short() {
		toolchains = []toolchain{tcDebian119, tcHost}
	}
	for _, tc := range toolchains {
		for _, v := range []variant{{stripped: true}, {pie: true, stripped: true}} {
			t.Run(tc.name+"/"+v.String(), func(t *testing.T) {
				t.Parallel()
				path := buildTarget(t, tc, v)
				exe, err := Inspect(path)
				if err != nil {
					t.Fatal(err)
				}
				raw, err := os.ReadFile(path)
				if err != nil {
					t.Fatal(err)
				}
				checkRunqputCall(t, exe, raw)
			})
		}
	}
}

const (
	newprocClosure = "runtime.newproc.func1"
	runqput        = "runtime.runqput"
)

func checkRunqputCall(t *testing.T, exe *Executable, raw []byte) {
	t.Helper()
	off, err := exe.SingleCallOffset(newprocClosure, runqput)
	if err != nil {
		t.Fatal(err)
	}
	closure, err := exe.Func(newprocClosure)
	if err != nil {
		t.Fatal(err)
	}
	callee, err := exe.Func(runqput)
	if err != nil {
		t.Fatal(err)
	}
	newproc1, err := exe.Func("runtime.newproc1")
	if err != nil {
		t.Fatal(err)
	}
	if off <= closure.EntryOffset || off >= closure.EntryOffset+(closure.End-closure.Entry) {
		t.Fatalf("call at file offset %#x is outside %s [%#x, +%d)", off, newprocClosure, closure.EntryOffset, closure.End-closure.Entry)
	}
	// The file's bytes there: E8 rel32, the target runqput's entry.
	vaddr := closure.Entry + (off - closure.EntryOffset)
	if raw[off] != 0xe8 {
		t.Fatalf("byte at %#x is %#x, not CALL rel32", off, raw[off])
	}
	rel := int32(binary.LittleEndian.Uint32(raw[off+1:]))
	if target := vaddr + 5 + uint64(int64(rel)); target != callee.Entry {
		t.Fatalf("call at %#x targets %#x, %s is at %#x", vaddr, target, runqput, callee.Entry)
	}

	// The closure's shape: one call of newproc1, then the runqput call,
	// with newproc1's result (AX) moved to BX and neither register
	// written again in between.
	code, entry, err := exe.FuncBytes(newprocClosure)
	if err != nil {
		t.Fatal(err)
	}
	calls := callSites(code, entry, newproc1.Entry)
	if len(calls) != 1 {
		t.Fatalf("%d calls of runtime.newproc1 in %s, want 1", len(calls), newprocClosure)
	}
	at := int(vaddr - entry)
	if calls[0] >= at {
		t.Fatalf("newproc1 called at +%d, after runqput at +%d", calls[0], at)
	}
	newgInAX, newgInBX := true, false
	for i := calls[0] + 5; i < at; {
		n, inst, ok := decodeOne(code[i:])
		if !ok {
			t.Fatalf("undecodable instruction at %s+%d", newprocClosure, i)
		}
		switch {
		case inst.Op == x86asm.MOV && inst.Args[0] == x86asm.RBX && inst.Args[1] == x86asm.RAX:
			newgInBX = newgInAX
		case writes(inst, x86asm.RBX, x86asm.EBX, x86asm.BX, x86asm.BL):
			newgInBX = false
		}
		if writes(inst, x86asm.RAX, x86asm.EAX, x86asm.AX, x86asm.AL) {
			newgInAX = false
		}
		i += n
	}
	if !newgInBX {
		t.Errorf("BX does not hold newproc1's result at the runqput call in %s", newprocClosure)
	}
}

// writes reports whether inst's first (destination) operand is one of regs.
func writes(inst x86asm.Inst, regs ...x86asm.Reg) bool {
	switch inst.Op {
	case x86asm.CMP, x86asm.TEST, x86asm.NOP, x86asm.PUSH:
		return false
	}
	for _, r := range regs {
		if inst.Args[0] == r {
			return true
		}
	}
	return false
}

func TestCallSites(t *testing.T) {
	const entry, target = 0x1000, 0x2000
	call := func(at uint64, to uint64) []byte {
		b := []byte{0xe8, 0, 0, 0, 0}
		binary.LittleEndian.PutUint32(b[1:], uint32(int32(int64(to)-int64(at+5))))
		return b
	}
	mov := []byte{0x48, 0x89, 0xc3} // MOV RBX, RAX
	cat := func(parts ...[]byte) []byte {
		var b []byte
		for _, p := range parts {
			b = append(b, p...)
		}
		return b
	}
	for _, tc := range []struct {
		name string
		code []byte
		want []int
	}{
		{"one call", cat(mov, call(entry+3, target)), []int{3}},
		{"two calls", cat(call(entry, target), mov, call(entry+8, target)), []int{0, 8}},
		{"call elsewhere", cat(mov, call(entry+3, target+16)), nil},
		{"indirect call", []byte{0xff, 0xd3}, nil}, // CALL RBX
		{"no call", mov, nil},
	} {
		got := callSites(tc.code, entry, target)
		if len(got) != len(tc.want) {
			t.Errorf("%s: callSites = %v, want %v", tc.name, got, tc.want)
			continue
		}
		for i := range got {
			if got[i] != tc.want[i] {
				t.Errorf("%s: callSites = %v, want %v", tc.name, got, tc.want)
			}
		}
	}
}

// A synthetic mismatch: a copy of a binary whose newproc.func1 calls
// runqput twice (its wakep call retargeted) or never (its runqput call
// retargeted to wakep) makes SingleCallOffset fail with ErrCallCount
// rather than pick a call.
func TestSingleCallOffsetMismatch(t *testing.T) {
	path := buildTarget(t, tcHost, variant{stripped: true})
	for _, tc := range []struct{ name, from, to string }{
		{"two runqput calls", "runtime.wakep", runqput},
		{"no runqput call", runqput, "runtime.wakep"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			patched := retargetCall(t, path, newprocClosure, tc.from, tc.to)
			exe, err := Inspect(patched)
			if err != nil {
				t.Fatal(err)
			}
			off, err := exe.SingleCallOffset(newprocClosure, runqput)
			if !errors.Is(err, ErrCallCount) {
				t.Fatalf("SingleCallOffset = %#x, %v; want ErrCallCount", off, err)
			}
		})
	}
	// The unpatched binary has its one call.
	exe, err := Inspect(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := exe.SingleCallOffset(newprocClosure, runqput); err != nil {
		t.Fatal(err)
	}
	if _, err := exe.SingleCallOffset(newprocClosure, "runtime.noSuchFunction"); err == nil {
		t.Fatal("SingleCallOffset of a missing callee succeeded")
	}
}

// retargetCall writes a copy of the binary at path in which fn's single
// call of from calls to instead, and returns the copy's path.
func retargetCall(t *testing.T, path, fn, from, to string) string {
	t.Helper()
	exe, err := Inspect(path)
	if err != nil {
		t.Fatal(err)
	}
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
	vaddr := f.Entry + (off - f.EntryOffset)
	binary.LittleEndian.PutUint32(raw[off+1:], uint32(int32(int64(dst.Entry)-int64(vaddr+5))))
	out := filepath.Join(t.TempDir(), filepath.Base(path)+"-patched")
	if err := os.WriteFile(out, raw, 0o755); err != nil {
		t.Fatal(err)
	}
	return out
}
