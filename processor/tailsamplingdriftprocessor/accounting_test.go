package tailsamplingdriftprocessor

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"

	"github.com/otelcol-goebpf/otelcol-goebpf/internal/testutil/refusing"
)

// Span accounting on a stream with every kind of loss: traces the policies do not
// keep, traces a drop policy matches, traces over maximum_trace_size_bytes, late spans
// of decided traces (kept and not), traces dropped unevaluated at shutdown, and kept
// spans the next consumer refuses. Every span received is accounted for once:
//
//	spans_received = spans_sampled + Σ spans_not_sampled{reason} + Σ late_spans{sampled}
//	accepted by next = spans_sampled + late_spans{sampled=true} − forward_errors
func TestSpanAccounting(t *testing.T) {
	cfg := defaultTestConfig()
	cfg.DecisionWait = 2 * time.Second
	cfg.MaximumTraceSizeBytes = 2000
	cfg.DropPendingTracesOnShutdown = true
	cfg.PolicyCfgs = policiesFrom(t, `  - {name: checkout, type: string_attribute, string_attribute: {key: http.route, values: [/checkout]}}
  - {name: no-health, type: drop, drop: {drop_sub_policy: [{name: health, type: string_attribute, string_attribute: {key: http.route, values: [/health]}}]}}
`)
	te := newTestEngine(t, cfg)
	next := &refusing.Traces{Every: 4}
	te.p.setTraces(next)
	ctx := context.Background()
	received := 0
	consume := func(gs []genTrace) {
		td := batchOf(gs)
		received += td.SpanCount()
		// A refused forward of kept spans is returned to the caller; it is counted.
		_ = te.p.engine.consumeTraces(ctx, td)
	}

	gs := genTraces(21, 400)
	for i := 0; i < len(gs); i += 40 {
		consume(gs[i : i+40])
		te.advance(300 * time.Millisecond)
	}
	big := genTraces(22, 5)
	for i := range big {
		big[i].spans = 60
	}
	consume(big)
	te.advance(5 * time.Second)
	// Late spans of decided traces, kept and not kept.
	consume(gs[:100])
	te.advance(time.Second)
	// Still waiting at shutdown: dropped unevaluated.
	consume(genTraces(23, 30))
	require.NoError(t, te.p.engine.shutdown(ctx))

	const p = "processor_tail_sampling_drift_"
	sampled := te.counter(t, p+"spans_sampled")
	notSampled := te.counter(t, p+"spans_not_sampled")
	late := te.counter(t, p+"late_spans")
	lateKept := te.counter(t, p+"late_spans", attribute.Bool("sampled", true))
	forwardErrors := te.counter(t, p+"forward_errors")
	for _, reason := range notSampledReasonNames {
		n := te.counter(t, p+"spans_not_sampled", attribute.String("reason", reason))
		t.Logf("spans_not_sampled{reason=%s} = %d", reason, n)
		assert.Positive(t, n, "the stream has no drop of reason %s", reason)
	}
	t.Logf("received %d = sampled %d + not sampled %d + late %d (kept %d); forward errors %d; next accepted %d refused %d",
		received, sampled, notSampled, late, lateKept, forwardErrors, next.Accepted(), next.Refused())
	assert.Positive(t, lateKept)
	assert.Positive(t, late-lateKept)
	assert.Positive(t, forwardErrors)
	assert.Equal(t, int64(received), te.counter(t, p+"spans_received"))
	assert.Equal(t, int64(received), sampled+notSampled+late)
	assert.Equal(t, int64(next.Accepted()), sampled+lateKept-forwardErrors)
	assert.Equal(t, int64(next.Refused()), forwardErrors)
}
