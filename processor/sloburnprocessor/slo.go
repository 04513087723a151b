package sloburnprocessor // import "github.com/otelcol-goebpf/otelcol-goebpf/processor/sloburnprocessor"

import (
	"fmt"
	"math"
	"sort"
	"strings"
	"time"

	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/otelcol-goebpf/otelcol-goebpf/internal/hints"
)

// sloState is the live state of one SLO: its selection, its windows and its tiers.
// All fields are guarded by the processor's mutex.
type sloState struct {
	// Hot fields first, read for every span: they share the first cache lines.
	kind                      ptrace.SpanKind
	anyKind                   bool
	latency                   bool
	threshold                 int64 // latency threshold in ns; learned for auto
	spanName                  string
	httpRoute                 string
	pendingGood, pendingTotal float64 // events since the last flush
	firing                    int     // tiers currently firing
	cond                      *spanCondition
	learner                   *latencyBaseline // threshold: auto only
	hint                      *hints.Subject   // nil when hints are off
	hintCounts                hints.Counts     // hint's current generation, refreshed at flush

	cfg       SLOConfig
	budget    float64 // allowed error ratio, 1 - objective
	period    time.Duration
	windows   []*BurnWindow // one per distinct duration, shortest first
	periodWin *BurnWindow
	tiers     []tierState
	cumGood   float64 // cumulative, for slo.events
	cumTotal  float64
}

// tierState is one alert tier of one SLO.
type tierState struct {
	cfg         TierConfig
	label       string // "1h/5m"
	long, short *BurnWindow
	firing      bool
	clearSince  int64 // unix ns since the resolve condition holds; 0 when it does not
	firedAt     int64
	// hintValues are the hint values of the last record emitted for the tier, so a moved
	// concentration is re-emitted while it fires.
	hintValues string
}

var spanKinds = map[string]ptrace.SpanKind{
	"server": ptrace.SpanKindServer, "client": ptrace.SpanKindClient, "internal": ptrace.SpanKindInternal,
	"producer": ptrace.SpanKindProducer, "consumer": ptrace.SpanKindConsumer,
}

func newSLOState(cfg SLOConfig, cond *spanCondition) *sloState {
	s := &sloState{
		cfg:       cfg,
		spanName:  cfg.SpanName,
		httpRoute: cfg.HTTPRoute,
		budget:    1 - cfg.Objective/100,
		period:    time.Duration(cfg.Period),
		anyKind:   cfg.SpanKind == "any",
		kind:      spanKinds[cfg.SpanKind],
		cond:      cond,
	}
	if s.cfg.SpanKind == "" {
		s.kind = ptrace.SpanKindServer
	}
	if l := cfg.SLI.Latency; l != nil {
		s.latency = true
		if l.Threshold.Auto {
			s.learner = newLatencyBaseline(l, cfg.Objective)
		} else {
			s.threshold = int64(l.Threshold.Value)
		}
	}
	byDur := map[time.Duration]*BurnWindow{}
	window := func(d time.Duration) *BurnWindow {
		if w, ok := byDur[d]; ok {
			return w
		}
		w := newBurnWindow(d)
		byDur[d] = w
		s.windows = append(s.windows, w)
		return w
	}
	s.periodWin = window(s.period)
	for _, t := range cfg.tiers {
		s.tiers = append(s.tiers, tierState{
			cfg:   t,
			label: formatDuration(time.Duration(t.Long)) + "/" + formatDuration(time.Duration(t.Short)),
			long:  window(time.Duration(t.Long)),
			short: window(time.Duration(t.Short)),
		})
	}
	sort.Slice(s.windows, func(i, j int) bool { return s.windows[i].size < s.windows[j].size })
	return s
}

// selects reports whether a span of the SLO's service is one of the SLO's events, apart
// from the OTTL condition. The span's fields are read once by the caller for all SLOs.
func (s *sloState) selects(kind ptrace.SpanKind, name, route string, routeOK bool) bool {
	if !s.anyKind && kind != s.kind {
		return false
	}
	if s.spanName != "" && name != s.spanName {
		return false
	}
	if s.httpRoute != "" && (!routeOK || route != s.httpRoute) {
		return false
	}
	return true
}

// flush moves the pending counts into every window at now.
func (s *sloState) flush(now int64) {
	for _, w := range s.windows {
		w.add(now, s.pendingGood, s.pendingTotal)
	}
	s.cumGood += s.pendingGood
	s.cumTotal += s.pendingTotal
	s.pendingGood, s.pendingTotal = 0, 0
	if s.learner != nil {
		s.learner.flush(now, s.firing > 0)
		s.threshold = s.learner.threshold
	}
}

// burnRate is the traffic-weighted burn rate of one window: error ratio / allowed ratio.
// total is returned for the minimum-events guard.
func (s *sloState) burnRate(w *BurnWindow, now int64) (rate, total float64) {
	g, t := w.sums(now)
	return errorRatio(g, t) / s.budget, t
}

// budgetRemaining is the share of the period's error budget left: 1 untouched, 0 spent,
// negative overspent. 1 at zero traffic.
func (s *sloState) budgetRemaining(now int64) float64 {
	g, t := s.periodWin.sums(now)
	return 1 - errorRatio(g, t)/s.budget
}

// timeToExhaustion is how long the remaining budget lasts at the given burn rate; ok is
// false when nothing is burning (the answer would be infinite).
func (s *sloState) timeToExhaustion(remaining, burn float64) (time.Duration, bool) {
	if burn <= 0 || math.IsNaN(burn) {
		return 0, false
	}
	if remaining <= 0 {
		return 0, true
	}
	return time.Duration(remaining * float64(s.period) / burn), true
}

// alertEvent is one tier state change, or (update) a firing tier whose hint moved.
type alertEvent struct {
	slo        *sloState
	tier       *tierState
	firing     bool
	update     bool
	hint       *hints.Report // nil when hints are off
	exemplars  []hints.Exemplar
	at         int64
	burnLong   float64
	burnShort  float64
	remaining  float64
	exhaustion time.Duration
	exhaustOK  bool
}

// evaluateTiers updates every tier's state at now and returns the state changes.
// A tier fires when both windows hold at least minEvents and burn at least burn_rate. It
// resolves once either window (or one short of minEvents) has stayed below
// burn_rate × resolveRatio for resolveFor.
func (s *sloState) evaluateTiers(now int64, a AlertingConfig, out []alertEvent) []alertEvent {
	remaining := s.budgetRemaining(now)
	first := len(out)
	for i := range s.tiers {
		t := &s.tiers[i]
		long, longN := s.burnRate(t.long, now)
		short, shortN := s.burnRate(t.short, now)
		enough := longN >= a.MinEvents && shortN >= a.MinEvents && longN > 0 && shortN > 0
		changed := false
		if !t.firing {
			if enough && long >= t.cfg.BurnRate && short >= t.cfg.BurnRate {
				t.firing, t.firedAt, t.clearSince = true, now, 0
				s.firing++
				changed = true
			}
		} else {
			lowered := t.cfg.BurnRate * a.ResolveRatio
			stillBurning := enough && long >= lowered && short >= lowered
			switch {
			case stillBurning:
				t.clearSince = 0
			case t.clearSince == 0:
				t.clearSince = now
			}
			if !stillBurning && now-t.clearSince >= int64(a.ResolveFor) {
				t.firing, t.clearSince = false, 0
				s.firing--
				changed = true
			}
		}
		if t.firing && s.learner != nil {
			s.learner.noteFiring()
		}
		if changed || (t.firing && s.hint != nil) {
			ev := alertEvent{slo: s, tier: t, firing: t.firing, update: !changed, at: now, burnLong: long, burnShort: short, remaining: remaining}
			ev.exhaustion, ev.exhaustOK = s.timeToExhaustion(remaining, long)
			out = append(out, ev)
		}
	}
	return s.attachHints(out, first)
}

// attachHints gives the events from index first on the SLO's current hint and exemplars,
// and keeps an update (a firing tier re-evaluated) only if its hint values moved since the
// tier's last record. The hint is computed once per SLO and evaluation, never per span.
func (s *sloState) attachHints(out []alertEvent, first int) []alertEvent {
	if s.hint == nil || len(out) == first {
		return out
	}
	rep := s.hint.Report()
	ex := s.hint.Exemplars(hints.MaxExemplars)
	values := rep.Values()
	kept := out[:first]
	for _, ev := range out[first:] {
		if ev.update && ev.tier.hintValues == values {
			continue
		}
		ev.hint, ev.exemplars = &rep, ex
		ev.tier.hintValues = values
		kept = append(kept, ev)
	}
	return kept
}

func (e alertEvent) summary() string {
	if !e.firing {
		return fmt.Sprintf("%s resolved, burning %.1fx budget (%s, %s)", e.slo.cfg.Name, e.burnLong, e.tier.cfg.Severity, e.tier.label)
	}
	sum := fmt.Sprintf("%s burning %.1fx budget (%s, %s)", e.slo.cfg.Name, e.burnLong, e.tier.cfg.Severity, e.tier.label)
	if e.hint != nil && len(e.hint.Hints) > 0 {
		sum += ": bad events concentrate on " + strings.ReplaceAll(e.hint.Values(), ",", ", ")
	}
	return sum
}
