package runtimemetrics

import (
	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/goexe"
)

// executable adapts goexe.Executable (symbols, pclntab, DWARF or the
// per-version offsets table) to Binary.
type executable struct{ exe *goexe.Executable }

// FromExecutable returns the Binary view of an inspected executable.
func FromExecutable(exe *goexe.Executable) Binary { return executable{exe: exe} }

func (e executable) GoMinor() int { return e.exe.GoMinor() }
func (e executable) PIE() bool    { return e.exe.PIE }

func (e executable) VaddrToFileOffset(vaddr uint64) (uint64, error) {
	return e.exe.VaddrToFileOffset(vaddr)
}

func (e executable) Symbol(name string) (uint64, uint64, bool) { return e.exe.Symbol(name) }

func (e executable) FuncBytes(name string) ([]byte, uint64, error) { return e.exe.FuncBytes(name) }

func (e executable) FuncForPC(pc uint64) (string, string, int, bool) { return e.exe.FuncForPC(pc) }

// FieldOffset reports unknown and absent fields alike as not available: the
// metrics read from them are then left out, nothing else fails.
func (e executable) FieldOffset(structName, field string) (uint64, bool) {
	off, err := e.exe.FieldOffset(structName, field)
	return off, err == nil
}

// LoadBias is what must be added to a link-time address of exe to get the
// runtime address in process pid: 0 unless exe is a PIE.
func LoadBias(pid int, exe *goexe.Executable) (uint64, error) {
	return loadBias(pid, FromExecutable(exe))
}
