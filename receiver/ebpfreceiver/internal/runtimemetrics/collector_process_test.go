package runtimemetrics

import (
	"bufio"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/goexe"

	"github.com/otelcol-goebpf/otelcol-goebpf/internal/testutil/prereq"
)

// These tests read real processes: purpose-built Go programs
// (integration/testdata/runtimedemo) built by the test, unstripped and
// stripped. Reading another process's memory needs root (or ptrace rights);
// without it they skip, except under CI=true where they must run.

func requireRoot(t *testing.T) {
	t.Helper()
	prereq.RequireRoot(t, "reading another process's memory")
}

var (
	buildOnce  sync.Once
	builtPlain string
	builtStrip string
	builtPIE   string
	builtExt   string
	buildErr   error
)

// demoBinaries builds runtimedemo twice: with symbols and DWARF, and with -s -w.
func demoBinaries(t testing.TB) (plain, stripped string) {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "runtimedemo")
		if err != nil {
			buildErr = err
			return
		}
		src := filepath.Join("..", "..", "..", "..", "integration", "testdata", "runtimedemo", "main.go")
		builtPlain = filepath.Join(dir, "runtimedemo")
		builtStrip = filepath.Join(dir, "runtimedemo-stripped")
		builtPIE = filepath.Join(dir, "runtimedemo-pie-stripped")
		builtExt = filepath.Join(dir, "runtimedemo-extld-stripped")
		for _, b := range []struct{ out, ldflags, mode string }{
			{builtPlain, "", "exe"}, {builtStrip, "-s -w", "exe"}, {builtPIE, "-s -w", "pie"},
			// cgo on, linked by the external linker (clang-19, which CI installs anyway).
			{builtExt, "-linkmode=external -s -w", "exe"},
		} {
			cmd := exec.Command("go", "build", "-buildmode="+b.mode, "-ldflags="+b.ldflags, "-o", b.out, src)
			cmd.Env = append(os.Environ(), "CGO_ENABLED=1", "CC=clang-19")
			if out, err := cmd.CombinedOutput(); err != nil {
				buildErr = err
				t.Logf("%s", out)
				return
			}
		}
	})
	if buildErr != nil {
		t.Fatalf("build runtimedemo: %v", buildErr)
	}
	return builtPlain, builtStrip
}

// demoProcess is a running runtimedemo.
type demoProcess struct {
	cmd   *exec.Cmd
	mu    sync.Mutex
	stats []string
}

func (d *demoProcess) statsCount() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.stats)
}

func (d *demoProcess) lastStats() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	if len(d.stats) == 0 {
		return ""
	}
	return d.stats[len(d.stats)-1]
}

func startDemo(t *testing.T, bin string, args ...string) *demoProcess {
	t.Helper()
	cmd := exec.Command(bin, args...)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	d := &demoProcess{cmd: cmd}
	ready := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		sc := bufio.NewScanner(out)
		once := sync.Once{}
		for sc.Scan() {
			line := sc.Text()
			if line == "ready" {
				once.Do(func() { close(ready) })
			}
			if strings.HasPrefix(line, "stats ") {
				d.mu.Lock()
				d.stats = append(d.stats, line)
				d.mu.Unlock()
			}
		}
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		<-done
	})
	select {
	case <-ready:
	case <-time.After(20 * time.Second):
		t.Fatal("runtimedemo did not become ready")
	}
	return d
}

type binVariant struct {
	name string
	run  string // the executable that runs
	bin  func(t *testing.T) Binary
}

func variants(t *testing.T) []binVariant {
	plain, stripped := demoBinaries(t)
	open := func(path, offsets string, hideSymtab bool) func(t *testing.T) Binary {
		return func(t *testing.T) Binary {
			b, err := openStdlibBinary(path, offsets)
			if err != nil {
				t.Fatal(err)
			}
			b.noSymtab = hideSymtab
			t.Cleanup(func() { _ = b.f.Close() })
			return b
		}
	}
	inspect := func(path string) func(t *testing.T) Binary {
		return func(t *testing.T) Binary {
			exe, err := goexe.Inspect(path)
			if err != nil {
				t.Fatal(err)
			}
			return FromExecutable(exe)
		}
	}
	return []binVariant{
		// goexe as the receiver uses it: DWARF when present, else its
		// per-version offsets table; globals from .symtab, else from code.
		{"goexe-unstripped", plain, inspect(plain)},
		{"goexe-stripped", stripped, inspect(stripped)},
		// Position-independent and stripped: every address shifted by the load bias.
		{"goexe-pie-stripped", builtPIE, inspect(builtPIE)},
		{"goexe-extld-stripped", builtExt, inspect(builtExt)},
		// The standard library's debug packages, with .symtab hidden for the
		// stripped build: an independent check of the same paths.
		{"stdlib-unstripped", plain, open(plain, plain, false)},
		{"stdlib-stripped", stripped, open(stripped, plain, true)},
	}
}

func newTestCollector(t *testing.T, opts Options) (*Collector, *observer.ObservedLogs) {
	t.Helper()
	core, logs := observer.New(zap.InfoLevel)
	opts.Logger = zap.New(core)
	c, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := c.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	return c, logs
}

func collect(t *testing.T, c *Collector) pmetric.Metrics {
	t.Helper()
	md, err := c.Collect(context.Background(), time.Now())
	if err != nil {
		t.Fatalf("collect: %v", err)
	}
	return md
}

// findMetric returns the named metric of the first resource.
func findMetric(md pmetric.Metrics, name string) (pmetric.Metric, bool) {
	for i := 0; i < md.ResourceMetrics().Len(); i++ {
		sms := md.ResourceMetrics().At(i).ScopeMetrics()
		for j := 0; j < sms.Len(); j++ {
			ms := sms.At(j).Metrics()
			for k := 0; k < ms.Len(); k++ {
				if ms.At(k).Name() == name {
					return ms.At(k), true
				}
			}
		}
	}
	return pmetric.Metric{}, false
}

func numberPoints(m pmetric.Metric) pmetric.NumberDataPointSlice {
	if m.Type() == pmetric.MetricTypeGauge {
		return m.Gauge().DataPoints()
	}
	return m.Sum().DataPoints()
}

func value(dp pmetric.NumberDataPoint) float64 {
	if dp.ValueType() == pmetric.NumberDataPointValueTypeInt {
		return float64(dp.IntValue())
	}
	return dp.DoubleValue()
}

// pointWhere returns the value of the first point whose attribute key equals val.
func pointWhere(md pmetric.Metrics, name, key string, val any) (float64, bool) {
	m, ok := findMetric(md, name)
	if !ok {
		return 0, false
	}
	dps := numberPoints(m)
	for i := 0; i < dps.Len(); i++ {
		v, ok := dps.At(i).Attributes().Get(key)
		if !ok {
			continue
		}
		if (v.Type() == pcommon.ValueTypeStr && v.Str() == val) || (v.Type() == pcommon.ValueTypeBool && v.Bool() == val) {
			return value(dps.At(i)), true
		}
	}
	return 0, false
}

func singleValue(t *testing.T, md pmetric.Metrics, name string) float64 {
	t.Helper()
	m, ok := findMetric(md, name)
	if !ok {
		t.Fatalf("metric %s missing", name)
	}
	dps := numberPoints(m)
	if dps.Len() != 1 {
		t.Fatalf("metric %s: %d points, want 1", name, dps.Len())
	}
	return value(dps.At(0))
}

func TestGoroutineLeakAndGC(t *testing.T) {
	requireRoot(t)
	for _, v := range variants(t) {
		t.Run(v.name, func(t *testing.T) {
			demo := startDemo(t, v.run, "-mode", "leak")
			opts := DefaultOptions()
			opts.Scheduler = false
			opts.Allocations = false
			opts.LeakThreshold = 20
			opts.LeakWindow = 3
			c, logs := newTestCollector(t, opts)
			if err := c.AttachBinary(demo.cmd.Process.Pid, v.bin(t)); err != nil {
				t.Fatal(err)
			}
			var counts []float64
			var md pmetric.Metrics
			for range 5 {
				md = collect(t, c)
				n, ok := pointWhere(md, "go.goroutine.blocked", "code.function.name", "main.leakyWorkerSpawner")
				if !ok {
					t.Fatalf("no blocked goroutines attributed to main.leakyWorkerSpawner")
				}
				counts = append(counts, n)
				time.Sleep(450 * time.Millisecond)
			}
			// The demo adds 20 every 200 ms; on a loaded machine one interval
			// may see no new ones, but the count never shrinks and grows overall.
			for i := 1; i < len(counts); i++ {
				if counts[i] < counts[i-1] {
					t.Fatalf("blocked count at the leaking site shrank: %v", counts)
				}
			}
			if counts[len(counts)-1] < counts[0]+40 {
				t.Fatalf("blocked count at the leaking site does not grow: %v", counts)
			}
			if n, ok := pointWhere(md, "go.goroutine.leak.suspected", "code.function.name", "main.leakyWorkerSpawner"); !ok || n < 20 {
				t.Errorf("leak not flagged (ok=%v, n=%v), counts %v", ok, n, counts)
			}
			if got := logs.FilterMessage("Suspected goroutine leak").Len(); got != 1 {
				t.Errorf("want exactly one leak log line, got %d", got)
			}
			if n, ok := pointWhere(md, "go.goroutine.waiting", "go.wait_reason", "chan receive"); !ok || n < counts[len(counts)-1] {
				t.Errorf("chan receive waiters = %v (ok=%v), want >= %v", n, ok, counts[len(counts)-1])
			}
			if d, ok := pointWhere(md, "go.goroutine.blocked.duration.max", "code.function.name", "main.leakyWorkerSpawner"); !ok || d <= 0.2 || d > 60 {
				t.Errorf("longest blocked time = %v s (ok=%v), want between 0.2 s and 60 s", d, ok)
			}
			if w, ok := pointWhere(md, "go.goroutine.count", "go.goroutine.state", "waiting"); !ok || w < counts[len(counts)-1] {
				t.Errorf("waiting goroutines %v < blocked at site %v", w, counts[len(counts)-1])
			}
			// GC figures: the demo runs runtime.GC every 200 ms.
			if cyc, ok := pointWhere(md, "go.gc.cycles", "go.gc.forced", true); !ok || cyc < 5 {
				t.Errorf("forced GC cycles = %v (ok=%v), want >= 5", cyc, ok)
			}
			if g := singleValue(t, md, "go.config.gogc"); g != 100 {
				t.Errorf("GOGC = %v, want 100", g)
			}
			if goal := singleValue(t, md, "go.memory.gc.goal"); goal < 1<<20 || goal > 1<<30 {
				t.Errorf("heap goal = %v, implausible", goal)
			}
			if used := singleValue(t, md, "go.memory.used"); used < 1<<20 || used > 1<<31 {
				t.Errorf("memory used = %v, implausible", used)
			}
		})
	}
}

func TestGCAgainstProgramsOwnFigures(t *testing.T) {
	requireRoot(t)
	for _, v := range variants(t) {
		t.Run(v.name, func(t *testing.T) {
			demo := startDemo(t, v.run, "-mode", "gc")
			opts := DefaultOptions()
			opts.Allocations, opts.Goroutines = false, false
			c, _ := newTestCollector(t, opts)
			if err := c.AttachBinary(demo.cmd.Process.Pid, v.bin(t)); err != nil {
				t.Fatal(err)
			}
			time.Sleep(1500 * time.Millisecond)
			before := parseStats(t, demo.lastStats())
			md := collect(t, c)
			// The program's own figures read after ours: wait for two more
			// stats lines (the first may have been read before we were done).
			n0 := demo.statsCount()
			for deadline := time.Now().Add(10 * time.Second); demo.statsCount() < n0+2 && time.Now().Before(deadline); {
				time.Sleep(50 * time.Millisecond)
			}
			after := parseStats(t, demo.lastStats())

			forced, _ := pointWhere(md, "go.gc.cycles", "go.gc.forced", true)
			natural, _ := pointWhere(md, "go.gc.cycles", "go.gc.forced", false)
			cycles := forced + natural
			if cycles < before["cycles"] || cycles > after["cycles"] {
				t.Errorf("cycles %v outside the program's own [%v, %v]", cycles, before["cycles"], after["cycles"])
			}
			if forced < before["forced"] || forced > after["forced"] || forced == 0 {
				t.Errorf("forced cycles %v outside the program's own [%v, %v]", forced, before["forced"], after["forced"])
			}
			m, ok := findMetric(md, "go.gc.pause.duration")
			if !ok {
				t.Fatal("no pause histogram")
			}
			dp := m.ExponentialHistogram().DataPoints().At(0)
			// One pause per cycle (the runtime records both STW phases of a
			// cycle as one entry); its ring keeps the last 256.
			if float64(dp.Count()) != min(cycles, 256) {
				t.Errorf("pause count %d, cycles %v", dp.Count(), cycles)
			}
			mean := dp.Sum() / float64(dp.Count())
			if dp.Sum() <= 0 || mean > 0.1 {
				t.Errorf("pause sum %v s, mean %v s: implausible", dp.Sum(), mean)
			}
			if g := singleValue(t, md, "go.config.gogc"); g != after["gogc"] {
				t.Errorf("GOGC %v, program says %v", g, after["gogc"])
			}
			// The runtime's own scheduling-latency histogram, read from memory,
			// against what the program reads through runtime/metrics.
			sl, ok := findMetric(md, "go.schedule.duration")
			if !ok {
				t.Fatal("no go.schedule.duration")
			}
			n := float64(sl.Histogram().DataPoints().At(0).Count())
			if n == 0 || n < before["schedlat"] || n > after["schedlat"] {
				t.Errorf("scheduling latency samples %v outside the program's own [%v, %v]", n, before["schedlat"], after["schedlat"])
			}
		})
	}
}

func parseStats(t *testing.T, line string) map[string]float64 {
	t.Helper()
	out := map[string]float64{}
	for _, f := range strings.Fields(strings.TrimPrefix(line, "stats ")) {
		k, v, ok := strings.Cut(f, "=")
		if !ok {
			continue
		}
		x, err := strconv.ParseFloat(v, 64)
		if err != nil {
			t.Fatalf("stats line %q: %v", line, err)
		}
		out[k] = x
	}
	if len(out) == 0 {
		t.Fatalf("no stats from the program (line %q)", line)
	}
	return out
}

func TestAllocationSitesRatio(t *testing.T) {
	requireRoot(t)
	for _, v := range variants(t) {
		t.Run(v.name, func(t *testing.T) {
			demo := startDemo(t, v.run, "-mode", "alloc")
			opts := DefaultOptions()
			opts.Scheduler, opts.GC, opts.Goroutines = false, false, false
			c, _ := newTestCollector(t, opts)
			if err := c.AttachBinary(demo.cmd.Process.Pid, v.bin(t)); err != nil {
				t.Fatal(err)
			}
			time.Sleep(2 * time.Second)
			md := collect(t, c)
			if r := singleValue(t, md, "go.memory.profile.rate"); r != 4096 {
				t.Fatalf("MemProfileRate read as %v, want 4096", r)
			}
			heavy, ok1 := pointWhere(md, "go.memory.profile.allocated", "code.function.name", "main.allocHeavy")
			light, ok2 := pointWhere(md, "go.memory.profile.allocated", "code.function.name", "main.allocLight")
			if !ok1 || !ok2 || light == 0 {
				t.Fatalf("sites missing: heavy %v (%v), light %v (%v)", heavy, ok1, light, ok2)
			}
			ratio := heavy / light
			if ratio < 3*0.85 || ratio > 3*1.15 {
				t.Errorf("allocHeavy/allocLight bytes = %.3f, want 3 ± 15%%", ratio)
			}
			m, _ := findMetric(md, "go.memory.profile.allocated")
			var largeOK bool
			dps := m.Sum().DataPoints()
			for i := 0; i < dps.Len(); i++ {
				fn, _ := dps.At(i).Attributes().Get("code.function.name")
				large, _ := dps.At(i).Attributes().Get("go.memory.large_object")
				if fn.Str() == "main.allocLarge" && large.Bool() && dps.At(i).DoubleValue() > 0 {
					largeOK = true
				}
				if fn.Str() == "main.allocHeavy" && large.Bool() {
					t.Errorf("1 KiB allocations reported as large objects")
				}
			}
			if !largeOK {
				t.Errorf("64 KiB allocations of main.allocLarge not reported as large objects")
			}
			t.Logf("heavy=%.0f light=%.0f ratio=%.3f", heavy, light, ratio)
		})
	}
}

func TestMemProfileRateOff(t *testing.T) {
	requireRoot(t)
	plain, _ := demoBinaries(t)
	bin := variants(t)[0].bin
	t.Run("reported once", func(t *testing.T) {
		demo := startDemo(t, plain, "-mode", "alloc", "-memprofilerate", "0")
		opts := DefaultOptions()
		opts.Scheduler, opts.GC, opts.Goroutines = false, false, false
		c, logs := newTestCollector(t, opts)
		if err := c.AttachBinary(demo.cmd.Process.Pid, bin(t)); err != nil {
			t.Fatal(err)
		}
		for range 2 {
			md := collect(t, c)
			if r := singleValue(t, md, "go.memory.profile.rate"); r != 0 {
				t.Fatalf("rate %v, want 0", r)
			}
			if _, ok := findMetric(md, "go.memory.profile.allocated"); ok {
				t.Fatal("allocation sites reported with sampling off")
			}
		}
		if n := logs.FilterMessageSnippet("Allocation sampling is off").Len(); n != 1 {
			t.Errorf("want the sampling-off message once, got %d", n)
		}
	})
}

func TestRunQueueLatencyOfBusyProcess(t *testing.T) {
	requireRoot(t)
	plain, _ := demoBinaries(t)
	demo := startDemo(t, plain, "-mode", "busy")
	opts := DefaultOptions()
	opts.GC, opts.Allocations, opts.Goroutines = false, false, false
	c, _ := newTestCollector(t, opts)
	if err := c.AttachBinary(demo.cmd.Process.Pid, variants(t)[0].bin(t)); err != nil {
		t.Fatal(err)
	}
	if err := c.SchedulerError(); err != nil {
		prereq.Missing(t, "BPF unavailable: %v", err)
	}
	time.Sleep(time.Second)
	md := collect(t, c)
	if p := singleValue(t, md, "go.processor.limit"); p != float64(runtime.NumCPU()) {
		t.Errorf("GOMAXPROCS %v, want %d", p, runtime.NumCPU())
	}
	m, ok := findMetric(md, "go.thread.runqueue.duration")
	if !ok {
		t.Fatal("no go.thread.runqueue.duration")
	}
	dp := m.ExponentialHistogram().DataPoints().At(0)
	if dp.Count() == 0 || dp.Sum() <= 0 {
		t.Fatalf("run-queue latency empty for %d busy threads on %d CPUs", 3*runtime.NumCPU(), runtime.NumCPU())
	}
	t.Logf("run-queue latency: %d samples, mean %.3f ms", dp.Count(), dp.Sum()/float64(dp.Count())*1e3)
}

// TestManyGoroutinesExactCount reads more goroutines than one read chunk
// and checks the count at their creation site is exact.
func TestManyGoroutinesExactCount(t *testing.T) {
	requireRoot(t)
	const n = 3*goroutineChunk + 123
	for _, v := range variants(t)[:4] {
		t.Run(v.name, func(t *testing.T) {
			demo := startDemo(t, v.run, "-mode", "many", "-n", strconv.Itoa(n))
			opts := DefaultOptions()
			opts.Scheduler, opts.GC, opts.Allocations = false, false, false
			c, _ := newTestCollector(t, opts)
			if err := c.AttachBinary(demo.cmd.Process.Pid, v.bin(t)); err != nil {
				t.Fatal(err)
			}
			// The goroutines park shortly after "ready"; on a loaded machine
			// a few may still be runnable at the first read.
			var md pmetric.Metrics
			var got float64
			for deadline := time.Now().Add(10 * time.Second); ; {
				start := time.Now()
				md = collect(t, c)
				t.Logf("collected %d goroutines in %v", n, time.Since(start))
				got, _ = pointWhere(md, "go.goroutine.blocked", "code.function.name", "main.spawnMany")
				if got == n || time.Now().After(deadline) {
					break
				}
				time.Sleep(100 * time.Millisecond)
			}
			if got != n {
				t.Errorf("blocked at main.spawnMany = %v, want %d", got, n)
			}
			if got, _ := pointWhere(md, "go.goroutine.waiting", "go.wait_reason", "chan receive"); got != n {
				t.Errorf("chan receive waiters = %v, want %d", got, n)
			}
		})
	}
}
