package runtimemetrics

import (
	"bufio"
	"context"
	"os"
	"os/exec"
	"slices"
	"sort"
	"strconv"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"

	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/goexe"

	"github.com/otelcol-goebpf/otelcol-goebpf/internal/testutil/bpflinks"
	"github.com/otelcol-goebpf/otelcol-goebpf/internal/testutil/prereq"
)

// BenchmarkRuntimeMetricsOverhead measures what runtime metrics cost the
// target: runtimedemo -mode bench (goroutine- and allocation-heavy) runs
// alternately without and with the collector attached (every part on, the
// sched tracepoints loaded, a collection every 200 ms: 50x the default
// interval), and the throughputs it reports are compared within one run.
//
//	go test -run '^$' -bench RuntimeMetricsOverhead -benchtime=1x ./receiver/ebpfreceiver/internal/runtimemetrics/
func BenchmarkRuntimeMetricsOverhead(b *testing.B) {
	prereq.RequireRoot(b, "reading another process's memory")
	plain, _ := demoBinaries(b)
	const rounds = 10
	const seconds = 2
	var off, on, offCPU, onCPU []float64
	var hitsPerSec, callsPerSec, collectMs, nsPerCall, uprobes, machineNsPerSec []float64
	// Kernel accounting of BPF program run time, for the cost per call.
	if st, err := ebpf.EnableStats(uint32(unix.BPF_STATS_RUN_TIME)); err == nil {
		defer st.Close()
	}
	for range b.N {
		for r := 0; r < rounds; r++ {
			w, c := runBench(b, plain, seconds, nil)
			off, offCPU = append(off, w), append(offCPU, c)
			var res benchAttach
			w, c = runBench(b, plain, seconds, &res)
			on, onCPU = append(on, w), append(onCPU, c)
			hitsPerSec = append(hitsPerSec, res.hitsPerSec)
			callsPerSec = append(callsPerSec, res.callsPerSec)
			collectMs = append(collectMs, res.collectMs)
			nsPerCall = append(nsPerCall, res.nsPerCall)
			uprobes = append(uprobes, float64(res.uprobes))
			machineNsPerSec = append(machineNsPerSec, res.machineNsPerSec)
		}
	}
	offM, onM := median(off), median(on)
	b.ReportMetric(offM, "ops/s-off")
	b.ReportMetric(onM, "ops/s-on")
	b.ReportMetric(onM/offM, "ratio-on/off")
	offC, onC := median(offCPU), median(onCPU)
	b.ReportMetric(offC, "ops/cpu-s-off")
	b.ReportMetric(onC, "ops/cpu-s-on")
	b.ReportMetric(onC/offC, "ratio-cpu-on/off")
	// Adjacent off/on runs share the machine's load of the moment: the
	// median of their ratios is the figure least moved by other load.
	var pairs []float64
	for i := range offCPU {
		pairs = append(pairs, onCPU[i]/offCPU[i])
	}
	b.ReportMetric(median(pairs), "ratio-cpu-pairwise")
	b.ReportMetric(median(hitsPerSec), "tracepoint-hits/s-target")
	b.ReportMetric(median(callsPerSec), "tracepoint-calls/s-system")
	b.ReportMetric(median(collectMs), "ms/collect")
	// Counted from the kernel's BPF links on the target's executable while
	// the collector was attached (the largest count of any run).
	b.ReportMetric(slices.Max(uprobes), "uprobes-in-target")
	// The tracepoint programs run in the kernel on the target's context
	// switches: hits/s x ns/call is the CPU share they take from it.
	b.ReportMetric(median(nsPerCall), "ns/tracepoint-call")
	b.ReportMetric(1-median(hitsPerSec)*median(nsPerCall)/1e9, "est-ratio-from-bpf-time")
	// They also run on every other context switch of the machine: their
	// whole BPF run time per wall second (BenchmarkSchedTracepointsMachineCost
	// measures it under a context-switch-heavy load).
	b.ReportMetric(median(machineNsPerSec), "tracepoint-bpf-ns/s-machine")
	b.Logf("wall ops/s off %v\non  %v\nops/cpu-s off %v\non  %v", off, on, offCPU, onCPU)
}

type benchAttach struct {
	hitsPerSec, callsPerSec, collectMs, nsPerCall, machineNsPerSec float64
	uprobes                                                        int
}

func median(xs []float64) float64 {
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	if len(s) == 0 {
		return 0
	}
	return s[len(s)/2]
}

// runBench runs one bench-mode process and returns its ops per wall second
// and per CPU second; with res non-nil, a collector is attached for the
// whole run.
func runBench(b *testing.B, bin string, seconds int, res *benchAttach) (float64, float64) {
	cmd := exec.Command(bin, "-mode", "bench")
	cmd.Env = append(os.Environ(), "RUNTIMEDEMO_BENCH_SECONDS="+strconv.Itoa(seconds), "GOMAXPROCS=1")
	out, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	sc := bufio.NewScanner(out)
	if !sc.Scan() || sc.Text() != "ready" {
		b.Fatalf("bench target did not start: %q", sc.Text())
	}
	stop := make(chan struct{})
	done := make(chan struct{})
	if res != nil {
		opts := DefaultOptions()
		c, err := New(opts)
		if err != nil {
			b.Fatal(err)
		}
		exe, err := goexe.Inspect(bin)
		if err != nil {
			b.Fatal(err)
		}
		pid := cmd.Process.Pid
		if err := c.Attach(pid, exe); err != nil {
			b.Fatal(err)
		}
		if err := c.SchedulerError(); err != nil {
			b.Fatalf("sched tracepoints: %v", err)
		}
		// What the attach left on the target's executable, read from the kernel.
		if res.uprobes, err = bpflinks.Uprobes(bin); err != nil {
			b.Fatalf("count uprobes: %v", err)
		}
		calls0 := c.RunQueueCalls()
		start := time.Now()
		go func() {
			defer close(done)
			tick := time.NewTicker(200 * time.Millisecond)
			defer tick.Stop()
			var n int
			var spent time.Duration
			for {
				select {
				case <-stop:
					el := time.Since(start).Seconds()
					h, _ := c.tracer.Read(uint32(pid))
					res.hitsPerSec = float64(h.Hits) / el
					res.callsPerSec = float64(c.RunQueueCalls()-calls0) / el
					if runs, total, err := c.tracer.Cost(); err == nil && runs > 0 {
						res.nsPerCall = float64(total.Nanoseconds()) / float64(runs)
						res.machineNsPerSec = float64(total.Nanoseconds()) / el
					}
					if n > 0 {
						res.collectMs = spent.Seconds() * 1e3 / float64(n)
					}
					_ = c.Close()
					return
				case <-tick.C:
					t0 := time.Now()
					_, _ = c.Collect(context.Background(), t0) // the process may exit mid-read at the end
					spent += time.Since(t0)
					n++
				}
			}
		}()
	} else {
		close(done)
	}
	ops, opsCPU := readRates(sc)
	if res != nil {
		close(stop)
	}
	<-done
	if ops == 0 || opsCPU == 0 {
		b.Fatal("bench target printed no ops_per_sec / ops_per_cpu_sec")
	}
	return ops, opsCPU
}

// BenchmarkCollectGoroutines is the collector's own cost (not the
// target's) of one collection of a process with 10,000 or 100,000 blocked
// goroutines: everything but the run-queue histogram.
//
//	go test -run '^$' -bench CollectGoroutines ./receiver/ebpfreceiver/internal/runtimemetrics/
func BenchmarkCollectGoroutines(b *testing.B) {
	prereq.RequireRoot(b, "reading another process's memory")
	plain, _ := demoBinaries(b)
	exe, err := goexe.Inspect(plain)
	if err != nil {
		b.Fatal(err)
	}
	for _, n := range []int{10000, 100000} {
		b.Run(strconv.Itoa(n), func(b *testing.B) {
			cmd := exec.Command(plain, "-mode", "many", "-n", strconv.Itoa(n))
			out, err := cmd.StdoutPipe()
			if err != nil {
				b.Fatal(err)
			}
			if err := cmd.Start(); err != nil {
				b.Fatal(err)
			}
			defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
			sc := bufio.NewScanner(out)
			if !sc.Scan() || sc.Text() != "ready" {
				b.Fatal("target not ready")
			}
			opts := DefaultOptions()
			opts.Scheduler = false
			c, err := New(opts)
			if err != nil {
				b.Fatal(err)
			}
			defer c.Close()
			if err := c.Attach(cmd.Process.Pid, exe); err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			for range b.N {
				if _, err := c.Collect(context.Background(), time.Now()); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n), "ns/goroutine")
		})
	}
}
