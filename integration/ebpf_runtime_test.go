package integration

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/receiver/receivertest"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver"

	"github.com/otelcol-goebpf/otelcol-goebpf/internal/testutil/prereq"
)

// End-to-end runtime metrics: the ebpf receiver, configured as a user
// would (metrics pipeline only), discovers a stripped purpose-built Go
// program and reports its goroutine leak, GC and run-queue latency.

func buildRuntimeDemo(t *testing.T) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), "runtimedemo")
	cmd := exec.Command("go", "build", "-ldflags=-s -w", "-o", out, "./testdata/runtimedemo")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build runtimedemo: %v\n%s", err, b)
	}
	return out
}

func startRuntimeDemo(t *testing.T, exe string, args ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(exe, args...)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	ready := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(out)
		closed := false
		for sc.Scan() {
			if sc.Text() == "ready" && !closed {
				close(ready)
				closed = true
			}
		}
	}()
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	select {
	case <-ready:
	case <-time.After(20 * time.Second):
		t.Fatal("runtimedemo not ready")
	}
	return cmd
}

// runtimeReceiver starts the receiver with only a metrics pipeline,
// instrumenting exe.
func runtimeReceiver(t *testing.T, exe string) (*consumertest.MetricsSink, *observer.ObservedLogs) {
	t.Helper()
	f := ebpfreceiver.NewFactory()
	cfg := f.CreateDefaultConfig().(*ebpfreceiver.Config)
	cfg.Discovery.Instrument = []ebpfreceiver.ProcessSelector{{ExePath: exe}}
	cfg.Discovery.PollInterval = 200 * time.Millisecond
	cfg.Metrics.CollectionInterval = 400 * time.Millisecond
	set := receivertest.NewNopSettings(f.Type())
	core, logs := observer.New(zap.DebugLevel)
	set.Logger = zap.New(core)
	sink := new(consumertest.MetricsSink)
	r, err := f.CreateMetrics(context.Background(), set, cfg, sink)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Start(context.Background(), componenttest.NewNopHost()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := r.Shutdown(context.Background()); err != nil {
			t.Error(err)
		}
	})
	// On failure, say what the receiver did: its log lines and the pids
	// it reported metrics for.
	t.Cleanup(func() {
		if !t.Failed() {
			return
		}
		pids := map[int64]int{}
		for _, md := range sink.AllMetrics() {
			for i := 0; i < md.ResourceMetrics().Len(); i++ {
				if p, ok := md.ResourceMetrics().At(i).Resource().Attributes().Get("process.pid"); ok {
					pids[p.Int()]++
				}
			}
		}
		t.Logf("receiver: %d collections; collections per pid: %v", len(sink.AllMetrics()), pids)
		for _, e := range logs.All() {
			t.Logf("receiver log: %s %s %v", e.Level, e.Message, e.ContextMap())
		}
	})
	return sink, logs
}

// pointsFor returns, per collection, the data points of metric name for pid.
func pointsFor(sink *consumertest.MetricsSink, pid int, name string) []pmetric.Metric {
	var out []pmetric.Metric
	for _, md := range sink.AllMetrics() {
		for i := 0; i < md.ResourceMetrics().Len(); i++ {
			rm := md.ResourceMetrics().At(i)
			if p, ok := rm.Resource().Attributes().Get("process.pid"); !ok || p.Int() != int64(pid) {
				continue
			}
			for j := 0; j < rm.ScopeMetrics().Len(); j++ {
				ms := rm.ScopeMetrics().At(j).Metrics()
				for k := 0; k < ms.Len(); k++ {
					if ms.At(k).Name() == name {
						out = append(out, ms.At(k))
					}
				}
			}
		}
	}
	return out
}

// sitePoint returns the first point of m whose code.function.name is fn.
func sitePoint(m pmetric.Metric, fn string) (pmetric.NumberDataPoint, bool) {
	var dps pmetric.NumberDataPointSlice
	if m.Type() == pmetric.MetricTypeGauge {
		dps = m.Gauge().DataPoints()
	} else {
		dps = m.Sum().DataPoints()
	}
	for i := 0; i < dps.Len(); i++ {
		v, ok := dps.At(i).Attributes().Get("code.function.name")
		if ok && v.Type() == pcommon.ValueTypeStr && v.Str() == fn {
			return dps.At(i), true
		}
	}
	return pmetric.NumberDataPoint{}, false
}

func siteValue(m pmetric.Metric, fn string) (float64, bool) {
	dp, ok := sitePoint(m, fn)
	if !ok {
		return 0, false
	}
	if dp.ValueType() == pmetric.NumberDataPointValueTypeInt {
		return float64(dp.IntValue()), true
	}
	return dp.DoubleValue(), true
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func TestEBPFRuntimeGoroutineLeakEndToEnd(t *testing.T) {
	prereq.RequireRoot(t, "eBPF tests")
	exe := buildRuntimeDemo(t)
	sink, logs := runtimeReceiver(t, exe)
	cmd := startRuntimeDemo(t, exe, "-mode", "leak")
	pid := cmd.Process.Pid

	// The demo adds 20 leaked goroutines every 200 ms, far above the
	// default leak threshold (100) within a few collections.
	var leakStart string
	waitFor(t, "a suspected leak at main.leakyWorkerSpawner", func() bool {
		for _, m := range pointsFor(sink, pid, "go.goroutine.leak.suspected") {
			if dp, ok := sitePoint(m, "main.leakyWorkerSpawner"); ok {
				v, _ := dp.Attributes().Get("go.goroutine.start.function.name")
				leakStart = v.AsString()
				return true
			}
		}
		return false
	})
	// The leaked goroutines' start function (g.startpc) next to their creation site.
	if leakStart != "main.leakyWorker" {
		t.Errorf("leak series start function %q, want main.leakyWorker", leakStart)
	}
	var counts []float64
	for _, m := range pointsFor(sink, pid, "go.goroutine.blocked") {
		if v, ok := siteValue(m, "main.leakyWorkerSpawner"); ok {
			counts = append(counts, v)
		}
	}
	if len(counts) < 3 || counts[len(counts)-1] <= counts[0] {
		t.Fatalf("blocked count at the leaking site does not grow: %v", counts)
	}
	var logged bool
	for _, e := range logs.FilterMessage("Suspected goroutine leak").All() {
		start, _ := e.ContextMap()["start_function"].(string)
		if strings.Contains(e.ContextMap()["site"].(string), "main.leakyWorkerSpawner") && strings.HasPrefix(start, "main.leakyWorker ") {
			logged = true
		}
	}
	if !logged {
		t.Error("no log line naming the leaking site and start function main.leakyWorker")
	}
	cycles := pointsFor(sink, pid, "go.gc.cycles")
	if len(cycles) == 0 {
		t.Fatal("no go.gc.cycles")
	}
	last := cycles[len(cycles)-1].Sum().DataPoints()
	var total int64
	for i := 0; i < last.Len(); i++ {
		total += last.At(i).IntValue()
	}
	if total == 0 {
		t.Error("no GC cycles reported for a program that runs runtime.GC every 200 ms")
	}
}

func TestEBPFRuntimeRunQueueLatencyEndToEnd(t *testing.T) {
	prereq.RequireRoot(t, "eBPF tests")
	exe := buildRuntimeDemo(t)
	sink, _ := runtimeReceiver(t, exe)
	cmd := startRuntimeDemo(t, exe, "-mode", "busy")
	found := func() bool {
		for _, m := range pointsFor(sink, cmd.Process.Pid, "go.thread.runqueue.duration") {
			dp := m.ExponentialHistogram().DataPoints().At(0)
			if dp.Count() > 0 && dp.Sum() > 0 {
				return true
			}
		}
		return false
	}
	// Generous for a busy machine; on failure runtimeReceiver's cleanup
	// prints what the receiver logged.
	deadline := time.Now().Add(30 * time.Second)
	for !found() {
		if time.Now().After(deadline) {
			// Say what was seen, so that a failure can be told apart from a
			// slow start: the receiver's log lines, and the histograms for the pid.
			var seen []string
			for _, m := range pointsFor(sink, cmd.Process.Pid, "go.thread.runqueue.duration") {
				dp := m.ExponentialHistogram().DataPoints().At(0)
				seen = append(seen, fmt.Sprintf("count=%d sum=%g", dp.Count(), dp.Sum()))
			}
			t.Fatalf("no run-queue latency for the busy process (pid %d) within 30 s; histograms for the pid: %v", cmd.Process.Pid, seen)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestEBPFRuntimeThroughDistribution runs the built collector binary with the
// ebpf receiver in a metrics pipeline and the file exporter, as a user would,
// against a stripped program that leaks goroutines.
func TestEBPFRuntimeThroughDistribution(t *testing.T) {
	prereq.RequireRoot(t, "eBPF tests")
	collectorBinary(t) // fails under CI, skips elsewhere, when the binary is missing
	exe := buildRuntimeDemo(t)
	cmd := startRuntimeDemo(t, exe, "-mode", "leak")
	c := startCollector(t, `
receivers:
  ebpf:
    discovery:
      instrument:
        - exe_path: "`+exe+`"
      poll_interval: 200ms
    metrics:
      collection_interval: 400ms
      runtime: { goroutines: true, scheduler: true, gc: true, allocations: true }
exporters:
  file:
    path: {{DIR}}/metrics.jsonl
service:
  pipelines:
    metrics: { receivers: [ebpf], exporters: [file] }
`)
	var site string
	eventually(t, 30*time.Second, "a suspected leak in the exported metrics", func() (bool, string) {
		sink, err := exportedMetrics(c.Path("metrics.jsonl"))
		if err != nil {
			return false, err.Error()
		}
		for _, m := range pointsFor(sink, cmd.Process.Pid, "go.goroutine.leak.suspected") {
			if _, ok := siteValue(m, "main.leakyWorkerSpawner"); ok {
				site = "main.leakyWorkerSpawner"
				return true, ""
			}
		}
		return false, "no leak yet"
	})
	c.WaitForLog(t, "Suspected goroutine leak", 10*time.Second)
	if !strings.Contains(c.Logs.String(), site) {
		t.Errorf("the leak log line does not name %s", site)
	}
	if !strings.Contains(c.Logs.String(), "main.leakyWorker (") {
		t.Errorf("the leak log line does not name the start function main.leakyWorker")
	}
	// go.schedule.duration: the runtime keeps no sum of its scheduling
	// latencies, so the exported histogram has none (not a sum of 0).
	eventually(t, 30*time.Second, "go.schedule.duration with samples in the exported metrics", func() (bool, string) {
		sink, err := exportedMetrics(c.Path("metrics.jsonl"))
		if err != nil {
			return false, err.Error()
		}
		for _, m := range pointsFor(sink, cmd.Process.Pid, "go.schedule.duration") {
			dp := m.Histogram().DataPoints().At(0)
			if dp.HasSum() {
				t.Fatalf("go.schedule.duration exported with a sum (%v) the runtime does not keep", dp.Sum())
			}
			if dp.Count() > 0 {
				return true, ""
			}
		}
		return false, "no go.schedule.duration with samples yet"
	})
}

// exportedMetrics reads what the file exporter wrote (one JSON document a line).
func exportedMetrics(path string) (*consumertest.MetricsSink, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var u pmetric.JSONUnmarshaler
	sink := new(consumertest.MetricsSink)
	for _, line := range strings.Split(string(b), "\n") {
		if line == "" {
			continue
		}
		md, err := u.UnmarshalMetrics([]byte(line))
		if err != nil {
			return nil, fmt.Errorf("bad line: %w", err)
		}
		_ = sink.ConsumeMetrics(context.Background(), md)
	}
	return sink, nil
}

// A process the receiver discovers before its Go runtime has started (here
// held at its first instruction under ptrace; on a busy machine, merely
// slow to start) cannot be read yet: its runtime globals are empty. The
// receiver retries the runtime-metrics attach while the process is young
// and reports its metrics once it runs.
func TestEBPFRuntimeAttachesProcessCaughtBeforeItsRuntimeStarted(t *testing.T) {
	prereq.RequireRoot(t, "eBPF tests")
	exe := buildRuntimeDemo(t)
	// ptrace requests must come from the thread that started the tracee.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	cmd := exec.Command(exe, "-mode", "leak")
	cmd.SysProcAttr = &syscall.SysProcAttr{Ptrace: true} // stops at exec
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pid := cmd.Process.Pid
	detached := false
	t.Cleanup(func() {
		if !detached {
			_ = syscall.PtraceDetach(pid)
		}
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	var ws syscall.WaitStatus
	if _, err := syscall.Wait4(pid, &ws, 0, nil); err != nil || !ws.Stopped() {
		t.Fatalf("tracee not stopped at exec: %v %v", err, ws)
	}

	sink, logs := runtimeReceiver(t, exe)
	waitFor(t, "a failed attach to the process that has not started, to be retried", func() bool {
		for _, e := range logs.FilterMessage("Runtime metrics not attachable yet; retrying while the process starts").All() {
			if e.ContextMap()["pid"] == int64(pid) {
				return true
			}
		}
		return false
	})
	time.Sleep(500 * time.Millisecond) // a few more polls, still held
	if n := len(pointsFor(sink, pid, "go.goroutine.count")); n != 0 {
		t.Fatalf("%d collections for a process whose runtime has not started", n)
	}

	if err := syscall.PtraceDetach(pid); err != nil {
		t.Fatal(err)
	}
	detached = true
	waitFor(t, "runtime metrics once the process runs", func() bool {
		return logs.FilterMessage("Runtime metrics attached once the process had started").Len() == 1 &&
			len(pointsFor(sink, pid, "go.goroutine.count")) > 0
	})
	if n := logs.FilterMessage("Runtime metrics unavailable for process").Len(); n != 0 {
		t.Errorf("%d 'unavailable' lines for a process that was only starting", n)
	}
}
