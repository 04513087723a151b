package goexe

import (
	"debug/elf"
	"encoding/binary"
	"strings"
	"testing"
)

// A stripped binary has no runtime.types symbol: the base found instead
// (.rodata, or .data.rel.ro in a PIE) must name every type the binary's
// typelinks list (int32 offsets from that base), as the symbol's does in
// an unstripped build.
func TestTypesBaseWithoutSymbols(t *testing.T) {
	for _, tc := range []toolchain{tcDebian119, tcHost} {
		for _, v := range []variant{{pie: true}, {pie: true, stripped: true}, {stripped: true}} {
			path := buildTarget(t, tc, v)
			exe, err := Inspect(path)
			if err != nil {
				t.Fatal(err)
			}
			ef, err := elf.Open(path)
			if err != nil {
				t.Fatal(err)
			}
			sec := ef.Section(".typelink")
			if sec == nil {
				sec = ef.Section(".data.rel.ro.typelink")
			}
			if sec == nil {
				t.Fatalf("%s %s: no typelink section", tc.name, v)
			}
			data, err := sec.Data()
			ef.Close()
			if err != nil || len(data) < 4*50 {
				t.Fatalf("%s %s: typelinks: %d bytes, %v", tc.name, v, len(data), err)
			}
			// Names longer than TypeName reads (struct literal types) fail
			// as implausible; anything else is a wrong base.
			request, long, total := 0, 0, len(data)/4
			for i := 0; i < total; i++ {
				off := binary.LittleEndian.Uint32(data[4*i:])
				name, err := exe.TypeName(exe.typesBase + uint64(off))
				switch {
				case err != nil && strings.Contains(err.Error(), "implausible length"):
					long++
				case err != nil:
					t.Fatalf("%s %s: typelink %d (offset %#x): %v", tc.name, v, i, off, err)
				case strings.Contains(name, "http.Request"):
					request++
				}
			}
			if request == 0 || long > total/20 {
				t.Errorf("%s %s: of %d typelinks, %d name a net/http.Request type, %d have implausible names", tc.name, v, total, request, long)
			}
		}
	}
}
