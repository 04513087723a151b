package integration

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/otelcol-goebpf/otelcol-goebpf/internal/tracediff"
)

// startGateways runs n collectors that write what they receive over OTLP/gRPC
// to their own file, and returns their endpoints.
func startGateways(t *testing.T, n int) ([]*Collector, []string) {
	t.Helper()
	var gws []*Collector
	var endpoints []string
	for range n {
		port := freePort(t)
		gws = append(gws, startCollector(t, fmt.Sprintf(`
receivers:
  otlp:
    protocols:
      grpc: { endpoint: 127.0.0.1:%d }
exporters:
  file:
    path: {{DIR}}/received.jsonl
service:
  telemetry:
    metrics:
      level: none
  pipelines:
    traces: { receivers: [otlp], exporters: [file] }
`, port)))
		endpoints = append(endpoints, fmt.Sprintf("127.0.0.1:%d", port))
	}
	return gws, endpoints
}

// agentConfig is an agent that takes OTLP/HTTP on port and routes by trace ID
// to endpoints, with queue as the loadbalancing exporter's queue settings.
func agentConfig(port int, endpoints []string, queue string) string {
	return fmt.Sprintf(`
extensions:
  file_storage:
    directory: {{DIR}}/queue
    create_directory: true
receivers:
  otlp:
    protocols:
      http: { endpoint: 127.0.0.1:%d }
exporters:
  loadbalancing:
    routing_key: traceID
%s
    resolver:
      static: { hostnames: [%s] }
service:
  extensions: [file_storage]
  telemetry:
    metrics:
      level: none
  pipelines:
    traces: { receivers: [otlp], exporters: [loadbalancing] }
`, port, queue, strings.Join(endpoints, ", "))
}

// traceOwners maps every trace ID in the OTLP files to the index of the file that holds
// it, and fails when a trace is in two files (two gateways had a share of it).
func traceOwners(files []string) (map[pcommon.TraceID]int, error) {
	owner := map[pcommon.TraceID]int{}
	for i, path := range files {
		err := tracediff.ReadFile(path, func(td ptrace.Traces) error {
			for _, rs := range td.ResourceSpans().All() {
				for _, ss := range rs.ScopeSpans().All() {
					for _, s := range ss.Spans().All() {
						if g, ok := owner[s.TraceID()]; ok && g != i {
							return fmt.Errorf("trace %s in %s and %s", s.TraceID(), files[g], path)
						}
						owner[s.TraceID()] = i
					}
				}
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	return owner, nil
}

// TestLoadbalancingPersistentQueue is the investigation of the "failed to
// start new exporter for endpoint ...: timeout" failure, kept as a test.
//
// The loadbalancing exporter builds one otlp exporter per endpoint, and gives
// every one of them the same component ID (otlp, or otlp/<its own name>).
// file_storage names its database after the component ID and signal, so all
// the per-endpoint queues open the same bbolt file; bbolt locks it, and every
// exporter after the first waits for the lock until file_storage's timeout
// (1 s) and fails to start with "timeout". Its endpoints then have no exporter
// and the agent refuses their data. A persistent queue in front of the
// routing (the loadbalancing exporter's own sending_queue) has one ID and
// works; its per-endpoint queues then stay in memory.
func TestLoadbalancingPersistentQueue(t *testing.T) {
	collectorBinary(t)
	t.Run("per-endpoint persistent queues fail to start", func(t *testing.T) {
		_, endpoints := startGateways(t, 3)
		port := freePort(t)
		agent := startCollector(t, agentConfig(port, endpoints, `    protocol:
      otlp:
        tls: { insecure: true }
        sending_queue: { enabled: true, storage: file_storage }`))
		agent.WaitForLog(t, "failed to start new exporter for endpoint", 30*time.Second)
		if !strings.Contains(agent.Logs.String(), "timeout") {
			t.Errorf("the failure is not the storage lock timeout:\n%s", agent.Logs.String())
		}
		files, _ := filepath.Glob(agent.Path("queue/*"))
		t.Logf("storage files of 3 per-endpoint queues: %v", files)
		if len(files) != 1 {
			t.Errorf("expected the 3 endpoint queues to share one storage file, found %v", files)
		}
	})
	t.Run("one persistent queue in front of the routing delivers every span once", func(t *testing.T) {
		gws, endpoints := startGateways(t, 3)
		port := freePort(t)
		// config/agent.yaml's layout, snappy to the gateways included: their stock
		// OTLP receivers must decode it.
		agent := startCollector(t, agentConfig(port, endpoints, `    sending_queue: { enabled: true, storage: file_storage }
    retry_on_failure: { enabled: true }
    protocol:
      otlp:
        compression: snappy
        tls: { insecure: true }
        sending_queue: { enabled: true }
        retry_on_failure: { enabled: true }`))
		sent := filepath.Join(agent.Dir, "sent.jsonl")
		f, err := os.Create(sent)
		if err != nil {
			t.Fatal(err)
		}
		for b := range 20 {
			td := otlpBatch(b*25, 25, 4)
			postOTLP(t, fmt.Sprintf("http://127.0.0.1:%d", port), td)
			line, _ := (&ptrace.JSONMarshaler{}).MarshalTraces(td)
			f.Write(append(line, '\n'))
		}
		f.Close()
		agent.Stop(t) // drains its queues
		union := filepath.Join(agent.Dir, "union.jsonl")
		var all []byte
		perGateway := make([]int, len(gws))
		for i, gw := range gws {
			gw.Stop(t)
			b, err := os.ReadFile(gw.Path("received.jsonl"))
			if err != nil {
				t.Fatalf("gateway %d wrote nothing: %v", i, err)
			}
			perGateway[i] = strings.Count(string(b), "\n")
			all = append(all, b...)
		}
		if err := os.WriteFile(union, all, 0o644); err != nil {
			t.Fatal(err)
		}
		rep, err := tracediff.Compare(sent, union, tracediff.Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("export batches per gateway: %v; %s", perGateway, rep.Summary())
		if !rep.Equal() || rep.SpansB != 2000 {
			t.Fatalf("%s\n%s", rep.Summary(), strings.Join(rep.Details, "\n"))
		}
		// Trace affinity: no trace on two gateways.
		var files []string
		for _, gw := range gws {
			files = append(files, gw.Path("received.jsonl"))
		}
		seen, err := traceOwners(files)
		if err != nil {
			t.Fatal(err)
		}
		if len(seen) != 500 {
			t.Errorf("%d traces at the gateways, want 500", len(seen))
		}
	})
}
