package drift

import (
	"math"
	"math/rand/v2"
	"testing"
)

func logChoose(n, k int) float64 {
	a, _ := math.Lgamma(float64(n + 1))
	b, _ := math.Lgamma(float64(k + 1))
	c, _ := math.Lgamma(float64(n - k + 1))
	return a - b - c
}

// The e-value after one interval has expectation at most 1 when the canary's
// events are a hypergeometric draw (cohorts alike), exactly 1 when binomial:
// the property the anytime validity rests on, computed over the whole support.
func TestShareEProcessExpectationUnderNull(t *testing.T) {
	t.Parallel()
	tests := []struct{ spans, canarySpans, events int }{
		{1000, 50, 1}, {1000, 50, 10}, {1000, 50, 500}, {5000, 250, 5},
		{200, 100, 150}, {20, 1, 19}, {100, 99, 50},
	}
	for _, tt := range tests {
		share := float64(tt.canarySpans) / float64(tt.spans)
		var hyper, binom float64
		for x := 0; x <= tt.events; x++ {
			e := newShareEProcess(1)
			e.update(0, uint64(x), uint64(tt.events), share)
			m := math.Exp(e.logValue())
			if x <= tt.canarySpans && tt.events-x <= tt.spans-tt.canarySpans {
				hyper += m * math.Exp(logChoose(tt.canarySpans, x)+logChoose(tt.spans-tt.canarySpans, tt.events-x)-logChoose(tt.spans, tt.events))
			}
			binom += m * math.Exp(logChoose(tt.events, x)+float64(x)*math.Log(share)+float64(tt.events-x)*math.Log1p(-share))
		}
		if hyper > 1+1e-9 {
			t.Errorf("%+v: E[e-value] = %v under the hypergeometric null, want ≤ 1", tt, hyper)
		}
		if math.Abs(binom-1) > 1e-9 {
			t.Errorf("%+v: E[e-value] = %v under the binomial null, want exactly 1", tt, binom)
		}
	}
}

// hypergeometric draws how many of events fall among canary of spans.
func hypergeometric(rng *rand.Rand, spans, canary, events int) uint64 {
	x := 0
	for range events {
		if rng.IntN(spans) < canary {
			x++
			canary--
		}
		spans--
	}
	return uint64(x)
}

// Checked after every interval for a long run, the e-process crosses 1/α in
// at most a fraction α of A/A runs (Monte Carlo with an exact null).
func TestShareEProcessContinuousMonitoringFalseAlarmRate(t *testing.T) {
	t.Parallel()
	const (
		alpha     = 0.05
		intervals = 720
	)
	runs := scaled(1000, 150)
	rng := rand.New(rand.NewPCG(5, 6))
	alarms := 0
	for range runs {
		e := newShareEProcess(2)
		for range intervals {
			// Two event kinds: rare (≈ errors) and common (≈ spans above p90).
			e.update(0, hypergeometric(rng, 5000, 250, 5), 5, 0.05)
			e.update(1, hypergeometric(rng, 5000, 250, 40), 40, 0.05)
			if e.logValue() >= -math.Log(alpha) {
				alarms++
				break
			}
		}
	}
	rate := float64(alarms) / float64(runs)
	limit := alpha + 3*math.Sqrt(alpha*(1-alpha)/float64(runs))
	t.Logf("false alarm rate %.4f over %d runs of %d looks (α=%v)", rate, runs, intervals, alpha)
	if rate > limit {
		t.Fatalf("false alarm rate %.4f exceeds α=%v (limit %.4f with Monte Carlo error)", rate, alpha, limit)
	}
}

func TestShareEProcessDirection(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(7, 8))
	worse, better := newShareEProcess(1), newShareEProcess(1)
	for range 100 {
		// Canary share 5%; it takes 10% of events (worse) or 2.5% (better).
		worse.update(0, hypergeometric(rng, 2000, 200, 50), 50, 0.05)
		better.update(0, hypergeometric(rng, 2000, 50, 50), 50, 0.05)
	}
	if got := worse.logValue(); got < epochThreshold(0.01, 1) {
		t.Errorf("worse canary: log e-value %v below threshold %v after 5000 events", got, epochThreshold(0.01, 1))
	}
	if got := better.logValue(); got >= 0 {
		t.Errorf("better canary: log e-value %v, want negative", got)
	}
	worse.reset()
	if got := worse.logValue(); got != 0 {
		t.Errorf("after reset: log e-value %v, want 0", got)
	}
}

func TestShareEProcessIgnoresEmptyAndClamps(t *testing.T) {
	t.Parallel()
	e := newShareEProcess(1)
	e.update(0, 0, 0, 0.5)
	e.update(5, 3, 3, 0.5) // group out of range
	if e.logValue() != 0 {
		t.Fatalf("no events changed the e-value: %v", e.logValue())
	}
	// All traffic from the canary: its events say nothing.
	e.update(0, 9, 9, 1)
	if math.Abs(e.logValue()) > 1e-12 {
		t.Fatalf("canary-only interval changed the e-value: %v", e.logValue())
	}
	// More canary events than events is clamped, not NaN.
	e.update(0, 10, 3, 0.5)
	if v := e.logValue(); math.IsNaN(v) || math.IsInf(v, 0) {
		t.Fatalf("inconsistent counts gave %v", v)
	}
}

func TestEpochThresholdsSpendAlpha(t *testing.T) {
	t.Parallel()
	const alpha = 0.01
	var spent float64
	for k := 1; k <= 100_000; k++ {
		spent += math.Exp(-epochThreshold(alpha, k))
	}
	if spent > alpha || spent < alpha*0.9999 {
		t.Fatalf("epochs spend %v of α=%v", spent, alpha)
	}
	if got, want := epochThreshold(alpha, 1), math.Log(2/alpha); math.Abs(got-want) > 1e-12 {
		t.Fatalf("first epoch threshold %v, want log(2/α) = %v", got, want)
	}
}
