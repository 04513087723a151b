package bench

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"

	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/bpfprog"
	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/goexe"
	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/probes/goroutines"
	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/probes/grpcclient"
	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/probes/grpcclientstream"
	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/probes/grpcserver"
	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/tracer"
)

// startGRPCTarget builds integration/testdata/grpcdemo and serves it on a
// port of its own; the process is killed at cleanup.
func startGRPCTarget(b *testing.B) (pid int, addr, exe string, bin tracer.Binary) {
	b.Helper()
	exe = filepath.Join(b.TempDir(), "grpcdemo")
	build := exec.Command("go", "build", "-o", exe, "../../../integration/testdata/grpcdemo")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		b.Fatalf("build grpcdemo: %v\n%s", err, out)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	addr = l.Addr().String()
	l.Close()
	cmd := exec.Command(exe, "-addr", addr)
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	waitListening(b, "grpcdemo", addr)
	x, err := goexe.Inspect(exe)
	if err != nil {
		b.Fatal(err)
	}
	if bin, err = tracer.ResolveBinary(x); err != nil {
		b.Fatal(err)
	}
	return cmd.Process.Pid, addr, exe, bin
}

// BenchmarkGRPCProbes reports probe hits and BPF run time per unary RPC on
// each side of grpc-go: the server probe over plain RPCs (with no metadata,
// with a traceparent only, and with about 1 KiB of realistic metadata and a
// traceparent: realisticHeaders), the client probe over RPCs a handler makes
// to the same server. The calls come from an untraced client process.
// Everything is measured twice in one run: with
// traces.goroutine_ancestry: parent (no goroutines probe on this Go) and
// deep (the receiver's default: the goroutines probe on newproc.func1's
// call of runqput, its hits counted with the side's; metrics end in
// "-deep"); grpc-go's server starts a goroutine per stream. Run as root:
//
//	go test -run '^$' -bench 'GRPCProbes$' -benchtime=1x ./receiver/ebpfreceiver/bench/
func BenchmarkGRPCProbes(b *testing.B) {
	requireRoot(b)
	pid, addr, exe, bin := startGRPCTarget(b)
	stats, err := ebpf.EnableStats(uint32(unix.BPF_STATS_RUN_TIME))
	if err != nil {
		b.Fatalf("enable BPF stats: %v", err)
	}
	defer stats.Close()
	for _, deep := range []bool{false, true} {
		fmt.Printf("goroutine_ancestry: %s\n", map[bool]string{false: "parent", true: "deep"}[deep])
		grpcProbesRun(b, pid, addr, exe, bin, deep)
	}
}

func grpcProbesRun(b *testing.B, pid int, addr, exe string, bin tracer.Binary, deep bool) {
	suffix := map[bool]string{false: "", true: "-deep"}[deep]
	tr, err := tracer.New(tracer.Options{RingBufferSize: 8 << 20, ExtractTraceContext: true, ExtractB3: true, DeepGoroutines: deep})
	if err != nil {
		b.Fatal(err)
	}
	defer tr.Close()
	cookie, err := tr.AddBinary(bin.Offsets)
	if err != nil {
		b.Fatal(err)
	}
	att, err := tr.Attach(pid, cookie, bin, tracer.Probes{grpcserver.Name: true, grpcclient.Name: true})
	if err != nil {
		b.Fatal(err)
	}
	defer att.Close()

	const n = 500
	call := func(args ...string) {
		args = append([]string{"-client", "-target", addr, "-n", strconv.Itoa(n)}, args...)
		if out, err := exec.Command(exe, args...).CombinedOutput(); err != nil {
			b.Fatalf("grpcdemo %v: %v\n%s", args, err, out)
		}
	}
	prog := func(p string) string { return p[len("uprobe_"):] }
	// The goroutines probe's hits (at newproc.func1's call of runqput, or
	// at newproc1's RETs where that call is not found) count with the
	// server side (grpc-go starts a goroutine per stream served); for
	// client calls, which the process makes while serving, they are
	// reported apart.
	newproc := []string{prog(goroutines.ProgNewprocRunqput), prog(goroutines.ProgNewproc1Return)}
	serverProgs := append([]string{prog(grpcserver.ProgEntry), prog(grpcserver.ProgStatus)}, newproc...)
	clientProgs := []string{prog(grpcclient.ProgEntry), prog(grpcclient.ProgReturn)}
	md := realisticHeaders(true)
	var mdArgs []string
	for _, kv := range md {
		mdArgs = append(mdArgs, "-md", kv[0]+"="+kv[1])
	}
	fmt.Printf("realistic metadata: %d keys, %d bytes as header lines\n", len(md), headBytes(md))
	perRPC := map[string]float64{}
	for _, tc := range []struct {
		name  string
		unit  string
		args  []string
		side  []string
		calls int // RPCs of that side per client call
	}{
		{"server, no traceparent", "server", nil, serverProgs, 1},
		{"server, traceparent", "server-tp", []string{"-traceparent", benchTraceparent}, serverProgs, 1},
		{"server, 1 KiB metadata", "server-1k", mdArgs, serverProgs, 1},
		{"client (in a handler)", "client", []string{"-service", "call=" + addr + ";"}, clientProgs, 1},
	} {
		call(tc.args...) // warm up: connections, goroutines
		_ = tr.Drain(time.Millisecond, func([]byte) {})
		s0, _ := tr.ProgramStats()
		call(tc.args...)
		s1, _ := tr.ProgramStats()
		events, withParent := 0, 0
		_ = tr.Drain(300*time.Millisecond, func(raw []byte) {
			events++
			// event_header: kind, has_parent, ... (bpf/common/event.h)
			if len(raw) > 1 && raw[0] == uint8(bpfprog.GoebpfEventKindEVENT_GRPC_SERVER) && raw[1] != 0 {
				withParent++
			}
		})
		var runs uint64
		var ns time.Duration
		for _, p := range tc.side {
			r, t := s1[p].RunCount-s0[p].RunCount, s1[p].Runtime-s0[p].Runtime
			runs += r
			ns += t
			if r > 0 {
				fmt.Printf("  %-20s %6d runs, %5.0f ns/run\n", p, r, float64(t.Nanoseconds())/float64(r))
			}
		}
		rpcs := float64(n * tc.calls)
		fmt.Printf("%-24s hits/RPC %.2f  BPF ns/RPC %.0f  events %d (server spans with a parent %d) for %d client calls\n", tc.name, float64(runs)/rpcs, float64(ns.Nanoseconds())/rpcs, events, withParent, n)
		b.ReportMetric(float64(runs)/rpcs, "hits/RPC-"+tc.unit+suffix)
		var newprocRuns uint64
		for _, p := range newproc {
			newprocRuns += s1[p].RunCount - s0[p].RunCount
		}
		b.ReportMetric(float64(newprocRuns)/rpcs, "newproc-hits/RPC-"+tc.unit+suffix)
		b.ReportMetric(float64(ns.Nanoseconds())/rpcs, "BPF-ns/RPC-"+tc.unit+suffix)
		perRPC["hits-"+tc.unit], perRPC["ns-"+tc.unit] = float64(runs)/rpcs, float64(ns.Nanoseconds())/rpcs
	}
	if tp := perRPC["ns-server-tp"]; tp > 0 {
		fmt.Printf("server, 1 KiB metadata / traceparent only: hits %.2fx, BPF ns %.2fx\n",
			perRPC["hits-server-1k"]/perRPC["hits-server-tp"], perRPC["ns-server-1k"]/tp)
		b.ReportMetric(perRPC["ns-server-1k"]/tp, "BPF-ns-ratio-1k/tp"+suffix)
	}
}

// BenchmarkGRPCStitch reports probe hits and BPF run time per unary RPC on
// each side with stitching off and on, in one run: the grpcdemo server's
// handler calls the server itself ("call=addr;"), so each client call from
// the untraced caller process is one RPC the traced process makes (client
// side: Invoke's probes, the streaming probe's finish, and with stitching
// the transport's NewStream return) and two it serves (server side; with
// stitching, the inner one is joined to its client span, the outer one is
// looked up and not found). Both once with traces.grpc.client_streams'
// probe set (the default) and once without the streaming client probe.
func BenchmarkGRPCStitch(b *testing.B) {
	requireRoot(b)
	pid, addr, exe, bin := startGRPCTarget(b)
	stats, err := ebpf.EnableStats(uint32(unix.BPF_STATS_RUN_TIME))
	if err != nil {
		b.Fatalf("enable BPF stats: %v", err)
	}
	defer stats.Close()
	const n = 500
	prog := func(p string) string { return p[len("uprobe_"):] }
	serverProgs := []string{prog(grpcserver.ProgEntry), prog(grpcserver.ProgStatus)}
	clientProgs := []string{prog(grpcclient.ProgEntry), prog(grpcclient.ProgReturn), prog(grpcclient.ProgStreamEntry),
		prog(grpcclient.ProgStreamReturn), prog(grpcclient.ProgStreamFinish), prog(grpcclientstream.ProgStream)}
	perRPC := map[string]float64{}
	// The probe set of traces.grpc on with client_streams (the default)
	// and without (no streaming client probe, whose finish unary RPCs pass
	// too), stitching off and on.
	for _, cfg := range []struct {
		stitch, streams bool
	}{{false, true}, {true, true}, {false, false}, {true, false}} {
		stitch := cfg.stitch
		tr, err := tracer.New(tracer.Options{RingBufferSize: 8 << 20, ExtractTraceContext: true, Stitch: stitch})
		if err != nil {
			b.Fatal(err)
		}
		cookie, err := tr.AddBinary(bin.Offsets)
		if err != nil {
			b.Fatal(err)
		}
		att, err := tr.Attach(pid, cookie, bin, tracer.Probes{grpcserver.Name: true, grpcclient.Name: true, grpcclient.StreamName: cfg.streams, grpcclientstream.Name: stitch})
		if err != nil {
			b.Fatal(err)
		}
		call := func() {
			args := []string{"-client", "-target", addr, "-n", strconv.Itoa(n), "-service", "call=" + addr + ";"}
			if out, err := exec.Command(exe, args...).CombinedOutput(); err != nil {
				b.Fatalf("grpcdemo %v: %v\n%s", args, err, out)
			}
		}
		call() // warm up: connections, goroutines
		_ = tr.Drain(time.Millisecond, func([]byte) {})
		s0, _ := tr.ProgramStats()
		call()
		s1, _ := tr.ProgramStats()
		_ = tr.Drain(300*time.Millisecond, func([]byte) {})
		mode := map[bool]string{false: "stitch-off", true: "stitch-on"}[stitch]
		if !cfg.streams {
			mode += "-nostreams"
		}
		for _, side := range []struct {
			name  string
			progs []string
			rpcs  int
		}{{"client", clientProgs, n}, {"server", serverProgs, 2 * n}} {
			var runs uint64
			var ns time.Duration
			for _, p := range side.progs {
				r, t := s1[p].RunCount-s0[p].RunCount, s1[p].Runtime-s0[p].Runtime
				runs += r
				ns += t
				if r > 0 {
					fmt.Printf("  %-10s %-26s %6d runs, %5.0f ns/run\n", mode, p, r, float64(t.Nanoseconds())/float64(r))
				}
			}
			hits, bpfNs := float64(runs)/float64(side.rpcs), float64(ns.Nanoseconds())/float64(side.rpcs)
			fmt.Printf("%-10s %-6s hits/RPC %.2f  BPF ns/RPC %.0f\n", mode, side.name, hits, bpfNs)
			b.ReportMetric(hits, "hits/RPC-"+side.name+"-"+mode)
			b.ReportMetric(bpfNs, "BPF-ns/RPC-"+side.name+"-"+mode)
			perRPC[side.name+"-"+mode] = bpfNs
		}
		att.Close()
		tr.Close()
	}
	for _, side := range []string{"client", "server"} {
		if off := perRPC[side+"-stitch-off"]; off > 0 {
			fmt.Printf("%s BPF ns/RPC stitch on / off: %.2fx\n", side, perRPC[side+"-stitch-on"]/off)
			b.ReportMetric(perRPC[side+"-stitch-on"]/off, "on/off-"+side)
			fmt.Printf("%s BPF ns/RPC client_streams off / on, stitch off: %.2fx, stitch on: %.2fx\n", side,
				perRPC[side+"-stitch-off-nostreams"]/off, perRPC[side+"-stitch-on-nostreams"]/perRPC[side+"-stitch-on"])
		}
	}
}
