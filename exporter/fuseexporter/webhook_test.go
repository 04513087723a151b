package fuseexporter

import (
	"context"
	"encoding/json"
	"encoding/pem"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/config/confighttp"
	"go.opentelemetry.io/collector/config/configopaque"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.opentelemetry.io/otel/sdk/metric/metricdata/metricdatatest"

	"github.com/otelcol-goebpf/otelcol-goebpf/exporter/fuseexporter/internal/metadatatest"
	"github.com/otelcol-goebpf/otelcol-goebpf/exporter/fuseexporter/webhooktest"

	"github.com/otelcol-goebpf/otelcol-goebpf/internal/testutil/prereq"
)

const testSecret = "s3cr3t-for-tests"

func withWebhook(cfg *Config, endpoint string) *Config {
	client := confighttp.NewDefaultClientConfig()
	client.Endpoint = endpoint
	cfg.Webhooks = append(cfg.Webhooks, WebhookConfig{ClientConfig: client, Secret: testSecret})
	return cfg
}

// verifyWebhook checks a delivery with webhooktest.Verify, the receiver-side
// implementation written from the README, not from the exporter's code.
func verifyWebhook(secret string, h http.Header, body []byte, now time.Time) error {
	return webhooktest.Verify([]byte(secret), h, body, now, 5*time.Minute)
}

func TestWebhookBodyAndSignature(t *testing.T) {
	srv := newRecordingServer(t)
	cfg := withWebhook(syncConfig(), srv.URL+"/abort")
	cfg.Webhooks[0].ClientConfig.Headers = configopaque.MapList{{Name: "X-Team", Value: "sre"}}
	e := startExporter(t, cfg, nil, nil)

	firedAt := time.Date(2026, 11, 21, 12, 0, 0, 123000000, time.UTC)
	require.NoError(t, e.ConsumeLogs(t.Context(), alertLogs(
		alertRecord{state: stateFiring, labels: sloLabels("checkout-availability"), at: firedAt, body: "burning", attrs: map[string]any{"annotation.burn_rate_long": 15.2}},
		alertRecord{state: stateResolved, labels: sloLabels("checkout-latency"), at: firedAt.Add(time.Minute)},
	)))
	reqs := srv.received()
	require.Len(t, reqs, 1, "one POST per batch")
	req := reqs[0]
	assert.Equal(t, "/abort", req.path)
	assert.Equal(t, "sre", req.header.Get("X-Team"), "configured headers are sent")
	assert.Equal(t, "application/json", req.header.Get("Content-Type"))
	require.NoError(t, verifyWebhook(testSecret, req.header, req.body, time.Now()))
	require.Error(t, verifyWebhook("another secret", req.header, req.body, time.Now()), "the signature depends on the secret")
	tampered := append([]byte(nil), req.body...)
	tampered[len(tampered)-2] = ' '
	require.Error(t, verifyWebhook(testSecret, req.header, tampered, time.Now()), "the signature covers the body")

	var body map[string]any
	require.NoError(t, json.Unmarshal(req.body, &body))
	want := map[string]any{
		"version": "1",
		"alerts": []any{
			map[string]any{
				"status":      "firing",
				"labels":      map[string]any{"alertname": "SLOBurnRate", "slo": "checkout-availability", "service": "checkout", "severity": "page", "tier": "1h/5m"},
				"annotations": map[string]any{"burn_rate_long": "15.2", "summary": "burning"},
				"changedAt":   "2026-11-21T12:00:00.123Z",
				"fingerprint": fingerprint(sloLabels("checkout-availability")),
			},
			map[string]any{
				"status":      "resolved",
				"labels":      map[string]any{"alertname": "SLOBurnRate", "slo": "checkout-latency", "service": "checkout", "severity": "page", "tier": "1h/5m"},
				"annotations": map[string]any{},
				"changedAt":   "2026-11-21T12:01:00.123Z",
				"fingerprint": fingerprint(sloLabels("checkout-latency")),
			},
		},
	}
	assert.Equal(t, want, body)
	assert.Len(t, fingerprint(sloLabels("a")), 16)
	assert.NotEqual(t, fingerprint(sloLabels("a")), fingerprint(sloLabels("b")))
}

// TestWebhookSignatureWithOpenSSL checks the signature against the shell
// recipe of the README.
func TestWebhookSignatureWithOpenSSL(t *testing.T) {
	openssl, err := exec.LookPath("openssl")
	if err != nil {
		prereq.Missing(t, "openssl is not installed (it checks the README's verification recipe; the Go verification in TestWebhookBodyAndSignature still runs)")
	}
	srv := newRecordingServer(t)
	e := startExporter(t, withWebhook(syncConfig(), srv.URL), nil, nil)
	require.NoError(t, e.ConsumeLogs(t.Context(), alertLogs(alertRecord{state: stateFiring, labels: sloLabels("a"), body: "quote ' and newline\n"})))
	req := srv.received()[0]
	bodyFile := filepath.Join(t.TempDir(), "body.json")
	require.NoError(t, os.WriteFile(bodyFile, req.body, 0o600))
	// The recipe of the README, verbatim.
	cmd := exec.Command("sh", "-c", `{ printf '%s.' "$TS"; cat body.json; } | openssl dgst -sha256 -hmac "$FUSE_SECRET" -r | cut -d' ' -f1`)
	cmd.Dir = filepath.Dir(bodyFile)
	cmd.Env = append(os.Environ(), "TS="+req.header.Get("X-Fuse-Timestamp"), "FUSE_SECRET="+testSecret, "PATH="+filepath.Dir(openssl)+":/usr/bin:/bin")
	out, err := cmd.Output()
	require.NoError(t, err)
	hexSig := strings.TrimSpace(string(out))
	assert.Equal(t, "sha256="+hexSig, req.header.Get("X-Fuse-Signature"))
}

func TestWebhookRetriesAreResigned(t *testing.T) {
	srv := newRecordingServer(t, http.StatusBadGateway, http.StatusOK)
	e := startExporter(t, withWebhook(syncConfig(), srv.URL), nil, nil)
	require.NoError(t, e.ConsumeLogs(t.Context(), alertLogs(alertRecord{state: stateFiring, labels: sloLabels("a")})))
	reqs := srv.received()
	require.Len(t, reqs, 2)
	for _, r := range reqs {
		require.NoError(t, verifyWebhook(testSecret, r.header, r.body, time.Now()))
	}
}

// TestDestinationsAreIndependent: a webhook that rejects the request does not
// stop Alertmanager from getting the alert, nor make it get it twice.
func TestDestinationsAreIndependent(t *testing.T) {
	am := newRecordingServer(t)
	hook := newRecordingServer(t, http.StatusForbidden)
	tel := componenttest.NewTelemetry()
	t.Cleanup(func() { require.NoError(t, tel.Shutdown(context.Background())) })
	e := startExporter(t, withWebhook(withAlertmanager(syncConfig(), am.URL), hook.URL), tel, nil)

	err := e.ConsumeLogs(t.Context(), alertLogs(alertRecord{state: stateFiring, labels: sloLabels("a")}))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "webhook delivery to "+hook.URL)
	assert.Len(t, am.received(), 1)
	assert.Len(t, hook.received(), 1, "403 is not retried")
	metadatatest.AssertEqualFuseDeliveriesFailed(t, tel, []metricdata.DataPoint[int64]{{
		Value:      1,
		Attributes: attribute.NewSet(attribute.String("destination", "webhook"), attribute.String("endpoint", hook.URL)),
	}}, metricdatatest.IgnoreTimestamp(), metricdatatest.IgnoreExemplars())

	// The exporter helper's own counts are recorded once per destination
	// (the retrying inner helper is silenced) and carry the destination.
	for name, want := range map[string]string{
		"otelcol_exporter_sent_log_records":        "alertmanager",
		"otelcol_exporter_send_failed_log_records": "webhook",
	} {
		m, err := tel.GetMetric(name)
		require.NoError(t, err, name)
		sum, ok := m.Data.(metricdata.Sum[int64])
		require.True(t, ok, name)
		total := int64(0)
		for _, dp := range sum.DataPoints {
			dest, _ := dp.Attributes.Value("destination")
			if dest.AsString() == want {
				assert.Equal(t, int64(1), dp.Value, name)
			} else {
				assert.Equal(t, int64(0), dp.Value, "%s %s", name, dest.AsString())
			}
			total += dp.Value
		}
		assert.Equal(t, int64(1), total, "%s counted once", name)
	}
}

func TestNonAlertRecordsAreCountedAndIgnored(t *testing.T) {
	am := newRecordingServer(t)
	hook := newRecordingServer(t)
	tel := componenttest.NewTelemetry()
	t.Cleanup(func() { require.NoError(t, tel.Shutdown(context.Background())) })
	e := startExporter(t, withWebhook(withAlertmanager(syncConfig(), am.URL), hook.URL), tel, nil)

	ld := alertLogs(
		alertRecord{state: "burning", labels: sloLabels("bad state")},
		alertRecord{state: stateFiring, labels: map[string]string{"slo": "no alertname"}},
	)
	lr := ld.ResourceLogs().At(0).ScopeLogs().At(0).LogRecords().AppendEmpty()
	lr.Body().SetStr("an ordinary log line")
	lr2 := ld.ResourceLogs().At(0).ScopeLogs().At(0).LogRecords().AppendEmpty()
	lr2.SetEventName("some.other.event")
	lr2.Attributes().PutStr(attrAlertState, stateFiring)
	lr2.Attributes().PutStr(attrAlertName, "X")

	require.NoError(t, e.ConsumeLogs(t.Context(), ld))
	assert.Empty(t, am.received())
	assert.Empty(t, hook.received())
	metadatatest.AssertEqualFuseRecordsIgnored(t, tel, []metricdata.DataPoint[int64]{
		{Value: 2, Attributes: attribute.NewSet(attribute.String("reason", "not_alert"))},
		{Value: 2, Attributes: attribute.NewSet(attribute.String("reason", "malformed"))},
	}, metricdatatest.IgnoreTimestamp(), metricdatatest.IgnoreExemplars())

	// A mixed batch delivers only the alert.
	ld = alertLogs(alertRecord{state: stateFiring, labels: sloLabels("ok")})
	ld.ResourceLogs().At(0).ScopeLogs().At(0).LogRecords().AppendEmpty().Body().SetStr("noise")
	require.NoError(t, e.ConsumeLogs(t.Context(), ld))
	require.Len(t, am.alertmanagerPosts(t), 1)
	assert.Len(t, am.alertmanagerPosts(t)[0], 1)
	var body webhookPayload
	require.NoError(t, json.Unmarshal(hook.received()[0].body, &body))
	assert.Len(t, body.Alerts, 1)
}

// TestWebhookOverTLSWithReceiver uses the collector's TLS client settings (a
// private CA file) and the reusable webhooktest receiver.
func TestWebhookOverTLSWithReceiver(t *testing.T) {
	var got []recordedRequest
	var mu sync.Mutex
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		got = append(got, recordedRequest{path: r.URL.Path, header: r.Header.Clone(), body: body})
		mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	}))
	srv.StartTLS()
	t.Cleanup(srv.Close)
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	require.NoError(t, os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o600))

	plain := webhooktest.NewReceiver(t, "second-secret")
	cfg := withWebhook(syncConfig(), srv.URL)
	cfg.Webhooks[0].ClientConfig.TLS.CAFile = caFile
	cfg = withWebhook(cfg, plain.URL)
	cfg.Webhooks[1].Secret = "second-secret"
	e := startExporter(t, cfg, nil, nil)

	require.NoError(t, e.ConsumeLogs(t.Context(), alertLogs(alertRecord{state: stateFiring, labels: sloLabels("tls")})))
	mu.Lock()
	require.Len(t, got, 1)
	require.NoError(t, verifyWebhook(testSecret, got[0].header, got[0].body, time.Now()))
	mu.Unlock()
	deliveries := plain.Deliveries()
	require.Len(t, deliveries, 1)
	require.NoError(t, deliveries[0].VerifyErr, "each webhook is signed with its own secret")
	require.Len(t, deliveries[0].Payload.Alerts, 1)
	assert.Equal(t, "tls", deliveries[0].Payload.Alerts[0].Labels["slo"])

	// Without the CA the TLS handshake fails: the setting is really used.
	bad := withWebhook(syncConfig(), srv.URL)
	bad.RetryConfig.Enabled = false
	e2 := startExporter(t, bad, nil, nil)
	err := e2.ConsumeLogs(t.Context(), alertLogs(alertRecord{state: stateFiring, labels: sloLabels("tls")}))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "certificate")
}
