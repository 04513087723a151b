package goexe

import (
	"debug/elf"
	"encoding/binary"
	"errors"
	"fmt"
)

// Layout of a runtime type descriptor (internal/abi.Type, the runtime's
// _type before Go 1.21), unchanged from Go 1.17 through 1.26.
const (
	typeTFlag       = 20
	typeStr         = 40 // nameOff: int32 from runtime.types
	typeHeaderSize  = 48
	tflagExtraStar  = 1 << 1 // the name has a '*' the type itself does not
	maxTypeNameSize = 256
)

func (e *Executable) findTypesBase(ef *elf.File) uint64 {
	if s, ok := e.symbols["runtime.types"]; ok && s.addr != 0 {
		return s.addr
	}
	// Without symbols: the linker puts the type descriptors first in
	// .data.rel.ro in a PIE (they hold pointers the dynamic linker
	// relocates) and first in .rodata otherwise (TestTypesBaseWithoutSymbols).
	if ef.Type == elf.ET_DYN {
		if sec := ef.Section(".data.rel.ro"); sec != nil {
			return sec.Addr
		}
	}
	if sec := ef.Section(".rodata"); sec != nil {
		return sec.Addr
	}
	return 0
}

// TypeName returns the Go name of the type whose runtime descriptor is at
// the unrelocated address vaddr, e.g. "string", "*errors.errorString" or
// "runtime.boundsError": what a panic value's type is called. It reads the
// file, not a process.
func (e *Executable) TypeName(vaddr uint64) (string, error) {
	if e.typesBase == 0 {
		return "", errors.New("runtime.types unknown (no symbol, no .rodata section)")
	}
	var hdr [typeHeaderSize]byte
	if err := e.ReadAt(hdr[:], vaddr); err != nil {
		return "", fmt.Errorf("type descriptor at %#x: %w", vaddr, err)
	}
	off := int32(binary.LittleEndian.Uint32(hdr[typeStr:]))
	if off <= 0 {
		return "", fmt.Errorf("type descriptor at %#x has no name (offset %d)", vaddr, off)
	}
	// A name is a flags byte, a uvarint length and the bytes (Go 1.17+).
	var head [1 + binary.MaxVarintLen16]byte
	addr := e.typesBase + uint64(off)
	if err := e.ReadAt(head[:], addr); err != nil {
		return "", fmt.Errorf("type name at %#x: %w", addr, err)
	}
	n, w := binary.Uvarint(head[1:])
	if w <= 0 || n == 0 || n > maxTypeNameSize {
		return "", fmt.Errorf("type name at %#x: implausible length %d", addr, n)
	}
	name := make([]byte, n)
	if err := e.ReadAt(name, addr+1+uint64(w)); err != nil {
		return "", fmt.Errorf("type name at %#x: %w", addr, err)
	}
	for _, c := range name {
		if c < 0x20 || c > 0x7e {
			return "", fmt.Errorf("type name at %#x is not text: %q", addr, name)
		}
	}
	if hdr[typeTFlag]&tflagExtraStar != 0 && len(name) > 1 && name[0] == '*' {
		name = name[1:]
	}
	return string(name), nil
}
