package fuseexporter

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/exporter/exportertest"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/otelcol-goebpf/otelcol-goebpf/exporter/fuseexporter/internal/metadata"
)

func TestRetryAfter(t *testing.T) {
	tests := []struct {
		in     string
		wantOK bool
		min    time.Duration
		max    time.Duration
	}{
		{"", false, 0, 0},
		{"3", true, 3 * time.Second, 3 * time.Second},
		{"0", true, 0, 0},
		{"-1", false, 0, 0},
		{"soon", false, 0, 0},
		{time.Now().Add(10 * time.Second).UTC().Format(http.TimeFormat), true, 8 * time.Second, 10 * time.Second},
		{time.Now().Add(-time.Hour).UTC().Format(http.TimeFormat), false, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, ok := retryAfter(tt.in)
			require.Equal(t, tt.wantOK, ok)
			assert.GreaterOrEqual(t, got, tt.min)
			assert.LessOrEqual(t, got, tt.max)
		})
	}
}

// TestRetryAfterIsHonoured: a 429 with Retry-After delays the next attempt by
// at least that long, although the configured backoff is milliseconds.
func TestRetryAfterIsHonoured(t *testing.T) {
	var mu sync.Mutex
	var times []time.Time
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		times = append(times, time.Now())
		n := len(times)
		mu.Unlock()
		if n == 1 {
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(http.StatusTooManyRequests)
			return
		}
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(srv.Close)
	cfg := withAlertmanager(syncConfig(), srv.URL)
	cfg.RetryConfig.MaxElapsedTime = 10 * time.Second
	e := startExporter(t, cfg, nil, nil)
	require.NoError(t, e.ConsumeLogs(t.Context(), alertLogs(alertRecord{state: stateFiring, labels: sloLabels("a")})))
	mu.Lock()
	defer mu.Unlock()
	require.Len(t, times, 2)
	assert.GreaterOrEqual(t, times[1].Sub(times[0]), 900*time.Millisecond)
}

func TestDisplayEndpoint(t *testing.T) {
	assert.Equal(t, "https://am.example:9093/prefix", displayEndpoint("https://user:pw@am.example:9093/prefix?token=x#f"))
	assert.Equal(t, "http://127.0.0.1:9093", displayEndpoint("http://127.0.0.1:9093"))
	assert.Equal(t, "<unparsable endpoint>", displayEndpoint("http://[::1"))
}

func TestAlertsURL(t *testing.T) {
	assert.Equal(t, "http://am:9093/api/v2/alerts", alertsURL("http://am:9093"))
	assert.Equal(t, "http://am:9093/api/v2/alerts", alertsURL("http://am:9093/"))
	assert.Equal(t, "https://proxy/am/api/v2/alerts?tenant=a", alertsURL("https://proxy/am/?tenant=a"))
}

// TestFinalFailureLoggedOnce: through the default sending queue, a delivery
// that fails for good produces exactly one error log, naming the endpoint.
func TestFinalFailureLoggedOnce(t *testing.T) {
	srv := newRecordingServer(t, http.StatusBadRequest)
	core, logs := observer.New(zap.InfoLevel)
	cfg := createDefaultConfig().(*Config) // with the queue
	withAlertmanager(cfg, srv.URL)
	set := exportertest.NewNopSettings(metadata.Type)
	set.Logger = zap.New(core)
	e, err := newFuseExporter(t.Context(), set, cfg)
	require.NoError(t, err)
	require.NoError(t, e.Start(t.Context(), componenttest.NewNopHost()))
	require.NoError(t, e.ConsumeLogs(t.Context(), alertLogs(alertRecord{state: stateFiring, labels: sloLabels("a")})))
	require.Eventually(t, func() bool { return logs.FilterLevelExact(zap.ErrorLevel).Len() > 0 }, 10*time.Second, 5*time.Millisecond)
	require.NoError(t, e.Shutdown(context.Background()))
	errorsLogged := logs.FilterLevelExact(zap.ErrorLevel).All()
	require.Len(t, errorsLogged, 1)
	assert.Contains(t, errorsLogged[0].ContextMap()["error"], "alertmanager delivery to "+srv.URL)
	assert.Len(t, srv.received(), 1)
}

// TestFinalFailureLoggedOnceWithoutQueue: the same without a sending queue,
// where the error goes back to the caller.
func TestFinalFailureLoggedOnceWithoutQueue(t *testing.T) {
	srv := newRecordingServer(t, http.StatusServiceUnavailable)
	core, logs := observer.New(zap.InfoLevel)
	cfg := withAlertmanager(syncConfig(), srv.URL)
	cfg.RetryConfig.MaxElapsedTime = 50 * time.Millisecond
	set := exportertest.NewNopSettings(metadata.Type)
	set.Logger = zap.New(core)
	e, err := newFuseExporter(t.Context(), set, cfg)
	require.NoError(t, err)
	require.NoError(t, e.Start(t.Context(), componenttest.NewNopHost()))
	require.Error(t, e.ConsumeLogs(t.Context(), alertLogs(alertRecord{state: stateFiring, labels: sloLabels("a")})))
	require.NoError(t, e.Shutdown(context.Background()))
	require.Len(t, logs.FilterLevelExact(zap.ErrorLevel).All(), 1)
	retries := logs.FilterMessageSnippet("Will retry").All()
	require.NotEmpty(t, retries, "per-attempt retry logs are kept")
	assert.Equal(t, srv.URL, retries[0].ContextMap()["endpoint"])
}
