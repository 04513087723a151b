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
	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/probes"
	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/probes/h2server"
	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/probes/httpclient"
	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/probes/httpclientconn"
	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/probes/httpclienth2"
	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/probes/httpserver"
	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/tracer"
)

// BenchmarkStitchH2 measures what stitching over HTTP/2 costs: probe hits
// and BPF time per /work request of integration/testdata/h2frontback (front
// serves it over HTTP/1.1 and calls back's /api twice over HTTP/2, from the
// handler and from a goroutine, on one connection; back serves both over
// HTTP/2, each calling back's own /leaf over HTTP/2: 4 HTTP/2 client calls
// and 4 HTTP/2 requests served per /work), over h2c and TLS, with traces.propagation.stitch off and on in
// alternating rounds of the same run; hits per HTTP/2 client call and per
// HTTP/2 request served, and how many of back's server spans were stitched
// to front's client spans. Run as root:
//
//	go test -run '^$' -bench StitchH2 -benchtime=1x ./receiver/ebpfreceiver/bench/
func BenchmarkStitchH2(b *testing.B) {
	requireRoot(b)
	exe := filepath.Join(b.TempDir(), "h2frontback")
	build := exec.Command("go", "build", "-o", exe, "../../../integration/testdata/h2frontback")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		b.Fatalf("build h2frontback: %v\n%s", err, out)
	}
	x, err := goexe.Inspect(exe)
	if err != nil {
		b.Fatal(err)
	}
	bin, err := tracer.ResolveBinary(x)
	if err != nil {
		b.Fatal(err)
	}
	stats, err := ebpf.EnableStats(uint32(unix.BPF_STATS_RUN_TIME))
	if err != nil {
		b.Fatalf("enable BPF stats: %v", err)
	}
	defer stats.Close()
	client := &http.Client{}
	defer client.CloseIdleConnections()

	const n, rounds = 1000, 3
	type figures struct{ hits, clientHits, serverHits, bpfNs, stitched float64 }
	for _, transport := range []string{"h2c", "tls"} {
		backAddr, frontAddr := freeAddr(b), freeAddr(b)
		scheme := map[string]string{"h2c": "http", "tls": "https"}[transport]
		back := startProcess(b, exe, "back", backAddr, transport)
		front := startProcess(b, exe, "front", frontAddr, scheme+"://"+backAddr)
		base := "http://" + frontAddr
		got := map[bool][]figures{}
		for round := range rounds {
			for _, stitch := range []bool{false, true} {
				tr, err := tracer.New(tracer.Options{RingBufferSize: 8 << 20, ExtractTraceContext: true, ExtractB3: true, Stitch: stitch})
				if err != nil {
					b.Fatal(err)
				}
				cookie, err := tr.AddBinary(bin.Offsets)
				if err != nil {
					b.Fatal(err)
				}
				// What the receiver attaches with its default config
				// (probes.go), stitching on or off.
				sel := tracer.Probes{httpserver.Name: true, h2server.Name: true, httpclient.Name: true,
					httpclientconn.Name: stitch, httpclienth2.Name: stitch}
				var atts []*tracer.Attachment
				for _, pid := range []int{front, back} {
					att, err := tr.Attach(pid, cookie, bin, sel)
					if err != nil {
						b.Fatal(err)
					}
					atts = append(atts, att)
				}
				var stitched, servers int
				var clients [3]int // by probes.Stitch
				drain := func() {
					_ = tr.Drain(100*time.Millisecond, func(raw []byte) {
						ev, err := tracer.Decode(raw)
						if err != nil {
							return
						}
						if se, ok := ev.(*httpserver.Event); ok && (se.Path == "/api" || se.Path == "/leaf") {
							servers++
							if se.Stitch == probes.StitchMatched {
								stitched++
							}
						}
						if ce, ok := ev.(*httpclient.Event); ok && int(ce.Stitch) < len(clients) {
							clients[ce.Stitch]++
						}
					})
				}
				for range 50 {
					getWork(b, client, base+"/work")
				}
				drain()
				stitched, servers, clients = 0, 0, [3]int{}
				h0, _ := tr.Hits()
				s0, _ := tr.ProgramStats()
				for i := range n {
					getWork(b, client, base+"/work")
					if i%250 == 249 {
						drain()
					}
				}
				h1, _ := tr.Hits()
				s1, _ := tr.ProgramStats()
				for range 5 {
					drain()
				}
				for _, att := range atts {
					_ = att.Close()
				}
				_ = tr.Close()
				d := func(p string) float64 { return float64(h1[p] - h0[p]) }
				var f figures
				for name := range h1 {
					f.hits += float64(h1[name] - h0[name])
				}
				for name := range s1 {
					f.bpfNs += float64((s1[name].Runtime - s0[name].Runtime).Nanoseconds())
				}
				// 4 HTTP/2 calls per /work: the client probe's entry and
				// RET and, with stitching, the stream probe.
				f.clientHits = (d(httpclient.ProgEntry) + d(httpclient.ProgReturn) + d(httpclienth2.ProgStream)) / (4 * n)
				// ServeHTTP runs for front's HTTP/1.1 /work (2 hits)
				// and back's 4 HTTP/2 requests; newWriterAndRequest
				// for back's only.
				f.serverHits = (d(httpserver.ProgEntry) + d(httpserver.ProgReturn) - 2*n + d(h2server.ProgHeaders)) / (4 * n)
				f.hits /= n
				f.bpfNs /= n
				f.stitched = float64(stitched) / float64(max(servers, 1))
				got[stitch] = append(got[stitch], f)
				var per []string
				for _, p := range []string{httpserver.ProgEntry, httpserver.ProgReturn, h2server.ProgHeaders, httpclient.ProgEntry, httpclient.ProgReturn, httpclienth2.ProgStream} {
					st := strings.TrimPrefix(p, "uprobe_")
					if r := s1[st].RunCount - s0[st].RunCount; r > 0 {
						per = append(per, fmt.Sprintf("%s %.0f", st, float64((s1[st].Runtime-s0[st].Runtime).Nanoseconds())/float64(r)))
					}
				}
				fmt.Printf("  ns/run: %s\n", strings.Join(per, ", "))
				fmt.Printf("%s round %d stitch=%-5t hits/work %.3f hits/h2-call %.3f hits/h2-served %.3f bpf ns/work %.0f back spans stitched %d/%d (client spans: %d matched, %d unmatched, %d not recorded)\n",
					transport, round, stitch, f.hits, f.clientHits, f.serverHits, f.bpfNs, stitched, servers,
					clients[probes.StitchMatched], clients[probes.StitchUnmatched], clients[probes.StitchNone])
			}
		}
		med := func(stitch bool, pick func(figures) float64) float64 {
			var v []float64
			for _, f := range got[stitch] {
				v = append(v, pick(f))
			}
			return median(v)
		}
		for _, stitch := range []bool{false, true} {
			m := map[bool]string{false: "off", true: "on"}[stitch]
			b.ReportMetric(med(stitch, func(f figures) float64 { return f.hits }), transport+"-"+m+"-hits/work")
			b.ReportMetric(med(stitch, func(f figures) float64 { return f.clientHits }), transport+"-"+m+"-hits/h2-call")
			b.ReportMetric(med(stitch, func(f figures) float64 { return f.serverHits }), transport+"-"+m+"-hits/h2-served")
			b.ReportMetric(med(stitch, func(f figures) float64 { return f.bpfNs }), transport+"-"+m+"-bpf-ns/work")
		}
		bpf := func(f figures) float64 { return f.bpfNs }
		b.ReportMetric(med(true, bpf)/med(false, bpf), transport+"-bpf-ns-ratio-on/off")
		b.ReportMetric(med(true, func(f figures) float64 { return f.stitched }), transport+"-on-back-stitched-fraction")
	}
}

// getWork sends one request to front's /work and fails unless the whole
// chain answered.
func getWork(b *testing.B, c *http.Client, url string) {
	resp, err := c.Get(url)
	if err != nil {
		b.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b.Fatalf("%s: %d %s", url, resp.StatusCode, strings.TrimSpace(string(body)))
	}
}

// startProcess runs exe with args (args[1] is the address it listens on)
// and returns its pid once it listens.
func startProcess(b *testing.B, exe string, args ...string) int {
	cmd := exec.Command(exe, args...)
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if c, err := net.Dial("tcp", args[1]); err == nil {
			c.Close()
			return cmd.Process.Pid
		}
		if time.Now().After(deadline) {
			b.Fatalf("%s did not listen on %s", exe, args[1])
		}
	}
}
