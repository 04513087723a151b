package ebpfreceiver

import (
	"context"
	"errors"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/receiver/receivertest"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.opentelemetry.io/otel/sdk/metric/metricdata/metricdatatest"
	"golang.org/x/sys/unix"

	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/discovery"
	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/goexe"
	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/metadata"
	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/metadatatest"
	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/runtimemetrics"
)

// statsOnly is a RuntimeCollector whose cumulative counters the test sets.
type statsOnly struct{ stats runtimemetrics.Stats }

func (*statsOnly) Attach(int, *goexe.Executable) error { return nil }
func (*statsOnly) Detach(int)                          {}
func (*statsOnly) Collect(context.Context, time.Time) (pmetric.Metrics, error) {
	return pmetric.NewMetrics(), nil
}
func (s *statsOnly) Stats() runtimemetrics.Stats { return s.stats }
func (*statsOnly) Close() error                  { return nil }

func TestRuntimeStatsRecordedAsDeltas(t *testing.T) {
	tel := componenttest.NewTelemetry()
	t.Cleanup(func() { require.NoError(t, tel.Shutdown(context.Background())) })
	tb, err := metadata.NewTelemetryBuilder(tel.NewTelemetrySettings())
	require.NoError(t, err)
	rc := &statsOnly{}
	r := &ebpfReceiver{tel: tb, runtime: rc}

	ctx := context.Background()
	rc.stats = runtimemetrics.Stats{FoldedCreationSites: 3, FoldedAllocationSites: 1, ReadErrors: 2, SuspectedLeaks: 1}
	prev := r.recordRuntimeStats(ctx, runtimemetrics.Stats{})
	rc.stats = runtimemetrics.Stats{FoldedCreationSites: 10, FoldedAllocationSites: 1, ReadErrors: 2, SuspectedLeaks: 2}
	r.recordRuntimeStats(ctx, prev)

	ignore := []metricdatatest.Option{metricdatatest.IgnoreTimestamp()}
	metadatatest.AssertEqualReceiverEbpfRuntimeSitesFolded(t, tel, []metricdata.DataPoint[int64]{
		{Value: 10, Attributes: attribute.NewSet(attribute.String("site_kind", "creation"))},
		{Value: 1, Attributes: attribute.NewSet(attribute.String("site_kind", "allocation"))},
	}, ignore...)
	metadatatest.AssertEqualReceiverEbpfRuntimeReadErrors(t, tel, []metricdata.DataPoint[int64]{{Value: 2}}, ignore...)
	metadatatest.AssertEqualReceiverEbpfRuntimeLeaksSuspected(t, tel, []metricdata.DataPoint[int64]{{Value: 2}}, ignore...)
}

// flakyRuntime fails its first failures attaches (a process whose Go runtime
// has not started yet), then succeeds.
type flakyRuntime struct {
	statsOnly
	failures int
	calls    int
	attached []int
}

func (f *flakyRuntime) Attach(pid int, _ *goexe.Executable) error {
	f.calls++
	if f.calls <= f.failures {
		return errors.New("runtime.allgs: runtime global not found")
	}
	f.attached = append(f.attached, pid)
	return nil
}

// startedAgo is a discovery key for this test process with a start time age ago.
func startedAgo(t *testing.T, age time.Duration) discovery.Key {
	t.Helper()
	var ts unix.Timespec
	require.NoError(t, unix.ClockGettime(unix.CLOCK_BOOTTIME, &ts))
	start := (time.Duration(ts.Nano()) - age) / (time.Second / userHZ)
	return discovery.Key{PID: os.Getpid(), StartTime: uint64(max(start, 0)), ExePath: "/proc/self/exe"}
}

func runtimeOnlyReceiver(t *testing.T, rc RuntimeCollector) *ebpfReceiver {
	t.Helper()
	cfg := createDefaultConfig().(*Config)
	cfg.Discovery.Instrument = []ProcessSelector{{PID: 1}}
	r, err := newReceiver(cfg, receivertest.NewNopSettings(typ))
	require.NoError(t, err)
	t.Cleanup(func() { _ = r.Shutdown(context.Background()) })
	r.runtime = rc
	r.inspect = func(string) (*binaryInfo, error) {
		return &binaryInfo{GoVersion: "go1.26.8", ProbeErr: errors.New("no probes in this test")}, nil
	}
	return r
}

// A process discovered while its runtime is still starting gets its
// runtime-metrics attach retried at each poll until it succeeds.
func TestRuntimeAttachRetriedWhileProcessStarts(t *testing.T) {
	rc := &flakyRuntime{failures: 2}
	r := runtimeOnlyReceiver(t, rc)
	k := startedAgo(t, 50*time.Millisecond)
	p := &discovery.Process{PID: k.PID, StartTime: k.StartTime, ExePath: k.ExePath}
	r.instrument(context.Background(), p)
	require.Contains(t, r.procs, k, "a starting process is kept while its attach is retried")
	require.False(t, r.procs[k].runtime)
	r.retryRuntime()
	require.False(t, r.procs[k].runtime)
	r.retryRuntime()
	require.True(t, r.procs[k].runtime, "attached at the third try")
	require.False(t, r.procs[k].runtimeRetry)
	r.retryRuntime()
	require.Equal(t, 3, rc.calls, "no attach after success")
	require.Equal(t, []int{k.PID}, rc.attached)
}

// A process already past the start-up grace is not retried, and one that
// reaches it without attaching is given up and forgotten.
func TestRuntimeAttachGivenUpAfterGrace(t *testing.T) {
	t.Run("old at discovery", func(t *testing.T) {
		rc := &flakyRuntime{failures: 1 << 30}
		r := runtimeOnlyReceiver(t, rc)
		k := startedAgo(t, runtimeStartGrace+time.Second)
		r.instrument(context.Background(), &discovery.Process{PID: k.PID, StartTime: k.StartTime, ExePath: k.ExePath})
		require.Empty(t, r.procs)
		r.retryRuntime()
		require.Equal(t, 1, rc.calls)
	})
	t.Run("ages out while retried", func(t *testing.T) {
		rc := &flakyRuntime{failures: 1 << 30}
		r := runtimeOnlyReceiver(t, rc)
		k := startedAgo(t, runtimeStartGrace-300*time.Millisecond)
		r.instrument(context.Background(), &discovery.Process{PID: k.PID, StartTime: k.StartTime, ExePath: k.ExePath})
		require.Contains(t, r.procs, k)
		r.retryRuntime()
		require.Contains(t, r.procs, k, "still within the grace")
		time.Sleep(400 * time.Millisecond)
		r.retryRuntime()
		require.Empty(t, r.procs, "given up and forgotten once past the grace")
		calls := rc.calls
		r.retryRuntime()
		require.Equal(t, calls, rc.calls, "no retry after giving up")
	})
}
