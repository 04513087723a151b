package grpcserver

import (
	"net/netip"
	"path/filepath"
	"testing"

	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/httpspan"
	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/probes"
	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/probes/probetest"
	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/rpcspan"
)

func spanIDs(trace, span, parent byte) probes.SpanIDs {
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

// TestServerSpansGolden: RPCs with a parent from the metadata, a code the
// semantic conventions leave unset on the server (NOT_FOUND), codes that
// make it an error (INTERNAL, UNIMPLEMENTED), a code that could not be
// read, IPv6 addresses, a non-TCP transport and a malformed method name.
func TestServerSpansGolden(t *testing.T) {
	t.Parallel()
	env := probes.SpanEnv{Clock: httpspan.Clock{Offset: 1_700_000_000_000_000_000}}
	local := netip.MustParseAddrPort("10.0.0.1:50051")
	events := []*Event{
		{PID: 4242, StartNs: 1_000, EndNs: 91_000, IDs: spanIDs(0x10, 0x20, 0x30), Method: "/shop.Orders/Get",
			Code: 0, Local: local, Peer: netip.MustParseAddrPort("10.0.0.7:51234")},
		{PID: 4242, StartNs: 2_000, EndNs: 9_000, IDs: spanIDs(0x11, 0x21, 0), Method: "/shop.Orders/Get",
			Code: 5, Local: local, Peer: netip.MustParseAddrPort("10.0.0.7:51234")},
		{PID: 4242, StartNs: 3_000, EndNs: 3_500, IDs: spanIDs(0x12, 0x22, 0), Method: "/shop.Orders/Create",
			Code: 13, Local: netip.MustParseAddrPort("[2001:db8::1]:443"), Peer: netip.MustParseAddrPort("[2001:db8::2]:40000")},
		{PID: 4242, StartNs: 4_000, EndNs: 4_100, IDs: spanIDs(0x13, 0x23, 0), Method: "/grpc.health.v1.Health/Watch",
			Code: 12, Local: local, Peer: netip.MustParseAddrPort("10.0.0.9:1")},
		{PID: 4242, StartNs: 5_000, EndNs: 5_200, IDs: spanIDs(0x14, 0x24, 0), Method: "/shop.Orders/List", Code: rpcspan.CodeUnread},
		{PID: 4242, StartNs: 6_000, EndNs: 6_100, IDs: spanIDs(0x15, 0x25, 0), Method: "no-slash", Code: 12, Local: local},
	}
	td, ss := probetest.NewScope()
	for _, e := range events {
		e.AppendSpan(ss, env)
	}
	probetest.CompareGolden(t, filepath.Join("testdata", "server_spans.json"), td)
}
