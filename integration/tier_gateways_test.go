package integration

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/otelcol-goebpf/otelcol-goebpf/internal/testutil/alertmanager"
	"github.com/otelcol-goebpf/otelcol-goebpf/internal/tracediff"
)

// tierGatewayConfig is a gateway: OTLP/gRPC in, slo_burn on every span, then tail
// sampling on whole traces into a file; with alertmanager set, SLO alerts go there
// through fuse with shared_alerts (each gateway sends the alert it computes on its
// share; Alertmanager deduplicates them by their labels).
func tierGatewayConfig(port, telemetryPort int, alertmanagerURL string) string {
	logs, fuse := "", ""
	if alertmanagerURL != "" {
		fuse = fmt.Sprintf(`  fuse:
    alertmanager: { endpoint: %s, resend_interval: 2s, shared_alerts: true }
`, alertmanagerURL)
		logs = "    logs: { receivers: [otlp], processors: [slo_burn], exporters: [fuse] }\n"
	}
	return fmt.Sprintf(`
receivers:
  otlp:
    protocols:
      grpc: { endpoint: 127.0.0.1:%d }
processors:
  slo_burn:
    emit_interval: 1s
    slos:
      - name: checkout-availability
        service: checkout
        span_kind: server
        objective: 99.9
        period: 30d
        sli: { availability: {} }
    alerting:
      tiers: [{ severity: page, long: 1m, short: 10s, burn_rate: 10 }]
      min_events: 5
      resolve_for: 3s
  tail_sampling_drift:
    decision_wait: 1s
    policies:
      - { name: errors, type: status_code, status_code: { status_codes: [ERROR] } }
      - { name: some, type: probabilistic, probabilistic: { sampling_percentage: 20 } }
exporters:
  file: { path: "{{DIR}}/sampled.jsonl" }
%s
service:
%s
  pipelines:
    traces: { receivers: [otlp], processors: [slo_burn, tail_sampling_drift], exporters: [file] }
%s`, port, fuse, telemetryConfig(telemetryPort), logs)
}

// tierGateway is one running gateway and the ports it was given.
type tierGateway struct {
	*Collector
	endpoint      string
	telemetryPort int
}

func startTierGateway(t *testing.T, alertmanagerURL string) *tierGateway {
	t.Helper()
	port, tport := freePort(t), freePort(t)
	c := startCollector(t, tierGatewayConfig(port, tport, alertmanagerURL))
	return &tierGateway{Collector: c, endpoint: fmt.Sprintf("127.0.0.1:%d", port), telemetryPort: tport}
}

// checkoutTraces builds n traces of three spans each: a checkout SERVER root with the
// given HTTP status (5xx is an error) and two children. Trace IDs come from next.
func checkoutTraces(next func() pcommon.TraceID, n int, status int64) ptrace.Traces {
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	rs.Resource().Attributes().PutStr("service.name", "checkout")
	spans := rs.ScopeSpans().AppendEmpty().Spans()
	now := time.Now()
	for range n {
		tid := next()
		root := binary.BigEndian.Uint64(tid[8:])
		for k := range 3 {
			s := spans.AppendEmpty()
			s.SetTraceID(tid)
			var sid pcommon.SpanID
			binary.BigEndian.PutUint64(sid[:], root+uint64(k))
			s.SetSpanID(sid)
			s.SetStartTimestamp(pcommon.NewTimestampFromTime(now.Add(-30 * time.Millisecond)))
			s.SetEndTimestamp(pcommon.NewTimestampFromTime(now.Add(-time.Duration(k) * time.Millisecond)))
			if k == 0 {
				s.SetName("GET /checkout")
				s.SetKind(ptrace.SpanKindServer)
				s.Attributes().PutStr("http.request.method", "GET")
				s.Attributes().PutStr("http.route", "/checkout")
				s.Attributes().PutInt("http.response.status_code", status)
				if status >= 500 {
					s.Status().SetCode(ptrace.StatusCodeError)
				}
				continue
			}
			var parent pcommon.SpanID
			binary.BigEndian.PutUint64(parent[:], root)
			s.SetParentSpanID(parent)
			s.SetName(fmt.Sprintf("step-%d", k))
			s.SetKind(ptrace.SpanKindInternal)
		}
	}
	return td
}

// alertNotifications records the notifications Alertmanager's webhook receiver sends.
type alertNotifications struct {
	mu  sync.Mutex
	got []alertNotification
	url string
}

type alertNotification struct {
	at     time.Time
	Status string `json:"status"`
	Alerts []struct {
		Status string            `json:"status"`
		Labels map[string]string `json:"labels"`
	} `json:"alerts"`
}

func startAlertReceiver(t *testing.T) *alertNotifications {
	t.Helper()
	n := &alertNotifications{}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var a alertNotification
		if err := json.Unmarshal(body, &a); err != nil {
			t.Errorf("webhook notification is not JSON: %v: %s", err, body)
		}
		a.at = time.Now()
		n.mu.Lock()
		n.got = append(n.got, a)
		n.mu.Unlock()
	})}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	n.url = "http://" + ln.Addr().String() + "/"
	return n
}

// count returns how many notifications carried the alert named alertname in state.
func (n *alertNotifications) count(alertname, state string) (int, time.Time) {
	n.mu.Lock()
	defer n.mu.Unlock()
	c, first := 0, time.Time{}
	for _, a := range n.got {
		for _, al := range a.Alerts {
			if al.Labels["alertname"] == alertname && al.Status == state {
				if c == 0 {
					first = a.at
				}
				c++
				break
			}
		}
	}
	return c, first
}

// TestTierThreeGatewaysDecideOnceAndPageOnce: 1 agent routing by trace ID to 3
// gateways (static resolver), each computing SLO burn on its share and tail-sampling
// whole traces, with a real Alertmanager that notifies a webhook.
//   - Every trace reaches one gateway and is decided there once; the union of the
//     three gateways' sampled traces equals what one gateway run on the same input
//     keeps (tracediff: no difference).
//   - A full outage pages exactly once within 65 s. When it ends for two gateways
//     while the third still sees errors, the alert stays firing (no resolved
//     notification, no second page); when the third recovers it resolves once.
func TestTierThreeGatewaysDecideOnceAndPageOnce(t *testing.T) {
	collectorBinary(t)
	hook := startAlertReceiver(t)
	am := alertmanager.Start(t, alertmanager.Options{Config: fmt.Sprintf(`route:
  receiver: hook
  group_by: [alertname, slo]
  group_wait: 1s
  group_interval: 1s
  repeat_interval: 1h
receivers:
  - name: hook
    webhook_configs:
      - url: %s
        send_resolved: true
`, hook.url)})

	var gws []*tierGateway
	var endpoints []string
	for range 3 {
		gw := startTierGateway(t, am.URL)
		gws = append(gws, gw)
		endpoints = append(endpoints, gw.endpoint)
	}
	reference := startTierGateway(t, "")
	agentPort := freePort(t)
	agent := startCollector(t, agentConfig(agentPort, endpoints, `    sending_queue: { enabled: true, storage: file_storage }
    retry_on_failure: { enabled: true }
    protocol:
      otlp:
        tls: { insecure: true }
        sending_queue: { enabled: true }
        retry_on_failure: { enabled: true }`))
	agentURL := fmt.Sprintf("http://127.0.0.1:%d", agentPort)

	grpcClient := func(endpoint string) ptraceotlp.GRPCClient {
		conn, err := grpc.NewClient(endpoint, grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.Close() })
		return ptraceotlp.NewGRPCClient(conn)
	}
	toReference, toGateway0 := grpcClient(reference.endpoint), grpcClient(gws[0].endpoint)
	export := func(c ptraceotlp.GRPCClient, td ptrace.Traces) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if _, err := c.Export(ctx, ptraceotlp.NewExportRequestFromTraces(td)); err != nil {
			t.Errorf("OTLP export: %v", err)
		}
	}

	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 14))
	var idMu sync.Mutex
	traces, spans := 0, 0
	nextID := func() pcommon.TraceID {
		idMu.Lock()
		defer idMu.Unlock()
		var id pcommon.TraceID
		binary.BigEndian.PutUint64(id[:8], rng.Uint64())
		binary.BigEndian.PutUint64(id[8:], rng.Uint64()&^0xffff)
		traces++
		spans += 3
		return id
	}
	// Every batch goes to the tier (through the agent, or straight to gateway 0 for
	// the errors only it sees) and the same batch to the reference gateway.
	viaAgent := func(status int64) func() {
		return func() {
			td := checkoutTraces(nextID, 10, status)
			export(toReference, td)
			postOTLP(t, agentURL, td)
		}
	}
	onlyGateway0 := func() {
		td := checkoutTraces(nextID, 20, 503)
		export(toReference, td)
		export(toGateway0, td)
	}

	const alert = "SLOBurnRate"
	stop := keepSending(t, 200*time.Millisecond, viaAgent(200))
	time.Sleep(4 * time.Second)
	stop()

	outageStart := time.Now()
	stop = keepSending(t, 200*time.Millisecond, viaAgent(503))
	eventually(t, 65*time.Second, "the outage to page", func() (bool, string) {
		n, _ := hook.count(alert, "firing")
		return n > 0, fmt.Sprintf("%d firing notifications", n)
	})
	_, pagedAt := hook.count(alert, "firing")
	t.Logf("paged %.1fs after the outage started", pagedAt.Sub(outageStart).Seconds())
	time.Sleep(3 * time.Second) // every gateway fires; still one page
	stop()

	// The outage ends, except for the share of gateway 0.
	stopHealthy := keepSending(t, 200*time.Millisecond, viaAgent(200))
	defer stopHealthy()
	stopTail := keepSending(t, 200*time.Millisecond, onlyGateway0)
	defer stopTail()
	eventually(t, 60*time.Second, "gateways 1 and 2 to resolve their share", func() (bool, string) {
		a1 := selfMetric(t, gws[1].telemetryPort, "otelcol_fuse_alerts_active")
		a2 := selfMetric(t, gws[2].telemetryPort, "otelcol_fuse_alerts_active")
		return a1 == 0 && a2 == 0, fmt.Sprintf("active alerts on gateways 1, 2: %v, %v", a1, a2)
	})
	if a0 := selfMetric(t, gws[0].telemetryPort, "otelcol_fuse_alerts_active"); a0 != 1 {
		t.Fatalf("gateway 0 still sees errors but holds %v active alerts", a0)
	}
	// Longer than a lease (4 × resend_interval = 8 s): only gateway 0's renewals keep it.
	holdUntil := time.Now().Add(12 * time.Second)
	for time.Now().Before(holdUntil) {
		alerts, err := am.Alerts(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := alertmanager.Find(alerts, map[string]string{"alertname": alert}); !ok {
			t.Fatalf("the alert resolved in Alertmanager while gateway 0 still fires it")
		}
		time.Sleep(500 * time.Millisecond)
	}
	stopTail()
	recoveredAt := time.Now()
	eventually(t, 60*time.Second, "the alert to resolve", func() (bool, string) {
		n, _ := hook.count(alert, "resolved")
		return n > 0, fmt.Sprintf("%d resolved notifications", n)
	})
	_, resolvedAt := hook.count(alert, "resolved")
	t.Logf("resolved %.1fs after gateway 0 recovered", resolvedAt.Sub(recoveredAt).Seconds())
	stopHealthy()
	time.Sleep(3 * time.Second) // a flap would notify again within group_interval
	firing, _ := hook.count(alert, "firing")
	resolved, _ := hook.count(alert, "resolved")
	if firing != 1 || resolved != 1 {
		t.Errorf("Alertmanager notified %d firing and %d resolved, want exactly 1 and 1", firing, resolved)
	}

	// Every trace decided once, on one gateway.
	agent.Stop(t) // drains its queue into the gateways
	eventually(t, 30*time.Second, "every gateway to decide what it holds", func() (bool, string) {
		var held []float64
		done := true
		for _, gw := range append(gws, reference) {
			n := selfMetric(t, gw.telemetryPort, "otelcol_processor_tail_sampling_drift_traces_in_memory")
			held = append(held, n)
			done = done && n == 0
		}
		return done, fmt.Sprintf("traces in memory: %v", held)
	})
	var decided, received, observed, forwarded float64
	for i, gw := range gws {
		d := selfMetric(t, gw.telemetryPort, "otelcol_processor_tail_sampling_drift_traces_decided")
		t.Logf("gateway %d decided %v traces", i, d)
		decided += d
		received += selfMetric(t, gw.telemetryPort, "otelcol_processor_tail_sampling_drift_spans_received")
		observed += selfMetric(t, gw.telemetryPort, "otelcol_processor_slo_burn_spans_observed")
		forwarded += selfMetric(t, gw.telemetryPort, "otelcol_processor_slo_burn_spans_forwarded")
	}
	idMu.Lock()
	sentTraces, sentSpans := traces, spans
	idMu.Unlock()
	if int(decided) != sentTraces {
		t.Errorf("the gateways decided %v traces; %d were sent", decided, sentTraces)
	}
	if int(observed) != sentSpans || forwarded != observed || received != observed {
		t.Errorf("span account of the tier: sent %d, slo_burn observed %v forwarded %v, tail_sampling_drift received %v",
			sentSpans, observed, forwarded, received)
	}

	dir := t.TempDir()
	union := filepath.Join(dir, "union.jsonl")
	var all []byte
	var files []string
	for i, gw := range gws {
		gw.Stop(t)
		b, err := os.ReadFile(gw.Path("sampled.jsonl"))
		if err != nil {
			t.Fatalf("gateway %d wrote nothing: %v", i, err)
		}
		all = append(all, b...)
		files = append(files, gw.Path("sampled.jsonl"))
	}
	if _, err := traceOwners(files); err != nil {
		t.Fatalf("a trace kept by two gateways: %v", err)
	}
	if err := os.WriteFile(union, all, 0o644); err != nil {
		t.Fatal(err)
	}
	reference.Stop(t)
	// slo_burn marks the spans of a burning SLO (slo.*); when each gateway starts and
	// stops burning differs from the single gateway, so those attributes are left out.
	rep, err := tracediff.Compare(reference.Path("sampled.jsonl"), union, tracediff.Options{Ignore: []string{"attributes.slo.*"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d traces sent; single gateway vs union of 3: %s", sentTraces, rep.Summary())
	if !rep.Equal() || rep.TracesA == 0 {
		t.Fatalf("%s\n%s", rep.Summary(), strings.Join(rep.Details, "\n"))
	}
}
