package fuseexporter

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/exporter/exportertest"

	"github.com/otelcol-goebpf/otelcol-goebpf/exporter/fuseexporter/internal/metadata"
)

// TestShutdownHonoursContext: with a delivery stuck on a destination that
// never answers, Shutdown returns when its context ends rather than waiting for
// the HTTP timeout.
func TestShutdownHonoursContext(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(release) })

	cfg := createDefaultConfig().(*Config) // with the sending queue
	withAlertmanager(cfg, srv.URL)
	cfg.Alertmanager.Get().ClientConfig.Timeout = time.Minute
	e, err := NewFactory().CreateLogs(t.Context(), exportertest.NewNopSettings(metadata.Type), cfg)
	require.NoError(t, err)
	require.NoError(t, e.Start(t.Context(), componenttest.NewNopHost()))
	require.NoError(t, e.ConsumeLogs(t.Context(), alertLogs(alertRecord{state: stateFiring, labels: sloLabels("a")})))
	time.Sleep(50 * time.Millisecond) // let the queue consumer pick it up

	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	_ = e.Shutdown(ctx)
	assert.Less(t, time.Since(start), 5*time.Second)
}

func TestShutdownWithoutStart(t *testing.T) {
	cfg := withWebhook(withAlertmanager(createDefaultConfig().(*Config), "http://127.0.0.1:9"), "http://127.0.0.1:9")
	e, err := NewFactory().CreateLogs(t.Context(), exportertest.NewNopSettings(metadata.Type), cfg)
	require.NoError(t, err)
	require.NoError(t, e.Shutdown(t.Context()))
}
