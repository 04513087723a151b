package goexe

import (
	"debug/dwarf"
	"debug/elf"
	"errors"
	"fmt"
	"strings"
)

// ErrFieldAbsent is wrapped by FieldOffset's error when the struct exists but
// has no such field in this executable's version (for example
// net/http.Request.Pattern before Go 1.23).
var ErrFieldAbsent = errors.New("field absent in this version")

// ErrStructAbsent is wrapped by DWARFFieldOffset's error when the DWARF has
// no struct of that name (a type a library version does not have).
var ErrStructAbsent = errors.New("no such struct in DWARF")

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
	// Go compresses DWARF; bound both the bytes read and what they inflate
	// to (compressed DWARF inflates by a small factor, not by thousands).
	for _, s := range ef.Sections {
		if !strings.HasPrefix(s.Name, ".debug_") && !strings.HasPrefix(s.Name, ".zdebug_") {
			continue
		}
		if s.FileSize > e.maxRead() || s.Size > maxSectionSize || s.Size > 64*e.maxRead() {
			return nil, fmt.Errorf("section %s: implausible size %d (%d in the file)", s.Name, s.Size, s.FileSize)
		}
	}
	if info := ef.Section(".debug_info"); info != nil {
		e.dwarfInfoSize = info.Size // uncompressed, for SHF_COMPRESSED too
	} else if info := ef.Section(".zdebug_info"); info != nil {
		e.dwarfInfoSize = 64 * info.Size // old-style compression: bound as above
	}
	return ef.DWARF()
}

// dwarfFieldOffset looks the field up in DWARF. structFound is false when
// DWARF has no struct of that name (so the caller may fall back to the table).
func (e *Executable) dwarfFieldOffset(d *dwarf.Data, structName, field string) (off uint64, structFound bool, err error) {
	ent, structFound, err := e.dwarfMember(d, structName, field)
	if err != nil || ent == nil {
		return 0, structFound, err
	}
	loc, ok := ent.Val(dwarf.AttrDataMemberLoc).(int64)
	if !ok || loc < 0 {
		return 0, true, fmt.Errorf("%s.%s: DWARF member has no constant offset", structName, field)
	}
	return uint64(loc), true, nil
}

// dwarfMember finds the struct's member entry (nil, false when DWARF has
// no such struct).
func (e *Executable) dwarfMember(d *dwarf.Data, structName, field string) (member *dwarf.Entry, structFound bool, err error) {
	defer func() {
		if r := recover(); r != nil {
			member, structFound, err = nil, false, fmt.Errorf("malformed DWARF: %v", r)
		}
	}()
	idx, err := e.structIndex(d)
	if err != nil {
		return nil, false, err
	}
	at, ok := idx[structName]
	if !ok {
		return nil, false, nil
	}
	r := d.Reader()
	r.Seek(at)
	next := e.advancingReader(r)
	if _, err := next(); err != nil {
		return nil, true, err
	}
	// Members are the struct's direct children; deeper entries (none in
	// Go's DWARF today) are skipped by tracking the depth ourselves.
	for depth := 1; depth > 0; {
		ent, err := next()
		if err != nil {
			return nil, true, err
		}
		if ent == nil {
			break
		}
		if ent.Tag == 0 {
			depth--
			continue
		}
		direct := depth == 1
		if ent.Children {
			depth++
		}
		if !direct || ent.Tag != dwarf.TagMember {
			continue
		}
		if name, _ := ent.Val(dwarf.AttrName).(string); name != field {
			continue
		}
		return ent, true, nil
	}
	return nil, true, fmt.Errorf("%s.%s: %w", structName, field, ErrFieldAbsent)
}

// advancingReader wraps r.Next and fails when an entry does not lie after
// the previous one, or when more entries come than .debug_info has bytes
// (every entry takes at least one): corrupt DWARF can otherwise make
// debug/dwarf return entries without end. (It also means never calling
// SkipChildren, whose recursion the same corruption could make unbounded.)
func (e *Executable) advancingReader(r *dwarf.Reader) func() (*dwarf.Entry, error) {
	var last dwarf.Offset
	first := true
	budget := e.dwarfInfoSize + 1
	return func() (*dwarf.Entry, error) {
		if budget == 0 {
			return nil, fmt.Errorf("malformed DWARF: more entries than the %d bytes of .debug_info", e.dwarfInfoSize)
		}
		budget--
		ent, err := r.Next()
		if err != nil || ent == nil || ent.Tag == 0 {
			// debug/dwarf returns the null entry ending a list of children
			// without its offset.
			return ent, err
		}
		if !first && ent.Offset <= last {
			return nil, fmt.Errorf("malformed DWARF: entry at %#x after %#x", ent.Offset, last)
		}
		first, last = false, ent.Offset
		return ent, nil
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
	next := e.advancingReader(d.Reader())
	for {
		ent, err := next()
		if err != nil {
			return nil, fmt.Errorf("read DWARF: %w", err)
		}
		if ent == nil {
			break
		}
		if ent.Tag != dwarf.TagStructType {
			continue
		}
		name, ok := ent.Val(dwarf.AttrName).(string)
		if !ok {
			continue
		}
		if decl, _ := ent.Val(dwarf.AttrDeclaration).(bool); decl {
			continue
		}
		if _, dup := idx[name]; !dup {
			idx[name] = ent.Offset
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
		return 0, fmt.Errorf("%s: %w: %s", e.Path, ErrStructAbsent, structName)
	}
	return off, nil
}

// DWARFFieldSize returns the size in bytes of the field's type, from DWARF
// only (errors as DWARFFieldOffset's).
func (e *Executable) DWARFFieldSize(structName, field string) (size uint64, err error) {
	d, err := e.loadDWARF()
	if err != nil {
		return 0, fmt.Errorf("%s: %w", e.Path, err)
	}
	ent, found, err := e.dwarfMember(d, structName, field)
	if err != nil {
		return 0, fmt.Errorf("%s: DWARF: %w", e.Path, err)
	}
	if !found {
		return 0, fmt.Errorf("%s: %w: %s", e.Path, ErrStructAbsent, structName)
	}
	defer func() {
		if r := recover(); r != nil {
			size, err = 0, fmt.Errorf("%s: malformed DWARF: %v", e.Path, r)
		}
	}()
	at, ok := ent.Val(dwarf.AttrType).(dwarf.Offset)
	if !ok {
		return 0, fmt.Errorf("%s: %s.%s: DWARF member has no type", e.Path, structName, field)
	}
	t, err := d.Type(at)
	if err != nil {
		return 0, fmt.Errorf("%s: %s.%s: %w", e.Path, structName, field, err)
	}
	if t.Size() <= 0 {
		return 0, fmt.Errorf("%s: %s.%s: type of no size", e.Path, structName, field)
	}
	return uint64(t.Size()), nil
}
