package sloburnprocessor // import "github.com/otelcol-goebpf/otelcol-goebpf/processor/sloburnprocessor"

import (
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/pmetric"

	"github.com/otelcol-goebpf/otelcol-goebpf/internal/hints"
)

const (
	scopeName = "github.com/otelcol-goebpf/otelcol-goebpf/processor/sloburnprocessor"

	alertEventName = "otelcol_goebpf.alert"
	alertName      = "SLOBurnRate"
)

// buildMetrics renders the current state of every SLO. Called with p.mu held.
func (p *sloBurn) buildMetrics(now int64) pmetric.Metrics {
	md := pmetric.NewMetrics()
	sm := md.ResourceMetrics().AppendEmpty().ScopeMetrics().AppendEmpty()
	sm.Scope().SetName(scopeName)
	ts := pcommon.Timestamp(now)
	start := pcommon.Timestamp(p.startTime)

	burn := newGauge(sm, "slo.burn_rate", "Error ratio over the window divided by the allowed error ratio (1 - objective); 1 spends the budget exactly over the period.", "1")
	remaining := newGauge(sm, "slo.error_budget.remaining", "Share of the period's error budget left: 1 untouched, 0 spent, negative overspent.", "1")
	exhaustion := newGauge(sm, "slo.error_budget.time_to_exhaustion", "Time until the remaining error budget is spent at the burn rate of the shortest window; absent when nothing burns.", "s")
	active := newGauge(sm, "slo.alert.active", "1 while the alert tier fires, else 0.", "1")
	threshold := newGauge(sm, "slo.latency.threshold", "Latency threshold of a latency SLO: the configured one, or the learned one for threshold: auto.", "s")
	learning := newGauge(sm, "slo.latency.learning", "1 while a threshold: auto latency SLO learns its first baseline (it judges no event, has no burn rate and cannot alert), 0 once learned.", "1")
	eventsM := sm.Metrics().AppendEmpty()
	eventsM.SetName("slo.events")
	eventsM.SetDescription("SLI events counted since start (adjusted for sampling): good and total.")
	eventsM.SetUnit("{event}")
	events := eventsM.SetEmptySum()
	events.SetIsMonotonic(true)
	events.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)

	for _, s := range p.slos {
		var ex []hints.Exemplar
		if s.hint != nil {
			ex = s.hint.Exemplars(hints.MaxExemplars)
		}
		for _, kind := range [...]string{"good", "total"} {
			dp := events.DataPoints().AppendEmpty()
			dp.SetStartTimestamp(start)
			dp.SetTimestamp(ts)
			setSLOAttrs(dp.Attributes(), s)
			dp.Attributes().PutStr("event", kind)
			if kind == "good" {
				dp.SetDoubleValue(s.cumGood)
			} else {
				dp.SetDoubleValue(s.cumTotal)
				hints.PutExemplars(dp, ex, ts)
			}
		}
		if s.learner != nil {
			dp := learning.DataPoints().AppendEmpty()
			dp.SetTimestamp(ts)
			setSLOAttrs(dp.Attributes(), s)
			if s.learner.learning() {
				dp.SetIntValue(1)
				// No event has been judged: a burn rate of 0 and a full budget would
				// claim a health that nothing measured.
				continue
			}
			dp.SetIntValue(0)
		}
		var shortest float64
		for i, w := range s.windows {
			rate, _ := s.burnRate(w, now)
			if i == 0 {
				shortest = rate
			}
			dp := burn.DataPoints().AppendEmpty()
			dp.SetTimestamp(ts)
			setSLOAttrs(dp.Attributes(), s)
			dp.Attributes().PutStr("window", formatDuration(w.size))
			dp.SetDoubleValue(rate)
			if rate > 0 {
				hints.PutExemplars(dp, ex, ts)
			}
		}
		rem := s.budgetRemaining(now)
		dp := remaining.DataPoints().AppendEmpty()
		dp.SetTimestamp(ts)
		setSLOAttrs(dp.Attributes(), s)
		dp.SetDoubleValue(rem)
		if d, ok := s.timeToExhaustion(rem, shortest); ok {
			dp := exhaustion.DataPoints().AppendEmpty()
			dp.SetTimestamp(ts)
			setSLOAttrs(dp.Attributes(), s)
			dp.SetDoubleValue(d.Seconds())
		}
		for i := range s.tiers {
			t := &s.tiers[i]
			dp := active.DataPoints().AppendEmpty()
			dp.SetTimestamp(ts)
			setSLOAttrs(dp.Attributes(), s)
			dp.Attributes().PutStr("severity", t.cfg.Severity)
			dp.Attributes().PutStr("tier", t.label)
			v := int64(0)
			if t.firing {
				v = 1
			}
			dp.SetIntValue(v)
		}
		if s.latency && s.threshold > 0 {
			dp := threshold.DataPoints().AppendEmpty()
			dp.SetTimestamp(ts)
			setSLOAttrs(dp.Attributes(), s)
			source := "static"
			if s.learner != nil {
				source = "auto"
			}
			dp.Attributes().PutStr("source", source)
			dp.SetDoubleValue(time.Duration(s.threshold).Seconds())
		}
	}
	// Drop gauges that got no points (e.g. no latency SLO) so exporters see no empty metrics.
	sm.Metrics().RemoveIf(func(m pmetric.Metric) bool {
		switch m.Type() {
		case pmetric.MetricTypeGauge:
			return m.Gauge().DataPoints().Len() == 0
		case pmetric.MetricTypeSum:
			return m.Sum().DataPoints().Len() == 0
		}
		return false
	})
	return md
}

func newGauge(sm pmetric.ScopeMetrics, name, desc, unit string) pmetric.Gauge {
	m := sm.Metrics().AppendEmpty()
	m.SetName(name)
	m.SetDescription(desc)
	m.SetUnit(unit)
	return m.SetEmptyGauge()
}

func setSLOAttrs(m pcommon.Map, s *sloState) {
	m.PutStr("slo", s.cfg.Name)
	m.PutStr("service", s.cfg.Service)
}

// buildAlertLogs renders one record per tier state change, per docs/alerts.md.
func buildAlertLogs(events []alertEvent) plog.Logs {
	ld := plog.NewLogs()
	sl := ld.ResourceLogs().AppendEmpty().ScopeLogs().AppendEmpty()
	sl.Scope().SetName(scopeName)
	for _, e := range events {
		lr := sl.LogRecords().AppendEmpty()
		lr.SetEventName(alertEventName)
		lr.SetTimestamp(pcommon.Timestamp(e.at))
		lr.SetObservedTimestamp(pcommon.Timestamp(e.at))
		state := "resolved"
		if e.firing {
			state = "firing"
			lr.SetSeverityNumber(plog.SeverityNumberWarn)
			lr.SetSeverityText("WARN")
		} else {
			lr.SetSeverityNumber(plog.SeverityNumberInfo)
			lr.SetSeverityText("INFO")
		}
		summary := e.summary()
		lr.Body().SetStr(summary)
		a := lr.Attributes()
		a.PutStr("alert.state", state)
		a.PutStr("alertname", alertName)
		a.PutStr("slo", e.slo.cfg.Name)
		a.PutStr("service", e.slo.cfg.Service)
		a.PutStr("severity", e.tier.cfg.Severity)
		a.PutStr("tier", e.tier.label)
		a.PutDouble("annotation.burn_rate_long", e.burnLong)
		a.PutDouble("annotation.burn_rate_short", e.burnShort)
		a.PutDouble("annotation.burn_rate_threshold", e.tier.cfg.BurnRate)
		a.PutDouble("annotation.error_budget_remaining", e.remaining)
		if e.exhaustOK {
			a.PutDouble("annotation.time_to_exhaustion_seconds", e.exhaustion.Seconds())
		}
		a.PutDouble("annotation.objective", e.slo.cfg.Objective)
		a.PutStr("annotation.period", formatDuration(e.slo.period))
		a.PutStr("annotation.summary", summary)
		if e.hint != nil {
			e.hint.PutAnnotations(a, e.exemplars)
		}
	}
	return ld
}
