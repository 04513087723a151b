package sloburnprocessor // import "github.com/otelcol-goebpf/otelcol-goebpf/processor/sloburnprocessor"

// latencyBaseline learns the threshold of a `threshold: auto` latency SLI from healthy
// traffic that came before the events it judges.
//
// Latency is collected in slots of one update interval. A closed slot is held back for
// one more slot, then committed to the baseline only if both it and the slot after it
// were healthy: no alert tier fired and their events, judged against the threshold then
// in force, stayed within the error budget. So a regression does not teach the baseline
// that it is normal, including its first minutes before any tier could fire. At the end
// of each slot, unless a tier is firing, the threshold becomes the percentile of the
// committed slots of the last period: it changes once per update interval, and then only
// as much as the healthy history of a whole period moves.
//
// Before one full period has been learned (and min_samples seen) there is no threshold:
// the SLO judges no event, so it cannot burn or alert. Memory is fixed: one histogram per
// slot of the period plus two.
type latencyBaseline struct {
	percentile float64 // fraction, 0.999
	floor      int64
	minSamples float64
	period     int64 // ns
	width      int64 // slot width (update interval), ns
	budget     float64

	committed []latencyHistogram // healthy slots, ring indexed by slot number
	slotNum   []int64            // slot number held at each ring position; -1 empty

	cur               latencyHistogram // the slot being filled
	curNum            int64
	curGood, curTotal float64 // events judged in cur, for its health
	curFired          bool
	held              latencyHistogram // the last closed slot, awaiting the next one's verdict
	heldNum           int64
	heldOK            bool // held exists and was healthy itself
	started           int64
	threshold         int64 // ns; 0 while learning
}

func newLatencyBaseline(l *LatencySLI, objective float64) *latencyBaseline {
	width := max(int64(l.Baseline.UpdateInterval), 1)
	slots := max(baselineSlots(l.Baseline), 1)
	b := &latencyBaseline{
		percentile: l.Percentile / 100,
		floor:      int64(l.Floor),
		minSamples: l.Baseline.MinSamples,
		period:     int64(l.Baseline.Period),
		width:      width,
		budget:     1 - objective/100,
		committed:  make([]latencyHistogram, slots),
		slotNum:    make([]int64, slots),
	}
	for i := range b.slotNum {
		b.slotNum[i] = -1
	}
	return b
}

// learning reports whether no threshold has been learned yet.
func (b *latencyBaseline) learning() bool { return b.threshold == 0 }

// observe records one event's latency in the current slot.
func (b *latencyBaseline) observe(ns int64, count float64) {
	b.cur[latencyBucket(ns)] += count
}

// judged records the verdict on one event of the current slot (learned state only).
func (b *latencyBaseline) judged(good bool, count float64) {
	b.curTotal += count
	if good {
		b.curGood += count
	}
}

// noteFiring marks the current slot as one during which an alert tier fired.
func (b *latencyBaseline) noteFiring() { b.curFired = true }

// flush closes the current slot when now has moved past it, and then updates the
// threshold unless firing.
func (b *latencyBaseline) flush(now int64, firing bool) {
	n := now / b.width
	if b.started == 0 {
		b.started, b.curNum = now, n
	}
	if firing {
		b.curFired = true
	}
	if n <= b.curNum {
		return
	}
	healthy := !b.curFired && errorRatio(b.curGood, b.curTotal) <= b.budget
	if b.learning() {
		// Nothing is judged while learning, so nothing can burn: commit at once.
		b.commit(b.curNum, &b.cur)
	} else {
		if b.heldOK && healthy {
			b.commit(b.heldNum, &b.held)
		}
		b.held, b.heldNum, b.heldOK = b.cur, b.curNum, healthy
	}
	b.cur = latencyHistogram{}
	b.curNum, b.curGood, b.curTotal, b.curFired = n, 0, 0, firing
	if firing {
		return
	}
	if b.learning() && now-b.started < b.period {
		return
	}
	if v, ok := b.candidate(n); ok {
		b.threshold = v
	}
}

func (b *latencyBaseline) commit(num int64, h *latencyHistogram) {
	i := num % int64(len(b.committed))
	b.committed[i] = *h
	b.slotNum[i] = num
}

// candidate is the percentile of the committed slots of the period before slot next;
// ok is false when they hold fewer than min_samples events.
func (b *latencyBaseline) candidate(next int64) (int64, bool) {
	var sum latencyHistogram
	oldest := next - int64(len(b.committed))
	for i := range b.committed {
		if n := b.slotNum[i]; n >= oldest && n < next {
			sum.add(&b.committed[i])
		}
	}
	v, total := sum.quantile(b.percentile)
	if total < b.minSamples || total <= 0 {
		return 0, false
	}
	return max(v, b.floor, 1), true
}
