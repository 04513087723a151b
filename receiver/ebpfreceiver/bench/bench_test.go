// Package bench measures what the HTTP probes cost the traced program:
// probe hits per request, target CPU per request (traced, untraced, and the
// same uprobes running empty BPF programs) and throughput with a ~1 ms
// handler. Run as root:
//
//	go test -run '^$' -bench . -benchtime=1x ./receiver/ebpfreceiver/bench/
//
// Figures are printed with b.ReportMetric, never asserted. cost-ratio is
// (traced - untraced) / (empty - untraced) target CPU per request: the cost
// of the probes' logic over the kernel's bare uprobe cost (goal <= 1.25).
// throughput-ratio is traced/untraced requests per second for a handler
// doing ~1 ms of CPU work (goal >= 0.97). Each traced figure is measured
// twice in the same run: with traces.goroutine_ancestry: parent (no
// goroutines probe on this Go) and with deep (the receiver's default: the
// goroutines probe on runtime.newproc.func1's call of runqput, 1 more hit
// per goroutine created, "newproc-hits"); metrics of the deep mode end in
// "-deep".
package bench

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"golang.org/x/sys/unix"

	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/goexe"
	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/httpspan"
	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/probes/goroutines"
	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/probes/httpclient"
	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/probes/httpserver"
	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/tracer"

	"github.com/otelcol-goebpf/otelcol-goebpf/internal/testutil/prereq"
)

const (
	wrkDuration    = "2s"
	cpuRounds      = 5
	throughputRuns = 9
)

type mode int

const (
	untraced mode = iota
	emptyProbes
	traced
	// emptyDeep and tracedDeep are emptyProbes and traced with
	// DeepGoroutines (traces.goroutine_ancestry: deep).
	emptyDeep
	tracedDeep
)

func (m mode) String() string {
	return [...]string{"untraced", "empty", "traced", "empty-deep", "traced-deep"}[m]
}

func (m mode) empty() bool { return m == emptyProbes || m == emptyDeep }
func (m mode) deep() bool  { return m == emptyDeep || m == tracedDeep }

// probed is a tracer attached to the target, draining and converting
// events the way the receiver does.
type probed struct {
	tr   *tracer.Tracer
	att  *tracer.Attachment
	stop chan struct{}
	wg   sync.WaitGroup
}

// attachMode attaches the tracer of mode m (not untraced).
func attachMode(b *testing.B, pid int, bin tracer.Binary, m mode) *probed {
	b.Helper()
	// GOEBPF_BENCH_PERF_UPROBES=1: perf_event uprobes instead of uprobe_multi
	// links (the attach method kernels before 6.6 fall back to).
	perf := os.Getenv("GOEBPF_BENCH_PERF_UPROBES") != ""
	tr, err := tracer.New(tracer.Options{RingBufferSize: 8 << 20, ExtractTraceContext: true, ExtractB3: true, EmptyPrograms: m.empty(), DeepGoroutines: m.deep(), PerfEventUprobes: perf})
	if err != nil {
		b.Fatal(err)
	}
	cookie, err := tr.AddBinary(bin.Offsets)
	if err != nil {
		b.Fatal(err)
	}
	att, err := tr.Attach(pid, cookie, bin, tracer.Probes{httpserver.Name: true, httpclient.Name: true})
	if err != nil {
		b.Fatal(err)
	}
	p := &probed{tr: tr, att: att, stop: make(chan struct{})}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		for {
			select {
			case <-p.stop:
				return
			default:
			}
			td := ptrace.NewTraces()
			ss := td.ResourceSpans().AppendEmpty().ScopeSpans().AppendEmpty()
			err := tr.Drain(200*time.Millisecond, func(raw []byte) {
				ev, err := tracer.Decode(raw)
				if err != nil {
					return
				}
				switch e := ev.(type) {
				case *httpserver.Event:
					httpserver.AppendServer(ss, e, httpspan.Clock{}, nil)
				case *httpclient.Event:
					httpclient.AppendClient(ss, e, httpspan.Clock{}, nil)
				}
			})
			if err != nil {
				return
			}
		}
	}()
	return p
}

func (p *probed) close() {
	close(p.stop)
	_ = p.att.Close()
	_ = p.tr.Close()
	p.wg.Wait()
}

func requireRoot(b *testing.B) {
	prereq.RequireRoot(b, "the probe benchmark")
	if _, err := exec.LookPath("wrk"); err != nil {
		b.Fatal("wrk not found: install it (Debian package wrk)")
	}
}

// targetCPU is the target's on-CPU time in nanoseconds summed over its
// threads (/proc/<pid>/task/*/schedstat, first field). Uprobe handlers run
// in the probed thread, so their cost is included.
func targetCPU(b *testing.B, pid int) int64 {
	b.Helper()
	tasks, err := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/schedstat", pid))
	if err != nil || len(tasks) == 0 {
		b.Fatalf("no tasks for pid %d", pid)
	}
	var sum int64
	for _, f := range tasks {
		raw, err := os.ReadFile(f)
		if err != nil {
			continue // thread exited
		}
		v, _ := strconv.ParseInt(strings.Fields(string(raw))[0], 10, 64)
		sum += v
	}
	return sum
}

var (
	reqLine = regexp.MustCompile(`(\d+) requests in`)
	rpsLine = regexp.MustCompile(`Requests/sec:\s+([\d.]+)`)
)

// wrk runs a load and returns the request count and rate.
func wrk(b *testing.B, url string, threads, conns int) (int64, float64) {
	b.Helper()
	out, err := exec.Command("wrk", "-t", strconv.Itoa(threads), "-c", strconv.Itoa(conns), "-d", wrkDuration, url).CombinedOutput()
	if err != nil {
		b.Fatalf("wrk: %v\n%s", err, out)
	}
	m1, m2 := reqLine.FindSubmatch(out), rpsLine.FindSubmatch(out)
	if m1 == nil || m2 == nil {
		b.Fatalf("cannot parse wrk output:\n%s", out)
	}
	n, _ := strconv.ParseInt(string(m1[1]), 10, 64)
	rps, _ := strconv.ParseFloat(string(m2[1]), 64)
	return n, rps
}

func get(b *testing.B, c *http.Client, url string) {
	resp, err := c.Get(url)
	if err != nil {
		b.Fatalf("GET %s: %v", url, err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
}

func median(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	return s[len(s)/2]
}

func BenchmarkHTTPProbes(b *testing.B) {
	requireRoot(b)
	pid, addr, bin := startTarget(b)
	base := "http://" + addr
	client := &http.Client{}

	// Probe hits per request, read from the programs' own per-CPU counters,
	// and the kernel's run count and run time of each program (BPF stats).
	stats, err := ebpf.EnableStats(uint32(unix.BPF_STATS_RUN_TIME))
	if err != nil {
		b.Fatalf("enable BPF stats: %v", err)
	}
	const n = 2000
	for _, m := range []mode{traced, tracedDeep} {
		p := attachMode(b, pid, bin, m)
		for range 50 {
			get(b, client, base+"/hello")
		}
		h0, _ := p.tr.Hits()
		s0, _ := p.tr.ProgramStats()
		for range n {
			get(b, client, base+"/hello")
		}
		h1, _ := p.tr.Hits()
		s1, _ := p.tr.ProgramStats()
		var serverHits, newprocHits uint64
		for i := range h1 {
			serverHits += h1[i] - h0[i]
		}
		// The goroutines probe runs at newproc.func1's call of runqput
		// (emulated) or, where that is not found, at newproc1's RETs.
		newprocHits = h1[goroutines.ProgNewprocRunqput] - h0[goroutines.ProgNewprocRunqput] +
			h1[goroutines.ProgNewproc1Return] - h0[goroutines.ProgNewproc1Return]
		var serverRuns uint64
		var serverBPF time.Duration
		for name := range s1 {
			serverRuns += s1[name].RunCount - s0[name].RunCount
			serverBPF += s1[name].Runtime - s0[name].Runtime
		}
		for range n {
			get(b, client, base+"/chain")
		}
		h2, _ := p.tr.Hits()
		s2, _ := p.tr.ProgramStats()
		clientHits := (h2[httpclient.ProgEntry] - h1[httpclient.ProgEntry]) + (h2[httpclient.ProgReturn] - h1[httpclient.ProgReturn])
		clientBPF := (s2["client_entry"].Runtime - s1["client_entry"].Runtime) + (s2["client_return"].Runtime - s1["client_return"].Runtime)
		p.close()
		suffix := map[bool]string{false: "", true: "-deep"}[m.deep()]
		for _, name := range []string{"server_entry", "server_return", "client_entry", "client_return", "newproc_runqput", "newproc1_return"} {
			runs := s2[name].RunCount - s0[name].RunCount
			if runs > 0 {
				fmt.Printf("%-11s %-16s %7d runs, %5.0f ns/run\n", m, name, runs, float64((s2[name].Runtime-s0[name].Runtime).Nanoseconds())/float64(runs))
			}
		}
		b.ReportMetric(float64(serverHits)/n, "hits/server-req"+suffix)
		b.ReportMetric(float64(newprocHits)/n, "newproc-hits/server-req"+suffix)
		b.ReportMetric(float64(serverRuns)/n, "bpf-runs/server-req"+suffix)
		b.ReportMetric(float64(serverBPF.Nanoseconds())/n, "bpf-ns/server-req"+suffix)
		b.ReportMetric(float64(clientHits)/n, "hits/client-req"+suffix)
		b.ReportMetric(float64(clientBPF.Nanoseconds())/n, "bpf-ns/client-req"+suffix)
	}
	_ = stats.Close()

	if os.Getenv("GOEBPF_BENCH_HITS_ONLY") != "" { // quick iteration on the BPF programs
		return
	}

	// Target CPU per request, rounds interleaved so that drifting
	// background load on the shared machine hits every mode alike.
	cpu := map[mode][]float64{}
	for round := range cpuRounds {
		for _, m := range []mode{untraced, emptyProbes, traced, emptyDeep, tracedDeep} {
			var pr *probed
			if m != untraced {
				pr = attachMode(b, pid, bin, m)
			}
			wrk(b, base+"/hello", 1, 4) // warm-up
			c0 := targetCPU(b, pid)
			reqs, _ := wrk(b, base+"/hello", 1, 4)
			c1 := targetCPU(b, pid)
			cpu[m] = append(cpu[m], float64(c1-c0)/float64(reqs))
			if pr != nil {
				pr.close()
			}
			fmt.Printf("cpu round %d %-8s %.0f ns/req\n", round, m, cpu[m][round])
		}
	}
	// Throughput of the ~1 ms handler: short runs in ABBA order (untraced,
	// traced, traced, untraced, ...) so slow drifts of the shared machine's
	// load cancel; the ratio is taken per pair, then the median. The target's
	// CPU per /work request gives the same ratio free of wall-clock noise:
	// what throughput would be if the target were CPU bound.
	var ratios, cpuRatios, emptyCPURatios, rpsU, rpsT []float64
	var ratiosDeep, cpuRatiosDeep, emptyCPURatiosDeep, rpsTDeep []float64
	workRun := func(m mode) (rps, cpuPerReq float64) {
		if m != untraced {
			pr := attachMode(b, pid, bin, m)
			defer pr.close()
		}
		c0 := targetCPU(b, pid)
		reqs, r := wrk(b, base+"/work", 1, 4)
		return r, float64(targetCPU(b, pid)-c0) / float64(reqs)
	}
	// The mode order is rotated by one each run.
	order := []mode{untraced, traced, emptyProbes, tracedDeep, emptyDeep}
	for run := range throughputRuns {
		got := map[mode][2]float64{}
		for i := range order {
			m := order[(i+run)%len(order)]
			r, c := workRun(m)
			got[m] = [2]float64{r, c}
		}
		u, t, e, td, ed := got[untraced], got[traced], got[emptyProbes], got[tracedDeep], got[emptyDeep]
		rpsU, rpsT, rpsTDeep = append(rpsU, u[0]), append(rpsT, t[0]), append(rpsTDeep, td[0])
		ratios = append(ratios, t[0]/u[0])
		cpuRatios = append(cpuRatios, u[1]/t[1])
		emptyCPURatios = append(emptyCPURatios, u[1]/e[1])
		ratiosDeep = append(ratiosDeep, td[0]/u[0])
		cpuRatiosDeep = append(cpuRatiosDeep, u[1]/td[1])
		emptyCPURatiosDeep = append(emptyCPURatiosDeep, u[1]/ed[1])
		fmt.Printf("/work run %d: untraced %.0f req/s %.0f ns cpu/req, empty %.0f req/s %.0f ns cpu/req, traced %.0f req/s %.0f ns cpu/req, empty-deep %.0f req/s %.0f ns cpu/req, traced-deep %.0f req/s %.0f ns cpu/req\n",
			run, u[0], u[1], e[0], e[1], t[0], t[1], ed[0], ed[1], td[0], td[1])
	}
	u, e, t := median(cpu[untraced]), median(cpu[emptyProbes]), median(cpu[traced])
	b.ReportMetric(u, "untraced-cpu-ns/req")
	b.ReportMetric(e, "empty-probes-cpu-ns/req")
	b.ReportMetric(t, "traced-cpu-ns/req")
	b.ReportMetric((t-u)/(e-u), "cost-ratio")
	ed, td := median(cpu[emptyDeep]), median(cpu[tracedDeep])
	b.ReportMetric(ed, "empty-probes-cpu-ns/req-deep")
	b.ReportMetric(td, "traced-cpu-ns/req-deep")
	b.ReportMetric((td-u)/(ed-u), "cost-ratio-deep")
	// The throughput ratio a handler doing exactly 1 ms of CPU work would
	// have, from the /hello CPU figures above (what the probes add to a
	// request does not depend on the handler's work): free of the /work
	// runs' ±5% noise.
	b.ReportMetric((1e6+u)/(1e6+t), "per-req-cost-1ms-throughput-ratio")
	b.ReportMetric((1e6+u)/(1e6+td), "per-req-cost-1ms-throughput-ratio-deep")
	b.ReportMetric(median(ratios), "throughput-ratio")
	b.ReportMetric(median(cpuRatios), "cpu-bound-throughput-ratio")
	b.ReportMetric(median(emptyCPURatios), "empty-probes-cpu-bound-throughput-ratio")
	b.ReportMetric(median(rpsU), "untraced-1ms-req/s")
	b.ReportMetric(median(rpsT), "traced-1ms-req/s")
	b.ReportMetric(median(ratiosDeep), "throughput-ratio-deep")
	b.ReportMetric(median(cpuRatiosDeep), "cpu-bound-throughput-ratio-deep")
	b.ReportMetric(median(emptyCPURatiosDeep), "empty-probes-cpu-bound-throughput-ratio-deep")
	b.ReportMetric(median(rpsTDeep), "traced-1ms-req/s-deep")
}

// startTarget builds integration/testdata/httpdemo, runs it with
// GOMAXPROCS=1 on a port of its own (stopped when b ends) and resolves its
// probe sites.
func startTarget(b *testing.B) (pid int, addr string, bin tracer.Binary) {
	b.Helper()
	exe := filepath.Join(b.TempDir(), "httpdemo")
	build := exec.Command("go", "build", "-o", exe, "../../../integration/testdata/httpdemo")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		b.Fatalf("build httpdemo: %v\n%s", err, out)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	addr = l.Addr().String()
	l.Close()
	// GOMAXPROCS=1 pins the target's work to one CPU so CPU per request is
	// not blurred by scheduling across the shared machine.
	target := exec.Command(exe, "-addr", addr)
	target.Env = append(os.Environ(), "GOMAXPROCS=1")
	if err := target.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = target.Process.Kill(); _ = target.Wait() })
	waitListening(b, "target", addr)
	ins, err := goexe.Inspect(exe)
	if err != nil {
		b.Fatal(err)
	}
	bin, err = tracer.ResolveBinary(ins)
	if err != nil {
		b.Fatal(err)
	}
	return target.Process.Pid, addr, bin
}

// waitListening waits (at most 20 s) until addr accepts a TCP connection;
// name is the program that should be listening there.
func waitListening(b testing.TB, name, addr string) {
	b.Helper()
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			return
		}
		if time.Now().After(deadline) {
			b.Fatalf("%s did not listen on %s", name, addr)
		}
	}
}
