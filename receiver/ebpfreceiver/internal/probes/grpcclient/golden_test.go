package grpcclient

import (
	"path/filepath"
	"testing"

	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/httpspan"
	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/probes"
	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/probes/probetest"
	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/rpcspan"
)

func ids(trace, span, parent byte) probes.SpanIDs {
	var id probes.SpanIDs
	for i := range id.TraceID {
		id.TraceID[i] = trace + byte(i)
	}
	for i := range id.SpanID {
		id.SpanID[i] = span + byte(i)
	}
	if parent != 0 {
		id.HasParent = true
		for i := range id.ParentSpanID {
			id.ParentSpanID[i] = parent + byte(i)
		}
	}
	return id
}

// TestClientSpansGolden: calls under a server span and without one, with
// OK, NOT_FOUND (an error on the client), UNAVAILABLE, an unreadable code,
// and the target forms grpc-go accepts (host:port, dns:///, a unix socket).
func TestClientSpansGolden(t *testing.T) {
	t.Parallel()
	env := probes.SpanEnv{Clock: httpspan.Clock{Offset: 1_700_000_000_000_000_000}}
	events := []*Event{
		{PID: 4242, StartNs: 1_000, EndNs: 51_000, IDs: ids(0x10, 0x40, 0x20), Method: "/shop.Stock/Reserve", Target: "127.0.0.1:50052", Code: 0},
		{PID: 4242, StartNs: 2_000, EndNs: 8_000, IDs: ids(0x10, 0x41, 0x20), Method: "/shop.Stock/Reserve", Target: "dns:///stock.shop.svc:443", Code: 5},
		{PID: 4242, StartNs: 3_000, EndNs: 3_900, IDs: ids(0x12, 0x42, 0), Method: "/shop.Payments/Charge", Target: "payments:9000", Code: 14},
		{PID: 4242, StartNs: 4_000, EndNs: 4_100, IDs: ids(0x13, 0x43, 0), Method: "/shop.Payments/Charge", Target: "unix:///run/pay.sock", Code: rpcspan.CodeUnread},
	}
	td, ss := probetest.NewScope()
	for _, e := range events {
		e.AppendSpan(ss, env)
	}
	probetest.CompareGolden(t, filepath.Join("testdata", "client_spans.json"), td)
}
