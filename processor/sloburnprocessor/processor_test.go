package sloburnprocessor

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/processor"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.opentelemetry.io/otel/sdk/metric/metricdata/metricdatatest"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/otelcol-goebpf/otelcol-goebpf/processor/sloburnprocessor/internal/metadata"
	"github.com/otelcol-goebpf/otelcol-goebpf/processor/sloburnprocessor/internal/metadatatest"
)

func observedSettings(t *testing.T) (processor.Settings, *observer.ObservedLogs) {
	core, logs := observer.New(zap.WarnLevel)
	set := processortestSettings(t)
	set.Logger = zap.New(core)
	return set, logs
}

// In a traces pipeline but no metrics pipeline, Start warns once that the metrics go nowhere.
func TestWarnsWithoutMetricsPipeline(t *testing.T) {
	set, logs := observedSettings(t)
	cfg := testConfig(availabilitySLO("a", "svc", 99.9))
	f := NewFactory()
	tr1, err := f.CreateTraces(context.Background(), set, cfg, consumertest.NewNop())
	require.NoError(t, err)
	lg, err := f.CreateLogs(context.Background(), set, cfg, consumertest.NewNop())
	require.NoError(t, err)
	for _, c := range []component.Component{tr1, lg} {
		require.NoError(t, c.Start(context.Background(), componenttest.NewNopHost()))
	}
	for _, c := range []component.Component{tr1, lg} {
		require.NoError(t, c.Shutdown(context.Background()))
	}
	require.Equal(t, 1, logs.FilterMessageSnippet("no metrics pipeline").Len())

	set2, logs2 := observedSettings(t)
	set2.ID = component.NewIDWithName(metadata.Type, "with-metrics")
	tr2, err := f.CreateTraces(context.Background(), set2, cfg, consumertest.NewNop())
	require.NoError(t, err)
	mt, err := f.CreateMetrics(context.Background(), set2, cfg, consumertest.NewNop())
	require.NoError(t, err)
	for _, c := range []component.Component{tr2, mt} {
		require.NoError(t, c.Start(context.Background(), componenttest.NewNopHost()))
	}
	for _, c := range []component.Component{tr2, mt} {
		require.NoError(t, c.Shutdown(context.Background()))
	}
	assert.Equal(t, 0, logs2.Len())
}

// One instance per ID serves all pipelines; incoming metrics and logs pass unchanged.
func TestSharedInstancePassThrough(t *testing.T) {
	h := newHarness(t, testConfig(availabilitySLO("a", "svc", 99.9)), nil)
	require.Equal(t, 1, countInstances(h))

	md := pmetric.NewMetrics()
	md.ResourceMetrics().AppendEmpty().ScopeMetrics().AppendEmpty().Metrics().AppendEmpty().SetName("app.requests")
	require.NoError(t, h.metrics.ConsumeMetrics(context.Background(), md))
	ld := plog.NewLogs()
	ld.ResourceLogs().AppendEmpty().ScopeLogs().AppendEmpty().LogRecords().AppendEmpty().Body().SetStr("hello")
	require.NoError(t, h.logs.ConsumeLogs(context.Background(), ld))
	require.Len(t, h.msink.AllMetrics(), 1)
	assert.Equal(t, "app.requests", h.msink.AllMetrics()[0].ResourceMetrics().At(0).ScopeMetrics().At(0).Metrics().At(0).Name())
	require.Len(t, h.lsink.AllLogs(), 1)
	assert.Equal(t, "hello", h.lsink.AllLogs()[0].ResourceLogs().At(0).ScopeLogs().At(0).LogRecords().At(0).Body().Str())

	// Spans seen in the traces pipeline come out as metrics in the metrics pipeline and
	// pass through unchanged while nothing burns.
	td := goodBad("svc", 3, 0)
	h.send(td)
	require.Len(t, h.spans.AllTraces(), 1)
	_, marked := h.spans.AllTraces()[0].ResourceSpans().At(0).ScopeSpans().At(0).Spans().At(0).Attributes().Get(attrSLOBurning)
	assert.False(t, marked)
	h.step(15 * time.Second)
	assert.Equal(t, 3.0, mustPoint(t, h, "slo.events", "event", "total"))
}

func countInstances(h *harness) int { return instances.Len() }

// Internal telemetry counts spans, matches, transitions, condition errors and refused
// emissions.
func TestInternalTelemetry(t *testing.T) {
	tel := componenttest.NewTelemetry()
	t.Cleanup(func() { require.NoError(t, tel.Shutdown(context.Background())) })
	set := metadatatest.NewSettings(tel)
	set.ID = component.NewIDWithName(metadata.Type, t.Name())

	bad := availabilitySLO("cond", "svc", 99)
	bad.Condition = `Len(attributes["n"]) > 0` // Len of an int fails at evaluation
	cfg := testConfig(availabilitySLO("a", "svc", 99), bad)
	cfg.Alerting.Tiers = []TierConfig{{Severity: "page", Long: Duration(10 * time.Minute), Short: Duration(time.Minute), BurnRate: 10}}
	require.NoError(t, cfg.Validate())

	f := NewFactory()
	ctx := context.Background()
	tr, err := f.CreateTraces(ctx, set, cfg, consumertest.NewNop())
	require.NoError(t, err)
	mt, err := f.CreateMetrics(ctx, set, cfg, consumertest.NewErr(errors.New("downstream full")))
	require.NoError(t, err)
	shared, err := instances.LoadOrStore(set.ID, func() (*sloBurn, error) { panic("exists") })
	require.NoError(t, err)
	p := shared.Unwrap()
	clock := &fakeClock{}
	clock.Set(epoch)
	p.now = clock.Now
	p.newTicker = func(time.Duration) (<-chan time.Time, func()) { return nil, func() {} }
	require.NoError(t, tr.Start(ctx, componenttest.NewNopHost()))
	require.NoError(t, mt.Start(ctx, componenttest.NewNopHost()))

	td := makeTraces(
		spanSpec{service: "svc", httpStatus: 500, attrs: map[string]any{"n": 1}},
		spanSpec{service: "svc", httpStatus: 500, attrs: map[string]any{"n": 1}},
		spanSpec{service: "other"},
	)
	for i := 0; i < 10; i++ {
		require.NoError(t, tr.ConsumeTraces(ctx, td))
	}
	clock.Add(15 * time.Second)
	p.tick(ctx, clock.Now())
	require.NoError(t, tr.Shutdown(ctx))
	require.NoError(t, mt.Shutdown(ctx))

	metadatatest.AssertEqualProcessorSloBurnSpansObserved(t, tel, []metricdata.DataPoint[int64]{{Value: 30}}, metricdatatest.IgnoreTimestamp())
	metadatatest.AssertEqualProcessorSloBurnSpansMatched(t, tel, []metricdata.DataPoint[int64]{{Value: 20}}, metricdatatest.IgnoreTimestamp())
	metadatatest.AssertEqualProcessorSloBurnConditionErrors(t, tel, []metricdata.DataPoint[int64]{{Value: 20}}, metricdatatest.IgnoreTimestamp())
	metadatatest.AssertEqualProcessorSloBurnAlertTransitions(t, tel, []metricdata.DataPoint[int64]{{Value: 1}}, metricdatatest.IgnoreTimestamp())
	metadatatest.AssertEqualProcessorSloBurnEmitFailures(t, tel, []metricdata.DataPoint[int64]{{Value: 1}}, metricdatatest.IgnoreTimestamp())
}

// Shutdown is safe without Start.
func TestShutdownWithoutStart(t *testing.T) {
	p, err := newSLOBurn(processortestSettings(t), testConfig(availabilitySLO("a", "svc", 99.9)))
	require.NoError(t, err)
	require.NoError(t, p.Shutdown(context.Background()))
}

// The real loop (wall clock) flushes and emits on its own while pipelines send spans
// concurrently; Shutdown stops it (goleak checks the goroutine is gone).
func TestLoopEmitsOnWallClock(t *testing.T) {
	cfg := testConfig(availabilitySLO("a", "svc", 99.9))
	cfg.EmitInterval = 50 * time.Millisecond
	set := processortestSettings(t)
	f := NewFactory()
	ctx := context.Background()
	sink := new(consumertest.MetricsSink)
	tr, err := f.CreateTraces(ctx, set, cfg, consumertest.NewNop())
	require.NoError(t, err)
	mt, err := f.CreateMetrics(ctx, set, cfg, sink)
	require.NoError(t, err)
	require.NoError(t, tr.Start(ctx, componenttest.NewNopHost()))
	require.NoError(t, mt.Start(ctx, componenttest.NewNopHost()))
	done := make(chan struct{})
	for g := 0; g < 2; g++ {
		go func() {
			defer func() { done <- struct{}{} }()
			for i := 0; i < 50; i++ {
				assert.NoError(t, tr.ConsumeTraces(ctx, goodBad("svc", 10, 1)))
			}
		}()
	}
	<-done
	<-done
	require.Eventually(t, func() bool {
		v, ok := lastPoint(t, sink, "slo.events", map[string]string{"event": "total"})
		return ok && v == 1000
	}, 10*time.Second, 20*time.Millisecond)
	good, _ := lastPoint(t, sink, "slo.events", map[string]string{"event": "good"})
	assert.Equal(t, 900.0, good)
	require.NoError(t, tr.Shutdown(ctx))
	require.NoError(t, mt.Shutdown(ctx))
}

// SLOs from OpenSLO files run with the tiers of their alert policies.
func TestOpenSLOFileRuns(t *testing.T) {
	cfg := createDefaultConfig().(*Config)
	cfg.OpenSLOFiles = []string{"testdata/openslo/checkout.yaml"}
	h := newHarness(t, cfg, nil)
	h.send(makeTraces(
		spanSpec{service: "checkout", route: "/orders", httpStatus: 200},
		spanSpec{service: "checkout", route: "/orders", httpStatus: 503},
		spanSpec{service: "checkout", route: "/cart", httpStatus: 503},
	))
	h.step(15 * time.Second)
	assert.Equal(t, 2.0, mustPoint(t, h, "slo.events", "slo", "checkout-orders", "event", "total"))
	assert.Equal(t, 1.0, mustPoint(t, h, "slo.events", "slo", "checkout-orders", "event", "good"))
	// 50% errors against a 0.5% budget: burn 100 in every window.
	assert.InDelta(t, 100, mustPoint(t, h, "slo.burn_rate", "slo", "checkout-orders", "window", "5m"), 1e-9)
	for _, tier := range []string{"1h/5m", "3d/6h"} {
		_, ok := lastPoint(t, h.msink, "slo.alert.active", map[string]string{"slo": "checkout-orders", "tier": tier})
		assert.True(t, ok, "tier %s from the alert policy", tier)
	}
	_, ok := lastPoint(t, h.msink, "slo.alert.active", map[string]string{"slo": "checkout-orders", "tier": "6h/30m"})
	assert.False(t, ok, "the default tiers are replaced by the policy's")
}
