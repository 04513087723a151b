// Package goexe inspects Go executables on disk so that the eBPF receiver can
// attach uprobes to them and read their memory: the Go version and module
// versions from the build info, function addresses and RET instructions from
// .gopclntab (which survives -ldflags="-s -w", PIE and cgo), data symbols from
// .symtab, and struct field offsets from DWARF or, when DWARF was stripped,
// from a table generated per Go version (offsets.json, see cmd/offsetgen).
//
// All addresses taken and returned by this package are the unrelocated
// virtual addresses of the ELF file; uprobes take file offsets, which
// VaddrToFileOffset and Func.EntryOffset/ReturnOffsets provide.
//
// An Executable keeps the pclntab and symbol tables in memory but not an open
// file: code, data and DWARF are read on demand by reopening the path and
// checking that it is still the same file (device, inode, size, mtime), so a
// cache of many executables holds no file descriptors.
package goexe
