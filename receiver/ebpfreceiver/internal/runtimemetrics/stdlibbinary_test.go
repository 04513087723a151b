package runtimemetrics

import (
	"debug/dwarf"
	"debug/elf"
	"debug/gosym"
	"fmt"
	"strconv"
	"strings"
)

// stdlibBinary implements Binary with the standard library's debug
// packages, for tests only: it needs DWARF for offsets, so it stands in for
// goexe on unstripped binaries, and lets a test hide .symtab to exercise
// the stripped-binary paths.
type stdlibBinary struct {
	f        *elf.File
	tab      *gosym.Table
	text     *elf.Section
	syms     map[string]elf.Symbol
	offsets  map[string]uint64
	minor    int
	noSymtab bool
}

// openStdlibBinary opens path; struct offsets come from the DWARF of
// offsetsFrom (the same program built unstripped, standing in for the
// per-version offsets table when path is stripped).
func openStdlibBinary(path, offsetsFrom string) (*stdlibBinary, error) {
	f, err := elf.Open(path)
	if err != nil {
		return nil, err
	}
	b := &stdlibBinary{f: f, syms: map[string]elf.Symbol{}, offsets: map[string]uint64{}}
	pcln := f.Section(".gopclntab")
	b.text = f.Section(".text")
	if pcln == nil || b.text == nil {
		return nil, fmt.Errorf("%s: not a Go binary", path)
	}
	data, err := pcln.Data()
	if err != nil {
		return nil, err
	}
	b.tab, err = gosym.NewTable(nil, gosym.NewLineTable(data, b.text.Addr))
	if err != nil {
		return nil, err
	}
	if syms, err := f.Symbols(); err == nil {
		for _, s := range syms {
			b.syms[s.Name] = s
		}
	}
	df := f
	if offsetsFrom != path {
		if df, err = elf.Open(offsetsFrom); err != nil {
			return nil, err
		}
		defer df.Close()
	}
	d, err := df.DWARF()
	if err != nil {
		return nil, fmt.Errorf("%s: tests need DWARF: %w", path, err)
	}
	r := d.Reader()
	for {
		e, err := r.Next()
		if err != nil || e == nil {
			break
		}
		if e.Tag == dwarf.TagCompileUnit {
			if p, _ := e.Val(dwarf.AttrProducer).(string); strings.Contains(p, "go1.") && b.minor == 0 {
				v := p[strings.Index(p, "go1.")+4:]
				end := strings.IndexAny(v, ". ;")
				if end > 0 {
					b.minor, _ = strconv.Atoi(v[:end])
				}
			}
			continue
		}
		if e.Tag != dwarf.TagStructType {
			if !e.Children {
				continue
			}
			r.SkipChildren()
			continue
		}
		name, _ := e.Val(dwarf.AttrName).(string)
		if !strings.HasPrefix(name, "runtime.") {
			r.SkipChildren()
			continue
		}
		for {
			m, err := r.Next()
			if err != nil || m == nil || m.Tag == 0 {
				break
			}
			if m.Tag != dwarf.TagMember {
				continue
			}
			mn, _ := m.Val(dwarf.AttrName).(string)
			if off, ok := m.Val(dwarf.AttrDataMemberLoc).(int64); ok {
				b.offsets[name+"."+mn] = uint64(off)
			}
		}
	}
	return b, nil
}

func (b *stdlibBinary) GoMinor() int { return b.minor }
func (b *stdlibBinary) PIE() bool    { return b.f.Type == elf.ET_DYN }

func (b *stdlibBinary) VaddrToFileOffset(vaddr uint64) (uint64, error) {
	for _, p := range b.f.Progs {
		if p.Type == elf.PT_LOAD && vaddr >= p.Vaddr && vaddr < p.Vaddr+p.Filesz {
			return vaddr - p.Vaddr + p.Off, nil
		}
	}
	return 0, fmt.Errorf("address %#x not in a PT_LOAD segment", vaddr)
}

func (b *stdlibBinary) Symbol(name string) (uint64, uint64, bool) {
	if b.noSymtab {
		return 0, 0, false
	}
	s, ok := b.syms[name]
	return s.Value, s.Size, ok
}

func (b *stdlibBinary) FuncBytes(name string) ([]byte, uint64, error) {
	fn := b.tab.LookupFunc(name)
	if fn == nil {
		return nil, 0, fmt.Errorf("no function %s", name)
	}
	code := make([]byte, fn.End-fn.Entry)
	if _, err := b.text.ReadAt(code, int64(fn.Entry-b.text.Addr)); err != nil {
		return nil, 0, err
	}
	return code, fn.Entry, nil
}

func (b *stdlibBinary) FuncForPC(pc uint64) (string, string, int, bool) {
	file, line, fn := b.tab.PCToLine(pc)
	if fn == nil {
		return "", "", 0, false
	}
	return fn.Name, file, line, true
}

func (b *stdlibBinary) FieldOffset(strct, field string) (uint64, bool) {
	off, ok := b.offsets[strct+"."+field]
	return off, ok
}
