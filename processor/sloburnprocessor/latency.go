package sloburnprocessor // import "github.com/otelcol-goebpf/otelcol-goebpf/processor/sloburnprocessor"

import (
	"math/bits"
	"time"
)

// Latency histograms for `threshold: auto` use log-linear buckets: 16 per power of two,
// so a learned threshold is within 1/16 (6.25%) above the true percentile, from 1 ns to
// about 4.9 h (longer spans land in the last bucket).
const (
	latencySubBuckets = 16
	latencyBuckets    = latencySubBuckets * 42
	learnerSlots      = 12
	// minLearnEvents is how many events the learning window needs before a threshold is
	// published; until then latency events of an auto SLO are not counted.
	minLearnEvents = 100
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

// latencyLearner learns a latency threshold as a percentile of the trailing learning
// window, held as a ring of fixed-size histograms (memory independent of traffic).
type latencyLearner struct {
	percentile float64 // fraction, 0.99
	floor      int64
	slotWidth  int64
	pending    latencyHistogram
	slots      [learnerSlots + 1]latencyHistogram
	head       int64
	learned    int64 // 0 until minLearnEvents were seen
}

func newLatencyLearner(window time.Duration, percentile float64, floor time.Duration) *latencyLearner {
	w := int64(window) / learnerSlots
	if w <= 0 {
		w = 1
	}
	return &latencyLearner{percentile: percentile, floor: int64(floor), slotWidth: w}
}

func (l *latencyLearner) observe(ns int64, count float64) {
	l.pending[latencyBucket(ns)] += count
}

// threshold is the current threshold in ns, 0 while still learning.
func (l *latencyLearner) threshold() int64 { return l.learned }

func (l *latencyLearner) flush(now int64) {
	b := now / l.slotWidth
	if b > l.head {
		steps := min(b-l.head, learnerSlots+1)
		for i := int64(1); i <= steps; i++ {
			l.slots[(l.head+i)%(learnerSlots+1)] = latencyHistogram{}
		}
		l.head = b
	}
	cur := &l.slots[l.head%(learnerSlots+1)]
	for i, c := range l.pending {
		if c != 0 {
			cur[i] += c
		}
	}
	l.pending = latencyHistogram{}
	l.learned = l.percentileNs()
}

func (l *latencyLearner) percentileNs() int64 {
	var sum latencyHistogram
	total := 0.0
	for s := range l.slots {
		for i, c := range l.slots[s] {
			sum[i] += c
			total += c
		}
	}
	if total < minLearnEvents {
		return 0
	}
	target := l.percentile * total
	cum := 0.0
	v := latencyBucketUpper(latencyBuckets - 1)
	for i, c := range sum {
		cum += c
		if cum >= target {
			v = latencyBucketUpper(i)
			break
		}
	}
	return max(v, l.floor)
}
