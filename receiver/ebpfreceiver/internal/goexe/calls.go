package goexe

import (
	"fmt"

	"golang.org/x/arch/x86/x86asm"
)

// CallOffsets returns the file offsets of the CALL instructions in function
// fn whose target is the entry of function callee (direct, rel32 calls).
// A probe there runs just before the call, with its arguments in place.
func (e *Executable) CallOffsets(fn, callee string) (offs []uint64, err error) {
	defer func() {
		if r := recover(); r != nil {
			offs, err = nil, fmt.Errorf("%s: function %s: malformed code: %v", e.Path, fn, r)
		}
	}()
	_, target, err := e.FuncBytes(callee)
	if err != nil {
		return nil, err
	}
	code, entry, err := e.FuncBytes(fn)
	if err != nil {
		return nil, err
	}
	for i := 0; i < len(code); {
		n, inst, ok := decodeOne(code[i:])
		if ok && inst.Op == x86asm.CALL {
			if rel, isRel := inst.Args[0].(x86asm.Rel); isRel && entry+uint64(i+n)+uint64(int64(rel)) == target {
				off, err := e.VaddrToFileOffset(entry + uint64(i))
				if err != nil {
					return nil, fmt.Errorf("%s: call in %s: %w", e.Path, fn, err)
				}
				offs = append(offs, off)
			}
		}
		i += n
	}
	if len(offs) == 0 {
		return nil, fmt.Errorf("%s: no call of %s in %s", e.Path, callee, fn)
	}
	return offs, nil
}
