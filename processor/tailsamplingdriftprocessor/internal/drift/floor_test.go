package drift

import (
	"math"
	"time"
)

// errorShift describes an error-rate shift of a canary in the terms the
// floors need: error arrivals per second of the canary before and after the
// shift, of the baseline, and the canary's share of the key's spans.
type errorShift struct {
	before, after, baseline float64
	share                   float64
}

// benchErrorShift is shiftCases' error case: a 5% canary of 1,000 spans/s
// going from 0.1% to 1% errors, a baseline at 0.1%.
var benchErrorShift = errorShift{before: 0.05, after: 0.5, baseline: 0.95, share: 0.05}

// The floor: how often must any detector take longer than t?
//
// Take any detector whose false-alarm probability within a horizon H is at
// most α, and an oracle's advantages on top: it knows the rates before and
// after the shift and when the shift may begin. Cut [0, H) into
// M = ⌊H/t⌋ − 1 disjoint windows of length t (M of them fit at any offset).
// Let a_i be the probability, without any shift, that the detector's first
// alarm falls in window i: Σ a_i ≤ α. If the shift starts at window i's
// start, detecting it within t means a first alarm in window i. Everything
// before the window is distributed as without a shift and independent of the
// window, so by the Neyman–Pearson lemma the chance of that is at most β(a_i),
// the power of the best randomized test of level a_i that sees the window's
// data: here its error count, Poisson(before·t) against Poisson(after·t). β
// is concave, so over the M onsets the average chance to detect within t is
// at most β(α/M). A detector whose behaviour does not depend on the time of
// day (ours forgets its past) has the same chance at every onset, so its
// P(delay > t) ≥ 1 − β(α/M) at any onset.
//
// That bound gives the oracle the change time; a detector that must find it
// pays more (scanning every window, not M disjoint ones), see
// BenchmarkErrorShiftOracles.

// knownTimeFloor returns the lower bound 1 − β(α/M) on P(delay > t), and the
// error count k the oracle's test needs in the window (it also alarms with
// some probability at k−1).
func knownTimeFloor(s errorShift, t time.Duration, alpha float64, horizon time.Duration) (miss float64, k int) {
	m := windowsInHorizon(t, horizon)
	if m < 1 {
		return 0, 0
	}
	level := alpha / float64(m)
	mean0, mean1 := s.before*t.Seconds(), s.after*t.Seconds()
	// Smallest k with P0(N ≥ k) ≤ level; at k−1 the test alarms with the
	// probability that spends the rest of the level.
	k = 0
	tail0 := 1.0 // P0(N ≥ k)
	for tail0 > level {
		tail0 -= poissonPMF(k, mean0)
		k++
	}
	tail0 = max(tail0, 0)
	gamma := 0.0
	if k > 0 {
		gamma = (level - tail0) / poissonPMF(k-1, mean0)
	}
	// P1(N < k) less the randomized part at k−1.
	var below1 float64
	for i := range k {
		below1 += poissonPMF(i, mean1)
	}
	if k > 0 {
		below1 -= gamma * poissonPMF(k-1, mean1)
	}
	return max(below1, 0), k
}

// twoSampleFloor is the same oracle restricted to the evidence our detector
// uses: which of the window's errors, canary's or baseline's, were the
// canary's. Given E errors in the window, the canary's count is
// Binomial(E, π) without a shift (π its share of errors when healthy:
// before/(before+baseline)) and Binomial(E, π₁) after it; the oracle runs the
// most powerful test of each E at level α/M (randomized at the boundary). It
// is not a bound for every detector (a detector could use the baseline's
// rate from its past, if the rate were stable), only the reference for a
// two-sample detector; the returned value is its P(delay > t).
func twoSampleFloor(s errorShift, t time.Duration, alpha float64, horizon time.Duration) float64 {
	m := windowsInHorizon(t, horizon)
	if m < 1 {
		return 0
	}
	level := alpha / float64(m)
	pi0 := s.before / (s.before + s.baseline)
	meanC, meanB := s.after*t.Seconds(), s.baseline*t.Seconds()
	maxC := int(meanC + 12*math.Sqrt(meanC) + 20)
	maxB := int(meanB + 12*math.Sqrt(meanB) + 20)
	crit := make([]binomialTest, maxC+maxB+1)
	for e := 1; e < len(crit); e++ {
		crit[e] = mostPowerfulBinomialTest(e, pi0, level)
	}
	var detect float64
	for x := 0; x <= maxC; x++ {
		px := poissonPMF(x, meanC)
		for y := 0; y <= maxB; y++ {
			e := x + y
			if e == 0 {
				continue
			}
			switch c := crit[e]; {
			case x >= c.k:
				detect += px * poissonPMF(y, meanB)
			case x == c.k-1:
				detect += px * poissonPMF(y, meanB) * c.gamma
			}
		}
	}
	return max(1-detect, 0)
}

// binomialTest rejects when the count is at least k, and with probability
// gamma when it is k−1.
type binomialTest struct {
	k     int
	gamma float64
}

// mostPowerfulBinomialTest is the level test of Binomial(n, p0) against any
// larger p: the smallest k with P(X ≥ k) ≤ level, randomized at k−1 to
// spend the level exactly.
func mostPowerfulBinomialTest(n int, p0, level float64) binomialTest {
	k, tail := n+1, 0.0 // tail = P(X ≥ k)
	for k > 0 {
		p := binomialPMF(k-1, n, p0)
		if tail+p > level {
			return binomialTest{k: k, gamma: (level - tail) / p}
		}
		tail += p
		k--
	}
	return binomialTest{k: 0}
}

// windowsInHorizon is M = ⌊H/t⌋ − 1, the disjoint windows of length t that fit
// in the horizon at any offset.
func windowsInHorizon(t, horizon time.Duration) int {
	if t <= 0 {
		return 0
	}
	return int(horizon/t) - 1
}

// floorQuantile returns the smallest whole second t at which the floor's
// P(delay > t) is at most 1−q: no detector with the false-alarm budget has a
// q-quantile of its delay below it (averaged over onsets).
func floorQuantile(s errorShift, q, alpha float64, horizon time.Duration) time.Duration {
	for t := time.Second; t < horizon; t += time.Second {
		if miss, _ := knownTimeFloor(s, t, alpha, horizon); miss <= 1-q {
			return t
		}
	}
	return horizon
}

func poissonPMF(k int, mean float64) float64 {
	if mean <= 0 {
		if k == 0 {
			return 1
		}
		return 0
	}
	lg, _ := math.Lgamma(float64(k + 1))
	return math.Exp(float64(k)*math.Log(mean) - mean - lg)
}

func binomialPMF(k, n int, p float64) float64 {
	if k < 0 || k > n {
		return 0
	}
	return math.Exp(logChoose(n, k) + float64(k)*math.Log(p) + float64(n-k)*math.Log1p(-p))
}
