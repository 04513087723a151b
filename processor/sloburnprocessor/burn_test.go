package sloburnprocessor

import (
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/plog"
)

// eventLog keeps the test's own per-second counts to compute exact window ratios.
type eventLog struct {
	sec         []int64
	good, total []float64
}

func (e *eventLog) add(at time.Duration, good, total float64) {
	e.sec = append(e.sec, int64(at/time.Second))
	e.good = append(e.good, good)
	e.total = append(e.total, total)
}

// ratio is the exact error ratio over (now-w, now].
func (e *eventLog) ratio(now, w time.Duration) float64 {
	var g, t float64
	lo, hi := int64((now-w)/time.Second), int64(now/time.Second)
	for i, s := range e.sec {
		if s > lo && s <= hi {
			g += e.good[i]
			t += e.total[i]
		}
	}
	return (t - g) / t
}

func withinRel(t *testing.T, want, got, rel float64, msg string) {
	t.Helper()
	assert.LessOrEqual(t, math.Abs(got-want), rel*math.Abs(want), "%s: want %v got %v (more than %.2f%% apart)", msg, want, got, rel*100)
}

// A generated stream with a known, changing error ratio: burn rates per window and the
// budget remaining are within 0.1% of the exact values computed from the stream.
func TestBurnRateAndBudgetMatchExact(t *testing.T) {
	const objective = 98.0 // allowed error ratio 2%
	cfg := testConfig(availabilitySLO("orders", "orders", objective))
	h := newHarness(t, cfg, nil)
	var log eventLog
	// Phase 1 (0-2h): 50 spans/s, 1% errors every second → burn 0.5.
	// Phase 2 (2h-2h30m): 200 spans/s, 3% errors → burn 1.5, and 4× the traffic, so a
	// traffic-weighted window differs clearly from an average of per-bucket ratios.
	for sec := 1; sec <= 9000; sec++ {
		n, bad := 100, 1
		if sec > 7200 {
			n, bad = 200, 6
		}
		h.send(goodBad("orders", n, bad))
		h.step(time.Second)
		log.add(h.clock.Since0(), float64(n-bad), float64(n))
	}
	now := h.clock.Since0()
	budget := 1 - objective/100
	for _, w := range []time.Duration{5 * time.Minute, 30 * time.Minute, time.Hour, 2 * time.Hour, 6 * time.Hour, day, 3 * day} {
		want := log.ratio(now, w) / budget
		got, ok := lastPoint(t, h.msink, "slo.burn_rate", map[string]string{"slo": "orders", "window": formatDuration(w)})
		require.True(t, ok, "no burn rate for window %s", w)
		withinRel(t, want, got, 0.001, "burn rate "+formatDuration(w))
	}
	// The 1h window straddles the phases: 30 min at 1% of 100/s and 30 min at 3% of 200/s.
	withinRel(t, (1800*1+1800*6)/(1800*100+1800*200.0)/budget, mustPoint(t, h, "slo.burn_rate", "window", "1h"), 0.001, "traffic-weighted 1h")

	wantRemaining := 1 - log.ratio(now, 30*day)/budget
	withinRel(t, wantRemaining, mustPoint(t, h, "slo.error_budget.remaining"), 0.001, "budget remaining")

	// Time to exhaustion at the current (shortest window) burn: remaining × period / burn.
	burn5m := mustPoint(t, h, "slo.burn_rate", "window", "5m")
	withinRel(t, wantRemaining*(30*day).Seconds()/burn5m, mustPoint(t, h, "slo.error_budget.time_to_exhaustion"), 0.001, "time to exhaustion")

	good, _ := lastPoint(t, h.msink, "slo.events", map[string]string{"slo": "orders", "event": "good"})
	total, _ := lastPoint(t, h.msink, "slo.events", map[string]string{"slo": "orders", "event": "total"})
	assert.Equal(t, 7200*99+1800*194.0, good)
	assert.Equal(t, 7200*100+1800*200.0, total)
	requireFinite(t, h.msink)
}

func mustPoint(t *testing.T, h *harness, name string, kv ...string) float64 {
	t.Helper()
	attrs := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		attrs[kv[i]] = kv[i+1]
	}
	v, ok := lastPoint(t, h.msink, name, attrs)
	require.True(t, ok, "no point for %s %v", name, attrs)
	return v
}

// A full outage at 99.9% fires the page tier (1h/5m at 14.4) within 60 s plus one emit
// interval of the outage's start, and the record follows docs/alerts.md.
func TestFullOutageFiresPageWithinAMinute(t *testing.T) {
	cfg := testConfig(availabilitySLO("checkout-availability", "checkout", 99.9))
	h := newHarness(t, cfg, nil)
	for sec := 0; sec < 7200; sec++ { // 2h of healthy traffic
		h.send(goodBad("checkout", 20, 0))
		h.step(time.Second)
	}
	require.Empty(t, alertRecords(h.lsink))
	outage := h.clock.Now()
	var fired time.Time
	for sec := 0; sec < 300 && fired.IsZero(); sec++ {
		h.send(goodBad("checkout", 20, 20))
		h.step(time.Second)
		for _, lr := range alertRecords(h.lsink) {
			if attrStr(lr, "tier") == "1h/5m" && attrStr(lr, "alert.state") == "firing" {
				fired = lr.Timestamp().AsTime()
			}
		}
	}
	require.False(t, fired.IsZero(), "page tier never fired")
	assert.LessOrEqual(t, fired.Sub(outage), time.Minute+cfg.EmitInterval)
	// 100% errors for t seconds in a 1h window of steady traffic burn 1000·t/3600: the
	// 14.4 threshold is crossed at t ≈ 52 s, so firing much earlier would be a bug too.
	assert.GreaterOrEqual(t, fired.Sub(outage), 45*time.Second)

	// With only 2h of history the longer tiers see the outage too; each tier reports its
	// state change exactly once.
	var lr plog.LogRecord
	perTier := map[string]int{}
	for _, r := range alertRecords(h.lsink) {
		perTier[attrStr(r, "tier")]++
		assert.Equal(t, "firing", attrStr(r, "alert.state"))
		if attrStr(r, "tier") == "1h/5m" {
			lr = r
		}
	}
	assert.Equal(t, 1, perTier["1h/5m"], "one record per state change")
	for tier, n := range perTier {
		assert.Equal(t, 1, n, "tier %s", tier)
	}
	assert.Equal(t, "otelcol_goebpf.alert", lr.EventName())
	assert.Equal(t, "WARN", lr.SeverityText())
	assert.Equal(t, "firing", attrStr(lr, "alert.state"))
	assert.Equal(t, "SLOBurnRate", attrStr(lr, "alertname"))
	assert.Equal(t, "checkout-availability", attrStr(lr, "slo"))
	assert.Equal(t, "checkout", attrStr(lr, "service"))
	assert.Equal(t, "page", attrStr(lr, "severity"))
	assert.Contains(t, lr.Body().Str(), "checkout-availability burning")
	assert.Contains(t, lr.Body().Str(), "(page, 1h/5m)")
	long, _ := lr.Attributes().Get("annotation.burn_rate_long")
	short, _ := lr.Attributes().Get("annotation.burn_rate_short")
	assert.GreaterOrEqual(t, long.Double(), 14.4)
	// t seconds of 100% errors in a 5m window of steady traffic burn 1000·t/300.
	assert.InEpsilon(t, 1000*fired.Sub(outage).Seconds()/300, short.Double(), 0.05)
	rem, ok := lr.Attributes().Get("annotation.error_budget_remaining")
	require.True(t, ok)
	// With 2h of history the period window already holds ~1% errors: overspent, so the
	// time to exhaustion is 0.
	assert.InEpsilon(t, 1-1000*fired.Sub(outage).Seconds()/(7200+fired.Sub(outage).Seconds()), rem.Double(), 0.05)
	tte, ok := lr.Attributes().Get("annotation.time_to_exhaustion_seconds")
	require.True(t, ok)
	assert.Equal(t, 0.0, tte.Double())
	// Contract: un-namespaced attributes are strings.
	lr.Attributes().Range(func(k string, v pcommonValue) bool {
		if !containsDot(k) || k == "alert.state" {
			assert.Equal(t, "Str", v.Type().String(), "label %s", k)
		}
		return true
	})
	assert.Equal(t, 1.0, mustPoint(t, h, "slo.alert.active", "tier", "1h/5m"))

	// Spans of the burning SLO are marked for samplers.
	h.spans.Reset()
	h.send(goodBad("checkout", 1, 0))
	sp := h.spans.AllTraces()[0].ResourceSpans().At(0).ScopeSpans().At(0).Spans().At(0)
	name, _ := sp.Attributes().Get("slo.name")
	burning, _ := sp.Attributes().Get("slo.burning")
	assert.Equal(t, "checkout-availability", name.Str())
	assert.True(t, burning.Bool())
}

// 1% errors at 99.9% is a burn rate of 10: the 14.4 tier must never fire (the 6× tier does).
func TestOnePercentNeverFiresFastTier(t *testing.T) {
	cfg := testConfig(availabilitySLO("checkout-availability", "checkout", 99.9))
	h := newHarness(t, cfg, nil)
	rng := rand.New(rand.NewPCG(1, 2))
	for sec := 0; sec < 4*3600; sec++ {
		n := 50 + rng.IntN(100)
		bad := 0
		for i := 0; i < n; i++ {
			if rng.Float64() < 0.01 {
				bad++
			}
		}
		h.send(goodBad("checkout", n, bad))
		h.step(time.Second)
	}
	var tiers []string
	for _, lr := range alertRecords(h.lsink) {
		tiers = append(tiers, attrStr(lr, "tier")+" "+attrStr(lr, "alert.state"))
	}
	assert.NotContains(t, tiers, "1h/5m firing")
	assert.Contains(t, tiers, "6h/30m firing", "the 6x tier should fire at burn 10, or the test proves nothing")
	assert.InDelta(t, 10, mustPoint(t, h, "slo.burn_rate", "window", "1h"), 0.5)
	assert.Equal(t, 0.0, mustPoint(t, h, "slo.alert.active", "tier", "1h/5m"))
}

// No traffic at all, and traffic that stops: every emitted value is finite, burn is 0 and
// the budget untouched, and nothing fires.
func TestZeroTrafficEmitsNoNaN(t *testing.T) {
	lat := SLOConfig{Name: "lat", Service: "checkout", Objective: 99, Period: Duration(30 * day),
		SLI: SLIConfig{Latency: &LatencySLI{Threshold: LatencyThreshold{Value: 300 * time.Millisecond}}}}
	cfg := testConfig(availabilitySLO("avail", "checkout", 99.9), lat)
	h := newHarness(t, cfg, nil)
	for i := 0; i < 40; i++ {
		h.step(15 * time.Second)
	}
	require.NotEmpty(t, h.msink.AllMetrics())
	requireFinite(t, h.msink)
	assert.Equal(t, 0.0, mustPoint(t, h, "slo.burn_rate", "slo", "avail", "window", "5m"))
	assert.Equal(t, 1.0, mustPoint(t, h, "slo.error_budget.remaining", "slo", "avail"))
	_, ok := lastPoint(t, h.msink, "slo.error_budget.time_to_exhaustion", nil)
	assert.False(t, ok, "no time to exhaustion when nothing burns")

	// A burst of errors, then silence longer than every tier window.
	for i := 0; i < 30; i++ {
		h.send(goodBad("checkout", 10, 10))
		h.step(time.Second)
	}
	for i := 0; i < 4*24*60; i++ {
		h.step(time.Minute)
	}
	requireFinite(t, h.msink)
	assert.Equal(t, 0.0, mustPoint(t, h, "slo.burn_rate", "slo", "avail", "window", "3d"))
	// 300 failures and nothing else page; after days of silence every tier has resolved.
	state := map[string]int{}
	for _, lr := range alertRecords(h.lsink) {
		if attrStr(lr, "alert.state") == "firing" {
			state[attrStr(lr, "tier")]++
		} else {
			state[attrStr(lr, "tier")]--
		}
	}
	assert.Contains(t, state, "1h/5m")
	for tier, open := range state {
		assert.Equal(t, 0, open, "tier %s still firing after silence", tier)
	}
}

// Hysteresis: after firing, a burn just under the threshold (but above threshold ×
// resolve_ratio) keeps the alert; it resolves only after resolve_for below, once.
func TestResolveHysteresis(t *testing.T) {
	cfg := testConfig(availabilitySLO("a", "svc", 99))
	cfg.Alerting.Tiers = []TierConfig{{Severity: "page", Long: Duration(10 * time.Minute), Short: Duration(time.Minute), BurnRate: 10}}
	cfg.Alerting.ResolveRatio = 0.8
	cfg.Alerting.ResolveFor = 2 * time.Minute
	h := newHarness(t, cfg, nil)
	run := func(d time.Duration, n, bad int) {
		for i := time.Duration(0); i < d; i += time.Second {
			h.send(goodBad("svc", n, bad))
			h.step(time.Second)
		}
	}
	run(15*time.Minute, 100, 0)
	run(15*time.Minute, 100, 12) // burn 12 ≥ 10: fires
	require.Len(t, alertRecords(h.lsink), 1)
	run(30*time.Minute, 100, 9) // burn 9: below 10, above 8 — stays firing, no flap
	require.Len(t, alertRecords(h.lsink), 1, "burn between resolve and fire thresholds must not resolve")
	run(30*time.Minute, 100, 11) // back above: still one firing record
	require.Len(t, alertRecords(h.lsink), 1)
	start := h.clock.Now()
	run(30*time.Minute, 100, 0)
	recs := alertRecords(h.lsink)
	require.Len(t, recs, 2)
	firing, resolved := recs[0], recs[1]
	assert.Equal(t, "resolved", attrStr(resolved, "alert.state"))
	assert.Equal(t, "INFO", resolved.SeverityText())
	// The short (1m) window drops below 8 within a minute, then resolve_for (2m) passes.
	assert.WithinDuration(t, start.Add(3*time.Minute), resolved.Timestamp().AsTime(), 30*time.Second)
	for _, k := range []string{"alertname", "slo", "service", "severity", "tier"} {
		assert.Equal(t, attrStr(firing, k), attrStr(resolved, k), "label %s differs between firing and resolved", k)
	}
}

// The minimum-events guard keeps a handful of failures from firing.
func TestMinEventsGuard(t *testing.T) {
	cfg := testConfig(availabilitySLO("a", "svc", 99.9))
	cfg.Alerting.MinEvents = 100
	h := newHarness(t, cfg, nil)
	for i := 0; i < 50; i++ { // 50 failed requests over 50 minutes: every window < 100
		h.send(goodBad("svc", 1, 1))
		h.step(time.Minute)
	}
	assert.Empty(t, alertRecords(h.lsink))
	assert.InDelta(t, 1000, mustPoint(t, h, "slo.burn_rate", "window", "1h"), 1e-6, "the burn rate itself is still reported")
	for i := 0; i < 60; i++ {
		h.send(goodBad("svc", 2, 2))
		h.step(time.Second)
	}
	assert.NotEmpty(t, alertRecords(h.lsink), "fires once the windows hold enough events")
}
