package bench

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"

	"github.com/otelcol-goebpf/otelcol-goebpf/internal/testutil/redis"
	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/goexe"
	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/probes/httpserver"
	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/probes/redisclient"
	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/tracer"
)

// startRedisTarget runs redisdemo built for d against srv; the process is
// killed at cleanup.
func startRedisTarget(b *testing.B, d redis.Demo, srv *redis.Server) (pid int, base string, bin tracer.Binary) {
	b.Helper()
	exe := redis.BuildDemo(b, "../../../integration/testdata/redisdemo", d)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	cmd := exec.Command(exe, "-addr", addr, "-redis", srv.Addr)
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	waitListening(b, "redisdemo", addr)
	x, err := goexe.Inspect(exe)
	if err != nil {
		b.Fatal(err)
	}
	if bin, err = tracer.ResolveBinary(x); err != nil {
		b.Fatal(err)
	}
	return cmd.Process.Pid, "http://" + addr, bin
}

// BenchmarkRedisProbe reports, for go-redis v9 (newest) and v8, probe hits
// and BPF run time per command (GETs a handler sends one after the other)
// and per pipeline of 1 and of 100 GETs, and the handler's wall time per
// command untraced and traced (same run, same redis-server).
func BenchmarkRedisProbe(b *testing.B) {
	requireRoot(b)
	for _, d := range []redis.Demo{redis.Demos[0], redis.Demos[2]} {
		b.Run(d.Name(), func(b *testing.B) { benchmarkRedisProbe(b, d) })
	}
}

func benchmarkRedisProbe(b *testing.B, d redis.Demo) {
	srv := redis.Start(b)
	pid, base, bin := startRedisTarget(b, d, srv)
	probe := redisclient.Name
	if d.Module == redis.ModuleV8 {
		probe = redisclient.V8Name
	}
	c := &http.Client{Timeout: 30 * time.Second}
	defer c.CloseIdleConnections()
	get := func(path string) {
		resp, err := c.Get(base + path)
		if err != nil {
			b.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			b.Fatalf("GET %s: %s %s", path, resp.Status, body)
		}
	}
	const commands, rounds = 2000, 3
	// Wall time of one handler doing the commands.
	wall := func() time.Duration {
		start := time.Now()
		get(fmt.Sprintf("/cmd?n=%d", commands))
		return time.Since(start)
	}
	get("/cmd?n=100") // warm up

	stats, err := ebpf.EnableStats(uint32(unix.BPF_STATS_RUN_TIME))
	if err != nil {
		b.Fatalf("enable BPF stats: %v", err)
	}
	defer stats.Close()
	tr, err := tracer.New(tracer.Options{RingBufferSize: 8 << 20, ExtractTraceContext: true})
	if err != nil {
		b.Fatal(err)
	}
	defer tr.Close()
	cookie, err := tr.AddBinary(bin.Offsets)
	if err != nil {
		b.Fatal(err)
	}
	attach := func() *tracer.Attachment {
		att, err := tr.Attach(pid, cookie, bin, tracer.Probes{httpserver.Name: true, probe: true})
		if err != nil {
			b.Fatal(err)
		}
		return att
	}
	var progs []string
	seen := map[string]bool{}
	for _, s := range bin.Sites[probe] {
		for _, p := range []string{s.Uprobe.Entry, s.Uprobe.Return} {
			if p = strings.TrimPrefix(p, "uprobe_"); p != "" && !seen[p] {
				seen[p] = true
				progs = append(progs, p)
			}
		}
	}

	// measure runs fn and returns the Redis programs' runs and run time.
	measure := func(fn func()) (uint64, time.Duration, int) {
		_ = tr.Drain(time.Millisecond, func([]byte) {})
		s0, _ := tr.ProgramStats()
		fn()
		s1, _ := tr.ProgramStats()
		events := 0
		_ = tr.Drain(300*time.Millisecond, func([]byte) { events++ })
		var runs uint64
		var ns time.Duration
		for _, p := range progs {
			runs += s1[p].RunCount - s0[p].RunCount
			ns += s1[p].Runtime - s0[p].Runtime
		}
		return runs, ns, events
	}

	// Untraced and traced rounds alternate (probes attached, then
	// detached); the best round of each is kept.
	untraced, traced := time.Duration(1<<62), time.Duration(1<<62)
	var runs uint64
	var ns time.Duration
	events := 0
	for range rounds {
		if el := wall(); el < untraced {
			untraced = el
		}
		att := attach()
		get("/cmd?n=100") // warm up, traced
		r, t, e := measure(func() {
			if el := wall(); el < traced {
				traced = el
			}
		})
		runs, ns, events = runs+r, ns+t, events+e
		att.Close()
	}
	perCmd := float64(rounds * commands)
	fmt.Printf("%s commands: hits/command %.2f  BPF ns/command %.0f  events %d for %d commands\n", d.Name(), float64(runs)/perCmd, float64(ns.Nanoseconds())/perCmd, events, rounds*commands)
	fmt.Printf("%s handler wall time per command (best of %d): untraced %.0f ns, traced %.0f ns, ratio %.2f\n", d.Name(), rounds,
		float64(untraced.Nanoseconds())/commands, float64(traced.Nanoseconds())/commands, float64(traced)/float64(untraced))
	b.ReportMetric(float64(runs)/perCmd, "hits/command")
	b.ReportMetric(float64(ns.Nanoseconds())/perCmd, "BPF-ns/command")
	b.ReportMetric(float64(traced)/float64(untraced), "wall-traced/untraced")

	att := attach()
	defer att.Close()
	const pipelines = 200
	var perPipe [2]float64
	for i, size := range []int{1, 100} {
		get(fmt.Sprintf("/pipe?size=%d", size))
		runs, ns, events := measure(func() {
			for range pipelines {
				get(fmt.Sprintf("/pipe?size=%d", size))
			}
		})
		perPipe[i] = float64(ns.Nanoseconds()) / pipelines
		fmt.Printf("%s pipeline of %3d: hits/pipeline %.2f  BPF ns/pipeline %.0f  events %d for %d pipelines\n", d.Name(), size, float64(runs)/pipelines, perPipe[i], events, pipelines)
		b.ReportMetric(float64(runs)/pipelines, fmt.Sprintf("hits/pipeline-%d", size))
		b.ReportMetric(perPipe[i], fmt.Sprintf("BPF-ns/pipeline-%d", size))
	}
	fmt.Printf("%s BPF ns per pipeline, 100 vs 1: ratio %.2f\n", d.Name(), perPipe[1]/perPipe[0])
	b.ReportMetric(perPipe[1]/perPipe[0], "BPF-ns-pipeline-100/1")
}
