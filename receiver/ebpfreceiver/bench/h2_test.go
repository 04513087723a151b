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
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"

	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/goexe"
	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/probes/goroutines"
	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/probes/h2server"
	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/probes/h2xnet"
	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/probes/h2xnetclient"
	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/probes/httpclient"
	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/probes/httpserver"
	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/tracer"
)

// h2Header is a realistic request header set of about 1 KiB (as sent, in
// HTTP/1.1 text), the traceparent among the last fields when with is set.
func h2Header(with bool) http.Header {
	h := http.Header{}
	h.Set("User-Agent", "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36")
	h.Set("Accept", "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8")
	h.Set("Accept-Language", "en-US,en;q=0.9,fr;q=0.8")
	h.Set("Cookie", "session="+strings.Repeat("c", 300)+"; theme=dark; consent=yes")
	h.Set("Authorization", "Bearer "+strings.Repeat("t", 200))
	h.Set("X-Request-Id", "3f2a4b6c-8d9e-4f01-a2b3-c4d5e6f70819")
	h.Set("X-Forwarded-For", "203.0.113.7, 198.51.100.23")
	if with {
		h.Set("Traceparent", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")
	}
	return h
}

// BenchmarkH2Probes reports probe hits and BPF run time per request served
// by net/http's bundled HTTP/2 server (h2c with prior knowledge, one
// connection) with a ~1 KiB header block, with and without a traceparent,
// per HTTP/1.1 request with the same headers in the same run as the
// baseline, per request served by golang.org/x/net/http2's h2c, and per
// call a handler makes with x/net's own Transport (client programs only).
// The requests come from this (untraced) process. Everything is measured
// twice in one run: with traces.goroutine_ancestry: parent (no
// goroutines probe on this Go) and deep (the receiver's default: the
// goroutines probe on newproc.func1's call of runqput, its hits counted
// with the server's; metrics end in "-deep"). net/http's client probe is
// attached to h2demo too, as the receiver does (it is what makes the
// goroutines probe needed there). Run as root:
//
//	go test -run '^$' -bench H2Probes -benchtime=1x ./receiver/ebpfreceiver/bench/
func BenchmarkH2Probes(b *testing.B) {
	requireRoot(b)
	pid, addr, bin := startH2Target(b, "h2demo")
	xpid, xaddr, xbin := startH2Target(b, "h2xnet")
	stats, err := ebpf.EnableStats(uint32(unix.BPF_STATS_RUN_TIME))
	if err != nil {
		b.Fatalf("enable BPF stats: %v", err)
	}
	defer stats.Close()
	h1 := &http.Client{}
	h2tr := &http.Transport{}
	h2tr.Protocols = new(http.Protocols)
	h2tr.Protocols.SetUnencryptedHTTP2(true)
	h2 := &http.Client{Transport: h2tr}
	defer h2.CloseIdleConnections()
	defer h1.CloseIdleConnections()

	const n = 2000
	server := []string{httpserver.ProgEntry, httpserver.ProgReturn, h2server.ProgHeaders, h2xnet.ProgEntry, h2xnet.ProgReturn, h2xnet.ProgHeaders, goroutines.ProgNewprocRunqput, goroutines.ProgNewproc1Return}
	client := []string{h2xnetclient.ProgEntry, h2xnetclient.ProgReturn}
	for _, deep := range []bool{false, true} {
		suffix := map[bool]string{false: "", true: "-deep"}[deep]
		fmt.Printf("goroutine_ancestry: %s\n", map[bool]string{false: "parent", true: "deep"}[deep])
		tr, err := tracer.New(tracer.Options{RingBufferSize: 8 << 20, ExtractTraceContext: true, ExtractB3: true, DeepGoroutines: deep})
		if err != nil {
			b.Fatal(err)
		}
		cookie, err := tr.AddBinary(bin.Offsets)
		if err != nil {
			b.Fatal(err)
		}
		att, err := tr.Attach(pid, cookie, bin, tracer.Probes{httpserver.Name: true, h2server.Name: true, httpclient.Name: true})
		if err != nil {
			b.Fatal(err)
		}
		xcookie, err := tr.AddBinary(xbin.Offsets)
		if err != nil {
			b.Fatal(err)
		}
		xatt, err := tr.Attach(xpid, xcookie, xbin, tracer.Probes{httpserver.Name: true, h2server.Name: true, h2xnet.Name: true, h2xnetclient.Name: true})
		if err != nil {
			b.Fatal(err)
		}
		h2Cases(b, tr, n, suffix, server, client, addr, xaddr, h1, h2)
		_ = xatt.Close()
		_ = att.Close()
		_ = tr.Close()
	}
}

// h2Cases runs BenchmarkH2Probes's cases with tracer tr attached, metrics
// named with suffix.
func h2Cases(b *testing.B, tr *tracer.Tracer, n int, suffix string, server, client []string, addr, xaddr string, h1, h2 *http.Client) {
	for _, tc := range []struct {
		name, unit string
		addr, path string
		c          *http.Client
		proto      int
		tp         bool
		progs      []string
	}{
		{"HTTP/1.1, no traceparent", "h1", addr, "/hello", h1, 1, false, server},
		{"HTTP/1.1, traceparent", "h1-tp", addr, "/hello", h1, 1, true, server},
		{"HTTP/2, no traceparent", "h2", addr, "/hello", h2, 2, false, server},
		{"HTTP/2, traceparent", "h2-tp", addr, "/hello", h2, 2, true, server},
		{"x/net h2c, traceparent", "xnet-tp", xaddr, "/hello", h2, 2, true, server},
		// The CLIENT span of the x/net Transport call a handler makes.
		{"x/net client", "xnet-client", xaddr, "/chainxnet?to=/hello", h2, 2, false, client},
	} {
		req := func() {
			r, err := http.NewRequest(http.MethodGet, "http://"+tc.addr+tc.path, nil)
			if err != nil {
				b.Fatal(err)
			}
			r.Header = h2Header(tc.tp)
			resp, err := tc.c.Do(r)
			if err != nil {
				b.Fatal(err)
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.ProtoMajor != tc.proto {
				b.Fatalf("%s: HTTP/%d", tc.name, resp.ProtoMajor)
			}
		}
		for range 50 {
			req()
		}
		_ = tr.Drain(time.Millisecond, func([]byte) {})
		h0, _ := tr.Hits()
		s0, _ := tr.ProgramStats()
		for range n {
			req()
		}
		h1, _ := tr.Hits()
		s1, _ := tr.ProgramStats()
		events := 0
		_ = tr.Drain(300*time.Millisecond, func([]byte) { events++ })
		var hits uint64
		var ns time.Duration
		for _, p := range tc.progs {
			hits += h1[p] - h0[p]
			st := strings.TrimPrefix(p, "uprobe_")
			r, t := s1[st].RunCount-s0[st].RunCount, s1[st].Runtime-s0[st].Runtime
			ns += t
			if r > 0 {
				fmt.Printf("  %-20s %6d runs, %5.0f ns/run\n", st, r, float64(t.Nanoseconds())/float64(r))
			}
		}
		fmt.Printf("%-24s hits/req %.2f  BPF ns/req %.0f  events %d for %d requests\n", tc.name, float64(hits)/float64(n), float64(ns.Nanoseconds())/float64(n), events, n)
		b.ReportMetric(float64(hits)/float64(n), "hits/req-"+tc.unit+suffix)
		b.ReportMetric(float64(ns.Nanoseconds())/float64(n), "BPF-ns/req-"+tc.unit+suffix)
	}
}

// startH2Target builds integration/testdata/<name> (h2demo: net/http's
// h2c and HTTP/1.1 on one listener; h2xnet: golang.org/x/net/http2's h2c),
// runs it on a port of its own and resolves its probe sites.
func startH2Target(b *testing.B, name string) (pid int, addr string, bin tracer.Binary) {
	b.Helper()
	exe := filepath.Join(b.TempDir(), name)
	build := exec.Command("go", "build", "-o", exe, "../../../integration/testdata/"+name)
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		b.Fatalf("build %s: %v\n%s", name, err, out)
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
	waitListening(b, name, addr)
	x, err := goexe.Inspect(exe)
	if err != nil {
		b.Fatal(err)
	}
	if bin, err = tracer.ResolveBinary(x); err != nil {
		b.Fatal(err)
	}
	return cmd.Process.Pid, addr, bin
}
