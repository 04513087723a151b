package drift

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

// The oracle's window test has the level the floor assumes and the power the
// floor reports: checked by simulating the window counts, at a level large
// enough (a short horizon) and a shift small enough (3×) for both to be
// measurable, and with the test's k checked against the Poisson tail summed
// the other way.
func TestKnownTimeFloorAgainstSimulation(t *testing.T) {
	t.Parallel()
	s := errorShift{before: 0.05, after: 0.15}
	const alpha = 0.09
	window, horizon := time.Minute, 11*time.Minute // M = 10 windows: level 0.009
	miss, k := knownTimeFloor(s, window, alpha, horizon)
	level := alpha / float64(windowsInHorizon(window, horizon))
	upper := func(k int, mean float64) (p float64) { // P(N ≥ k), summed upward
		for i := k; i < k+200; i++ {
			p += poissonPMF(i, mean)
		}
		return p
	}
	if !(upper(k, 3) <= level && upper(k-1, 3) > level) {
		t.Fatalf("k = %d: P0(N ≥ k) = %v, P0(N ≥ k-1) = %v, level %v", k, upper(k, 3), upper(k-1, 3), level)
	}
	gamma := (level - upper(k, 3)) / poissonPMF(k-1, 3)
	rng := rand.New(rand.NewPCG(41, 42))
	const n = 400_000
	rejects := func(mean float64) float64 {
		r := 0
		for range n {
			c := int(poisson(rng, mean))
			if c >= k || (c == k-1 && rng.Float64() < gamma) {
				r++
			}
		}
		return float64(r) / n
	}
	gotLevel, gotPower := rejects(3), rejects(9)
	t.Logf("k=%d γ=%.3f: level %.5f (want %.5f), miss %.4f (floor %.4f)", k, gamma, gotLevel, level, 1-gotPower, miss)
	if math.Abs(gotLevel-level) > 5*math.Sqrt(level/n) {
		t.Errorf("simulated level %v, want %v", gotLevel, level)
	}
	if math.Abs((1-gotPower)-miss) > 5*math.Sqrt(miss*(1-miss)/n) {
		t.Errorf("simulated miss %v, floor %v", 1-gotPower, miss)
	}
}

// Likewise for the two-sample oracle: its per-E binomial tests hold the level
// without a shift (whatever the number of errors) and miss as often as
// twoSampleFloor says after it.
func TestTwoSampleFloorAgainstSimulation(t *testing.T) {
	t.Parallel()
	s := errorShift{before: 0.05, after: 0.15, baseline: 0.95}
	const alpha = 0.09
	window, horizon := time.Minute, 11*time.Minute
	miss := twoSampleFloor(s, window, alpha, horizon)
	level := alpha / float64(windowsInHorizon(window, horizon))
	pi0 := s.before / (s.before + s.baseline)
	rng := rand.New(rand.NewPCG(43, 44))
	const n = 300_000
	tests := map[int]binomialTest{}
	rejects := func(canary float64) float64 {
		r := 0
		for range n {
			x, y := int(poisson(rng, canary*60)), int(poisson(rng, s.baseline*60))
			if x+y == 0 {
				continue
			}
			c, ok := tests[x+y]
			if !ok {
				c = mostPowerfulBinomialTest(x+y, pi0, level)
				tests[x+y] = c
			}
			if x >= c.k || (x == c.k-1 && rng.Float64() < c.gamma) {
				r++
			}
		}
		return float64(r) / n
	}
	gotLevel, gotMiss := rejects(s.before), 1-rejects(s.after)
	t.Logf("level %.5f (want ≤ %.5f), miss %.4f (floor %.4f)", gotLevel, level, gotMiss, miss)
	if gotLevel > level+5*math.Sqrt(level/n) {
		t.Errorf("simulated level %v above %v", gotLevel, level)
	}
	if math.Abs(gotMiss-miss) > 5*math.Sqrt(miss*(1-miss)/n) {
		t.Errorf("simulated miss %v, floor %v", gotMiss, miss)
	}
}

// For the benchmark's error shift, the oracle that knows the rates needs
// fewer errors than one that only compares cohorts, so it misses less often,
// at every deadline; both miss less the longer the deadline. The figures at
// 60 s are the ones BENCHMARKS.md quotes.
func TestErrorShiftFloors(t *testing.T) {
	t.Parallel()
	prevKnown, prevTwo := 1.0, 1.0
	for _, secs := range []int{20, 30, 40, 50, 60, 70} {
		d := time.Duration(secs) * time.Second
		known, k := knownTimeFloor(benchErrorShift, d, 0.01, 24*time.Hour)
		two := twoSampleFloor(benchErrorShift, d, 0.01, 24*time.Hour)
		t.Logf("t = %v: known rates P(delay > t) ≥ %.2e (k = %d errors), two-sample oracle %.2e", d, known, k, two)
		if known > two || known >= prevKnown || two >= prevTwo {
			t.Errorf("t = %v: known-rate floor %v, two-sample %v (previous deadline: %v, %v)", d, known, two, prevKnown, prevTwo)
		}
		prevKnown, prevTwo = known, two
	}
	miss, k := knownTimeFloor(benchErrorShift, time.Minute, 0.01, 24*time.Hour)
	// k: the oracle's 60 s test at level 0.01/1,439 against Poisson(3).
	if k != 14 || miss < 1e-4 || miss > 1e-3 {
		t.Errorf("60 s floor: k = %d, P(delay > 60 s) ≥ %v; want k = 14, about 3e-4", k, miss)
	}
}

// The oracles' thresholds: the smallest value that at most a fraction α of
// the calibration days reach, for counts (ties) and for continuous peaks.
func TestCalibrateThreshold(t *testing.T) {
	t.Parallel()
	reached := func(peaks []float64, thr float64) (n int) {
		for _, p := range peaks {
			if p >= thr {
				n++
			}
		}
		return n
	}
	counts := []float64{9, 12, 10, 13, 11, 12, 14, 12, 10, 11, 13, 12, 15, 11, 12, 10, 9, 13, 12, 11}
	continuous := []float64{3.2, 7.9, 1.5, 4.4, 9.1, 2.2, 5.5, 6.7, 8.8, 0.4}
	for _, tt := range []struct {
		peaks []float64
		alpha float64
		want  float64
	}{
		{counts, 0.1, 14}, // two days reach 14 (14, 15): 10% of 20
		{counts, 0.05, 15},
		{counts, 0, 16},
		{continuous, 0.1, math.Nextafter(8.8, 9)},
		{continuous, 0.2, math.Nextafter(7.9, 8)},
	} {
		peaks := slices.Clone(tt.peaks)
		got := calibrate(peaks, tt.alpha)
		if got != tt.want || reached(tt.peaks, got) > int(tt.alpha*float64(len(tt.peaks))) {
			t.Errorf("α = %v: threshold %v (reached on %d days), want %v", tt.alpha, got, reached(tt.peaks, got), tt.want)
		}
	}
}
