package runtimemetrics

import (
	"math"
	"math/bits"

	"go.opentelemetry.io/collector/pdata/pmetric"
)

// Durations are bucketed in units of 2^-30 s (about 0.93 ns), so that a log2
// bucket of the integer value is exactly an OpenTelemetry exponential
// histogram bucket at scale 0 in seconds: bucket k holds values v with
// 2^k < v <= 2^(k+1) units, which is the exponential bucket of index k-30
// ((2^(k-30), 2^(k-29)] seconds). The BPF program (bpf/runtime/runqlat.bpf.c)
// computes the same index with the same integer arithmetic.
const (
	log2Buckets      = 64
	secondsExpOffset = 30 // exponential-histogram index = log2 bucket - 30
)

// nsToUnits converts nanoseconds to 2^-30 s units: floor(ns * 2^30 / 1e9)
// = floor(ns * 2^27 / 125e6), split into quotient and remainder so that it
// is exact and never overflows; the BPF side uses the same expression.
func nsToUnits(ns uint64) uint64 {
	q, r := ns/125_000_000, ns%125_000_000
	return q<<27 + r<<27/125_000_000
}

// log2Bucket returns the bucket of a value in units, or -1 for values that
// belong to the zero bucket (0) and -2 for 1 (the bucket just below index 0).
func log2Bucket(v uint64) int {
	switch v {
	case 0:
		return -1
	case 1:
		return -2
	}
	return 63 - bits.LeadingZeros64(v-1)
}

// log2Histogram accumulates durations as the BPF program does.
type log2Histogram struct {
	Zero    uint64 // values of 0 units
	One     uint64 // values of exactly 1 unit (bucket index -31 in seconds)
	Buckets [log2Buckets]uint64
	Count   uint64
	SumNs   uint64
}

func (h *log2Histogram) recordNs(ns uint64) {
	v := nsToUnits(ns)
	switch b := log2Bucket(v); b {
	case -1:
		h.Zero++
	case -2:
		h.One++
	default:
		h.Buckets[b]++
	}
	h.Count++
	h.SumNs += ns
}

func (h *log2Histogram) add(o *log2Histogram) {
	h.Zero += o.Zero
	h.One += o.One
	for i := range h.Buckets {
		h.Buckets[i] += o.Buckets[i]
	}
	h.Count += o.Count
	h.SumNs += o.SumNs
}

// fillExpHistogram writes h into an exponential-histogram data point in
// seconds at scale 0.
func fillExpHistogram(h *log2Histogram, dp pmetric.ExponentialHistogramDataPoint) {
	dp.SetScale(0)
	dp.SetCount(h.Count)
	dp.SetSum(float64(h.SumNs) / 1e9)
	dp.SetZeroCount(h.Zero)
	first, last := log2Buckets, -1
	for i, c := range h.Buckets {
		if c == 0 {
			continue
		}
		first = min(first, i)
		last = max(last, i)
	}
	// Exponential index of the "one unit" bucket: (2^-31, 2^-30] s, index -31.
	startIdx := math.MaxInt
	endIdx := math.MinInt
	if h.One > 0 {
		startIdx, endIdx = -31, -31
	}
	if last >= 0 {
		startIdx = min(startIdx, first-secondsExpOffset)
		endIdx = max(endIdx, last-secondsExpOffset)
	}
	if endIdx < startIdx {
		return
	}
	pos := dp.Positive()
	pos.SetOffset(int32(startIdx))
	counts := make([]uint64, endIdx-startIdx+1)
	if h.One > 0 {
		counts[-31-startIdx] += h.One
	}
	for i := first; i <= last && last >= 0; i++ {
		counts[i-secondsExpOffset-startIdx] += h.Buckets[i]
	}
	pos.BucketCounts().FromRaw(counts)
}
