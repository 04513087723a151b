package tailsamplingdriftprocessor

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

// FuzzConsumeTraces feeds arbitrary protobuf through ConsumeTraces: whatever
// decodes must never make the processor panic.
func FuzzConsumeTraces(f *testing.F) {
	for _, td := range []ptrace.Traces{batchOf(genTraces(1, 5)), oneTrace(2, 3, true), ptrace.NewTraces()} {
		b, err := marshaler.MarshalTraces(td)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	cfg := defaultTestConfig()
	cfg.NumTraces = 50
	cfg.MemoryLimitBytes = 1 << 16
	cfg.DecisionCache.SampledCacheSize = 100
	cfg.DecisionCache.NonSampledCacheSize = 100
	cfg.Drift.CohortAttribute = "service.version"
	cfg.Drift.KeepDriftingTraces = true
	cfg.PolicyCfgs = policiesFrom(f, `  - {name: l, type: latency, latency: {threshold_ms: 10}}
  - {name: s, type: status_code, status_code: {status_codes: [ERROR]}}
  - {name: p, type: probabilistic, probabilistic: {sampling_percentage: 30}}
  - {name: a, type: string_attribute, string_attribute: {key: http.route, values: ['^/a'], enabled_regex_matching: true}}
  - {name: o, type: ottl_condition, ottl_condition: {error_mode: ignore, span: ['attributes["x"] == 1']}}
  - {name: t, type: trace_state, trace_state: {key: k, values: [v]}}
`)
	p := startProcessor(f, cfg, consumertest.NewNop())
	u := &ptrace.ProtoUnmarshaler{}
	f.Fuzz(func(t *testing.T, data []byte) {
		td, err := u.UnmarshalTraces(data)
		if err != nil {
			return
		}
		_ = p.ConsumeTraces(context.Background(), td)
	})
}

// FuzzKeepsEveryField: with every trace kept, whatever pdata goes in comes out
// with the same spans, resources and scopes, field for field, whether a batch
// splits a trace or not: storage, the batch arena, the decoder and its pdata
// fallback lose and alter nothing.
func FuzzKeepsEveryField(f *testing.F) {
	for _, td := range []ptrace.Traces{batchOf(genTraces(1, 5)), oneTrace(2, 3, true), richTraces(), oneResource(batchOf(genTraces(3, 8)))} {
		b, err := marshaler.MarshalTraces(td)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b, uint8(2))
	}
	u := &ptrace.ProtoUnmarshaler{}
	f.Fuzz(func(t *testing.T, data []byte, split uint8) {
		td, err := u.UnmarshalTraces(data)
		if err != nil || td.SpanCount() > 2000 {
			return
		}
		want := ptrace.NewTraces()
		td.CopyTo(want)
		cfg := defaultTestConfig()
		cfg.DecisionWait = 10 * time.Second
		cfg.PolicyCfgs = policiesFrom(t, "  - {name: all, type: always_sample}\n")
		te := newTestEngine(t, cfg)
		// The resources in two batches, the first k in the first.
		k := int(split) % (td.ResourceSpans().Len() + 1)
		batches := [2]ptrace.Traces{ptrace.NewTraces(), ptrace.NewTraces()}
		for i, rs := range td.ResourceSpans().All() {
			b := 1
			if i < k {
				b = 0
			}
			rs.CopyTo(batches[b].ResourceSpans().AppendEmpty())
		}
		te.consume(t, batches[0])
		te.advance(100 * time.Millisecond)
		te.consume(t, batches[1])
		te.advance(11 * time.Second)
		require.Equal(t, canonicalSpans(t, want), canonicalSpans(t, te.sink.AllTraces()...))
	})
}
