package goexe

import (
	"os"
	"testing"
)

func TestStackCheckJump(t *testing.T) {
	for _, tc := range []struct {
		name string
		code []byte
		want int
	}{
		{"cmp rsp; jbe rel8", []byte{0x49, 0x3b, 0x66, 0x10, 0x76, 0x20, 0x55}, 4},
		{"cmp rsp; jbe rel32", []byte{0x49, 0x3b, 0x66, 0x10, 0x0f, 0x86, 0x8a, 0, 0, 0, 0x55}, 4},
		{"lea r12 disp8; cmp r12; jbe", []byte{0x4c, 0x8d, 0x64, 0x24, 0xd8, 0x4d, 0x3b, 0x66, 0x10, 0x0f, 0x86, 0x2d, 0x03, 0, 0}, 9},
		{"lea r12 disp32; cmp r12; jbe", []byte{0x4c, 0x8d, 0xa4, 0x24, 0xc0, 0xfe, 0xff, 0xff, 0x4d, 0x3b, 0x66, 0x10, 0x0f, 0x86, 0xaa, 0x0c, 0, 0}, 12},
		{"no stack check (push rbp)", []byte{0x55, 0x48, 0x89, 0xe5}, 0},
		{"cmp rsp then jmp", []byte{0x49, 0x3b, 0x66, 0x10, 0xeb, 0x20}, 0},
		{"cmp rsp then jb", []byte{0x49, 0x3b, 0x66, 0x10, 0x72, 0x20}, 0},
		{"cmp rsp with another offset", []byte{0x49, 0x3b, 0x66, 0x18, 0x76, 0x20}, 0},
		{"lea r13, cmp r12", []byte{0x4c, 0x8d, 0x6c, 0x24, 0xd8, 0x4d, 0x3b, 0x66, 0x10, 0x76, 0x20}, 0},
		{"lea r12, cmp rsp", []byte{0x4c, 0x8d, 0x64, 0x24, 0xd8, 0x49, 0x3b, 0x66, 0x10, 0x76, 0x20}, 0},
		{"truncated", []byte{0x49, 0x3b, 0x66, 0x10}, 0},
		{"empty", nil, 0},
	} {
		if got := stackCheckJump(tc.code); got != tc.want {
			t.Errorf("%s: stackCheckJump(% x) = %d, want %d", tc.name, tc.code, got, tc.want)
		}
	}
}

// In a real binary (this test's, built by the host toolchain): functions
// that can grow their stack get their entry probe on the jump of the check,
// a conditional jump the file holds at ProbeOffset; functions without the
// check (assembly) keep it at the entry.
func TestProbeOffset(t *testing.T) {
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	exe, err := Inspect(self)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(self)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		fn    string
		moved bool
	}{
		{"fmt.Sprintf", true},        // small frame: CMP SP
		{"fmt.(*pp).doPrintf", true}, // larger frame: LEA R12; CMP R12
		{"runtime.memmove", false},   // assembly, NOSPLIT
		{"runtime.morestack", false}, // assembly
		{"strconv.ParseFloat", true},
	} {
		f, err := exe.Func(tc.fn)
		if err != nil {
			t.Fatal(err)
		}
		if !tc.moved {
			if f.ProbeOffset != f.EntryOffset || f.ProbeAddr() != f.Entry {
				t.Errorf("%s: ProbeOffset %#x, EntryOffset %#x; want equal", tc.fn, f.ProbeOffset, f.EntryOffset)
			}
			continue
		}
		skip := f.ProbeOffset - f.EntryOffset
		if skip != 4 && skip != 9 && skip != 12 {
			t.Errorf("%s: ProbeOffset = EntryOffset + %d, want past a 4-, 9- or 12-byte stack check", tc.fn, skip)
			continue
		}
		if op := raw[f.ProbeOffset]; op != 0x76 && (op != 0x0f || raw[f.ProbeOffset+1] != 0x86) {
			t.Errorf("%s: byte at ProbeOffset %#x is %#x, not a JBE", tc.fn, f.ProbeOffset, op)
		}
		if f.ProbeAddr() != f.Entry+skip {
			t.Errorf("%s: ProbeAddr %#x, Entry %#x + %d", tc.fn, f.ProbeAddr(), f.Entry, skip)
		}
	}
}
