package goexe

import (
	"bytes"
	"debug/buildinfo"
	"debug/dwarf"
	"debug/elf"
	"debug/gosym"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"strings"
	"sync"
)

// ErrNotGo is wrapped by Inspect's error when the file is not a Go executable
// (an ELF file without Go's build info or pclntab, or not an ELF file at all).
var ErrNotGo = errors.New("not a Go executable")

// ErrUnsupportedArch is wrapped by Inspect's error for Go executables built
// for an architecture other than amd64.
var ErrUnsupportedArch = errors.New("unsupported architecture")

// maxSectionSize bounds how much of one section Inspect will read into
// memory, so that a corrupt section header cannot make it allocate gigabytes;
// maxRead lowers it to the file's size.
const maxSectionSize = 512 << 20

// maxRead is the most that one read of the file may ask for.
func (e *Executable) maxRead() uint64 {
	if e.id.size > 0 && uint64(e.id.size) < maxSectionSize {
		return uint64(e.id.size)
	}
	return maxSectionSize
}

// Executable is what Inspect learned about one Go executable. It is safe for
// concurrent use.
type Executable struct {
	// Path is the path the executable was inspected at.
	Path string
	// GoVersion is the toolchain that built it, e.g. "go1.22.12", from the
	// build info, else from the runtime.buildVersion string.
	GoVersion string
	// Modules maps module path to version for the main module and every
	// dependency listed in the build info (replacements applied).
	Modules map[string]string
	// InferredModules holds the versions of modules the build info does
	// not list (GOPATH builds, as distributions build) inferred from the
	// program itself: grpc-go's from its version string, checked against
	// its functions. ModuleNotes says, per module, why it could not be.
	InferredModules map[string]string
	ModuleNotes     map[string]string
	// PIE is true for position-independent executables (ELF type ET_DYN).
	PIE bool
	// Stripped is true when the executable has no .symtab.
	Stripped bool
	// HasDWARF is true when the executable carries .debug_info.
	HasDWARF bool
	// Arch is the GOARCH the executable was built for; only "amd64" is
	// accepted today.
	Arch string

	id         fileID
	pathsMu    sync.Mutex
	otherPaths []string         // other paths of the same file, seen by a Cache
	image      *bytes.Reader    // the file's bytes when inspected from memory (inspectImage)
	loads      []elf.ProgHeader // PT_LOAD segments, for vaddr <-> file offset
	textStart  uint64           // runtime.text: the base of pclntab PCs
	tableMu    sync.Mutex       // serialises PCToLine: gosym's string caches are unlocked maps
	table      *gosym.Table
	funcIndex  map[string]int // function name -> index in table.Funcs
	symbols    map[string]elfSymbol
	// typesBase is runtime.types, the base of type descriptors' name
	// offsets: the symbol, else the start of .rodata (where the linker puts
	// it); 0 when neither is known.
	typesBase uint64

	dwarfOnce sync.Once
	dwarfData *dwarf.Data
	dwarfErr  error
	// dwarfInfoSize is the size of .debug_info, bounding how many entries
	// a DWARF walk may read.
	dwarfInfoSize uint64
	structsMu     sync.Mutex
	structs       map[string]dwarf.Offset // struct type name -> DWARF entry, built on first use
}

type elfSymbol struct{ addr, size uint64 }

// Inspect reads the executable at path. Errors name the path and the reason;
// ErrNotGo is wrapped for files that are not Go executables. Inspect never
// panics on corrupt input.
func Inspect(path string) (exe *Executable, err error) {
	defer func() {
		if r := recover(); r != nil {
			exe, err = nil, fmt.Errorf("inspect %s: malformed executable: %v", path, r)
		}
	}()
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("inspect %s: %w", path, err)
	}
	defer f.Close()
	id, err := identify(f)
	if err != nil {
		return nil, fmt.Errorf("inspect %s: %w", path, err)
	}
	exe, err = inspectFile(f, path, id)
	if err != nil {
		return nil, fmt.Errorf("inspect %s: %w", path, err)
	}
	return exe, nil
}

// inspectImage inspects an executable held in memory; name stands in for the
// path in errors. Fuzz tests use it to run the whole API on mutated files.
func inspectImage(name string, data []byte) (exe *Executable, err error) {
	defer func() {
		if r := recover(); r != nil {
			exe, err = nil, fmt.Errorf("inspect %s: malformed executable: %v", name, r)
		}
	}()
	img := bytes.NewReader(data)
	exe, err = inspectFile(img, name, fileID{size: int64(len(data))})
	if err != nil {
		return nil, fmt.Errorf("inspect %s: %w", name, err)
	}
	exe.image = img
	return exe, nil
}

func inspectFile(r io.ReaderAt, path string, id fileID) (*Executable, error) {
	var magic [4]byte
	if _, err := r.ReadAt(magic[:], 0); err != nil || string(magic[:]) != elf.ELFMAG {
		return nil, fmt.Errorf("not an ELF file: %w", ErrNotGo)
	}
	ef, err := elf.NewFile(r)
	if err != nil {
		return nil, fmt.Errorf("parse ELF: %w", err)
	}
	// Decide "not Go" first, so that a C program, object file or core dump is
	// reported as such whatever its architecture or segments.
	noGoSections := ef.Section(".gopclntab") == nil && ef.Section(".go.buildinfo") == nil
	if noGoSections && len(ef.Sections) > 1 {
		return nil, fmt.Errorf("no .gopclntab or .go.buildinfo section: %w", ErrNotGo)
	}
	exe := &Executable{
		Path:    path,
		id:      id,
		Modules: map[string]string{},
		PIE:     ef.Type == elf.ET_DYN,

		InferredModules: map[string]string{},
		ModuleNotes:     map[string]string{},
	}
	switch ef.Machine {
	case elf.EM_X86_64:
		exe.Arch = "amd64"
	default:
		return nil, fmt.Errorf("%w: ELF machine %v (only amd64 is supported)", ErrUnsupportedArch, ef.Machine)
	}
	if ef.Class != elf.ELFCLASS64 || ef.ByteOrder != binaryLE {
		return nil, fmt.Errorf("%w: ELF class %v, byte order %v", ErrUnsupportedArch, ef.Class, ef.ByteOrder)
	}
	for _, p := range ef.Progs {
		if p.Type == elf.PT_LOAD {
			exe.loads = append(exe.loads, p.ProgHeader)
		}
	}
	if len(exe.loads) == 0 {
		return nil, errors.New("no PT_LOAD segments")
	}
	if noGoSections && len(ef.Sections) <= 1 {
		// Section headers can be removed altogether (sstrip, some packers);
		// the build info is then found in the data segments by its magic.
		if _, err := exe.buildInfo(r); err != nil {
			return nil, fmt.Errorf("no section headers and no Go build info: %w", ErrNotGo)
		}
	}
	exe.HasDWARF = ef.Section(".debug_info") != nil || ef.Section(".zdebug_info") != nil

	if err := exe.readSymbols(ef); err != nil {
		return nil, err
	}
	exe.typesBase = exe.findTypesBase(ef)
	if err := exe.readVersion(r); err != nil {
		return nil, err
	}
	if err := exe.readPclntab(r, ef); err != nil {
		return nil, err
	}
	exe.inferModules(r)
	return exe, nil
}

// readSymbols keeps the data symbols of .symtab; a missing .symtab means the
// executable was stripped, which is not an error.
func (e *Executable) readSymbols(ef *elf.File) error {
	syms, err := ef.Symbols()
	if errors.Is(err, elf.ErrNoSymbols) {
		e.Stripped = true
		return nil
	}
	if err != nil {
		return fmt.Errorf("read .symtab: %w", err)
	}
	e.symbols = make(map[string]elfSymbol)
	for _, s := range syms {
		switch elf.ST_TYPE(s.Info) {
		case elf.STT_OBJECT, elf.STT_TLS:
			e.symbols[s.Name] = elfSymbol{addr: s.Value, size: s.Size}
		}
	}
	// The Go linker emits runtime.text as a NOTYPE/FUNC symbol; keep it for
	// locating the pclntab's text base.
	for _, s := range syms {
		if s.Name == "runtime.text" || s.Name == "runtime.types" {
			e.symbols[s.Name] = elfSymbol{addr: s.Value, size: s.Size}
		}
	}
	return nil
}

// readVersion fills GoVersion and Modules from the build info, falling back
// to the runtime.buildVersion string for executables without one.
func (e *Executable) readVersion(r io.ReaderAt) error {
	bi, biErr := e.buildInfo(r)
	if biErr == nil {
		e.GoVersion = bi.GoVersion
		if bi.Main.Path != "" {
			e.Modules[bi.Main.Path] = bi.Main.Version
		}
		for _, d := range bi.Deps {
			if d.Replace != nil {
				e.Modules[d.Path] = d.Replace.Version
			} else {
				e.Modules[d.Path] = d.Version
			}
		}
		return nil
	}
	v, err := e.buildVersionString(r)
	if err != nil {
		return fmt.Errorf("no Go version: build info: %v; runtime.buildVersion: %w", biErr, err)
	}
	e.GoVersion = v
	return nil
}

// buildInfoMagic starts the build info blob the Go linker writes.
var buildInfoMagic = []byte("\xff Go buildinf:")

// buildInfo reads the build info through debug/buildinfo, else (no section
// headers, where debug/buildinfo only looks at the first data segment) by
// finding its magic in any data segment. Only the Go 1.18+ inline-string
// format is decoded by the fallback.
func (e *Executable) buildInfo(r io.ReaderAt) (*debug.BuildInfo, error) {
	bi, err := buildinfo.Read(r)
	if err == nil {
		return bi, nil
	}
	segs, serr := e.dataSegments(r, false)
	if serr != nil {
		return nil, err
	}
	for _, seg := range segs {
		for i := 0; ; {
			j := bytes.Index(seg.data[i:], buildInfoMagic)
			if j < 0 {
				break
			}
			i += j
			if bi, perr := parseInlineBuildInfo(seg.data[i:]); perr == nil {
				return bi, nil
			}
			i += len(buildInfoMagic)
		}
	}
	return nil, err
}

// parseInlineBuildInfo decodes a Go 1.18+ build info blob: a 32-byte header
// (magic, pointer size, flags with bit 1 set) then the Go version and the
// module info as uvarint-length-prefixed strings, the module info wrapped in
// 16-byte sentinels.
func parseInlineBuildInfo(b []byte) (*debug.BuildInfo, error) {
	const hdr = 32
	if len(b) < hdr || b[15]&2 == 0 {
		return nil, errors.New("not an inline build info")
	}
	b = b[hdr:]
	readString := func() (string, bool) {
		n, w := binary.Uvarint(b)
		if w <= 0 || n > uint64(len(b)-w) {
			return "", false
		}
		s := string(b[w : w+int(n)])
		b = b[w+int(n):]
		return s, true
	}
	vers, ok := readString()
	if !ok || !strings.HasPrefix(vers, "go") {
		return nil, errors.New("bad Go version in build info")
	}
	mod, ok := readString()
	if !ok {
		return nil, errors.New("bad module info in build info")
	}
	if len(mod) >= 33 && mod[len(mod)-17] == '\n' {
		mod = mod[16 : len(mod)-16]
	} else {
		mod = ""
	}
	bi, err := debug.ParseBuildInfo(mod)
	if err != nil {
		bi = &debug.BuildInfo{}
	}
	bi.GoVersion = vers
	return bi, nil
}

// buildVersionString reads the runtime.buildVersion Go string (pointer,
// length) through .symtab.
func (e *Executable) buildVersionString(r io.ReaderAt) (string, error) {
	s, ok := e.symbols["runtime.buildVersion"]
	if !ok {
		return "", errors.New("symbol not found")
	}
	var hdr [16]byte
	if err := e.readAtFrom(r, hdr[:], s.addr); err != nil {
		return "", err
	}
	ptr, n := binaryLE.Uint64(hdr[:8]), binaryLE.Uint64(hdr[8:])
	if n == 0 || n > 256 {
		return "", fmt.Errorf("implausible length %d", n)
	}
	buf := make([]byte, n)
	if err := e.readAtFrom(r, buf, ptr); err != nil {
		return "", err
	}
	if !bytes.HasPrefix(buf, []byte("go")) && !bytes.HasPrefix(buf, []byte("devel")) {
		return "", fmt.Errorf("unexpected contents %q", buf)
	}
	return string(buf), nil
}

// Symbol returns the address and size of a data symbol from .symtab; ok is
// false when the executable is stripped or has no such symbol.
func (e *Executable) Symbol(name string) (addr, size uint64, ok bool) {
	s, ok := e.symbols[name]
	return s.addr, s.size, ok
}
