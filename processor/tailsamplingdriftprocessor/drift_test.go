package tailsamplingdriftprocessor

import (
	"context"
	"encoding/binary"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/processor"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/otelcol-goebpf/otelcol-goebpf/processor/tailsamplingdriftprocessor/internal/metadatatest"
)

// cohortTraffic makes n single-span traces of /checkout: baseline cohort 1.0
// at ~100ms, canary 2.0 (share canaryShare) at ~100ms × canarySlowdown.
func cohortTraffic(r *rand.Rand, n int, canaryShare, canarySlowdown float64) ptrace.Traces {
	td := ptrace.NewTraces()
	base := time.Unix(1_700_000_000, 0)
	for i := 0; i < n; i++ {
		cohort, factor := "1.0", 1.0
		if r.Float64() < canaryShare {
			cohort, factor = "2.0", canarySlowdown
		}
		rs := td.ResourceSpans().AppendEmpty()
		rs.Resource().Attributes().PutStr("service.name", "checkout")
		rs.Resource().Attributes().PutStr("service.version", cohort)
		sp := rs.ScopeSpans().AppendEmpty().Spans().AppendEmpty()
		var id pcommon.TraceID
		binary.BigEndian.PutUint64(id[:8], r.Uint64())
		binary.BigEndian.PutUint64(id[8:], r.Uint64())
		sp.SetTraceID(id)
		sp.SetSpanID(pcommon.SpanID{1})
		sp.SetName("POST")
		sp.Attributes().PutStr("http.route", "/checkout")
		d := time.Duration((80 + 40*r.Float64()) * factor * float64(time.Millisecond))
		sp.SetStartTimestamp(pcommon.NewTimestampFromTime(base))
		sp.SetEndTimestamp(pcommon.NewTimestampFromTime(base.Add(d)))
	}
	return td
}

type wiredProcessor struct {
	traces  processor.Traces
	metrics processor.Metrics
	logs    processor.Logs
	inst    *tailSamplingDrift
	tsink   *consumertest.TracesSink
	msink   *consumertest.MetricsSink
	lsink   *consumertest.LogsSink
}

func newWiredProcessor(t *testing.T, cfg *Config, set processor.Settings) *wiredProcessor {
	t.Helper()
	w := &wiredProcessor{tsink: new(consumertest.TracesSink), msink: new(consumertest.MetricsSink), lsink: new(consumertest.LogsSink)}
	f := NewFactory()
	var err error
	w.traces, err = f.CreateTraces(context.Background(), set, cfg, w.tsink)
	require.NoError(t, err)
	w.metrics, err = f.CreateMetrics(context.Background(), set, cfg, w.msink)
	require.NoError(t, err)
	w.logs, err = f.CreateLogs(context.Background(), set, cfg, w.lsink)
	require.NoError(t, err)
	w.inst = w.traces.(*tracesProcessor).Unwrap()
	require.Same(t, w.inst, w.metrics.(*metricsProcessor).Unwrap(), "one instance per component ID")
	require.Same(t, w.inst, w.logs.(*logsProcessor).Unwrap())
	for _, c := range []component.Component{w.traces, w.metrics, w.logs} {
		require.NoError(t, c.Start(context.Background(), nil))
	}
	t.Cleanup(func() {
		for _, c := range []component.Component{w.traces, w.metrics, w.logs} {
			require.NoError(t, c.Shutdown(context.Background()))
		}
	})
	return w
}

func driftConfig() *Config {
	cfg := defaultTestConfig()
	cfg.Drift.CohortAttribute = "service.version"
	cfg.Drift.Baseline = "1.0"
	cfg.Drift.EmitInterval = time.Hour // the test calls emit itself
	cfg.Drift.KeepDriftingTraces = true
	// Decided at the first tick after the root: the tests tick by hand.
	cfg.DecisionGrace = time.Nanosecond
	return cfg
}

func firingAlerts(lsink *consumertest.LogsSink) []plog.LogRecord {
	var out []plog.LogRecord
	for _, ld := range lsink.AllLogs() {
		for _, rl := range ld.ResourceLogs().All() {
			for _, sl := range rl.ScopeLogs().All() {
				for _, lr := range sl.LogRecords().All() {
					if v, ok := lr.Attributes().Get("alert.state"); ok && v.Str() == "firing" {
						out = append(out, lr)
					}
				}
			}
		}
	}
	return out
}

func TestDriftEmitsMetricsAlertsAndKeepsDriftingTraces(t *testing.T) {
	enableRecordPolicy(t) // traces kept for drift are named so on their scope
	cfg := driftConfig()
	// A policy that keeps nothing: whatever is kept is kept for drift.
	cfg.PolicyCfgs = policiesFrom(t, "  - {name: errors, type: status_code, status_code: {status_codes: [ERROR]}}\n")
	tt := componenttest.NewTelemetry()
	t.Cleanup(func() { require.NoError(t, tt.Shutdown(context.Background())) })
	set := metadatatest.NewSettings(tt)
	set.ID = testSettings(t).ID
	w := newWiredProcessor(t, cfg, set)
	ctx := context.Background()
	r := rand.New(rand.NewPCG(1, 2))

	for round := 0; round < 30 && len(firingAlerts(w.lsink)) == 0; round++ {
		require.NoError(t, w.traces.ConsumeTraces(ctx, cohortTraffic(r, 400, 0.2, 2.0)))
		w.inst.engine.drift.emit(ctx)
	}
	alerts := firingAlerts(w.lsink)
	require.Len(t, alerts, 1, "one firing record for the drifting key/cohort/signal")
	a := alerts[0].Attributes()
	for k, want := range map[string]string{"alertname": "CanaryDrift", "service": "checkout", "key": "/checkout", "cohort": "2.0", "baseline": "1.0", "signal": "latency"} {
		v, ok := a.Get(k)
		require.True(t, ok, k)
		assert.Equal(t, want, v.Str(), k)
	}
	assert.Equal(t, "otelcol_goebpf.alert", alerts[0].EventName())
	assert.Equal(t, plog.SeverityNumberWarn, alerts[0].SeverityNumber())

	// Metrics: the drift gauges, with a drifting=1 point for the canary.
	require.NotEmpty(t, w.msink.AllMetrics())
	last := w.msink.AllMetrics()[len(w.msink.AllMetrics())-1]
	names := map[string]bool{}
	foundDrifting := false
	ms := last.ResourceMetrics().At(0).ScopeMetrics().At(0).Metrics()
	for _, m := range ms.All() {
		names[m.Name()] = true
		if m.Name() == metricDrifting {
			for _, dp := range m.Gauge().DataPoints().All() {
				c, _ := dp.Attributes().Get("cohort")
				s, _ := dp.Attributes().Get("signal")
				if c.Str() == "2.0" && s.Str() == "latency" && dp.DoubleValue() == 1 {
					foundDrifting = true
				}
			}
		}
	}
	for _, n := range []string{metricLatency, metricErrorRatio, metricStatistic, metricThreshold, metricDrifting} {
		assert.True(t, names[n], n)
	}
	assert.True(t, foundDrifting)

	// keep_drifting_traces: canary traces are now kept although no policy keeps them.
	before := w.tsink.SpanCount()
	require.NoError(t, w.traces.ConsumeTraces(ctx, cohortTraffic(r, 200, 0.5, 2.0)))
	for _, s := range w.inst.engine.shards {
		w.inst.engine.tickShard(s)
	}
	require.Eventually(t, func() bool { return w.tsink.SpanCount() > before }, 5*time.Second, 20*time.Millisecond)
	for _, td := range w.tsink.AllTraces() {
		for _, rs := range td.ResourceSpans().All() {
			v, _ := rs.Resource().Attributes().Get("service.version")
			assert.Equal(t, "2.0", v.Str(), "only drifting-cohort traces are kept")
		}
	}
	forDrift := 0
	for k, m := range spanMarks(w.tsink) {
		if m == attrPolicy+"="+driftPolicyName+" " {
			forDrift++
		} else {
			assert.Equal(t, attrPolicy+"=errors ", m, "span %s: kept by the errors policy or for drift", k)
		}
	}
	assert.Positive(t, forDrift, "spans marked as kept for drift")
	// Traces kept for drift are counted apart (once the shard tickers have
	// forwarded everything they decided).
	te := &testEngine{tt: tt}
	require.Eventually(t, func() bool {
		return te.counter(t, "processor_tail_sampling_drift_traces_kept_for_drift") == int64(w.tsink.SpanCount())
	}, 5*time.Second, 20*time.Millisecond)
}

func TestNoDriftAlertForEqualCohorts(t *testing.T) {
	cfg := driftConfig()
	w := newWiredProcessor(t, cfg, testSettings(t))
	ctx := context.Background()
	r := rand.New(rand.NewPCG(3, 4))
	for round := 0; round < 30; round++ {
		require.NoError(t, w.traces.ConsumeTraces(ctx, cohortTraffic(r, 400, 0.2, 1.0)))
		w.inst.engine.drift.emit(ctx)
	}
	assert.Empty(t, firingAlerts(w.lsink))
	assert.NotEmpty(t, w.msink.AllMetrics(), "metrics are emitted whether or not a cohort drifts")
}

func TestWarnsWhenNoMetricsPipeline(t *testing.T) {
	core, logs := observer.New(zap.WarnLevel)
	set := testSettings(t)
	set.Logger = zap.New(core)
	cfg := driftConfig()
	p, err := NewFactory().CreateTraces(context.Background(), set, cfg, consumertest.NewNop())
	require.NoError(t, err)
	require.NoError(t, p.Start(context.Background(), nil))
	require.NoError(t, p.Shutdown(context.Background()))
	require.Equal(t, 1, logs.FilterMessageSnippet("no metrics pipeline").Len())
}

// spansOf makes n single-span traces of one route and cohort.
func spansOf(td ptrace.Traces, r *rand.Rand, route, cohort string, n int) {
	base := time.Unix(1_700_000_000, 0)
	for i := 0; i < n; i++ {
		rs := td.ResourceSpans().AppendEmpty()
		rs.Resource().Attributes().PutStr("service.name", "checkout")
		rs.Resource().Attributes().PutStr("service.version", cohort)
		sp := rs.ScopeSpans().AppendEmpty().Spans().AppendEmpty()
		var id pcommon.TraceID
		binary.BigEndian.PutUint64(id[:8], r.Uint64())
		binary.BigEndian.PutUint64(id[8:], r.Uint64())
		sp.SetTraceID(id)
		sp.SetSpanID(pcommon.SpanID{1})
		sp.SetName("GET")
		sp.Attributes().PutStr("http.route", route)
		sp.SetStartTimestamp(pcommon.NewTimestampFromTime(base))
		sp.SetEndTimestamp(pcommon.NewTimestampFromTime(base.Add(100 * time.Millisecond)))
	}
}

// The detector's bounds are visible in internal telemetry: spans folded into
// the overflow key, spans of cohorts beyond the limit, tracked keys and
// series, and series expired after the idle timeout.
func TestDriftBoundsTelemetry(t *testing.T) {
	cfg := driftConfig()
	cfg.Drift.MaxKeys = 1
	cfg.Drift.MaxCohortsPerKey = 2
	tt := componenttest.NewTelemetry()
	t.Cleanup(func() { require.NoError(t, tt.Shutdown(context.Background())) })
	set := metadatatest.NewSettings(tt)
	set.ID = testSettings(t).ID
	w := newWiredProcessor(t, cfg, set)
	ctx := context.Background()
	r := rand.New(rand.NewPCG(5, 6))

	td := ptrace.NewTraces()
	spansOf(td, r, "/cart", "1.0", 3)   // the one real key
	spansOf(td, r, "/cart", "2.0", 1)   // its second cohort
	spansOf(td, r, "/cart", "3.0", 2)   // a third cohort: dropped
	spansOf(td, r, "/search", "1.0", 4) // a second key: folded into the overflow key
	spansOf(td, r, "/login", "2.0", 5)  // folded too (the overflow key's second cohort)
	spansOf(td, r, "/login", "3.0", 6)  // the overflow key's third cohort: dropped, not folded
	require.NoError(t, w.traces.ConsumeTraces(ctx, td))

	te := &testEngine{tt: tt}
	assert.Equal(t, int64(9), te.counter(t, "processor_tail_sampling_drift_drift_spans_folded"))
	assert.Equal(t, int64(8), te.counter(t, "processor_tail_sampling_drift_drift_spans_dropped"))
	assert.Equal(t, int64(0), te.counter(t, "processor_tail_sampling_drift_drift_series_expired"))
	assert.Equal(t, int64(2), gaugeValue(t, tt, "processor_tail_sampling_drift_drift_keys"), "/cart and the overflow key")
	assert.Equal(t, int64(4), gaugeValue(t, tt, "processor_tail_sampling_drift_drift_series"))

	// Series that get no spans for the idle timeout (15 min) expire at the
	// next evaluation.
	d := w.inst.engine.drift
	start := time.Now()
	for _, at := range []time.Duration{0, time.Second, time.Hour} {
		d.now = func() time.Time { return start.Add(at) }
		d.emit(ctx)
	}
	assert.Equal(t, int64(4), te.counter(t, "processor_tail_sampling_drift_drift_series_expired"))
	assert.Equal(t, int64(0), gaugeValue(t, tt, "processor_tail_sampling_drift_drift_series"))
}

func gaugeValue(t *testing.T, tt *componenttest.Telemetry, name string) int64 {
	t.Helper()
	m, err := tt.GetMetric("otelcol_" + name)
	require.NoError(t, err)
	g, ok := m.Data.(metricdata.Gauge[int64])
	require.True(t, ok, "%s is not an int64 gauge", name)
	require.Len(t, g.DataPoints, 1)
	return g.DataPoints[0].Value
}

// kindTraffic makes n requests of a proxy's "GET /items": each has a server
// span of ~100 ms; the baseline (1.0) also calls upstream with a client span
// named alike of ~10 ms, while the canary (2.0, share canaryShare) answers
// from a cache and makes no client call.
func kindTraffic(r *rand.Rand, n int, canaryShare float64) ptrace.Traces {
	td := ptrace.NewTraces()
	base := time.Unix(1_700_000_000, 0)
	span := func(rs ptrace.ResourceSpans, id pcommon.TraceID, kind ptrace.SpanKind, d time.Duration) {
		sp := rs.ScopeSpans().AppendEmpty().Spans().AppendEmpty()
		sp.SetTraceID(id)
		sp.SetSpanID(pcommon.SpanID{byte(kind)})
		sp.SetName("GET /items")
		sp.SetKind(kind)
		sp.SetStartTimestamp(pcommon.NewTimestampFromTime(base))
		sp.SetEndTimestamp(pcommon.NewTimestampFromTime(base.Add(d)))
	}
	for range n {
		cohort := "1.0"
		if r.Float64() < canaryShare {
			cohort = "2.0"
		}
		rs := td.ResourceSpans().AppendEmpty()
		rs.Resource().Attributes().PutStr("service.name", "proxy")
		rs.Resource().Attributes().PutStr("service.version", cohort)
		var id pcommon.TraceID
		binary.BigEndian.PutUint64(id[:8], r.Uint64())
		binary.BigEndian.PutUint64(id[8:], r.Uint64())
		span(rs, id, ptrace.SpanKindServer, time.Duration((90+20*r.Float64())*float64(time.Millisecond)))
		if cohort == "1.0" {
			span(rs, id, ptrace.SpanKindClient, time.Duration((8+4*r.Float64())*float64(time.Millisecond)))
		}
	}
	return td
}

// Server and client spans named alike are different operations: a canary
// that makes fewer (fast) client calls is not slower on its (equally fast)
// server spans. With the kind left out of the key, the canary's spans of
// "GET /items" are all slow server spans while half the baseline's are fast
// client spans, and it was reported as a latency drift.
func TestDriftKeysIncludeSpanKind(t *testing.T) {
	cfg := driftConfig()
	w := newWiredProcessor(t, cfg, testSettings(t))
	ctx := context.Background()
	r := rand.New(rand.NewPCG(7, 8))
	d := w.inst.engine.drift
	start := time.Now()
	for round := range 30 {
		require.NoError(t, w.traces.ConsumeTraces(ctx, kindTraffic(r, 400, 0.2)))
		d.now = func() time.Time { return start.Add(time.Duration(round) * 5 * time.Second) }
		d.emit(ctx)
	}
	assert.Empty(t, firingAlerts(w.lsink), "no drift: each kind of the canary is as fast as the baseline's")

	// The verdicts are per kind: the server key has a canary, the client key
	// only the baseline (no verdict).
	last := w.msink.AllMetrics()[len(w.msink.AllMetrics())-1]
	kinds := map[string]bool{}
	for _, m := range last.ResourceMetrics().At(0).ScopeMetrics().At(0).Metrics().All() {
		if m.Name() != metricStatistic {
			continue
		}
		for _, dp := range m.Gauge().DataPoints().All() {
			k, ok := dp.Attributes().Get("span_kind")
			require.True(t, ok, "span_kind label")
			kinds[k.Str()] = true
		}
	}
	assert.Equal(t, map[string]bool{"server": true}, kinds)
}

// TestEvaluateIntervalDefault: 0 takes 1 s, bounded by emit_interval; a set
// value is kept.
func TestEvaluateIntervalDefault(t *testing.T) {
	for _, c := range []struct{ emit, eval, want time.Duration }{
		{5 * time.Second, 0, time.Second},
		{500 * time.Millisecond, 0, 500 * time.Millisecond},
		{5 * time.Second, 2 * time.Second, 2 * time.Second},
	} {
		d := DriftConfig{EmitInterval: c.emit, EvaluateInterval: c.eval}
		assert.Equal(t, c.want, d.evaluateInterval(), "emit %v, evaluate %v", c.emit, c.eval)
	}
}

// TestDriftFiresBetweenEmissions: an evaluation that is not due to emit sends
// no metrics, and no record while nothing changes; the evaluation that finds a
// drift sends its firing record at once, without waiting for the next
// emission, and the next emission then carries drifting=1.
func TestDriftFiresBetweenEmissions(t *testing.T) {
	cfg := driftConfig()
	w := newWiredProcessor(t, cfg, testSettings(t))
	ctx := context.Background()
	d := w.inst.engine.drift
	r := rand.New(rand.NewPCG(3, 4))
	start := time.Unix(1_700_000_000, 0)
	at := 0
	d.now = func() time.Time { return start.Add(time.Duration(at) * time.Second) }

	// Healthy traffic, evaluated every second, never due to emit.
	for ; at < 5; at++ {
		require.NoError(t, w.traces.ConsumeTraces(ctx, cohortTraffic(r, 400, 0.2, 1.0)))
		d.tick(ctx, false)
	}
	assert.Empty(t, w.msink.AllMetrics(), "no metrics between emissions")
	assert.Empty(t, w.lsink.AllLogs(), "no records while no state changes")

	// The canary slows down: the firing record comes at the evaluation that
	// finds it, still between emissions.
	for ; at < 60 && len(firingAlerts(w.lsink)) == 0; at++ {
		require.NoError(t, w.traces.ConsumeTraces(ctx, cohortTraffic(r, 400, 0.2, 2.0)))
		d.tick(ctx, false)
	}
	require.Len(t, firingAlerts(w.lsink), 1, "firing record sent at the evaluation that found the drift")
	assert.Empty(t, w.msink.AllMetrics(), "metrics still wait for emission")

	// Another evaluation with the same state: nothing more is sent.
	logs := len(w.lsink.AllLogs())
	require.NoError(t, w.traces.ConsumeTraces(ctx, cohortTraffic(r, 400, 0.2, 2.0)))
	d.tick(ctx, false)
	assert.Len(t, w.lsink.AllLogs(), logs, "no record while the state holds")

	// Emission: the gauges, with the canary drifting.
	at++
	d.tick(ctx, true)
	require.Len(t, w.msink.AllMetrics(), 1)
	found := false
	for _, m := range w.msink.AllMetrics()[0].ResourceMetrics().At(0).ScopeMetrics().At(0).Metrics().All() {
		if m.Name() != metricDrifting {
			continue
		}
		for _, dp := range m.Gauge().DataPoints().All() {
			c, _ := dp.Attributes().Get("cohort")
			s, _ := dp.Attributes().Get("signal")
			if c.Str() == "2.0" && s.Str() == "latency" && dp.DoubleValue() == 1 {
				found = true
			}
		}
	}
	assert.True(t, found, "emission carries drifting=1 for the canary")
}
