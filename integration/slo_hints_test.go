package integration

import (
	"context"
	"crypto/rand"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/otelcol-goebpf/otelcol-goebpf/exporter/fuseexporter/webhooktest"
	"github.com/otelcol-goebpf/otelcol-goebpf/internal/testutil/alertmanager"
)

// The built binary, fed spans over OTLP in which only /orders fails, pages through a real
// Alertmanager and a signed webhook with annotations that name http.route=/orders and
// carry trace IDs of failing spans that were sent (and of no successful one).
func TestSLOAlertCarriesHintAndExemplarsToAlertmanager(t *testing.T) {
	am := alertmanager.Start(t, alertmanager.Options{})
	const secret = "hints-secret"
	hook := webhooktest.NewReceiver(t, secret)
	otlpPort := freePort(t)

	startCollector(t, fmt.Sprintf(`
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
        objective: 99.9
        period: 30d
        sli: { availability: {} }
    alerting:
      tiers: [{ severity: page, long: 1m, short: 10s, burn_rate: 10 }]
      min_events: 5
    hints:
      window: 20s
exporters:
  file/traces: { path: "{{DIR}}/traces.jsonl" }
  fuse:
    alertmanager:
      endpoint: %s
      resend_interval: 2s
    webhooks:
      - endpoint: %s
        secret: ${env:FUSE_SECRET}
service:
  pipelines:
    traces: { receivers: [otlp], processors: [slo_burn], exporters: [file/traces] }
    logs:   { receivers: [otlp], processors: [slo_burn], exporters: [fuse] }
`, otlpPort, am.URL, hook.URL), "FUSE_SECRET="+secret)

	conn, err := grpc.NewClient(fmt.Sprintf("127.0.0.1:%d", otlpPort), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	client := ptraceotlp.NewGRPCClient(conn)

	var mu sync.Mutex
	sentBad, sentGood := map[string]bool{}, map[string]bool{}
	send := func() {
		t.Helper()
		td, bad, good := routeTraffic("checkout", 20, "/orders")
		mu.Lock()
		for _, id := range bad {
			sentBad[id] = true
		}
		for _, id := range good {
			sentGood[id] = true
		}
		mu.Unlock()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if _, err := client.Export(ctx, ptraceotlp.NewExportRequestFromTraces(td)); err != nil {
			t.Errorf("OTLP export: %v", err)
		}
	}
	stop := keepSending(t, 200*time.Millisecond, send)
	defer stop()

	labels := map[string]string{"alertname": "SLOBurnRate", "slo": "checkout-availability", "severity": "page"}
	var got alertmanager.Alert
	am.WaitForAlerts(t, 60*time.Second, func(alerts []alertmanager.Alert) bool {
		a, ok := alertmanager.Find(alerts, labels)
		if ok && a.Status.State == "active" && a.Annotations["hint_values"] == "http.route=/orders" {
			got = a
			return true
		}
		return false
	})
	stop()
	if !strings.HasPrefix(got.Annotations["hint"], "http.route=/orders: 100% of bad events, 50% of all") {
		t.Errorf("hint annotation = %q", got.Annotations["hint"])
	}
	if !strings.Contains(got.Annotations["summary"], "bad events concentrate on http.route=/orders") {
		t.Errorf("summary annotation = %q", got.Annotations["summary"])
	}
	checkExemplars := func(where, ids string) {
		t.Helper()
		list := strings.Split(ids, ",")
		if ids == "" || len(list) > 3 {
			t.Fatalf("%s: exemplar_trace_ids = %q, want 1 to 3 trace IDs", where, ids)
		}
		mu.Lock()
		defer mu.Unlock()
		for _, id := range list {
			if !sentBad[id] {
				t.Errorf("%s: exemplar trace ID %s is not a failing span that was sent (a successful one: %v)", where, id, sentGood[id])
			}
		}
	}
	checkExemplars("alertmanager", got.Annotations["exemplar_trace_ids"])

	hook.WaitFor(t, 30*time.Second, func(ds []webhooktest.Delivery) bool {
		for _, d := range ds {
			if d.VerifyErr != nil {
				t.Fatalf("webhook delivery rejected: %v", d.VerifyErr)
			}
			for _, a := range d.Payload.Alerts {
				if a.Status == "firing" && a.Labels["slo"] == "checkout-availability" && a.Annotations["hint_values"] == "http.route=/orders" {
					checkExemplars("webhook", a.Annotations["exemplar_trace_ids"])
					return true
				}
			}
		}
		return false
	})
}

// routeTraffic is n checkout server spans with random trace IDs, half on badRoute (all
// failing with 503) and half on /cart (all succeeding); it returns the trace IDs of both.
func routeTraffic(service string, n int, badRoute string) (td ptrace.Traces, bad, good []string) {
	td = ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	rs.Resource().Attributes().PutStr("service.name", service)
	rs.Resource().Attributes().PutStr("service.version", "1.3.0")
	spans := rs.ScopeSpans().AppendEmpty().Spans()
	now := time.Now()
	for i := 0; i < n; i++ {
		var tid pcommon.TraceID
		var sid pcommon.SpanID
		_, _ = rand.Read(tid[:])
		_, _ = rand.Read(sid[:])
		s := spans.AppendEmpty()
		s.SetTraceID(tid)
		s.SetSpanID(sid)
		s.SetKind(ptrace.SpanKindServer)
		s.SetStartTimestamp(pcommon.NewTimestampFromTime(now.Add(-20 * time.Millisecond)))
		s.SetEndTimestamp(pcommon.NewTimestampFromTime(now))
		route, status := "/cart", int64(200)
		if i%2 == 0 {
			route, status = badRoute, 503
			s.Status().SetCode(ptrace.StatusCodeError)
			bad = append(bad, tid.String())
		} else {
			good = append(good, tid.String())
		}
		s.SetName("GET " + route)
		s.Attributes().PutStr("http.route", route)
		s.Attributes().PutInt("http.response.status_code", status)
	}
	return td, bad, good
}
