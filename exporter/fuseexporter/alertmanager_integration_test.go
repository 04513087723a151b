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

// TestRealAlertmanagerLeaseExpiry runs the real resend timer against a real
// Alertmanager with a short lease: renewals keep the alert active well past
// one lease, and once the exporter stops (a crashed collector sends no
// resolve) Alertmanager resolves the alert by itself when the lease ends.
func TestRealAlertmanagerLeaseExpiry(t *testing.T) {
	am := alertmanager.Start(t, alertmanager.Options{})

	cfg := createDefaultConfig().(*Config)
	withAlertmanager(cfg, am.URL)
	cfg.Alertmanager.Get().ResendInterval = 500 * time.Millisecond
	cfg.Alertmanager.Get().Lease = 2 * time.Second
	exp, err := NewFactory().CreateLogs(t.Context(), exportertest.NewNopSettings(metadata.Type), cfg)
	require.NoError(t, err)
	require.NoError(t, exp.Start(t.Context(), componenttest.NewNopHost()))
	stopped := false
	t.Cleanup(func() {
		if !stopped {
			require.NoError(t, exp.Shutdown(context.Background()))
		}
	})

	labels := sloLabels("lease-expiry")
	require.NoError(t, exp.ConsumeLogs(t.Context(), alertLogs(alertRecord{state: stateFiring, labels: labels, at: time.Now()})))
	isActive := func(a []alertmanager.Alert) bool { _, ok := alertmanager.Find(a, labels); return ok }
	am.WaitForAlerts(t, 10*time.Second, isActive)

	// Two leases later the alert is still active, only thanks to renewals.
	time.Sleep(4 * time.Second)
	alerts, err := am.Alerts(t.Context())
	require.NoError(t, err)
	got, ok := alertmanager.Find(alerts, labels)
	require.True(t, ok, "renewals keep the alert active past its first lease")
	assert.True(t, got.EndsAt.After(time.Now()), "endsAt %s is in the future", got.EndsAt)

	require.NoError(t, exp.Shutdown(context.Background()))
	stopped = true
	stoppedAt := time.Now()
	am.WaitForAlerts(t, 10*time.Second, func(a []alertmanager.Alert) bool { return !isActive(a) })
	assert.Less(t, time.Since(stoppedAt), 2*time.Second+3*time.Second, "resolved about one lease after the last renewal, not later")
}
