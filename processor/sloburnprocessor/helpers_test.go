package sloburnprocessor

import (
	"context"
	"math"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/processor"
	"go.opentelemetry.io/collector/processor/processortest"

	"github.com/otelcol-goebpf/otelcol-goebpf/processor/sloburnprocessor/internal/metadata"
)

// epoch is a simulated start time aligned to a day, so window buckets align too.
var epoch = time.Unix(1767225600, 0)

// fakeClock is the injectable clock; the processor's own loop may read it concurrently.
type fakeClock struct{ ns atomic.Int64 }

func (c *fakeClock) Now() time.Time        { return time.Unix(0, c.ns.Load()) }
func (c *fakeClock) Set(t time.Time)       { c.ns.Store(t.UnixNano()) }
func (c *fakeClock) Add(d time.Duration)   { c.ns.Add(int64(d)) }
func (c *fakeClock) Since0() time.Duration { return c.Now().Sub(epoch) }

// harness runs one slo_burn instance in a traces, a metrics and a logs pipeline with a
// simulated clock; tests drive time with step.
type harness struct {
	t       testing.TB
	p       *sloBurn
	traces  processor.Traces
	metrics processor.Metrics
	logs    processor.Logs
	spans   *consumertest.TracesSink
	msink   *consumertest.MetricsSink
	lsink   *consumertest.LogsSink
	clock   *fakeClock
}

func newHarness(t testing.TB, cfg *Config, host component.Host) *harness {
	t.Helper()
	return newHarnessAt(t, cfg, host, epoch)
}

// newHarnessAt starts the processor with the simulated clock at start.
func newHarnessAt(t testing.TB, cfg *Config, host component.Host, start time.Time) *harness {
	t.Helper()
	set := processortest.NewNopSettings(metadata.Type)
	set.ID = component.NewIDWithName(metadata.Type, t.Name())
	return newHarnessWith(t, cfg, host, start, set)
}

// newHarnessWith is newHarnessAt with the given settings (e.g. a test telemetry).
func newHarnessWith(t testing.TB, cfg *Config, host component.Host, start time.Time, set processor.Settings) *harness {
	t.Helper()
	require.NoError(t, cfg.Validate())
	h := &harness{t: t, spans: new(consumertest.TracesSink), msink: new(consumertest.MetricsSink), lsink: new(consumertest.LogsSink), clock: &fakeClock{}}
	h.clock.Set(start)
	f := NewFactory()
	ctx := context.Background()
	var err error
	h.traces, err = f.CreateTraces(ctx, set, cfg, h.spans)
	require.NoError(t, err)
	h.metrics, err = f.CreateMetrics(ctx, set, cfg, h.msink)
	require.NoError(t, err)
	h.logs, err = f.CreateLogs(ctx, set, cfg, h.lsink)
	require.NoError(t, err)
	shared, err := instances.LoadOrStore(set.ID, func() (*sloBurn, error) { panic("instance must exist") })
	require.NoError(t, err)
	h.p = shared.Unwrap()
	h.p.now = h.clock.Now
	h.p.newTicker = func(time.Duration) (<-chan time.Time, func()) { return nil, func() {} }
	if host == nil {
		host = componenttest.NewNopHost()
	}
	for _, c := range []component.Component{h.traces, h.metrics, h.logs} {
		require.NoError(t, c.Start(ctx, host))
	}
	t.Cleanup(func() { h.shutdown() })
	return h
}

func (h *harness) shutdown() {
	for _, c := range []component.Component{h.traces, h.metrics, h.logs} {
		require.NoError(h.t, c.Shutdown(context.Background()))
	}
}

// step advances the simulated clock by d and ticks the processor.
func (h *harness) step(d time.Duration) {
	h.clock.Add(d)
	h.p.tick(context.Background(), h.clock.Now())
}

func (h *harness) send(td ptrace.Traces) {
	require.NoError(h.t, h.traces.ConsumeTraces(context.Background(), td))
}

// spanSpec describes spans to generate.
type spanSpec struct {
	service    string
	kind       ptrace.SpanKind
	name       string
	route      string
	httpStatus int64 // 0: none
	status     ptrace.StatusCode
	duration   time.Duration
	traceState string
	attrs      map[string]any
}

func makeTraces(specs ...spanSpec) ptrace.Traces {
	td := ptrace.NewTraces()
	bySvc := map[string]ptrace.SpanSlice{}
	for _, s := range specs {
		spans, ok := bySvc[s.service]
		if !ok {
			rs := td.ResourceSpans().AppendEmpty()
			rs.Resource().Attributes().PutStr("service.name", s.service)
			spans = rs.ScopeSpans().AppendEmpty().Spans()
			bySvc[s.service] = spans
		}
		sp := spans.AppendEmpty()
		kind := s.kind
		if kind == ptrace.SpanKindUnspecified {
			kind = ptrace.SpanKindServer
		}
		sp.SetKind(kind)
		sp.SetName(s.name)
		sp.SetTraceID(pcommon.TraceID{1, 2, 3})
		sp.SetSpanID(pcommon.SpanID{4, 5, 6})
		sp.SetStartTimestamp(pcommon.Timestamp(epoch.UnixNano()))
		sp.SetEndTimestamp(pcommon.Timestamp(epoch.UnixNano() + int64(s.duration)))
		sp.Status().SetCode(s.status)
		if s.httpStatus != 0 {
			sp.Attributes().PutInt(attrHTTPResponseStatus, s.httpStatus)
		}
		if s.route != "" {
			sp.Attributes().PutStr(attrHTTPRoute, s.route)
		}
		if s.traceState != "" {
			sp.TraceState().FromRaw(s.traceState)
		}
		for k, v := range s.attrs {
			_ = sp.Attributes().PutEmpty(k).FromRaw(v)
		}
	}
	return td
}

// goodBad returns n spans of service svc of which bad are HTTP 500s.
func goodBad(svc string, n, bad int) ptrace.Traces {
	specs := make([]spanSpec, 0, n)
	for i := 0; i < n; i++ {
		code := int64(200)
		if i < bad {
			code = 500
		}
		specs = append(specs, spanSpec{service: svc, httpStatus: code, name: "GET /orders", duration: time.Duration(i%50+1) * time.Millisecond})
	}
	return makeTraces(specs...)
}

// lastPoint finds the newest data point of metric name whose attributes include attrs.
func lastPoint(t testing.TB, sink *consumertest.MetricsSink, name string, attrs map[string]string) (float64, bool) {
	t.Helper()
	all := sink.AllMetrics()
	for i := len(all) - 1; i >= 0; i-- {
		rms := all[i].ResourceMetrics()
		for r := 0; r < rms.Len(); r++ {
			sms := rms.At(r).ScopeMetrics()
			for s := 0; s < sms.Len(); s++ {
				ms := sms.At(s).Metrics()
				for m := 0; m < ms.Len(); m++ {
					metric := ms.At(m)
					if metric.Name() != name {
						continue
					}
					var dps pmetric.NumberDataPointSlice
					switch metric.Type() {
					case pmetric.MetricTypeGauge:
						dps = metric.Gauge().DataPoints()
					case pmetric.MetricTypeSum:
						dps = metric.Sum().DataPoints()
					}
					for d := 0; d < dps.Len(); d++ {
						dp := dps.At(d)
						if !hasAttrs(dp.Attributes(), attrs) {
							continue
						}
						if dp.ValueType() == pmetric.NumberDataPointValueTypeInt {
							return float64(dp.IntValue()), true
						}
						return dp.DoubleValue(), true
					}
				}
			}
		}
	}
	return 0, false
}

func hasAttrs(m pcommon.Map, attrs map[string]string) bool {
	for k, v := range attrs {
		got, ok := m.Get(k)
		if !ok || got.AsString() != v {
			return false
		}
	}
	return true
}

// alertRecords returns every alert log record emitted so far.
func alertRecords(sink *consumertest.LogsSink) []plog.LogRecord {
	var out []plog.LogRecord
	for _, ld := range sink.AllLogs() {
		rls := ld.ResourceLogs()
		for i := 0; i < rls.Len(); i++ {
			sls := rls.At(i).ScopeLogs()
			for j := 0; j < sls.Len(); j++ {
				lrs := sls.At(j).LogRecords()
				for k := 0; k < lrs.Len(); k++ {
					out = append(out, lrs.At(k))
				}
			}
		}
	}
	return out
}

func attrStr(lr plog.LogRecord, key string) string {
	v, _ := lr.Attributes().Get(key)
	return v.AsString()
}

// requireFinite fails on any NaN or Inf data point the processor emitted.
func requireFinite(t testing.TB, sink *consumertest.MetricsSink) {
	t.Helper()
	for _, md := range sink.AllMetrics() {
		rms := md.ResourceMetrics()
		for r := 0; r < rms.Len(); r++ {
			sms := rms.At(r).ScopeMetrics()
			for s := 0; s < sms.Len(); s++ {
				ms := sms.At(s).Metrics()
				for m := 0; m < ms.Len(); m++ {
					metric := ms.At(m)
					var dps pmetric.NumberDataPointSlice
					switch metric.Type() {
					case pmetric.MetricTypeGauge:
						dps = metric.Gauge().DataPoints()
					case pmetric.MetricTypeSum:
						dps = metric.Sum().DataPoints()
					}
					for d := 0; d < dps.Len(); d++ {
						v := dps.At(d).DoubleValue()
						require.False(t, math.IsNaN(v) || math.IsInf(v, 0), "%s has non-finite value %v", metric.Name(), v)
					}
				}
			}
		}
	}
}

func availabilitySLO(name, svc string, objective float64) SLOConfig {
	return SLOConfig{Name: name, Service: svc, Objective: objective, Period: Duration(30 * day), SLI: SLIConfig{Availability: &AvailabilitySLI{}}}
}

func testConfig(slos ...SLOConfig) *Config {
	cfg := createDefaultConfig().(*Config)
	cfg.SLOs = slos
	return cfg
}

type pcommonValue = pcommon.Value

func containsDot(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] == '.' {
			return true
		}
	}
	return false
}

func processortestSettings(t testing.TB) processor.Settings {
	set := processortest.NewNopSettings(metadata.Type)
	set.ID = component.NewIDWithName(metadata.Type, t.Name())
	return set
}
