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
	checkLocatorAgainstSymtab(t, demo, plain, 1)
}

// checkLocatorAgainstSymtab attaches to demo (running plain, a build with a
// symbol table) rounds times with the symbol table hidden, so every global is
// located from code and validated against live memory, and compares each
// result with the real symbol table. Several rounds catch validators that a
// lookalike global passes only now and then.
func checkLocatorAgainstSymtab(t *testing.T, demo *demoProcess, plain string, rounds int) {
	t.Helper()
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

	for round := 0; round < rounds; round++ {
		if round > 0 {
			time.Sleep(100 * time.Millisecond)
		}
		tg, err := attachTarget(demo.cmd.Process.Pid, stripped, DefaultOptions())
		if err != nil {
			t.Fatal(err)
		}
		globals := []struct {
			sym string
			got uint64
		}{
			{"runtime.allgs", tg.allgs}, {"runtime.allp", tg.allp}, {"runtime.memstats", tg.memstats},
			{"runtime.gcController", tg.gcController}, {"runtime.mbuckets", tg.mbuckets}, {"runtime.MemProfileRate", tg.memProfileRate},
		}
		if tg.lay.schedTimeToRun != noField && stripped.GoMinor() >= minGoForTimeHist {
			globals = append(globals, struct {
				sym string
				got uint64
			}{"runtime.sched", tg.sched})
		}
		for _, g := range globals {
			want, _, ok := withSyms.Symbol(g.sym)
			if !ok {
				t.Fatalf("%s not in symtab", g.sym)
			}
			if g.got != want {
				t.Errorf("round %d: %s located at %#x, symtab says %#x", round, g.sym, g.got, want)
			}
		}
		wrAddr, _, _ := withSyms.Symbol("runtime.waitReasonStrings")
		want, err := readWaitReasons(tg.mem, wrAddr)
		if err != nil {
			t.Fatal(err)
		}
		if len(tg.waitReasons) != len(want) || len(want) < 20 { // Go 1.19 has 27, newer releases more
			t.Fatalf("wait reasons from a stripped binary: %q, want %q", tg.waitReasons, want)
		}
		for i := range want {
			if tg.waitReasons[i] != want[i] {
				t.Errorf("wait reason %d: %q, want %q", i, tg.waitReasons[i], want[i])
			}
		}
		tg.close()
	}
}
