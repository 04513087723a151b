package runtimemetrics

import (
	"testing"
	"time"
)

// TestStrippedLocatorFindsSymtabAddresses locates every runtime global from
// code alone (symtab hidden) in a live process and checks the result
// against the real symbol table of the same build.
func TestStrippedLocatorFindsSymtabAddresses(t *testing.T) {
	requireRoot(t)
	plain, _ := demoBinaries(t)
	demo := startDemo(t, plain, "-mode", "alloc")
	time.Sleep(300 * time.Millisecond)
	withSyms, err := openStdlibBinary(plain, plain)
	if err != nil {
		t.Fatal(err)
	}
	defer withSyms.f.Close()
	stripped, err := openStdlibBinary(plain, plain)
	if err != nil {
		t.Fatal(err)
	}
	defer stripped.f.Close()
	stripped.noSymtab = true

	tg, err := attachTarget(demo.cmd.Process.Pid, stripped, DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	defer tg.close()
	for _, g := range []struct {
		sym string
		got uint64
	}{
		{"runtime.allgs", tg.allgs}, {"runtime.allp", tg.allp}, {"runtime.memstats", tg.memstats},
		{"runtime.gcController", tg.gcController}, {"runtime.sched", tg.sched}, {"runtime.mbuckets", tg.mbuckets}, {"runtime.MemProfileRate", tg.memProfileRate},
	} {
		want, _, ok := withSyms.Symbol(g.sym)
		if !ok {
			t.Fatalf("%s not in symtab", g.sym)
		}
		if g.got != want {
			t.Errorf("%s located at %#x, symtab says %#x", g.sym, g.got, want)
		}
	}
	wrAddr, _, _ := withSyms.Symbol("runtime.waitReasonStrings")
	want, err := readWaitReasons(tg.mem, wrAddr)
	if err != nil {
		t.Fatal(err)
	}
	if len(tg.waitReasons) != len(want) || len(want) < 30 {
		t.Fatalf("wait reasons from a stripped binary: %q, want %q", tg.waitReasons, want)
	}
	for i := range want {
		if tg.waitReasons[i] != want[i] {
			t.Errorf("wait reason %d: %q, want %q", i, tg.waitReasons[i], want[i])
		}
	}
}
