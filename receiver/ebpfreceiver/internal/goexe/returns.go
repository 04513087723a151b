package goexe

import (
	"bytes"

	"golang.org/x/arch/x86/x86asm"
)

// endbr64 is the CET landing pad that x86asm cannot decode; cgo and
// externally linked C code start functions with it.
var endbr64 = []byte{0xf3, 0x0f, 0x1e, 0xfa}

// returnOffsets decodes code linearly and returns the offsets of its RET
// instructions. An undecodable byte is skipped one byte at a time: Go's
// compiler emits only decodable instructions, so this happens only in
// padding or foreign code, and a RET is reported only where a whole
// instruction decodes as RET.
func returnOffsets(code []byte) []int {
	var rets []int
	for i := 0; i < len(code); {
		if bytes.HasPrefix(code[i:], endbr64) {
			i += len(endbr64)
			continue
		}
		inst, err := x86asm.Decode(code[i:], 64)
		if err != nil || inst.Len <= 0 {
			i++
			continue
		}
		if inst.Op == x86asm.RET {
			rets = append(rets, i)
		}
		i += inst.Len
	}
	return rets
}
