package httpserver

import (
	"path/filepath"
	"testing"

	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/httpspan"
	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/probes"
	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/probes/probetest"
)

// goldenSpans turns events into spans through the probe's event→span
// function (Event.AppendSpan), as the receiver does.
func goldenSpans(events []*Event, env probes.SpanEnv) ptrace.Traces {
	td, ss := probetest.NewScope()
	for _, e := range events {
		e.AppendSpan(ss, env)
	}
	return td
}

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

var env = probes.SpanEnv{
	Clock:    httpspan.Clock{Offset: 1_700_000_000_000_000_000},
	Redactor: httpspan.NewRedactor([]string{"session"}),
	TypeName: func(_ uint32, addr uint64) string {
		return map[uint64]string{0x4a00: "*errors.errorString", 0x4b00: "runtime.boundsError"}[addr]
	},
}

// TestServerSpansGolden: requests served over HTTP/1.1 and HTTP/2, with and
// without an incoming parent, a route, a query to redact, TLS, a handler
// that wrote nothing, a 5xx and a 4xx.
func TestServerSpansGolden(t *testing.T) {
	t.Parallel()
	events := []*Event{
		{PID: 4242, StartNs: 1_000, EndNs: 251_000, IDs: spanIDs(0x10, 0x20, 0x30), Method: "GET", Path: "/items/42",
			Pattern: "GET /items/{id}", Host: "shop.local:8080", RemoteAddr: "10.0.0.7:51234", ProtoMajor: 1, ProtoMinor: 1,
			Scheme: "http", Status: 200, RawQuery: "session=abc&page=2"},
		{PID: 4242, StartNs: 2_000, EndNs: 9_000, IDs: spanIDs(0x11, 0x21, 0), Method: "POST", Path: "/orders",
			Pattern: "/orders", Host: "shop.example", RemoteAddr: "[2001:db8::1]:443", ProtoMajor: 2, Scheme: "https", Status: 503},
		{PID: 4242, StartNs: 3_000, EndNs: 3_500, IDs: spanIDs(0x12, 0x22, 0), Method: "GET", Path: "/missing",
			Host: "shop.local:8080", RemoteAddr: "10.0.0.8:40000", ProtoMajor: 1, ProtoMinor: 1, Scheme: "http", Status: 404},
		{PID: 4242, StartNs: 4_000, EndNs: 4_100, IDs: spanIDs(0x13, 0x23, 0), Method: "PURGE", Path: "/cache",
			Host: "shop.local", RemoteAddr: "10.0.0.9:1", ProtoMajor: 1, ProtoMinor: 0, Status: 0},
		{PID: 4242, StartNs: 5_000, EndNs: 5_200, IDs: spanIDs(0x14, 0x24, 0), Method: "GET", Path: "/h2",
			Host: "shop.example", ProtoMajor: 2, Status: StatusUnknown},
	}
	probetest.CompareGolden(t, filepath.Join("testdata", "server_spans.json"), goldenSpans(events, env))
}

// TestPanicSpansGolden: handlers that panicked and were recovered by
// net/http: with a named error value, with net/http's ErrAbortHandler, with
// a runtime error, and with a type the receiver could not name.
func TestPanicSpansGolden(t *testing.T) {
	t.Parallel()
	events := []*Event{
		{PID: 4242, StartNs: 1_000, EndNs: 2_000, IDs: spanIDs(0x40, 0x50, 0), Method: "GET", Path: "/boom", Pattern: "GET /boom",
			Host: "shop.local:8080", RemoteAddr: "10.0.0.7:5000", ProtoMajor: 1, ProtoMinor: 1, Scheme: "http", Status: 0,
			Panicked: true, PanicTypeAddr: 0x4a00, PanicMessage: "payment backend down"},
		{PID: 4242, StartNs: 3_000, EndNs: 4_000, IDs: spanIDs(0x41, 0x51, 0x61), Method: "GET", Path: "/abort",
			Host: "shop.local:8080", RemoteAddr: "10.0.0.7:5001", ProtoMajor: 1, ProtoMinor: 1, Scheme: "http", Status: 200,
			Panicked: true, PanicTypeAddr: 0x4a00, PanicMessage: "net/http: abort Handler"},
		{PID: 4242, StartNs: 5_000, EndNs: 6_000, IDs: spanIDs(0x42, 0x52, 0), Method: "POST", Path: "/index",
			Host: "shop.example", ProtoMajor: 2, Status: StatusUnknown,
			Panicked: true, PanicTypeAddr: 0x4b00, PanicMessage: "index out of range [3] with length 3"},
		{PID: 4242, StartNs: 7_000, EndNs: 8_000, IDs: spanIDs(0x43, 0x53, 0), Method: "GET", Path: "/odd",
			Host: "shop.local:8080", ProtoMajor: 1, ProtoMinor: 1, Scheme: "http", Panicked: true, PanicTypeAddr: 0x9999},
	}
	probetest.CompareGolden(t, filepath.Join("testdata", "panic_spans.json"), goldenSpans(events, env))
}
