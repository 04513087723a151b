package redisclient

import (
	"path/filepath"
	"testing"

	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/httpspan"
	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/probes"
	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/probes/probetest"
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

// TestClientSpansGolden: commands under a server span and without one, a
// hit, a miss (redis.Nil), ERR and WRONGTYPE replies, v9's typed LOADING
// reply, an I/O error, a pipeline of 3 whose first error is redis.Nil, a
// pipeline of one (no batch size), a transaction, an unreadable command
// name, a unix socket and an address without a host; database 0 and 3
// (db.namespace), or unknown.
func TestClientSpansGolden(t *testing.T) {
	t.Parallel()
	env := probes.SpanEnv{Clock: httpspan.Clock{Offset: 1_700_000_000_000_000_000}}
	const addr = "10.0.0.7:6379"
	events := []*Event{
		{PID: 4242, StartNs: 1_000, EndNs: 9_000, IDs: ids(0x10, 0x40, 0x20), Command: "get", Addr: addr, HasDB: true, DB: 0},
		{PID: 4242, StartNs: 2_000, EndNs: 3_000, IDs: ids(0x10, 0x41, 0x20), Command: "get", ErrKind: ErrString, ErrText: "redis: nil", Addr: addr},
		{PID: 4242, StartNs: 3_000, EndNs: 4_000, IDs: ids(0x10, 0x42, 0x20), Command: "incr", ErrKind: ErrString, ErrText: "ERR value is not an integer or o", Addr: addr},
		{PID: 4242, StartNs: 4_000, EndNs: 5_000, IDs: ids(0x10, 0x43, 0x20), Command: "lpush", ErrKind: ErrString, ErrText: "WRONGTYPE Operation against a ke", Addr: addr},
		{PID: 4242, StartNs: 5_000, EndNs: 6_000, IDs: ids(0x10, 0x44, 0x20), Command: "get", ErrKind: ErrOther, ErrText: "LOADING Redis is loading the dat", Addr: addr},
		{PID: 4242, StartNs: 6_000, EndNs: 7_000, IDs: ids(0x11, 0x45, 0), Command: "set", ErrKind: ErrOther, ErrText: "dial", Addr: addr},
		{PID: 4242, StartNs: 7_000, EndNs: 8_000, IDs: ids(0x10, 0x46, 0x20), Kind: OpPipeline, BatchSize: 3, ErrKind: ErrString, ErrText: "redis: nil", Addr: addr},
		{PID: 4242, StartNs: 8_000, EndNs: 9_000, IDs: ids(0x10, 0x47, 0x20), Kind: OpPipeline, BatchSize: 1, Addr: addr, HasDB: true, DB: 3},
		{PID: 4242, StartNs: 9_000, EndNs: 9_500, IDs: ids(0x10, 0x48, 0x20), Kind: OpMulti, BatchSize: 2, ErrKind: ErrOther, ErrText: "EXECABORT Transaction discarded", Addr: addr},
		{PID: 4242, StartNs: 9_500, EndNs: 9_600, IDs: ids(0x12, 0x49, 0), Command: "", Addr: "/run/redis/redis.sock"},
		{PID: 4242, StartNs: 9_600, EndNs: 9_700, IDs: ids(0x13, 0x4a, 0), Command: "ping", Addr: ":6379"},
	}
	td, ss := probetest.NewScope()
	for _, e := range events {
		e.AppendSpan(ss, env)
	}
	probetest.CompareGolden(t, filepath.Join("testdata", "client_spans.json"), td)
}

func TestOperation(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		ev   Event
		want string
	}{
		{Event{Command: "get"}, "GET"},
		{Event{Command: "CLIENT"}, "CLIENT"},
		{Event{Command: "json.get"}, "JSON.GET"},
		{Event{Command: ""}, ""},
		{Event{Command: "get key"}, ""},
		{Event{Command: "g\x00t"}, ""},
		{Event{Kind: OpPipeline, Command: "get"}, "PIPELINE"},
		{Event{Kind: OpMulti}, "MULTI"},
	} {
		if got := Operation(&tc.ev); got != tc.want {
			t.Errorf("Operation(%+v) = %q, want %q", tc.ev, got, tc.want)
		}
	}
}

func TestFailed(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		kind   ErrKind
		text   string
		failed bool
		code   string
	}{
		{ErrNone, "", false, ""},
		{ErrString, "redis: nil", false, ""},
		{ErrString, "redis: nil!", true, ""},
		{ErrOther, "redis: nil", true, ""}, // not go-redis's Nil: another type
		{ErrString, "ERR unknown command 'FOO'", true, "ERR"},
		{ErrString, "WRONGTYPE Operation against", true, "WRONGTYPE"},
		{ErrString, "NOSCRIPT", true, "NOSCRIPT"},
		{ErrString, "redis: client is closed", true, ""},
		{ErrString, "Err lower", true, ""},
		{ErrString, "ABCDEFGHIJKLMNOPQRSTUVWXYZABCDEF", true, ""}, // cut at the read limit
		{ErrOther, "read", true, ""},
		{ErrOther, "MOVED 3999 127.0.0.1:6381", true, "MOVED"},
	} {
		failed, code := Failed(&Event{ErrKind: tc.kind, ErrText: tc.text})
		if failed != tc.failed || code != tc.code {
			t.Errorf("Failed(%d, %q) = %t, %q; want %t, %q", tc.kind, tc.text, failed, code, tc.failed, tc.code)
		}
	}
}
