package goexe

import (
	"debug/dwarf"
	"debug/elf"
	"errors"
	"fmt"
)

// ErrFieldAbsent is wrapped by FieldOffset's error when the struct exists but
// has no such field in this executable's version (for example
// net/http.Request.Pattern before Go 1.23).
var ErrFieldAbsent = errors.New("field absent in this version")

// DWARF returns the executable's DWARF data, loaded on first use, or nil when
// it has none (stripped with -w) or it cannot be read.
func (e *Executable) DWARF() *dwarf.Data {
	d, _ := e.loadDWARF()
	return d
}

func (e *Executable) loadDWARF() (*dwarf.Data, error) {
	e.dwarfOnce.Do(func() {
		if !e.HasDWARF {
			e.dwarfErr = errors.New("no DWARF")
			return
		}
		e.dwarfData, e.dwarfErr = e.readDWARF()
	})
	return e.dwarfData, e.dwarfErr
}

func (e *Executable) readDWARF() (d *dwarf.Data, err error) {
	defer func() {
		if r := recover(); r != nil {
			d, err = nil, fmt.Errorf("malformed DWARF: %v", r)
		}
	}()
	r, release, err := e.open()
	if err != nil {
		return nil, err
	}
	defer release()
	ef, err := elf.NewFile(r)
	if err != nil {
		return nil, err
	}
	for _, s := range ef.Sections {
		if len(s.Name) > 7 && (s.Name[:7] == ".debug_" || s.Name[:7] == ".zdebug") && s.Size > maxSectionSize {
			return nil, fmt.Errorf("section %s size %d exceeds %d", s.Name, s.Size, maxSectionSize)
		}
	}
	return ef.DWARF()
}

// dwarfFieldOffset looks the field up in DWARF. structFound is false when
// DWARF has no struct of that name (so the caller may fall back to the table).
func (e *Executable) dwarfFieldOffset(d *dwarf.Data, structName, field string) (off uint64, structFound bool, err error) {
	defer func() {
		if r := recover(); r != nil {
			off, structFound, err = 0, false, fmt.Errorf("malformed DWARF: %v", r)
		}
	}()
	idx, err := e.structIndex(d)
	if err != nil {
		return 0, false, err
	}
	at, ok := idx[structName]
	if !ok {
		return 0, false, nil
	}
	r := d.Reader()
	r.Seek(at)
	if _, err := r.Next(); err != nil {
		return 0, true, err
	}
	for {
		ent, err := r.Next()
		if err != nil {
			return 0, true, err
		}
		if ent == nil || ent.Tag == 0 {
			return 0, true, fmt.Errorf("%s.%s: %w", structName, field, ErrFieldAbsent)
		}
		if ent.Tag != dwarf.TagMember {
			if ent.Children {
				r.SkipChildren()
			}
			continue
		}
		if name, _ := ent.Val(dwarf.AttrName).(string); name != field {
			continue
		}
		loc, ok := ent.Val(dwarf.AttrDataMemberLoc).(int64)
		if !ok || loc < 0 {
			return 0, true, fmt.Errorf("%s.%s: DWARF member has no constant offset", structName, field)
		}
		return uint64(loc), true, nil
	}
}

// structIndex maps struct type names to their DWARF entries, built once.
func (e *Executable) structIndex(d *dwarf.Data) (map[string]dwarf.Offset, error) {
	e.structsMu.Lock()
	defer e.structsMu.Unlock()
	if e.structs != nil {
		return e.structs, nil
	}
	idx := make(map[string]dwarf.Offset)
	r := d.Reader()
	for {
		ent, err := r.Next()
		if err != nil {
			return nil, fmt.Errorf("read DWARF: %w", err)
		}
		if ent == nil {
			break
		}
		switch ent.Tag {
		case dwarf.TagStructType:
			if name, ok := ent.Val(dwarf.AttrName).(string); ok {
				if decl, _ := ent.Val(dwarf.AttrDeclaration).(bool); !decl {
					if _, dup := idx[name]; !dup {
						idx[name] = ent.Offset
					}
				}
			}
			if ent.Children {
				r.SkipChildren()
			}
		case dwarf.TagSubprogram:
			if ent.Children {
				r.SkipChildren()
			}
		}
	}
	e.structs = idx
	return idx, nil
}

// DWARFFieldOffset returns the field's offset from DWARF only (no table
// fallback). The error wraps ErrFieldAbsent when the struct exists without
// the field; it says so when the executable has no DWARF or no such struct.
func (e *Executable) DWARFFieldOffset(structName, field string) (uint64, error) {
	d, err := e.loadDWARF()
	if err != nil {
		return 0, fmt.Errorf("%s: %w", e.Path, err)
	}
	off, found, err := e.dwarfFieldOffset(d, structName, field)
	if err != nil {
		return 0, fmt.Errorf("%s: DWARF: %w", e.Path, err)
	}
	if !found {
		return 0, fmt.Errorf("%s: DWARF has no struct %s", e.Path, structName)
	}
	return off, nil
}
