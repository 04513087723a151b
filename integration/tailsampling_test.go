package integration

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

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
