package tailsamplingdriftprocessor

import (
	"sync"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/otelcol-goebpf/otelcol-goebpf/internal/hints"
	"github.com/otelcol-goebpf/otelcol-goebpf/processor/tailsamplingdriftprocessor/internal/drift"
)

// maxHintKeys bounds the drift keys that get hints: each holds one hints subject per
// signal (14.6 KiB each with the default hints settings). Spans of further keys are not
// counted for hints (their alerts carry none), counted in keysWithoutHints.
const maxHintKeys = 128

// driftHints counts, per drift key, where its failing spans (errors signal) and its
// spans slower than the baseline's p99 (latency signal) concentrate, with the shared
// hints engine. Drift's detector is lock-free; the hints engine is not, so a mutex
// guards it (one short critical section per span).
type driftHints struct {
	mu      sync.Mutex
	engine  *hints.Engine
	errors  bool // the errors signal is configured
	latency bool
	keys    map[drift.Key]*keyHints
	// lastEmitted is the hint values of the last record per drifting verdict, so a
	// moved concentration is re-emitted while it drifts.
	lastEmitted      map[verdictID]string
	keysWithoutHints int64
	spanValues       hints.Values
}

type keyHints struct {
	failed, slow *hints.Subject
	// slowAbove is the baseline p99 of the key's last verdict in ns; 0 until one.
	slowAbove int64
}

type verdictID struct {
	key    drift.Key
	cohort string
	signal drift.Signal
}

// hintScratch is the per-call state of consumeTraces: the hint values of the resource
// in progress, read once per resource (and again if the engine recycled ids meanwhile).
type hintScratch struct {
	resource    hints.Values
	resourceSet bool
	gen         int64
}

// verdictHint is the hint of one verdict of an evaluation.
type verdictHint struct {
	report    *hints.Report
	exemplars []hints.Exemplar
	// moved says a verdict that keeps drifting has a hint other than its last record's.
	moved bool
}

func newDriftHints(cfg hints.Config, signals []drift.Signal) *driftHints {
	h := &driftHints{
		engine:      hints.NewEngine(cfg),
		keys:        map[drift.Key]*keyHints{},
		lastEmitted: map[verdictID]string{},
	}
	for _, s := range signals {
		h.errors = h.errors || s == drift.SignalErrors
		h.latency = h.latency || s == drift.SignalLatency
	}
	return h
}

func (h *driftHints) observe(res pcommon.Resource, span ptrace.Span, k drift.Key, failed bool, dur int64, hs *hintScratch) {
	h.mu.Lock()
	defer h.mu.Unlock()
	e := h.engine
	if !hs.resourceSet || hs.gen != e.Generation() {
		e.Resource(res.Attributes(), &hs.resource)
		hs.resourceSet, hs.gen = true, e.Generation()
	}
	kind := span.Kind()
	if kind == ptrace.SpanKindClient {
		e.Client(span, failed)
	}
	kh := h.keys[k]
	if kh == nil {
		if len(h.keys) >= maxHintKeys {
			h.keysWithoutHints++
			return
		}
		kh = &keyHints{}
		if h.errors {
			kh.failed = e.NewSubject()
		}
		if h.latency {
			kh.slow = e.NewSubject()
		}
		h.keys[k] = kh
	}
	v := &h.spanValues
	v.Reset()
	e.Span(&hs.resource, span.Attributes(), v)
	var linked hints.Linked
	if kh.failed != nil {
		kh.failed.Observe(v, 1, failed)
		if failed {
			kh.failed.Exemplar(span)
		}
		linked.Add(kh.failed, failed)
	}
	if kh.slow != nil && kh.slowAbove > 0 {
		slow := dur > kh.slowAbove
		kh.slow.Observe(v, 1, slow)
		if slow {
			kh.slow.Exemplar(span)
		}
		linked.Add(kh.slow, slow)
	}
	if (kind == ptrace.SpanKindServer || kind == ptrace.SpanKindConsumer) && e.WantsParent() {
		e.Parent(span, &linked, 1)
	}
}

// evaluate advances the engine, takes each key's latest baseline p99 as its slowness
// threshold, and returns per verdict its hint when it drifts (nil report otherwise).
func (h *driftHints) evaluate(verdicts []drift.Verdict, now time.Time) []verdictHint {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.engine.Advance(now.UnixNano())
	out := make([]verdictHint, len(verdicts))
	for i := range verdicts {
		v := &verdicts[i]
		kh := h.keys[v.Key]
		if kh == nil {
			continue
		}
		if v.Signal == drift.SignalLatency && v.BaselineP99 > 0 {
			kh.slowAbove = int64(v.BaselineP99 * float64(time.Second))
		}
		id := verdictID{v.Key, v.Cohort, v.Signal}
		if !v.Drifting {
			if v.Changed {
				delete(h.lastEmitted, id)
			}
			continue
		}
		s := kh.failed
		if v.Signal == drift.SignalLatency {
			s = kh.slow
		}
		if s == nil {
			continue
		}
		rep := s.Report()
		values := rep.Values()
		last, seen := h.lastEmitted[id]
		out[i] = verdictHint{report: &rep, exemplars: s.Exemplars(hints.MaxExemplars), moved: seen && last != values}
		h.lastEmitted[id] = values
	}
	return out
}

// stats returns the engine's counters and the spans of keys beyond maxHintKeys since
// the last call.
func (h *driftHints) stats() (hints.Stats, int64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := h.keysWithoutHints
	h.keysWithoutHints = 0
	return h.engine.Stats(), n
}
