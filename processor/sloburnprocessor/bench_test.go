package sloburnprocessor

import (
	"context"
	"fmt"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/open-telemetry/opentelemetry-collector-contrib/connector/spanmetricsconnector"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/connector/connectortest"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

const (
	benchServices        = 5
	benchSpansPerService = 20
)

// benchConfig has 20 SLOs: per service an availability and a 300ms latency SLO on all
// server spans, and an availability and an auto-latency SLO on one route (1h baseline, so
// that warmUp can learn it).
func benchConfig() *Config {
	var slos []SLOConfig
	for s := 0; s < benchServices; s++ {
		svc := fmt.Sprintf("svc-%d", s)
		avail := availabilitySLO(svc+"-availability", svc, 99.9)
		lat := SLOConfig{Name: svc + "-latency", Service: svc, Objective: 99, Period: Duration(30 * day),
			SLI: SLIConfig{Latency: &LatencySLI{Threshold: LatencyThreshold{Value: 300 * time.Millisecond}}}}
		routeAvail := avail
		routeAvail.Name, routeAvail.HTTPRoute = svc+"-orders-availability", "/orders/{id}"
		routeLat := SLOConfig{Name: svc + "-orders-latency", Service: svc, HTTPRoute: "/orders/{id}", Objective: 99, Period: Duration(30 * day),
			SLI: SLIConfig{Latency: &LatencySLI{Threshold: LatencyThreshold{Auto: true}, Percentile: 99.9,
				Baseline: BaselineConfig{Period: Duration(time.Hour), UpdateInterval: Duration(10 * time.Minute), MinSamples: 1000}}}}
		slos = append(slos, avail, lat, routeAvail, routeLat)
	}
	return testConfig(slos...)
}

// benchTraces is one batch of 100 server spans over 5 services, with realistic attributes.
func benchTraces() ptrace.Traces { return benchTracesWithState(nil) }

// benchTracesWithState is benchTraces with the W3C tracestate of span i set to
// traceState(i) when traceState is not nil.
func benchTracesWithState(traceState func(i int) string) ptrace.Traces {
	var specs []spanSpec
	for s := 0; s < benchServices; s++ {
		for i := 0; i < benchSpansPerService; i++ {
			route := "/orders/{id}"
			if i%2 == 1 {
				route = "/cart"
			}
			code := int64(200)
			if i == 7 {
				code = 404
			}
			ts := ""
			if traceState != nil {
				ts = traceState(len(specs))
			}
			specs = append(specs, spanSpec{
				service: fmt.Sprintf("svc-%d", s), name: "GET " + route, route: route, httpStatus: code, traceState: ts,
				duration: time.Duration(5+i*7) * time.Millisecond,
				attrs:    map[string]any{"http.request.method": "GET", "url.path": "/orders/42", "server.address": "example", "network.protocol.version": "1.1"},
			})
		}
	}
	return makeTraces(specs...)
}

// warmUp runs the benchmark traffic through 90 simulated minutes, so that the auto
// latency SLOs have learned their baseline and judge every span as in steady state.
func warmUp(b testing.TB, h *harness, td ptrace.Traces) {
	for i := 0; i < 90; i++ {
		for j := 0; j < 3; j++ {
			h.send(td)
		}
		h.step(time.Minute)
	}
	for _, s := range h.p.slos {
		if s.learner != nil && s.learner.learning() {
			b.Fatalf("SLO %s still learning after warm-up", s.cfg.Name)
		}
	}
	h.msink.Reset()
	h.spans.Reset()
}

// allocsPerSpan counts heap allocations per span of consume in steady state.
func allocsPerSpan(spans int, consume func() error) float64 {
	return testing.AllocsPerRun(200, func() { _ = consume() }) / float64(spans)
}

// BenchmarkSpanCost measures slo_burn's cost per span with 20 SLOs against the stock
// spanmetrics connector's cost per span on the same batches, in the same run. The two are
// interleaved batch by batch so that load from other processes on a shared machine hits
// both alike; the ratio is the robust figure.
//
//	go test -run '^$' -bench BenchmarkSpanCost -benchtime 20000x -count 5 ./processor/sloburnprocessor/
func BenchmarkSpanCost(b *testing.B) {
	ctx := context.Background()
	td := benchTraces()
	spans := td.SpanCount()

	// slo_burn, through the processor as a pipeline calls it.
	h := newHarness(b, benchConfig(), nil)
	var traces consumer.Traces = h.traces
	warmUp(b, h, td)

	// spanmetrics connector, stock defaults.
	smf := spanmetricsconnector.NewFactory()
	sm, err := smf.CreateTracesToMetrics(ctx, connectortest.NewNopSettings(smf.Type()), smf.CreateDefaultConfig(), consumertest.NewNop())
	require.NoError(b, err)
	require.NoError(b, sm.Start(ctx, componenttest.NewNopHost()))
	defer func() { require.NoError(b, sm.Shutdown(ctx)) }()
	for i := 0; i < 200; i++ {
		require.NoError(b, sm.ConsumeTraces(ctx, td))
	}

	sloAllocs := allocsPerSpan(spans, func() error { return traces.ConsumeTraces(ctx, td) })
	smAllocs := allocsPerSpan(spans, func() error { return sm.ConsumeTraces(ctx, td) })

	var sloTime, smTime time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		t0 := time.Now()
		if err := traces.ConsumeTraces(ctx, td); err != nil {
			b.Fatal(err)
		}
		t1 := time.Now()
		if err := sm.ConsumeTraces(ctx, td); err != nil {
			b.Fatal(err)
		}
		t2 := time.Now()
		sloTime += t1.Sub(t0)
		smTime += t2.Sub(t1)
	}
	b.StopTimer()

	n := float64(b.N * spans)
	sloNs, smNs := float64(sloTime.Nanoseconds())/n, float64(smTime.Nanoseconds())/n
	b.ReportMetric(sloNs, "ns/span")
	b.ReportMetric(sloAllocs, "allocs/span")
	b.ReportMetric(smNs, "spanmetrics-ns/span")
	b.ReportMetric(smAllocs, "spanmetrics-allocs/span")
	b.ReportMetric(sloNs/smNs, "ratio-vs-spanmetrics")
}

// BenchmarkObserveSpans is slo_burn's hot path alone (no pipeline wrapper), per batch.
//
//	go test -run '^$' -bench BenchmarkObserveSpans ./processor/sloburnprocessor/
func BenchmarkObserveSpans(b *testing.B) {
	ctx := context.Background()
	td := benchTraces()
	h := newHarness(b, benchConfig(), nil)
	warmUp(b, h, td)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		_, _ = h.p.processTraces(ctx, td)
	}
	b.StopTimer()
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*td.SpanCount()), "ns/span")
}

// perTraceState gives every 4 consecutive spans (one trace) their own tracestate as
// consistent probability sampling writes it: the same threshold (th:c, sampled at 25%,
// adjusted count 4) and a randomness value rv that differs from trace to trace.
func perTraceState(i int) string {
	return fmt.Sprintf("ot=th:c;rv:%014x", (uint64(i/4)+1)*0x9e3779b97f4a7c&(1<<56-1))
}

// cpuTime is the process's user+system CPU time.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkSpanCostVariants measures slo_burn's cost per span (20 SLOs, batches of 100)
// with per-trace tracestate values and with several goroutines calling ConsumeTraces at
// once, each next to the plain figure of BenchmarkSpanCost (no tracestate, one goroutine)
// measured in the same run, in alternating rounds of 50 batches so that load from other
// processes hits both alike. ns/span is wall time per span (with G goroutines, G batches
// are in flight at once: throughput); cpu-ns/span is process CPU time per span.
//
//	go test -run '^$' -bench BenchmarkSpanCostVariants -benchtime 20000x -count 3 ./processor/sloburnprocessor/
func BenchmarkSpanCostVariants(b *testing.B) {
	variants := []struct {
		name       string
		state      func(int) string
		goroutines int
	}{
		{"tracestate=per-trace-rv/goroutines=1", perTraceState, 1},
		{"tracestate=none/goroutines=4", nil, 4},
		{"tracestate=per-trace-rv/goroutines=4", perTraceState, 4},
	}
	for _, v := range variants {
		b.Run(v.name, func(b *testing.B) {
			ctx := context.Background()
			base := benchTraces()
			spans := base.SpanCount()
			h := newHarness(b, benchConfig(), nil)
			warmUp(b, h, base)
			var traces consumer.Traces = h.traces
			tds := make([]ptrace.Traces, v.goroutines)
			for g := range tds {
				tds[g] = benchTracesWithState(v.state)
			}
			baseAllocs := allocsPerSpan(spans, func() error { return traces.ConsumeTraces(ctx, base) })
			allocs := allocsPerSpan(spans, func() error { return traces.ConsumeTraces(ctx, tds[0]) })

			const round = 10
			var baseWall, baseCPU, wall, cpu time.Duration
			var baseBatches, batches int
			consume := func(td ptrace.Traces) {
				for i := 0; i < round; i++ {
					if err := traces.ConsumeTraces(ctx, td); err != nil {
						b.Error(err)
						return
					}
				}
			}
			plainRound := func() {
				t0, c0 := time.Now(), cpuTime()
				consume(base)
				baseWall, baseCPU, baseBatches = baseWall+time.Since(t0), baseCPU+cpuTime()-c0, baseBatches+round
			}
			variantRound := func() {
				t0, c0 := time.Now(), cpuTime()
				if len(tds) == 1 {
					consume(tds[0]) // on this goroutine, like the plain rounds
				} else {
					var wg sync.WaitGroup
					for _, td := range tds {
						wg.Add(1)
						go func() {
							defer wg.Done()
							consume(td)
						}()
					}
					wg.Wait()
				}
				wall, cpu, batches = wall+time.Since(t0), cpu+cpuTime()-c0, batches+round*len(tds)
			}
			b.ResetTimer()
			for n := 0; n*round < b.N; n++ {
				h.spans.Reset()
				// Alternate which goes first: on a shared machine the second of two
				// back-to-back phases is the likelier to be preempted.
				if n%2 == 0 {
					plainRound()
					variantRound()
				} else {
					variantRound()
					plainRound()
				}
			}
			b.StopTimer()
			perSpan := func(d time.Duration, n int) float64 { return float64(d.Nanoseconds()) / float64(n*spans) }
			b.ReportMetric(perSpan(wall, batches), "ns/span")
			b.ReportMetric(perSpan(cpu, batches), "cpu-ns/span")
			b.ReportMetric(allocs, "allocs/span")
			b.ReportMetric(perSpan(baseWall, baseBatches), "plain-ns/span")
			b.ReportMetric(perSpan(baseCPU, baseBatches), "plain-cpu-ns/span")
			b.ReportMetric(baseAllocs, "plain-allocs/span")
			b.ReportMetric(perSpan(wall, batches)/perSpan(baseWall, baseBatches), "ratio-vs-plain")
			b.ReportMetric(perSpan(cpu, batches)/perSpan(baseCPU, baseBatches), "cpu-ratio-vs-plain")
		})
	}
}
