package drift

import (
	"math"
	"math/rand/v2"
	"testing"
	"time"
)

// The Poisson sampler has the right mean and variance on both of its paths.
func TestPoissonSampler(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(1, 2))
	for _, mean := range []float64{0.01, 0.7, 3, 9.9, 10, 37, 164, 4750} {
		const n = 200_000
		var sum, sq float64
		for range n {
			k := float64(poisson(rng, mean))
			sum += k
			sq += k * k
		}
		m := sum / n
		v := sq/n - m*m
		// Standard errors: sqrt(mean/n) for the mean, about sqrt(2/n)·mean for the variance.
		if math.Abs(m-mean) > 5*math.Sqrt(mean/n) || math.Abs(v-mean) > 6*math.Sqrt(2.0/n)*mean+1e-3 {
			t.Errorf("mean %v: sample mean %v, variance %v", mean, m, v)
		}
	}
}

// The count simulation gives the detector the same spans, in distribution,
// as span-by-span simulation: over 10 min at 1,000 spans/s the bucket and
// error counts match within sampling error, and so do the baseline
// quantiles the latency signal scores against.
func TestCountSimMatchesSpanSim(t *testing.T) {
	t.Parallel()
	cohorts := func() []simCohort {
		return []simCohort{{name: "v1", share: 0.95, slowdown: 1, errorRate: 0.001}, {name: "v2", share: 0.05, slowdown: 1.3, errorRate: 0.01}}
	}
	spans := NewDetector(Config{})
	bySpan := newSimulation(spans, 11, 0.8, cohorts())
	bySpan.run(10*time.Minute, func(time.Duration, []Verdict) bool { return false })
	counts := NewDetector(Config{})
	byCount := newCountSim(counts, 12, 0.8, cohorts())
	byCount.run(10*time.Minute, func([]Verdict) bool { return false })

	for _, c := range []string{"v1", "v2"} {
		a, b := spans.index.Load().lookup(bySpan.key, c), counts.index.Load().lookup(byCount.key, c)
		var ha, hb bucketCounts
		a.hist.load(&ha)
		b.hist.load(&hb)
		na, nb := float64(ha.total()), float64(hb.total())
		if math.Abs(na-nb) > 5*math.Sqrt(na+nb) {
			t.Errorf("%s: %v spans by span, %v by count", c, na, nb)
		}
		ea, eb := float64(a.errors.Load()), float64(b.errors.Load())
		if math.Abs(ea-eb) > 5*math.Sqrt(ea+eb+1) {
			t.Errorf("%s: %v errors by span, %v by count", c, ea, eb)
		}
		for _, q := range []float64{0.01, 0.5, 0.9, 0.99} {
			qa, qb := ha.quantileSeconds(q), hb.quantileSeconds(q)
			if math.Abs(qa/qb-1) > 0.07 {
				t.Errorf("%s: p%v %v s by span, %v s by count", c, q*100, qa, qb)
			}
		}
	}
}
