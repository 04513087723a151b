package goexe

import (
	"bytes"

	"golang.org/x/arch/x86/x86asm"
)

// endbr64 is the CET landing pad that x86asm cannot decode; cgo and
// externally linked C code start functions with it.
var endbr64 = []byte{0xf3, 0x0f, 0x1e, 0xfa}

// returnOffsets decodes code linearly and returns the offsets of its RET
// instructions. x86asm does not decode the VEX and EVEX (AVX, AVX-512)
// instructions of the runtime's assembly (memeqbody, indexbytebody, ...), so
// their lengths come from vexLength; one undecodable byte is skipped at a
// time otherwise. Compiled Go code is fully decodable, so this matters only
// for assembly and foreign code.
func returnOffsets(code []byte) []int {
	var rets []int
	for i := 0; i < len(code); {
		n, inst, ok := decodeOne(code[i:])
		if ok && inst.Op == x86asm.RET {
			rets = append(rets, i)
		}
		i += n
	}
	return rets
}

// decodeOne decodes the instruction at the start of code and returns its
// length (at least 1, so callers always advance) and, when x86asm decoded it
// (ok), the instruction.
func decodeOne(code []byte) (n int, inst x86asm.Inst, ok bool) {
	if bytes.HasPrefix(code, endbr64) {
		return len(endbr64), x86asm.Inst{}, false
	}
	if n, ok := vexLength(code); ok {
		return n, x86asm.Inst{}, false
	}
	inst, err := x86asm.Decode(code, 64)
	if err != nil || inst.Len <= 0 {
		if n, ok := map0F38Length(code); ok {
			return n, x86asm.Inst{}, false
		}
		return 1, x86asm.Inst{}, false
	}
	return inst.Len, inst, true
}

// vexLength returns the length of a VEX- (C4, C5) or EVEX- (62) encoded
// instruction at the start of b. In 64-bit mode these bytes always start such
// an instruction (LES, LDS and BOUND are invalid there). The layout is the
// prefix, one opcode byte, ModRM, optional SIB and displacement, and an 8-bit
// immediate for opcode map 0F3A and a few opcodes of map 0F.
func vexLength(b []byte) (int, bool) {
	if len(b) == 0 {
		return 0, false
	}
	var n int
	var opMap byte
	switch b[0] {
	case 0xc5:
		n, opMap = 2, 1
	case 0xc4:
		if len(b) < 3 {
			return 0, false
		}
		n, opMap = 3, b[1]&0x1f
	case 0x62:
		if len(b) < 4 {
			return 0, false
		}
		n, opMap = 4, b[1]&0x07
	default:
		return 0, false
	}
	if len(b) < n+1 {
		return 0, false
	}
	op := b[n]
	n++
	if opMap == 1 && op == 0x77 && b[0] != 0x62 { // VZEROUPPER, VZEROALL: no ModRM
		return n, true
	}
	m, ok := modrmLength(b[n:])
	if !ok {
		return 0, false
	}
	n += m
	switch {
	case opMap == 3:
		n++
	case opMap == 1 && (op >= 0x70 && op <= 0x73 || op == 0xc2 || op >= 0xc4 && op <= 0xc6):
		n++
	}
	if n > len(b) {
		return 0, false
	}
	return n, true
}

// modrmLength returns the length of a ModRM byte with its SIB byte and
// displacement.
func modrmLength(b []byte) (int, bool) {
	if len(b) == 0 {
		return 0, false
	}
	n := 1
	mod, rm := b[0]>>6, b[0]&7
	if mod != 3 && rm == 4 {
		if len(b) < 2 {
			return 0, false
		}
		if sib := b[1]; mod == 0 && sib&7 == 5 {
			n += 4
		}
		n++
	}
	switch {
	case mod == 0 && rm == 5:
		n += 4 // RIP-relative
	case mod == 1:
		n++
	case mod == 2:
		n += 4
	}
	return n, n <= len(b)
}

// map0F38Length returns the length of a legacy-encoded instruction in the
// three-byte opcode maps 0F38 (ModRM, no immediate) and 0F3A (ModRM and an
// 8-bit immediate) that x86asm does not know, such as ADCX and ADOX in
// math/big's assembly.
func map0F38Length(b []byte) (int, bool) {
	n := 0
	for n < len(b) && n < 4 {
		switch b[n] {
		case 0x66, 0xf2, 0xf3, 0x2e, 0x36, 0x3e, 0x26, 0x64, 0x65, 0x67, 0xf0:
			n++
			continue
		}
		break
	}
	if n < len(b) && b[n]&0xf0 == 0x40 { // REX
		n++
	}
	if len(b) < n+3 || b[n] != 0x0f || (b[n+1] != 0x38 && b[n+1] != 0x3a) {
		return 0, false
	}
	imm := 0
	if b[n+1] == 0x3a {
		imm = 1
	}
	n += 3
	m, ok := modrmLength(b[n:])
	if !ok || n+m+imm > len(b) {
		return 0, false
	}
	return n + m + imm, true
}
