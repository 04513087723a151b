package ebpfreceiver

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.opentelemetry.io/otel/sdk/metric/metricdata/metricdatatest"

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
