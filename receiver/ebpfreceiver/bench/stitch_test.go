package bench

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"

	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/probes"
	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/probes/goroutines"
	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/probes/httpclient"
	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/probes/httpclientconn"
	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/probes/httpserver"
	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/tracer"
)

// BenchmarkStitch measures what stitching costs: probe hits and BPF time per
// /chain request of httpdemo (a served request whose handler calls the same
// server's /hello over a keep-alive HTTP/1.1 connection: 2 served requests
// and 1 client call), with traces.propagation.stitch off, on (both with
// traces.goroutine_ancestry: parent), and on with goroutine_ancestry: deep
// (the receiver's default), in alternating rounds of the same run,
// and how many of the inner requests' server spans were stitched to the
// client span. Run as root:
//
//	go test -run '^$' -bench Stitch -benchtime=1x ./receiver/ebpfreceiver/bench/
func BenchmarkStitch(b *testing.B) {
	requireRoot(b)
	pid, addr, bin := startTarget(b)
	base := "http://" + addr
	client := &http.Client{}
	stats, err := ebpf.EnableStats(uint32(unix.BPF_STATS_RUN_TIME))
	if err != nil {
		b.Fatalf("enable BPF stats: %v", err)
	}
	defer stats.Close()
	const n, rounds = 2000, 3
	type figures struct{ hits, clientHits, newprocHits, bpfNs, stitched float64 }
	type mode struct{ stitch, deep bool }
	off, on, deep := mode{}, mode{stitch: true}, mode{stitch: true, deep: true}
	got := map[mode][]figures{}
	for round := range rounds {
		for _, m := range []mode{off, on, deep} {
			stitch := m.stitch
			tr, err := tracer.New(tracer.Options{RingBufferSize: 8 << 20, ExtractTraceContext: true, ExtractB3: true, Stitch: stitch, DeepGoroutines: m.deep})
			if err != nil {
				b.Fatal(err)
			}
			cookie, err := tr.AddBinary(bin.Offsets)
			if err != nil {
				b.Fatal(err)
			}
			att, err := tr.Attach(pid, cookie, bin, tracer.Probes{httpserver.Name: true, httpclient.Name: true, httpclientconn.Name: stitch})
			if err != nil {
				b.Fatal(err)
			}
			var stitched, servers int
			drain := func() {
				_ = tr.Drain(100*time.Millisecond, func(raw []byte) {
					if ev, err := tracer.Decode(raw); err == nil {
						if se, ok := ev.(*httpserver.Event); ok && se.Path == "/hello" {
							servers++
							if se.Stitch == probes.StitchMatched {
								stitched++
							}
						}
					}
				})
			}
			for range 50 {
				get(b, client, base+"/chain")
			}
			drain()
			stitched, servers = 0, 0
			h0, _ := tr.Hits()
			s0, _ := tr.ProgramStats()
			for i := range n {
				get(b, client, base+"/chain")
				if i%500 == 499 {
					drain()
				}
			}
			h1, _ := tr.Hits()
			s1, _ := tr.ProgramStats()
			for range 5 {
				drain()
			}
			_ = att.Close()
			_ = tr.Close()
			var f figures
			for name := range h1 {
				f.hits += float64(h1[name] - h0[name])
			}
			f.clientHits = float64(h1[httpclient.ProgEntry]-h0[httpclient.ProgEntry]) + float64(h1[httpclient.ProgReturn]-h0[httpclient.ProgReturn]) +
				float64(h1[httpclientconn.ProgConn]-h0[httpclientconn.ProgConn])
			for name := range s1 {
				f.bpfNs += float64((s1[name].Runtime - s0[name].Runtime).Nanoseconds())
			}
			f.newprocHits = float64(h1[goroutines.ProgNewprocRunqput]-h0[goroutines.ProgNewprocRunqput]+h1[goroutines.ProgNewproc1Return]-h0[goroutines.ProgNewproc1Return]) / n
			f.hits /= n
			f.clientHits /= n
			f.bpfNs /= n
			f.stitched = float64(stitched) / float64(max(servers, 1))
			got[m] = append(got[m], f)
			fmt.Printf("round %d stitch=%-5t deep=%-5t hits/chain %.3f (goroutines probe %.3f) client hits/call %.3f bpf ns/chain %.0f inner server spans stitched %d/%d\n",
				round, stitch, m.deep, f.hits, f.newprocHits, f.clientHits, f.bpfNs, stitched, servers)
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
	clientHits := func(f figures) float64 { return f.clientHits }
	bpf := func(f figures) float64 { return f.bpfNs }
	b.ReportMetric(med(off, hits), "off-hits/chain-req")
	b.ReportMetric(med(on, hits), "on-hits/chain-req")
	b.ReportMetric(med(deep, hits), "deep-hits/chain-req")
	b.ReportMetric(med(off, clientHits), "off-hits/client-call")
	b.ReportMetric(med(on, clientHits), "on-hits/client-call")
	b.ReportMetric(med(off, bpf), "off-bpf-ns/chain-req")
	b.ReportMetric(med(on, bpf), "on-bpf-ns/chain-req")
	b.ReportMetric(med(deep, bpf), "deep-bpf-ns/chain-req")
	b.ReportMetric(med(on, bpf)/med(off, bpf), "bpf-ns-ratio-on/off")
	b.ReportMetric(med(deep, bpf)/med(on, bpf), "bpf-ns-ratio-deep/on")
	b.ReportMetric(med(on, func(f figures) float64 { return f.stitched }), "on-inner-stitched-fraction")
}
