package runtimemetrics

import (
	"math/bits"
	"math/rand/v2"
	"testing"

	"go.opentelemetry.io/collector/pdata/pmetric"
)

// runtimeTimeHistIndex is runtime.(*timeHistogram).record's bucket choice
// (Go 1.20+), written out independently of timeHistLowerNs.
func runtimeTimeHistIndex(d uint64) (int, bool) {
	const minBits, subBits = 9, 2
	var bucketBit, bucket uint
	if l := uint(bits.Len64(d)); l < minBits {
		bucketBit, bucket = minBits, 0
	} else {
		bucketBit, bucket = l, l-minBits+1
	}
	if bucket >= timeHistNumBuckets {
		return 0, false // overflow
	}
	sub := uint(d>>(bucketBit-1-subBits)) % (1 << subBits)
	return int(bucket*(1<<subBits) + sub), true
}

func TestTimeHistBoundsMatchRuntimeBuckets(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	var ds []uint64
	for i := 0; i < timeHistCounts; i++ {
		lo := timeHistLowerNs(i)
		ds = append(ds, lo, lo+1)
		if lo > 0 {
			ds = append(ds, lo-1)
		}
	}
	for range 10000 {
		ds = append(ds, r.Uint64N(1<<48))
	}
	for _, d := range ds {
		i, ok := runtimeTimeHistIndex(d)
		if !ok {
			if d < 1<<47 {
				t.Fatalf("%d ns overflows in the runtime but is below 2^47", d)
			}
			continue
		}
		hi := uint64(1) << 47
		if i+1 < timeHistCounts {
			hi = timeHistLowerNs(i + 1)
		}
		if d < timeHistLowerNs(i) || d >= hi {
			t.Fatalf("%d ns is in runtime bucket %d = [%d, %d)", d, i, timeHistLowerNs(i), hi)
		}
	}
	// Bounds strictly increase and end at the overflow threshold.
	for i := 1; i < len(timeHistBoundsSeconds); i++ {
		if timeHistBoundsSeconds[i] <= timeHistBoundsSeconds[i-1] {
			t.Fatalf("bounds not increasing at %d", i)
		}
	}
	if len(timeHistBoundsSeconds) != timeHistCounts || timeHistBoundsSeconds[0] != 64e-9 {
		t.Fatalf("%d bounds, first %v", len(timeHistBoundsSeconds), timeHistBoundsSeconds[0])
	}
}

func TestFillSchedHistogram(t *testing.T) {
	var s schedLatency
	s.Underflow, s.Counts[0], s.Counts[5], s.Counts[timeHistCounts-1], s.Overflow = 1, 2, 3, 4, 5
	dp := pmetric.NewHistogramDataPoint()
	fillSchedHistogram(s, dp)
	if dp.Count() != 15 || dp.HasSum() {
		t.Fatalf("count %d, has sum %v", dp.Count(), dp.HasSum())
	}
	c := dp.BucketCounts()
	if c.Len() != dp.ExplicitBounds().Len()+1 || c.At(0) != 3 || c.At(5) != 3 || c.At(timeHistCounts-1) != 4 || c.At(timeHistCounts) != 5 {
		t.Fatalf("buckets %v", c.AsRaw())
	}
	// Bucket 5 is [320, 384) ns: its explicit bounds are (320 ns, 384 ns].
	if dp.ExplicitBounds().At(4) != 320e-9 || dp.ExplicitBounds().At(5) != 384e-9 {
		t.Errorf("bounds around bucket 5: %v %v", dp.ExplicitBounds().At(4), dp.ExplicitBounds().At(5))
	}
}
