package integration

import (
	"context"
	"fmt"
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

// The built binary, fed spans over OTLP, computes an SLO's burn and pushes a firing and
// then a resolved alert into a real Alertmanager and into a webhook that checks the
// HMAC signature.
func TestSLOBurnAlertReachesAlertmanagerAndWebhook(t *testing.T) {
	am := alertmanager.Start(t, alertmanager.Options{})
	const secret = "integration-secret"
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
      resolve_for: 5s
exporters:
  file/traces: { path: "{{DIR}}/traces.jsonl" }
  file/metrics: { path: "{{DIR}}/metrics.jsonl" }
  fuse:
    alertmanager:
      endpoint: %s
      resend_interval: 2s
    webhooks:
      - endpoint: %s
        secret: ${env:FUSE_SECRET}
service:
  pipelines:
    traces:  { receivers: [otlp], processors: [slo_burn], exporters: [file/traces] }
    metrics: { receivers: [otlp], processors: [slo_burn], exporters: [file/metrics] }
    logs:    { receivers: [otlp], processors: [slo_burn], exporters: [fuse] }
`, otlpPort, am.URL, hook.URL), "FUSE_SECRET="+secret)

	conn, err := grpc.NewClient(fmt.Sprintf("127.0.0.1:%d", otlpPort), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	client := ptraceotlp.NewGRPCClient(conn)
	send := func(status int64) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if _, err := client.Export(ctx, ptraceotlp.NewExportRequestFromTraces(serverSpans("checkout", 20, status))); err != nil {
			t.Fatalf("OTLP export: %v", err)
		}
	}
	labels := map[string]string{"alertname": "SLOBurnRate", "slo": "checkout-availability", "service": "checkout", "severity": "page"}

	// An outage: every request fails.
	stopOutage := keepSending(t, 200*time.Millisecond, func() { send(503) })
	am.WaitForAlerts(t, 60*time.Second, func(alerts []alertmanager.Alert) bool {
		a, ok := alertmanager.Find(alerts, labels)
		return ok && a.Status.State == "active"
	})
	stopOutage()
	waitForWebhook(t, hook, "firing", 30*time.Second)

	// Recovery: every request succeeds; the short window clears and the alert resolves.
	stopRecovery := keepSending(t, 200*time.Millisecond, func() { send(200) })
	defer stopRecovery()
	am.WaitForAlerts(t, 90*time.Second, func(alerts []alertmanager.Alert) bool {
		_, ok := alertmanager.Find(alerts, labels)
		return !ok
	})
	waitForWebhook(t, hook, "resolved", 30*time.Second)
}

// keepSending calls send every interval until the returned stop is called.
func keepSending(t *testing.T, interval time.Duration, send func()) (stop func()) {
	done := make(chan struct{})
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		tick := time.NewTicker(interval)
		defer tick.Stop()
		for {
			send()
			select {
			case <-done:
				return
			case <-tick.C:
			}
		}
	}()
	var once sync.Once
	return func() { once.Do(func() { close(done); <-stopped }) }
}

func serverSpans(service string, n int, status int64) ptrace.Traces {
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	rs.Resource().Attributes().PutStr("service.name", service)
	spans := rs.ScopeSpans().AppendEmpty().Spans()
	now := time.Now()
	for i := 0; i < n; i++ {
		s := spans.AppendEmpty()
		var tid [16]byte
		var sid [8]byte
		copy(tid[:], fmt.Sprintf("%016d", now.UnixNano()+int64(i)))
		copy(sid[:], fmt.Sprintf("%08d", i))
		s.SetTraceID(pcommon.TraceID(tid))
		s.SetSpanID(pcommon.SpanID(sid))
		s.SetName("GET /checkout")
		s.SetKind(ptrace.SpanKindServer)
		s.SetStartTimestamp(pcommon.NewTimestampFromTime(now.Add(-20 * time.Millisecond)))
		s.SetEndTimestamp(pcommon.NewTimestampFromTime(now))
		s.Attributes().PutStr("http.request.method", "GET")
		s.Attributes().PutStr("http.route", "/checkout")
		s.Attributes().PutInt("http.response.status_code", status)
		if status >= 500 {
			s.Status().SetCode(ptrace.StatusCodeError)
		}
	}
	return td
}

// waitForWebhook waits until the receiver has a validly signed delivery of the SLO's
// alert in the given state, and fails on any delivery whose signature did not verify.
func waitForWebhook(t *testing.T, hook *webhooktest.Receiver, status string, timeout time.Duration) {
	t.Helper()
	hook.WaitFor(t, timeout, func(ds []webhooktest.Delivery) bool {
		for _, d := range ds {
			if d.VerifyErr != nil {
				t.Fatalf("webhook delivery rejected: %v", d.VerifyErr)
			}
			for _, a := range d.Payload.Alerts {
				if a.Status == status && a.Labels["slo"] == "checkout-availability" {
					return true
				}
			}
		}
		return false
	})
}
