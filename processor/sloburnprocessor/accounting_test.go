package sloburnprocessor

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.opentelemetry.io/otel/sdk/metric/metricdata/metricdatatest"

	"github.com/otelcol-goebpf/otelcol-goebpf/internal/testutil/refusing"
	"github.com/otelcol-goebpf/otelcol-goebpf/processor/sloburnprocessor/internal/metadata"
	"github.com/otelcol-goebpf/otelcol-goebpf/processor/sloburnprocessor/internal/metadatatest"
)

// Span accounting: every span observed is either forwarded or refused by the next
// consumer, and the counts match what the next consumer took and turned away.
func TestSpanAccounting(t *testing.T) {
	tel := componenttest.NewTelemetry()
	t.Cleanup(func() { require.NoError(t, tel.Shutdown(context.Background())) })
	set := metadatatest.NewSettings(tel)
	set.ID = component.NewIDWithName(metadata.Type, t.Name())

	next := &refusing.Traces{Every: 3}
	cfg := testConfig(availabilitySLO("a", "svc", 99))
	ctx := context.Background()
	tr, err := NewFactory().CreateTraces(ctx, set, cfg, next)
	require.NoError(t, err)
	require.NoError(t, tr.Start(ctx, componenttest.NewNopHost()))

	sent, refusedCalls := 0, 0
	for i := range 10 {
		// Batches of different sizes, with and without a service the SLO selects.
		td := goodBad("svc", i+1, i%2)
		makeTraces(spanSpec{service: "other"}).ResourceSpans().MoveAndAppendTo(td.ResourceSpans())
		sent += td.SpanCount()
		if tr.ConsumeTraces(ctx, td) != nil {
			refusedCalls++
		}
	}
	require.NoError(t, tr.Shutdown(ctx))
	require.Equal(t, 3, refusedCalls)
	require.Positive(t, next.Refused())
	require.Equal(t, sent, next.Accepted()+next.Refused())

	metadatatest.AssertEqualProcessorSloBurnSpansObserved(t, tel, []metricdata.DataPoint[int64]{{Value: int64(sent)}}, metricdatatest.IgnoreTimestamp())
	metadatatest.AssertEqualProcessorSloBurnSpansForwarded(t, tel, []metricdata.DataPoint[int64]{{Value: int64(next.Accepted())}}, metricdatatest.IgnoreTimestamp())
	metadatatest.AssertEqualProcessorSloBurnSpansRefused(t, tel, []metricdata.DataPoint[int64]{{Value: int64(next.Refused())}}, metricdatatest.IgnoreTimestamp())
}
