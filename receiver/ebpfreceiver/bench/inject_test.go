package bench

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"

	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/goexe"
	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/inject"
	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/probes/httpclient"
	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/probes/httpclientconn"
	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/probes/httpserver"
	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/tracer"
)

// BenchmarkInject measures what traces.propagation.inject adds to a
// traced client call: probe hits and uprobe BPF time per /chain request of
// httpdemo (a served request whose handler calls the same server's /hello
// over a keep-alive HTTP/1.1 connection: 2 served requests, 1 client call),
// injection off and on, with stitching on (the default) and off, in
// alternating rounds of the same run (with stitching and injection off the
// http_client_conn probe is not attached, as in the receiver); with
// injection on, also the sk_msg program's runs and time
// per /chain and how many requests got their traceparent. With stitching
// on, injection off and on again with realistic request heads: /chainheads
// called with about 1 KiB of headers and a traceparent (realisticHeaders),
// which the handler forwards, all but the trace context, so the head the
// sk_msg program scans and extends is about 1 KiB too (/chain's are about
// 100 bytes). Each mode runs a
// fresh target in a cgroup of the benchmark's own (the sockops program is
// attached there), so its client connection is opened while tracked. Run as
// root:
//
//	go test -run '^$' -bench Inject -benchtime=1x ./receiver/ebpfreceiver/bench/
func BenchmarkInject(b *testing.B) {
	requireRoot(b)
	exe := filepath.Join(b.TempDir(), "httpdemo")
	build := exec.Command("go", "build", "-o", exe, "../../../integration/testdata/httpdemo")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		b.Fatalf("build httpdemo: %v\n%s", err, out)
	}
	ins, err := goexe.Inspect(exe)
	if err != nil {
		b.Fatal(err)
	}
	bin, err := tracer.ResolveBinary(ins)
	if err != nil {
		b.Fatal(err)
	}
	cg := benchCgroup(b)
	stats, err := ebpf.EnableStats(uint32(unix.BPF_STATS_RUN_TIME))
	if err != nil {
		b.Fatalf("enable BPF stats: %v", err)
	}
	defer stats.Close()

	const n, rounds = 2000, 3
	type figures struct{ hits, clientHits, bpfNs, msgRuns, msgNs, injected float64 }
	type mode struct{ inject, stitch, heads bool }
	modes := []mode{{false, true, false}, {true, true, false}, {false, false, false}, {true, false, false},
		{false, true, true}, {true, true, true}}
	heads := realisticHeaders(false)
	fmt.Printf("realistic heads: %d headers, %d bytes as header lines\n", len(heads), headBytes(heads))
	got := map[mode][]figures{}
	for round := range rounds {
		for _, m := range modes {
			on := m.inject
			var in *inject.Injector
			var pending, appContexts, liveConns *ebpf.Map
			if on {
				in, err = inject.Open(inject.Options{})
				if err != nil {
					b.Fatal(err)
				}
				if err := in.AttachCgroup(cg); err != nil {
					b.Fatal(err)
				}
				pending, appContexts, liveConns = in.PendingMap(), in.AppContextMap(), in.LiveConnsMap()
			}
			pid, addr, stop := startTargetInCgroup(b, exe, cg)
			if in != nil {
				if err := in.Track(pid); err != nil {
					b.Fatal(err)
				}
			}
			tr, err := tracer.New(tracer.Options{RingBufferSize: 8 << 20, ExtractTraceContext: true, ExtractB3: true, Stitch: m.stitch, InjectPending: pending, InjectAppContexts: appContexts, InjectLiveConns: liveConns})
			if err != nil {
				b.Fatal(err)
			}
			cookie, err := tr.AddBinary(bin.Offsets)
			if err != nil {
				b.Fatal(err)
			}
			att, err := tr.Attach(pid, cookie, bin, tracer.Probes{httpserver.Name: true, httpclient.Name: true, httpclientconn.Name: m.stitch || m.inject})
			if err != nil {
				b.Fatal(err)
			}
			client := &http.Client{}
			base := "http://" + addr
			drain := func() { _ = tr.Drain(100*time.Millisecond, func([]byte) {}) }
			chain := func() { get(b, client, base+"/chain") }
			if m.heads {
				chain = func() { getWithHeaders(b, client, base+"/chainheads", heads) }
			}
			for range 50 {
				chain()
			}
			drain()
			h0, _ := tr.Hits()
			s0, _ := tr.ProgramStats()
			var m0 ebpf.ProgramStats
			var c0 inject.Counters
			if in != nil {
				m0, _, _ = in.ProgramStats()
				c0, _ = in.Counters()
			}
			for i := range n {
				chain()
				if i%500 == 499 {
					drain()
				}
			}
			h1, _ := tr.Hits()
			s1, _ := tr.ProgramStats()
			var f figures
			if in != nil {
				m1, _, _ := in.ProgramStats()
				c1, _ := in.Counters()
				f.msgRuns = float64(m1.RunCount-m0.RunCount) / n
				f.msgNs = float64((m1.Runtime - m0.Runtime).Nanoseconds()) / n
				f.injected = float64(c1.Injected - c0.Injected)
			}
			drain()
			_ = att.Close()
			_ = tr.Close()
			stop()
			if in != nil {
				_ = in.Close()
			}
			for name := range h1 {
				f.hits += float64(h1[name] - h0[name])
			}
			f.clientHits = float64(h1[httpclient.ProgEntry]-h0[httpclient.ProgEntry]) + float64(h1[httpclient.ProgReturn]-h0[httpclient.ProgReturn]) +
				float64(h1[httpclientconn.ProgConn]-h0[httpclientconn.ProgConn])
			for name := range s1 {
				f.bpfNs += float64((s1[name].Runtime - s0[name].Runtime).Nanoseconds())
			}
			f.hits /= n
			f.clientHits /= n
			f.bpfNs /= n
			if on && f.injected != n {
				b.Fatalf("round %d: %v of %d inner requests injected", round, f.injected, n)
			}
			got[m] = append(got[m], f)
			fmt.Printf("round %d stitch=%-5t inject=%-5t heads=%-5t hits/chain %.3f client hits/call %.3f uprobe bpf ns/chain %.0f sk_msg runs/chain %.3f sk_msg ns/chain %.0f injected %v/%d\n",
				round, m.stitch, on, m.heads, f.hits, f.clientHits, f.bpfNs, f.msgRuns, f.msgNs, f.injected, n)
		}
	}
	med := func(m mode, pick func(figures) float64) float64 {
		var v []float64
		for _, f := range got[m] {
			v = append(v, pick(f))
		}
		return median(v)
	}
	hits := func(f figures) float64 { return f.hits }
	bpf := func(f figures) float64 { return f.bpfNs }
	clientHits := func(f figures) float64 { return f.clientHits }
	off, on := modes[0], modes[1]
	offNoStitch, onNoStitch := modes[2], modes[3]
	b.ReportMetric(med(off, hits), "off-hits/chain-req")
	b.ReportMetric(med(on, hits), "on-hits/chain-req")
	b.ReportMetric(med(off, clientHits), "off-hits/client-call")
	b.ReportMetric(med(on, clientHits), "on-hits/client-call")
	b.ReportMetric(med(offNoStitch, clientHits), "nostitch-off-hits/client-call")
	b.ReportMetric(med(onNoStitch, clientHits), "nostitch-on-hits/client-call")
	b.ReportMetric(med(off, bpf), "off-uprobe-bpf-ns/chain-req")
	b.ReportMetric(med(on, bpf), "on-uprobe-bpf-ns/chain-req")
	b.ReportMetric(med(on, bpf)/med(off, bpf), "uprobe-bpf-ns-ratio-on/off")
	b.ReportMetric(med(onNoStitch, bpf)/med(offNoStitch, bpf), "nostitch-uprobe-bpf-ns-ratio-on/off")
	b.ReportMetric(med(on, func(f figures) float64 { return f.msgRuns }), "on-skmsg-runs/chain-req")
	b.ReportMetric(med(on, func(f figures) float64 { return f.msgNs }), "on-skmsg-ns/chain-req")

	// Realistic heads, stitching on: hits per request must not change
	// with the head's size; the sk_msg program scans ~1 KiB instead of
	// ~100 bytes.
	offHeads, onHeads := modes[4], modes[5]
	msgNsPerWrite := func(f figures) float64 {
		if f.msgRuns == 0 {
			return 0
		}
		return f.msgNs / f.msgRuns
	}
	fmt.Printf("heads ~100 B vs ~1 KiB (stitch on): hits/chain off %.3f vs %.3f, on %.3f vs %.3f; uprobe BPF ns/chain off %.0f vs %.0f (%.2fx), on %.0f vs %.0f (%.2fx); sk_msg ns/write %.0f vs %.0f (%.2fx)\n",
		med(off, hits), med(offHeads, hits), med(on, hits), med(onHeads, hits),
		med(off, bpf), med(offHeads, bpf), med(offHeads, bpf)/med(off, bpf),
		med(on, bpf), med(onHeads, bpf), med(onHeads, bpf)/med(on, bpf),
		med(on, msgNsPerWrite), med(onHeads, msgNsPerWrite), med(onHeads, msgNsPerWrite)/med(on, msgNsPerWrite))
	b.ReportMetric(med(offHeads, hits), "1k-off-hits/chain-req")
	b.ReportMetric(med(onHeads, hits), "1k-on-hits/chain-req")
	b.ReportMetric(med(offHeads, bpf), "1k-off-uprobe-bpf-ns/chain-req")
	b.ReportMetric(med(onHeads, bpf), "1k-on-uprobe-bpf-ns/chain-req")
	b.ReportMetric(med(onHeads, bpf)/med(offHeads, bpf), "1k-uprobe-bpf-ns-ratio-on/off")
	b.ReportMetric(med(on, msgNsPerWrite), "on-skmsg-ns/write")
	b.ReportMetric(med(onHeads, msgNsPerWrite), "1k-on-skmsg-ns/write")
	b.ReportMetric(med(onHeads, msgNsPerWrite)/med(on, msgNsPerWrite), "skmsg-ns/write-ratio-1k/small")
}

// getWithHeaders GETs url with the given headers.
func getWithHeaders(b *testing.B, c *http.Client, url string, h [][2]string) {
	req, err := http.NewRequest("GET", url, nil)
	if err != nil {
		b.Fatal(err)
	}
	for _, kv := range h {
		req.Header.Set(kv[0], kv[1])
	}
	resp, err := c.Do(req)
	if err != nil {
		b.Fatalf("GET %s: %v", url, err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b.Fatalf("GET %s: status %d", url, resp.StatusCode)
	}
}

// benchCgroup makes a cgroup v2 directory of the benchmark's own.
func benchCgroup(b *testing.B) string {
	b.Helper()
	raw, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		b.Fatal(err)
	}
	for _, line := range strings.Split(string(raw), "\n") {
		pre, post, ok := strings.Cut(line, " - ")
		if f := strings.Fields(pre); ok && strings.HasPrefix(post, "cgroup2 ") && len(f) >= 5 {
			dir := filepath.Join(f[4], fmt.Sprintf("goebpf-bench-%d", os.Getpid()))
			if err := os.Mkdir(dir, 0o755); err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() {
				for i := 0; os.Remove(dir) != nil && i < 500; i++ {
					time.Sleep(20 * time.Millisecond)
				}
			})
			return dir
		}
	}
	b.Fatal("no cgroup v2 hierarchy mounted")
	return ""
}

// startTargetInCgroup runs httpdemo (GOMAXPROCS=1) inside cgroup dir and
// returns its pid, address and a function that stops it.
func startTargetInCgroup(b *testing.B, exe, dir string) (int, string, func()) {
	b.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	f, err := os.Open(dir)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	target := exec.Command(exe, "-addr", addr)
	target.Env = append(os.Environ(), "GOMAXPROCS=1")
	target.SysProcAttr = &syscall.SysProcAttr{UseCgroupFD: true, CgroupFD: int(f.Fd())}
	if err := target.Start(); err != nil {
		b.Fatal(err)
	}
	stop := func() { _ = target.Process.Kill(); _ = target.Wait() }
	b.Cleanup(stop)
	waitListening(b, "target", addr)
	return target.Process.Pid, addr, stop
}
