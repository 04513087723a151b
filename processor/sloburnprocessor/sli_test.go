package sloburnprocessor

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

func TestSpanFailedSemconv(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		kind   ptrace.SpanKind
		status ptrace.StatusCode
		attrs  map[string]any
		want   bool
	}{
		{name: "server 200", kind: ptrace.SpanKindServer, attrs: map[string]any{attrHTTPResponseStatus: 200}},
		{name: "server 500", kind: ptrace.SpanKindServer, attrs: map[string]any{attrHTTPResponseStatus: 500}, want: true},
		{name: "server 503 status unset", kind: ptrace.SpanKindServer, attrs: map[string]any{attrHTTPResponseStatus: 503}, want: true},
		{name: "server 404", kind: ptrace.SpanKindServer, attrs: map[string]any{attrHTTPResponseStatus: 404}},
		{name: "server 429 with Error status", kind: ptrace.SpanKindServer, status: ptrace.StatusCodeError, attrs: map[string]any{attrHTTPResponseStatus: 429}},
		{name: "server 200 with Error status", kind: ptrace.SpanKindServer, status: ptrace.StatusCodeError, attrs: map[string]any{attrHTTPResponseStatus: 200}, want: true},
		{name: "server legacy string 502", kind: ptrace.SpanKindServer, attrs: map[string]any{attrHTTPStatusLegacy: "502"}, want: true},
		{name: "client 404", kind: ptrace.SpanKindClient, attrs: map[string]any{attrHTTPResponseStatus: 404}, want: true},
		{name: "client 200", kind: ptrace.SpanKindClient, attrs: map[string]any{attrHTTPResponseStatus: 200}},
		{name: "grpc server UNAVAILABLE", kind: ptrace.SpanKindServer, attrs: map[string]any{attrGRPCStatus: 14}, want: true},
		{name: "grpc server INTERNAL", kind: ptrace.SpanKindServer, attrs: map[string]any{attrGRPCStatus: 13}, want: true},
		{name: "grpc server NOT_FOUND with Error", kind: ptrace.SpanKindServer, status: ptrace.StatusCodeError, attrs: map[string]any{attrGRPCStatus: 5}},
		{name: "grpc server OK", kind: ptrace.SpanKindServer, attrs: map[string]any{attrGRPCStatus: 0}},
		{name: "grpc client NOT_FOUND", kind: ptrace.SpanKindClient, attrs: map[string]any{attrGRPCStatus: 5}, want: true},
		{name: "rpc.response.status_code name", kind: ptrace.SpanKindServer, attrs: map[string]any{attrRPCResponseStatus: "DEADLINE_EXCEEDED"}, want: true},
		{name: "rpc.response.status_code caller fault", kind: ptrace.SpanKindServer, attrs: map[string]any{attrRPCResponseStatus: "INVALID_ARGUMENT"}},
		{name: "internal span Error", kind: ptrace.SpanKindInternal, status: ptrace.StatusCodeError, want: true},
		{name: "internal span Ok", kind: ptrace.SpanKindInternal, status: ptrace.StatusCodeOk},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			td := makeTraces(spanSpec{service: "s", kind: tt.kind, status: tt.status, attrs: tt.attrs})
			span := td.ResourceSpans().At(0).ScopeSpans().At(0).Spans().At(0)
			assert.Equal(t, tt.want, spanFailed(span))
		})
	}
}

func TestAdjustedCount(t *testing.T) {
	t.Parallel()
	var a adjustedCounter
	assert.Equal(t, 1.0, a.count(""))
	assert.Equal(t, 2.0, a.count("ot=th:8"))          // rejection threshold 1/2: p = 0.5
	assert.Equal(t, 4.0, a.count("ot=th:c"))          // p = 0.25
	assert.Equal(t, 4.0, a.count("ot=th:c"))          // cached
	assert.Equal(t, 1.0, a.count("ot=th:0"))          // always sampled
	assert.Equal(t, 1.0, a.count("vendor=x"))         // no ot= entry
	assert.Equal(t, 1.0, a.count("ot=th:zz;bad"))     // malformed: counted once
	assert.Equal(t, 2.0, a.count("vendor=x,ot=th:8")) // ot among other vendors

	// Per-trace randomness values: the count follows th, whatever rv.
	assert.Equal(t, 4.0, a.count("ot=th:c;rv:0123456789abcd"))
	assert.Equal(t, 4.0, a.count("ot=th:c;rv:fedcba98765432"))
	assert.Equal(t, 4.0, a.count("ot=rv:00000000000001;th:c"))
	assert.Equal(t, 2.0, a.count("ot=th:8;rv:fedcba98765432"))
	assert.Equal(t, 2.0, a.count("ot=th:8;rv:0000000000ffff"))
	// Not the usual form, or invalid: parsed in full, as before.
	assert.Equal(t, 1.0, a.count("ot=th:8;rv:XYZ"))
	assert.Equal(t, 1.0, a.count("ot=th:zz;rv:0123456789abcd"))
	assert.Equal(t, 1.0, a.count("ot=th:zz;rv:0123456789abce"), "an invalid th is never cached")
	assert.Equal(t, 2.0, a.count("ot=th:8;rv:0123456789abcd;x:1"))
}

// Sampled spans count with their adjusted count in slo.events and the burn rate.
func TestSampledSpansCountAdjusted(t *testing.T) {
	cfg := testConfig(availabilitySLO("a", "svc", 99))
	h := newHarness(t, cfg, nil)
	var specs []spanSpec
	for i := 0; i < 10; i++ {
		specs = append(specs, spanSpec{service: "svc", httpStatus: 200, traceState: "ot=th:c"}) // 4 each
	}
	specs = append(specs, spanSpec{service: "svc", httpStatus: 500}) // 1
	h.send(makeTraces(specs...))
	h.step(15 * time.Second)
	assert.Equal(t, 41.0, mustPoint(t, h, "slo.events", "event", "total"))
	assert.Equal(t, 40.0, mustPoint(t, h, "slo.events", "event", "good"))
	assert.InDelta(t, (1.0/41)/0.01, mustPoint(t, h, "slo.burn_rate", "window", "5m"), 1e-9)
}

// Latency is judged against the exact threshold, not a bucket edge.
func TestLatencyExactThreshold(t *testing.T) {
	lat := SLOConfig{Name: "lat", Service: "svc", Objective: 99, Period: Duration(30 * day),
		SLI: SLIConfig{Latency: &LatencySLI{Threshold: LatencyThreshold{Value: 300 * time.Millisecond}}}}
	h := newHarness(t, testConfig(lat), nil)
	h.send(makeTraces(
		spanSpec{service: "svc", duration: 300 * time.Millisecond},
		spanSpec{service: "svc", duration: 300*time.Millisecond + time.Nanosecond},
		spanSpec{service: "svc", duration: time.Millisecond},
		spanSpec{service: "svc", duration: 2 * time.Second, httpStatus: 200},
	))
	h.step(15 * time.Second)
	assert.Equal(t, 4.0, mustPoint(t, h, "slo.events", "event", "total"))
	assert.Equal(t, 2.0, mustPoint(t, h, "slo.events", "event", "good"))
	assert.Equal(t, 0.3, mustPoint(t, h, "slo.latency.threshold", "source", "static"))
}

func TestSelection(t *testing.T) {
	cond := availabilitySLO("cond", "svc", 99)
	cond.Condition = `attributes["tenant"] == "gold"`
	route := availabilitySLO("route", "svc", 99)
	route.HTTPRoute = "/orders/{id}"
	name := availabilitySLO("name", "svc", 99)
	name.SpanName = "POST /pay"
	client := availabilitySLO("client", "svc", 99)
	client.SpanKind = "client"
	anyKind := availabilitySLO("any", "svc", 99)
	anyKind.SpanKind = "any"
	server := availabilitySLO("server", "svc", 99)
	other := availabilitySLO("other", "other", 99)
	h := newHarness(t, testConfig(cond, route, name, client, anyKind, server, other), nil)
	h.send(makeTraces(
		spanSpec{service: "svc", name: "GET /orders/{id}", route: "/orders/{id}", attrs: map[string]any{"tenant": "gold"}},
		spanSpec{service: "svc", name: "POST /pay", attrs: map[string]any{"tenant": "free"}},
		spanSpec{service: "svc", name: "POST /pay", kind: ptrace.SpanKindClient},
		spanSpec{service: "svc", name: "work", kind: ptrace.SpanKindInternal},
		spanSpec{service: "unknown", name: "GET /orders/{id}", route: "/orders/{id}"},
	))
	h.step(15 * time.Second)
	want := map[string]float64{"cond": 1, "route": 1, "name": 1, "client": 1, "any": 4, "server": 2}
	for slo, n := range want {
		assert.Equal(t, n, mustPoint(t, h, "slo.events", "slo", slo, "event", "total"), slo)
	}
	assert.Equal(t, 0.0, mustPoint(t, h, "slo.events", "slo", "other", "event", "total"))
}

// threshold: auto learns the configured percentile of a full baseline period, with a
// floor, publishes it, and until then judges nothing and says it is learning.
func TestAutoThreshold(t *testing.T) {
	baseline := BaselineConfig{Period: Duration(time.Hour), UpdateInterval: Duration(10 * time.Minute), MinSamples: 100}
	auto := SLOConfig{Name: "auto", Service: "svc", Objective: 80, Period: Duration(30 * day),
		SLI: SLIConfig{Latency: &LatencySLI{Threshold: LatencyThreshold{Auto: true}, Percentile: 90, Baseline: baseline}}}
	floored := auto
	floored.Name = "floored"
	floored.SLI = SLIConfig{Latency: &LatencySLI{Threshold: LatencyThreshold{Auto: true}, Percentile: 90, Floor: Duration(2 * time.Second), Baseline: baseline}}
	cfg := testConfig(auto, floored)
	cfg.Alerting.Tiers = []TierConfig{{Severity: "page", Long: Duration(10 * time.Minute), Short: Duration(time.Minute), BurnRate: 1.5}}
	h := newHarness(t, cfg, nil)

	uniform := func() ptrace.Traces {
		var specs []spanSpec
		for ms := 1; ms <= 1000; ms += 10 { // uniform 1..991 ms
			specs = append(specs, spanSpec{service: "svc", duration: time.Duration(ms) * time.Millisecond})
		}
		return makeTraces(specs...)
	}
	// A whole baseline period of traffic: nothing is judged, no threshold or burn rate is
	// published, and the SLO says it is learning.
	for h.clock.Since0() < time.Hour-time.Minute {
		h.send(uniform())
		h.step(time.Minute)
	}
	_, ok := lastPoint(t, h.msink, "slo.latency.threshold", map[string]string{"slo": "auto"})
	assert.False(t, ok, "no threshold while learning")
	_, ok = lastPoint(t, h.msink, "slo.burn_rate", map[string]string{"slo": "auto"})
	assert.False(t, ok, "no burn rate while learning")
	_, ok = lastPoint(t, h.msink, "slo.error_budget.remaining", map[string]string{"slo": "auto"})
	assert.False(t, ok, "no budget while learning")
	assert.Equal(t, 1.0, mustPoint(t, h, "slo.latency.learning", "slo", "auto"))
	assert.Equal(t, 0.0, mustPoint(t, h, "slo.events", "slo", "auto", "event", "total"))

	for h.clock.Since0() < 3*time.Hour {
		h.send(uniform())
		h.step(time.Minute)
	}
	assert.Equal(t, 0.0, mustPoint(t, h, "slo.latency.learning", "slo", "auto"))
	learned := mustPoint(t, h, "slo.latency.threshold", "slo", "auto", "source", "auto")
	// The 90th percentile of 1, 11, ..., 991 ms lies between 891 and 901 ms; the
	// histogram interpolates inside a 6.25%-wide bucket.
	assert.InDelta(t, 0.896, learned, 0.02)
	assert.Equal(t, 2.0, mustPoint(t, h, "slo.latency.threshold", "slo", "floored"))
	// Events are judged against the learned threshold: 10% bad, a burn rate of 0.5.
	good := mustPoint(t, h, "slo.events", "slo", "auto", "event", "good")
	total := mustPoint(t, h, "slo.events", "slo", "auto", "event", "total")
	require.Greater(t, total, 10000.0)
	assert.InDelta(t, 0.9, good/total, 0.01)
	assert.InDelta(t, 0.5, mustPoint(t, h, "slo.burn_rate", "slo", "auto", "window", "10m"), 0.05)
	assert.Equal(t, total, mustPoint(t, h, "slo.events", "slo", "floored", "event", "good"), "nothing exceeds the 2s floor")
	assert.Empty(t, alertRecords(h.lsink))
}

func TestLatencyBuckets(t *testing.T) {
	t.Parallel()
	prev := -1
	for _, ns := range []int64{0, 1, 15, 16, 17, 31, 32, 1000, 1 << 20, int64(time.Second), int64(time.Hour)} {
		idx := latencyBucket(ns)
		require.GreaterOrEqual(t, idx, prev, "monotonic at %d", ns)
		prev = idx
		assert.Greater(t, latencyBucketUpper(idx), ns, "upper bound above %d", ns)
		if idx > 0 {
			assert.LessOrEqual(t, latencyBucketUpper(idx-1), ns, "previous bucket ends at or below %d", ns)
		}
	}
	assert.Equal(t, latencyBuckets-1, latencyBucket(1<<62))
}
