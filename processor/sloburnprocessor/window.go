package sloburnprocessor // import "github.com/otelcol-goebpf/otelcol-goebpf/processor/sloburnprocessor"

import (
	"time"
)

// windowBuckets is the number of full buckets a window is split into. Memory per window
// is fixed (2 × (windowBuckets+1) float64s) whatever the traffic; the window slides at
// 1/windowBuckets of its length, and the oldest bucket is weighted by the share of it
// still inside the window, so a steady stream reads exactly.
const windowBuckets = 60

// BurnWindow is a sliding window of good and total event counts held in a fixed ring of
// buckets. Counts are float64 because sampled spans count with their adjusted count.
type BurnWindow struct {
	size  time.Duration
	width int64 // bucket width in ns
	good  [windowBuckets + 1]float64
	total [windowBuckets + 1]float64
	// head is the absolute bucket number (unix ns / width) of the newest bucket.
	head int64
}

func newBurnWindow(size time.Duration) *BurnWindow {
	w := int64(size) / windowBuckets
	if w <= 0 {
		w = 1
	}
	return &BurnWindow{size: size, width: w}
}

// advance moves the head to now's bucket, clearing the buckets that slid out.
func (w *BurnWindow) advance(now int64) {
	b := now / w.width
	if b <= w.head {
		return
	}
	steps := b - w.head
	if steps > windowBuckets+1 {
		steps = windowBuckets + 1
	}
	for i := int64(1); i <= steps; i++ {
		idx := (w.head + i) % (windowBuckets + 1)
		w.good[idx], w.total[idx] = 0, 0
	}
	w.head = b
}

// add records events at now.
func (w *BurnWindow) add(now int64, good, total float64) {
	w.advance(now)
	idx := w.head % (windowBuckets + 1)
	w.good[idx] += good
	w.total[idx] += total
}

// sums returns the good and total counts inside [now-size, now].
func (w *BurnWindow) sums(now int64) (good, total float64) {
	w.advance(now)
	elapsed := float64(now-w.head*w.width) / float64(w.width)
	oldest := (w.head + 1) % (windowBuckets + 1) // = head - windowBuckets
	for i := range w.good {
		if int64(i) == oldest {
			continue
		}
		good += w.good[i]
		total += w.total[i]
	}
	keep := 1 - elapsed
	good += w.good[oldest] * keep
	total += w.total[oldest] * keep
	return good, total
}

// errorRatio is the traffic-weighted bad/total ratio; zero (never NaN) at zero traffic.
func errorRatio(good, total float64) float64 {
	if total <= 0 {
		return 0
	}
	r := (total - good) / total
	if r < 0 {
		return 0
	}
	return r
}
