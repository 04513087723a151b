package runtimemetrics

import (
	"fmt"

	"go.opentelemetry.io/collector/pdata/pmetric"
)

// The runtime keeps its own goroutine scheduling latency histogram,
// runtime.sched.timeToRun (what runtime/metrics calls /sched/latencies:seconds
// and the semantic conventions call go.schedule.duration): the time a
// goroutine spent runnable before it ran, recorded for one transition in
// gTrackingPeriod (8) per goroutine. Its layout since Go 1.20:
//
//	counts    [40 * 4]uint64 // bucket b, sub-bucket s
//	underflow uint64
//	overflow  uint64
//
// Bucket 0 holds [s*64, (s+1)*64) ns; bucket b >= 1 holds values of bit
// length b+8, split in four: [2^(b+7) + s*2^(b+5), 2^(b+7) + (s+1)*2^(b+5)) ns.
// Go 1.19 used another layout (16 sub-buckets, 45 super-buckets) and is not read.
const (
	timeHistNumBuckets    = 40
	timeHistNumSubBuckets = 4
	timeHistCounts        = timeHistNumBuckets * timeHistNumSubBuckets
	timeHistSize          = (timeHistCounts + 2) * 8
	minGoForTimeHist      = 20
)

// timeHistBoundsSeconds are the explicit-histogram bounds matching the
// runtime's buckets: the lower bound of every bucket but the first, then
// the overflow threshold 2^47 ns.
var timeHistBoundsSeconds = func() []float64 {
	bounds := make([]float64, 0, timeHistCounts)
	for i := 1; i < timeHistCounts; i++ {
		bounds = append(bounds, float64(timeHistLowerNs(i))/1e9)
	}
	return append(bounds, float64(uint64(1)<<47)/1e9)
}()

// timeHistLowerNs is the lower bound in ns of flat bucket index i.
func timeHistLowerNs(i int) uint64 {
	b, s := uint64(i/timeHistNumSubBuckets), uint64(i%timeHistNumSubBuckets)
	if b == 0 {
		return s * 64
	}
	return 1<<(b+7) + s<<(b+5)
}

// schedLatency is one read of sched.timeToRun.
type schedLatency struct {
	Counts              [timeHistCounts]uint64
	Underflow, Overflow uint64
}

func (t *target) readSchedLatency() (schedLatency, error) {
	var s schedLatency
	if t.sched == 0 || t.lay.schedTimeToRun == noField || t.bin.GoMinor() < minGoForTimeHist {
		return s, fmt.Errorf("runtime.sched.timeToRun: %w", errGlobalNotFound)
	}
	b := make([]byte, timeHistSize)
	if _, err := t.mem.ReadAt(b, t.sched+uint64(t.lay.schedTimeToRun)); err != nil {
		return s, fmt.Errorf("read runtime.sched.timeToRun: %w", err)
	}
	for i := range s.Counts {
		s.Counts[i] = le.Uint64(b[8*i:])
	}
	s.Underflow = le.Uint64(b[8*timeHistCounts:])
	s.Overflow = le.Uint64(b[8*timeHistCounts+8:])
	return s, nil
}

// fillSchedHistogram writes the runtime's histogram as an explicit-bucket
// histogram in seconds. The runtime keeps no sum, so none is set.
func fillSchedHistogram(s schedLatency, dp pmetric.HistogramDataPoint) {
	dp.ExplicitBounds().FromRaw(timeHistBoundsSeconds)
	counts := make([]uint64, timeHistCounts+1)
	counts[0] = s.Counts[0] + s.Underflow
	copy(counts[1:timeHistCounts], s.Counts[1:])
	counts[timeHistCounts] = s.Overflow
	var total uint64
	for _, c := range counts {
		total += c
	}
	dp.BucketCounts().FromRaw(counts)
	dp.SetCount(total)
}

func (t *target) validSched(addr uint64) bool {
	l := t.lay
	lo, hi, ok := span(8, l.schedNmidle, l.schedMnext, l.schedMaxmcount, l.schedNmsys)
	if !ok {
		return false
	}
	b := make([]byte, hi-lo)
	if _, err := t.mem.ReadAt(b, addr+uint64(lo)); err != nil {
		return false
	}
	nmidle := int32(u32At(b, l.schedNmidle-lo))
	mnext := int64(u64At(b, l.schedMnext-lo))
	maxm := int32(u32At(b, l.schedMaxmcount-lo))
	nmsys := int32(u32At(b, l.schedNmsys-lo))
	// At least one M exists, no more idle or system Ms than Ms, and the
	// thread limit is sane (10,000 unless debug.SetMaxThreads changed it).
	return mnext >= 1 && mnext <= 1<<24 && nmidle >= 0 && int64(nmidle) <= mnext &&
		nmsys >= 0 && int64(nmsys) <= mnext && maxm >= 1 && maxm <= 1<<24
}

func schedSpec(l *layout) globalSpec {
	return globalSpec{
		symbol: "runtime.sched",
		funcs:  []string{"runtime.checkdead", "runtime.checkmcount", "runtime.mReserveID", "runtime.mcommoninit"},
		fields: present(
			fieldRef{"lock", uint64(l.schedLock)}, fieldRef{"nmidle", uint64(l.schedNmidle)},
			fieldRef{"nmidlelocked", uint64(l.schedNmidlelocked)}, fieldRef{"mnext", uint64(l.schedMnext)},
			fieldRef{"maxmcount", uint64(l.schedMaxmcount)}, fieldRef{"nmsys", uint64(l.schedNmsys)},
			fieldRef{"nmfreed", uint64(l.schedNmfreed)}),
		minVotes: 4,
	}
}
