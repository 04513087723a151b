package tailsamplingdriftprocessor

import (
	"context"
	"fmt"
	"testing"
	"time"

	tsp "github.com/open-telemetry/opentelemetry-collector-contrib/processor/tailsamplingprocessor"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/featuregate"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/processor"
	"go.opentelemetry.io/collector/processor/processortest"
)

// differentialPolicies are deterministic policies (no rate limits, no clock):
// the stock processor and this one must keep exactly the same traces.
const differentialPolicies = `
policies:
  - {name: drop-health, type: drop, drop: {drop_sub_policy: [{name: health, type: string_attribute, string_attribute: {key: http.route, values: [/health]}}]}}
  - {name: slow, type: latency, latency: {threshold_ms: 300}}
  - {name: band, type: latency, latency: {threshold_ms: 100, upper_threshold_ms: 120}}
  - {name: errors, type: status_code, status_code: {status_codes: [ERROR]}}
  - {name: checkout, type: string_attribute, string_attribute: {key: http.route, values: [/checkout]}}
  - {name: not-search-regex, type: string_attribute, string_attribute: {key: http.route, values: ["^/se.*"], enabled_regex_matching: true, invert_match: true}}
  - {name: server-errors, type: numeric_attribute, numeric_attribute: {key: http.response.status_code, min_value: 500, max_value: 599}}
  - {name: big, type: span_count, span_count: {min_spans: 6}}
  - {name: sample, type: probabilistic, probabilistic: {sampling_percentage: 15}}
  - name: cart-and-cached
    type: and
    and:
      and_sub_policy:
        - {name: cart, type: string_attribute, string_attribute: {key: http.route, values: [/cart]}}
        - {name: cached, type: boolean_attribute, boolean_attribute: {key: cache.hit, value: true}}
        - {name: not-fast, type: not, not: {not_sub_policy: {name: fast, type: latency, latency: {threshold_ms: 50}}}}
  - {name: ottl-400, type: ottl_condition, ottl_condition: {error_mode: ignore, span: ['attributes["http.response.status_code"] == 400 and attributes["http.route"] == "/cart"']}}
`

// runStock pushes batches through the stock tail_sampling processor and
// returns the sampled trace IDs.
func runStock(t *testing.T, batches []ptrace.Traces) []string {
	t.Helper()
	p, sink := startStock(t, differentialPolicies, func(*tsp.Config) {})
	for _, b := range batches {
		require.NoError(t, p.ConsumeTraces(context.Background(), b))
	}
	// Decided between decision_wait and decision_wait + 1s tick.
	time.Sleep(2500 * time.Millisecond)
	require.NoError(t, p.Shutdown(context.Background()))
	return sampledIDs(sink)
}

// startStock starts the stock processor with the policies (and whatever
// else) of policiesYAML, decision_wait 1s, then tweak applied.
func startStock(t *testing.T, policiesYAML string, tweak func(*tsp.Config)) (processor.Traces, *consumertest.TracesSink) {
	t.Helper()
	f := tsp.NewFactory()
	cfg := f.CreateDefaultConfig().(*tsp.Config)
	loadYAML(t, policiesYAML, cfg)
	cfg.DecisionWait = time.Second
	cfg.NumTraces = 100000
	tweak(cfg)
	sink := new(consumertest.TracesSink)
	p, err := f.CreateTraces(context.Background(), processortest.NewNopSettings(f.Type()), cfg, sink)
	require.NoError(t, err)
	require.NoError(t, p.Start(context.Background(), nil))
	return p, sink
}

func runOurs(t *testing.T, batches []ptrace.Traces, consistent bool) []string {
	t.Helper()
	p, sink := startOurs(t, differentialPolicies, func(c *Config) { c.ConsistentProbability = consistent })
	consumeAndSettle(t, p, batches)
	ids := sampledIDs(sink)
	require.NoError(t, p.Shutdown(context.Background()))
	require.Equal(t, ids, sampledIDs(sink), "every trace must be decided before shutdown")
	return ids
}

// startOurs starts this processor with the policies (and whatever else) of
// policiesYAML, decision_wait 1s and otherwise its defaults, then tweak applied.
func startOurs(t *testing.T, policiesYAML string, tweak func(*Config)) (processor.Traces, *consumertest.TracesSink) {
	t.Helper()
	cfg := defaultTestConfig()
	loadYAML(t, policiesYAML, cfg)
	cfg.DecisionWait = time.Second
	cfg.NumTraces = 100000
	tweak(cfg)
	require.NoError(t, cfg.Validate())
	sink := new(consumertest.TracesSink)
	p, err := NewFactory().CreateTraces(context.Background(), testSettings(t), cfg, sink)
	require.NoError(t, err)
	require.NoError(t, p.Start(context.Background(), nil))
	return p, sink
}

// consumeAndSettle feeds batches to our processor and waits until every
// trace is decided (on the stock tick 1-2 s after its first span) and the kept
// ones forwarded (just after their decision, outside the shard lock).
func consumeAndSettle(t *testing.T, p processor.Traces, batches []ptrace.Traces) {
	t.Helper()
	for _, b := range batches {
		require.NoError(t, p.ConsumeTraces(context.Background(), b))
	}
	e := p.(*tracesProcessor).Unwrap().engine
	require.Eventually(t, func() bool { n, _ := e.inMemory(); return n == 0 }, 10*time.Second, 10*time.Millisecond)
	time.Sleep(100 * time.Millisecond)
}

// differentialBatches splits every trace's spans over two batches and mixes
// traces within each batch, the way a receiver batches them.
func differentialBatches(gs []genTrace, tracestate func(i int) string) []ptrace.Traces {
	base := time.Unix(1_700_000_000, 0)
	var out []ptrace.Traces
	for start := 0; start < len(gs); start += 100 {
		end := min(start+100, len(gs))
		first, second := ptrace.NewTraces(), ptrace.NewTraces()
		for i := start; i < end; i++ {
			td := ptrace.NewTraces()
			appendSpans(td, gs[i], fmt.Sprintf("svc-%d", i%3), base)
			spans := td.ResourceSpans().At(0).ScopeSpans().At(0).Spans()
			if tracestate != nil {
				for _, sp := range spans.All() {
					sp.TraceState().FromRaw(tracestate(i))
				}
			}
			// Children in the first batch, root (span 0) and the rest in the second.
			rsA := first.ResourceSpans().AppendEmpty()
			td.ResourceSpans().At(0).Resource().CopyTo(rsA.Resource())
			ssA := rsA.ScopeSpans().AppendEmpty()
			rsB := second.ResourceSpans().AppendEmpty()
			td.ResourceSpans().At(0).Resource().CopyTo(rsB.Resource())
			ssB := rsB.ScopeSpans().AppendEmpty()
			for k, sp := range spans.All() {
				if k > 0 && k%2 == 1 {
					sp.CopyTo(ssA.Spans().AppendEmpty())
				} else {
					sp.CopyTo(ssB.Spans().AppendEmpty())
				}
			}
		}
		out = append(out, first, second)
	}
	return out
}

func cloneAll(in []ptrace.Traces) []ptrace.Traces {
	out := make([]ptrace.Traces, len(in))
	for i, td := range in {
		out[i] = ptrace.NewTraces()
		td.CopyTo(out[i])
	}
	return out
}

func TestDifferentialAgainstStockTailSampling(t *testing.T) {
	gs := genTraces(42, 3000)
	batches := differentialBatches(gs, nil)

	stock := runStock(t, cloneAll(batches))
	ours := runOurs(t, cloneAll(batches), false)

	require.Greater(t, len(stock), len(gs)/10, "policies should keep a fair share")
	require.Less(t, len(stock), len(gs)*9/10, "policies should drop a fair share")
	t.Logf("stock kept %d of %d traces, ours %d", len(stock), len(gs), len(ours))
	require.Equal(t, stock, ours)
}

// With the stock usetracestate gate on and randomness (rv) in the tracestate,
// the stock probabilistic policy follows consistent probability sampling; so
// does this processor with consistent_probability.
func TestDifferentialConsistentProbability(t *testing.T) {
	const gate = "processor.tailsamplingprocessor.usetracestate"
	require.NoError(t, featuregate.GlobalRegistry().Set(gate, true))
	t.Cleanup(func() { _ = featuregate.GlobalRegistry().Set(gate, false) })

	gs := genTraces(7, 2000)
	rv := func(i int) string { return fmt.Sprintf("ot=rv:%014x", uint64(i)*0x8f0a3c1d2e5b7%(1<<56)) }
	batches := differentialBatches(gs, rv)

	stock := runStock(t, cloneAll(batches))
	ours := runOurs(t, cloneAll(batches), true)
	t.Logf("stock kept %d of %d traces, ours %d", len(stock), len(gs), len(ours))
	require.Equal(t, stock, ours)
}
