package fuseexporter

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/exporter/exportertest"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.uber.org/zap"

	"github.com/otelcol-goebpf/otelcol-goebpf/exporter/fuseexporter/internal/metadata"
)

// ordinaryLogs is a batch of n application log records, none of them alerts.
func ordinaryLogs(n int) plog.Logs {
	ld := plog.NewLogs()
	lrs := ld.ResourceLogs().AppendEmpty().ScopeLogs().AppendEmpty().LogRecords()
	for i := 0; i < n; i++ {
		lr := lrs.AppendEmpty()
		lr.Body().SetStr("GET /checkout 200 12ms")
		lr.Attributes().PutStr("http.route", "/checkout")
		lr.Attributes().PutInt("http.response.status_code", 200)
	}
	return ld
}

// BenchmarkIgnoreOrdinaryLogs measures what the exporter costs a logs pipeline
// that carries ordinary logs besides alerts: ns per non-alert record, against a
// baseline loop that only reads every record's event name.
func BenchmarkIgnoreOrdinaryLogs(b *testing.B) {
	const batch = 1000
	ld := ordinaryLogs(batch)
	cfg := withAlertmanager(createDefaultConfig().(*Config), "http://127.0.0.1:9")
	e, err := newFuseExporter(context.Background(), exportertest.NewNopSettings(metadata.Type), cfg)
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()

	// The baseline runs b.N times in the same benchmark (testing.Benchmark
	// cannot be nested: it would deadlock on the benchmark lock).
	n := 0
	start := time.Now()
	for i := 0; i < b.N; i++ {
		forEachRecord(ld, func(lr plog.LogRecord) {
			if lr.EventName() == alertEventName {
				n++
			}
		})
	}
	basePerRecord := float64(time.Since(start).Nanoseconds()) / float64(b.N) / batch
	_ = n
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := e.ConsumeLogs(ctx, ld); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	perRecord := float64(b.Elapsed().Nanoseconds()) / float64(b.N) / batch
	b.ReportMetric(perRecord, "ns/record")
	b.ReportMetric(basePerRecord, "baseline-ns/record")
	b.ReportMetric(perRecord/basePerRecord, "x-baseline")
}

// BenchmarkAlertmanagerEncode measures the conversion and encoding of one
// batch of 100 alert records for Alertmanager (transport excluded), against
// a baseline of encoding the same 100 postable alerts with encoding/json.
func BenchmarkAlertmanagerEncode(b *testing.B) {
	records := make([]alertRecord, 100)
	for i := range records {
		records[i] = alertRecord{state: stateFiring, labels: sloLabels("slo-" + string(rune('a'+i%26)) + string(rune('a'+i/26))), body: "burning",
			attrs: map[string]any{"annotation.burn_rate_long": 15.2, "annotation.burn_rate_short": 20.1, "annotation.error_budget_remaining": 0.5}}
	}
	ld := alertLogs(records...)
	tb, err := metadata.NewTelemetryBuilder(componenttest.NewNopTelemetrySettings())
	if err != nil {
		b.Fatal(err)
	}
	amCfg := createDefaultConfig().(*Config).Alertmanager.GetOrInsertDefault()
	amCfg.ClientConfig.Endpoint = "http://bench.invalid"
	d := newAlertmanagerDestination(amCfg, 0, zap.NewNop(), tb)
	d.client = &http.Client{Transport: okTransport{}}
	ctx := context.Background()
	if err := d.push(ctx, ld); err != nil {
		b.Fatal(err)
	}
	var postable []postableAlert
	for _, r := range records {
		postable = append(postable, postableAlert{Labels: r.labels, Annotations: map[string]string{"burn_rate_long": "15.2", "burn_rate_short": "20.1", "error_budget_remaining": "0.5", "summary": "burning"}, StartsAt: formatTime(t0), EndsAt: formatTime(t0)})
	}
	start := time.Now()
	for i := 0; i < b.N; i++ {
		if _, err := json.Marshal(postable); err != nil {
			b.Fatal(err)
		}
	}
	basePerAlert := float64(time.Since(start).Nanoseconds()) / float64(b.N) / 100
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := d.push(ctx, ld); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	perAlert := float64(b.Elapsed().Nanoseconds()) / float64(b.N) / 100
	b.ReportMetric(perAlert, "ns/alert")
	b.ReportMetric(basePerAlert, "baseline-json-ns/alert")
	b.ReportMetric(perAlert/basePerAlert, "x-baseline")
}
