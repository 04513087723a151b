package tracer

import (
	"errors"
	"fmt"
	"strings"

	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/fields"
	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/goexe"
	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/probes"
	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/probes/registry"
)

var (
	// ErrOffsetsMissing: the struct offsets every probe needs are unknown.
	ErrOffsetsMissing = errors.New("struct offsets unknown")
	// ErrFunctionMissing: none of the probed functions is in the binary.
	ErrFunctionMissing = errors.New("no function to probe")
)

// Function is a probed function's location in the executable file: uprobes
// go at EntryOffset and at every ReturnOffsets entry (file offsets).
// EntryOffset is goexe's ProbeOffset: the function's first instruction, or
// the jump of its stack-bound check, which the kernel emulates instead of
// single-stepping (a uprobe there costs a fraction of one at the entry).
type Function struct {
	Name          string
	EntryOffset   uint64
	ReturnOffsets []uint64
}

// Site is one uprobe of a probe, resolved in a binary.
type Site struct {
	Uprobe probes.Uprobe
	Func   Function
}

// Binary is what the probes need to know about one executable.
type Binary struct {
	Offsets probes.Offsets
	// Sites are the resolved uprobes of every probe that can be attached
	// to the binary, by probe name; optional uprobes whose group is
	// incomplete are left out.
	Sites map[string][]Site
	// Unusable says why a probe cannot be attached, by probe name.
	Unusable map[string]error
	// Fallbacks says, by probe name, why a probe's uprobe was resolved at
	// its Fallback's sites instead of its own.
	Fallbacks map[string]error
}

// Func returns the resolved site of function symbol, nil if no probe
// attaches there.
func (b Binary) Func(symbol string) *Function {
	for _, sites := range b.Sites {
		for i := range sites {
			if sites[i].Func.Name == symbol {
				return &sites[i].Func
			}
		}
	}
	return nil
}

// ResolveBinary resolves every registered probe in an inspected executable.
func ResolveBinary(exe *goexe.Executable) (Binary, error) {
	return Resolve(exe, registry.All())
}

// Resolve finds the struct offsets and the probed functions of each probe
// in an inspected executable. A probe whose required fields or functions
// are unknown is left out rather than read at wrong addresses; an error is
// returned only when no probe that makes spans can be attached.
func Resolve(exe *goexe.Executable, list []*probes.Probe) (Binary, error) {
	bin := Binary{
		Offsets:   probes.Offsets{Fields: fields.NewTable()},
		Sites:     map[string][]Site{},
		Unusable:  map[string]error{},
		Fallbacks: map[string]error{},
	}
	t := &bin.Offsets.Fields
	var fieldErrs, funcErrs []error
	spanProbes, fieldFailures := 0, 0
	for _, p := range list {
		fieldErr := t.Resolve(exe.FieldOffset, p.Fields...)
		for _, group := range p.OptionalFields {
			_ = t.ResolveAll(exe.FieldOffset, group...)
		}
		_ = t.ResolveAll(exe.FieldOffset, p.RuleFields...)
		if !p.CarriesSpans {
			spanProbes++
		}
		if fieldErr != nil {
			bin.Unusable[p.Name] = fmt.Errorf("%s: %w: %w", p.Name, ErrOffsetsMissing, fieldErr)
			if !p.CarriesSpans {
				fieldFailures++
				fieldErrs = append(fieldErrs, fieldErr)
			}
			continue
		}
		sites, fallbacks, err := resolveSites(exe, p)
		if err != nil {
			bin.Unusable[p.Name] = fmt.Errorf("%s: %w: %w", p.Name, ErrFunctionMissing, err)
			if !p.CarriesSpans {
				funcErrs = append(funcErrs, err)
			}
			continue
		}
		if p.Complete != nil {
			p.Complete(exe, &bin.Offsets)
		}
		if !t.Known(p.RuleFields...) {
			var unknown []string
			for _, id := range p.RuleFields {
				if !t.Known(id) {
					unknown = append(unknown, id.String())
				}
			}
			bin.Unusable[p.Name] = fmt.Errorf("%s: %w: %s: not in DWARF, and the probe's rule does not cover this build's module versions",
				p.Name, ErrOffsetsMissing, strings.Join(unknown, ", "))
			continue
		}
		bin.Sites[p.Name] = sites
		if fallbacks != nil {
			bin.Fallbacks[p.Name] = fmt.Errorf("%s: %w", p.Name, fallbacks)
		}
	}
	for _, p := range list {
		if _, ok := bin.Sites[p.Name]; ok && !p.CarriesSpans {
			return bin, nil
		}
	}
	if spanProbes > 0 && fieldFailures == spanProbes {
		return Binary{}, fmt.Errorf("%s: %w: %w", exe.Path, ErrOffsetsMissing, errors.Join(fieldErrs...))
	}
	return Binary{}, fmt.Errorf("%s: %w: %w", exe.Path, ErrFunctionMissing, errors.Join(funcErrs...))
}

// resolveSites finds the probe's functions: an error when a required one is
// missing; an optional group with a missing function is left out whole. A
// uprobe that is not found but has a Fallback is resolved as its Fallback;
// fallbacks says why (nil when none was needed).
func resolveSites(exe *goexe.Executable, p *probes.Probe) (sites []Site, fallbacks, err error) {
	var missing, fellBack []error
	incomplete := map[string]bool{}
	for _, u := range p.Uprobes {
		fn, err := resolveFunction(exe, u)
		if err != nil && u.Fallback != nil {
			fellBack = append(fellBack, fmt.Errorf("%s instead: %w", u.Fallback.Symbol, err))
			u = *u.Fallback
			fn, err = resolveFunction(exe, u)
		}
		if err == nil && u.WrapperOf != "" {
			if calls, _ := exe.CallOffsets(u.Symbol, u.WrapperOf); len(calls) > 0 {
				continue // the wrapped function's own uprobe sees the call
			}
		}
		if err != nil {
			if u.Optional == "" {
				missing = append(missing, err)
			} else {
				incomplete[u.Optional] = true
			}
			continue
		}
		sites = append(sites, Site{Uprobe: u, Func: fn})
	}
	if len(missing) > 0 {
		return nil, nil, errors.Join(missing...)
	}
	kept := sites[:0]
	for _, s := range sites {
		if !incomplete[s.Uprobe.Optional] {
			kept = append(kept, s)
		}
	}
	if len(kept) == 0 && len(p.Uprobes) > 0 {
		// Every uprobe is optional and none was found.
		return nil, nil, fmt.Errorf("%s: none of the functions of %s found (%s, ...)", exe.Path, p.Name, p.Uprobes[0].Symbol)
	}
	return kept, errors.Join(fellBack...), nil
}

// resolveFunction locates u's function: its entry, and its RETs or the
// calls of u.CallsOf inside it.
func resolveFunction(exe *goexe.Executable, u probes.Uprobe) (Function, error) {
	if u.CallsOf != "" && u.SingleCall {
		call, err := exe.SingleCallOffset(u.Symbol, u.CallsOf)
		if err != nil {
			return Function{}, err
		}
		return Function{Name: u.Symbol, ReturnOffsets: []uint64{call}}, nil
	}
	if u.CallsOf != "" {
		calls, err := exe.CallOffsets(u.Symbol, u.CallsOf)
		if err != nil {
			return Function{}, err
		}
		return Function{Name: u.Symbol, ReturnOffsets: calls}, nil
	}
	f, err := exe.Func(u.Symbol)
	if err != nil {
		return Function{}, err
	}
	fn := Function{Name: f.Name, EntryOffset: f.ProbeOffset}
	if u.Return != "" {
		fn.ReturnOffsets = f.ReturnOffsets
	}
	return fn, nil
}
