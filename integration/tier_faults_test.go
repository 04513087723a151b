package integration

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/otelcol-goebpf/otelcol-goebpf/internal/tracediff"
)

// tierAgentConfig is config/agent.yaml's trace path: OTLP in over protocol (grpc or
// http), memory_limiter, routed by trace ID with the persistent queue in front of the
// routing, snappy-compressed to the gateways; both its queue and the per-gateway ones hold
// queueSize requests (5000 in config/agent.yaml). The eBPF receiver is left out: it would instrument other
// processes on the machine.
func tierAgentConfig(protocol string, port, telemetryPort, queueSize int, gateways []string) string {
	return fmt.Sprintf(`
extensions:
  file_storage: { directory: "{{DIR}}/queue", create_directory: true }
receivers:
  otlp:
    protocols:
      %s: { endpoint: 127.0.0.1:%d }
processors:
  memory_limiter: { check_interval: 1s, limit_mib: %d, spike_limit_mib: 128 }
exporters:
  loadbalancing:
    routing_key: traceID
    sending_queue: { enabled: true, storage: file_storage, queue_size: %d }
    retry_on_failure: { enabled: true }
    protocol:
      otlp:
        compression: snappy
        tls: { insecure: true }
        sending_queue: { enabled: true, queue_size: %d }
        retry_on_failure: { enabled: true, initial_interval: 200ms, max_interval: 1s, max_elapsed_time: 0s }
    resolver:
      static: { hostnames: [%s] }
service:
  extensions: [file_storage]
%s
  pipelines:
    traces: { receivers: [otlp], processors: [memory_limiter], exporters: [loadbalancing] }
`, protocol, port, tierLimitMiB, queueSize, queueSize, strings.Join(gateways, ", "), telemetryConfig(telemetryPort))
}

// faultGatewayConfig is config/gateway.yaml's trace path: tail sampling that keeps
// every trace (so spans in = spans out is the claim) after decisionWait, then the
// backend exporter with a persistent queue that retries for ever.
func faultGatewayConfig(port, telemetryPort int, backend string, decisionWait time.Duration) string {
	return fmt.Sprintf(`
extensions:
  file_storage: { directory: "{{DIR}}/queue", create_directory: true }
receivers:
  otlp:
    protocols:
      grpc: { endpoint: 127.0.0.1:%d }
processors:
  tail_sampling_drift:
    decision_wait: %s
    policies: [{ name: all, type: always_sample }]
exporters:
  otlp:
    endpoint: %s
    tls: { insecure: true }
    sending_queue: { enabled: true, storage: file_storage, queue_size: 5000 }
    retry_on_failure: { enabled: true, initial_interval: 200ms, max_interval: 1s, max_elapsed_time: 0s }
service:
  extensions: [file_storage]
%s
  pipelines:
    traces: { receivers: [otlp], processors: [tail_sampling_drift], exporters: [otlp] }
`, port, decisionWait, backend, telemetryConfig(telemetryPort))
}

// startBackend is the trace backend: OTLP/gRPC on port into dir/<file>.
func startBackend(t *testing.T, port int, file string) *Collector {
	t.Helper()
	return startCollector(t, fmt.Sprintf(`
receivers:
  otlp:
    protocols:
      grpc: { endpoint: 127.0.0.1:%d }
exporters:
  file: { path: "{{DIR}}/%s" }
service:
  pipelines:
    traces: { receivers: [otlp], exporters: [file] }
`, port, file))
}

// faultTier is an agent, three gateways and a backend, each on its own ports.
type faultTier struct {
	agent                  *Collector
	agentURL               string
	agentTelemetry         int
	gateways               []*tierGateway
	backendPort            int
	backends               []*Collector // every backend instance run, in order
	sent                   *spanLog
	stopSending            func()
	sendInterval, perBatch int
}

func startFaultTier(t *testing.T, decisionWait time.Duration) *faultTier {
	t.Helper()
	collectorBinary(t)
	ft := &faultTier{backendPort: freePort(t), sendInterval: 100, perBatch: 5}
	ft.backends = append(ft.backends, startBackend(t, ft.backendPort, "sink-0.jsonl"))
	var endpoints []string
	for range 3 {
		port, tport := freePort(t), freePort(t)
		c := startCollector(t, faultGatewayConfig(port, tport, fmt.Sprintf("127.0.0.1:%d", ft.backendPort), decisionWait))
		ft.gateways = append(ft.gateways, &tierGateway{Collector: c, endpoint: fmt.Sprintf("127.0.0.1:%d", port), telemetryPort: tport})
		endpoints = append(endpoints, fmt.Sprintf("127.0.0.1:%d", port))
	}
	port := freePort(t)
	ft.agentTelemetry = freePort(t)
	ft.agent = startCollector(t, tierAgentConfig("http", port, ft.agentTelemetry, 5000, endpoints))
	ft.agentURL = fmt.Sprintf("http://127.0.0.1:%d", port)
	ft.sent = newSpanLog(t)
	return ft
}

// send starts the stream: every sendInterval ms a batch of perBatch whole traces of 3
// spans to the agent; what the agent accepted is logged in ft.sent.
func (ft *faultTier) send(t *testing.T) {
	ft.stopSending = keepSending(t, time.Duration(ft.sendInterval)*time.Millisecond, func() {
		td := checkoutTraces(ft.sent.nextID, ft.perBatch, 200)
		if err := postTraces(ft.agentURL, td); err != nil {
			t.Errorf("the agent refused a batch: %v", err)
			return
		}
		ft.sent.add(t, td)
	})
}

func (ft *faultTier) pause() { ft.stopSending() }

// gatewaySpans sums a tail_sampling_drift span counter over the running gateways.
func (ft *faultTier) gatewaySpans(t *testing.T, name string) float64 {
	var n float64
	for _, gw := range ft.gateways {
		n += selfMetric(t, gw.telemetryPort, "otelcol_processor_tail_sampling_drift_"+name)
	}
	return n
}

// drain stops the agent (it flushes its queues into the gateways), waits until every
// gateway decided everything and its backend queue is empty, then stops the gateways
// and the backend.
func (ft *faultTier) drain(t *testing.T) {
	t.Helper()
	ft.agent.Stop(t)
	eventually(t, 60*time.Second, "the gateways to decide and deliver everything", func() (bool, string) {
		var state []string
		done := true
		for i, gw := range ft.gateways {
			held := selfMetric(t, gw.telemetryPort, "otelcol_processor_tail_sampling_drift_traces_in_memory")
			queued := selfMetric(t, gw.telemetryPort, "otelcol_exporter_queue_size")
			state = append(state, fmt.Sprintf("gateway %d: %v traces held, %v requests queued", i, held, queued))
			done = done && held == 0 && queued == 0
		}
		return done, strings.Join(state, "; ")
	})
	for _, gw := range ft.gateways {
		gw.Stop(t)
	}
	ft.backends[len(ft.backends)-1].Stop(t)
}

// compare runs tracediff between what the agent accepted and what every backend
// instance wrote.
func (ft *faultTier) compare(t *testing.T) *tracediff.Report {
	t.Helper()
	var all []byte
	for i, b := range ft.backends {
		data, err := os.ReadFile(b.Path(fmt.Sprintf("sink-%d.jsonl", i)))
		if err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
		all = append(all, data...)
	}
	union := filepath.Join(t.TempDir(), "backend.jsonl")
	if err := os.WriteFile(union, all, 0o644); err != nil {
		t.Fatal(err)
	}
	rep, err := tracediff.Compare(ft.sent.path, union, tracediff.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

// spanLog writes every batch the agent accepted to a file, for tracediff.
type spanLog struct {
	mu            sync.Mutex
	path          string
	f             *os.File
	rng           *rand.Rand
	traces, spans int
}

func newSpanLog(t *testing.T) *spanLog {
	path := filepath.Join(t.TempDir(), "sent.jsonl")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return &spanLog{path: path, f: f, rng: rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 3))}
}

func (l *spanLog) nextID() pcommon.TraceID {
	l.mu.Lock()
	defer l.mu.Unlock()
	var id pcommon.TraceID
	binary.BigEndian.PutUint64(id[:8], l.rng.Uint64())
	binary.BigEndian.PutUint64(id[8:], l.rng.Uint64()&^0xffff)
	return id
}

func (l *spanLog) add(t *testing.T, td ptrace.Traces) {
	line, err := (&ptrace.JSONMarshaler{}).MarshalTraces(td)
	if err != nil {
		t.Error(err)
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if _, err := l.f.Write(append(line, '\n')); err != nil {
		t.Error(err)
	}
	l.spans += td.SpanCount()
	l.traces += td.SpanCount() / 3
}

func (l *spanLog) count() (traces, spans int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.traces, l.spans
}

// postTraces sends td to an OTLP/HTTP receiver as JSON.
func postTraces(endpoint string, td ptrace.Traces) error {
	body, err := (&ptrace.JSONMarshaler{}).MarshalTraces(td)
	if err != nil {
		return err
	}
	client := http.Client{Timeout: 10 * time.Second}
	resp, err := client.Post(endpoint+"/v1/traces", "application/json", bytes.NewReader(body))
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("POST /v1/traces: %s", resp.Status)
	}
	return nil
}

// TestTierGatewayKilled: one gateway is killed with SIGKILL mid-run and restarted
// while the agent keeps sending. The spans it loses are exactly the ones its tail
// sampler held for decision_wait when it died, as its own counters said just before
// (spans received minus spans decided); every other span, those it had decided
// included, reaches the backend once. A first burst is decided before a second one
// arrives, and the gateway is killed seconds after the second, well within its
// decision_wait: no decision can fall between reading the counters and the kill.
func TestTierGatewayKilled(t *testing.T) {
	ft := startFaultTier(t, 5*time.Second)
	victim := ft.gateways[1]
	burst := func() {
		ft.send(t)
		time.Sleep(time.Second)
		ft.pause()
		_, sentSpans := ft.sent.count()
		eventually(t, 30*time.Second, "the gateways to receive what the agent accepted", func() (bool, string) {
			got := ft.gatewaySpans(t, "spans_received")
			return int(got) == sentSpans, fmt.Sprintf("%v of %d spans at the gateways", got, sentSpans)
		})
	}
	burst()
	eventually(t, 30*time.Second, "gateway 1 to decide the first burst", func() (bool, string) {
		n := selfMetric(t, victim.telemetryPort, "otelcol_processor_tail_sampling_drift_traces_in_memory")
		return n == 0, fmt.Sprintf("%v traces held", n)
	})
	burst()
	receivedBeforeKill := selfMetric(t, victim.telemetryPort, "otelcol_processor_tail_sampling_drift_spans_received")
	held := receivedBeforeKill -
		selfMetric(t, victim.telemetryPort, "otelcol_processor_tail_sampling_drift_spans_sampled") -
		selfMetric(t, victim.telemetryPort, "otelcol_processor_tail_sampling_drift_spans_not_sampled") -
		selfMetric(t, victim.telemetryPort, "otelcol_processor_tail_sampling_drift_late_spans")
	victim.Kill(t)
	t.Logf("gateway 1 killed holding %v spans for decision_wait", held)

	ft.send(t) // its share waits in the agent's queue for gateway 1
	time.Sleep(3 * time.Second)
	victim.Collector = victim.Restart(t)
	time.Sleep(3 * time.Second)
	ft.pause()
	// The agent's connection to gateway 1 is in gRPC's reconnect backoff for a few
	// seconds; stopping the agent before it delivers would drop that queue (logged
	// as dropped, but not the loss this test is about).
	_, sentSpans := ft.sent.count()
	eventually(t, 60*time.Second, "the agent to deliver its queue for the restarted gateway", func() (bool, string) {
		got := ft.gatewaySpans(t, "spans_received") + receivedBeforeKill
		return int(got) == sentSpans, fmt.Sprintf("%v of %d spans at the gateways", got, sentSpans)
	})
	ft.drain(t)

	rep := ft.compare(t)
	traces, spans := ft.sent.count()
	t.Logf("%d traces, %d spans accepted by the agent: %s", traces, spans, rep.Summary())
	if held == 0 {
		t.Fatalf("the killed gateway held nothing: the test shows no loss to account for")
	}
	if float64(rep.MissingSpans) != held || rep.ExtraSpans != 0 || rep.DuplicatedB != 0 || rep.DifferingSpans != 0 {
		t.Fatalf("want exactly the %v held spans missing, nothing else: %s\n%s", held, rep.Summary(), strings.Join(rep.Details, "\n"))
	}
}

// TestTierBackendOutageAndAgentRestart: the backend is down for 60 s; during the
// outage the agent is restarted, and so is a gateway holding 30 s of spans for the
// backend. With persistent queues every span the agent accepted reaches the backend,
// once.
func TestTierBackendOutageAndAgentRestart(t *testing.T) {
	ft := startFaultTier(t, 5*time.Second)
	ft.send(t)
	time.Sleep(3 * time.Second)
	ft.backends[0].Stop(t)
	down := time.Now()

	time.Sleep(20 * time.Second)
	ft.pause()
	ft.agent.Stop(t)
	ft.agent = ft.agent.Restart(t)
	ft.send(t)

	time.Sleep(10 * time.Second)
	gw := ft.gateways[0]
	queued := selfMetric(t, gw.telemetryPort, "otelcol_exporter_queue_size")
	gw.Stop(t)
	gw.Collector = gw.Restart(t)
	t.Logf("gateway 0 restarted with %v requests queued for the backend", queued)

	time.Sleep(time.Until(down.Add(60 * time.Second)))
	ft.backends = append(ft.backends, startBackend(t, ft.backendPort, "sink-1.jsonl"))
	t.Logf("backend down for %.1fs", time.Since(down).Seconds())
	time.Sleep(3 * time.Second)
	ft.pause()
	var failed float64
	for _, gw := range ft.gateways {
		failed += selfMetric(t, gw.telemetryPort, "otelcol_exporter_send_failed_spans") +
			selfMetric(t, gw.telemetryPort, "otelcol_exporter_enqueue_failed_spans")
	}
	ft.drain(t)

	rep := ft.compare(t)
	traces, spans := ft.sent.count()
	t.Logf("%d traces, %d spans accepted by the agent: %s", traces, spans, rep.Summary())
	if failed != 0 {
		t.Errorf("the gateways counted %v spans failed or not queued", failed)
	}
	if !rep.Equal() || rep.SpansA != spans {
		t.Fatalf("%s\n%s", rep.Summary(), strings.Join(rep.Details, "\n"))
	}
}
