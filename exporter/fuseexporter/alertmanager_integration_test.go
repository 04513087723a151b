package fuseexporter

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/exporter/exportertest"

	"github.com/otelcol-goebpf/otelcol-goebpf/exporter/fuseexporter/internal/metadata"
	"github.com/otelcol-goebpf/otelcol-goebpf/internal/testutil/alertmanager"
)

// TestRealAlertmanager pushes a firing then a resolved alert through the
// exporter, built by its factory with the default queue, into a real
// Alertmanager, and checks each step through Alertmanager's own API. Under
// CI=true a missing alertmanager binary fails the test.
func TestRealAlertmanager(t *testing.T) {
	am := alertmanager.Start(t, alertmanager.Options{})

	cfg := createDefaultConfig().(*Config)
	withAlertmanager(cfg, am.URL)
	ticker := &manualTicker{C: make(chan time.Time)}
	set := exportertest.NewNopSettings(metadata.Type)
	exp, err := NewFactory().CreateLogs(t.Context(), set, cfg)
	require.NoError(t, err)
	// Drive lease renewal by hand; the clock stays real because Alertmanager
	// compares endsAt with its own clock.
	exp.(*fuseExporter).am.newTicker = ticker.newTicker
	require.NoError(t, exp.Start(t.Context(), componenttest.NewNopHost()))
	t.Cleanup(func() { require.NoError(t, exp.Shutdown(context.Background())) })

	labels := sloLabels("checkout-availability")
	firedAt := time.Now().Add(-2 * time.Second).Truncate(time.Millisecond)
	require.NoError(t, exp.ConsumeLogs(t.Context(), alertLogs(alertRecord{
		state:  stateFiring,
		labels: labels,
		at:     firedAt,
		body:   "checkout-availability burning 15.2x budget (page, 1h/5m)",
		attrs: map[string]any{
			"annotation.burn_rate_long":          15.2,
			"annotation.burn_rate_short":         21.0,
			"annotation.error_budget_remaining":  0.93,
			"annotation.time_to_exhaustion_secs": int64(7200),
		},
	})))

	active := am.WaitForAlerts(t, 15*time.Second, func(a []alertmanager.Alert) bool {
		_, ok := alertmanager.Find(a, labels)
		return ok
	})
	got, _ := alertmanager.Find(active, labels)
	assert.Equal(t, labels, got.Labels, "Alertmanager holds exactly the record's labels")
	assert.Equal(t, "active", got.Status.State)
	assert.Equal(t, "15.2", got.Annotations["burn_rate_long"])
	assert.Equal(t, "0.93", got.Annotations["error_budget_remaining"])
	assert.Equal(t, "7200", got.Annotations["time_to_exhaustion_secs"])
	assert.Equal(t, "checkout-availability burning 15.2x budget (page, 1h/5m)", got.Annotations["summary"])
	assert.WithinDuration(t, firedAt, got.StartsAt, time.Millisecond)
	lease := 4 * time.Minute
	assert.WithinDuration(t, time.Now().Add(lease), got.EndsAt, 15*time.Second, "endsAt is a lease, not open-ended")

	// One renewal moves the lease forward in Alertmanager too.
	firstEnd := got.EndsAt
	time.Sleep(20 * time.Millisecond)
	ticker.C <- time.Now()
	active = am.WaitForAlerts(t, 15*time.Second, func(a []alertmanager.Alert) bool {
		r, ok := alertmanager.Find(a, labels)
		return ok && r.EndsAt.After(firstEnd)
	})
	renewed, _ := alertmanager.Find(active, labels)
	assert.WithinDuration(t, firedAt, renewed.StartsAt, time.Millisecond, "renewal keeps startsAt")
	assert.Equal(t, got.Fingerprint, renewed.Fingerprint, "still the same alert")

	require.NoError(t, exp.ConsumeLogs(t.Context(), alertLogs(alertRecord{state: stateResolved, labels: labels, at: time.Now()})))
	am.WaitForAlerts(t, 15*time.Second, func(a []alertmanager.Alert) bool {
		_, ok := alertmanager.Find(a, labels)
		return !ok
	})
	assert.Equal(t, int64(0), exp.(*fuseExporter).am.activeAlerts())
}
