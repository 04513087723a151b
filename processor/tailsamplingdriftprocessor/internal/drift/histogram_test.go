package drift

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

func TestBucketIndexMatchesBounds(t *testing.T) {
	t.Parallel()
	prevUpper := 0.0
	for i := 0; i < numBuckets; i++ {
		lo, hi := bucketBounds(i)
		if lo != prevUpper {
			t.Fatalf("bucket %d starts at %v, previous ended at %v: gap or overlap", i, lo, prevUpper)
		}
		prevUpper = hi
		if got := bucketIndex(int64(lo)); got != i {
			t.Fatalf("bucketIndex(%v) = %d, want %d (its lower bound)", lo, got, i)
		}
		if !math.IsInf(hi, 1) {
			if got := bucketIndex(int64(hi) - 1); got != i {
				t.Fatalf("bucketIndex(%v) = %d, want %d (just below its upper bound)", hi-1, got, i)
			}
			if i > 0 && (hi-lo)/lo > 1.0/subCount+1e-12 {
				t.Fatalf("bucket %d [%v, %v) is wider than 1/%d of its lower bound", i, lo, hi, subCount)
			}
		}
	}
	for _, ns := range []int64{math.MinInt64, -1, 0, 1, 1023} {
		if got := bucketIndex(ns); got != 0 {
			t.Errorf("bucketIndex(%d) = %d, want underflow bucket 0", ns, got)
		}
	}
	if got := bucketIndex(math.MaxInt64); got != numBuckets-1 {
		t.Errorf("bucketIndex(MaxInt64) = %d, want overflow bucket", got)
	}
}

// exactQuantile is the ceil(q·n)-th smallest value, the definition the
// histogram's estimate targets.
func exactQuantile(sorted []float64, q float64) float64 {
	r := int(math.Ceil(q * float64(len(sorted))))
	return sorted[max(r, 1)-1]
}

func TestQuantileAccuracyAgainstExact(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(1, 2))
	tests := []struct {
		name string
		draw func() float64 // seconds
	}{
		{"lognormal median 50ms sigma 1", func() float64 { return 0.05 * math.Exp(rng.NormFloat64()) }},
		{"exponential mean 10ms", func() float64 { return 0.01 * rng.ExpFloat64() }},
		{"uniform 1-2ms", func() float64 { return 0.001 + 0.001*rng.Float64() }},
		{"bimodal 2ms and 300ms", func() float64 {
			if rng.Float64() < 0.9 {
				return 0.002 * math.Exp(0.2*rng.NormFloat64())
			}
			return 0.3 * math.Exp(0.3*rng.NormFloat64())
		}},
		{"pareto tail from 5ms", func() float64 { return 0.005 / math.Pow(1-rng.Float64(), 1/1.5) }},
	}
	var worst float64
	for _, tt := range tests {
		var h atomicHistogram
		raw := make([]float64, scaled(200_000, 20_000))
		for i := range raw {
			raw[i] = tt.draw()
			h.add(int64(raw[i] * 1e9))
		}
		slices.Sort(raw)
		var snap bucketCounts
		h.load(&snap)
		if snap.total() != uint64(len(raw)) {
			t.Fatalf("%s: histogram holds %d spans, want %d", tt.name, snap.total(), len(raw))
		}
		for _, q := range []float64{0.01, 0.5, 0.9, 0.95, 0.99, 0.999} {
			want := exactQuantile(raw, q)
			got := snap.quantileSeconds(q)
			rel := math.Abs(got-want) / want
			worst = max(worst, rel)
			// The bucket holding the exact quantile is at most 1/16 wide;
			// interpolation must not leave it.
			if rel > 1.0/subCount {
				t.Errorf("%s q=%v: estimate %v, exact %v, relative error %.4f > %.4f", tt.name, q, got, want, rel, 1.0/subCount)
			}
		}
	}
	t.Logf("worst relative quantile error %.4f (bound %.4f)", worst, 1.0/subCount)
}

func TestQuantileMergeIsAddition(t *testing.T) {
	t.Parallel()
	var a, b, all atomicHistogram
	rng := rand.New(rand.NewPCG(3, 4))
	for i := range 50_000 {
		ns := int64(1e6 * math.Exp(rng.NormFloat64()))
		all.add(ns)
		if i%3 == 0 {
			a.add(ns)
		} else {
			b.add(ns)
		}
	}
	var sa, sb, sall, merged bucketCounts
	a.load(&sa)
	b.load(&sb)
	all.load(&sall)
	for i := range merged {
		merged[i] = sa[i] + sb[i]
	}
	if merged != sall {
		t.Fatal("sum of two cohorts' histograms differs from the histogram of all spans")
	}
	var back bucketCounts
	back.sub(&sall, &sb)
	if back != sa {
		t.Fatal("window subtraction does not recover the other part")
	}
}

func TestQuantileEmpty(t *testing.T) {
	t.Parallel()
	var c bucketCounts
	if _, _, ok := c.quantileBucket(0.5); ok {
		t.Fatal("empty histogram reported a quantile")
	}
	if !math.IsNaN(c.quantileSeconds(0.5)) {
		t.Fatal("empty histogram quantile is not NaN")
	}
	c[numBuckets-1] = 3
	lo, _ := bucketBounds(numBuckets - 1)
	if got := c.quantileSeconds(0.99); got != lo/1e9 {
		t.Fatalf("overflow-only quantile = %v, want the overflow lower bound %v", got, lo/1e9)
	}
}
