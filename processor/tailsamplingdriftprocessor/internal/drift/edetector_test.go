package drift

import (
	"math"
	"math/rand/v2"
	"testing"
)

// Every error e-value has expectation at most 1 when the canary's events
// are a hypergeometric draw (cohorts alike), over the whole support: the
// property the false-alarm bound rests on. The cases cover both bounds
// being the smaller one (rare events; a canary taking most traffic).
func TestErrorFactorsExpectationUnderNull(t *testing.T) {
	t.Parallel()
	tests := []struct{ spans, canarySpans, events int }{
		{1000, 50, 1}, {1000, 50, 10}, {1000, 50, 500}, {5000, 250, 5},
		{200, 100, 150}, {20, 1, 19}, {100, 99, 50}, {100, 5, 95},
	}
	for _, tt := range tests {
		var expect [maxComponents]float64
		for x := 0; x <= tt.events; x++ {
			if x > tt.canarySpans || tt.events-x > tt.spans-tt.canarySpans {
				continue
			}
			p := math.Exp(logChoose(tt.canarySpans, x) + logChoose(tt.spans-tt.canarySpans, tt.events-x) - logChoose(tt.spans, tt.events))
			var logE [maxComponents]float64
			errorFactors(&logE, uint64(x), uint64(tt.events), uint64(tt.canarySpans), uint64(tt.spans))
			for i := range errorOdds {
				expect[i] += p * math.Exp(logE[i])
			}
		}
		for i, r := range errorOdds {
			if expect[i] > 1+1e-9 {
				t.Errorf("%+v, ρ=%v: E[e] = %v under the null, want ≤ 1", tt, r, expect[i])
			}
		}
	}
}

// The latency e-values have expectation at most 1 when the canary's spans
// are a uniform random subset of the interval's (multivariate
// hypergeometric over the four score classes), enumerated exactly.
func TestLatencyFactorsExpectationUnderNull(t *testing.T) {
	t.Parallel()
	tests := []struct {
		counts [maxGroups + 1]uint64
		nc     int
	}{
		{[4]uint64{5, 3, 2, 1}, 4}, {[4]uint64{50, 30, 15, 5}, 10}, {[4]uint64{2, 0, 0, 9}, 3},
		{[4]uint64{20, 16, 4, 1}, 40}, {[4]uint64{30, 24, 5, 1}, 1}, {[4]uint64{0, 0, 7, 0}, 5},
	}
	for _, tt := range tests {
		var n int
		for _, c := range tt.counts {
			n += int(c)
		}
		var expect [maxComponents]float64
		var total float64
		// Every way (c0, c1, c2, c3) of picking nc spans by class.
		for c0 := 0; c0 <= min(int(tt.counts[0]), tt.nc); c0++ {
			for c1 := 0; c1 <= min(int(tt.counts[1]), tt.nc-c0); c1++ {
				for c2 := 0; c2 <= min(int(tt.counts[2]), tt.nc-c0-c1); c2++ {
					c3 := tt.nc - c0 - c1 - c2
					if c3 > int(tt.counts[3]) {
						continue
					}
					lp := logChoose(int(tt.counts[0]), c0) + logChoose(int(tt.counts[1]), c1) + logChoose(int(tt.counts[2]), c2) + logChoose(int(tt.counts[3]), c3) - logChoose(n, tt.nc)
					p := math.Exp(lp)
					total += p
					var logE [maxComponents]float64
					latencyFactors(&logE, uint64(c1+2*c2+3*c3), uint64(tt.nc), &tt.counts)
					for i := range latencyOdds {
						expect[i] += p * math.Exp(logE[i])
					}
				}
			}
		}
		if math.Abs(total-1) > 1e-9 {
			t.Fatalf("%+v: enumeration covers probability %v", tt, total)
		}
		for i, r := range latencyOdds {
			if expect[i] > 1+1e-9 {
				t.Errorf("%+v, ρ=%v: E[e] = %v under the null, want ≤ 1", tt, r, expect[i])
			}
		}
	}
}

// nullLook draws one interval of two identical cohorts exactly: 200 spans
// of which 10 are the canary's (a uniform subset), scores and errors
// assigned to spans independently of cohort. It returns the e-values of
// both signals.
func nullLook(rng *rand.Rand, latency, errs *[maxComponents]float64) {
	const n, nc = 200, 10
	var counts [maxGroups + 1]uint64
	probs := [maxGroups + 1]float64{0.5, 0.4, 0.09, 0.01}
	for range n {
		u, k := rng.Float64(), 0
		for k < maxGroups && u >= probs[k] {
			u -= probs[k]
			k++
		}
		counts[k]++
	}
	// The canary's spans: nc drawn without replacement.
	left := counts
	remaining := uint64(n)
	var score uint64
	for range nc {
		r := rng.Uint64N(remaining)
		k := 0
		for r >= left[k] {
			r -= left[k]
			k++
		}
		left[k]--
		remaining--
		score += uint64(k)
	}
	latencyFactors(latency, score, nc, &counts)
	// Errors: each span fails with probability 0.01; which of the
	// failures are the canary's is a draw without replacement.
	events := poisson(rng, 2)
	var x uint64
	canaryLeft, spansLeft := uint64(nc), uint64(n)
	for range events {
		if rng.Uint64N(spansLeft) < canaryLeft {
			x++
			canaryLeft--
		}
		spansLeft--
	}
	errorFactors(errs, x, events, nc, n)
}

// Monte Carlo of the bound itself with an exact null: over a horizon of T
// looks each weighing 1/T, an e-detector reaches 1/α within the horizon in
// at most a fraction α of runs, and within three horizons in at most 3α.
// The same runs with every look weighing 1 (a statistic that forgets the
// past but ignores how often it is checked) alarm far more often, which
// shows the check can fail.
func TestEDetectorFalseAlarmBound(t *testing.T) {
	t.Parallel()
	const (
		alpha   = 0.1
		horizon = 100
	)
	runs := scaled(1000, 150)
	rng := rand.New(rand.NewPCG(21, 22))
	logThr := math.Log(1 / alpha)
	// Per signal (latency, errors): runs alarming within one and within
	// three horizons, and runs of the unweighted detector alarming within one.
	var alarms1, alarms3, unweighted [2]int
	for range runs {
		weighted := [2]eDetector{newEDetector(latencyOdds[:]), newEDetector(errorOdds[:])}
		plain := [2]eDetector{newEDetector(latencyOdds[:]), newEDetector(errorOdds[:])}
		var first, plainAlarm [2]bool
		for look := range 3 * horizon {
			var logE [2][maxComponents]float64
			nullLook(rng, &logE[0], &logE[1])
			for sig := range 2 {
				weighted[sig].update(-math.Log(horizon), &logE[sig], logThr)
				plain[sig].update(0, &logE[sig], logThr)
				if !first[sig] && weighted[sig].logValue() >= logThr {
					first[sig] = true
					alarms3[sig]++
					if look < horizon {
						alarms1[sig]++
					}
				}
				if look < horizon && !plainAlarm[sig] && plain[sig].logValue() >= logThr {
					plainAlarm[sig] = true
					unweighted[sig]++
				}
			}
		}
	}
	se := func(p float64) float64 { return 3 * math.Sqrt(p*(1-p)/float64(runs)) }
	for sig, name := range []string{"latency", "errors"} {
		r1, r3, ru := float64(alarms1[sig])/float64(runs), float64(alarms3[sig])/float64(runs), float64(unweighted[sig])/float64(runs)
		t.Logf("%s, %d runs: alarm within 1 horizon %.4f (bound %v), within 3 %.4f (bound %v); unweighted looks %.3f", name, runs, r1, alpha, r3, 3*alpha, ru)
		if r1 > alpha+se(alpha) || r3 > 3*alpha+se(3*alpha) {
			t.Errorf("%s: false-alarm rate above the bound", name)
		}
		if ru < 3*alpha {
			t.Errorf("%s: unweighted looks alarmed in %.3f of runs: the Monte Carlo cannot tell a broken bound", name, ru)
		}
	}
}

// The statistic forgets: after a long healthy stretch it sits near the
// weight of one look whatever came before, a drift drives it up at once,
// the ceiling bounds what a long drift piles up, and after recovery the
// statistic falls back below 0 within minutes.
func TestEDetectorForgetsAndDrains(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(31, 32))
	logW := math.Log(5.0 / 86400)
	logThr := math.Log(100)
	e := newEDetector(errorOdds[:])
	var logE [maxComponents]float64
	step := func(canaryRate float64) {
		x := poisson(rng, 250*canaryRate)
		y := poisson(rng, 4750*0.001)
		errorFactors(&logE, x, x+y, 250, 5000)
		e.update(logW, &logE, logThr)
	}
	for range 720 { // one hour healthy
		step(0.001)
	}
	afterHour := e.logValue()
	for range 720 * 5 { // five more
		step(0.001)
	}
	afterSix := e.logValue()
	for _, v := range []float64{afterHour, afterSix} {
		if v > logW+6 || v < logW-6 {
			t.Errorf("healthy statistic %v, want near the look weight %v", v, logW)
		}
	}
	looks := 0
	for e.logValue() < logThr {
		step(0.01)
		looks++
		if looks > 100 {
			t.Fatal("10× errors not detected within 100 looks")
		}
	}
	for range 720 { // an hour of drift
		step(0.01)
	}
	if ceil := e.stateCeiling(logThr); e.logValue() > ceil {
		t.Errorf("statistic %v above the ceiling %v after an hour of drift", e.logValue(), ceil)
	}
	drain := 0
	for e.logValue() >= 0 {
		step(0.001)
		drain++
		if drain > 720 {
			t.Fatal("statistic still ≥ 0 an hour after recovery")
		}
	}
	t.Logf("detected after %d looks; after an hour of drift, back below 0 in %d looks", looks, drain)
}

// A canary that is better lowers every alternative's statistic.
func TestFactorsDirection(t *testing.T) {
	t.Parallel()
	var logE [maxComponents]float64
	errorFactors(&logE, 0, 20, 250, 5000) // none of 20 errors is the canary's
	for i, r := range errorOdds {
		if logE[i] >= 0 {
			t.Errorf("errors, ρ=%v: log e %v for a canary without errors, want < 0", r, logE[i])
		}
	}
	counts := [maxGroups + 1]uint64{2500, 2000, 450, 50}
	latencyFactors(&logE, 50, 250, &counts) // canary scores 0.2 per span, pool 0.61
	for i, r := range latencyOdds {
		if logE[i] >= 0 {
			t.Errorf("latency, ρ=%v: log e %v for a faster canary, want < 0", r, logE[i])
		}
	}
	// Nothing to compare leaves the statistic alone (e = 1).
	errorFactors(&logE, 0, 0, 250, 5000)
	latencyFactors(&logE, 0, 0, &counts)
	for i := range logE {
		if logE[i] != 0 {
			t.Fatalf("empty interval gave log e %v", logE[i])
		}
	}
}

// Adding a look's weight only when the canary had an error in it (the change
// points worth summing over, since evidence only grows at an error) would
// keep the bound with a smaller budget per look: E[1{x ≥ 1}·e] instead of 1.
// That is not the share of looks with a canary error (about 1 in 4 at the
// benchmark's rates, which would save log 4 ≈ 1.4 nats): the looks with an
// error are the ones with large e-values. Computed exactly for a 5 s look of
// a 5% canary at 1,000 spans/s and 0.1% errors, the saving is under
// 0.5 nats for the alternatives that find a 10× shift (ρ ≥ 5): 0.26 at
// ρ = 8. It also drops the change points at looks without a canary error,
// whose evidence is what the statistic holds while healthy (w/(1 − e) for a
// no-error e-value e ≈ 0.22 at ρ = 8: about 1.3·w, i.e. 0.26 nats), so the
// two cancel, and the detector keeps a weight on every look.
func TestWeightOnlyAtErrorLooksSavesLittle(t *testing.T) {
	t.Parallel()
	const n, nc, meanEvents = 5000, 250, 5.0
	pi := float64(nc) / n
	var budget [maxComponents]float64 // E[1{x ≥ 1}·e] per alternative
	for events := 1; events < 60; events++ {
		pe := poissonPMF(events, meanEvents)
		for x := 1; x <= events; x++ {
			var logE [maxComponents]float64
			errorFactors(&logE, uint64(x), uint64(events), nc, n)
			for i := range errorOdds {
				budget[i] += pe * binomialPMF(x, events, pi) * math.Exp(logE[i])
			}
		}
	}
	for i, r := range errorOdds {
		t.Logf("ρ = %v: budget per look %.3f of 1 (saves %.2f nats)", r, budget[i], -math.Log(budget[i]))
		if budget[i] > 1+1e-9 {
			t.Errorf("ρ = %v: E[1{x≥1}·e] = %v > 1: the e-value is not one", r, budget[i])
		}
		if r >= 5 && budget[i] < math.Exp(-0.5) {
			t.Errorf("ρ = %v: budget %v: weighting only error looks would save more than 0.5 nats", r, budget[i])
		}
	}
}
