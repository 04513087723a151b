package goexe

import "golang.org/x/arch/x86/x86asm"

// stackCheckJump returns the offset in code of the conditional jump that
// ends a Go function's stack-bound check, 0 when code does not start with
// one. On amd64 with the register ABI (Go 1.17 on) the compiler starts
// every function that can grow its stack with
//
//	CMPQ SP, 16(R14)            (frames up to ~128 bytes)
//	LEAQ -n(SP), R12; CMPQ R12, 16(R14)   (larger frames, up to StackBig)
//	JLS  morestack
//
// An entry uprobe at the JLS sees the same arguments (the registers of the
// ABI are untouched; R12 is scratch), the same SP and the same goroutine
// (R14) as at the first instruction, and every call passes it once the
// same way (after morestack the function restarts at its entry and passes
// it again, as it passes the entry again). What differs is the kernel's
// work: a uprobe on a conditional jump is emulated (x86 branch_emulate_op),
// while one on the CMP or LEA is executed out of line and single-stepped,
// a second trap. Other prologues (frames above StackBig, NOSPLIT
// functions, assembly, the stack ABI of Go before 1.17) return 0: the
// probe stays at the entry.
func stackCheckJump(code []byte) int {
	off := 0
	inst, err := x86asm.Decode(code, 64)
	if err != nil {
		return 0
	}
	bound := x86asm.Reg(x86asm.RSP)
	if inst.Op == x86asm.LEA {
		m, ok := inst.Args[1].(x86asm.Mem)
		if inst.Args[0] != x86asm.R12 || !ok || m.Base != x86asm.RSP || m.Index != 0 || m.Segment != 0 {
			return 0
		}
		bound = x86asm.R12
		off = inst.Len
		if inst, err = x86asm.Decode(code[off:], 64); err != nil {
			return 0
		}
	}
	if inst.Op != x86asm.CMP || inst.Args[0] != bound {
		return 0
	}
	if m, ok := inst.Args[1].(x86asm.Mem); !ok || m.Base != x86asm.R14 || m.Index != 0 || m.Disp != 16 || m.Segment != 0 {
		return 0
	}
	off += inst.Len
	if inst, err = x86asm.Decode(code[off:], 64); err != nil || inst.Op != x86asm.JBE {
		return 0
	}
	return off
}
