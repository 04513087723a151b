package fuseexporter

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer/consumererror"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.opentelemetry.io/otel/sdk/metric/metricdata/metricdatatest"

	"github.com/otelcol-goebpf/otelcol-goebpf/exporter/fuseexporter/internal/metadatatest"
)

var t0 = time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)

func TestAlertmanagerMapping(t *testing.T) {
	tests := []struct {
		name            string
		record          alertRecord
		wantLabels      map[string]string
		wantAnnotations map[string]string
	}{
		{
			name: "labels and stringified annotations",
			record: alertRecord{
				state:  stateFiring,
				labels: sloLabels("checkout-availability"),
				attrs: map[string]any{
					"annotation.burn_rate_long":             15.25,
					"annotation.burn_rate_short":            int64(20),
					"annotation.error_budget_remaining":     0.5,
					"annotation.time_to_exhaustion_seconds": int64(3600),
					"annotation.summary":                    "from annotation",
					"annotation.exhausted":                  false,
					"resource.ignored":                      "dotted keys are neither labels nor annotations",
				},
				body: "checkout-availability burning 15.2x budget (page, 1h/5m)",
				at:   t0.Add(-time.Minute),
			},
			wantLabels: sloLabels("checkout-availability"),
			wantAnnotations: map[string]string{
				"burn_rate_long": "15.25", "burn_rate_short": "20", "error_budget_remaining": "0.5",
				"time_to_exhaustion_seconds": "3600", "summary": "from annotation", "exhausted": "false",
			},
		},
		{
			name:            "body becomes the summary when annotation.summary is absent",
			record:          alertRecord{state: stateFiring, labels: map[string]string{"alertname": "CanaryDrift", "service": "orders", "cohort": "1.3.0"}, body: "orders 1.3.0 drifts"},
			wantLabels:      map[string]string{"alertname": "CanaryDrift", "service": "orders", "cohort": "1.3.0"},
			wantAnnotations: map[string]string{"summary": "orders 1.3.0 drifts"},
		},
		{
			name: "names Alertmanager would reject are sanitized, empty values dropped",
			record: alertRecord{
				state:  stateFiring,
				labels: map[string]string{"alertname": "SLOBurnRate", "slo-name": "a", "1st": "b", "empty": ""},
				attrs:  map[string]any{"annotation.burn.rate": 2.5},
			},
			wantLabels:      map[string]string{"alertname": "SLOBurnRate", "slo_name": "a", "_1st": "b"},
			wantAnnotations: map[string]string{"burn_rate": "2.5"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newRecordingServer(t)
			clock := &fakeClock{t: t0}
			e := startExporter(t, withAlertmanager(syncConfig(), srv.URL), nil, func(e *fuseExporter) { e.am.now = clock.Now })
			require.NoError(t, e.ConsumeLogs(t.Context(), alertLogs(tt.record)))
			posts := srv.alertmanagerPosts(t)
			require.Len(t, posts, 1)
			require.Len(t, posts[0], 1)
			got := posts[0][0]
			assert.Equal(t, tt.wantLabels, got.Labels)
			assert.Equal(t, tt.wantAnnotations, got.Annotations)
			assert.Equal(t, formatTime(t0.Add(4*time.Minute)), got.EndsAt, "endsAt is now + lease (4 × resend_interval)")
			wantStart := t0
			if !tt.record.at.IsZero() {
				wantStart = tt.record.at
			}
			assert.Equal(t, formatTime(wantStart), got.StartsAt)
			assert.Equal(t, "/api/v2/alerts", srv.received()[0].path)
			assert.Equal(t, "application/json", srv.received()[0].header.Get("Content-Type"))
		})
	}
}

// TestAlertmanagerLeaseAndResolve drives the resend timer by hand: a firing
// alert is renewed with endsAt = now + lease on every tick and keeps its
// startsAt; a resolve sends endsAt = now once and stops the renewals.
func TestAlertmanagerLeaseAndResolve(t *testing.T) {
	srv := newRecordingServer(t)
	clock := &fakeClock{t: t0}
	ticker := &manualTicker{C: make(chan time.Time)}
	cfg := withAlertmanager(syncConfig(), srv.URL)
	cfg.Alertmanager.Get().ResendInterval = 30 * time.Second
	cfg.Alertmanager.Get().Lease = 90 * time.Second
	tel := componenttest.NewTelemetry()
	t.Cleanup(func() { require.NoError(t, tel.Shutdown(context.Background())) })
	e := startExporter(t, cfg, tel, func(e *fuseExporter) {
		e.am.now = clock.Now
		e.am.newTicker = ticker.newTicker
	})

	labels := sloLabels("checkout-latency")
	firedAt := t0.Add(-5 * time.Second)
	require.NoError(t, e.ConsumeLogs(t.Context(), alertLogs(alertRecord{state: stateFiring, labels: labels, at: firedAt, attrs: map[string]any{"annotation.burn_rate_long": 15.0}})))

	for i := 1; i <= 2; i++ {
		clock.Advance(30 * time.Second)
		ticker.C <- clock.Now()
		// The tick is handled on the renewal goroutine; wait for its POST.
		require.Eventually(t, func() bool { return len(srv.received()) == 1+i }, 5*time.Second, time.Millisecond)
		posts := srv.alertmanagerPosts(t)
		renewal := posts[len(posts)-1]
		require.Len(t, renewal, 1)
		assert.Equal(t, labels, renewal[0].Labels)
		assert.Equal(t, map[string]string{"burn_rate_long": "15"}, renewal[0].Annotations)
		assert.Equal(t, formatTime(firedAt), renewal[0].StartsAt, "renewal keeps the original start")
		assert.Equal(t, formatTime(clock.Now().Add(90*time.Second)), renewal[0].EndsAt, "renewal %d pushes the lease", i)
	}

	clock.Advance(10 * time.Second)
	require.NoError(t, e.ConsumeLogs(t.Context(), alertLogs(alertRecord{state: stateResolved, labels: labels, at: clock.Now()})))
	posts := srv.alertmanagerPosts(t)
	require.Len(t, posts, 4)
	resolve := posts[3]
	require.Len(t, resolve, 1)
	assert.Equal(t, labels, resolve[0].Labels)
	assert.Equal(t, formatTime(clock.Now()), resolve[0].EndsAt, "resolve sets endsAt = now")
	assert.Equal(t, formatTime(firedAt), resolve[0].StartsAt)
	assert.Equal(t, map[string]string{"burn_rate_long": "15"}, resolve[0].Annotations, "resolve without annotations keeps the firing ones")

	// Resolved alerts are forgotten: a tick sends nothing.
	clock.Advance(30 * time.Second)
	ticker.C <- clock.Now()
	ticker.C <- clock.Now() // the second send returns once the first tick was handled
	assert.Len(t, srv.received(), 4)
	assert.Equal(t, int64(0), e.am.activeAlerts())

	metadatatest.AssertEqualFuseAlertsDelivered(t, tel, []metricdata.DataPoint[int64]{{
		Value:      4,
		Attributes: attribute.NewSet(attribute.String("destination", "alertmanager"), attribute.String("endpoint", srv.URL)),
	}}, metricdatatest.IgnoreTimestamp(), metricdatatest.IgnoreExemplars())
}

func TestAlertmanagerBatchLastChangeWins(t *testing.T) {
	srv := newRecordingServer(t)
	clock := &fakeClock{t: t0}
	e := startExporter(t, withAlertmanager(syncConfig(), srv.URL), nil, func(e *fuseExporter) { e.am.now = clock.Now })
	a, b := sloLabels("a"), sloLabels("b")
	require.NoError(t, e.ConsumeLogs(t.Context(), alertLogs(
		alertRecord{state: stateFiring, labels: a, at: t0.Add(-time.Minute)},
		alertRecord{state: stateFiring, labels: b, at: t0.Add(-time.Minute)},
		alertRecord{state: stateResolved, labels: a, at: t0},
	)))
	posts := srv.alertmanagerPosts(t)
	require.Len(t, posts, 1)
	require.Len(t, posts[0], 2)
	assert.Equal(t, a, posts[0][0].Labels)
	assert.Equal(t, formatTime(t0), posts[0][0].EndsAt, "a fired and resolved in one batch: only the resolve is sent")
	assert.Equal(t, formatTime(t0.Add(-time.Minute)), posts[0][0].StartsAt)
	assert.Equal(t, b, posts[0][1].Labels)
	assert.Equal(t, int64(1), e.am.activeAlerts())
}

func TestAlertmanagerActiveBound(t *testing.T) {
	srv := newRecordingServer(t)
	ticker := &manualTicker{C: make(chan time.Time)}
	cfg := withAlertmanager(syncConfig(), srv.URL)
	cfg.Alertmanager.Get().MaxActiveAlerts = 2
	tel := componenttest.NewTelemetry()
	t.Cleanup(func() { require.NoError(t, tel.Shutdown(context.Background())) })
	e := startExporter(t, cfg, tel, func(e *fuseExporter) { e.am.newTicker = ticker.newTicker })

	require.NoError(t, e.ConsumeLogs(t.Context(), alertLogs(
		alertRecord{state: stateFiring, labels: sloLabels("a")},
		alertRecord{state: stateFiring, labels: sloLabels("b")},
		alertRecord{state: stateFiring, labels: sloLabels("c")},
	)))
	posts := srv.alertmanagerPosts(t)
	require.Len(t, posts[0], 3, "an alert beyond the bound is still sent once")
	assert.Equal(t, int64(2), e.am.activeAlerts())
	metadatatest.AssertEqualFuseAlertsUntracked(t, tel, []metricdata.DataPoint[int64]{{
		Value:      1,
		Attributes: attribute.NewSet(attribute.String("destination", "alertmanager"), attribute.String("endpoint", srv.URL)),
	}}, metricdatatest.IgnoreTimestamp(), metricdatatest.IgnoreExemplars())
	metadatatest.AssertEqualFuseAlertsActive(t, tel, []metricdata.DataPoint[int64]{{Value: 2}}, metricdatatest.IgnoreTimestamp(), metricdatatest.IgnoreExemplars())

	ticker.C <- time.Now()
	require.Eventually(t, func() bool { return len(srv.received()) == 2 }, 5*time.Second, time.Millisecond)
	assert.Len(t, srv.alertmanagerPosts(t)[1], 2, "only the held alerts are renewed")
}

func TestAlertmanagerRetriesServerErrors(t *testing.T) {
	srv := newRecordingServer(t, http.StatusInternalServerError, http.StatusBadGateway, http.StatusOK)
	e := startExporter(t, withAlertmanager(syncConfig(), srv.URL), nil, nil)
	require.NoError(t, e.ConsumeLogs(t.Context(), alertLogs(alertRecord{state: stateFiring, labels: sloLabels("a")})))
	posts := srv.alertmanagerPosts(t)
	require.Len(t, posts, 3, "two 5xx are retried, the third attempt succeeds")
	assert.Equal(t, posts[0][0].Labels, posts[2][0].Labels)
}

func TestDeliveryFailures(t *testing.T) {
	tests := []struct {
		name         string
		statuses     []int
		wantAttempts func(n int) bool
		permanent    bool
	}{
		{name: "4xx is permanent", statuses: []int{http.StatusBadRequest}, wantAttempts: func(n int) bool { return n == 1 }, permanent: true},
		{name: "401 is permanent", statuses: []int{http.StatusUnauthorized}, wantAttempts: func(n int) bool { return n == 1 }, permanent: true},
		{name: "5xx until retries run out", statuses: []int{http.StatusServiceUnavailable}, wantAttempts: func(n int) bool { return n > 2 }},
		{name: "429 is retried", statuses: []int{http.StatusTooManyRequests}, wantAttempts: func(n int) bool { return n > 2 }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newRecordingServer(t, tt.statuses...)
			cfg := withAlertmanager(syncConfig(), srv.URL)
			cfg.RetryConfig.MaxElapsedTime = 100 * time.Millisecond
			tel := componenttest.NewTelemetry()
			t.Cleanup(func() { require.NoError(t, tel.Shutdown(context.Background())) })
			e := startExporter(t, cfg, tel, nil)

			err := e.ConsumeLogs(t.Context(), alertLogs(alertRecord{state: stateFiring, labels: sloLabels("a")}))
			require.Error(t, err)
			assert.Contains(t, err.Error(), srv.URL, "the error names the endpoint")
			assert.Equal(t, tt.permanent, consumererror.IsPermanent(err), "permanent: %v", err)
			assert.True(t, tt.wantAttempts(len(srv.received())), "attempts: %d", len(srv.received()))
			metadatatest.AssertEqualFuseDeliveriesFailed(t, tel, []metricdata.DataPoint[int64]{{
				Value:      1,
				Attributes: attribute.NewSet(attribute.String("destination", "alertmanager"), attribute.String("endpoint", srv.URL)),
			}}, metricdatatest.IgnoreTimestamp(), metricdatatest.IgnoreExemplars())
		})
	}
}

// TestLeaseRenewalFailureIsCounted checks the renewal path, which does not go
// through the retry sender: each failed tick is counted, and the alert stays
// held so the next tick retries.
func TestLeaseRenewalFailureIsCounted(t *testing.T) {
	srv := newRecordingServer(t, http.StatusOK, http.StatusServiceUnavailable, http.StatusOK)
	ticker := &manualTicker{C: make(chan time.Time)}
	tel := componenttest.NewTelemetry()
	t.Cleanup(func() { require.NoError(t, tel.Shutdown(context.Background())) })
	e := startExporter(t, withAlertmanager(syncConfig(), srv.URL), tel, func(e *fuseExporter) { e.am.newTicker = ticker.newTicker })
	require.NoError(t, e.ConsumeLogs(t.Context(), alertLogs(alertRecord{state: stateFiring, labels: sloLabels("a")})))
	ticker.C <- time.Now()
	ticker.C <- time.Now()
	require.Eventually(t, func() bool { return len(srv.received()) == 3 }, 5*time.Second, time.Millisecond)
	assert.Len(t, srv.alertmanagerPosts(t)[2], 1, "the alert is renewed again after a failed renewal")
	metadatatest.AssertEqualFuseDeliveriesFailed(t, tel, []metricdata.DataPoint[int64]{{
		Value:      1,
		Attributes: attribute.NewSet(attribute.String("destination", "alertmanager"), attribute.String("endpoint", srv.URL)),
	}}, metricdatatest.IgnoreTimestamp(), metricdatatest.IgnoreExemplars())
}

func TestEndpointCredentialsStayOutOfErrors(t *testing.T) {
	srv := newRecordingServer(t, http.StatusBadRequest)
	endpoint := strings.Replace(srv.URL, "http://", "http://user:hunter2@", 1) + "?token=hunter3"
	e := startExporter(t, withAlertmanager(syncConfig(), endpoint), nil, nil)
	err := e.ConsumeLogs(t.Context(), alertLogs(alertRecord{state: stateFiring, labels: sloLabels("a")}))
	require.Error(t, err)
	assert.NotContains(t, err.Error(), "hunter2")
	assert.NotContains(t, err.Error(), "hunter3")
	assert.Equal(t, "Basic dXNlcjpodW50ZXIy", srv.received()[0].header.Get("Authorization"), "user info in the endpoint is still used")
}

// TestAlertmanagerStaleFiringAfterResolve: a firing record written before the
// resolve but delivered after it (a retried request, or num_consumers > 1)
// must not reopen the alert; a later firing record does.
func TestAlertmanagerStaleFiringAfterResolve(t *testing.T) {
	srv := newRecordingServer(t)
	clock := &fakeClock{t: t0}
	ticker := &manualTicker{C: make(chan time.Time)}
	e := startExporter(t, withAlertmanager(syncConfig(), srv.URL), nil, func(e *fuseExporter) {
		e.am.now = clock.Now
		e.am.newTicker = ticker.newTicker
	})
	labels := sloLabels("a")
	send := func(state string, at time.Time) {
		t.Helper()
		require.NoError(t, e.ConsumeLogs(t.Context(), alertLogs(alertRecord{state: state, labels: labels, at: at})))
	}
	send(stateFiring, t0.Add(-2*time.Minute))
	send(stateResolved, t0.Add(-time.Minute))
	send(stateFiring, t0.Add(-2*time.Minute)) // the first record again, late
	assert.Len(t, srv.received(), 2, "the stale firing record is not sent")
	assert.Equal(t, int64(0), e.am.activeAlerts())

	send(stateFiring, t0)
	require.Len(t, srv.received(), 3, "a newer firing record reopens the alert")
	assert.Equal(t, int64(1), e.am.activeAlerts())
	send(stateResolved, t0.Add(time.Second))

	// Resolutions are remembered for a lease plus the retry time (2s here).
	clock.Advance(5 * time.Minute)
	ticker.C <- clock.Now()
	ticker.C <- clock.Now()
	send(stateFiring, t0.Add(-time.Minute))
	assert.Len(t, srv.received(), 5, "afterwards the old resolve is forgotten")
}

// With shared_alerts, a resolve posts nothing: it stops the renewals, so the alert
// lives on in Alertmanager for as long as another collector renews it, and ends with
// this collector's last lease otherwise. A firing record older than the resolve still
// cannot reopen it.
func TestAlertmanagerSharedAlertsResolveByLease(t *testing.T) {
	srv := newRecordingServer(t)
	clock := &fakeClock{t: t0}
	ticker := &manualTicker{C: make(chan time.Time)}
	cfg := withAlertmanager(syncConfig(), srv.URL)
	cfg.Alertmanager.Get().ResendInterval = 30 * time.Second
	cfg.Alertmanager.Get().SharedAlerts = true
	e := startExporter(t, cfg, nil, func(e *fuseExporter) {
		e.am.now = clock.Now
		e.am.newTicker = ticker.newTicker
	})

	labels := sloLabels("checkout-availability")
	firedAt := t0.Add(-5 * time.Second)
	require.NoError(t, e.ConsumeLogs(t.Context(), alertLogs(alertRecord{state: stateFiring, labels: labels, at: firedAt})))
	clock.Advance(30 * time.Second)
	ticker.C <- clock.Now()
	require.Eventually(t, func() bool { return len(srv.received()) == 2 }, 5*time.Second, time.Millisecond)
	lastEnd := srv.alertmanagerPosts(t)[1][0].EndsAt
	assert.Equal(t, formatTime(clock.Now().Add(120*time.Second)), lastEnd)

	clock.Advance(10 * time.Second)
	resolvedAt := clock.Now()
	require.NoError(t, e.ConsumeLogs(t.Context(), alertLogs(alertRecord{state: stateResolved, labels: labels, at: resolvedAt})))
	assert.Len(t, srv.received(), 2, "a shared alert's resolve is not posted")
	assert.Equal(t, int64(0), e.am.activeAlerts())

	// No more renewals; a stale firing record does not reopen it.
	require.NoError(t, e.ConsumeLogs(t.Context(), alertLogs(alertRecord{state: stateFiring, labels: labels, at: resolvedAt.Add(-time.Second)})))
	clock.Advance(30 * time.Second)
	ticker.C <- clock.Now()
	ticker.C <- clock.Now() // returns once the first tick was handled
	assert.Len(t, srv.received(), 2)

	// A new firing record after the resolve fires again.
	require.NoError(t, e.ConsumeLogs(t.Context(), alertLogs(alertRecord{state: stateFiring, labels: labels, at: clock.Now()})))
	assert.Len(t, srv.received(), 3)
}
