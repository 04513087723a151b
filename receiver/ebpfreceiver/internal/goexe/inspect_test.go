package goexe

import (
	"bufio"
	"debug/elf"
	"errors"
	"os"
	"strings"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

const serveHTTP = "net/http.serverHandler.ServeHTTP"

// target is one binary of the test matrix.
type target struct {
	tc toolchain
	v  variant
}

// matrixTargets builds every flag combination for the toolchains the issue
// names, and the plain unstripped build for the other supported minors (whose
// DWARF is compared with the offsets table).
// With -short, only the host toolchain and Debian's Go 1.19 are used.
func matrixTargets() []target {
	var ts []target
	if testing.Short() {
		for _, tc := range []toolchain{tcDebian119, tcHost} {
			for _, v := range []variant{{}, {stripped: true}, {pie: true}, {pie: true, stripped: true}} {
				ts = append(ts, target{tc, v})
			}
		}
		return ts
	}
	for _, tc := range []toolchain{tcDebian119, tcGo121, tcGo123, tcHost} {
		for _, v := range []variant{{}, {stripped: true}, {pie: true}, {pie: true, stripped: true}} {
			ts = append(ts, target{tc, v})
		}
	}
	for _, tc := range []toolchain{tcGo120, tcGo122, tcGo124, tcGo125} {
		ts = append(ts, target{tc, variant{}})
	}
	for _, tc := range []toolchain{tcDebian119, tcGo123, tcHost} {
		ts = append(ts, target{tc, variant{cgo: true}}, target{tc, variant{cgo: true, stripped: true}})
	}
	return ts
}

func TestInspectMatrix(t *testing.T) {
	fields := readFieldsFile(t)
	table, err := EmbeddedOffsets()
	if err != nil {
		t.Fatal(err)
	}
	for _, tg := range matrixTargets() {
		t.Run(tg.tc.name+"/"+tg.v.String(), func(t *testing.T) {
			t.Parallel()
			wantVersion := requireToolchain(t, tg.tc)
			path := buildTarget(t, tg.tc, tg.v)
			exe, err := Inspect(path)
			if err != nil {
				t.Fatal(err)
			}
			checkMetadata(t, exe, tg, wantVersion)
			fn := checkServeHTTP(t, exe, path)
			checkFuncForPC(t, exe, fn)
			checkBuildVersionSymbol(t, exe)

			// The same toolchain's unstripped build is the reference for the
			// stripped one: -s -w must not move code, and the table must give
			// what DWARF gives.
			var ref *Executable
			if tg.v.stripped {
				unstripped := tg.v
				unstripped.stripped = false
				ref, err = Inspect(buildTarget(t, tg.tc, unstripped))
				if err != nil {
					t.Fatal(err)
				}
				refFn, err := ref.Func(serveHTTP)
				if err != nil {
					t.Fatal(err)
				}
				if refFn.Entry != fn.Entry || len(refFn.ReturnOffsets) != len(fn.ReturnOffsets) {
					t.Errorf("stripped %s = entry %#x, %d RETs; unstripped: entry %#x, %d RETs",
						serveHTTP, fn.Entry, len(fn.ReturnOffsets), refFn.Entry, len(refFn.ReturnOffsets))
				}
			}
			checkFieldOffsets(t, exe, ref, table, fields)
			checkRIPRefs(t, exe, ref)
		})
	}
}

func checkMetadata(t *testing.T, exe *Executable, tg target, wantVersion string) {
	t.Helper()
	if exe.GoVersion != wantVersion {
		t.Errorf("GoVersion = %q, want %q", exe.GoVersion, wantVersion)
	}
	wantMinor, _, _ := parseGoVersion(wantVersion)
	if exe.GoMinor() != wantMinor || wantMinor < 19 {
		t.Errorf("GoMinor() = %d, want %d", exe.GoMinor(), wantMinor)
	}
	if exe.Stripped != tg.v.stripped || exe.HasDWARF == tg.v.stripped {
		t.Errorf("Stripped = %v, HasDWARF = %v for variant %s", exe.Stripped, exe.HasDWARF, tg.v)
	}
	if exe.PIE != tg.v.pie {
		t.Errorf("PIE = %v for variant %s", exe.PIE, tg.v)
	}
	if exe.Arch != "amd64" {
		t.Errorf("Arch = %q", exe.Arch)
	}
	if _, ok := exe.Modules["example.com/httpapp"]; !ok {
		t.Errorf("Modules = %v, want the main module example.com/httpapp", exe.Modules)
	}
	if (exe.DWARF() != nil) != exe.HasDWARF {
		t.Errorf("DWARF() nil = %v with HasDWARF = %v", exe.DWARF() == nil, exe.HasDWARF)
	}
}

// checkServeHTTP checks the function's offsets against the raw file bytes and,
// when the binary has a symbol table, against the ELF symbol.
func checkServeHTTP(t *testing.T, exe *Executable, path string) Func {
	t.Helper()
	fn, err := exe.Func(serveHTTP)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	code, entry, err := exe.FuncBytes(serveHTTP)
	if err != nil {
		t.Fatal(err)
	}
	if entry != fn.Entry || uint64(len(code)) != fn.End-fn.Entry {
		t.Fatalf("FuncBytes = %d bytes at %#x; Func = [%#x, %#x)", len(code), entry, fn.Entry, fn.End)
	}
	if fn.EntryOffset+uint64(len(code)) > uint64(len(raw)) || string(raw[fn.EntryOffset:fn.EntryOffset+uint64(len(code))]) != string(code) {
		t.Fatalf("file bytes at EntryOffset %#x differ from FuncBytes", fn.EntryOffset)
	}
	if len(fn.ReturnOffsets) == 0 {
		t.Fatalf("%s: no RET found", serveHTTP)
	}
	// Every toolchain of the matrix (register ABI) starts ServeHTTP with a
	// stack-bound check: the entry probe goes on its jump.
	if skip := fn.ProbeOffset - fn.EntryOffset; fn.ProbeOffset <= fn.EntryOffset || skip > 12 ||
		(raw[fn.ProbeOffset] != 0x76 && (raw[fn.ProbeOffset] != 0x0f || raw[fn.ProbeOffset+1] != 0x86)) {
		t.Errorf("%s: ProbeOffset %#x (entry %#x) is not on the stack check's JBE", serveHTTP, fn.ProbeOffset, fn.EntryOffset)
	}
	for _, off := range fn.ReturnOffsets {
		if off <= fn.EntryOffset || off >= fn.EntryOffset+uint64(len(code)) || raw[off] != 0xc3 {
			t.Errorf("return offset %#x: outside the function or byte is not 0xC3", off)
		}
	}
	if !exe.Stripped {
		ef, err := elf.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		defer ef.Close()
		syms, err := ef.Symbols()
		if err != nil {
			t.Fatal(err)
		}
		found := false
		for _, s := range syms {
			if s.Name == serveHTTP {
				found = true
				if s.Value != fn.Entry {
					t.Errorf("pclntab entry %#x, .symtab value %#x", fn.Entry, s.Value)
				}
			}
		}
		if !found {
			t.Errorf("%s not in .symtab", serveHTTP)
		}
	}
	return fn
}

func checkFuncForPC(t *testing.T, exe *Executable, fn Func) {
	t.Helper()
	pcs := []uint64{fn.Entry, fn.Entry + 1}
	for _, off := range fn.ReturnOffsets {
		pcs = append(pcs, fn.Entry+(off-fn.EntryOffset))
	}
	for _, pc := range pcs {
		name, file, line, ok := exe.FuncForPC(pc)
		if !ok || name != fn.Name || line <= 0 || !strings.HasSuffix(file, ".go") {
			t.Errorf("FuncForPC(%#x) = %q %s:%d %v, want %s", pc, name, file, line, ok, fn.Name)
		}
	}
	if name, file, line, ok := exe.FuncForPC(fn.Entry); !strings.HasSuffix(file, "net/http/server.go") {
		t.Errorf("FuncForPC(entry) = %q %s:%d %v, want a line of net/http/server.go", name, file, line, ok)
	}
	// The last byte is INT3 padding: it belongs to the function, with no line.
	if name, _, _, ok := exe.FuncForPC(fn.End - 1); !ok || name != fn.Name {
		t.Errorf("FuncForPC(end-1) = %q, %v", name, ok)
	}
	if name, _, _, ok := exe.FuncForPC(fn.End); ok && name == fn.Name {
		t.Errorf("FuncForPC(end) = %q", name)
	}
	if _, _, _, ok := exe.FuncForPC(0); ok {
		t.Error("FuncForPC(0) found a function")
	}
}

// checkBuildVersionSymbol reads runtime.buildVersion (a Go string header)
// through Symbol and ReadAt on unstripped binaries.
func checkBuildVersionSymbol(t *testing.T, exe *Executable) {
	t.Helper()
	addr, size, ok := exe.Symbol("runtime.buildVersion")
	if exe.Stripped {
		if ok {
			t.Error("Symbol found runtime.buildVersion in a stripped binary")
		}
		return
	}
	if !ok || size != 16 {
		t.Fatalf("Symbol(runtime.buildVersion) = %#x, %d, %v", addr, size, ok)
	}
	hdr := make([]byte, 16)
	if err := exe.ReadAt(hdr, addr); err != nil {
		t.Fatal(err)
	}
	ptr, n := binaryLE.Uint64(hdr), binaryLE.Uint64(hdr[8:])
	if n == 0 || n > 64 {
		t.Fatalf("runtime.buildVersion length %d", n)
	}
	s := make([]byte, n)
	if err := exe.ReadAt(s, ptr); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(exe.GoVersion, string(s)) {
		t.Errorf("runtime.buildVersion = %q, GoVersion %q", s, exe.GoVersion)
	}
}

// checkFieldOffsets compares every listed field: an unstripped binary's
// DWARF must agree with the committed table, and a stripped binary (which
// can only use the table) must agree with its unstripped sibling's DWARF.
func checkFieldOffsets(t *testing.T, exe, ref *Executable, table *OffsetTable, fields []string) {
	t.Helper()
	for _, key := range fields {
		structName, field := splitFieldKey(key)
		got, gotErr := exe.FieldOffset(structName, field)
		tabOff, tabErr := table.Lookup(key, exe.GoVersion, exe.Modules)
		if gotErr != nil && !errors.Is(gotErr, ErrFieldAbsent) {
			t.Errorf("FieldOffset(%s, %s): %v", structName, field, gotErr)
			continue
		}
		if errors.Is(gotErr, ErrFieldAbsent) != errors.Is(tabErr, ErrFieldAbsent) || got != tabOff {
			t.Errorf("%s: FieldOffset = %d (err %v), table = %d (err %v)", key, got, gotErr, tabOff, tabErr)
		}
		if exe.HasDWARF {
			// FieldOffset falls back to the table silently; make sure DWARF
			// itself answered.
			// A struct the version lacks (internal/runtime/maps before Go
			// 1.24) is absent too.
			dw, dwErr := exe.DWARFFieldOffset(structName, field)
			dwAbsent := errors.Is(dwErr, ErrFieldAbsent) || errors.Is(dwErr, ErrStructAbsent)
			if (dwErr != nil && !dwAbsent) || dwAbsent != errors.Is(gotErr, ErrFieldAbsent) || dw != got {
				t.Errorf("%s: DWARFFieldOffset = %d (err %v), FieldOffset %d (err %v)", key, dw, dwErr, got, gotErr)
			}
		}
		if ref != nil {
			refOff, refErr := ref.FieldOffset(structName, field)
			if refOff != got || errors.Is(refErr, ErrFieldAbsent) != errors.Is(gotErr, ErrFieldAbsent) {
				t.Errorf("%s: stripped %d (err %v), unstripped DWARF %d (err %v)", key, got, gotErr, refOff, refErr)
			}
		}
	}
}

func splitFieldKey(key string) (structName, field string) {
	i := strings.LastIndexByte(key, '.')
	return key[:i], key[i+1:]
}

func readFieldsFile(t *testing.T) []string {
	t.Helper()
	f, err := os.Open("offsets_fields.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var fields []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line != "" && !strings.HasPrefix(line, "#") && !strings.Contains(line, " @") {
			fields = append(fields, strings.Fields(line)[0])
		}
	}
	if len(fields) == 0 {
		t.Fatal("offsets_fields.txt lists no fields")
	}
	return fields
}

// readModuleFieldsFile returns the fields of other modules listed in
// offsets_fields.txt ("key @module"), by key.
func readModuleFieldsFile(t *testing.T) map[string]string {
	t.Helper()
	b, err := os.ReadFile("offsets_fields.txt")
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, line := range strings.Split(string(b), "\n") {
		if key, mod, ok := strings.Cut(strings.TrimSpace(line), " @"); ok && !strings.HasPrefix(key, "#") {
			out[key] = mod
		}
	}
	return out
}

// leakClosure is the goroutine body in testdata/httpapp that receives from
// the global channel main.leaked.
const leakClosure = "main.handle.func1"

// checkRIPRefs finds the global main.leaked through the RIP-relative operands
// of the closure that reads it: against .symtab when present, else against
// the unstripped sibling.
func checkRIPRefs(t *testing.T, exe, ref *Executable) {
	t.Helper()
	refs, err := exe.RIPRefs(leakClosure)
	if err != nil {
		t.Fatal(err)
	}
	targets := map[uint64]bool{}
	for _, r := range refs {
		targets[r.Target] = true
	}
	if want, _, ok := exe.Symbol("main.leaked"); ok {
		if !targets[want] {
			t.Errorf("RIPRefs(%s) = %+v, want a reference to main.leaked at %#x", leakClosure, refs, want)
		}
		return
	}
	// Stripping moves data, so a stripped binary's reference is checked for
	// shape: same operands as the unstripped build, into writable memory.
	refRefs, err := ref.RIPRefs(leakClosure)
	if err != nil {
		t.Fatal(err)
	}
	if len(refRefs) != len(refs) {
		t.Fatalf("RIPRefs(%s) = %+v; unstripped %+v", leakClosure, refs, refRefs)
	}
	for i, r := range refs {
		if r.Op != refRefs[i].Op || r.PC != refRefs[i].PC || !exe.isWritable(r.Target) {
			t.Errorf("RIPRefs(%s)[%d] = %+v; unstripped %+v", leakClosure, i, r, refRefs[i])
		}
	}
}

func (e *Executable) isWritable(vaddr uint64) bool {
	for _, p := range e.loads {
		if p.Flags&elf.PF_W != 0 && vaddr >= p.Vaddr && vaddr-p.Vaddr < p.Memsz {
			return true
		}
	}
	return false
}
