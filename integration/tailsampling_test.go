package integration

import (
	"context"
	"encoding/binary"
	"fmt"
	"os"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/otelcol-goebpf/otelcol-goebpf/internal/otlpfile"
)

// The built binary, with the stock recordpolicy feature gate on the command
// line, keeps only the failing requests through tail_sampling_drift, and every
// kept span's scope names the policy that kept it.
func TestTailSamplingDriftInBinaryRecordsPolicy(t *testing.T) {
	otlpPort := freePort(t)
	dir := t.TempDir()
	config := fmt.Sprintf(`
receivers:
  otlp:
    protocols:
      grpc: { endpoint: 127.0.0.1:%d }
processors:
  tail_sampling_drift:
    decision_wait: 2s
    decision_grace: 100ms
    policies:
      - { name: keep-errors, type: status_code, status_code: { status_codes: [ERROR] } }
exporters:
  file: { path: "%s/traces.jsonl" }
service:
  pipelines:
    traces: { receivers: [otlp], processors: [tail_sampling_drift], exporters: [file] }
`, otlpPort, dir)
	cfgPath := dir + "/config.yaml"
	if err := os.WriteFile(cfgPath, []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	c := runCollector(t, dir, []string{"--config", cfgPath, "--feature-gates=processor.tailsamplingprocessor.recordpolicy"})

	conn, err := grpc.NewClient(fmt.Sprintf("127.0.0.1:%d", otlpPort), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	client := ptraceotlp.NewGRPCClient(conn)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for _, status := range []int64{200, 500} {
		if _, err := client.Export(ctx, ptraceotlp.NewExportRequestFromTraces(serverSpans("checkout", 20, status))); err != nil {
			t.Fatalf("OTLP export: %v", err)
		}
		time.Sleep(5 * time.Millisecond) // distinct trace IDs per call
	}

	eventually(t, 15*time.Second, "20 kept spans in the file exporter's output", func() (bool, string) {
		td, err := otlpfile.ReadTraces(c.Path("traces.jsonl"))
		if err != nil {
			return false, err.Error()
		}
		return td.SpanCount() >= 20, fmt.Sprintf("%d spans", td.SpanCount())
	})
	c.Stop(t)
	td, err := otlpfile.ReadTraces(c.Path("traces.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	if td.SpanCount() != 20 {
		t.Fatalf("kept %d spans, want the 20 failing requests", td.SpanCount())
	}
	for _, rs := range td.ResourceSpans().All() {
		for _, ss := range rs.ScopeSpans().All() {
			v, ok := ss.Scope().Attributes().Get("tailsampling.policy")
			if !ok || v.Str() != "keep-errors" {
				t.Fatalf("scope attributes %v, want tailsampling.policy=keep-errors", ss.Scope().Attributes().AsRaw())
			}
			for _, sp := range ss.Spans().All() {
				if code, _ := sp.Attributes().Get("http.response.status_code"); code.Int() != 500 {
					t.Fatalf("kept a span with status %d", code.Int())
				}
			}
		}
	}
}

// The scenario through the built binary, with the stock tail_sampling
// and tail_sampling_drift side by side on one OTLP receiver and default
// settings: 200 traces whose root arrives first and whose child, from another
// service, arrives 3 s later in its own batch, half of the children failing,
// one status_code ERROR policy, decision_wait 6s. Both must keep the 100
// failing traces whole.
func TestTailSamplingDriftDecidesLikeStockInBinary(t *testing.T) {
	otlpPort := freePort(t)
	dir := t.TempDir()
	config := fmt.Sprintf(`
receivers:
  otlp:
    protocols:
      grpc: { endpoint: 127.0.0.1:%d }
processors:
  tail_sampling:
    decision_wait: 6s
    policies: [{ name: errors, type: status_code, status_code: { status_codes: [ERROR] } }]
  tail_sampling_drift:
    decision_wait: 6s
    policies: [{ name: errors, type: status_code, status_code: { status_codes: [ERROR] } }]
exporters:
  file/stock: { path: "%[2]s/stock.jsonl" }
  file/ours: { path: "%[2]s/ours.jsonl" }
service:
  pipelines:
    traces/stock: { receivers: [otlp], processors: [tail_sampling], exporters: [file/stock] }
    traces/ours: { receivers: [otlp], processors: [tail_sampling_drift], exporters: [file/ours] }
`, otlpPort, dir)
	cfgPath := dir + "/config.yaml"
	if err := os.WriteFile(cfgPath, []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	c := runCollector(t, dir, []string{"--config", cfgPath})

	conn, err := grpc.NewClient(fmt.Sprintf("127.0.0.1:%d", otlpPort), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	client := ptraceotlp.NewGRPCClient(conn)
	roots, children := rootsAndLateChildren(200)
	for _, td := range []ptrace.Traces{roots, children} {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_, err := client.Export(ctx, ptraceotlp.NewExportRequestFromTraces(td))
		cancel()
		if err != nil {
			t.Fatalf("OTLP export: %v", err)
		}
		if td == roots {
			time.Sleep(3 * time.Second)
		}
	}
	count := func(file string) (spans, traces int, err error) {
		td, err := otlpfile.ReadTraces(c.Path(file))
		if err != nil {
			return 0, 0, err
		}
		ids := map[string]bool{}
		for _, rs := range td.ResourceSpans().All() {
			for _, ss := range rs.ScopeSpans().All() {
				for _, sp := range ss.Spans().All() {
					ids[sp.TraceID().String()] = true
				}
			}
		}
		return td.SpanCount(), len(ids), nil
	}
	// Decided 6-7 s after the roots arrived.
	eventually(t, 30*time.Second, "the 100 failing traces, root and child, from both processors", func() (bool, string) {
		ss, st, err1 := count("stock.jsonl")
		ous, ot, err2 := count("ours.jsonl")
		if err1 != nil || err2 != nil {
			return false, fmt.Sprint(err1, err2)
		}
		return ss == 200 && ous == 200, fmt.Sprintf("stock %d spans of %d traces, ours %d spans of %d traces", ss, st, ous, ot)
	})
	c.Stop(t)
	ss, st, _ := count("stock.jsonl")
	ous, ot, _ := count("ours.jsonl")
	if ss != 200 || st != 100 || ous != 200 || ot != 100 {
		t.Fatalf("stock kept %d spans of %d traces, ours %d spans of %d traces; want 200 of 100 each", ss, st, ous, ot)
	}
}

// rootsAndLateChildren makes n traces: a batch of their roots (service
// frontend) and a batch of one child each (service payments), every other
// child failing.
func rootsAndLateChildren(n int) (roots, children ptrace.Traces) {
	mk := func(service string) (ptrace.Traces, ptrace.SpanSlice) {
		td := ptrace.NewTraces()
		rs := td.ResourceSpans().AppendEmpty()
		rs.Resource().Attributes().PutStr("service.name", service)
		return td, rs.ScopeSpans().AppendEmpty().Spans()
	}
	roots, rootSpans := mk("frontend")
	children, childSpans := mk("payments")
	now := time.Now()
	for i := 0; i < n; i++ {
		var tid pcommon.TraceID
		binary.BigEndian.PutUint64(tid[:8], uint64(now.UnixNano()))
		binary.BigEndian.PutUint64(tid[8:], uint64(i+1))
		root := rootSpans.AppendEmpty()
		root.SetTraceID(tid)
		root.SetSpanID(pcommon.SpanID{1, byte(i), byte(i >> 8)})
		root.SetName("GET /orders")
		root.SetKind(ptrace.SpanKindServer)
		root.SetStartTimestamp(pcommon.NewTimestampFromTime(now))
		root.SetEndTimestamp(pcommon.NewTimestampFromTime(now.Add(40 * time.Millisecond)))
		child := childSpans.AppendEmpty()
		child.SetTraceID(tid)
		child.SetSpanID(pcommon.SpanID{2, byte(i), byte(i >> 8)})
		child.SetParentSpanID(root.SpanID())
		child.SetName("POST /charge")
		child.SetKind(ptrace.SpanKindServer)
		child.SetStartTimestamp(pcommon.NewTimestampFromTime(now.Add(5 * time.Millisecond)))
		child.SetEndTimestamp(pcommon.NewTimestampFromTime(now.Add(30 * time.Millisecond)))
		if i%2 == 0 {
			child.Status().SetCode(ptrace.StatusCodeError)
		}
	}
	return roots, children
}
