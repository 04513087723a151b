package bench

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"

	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/probes/httpserver"
	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/tracer"
)

// requestHead builds a GET request head of exactly size bytes (request
// line, Host, padding headers of ~60 bytes, the blank line) with a
// traceparent header at where: "none", "start" (first header), "middle" or
// "end" (last header).
func requestHead(size int, where, traceparent string) string {
	const line, host = "GET /hello HTTP/1.1\r\n", "Host: 127.0.0.1\r\n"
	tp := "traceparent: " + traceparent + "\r\n"
	fixed := len(line) + len(host) + len("\r\n")
	if where != "none" {
		fixed += len(tp)
	}
	var pads []string
	for left := size - fixed; left > 0; {
		n := min(60, left)
		if left-n > 0 && left-n < 16 { // no header shorter than "X-Pad-00: a\r\n"
			n = left - 16
		}
		name := fmt.Sprintf("X-Pad-%02d: ", len(pads))
		pads = append(pads, name+strings.Repeat("a", n-len(name)-2)+"\r\n")
		left -= n
	}
	switch where {
	case "start":
		pads = append([]string{tp}, pads...)
	case "middle":
		pads = append(pads[:len(pads)/2], append([]string{tp}, pads[len(pads)/2:]...)...)
	case "end":
		pads = append(pads, tp)
	}
	return line + host + strings.Join(pads, "") + "\r\n"
}

func TestRequestHeadSizes(t *testing.T) {
	for _, size := range []int{512, 1024, 2048, 4000} {
		for _, where := range []string{"none", "start", "middle", "end"} {
			h := requestHead(size, where, "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")
			if len(h) != size {
				t.Errorf("%d/%s: %d bytes", size, where, len(h))
			}
			if where != "none" && !strings.Contains(h, "\r\ntraceparent: 00-") {
				t.Errorf("%d/%s: no traceparent line", size, where)
			}
		}
	}
}

// BenchmarkHeadScan measures what the server entry probe (the traceparent
// scan of the request head) costs per request for request heads of 0.5, 1,
// 2 and 4 KiB (4000 bytes: net/http's read buffer is 4096), with no
// traceparent or one as the first, middle or last header. Figures: the
// kernel's BPF run time of the entry program per run (bpf_stats), and
// whether the parent was found. The baseline in the same run is the 0.5 KiB
// head without traceparent; ratio = case / baseline.
//
//	go test -run '^$' -bench HeadScan -benchtime=1x ./receiver/ebpfreceiver/bench/
func BenchmarkHeadScan(b *testing.B) {
	requireRoot(b)
	pid, addr, bin := startTarget(b)
	stats, err := ebpf.EnableStats(uint32(unix.BPF_STATS_RUN_TIME))
	if err != nil {
		b.Fatalf("enable BPF stats: %v", err)
	}
	defer stats.Close()
	tr, err := tracer.New(tracer.Options{RingBufferSize: 8 << 20, ExtractTraceContext: true, ExtractB3: true, CaptureQuery: true})
	if err != nil {
		b.Fatal(err)
	}
	defer tr.Close()
	cookie, err := tr.AddBinary(bin.Offsets)
	if err != nil {
		b.Fatal(err)
	}
	att, err := tr.Attach(pid, cookie, bin, tracer.Probes{httpserver.Name: true})
	if err != nil {
		b.Fatal(err)
	}
	defer att.Close()

	conn, err := net.Dial("tcp", addr)
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close()
	br := bufio.NewReader(conn)
	send := func(head string) {
		if _, err := io.WriteString(conn, head); err != nil {
			b.Fatal(err)
		}
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			b.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	const n = 400
	const traceID = "0af7651916cd43dd8448eb211c80319c"
	var base float64
	fmt.Printf("%-6s %-7s %12s %8s %s\n", "head", "tp", "entry ns/run", "ratio", "parent found")
	for _, size := range []int{512, 1024, 2048, 4000} {
		for _, where := range []string{"none", "start", "middle", "end"} {
			head := requestHead(size, where, "00-"+traceID+"-b7ad6b7169203331-01")
			for range 20 {
				send(head)
			}
			_ = tr.Drain(time.Millisecond, func([]byte) {})
			s0, _ := tr.ProgramStats()
			for range n {
				send(head)
			}
			s1, _ := tr.ProgramStats()
			found, events := 0, 0
			_ = tr.Drain(300*time.Millisecond, func(raw []byte) {
				ev, err := tracer.Decode(raw)
				if se, ok := ev.(*httpserver.Event); ok && err == nil {
					events++
					if se.IDs.HasParent && fmt.Sprintf("%x", se.IDs.TraceID) == traceID {
						found++
					}
				}
			})
			runs := s1["server_entry"].RunCount - s0["server_entry"].RunCount
			ns := float64((s1["server_entry"].Runtime - s0["server_entry"].Runtime).Nanoseconds()) / float64(runs)
			if base == 0 {
				base = ns
			}
			fmt.Printf("%-6d %-7s %12.0f %8.2f %d/%d\n", size, where, ns, ns/base, found, events)
			label := fmt.Sprintf("%s-%s", map[int]string{512: "0.5KiB", 1024: "1KiB", 2048: "2KiB", 4000: "4KiB"}[size], where)
			b.ReportMetric(ns, "entry-ns/"+label)
			want := events
			if where == "none" {
				want = 0
			}
			if events == 0 || found != want {
				b.Errorf("%s: parent found in %d of %d spans", label, found, events)
			}
		}
	}
}
