package runtimemetrics

import (
	"errors"
	"fmt"
	"sort"

	"golang.org/x/arch/x86/x86asm"
)

// A stripped Go binary keeps .gopclntab (functions) but loses the data
// symbols of runtime globals. We find a global from the runtime functions
// that touch it: each RIP-relative operand in such a function is either the
// global's base or base+offset of a field whose offset we know (DWARF or the
// per-version table), so every operand votes for "base = target - offset".
// The base that collects the most distinct fields wins; ties are broken by a
// validator that reads the candidate from the live process.

// fieldRef is a field of a global whose references vote for its base.
type fieldRef struct {
	name string
	off  uint64
}

// globalSpec says how to find one runtime global.
type globalSpec struct {
	symbol string   // e.g. "runtime.allgs"
	funcs  []string // runtime functions known to reference it
	fields []fieldRef
	// minVotes is how many distinct fields must agree (guards against a
	// single unrelated operand being taken for the global).
	minVotes int
	// byFunction votes by the number of distinct functions that reference
	// an address instead of by fields: for scalar globals that several
	// otherwise unrelated runtime functions all read.
	byFunction bool
}

var errGlobalNotFound = errors.New("runtime global not found")

// ripTargets decodes code (starting at entry) and returns every absolute
// address referenced through a RIP-relative memory operand.
func ripTargets(code []byte, entry uint64) []uint64 {
	var out []uint64
	for pos := 0; pos < len(code); {
		inst, err := x86asm.Decode(code[pos:], 64)
		if err != nil || inst.Len == 0 {
			pos++ // padding or an opcode x86asm does not know: resynchronise
			continue
		}
		next := entry + uint64(pos) + uint64(inst.Len)
		for _, a := range inst.Args {
			if a == nil {
				break
			}
			if m, ok := a.(x86asm.Mem); ok && m.Base == x86asm.RIP && m.Index == 0 {
				out = append(out, uint64(int64(next)+m.Disp))
			}
		}
		pos += inst.Len
	}
	return out
}

// baseCandidates ranks candidate base addresses of a global by the number of
// distinct fields whose references agree on them, best first.
func baseCandidates(targets []uint64, fields []fieldRef) []candidate {
	votes := map[uint64]map[string]bool{}
	for _, t := range targets {
		for _, f := range fields {
			if t < f.off {
				continue
			}
			base := t - f.off
			if votes[base] == nil {
				votes[base] = map[string]bool{}
			}
			votes[base][f.name] = true
		}
	}
	out := make([]candidate, 0, len(votes))
	for base, fs := range votes {
		out = append(out, candidate{base: base, votes: len(fs)})
	}
	sortCandidates(out)
	return out
}

func sortCandidates(cs []candidate) {
	sort.Slice(cs, func(i, j int) bool {
		if cs[i].votes != cs[j].votes {
			return cs[i].votes > cs[j].votes
		}
		return cs[i].base < cs[j].base
	})
}

type candidate struct {
	base  uint64
	votes int
}

// locateGlobal returns the link-time address of a runtime global: from
// .symtab when present, else from the code that references it. validate, when
// not nil, checks a candidate link-time address against the live process.
func locateGlobal(bin Binary, spec globalSpec, validate func(addr uint64) bool) (uint64, error) {
	if addr, _, ok := bin.Symbol(spec.symbol); ok {
		return addr, nil
	}
	return locateFromCode(bin, spec, validate)
}

func locateFromCode(bin Binary, spec globalSpec, validate func(addr uint64) bool) (uint64, error) {
	var targets []uint64
	perFunc := map[uint64]int{}
	for _, fn := range spec.funcs {
		code, entry, err := bin.FuncBytes(fn)
		if err != nil {
			continue // not linked into this binary, or renamed in this Go version
		}
		ts := ripTargets(code, entry)
		targets = append(targets, ts...)
		seen := map[uint64]bool{}
		for _, t := range ts {
			if !seen[t] {
				seen[t] = true
				perFunc[t]++
			}
		}
	}
	if len(targets) == 0 {
		return 0, fmt.Errorf("locate %s: none of %v found: %w", spec.symbol, spec.funcs, errGlobalNotFound)
	}
	var cands []candidate
	if spec.byFunction {
		for t, n := range perFunc {
			cands = append(cands, candidate{base: t, votes: n})
		}
		sortCandidates(cands)
	} else {
		cands = baseCandidates(targets, spec.fields)
	}
	minVotes := max(spec.minVotes, 1)
	for i, c := range cands {
		if c.votes < minVotes {
			break
		}
		if validate == nil {
			// Without a validator only an unambiguous winner is accepted.
			if i+1 < len(cands) && cands[i+1].votes == c.votes {
				return 0, fmt.Errorf("locate %s: ambiguous candidates %#x and %#x: %w",
					spec.symbol, c.base, cands[i+1].base, errGlobalNotFound)
			}
			return c.base, nil
		}
		if validate(c.base) {
			return c.base, nil
		}
	}
	return 0, fmt.Errorf("locate %s: no candidate with %d agreeing fields passed validation: %w",
		spec.symbol, minVotes, errGlobalNotFound)
}
