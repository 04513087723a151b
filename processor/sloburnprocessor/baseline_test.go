package sloburnprocessor

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

// latencyTraffic drives days of simulated server spans of one service through a harness.
// Durations are lognormal (σ = 0.5) around a median the scenario sets per step, and the
// request rate follows a daily cycle (0.5× to 1.5× the base rate).
type latencyTraffic struct {
	h      *harness
	rng    *rand.Rand
	td     ptrace.Traces
	spans  ptrace.SpanSlice
	base   int
	alerts []alertSummary
	// onSpan, when set, sees every selected span's duration and its time since epoch.
	onSpan func(at, d time.Duration)
}

type alertSummary struct {
	at            time.Duration // since epoch
	tier, state   string
	severity      string
	burnL, burnSh float64
}

const trafficSigma = 0.5

func newLatencyTraffic(h *harness, service string, basePerStep int, seed uint64) *latencyTraffic {
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	rs.Resource().Attributes().PutStr("service.name", service)
	spans := rs.ScopeSpans().AppendEmpty().Spans()
	for i := 0; i < basePerStep*3/2+1; i++ {
		s := spans.AppendEmpty()
		s.SetName("GET /search")
		s.SetStartTimestamp(pcommon.Timestamp(epoch.UnixNano()))
		s.Attributes().PutInt(attrHTTPResponseStatus, 200)
	}
	return &latencyTraffic{h: h, rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)), td: td, spans: spans, base: basePerStep}
}

// diurnal is the daily cycle of latency (±15%) and traffic (±50%) at a time since epoch.
func diurnal(at time.Duration, amplitude float64) float64 {
	return 1 + amplitude*math.Sin(2*math.Pi*float64(at)/float64(day))
}

// run sends one batch per step until the simulated clock reaches until (since epoch), the
// median latency at each step given by median.
func (l *latencyTraffic) run(until, step time.Duration, median func(at time.Duration) time.Duration) {
	h := l.h
	for i := 0; h.clock.Since0() < until; i++ {
		at := h.clock.Since0()
		n := int(math.Round(float64(l.base) * diurnal(at, 0.5)))
		m := float64(median(at))
		for j := 0; j < l.spans.Len(); j++ {
			s := l.spans.At(j)
			if j >= n {
				s.SetKind(ptrace.SpanKindInternal) // not selected: this step has fewer requests
				continue
			}
			s.SetKind(ptrace.SpanKindServer)
			d := time.Duration(m * math.Exp(trafficSigma*l.rng.NormFloat64()))
			s.SetEndTimestamp(pcommon.Timestamp(epoch.UnixNano() + int64(d)))
			if l.onSpan != nil {
				l.onSpan(at, d)
			}
		}
		h.send(l.td)
		if i%500 == 0 && until-at > 10*step {
			h.msink.Reset()
			h.spans.Reset()
		}
		h.step(step)
		for _, lr := range alertRecords(h.lsink) {
			long, _ := lr.Attributes().Get("annotation.burn_rate_long")
			short, _ := lr.Attributes().Get("annotation.burn_rate_short")
			l.alerts = append(l.alerts, alertSummary{
				at: lr.Timestamp().AsTime().Sub(epoch), tier: attrStr(lr, "tier"), state: attrStr(lr, "alert.state"),
				severity: attrStr(lr, "severity"), burnL: long.Double(), burnSh: short.Double(),
			})
		}
		h.lsink.Reset()
	}
}

func steadyMedian(at time.Duration) time.Duration {
	return time.Duration(float64(20*time.Millisecond) * diurnal(at, 0.15))
}

func autoSLO(name string, objective, percentile float64) SLOConfig {
	return SLOConfig{Name: name, Service: "search", Objective: objective, Period: Duration(30 * day),
		SLI: SLIConfig{Latency: &LatencySLI{Threshold: LatencyThreshold{Auto: true}, Percentile: percentile}}}
}

func autoHarness(t *testing.T, slo SLOConfig) *harness {
	cfg := testConfig(slo)
	cfg.EmitInterval = time.Minute
	return newHarness(t, cfg, nil)
}

// Days of steady, healthy traffic (daily cycles of latency and load) with the default
// baseline: nothing is judged and nothing alerts during the 7-day learning period; after
// it, no tier ever fires and the burn rate over whole days is the one the percentile
// implies, (100 - percentile)/(100 - objective).
func TestAutoSteadyTrafficNoAlertBurnAsExpected(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name                  string
		objective, percentile float64 // percentile 0: the default
		perStep               int
		want                  float64
	}{
		{name: "objective 99, default percentile 99.9", objective: 99, perStep: 30, want: 0.1},
		{name: "objective 99.9, default percentile 99.99", objective: 99.9, perStep: 100, want: 0.1},
		{name: "objective 99, percentile 99.5", objective: 99, percentile: 99.5, perStep: 30, want: 0.5},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := autoHarness(t, autoSLO("search-latency", tt.objective, tt.percentile))
			tr := newLatencyTraffic(h, "search", tt.perStep, uint64(i+1))

			tr.run(6*day+23*time.Hour, 10*time.Second, steadyMedian)
			assert.Equal(t, 1.0, mustPoint(t, h, "slo.latency.learning", "slo", "search-latency"), "still learning before 7d")
			_, ok := lastPoint(t, h.msink, "slo.burn_rate", map[string]string{"slo": "search-latency"})
			assert.False(t, ok, "no burn rate while learning")
			assert.Equal(t, 0.0, mustPoint(t, h, "slo.events", "slo", "search-latency", "event", "total"), "nothing judged while learning")

			// The first threshold comes at the first daily update after a full 7d.
			tr.run(8*day+time.Minute, 10*time.Second, steadyMedian)
			assert.Equal(t, 0.0, mustPoint(t, h, "slo.latency.learning", "slo", "search-latency"), "learned at the first update after 7d")

			tr.run(12*day, 10*time.Second, steadyMedian)
			assert.Empty(t, tr.alerts, "steady healthy traffic must not alert")
			assert.Equal(t, 0.0, mustPoint(t, h, "slo.latency.learning", "slo", "search-latency"))
			burn3d := mustPoint(t, h, "slo.burn_rate", "slo", "search-latency", "window", "3d")
			burn1d := mustPoint(t, h, "slo.burn_rate", "slo", "search-latency", "window", "1d")
			t.Logf("threshold %.1f ms, burn 1d %.3f, 3d %.3f, expected %.3f",
				1000*mustPoint(t, h, "slo.latency.threshold", "slo", "search-latency"), burn1d, burn3d, tt.want)
			assert.InEpsilon(t, tt.want, burn3d, 0.2, "3d burn rate")
			assert.InEpsilon(t, tt.want, burn1d, 0.3, "1d burn rate")
		})
	}
}

// A real latency regression after the baseline is learned fires the tier its burn rate
// calls for, and none of the faster page tiers it should not reach; the threshold
// does not learn the regression (it is frozen while a tier fires and the burning slots
// never enter the baseline); after recovery every tier resolves.
func TestAutoRegressionFiresExpectedTier(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		factor     float64 // median latency multiplied by this from day 8
		want       string  // the tier that must fire (label, or severity when any of its tiers will do)
		neverFires []string
		within     time.Duration // want fires within this of the regression's start
	}{
		// Threshold ≈ p99.9 ≈ 4.7× the median. 3.5×: ~28% slow, burn ~28 > 14.4.
		{name: "3.5x", factor: 3.5, want: "1h/5m", within: time.Hour},
		// 2.5×: ~10% slow, burn ~10: the 6h/30m page tier, never the 14.4 one.
		{name: "2.5x", factor: 2.5, want: "6h/30m", neverFires: []string{"1h/5m"}, within: 6 * time.Hour},
		// 2×: ~4.4% slow, burn ~4.4: a ticket (1d/2h or 3d/6h), never a page.
		{name: "2x", factor: 2, want: "ticket", neverFires: []string{"1h/5m", "6h/30m"}, within: day},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := autoHarness(t, autoSLO("search-latency", 99, 0))
			tr := newLatencyTraffic(h, "search", 30, uint64(100+i))
			start := 9 * day // learned at 8d (7d period, then the next daily update)
			tr.run(start, 10*time.Second, steadyMedian)
			require.Empty(t, tr.alerts)
			before := mustPoint(t, h, "slo.latency.threshold", "slo", "search-latency")
			regressed := func(at time.Duration) time.Duration {
				return time.Duration(float64(steadyMedian(at)) * tt.factor)
			}
			tr.run(start+2*day, 10*time.Second, regressed)
			during := mustPoint(t, h, "slo.latency.threshold", "slo", "search-latency")
			tr.run(start+6*day, 10*time.Second, steadyMedian)
			after := mustPoint(t, h, "slo.latency.threshold", "slo", "search-latency")
			for _, a := range tr.alerts {
				t.Logf("%v %s %s %s long %.2f short %.2f", a.at-start, a.tier, a.severity, a.state, a.burnL, a.burnSh)
			}
			t.Logf("threshold before %.1f ms, after 2 days of regression %.1f ms, after recovery %.1f ms", before*1000, during*1000, after*1000)

			fired := false
			for _, a := range tr.alerts {
				if a.state == "firing" && (a.tier == tt.want || a.severity == tt.want) {
					assert.Less(t, a.at-start, tt.within, "%s fired late", tt.want)
					fired = true
					break
				}
			}
			assert.True(t, fired, "the regression must fire %s", tt.want)
			open := map[string]int{}
			for _, a := range tr.alerts {
				assert.NotContains(t, tt.neverFires, a.tier, "tier %s fired at %v", a.tier, a.at-start)
				if a.state == "firing" {
					open[a.tier]++
				} else {
					open[a.tier]--
				}
			}
			for tier, n := range open {
				assert.Equal(t, 0, n, "tier %s still firing after recovery", tier)
			}
			assert.InEpsilon(t, before, during, 0.05, "the regression must not raise the threshold")
			assert.InEpsilon(t, before, after, 0.05, "the regression must not enter the baseline")
		})
	}
}

// A slow drift of healthy latency (the median doubling over four weeks, with the daily
// cycle on top) is followed by the learned threshold without any alert. The drift is
// large enough to matter: judged against the first learned threshold, the last 3 days
// would burn at least 3× their budget and page or ticket.
func TestAutoSlowDriftFollowedWithoutAlerts(t *testing.T) {
	t.Parallel()
	h := autoHarness(t, autoSLO("search-latency", 99, 0))
	tr := newLatencyTraffic(h, "search", 20, 7)
	learnedBy := 8*day + time.Minute
	tr.run(learnedBy, 30*time.Second, steadyMedian)
	initial := mustPoint(t, h, "slo.latency.threshold", "slo", "search-latency")

	const weeks = 4
	drifting := func(at time.Duration) time.Duration {
		growth := math.Pow(2, float64(at-learnedBy)/float64(weeks*week))
		return time.Duration(float64(steadyMedian(at)) * growth)
	}
	end := learnedBy + weeks*week
	var late, lateOver float64
	tr.onSpan = func(at, d time.Duration) {
		if at >= end-3*day {
			late++
			if d.Seconds() > initial {
				lateOver++
			}
		}
	}
	tr.run(end, 30*time.Second, drifting)
	final := mustPoint(t, h, "slo.latency.threshold", "slo", "search-latency")
	burn3d := mustPoint(t, h, "slo.burn_rate", "slo", "search-latency", "window", "3d")
	staticBurn := lateOver / late / 0.01
	t.Logf("threshold %.1f → %.1f ms (median ×2); burn 3d %.3f; the first threshold kept would burn %.2f", initial*1000, final*1000, burn3d, staticBurn)

	assert.Empty(t, tr.alerts, "a slow drift must be followed without alerts")
	assert.GreaterOrEqual(t, staticBurn, 3.0, "the drift is too small to prove anything")
	assert.InDelta(t, 2*initial*0.9, final, 0.15*initial, "threshold follows the doubled median, lagging by a few days")
	assert.Less(t, burn3d, 0.5)
}

// testBaseline is a baseline of 4 one-hour slots at percentile 99 for objective 90.
func testBaseline(t *testing.T) *latencyBaseline {
	l := &LatencySLI{Threshold: LatencyThreshold{Auto: true}, Percentile: 99,
		Baseline: BaselineConfig{Period: Duration(4 * time.Hour), UpdateInterval: Duration(time.Hour), MinSamples: 100}}
	require.NoError(t, validateLatency("sli.latency", l, 90))
	return newLatencyBaseline(l, 90)
}

// learnBaseline learns 10 ms over slots 0-4: the first threshold comes at the end of
// slot 4, the first update after a full period since the start at slot 0.
func learnBaseline(t *testing.T, b *latencyBaseline) {
	b.flush(1, false)
	for slot := int64(0); slot < 5; slot++ {
		require.True(t, b.learning(), "learned before a full period, at slot %d", slot)
		feedSlot(b, slot, false, repeat(10*time.Millisecond, 200)...)
	}
	require.False(t, b.learning())
	require.InEpsilon(t, float64(10*time.Millisecond), float64(b.threshold), 0.07)
}

// feedSlot feeds one slot of events (judging them when learned) and closes it at its end.
func feedSlot(b *latencyBaseline, slot int64, firing bool, durations ...time.Duration) {
	for _, d := range durations {
		b.observe(int64(d), 1)
		if !b.learning() {
			b.judged(int64(d) <= b.threshold, 1)
		}
	}
	b.flush((slot+1)*int64(time.Hour), firing)
}

func repeat(d time.Duration, n int) []time.Duration {
	out := make([]time.Duration, n)
	for i := range out {
		out[i] = d
	}
	return out
}

func committedAbove(b *latencyBaseline, d time.Duration) float64 {
	n := 0.0
	for i := range b.committed {
		for j := latencyBucket(int64(d)); j < latencyBuckets; j++ {
			n += b.committed[i][j]
		}
	}
	return n
}

// A closed slot enters the baseline only once the slot after it is healthy too: the
// first minutes of a regression, in a slot that itself stayed within budget, are kept out
// when the next slot burns.
func TestBaselineHoldsASlotUntilTheNextIsHealthy(t *testing.T) {
	t.Parallel()
	b := testBaseline(t)
	learnBaseline(t, b)
	learned := b.threshold
	// Slot 5: within budget (5% slow of a 10% budget), but the regression has begun.
	feedSlot(b, 5, false, append(repeat(10*time.Millisecond, 190), repeat(100*time.Millisecond, 10)...)...)
	// Slot 6: the regression burns (100% slow).
	feedSlot(b, 6, false, repeat(100*time.Millisecond, 200)...)
	// Slots 7-10: healthy again.
	for slot := int64(7); slot < 11; slot++ {
		feedSlot(b, slot, false, repeat(10*time.Millisecond, 200)...)
		assert.Zero(t, committedAbove(b, 50*time.Millisecond), "slot %d: no slow event may enter the baseline", slot)
		assert.Equal(t, learned, b.threshold)
	}

	// Control: the same slot 4 followed by a healthy slot is committed.
	feedSlot(b, 11, false, append(repeat(10*time.Millisecond, 190), repeat(100*time.Millisecond, 10)...)...)
	feedSlot(b, 12, false, repeat(10*time.Millisecond, 200)...)
	assert.Equal(t, 10.0, committedAbove(b, 50*time.Millisecond))
}

// While a tier fires the threshold is not updated and the slot is not learned, even if
// its data would move the percentile.
func TestBaselineFrozenWhileFiring(t *testing.T) {
	t.Parallel()
	b := testBaseline(t)
	learnBaseline(t, b)
	learned := b.threshold
	// Slightly faster traffic, all within the threshold, while a tier fires (e.g. after a
	// burst of slow events).
	for slot := int64(5); slot < 9; slot++ {
		feedSlot(b, slot, true, repeat(9*time.Millisecond, 200)...)
		assert.Equal(t, learned, b.threshold, "slot %d: updated while firing", slot)
	}
	assert.Zero(t, committedAbove(b, 0)-4*200, "slots with a firing tier are not learned")
	// Control: once nothing fires, the same traffic is learned and moves the threshold.
	for slot := int64(9); slot < 15; slot++ {
		feedSlot(b, slot, false, repeat(9*time.Millisecond, 200)...)
	}
	assert.Less(t, b.threshold, learned)
}

// Below min_samples over the period the baseline keeps learning; the SLO stays silent.
func TestBaselineNeedsMinSamples(t *testing.T) {
	t.Parallel()
	b := testBaseline(t)
	b.flush(1, false)
	for slot := int64(0); slot < 8; slot++ {
		feedSlot(b, slot, false, repeat(10*time.Millisecond, 20)...) // 80 per period < 100
	}
	assert.True(t, b.learning())
	for slot := int64(8); slot < 10; slot++ {
		feedSlot(b, slot, false, repeat(10*time.Millisecond, 60)...)
	}
	assert.False(t, b.learning(), "learned once the last period holds 160 ≥ 100 events")
}

// A baseline survives a save and restore whole (threshold, committed and held slots,
// the slot being filled); state written by the earlier trailing-window learner (layout
// 0) or for another slot width is not taken, so that SLO learns afresh.
func TestBaselineStoredRoundTrip(t *testing.T) {
	t.Parallel()
	b := testBaseline(t)
	learnBaseline(t, b)
	feedSlot(b, 5, false, repeat(12*time.Millisecond, 150)...)
	b.observe(int64(11*time.Millisecond), 3)
	b.judged(true, 3)

	raw, err := json.Marshal(b.stored())
	require.NoError(t, err)
	var sl storedLearner
	require.NoError(t, json.Unmarshal(raw, &sl))
	restored := testBaseline(t)
	require.True(t, restored.restore(&sl))
	assert.Equal(t, b, restored)

	old := sl
	old.Layout = 0
	assert.False(t, testBaseline(t).restore(&old))
	other := sl
	other.SlotWidth = int64(2 * time.Hour)
	assert.False(t, testBaseline(t).restore(&other))
	assert.False(t, testBaseline(t).restore(nil))
}
