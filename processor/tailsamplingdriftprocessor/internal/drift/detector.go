package drift

import (
	"cmp"
	"maps"
	"math"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// latencyLevels are the baseline quantiles whose exceedance the latency
// signal scores: a span scores the number of them it exceeds. The median
// catches a shift of the whole distribution, p90 and p99 a slower tail.
var latencyLevels = [maxGroups]float64{0.5, 0.9, 0.99}

// maxGroups is the number of latency levels.
const maxGroups = 3

// Verdict is the state of one canary cohort of one key on one signal after an
// Evaluate. Durations are in seconds; quantiles and ratios are over the last
// summaryWindow (10 min) of each cohort (or since the cohort appeared, while
// that window holds fewer than MinSamples spans), and 0 when a cohort has no
// spans.
type Verdict struct {
	Key      Key
	Cohort   string
	Baseline string
	Signal   Signal

	CanaryP50, CanaryP95, CanaryP99       float64
	BaselineP50, BaselineP95, BaselineP99 float64
	CanaryErrorRatio, BaselineErrorRatio  float64

	// Statistic is the natural logarithm of the test's e-detector: evidence
	// that the canary turned worse than the baseline at some point (see
	// eDetector). While the canary is healthy it stays near log(Δt/Horizon),
	// about -9.8 for 5 s evaluations and a 24 h horizon. The canary is
	// declared drifting when it reaches Threshold, and stops drifting when it
	// falls back below 0.
	Statistic float64
	// Threshold is log(1/Significance).
	Threshold float64
	// CanarySpans and BaselineSpans count the spans the quantiles and ratios
	// above were computed from.
	CanarySpans, BaselineSpans uint64

	// Drifting says the canary is worse than the baseline on this signal.
	Drifting bool
	// Changed says Drifting differs from the previous Evaluate's verdict
	// (a drift started or ended); the verdict of a cohort that expired or lost
	// its baseline while drifting is reported once with Drifting false.
	Changed bool
}

// Stats counts what the bounds cost. Observation counts are cumulative.
type Stats struct {
	// Keys and Series are the keys (OverflowKey included) and key-cohort
	// pairs currently tracked.
	Keys, Series int
	// FoldedObservations counts spans of keys beyond MaxKeys, counted in
	// OverflowKey instead.
	FoldedObservations uint64
	// DroppedObservations counts spans of cohorts beyond MaxCohortsPerKey.
	DroppedObservations uint64
	// ExpiredSeries counts key-cohort pairs removed after IdleTimeout.
	ExpiredSeries uint64
}

type seriesKey struct {
	key    Key
	cohort string
}

// seriesIndex maps each key to its cohorts' series. A published index is
// never modified: changes build a new one. Looking up the key hashes two
// strings; the few cohorts of a key are then compared in order.
type seriesIndex map[Key][]indexEntry

type indexEntry struct {
	cohort string
	s      *series
}

func (x seriesIndex) lookup(k Key, cohort string) *series {
	entries := x[k]
	for i := range entries {
		if entries[i].cohort == cohort {
			return entries[i].s
		}
	}
	return nil
}

// with returns a copy of x that also holds s.
func (x seriesIndex) with(s *series) seriesIndex {
	y := maps.Clone(x)
	y[s.key] = append(slices.Clone(x[s.key]), indexEntry{cohort: s.cohort, s: s})
	return y
}

// without returns a copy of x without the given series.
func (x seriesIndex) without(gone []*series) seriesIndex {
	y := maps.Clone(x)
	for _, s := range gone {
		entries := slices.DeleteFunc(slices.Clone(y[s.key]), func(e indexEntry) bool { return e.s == s })
		if len(entries) == 0 {
			delete(y, s.key)
		} else {
			y[s.key] = entries
		}
	}
	return y
}

// series is one cohort of one key.
type series struct {
	key    Key
	cohort string

	// Written by Observe.
	hist   atomicHistogram
	errors atomic.Uint64

	// Written by Evaluate, read by Drifting.
	drifting atomic.Bool

	// Owned by Evaluate (under Detector.evalMu).
	windowStart      time.Time
	windowBase       bucketCounts // counts at windowStart, for the verdict's figures
	windowBaseErrors uint64
	hasPrev          bool
	prevTotal        uint64
	prevErrors       uint64
	prevAbove        [maxGroups]uint64
	idleSince        time.Time
	test             *pairTest
}

func (s *series) observe(ns int64, isError bool) {
	if isError {
		s.errors.Add(1)
	}
	s.hist.add(ns)
}

// pairTest is the sequential test of one canary series against its baseline.
type pairTest struct {
	baseline string
	signals  [2]signalTest
}

type signalTest struct {
	det      eDetector
	drifting bool // from reaching the threshold until the statistic falls below 0
	reported bool // Drifting of the last verdict
}

// summaryWindow is the span of traffic the verdict's quantiles and error
// ratios describe. It is for display only; the test does not use it.
const summaryWindow = 10 * time.Minute

type keyState struct {
	key     Key
	cohorts []*series
	// Latency event thresholds chosen at the previous Evaluate from the
	// baseline: an event is a span in bucket thr[g] or above.
	thr      [maxGroups]int
	thrValid bool
}

// Detector compares, per Key, each canary cohort with the baseline cohort.
// Observe and Drifting may be called from any number of goroutines; Evaluate
// calls are serialized.
type Detector struct {
	cfg     Config
	latency bool
	errs    bool

	// index is the lookup table of Observe and Drifting: an immutable map,
	// replaced (copy on write, under mu) when a series is added or removed,
	// which is rare and bounded, so the hot path takes no lock and writes no
	// shared memory besides its own counters.
	index atomic.Pointer[seriesIndex]

	mu       sync.Mutex // serializes changes to index, keys and realKeys
	keys     map[Key]*keyState
	realKeys int // keys other than OverflowKey
	nseries  int
	keysFull atomic.Bool // realKeys >= MaxKeys, for Drifting without the mutex

	folded  atomic.Uint64
	dropped atomic.Uint64
	expired atomic.Uint64

	evalMu       sync.Mutex
	snapshot     []bucketCounts
	window       bucketCounts
	lastEval     time.Time
	logThreshold float64 // log(1/Significance)
}

// NewDetector returns a Detector; zero Config fields take their defaults and
// invalid ones are replaced by defaults (call Config.Validate first to report them).
func NewDetector(cfg Config) *Detector {
	cfg = cfg.withDefaults()
	d := &Detector{
		cfg:          cfg,
		keys:         make(map[Key]*keyState),
		logThreshold: -math.Log(cfg.Significance),
	}
	d.index.Store(&seriesIndex{})
	for _, s := range cfg.Signals {
		switch s {
		case SignalLatency:
			d.latency = true
		case SignalErrors:
			d.errs = true
		}
	}
	return d
}

// Observe records one span of cohort for key k: a lock-free map lookup and
// one or two atomic adds; it allocates only the first time a key-cohort pair
// is seen.
func (d *Detector) Observe(k Key, cohort string, durationNanos int64, isError bool) {
	s := d.index.Load().lookup(k, cohort)
	if s == nil {
		if s = d.resolve(seriesKey{key: k, cohort: cohort}); s == nil {
			return
		}
	}
	s.observe(durationNanos, isError)
}

// Drifting reports whether the cohort of key k was drifting on any signal at
// the last Evaluate.
func (d *Detector) Drifting(k Key, cohort string) bool {
	index := *d.index.Load()
	s := index.lookup(k, cohort)
	if s == nil && d.keysFull.Load() {
		// Probably folded (or a dropped cohort of a tracked key, which then
		// shares the overflow cohort's state: rare, and only errs toward keeping).
		s = index.lookup(OverflowKey, cohort)
	}
	return s != nil && s.drifting.Load()
}

// Stats returns the current bounds accounting.
func (d *Detector) Stats() Stats {
	d.mu.Lock()
	st := Stats{Keys: len(d.keys), Series: d.nseries}
	d.mu.Unlock()
	st.FoldedObservations = d.folded.Load()
	st.DroppedObservations = d.dropped.Load()
	st.ExpiredSeries = d.expired.Load()
	return st
}

// place finds the series a span of sk belongs to, folding unknown keys into
// OverflowKey once MaxKeys keys are tracked. It returns the series if it
// exists, else the key it should be created under and whether creating it is
// allowed (false: the key already has MaxCohortsPerKey cohorts). d.mu must be held.
func (d *Detector) place(sk seriesKey) (s *series, target seriesKey, create bool) {
	index := *d.index.Load()
	if s := index.lookup(sk.key, sk.cohort); s != nil {
		return s, sk, false
	}
	if _, known := d.keys[sk.key]; !known && sk.key != OverflowKey && d.realKeys >= d.cfg.MaxKeys {
		sk.key = OverflowKey
		if s := index.lookup(sk.key, sk.cohort); s != nil {
			return s, sk, false
		}
	}
	if ks := d.keys[sk.key]; ks != nil && len(ks.cohorts) >= d.cfg.MaxCohortsPerKey {
		return nil, sk, false
	}
	return nil, sk, true
}

// resolve is Observe's slow path: a pair not in the index (new, folded or
// dropped). Folded and dropped spans take the mutex every time; both are
// bounded-cardinality overflow cases, and counted.
func (d *Detector) resolve(sk seriesKey) *series {
	d.mu.Lock()
	s, target, create := d.place(sk)
	if s == nil && create {
		s = &series{key: target.key, cohort: target.cohort}
		ks := d.keys[target.key]
		if ks == nil {
			ks = &keyState{key: target.key}
			d.keys[target.key] = ks
			if target.key != OverflowKey {
				d.realKeys++
				d.keysFull.Store(d.realKeys >= d.cfg.MaxKeys)
			}
		}
		ks.cohorts = append(ks.cohorts, s)
		index := d.index.Load().with(s)
		d.index.Store(&index)
		d.nseries++
	}
	d.mu.Unlock()
	switch {
	case s == nil:
		d.dropped.Add(1)
	case target.key != sk.key:
		d.folded.Add(1)
	}
	return s
}

// Evaluate updates every test with the spans observed since the previous
// call and returns one verdict per canary cohort and signal (sorted by key
// (service, operation, kind), cohort and signal), plus a final non-drifting verdict for each drifting
// cohort that expired or lost its baseline. Call it on a timer (never at times
// that depend on the spans): the time since the previous call weighs the
// interval in the false-alarm bound (see eDetector), and drives idle expiry.
func (d *Detector) Evaluate(now time.Time) []Verdict {
	d.evalMu.Lock()
	defer d.evalMu.Unlock()
	logW := d.lookWeight(now)

	type keyCohorts struct {
		ks      *keyState
		cohorts []*series
	}
	d.mu.Lock()
	work := make([]keyCohorts, 0, len(d.keys))
	for _, ks := range d.keys {
		work = append(work, keyCohorts{ks: ks, cohorts: slices.Clone(ks.cohorts)})
	}
	d.mu.Unlock()
	slices.SortFunc(work, func(a, b keyCohorts) int {
		return cmp.Or(cmp.Compare(a.ks.key.Service, b.ks.key.Service), cmp.Compare(a.ks.key.Operation, b.ks.key.Operation), cmp.Compare(a.ks.key.Kind, b.ks.key.Kind))
	})

	var out []Verdict
	var expired []*series
	for _, w := range work {
		slices.SortFunc(w.cohorts, func(a, b *series) int { return cmp.Compare(a.cohort, b.cohort) })
		out, expired = d.evaluateKey(w.ks, w.cohorts, now, logW, out, expired)
	}
	if len(expired) > 0 {
		d.remove(expired)
	}
	return out
}

// cohortSummary is what one Evaluate reads of one series.
type cohortSummary struct {
	total, errors           uint64
	p50, p95, p99           float64
	windowSpans, windowErrs uint64
}

// lookWeight returns the log of this Evaluate's weight in the false-alarm
// bound: the time since the previous call as a share of the horizon, within
// [minLook, Horizon]. The first call, whose interval is unknown, counts as
// firstLook.
func (d *Detector) lookWeight(now time.Time) float64 {
	dt := firstLook
	if !d.lastEval.IsZero() {
		dt = now.Sub(d.lastEval)
	}
	d.lastEval = now
	dt = min(max(dt, minLook), d.cfg.Horizon)
	return math.Log(dt.Seconds() / d.cfg.Horizon.Seconds())
}

// firstLook and minLook bound the weight of an Evaluate whose interval is
// unknown (the first) or not positive (a clock standing still or going back).
const (
	firstLook = 5 * time.Second
	minLook   = time.Millisecond
)

func (d *Detector) evaluateKey(ks *keyState, cohorts []*series, now time.Time, logW float64, out []Verdict, expired []*series) ([]Verdict, []*series) {
	n := len(cohorts)
	for len(d.snapshot) < n {
		d.snapshot = append(d.snapshot, bucketCounts{})
	}
	sums := make([]cohortSummary, n)
	for i, s := range cohorts {
		snap := &d.snapshot[i]
		s.hist.load(snap)
		sums[i].errors = s.errors.Load()
		sums[i].total = snap.total()
		if s.windowStart.IsZero() {
			s.windowStart = now
		}
	}

	// The baseline: the named cohort, or the one with the most spans.
	base := -1
	for i, s := range cohorts {
		if d.cfg.Baseline != "" {
			if s.cohort == d.cfg.Baseline {
				base = i
			}
		} else if base < 0 || sums[i].total > sums[base].total {
			base = i
		}
	}

	// Windowed quantiles; the baseline's window also sets the next interval's
	// latency thresholds.
	var thrNew [maxGroups]int
	thrValid := false
	for i, s := range cohorts {
		h := d.windowOf(s, &d.snapshot[i], sums[i].errors, &sums[i])
		if i == base {
			thrValid = true
			for g, q := range latencyLevels {
				b, _, ok := h.quantileBucket(q)
				thrValid = thrValid && ok
				thrNew[g] = b + 1
			}
		}
	}

	// Idle expiry.
	gone := make([]bool, n)
	for i, s := range cohorts {
		if s.hasPrev && sums[i].total == s.prevTotal {
			if s.idleSince.IsZero() {
				s.idleSince = now
			} else if now.Sub(s.idleSince) >= d.cfg.IdleTimeout {
				gone[i] = true
				expired = append(expired, s)
			}
		} else {
			s.idleSince = time.Time{}
		}
	}

	for i, s := range cohorts {
		if i == base || base < 0 || gone[i] || gone[base] {
			out = d.endTest(s, ks.key, &sums[i], out)
			continue
		}
		b := cohorts[base]
		t := s.test
		if t == nil || t.baseline != b.cohort {
			if t != nil {
				out = d.endTest(s, ks.key, &sums[i], out)
			}
			// A new test starts from no evidence (S = 0), which keeps the
			// false-alarm bound of a continuing one.
			t = &pairTest{baseline: b.cohort}
			t.signals[SignalLatency].det = newEDetector(latencyOdds[:])
			t.signals[SignalErrors].det = newEDetector(errorOdds[:])
			s.test = t
		}
		// Fold the interval since the previous Evaluate, also into a test
		// that starts now: its counts at the previous Evaluate are known (a
		// series this Evaluate sees for the first time was created during
		// the interval, so they were zero), and the latency thresholds were
		// chosen then.
		d.updateTest(t, ks, s, b, &d.snapshot[i], &d.snapshot[base], &sums[i], &sums[base], logW)

		enough := sums[i].total >= uint64(d.cfg.MinSamples) && sums[base].total >= uint64(d.cfg.MinSamples)
		anyDrift := false
		for _, sig := range d.cfg.Signals {
			st := &t.signals[sig]
			stat := st.det.logValue()
			switch {
			case !st.drifting && enough && stat >= d.logThreshold:
				st.drifting = true
			case st.drifting && stat < 0:
				// The evidence is gone: the drift ends and the test starts
				// afresh, so its next alarm has the bound of a new test.
				st.drifting = false
				st.det.reset()
			}
			anyDrift = anyDrift || st.drifting
			out = append(out, verdict(ks.key, s.cohort, b.cohort, sig, &sums[i], &sums[base], stat, d.logThreshold, st.drifting, st.drifting != st.reported))
			st.reported = st.drifting
		}
		s.drifting.Store(anyDrift)
	}

	// Remember this interval's end, counted against the thresholds the next
	// interval will use (chosen now, before its spans exist).
	for i, s := range cohorts {
		s.hasPrev = true
		s.prevTotal = sums[i].total
		s.prevErrors = sums[i].errors
		for g := range thrNew {
			s.prevAbove[g] = d.snapshot[i].countFrom(thrNew[g])
		}
		if now.Sub(s.windowStart) >= summaryWindow {
			s.windowBase = d.snapshot[i]
			s.windowBaseErrors = sums[i].errors
			s.windowStart = now
		}
	}
	ks.thr, ks.thrValid = thrNew, thrValid
	return out, expired
}

// windowOf computes the series' window histogram into d.window and fills the
// summary's quantiles and ratios. The window is the spans since windowStart,
// or all spans while it holds fewer than MinSamples.
func (d *Detector) windowOf(s *series, snap *bucketCounts, errs uint64, sum *cohortSummary) *bucketCounts {
	h := &d.window
	h.sub(snap, &s.windowBase)
	spans, nerr := h.total(), errs-s.windowBaseErrors
	if spans < uint64(d.cfg.MinSamples) {
		*h = *snap
		spans, nerr = sum.total, errs
	}
	sum.windowSpans, sum.windowErrs = spans, nerr
	if spans > 0 {
		sum.p50 = h.quantileSeconds(0.5)
		sum.p95 = h.quantileSeconds(0.95)
		sum.p99 = h.quantileSeconds(0.99)
	}
	return h
}

// updateTest folds the interval since the previous Evaluate into the test:
// every signal gets the look's weight, and the interval's e-values where it
// had spans to compare.
func (d *Detector) updateTest(t *pairTest, ks *keyState, c, b *series, cSnap, bSnap *bucketCounts, cSum, bSum *cohortSummary, logW float64) {
	dc, db := cSum.total-c.prevTotal, bSum.total-b.prevTotal
	var logE [maxComponents]float64 // all 0 (e = 1) unless the interval says more
	if d.latency {
		if ks.thrValid && dc > 0 {
			// Spans over each baseline quantile (g = 0, 1, 2: p50, p90, p99) in
			// the interval; thresholds grow with g, so the counts shrink.
			var canaryScore uint64
			var over [maxGroups]uint64
			for g := range latencyLevels {
				x := sat(cSnap.countFrom(ks.thr[g]), c.prevAbove[g])
				y := sat(bSnap.countFrom(ks.thr[g]), b.prevAbove[g])
				canaryScore += x
				over[g] = x + y
			}
			// counts[k]: spans of the interval scoring k.
			counts := [maxGroups + 1]uint64{sat(dc+db, over[0]), sat(over[0], over[1]), sat(over[1], over[2]), over[2]}
			latencyFactors(&logE, canaryScore, dc, &counts)
		}
		t.signals[SignalLatency].det.update(logW, &logE, d.logThreshold)
	}
	if d.errs {
		clear(logE[:])
		x := cSum.errors - c.prevErrors
		y := bSum.errors - b.prevErrors
		errorFactors(&logE, x, x+y, dc, dc+db)
		t.signals[SignalErrors].det.update(logW, &logE, d.logThreshold)
	}
}

// sat returns a-b, or 0 when b > a.
func sat(a, b uint64) uint64 {
	if b > a {
		return 0
	}
	return a - b
}

// endTest drops the series' test, reporting the end of any drift.
func (d *Detector) endTest(s *series, k Key, sum *cohortSummary, out []Verdict) []Verdict {
	t := s.test
	s.test = nil
	s.drifting.Store(false)
	if t == nil {
		return out
	}
	for _, sig := range d.cfg.Signals {
		if t.signals[sig].reported {
			var none cohortSummary
			out = append(out, verdict(k, s.cohort, t.baseline, sig, sum, &none, 0, 0, false, true))
		}
	}
	return out
}

func verdict(k Key, cohort, baseline string, sig Signal, c, b *cohortSummary, stat, threshold float64, drifting, changed bool) Verdict {
	return Verdict{
		Key: k, Cohort: cohort, Baseline: baseline, Signal: sig,
		CanaryP50: c.p50, CanaryP95: c.p95, CanaryP99: c.p99,
		BaselineP50: b.p50, BaselineP95: b.p95, BaselineP99: b.p99,
		CanaryErrorRatio: ratio(c.windowErrs, c.windowSpans), BaselineErrorRatio: ratio(b.windowErrs, b.windowSpans),
		Statistic: stat, Threshold: threshold,
		CanarySpans: c.windowSpans, BaselineSpans: b.windowSpans,
		Drifting: drifting, Changed: changed,
	}
}

func ratio(num, den uint64) float64 {
	if den == 0 {
		return 0
	}
	return float64(num) / float64(den)
}

// remove forgets expired series, freeing their key and cohort slots.
func (d *Detector) remove(expired []*series) {
	d.mu.Lock()
	defer d.mu.Unlock()
	index := d.index.Load().without(expired)
	d.index.Store(&index)
	d.nseries -= len(expired)
	for _, s := range expired {
		ks := d.keys[s.key]
		if ks == nil {
			continue
		}
		ks.cohorts = slices.DeleteFunc(ks.cohorts, func(x *series) bool { return x == s })
		if len(ks.cohorts) == 0 {
			delete(d.keys, s.key)
			if s.key != OverflowKey {
				d.realKeys--
				d.keysFull.Store(d.realKeys >= d.cfg.MaxKeys)
			}
		}
		d.expired.Add(1)
	}
}
