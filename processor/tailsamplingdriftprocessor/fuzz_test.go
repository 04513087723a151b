package tailsamplingdriftprocessor

import (
	"context"
	"testing"

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
