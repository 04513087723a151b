package goexe

import (
	"bytes"
	"debug/elf"
	"os"
	"sync"
	"testing"
)

// fuzzBases are the real binaries the fuzz inputs mutate: stripped, and with
// uncompressed DWARF so that mutations reach the DWARF parser rather than a
// zlib checksum.
var (
	fuzzBasesOnce sync.Once
	fuzzBases     [][]byte
)

// FuzzInspect runs the whole inspection API on real Go binaries with bytes
// flipped and tails cut: nothing may panic (or allocate without bound)
// whatever the file says. An input is a patch (which base binary, two XOR
// patches at offsets, a length to truncate to) rather than a whole binary, so
// the fuzzing engine exchanges small inputs. Seeds flip the ELF header,
// program and section headers, the pclntab header and tables, the build
// info, symbols, code and DWARF.
//
//	go test ./receiver/ebpfreceiver/internal/goexe -run '^$' -fuzz FuzzInspect -fuzztime 2m
func FuzzInspect(f *testing.F) {
	fuzzBasesOnce.Do(func() {
		for _, v := range []variant{{tiny: true, stripped: true}, {tiny: true, rawDWARF: true}} {
			b, err := os.ReadFile(buildTarget(f, tcHost, v))
			if err != nil {
				f.Fatal(err)
			}
			fuzzBases = append(fuzzBases, b)
		}
	})
	ff := []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}
	for which, orig := range fuzzBases {
		w := uint8(which)
		f.Add(w, uint32(0), []byte(nil), uint32(0), []byte(nil), uint32(0))
		f.Add(w, uint32(0), []byte(nil), uint32(0), []byte(nil), uint32(len(orig)/2))
		for _, off := range []uint32{0x18, 0x20, 0x28, 0x3c} { // e_entry, e_phoff, e_shoff, e_shnum
			f.Add(w, off, ff, uint32(0), []byte(nil), uint32(0))
		}
		ef, err := elf.NewFile(bytes.NewReader(orig))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(w, uint32(ef.Progs[0].Off+8), ff, uint32(ef.Progs[1].Off+32), ff, uint32(0))
		shoff := uint32(binaryLE.Uint64(orig[0x28:]))
		f.Add(w, shoff+64+24, ff, shoff+64*3+32, ff, uint32(0)) // section addresses and sizes
		for _, name := range []string{".gopclntab", ".go.buildinfo", ".debug_info", ".debug_abbrev", ".debug_line", ".symtab", ".strtab", ".text", ".noptrdata"} {
			s := ef.Section(name)
			if s == nil {
				continue
			}
			f.Add(w, uint32(s.Offset), ff, uint32(s.Offset+s.Size/2), ff, uint32(0))
			f.Add(w, uint32(s.Offset+16), []byte{1, 0x80, 0x7f}, uint32(s.Offset+s.Size-8), ff, uint32(0))
		}
		if s := ef.Section(".gopclntab"); s != nil {
			for _, word := range []uint32{1, 3, 4, 5, 6, 7, 8} { // nfunc, textStart, table offsets
				f.Add(w, uint32(s.Offset)+8*word, ff[:4], uint32(s.Offset)+8*word+3, []byte{0x7f}, uint32(0))
			}
			// A broken magic hides the section, so the header scan runs.
			f.Add(w, uint32(s.Offset), []byte{0x0f}, uint32(0), []byte(nil), uint32(0))
		}
	}
	f.Fuzz(func(t *testing.T, which uint8, off1 uint32, p1 []byte, off2 uint32, p2 []byte, size uint32) {
		base := fuzzBases[int(which)%len(fuzzBases)]
		data := append([]byte(nil), base...)
		xorAt(data, off1, p1)
		xorAt(data, off2, p2)
		if size != 0 && int(size) < len(data) {
			data = data[:size]
		}
		exerciseAPI(data)
	})
}

func xorAt(data []byte, off uint32, patch []byte) {
	if len(data) == 0 {
		return
	}
	if len(patch) > 4096 {
		patch = patch[:4096]
	}
	start := int(off) % len(data)
	for i, b := range patch {
		if start+i >= len(data) {
			break
		}
		data[start+i] ^= b
	}
}

// exerciseAPI inspects an in-memory binary and calls every method on it.
func exerciseAPI(data []byte) {
	exe, err := inspectImage("fuzz", data)
	if err != nil {
		return
	}
	_ = exe.GoMinor()
	n := len(exe.table.Funcs)
	for i := 0; i < 8 && n > 0; i++ {
		fn := exe.table.Funcs[i*n/8]
		_, _ = exe.Func(fn.Name)
		_, _, _, _ = exe.FuncForPC(fn.Entry)
		_, _, _, _ = exe.FuncForPC(fn.End + 1)
	}
	_, _ = exe.Func("main.main")
	_, _, _ = exe.FuncBytes("runtime.main")
	if addr, _, ok := exe.Symbol("runtime.buildVersion"); ok {
		_ = exe.ReadAt(make([]byte, 16), addr)
	}
	_ = exe.DWARF()
	_, _ = exe.FieldOffset("runtime.g", "goid")
	_, _ = exe.DWARFFieldOffset("runtime.m", "curg")
}
