package sloburnprocessor // import "github.com/otelcol-goebpf/otelcol-goebpf/processor/sloburnprocessor"

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/open-telemetry/opentelemetry-collector-contrib/pkg/ottl/contexts/ottlspan"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/processor"
	"go.uber.org/zap"

	"github.com/otelcol-goebpf/otelcol-goebpf/internal/hints"
	"github.com/otelcol-goebpf/otelcol-goebpf/processor/sloburnprocessor/internal/metadata"
)

const (
	attrSLOName    = "slo.name"
	attrSLOBurning = "slo.burning"
	// flushInterval is how often pending counts move into the windows; evaluation and
	// emission happen every emit_interval.
	flushInterval = time.Second
)

// sloBurn is the one instance shared by every pipeline that lists the component ID.
type sloBurn struct {
	set    processor.Settings
	cfg    *Config
	tel    *metadata.TelemetryBuilder
	logger *zap.Logger
	now    func() time.Time // injectable clock
	// newTicker drives the flush loop; tests replace it with one that never fires and
	// call tick with simulated time.
	newTicker func(d time.Duration) (<-chan time.Time, func())

	mu          sync.Mutex
	slos        []*sloState
	byService   map[string][]*sloState
	counter     adjustedCounter
	nextEmit    int64
	startTime   int64
	metricsNext []consumer.Metrics
	logsNext    []consumer.Logs
	inTraces    bool
	events      []alertEvent // scratch for evaluateTiers

	// hints is nil when hints.enabled is false. resValues and spanValues are scratch for
	// the current resource and span.
	hints      *hints.Engine
	resValues  hints.Values
	spanValues hints.Values

	store    *stateStore
	cancel   context.CancelFunc
	loopDone chan struct{}
}

func newSLOBurn(set processor.Settings, cfg *Config) (*sloBurn, error) {
	slos, err := cfg.resolveSLOs()
	if err != nil {
		return nil, err
	}
	tel, err := metadata.NewTelemetryBuilder(set.TelemetrySettings)
	if err != nil {
		return nil, fmt.Errorf("create slo_burn telemetry: %w", err)
	}
	p := &sloBurn{
		set:    set,
		cfg:    cfg,
		tel:    tel,
		logger: set.Logger,
		now:    time.Now,
		newTicker: func(d time.Duration) (<-chan time.Time, func()) {
			t := time.NewTicker(d)
			return t.C, t.Stop
		},
		byService: map[string][]*sloState{},
	}
	if cfg.Hints.Enabled {
		p.hints = hints.NewEngine(cfg.Hints)
	}
	for _, sc := range slos {
		var cond *spanCondition
		if sc.Condition != "" {
			cond, err = parseSpanCondition(sc.Condition, set.TelemetrySettings)
			if err != nil {
				tel.Shutdown()
				return nil, fmt.Errorf("slo %q condition: %w", sc.Name, err)
			}
		}
		s := newSLOState(sc, cond)
		if p.hints != nil {
			s.hint = p.hints.NewSubject()
			s.hintCounts = s.hint.Current()
		}
		p.slos = append(p.slos, s)
		p.byService[sc.Service] = append(p.byService[sc.Service], s)
	}
	return p, nil
}

func nopLogger() *zap.Logger { return zap.NewNop() }

func (p *sloBurn) addMetricsConsumer(c consumer.Metrics) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.metricsNext = append(p.metricsNext, c)
}

func (p *sloBurn) addLogsConsumer(c consumer.Logs) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.logsNext = append(p.logsNext, c)
}

func (p *sloBurn) markTraces() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.inTraces = true
}

// Start restores stored state and starts the flush/emit loop.
func (p *sloBurn) Start(ctx context.Context, host component.Host) error {
	p.mu.Lock()
	if p.inTraces && len(p.metricsNext) == 0 {
		p.logger.Warn("slo_burn is in a traces pipeline but in no metrics pipeline: its burn-rate metrics go nowhere; list the same processor ID in a metrics pipeline",
			zap.String("id", p.set.ID.String()))
	}
	now := p.now().UnixNano()
	p.startTime = now
	p.nextEmit = now + int64(p.cfg.EmitInterval)
	p.mu.Unlock()

	if p.cfg.Storage != nil {
		store, err := newStateStore(ctx, host, *p.cfg.Storage, p.set.ID)
		if err != nil {
			return err
		}
		p.store = store
		if err := p.restore(ctx); err != nil {
			p.tel.ProcessorSloBurnStorageErrors.Add(ctx, 1)
			p.logger.Warn("slo_burn: stored state not restored; starting with empty windows", zap.Error(err))
		}
	}

	loopCtx, cancel := context.WithCancel(context.Background())
	p.cancel = cancel
	p.loopDone = make(chan struct{})
	go p.loop(loopCtx)
	return nil
}

func (p *sloBurn) loop(ctx context.Context) {
	defer close(p.loopDone)
	ticks, stop := p.newTicker(min(flushInterval, p.cfg.EmitInterval))
	defer stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-ticks:
			p.tick(ctx, p.now())
		}
	}
}

// Shutdown stops the loop and saves state. It is safe without Start.
func (p *sloBurn) Shutdown(ctx context.Context) error {
	var errs []error
	if p.cancel != nil {
		p.cancel()
		select {
		case <-p.loopDone:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if p.store != nil {
		p.mu.Lock()
		p.flushAll(p.now().UnixNano())
		p.mu.Unlock()
		if err := p.save(ctx); err != nil {
			p.tel.ProcessorSloBurnStorageErrors.Add(ctx, 1)
			errs = append(errs, err)
		}
		if err := p.store.close(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	p.tel.Shutdown()
	return errors.Join(errs...)
}

// processTraces observes every span and marks spans of SLOs that are firing.
func (p *sloBurn) processTraces(ctx context.Context, td ptrace.Traces) (ptrace.Traces, error) {
	var matched int64
	p.mu.Lock()
	rss := td.ResourceSpans()
	for i := 0; i < rss.Len(); i++ {
		rs := rss.At(i)
		svc, ok := rs.Resource().Attributes().Get("service.name")
		if !ok {
			continue
		}
		cands := p.byService[svc.Str()]
		if len(cands) == 0 {
			continue
		}
		if p.hints != nil {
			p.hints.Resource(rs.Resource().Attributes(), &p.resValues)
		}
		sss := rs.ScopeSpans()
		for j := 0; j < sss.Len(); j++ {
			ss := sss.At(j)
			spans := ss.Spans()
			for k := 0; k < spans.Len(); k++ {
				matched += p.observeSpan(ctx, rs, ss, spans.At(k), cands)
			}
		}
	}
	p.mu.Unlock()
	p.tel.ProcessorSloBurnSpansObserved.Add(ctx, int64(td.SpanCount()))
	if matched > 0 {
		p.tel.ProcessorSloBurnSpansMatched.Add(ctx, matched)
	}
	return td, nil
}

// observeSpan counts one span for every SLO of its service that selects it. Called with
// p.mu held; it must not allocate in the common case.
func (p *sloBurn) observeSpan(ctx context.Context, rs ptrace.ResourceSpans, ss ptrace.ScopeSpans, span ptrace.Span, cands []*sloState) int64 {
	var (
		route     string
		routeOK   bool
		routeDone bool
		bad       bool
		badDone   bool
		count     float64
		matched   int64
		burning   *sloState
		linked    hints.Linked
		kind      = span.Kind()
		name      = span.Name()
		duration  = int64(span.EndTimestamp()) - int64(span.StartTimestamp())
	)
	if p.hints != nil {
		p.spanValues.Reset()
		if kind == ptrace.SpanKindClient {
			p.hints.Client(span, spanFailed(span))
		}
	}
	for _, s := range cands {
		if s.httpRoute != "" && !routeDone {
			if v, ok := span.Attributes().Get(attrHTTPRoute); ok {
				route, routeOK = v.Str(), true
			}
			routeDone = true
		}
		if !s.selects(kind, name, route, routeOK) {
			continue
		}
		if s.cond != nil {
			tctx := ottlspan.NewTransformContextPtr(rs, ss, span)
			ok, err := s.cond.Eval(ctx, tctx)
			tctx.Close()
			if err != nil {
				p.tel.ProcessorSloBurnConditionErrors.Add(ctx, 1)
				continue
			}
			if !ok {
				continue
			}
		}
		if count == 0 {
			count = p.counter.count(span.TraceState().AsRaw())
		}
		good := true
		if s.latency {
			d := duration
			if s.learner != nil {
				s.learner.observe(d, count)
				if s.threshold == 0 {
					continue // learning the baseline: nothing is judged yet
				}
				good = d <= s.threshold
				s.learner.judged(good, count)
			} else {
				good = d <= s.threshold
			}
		} else {
			if !badDone {
				bad = failed(kind, span.Status().Code() == ptrace.StatusCodeError, scanStatusAttrs(span.Attributes()))
				badDone = true
			}
			good = !bad
		}
		s.pendingTotal += count
		if good {
			s.pendingGood += count
		}
		if s.hint != nil {
			p.hints.Span(&p.resValues, span.Attributes(), &p.spanValues)
			s.hintCounts.Observe(&p.spanValues, count, !good) // totals: at flush
			if !good {
				s.hint.Exemplar(span)
			}
			linked.Add(s.hint, !good)
		}
		matched++
		if s.firing > 0 && burning == nil {
			burning = s
		}
	}
	if matched > 0 && p.hints != nil && (kind == ptrace.SpanKindServer || kind == ptrace.SpanKindConsumer) && p.hints.WantsParent() {
		// The downstream its child client span called, now or when the child arrives.
		p.hints.Parent(span, &linked, count)
	}
	if burning != nil {
		span.Attributes().PutStr(attrSLOName, burning.cfg.Name)
		span.Attributes().PutBool(attrSLOBurning, true)
	}
	return matched
}

// flushAll moves pending counts into the windows. Called with p.mu held.
func (p *sloBurn) flushAll(now int64) {
	for _, s := range p.slos {
		if s.hint != nil {
			// The hint's totals are the SLO's own counts, added here instead of per span.
			s.hint.AddTotals(s.pendingTotal-s.pendingGood, s.pendingTotal)
		}
		s.flush(now)
	}
	if p.hints != nil {
		p.hints.Advance(now)
		for _, s := range p.slos {
			s.hintCounts = s.hint.Current()
		}
	}
}

// tick flushes pending counts and, once per emit_interval, evaluates the tiers and emits
// metrics and alert records. Tests call it with a simulated clock.
func (p *sloBurn) tick(ctx context.Context, now time.Time) {
	ns := now.UnixNano()
	p.mu.Lock()
	p.flushAll(ns)
	if ns < p.nextEmit {
		p.mu.Unlock()
		return
	}
	for p.nextEmit <= ns {
		p.nextEmit += int64(p.cfg.EmitInterval)
	}
	p.events = p.events[:0]
	for _, s := range p.slos {
		p.events = s.evaluateTiers(ns, p.cfg.Alerting, p.events)
	}
	var md pmetric.Metrics
	if len(p.metricsNext) > 0 {
		md = p.buildMetrics(ns)
	}
	var ld plog.Logs
	if len(p.events) > 0 {
		ld = buildAlertLogs(p.events)
	}
	nTransitions, nRecords := 0, len(p.events)
	for _, e := range p.events {
		if !e.update {
			nTransitions++
		}
	}
	var hintStats hints.Stats
	if p.hints != nil {
		hintStats = p.hints.Stats()
	}
	metricsNext := append([]consumer.Metrics(nil), p.metricsNext...)
	logsNext := append([]consumer.Logs(nil), p.logsNext...)
	p.mu.Unlock()

	if nTransitions > 0 {
		p.tel.ProcessorSloBurnAlertTransitions.Add(ctx, int64(nTransitions))
	}
	for i, next := range metricsNext {
		out := md
		if i < len(metricsNext)-1 {
			out = pmetric.NewMetrics()
			md.CopyTo(out)
		}
		if err := next.ConsumeMetrics(ctx, out); err != nil {
			p.tel.ProcessorSloBurnEmitFailures.Add(ctx, 1)
			p.logger.Debug("slo_burn: metrics pipeline refused derived metrics", zap.Error(err))
		}
	}
	p.recordHintStats(ctx, hintStats)
	if nRecords > 0 {
		for i, next := range logsNext {
			out := ld
			if i < len(logsNext)-1 {
				out = plog.NewLogs()
				ld.CopyTo(out)
			}
			if err := next.ConsumeLogs(ctx, out); err != nil {
				p.tel.ProcessorSloBurnEmitFailures.Add(ctx, 1)
				p.logger.Warn("slo_burn: logs pipeline refused alert records", zap.Error(err))
			}
		}
	}
	if p.store != nil && (nTransitions > 0 || ns-p.store.lastSave >= int64(saveEvery)) {
		// Alert state changes are saved at once, windows every saveEvery and on shutdown.
		if err := p.save(ctx); err != nil {
			p.tel.ProcessorSloBurnStorageErrors.Add(ctx, 1)
			p.logger.Warn("slo_burn: saving state failed", zap.Error(err))
		}
	}
}

// recordHintStats adds the hint engine's counters to the internal telemetry.
func (p *sloBurn) recordHintStats(ctx context.Context, s hints.Stats) {
	if s.Folded > 0 {
		p.tel.ProcessorSloBurnHintValuesFolded.Add(ctx, s.Folded)
	}
	if s.LateLinked > 0 {
		p.tel.ProcessorSloBurnHintDownstreamLate.Add(ctx, s.LateLinked)
	}
	if s.Unlinked > 0 {
		p.tel.ProcessorSloBurnHintDownstreamUnlinked.Add(ctx, s.Unlinked)
	}
}
