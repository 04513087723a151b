package runtimemetrics

import (
	"bufio"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"

	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/runtimemetrics/runqlat"

	"github.com/otelcol-goebpf/otelcol-goebpf/internal/testutil/prereq"
)

// BenchmarkSchedTracepointsMachineCost measures what the run-queue
// tracepoint programs (sched_wakeup, sched_wakeup_new, sched_switch) cost
// the whole machine: they run on every context switch of every process,
// instrumented or not. An unrelated, untracked, context-switch-heavy
// program (runtimedemo -mode switch: two threads ping-ponging a byte
// through pipes) runs alternately without and with the programs loaded
// (one other, idle process tracked, as when the receiver instruments a
// service). With them loaded, the kernel's BPF statistics give the
// programs' run time over the window: per second of wall time (the share of
// one CPU they take from the machine) and per context switch of the machine
// (/proc/stat ctxt). The workload's own round trips per CPU second, off and
// on, give its ratio in the same run.
//
//	go test -run '^$' -bench SchedTracepointsMachineCost -benchtime=1x ./receiver/ebpfreceiver/internal/runtimemetrics/
func BenchmarkSchedTracepointsMachineCost(b *testing.B) {
	prereq.RequireRoot(b, "loading BPF programs")
	plain, _ := demoBinaries(b)
	st, err := ebpf.EnableStats(uint32(unix.BPF_STATS_RUN_TIME))
	if err != nil {
		prereq.Missing(b, "BPF run-time statistics: %v", err)
	}
	defer st.Close()
	idle := exec.Command("sleep", "3600")
	if err := idle.Start(); err != nil {
		b.Fatal(err)
	}
	defer func() { _ = idle.Process.Kill(); _ = idle.Wait() }()

	const rounds, seconds = 8, 2
	var offCPU, onCPU, offWall, onWall, pairs []float64
	var nsPerSec, nsPerSwitch, runsPerSwitch, nsPerRun, switchesPerSec []float64
	for range b.N {
		for r := range rounds {
			// Alternate which goes first, so a drift of the shared machine's
			// load does not favour one side.
			order := []bool{false, true}
			if r%2 == 1 {
				order = []bool{true, false}
			}
			var w, c [2]float64
			for _, on := range order {
				var tr *runqlat.Tracer
				if on {
					if tr, err = runqlat.Load(); err != nil {
						prereq.Missing(b, "sched tracepoints: %v", err)
					}
					if err := tr.Track(uint32(idle.Process.Pid)); err != nil {
						b.Fatal(err)
					}
				}
				runs0, rt0 := programCost(b, tr)
				ctxt0, t0 := contextSwitches(b), time.Now()
				wall, cpu := runSwitchWorkload(b, plain, seconds)
				ctxt1, el := contextSwitches(b), time.Since(t0).Seconds()
				runs1, rt1 := programCost(b, tr)
				i := 0
				if on {
					i = 1
					sw := float64(ctxt1 - ctxt0)
					ns := float64((rt1 - rt0).Nanoseconds())
					nsPerSec = append(nsPerSec, ns/el)
					nsPerSwitch = append(nsPerSwitch, ns/sw)
					runsPerSwitch = append(runsPerSwitch, float64(runs1-runs0)/sw)
					nsPerRun = append(nsPerRun, ns/float64(runs1-runs0))
					switchesPerSec = append(switchesPerSec, sw/el)
					if err := tr.Close(); err != nil {
						b.Fatal(err)
					}
				}
				w[i], c[i] = wall, cpu
			}
			offWall, onWall = append(offWall, w[0]), append(onWall, w[1])
			offCPU, onCPU = append(offCPU, c[0]), append(onCPU, c[1])
			pairs = append(pairs, c[1]/c[0])
		}
	}
	b.ReportMetric(median(switchesPerSec), "ctxt-switches/s-machine")
	b.ReportMetric(median(runsPerSwitch), "bpf-runs/ctxt-switch")
	b.ReportMetric(median(nsPerRun), "bpf-ns/run")
	b.ReportMetric(median(nsPerSwitch), "bpf-ns/ctxt-switch")
	b.ReportMetric(median(nsPerSec), "bpf-ns/s-machine")
	b.ReportMetric(median(nsPerSec)/1e9*100, "%-of-one-cpu")
	b.ReportMetric(median(offCPU), "roundtrips/cpu-s-off")
	b.ReportMetric(median(onCPU), "roundtrips/cpu-s-on")
	b.ReportMetric(median(pairs), "ratio-cpu-pairwise")
	b.ReportMetric(median(onWall)/median(offWall), "ratio-wall")
	b.Logf("round trips per CPU-s off %v\non  %v\nBPF ns/s %v\nBPF ns/switch %v", offCPU, onCPU, nsPerSec, nsPerSwitch)
}

// programCost is the tracepoint programs' run count and run time so far
// (zero when not loaded).
func programCost(b *testing.B, tr *runqlat.Tracer) (uint64, time.Duration) {
	if tr == nil {
		return 0, 0
	}
	runs, total, err := tr.Cost()
	if err != nil {
		b.Fatal(err)
	}
	return runs, total
}

// contextSwitches is the machine's context switches since boot (/proc/stat ctxt).
func contextSwitches(b *testing.B) uint64 {
	raw, err := os.ReadFile("/proc/stat")
	if err != nil {
		b.Fatal(err)
	}
	for _, line := range strings.Split(string(raw), "\n") {
		if v, ok := strings.CutPrefix(line, "ctxt "); ok {
			n, err := strconv.ParseUint(strings.TrimSpace(v), 10, 64)
			if err != nil {
				b.Fatal(err)
			}
			return n
		}
	}
	b.Fatal("no ctxt line in /proc/stat")
	return 0
}

// runSwitchWorkload runs runtimedemo -mode switch for seconds and returns
// its round trips per wall second and per CPU second.
func runSwitchWorkload(b *testing.B, bin string, seconds int) (wall, cpu float64) {
	cmd := exec.Command(bin, "-mode", "switch")
	cmd.Env = append(os.Environ(), "RUNTIMEDEMO_BENCH_SECONDS="+strconv.Itoa(seconds))
	out, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	wall, cpu = readRates(bufio.NewScanner(out))
	if wall == 0 || cpu == 0 {
		b.Fatal("switch workload printed no ops_per_sec / ops_per_cpu_sec")
	}
	return wall, cpu
}

// readRates reads the ops_per_sec and ops_per_cpu_sec lines runtimedemo
// prints at the end of -mode bench and -mode switch (0 when missing).
func readRates(sc *bufio.Scanner) (wall, cpu float64) {
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "ops_per_sec "); ok {
			wall, _ = strconv.ParseFloat(v, 64)
		}
		if v, ok := strings.CutPrefix(sc.Text(), "ops_per_cpu_sec "); ok {
			cpu, _ = strconv.ParseFloat(v, 64)
		}
	}
	return wall, cpu
}
