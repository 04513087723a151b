package goexe

import (
	"bytes"
	"debug/elf"
	"debug/gosym"
	"errors"
	"fmt"
	"io"
)

// pclntab header (Go 1.18+): magic uint32, two pad bytes, instruction size
// quantum, pointer size, then pointer-sized words: nfunc, nfiles, textStart,
// and the offsets of the name, CU, file, pc and func tables.
const (
	pclnMagic118   = 0xfffffff0
	pclnMagic120   = 0xfffffff1
	pclnHeaderSize = 8 + 8*8
	maxFuncSize    = 16 << 20
)

// pclnHeaderPattern is the start of a little-endian Go 1.20+ (or 1.18/1.19,
// with 0xf0) pclntab header: magic, two zero pad bytes, quantum 1, pointer
// size 8.
var pclnHeaderPattern = []byte{0xf1, 0xff, 0xff, 0xff, 0, 0, 1, 8}

// segment is the file image of one PT_LOAD segment, read on demand while
// inspecting.
type segment struct {
	vaddr    uint64
	data     []byte
	writable bool // runtime.firstmoduledata is in a writable segment
}

// dataSegments reads the file images of the non-executable PT_LOAD segments
// (where the pclntab and runtime.firstmoduledata live), or of the writable
// ones only.
func (e *Executable) dataSegments(r io.ReaderAt, writableOnly bool) ([]segment, error) {
	var segs []segment
	total := uint64(0)
	for _, p := range e.loads {
		if p.Flags&elf.PF_X != 0 || p.Filesz == 0 || writableOnly && p.Flags&elf.PF_W == 0 {
			continue
		}
		total += p.Filesz
		if total > e.maxRead() {
			return nil, fmt.Errorf("data segments (%d bytes) larger than the file", total)
		}
		b := make([]byte, p.Filesz)
		if _, err := r.ReadAt(b, int64(p.Off)); err != nil { //nolint:gosec // bounded by the file
			return nil, fmt.Errorf("read segment at %#x: %w", p.Vaddr, err)
		}
		segs = append(segs, segment{p.Vaddr, b, p.Flags&elf.PF_W != 0})
	}
	return segs, nil
}

func (e *Executable) readPclntab(r io.ReaderAt, ef *elf.File) error {
	var all, writable []segment
	allSegs := func() ([]segment, error) {
		if all == nil {
			var err error
			if all, err = e.dataSegments(r, false); err != nil {
				return nil, err
			}
		}
		return all, nil
	}
	// Only the writable segments are needed (for runtime.firstmoduledata)
	// unless the pclntab had to be searched for.
	writableSegs := func() ([]segment, error) {
		if all != nil {
			return all, nil
		}
		if writable == nil {
			var err error
			if writable, err = e.dataSegments(r, true); err != nil {
				return nil, err
			}
		}
		return writable, nil
	}
	addr, data, err := e.locatePclntab(ef, allSegs)
	if err != nil {
		return err
	}
	if err := checkPclnHeader(data); err != nil {
		return err
	}
	e.textStart, err = e.findTextStart(ef, addr, data, writableSegs)
	if err != nil {
		return err
	}
	table, err := gosym.NewTable(nil, gosym.NewLineTable(data, e.textStart))
	if err != nil {
		return fmt.Errorf("parse pclntab: %w", err)
	}
	if len(table.Funcs) == 0 {
		return errors.New("pclntab lists no functions")
	}
	e.table = table
	e.funcIndex = make(map[string]int, len(table.Funcs))
	for i := range table.Funcs {
		name := table.Funcs[i].Name
		if _, dup := e.funcIndex[name]; !dup {
			e.funcIndex[name] = i
		}
	}
	return nil
}

// locatePclntab returns the address and bytes of the pclntab: the
// .gopclntab section, else (Go 1.19 PIE has no such section) the
// runtime.pclntab symbol, else a header found by scanning the data segments
// and confirmed by a runtime.firstmoduledata that points at it.
func (e *Executable) locatePclntab(ef *elf.File, loadSegs func() ([]segment, error)) (uint64, []byte, error) {
	if sec := ef.Section(".gopclntab"); sec != nil && sec.Type != elf.SHT_NOBITS {
		if sec.Size > e.maxRead() {
			return 0, nil, fmt.Errorf(".gopclntab size %d larger than the file", sec.Size)
		}
		data, err := sec.Data()
		if err != nil {
			return 0, nil, fmt.Errorf("read .gopclntab: %w", err)
		}
		return sec.Addr, data, nil
	}
	segs, err := loadSegs()
	if err != nil {
		return 0, nil, err
	}
	if s, ok := e.symbols["runtime.pclntab"]; ok {
		if data := segmentTail(segs, s.addr); data != nil {
			return s.addr, data, nil
		}
	}
	for _, seg := range segs {
		for i := 0; ; {
			j := indexPclnHeader(seg.data[i:])
			if j < 0 {
				break
			}
			i += j
			addr := seg.vaddr + uint64(i)
			if checkPclnHeader(seg.data[i:]) == nil {
				if _, ok := findModuledata(segs, addr, seg.data[i:]); ok {
					return addr, seg.data[i:], nil
				}
			}
			i += 4
		}
	}
	return 0, nil, errors.New("no pclntab: no .gopclntab section, runtime.pclntab symbol or pclntab header referenced by module data")
}

// indexPclnHeader finds a Go 1.18+ little-endian 64-bit pclntab header.
func indexPclnHeader(b []byte) int {
	for i := 0; ; {
		j := bytes.Index(b[i:], pclnHeaderPattern[1:])
		if j < 0 {
			return -1
		}
		if k := i + j - 1; k >= 0 && (b[k] == 0xf0 || b[k] == 0xf1) {
			return k
		}
		i += j + 1
	}
}

func segmentTail(segs []segment, addr uint64) []byte {
	for _, s := range segs {
		if addr >= s.vaddr && addr-s.vaddr < uint64(len(s.data)) {
			return s.data[addr-s.vaddr:]
		}
	}
	return nil
}

func checkPclnHeader(data []byte) error {
	if len(data) < pclnHeaderSize {
		return fmt.Errorf("pclntab too small: %d bytes", len(data))
	}
	magic := binaryLE.Uint32(data)
	if magic != pclnMagic118 && magic != pclnMagic120 {
		return fmt.Errorf("pclntab magic %#x: pclntab formats before Go 1.18 are not supported", magic)
	}
	if data[7] != 8 {
		return fmt.Errorf("pclntab pointer size %d, want 8", data[7])
	}
	nfunc := binaryLE.Uint64(data[8:])
	// functab holds 2*nfunc+1 uint32 words; a count that cannot fit is
	// corrupt (and would make gosym allocate for it).
	if nfunc == 0 || nfunc > uint64(len(data))/8 {
		return fmt.Errorf("pclntab function count %d implausible for %d bytes", nfunc, len(data))
	}
	for w := 3; w < 8; w++ {
		if off := binaryLE.Uint64(data[8+8*w:]); off < pclnHeaderSize || off >= uint64(len(data)) {
			return fmt.Errorf("pclntab header word %d (offset %d) outside the %d-byte table", w, off, len(data))
		}
	}
	return nil
}

// Offsets of fields of runtime.moduledata, unchanged from Go 1.18 through
// 1.26: pcHeader, then the funcnametab slice, ..., then text.
const (
	moduledataFuncnametab = 8
	moduledataText        = 8 + 6*24 + 3*8 // after 6 slices, findfunctab, minpc, maxpc
	moduledataMinSize     = moduledataText + 16
)

// findModuledata finds runtime.firstmoduledata, the runtime's own index of
// the pclntab, by its first two words (pcHeader and funcnametab pointers),
// and returns its text field: the address pclntab PCs are relative to.
func findModuledata(segs []segment, pclnAddr uint64, pcln []byte) (text uint64, ok bool) {
	funcnames := pclnAddr + binaryLE.Uint64(pcln[8+3*8:])
	for _, s := range segs {
		if !s.writable {
			continue
		}
		start := (8 - s.vaddr%8) % 8
		for i := start; i+moduledataMinSize <= uint64(len(s.data)); i += 8 {
			if binaryLE.Uint64(s.data[i:]) != pclnAddr || binaryLE.Uint64(s.data[i+moduledataFuncnametab:]) != funcnames {
				continue
			}
			return binaryLE.Uint64(s.data[i+moduledataText:]), true
		}
	}
	return 0, false
}

// findTextStart finds runtime.text, the base that Go 1.18+ pclntab PCs are
// relative to. It is not the start of .text in externally linked (cgo)
// binaries, where C code comes first, and Go 1.26 leaves the pclntab
// header's copy zero; so it comes from the symbol when present, else from
// runtime.firstmoduledata, else from the header.
func (e *Executable) findTextStart(ef *elf.File, pclnAddr uint64, pcln []byte, loadSegs func() ([]segment, error)) (uint64, error) {
	if s, ok := e.symbols["runtime.text"]; ok && s.addr != 0 {
		return s.addr, nil
	}
	segs, err := loadSegs()
	if err != nil {
		return 0, err
	}
	if text, ok := findModuledata(segs, pclnAddr, pcln); ok && text != 0 && e.isCode(text) {
		return text, nil
	}
	if text := binaryLE.Uint64(pcln[8+2*8:]); text != 0 && e.isCode(text) {
		return text, nil
	}
	return 0, errors.New("cannot find runtime.text: no symbol, module data or pclntab header value")
}

// isCode reports whether vaddr lies in an executable segment.
func (e *Executable) isCode(vaddr uint64) bool {
	for _, p := range e.loads {
		if p.Flags&elf.PF_X != 0 && vaddr >= p.Vaddr && vaddr-p.Vaddr < p.Memsz {
			return true
		}
	}
	return false
}

// Func describes one function found in .gopclntab.
type Func struct {
	// Name is the symbol name, e.g. "net/http.serverHandler.ServeHTTP" or
	// "net/http.(*response).WriteHeader".
	Name string
	// Entry and End are the unrelocated virtual addresses of the first
	// instruction and one past the last byte.
	Entry, End uint64
	// EntryOffset is the file offset of Entry.
	EntryOffset uint64
	// ProbeOffset is where an entry uprobe goes: the file offset of the
	// conditional jump of the function's stack-bound check when it starts
	// with one (the kernel emulates a uprobe there instead of
	// single-stepping it; see stackCheckJump), else EntryOffset.
	ProbeOffset uint64
	// ReturnOffsets are the file offsets of every RET instruction in the
	// function: where return uprobes go (never uretprobes on Go code).
	ReturnOffsets []uint64
}

// ProbeAddr is the unrelocated virtual address of ProbeOffset: the
// instruction pointer an entry uprobe's program sees (before the load bias
// of a PIE).
func (f Func) ProbeAddr() uint64 { return f.Entry + (f.ProbeOffset - f.EntryOffset) }

// Func looks a function up by its full symbol name and decodes its code to
// find its RET instructions.
func (e *Executable) Func(name string) (fn Func, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%s: function %s: malformed code or pclntab: %v", e.Path, name, r)
		}
	}()
	code, entry, err := e.FuncBytes(name)
	if err != nil {
		return Func{}, err
	}
	entryOff, err := e.VaddrToFileOffset(entry)
	if err != nil {
		return Func{}, fmt.Errorf("%s: function %s: %w", e.Path, name, err)
	}
	fn = Func{Name: name, Entry: entry, End: entry + uint64(len(code)), EntryOffset: entryOff,
		ProbeOffset: entryOff + uint64(stackCheckJump(code))}
	for _, rel := range returnOffsets(code) {
		fn.ReturnOffsets = append(fn.ReturnOffsets, entryOff+uint64(rel))
	}
	return fn, nil
}

// FuncBytes returns the machine code of a function and its entry address,
// for callers that scan instructions (for example RIP-relative references to
// runtime globals in stripped executables).
func (e *Executable) FuncBytes(name string) (code []byte, entry uint64, err error) {
	i, ok := e.funcIndex[name]
	if !ok {
		return nil, 0, fmt.Errorf("%s: function %s not found in .gopclntab", e.Path, name)
	}
	f := e.table.Funcs[i]
	if f.End <= f.Entry || f.End-f.Entry > maxFuncSize {
		return nil, 0, fmt.Errorf("%s: function %s has implausible bounds [%#x, %#x)", e.Path, name, f.Entry, f.End)
	}
	code = make([]byte, f.End-f.Entry)
	if err := e.ReadAt(code, f.Entry); err != nil {
		return nil, 0, fmt.Errorf("function %s: %w", name, err)
	}
	return code, f.Entry, nil
}

// FuncForPC resolves an unrelocated virtual address to the function that
// contains it and the source position of that instruction (which may be
// inside a function inlined into fn). ok is false when no function contains
// pc; file and line are empty for the padding at the end of a function.
func (e *Executable) FuncForPC(pc uint64) (fn, file string, line int, ok bool) {
	defer func() {
		if r := recover(); r != nil {
			fn, file, line, ok = "", "", 0, false
		}
	}()
	// debug/gosym caches decoded strings in maps without locking.
	e.tableMu.Lock()
	file, line, f := e.table.PCToLine(pc)
	e.tableMu.Unlock()
	if f == nil {
		return "", "", 0, false
	}
	if line < 0 {
		// Inside the function's bounds but without a position: the INT3
		// padding after its last instruction.
		line = 0
	}
	return f.Name, file, line, true
}
