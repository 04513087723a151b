package integration

import (
	"context"
	"encoding/binary"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

// The memory limit (memory_limiter) of every collector of the tier tests.
const tierLimitMiB = 512

// loadGatewayConfig is config/gateway.yaml's trace path into a file sink, keeping
// every trace so that zero loss is checkable by count.
func loadGatewayConfig(port, telemetryPort int) string {
	return fmt.Sprintf(`
receivers:
  otlp:
    protocols:
      grpc: { endpoint: 127.0.0.1:%d }
processors:
  memory_limiter: { check_interval: 1s, limit_mib: %d, spike_limit_mib: 128 }
  slo_burn:
    slos:
      - { name: checkout-availability, service: checkout, span_kind: server, objective: 99.9, period: 30d, sli: { availability: {} } }
      - { name: checkout-latency, service: checkout, span_kind: server, objective: 99, period: 30d, sli: { latency: { threshold: 300ms } } }
  tail_sampling_drift:
    decision_wait: 10s
    num_traces: 200000
    expected_new_traces_per_sec: 2000
    policies: [{ name: all, type: always_sample }]
exporters:
  file: { path: "{{DIR}}/sink.jsonl" }
service:
%s
  pipelines:
    traces: { receivers: [otlp], processors: [memory_limiter, slo_burn, tail_sampling_drift], exporters: [file] }
`, port, tierLimitMiB, telemetryConfig(telemetryPort))
}

// procUsage is a process's CPU time (user + system) and peak resident memory.
type procUsage struct {
	cpu    time.Duration
	hwmKiB int64
}

func readProcUsage(t *testing.T, pid int) procUsage {
	t.Helper()
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		t.Fatalf("process %d: %v", pid, err)
	}
	// Fields after the command name, which is in parentheses and may hold spaces.
	fields := strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+2:]))
	utime, _ := strconv.ParseInt(fields[11], 10, 64)
	stime, _ := strconv.ParseInt(fields[12], 10, 64)
	var u procUsage
	u.cpu = time.Duration(utime+stime) * 10 * time.Millisecond // USER_HZ = 100
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.SplitSeq(string(status), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			u.hwmKiB, _ = strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		}
	}
	return u
}

// loadGenerator offers rate spans/s over OTLP/gRPC, as traces of 3 spans in batches
// of 100 traces, from several senders; what is accepted and refused is counted.
type loadGenerator struct {
	accepted, refused, skipped atomic.Int64
	seq                        atomic.Uint64
}

func (g *loadGenerator) run(t *testing.T, endpoint string, rate int, d time.Duration) {
	t.Helper()
	conn, err := grpc.NewClient(endpoint, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	client := ptraceotlp.NewGRPCClient(conn)
	const tracesPerBatch, spansPerTrace = 100, 3
	batches := make(chan struct{}, 16)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range batches {
				td := g.batch(tracesPerBatch)
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				_, err := client.Export(ctx, ptraceotlp.NewExportRequestFromTraces(td))
				cancel()
				if err != nil {
					g.refused.Add(int64(td.SpanCount()))
				} else {
					g.accepted.Add(int64(td.SpanCount()))
				}
			}
		})
	}
	perBatch := tracesPerBatch * spansPerTrace
	interval := time.Duration(float64(time.Second) * float64(perBatch) / float64(rate))
	tick := time.NewTicker(interval)
	end := time.Now().Add(d)
	for time.Now().Before(end) {
		<-tick.C
		select {
		case batches <- struct{}{}:
		default:
			g.skipped.Add(int64(perBatch)) // the senders fell behind: not offered
		}
	}
	tick.Stop()
	close(batches)
	wg.Wait()
}

func (g *loadGenerator) batch(n int) ptrace.Traces {
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	rs.Resource().Attributes().PutStr("service.name", "checkout")
	spans := rs.ScopeSpans().AppendEmpty().Spans()
	now := time.Now()
	for range n {
		seq := g.seq.Add(1)
		var tid pcommon.TraceID
		binary.BigEndian.PutUint64(tid[:8], seq*0x9e3779b97f4a7c15)
		binary.BigEndian.PutUint64(tid[8:], seq)
		for k := range 3 {
			s := spans.AppendEmpty()
			s.SetTraceID(tid)
			var sid pcommon.SpanID
			binary.BigEndian.PutUint64(sid[:], seq<<2|uint64(k))
			s.SetSpanID(sid)
			s.SetStartTimestamp(pcommon.NewTimestampFromTime(now.Add(-20 * time.Millisecond)))
			s.SetEndTimestamp(pcommon.NewTimestampFromTime(now))
			if k == 0 {
				s.SetName("GET /checkout")
				s.SetKind(ptrace.SpanKindServer)
				s.Attributes().PutStr("http.request.method", "GET")
				s.Attributes().PutStr("http.route", "/checkout")
				s.Attributes().PutInt("http.response.status_code", 200)
				continue
			}
			var parent pcommon.SpanID
			binary.BigEndian.PutUint64(parent[:], seq<<2)
			s.SetParentSpanID(parent)
			s.SetName("step")
			s.SetKind(ptrace.SpanKindInternal)
			s.Attributes().PutInt("step", int64(k))
		}
	}
	return td
}

// loadEnv reads the load test's settings: TIER_LOAD_RATE spans/s (default 2000),
// TIER_LOAD_DURATION per phase (default 20s), TIER_LOAD_OVERLOAD=1 to add a phase at
// twice the rate (`make loadtest` sets all three).
func loadEnv(t *testing.T) (rate int, d time.Duration, overload bool) {
	rate, d = 2000, 20*time.Second
	if v := os.Getenv("TIER_LOAD_RATE"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 {
			t.Fatalf("TIER_LOAD_RATE=%q: want a positive number of spans/s", v)
		}
		rate = n
	}
	if v := os.Getenv("TIER_LOAD_DURATION"); v != "" {
		var err error
		if d, err = time.ParseDuration(v); err != nil || d <= 0 {
			t.Fatalf("TIER_LOAD_DURATION=%q: want a positive duration", v)
		}
	}
	return rate, d, os.Getenv("TIER_LOAD_OVERLOAD") == "1"
}

// TestTierLoad sends sustained load through agent → 3 gateways → file sinks. At the
// rate it must lose nothing: every span the agent accepted is written by a gateway.
// With TIER_LOAD_OVERLOAD=1 a second phase offers twice the rate: every process must
// survive with its peak memory under the configured limit, and every refusal must be
// counted where it happened. It prints CPU per span for each tier.
func TestTierLoad(t *testing.T) {
	collectorBinary(t)
	rate, d, overload := loadEnv(t)
	var gws []*tierGateway
	var endpoints []string
	for range 3 {
		port, tport := freePort(t), freePort(t)
		c := startCollector(t, loadGatewayConfig(port, tport))
		gws = append(gws, &tierGateway{Collector: c, endpoint: fmt.Sprintf("127.0.0.1:%d", port), telemetryPort: tport})
		endpoints = append(endpoints, fmt.Sprintf("127.0.0.1:%d", port))
	}
	agentPort, agentTelemetry := freePort(t), freePort(t)
	agent := startCollector(t, tierAgentConfig("grpc", agentPort, agentTelemetry, 5000, endpoints))

	written := func() float64 {
		var n float64
		for _, gw := range gws {
			n += selfMetric(t, gw.telemetryPort, "otelcol_exporter_sent_spans", `exporter="file"`)
		}
		return n
	}
	phase := func(name string, rate int, wantZeroLoss bool) {
		t.Helper()
		before := written()
		agent0, gws0 := readProcUsage(t, agent.Cmd.Process.Pid), make([]procUsage, len(gws))
		for i, gw := range gws {
			gws0[i] = readProcUsage(t, gw.Cmd.Process.Pid)
		}
		refused0 := selfMetric(t, agentTelemetry, "otelcol_receiver_refused_spans")
		g := &loadGenerator{}
		start := time.Now()
		g.run(t, fmt.Sprintf("127.0.0.1:%d", agentPort), rate, d)
		elapsed := time.Since(start)
		accepted := float64(g.accepted.Load())
		// Wait for decision_wait and the queues, then for the count to stop moving.
		last, stable := -1.0, 0
		eventually(t, 2*time.Minute, name+": the tier to write what it accepted", func() (bool, string) {
			n := written() - before
			if n == last {
				stable++
			} else {
				stable = 0
			}
			last = n
			return n >= accepted || stable >= 100, fmt.Sprintf("%v of %v spans written", n, accepted)
		})
		out := written() - before
		agent1 := readProcUsage(t, agent.Cmd.Process.Pid)
		refused := selfMetric(t, agentTelemetry, "otelcol_receiver_refused_spans") - refused0
		var gwCPU time.Duration
		var gwHWM int64
		for i, gw := range gws {
			u := readProcUsage(t, gw.Cmd.Process.Pid)
			gwCPU += u.cpu - gws0[i].cpu
			gwHWM = max(gwHWM, u.hwmKiB)
		}
		t.Logf("%s: offered %d spans/s for %s (%.0f spans/s accepted, %d not offered: the sender fell behind); "+
			"accepted %.0f, refused %d (agent counted %.0f), written %.0f, lost %.0f",
			name, rate, elapsed.Round(time.Second), accepted/elapsed.Seconds(), g.skipped.Load(),
			accepted, g.refused.Load(), refused, out, accepted-out)
		t.Logf("%s: CPU per span: agent %.1f µs, gateways %.1f µs (sum of 3); peak RSS agent %d MiB, largest gateway %d MiB (limit %d MiB)",
			name, float64((agent1.cpu-agent0.cpu).Microseconds())/out, float64(gwCPU.Microseconds())/out,
			agent1.hwmKiB>>10, gwHWM>>10, tierLimitMiB)
		for _, c := range append([]*Collector{agent}, gws[0].Collector, gws[1].Collector, gws[2].Collector) {
			if c.Cmd.ProcessState != nil {
				t.Fatalf("%s: a collector exited: %v", name, c.Cmd.ProcessState)
			}
		}
		if agent1.hwmKiB>>10 >= tierLimitMiB || gwHWM>>10 >= tierLimitMiB {
			t.Errorf("%s: peak memory over the %d MiB limit", name, tierLimitMiB)
		}
		if float64(g.refused.Load()) != refused {
			t.Errorf("%s: the sender saw %d spans refused, the agent counted %.0f", name, g.refused.Load(), refused)
		}
		if wantZeroLoss && (out != accepted || g.refused.Load() != 0) {
			t.Errorf("%s: not zero loss at %d spans/s: accepted %.0f, refused %d, written %.0f", name, rate, accepted, g.refused.Load(), out)
		}
	}
	phase("sustained", rate, true)
	if overload {
		phase("overload", 2*rate, false)
	}
}

// TestTierRefusalsCounted: the tier cannot keep up (its only gateway is not up yet)
// and the agent's queues, kept small here, fill. The agent then refuses, and every span
// the sender saw refused is counted by the agent; once the gateway is up, every span
// the agent accepted is written: refusals are the only loss, and they are counted.
func TestTierRefusalsCounted(t *testing.T) {
	collectorBinary(t)
	gwPort, gwTelemetry := freePort(t), freePort(t)
	agentPort, agentTelemetry := freePort(t), freePort(t)
	agent := startCollector(t, tierAgentConfig("grpc", agentPort, agentTelemetry, 20, []string{fmt.Sprintf("127.0.0.1:%d", gwPort)}))
	g := &loadGenerator{}
	g.run(t, fmt.Sprintf("127.0.0.1:%d", agentPort), 5000, 10*time.Second)
	refused := selfMetric(t, agentTelemetry, "otelcol_receiver_refused_spans")
	enqueueFailed := selfMetric(t, agentTelemetry, "otelcol_exporter_enqueue_failed_spans")
	t.Logf("sender: %d spans accepted, %d refused; agent counted %v refused (%v failed to enqueue)",
		g.accepted.Load(), g.refused.Load(), refused, enqueueFailed)
	if g.refused.Load() == 0 {
		t.Fatalf("nothing refused: the queues never filled, the test shows nothing")
	}
	if float64(g.refused.Load()) != refused {
		t.Errorf("the sender saw %d spans refused, the agent counted %v", g.refused.Load(), refused)
	}

	gw := startCollector(t, loadGatewayConfig(gwPort, gwTelemetry))
	eventually(t, 60*time.Second, "the gateway to write every span the agent accepted", func() (bool, string) {
		n := selfMetric(t, gwTelemetry, "otelcol_exporter_sent_spans", `exporter="file"`)
		return int64(n) == g.accepted.Load(), fmt.Sprintf("%v of %d written", n, g.accepted.Load())
	})
	agent.Stop(t)
	gw.Stop(t)
}
