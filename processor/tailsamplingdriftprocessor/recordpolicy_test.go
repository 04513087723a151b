package tailsamplingdriftprocessor

import (
	"context"
	"encoding/binary"
	"fmt"
	"strings"
	"testing"
	"time"

	tsp "github.com/open-telemetry/opentelemetry-collector-contrib/processor/tailsamplingprocessor"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/featuregate"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

// recordPolicyPolicies are the differential policies plus a composite whose
// budget no test reaches, so that it too is deterministic.
const recordPolicyPolicies = differentialPolicies + `
  - name: comp
    type: composite
    composite:
      max_total_spans_per_second: 1000000000
      policy_order: [comp-slow, comp-cart]
      composite_sub_policy:
        - {name: comp-slow, type: latency, latency: {threshold_ms: 200}}
        - {name: comp-cart, type: string_attribute, string_attribute: {key: http.route, values: [/cart]}}
decision_cache: {sampled_cache_size: 100000, non_sampled_cache_size: 100000}
`

func enableRecordPolicy(t *testing.T) {
	t.Helper()
	require.NoError(t, featuregate.GlobalRegistry().Set(recordPolicyGate, true))
	t.Cleanup(func() { _ = featuregate.GlobalRegistry().Set(recordPolicyGate, false) })
}

// lateBatch is one more child span of every trace, sent after the decisions.
func lateBatch(gs []genTrace) ptrace.Traces {
	td := ptrace.NewTraces()
	base := time.Unix(1_700_000_000, 0)
	for i, g := range gs {
		rs := td.ResourceSpans().AppendEmpty()
		rs.Resource().Attributes().PutStr("service.name", fmt.Sprintf("svc-%d", i%3))
		ss := rs.ScopeSpans().AppendEmpty()
		ss.Scope().SetName("test")
		sp := ss.Spans().AppendEmpty()
		sp.SetTraceID(g.id)
		var sid, parent pcommon.SpanID
		binary.BigEndian.PutUint64(sid[:], 1000)
		binary.BigEndian.PutUint64(parent[:], 1)
		sp.SetSpanID(sid)
		sp.SetParentSpanID(parent)
		sp.SetName("late")
		sp.SetStartTimestamp(pcommon.NewTimestampFromTime(base))
		sp.SetEndTimestamp(pcommon.NewTimestampFromTime(base.Add(time.Millisecond)))
	}
	return td
}

// spanMarks maps every forwarded span (trace ID / span ID) to the
// recordpolicy attributes on its scope.
func spanMarks(sink *consumertest.TracesSink) map[string]string {
	out := map[string]string{}
	for _, td := range sink.AllTraces() {
		for _, rs := range td.ResourceSpans().All() {
			for _, ss := range rs.ScopeSpans().All() {
				a := ss.Scope().Attributes()
				mark := ""
				for _, k := range []string{attrPolicy, attrCompositePolicy, attrCachedDecision} {
					if v, ok := a.Get(k); ok {
						mark += k + "=" + v.AsString() + " "
					}
				}
				for _, sp := range ss.Spans().All() {
					out[sp.TraceID().String()+"/"+sp.SpanID().String()] = mark
				}
			}
		}
	}
	return out
}

// With the stock recordpolicy gate on, both processors write the same
// tailsampling.policy, tailsampling.composite_policy and
// tailsampling.cached_decision on the scope of every kept span, late spans
// (which follow the sampled cache) included.
func TestDifferentialRecordPolicy(t *testing.T) {
	enableRecordPolicy(t)
	for _, firstMatch := range []bool{false, true} {
		t.Run(fmt.Sprintf("sample_on_first_match=%v", firstMatch), func(t *testing.T) {
			differentialRecordPolicy(t, firstMatch)
		})
	}
}

func differentialRecordPolicy(t *testing.T, firstMatch bool) {
	gs := genTraces(11, 1500)
	batches := differentialBatches(gs, nil)
	late := lateBatch(gs)

	// Stock.
	sp, stockSink := startStock(t, recordPolicyPolicies, func(c *tsp.Config) { c.SampleOnFirstMatch = firstMatch })
	for _, b := range cloneAll(batches) {
		require.NoError(t, sp.ConsumeTraces(context.Background(), b))
	}
	time.Sleep(2500 * time.Millisecond) // decision_wait + one tick
	stockLate := ptrace.NewTraces()
	late.CopyTo(stockLate)
	require.NoError(t, sp.ConsumeTraces(context.Background(), stockLate))
	time.Sleep(200 * time.Millisecond)
	require.NoError(t, sp.Shutdown(context.Background()))

	// Ours.
	op, oursSink := startOurs(t, recordPolicyPolicies, func(c *Config) {
		c.ConsistentProbability = false
		c.SampleOnFirstMatch = firstMatch
	})
	require.True(t, op.(*tracesProcessor).Unwrap().engine.recordPolicy, "the engine must read the gate")
	consumeAndSettle(t, op, cloneAll(batches))
	require.NoError(t, op.ConsumeTraces(context.Background(), late))
	time.Sleep(100 * time.Millisecond)
	require.NoError(t, op.Shutdown(context.Background()))

	stock, ours := spanMarks(stockSink), spanMarks(oursSink)
	require.NotEmpty(t, stock)
	// The comparison must cover every kind of mark.
	kinds := map[string]bool{}
	for _, m := range stock {
		for _, k := range []string{attrPolicy + "=checkout", attrPolicy + "=comp", attrCompositePolicy + "=comp-", attrCachedDecision + "=true"} {
			if strings.Contains(m, k) {
				kinds[k] = true
			}
		}
	}
	require.Len(t, kinds, 4, "marks seen on stock's output: %v", kinds)
	require.Equal(t, len(stock), len(ours), "forwarded span counts")
	for k, want := range stock {
		require.Equal(t, want, ours[k], "span %s", k)
	}
}

// With the gate off (the default) nothing is written.
func TestRecordPolicyOffWritesNothing(t *testing.T) {
	cfg := defaultTestConfig()
	loadYAML(t, `policies: [{name: all, type: always_sample}]`, cfg)
	cfg.DecisionWait = 100 * time.Millisecond
	cfg.DecisionGrace = 10 * time.Millisecond
	sink := new(consumertest.TracesSink)
	p := startProcessor(t, cfg, sink)
	require.NoError(t, p.ConsumeTraces(context.Background(), batchOf(genTraces(3, 20))))
	require.Eventually(t, func() bool { return sink.SpanCount() > 0 }, 5*time.Second, 10*time.Millisecond)
	for k, m := range spanMarks(sink) {
		require.Empty(t, m, "span %s", k)
	}
}
