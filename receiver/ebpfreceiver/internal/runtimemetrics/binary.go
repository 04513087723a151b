package runtimemetrics

// Binary is what this package needs from an inspected Go executable.
// The receiver adapts goexe.Executable to it; tests use the standard
// library's debug packages.
type Binary interface {
	// GoMinor is the minor version of the toolchain that built the binary (26 for go1.26.x).
	GoMinor() int
	// Symbol looks a data symbol up in .symtab; ok is false for stripped binaries.
	Symbol(name string) (addr, size uint64, ok bool)
	// FuncBytes returns the machine code of a function and its entry address
	// (from .gopclntab, so it works on stripped binaries).
	FuncBytes(name string) (code []byte, entry uint64, err error)
	// FuncForPC resolves a code address to function, file and line.
	FuncForPC(pc uint64) (fn, file string, line int, ok bool)
	// FieldOffset is the offset of a field in a runtime struct, from DWARF or
	// the per-version offsets table; ok is false when the field is unknown
	// for this Go version.
	FieldOffset(structName, field string) (off uint64, ok bool)
	// PIE says whether the binary is position independent (addresses need the load bias).
	PIE() bool
	// VaddrToFileOffset maps a link-time address to its offset in the file.
	VaddrToFileOffset(vaddr uint64) (uint64, error)
}
