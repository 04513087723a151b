package integration

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/otelcol-goebpf/otelcol-goebpf/internal/tracediff"
)

// otlpBatch is traces [first, first+n) of spansPer spans each.
func otlpBatch(first, n, spansPer int) ptrace.Traces {
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	rs.Resource().Attributes().PutStr("service.name", "checkout")
	spans := rs.ScopeSpans().AppendEmpty().Spans()
	for t := first; t < first+n; t++ {
		var tid pcommon.TraceID
		binary.BigEndian.PutUint64(tid[:8], uint64(t)*0x9e3779b97f4a7c15+1)
		binary.BigEndian.PutUint64(tid[8:], uint64(t))
		for s := range spansPer {
			sp := spans.AppendEmpty()
			sp.SetTraceID(tid)
			var sid pcommon.SpanID
			binary.BigEndian.PutUint64(sid[:], uint64(t*spansPer+s+1))
			sp.SetSpanID(sid)
			sp.SetName(fmt.Sprintf("op-%d", s))
			sp.SetStartTimestamp(pcommon.NewTimestampFromTime(time.Unix(1_700_000_000, int64(s))))
			sp.SetEndTimestamp(pcommon.NewTimestampFromTime(time.Unix(1_700_000_001, int64(s))))
			sp.Attributes().PutInt("n", int64(s))
		}
	}
	return td
}

// postOTLP sends td to an OTLP/HTTP receiver as JSON.
func postOTLP(t *testing.T, endpoint string, td ptrace.Traces) {
	t.Helper()
	body, err := (&ptrace.JSONMarshaler{}).MarshalTraces(td)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Post(endpoint+"/v1/traces", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("POST /v1/traces: %s", resp.Status)
	}
}

// TestTracediffReadsEveryFileExporterFormat sends the same traces to the
// distribution's file exporter in JSON and proto, plain and zstd, and checks
// tracediff finds each file equal to what was sent, and finds the spans
// missing when one batch is left out of the expected side.
func TestTracediffReadsEveryFileExporterFormat(t *testing.T) {
	port := freePort(t)
	c := startCollector(t, fmt.Sprintf(`
receivers:
  otlp:
    protocols:
      http: { endpoint: 127.0.0.1:%d }
exporters:
  file/json:
    path: {{DIR}}/json.jsonl
  file/proto:
    path: {{DIR}}/traces.pb
    format: proto
  file/jsonz:
    path: {{DIR}}/json.zst
    compression: zstd
  file/protoz:
    path: {{DIR}}/proto.zst
    format: proto
    compression: zstd
service:
  telemetry:
    metrics:
      level: none
  pipelines:
    traces:
      receivers: [otlp]
      exporters: [file/json, file/proto, file/jsonz, file/protoz]
`, port))
	sent := filepath.Join(c.Dir, "sent.jsonl")
	partial := filepath.Join(c.Dir, "sent-partial.jsonl")
	var all, some bytes.Buffer
	for b := range 10 {
		td := otlpBatch(b*10, 10, 4)
		postOTLP(t, fmt.Sprintf("http://127.0.0.1:%d", port), td)
		line, err := (&ptrace.JSONMarshaler{}).MarshalTraces(td)
		if err != nil {
			t.Fatal(err)
		}
		all.Write(append(line, '\n'))
		if b != 4 {
			some.Write(append(line, '\n'))
		}
	}
	if err := os.WriteFile(sent, all.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(partial, some.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	c.Stop(t) // the file exporters flush and close on shutdown
	for _, name := range []string{"json.jsonl", "traces.pb", "json.zst", "proto.zst"} {
		rep, err := tracediff.Compare(sent, c.Path(name), tracediff.Options{})
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if !rep.Equal() || rep.SpansA != 400 || rep.SpansB != 400 {
			t.Errorf("%s: %s\n%s", name, rep.Summary(), strings.Join(rep.Details, "\n"))
		}
		rep, err = tracediff.Compare(partial, c.Path(name), tracediff.Options{})
		if err != nil {
			t.Fatal(err)
		}
		if rep.ExtraTraces != 10 || rep.ExtraSpans != 40 || rep.MissingSpans != 0 || rep.Equal() {
			t.Errorf("%s against the expected file without one batch: %s", name, rep.Summary())
		}
	}
}
