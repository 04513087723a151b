package ebpfreceiver

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/receiver/receivertest"

	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/httpspan"
	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/probes/httpclient"
	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/probes/httpserver"
)

func TestSpanBatchGroupsByProcess(t *testing.T) {
	resources := map[uint32]httpspan.Resource{
		10: {ServiceName: "orders", PID: 10},
		20: {ServiceName: "payments", PID: 20},
	}
	lookup := func(pid uint32) httpspan.Resource {
		if r, ok := resources[pid]; ok {
			return r
		}
		return httpspan.Resource{ServiceName: "unknown_service", PID: int(pid)}
	}
	b := newSpanBatch(httpspan.Clock{}, nil, nil)
	b.add(&httpserver.Event{PID: 10, Method: "GET", ProtoMajor: 1}, lookup)
	b.add(&httpclient.Event{PID: 20, Method: "GET", HasResponse: true, Status: 200}, lookup)
	b.add(&httpserver.Event{PID: 10, Method: "POST", ProtoMajor: 1}, lookup)
	b.add(&httpserver.Event{PID: 30, Method: "GET", ProtoMajor: 1}, lookup)
	b.add("not an event", lookup)

	if got := b.td.SpanCount(); got != 4 {
		t.Fatalf("span count %d, want 4", got)
	}
	want := map[string]struct {
		spans int
		kind  ptrace.SpanKind
	}{"orders": {2, ptrace.SpanKindServer}, "payments": {1, ptrace.SpanKindClient}, "unknown_service": {1, ptrace.SpanKindServer}}
	rss := b.td.ResourceSpans()
	if rss.Len() != len(want) {
		t.Fatalf("%d resources, want %d", rss.Len(), len(want))
	}
	for i := 0; i < rss.Len(); i++ {
		name, _ := rss.At(i).Resource().Attributes().Get("service.name")
		w, ok := want[name.AsString()]
		spans := rss.At(i).ScopeSpans().At(0).Spans()
		if !ok || spans.Len() != w.spans || spans.At(0).Kind() != w.kind {
			t.Errorf("resource %q: %d spans of kind %v", name.AsString(), spans.Len(), spans.At(0).Kind())
		}
	}
}

// A panicking request's error.type comes from the receiver's type lookup;
// query values and credentials are redacted with the configured keys.
func TestSpanBatchNamesPanicsAndRedacts(t *testing.T) {
	lookup := func(pid uint32) httpspan.Resource { return httpspan.Resource{PID: int(pid)} }
	names := map[uint64]string{0x4a00: "*errors.errorString", 0x4b00: "string"}
	typeName := func(pid uint32, addr uint64) string {
		if pid != 10 {
			t.Errorf("type looked up for pid %d", pid)
		}
		return names[addr]
	}
	b := newSpanBatch(httpspan.Clock{}, httpspan.NewRedactor([]string{"session"}), typeName)
	b.add(&httpserver.Event{PID: 10, Method: "GET", ProtoMajor: 1, Panicked: true, PanicTypeAddr: 0x4a00, PanicMessage: "net/http: abort Handler"}, lookup)
	b.add(&httpserver.Event{PID: 10, Method: "GET", ProtoMajor: 1, Panicked: true, PanicTypeAddr: 0x4b00, PanicMessage: "boom", RawQuery: "session=s&a=1"}, lookup)
	b.add(&httpclient.Event{PID: 10, Method: "GET", Host: "h", Path: "/", RawQuery: "sig=x", HasUserInfo: true, HasResponse: true, Status: 200}, lookup)
	spans := b.td.ResourceSpans().At(0).ScopeSpans().At(0).Spans()
	want := []map[string]string{
		{"error.type": "http.ErrAbortHandler"},
		{"error.type": "string", "url.query": "session=REDACTED&a=1"},
		{"url.full": "http://REDACTED:REDACTED@h/?sig=REDACTED"},
	}
	for i, w := range want {
		for k, v := range w {
			if got, _ := spans.At(i).Attributes().Get(k); got.AsString() != v {
				t.Errorf("span %d: %s = %q, want %q", i, k, got.AsString(), v)
			}
		}
	}
}

func TestServiceNameFallsBackToExecutableName(t *testing.T) {
	// The test binary has no OTEL_SERVICE_NAME in its initial environment
	// unless the runner set one.
	if os.Getenv("OTEL_SERVICE_NAME") != "" {
		t.Skip("OTEL_SERVICE_NAME set in the test environment")
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	if got := serviceName(os.Getpid(), exe+" (deleted)"); got != filepath.Base(exe) {
		t.Errorf("serviceName = %q, want %q", got, filepath.Base(exe))
	}
	if got := serviceName(-1, "/srv/orders"); got != "orders" {
		t.Errorf("serviceName for unreadable environ = %q", got)
	}
}

func TestEvictIdleBinariesKeepsAttachedOnes(t *testing.T) {
	cfg := createDefaultConfig().(*Config)
	cfg.Discovery.Instrument = []ProcessSelector{{PID: 1}}
	r, err := newReceiver(cfg, receivertest.NewNopSettings(typ))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = r.Shutdown(context.Background()) }()
	for i := range maxIdleBinaries + 10 {
		r.binaries[fileID{ino: uint64(i)}] = &binaryState{}
	}
	r.binaries[fileID{ino: 1 << 40}] = &binaryState{refs: 1}
	r.evictIdleBinaries()
	idle := 0
	for _, b := range r.binaries {
		if b.refs == 0 {
			idle++
		}
	}
	if idle >= maxIdleBinaries {
		t.Errorf("%d idle binaries kept, want < %d", idle, maxIdleBinaries)
	}
	if _, ok := r.binaries[fileID{ino: 1 << 40}]; !ok {
		t.Error("a binary with attached processes was evicted")
	}
}

// The default config carries span context to goroutines at any depth
// (runtime.newproc1 probed on every Go version); goroutine_ancestry: parent
// turns that off, leaving g.parentGoid on Go >= 1.21.
func TestDefaultGoroutineAncestryIsDeep(t *testing.T) {
	cfg := createDefaultConfig().(*Config)
	if cfg.Traces.GoroutineAncestry != AncestryDeep {
		t.Errorf("default traces.goroutine_ancestry %q, want %q", cfg.Traces.GoroutineAncestry, AncestryDeep)
	}
	if !tracerOptions(cfg, true).DeepGoroutines {
		t.Error("default config: tracer DeepGoroutines false, want true")
	}
	cfg.Traces.GoroutineAncestry = AncestryParent
	if tracerOptions(cfg, true).DeepGoroutines {
		t.Error("goroutine_ancestry: parent: tracer DeepGoroutines true, want false")
	}
}
