package integration

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/otelcol-goebpf/otelcol-goebpf/internal/testutil/prereq"
)

// fileSpans parses what the file exporter wrote (one OTLP JSON document per
// line) and returns the spans by kind, with their route or URL.
func fileSpans(t *testing.T, path string) (server, client []ptrace.Span) {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, nil
	}
	var u ptrace.JSONUnmarshaler
	sc := bufio.NewScanner(bytes.NewReader(raw))
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	for sc.Scan() {
		if len(bytes.TrimSpace(sc.Bytes())) == 0 {
			continue
		}
		td, err := u.UnmarshalTraces(sc.Bytes())
		if err != nil {
			continue // a line being written
		}
		for i := 0; i < td.ResourceSpans().Len(); i++ {
			rs := td.ResourceSpans().At(i)
			for j := 0; j < rs.ScopeSpans().Len(); j++ {
				spans := rs.ScopeSpans().At(j).Spans()
				for k := 0; k < spans.Len(); k++ {
					switch s := spans.At(k); s.Kind() {
					case ptrace.SpanKindServer:
						server = append(server, s)
					case ptrace.SpanKindClient:
						client = append(client, s)
					}
				}
			}
		}
	}
	return server, client
}

func procFDs(t *testing.T, pid int) int {
	t.Helper()
	fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		t.Fatal(err)
	}
	return len(fds)
}

// TestEBPFHTTPWithDistribution runs the built otelcol-goebpf binary with the
// file exporter against a stripped demo service: exact span counts, the
// client span's parent, and a kill/restart of the service with the
// collector's fd count back to its level.
func TestEBPFHTTPWithDistribution(t *testing.T) {
	prereq.RequireRoot(t, "eBPF tests")
	dir := t.TempDir()
	demo := filepath.Join(dir, "dist-demo")
	buildDemo(t, demo, "-s -w")
	c := startCollector(t, fmt.Sprintf(`
receivers:
  ebpf:
    discovery:
      instrument:
        - exe_path: %q
      poll_interval: 200ms
exporters:
  file:
    path: {{DIR}}/traces.json
    flush_interval: 100ms
service:
  pipelines:
    traces:
      receivers: [ebpf]
      exporters: [file]
`, demo))
	out := c.Path("traces.json")
	collectorPID := c.Cmd.Process.Pid
	baseFDs := procFDs(t, collectorPID)

	port := freePort(t)
	for round := range 2 {
		tg := startTarget(t, demo, "dist-demo", port)
		// Warm up until the probes are attached, then count from there.
		eventually(t, 30*time.Second, "first spans", func() (bool, string) {
			get(t, tg.base+"/chain", nil)
			s, cl := fileSpans(t, out)
			return len(s) > 0 && len(cl) > 0, fmt.Sprintf("%d server, %d client spans", len(s), len(cl))
		})
		time.Sleep(time.Second)
		s0, c0 := fileSpans(t, out)
		const hello, chain = 30, 5
		for range hello {
			get(t, tg.base+"/hello", nil)
		}
		for range chain {
			get(t, tg.base+"/chain", nil)
		}
		wantServer, wantClient := len(s0)+hello+2*chain, len(c0)+chain
		eventually(t, 15*time.Second, "all spans in the file", func() (bool, string) {
			s, cl := fileSpans(t, out)
			return len(s) >= wantServer && len(cl) >= wantClient, fmt.Sprintf("%d/%d server, %d/%d client", len(s), wantServer, len(cl), wantClient)
		})
		time.Sleep(time.Second) // extras would show up now
		s, cl := fileSpans(t, out)
		if len(s) != wantServer || len(cl) != wantClient {
			t.Fatalf("round %d: %d server and %d client spans, want exactly %d and %d", round, len(s), len(cl), wantServer, wantClient)
		}
		ids := map[string]ptrace.Span{}
		for _, sp := range s {
			ids[sp.SpanID().String()] = sp
		}
		for _, sp := range cl[len(c0):] {
			parent, ok := ids[sp.ParentSpanID().String()]
			if !ok {
				t.Errorf("client span without its server parent")
				continue
			}
			if r, _ := parent.Attributes().Get("http.route"); r.AsString() != "/chain" {
				t.Errorf("client span parent route %q", r.AsString())
			}
		}
		tg.stop()
		client.CloseIdleConnections()
		eventually(t, 10*time.Second, "collector fds back to their level", func() (bool, string) {
			n := procFDs(t, collectorPID)
			return n <= baseFDs, fmt.Sprintf("%d fds, base %d", n, baseFDs)
		})
	}
}
