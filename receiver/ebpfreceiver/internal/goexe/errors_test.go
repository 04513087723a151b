package goexe

import (
	"debug/elf"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestInspectNotGo(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	script := filepath.Join(dir, "script.sh")
	if err := os.WriteFile(script, []byte("#!/bin/sh\necho hi\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	empty := filepath.Join(dir, "empty")
	if err := os.WriteFile(empty, nil, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{"/bin/ls", "/usr/lib/x86_64-linux-gnu/libc.so.6", script, empty} {
		exe, err := Inspect(path)
		if !errors.Is(err, ErrNotGo) || exe != nil || !strings.Contains(err.Error(), path) {
			t.Errorf("Inspect(%s) = %v, %v; want ErrNotGo naming the path", path, exe, err)
		}
	}
	missing := filepath.Join(dir, "missing")
	if _, err := Inspect(missing); err == nil || errors.Is(err, ErrNotGo) || !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Inspect(missing) = %v; want a not-exist error", err)
	}
}

// TestInspectCorrupt damages a real binary in the places the inspection
// relies on and checks that each is reported as an error, not a panic.
func TestInspectCorrupt(t *testing.T) {
	t.Parallel()
	orig, err := os.ReadFile(buildTarget(t, tcHost, variant{tiny: true}))
	if err != nil {
		t.Fatal(err)
	}
	ef, err := elf.NewFile(strings.NewReader(string(orig)))
	if err != nil {
		t.Fatal(err)
	}
	pcln := ef.Section(".gopclntab")
	if pcln == nil {
		t.Fatal("no .gopclntab")
	}
	tests := []struct {
		name    string
		mutate  func(b []byte) []byte
		wantErr string
	}{
		{"truncated to the ELF header", func(b []byte) []byte { return b[:64] }, "parse ELF"},
		{"truncated halfway", func(b []byte) []byte { return b[:len(b)/2] }, ""},
		{"pclntab magic", func(b []byte) []byte { b[pcln.Offset] = 0; return b }, "pclntab"},
		{"pclntab function count", func(b []byte) []byte {
			binaryLE.PutUint64(b[pcln.Offset+8:], 1<<40)
			return b
		}, "function count"},
		{"pclntab table offset", func(b []byte) []byte {
			binaryLE.PutUint64(b[pcln.Offset+8+3*8:], 1<<40)
			return b
		}, "outside"},
		{"arm64 machine", func(b []byte) []byte {
			binaryLE.PutUint16(b[18:], uint16(elf.EM_AARCH64))
			return b
		}, "unsupported architecture"},
		{"section header offset", func(b []byte) []byte {
			binaryLE.PutUint64(b[0x28:], uint64(len(b))+1)
			return b
		}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := tt.mutate(append([]byte(nil), orig...))
			path := filepath.Join(t.TempDir(), "corrupt")
			if err := os.WriteFile(path, b, 0o755); err != nil {
				t.Fatal(err)
			}
			exe, err := Inspect(path)
			if err == nil {
				t.Fatalf("Inspect accepted a corrupt binary: %+v", exe)
			}
			if !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("error %q does not name the path and %q", err, tt.wantErr)
			}
			if errors.Is(err, ErrNotGo) {
				t.Errorf("corrupt Go binary reported as not Go: %v", err)
			}
		})
	}
}

// TestFileChanged checks that code is never read from a file that replaced
// the inspected one at the same path.
func TestFileChanged(t *testing.T) {
	t.Parallel()
	src := buildTarget(t, tcHost, variant{tiny: true})
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "tiny")
	if err := os.WriteFile(path, b, 0o755); err != nil {
		t.Fatal(err)
	}
	exe, err := Inspect(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := exe.Func("main.main"); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, append(b, 0), 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := exe.Func("main.main"); !errors.Is(err, errFileChanged) {
		t.Errorf("Func after replacing the file: %v, want errFileChanged", err)
	}
	// What was learned from the pclntab stays usable.
	if _, _, _, ok := exe.FuncForPC(exe.table.Funcs[0].Entry); !ok {
		t.Error("FuncForPC failed after the file changed")
	}
}

func TestFuncErrors(t *testing.T) {
	t.Parallel()
	exe, err := Inspect(buildTarget(t, tcHost, variant{tiny: true}))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := exe.Func("main.nosuch"); err == nil || !strings.Contains(err.Error(), "main.nosuch") {
		t.Errorf("Func(main.nosuch) = %v", err)
	}
	if _, err := exe.VaddrToFileOffset(0); err == nil {
		t.Error("VaddrToFileOffset(0) succeeded")
	}
	if err := exe.ReadAt(make([]byte, 8), 0); err == nil {
		t.Error("ReadAt(0) succeeded")
	}
	if _, err := exe.FieldOffset("runtime.nosuch", "x"); err == nil || !strings.Contains(err.Error(), "runtime.nosuch.x") {
		t.Errorf("FieldOffset(runtime.nosuch, x) = %v", err)
	}
}

// TestInspectNoSectionHeaders removes the section header table (as sstrip
// does): the build info, pclntab and runtime.text must then be found from
// the segments alone, and agree with the intact binary.
func TestInspectNoSectionHeaders(t *testing.T) {
	t.Parallel()
	for _, v := range []variant{{stripped: true}, {stripped: true, pie: true}} {
		src := buildTarget(t, tcHost, v)
		orig, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		b := append([]byte(nil), orig...)
		binaryLE.PutUint64(b[0x28:], 0) // e_shoff
		binaryLE.PutUint16(b[0x3c:], 0) // e_shnum
		binaryLE.PutUint16(b[0x3e:], 0) // e_shstrndx
		path := filepath.Join(t.TempDir(), "sstripped")
		if err := os.WriteFile(path, b, 0o755); err != nil {
			t.Fatal(err)
		}
		want, err := Inspect(src)
		if err != nil {
			t.Fatal(err)
		}
		got, err := Inspect(path)
		if err != nil {
			t.Fatalf("%s: %v", v, err)
		}
		wantFn, err := want.Func(serveHTTP)
		if err != nil {
			t.Fatal(err)
		}
		gotFn, err := got.Func(serveHTTP)
		if err != nil {
			t.Fatal(err)
		}
		if got.GoVersion != want.GoVersion || !reflect.DeepEqual(got.Modules, want.Modules) || gotFn.Entry != wantFn.Entry || gotFn.EntryOffset != wantFn.EntryOffset ||
			len(gotFn.ReturnOffsets) != len(wantFn.ReturnOffsets) {
			t.Errorf("%s without section headers: %s %+v; intact: %s %+v", v, got.GoVersion, gotFn, want.GoVersion, wantFn)
		}
	}
}

// TestInspectInstalledToolchains inspects go commands built by others: the
// Debian package's (stripped by the packager) and the host toolchain's.
func TestInspectInstalledToolchains(t *testing.T) {
	t.Parallel()
	for _, tc := range []toolchain{tcDebian119, tcHost} {
		version := requireToolchain(t, tc)
		bin := tc.goBin
		if bin == "" {
			out, err := tc.command(os.TempDir(), "env", "GOROOT").Output()
			if err != nil {
				t.Fatal(err)
			}
			bin = filepath.Join(strings.TrimSpace(string(out)), "bin", "go")
		}
		exe, err := Inspect(bin)
		if err != nil {
			t.Fatal(err)
		}
		if exe.GoVersion != version {
			t.Errorf("%s: GoVersion %q, want %q", bin, exe.GoVersion, version)
		}
		fn, err := exe.Func("main.main")
		if err != nil {
			t.Fatal(err)
		}
		raw, err := os.ReadFile(bin)
		if err != nil {
			t.Fatal(err)
		}
		if len(fn.ReturnOffsets) == 0 {
			t.Errorf("%s: main.main has no RET", bin)
		}
		for _, off := range fn.ReturnOffsets {
			if raw[off] != 0xc3 {
				t.Errorf("%s: byte at return offset %#x is %#x", bin, off, raw[off])
			}
		}
		if name, _, _, ok := exe.FuncForPC(fn.Entry); !ok || name != "main.main" {
			t.Errorf("%s: FuncForPC(main.main entry) = %q, %v", bin, name, ok)
		}
	}
}
