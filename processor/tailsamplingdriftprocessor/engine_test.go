package tailsamplingdriftprocessor

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	tsp "github.com/open-telemetry/opentelemetry-collector-contrib/processor/tailsamplingprocessor"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/otelcol-goebpf/otelcol-goebpf/processor/tailsamplingdriftprocessor/internal/metadatatest"
)

// testEngine drives the engine with a manual clock and manual ticks.
type testEngine struct {
	p    *tailSamplingDrift
	tt   *componenttest.Telemetry
	sink *consumertest.TracesSink
	now  time.Duration
}

func newTestEngine(t *testing.T, cfg *Config) *testEngine {
	t.Helper()
	require.NoError(t, cfg.Validate())
	tt := componenttest.NewTelemetry()
	te := &testEngine{tt: tt, sink: new(consumertest.TracesSink)}
	p, err := newTailSamplingDrift(metadatatest.NewSettings(tt), cfg)
	require.NoError(t, err)
	p.setTraces(te.sink)
	p.engine.clock = func() int64 { return int64(te.now) }
	te.p = p
	t.Cleanup(func() {
		require.NoError(t, p.Shutdown(context.Background()))
		require.NoError(t, tt.Shutdown(context.Background()))
	})
	return te
}

func (te *testEngine) consume(t *testing.T, td ptrace.Traces) {
	t.Helper()
	require.NoError(t, te.p.engine.consumeTraces(context.Background(), td))
}

// advance moves the clock and runs one tick on every shard.
func (te *testEngine) advance(d time.Duration) {
	te.now += d
	for _, s := range te.p.engine.shards {
		te.p.engine.tickShard(s)
	}
}

// counter sums the data points of an internal counter whose attributes
// include all of attrs.
func (te *testEngine) counter(t *testing.T, name string, attrs ...attribute.KeyValue) int64 {
	t.Helper()
	m, err := te.tt.GetMetric("otelcol_" + name)
	if err != nil {
		return 0
	}
	var total int64
	sum, ok := m.Data.(metricdata.Sum[int64])
	require.True(t, ok, "%s is not an int64 sum", name)
	for _, dp := range sum.DataPoints {
		match := true
		for _, a := range attrs {
			if v, ok := dp.Attributes.Value(a.Key); !ok || v != a.Value {
				match = false
			}
		}
		if match {
			total += dp.Value
		}
	}
	return total
}

func decided(decision, trigger string) []attribute.KeyValue {
	return []attribute.KeyValue{attribute.String("decision", decision), attribute.String("trigger", trigger)}
}

func policiesFrom(t testing.TB, yamlText string) []tsp.PolicyCfg {
	t.Helper()
	cfg := defaultTestConfig()
	loadYAML(t, "policies:\n"+yamlText, cfg)
	return cfg.PolicyCfgs
}

func oneTrace(seed uint64, spans int, noRoot bool) ptrace.Traces {
	g := genTraces(seed, 1)[0]
	g.spans = spans
	g.noRoot = noRoot
	return batchOf([]genTrace{g})
}

func TestDecidesAfterRootPlusGrace(t *testing.T) {
	cfg := defaultTestConfig()
	cfg.DecisionWait = 30 * time.Second
	cfg.DecisionGrace = time.Second
	cfg.PolicyCfgs = policiesFrom(t, "  - {name: all, type: always_sample}\n")
	te := newTestEngine(t, cfg)

	te.consume(t, oneTrace(1, 3, false))
	te.advance(900 * time.Millisecond)
	assert.Zero(t, te.sink.SpanCount(), "decided before the grace ended")
	te.advance(200 * time.Millisecond)
	assert.Equal(t, 3, te.sink.SpanCount(), "not decided right after root + grace")
	assert.Equal(t, int64(1), te.counter(t, "processor_tail_sampling_drift_traces_decided", decided("sampled", "root_grace")...))
}

// With the default settings a trace is decided when the stock processor
// decides it: on its whole-second tick, decision_wait (in whole seconds) ticks
// after the tick that closes the second in which its first span arrived; a
// root arriving first changes nothing.
func TestDecisionWaitTimedLikeStock(t *testing.T) {
	cfg := defaultTestConfig()
	cfg.DecisionWait = 5500 * time.Millisecond // the stock processor counts 5 ticks
	cfg.PolicyCfgs = policiesFrom(t, "  - {name: all, type: always_sample}\n")
	te := newTestEngine(t, cfg)

	te.advance(300 * time.Millisecond)
	te.consume(t, oneTrace(2, 2, false)) // root included
	te.advance(600 * time.Millisecond)   // 0.9 s
	te.consume(t, oneTrace(3, 3, true))
	te.advance(100 * time.Millisecond) // 1.0 s: the second tick's second begins
	te.consume(t, oneTrace(4, 4, true))
	te.advance(4990 * time.Millisecond) // 5.99 s
	assert.Zero(t, te.sink.SpanCount(), "decided before the stock processor's tick")
	te.advance(10 * time.Millisecond) // 6.0 s
	assert.Equal(t, 5, te.sink.SpanCount(), "the traces first seen in the first second are decided at tick 6")
	te.advance(990 * time.Millisecond)
	assert.Equal(t, 5, te.sink.SpanCount())
	te.advance(10 * time.Millisecond) // 7.0 s
	assert.Equal(t, 9, te.sink.SpanCount(), "the trace first seen at 1.0 s is decided at tick 7")
	assert.Equal(t, int64(3), te.counter(t, "processor_tail_sampling_drift_traces_decided", decided("sampled", "decision_wait")...))
}

// The stock decision_wait_after_root_received moves the decision to the tick
// that many whole seconds after the root's, as the stock processor does.
func TestDecisionWaitAfterRootReceivedTimedLikeStock(t *testing.T) {
	cfg := defaultTestConfig()
	cfg.DecisionWait = 10 * time.Second
	cfg.DecisionWaitAfterRootReceived = 2 * time.Second
	cfg.PolicyCfgs = policiesFrom(t, "  - {name: all, type: always_sample}\n")
	te := newTestEngine(t, cfg)

	te.advance(400 * time.Millisecond)
	te.consume(t, oneTrace(5, 3, false))
	te.advance(2590 * time.Millisecond) // 2.99 s
	assert.Zero(t, te.sink.SpanCount())
	te.advance(10 * time.Millisecond) // 3.0 s
	assert.Equal(t, 3, te.sink.SpanCount())
	assert.Equal(t, int64(1), te.counter(t, "processor_tail_sampling_drift_traces_decided", decided("sampled", "root_grace")...))
}

// A span that arrives after its trace's decision time is a late span even if
// the shard's ticker has not run yet: decisions depend on arrival times only.
func TestSpanAfterDeadlineIsLateBeforeTheTick(t *testing.T) {
	cfg := defaultTestConfig()
	cfg.NumShards = 1
	cfg.DecisionWait = time.Second
	cfg.PolicyCfgs = policiesFrom(t, "  - {name: errors, type: status_code, status_code: {status_codes: [ERROR]}}\n")
	te := newTestEngine(t, cfg)

	g := genTraces(6, 1)[0]
	g.errorAt, g.spans = -1, 2
	te.consume(t, batchOf([]genTrace{g}))
	te.now += 2 * time.Second // the deadline (tick 2) passes; no tick runs
	g.errorAt = 1
	te.consume(t, batchOf([]genTrace{g}))
	te.advance(time.Minute)
	assert.Zero(t, te.sink.SpanCount(), "the error arrived after the decision: the trace stays dropped")
	assert.Equal(t, int64(2), te.counter(t, "processor_tail_sampling_drift_late_spans", attribute.Bool("sampled", false)))
}

func TestLateSpansFollowCachedDecision(t *testing.T) {
	cfg := defaultTestConfig()
	cfg.NumShards = 1
	cfg.DecisionWait = time.Second // decided at tick 2
	cfg.DecisionCache.SampledCacheSize = 100
	cfg.DecisionCache.NonSampledCacheSize = 100
	cfg.PolicyCfgs = policiesFrom(t, "  - {name: errors, type: status_code, status_code: {status_codes: [ERROR]}}\n")
	te := newTestEngine(t, cfg)

	gs := genTraces(3, 2)
	gs[0].errorAt, gs[1].errorAt = 0, -1
	te.consume(t, batchOf(gs))
	te.advance(2 * time.Second)
	require.Equal(t, gs[0].spans, te.sink.SpanCount())

	// Late spans (no error status any more) of both traces.
	late := gs
	late[0].errorAt, late[1].errorAt = -1, -1
	late[0].spans, late[1].spans = 2, 2
	te.consume(t, batchOf(late))
	assert.Equal(t, gs[0].spans+2, te.sink.SpanCount(), "late spans of a kept trace are forwarded at once")
	assert.Equal(t, int64(2), te.counter(t, "processor_tail_sampling_drift_late_spans", attribute.Bool("sampled", true)))
	assert.Equal(t, int64(2), te.counter(t, "processor_tail_sampling_drift_late_spans", attribute.Bool("sampled", false)))
	traces, _ := te.p.engine.inMemory()
	assert.Zero(t, traces, "late spans must not start new traces")
}

// Without a decision cache (the stock default) the stock processor keeps each
// decided trace in its trace table, and late spans follow its decision until
// num_traces newer traces push it out; so do they here, without the
// recordpolicy cached_decision mark (stock writes none on that path).
func TestWithoutDecisionCacheLateSpansFollowDecisionAsStock(t *testing.T) {
	enableRecordPolicy(t)
	cfg := defaultTestConfig()
	cfg.NumShards = 1
	cfg.NumTraces = 3
	cfg.DecisionWait = time.Second
	cfg.PolicyCfgs = policiesFrom(t, "  - {name: errors, type: status_code, status_code: {status_codes: [ERROR]}}\n")
	te := newTestEngine(t, cfg)

	gs := genTraces(8, 5)
	for i := range gs {
		gs[i].spans, gs[i].errorAt = 1, -1
	}
	gs[0].errorAt = 0 // kept
	te.consume(t, batchOf(gs[:2]))
	te.advance(2 * time.Second)
	require.Equal(t, 1, te.sink.SpanCount())

	late := []genTrace{gs[0], gs[1]}
	late[0].errorAt, late[1].errorAt = -1, 0 // an error after the drop does not keep it
	te.consume(t, batchOf(late))
	assert.Equal(t, 2, te.sink.SpanCount(), "the late span of the kept trace is forwarded, the dropped trace's discarded")
	traces, _ := te.p.engine.inMemory()
	assert.Zero(t, traces, "late spans must not start new traces")
	for _, m := range spanMarks(te.sink) {
		assert.NotContains(t, m, "cached_decision", "stock marks no late span without a cache")
	}

	// Three newer decisions push the first two out (num_traces 3): their
	// spans then start new traces, as in the stock processor.
	te.consume(t, batchOf(gs[2:5]))
	te.advance(2 * time.Second)
	te.consume(t, batchOf(late[1:]))
	traces, _ = te.p.engine.inMemory()
	assert.Equal(t, int64(1), traces)
}

func TestEvictionDecidesOldestEarlyAndCounts(t *testing.T) {
	cfg := defaultTestConfig()
	cfg.NumShards = 1
	cfg.NumTraces = 10
	cfg.PolicyCfgs = policiesFrom(t, "  - {name: all, type: always_sample}\n")
	te := newTestEngine(t, cfg)

	gs := genTraces(5, 15)
	for i := range gs {
		gs[i].noRoot = true
		te.consume(t, batchOf(gs[i:i+1]))
	}
	traces, _ := te.p.engine.inMemory()
	assert.Equal(t, int64(10), traces)
	assert.Equal(t, int64(5), te.counter(t, "processor_tail_sampling_drift_traces_decided", decided("sampled", "evicted_count")...))
	// The five oldest were decided (and kept) early.
	ids := sampledIDs(te.sink)
	require.Len(t, ids, 5)
	for _, g := range gs[:5] {
		assert.Contains(t, ids, g.id.String())
	}
}

func TestMemoryLimitBytesBoundsStorage(t *testing.T) {
	cfg := defaultTestConfig()
	cfg.NumShards = 1
	cfg.MemoryLimitBytes = 4000
	cfg.PolicyCfgs = policiesFrom(t, "  - {name: none, type: status_code, status_code: {status_codes: [ERROR]}}\n")
	te := newTestEngine(t, cfg)
	gs := genTraces(6, 200)
	for i := range gs {
		gs[i].noRoot = true
		gs[i].errorAt = -1
		te.consume(t, batchOf(gs[i:i+1]))
		_, b := te.p.engine.inMemory()
		require.LessOrEqual(t, b, int64(4000))
	}
	assert.Positive(t, te.counter(t, "processor_tail_sampling_drift_traces_decided", decided("not_sampled", "evicted_bytes")...))
}

func TestMaximumTraceSizeBytes(t *testing.T) {
	cfg := defaultTestConfig()
	cfg.MaximumTraceSizeBytes = 300
	cfg.PolicyCfgs = policiesFrom(t, "  - {name: all, type: always_sample}\n")
	te := newTestEngine(t, cfg)
	te.consume(t, oneTrace(7, 20, true))
	assert.Equal(t, int64(1), te.counter(t, "processor_tail_sampling_drift_traces_decided", decided("not_sampled", "too_large")...))
	traces, _ := te.p.engine.inMemory()
	assert.Zero(t, traces)
}

func TestShutdownDecidesPending(t *testing.T) {
	cfg := defaultTestConfig()
	cfg.PolicyCfgs = policiesFrom(t, "  - {name: all, type: always_sample}\n")
	te := newTestEngine(t, cfg)
	te.consume(t, oneTrace(8, 3, true))
	require.NoError(t, te.p.engine.shutdown(context.Background()))
	assert.Equal(t, 3, te.sink.SpanCount())
	assert.Equal(t, int64(1), te.counter(t, "processor_tail_sampling_drift_traces_decided", decided("sampled", "shutdown")...))
}

func TestDropPendingTracesOnShutdown(t *testing.T) {
	cfg := defaultTestConfig()
	cfg.DropPendingTracesOnShutdown = true
	cfg.PolicyCfgs = policiesFrom(t, "  - {name: all, type: always_sample}\n")
	te := newTestEngine(t, cfg)
	te.consume(t, oneTrace(9, 3, true))
	require.NoError(t, te.p.engine.shutdown(context.Background()))
	assert.Zero(t, te.sink.SpanCount())
	assert.Equal(t, int64(1), te.counter(t, "processor_tail_sampling_drift_traces_dropped_unevaluated"))
}

func TestConsistentProbabilityThreshold(t *testing.T) {
	cfg := defaultTestConfig()
	cfg.ConsistentProbability = true
	cfg.DecisionWait = time.Second
	cfg.PolicyCfgs = policiesFrom(t, "  - {name: half, type: probabilistic, probabilistic: {sampling_percentage: 50}}\n")
	te := newTestEngine(t, cfg)

	gs := genTraces(10, 400)
	td := batchOf(gs)
	// Incoming: a quarter carry th:c (sampled upstream at 25%, a higher
	// threshold than ours), a quarter th:4 (75%, lower than ours).
	incoming := map[string]string{}
	for i, rs := range td.ResourceSpans().All() {
		ts := ""
		switch i % 4 {
		case 0:
			ts = "ot=th:c"
		case 1:
			ts = "ot=th:4"
		}
		for _, ss := range rs.ScopeSpans().All() {
			for _, sp := range ss.Spans().All() {
				sp.TraceState().FromRaw(ts)
				incoming[sp.TraceID().String()] = ts
			}
		}
	}
	te.consume(t, td)
	te.advance(2 * time.Second)

	kept := 0
	for _, out := range te.sink.AllTraces() {
		for _, rs := range out.ResourceSpans().All() {
			for _, ss := range rs.ScopeSpans().All() {
				for _, sp := range ss.Spans().All() {
					kept++
					got := sp.TraceState().AsRaw()
					// Randomness is the trace ID's low 56 bits: >= 0x8000... for 50%.
					id := sp.TraceID()
					require.GreaterOrEqual(t, id[9], byte(0x80), "kept a trace below the threshold")
					if incoming[id.String()] == "ot=th:c" {
						assert.Equal(t, "ot=th:c", got, "a higher incoming threshold must be kept")
					} else {
						assert.Equal(t, "ot=th:8", got)
					}
				}
			}
		}
	}
	assert.Positive(t, kept)
}

// canonicalSpans renders every span with its resource and scope (schema URLs
// included) as JSON, sorted, so that two batchings of the same spans compare equal.
func canonicalSpans(t *testing.T, tds ...ptrace.Traces) []string {
	t.Helper()
	var out []string
	m := &ptrace.JSONMarshaler{}
	for _, td := range tds {
		for _, rs := range td.ResourceSpans().All() {
			for _, ss := range rs.ScopeSpans().All() {
				for _, sp := range ss.Spans().All() {
					one := ptrace.NewTraces()
					ors := one.ResourceSpans().AppendEmpty()
					rs.Resource().CopyTo(ors.Resource())
					ors.SetSchemaUrl(rs.SchemaUrl())
					oss := ors.ScopeSpans().AppendEmpty()
					ss.Scope().CopyTo(oss.Scope())
					oss.SetSchemaUrl(ss.SchemaUrl())
					sp.CopyTo(oss.Spans().AppendEmpty())
					b, err := m.MarshalTraces(one)
					require.NoError(t, err)
					out = append(out, string(b))
				}
			}
		}
	}
	sort.Strings(out)
	return out
}

// Kept spans come out exactly as they went in, with their resource, scope and
// schema URLs, across batches, resources and scopes shared by several traces.
func TestKeptSpansAreForwardedUnchanged(t *testing.T) {
	cfg := defaultTestConfig()
	cfg.PolicyCfgs = policiesFrom(t, "  - {name: all, type: always_sample}\n")
	te := newTestEngine(t, cfg)

	var inputs []ptrace.Traces
	for b := 0; b < 3; b++ {
		td := ptrace.NewTraces()
		for r := 0; r < 2; r++ {
			rs := td.ResourceSpans().AppendEmpty()
			rs.SetSchemaUrl("https://opentelemetry.io/schemas/1.26.0")
			rs.Resource().Attributes().PutStr("service.name", fmt.Sprintf("svc-%d", r))
			rs.Resource().Attributes().PutInt("shard", int64(r))
			for sI := 0; sI < 2; sI++ {
				ss := rs.ScopeSpans().AppendEmpty()
				ss.Scope().SetName(fmt.Sprintf("scope-%d", sI))
				ss.Scope().SetVersion("v1")
				ss.SetSchemaUrl("https://example/schema")
				for k := 0; k < 4; k++ {
					sp := ss.Spans().AppendEmpty()
					sp.SetTraceID(pcommon.TraceID{byte(k % 3), 1})
					sp.SetSpanID(pcommon.SpanID{byte(b), byte(r), byte(sI), byte(k)})
					if !(b == 2 && r == 0 && sI == 0) {
						sp.SetParentSpanID(pcommon.SpanID{9})
					}
					sp.SetName(fmt.Sprintf("op-%d", k))
					sp.Attributes().PutStr("k", "v")
					sp.Events().AppendEmpty().SetName("ev")
					sp.Links().AppendEmpty().SetTraceID(pcommon.TraceID{7})
					sp.TraceState().FromRaw("vendor=x")
				}
			}
		}
		inputs = append(inputs, td)
	}
	want := canonicalSpans(t, inputs...)
	for _, td := range inputs {
		te.consume(t, td)
	}
	te.advance(time.Minute)
	require.Equal(t, want, canonicalSpans(t, te.sink.AllTraces()...))
	_, bytes := te.p.engine.inMemory()
	assert.Zero(t, bytes, "interned resources and scopes are freed with their last trace")
}

// Traces decided early leave no backlog: the decision_wait queue stays
// proportional to the traces in memory, not to rate × decision_wait.
func TestQueuesStayBoundedWithEarlyDecisions(t *testing.T) {
	cfg := defaultTestConfig()
	cfg.NumShards = 1
	cfg.DecisionWait = time.Hour
	cfg.DecisionGrace = time.Nanosecond // decided at the next tick
	cfg.PolicyCfgs = policiesFrom(t, "  - {name: all, type: always_sample}\n")
	te := newTestEngine(t, cfg)
	gs := genTraces(11, 5000)
	for i := range gs {
		te.consume(t, batchOf(gs[i:i+1]))
		te.advance(time.Millisecond)
	}
	s := te.p.engine.shards[0]
	s.mu.Lock()
	defer s.mu.Unlock()
	assert.LessOrEqual(t, s.waitQ.len(), 2*len(s.traces)+1024+1)
	assert.Len(t, sampledIDs(te.sink), 5000)
}

// Chunks of traces whose root came in a batch share one allocation for the
// batch; spans that arrive later for those traces, traces without a root, and
// traces of later batches must leave every chunk intact: all spans come out as
// they went in.
func TestBatchArenaKeepsChunksIntact(t *testing.T) {
	cfg := defaultTestConfig()
	cfg.DecisionWait = 30 * time.Second
	cfg.DecisionGrace = time.Second
	cfg.PolicyCfgs = policiesFrom(t, "  - {name: all, type: always_sample}\n")
	te := newTestEngine(t, cfg)

	gs := genTraces(7, 20)
	late := ptrace.NewTraces()
	ss := late.ResourceSpans().AppendEmpty().ScopeSpans().AppendEmpty()
	for i, g := range gs[:5] {
		sp := ss.Spans().AppendEmpty()
		sp.SetTraceID(g.id)
		sp.SetSpanID(pcommon.SpanID{0x50, byte(i)})
		sp.SetParentSpanID(pcommon.SpanID{0, 0, 0, 0, 0, 0, 0, 1})
		sp.SetName("late-child")
		sp.Attributes().PutStr("url.path", "/late/"+strings.Repeat("x", i*40))
	}
	more := genTraces(8, 10)
	for i := range more {
		more[i].noRoot = i%2 == 0
	}
	var inputs []ptrace.Traces
	for _, td := range []ptrace.Traces{oneResource(batchOf(gs)), late, oneResource(batchOf(more))} {
		in := ptrace.NewTraces()
		td.CopyTo(in)
		inputs = append(inputs, in)
		te.consume(t, td)
		te.advance(100 * time.Millisecond)
	}
	te.advance(31 * time.Second)
	require.Equal(t, canonicalSpans(t, inputs...), canonicalSpans(t, te.sink.AllTraces()...))
}

// oneResource moves all spans of td under its first resource and scope, so
// that one resource of the batch holds many traces.
func oneResource(td ptrace.Traces) ptrace.Traces {
	out := ptrace.NewTraces()
	rs := out.ResourceSpans().AppendEmpty()
	td.ResourceSpans().At(0).Resource().CopyTo(rs.Resource())
	ss := rs.ScopeSpans().AppendEmpty()
	td.ResourceSpans().At(0).ScopeSpans().At(0).Scope().CopyTo(ss.Scope())
	for _, r := range td.ResourceSpans().All() {
		for _, s := range r.ScopeSpans().All() {
			s.Spans().MoveAndAppendTo(ss.Spans())
		}
	}
	return out
}
