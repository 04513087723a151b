package tracer

import (
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/otelcol-goebpf/otelcol-goebpf/internal/testutil/prereq"
	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/probes"
	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/probes/grpcclient"
	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/probes/grpcclientstream"
	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/probes/grpcserver"
)

// Client-streaming (Upload) and bidirectional (Chat) RPCs cost the same
// probe hits whatever the number of messages: a stream the grpcdemo
// handler opens on its own server with 1 message and with 50 hits, on the
// server, handleStream and writeStatus once each per RPC (the Check that
// asks for the stream and the stream), and on the client NewStream's entry
// and return and the transport's NewStream return once, the stream's
// finish 2 to 4 times (its end, grpc's context watcher, and a stack growth
// in finish's prologue re-entering it); and no other program runs per
// message. A cancelled stream costs one writeStatus hit more: the server's
// failed read (CANCELLED) makes grpc's serverStream.RecvMsg call
// writeStatus itself, which ends the span with that code (what grpc
// writes; the stream is already done, so nothing reaches the wire), and
// the handler's status, written after it, finds no span. One CLIENT and one SERVER event per stream, the server's
// stitched under the client's, with its method and code. grpc-go v1.33.2
// and v1.85.0, stripped.
func TestGRPCStreamingHits(t *testing.T) {
	prereq.RequireRoot(t, "the gRPC probes")
	for _, v := range []struct{ version, serverProbe string }{
		{"v1.33.2", grpcserver.LegacyName},
		{"v1.85.0", grpcserver.Name},
	} {
		t.Run(v.version+"-stripped", func(t *testing.T) {
			testGRPCStreamingHits(t, buildGRPCDemoStripped(t, v.version), v.serverProbe)
		})
	}
}

func testGRPCStreamingHits(t *testing.T, exe, serverProbe string) {
	pid, addr := runServer(t, exe, func(addr string) []string { return []string{"-addr", addr} })
	_, bin := resolveServer(t, exe)
	selected := Probes{serverProbe: true, grpcclient.Name: true, grpcclient.StreamName: true, grpcclientstream.Name: true}
	for name := range selected {
		if err := bin.Unusable[name]; err != nil {
			t.Fatalf("%s unusable: %v", name, err)
		}
	}
	tr, err := New(Options{RingBufferSize: 1 << 20, ExtractTraceContext: true, Stitch: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tr.Close() })
	cookie, err := tr.AddBinary(bin.Offsets)
	if err != nil {
		t.Fatal(err)
	}
	att, err := tr.Attach(pid, cookie, bin, selected)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { att.Close() })

	for _, tc := range []struct {
		name, method, service string
		code, statusHits      uint32
	}{
		{"upload", "/grpcdemo.Streams/Upload", "upload=%s;%d;0s", 0, 2},
		{"chat-ok", "/grpcdemo.Streams/Chat", "chat=%s;%d;0s;ok", 0, 2},
		{"chat-internal", "/grpcdemo.Streams/Chat", "chat=%s;%d;0s;code=13", 13, 2},
		{"chat-cancel", "/grpcdemo.Streams/Chat", "chat=%s;%d;0s;cancel", 1, 3},
	} {
		for _, messages := range []int{1, 50} {
			t.Run(fmt.Sprintf("%s-%d", tc.name, messages), func(t *testing.T) {
				h0, _ := tr.Hits()
				if got := grpcCall(t, exe, addr, "-service", fmt.Sprintf(tc.service, addr, messages)); len(got) != 1 || got[0] != "OK" {
					t.Fatalf("Check printed %v", got)
				}
				servers, clients := grpcEvents(t, tr, 3)
				// grpc's context watcher may call finish a moment after
				// the events: let it (no assertion on time).
				time.Sleep(300 * time.Millisecond)
				hits := hitsSince(t, tr, h0)
				if len(servers) != 2 || len(clients) != 1 {
					t.Fatalf("%d server and %d client events for a Check and the stream its handler opened, want 2 and 1", len(servers), len(clients))
				}
				c := clients[0]
				var stream *grpcserver.Event
				for _, s := range servers {
					if s.Method == tc.method {
						stream = s
					}
				}
				switch {
				case c.Method != tc.method || c.Code != tc.code:
					t.Errorf("client event method %q code %d, want %q %d", c.Method, c.Code, tc.method, tc.code)
				case stream == nil || stream.Code != tc.code:
					t.Errorf("server events %+v, want one %q with code %d", servers, tc.method, tc.code)
				case !joinedStitch(stream.Stitch) || stream.IDs.TraceID != c.IDs.TraceID || stream.IDs.ParentSpanID != c.IDs.SpanID:
					t.Errorf("stream server span %+v (stitch %d) is not the stitched child of the client span %+v", stream.IDs, stream.Stitch, c.IDs)
				case c.Stitch != probes.StitchMatched:
					t.Errorf("client span stitch %d, want matched", c.Stitch)
				}
				want := map[string]uint64{
					grpcserver.ProgEntry:            2,
					grpcserver.ProgStatus:           uint64(tc.statusHits),
					grpcclient.ProgStreamEntry:      1,
					grpcclient.ProgStreamReturn:     1,
					grpcclientstream.ProgStream:     1,
					grpcclient.ProgStreamFinish:     2, // 2 to 4
					grpcclient.ProgEntry:            0,
					grpcclient.ProgReturn:           0,
					"(every other program, summed)": 0,
				}
				got := map[string]uint64{}
				var other []string
				for prog, n := range hits {
					if n == 0 {
						continue
					}
					if _, ok := want[prog]; ok {
						got[prog] = n
						continue
					}
					got["(every other program, summed)"] += n
					other = append(other, fmt.Sprintf("%s=%d", prog, n))
				}
				sort.Strings(other)
				for prog, w := range want {
					n := got[prog]
					if prog == grpcclient.ProgStreamFinish && n >= 2 && n <= 4 {
						continue
					}
					if n != w {
						t.Errorf("%s: %d hits for a stream of %d messages, want %d (all: %v; others: %s)", prog, n, messages, w, hits, strings.Join(other, " "))
					}
				}
			})
		}
	}
}
