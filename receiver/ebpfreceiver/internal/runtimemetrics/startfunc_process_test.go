package runtimemetrics

import (
	"bufio"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pmetric"
)

// pointWithAttrs returns the value of the first point of metric name whose
// string attributes include all of attrs.
func pointWithAttrs(md pmetric.Metrics, name string, attrs map[string]string) (float64, pmetric.NumberDataPoint, bool) {
	m, ok := findMetric(md, name)
	if !ok {
		return 0, pmetric.NumberDataPoint{}, false
	}
	dps := numberPoints(m)
next:
	for i := 0; i < dps.Len(); i++ {
		for k, want := range attrs {
			v, ok := dps.At(i).Attributes().Get(k)
			if !ok || v.AsString() != want {
				continue next
			}
		}
		return value(dps.At(i)), dps.At(i), true
	}
	return 0, pmetric.NumberDataPoint{}, false
}

// funcLine is the line of "func name(" in runtimedemo's source: the line
// pclntab gives for the function's entry.
func funcLine(t *testing.T, name string) int {
	t.Helper()
	f, err := os.Open(filepath.Join("..", "..", "..", "..", "integration", "testdata", "runtimedemo", "main.go"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		if strings.HasPrefix(sc.Text(), "func "+name+"(") {
			return n
		}
	}
	t.Fatalf("func %s not in runtimedemo", name)
	return 0
}

// TestGoroutineStartFunctions: every goroutine of runtimedemo -mode pool is
// created at one generic site, main.runInPool (but 5 at main.startWithArg). The blocked and leak series
// and the leak log line tell them apart by start function (g.startpc), with
// its file and line; a goroutine started by `go argWorker(id)` is named by
// argWorker, not by the compiler's wrapper.
func TestGoroutineStartFunctions(t *testing.T) {
	requireRoot(t)
	for _, v := range variants(t) {
		t.Run(v.name, func(t *testing.T) {
			demo := startDemo(t, v.run, "-mode", "pool")
			opts := DefaultOptions()
			opts.Scheduler, opts.Allocations, opts.GC = false, false, false
			opts.LeakThreshold = 20
			c, logs := newTestCollector(t, opts)
			if err := c.AttachBinary(demo.cmd.Process.Pid, v.bin(t)); err != nil {
				t.Fatal(err)
			}
			with := func(start string) map[string]string {
				creation := "main.runInPool"
				if start == "main.argWorker" {
					creation = "main.startWithArg"
				}
				return map[string]string{"code.function.name": creation, "go.goroutine.start.function.name": start}
			}
			var md pmetric.Metrics
			var orders []float64
			// Poll: on a loaded machine the pool may need a while to park
			// its goroutines and the leak a few collections to be seen.
			for deadline := time.Now().Add(20 * time.Second); ; {
				md = collect(t, c)
				if n, _, ok := pointWithAttrs(md, "go.goroutine.blocked", with("main.ordersWorker")); ok {
					orders = append(orders, n)
				}
				_, _, leak := pointWithAttrs(md, "go.goroutine.leak.suspected", with("main.ordersWorker"))
				payments, _, _ := pointWithAttrs(md, "go.goroutine.blocked", with("main.paymentsWorker"))
				args, _, _ := pointWithAttrs(md, "go.goroutine.blocked", with("main.argWorker"))
				if leak && payments == 30 && args == 5 {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("after 20 s: orders blocked %v, leak flagged %v, payments %v (want 30), argWorker %v (want 5)", orders, leak, payments, args)
				}
				time.Sleep(300 * time.Millisecond)
			}
			if _, _, ok := pointWithAttrs(md, "go.goroutine.leak.suspected", with("main.paymentsWorker")); ok {
				t.Error("a steady pool of paymentsWorker goroutines flagged as a leak")
			}
			for _, fn := range []string{"ordersWorker", "paymentsWorker", "argWorker"} {
				_, dp, _ := pointWithAttrs(md, "go.goroutine.blocked", with("main."+fn))
				file, _ := dp.Attributes().Get("go.goroutine.start.file.path")
				line, _ := dp.Attributes().Get("go.goroutine.start.line.number")
				if !strings.HasSuffix(file.Str(), "runtimedemo/main.go") || line.Int() != int64(funcLine(t, fn)) {
					t.Errorf("main.%s start position %s:%d, want runtimedemo/main.go:%d", fn, file.Str(), line.Int(), funcLine(t, fn))
				}
			}
			// The creation site is still the go statement in main.runInPool.
			_, dp, _ := pointWithAttrs(md, "go.goroutine.blocked", with("main.paymentsWorker"))
			if line, _ := dp.Attributes().Get("code.line.number"); line.Int() != int64(funcLine(t, "runInPool")+1) {
				t.Errorf("creation line %d, want %d (the go statement)", line.Int(), funcLine(t, "runInPool")+1)
			}
			lines := logs.FilterMessage("Suspected goroutine leak").All()
			if len(lines) != 1 {
				t.Fatalf("%d leak log lines, want 1", len(lines))
			}
			ctx := lines[0].ContextMap()
			if !strings.HasPrefix(ctx["site"].(string), "main.runInPool ") || !strings.HasPrefix(ctx["start_function"].(string), "main.ordersWorker ") {
				t.Errorf("leak log line site=%q start_function=%q, want main.runInPool and main.ordersWorker", ctx["site"], ctx["start_function"])
			}
		})
	}
}
