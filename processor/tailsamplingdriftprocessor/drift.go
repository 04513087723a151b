package tailsamplingdriftprocessor

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/otel/metric"
	"go.uber.org/zap"

	"github.com/otelcol-goebpf/otelcol-goebpf/internal/hints"
	"github.com/otelcol-goebpf/otelcol-goebpf/processor/tailsamplingdriftprocessor/internal/drift"
	"github.com/otelcol-goebpf/otelcol-goebpf/processor/tailsamplingdriftprocessor/internal/metadata"
)

// Names of the drift metrics this processor emits into the metrics pipelines
// that list it, and of the alert records it emits into the logs pipelines.
const (
	metricLatency    = "canary.drift.latency"
	metricErrorRatio = "canary.drift.error_ratio"
	metricStatistic  = "canary.drift.statistic"
	metricThreshold  = "canary.drift.threshold"
	metricDrifting   = "canary.drift.drifting"

	alertEventName = "otelcol_goebpf.alert"
	alertName      = "CanaryDrift"
	scopeName      = "github.com/otelcol-goebpf/otelcol-goebpf/processor/tailsamplingdriftprocessor"
)

// driftRunner feeds every span to the drift detector and, on its own timer,
// turns the detector's verdicts into metrics and alert records.
type driftRunner struct {
	det        *drift.Detector
	cohortAttr string
	keep       bool
	interval   time.Duration // emission period (emit_interval)
	evaluate   time.Duration // evaluation period (evaluate_interval), ≤ interval
	logger     *zap.Logger
	processor  string

	mu          sync.Mutex
	nextMetrics consumer.Metrics
	nextLogs    consumer.Logs

	// hints is nil when drift.hints.enabled is false.
	hints *driftHints
	tel   *metadata.TelemetryBuilder // set by registerTelemetry

	stop    chan struct{}
	wg      sync.WaitGroup
	started bool
	// now is the clock of verdict timestamps; tests replace it.
	now func() time.Time
}

func newDriftRunner(cfg *DriftConfig, logger *zap.Logger, processorID string) *driftRunner {
	if cfg.CohortAttribute == "" {
		return nil
	}
	signals := make([]drift.Signal, 0, len(cfg.Signals))
	for _, s := range cfg.Signals {
		switch s {
		case signalLatency:
			signals = append(signals, drift.SignalLatency)
		case signalErrors:
			signals = append(signals, drift.SignalErrors)
		}
	}
	var dh *driftHints
	if cfg.Hints.Enabled {
		dh = newDriftHints(cfg.Hints, signals)
	}
	return &driftRunner{
		hints: dh,
		det: drift.NewDetector(drift.Config{
			Significance:     cfg.Significance,
			Signals:          signals,
			Baseline:         cfg.Baseline,
			MinSamples:       cfg.MinSamples,
			MaxKeys:          cfg.MaxKeys,
			MaxCohortsPerKey: cfg.MaxCohortsPerKey,
		}),
		cohortAttr: cfg.CohortAttribute,
		keep:       cfg.KeepDriftingTraces,
		interval:   cfg.EmitInterval,
		evaluate:   cfg.evaluateInterval(),
		logger:     logger,
		processor:  processorID,
		stop:       make(chan struct{}),
		now:        time.Now,
	}
}

// observe records one span. It reports whether the span's key and cohort is
// drifting, when keep_drifting_traces needs to know.
func (r *driftRunner) observe(res pcommon.Resource, span ptrace.Span, hs *hintScratch) bool {
	cohortVal, ok := span.Attributes().Get(r.cohortAttr)
	if !ok {
		if cohortVal, ok = res.Attributes().Get(r.cohortAttr); !ok {
			return false
		}
	}
	cohort := cohortVal.Str()
	if cohortVal.Type() != pcommon.ValueTypeStr {
		cohort = cohortVal.AsString()
	}
	var service string
	if v, ok := res.Attributes().Get("service.name"); ok {
		service = v.Str()
	}
	op := span.Name()
	if v, ok := span.Attributes().Get("http.route"); ok && v.Str() != "" {
		op = v.Str()
	}
	dur := int64(span.EndTimestamp()) - int64(span.StartTimestamp())
	if dur < 0 {
		dur = 0
	}
	k := drift.Key{Service: service, Operation: op, Kind: spanKindLabel(span.Kind())}
	failed := span.Status().Code() == ptrace.StatusCodeError
	r.det.Observe(k, cohort, dur, failed)
	if r.hints != nil {
		r.hints.observe(res, span, k, failed, dur, hs)
	}
	return r.keep && r.det.Drifting(k, cohort)
}

// registerTelemetry reports what the detector's bounds cost (drift.Detector.Stats)
// as observable instruments: the detector already keeps the cumulative counts
// with atomics, so reading them at collection time is exact and adds nothing
// to the per-span path.
func (r *driftRunner) registerTelemetry(tel *metadata.TelemetryBuilder) error {
	r.tel = tel
	stat := func(pick func(drift.Stats) int64) metric.Int64Callback {
		return func(_ context.Context, o metric.Int64Observer) error {
			o.Observe(pick(r.det.Stats()))
			return nil
		}
	}
	return errors.Join(
		tel.RegisterProcessorTailSamplingDriftDriftKeysCallback(stat(func(s drift.Stats) int64 { return int64(s.Keys) })),
		tel.RegisterProcessorTailSamplingDriftDriftSeriesCallback(stat(func(s drift.Stats) int64 { return int64(s.Series) })),
		tel.RegisterProcessorTailSamplingDriftDriftSpansFoldedCallback(stat(func(s drift.Stats) int64 { return int64(s.FoldedObservations) })),
		tel.RegisterProcessorTailSamplingDriftDriftSpansDroppedCallback(stat(func(s drift.Stats) int64 { return int64(s.DroppedObservations) })),
		tel.RegisterProcessorTailSamplingDriftDriftSeriesExpiredCallback(stat(func(s drift.Stats) int64 { return int64(s.ExpiredSeries) })),
	)
}

func (r *driftRunner) setConsumers(m consumer.Metrics, l consumer.Logs) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.nextMetrics, r.nextLogs = m, l
}

func (r *driftRunner) start() {
	r.started = true
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		t := time.NewTicker(r.evaluate)
		defer t.Stop()
		last := r.now()
		for {
			select {
			case <-r.stop:
				return
			case <-t.C:
				// Emission is due once an emit_interval has passed, give or take
				// half an evaluation (ticks are not exact).
				due := r.now().Sub(last) >= r.interval-r.evaluate/2
				if due {
					last = r.now()
				}
				r.tick(context.Background(), due)
			}
		}
	}()
}

func (r *driftRunner) shutdown(ctx context.Context) error {
	if !r.started {
		return nil
	}
	close(r.stop)
	done := make(chan struct{})
	go func() { r.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// emit evaluates the detector (which also updates what Drifting reports) and
// sends the verdicts on.
func (r *driftRunner) emit(ctx context.Context) { r.tick(ctx, true) }

// tick evaluates the detector (which also updates what Drifting reports). When
// emission is due it sends the verdicts on as metrics, and alert records for
// changed states and moved hints; between emissions it sends only the alert
// records of verdicts whose state changed, so a drift is reported at the
// evaluation that finds it.
func (r *driftRunner) tick(ctx context.Context, emitDue bool) {
	now := r.now()
	verdicts := r.det.Evaluate(now)
	if !emitDue && !anyChanged(verdicts) {
		return
	}
	var hs []verdictHint
	if r.hints != nil {
		hs = r.hints.evaluate(verdicts, now)
		r.recordHintStats(ctx)
	}
	r.mu.Lock()
	nm, nl := r.nextMetrics, r.nextLogs
	r.mu.Unlock()
	if emitDue && nm != nil && len(verdicts) > 0 {
		if err := nm.ConsumeMetrics(ctx, r.verdictMetrics(verdicts, hs, now)); err != nil {
			r.logger.Warn("drift metrics refused by the next consumer", zap.Error(err))
		}
	}
	if nl != nil {
		if ld, n := r.alertLogs(verdicts, hs, now); n > 0 {
			if err := nl.ConsumeLogs(ctx, ld); err != nil {
				r.logger.Warn("drift alert records refused by the next consumer", zap.Error(err))
			}
		}
	}
}

func anyChanged(verdicts []drift.Verdict) bool {
	for i := range verdicts {
		if verdicts[i].Changed {
			return true
		}
	}
	return false
}

// recordHintStats moves the hints' counters into the internal telemetry.
func (r *driftRunner) recordHintStats(ctx context.Context) {
	s, withoutKey := r.hints.stats()
	if r.tel == nil {
		return
	}
	for _, c := range []struct {
		n   int64
		add func(context.Context, int64, ...metric.AddOption)
	}{
		{s.Folded, r.tel.ProcessorTailSamplingDriftDriftHintValuesFolded.Add},
		{s.LateLinked, r.tel.ProcessorTailSamplingDriftDriftHintDownstreamLate.Add},
		{s.Unlinked, r.tel.ProcessorTailSamplingDriftDriftHintDownstreamUnlinked.Add},
		{withoutKey, r.tel.ProcessorTailSamplingDriftDriftHintSpansWithoutKey.Add},
	} {
		if c.n > 0 {
			c.add(ctx, c.n)
		}
	}
}

// spanKindLabel names a span kind as the drift key and labels carry it.
func spanKindLabel(k ptrace.SpanKind) string {
	switch k {
	case ptrace.SpanKindServer:
		return "server"
	case ptrace.SpanKindClient:
		return "client"
	case ptrace.SpanKindProducer:
		return "producer"
	case ptrace.SpanKindConsumer:
		return "consumer"
	case ptrace.SpanKindInternal:
		return "internal"
	default:
		return "unspecified"
	}
}

func putLabels(m pcommon.Map, v *drift.Verdict) {
	m.PutStr("service", v.Key.Service)
	m.PutStr("key", v.Key.Operation)
	m.PutStr("span_kind", v.Key.Kind)
	m.PutStr("cohort", v.Cohort)
	m.PutStr("baseline", v.Baseline)
}

// verdictMetrics turns verdicts into gauges: per key and cohort the canary and
// baseline latency quantiles and error ratios, and per signal the test
// statistic, its threshold and the verdict. The statistic of a drifting verdict
// carries its recent bad spans (hs, parallel to verdicts, nil without hints) as
// exemplars.
func (r *driftRunner) verdictMetrics(verdicts []drift.Verdict, hs []verdictHint, now time.Time) pmetric.Metrics {
	md := pmetric.NewMetrics()
	rm := md.ResourceMetrics().AppendEmpty()
	rm.Resource().Attributes().PutStr("otelcol.component.id", r.processor)
	sm := rm.ScopeMetrics().AppendEmpty()
	sm.Scope().SetName(scopeName)
	ts := pcommon.NewTimestampFromTime(now)

	gauge := func(name, unit, desc string) pmetric.NumberDataPointSlice {
		m := sm.Metrics().AppendEmpty()
		m.SetName(name)
		m.SetUnit(unit)
		m.SetDescription(desc)
		return m.SetEmptyGauge().DataPoints()
	}
	lat := gauge(metricLatency, "s", "Span duration quantiles of the canary and baseline cohorts of a key.")
	errs := gauge(metricErrorRatio, "1", "Share of error spans of the canary and baseline cohorts of a key.")
	stat := gauge(metricStatistic, "1", "Log of the e-detector statistic: evidence that the canary turned worse than the baseline.")
	thr := gauge(metricThreshold, "1", "Log statistic (log 1/significance) at which the canary is declared drifting.")
	dr := gauge(metricDrifting, "1", "1 while the canary drifts from the baseline on the signal, else 0.")

	type pair struct {
		k      drift.Key
		cohort string
	}
	seen := map[pair]bool{}
	for i := range verdicts {
		v := &verdicts[i]
		point := func(s pmetric.NumberDataPointSlice, val float64) pcommon.Map {
			dp := s.AppendEmpty()
			dp.SetTimestamp(ts)
			dp.SetDoubleValue(val)
			putLabels(dp.Attributes(), v)
			return dp.Attributes()
		}
		point(stat, v.Statistic).PutStr("signal", v.Signal.String())
		if hs != nil && len(hs[i].exemplars) > 0 {
			hints.PutExemplars(stat.At(stat.Len()-1), hs[i].exemplars, ts)
		}
		point(thr, v.Threshold).PutStr("signal", v.Signal.String())
		drifting := 0.0
		if v.Drifting {
			drifting = 1
		}
		point(dr, drifting).PutStr("signal", v.Signal.String())

		p := pair{v.Key, v.Cohort}
		if seen[p] {
			continue
		}
		seen[p] = true
		for _, q := range []struct {
			quantile         string
			canary, baseline float64
		}{{"0.5", v.CanaryP50, v.BaselineP50}, {"0.95", v.CanaryP95, v.BaselineP95}, {"0.99", v.CanaryP99, v.BaselineP99}} {
			a := point(lat, q.canary)
			a.PutStr("role", "canary")
			a.PutStr("quantile", q.quantile)
			a = point(lat, q.baseline)
			a.PutStr("role", "baseline")
			a.PutStr("quantile", q.quantile)
		}
		point(errs, v.CanaryErrorRatio).PutStr("role", "canary")
		point(errs, v.BaselineErrorRatio).PutStr("role", "baseline")
	}
	return md
}

// alertLogs makes one alert record (docs/alerts.md) per verdict whose drifting
// state changed, and one per drifting verdict whose hint moved (hs, parallel to
// verdicts; nil when hints are off).
func (r *driftRunner) alertLogs(verdicts []drift.Verdict, hs []verdictHint, now time.Time) (plog.Logs, int) {
	ld := plog.NewLogs()
	rl := ld.ResourceLogs().AppendEmpty()
	rl.Resource().Attributes().PutStr("otelcol.component.id", r.processor)
	sl := rl.ScopeLogs().AppendEmpty()
	sl.Scope().SetName(scopeName)
	n := 0
	for i := range verdicts {
		v := &verdicts[i]
		var h *verdictHint
		if hs != nil {
			h = &hs[i]
		}
		if !v.Changed && (h == nil || !h.moved) {
			continue
		}
		n++
		lr := sl.LogRecords().AppendEmpty()
		lr.SetEventName(alertEventName)
		lr.SetTimestamp(pcommon.NewTimestampFromTime(now))
		lr.SetObservedTimestamp(pcommon.NewTimestampFromTime(now))
		state := "resolved"
		lr.SetSeverityNumber(plog.SeverityNumberInfo)
		lr.SetSeverityText("INFO")
		if v.Drifting {
			state = "firing"
			lr.SetSeverityNumber(plog.SeverityNumberWarn)
			lr.SetSeverityText("WARN")
		}
		summary := driftSummary(v)
		lr.Body().SetStr(summary)
		a := lr.Attributes()
		a.PutStr("alert.state", state)
		a.PutStr("alertname", alertName)
		putLabels(a, v)
		a.PutStr("signal", v.Signal.String())
		a.PutStr("annotation.summary", summary)
		a.PutDouble("annotation.statistic", v.Statistic)
		a.PutDouble("annotation.threshold", v.Threshold)
		a.PutDouble("annotation.canary_p50_seconds", v.CanaryP50)
		a.PutDouble("annotation.canary_p99_seconds", v.CanaryP99)
		a.PutDouble("annotation.baseline_p50_seconds", v.BaselineP50)
		a.PutDouble("annotation.baseline_p99_seconds", v.BaselineP99)
		a.PutDouble("annotation.canary_error_ratio", v.CanaryErrorRatio)
		a.PutDouble("annotation.baseline_error_ratio", v.BaselineErrorRatio)
		a.PutInt("annotation.canary_spans", int64(v.CanarySpans))
		a.PutInt("annotation.baseline_spans", int64(v.BaselineSpans))
		if h != nil && h.report != nil {
			h.report.PutAnnotations(a, h.exemplars)
		}
	}
	return ld, n
}

func driftSummary(v *drift.Verdict) string {
	what := "drifting from"
	if !v.Drifting {
		what = "no longer drifting from"
	}
	detail := fmt.Sprintf("p99 %.3gs vs %.3gs", v.CanaryP99, v.BaselineP99)
	if v.Signal == drift.SignalErrors {
		detail = fmt.Sprintf("error ratio %.3g vs %.3g", v.CanaryErrorRatio, v.BaselineErrorRatio)
	}
	return fmt.Sprintf("%s %s (%s): cohort %s %s baseline %s on %s (%s)", v.Key.Service, v.Key.Operation, v.Key.Kind, v.Cohort, what, v.Baseline, v.Signal, detail)
}
