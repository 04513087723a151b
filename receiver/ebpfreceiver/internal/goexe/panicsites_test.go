package goexe

import (
	"errors"
	"net/url"
	"os"
	"reflect"
	"testing"
	"unsafe"
)

// The panic probes sit on runtime.recovery's call of gogo: one call site on
// every toolchain and build mode of the matrix.
func TestRecoveryCallsGogo(t *testing.T) {
	for _, tg := range matrixTargets() {
		t.Run(tg.tc.name+"/"+tg.v.String(), func(t *testing.T) {
			t.Parallel()
			requireToolchain(t, tg.tc)
			exe, err := Inspect(buildTarget(t, tg.tc, tg.v))
			if err != nil {
				t.Fatal(err)
			}
			offs, err := exe.CallOffsets("runtime.recovery", "runtime.gogo")
			if err != nil {
				t.Fatal(err)
			}
			if len(offs) != 1 {
				t.Errorf("runtime.recovery calls gogo at %d places, want 1", len(offs))
			}
			if _, err := exe.CallOffsets("runtime.recovery", "runtime.newproc1"); err == nil {
				t.Errorf("found a call runtime.recovery does not make")
			}
		})
	}
}

// typeOf returns the runtime address of v's type descriptor: what gopanic
// receives as the panic value's type.
func typeOf(v any) uintptr {
	return (*[2]uintptr)(unsafe.Pointer(&v))[0]
}

// TypeName resolves the descriptors of this test binary's own values, found
// through the running program (the address gopanic would see), back to their
// names through the file.
func TestTypeNameOfRunningProgram(t *testing.T) {
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	exe, err := Inspect(self)
	if err != nil {
		t.Fatal(err)
	}
	// Load bias (non-zero for a PIE test binary): a function's runtime PC
	// minus its unrelocated entry.
	fn, err := exe.Func("github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/goexe.TestTypeNameOfRunningProgram")
	if err != nil {
		t.Fatal(err)
	}
	bias := uint64(reflect.ValueOf(TestTypeNameOfRunningProgram).Pointer()) - fn.Entry
	var urlErr error = &url.Error{Op: "Get", URL: "x", Err: errors.New("y")}
	for _, tc := range []struct {
		v    any
		want string
	}{
		{"boom", "string"},
		{errors.New("boom"), "*errors.errorString"},
		{urlErr, "*url.Error"},
		{url.Error{}, "url.Error"},
		{42, "int"},
		{[]byte("x"), "[]uint8"},
	} {
		got, err := exe.TypeName(uint64(typeOf(tc.v)) - bias)
		if err != nil || got != tc.want {
			t.Errorf("TypeName(type of %#v) = %q, %v; want %q", tc.v, got, err, tc.want)
		}
	}
	if _, err := exe.TypeName(exe.typesBase + 3); err == nil {
		t.Errorf("TypeName of a misaligned address succeeded")
	}
	if _, err := exe.TypeName(1 << 40); err == nil {
		t.Errorf("TypeName outside the file succeeded")
	}
}
