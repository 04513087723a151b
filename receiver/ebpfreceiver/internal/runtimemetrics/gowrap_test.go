package runtimemetrics

import (
	"encoding/binary"
	"fmt"
	"testing"
)

// codeBinary is fakeBinary with machine code for some functions.
type codeBinary struct {
	fakeBinary
	code map[string][]byte // by function name; entry is the function's lowest PC in funcs
}

func (c codeBinary) FuncBytes(name string) ([]byte, uint64, error) {
	code, ok := c.code[name]
	if !ok {
		return nil, 0, fmt.Errorf("no function %s", name)
	}
	for pc, s := range c.funcs {
		if s.Function == name {
			return code, pc, nil
		}
	}
	return nil, 0, fmt.Errorf("no entry for %s", name)
}

// callRel32 encodes CALL rel32 at pc to target.
func callRel32(pc, target uint64) []byte {
	b := []byte{0xe8, 0, 0, 0, 0}
	binary.LittleEndian.PutUint32(b[1:], uint32(int32(int64(target)-int64(pc+5))))
	return b
}

// A worker pool: every goroutine is created by one generic helper
// (main.runInPool), but they run different start functions; one of them
// started through the compiler's `go f(x)` wrapper. The blocked series and
// the leak detector keep them apart, and name the wrapped function.
func TestBlockedByStartFunction(t *testing.T) {
	const wrapper = 0x5000
	var wrapCode []byte
	wrapCode = append(wrapCode, 0x55)                                                // PUSH RBP
	wrapCode = append(wrapCode, callRel32(wrapper+1, 0x7000)...)                     // CALL runtime.morestack_noctxt
	wrapCode = append(wrapCode, 0x48, 0x89, 0xc3)                                    // MOV RBX, RAX
	wrapCode = append(wrapCode, callRel32(wrapper+uint64(len(wrapCode)), 0x3000)...) // CALL main.argWorker
	wrapCode = append(wrapCode, 0xc3)                                                // RET
	bin := codeBinary{
		fakeBinary: fakeBinary{funcs: map[uint64]codeSite{
			0x100:   {"main.runInPool", "pool.go", 12},
			0x1000:  {"main.ordersWorker", "orders.go", 30},
			0x2000:  {"main.paymentsWorker", "payments.go", 40},
			0x3000:  {"main.argWorker", "arg.go", 50},
			wrapper: {"main.startWithArg.gowrap1", "pool.go", 20},
			0x7000:  {"runtime.morestack_noctxt", "asm_amd64.s", 1},
		}},
		code: map[string][]byte{"main.startWithArg.gowrap1": wrapCode},
	}
	res := newSiteResolver(bin, 0)
	reasons := []string{"", "GC assist marking", "IO wait", "chan receive"}
	snapshot := func(orders int) []goroutineRecord {
		var gs []goroutineRecord
		for range orders {
			gs = append(gs, goroutineRecord{Status: gWaiting, WaitReason: 3, GoPC: 0x101, StartPC: 0x1000})
		}
		for range 30 {
			gs = append(gs, goroutineRecord{Status: gWaiting, WaitReason: 3, GoPC: 0x101, StartPC: 0x2000})
		}
		for range 5 {
			gs = append(gs, goroutineRecord{Status: gWaiting, WaitReason: 3, GoPC: 0x101, StartPC: wrapper})
		}
		return gs
	}
	pool := codeSite{"main.runInPool", "pool.go", 12}
	want := map[goroutineSite]int64{
		{Creation: pool, Start: codeSite{"main.ordersWorker", "orders.go", 30}}:     60,
		{Creation: pool, Start: codeSite{"main.paymentsWorker", "payments.go", 40}}: 30,
		{Creation: pool, Start: codeSite{"main.argWorker", "arg.go", 50}}:           5,
	}
	d := newLeakDetector(20, 3, 100)
	var verdicts []leakVerdict
	for _, orders := range []int{20, 40, 60} {
		sum := summarizeGoroutines(snapshot(orders), res, reasons, 0)
		verdicts = d.observe(sum.Blocked)
		if orders < 60 {
			continue
		}
		got := map[goroutineSite]int64{}
		for _, b := range sum.Blocked {
			got[b.Site] = b.Count
		}
		if len(got) != len(want) {
			t.Fatalf("blocked series %v, want %v", got, want)
		}
		for site, n := range want {
			if got[site] != n {
				t.Errorf("%s: %d blocked, want %d", site, got[site], n)
			}
		}
	}
	if len(verdicts) != 1 || verdicts[0].Site.Start.Function != "main.ordersWorker" || !verdicts[0].Crossed {
		t.Fatalf("leak verdicts %+v, want only main.ordersWorker's goroutines", verdicts)
	}
}

func TestResolveStartKeepsWrapperWhenCalleeInlined(t *testing.T) {
	// The wrapped function was inlined: only a runtime call is left.
	bin := codeBinary{
		fakeBinary: fakeBinary{funcs: map[uint64]codeSite{
			0x5000: {"main.main.gowrap3", "main.go", 9},
			0x7000: {"runtime.morestack_noctxt", "asm_amd64.s", 1},
		}},
		code: map[string][]byte{"main.main.gowrap3": append(callRel32(0x5000, 0x7000), 0xc3)},
	}
	if got := newSiteResolver(bin, 0).resolveStart(0x5000); got.Function != "main.main.gowrap3" {
		t.Errorf("start %+v, want the wrapper itself", got)
	}
}

func TestIsGoWrapper(t *testing.T) {
	for fn, want := range map[string]bool{
		"main.main.gowrap1": true, "main.(*Pool).Run.gowrap12": true, "example.com/x.f.gowrap2": true,
		"main.main.func1": false, "main.gowrapper": false, "main.main.gowrap": false, "main.worker": false,
	} {
		if got := isGoWrapper(fn); got != want {
			t.Errorf("isGoWrapper(%q) = %v, want %v", fn, got, want)
		}
	}
}
