package fuseexporter

import (
	"context"
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
)

// Record accounting on a stream with every outcome: records that are not alerts,
// malformed alert records, alerts a destination accepts and alerts it refuses.
//
//	records_received = Σ records_ignored{reason} + alerts
//	alerts = sent_log_records + send_failed_log_records, for each destination
func TestRecordAccounting(t *testing.T) {
	am := newRecordingServer(t)
	hook := newRecordingServer(t, http.StatusOK, http.StatusForbidden, http.StatusOK)
	tel := componenttest.NewTelemetry()
	t.Cleanup(func() { require.NoError(t, tel.Shutdown(context.Background())) })
	e := startExporter(t, withWebhook(withAlertmanager(syncConfig(), am.URL), hook.URL), tel, nil)

	noise := func(ld plog.Logs, n int) plog.Logs {
		for range n {
			ld.ResourceLogs().At(0).ScopeLogs().At(0).LogRecords().AppendEmpty().Body().SetStr("an ordinary log line")
		}
		return ld
	}
	malformed := alertRecord{state: "burning", labels: sloLabels("bad state")}
	batches := []plog.Logs{
		noise(alertLogs(), 3),
		noise(alertLogs(alertRecord{state: stateFiring, labels: sloLabels("a")}, malformed), 1),                                     // webhook: 200
		alertLogs(alertRecord{state: stateFiring, labels: sloLabels("b")}, alertRecord{state: stateFiring, labels: sloLabels("c")}), // webhook: 403
		noise(alertLogs(alertRecord{state: stateResolved, labels: sloLabels("a")}), 2),                                              // webhook: 200
	}
	received := 0
	for _, ld := range batches {
		received += ld.LogRecordCount()
		_ = e.ConsumeLogs(t.Context(), ld) // the refused webhook delivery is an error
	}
	const alerts = 4
	sum := func(name, key, value string) int64 {
		m, err := tel.GetMetric(name)
		if err != nil {
			return 0
		}
		var n int64
		for _, dp := range m.Data.(metricdata.Sum[int64]).DataPoints {
			if v, ok := dp.Attributes.Value(attribute.Key(key)); key == "" || ok && v.AsString() == value {
				n += dp.Value
			}
		}
		return n
	}
	notAlert := sum("otelcol_fuse_records_ignored", "reason", "not_alert")
	bad := sum("otelcol_fuse_records_ignored", "reason", "malformed")
	assert.Equal(t, int64(received), sum("otelcol_fuse_records_received", "", ""))
	assert.Equal(t, int64(6), notAlert)
	assert.Equal(t, int64(1), bad)
	assert.Equal(t, int64(received), notAlert+bad+alerts)
	for dest, wantFailed := range map[string]int64{"alertmanager": 0, "webhook": 2} {
		sent := sum("otelcol_exporter_sent_log_records", "destination", dest)
		failed := sum("otelcol_exporter_send_failed_log_records", "destination", dest)
		t.Logf("%s: %d alerts sent, %d failed", dest, sent, failed)
		assert.Equal(t, int64(alerts), sent+failed, dest)
		assert.Equal(t, wantFailed, failed, dest)
	}
	require.Len(t, hook.received(), 3)
}
