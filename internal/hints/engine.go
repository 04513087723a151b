package hints

import (
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

// Engine holds the dimensions, their interners and every subject of one processor. It is
// not safe for concurrent use: the processor calls it under its own lock.
type Engine struct {
	dims       []Dimension
	interners  []*interner
	downstream int // index of the downstream dimension, -1 if none
	maxValues  int
	genLen     int64 // ns
	gen        int64 // current generation number
	genEnd     int64 // unix ns at which the current generation ends; 0 before the first Advance
	subjects   []*Subject
	links      *childLinks
	// spanDims are the dimensions read from span attributes when the resource lacks
	// them: neither outcome, downstream nor resource-only.
	spanDims []int
	scratch  [20]byte
}

// NewEngine builds an engine from a validated, enabled Config.
func NewEngine(cfg Config) *Engine {
	e := &Engine{
		dims:       parseDimensions(cfg.Dimensions),
		downstream: -1,
		maxValues:  cfg.MaxValues,
		genLen:     int64(cfg.Window / 2),
	}
	for i, d := range e.dims {
		e.interners = append(e.interners, newInterner(cfg.MaxValues))
		if d.Downstream && e.downstream < 0 {
			e.downstream = i
		}
		if !d.Outcome && !d.Downstream && !d.Resource {
			e.spanDims = append(e.spanDims, i)
		}
	}
	if e.downstream >= 0 {
		e.links = newChildLinks(linkSlots)
	}
	return e
}

// NewSubject adds a subject (an SLO, a drift key) and returns it.
func (e *Engine) NewSubject() *Subject {
	s := &Subject{e: e, idx: int32(len(e.subjects))}
	n := len(e.dims) * (e.maxValues + 1)
	for g := range s.gens {
		s.gens[g] = genCounts{bad: make([]float64, n), all: make([]float64, n)}
	}
	e.subjects = append(e.subjects, s)
	return s
}

// Advance moves to a new generation once the current one is over: the oldest counts are
// dropped and values unseen for a whole window are recycled. Call it on the processor's
// timer (every second or so), not per span.
func (e *Engine) Advance(now int64) {
	if e.genEnd == 0 {
		e.genEnd = now + e.genLen
		return
	}
	if now < e.genEnd {
		return
	}
	steps := (now-e.genEnd)/e.genLen + 1
	e.genEnd += steps * e.genLen
	if steps > 2 {
		steps = 2 // both generations are cleared; more steps change nothing
	}
	for ; steps > 0; steps-- {
		e.gen++
		for _, s := range e.subjects {
			s.gens[e.gen&1].reset()
		}
	}
	for d, in := range e.interners {
		if in.pressure {
			e.evictLight(d)
			in.pressure = false
		}
		in.recycle(e.gen - 1)
	}
	if e.links != nil {
		e.links.expire(e.gen - 1)
	}
}

// evictLight makes room in a dimension that had to fold values into other during the
// generation that just ended: values holding less than 1/max_values of the dimension's
// events of the live generation (the Misra–Gries bound: a value above it always keeps
// its id) move their counts into other and free their ids, so a value that becomes
// heavy after the table filled with light ones gets an id at the next rotation.
func (e *Engine) evictLight(d int) {
	in := e.interners[d]
	stride := e.maxValues + 1
	live := (e.gen + 1) & 1 // the generation before the (empty) current one
	counts := make([]float64, stride)
	var total float64
	for _, s := range e.subjects {
		all := s.gens[live].all[d*stride : (d+1)*stride]
		for id, c := range all {
			counts[id] += c
			total += c
		}
	}
	threshold := total / float64(e.maxValues)
	var evicted []int32
	for id := 1; id < stride; id++ {
		if in.values[id] == "" || counts[id] >= threshold {
			continue
		}
		for _, s := range e.subjects {
			for g := range s.gens {
				gc := &s.gens[g]
				i, o := d*stride+id, d*stride+int(other)
				gc.all[o] += gc.all[i]
				gc.bad[o] += gc.bad[i]
				gc.all[i], gc.bad[i] = 0, 0
			}
		}
		in.release(int32(id))
		in.folded++
		evicted = append(evicted, int32(id))
	}
	if d == e.downstream && e.links != nil && len(evicted) > 0 {
		e.links.forget(evicted)
	}
}

// Generation numbers the half-window in progress; value ids read in an older generation
// may have been recycled.
func (e *Engine) Generation() int64 { return e.gen }

// WindowStart is the start of the traffic a report describes now (unix ns).
func (e *Engine) WindowStart() int64 { return e.genEnd - 2*e.genLen }

// Folded returns and resets the number of values that fell into `other` since the last call.
func (e *Engine) Folded() int64 {
	var n int64
	for _, in := range e.interners {
		n += in.folded
		in.folded = 0
	}
	return n
}

// Values are one span's value ids, one per dimension (noValue when absent), and the
// count indexes (dimension × (max_values+1) + id) of the present ones.
type Values struct {
	ids [MaxDimensions]int32
	at  [MaxDimensions]int32
	n   int
	set bool
	// outcomes are the outcome dimensions' indexes, read on the first bad observation.
	outcomes    [MaxDimensions]int32
	nOutcomes   int
	outcomesSet bool
	attrs       pcommon.Map
}

// Reset forgets the values of the previous span.
func (v *Values) Reset() { v.set, v.outcomesSet = false, false }

// Resource reads, for a span's resource, the dimensions it carries; the result seeds
// Values.Span for every span of the resource.
func (e *Engine) Resource(res pcommon.Map, out *Values) {
	stride := int32(e.maxValues + 1)
	out.n = 0
	for i, d := range e.dims {
		out.ids[i] = noValue
		if d.Downstream || d.Outcome {
			continue
		}
		if id := e.lookup(i, res); id != noValue {
			out.ids[i] = id
			out.at[out.n] = int32(i)*stride + id
			out.n++
		}
	}
	out.set = true
}

// Span fills v (once per span; later calls return at once) from the span's attributes
// for the dimensions its resource did not carry.
func (e *Engine) Span(res *Values, attrs pcommon.Map, v *Values) {
	if v.set {
		return
	}
	stride := int32(e.maxValues + 1)
	v.ids, v.at, v.n = res.ids, res.at, res.n
	v.attrs = attrs
	for _, i := range e.spanDims {
		if v.ids[i] != noValue {
			continue // the resource has it
		}
		if id := e.lookup(i, attrs); id != noValue {
			v.ids[i] = id
			v.at[v.n] = int32(i)*stride + id
			v.n++
		}
	}
	v.set = true
}

func (e *Engine) lookup(dim int, attrs pcommon.Map) int32 {
	in := e.interners[dim]
	for k, key := range e.dims[dim].Keys {
		val, ok := attrs.Get(key)
		if !ok {
			continue
		}
		switch val.Type() {
		case pcommon.ValueTypeStr:
			if s := val.Str(); s != "" {
				return in.id(s, uint8(k), e.gen)
			}
		case pcommon.ValueTypeInt:
			return in.intID(val.Int(), e.scratch[:0], uint8(k), e.gen)
		case pcommon.ValueTypeBool, pcommon.ValueTypeDouble:
			return in.idBytes(append(e.scratch[:0], val.AsString()...), uint8(k), e.gen)
		}
	}
	return noValue
}

// Subject is what a hint is about: one SLO, one drifting key.
type Subject struct {
	e         *Engine
	idx       int32
	gens      [2]genCounts
	exemplars exemplarRing
}

// genCounts are one generation's counts, indexed by dimension × (max_values+1) + id.
type genCounts struct {
	bad, all           []float64
	badTotal, allTotal float64
}

func (g *genCounts) reset() {
	clear(g.bad)
	clear(g.all)
	g.badTotal, g.allTotal = 0, 0
}

// Observe counts one event of the subject with weight w (its adjusted count).
func (s *Subject) Observe(v *Values, w float64, bad bool) {
	g := &s.gens[s.e.gen&1]
	g.allTotal += w
	if bad {
		g.badTotal += w
	}
	s.ObserveValues(v, w, bad)
}

// AddTotals adds events to the subject's totals only: a caller that counts its events
// anyway uses ObserveValues per event and AddTotals once per flush (before Advance).
func (s *Subject) AddTotals(bad, all float64) {
	g := &s.gens[s.e.gen&1]
	g.badTotal += bad
	g.allTotal += all
}

// ObserveValues is Observe without the totals (see AddTotals).
func (s *Subject) ObserveValues(v *Values, w float64, bad bool) {
	s.Current().Observe(v, w, bad)
}

// Counts are the arrays of a subject's current generation. A caller on a hot path may
// keep them next to its own per-subject state (saving two dependent loads per event)
// and must take them again with Current after every Advance.
type Counts struct {
	all, bad []float64
	e        *Engine
}

// Current returns the subject's counts of the current generation.
func (s *Subject) Current() Counts {
	g := &s.gens[s.e.gen&1]
	return Counts{all: g.all, bad: g.bad, e: s.e}
}

// Observe counts one event's values (not the totals: see Subject.AddTotals).
func (c Counts) Observe(v *Values, w float64, bad bool) {
	all := c.all
	if !bad {
		for _, i := range v.at[:v.n] {
			all[i] += w
		}
		return
	}
	badc := c.bad
	for _, i := range v.at[:v.n] {
		all[i] += w
		badc[i] += w
	}
	if !v.outcomesSet {
		c.e.readOutcomes(v)
	}
	for _, i := range v.outcomes[:v.nOutcomes] {
		badc[i] += w
	}
}

// readOutcomes reads the outcome dimensions of a span observed as bad.
func (e *Engine) readOutcomes(v *Values) {
	stride := int32(e.maxValues + 1)
	v.nOutcomes = 0
	for i, d := range e.dims {
		if !d.Outcome {
			continue
		}
		if id := e.lookup(i, v.attrs); id != noValue {
			v.outcomes[v.nOutcomes] = int32(i)*stride + id
			v.nOutcomes++
		}
	}
	v.outcomesSet = true
}

// observeOne counts a value of one dimension only (a downstream found later).
func (s *Subject) observeOne(dim int, id int32, w float64, bad bool) {
	g := &s.gens[s.e.gen&1]
	i := dim*(s.e.maxValues+1) + int(id)
	g.all[i] += w
	if bad {
		g.bad[i] += w
	}
}

// Exemplar remembers a bad span of the subject.
func (s *Subject) Exemplar(span ptrace.Span) {
	s.exemplars.add(span.TraceID(), span.SpanID(), int64(span.EndTimestamp()), s.e.gen)
}

// Exemplars returns up to max of the subject's most recent bad spans counted inside the
// hint window, newest first.
func (s *Subject) Exemplars(max int) []Exemplar {
	return s.exemplars.recent(max, s.e.gen-1)
}
