package sloburnprocessor

import (
	"context"
	"fmt"
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
func benchTraces() ptrace.Traces {
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
			specs = append(specs, spanSpec{
				service: fmt.Sprintf("svc-%d", s), name: "GET " + route, route: route, httpStatus: code,
				duration: time.Duration(5+i*7) * time.Millisecond,
				attrs:    map[string]any{"http.request.method": "GET", "url.path": "/orders/42", "server.address": "example", "network.protocol.version": "1.1"},
			})
		}
	}
	return makeTraces(specs...)
}

// warmUp runs the benchmark traffic through 90 simulated minutes, so that the auto
// latency SLOs have learned their baseline and judge every span as in steady state.
func warmUp(b *testing.B, h *harness, td ptrace.Traces) {
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
