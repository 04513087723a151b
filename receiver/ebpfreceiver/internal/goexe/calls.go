package goexe

import (
	"errors"
	"fmt"

	"golang.org/x/arch/x86/x86asm"
)

// ErrCallCount: a function calls another a number of times other than the
// one expected of it.
var ErrCallCount = errors.New("unexpected number of calls")

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
	for _, i := range callSites(code, entry, target) {
		off, err := e.VaddrToFileOffset(entry + uint64(i))
		if err != nil {
			return nil, fmt.Errorf("%s: call in %s: %w", e.Path, fn, err)
		}
		offs = append(offs, off)
	}
	if len(offs) == 0 {
		return nil, fmt.Errorf("%s: no call of %s in %s: %w", e.Path, callee, fn, ErrCallCount)
	}
	return offs, nil
}

// SingleCallOffset is CallOffsets for a function that calls callee exactly
// once: zero or several calls are an error wrapping ErrCallCount, so a
// caller that relies on the one call's arguments never guesses which.
func (e *Executable) SingleCallOffset(fn, callee string) (uint64, error) {
	offs, err := e.CallOffsets(fn, callee)
	if err != nil {
		return 0, err
	}
	if len(offs) != 1 {
		return 0, fmt.Errorf("%s: %d calls of %s in %s, want 1: %w", e.Path, len(offs), callee, fn, ErrCallCount)
	}
	return offs[0], nil
}

// callSites decodes code, which starts at address entry, linearly and
// returns the offsets of its CALL rel32 instructions whose target is
// target.
func callSites(code []byte, entry, target uint64) []int {
	var sites []int
	for i := 0; i < len(code); {
		n, inst, ok := decodeOne(code[i:])
		if ok && inst.Op == x86asm.CALL {
			if rel, isRel := inst.Args[0].(x86asm.Rel); isRel && entry+uint64(i+n)+uint64(int64(rel)) == target {
				sites = append(sites, i)
			}
		}
		i += n
	}
	return sites
}
