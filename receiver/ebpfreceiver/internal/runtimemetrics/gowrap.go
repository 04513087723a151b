package runtimemetrics

import (
	"bytes"
	"strings"

	"golang.org/x/arch/x86/x86asm"
)

// endbr64 is the CET landing pad x86asm cannot decode (cgo-linked code may carry it).
var endbr64 = []byte{0xf3, 0x0f, 0x1e, 0xfa}

// wrappedCall finds the function a `go` statement wrapper calls: the first
// direct CALL in its code to a function outside the runtime (the wrapper
// also calls runtime.morestack_noctxt, and may call runtime helpers before
// the call it wraps). ok is false when there is none, as when the wrapped
// function was inlined into the wrapper.
func wrappedCall(bin Binary, wrapper string) (codeSite, bool) {
	code, entry, err := bin.FuncBytes(wrapper)
	if err != nil {
		return codeSite{}, false
	}
	for off := 0; off < len(code); {
		if bytes.HasPrefix(code[off:], endbr64) {
			off += len(endbr64)
			continue
		}
		inst, err := x86asm.Decode(code[off:], 64)
		if err != nil {
			return codeSite{}, false // not decodable any further: give up, never guess
		}
		next := entry + uint64(off) + uint64(inst.Len)
		off += inst.Len
		if inst.Op != x86asm.CALL {
			continue
		}
		rel, ok := inst.Args[0].(x86asm.Rel)
		if !ok {
			continue // indirect call: a closure or method value, not a named callee
		}
		target := uint64(int64(next) + int64(rel))
		fn, file, line, ok := bin.FuncForPC(target)
		if !ok || inRuntime(fn) {
			continue
		}
		return codeSite{Function: fn, File: file, Line: line}, true
	}
	return codeSite{}, false
}

// inRuntime says whether fn belongs to the Go runtime proper: package
// runtime and its internal packages (runtime/internal/..., Go < 1.23;
// internal/runtime/..., Go >= 1.23, e.g. the swiss-map code). runtime/pprof,
// runtime/debug and runtime/trace are libraries the program calls, not the
// runtime.
func inRuntime(fn string) bool {
	return strings.HasPrefix(fn, "runtime.") || strings.HasPrefix(fn, "runtime/internal/") ||
		strings.HasPrefix(fn, "internal/runtime/")
}
