package tailsamplingdriftprocessor

import (
	"context"
	"encoding/binary"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

// podTraffic makes n single-span traces of /checkout on four pods: baseline 1.0 on
// base-a and base-b, canary 2.0 (a share canaryShare) on canary-a and canary-b. A span
// on badPod fails with probability pBad and, if slowPod, takes 3× as long; every other
// span fails with probability 0.001. The trace IDs of failing and slow spans are returned.
func podTraffic(r *rand.Rand, n int, canaryShare float64, badPod string, pBad float64, slowPod bool) (ptrace.Traces, map[string]bool) {
	td := ptrace.NewTraces()
	bad := map[string]bool{}
	base := time.Unix(1_700_000_000, 0)
	for i := 0; i < n; i++ {
		cohort, pod := "1.0", []string{"base-a", "base-b"}[r.IntN(2)]
		if r.Float64() < canaryShare {
			cohort, pod = "2.0", []string{"canary-a", "canary-b"}[r.IntN(2)]
		}
		rs := td.ResourceSpans().AppendEmpty()
		rs.Resource().Attributes().PutStr("service.name", "checkout")
		rs.Resource().Attributes().PutStr("service.version", cohort)
		rs.Resource().Attributes().PutStr("k8s.pod.name", pod)
		sp := rs.ScopeSpans().AppendEmpty().Spans().AppendEmpty()
		var id pcommon.TraceID
		binary.BigEndian.PutUint64(id[:8], r.Uint64())
		binary.BigEndian.PutUint64(id[8:], r.Uint64())
		sp.SetTraceID(id)
		sp.SetSpanID(pcommon.SpanID{1})
		sp.SetKind(ptrace.SpanKindServer)
		sp.SetName("POST")
		sp.Attributes().PutStr("http.route", "/checkout")
		factor := 1.0
		failing := r.Float64() < 0.001
		if pod == badPod {
			failing = failing || r.Float64() < pBad
			if slowPod {
				factor = 3
				bad[id.String()] = true
			}
		}
		if failing {
			sp.Status().SetCode(ptrace.StatusCodeError)
			bad[id.String()] = true
		}
		d := time.Duration((80 + 40*r.Float64()) * factor * float64(time.Millisecond))
		sp.SetStartTimestamp(pcommon.NewTimestampFromTime(base))
		sp.SetEndTimestamp(pcommon.NewTimestampFromTime(base.Add(d)))
	}
	return td, bad
}

func attr(lr plog.LogRecord, k string) string {
	v, _ := lr.Attributes().Get(k)
	return v.AsString()
}

// A drift alert names where the canary's bad spans concentrate (errors: the failing
// pod; latency: the slow pod), with exemplar trace IDs of bad spans that were sent.
func TestDriftAlertCarriesHintAndExemplars(t *testing.T) {
	for _, tt := range []struct {
		signal string
		slow   bool
		pBad   float64
	}{
		{signal: signalErrors, pBad: 0.3},
		{signal: signalLatency, slow: true},
	} {
		t.Run(tt.signal, func(t *testing.T) {
			cfg := driftConfig()
			cfg.Drift.Signals = []string{tt.signal}
			cfg.Drift.KeepDriftingTraces = false
			w := newWiredProcessor(t, cfg, testSettings(t))
			ctx := context.Background()
			r := rand.New(rand.NewPCG(3, 4))
			sent := map[string]bool{}
			// Healthy first, so the latency signal learns the baseline p99 it judges
			// slowness by, then the canary's pod canary-b goes bad.
			for round := 0; round < 3; round++ {
				td, _ := podTraffic(r, 400, 0.2, "", 0, false)
				require.NoError(t, w.traces.ConsumeTraces(ctx, td))
				w.inst.engine.drift.emit(ctx)
			}
			for round := 0; round < 30 && len(firingAlerts(w.lsink)) == 0; round++ {
				td, bad := podTraffic(r, 400, 0.2, "canary-b", tt.pBad, tt.slow)
				for id := range bad {
					sent[id] = true
				}
				require.NoError(t, w.traces.ConsumeTraces(ctx, td))
				w.inst.engine.drift.emit(ctx)
			}
			alerts := firingAlerts(w.lsink)
			require.NotEmpty(t, alerts)
			lr := alerts[len(alerts)-1]
			assert.Equal(t, tt.signal, attr(lr, "signal"))
			assert.Equal(t, "k8s.pod.name=canary-b,service.version=2.0", sortedValues(attr(lr, "annotation.hint_values")), attr(lr, "annotation.hint"))
			ids := strings.Split(attr(lr, "annotation.exemplar_trace_ids"), ",")
			require.NotEmpty(t, ids)
			for _, id := range ids {
				assert.True(t, sent[id], "exemplar %s is not a bad span that was sent", id)
			}
		})
	}
}

func sortedValues(s string) string {
	parts := strings.Split(s, ",")
	for i := 1; i < len(parts); i++ {
		for j := i; j > 0 && parts[j] < parts[j-1]; j-- {
			parts[j], parts[j-1] = parts[j-1], parts[j]
		}
	}
	return strings.Join(parts, ",")
}

// While a canary drifts, a moved concentration (canary-b fails, then canary-a instead)
// emits another firing record with the new hint.
func TestDriftHintMovesWhileDrifting(t *testing.T) {
	cfg := driftConfig()
	cfg.Drift.Signals = []string{signalErrors}
	cfg.Drift.KeepDriftingTraces = false
	cfg.Drift.Hints.Window = 20 * time.Second
	w := newWiredProcessor(t, cfg, testSettings(t))
	clock := time.Unix(1_700_000_000, 0)
	w.inst.engine.drift.now = func() time.Time { return clock }
	ctx := context.Background()
	r := rand.New(rand.NewPCG(5, 6))
	feed := func(pod string, rounds int) {
		for round := 0; round < rounds; round++ {
			td, _ := podTraffic(r, 400, 0.2, pod, 0.3, false)
			require.NoError(t, w.traces.ConsumeTraces(ctx, td))
			clock = clock.Add(5 * time.Second)
			w.inst.engine.drift.emit(ctx)
		}
	}
	feed("canary-b", 6)
	alerts := firingAlerts(w.lsink)
	require.NotEmpty(t, alerts)
	assert.Contains(t, attr(alerts[len(alerts)-1], "annotation.hint_values"), "k8s.pod.name=canary-b")
	n := len(alerts)
	feed("canary-a", 8)
	alerts = firingAlerts(w.lsink)
	require.Greater(t, len(alerts), n, "a moved hint is re-emitted")
	last := alerts[len(alerts)-1]
	assert.Contains(t, attr(last, "annotation.hint_values"), "k8s.pod.name=canary-a")
	assert.NotContains(t, attr(last, "annotation.hint_values"), "canary-b")
}
