package runtimemetrics

import (
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
)

// The metrics here are built with pdata directly rather than an mdatagen
// MetricsBuilder: they carry one resource per target process and two are
// exponential histograms, which mdatagen does not generate. Every metric is
// listed, with unit and attributes, in this package's README.md.

// metricBuilder appends metrics of one process to a ScopeMetrics.
type metricBuilder struct {
	ms         pmetric.MetricSlice
	now, start pcommon.Timestamp
}

// numberMetric appends data points to a gauge or sum.
type numberMetric struct {
	dps   pmetric.NumberDataPointSlice
	now   pcommon.Timestamp
	start pcommon.Timestamp
	cumul bool
}

func (b *metricBuilder) sum(name, desc, unit string, monotonic bool) numberMetric {
	m := b.ms.AppendEmpty()
	m.SetName(name)
	m.SetDescription(desc)
	m.SetUnit(unit)
	s := m.SetEmptySum()
	s.SetIsMonotonic(monotonic)
	s.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
	return numberMetric{dps: s.DataPoints(), now: b.now, start: b.start, cumul: true}
}

func (b *metricBuilder) gauge(name, desc, unit string) numberMetric {
	m := b.ms.AppendEmpty()
	m.SetName(name)
	m.SetDescription(desc)
	m.SetUnit(unit)
	return numberMetric{dps: m.SetEmptyGauge().DataPoints(), now: b.now}
}

func (n numberMetric) newPoint() pmetric.NumberDataPoint {
	dp := n.dps.AppendEmpty()
	dp.SetTimestamp(n.now)
	if n.cumul {
		dp.SetStartTimestamp(n.start)
	}
	return dp
}

func (n numberMetric) setInt(v int64)      { n.newPoint().SetIntValue(v) }
func (n numberMetric) setDouble(v float64) { n.newPoint().SetDoubleValue(v) }

func (n numberMetric) point(v int64, key string, val any) {
	dp := n.newPoint()
	dp.SetIntValue(v)
	switch x := val.(type) {
	case string:
		dp.Attributes().PutStr(key, x)
	case bool:
		dp.Attributes().PutBool(key, x)
	}
}

func putSite(attrs pcommon.Map, s codeSite) {
	attrs.PutStr("code.function.name", s.Function)
	if s.File != "" {
		attrs.PutStr("code.file.path", s.File)
		attrs.PutInt("code.line.number", int64(s.Line))
	}
}

// putGoroutineSite sets the creation site as code.* attributes (the `go`
// statement) and the start function as go.goroutine.start.* attributes
// (what the goroutine runs); the folded "other" series has no start function.
func putGoroutineSite(attrs pcommon.Map, s goroutineSite) {
	putSite(attrs, s.Creation)
	if s.Start.Function == "" {
		return
	}
	attrs.PutStr("go.goroutine.start.function.name", s.Start.Function)
	if s.Start.File != "" {
		attrs.PutStr("go.goroutine.start.file.path", s.Start.File)
		attrs.PutInt("go.goroutine.start.line.number", int64(s.Start.Line))
	}
}

func (n numberMetric) siteInt(v int64, s goroutineSite) {
	dp := n.newPoint()
	dp.SetIntValue(v)
	putGoroutineSite(dp.Attributes(), s)
}

func (n numberMetric) siteDouble(v float64, s goroutineSite) {
	dp := n.newPoint()
	dp.SetDoubleValue(v)
	putGoroutineSite(dp.Attributes(), s)
}

func (n numberMetric) allocSite(v float64, k allocSiteKey) {
	dp := n.newPoint()
	dp.SetDoubleValue(v)
	putSite(dp.Attributes(), k.Site)
	dp.Attributes().PutBool("go.memory.large_object", k.Large)
}

func (b *metricBuilder) expHistogram(name, desc, unit string, start pcommon.Timestamp, h *log2Histogram) {
	m := b.ms.AppendEmpty()
	m.SetName(name)
	m.SetDescription(desc)
	m.SetUnit(unit)
	eh := m.SetEmptyExponentialHistogram()
	eh.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
	dp := eh.DataPoints().AppendEmpty()
	dp.SetStartTimestamp(start)
	dp.SetTimestamp(b.now)
	fillExpHistogram(h, dp)
}

func (b *metricBuilder) schedHistogram(name, desc string, s schedLatency) {
	m := b.ms.AppendEmpty()
	m.SetName(name)
	m.SetDescription(desc)
	m.SetUnit("s")
	h := m.SetEmptyHistogram()
	h.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
	dp := h.DataPoints().AppendEmpty()
	dp.SetStartTimestamp(b.start)
	dp.SetTimestamp(b.now)
	fillSchedHistogram(s, dp)
}
