package integration

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

// A new user's `threshold: auto` latency SLO (objective 99, every other setting default)
// fed 150 s of steady, healthy lognormal traffic from a cold start, through the built
// binary: no alert record. The default SLO is still learning its 7-day baseline, says so,
// and publishes no burn rate. A twin SLO with a 30 s baseline learns during the run and
// then judges the traffic: burn rate near the expected 0.1 and no alert, even with an
// extra fast tier that would fire at burn 5 within seconds. A 5× latency regression at the
// end fires that tier, so the silence before was not a broken pipeline.
func TestSLOAutoThresholdSteadyTrafficNoAlert(t *testing.T) {
	otlpPort, telemetryPort := freePort(t), freePort(t)
	c := startCollector(t, fmt.Sprintf(`
receivers:
  otlp:
    protocols:
      grpc: { endpoint: 127.0.0.1:%d }
processors:
  slo_burn:
    emit_interval: 1s
    slos:
      - name: search-latency
        service: search
        objective: 99
        period: 30d
        sli: { latency: { threshold: auto } }
      - name: search-latency-30s
        service: search
        objective: 99
        period: 30d
        sli: { latency: { threshold: auto, baseline: { period: 30s, update_interval: 5s, min_samples: 4000 } } }
    alerting:
      tiers:
        - { severity: page,   long: 1h, short: 5m,  burn_rate: 14.4 }
        - { severity: page,   long: 6h, short: 30m, burn_rate: 6 }
        - { severity: ticket, long: 1d, short: 2h,  burn_rate: 3 }
        - { severity: ticket, long: 3d, short: 6h,  burn_rate: 1 }
        - { severity: page,   long: 1m, short: 10s, burn_rate: 5 }
exporters:
  file/traces: { path: "{{DIR}}/traces.jsonl" }
  file/metrics: { path: "{{DIR}}/metrics.jsonl" }
  file/logs: { path: "{{DIR}}/logs.jsonl" }
service:
  telemetry:
    metrics:
      readers:
        - pull: { exporter: { prometheus: { host: 127.0.0.1, port: %d } } }
  pipelines:
    traces:  { receivers: [otlp], processors: [slo_burn], exporters: [file/traces] }
    metrics: { receivers: [otlp], processors: [slo_burn], exporters: [file/metrics] }
    logs:    { receivers: [otlp], processors: [slo_burn], exporters: [file/logs] }
`, otlpPort, telemetryPort))

	conn, err := grpc.NewClient(fmt.Sprintf("127.0.0.1:%d", otlpPort), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	client := ptraceotlp.NewGRPCClient(conn)
	rng := rand.New(rand.NewPCG(42, 7))
	var mu sync.Mutex
	median := 20 * time.Millisecond
	send := func() {
		mu.Lock()
		td := lognormalSpans(rng, "search", 40, median)
		mu.Unlock()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if _, err := client.Export(ctx, ptraceotlp.NewExportRequestFromTraces(td)); err != nil {
			t.Errorf("OTLP export: %v", err)
		}
	}

	// 150 s of steady traffic, about 200 spans/s.
	stop := keepSending(t, 200*time.Millisecond, send)
	time.Sleep(150 * time.Second)
	stop()
	time.Sleep(3 * time.Second) // the last emit_interval reaches the files

	if recs := alertRecordsIn(t, c.Path("logs.jsonl")); len(recs) > 0 {
		t.Fatalf("steady healthy traffic raised %d alert records, first: %s", len(recs), recs[0])
	}
	points := filePoints(t, c.Path("metrics.jsonl"))
	if v, ok := points.last("slo.latency.learning", "search-latency", ""); !ok || v != 1 {
		t.Errorf("default SLO: slo.latency.learning = %v (found %v), want 1 during its 7-day baseline", v, ok)
	}
	if _, ok := points.last("slo.burn_rate", "search-latency", ""); ok {
		t.Errorf("default SLO publishes a burn rate while learning")
	}
	if v, ok := points.last("slo.latency.learning", "search-latency-30s", ""); !ok || v != 0 {
		t.Fatalf("30s-baseline SLO: slo.latency.learning = %v (found %v), want 0 after 150 s", v, ok)
	}
	threshold, _ := points.last("slo.latency.threshold", "search-latency-30s", "")
	burn, _ := points.last("slo.burn_rate", "search-latency-30s", "1m")
	total, _ := points.last("slo.events", "search-latency-30s", "total")
	t.Logf("30s-baseline SLO: threshold %.1f ms, 1m burn rate %.3f, %v events judged", threshold*1000, burn, total)
	// p99.9 of a lognormal with median 20 ms and σ 0.5 is 94 ms; the burn rate of a
	// threshold at the 99.9th percentile against a 1% budget is 0.1.
	if threshold < 0.060 || threshold > 0.140 {
		t.Errorf("learned threshold %.1f ms, want near 94 ms", threshold*1000)
	}
	if burn > 0.5 {
		t.Errorf("1m burn rate %.3f of healthy traffic, want near 0.1", burn)
	}
	if total < 10000 {
		t.Errorf("only %v events judged after the 30 s baseline", total)
	}

	// A 5× regression: the fast tier of the judged SLO fires.
	mu.Lock()
	median = 100 * time.Millisecond
	mu.Unlock()
	stop = keepSending(t, 200*time.Millisecond, send)
	defer stop()
	eventually(t, 60*time.Second, "the 1m/10s tier firing on a 5x regression", func() (bool, string) {
		for _, lr := range alertRecordsIn(t, c.Path("logs.jsonl")) {
			if strings.Contains(lr, "search-latency-30s") && strings.Contains(lr, "1m/10s") && strings.Contains(lr, "firing") {
				return true, ""
			}
		}
		return false, "no firing record yet"
	})
}

// lognormalSpans is n healthy server spans ending now, durations lognormal (σ 0.5)
// around median.
func lognormalSpans(rng *rand.Rand, service string, n int, median time.Duration) ptrace.Traces {
	td := serverSpans(service, n, 200)
	spans := td.ResourceSpans().At(0).ScopeSpans().At(0).Spans()
	for i := 0; i < spans.Len(); i++ {
		s := spans.At(i)
		d := time.Duration(float64(median) * math.Exp(0.5*rng.NormFloat64()))
		s.SetStartTimestamp(pcommon.Timestamp(int64(s.EndTimestamp()) - int64(d)))
	}
	return td
}

// alertRecordsIn returns the alert records a file exporter wrote, one summary string each
// (body, slo, tier and state).
func alertRecordsIn(t *testing.T, path string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		if os.IsNotExist(err) {
			return nil
		}
		t.Fatal(err)
	}
	var u plog.JSONUnmarshaler
	var out []string
	for _, line := range strings.Split(string(b), "\n") {
		if line == "" {
			continue
		}
		ld, err := u.UnmarshalLogs([]byte(line))
		if err != nil {
			t.Fatalf("bad logs line: %v", err)
		}
		for i := 0; i < ld.ResourceLogs().Len(); i++ {
			sls := ld.ResourceLogs().At(i).ScopeLogs()
			for j := 0; j < sls.Len(); j++ {
				lrs := sls.At(j).LogRecords()
				for k := 0; k < lrs.Len(); k++ {
					lr := lrs.At(k)
					if lr.EventName() != "otelcol_goebpf.alert" {
						continue
					}
					get := func(key string) string {
						v, _ := lr.Attributes().Get(key)
						return v.AsString()
					}
					out = append(out, fmt.Sprintf("%s [slo=%s tier=%s state=%s]", lr.Body().AsString(), get("slo"), get("tier"), get("alert.state")))
				}
			}
		}
	}
	return out
}

// sloPoints is every slo_burn data point a file exporter wrote, in order.
type sloPoints []sloPoint

type sloPoint struct {
	name, slo, detail string // detail: the window, event or other distinguishing attribute
	value             float64
}

func filePoints(t *testing.T, path string) sloPoints {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var u pmetric.JSONUnmarshaler
	var out sloPoints
	for _, line := range strings.Split(string(b), "\n") {
		if line == "" {
			continue
		}
		md, err := u.UnmarshalMetrics([]byte(line))
		if err != nil {
			t.Fatalf("bad metrics line: %v", err)
		}
		rms := md.ResourceMetrics()
		for i := 0; i < rms.Len(); i++ {
			sms := rms.At(i).ScopeMetrics()
			for j := 0; j < sms.Len(); j++ {
				ms := sms.At(j).Metrics()
				for k := 0; k < ms.Len(); k++ {
					m := ms.At(k)
					var dps pmetric.NumberDataPointSlice
					switch m.Type() {
					case pmetric.MetricTypeGauge:
						dps = m.Gauge().DataPoints()
					case pmetric.MetricTypeSum:
						dps = m.Sum().DataPoints()
					default:
						continue
					}
					for d := 0; d < dps.Len(); d++ {
						dp := dps.At(d)
						slo, _ := dp.Attributes().Get("slo")
						detail := ""
						for _, key := range []string{"window", "event"} {
							if v, ok := dp.Attributes().Get(key); ok {
								detail = v.AsString()
							}
						}
						v := dp.DoubleValue()
						if dp.ValueType() == pmetric.NumberDataPointValueTypeInt {
							v = float64(dp.IntValue())
						}
						out = append(out, sloPoint{name: m.Name(), slo: slo.AsString(), detail: detail, value: v})
					}
				}
			}
		}
	}
	return out
}

// last is the newest value of metric name for slo (and detail, when not empty).
func (ps sloPoints) last(name, slo, detail string) (float64, bool) {
	for i := len(ps) - 1; i >= 0; i-- {
		p := ps[i]
		if p.name == name && p.slo == slo && (detail == "" || p.detail == detail) {
			return p.value, true
		}
	}
	return 0, false
}
