package goexe

import (
	"debug/dwarf"
	"debug/elf"
	"fmt"
)

// attrGoRuntimeType is the Go linker's DWARF attribute (DW_AT_go_runtime_type)
// giving a type's runtime descriptor as an offset in the section holding it.
const attrGoRuntimeType dwarf.Attr = 0x2904

// DWARFRuntimeTypes returns the unrelocated addresses of the runtime type
// descriptors of the named types, as DWARF names them
// ("*github.com/lib/pq.Error"), for those DWARF describes: what an
// interface's itab points to when it holds such a value. One pass over
// DWARF; an executable without DWARF gives an error.
func (e *Executable) DWARFRuntimeTypes(names ...string) (map[string]uint64, error) {
	d, err := e.loadDWARF()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", e.Path, err)
	}
	base, err := e.typesSectionAddr()
	if err != nil {
		return nil, err
	}
	want := make(map[string]bool, len(names))
	for _, n := range names {
		want[n] = true
	}
	found := map[string]uint64{}
	next := e.advancingReader(d.Reader())
	for len(found) < len(want) {
		ent, err := next()
		if err != nil {
			return found, fmt.Errorf("%s: read DWARF: %w", e.Path, err)
		}
		if ent == nil {
			break
		}
		name, ok := ent.Val(dwarf.AttrName).(string)
		if !ok || !want[name] {
			continue
		}
		if _, dup := found[name]; dup {
			continue
		}
		switch v := ent.Val(attrGoRuntimeType).(type) {
		case uint64:
			found[name] = base + v
		case int64:
			found[name] = base + uint64(v)
		}
	}
	return found, nil
}

// typesSectionAddr is the address of the section holding the runtime's type
// descriptors (.rodata, or .data.rel.ro in a PIE): DW_AT_go_runtime_type
// offsets count from it.
func (e *Executable) typesSectionAddr() (uint64, error) {
	if e.typesBase == 0 {
		return 0, fmt.Errorf("%s: runtime.types unknown", e.Path)
	}
	r, release, err := e.open()
	if err != nil {
		return 0, err
	}
	defer release()
	ef, err := elf.NewFile(r)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", e.Path, err)
	}
	for _, s := range ef.Sections {
		if s.Flags&elf.SHF_ALLOC != 0 && s.Addr <= e.typesBase && e.typesBase < s.Addr+s.Size {
			return s.Addr, nil
		}
	}
	return 0, fmt.Errorf("%s: no section holds runtime.types at %#x", e.Path, e.typesBase)
}
