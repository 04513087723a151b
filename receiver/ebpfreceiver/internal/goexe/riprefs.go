package goexe

import "golang.org/x/arch/x86/x86asm"

// RIPRef is one RIP-relative memory operand in a function's code: how
// compiled Go code addresses globals, so it locates runtime globals
// (runtime.allglen, runtime.sched, ...) in stripped executables.
type RIPRef struct {
	// PC is the address of the instruction.
	PC uint64
	// Target is the address the operand refers to.
	Target uint64
	// Op is the instruction's mnemonic ("MOV", "LEA", "CMP", ...).
	Op string
}

// RIPRefs decodes a function and returns its RIP-relative operands in code
// order. Instructions x86asm cannot decode are stepped over as returnOffsets
// does and contribute nothing.
func (e *Executable) RIPRefs(name string) ([]RIPRef, error) {
	code, entry, err := e.FuncBytes(name)
	if err != nil {
		return nil, err
	}
	var refs []RIPRef
	for i := 0; i < len(code); {
		n, inst, ok := decodeOne(code[i:])
		if ok {
			for _, a := range inst.Args {
				if m, isMem := a.(x86asm.Mem); isMem && m.Base == x86asm.RIP {
					pc := entry + uint64(i)
					refs = append(refs, RIPRef{
						PC:     pc,
						Target: uint64(int64(pc) + int64(n) + m.Disp),
						Op:     inst.Op.String(),
					})
				}
			}
		}
		i += n
	}
	return refs, nil
}
