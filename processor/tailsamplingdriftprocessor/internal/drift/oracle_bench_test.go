package drift

import (
	"flag"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

var (
	oracleDays = flag.Int("drift.oracle_days", 3000, "simulated null days calibrating each oracle in BenchmarkErrorShiftOracles")
	oracleRuns = flag.Int("drift.oracle_runs", 20000, "shifts timed per oracle in BenchmarkErrorShiftOracles")
)

// errorOracle is a change detector that knows the error rates before and
// after the shift but not when it starts. It sees every error as it arrives
// (time in seconds, and whether it is the canary's), so it never waits for an
// evaluation, and returns its statistic after each.
type errorOracle interface {
	reset()
	observe(at float64, canary bool) float64
}

// cusumKnownRate is Page's CUSUM on the canary's errors alone with the exact
// log-likelihood ratio of its Poisson rates: +log(after/before) per error,
// −(after−before) per second.
type cusumKnownRate struct {
	s          errorShift
	stat, last float64
}

func (c *cusumKnownRate) reset() { c.stat, c.last = 0, 0 }
func (c *cusumKnownRate) observe(at float64, canary bool) float64 {
	if canary {
		c.stat = max(0, c.stat-(c.s.after-c.s.before)*(at-c.last)) + math.Log(c.s.after/c.s.before)
		c.last = at
	}
	return c.stat
}

// cusumTwoSample is the CUSUM on which cohort each error came from, the
// evidence the detector uses: an error is the canary's with probability
// π0 = before/(before+baseline) when healthy and π1 after the shift.
type cusumTwoSample struct {
	canaryLLR, baselineLLR float64
	stat                   float64
}

func newCUSUMTwoSample(s errorShift) *cusumTwoSample {
	pi0, pi1 := s.before/(s.before+s.baseline), s.after/(s.after+s.baseline)
	return &cusumTwoSample{canaryLLR: math.Log(pi1 / pi0), baselineLLR: math.Log((1 - pi1) / (1 - pi0))}
}

func (c *cusumTwoSample) reset() { c.stat = 0 }
func (c *cusumTwoSample) observe(_ float64, canary bool) float64 {
	if canary {
		c.stat += c.canaryLLR
	} else {
		c.stat += c.baselineLLR
	}
	c.stat = max(c.stat, 0)
	return c.stat
}

// windowScan counts the canary's errors in the trailing window seconds: the
// test a deadline of that length calls for when the rates are known.
type windowScan struct {
	window float64
	times  []float64
}

func (w *windowScan) reset() { w.times = w.times[:0] }
func (w *windowScan) observe(at float64, canary bool) float64 {
	if canary {
		w.times = append(w.times, at)
	}
	i := 0
	for i < len(w.times) && w.times[i] <= at-w.window {
		i++
	}
	w.times = w.times[i:]
	return float64(len(w.times))
}

// errorStream feeds an oracle the Poisson error arrivals of both cohorts
// from time from to time to, at the given canary rate, and returns the first
// time its statistic reaches threshold (ok) or its largest value.
func errorStream(rng *rand.Rand, o errorOracle, canaryRate, baselineRate, from, to, threshold float64) (at, peak float64, ok bool) {
	rate := canaryRate + baselineRate
	share := canaryRate / rate
	for t := from; ; {
		t += rng.ExpFloat64() / rate
		if t > to {
			return to, peak, false
		}
		v := o.observe(t, rng.Float64() < share)
		peak = max(peak, v)
		if v >= threshold {
			return t, peak, true
		}
	}
}

// BenchmarkErrorShiftOracles: how fast the benchmark's error shift (a 5%
// canary of 1,000 spans/s going from 0.1% to 1% errors) can be found by
// detectors that know both rates but, unlike the floor's oracle
// (knownTimeFloor), not when the shift starts: a CUSUM on the canary's errors
// with the exact likelihood ratio, a CUSUM on which cohort each error came
// from, and a count of the canary's errors over the trailing 60 s. Each
// checks at every error arrival (no evaluation interval) and has its
// threshold calibrated by simulation to false alarms on exactly α = 0.01 of
// -drift.oracle_days simulated days (no bound with slack, unlike the
// detector's). Then -drift.oracle_runs shifts, each after an hour of healthy
// traffic: median, p95, p99, worst delay and the fraction over 60 s. Run with
// -benchtime=1x.
func BenchmarkErrorShiftOracles(b *testing.B) {
	s := benchErrorShift
	const alpha, day, warm = 0.01, 86400.0, 3600.0
	oracles := []struct {
		name string
		o    errorOracle
	}{
		{"cusum-known-rate", &cusumKnownRate{s: s}},
		{"cusum-two-sample", newCUSUMTwoSample(s)},
		{"scan-60s-known-rate", &windowScan{window: 60}},
	}
	for i, or := range oracles {
		b.Run(or.name, func(b *testing.B) {
			rng := rand.New(rand.NewPCG(uint64(51+i), 52))
			var threshold float64
			var delays []float64
			for range b.N {
				peaks := make([]float64, *oracleDays)
				for d := range peaks {
					or.o.reset()
					_, peaks[d], _ = errorStream(rng, or.o, s.before, s.baseline, 0, day, math.Inf(1))
				}
				threshold = calibrate(peaks, alpha)
				delays = delays[:0]
				for range *oracleRuns {
					or.o.reset()
					if _, _, alarm := errorStream(rng, or.o, s.before, s.baseline, 0, warm, threshold); alarm {
						continue // a false alarm before the shift: not a detection
					}
					at, _, _ := errorStream(rng, or.o, s.after, s.baseline, warm, math.Inf(1), threshold)
					delays = append(delays, at-warm)
				}
			}
			slices.Sort(delays)
			over := 0
			for _, d := range delays {
				if d > 60 {
					over++
				}
			}
			b.ReportMetric(threshold, "threshold")
			b.ReportMetric(sortedQuantile(delays, 0.5), "median_s")
			b.ReportMetric(sortedQuantile(delays, 0.95), "p95_s")
			b.ReportMetric(sortedQuantile(delays, 0.99), "p99_s")
			b.ReportMetric(delays[len(delays)-1], "max_s")
			b.ReportMetric(float64(over)/float64(len(delays)), "over_60s_fraction")
			b.ReportMetric(float64(len(delays)), "runs")
		})
	}
}

// calibrate returns the smallest threshold that at most a fraction alpha of
// the days' peaks reach. Peaks of a count (the scan) are whole numbers, so
// the threshold then is the next whole number above the last allowed peak.
func calibrate(peaks []float64, alpha float64) float64 {
	slices.Sort(peaks)
	allowed := int(alpha * float64(len(peaks)))
	top := peaks[len(peaks)-1-allowed]
	if top == math.Trunc(top) {
		return top + 1
	}
	return math.Nextafter(top, math.Inf(1))
}
