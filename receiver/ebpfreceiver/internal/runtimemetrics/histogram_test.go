package runtimemetrics

import (
	"math"
	"math/big"
	"math/rand/v2"
	"testing"

	"go.opentelemetry.io/collector/pdata/pmetric"
)

// bruteBucket finds, by exhaustive search with exact rational arithmetic,
// the OpenTelemetry scale-0 exponential bucket of a value of v units of
// 2^-30 s: the index i with 2^i < v*2^-30 <= 2^(i+1). ok is false for 0 (zero bucket).
func bruteBucket(v uint64) (int, bool) {
	if v == 0 {
		return 0, false
	}
	x := new(big.Rat).SetFrac(new(big.Int).SetUint64(v), new(big.Int).Lsh(big.NewInt(1), 30))
	for i := -64; i < 64; i++ {
		lo, hi := pow2Rat(i), pow2Rat(i+1)
		if x.Cmp(lo) > 0 && x.Cmp(hi) <= 0 {
			return i, true
		}
	}
	panic("value out of range")
}

func pow2Rat(i int) *big.Rat {
	if i >= 0 {
		return new(big.Rat).SetInt(new(big.Int).Lsh(big.NewInt(1), uint(i)))
	}
	return new(big.Rat).SetFrac(big.NewInt(1), new(big.Int).Lsh(big.NewInt(1), uint(-i)))
}

func TestExpHistogramAgainstBruteForce(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	var values []uint64
	// Every boundary and its neighbours, then random values over 1 ns .. 1000 s.
	for k := 0; k < 41; k++ {
		for _, d := range []int64{-1, 0, 1} {
			if v := int64(1)<<k + d; v >= 0 {
				values = append(values, uint64(v))
			}
		}
	}
	for range 20000 {
		values = append(values, uint64(math.Exp(r.Float64()*math.Log(1e12))))
	}

	var h log2Histogram
	want := map[int]uint64{}
	var wantZero, wantSum uint64
	for _, ns := range values {
		v := nsToUnits(ns)
		// nsToUnits is exactly floor(ns*2^30/1e9).
		exact := new(big.Int).Div(new(big.Int).Lsh(new(big.Int).SetUint64(ns), 30), big.NewInt(1e9))
		if exact.Cmp(new(big.Int).SetUint64(v)) != 0 {
			t.Fatalf("nsToUnits(%d) = %d, exact %s", ns, v, exact)
		}
		if i, ok := bruteBucket(v); ok {
			want[i]++
		} else {
			wantZero++
		}
		wantSum += ns
		h.recordNs(ns)
	}
	dp := pmetric.NewExponentialHistogramDataPoint()
	fillExpHistogram(&h, dp)
	if dp.Scale() != 0 || dp.Count() != uint64(len(values)) || dp.ZeroCount() != wantZero {
		t.Fatalf("scale %d count %d zero %d; want 0, %d, %d", dp.Scale(), dp.Count(), dp.ZeroCount(), len(values), wantZero)
	}
	if math.Abs(dp.Sum()-float64(wantSum)/1e9) > 1e-6 {
		t.Errorf("sum %v, want %v", dp.Sum(), float64(wantSum)/1e9)
	}
	got := map[int]uint64{}
	counts := dp.Positive().BucketCounts()
	for i := 0; i < counts.Len(); i++ {
		if c := counts.At(i); c > 0 {
			got[int(dp.Positive().Offset())+i] = c
		}
	}
	if len(got) != len(want) {
		t.Fatalf("buckets %v, want %v", got, want)
	}
	for i, c := range want {
		if got[i] != c {
			t.Errorf("bucket %d: %d, want %d", i, got[i], c)
		}
	}
}

func TestLog2BucketMatchesBPFArithmetic(t *testing.T) {
	// The BPF program computes floor(log2(v-1)) by repeated halving; check
	// the Go side's bit trick against a plain loop.
	for _, v := range []uint64{2, 3, 4, 5, 1023, 1024, 1025, 1 << 40, 1<<63 + 7} {
		n, r := v-1, 0
		for n > 1 {
			n >>= 1
			r++
		}
		if got := log2Bucket(v); got != r {
			t.Errorf("log2Bucket(%d) = %d, want %d", v, got, r)
		}
	}
}

func TestEmptyHistogram(t *testing.T) {
	dp := pmetric.NewExponentialHistogramDataPoint()
	fillExpHistogram(&log2Histogram{}, dp)
	if dp.Count() != 0 || dp.Positive().BucketCounts().Len() != 0 {
		t.Errorf("empty histogram produced buckets: %d", dp.Positive().BucketCounts().Len())
	}
}
