package bench

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"

	"github.com/otelcol-goebpf/otelcol-goebpf/internal/testutil/prereq"
	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/goexe"
	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/probes/grpcclient"
	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/probes/grpcclientstream"
	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/probes/grpcserver"
	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/probes/h2server"
	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/probes/h2xnet"
	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/probes/h2xnetclient"
	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/probes/httpclient"
	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/probes/httpclientconn"
	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/probes/httpclienth2"
	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/probes/httpserver"
	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/runtimemetrics"
	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/tracer"
)

// defaultTraceProbes is the probe set the receiver's default config
// attaches (createDefaultConfig().Traces.probes(): HTTP and gRPC server and
// client, client streams, extraction and stitching on, SQL, Redis and
// Kafka off). Keep it in step with receiver/ebpfreceiver/probes.go. Probes
// whose functions a binary lacks are not attached (Attach says so).
var defaultTraceProbes = tracer.Probes{
	httpserver.Name: true, h2server.Name: true, h2xnet.Name: true,
	httpclient.Name: true, h2xnetclient.Name: true,
	grpcserver.Name: true, grpcserver.LegacyName: true,
	grpcclient.Name: true, grpcclient.StreamName: true,
	httpclientconn.Name: true, grpcclientstream.Name: true,
	httpclienth2.Name: true, httpclienth2.XNetName: true,
}

// defaultTracerOptions are the tracer options of the default config
// (receiver.go: extract tracecontext and b3, capture_query, stitch), with
// traces.goroutine_ancestry deep or not.
func defaultTracerOptions(deep bool) tracer.Options {
	return tracer.Options{RingBufferSize: 8 << 20, ExtractTraceContext: true, ExtractB3: true,
		CaptureQuery: true, Stitch: true, DeepGoroutines: deep}
}

// tputMode is one side of the gRPC throughput comparison.
type tputMode int

const (
	tputUntraced tputMode = iota
	tputEmpty             // the default probe set's uprobes running empty programs: the bare trap cost
	tputTraced            // default config: goroutine_ancestry parent
	tputDeep              // goroutine_ancestry deep
	tputAtEntry           // as tputTraced, entry uprobes on the functions' first instruction (before the stack-check placement)
)

var tputModes = []tputMode{tputUntraced, tputEmpty, tputTraced, tputDeep, tputAtEntry}

func (m tputMode) String() string {
	return [...]string{"untraced", "empty", "traced", "deep", "at-entry"}[m]
}

// traced: the mode attaches the real programs and drains their events.
func (m tputMode) traced() bool { return m == tputTraced || m == tputDeep || m == tputAtEntry }

// atFunctionEntry returns bin with every entry uprobe moved back to its
// function's first instruction, where the tracer placed them before it used
// the stack check's jump (goexe.Func.ProbeOffset).
func atFunctionEntry(b *testing.B, x *goexe.Executable, bin tracer.Binary) tracer.Binary {
	out := bin
	out.Sites = map[string][]tracer.Site{}
	for name, sites := range bin.Sites {
		for _, s := range sites {
			if s.Uprobe.Entry != "" {
				f, err := x.Func(s.Func.Name)
				if err != nil {
					b.Fatal(err)
				}
				s.Func.EntryOffset = f.EntryOffset
			}
			out.Sites[name] = append(out.Sites[name], s)
		}
	}
	return out
}

// tputOrder is the order of the modes in set i: rotated by i, and reversed
// every other four sets, so that each mode comes before and after each
// other one alike.
func tputOrder(i int) []tputMode {
	n := len(tputModes)
	out := make([]tputMode, n)
	for j := range n {
		out[j] = tputModes[(i+j)%n]
	}
	if (i/n)%2 == 1 {
		slices.Reverse(out)
	}
	return out
}

// BenchmarkGRPCUnaryThroughput measures the throughput of a gRPC server
// with a no-op unary handler, traced and untraced (issue 16). The server is
// integration/testdata/grpcdemo (grpc-go of go.mod, built stripped):
// Health/Check with an empty service returns SERVING at once. The load is
// testdata/grpcload, a separate, untraced, closed-loop client process:
// GRPC_TPUT_WORKERS (default 8) goroutines calling Check back to back over
// 1 and over 4 connections without metadata, and over 4 connections with
// ~1 KiB of metadata (a traceparent among forwarded headers). By default
// the server runs on CPU 0 and the client on CPU 1 (taskset; each then has
// GOMAXPROCS=1); GRPC_TPUT_NOPIN=1 leaves both free on every CPU.
//
// Per load, rounds of GRPC_TPUT_ROUND_MS (default 600) run in four modes:
// untraced; the receiver's default probe set with empty programs (the bare
// uprobe trap cost); traced with the default probe set and options; traced
// with traces.goroutine_ancestry: deep (one more hit per goroutine the
// server starts: grpc-go starts one per stream); and traced with the entry
// uprobes at the functions' first instruction instead of their stack
// check's jump (the placement before; the kernel single-steps a probe
// there). GRPC_TPUT_SETS (default 10) sets of the five, each in another
// order (tputOrder), so a drift of
// the shared machine's load touches every mode alike. A traced round
// attaches the probes and the runtime metrics collector (default-on with a
// metrics pipeline: sched tracepoints, target memory reads) before it and
// detaches them after it, draining and decoding the ring buffer while it
// runs, as the receiver does. Each set gives the ratios mode/untraced of
// the RPS; reported are their medians and interquartile ranges, the median
// RPS of each mode and the server's CPU per RPC (its threads' on-CPU time,
// uprobe handlers included). Probe hits and BPF time per RPC are counted in
// one more round of each traced mode with the kernel's BPF statistics on
// (off during the sets: they add two clock reads per program run). Run as
// root:
//
//	go test -run '^$' -bench GRPCUnaryThroughput -benchtime=1x ./receiver/ebpfreceiver/bench/
func BenchmarkGRPCUnaryThroughput(b *testing.B) {
	prereq.RequireRoot(b, "the gRPC throughput benchmark")
	sets := envIntStrict(b, "GRPC_TPUT_SETS", 10)
	roundMs := envIntStrict(b, "GRPC_TPUT_ROUND_MS", 600)
	workers := envIntStrict(b, "GRPC_TPUT_WORKERS", 8)
	pin := os.Getenv("GRPC_TPUT_NOPIN") == ""
	if pin {
		if _, err := exec.LookPath("taskset"); err != nil {
			b.Fatal("taskset not found (Debian package util-linux); GRPC_TPUT_NOPIN=1 runs unpinned")
		}
	}
	onCPU := func(cpu string, name string, args ...string) *exec.Cmd {
		if pin {
			return exec.Command("taskset", append([]string{"-c", cpu, name}, args...)...)
		}
		return exec.Command(name, args...)
	}

	dir := b.TempDir()
	server, load := filepath.Join(dir, "grpcdemo"), filepath.Join(dir, "grpcload")
	for exe, pkg := range map[string]string{server: "../../../integration/testdata/grpcdemo", load: "./testdata/grpcload"} {
		build := exec.Command("go", "build", "-ldflags=-s -w", "-o", exe, pkg)
		build.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := build.CombinedOutput(); err != nil {
			b.Fatalf("build %s: %v\n%s", pkg, err, out)
		}
	}
	addr := freeAddr(b)
	srv := onCPU("0", server, "-addr", addr)
	if err := srv.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = srv.Process.Kill(); _ = srv.Wait() })
	pid := srv.Process.Pid // taskset execs the server: same pid
	waitListening(b, "grpcdemo", addr)
	x, err := goexe.Inspect(server)
	if err != nil {
		b.Fatal(err)
	}
	bin, err := tracer.ResolveBinary(x)
	if err != nil {
		b.Fatal(err)
	}
	if _, ok := bin.Sites[grpcserver.Name]; !ok {
		b.Fatalf("grpc_server not resolved in stripped grpcdemo: %v", bin.Unusable[grpcserver.Name])
	}
	bins := map[tputMode]tracer.Binary{tputEmpty: bin, tputTraced: bin, tputDeep: bin, tputAtEntry: atFunctionEntry(b, x, bin)}
	tracers := map[tputMode]*tracer.Tracer{}
	cookies := map[tputMode]uint32{}
	for _, m := range tputModes[1:] {
		opts := defaultTracerOptions(m == tputDeep)
		opts.EmptyPrograms = m == tputEmpty
		tr, err := tracer.New(opts)
		if err != nil {
			b.Fatal(err)
		}
		defer tr.Close()
		if cookies[m], err = tr.AddBinary(bin.Offsets); err != nil {
			b.Fatal(err)
		}
		tracers[m] = tr
	}

	type loadCase struct {
		name    string
		conns   int
		mdBytes int
	}
	for _, lc := range []loadCase{{"1conn", 1, 0}, {"4conn", 4, 0}, {"4conn-1KiB", 4, 1024}} {
		gen := startGRPCLoad(b, onCPU("1", load, "-target", addr, "-conns", strconv.Itoa(lc.conns),
			"-workers", strconv.Itoa(workers), "-metadata-bytes", strconv.Itoa(lc.mdBytes)))

		// round runs the load for roundMs in mode m and returns its RPCs,
		// its RPS and the server's CPU per RPC in ns.
		var serverEvents int
		round := func(m tputMode) (calls int64, rps, cpuNs float64) {
			if m != tputUntraced {
				tr := tracers[m]
				att, err := tr.Attach(pid, cookies[m], bins[m], defaultTraceProbes)
				if att == nil {
					b.Fatalf("attach: %v", err)
				}
				defer att.Close()
			}
			if m.traced() {
				tr := tracers[m]
				rt, err := runtimemetrics.New(runtimemetrics.DefaultOptions())
				if err != nil {
					b.Fatal(err)
				}
				if err := rt.Attach(pid, x); err != nil {
					b.Fatalf("runtime metrics: %v", err)
				}
				defer rt.Close()
				stop, stopped := make(chan struct{}), make(chan struct{})
				go func() {
					defer close(stopped)
					handle := func(raw []byte) {
						if ev, err := tracer.Decode(raw); err == nil {
							if _, ok := ev.(*grpcserver.Event); ok {
								serverEvents++
							}
						}
					}
					for {
						select {
						case <-stop:
							_ = tr.Drain(100*time.Millisecond, handle)
							return
						default:
							_ = tr.Drain(50*time.Millisecond, handle)
						}
					}
				}()
				defer func() { close(stop); <-stopped }()
			}
			c0 := targetCPU(b, pid)
			calls, elapsed := gen.run(b, roundMs)
			return calls, float64(calls) / elapsed.Seconds(), float64(targetCPU(b, pid)-c0) / float64(calls)
		}
		for _, m := range tputModes { // warm up: connections, goroutines, first attach
			round(m)
		}
		serverEvents = 0

		rps := map[tputMode][]float64{}
		cpu := map[tputMode][]float64{}
		ratios := map[tputMode][]float64{}
		cpuRatios := map[tputMode][]float64{}
		var tracedCalls int64
		for i := range sets {
			got := map[tputMode][2]float64{}
			for _, m := range tputOrder(i) {
				n, r, c := round(m)
				if m.traced() {
					tracedCalls += n
				}
				got[m] = [2]float64{r, c}
				rps[m], cpu[m] = append(rps[m], r), append(cpu[m], c)
			}
			line := fmt.Sprintf("%-10s set %2d:", lc.name, i)
			for _, m := range tputModes {
				ratios[m] = append(ratios[m], got[m][0]/got[tputUntraced][0])
				cpuRatios[m] = append(cpuRatios[m], got[tputUntraced][1]/got[m][1])
				line += fmt.Sprintf(" %s %6.0f RPS %5.1f µs cpu/RPC,", m, got[m][0], got[m][1]/1e3)
			}
			fmt.Println(strings.TrimSuffix(line, ","))
		}
		if serverEvents != int(tracedCalls) {
			// Every traced RPC is one server event (the ring buffer is
			// drained while the load runs; Drops counts any loss).
			var drops uint64
			for _, tr := range tracers {
				d, _ := tr.Drops()
				drops += d
			}
			b.Fatalf("%s: %d gRPC server events for %d traced RPCs (ring buffer drops %d)", lc.name, serverEvents, tracedCalls, drops)
		}

		// Hits and BPF time per RPC, one round of each traced mode with
		// BPF statistics on.
		stats, err := ebpf.EnableStats(uint32(unix.BPF_STATS_RUN_TIME))
		if err != nil {
			b.Fatalf("enable BPF stats: %v", err)
		}
		hits, bpfNs := map[tputMode]float64{}, map[tputMode]float64{}
		for _, m := range tputModes[1:] {
			s0, _ := tracers[m].ProgramStats()
			n, _, _ := round(m)
			s1, _ := tracers[m].ProgramStats()
			var runs uint64
			var ns time.Duration
			var per []string
			for p, st := range s1 {
				r := st.RunCount - s0[p].RunCount
				runs += r
				ns += st.Runtime - s0[p].Runtime
				if r > 0 {
					per = append(per, fmt.Sprintf("%s %.2f", p, float64(r)/float64(n)))
				}
			}
			slices.Sort(per)
			hits[m], bpfNs[m] = float64(runs)/float64(n), float64(ns.Nanoseconds())/float64(n)
			fmt.Printf("%-10s %-8s hits/RPC %.2f (%s), BPF ns/RPC %.0f\n", lc.name, m, hits[m], strings.Join(per, ", "), bpfNs[m])
		}
		stats.Close()
		gen.close(b)

		fmt.Printf("%s: %d workers, %d conns, metadata %d B, %d sets of %d ms rounds, pinned %t; gRPC server events %d for %d traced RPCs\n",
			lc.name, workers, lc.conns, lc.mdBytes, sets, roundMs, pin, serverEvents, tracedCalls)
		uCPU := median(cpu[tputUntraced])
		for _, m := range tputModes {
			mr := median(rps[m])
			line := fmt.Sprintf("  %-8s median %6.0f RPS, server %5.1f µs CPU/RPC (%.0f%% of a CPU)", m, mr, median(cpu[m])/1e3, mr*median(cpu[m])/1e7)
			b.ReportMetric(mr, m.String()+"-RPS-"+lc.name)
			if m != tputUntraced {
				q := quartiles(ratios[m])
				line += fmt.Sprintf("; /untraced: median %.3f, IQR %.3f-%.3f (min %.3f, max %.3f); CPU-bound %.3f; +%.1f µs CPU/RPC",
					q[2], q[1], q[3], q[0], q[4], median(cpuRatios[m]), (median(cpu[m])-uCPU)/1e3)
				b.ReportMetric(q[2], m.String()+"/untraced-"+lc.name)
				b.ReportMetric(q[1], m.String()+"/untraced-p25-"+lc.name)
				b.ReportMetric(q[3], m.String()+"/untraced-p75-"+lc.name)
				b.ReportMetric(hits[m], "hits/RPC-"+m.String()+"-"+lc.name)
				b.ReportMetric(bpfNs[m], "BPF-ns/RPC-"+m.String()+"-"+lc.name)
			}
			fmt.Println(line)
		}
	}
}

// quartiles returns the minimum, first quartile, median, third quartile and
// maximum of v.
func quartiles(v []float64) [5]float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	q := func(f float64) float64 { return s[int(f*float64(len(s)-1)+0.5)] }
	return [5]float64{s[0], q(0.25), q(0.5), q(0.75), s[len(s)-1]}
}

// grpcLoad is a running testdata/grpcload process.
type grpcLoad struct {
	cmd  *exec.Cmd
	in   io.WriteCloser
	out  *bufio.Scanner
	once sync.Once
}

func startGRPCLoad(b *testing.B, cmd *exec.Cmd) *grpcLoad {
	b.Helper()
	in, err := cmd.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	g := &grpcLoad{cmd: cmd, in: in, out: bufio.NewScanner(out)}
	b.Cleanup(func() { g.close(b) })
	return g
}

// run makes one round of ms milliseconds and returns the RPCs completed and
// the round's length; any failed RPC fails the benchmark.
func (g *grpcLoad) run(b *testing.B, ms int) (int64, time.Duration) {
	b.Helper()
	if _, err := fmt.Fprintf(g.in, "run %d\n", ms); err != nil {
		b.Fatalf("grpcload: %v", err)
	}
	if !g.out.Scan() {
		b.Fatalf("grpcload ended: %v", g.out.Err())
	}
	var calls, errs, ns int64
	if _, err := fmt.Sscanf(g.out.Text(), "%d %d %d", &calls, &errs, &ns); err != nil {
		b.Fatalf("grpcload answered %q: %v", g.out.Text(), err)
	}
	if errs > 0 || calls == 0 {
		b.Fatalf("grpcload: %d RPCs failed, %d succeeded", errs, calls)
	}
	return calls, time.Duration(ns)
}

func (g *grpcLoad) close(b *testing.B) {
	g.once.Do(func() {
		_ = g.in.Close()
		if err := g.cmd.Wait(); err != nil {
			b.Errorf("grpcload: %v", err)
		}
	})
}
