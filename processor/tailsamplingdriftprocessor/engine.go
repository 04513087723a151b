package tailsamplingdriftprocessor

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/open-telemetry/opentelemetry-collector-contrib/pkg/sampling"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/processor"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.uber.org/zap"

	"github.com/otelcol-goebpf/otelcol-goebpf/processor/tailsamplingdriftprocessor/internal/metadata"
)

// engine is the tail-sampling engine: traces are spread over shards by trace ID;
// each shard holds its undecided traces compactly and decides them on its own
// ticker. A trace is decided when the stock processor would decide it: on the
// whole-second tick decision_wait after its first span (or, with the stock
// decision_wait_after_root_received, after its root), or, opted in with
// decision_grace, that long after its root.
type engine struct {
	cfg    *Config
	logger *zap.Logger
	tel    *metadata.TelemetryBuilder
	shards []*shard
	// grace is decision_grace (0: off); rootTicks the stock
	// decision_wait_after_root_received in stock ticks (-1: off); waitTicks
	// decision_wait in stock ticks (at least 1, as the stock processor has it).
	grace     int64
	rootTicks int64
	waitTicks int64
	tick      time.Duration
	// epoch is when the engine started: stock ticks fall on whole seconds after
	// it, as the stock processor's ticker does after its Start.
	epoch time.Time
	// clock returns monotonic nanoseconds; tests replace it.
	clock func() int64

	next  consumer.Traces
	drift *driftRunner
	// recordPolicy: the stock recordpolicy feature gate is on (read at
	// creation); kept spans carry the deciding policy on their scope.
	recordPolicy bool

	scratch sync.Pool
	stop    chan struct{}
	wg      sync.WaitGroup
	started bool

	decidedAttrs [numTriggers][3]metric.MeasurementOption
	lateAttrs    [2]metric.MeasurementOption
	// notSampledAttrs is the reason attribute of spans_not_sampled.
	notSampledAttrs [numNotSampledReasons]metric.MeasurementOption
}

func newEngine(cfg *Config, set processor.Settings, tel *metadata.TelemetryBuilder) (*engine, error) {
	n := int(cfg.NumShards)
	if n <= 0 {
		n = runtime.GOMAXPROCS(0)
	}
	e := &engine{
		cfg:       cfg,
		logger:    set.Logger,
		tel:       tel,
		grace:     int64(cfg.DecisionGrace),
		rootTicks: -1,
		waitTicks: max(1, stockTicks(cfg.DecisionWait)),
		tick:      cfg.TickInterval,
		epoch:     time.Now(),
		stop:      make(chan struct{}),

		recordPolicy: gateEnabled(recordPolicyGate),
	}
	if cfg.DecisionWaitAfterRootReceived > 0 {
		e.rootTicks, e.grace = stockTicks(cfg.DecisionWaitAfterRootReceived), 0
	}
	e.clock = func() int64 { return int64(time.Since(e.epoch)) }
	e.scratch.New = func() any { return newIngestScratch() }
	perShardTraces := max(1, int(cfg.NumTraces)/n)
	perShardBytes := int64(cfg.MemoryLimitBytes) / int64(n)
	if cfg.MemoryLimitBytes > 0 && perShardBytes == 0 {
		perShardBytes = 1
	}
	presize := int(min(cfg.ExpectedNewTracesPerSec*uint64(max(1, cfg.DecisionWait/time.Second)), cfg.NumTraces)) / n
	for i := 0; i < n; i++ {
		ps, err := compilePolicies(cfg.PolicyCfgs, set.TelemetrySettings, n, cfg.ConsistentProbability, cfg.SampleOnFirstMatch)
		if err != nil {
			return nil, err
		}
		e.shards = append(e.shards, &shard{
			traces:    make(map[pcommon.TraceID]*trace, presize),
			maxTraces: perShardTraces,
			maxBytes:  perShardBytes,
			policies:  ps,
			keep:      newShardDecisionCache(cfg.DecisionCache.SampledCacheSize, n, perShardTraces),
			drop:      newShardDecisionCache(cfg.DecisionCache.NonSampledCacheSize, n, perShardTraces),
		})
	}
	decisions := [3]string{"sampled", "not_sampled", "dropped"}
	for tr := range numTriggers {
		for d := range 3 {
			e.decidedAttrs[tr][d] = metric.WithAttributeSet(attribute.NewSet(
				attribute.String("decision", decisions[d]), attribute.String("trigger", triggerNames[tr])))
		}
	}
	e.lateAttrs[0] = metric.WithAttributeSet(attribute.NewSet(attribute.Bool("sampled", false)))
	e.lateAttrs[1] = metric.WithAttributeSet(attribute.NewSet(attribute.Bool("sampled", true)))
	for r, name := range notSampledReasonNames {
		e.notSampledAttrs[r] = metric.WithAttributeSet(attribute.NewSet(attribute.String("reason", name)))
	}
	return e, nil
}

func (e *engine) now() int64 { return e.clock() }

// stockDeadline is when the stock processor decides a trace whose first span
// (or root, for decision_wait_after_root_received) arrived at now: it is put in
// the batch that closes at the next tick, and that batch is decided ticks
// ticks later.
func stockDeadline(now, ticks int64) int64 {
	return (now/stockTick + 1 + ticks) * stockTick
}

// rootDeadline is when a trace whose root arrived at now is decided, if the
// root's arrival brings the decision forward at all.
func (e *engine) rootDeadline(now int64) (int64, bool) {
	switch {
	case e.rootTicks >= 0:
		return stockDeadline(now, e.rootTicks), true
	case e.grace > 0:
		return now + e.grace, true
	}
	return 0, false
}

func (e *engine) shardOf(id pcommon.TraceID) *shard {
	// Trace IDs are random; their last bytes spread traces evenly.
	h := uint32(id[12])<<24 | uint32(id[13])<<16 | uint32(id[14])<<8 | uint32(id[15])
	return e.shards[h%uint32(len(e.shards))]
}

func (e *engine) start() {
	e.started = true
	e.epoch = time.Now()
	for _, s := range e.shards {
		e.wg.Add(1)
		go e.runShard(s)
	}
}

// runShard decides the expired traces of one shard on every tick.
func (e *engine) runShard(s *shard) {
	defer e.wg.Done()
	t := time.NewTicker(e.tick)
	defer t.Stop()
	for {
		select {
		case <-e.stop:
			return
		case <-t.C:
			e.tickShard(s)
		}
	}
}

// tickShard decides the traces of s whose grace or decision_wait has expired
// and forwards the kept ones.
func (e *engine) tickShard(s *shard) {
	s.mu.Lock()
	s.expireLocked(e, e.now())
	out, th, counts := s.takeOutputLocked()
	s.mu.Unlock()
	e.flush(context.Background(), out, th, &counts)
}

// shutdown stops the tickers and decides (or drops) what is still pending.
func (e *engine) shutdown(ctx context.Context) error {
	if e.started {
		close(e.stop)
		done := make(chan struct{})
		go func() { e.wg.Wait(); close(done) }()
		select {
		case <-done:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	var errs []error
	for _, s := range e.shards {
		s.mu.Lock()
		dropped := s.drainAllLocked(e, e.cfg.DropPendingTracesOnShutdown)
		out, th, counts := s.takeOutputLocked()
		s.mu.Unlock()
		if dropped > 0 {
			e.tel.ProcessorTailSamplingDriftTracesDroppedUnevaluated.Add(ctx, dropped)
		}
		if err := e.flushCtx(ctx, out, th, &counts); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// ingestScratch is per-call working memory, pooled.
type ingestScratch struct {
	index  map[pcommon.TraceID]int32
	groups []spanGroup
	// encRes and encScope encode a resource and a scope on their own (each
	// as a one-entry Traces message); spans are encoded by appendSpanEntry.
	encRes, encScope ptrace.Traces
	resBytes         []byte
	scopeBytes       [][]byte
	spanBuf          []byte
	segments         []segment
	out              []keptChunk
	outTh            map[pcommon.TraceID]sampling.Threshold
	counts           decisionCounts
	// hints holds the drift hints' values of the resource in progress.
	hints hintScratch
}

type spanGroup struct {
	id       pcommon.TraceID
	refs     []spanRef
	drifting bool
}

type spanRef struct{ ss, span int32 }

func newIngestScratch() *ingestScratch {
	sc := &ingestScratch{index: make(map[pcommon.TraceID]int32)}
	sc.encRes = ptrace.NewTraces()
	sc.encRes.ResourceSpans().AppendEmpty()
	sc.encScope = ptrace.NewTraces()
	sc.encScope.ResourceSpans().AppendEmpty().ScopeSpans().AppendEmpty()
	return sc
}

var marshaler = &ptrace.ProtoMarshaler{}

func (e *engine) consumeTraces(ctx context.Context, td ptrace.Traces) error {
	sc := e.scratch.Get().(*ingestScratch)
	defer e.scratch.Put(sc)
	now := e.now()
	e.tel.ProcessorTailSamplingDriftSpansReceived.Add(ctx, int64(td.SpanCount()))

	rss := td.ResourceSpans()
	for i := 0; i < rss.Len(); i++ {
		rs := rss.At(i)
		clear(sc.index)
		sc.groups = sc.groups[:0]
		sc.hints.resourceSet = false
		ilss := rs.ScopeSpans()
		for j := 0; j < ilss.Len(); j++ {
			spans := ilss.At(j).Spans()
			for k := 0; k < spans.Len(); k++ {
				span := spans.At(k)
				id := span.TraceID()
				gi, ok := sc.index[id]
				if !ok {
					gi = int32(len(sc.groups))
					sc.index[id] = gi
					if len(sc.groups) < cap(sc.groups) {
						sc.groups = sc.groups[:gi+1]
						g := &sc.groups[gi]
						g.id, g.refs, g.drifting = id, g.refs[:0], false
					} else {
						sc.groups = append(sc.groups, spanGroup{id: id})
					}
				}
				g := &sc.groups[gi]
				g.refs = append(g.refs, spanRef{int32(j), int32(k)})
				// Drift sees every span before any sampling decision.
				if e.drift != nil && e.drift.observe(rs.Resource(), span, &sc.hints) {
					g.drifting = true
				}
			}
		}
		if len(sc.groups) == 0 {
			continue
		}
		// The resource and each scope are encoded once per batch.
		sc.resBytes = encodeResource(sc, rs)
		sc.scopeBytes = sc.scopeBytes[:0]
		for j := 0; j < ilss.Len(); j++ {
			sc.scopeBytes = append(sc.scopeBytes, nil)
		}
		e.ingestResource(rs, sc, now)
	}
	err := e.flushCtx(ctx, sc.out, sc.outTh, &sc.counts)
	clear(sc.out)
	sc.out = sc.out[:0]
	return err
}

func encodeResource(sc *ingestScratch, rs ptrace.ResourceSpans) []byte {
	dst := sc.encRes.ResourceSpans().At(0)
	rs.Resource().MoveTo(dst.Resource())
	dst.SetSchemaUrl(rs.SchemaUrl())
	enc, _ := marshaler.MarshalTraces(sc.encRes)
	dst.Resource().MoveTo(rs.Resource())
	b, _ := resourceContent(enc)
	return b
}

func encodeScope(sc *ingestScratch, ss ptrace.ScopeSpans) []byte {
	dst := sc.encScope.ResourceSpans().At(0).ScopeSpans().At(0)
	ss.Scope().MoveTo(dst.Scope())
	dst.SetSchemaUrl(ss.SchemaUrl())
	enc, _ := marshaler.MarshalTraces(sc.encScope)
	dst.Scope().MoveTo(ss.Scope())
	b, _ := scopeContent(enc)
	return b
}

// maxChunkHeader is the most bytes a chunk header takes (three uvarints of at
// most 32 bits each); encoded spans are preceded by that much room, so that a
// new trace's chunk can be formed in place, header included.
const maxChunkHeader = 15

// segment is the encoded spans of one trace from one resource and scope of
// a batch: sc.spanBuf[off:off+n], preceded by maxChunkHeader bytes of room.
type segment struct {
	group, scope int32
	from, to     int32 // the group's refs
	off, n       int32
	root         bool // a span without a parent is among them
	// slot is a root segment's place in the batch's arena, room included.
	slot []byte
}

// ingestResource stores the spans of one resource, one chunk per trace and
// scope, in three steps: every chunk is encoded (no lock held); the chunks
// that hold a root span, whose traces will all be decided at about the same
// time (root arrival + grace), are copied into one allocation for the batch;
// then, under each trace's shard lock, the facts the policies need are
// gathered and the chunk stored.
func (e *engine) ingestResource(rs ptrace.ResourceSpans, sc *ingestScratch, now int64) {
	ilss := rs.ScopeSpans()
	sc.spanBuf = sc.spanBuf[:0]
	sc.segments = sc.segments[:0]
	arenaSize := 0
	for gi := range sc.groups {
		g := &sc.groups[gi]
		for r := 0; r < len(g.refs); {
			j := g.refs[r].ss
			end := r
			for end < len(g.refs) && g.refs[end].ss == j {
				end++
			}
			src := ilss.At(int(j))
			if sc.scopeBytes[j] == nil {
				sc.scopeBytes[j] = encodeScope(sc, src)
			}
			srcSpans := src.Spans()
			sc.spanBuf = append(sc.spanBuf, make([]byte, maxChunkHeader)...)
			off := len(sc.spanBuf)
			root := false
			for _, ref := range g.refs[r:end] {
				span := srcSpans.At(int(ref.span))
				sc.spanBuf = appendSpanEntry(sc.spanBuf, span)
				root = root || span.ParentSpanID().IsEmpty()
			}
			n := len(sc.spanBuf) - off
			seg := segment{group: int32(gi), scope: j, from: int32(r), to: int32(end), off: int32(off), n: int32(n), root: root}
			if root {
				arenaSize += maxChunkHeader + n
			}
			sc.segments = append(sc.segments, seg)
			r = end
		}
	}
	if arenaSize > 0 {
		arena := make([]byte, arenaSize)
		at := 0
		for k := range sc.segments {
			seg := &sc.segments[k]
			if !seg.root {
				continue
			}
			size := maxChunkHeader + int(seg.n)
			seg.slot = arena[at : at+size : at+size]
			copy(seg.slot[maxChunkHeader:], sc.spanBuf[seg.off:int(seg.off)+int(seg.n)])
			at += size
		}
	}
	for k := range sc.segments {
		seg := &sc.segments[k]
		g := &sc.groups[seg.group]
		s := e.shardOf(g.id)
		s.mu.Lock()
		// Deadlines that passed are met before the span is stored, so a span
		// that arrives after its trace's decision time is a late span whether
		// or not the shard's ticker has run yet, as in the stock processor.
		s.expireLocked(e, now)
		e.storeLocked(s, g, rs, ilss.At(int(seg.scope)), g.refs[seg.from:seg.to], sc, seg, now)
		if len(s.out) > 0 {
			out, th, counts := s.takeOutputLocked()
			sc.out = append(sc.out, out...)
			for id, v := range th {
				if sc.outTh == nil {
					sc.outTh = make(map[pcommon.TraceID]sampling.Threshold)
				}
				sc.outTh[id] = v
			}
			sc.counts.add(&counts)
		} else {
			sc.counts.add(&s.counts)
			s.counts = decisionCounts{}
		}
		s.mu.Unlock()
		seg.slot = nil
	}
}

// storeLocked adds one chunk (the spans of one trace from one resource and
// scope) to its trace, or applies a cached decision when the trace was already
// decided.
func (e *engine) storeLocked(s *shard, g *spanGroup, rs ptrace.ResourceSpans, ss ptrace.ScopeSpans, refs []spanRef, sc *ingestScratch, seg *segment, now int64) {
	nSpans := int64(len(refs))
	resBytes, scopeBytes := sc.resBytes, sc.scopeBytes[seg.scope]
	spans := sc.spanBuf[seg.off : seg.off+seg.n]
	t := s.traces[g.id]
	if t == nil {
		if cd, ok := s.keep.get(g.id); ok {
			s.counts.lateSampled += nSpans
			var mark *policyMark
			if cd.mark != nil {
				mark = cd.mark.late
			}
			s.out = append(s.out, keptChunk{resource: string(resBytes), scope: string(scopeBytes), spans: bytes.Clone(spans), mark: mark})
			if th := cd.th; e.cfg.ConsistentProbability && th.Unsigned() != 0 {
				if s.outTh == nil {
					s.outTh = make(map[pcommon.TraceID]sampling.Threshold)
				}
				s.outTh[g.id] = th
			}
			return
		}
		if _, ok := s.drop.get(g.id); ok {
			s.counts.lateNotSampled += nSpans
			return
		}
		t = &trace{id: g.id, firstSeen: now}
		s.traces[g.id] = t
		s.waitQ.push(deadline{at: stockDeadline(now, e.waitTicks), firstSeen: now, id: g.id})
		s.compactQueuesLocked()
		s.bytes += traceOverhead
		s.counts.newTraces++
	}
	if s.policies.observeSpans(t, rs, ss, refs) && t.rootSeen == 0 {
		t.rootSeen = now
		if at, ok := e.rootDeadline(now); ok {
			s.graceQ.push(deadline{at: at, firstSeen: t.firstSeen, id: t.id})
		}
	}
	t.spanCount += nSpans
	t.drifting = t.drifting || g.drifting
	rid, grownR := s.intern.acquire(resBytes)
	sid, grownS := s.intern.acquire(scopeBytes)
	before := len(t.data)
	if t.data == nil && seg.slot != nil {
		// A new trace whose root came in this batch: its chunk is formed in
		// its place in the batch's arena, the header in the room before it.
		var hdr [maxChunkHeader]byte
		h := appendChunkHeader(hdr[:0], rid, sid, len(spans))
		start := maxChunkHeader - len(h)
		copy(seg.slot[start:], h)
		t.data = seg.slot[start:]
	} else {
		// One allocation of exactly the room needed: appending the header and
		// then the spans would grow the slice twice, and doubling leaves
		// slack that stays with the trace until its decision.
		if need := len(t.data) + maxChunkHeader + len(spans); cap(t.data) < need {
			grown := make([]byte, len(t.data), need)
			copy(grown, t.data)
			t.data = grown
		}
		t.data = appendChunkHeader(t.data, rid, sid, len(spans))
		t.data = append(t.data, spans...)
	}
	t.stockSize += int64(stockSize(len(resBytes), len(scopeBytes), len(spans)))
	s.bytes += int64(len(t.data)-before) + int64(grownR+grownS)
	if m := e.cfg.MaximumTraceSizeBytes; m > 0 && uint64(t.stockSize) > m {
		s.decideLocked(e, t, triggerTooLarge)
	}
	s.evictLocked(e)
}

// observe gathers the facts the policies need from the spans of one resource
// of trace t. It reports whether a root span (no parent) was among them.
func (ps *policySet) observe(t *trace, rs ptrace.ResourceSpans) (root bool) {
	sss := rs.ScopeSpans()
	for j := 0; j < sss.Len(); j++ {
		ss := sss.At(j)
		if ps.observeSpans(t, rs, ss, nil) {
			root = true
		}
	}
	return root
}

// observeSpans gathers the facts the policies need from the spans of ss listed
// in refs (all of them when refs is nil), which came with resource rs. It
// reports whether a root span (no parent) was among them.
func (ps *policySet) observeSpans(t *trace, rs ptrace.ResourceSpans, ss ptrace.ScopeSpans, refs []spanRef) (root bool) {
	for _, o := range ps.observers {
		o.observeResource(rs.Resource(), t)
	}
	spans := ss.Spans()
	n := len(refs)
	if refs == nil {
		n = spans.Len()
	}
	for x := 0; x < n; x++ {
		k := x
		if refs != nil {
			k = int(refs[x].span)
		}
		span := spans.At(k)
		if ps.needsLatency {
			if st := span.StartTimestamp(); t.minStart == 0 || st < t.minStart {
				t.minStart = st
			}
			if en := span.EndTimestamp(); t.maxEnd == 0 || en > t.maxEnd {
				t.maxEnd = en
			}
		}
		if ps.needsTraceState && !t.hasRandomness {
			readConsistentProbability(span.TraceState().AsRaw(), t)
		}
		if span.ParentSpanID().IsEmpty() {
			root = true
		}
		for _, o := range ps.observers {
			o.observeSpan(rs, ss, span, t)
		}
	}
	return root
}

// readConsistentProbability records the OpenTelemetry randomness (rv) and
// whether sampling information is present in a span's tracestate.
func readConsistentProbability(raw string, t *trace) {
	if raw == "" || !strings.Contains(raw, "ot=") {
		return
	}
	ts, err := sampling.NewW3CTraceState(raw)
	if err != nil {
		return
	}
	ot := ts.OTelValue()
	if rv, ok := ot.RValueRandomness(); ok {
		t.randomness = rv.Unsigned()
		t.hasRandomness = true
		t.hasSamplingInfo = true
	}
	if _, ok := ot.TValueThreshold(); ok {
		t.hasSamplingInfo = true
	}
}

func (c *decisionCounts) add(o *decisionCounts) {
	for i := range c.decided {
		for j := range c.decided[i] {
			c.decided[i][j] += o.decided[i][j]
		}
	}
	c.spansSampled += o.spansSampled
	for r := range c.spansNotSample {
		c.spansNotSample[r] += o.spansNotSample[r]
	}
	c.policyErrors += o.policyErrors
	c.keptForDrift += o.keptForDrift
	c.lateSampled += o.lateSampled
	c.lateNotSampled += o.lateNotSampled
	c.newTraces += o.newTraces
}

func (e *engine) flush(ctx context.Context, out []keptChunk, th map[pcommon.TraceID]sampling.Threshold, c *decisionCounts) {
	if err := e.flushCtx(ctx, out, th, c); err != nil {
		e.logger.Debug("forwarding kept traces failed", zap.Error(err))
	}
}

// flushCtx records the counts and forwards the kept spans. The scratch buffers
// are reset for reuse.
func (e *engine) flushCtx(ctx context.Context, out []keptChunk, th map[pcommon.TraceID]sampling.Threshold, c *decisionCounts) error {
	e.record(ctx, c)
	*c = decisionCounts{}
	if len(out) == 0 {
		return nil
	}
	td, err := decodeKept(out)
	if err != nil {
		// Cannot happen: the bytes are our own encoding.
		return fmt.Errorf("decode kept spans: %w", err)
	}
	if len(th) > 0 {
		e.writeThresholds(ctx, td, th)
		clear(th)
	}
	n := int64(td.SpanCount())
	if err := e.next.ConsumeTraces(ctx, td); err != nil {
		e.tel.ProcessorTailSamplingDriftForwardErrors.Add(ctx, n)
		return fmt.Errorf("forward kept traces: %w", err)
	}
	return nil
}

// writeThresholds sets `ot=th` on the spans of traces kept by a probabilistic
// policy. A threshold already present and higher (less likely) is kept: a
// sampler may raise the threshold, never lower it.
func (e *engine) writeThresholds(ctx context.Context, td ptrace.Traces, th map[pcommon.TraceID]sampling.Threshold) {
	var w strings.Builder
	for _, rs := range td.ResourceSpans().All() {
		for _, ss := range rs.ScopeSpans().All() {
			for _, span := range ss.Spans().All() {
				t, ok := th[span.TraceID()]
				if !ok {
					continue
				}
				ts, err := sampling.NewW3CTraceState(span.TraceState().AsRaw())
				if err != nil {
					e.tel.ProcessorTailSamplingDriftUnparseableTracestate.Add(ctx, 1)
					continue
				}
				if err := ts.OTelValue().UpdateTValueWithSampling(t); err != nil {
					continue
				}
				w.Reset()
				if err := ts.Serialize(&w); err == nil {
					span.TraceState().FromRaw(w.String())
				}
			}
		}
	}
}

func (e *engine) record(ctx context.Context, c *decisionCounts) {
	for tr := range c.decided {
		for d, n := range c.decided[tr] {
			if n > 0 {
				e.tel.ProcessorTailSamplingDriftTracesDecided.Add(ctx, n, e.decidedAttrs[tr][d])
			}
		}
	}
	if c.spansSampled > 0 {
		e.tel.ProcessorTailSamplingDriftSpansSampled.Add(ctx, c.spansSampled)
	}
	for r, n := range c.spansNotSample {
		if n > 0 {
			e.tel.ProcessorTailSamplingDriftSpansNotSampled.Add(ctx, n, e.notSampledAttrs[r])
		}
	}
	if c.policyErrors > 0 {
		e.tel.ProcessorTailSamplingDriftPolicyErrors.Add(ctx, c.policyErrors)
	}
	if c.keptForDrift > 0 {
		e.tel.ProcessorTailSamplingDriftTracesKeptForDrift.Add(ctx, c.keptForDrift)
	}
	if c.lateSampled > 0 {
		e.tel.ProcessorTailSamplingDriftLateSpans.Add(ctx, c.lateSampled, e.lateAttrs[1])
	}
	if c.lateNotSampled > 0 {
		e.tel.ProcessorTailSamplingDriftLateSpans.Add(ctx, c.lateNotSampled, e.lateAttrs[0])
	}
	if c.newTraces > 0 {
		e.tel.ProcessorTailSamplingDriftNewTraces.Add(ctx, c.newTraces)
	}
}

// inMemory reports the undecided traces and their encoded bytes.
func (e *engine) inMemory() (traces, bytes int64) {
	for _, s := range e.shards {
		s.mu.Lock()
		traces += int64(len(s.traces))
		bytes += s.bytes
		s.mu.Unlock()
	}
	return traces, bytes
}
