package drift

import (
	"math"
	"math/bits"
	"sync/atomic"
)

// Durations are counted in log-linear buckets (the HDR histogram layout):
// each power of two from 2^minExp ns (about 1 µs) to 2^(maxExp+1) ns (about
// 275 s) is split into 2^subBits equal sub-buckets, so a bucket is at most
// 1/16 = 6.25% wide relative to its lower bound. One underflow bucket holds
// everything shorter, one overflow bucket everything longer. The layout is
// fixed, so histograms of any two cohorts are directly comparable and
// mergeable by adding counts, and the bucket index is a few integer
// instructions (no logarithm) on the hot path.
const (
	subBits    = 4
	subCount   = 1 << subBits
	minExp     = 10
	maxExp     = 37
	numBuckets = 1 + (maxExp-minExp+1)*subCount + 1
)

// bucketIndex returns the bucket of a duration in nanoseconds.
func bucketIndex(ns int64) int {
	if ns < 1<<minExp {
		return 0
	}
	v := uint64(ns)
	e := bits.Len64(v) - 1
	if e > maxExp {
		return numBuckets - 1
	}
	sub := int(v>>(uint(e)-subBits)) & (subCount - 1)
	return 1 + (e-minExp)*subCount + sub
}

// bucketBounds returns the [lower, upper) bounds in nanoseconds of bucket i.
// The overflow bucket's upper bound is +Inf.
func bucketBounds(i int) (lower, upper float64) {
	switch {
	case i <= 0:
		return 0, 1 << minExp
	case i >= numBuckets-1:
		return math.Ldexp(1, maxExp+1), math.Inf(1)
	}
	e := minExp + (i-1)/subCount
	sub := (i - 1) % subCount
	base := math.Ldexp(1, e)
	return base * (1 + float64(sub)/subCount), base * (1 + float64(sub+1)/subCount)
}

// atomicHistogram is written by many goroutines without locks.
type atomicHistogram struct {
	counts [numBuckets]atomic.Uint64
}

func (h *atomicHistogram) add(ns int64) {
	h.counts[bucketIndex(ns)].Add(1)
}

// load copies the counts into dst. The copy is not an atomic snapshot of the
// whole histogram, but every span lands in exactly one bucket of some copy,
// which is all the interval arithmetic needs.
func (h *atomicHistogram) load(dst *bucketCounts) {
	for i := range h.counts {
		dst[i] = h.counts[i].Load()
	}
}

// bucketCounts is a plain histogram: a snapshot, or the difference of two.
type bucketCounts [numBuckets]uint64

func (c *bucketCounts) total() uint64 {
	var n uint64
	for _, v := range c {
		n += v
	}
	return n
}

// countFrom returns the number of spans in buckets i and above.
func (c *bucketCounts) countFrom(i int) uint64 {
	var n uint64
	for ; i < numBuckets; i++ {
		n += c[i]
	}
	return n
}

// quantileBucket returns the bucket holding the q-quantile and the rank of
// the quantile within that bucket (0 ≤ frac ≤ 1); ok is false when empty.
func (c *bucketCounts) quantileBucket(q float64) (bucket int, frac float64, ok bool) {
	n := c.total()
	if n == 0 {
		return 0, 0, false
	}
	q = min(max(q, 0), 1)
	// Rank of the quantile among n spans: the same ceil(q·n)-th smallest
	// that an exact quantile of the raw spans would take.
	rank := math.Max(math.Ceil(q*float64(n)), 1)
	var cum uint64
	for i, v := range c {
		if v == 0 {
			continue
		}
		if float64(cum+v) >= rank {
			return i, (rank - float64(cum) - 0.5) / float64(v), true
		}
		cum += v
	}
	return numBuckets - 1, 1, true
}

// quantileSeconds estimates the q-quantile in seconds, interpolating within
// the bucket (NaN when empty). Relative error is below the bucket width
// (6.25%) and usually far smaller.
func (c *bucketCounts) quantileSeconds(q float64) float64 {
	b, frac, ok := c.quantileBucket(q)
	if !ok {
		return math.NaN()
	}
	lo, hi := bucketBounds(b)
	if math.IsInf(hi, 1) {
		return lo / 1e9
	}
	frac = min(max(frac, 0), 1)
	return (lo + (hi-lo)*frac) / 1e9
}

// sub stores a - b into c (counts only grow, so a ≥ b bucket by bucket).
func (c *bucketCounts) sub(a, b *bucketCounts) {
	for i := range c {
		c[i] = a[i] - b[i]
	}
}
