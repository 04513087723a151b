package goexe

import (
	"bufio"
	"bytes"
	"os/exec"
	"regexp"
	"sort"
	"strconv"
	"testing"
)

var objdumpRet = regexp.MustCompile(`^\s*([0-9a-f]+):\s+(?:repz |rep |bnd )?retq?\b`)

// TestReturnOffsetsMatchObjdump decodes every function of real binaries and
// compares the RET instructions found with GNU objdump's disassembly, an
// independent decoder: a RET missed is a return the tracer would never see.
func TestReturnOffsetsMatchObjdump(t *testing.T) {
	t.Parallel()
	objdump, err := exec.LookPath("objdump")
	if err != nil {
		requireCI(t, "objdump (binutils) not installed: %v", err)
	}
	targets := []target{
		{tcHost, variant{tiny: true}}, {tcHost, variant{}}, {tcHost, variant{pie: true, stripped: true}},
		{tcHost, variant{cgo: true}}, {tcDebian119, variant{}}, {tcGo123, variant{pie: true}},
	}
	for _, tg := range targets {
		t.Run(tg.tc.name+"/"+tg.v.String(), func(t *testing.T) {
			t.Parallel()
			path := buildTarget(t, tg.tc, tg.v)
			out, err := exec.Command(objdump, "-d", "--no-show-raw-insn", "-j", ".text", path).Output()
			if err != nil {
				t.Fatalf("objdump: %v", err)
			}
			var want []uint64
			sc := bufio.NewScanner(bytes.NewReader(out))
			for sc.Scan() {
				if m := objdumpRet.FindStringSubmatch(sc.Text()); m != nil {
					a, _ := strconv.ParseUint(m[1], 16, 64)
					want = append(want, a)
				}
			}
			exe, err := Inspect(path)
			if err != nil {
				t.Fatal(err)
			}
			funcs := exe.table.Funcs
			checked, mismatched := 0, 0
			for _, f := range funcs {
				fn, err := exe.Func(f.Name)
				if err != nil {
					t.Errorf("Func(%s): %v", f.Name, err)
					continue
				}
				lo := sort.Search(len(want), func(i int) bool { return want[i] >= fn.Entry })
				hi := sort.Search(len(want), func(i int) bool { return want[i] >= fn.End })
				var got []uint64
				for _, off := range fn.ReturnOffsets {
					got = append(got, fn.Entry+(off-fn.EntryOffset))
				}
				checked++
				if !equalU64(got, want[lo:hi]) {
					mismatched++
					if mismatched <= 5 {
						t.Errorf("%s [%#x, %#x): RETs %x, objdump %x", f.Name, fn.Entry, fn.End, got, want[lo:hi])
					}
				}
			}
			if checked < 500 {
				t.Errorf("only %d functions checked", checked)
			}
			t.Logf("%d functions, %d RETs in objdump, %d mismatches", checked, len(want), mismatched)
		})
	}
}

func equalU64(a, b []uint64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
