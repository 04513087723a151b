package sloburnprocessor // import "github.com/otelcol-goebpf/otelcol-goebpf/processor/sloburnprocessor"

import (
	"math/bits"
)

// Latency histograms for `threshold: auto` use log-linear buckets: 16 per power of two,
// so a learned threshold is within 1/16 (6.25%) above the true percentile, from 1 ns to
// about 4.9 h (longer spans land in the last bucket).
const (
	latencySubBuckets = 16
	latencyBuckets    = latencySubBuckets * 42
)

type latencyHistogram [latencyBuckets]float64

func latencyBucket(ns int64) int {
	if ns < latencySubBuckets {
		if ns < 0 {
			return 0
		}
		return int(ns)
	}
	e := bits.Len64(uint64(ns)) - 5 // ns>>e is in [16, 32)
	idx := latencySubBuckets*(e+1) + int(ns>>e) - latencySubBuckets
	if idx >= latencyBuckets {
		return latencyBuckets - 1
	}
	return idx
}

// latencyBucketUpper is the exclusive upper bound in ns of bucket idx.
func latencyBucketUpper(idx int) int64 {
	if idx < latencySubBuckets {
		return int64(idx + 1)
	}
	e := idx/latencySubBuckets - 1
	m := idx%latencySubBuckets + latencySubBuckets
	return int64(m+1) << e
}

// latencyBucketLower is the inclusive lower bound in ns of bucket idx.
func latencyBucketLower(idx int) int64 {
	if idx == 0 {
		return 0
	}
	return latencyBucketUpper(idx - 1)
}

// quantile is the q-th quantile (a fraction) of the histogram in ns, interpolated
// linearly inside the bucket that holds it, and the histogram's total count.
func (h *latencyHistogram) quantile(q float64) (ns int64, total float64) {
	for _, c := range h {
		total += c
	}
	if total <= 0 {
		return 0, 0
	}
	target := q * total
	cum := 0.0
	for i, c := range h {
		if c > 0 && cum+c >= target {
			lo, hi := latencyBucketLower(i), latencyBucketUpper(i)
			return lo + int64(float64(hi-lo)*(target-cum)/c), total
		}
		cum += c
	}
	return latencyBucketUpper(latencyBuckets - 1), total
}

func (h *latencyHistogram) add(o *latencyHistogram) {
	for i, c := range o {
		if c != 0 {
			h[i] += c
		}
	}
}
