package sloburnprocessor

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/config/confighttp"
	"go.opentelemetry.io/collector/exporter/exportertest"

	"github.com/otelcol-goebpf/otelcol-goebpf/exporter/fuseexporter"
)

// webhookAlert is the part of the fuse exporter's webhook body this test reads.
type webhookAlert struct {
	Status      string            `json:"status"`
	Labels      map[string]string `json:"labels"`
	Annotations map[string]string `json:"annotations"`
}

// The alert records slo_burn emits are what the fuse exporter (the consumer of
// docs/alerts.md) delivers: a firing and then a resolved alert with the same labels.
func TestAlertRecordsThroughFuseExporter(t *testing.T) {
	var mu sync.Mutex
	var got []webhookAlert
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var payload struct {
			Alerts []webhookAlert `json:"alerts"`
		}
		if assert.NoError(t, json.Unmarshal(body, &payload)) {
			mu.Lock()
			got = append(got, payload.Alerts...)
			mu.Unlock()
		}
		w.WriteHeader(http.StatusOK)
	}))
	defer srv.Close()

	ff := fuseexporter.NewFactory()
	fcfg := ff.CreateDefaultConfig().(*fuseexporter.Config)
	client := confighttp.NewDefaultClientConfig()
	client.Endpoint = srv.URL
	fcfg.Webhooks = []fuseexporter.WebhookConfig{{ClientConfig: client, Secret: "s3cret"}}
	fuse, err := ff.CreateLogs(context.Background(), exportertest.NewNopSettings(ff.Type()), fcfg)
	require.NoError(t, err)
	require.NoError(t, fuse.Start(context.Background(), componenttest.NewNopHost()))
	defer func() { require.NoError(t, fuse.Shutdown(context.Background())) }()

	cfg := testConfig(availabilitySLO("checkout-availability", "checkout", 99.9))
	cfg.Alerting.Tiers = []TierConfig{{Severity: "page", Long: Duration(2 * time.Minute), Short: Duration(30 * time.Second), BurnRate: 10}}
	cfg.Alerting.ResolveFor = 10 * time.Second
	h := newHarness(t, cfg, nil)
	// Forward the processor's logs pipeline output to the exporter.
	forward := func() {
		for _, ld := range h.lsink.AllLogs() {
			require.NoError(t, fuse.ConsumeLogs(context.Background(), ld))
		}
		h.lsink.Reset()
	}
	for i := 0; i < 60; i++ {
		h.send(goodBad("checkout", 10, 10))
		h.step(time.Second)
	}
	forward()
	for i := 0; i < 180; i++ {
		h.send(goodBad("checkout", 10, 0))
		h.step(time.Second)
	}
	forward()

	require.Eventually(t, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(got) >= 2
	}, 10*time.Second, 20*time.Millisecond)
	mu.Lock()
	defer mu.Unlock()
	require.Len(t, got, 2)
	firing, resolved := got[0], got[1]
	assert.Equal(t, "firing", firing.Status)
	assert.Equal(t, "resolved", resolved.Status)
	want := map[string]string{"alertname": "SLOBurnRate", "slo": "checkout-availability", "service": "checkout", "severity": "page", "tier": "2m/30s"}
	assert.Equal(t, want, firing.Labels)
	assert.Equal(t, want, resolved.Labels)
	assert.Contains(t, firing.Annotations["summary"], "checkout-availability burning")
	assert.NotEmpty(t, firing.Annotations["burn_rate_long"])
	assert.NotEmpty(t, firing.Annotations["error_budget_remaining"])
}
