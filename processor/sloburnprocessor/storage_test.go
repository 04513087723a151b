package sloburnprocessor

import (
	"context"
	"testing"
	"time"

	"github.com/open-telemetry/opentelemetry-collector-contrib/extension/storage/filestorage"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/extension"
	"go.opentelemetry.io/collector/extension/extensiontest"
)

// storageHost is a component.Host that offers one real storage extension.
type storageHost struct {
	exts map[component.ID]component.Component
}

func (h storageHost) GetExtensions() map[component.ID]component.Component { return h.exts }

func startFileStorage(t *testing.T, dir string) (component.ID, storageHost, extension.Extension) {
	t.Helper()
	f := filestorage.NewFactory()
	cfg := f.CreateDefaultConfig().(*filestorage.Config)
	cfg.Directory = dir
	id := component.NewIDWithName(f.Type(), "slo")
	ext, err := f.Create(context.Background(), extensiontest.NewNopSettings(f.Type()), cfg)
	require.NoError(t, err)
	host := storageHost{exts: map[component.ID]component.Component{id: ext}}
	require.NoError(t, ext.Start(context.Background(), host))
	return id, host, ext
}

// A restart with file_storage restores the windows, cumulative counts and alert state:
// the burn rates after restart equal those before, and a firing tier is not re-announced.
func TestRestartWithFileStorageRestoresWindows(t *testing.T) {
	dir := t.TempDir()
	id, host, ext := startFileStorage(t, dir)
	auto := SLOConfig{Name: "checkout-latency", Service: "checkout", Objective: 99, Period: Duration(30 * day),
		SLI: SLIConfig{Latency: &LatencySLI{Threshold: LatencyThreshold{Auto: true}, Percentile: 99.9,
			Baseline: BaselineConfig{Period: Duration(30 * time.Minute), UpdateInterval: Duration(5 * time.Minute), MinSamples: 1000}}}}
	cfg := testConfig(availabilitySLO("checkout-availability", "checkout", 99.9), auto)
	cfg.Storage = &id

	h := newHarness(t, cfg, host)
	for sec := 0; sec < 3600; sec++ {
		bad := 0
		if sec >= 3000 {
			bad = 10 // a 10-minute outage at the end: the page tier fires
		}
		h.send(goodBad("checkout", 10, bad))
		h.step(time.Second)
	}
	before := map[string]float64{}
	for _, w := range []string{"5m", "1h", "6h", "30d"} {
		before[w] = mustPoint(t, h, "slo.burn_rate", "slo", "checkout-availability", "window", w)
	}
	beforeRemaining := mustPoint(t, h, "slo.error_budget.remaining", "slo", "checkout-availability")
	beforeThreshold := mustPoint(t, h, "slo.latency.threshold", "slo", "checkout-latency")
	require.Positive(t, beforeThreshold)
	beforeTotal := mustPoint(t, h, "slo.events", "slo", "checkout-availability", "event", "total")
	require.Greater(t, before["5m"], 100.0)
	firingBefore := len(alertRecords(h.lsink))
	require.Positive(t, firingBefore)
	stoppedAt := h.clock.Now()
	h.shutdown()
	require.NoError(t, ext.Shutdown(context.Background()))

	// Restart: a new extension and processor instance over the same directory.
	_, host2, ext2 := startFileStorage(t, dir)
	defer func() { require.NoError(t, ext2.Shutdown(context.Background())) }()
	h2 := newHarnessAt(t, cfg, host2, stoppedAt)
	// Emit at once, at the instant of the stop, so the windows have not slid.
	h2.p.mu.Lock()
	h2.p.nextEmit = stoppedAt.UnixNano()
	h2.p.mu.Unlock()
	h2.step(0)
	for w, want := range before {
		assert.InEpsilon(t, want, mustPoint(t, h2, "slo.burn_rate", "slo", "checkout-availability", "window", w), 1e-9, "window %s", w)
	}
	assert.InEpsilon(t, beforeRemaining, mustPoint(t, h2, "slo.error_budget.remaining", "slo", "checkout-availability"), 1e-9)
	assert.Equal(t, beforeTotal, mustPoint(t, h2, "slo.events", "slo", "checkout-availability", "event", "total"))
	assert.Equal(t, beforeThreshold, mustPoint(t, h2, "slo.latency.threshold", "slo", "checkout-latency"), "learned latency histogram restored")
	assert.Equal(t, 1.0, mustPoint(t, h2, "slo.alert.active", "tier", "1h/5m"), "firing state restored")
	assert.Equal(t, epoch.UnixNano(), h2.p.startTime, "slo.events continues the series started before the restart")

	// Recovery after the restart resolves the restored alert: the resolved record ends the
	// firing one from before the restart.
	for sec := 0; sec < 1800; sec++ {
		h2.send(goodBad("checkout", 10, 0))
		h2.step(time.Second)
	}
	recs := alertRecords(h2.lsink)
	require.NotEmpty(t, recs)
	for _, lr := range recs {
		assert.Equal(t, "resolved", attrStr(lr, "alert.state"), "no duplicate firing after restart")
	}
	h2.shutdown()
}

// Without the named extension Start fails with the ID in the message.
func TestStorageMissingExtension(t *testing.T) {
	id := component.MustNewIDWithName("file_storage", "missing")
	cfg := testConfig(availabilitySLO("a", "svc", 99.9))
	cfg.Storage = &id
	p, err := newSLOBurn(processortestSettings(t), cfg)
	require.NoError(t, err)
	err = p.Start(context.Background(), storageHost{})
	require.ErrorContains(t, err, "file_storage/missing")
	require.NoError(t, p.Shutdown(context.Background()))
}
