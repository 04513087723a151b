package drift

import (
	"fmt"
	"math"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

var (
	keyA = Key{Service: "cart", Operation: "GET /cart/{id}"}
	keyB = Key{Service: "cart", Operation: "POST /cart"}
)

func seriesTotal(d *Detector, k Key, cohort string) uint64 {
	s := d.index.Load().lookup(k, cohort)
	if s == nil {
		return 0
	}
	var snap bucketCounts
	s.hist.load(&snap)
	return snap.total()
}

// Many goroutines observing while Evaluate and Drifting run lose no span
// (run with -race).
func TestConcurrentObserveEvaluate(t *testing.T) {
	t.Parallel()
	// The evaluator's clock runs a simulated second per loop; on a loaded
	// machine that can pass any idle timeout, so expiry is kept out of this test.
	d := NewDetector(Config{IdleTimeout: 1 << 62})
	const writers, perWriter = 8, 20_000
	var wg sync.WaitGroup
	stop := make(chan struct{})
	evalDone := make(chan struct{})
	go func() {
		defer close(evalDone)
		now := simStart
		for {
			select {
			case <-stop:
				return
			default:
			}
			now = now.Add(time.Second)
			d.Evaluate(now)
			d.Drifting(keyA, "v2")
			d.Stats()
		}
	}()
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range perWriter {
				k := keyA
				if i%2 == 1 {
					k = keyB
				}
				cohort := "v1"
				if (i+w)%10 == 0 {
					cohort = "v2"
				}
				d.Observe(k, cohort, int64(1e6+i), i%100 == 0)
			}
		}()
	}
	wg.Wait()
	close(stop)
	<-evalDone
	var got uint64
	for _, k := range []Key{keyA, keyB} {
		for _, c := range []string{"v1", "v2"} {
			got += seriesTotal(d, k, c)
		}
	}
	if got != writers*perWriter {
		t.Fatalf("histograms hold %d spans, want %d", got, writers*perWriter)
	}
	if st := d.Stats(); st.Keys != 2 || st.Series != 4 || st.DroppedObservations != 0 || st.FoldedObservations != 0 {
		t.Fatalf("stats %+v, want 2 keys, 4 series, nothing dropped or folded", st)
	}
}

func TestObserveSteadyStateAllocatesNothing(t *testing.T) {
	d := NewDetector(Config{})
	d.Observe(keyA, "v1", 1e6, false)
	allocs := testing.AllocsPerRun(1000, func() {
		d.Observe(keyA, "v1", 2e6, true)
		d.Drifting(keyA, "v1")
	})
	if allocs != 0 {
		t.Fatalf("Observe+Drifting allocate %v times per call in steady state", allocs)
	}
}

func TestBoundsFoldKeysAndDropCohorts(t *testing.T) {
	t.Parallel()
	d := NewDetector(Config{MaxKeys: 2, MaxCohortsPerKey: 2})
	for i := range 5 {
		d.Observe(Key{Service: "s", Operation: fmt.Sprint("op", i)}, "v1", 1e6, false)
	}
	// op0, op1 tracked; op2..op4 folded into the overflow key (one series).
	if got := seriesTotal(d, OverflowKey, "v1"); got != 3 {
		t.Fatalf("overflow key holds %d spans, want 3", got)
	}
	d.Observe(Key{Service: "s", Operation: "op0"}, "v2", 1e6, false)
	d.Observe(Key{Service: "s", Operation: "op0"}, "v3", 1e6, false) // third cohort: dropped
	d.Observe(Key{Service: "s", Operation: "op9"}, "v2", 1e6, false) // folded, second overflow cohort
	d.Observe(Key{Service: "s", Operation: "op9"}, "v3", 1e6, false) // overflow key has 2 cohorts: dropped, not folded
	st := d.Stats()
	want := Stats{Keys: 3, Series: 5, FoldedObservations: 4, DroppedObservations: 2}
	if st != want {
		t.Fatalf("stats %+v, want %+v", st, want)
	}
	if got := seriesTotal(d, Key{Service: "s", Operation: "op0"}, "v3"); got != 0 {
		t.Fatalf("dropped cohort was counted: %d", got)
	}
}

// feed sends n spans per cohort with the given latency multiplier and error
// ratio, spread over the bucket range like real traffic.
func feed(d *Detector, k Key, cohort string, n int, slow float64, errEvery int) {
	for i := range n {
		ns := int64(slow * 20e6 * math.Exp(float64(i%97-48)/40))
		d.Observe(k, cohort, ns, errEvery > 0 && i%errEvery == 0)
	}
}

func TestBaselineSelection(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, baseline string
		wantBase       string
		wantCanaries   []string
	}{
		{"most traffic", "", "big", []string{"mid", "small"}},
		{"named", "small", "small", []string{"big", "mid"}},
		{"named but absent", "nope", "", nil},
	}
	for _, tt := range tests {
		d := NewDetector(Config{Baseline: tt.baseline, Signals: []Signal{SignalErrors}})
		now := simStart
		var vs []Verdict
		for range 2 {
			feed(d, keyA, "big", 1000, 1, 0)
			feed(d, keyA, "mid", 500, 1, 0)
			feed(d, keyA, "small", 200, 1, 0)
			now = now.Add(5 * time.Second)
			vs = d.Evaluate(now)
		}
		var canaries []string
		for _, v := range vs {
			if v.Baseline != tt.wantBase {
				t.Errorf("%s: verdict baseline %q, want %q", tt.name, v.Baseline, tt.wantBase)
			}
			canaries = append(canaries, v.Cohort)
		}
		if fmt.Sprint(canaries) != fmt.Sprint(tt.wantCanaries) {
			t.Errorf("%s: verdicts for %v, want %v", tt.name, canaries, tt.wantCanaries)
		}
	}
}

func TestVerdictFigures(t *testing.T) {
	t.Parallel()
	d := NewDetector(Config{})
	feed(d, keyA, "v1", 97*200, 1, 100)
	feed(d, keyA, "v2", 97*20, 2, 10)
	vs := d.Evaluate(simStart)
	if len(vs) != 2 || vs[0].Signal != SignalLatency || vs[1].Signal != SignalErrors {
		t.Fatalf("got %d verdicts %+v, want latency then errors for v2", len(vs), vs)
	}
	v := vs[0]
	if v.CanarySpans != 97*20 || v.BaselineSpans != 97*200 {
		t.Errorf("span counts %d/%d, want %d/%d", v.CanarySpans, v.BaselineSpans, 97*20, 97*200)
	}
	if r := v.CanaryP50 / v.BaselineP50; math.Abs(r-2) > 0.13 {
		t.Errorf("p50 ratio %v (canary %v, baseline %v), want ≈ 2", r, v.CanaryP50, v.BaselineP50)
	}
	if math.Abs(v.BaselineP50-0.020) > 0.020/16 {
		t.Errorf("baseline p50 %v s, want 0.020 within a bucket", v.BaselineP50)
	}
	if !(v.BaselineP50 < v.BaselineP95 && v.BaselineP95 < v.BaselineP99) {
		t.Errorf("baseline quantiles not increasing: %v %v %v", v.BaselineP50, v.BaselineP95, v.BaselineP99)
	}
	if math.Abs(v.CanaryErrorRatio-0.1) > 0.001 || math.Abs(v.BaselineErrorRatio-0.01) > 0.0002 {
		t.Errorf("error ratios %v/%v, want 0.1/0.01", v.CanaryErrorRatio, v.BaselineErrorRatio)
	}
	if want := math.Log(1 / DefaultSignificance); math.Abs(v.Threshold-want) > 1e-12 {
		t.Errorf("threshold %v, want log(1/α) = %v", v.Threshold, want)
	}
}

// A clearly worse canary drifts, Drifting reports it, and when it stops
// sending spans it expires and its drift ends with one Changed verdict.
func TestDriftThenExpiry(t *testing.T) {
	t.Parallel()
	d := NewDetector(Config{IdleTimeout: time.Minute})
	now := simStart
	started := false
	for range 6 {
		feed(d, keyA, "v1", 97*20, 1, 1000)
		feed(d, keyA, "v2", 97*2, 3, 5)
		now = now.Add(5 * time.Second)
		for _, v := range d.Evaluate(now) {
			if v.Drifting && v.Changed {
				started = true
			}
		}
	}
	if !started || !d.Drifting(keyA, "v2") {
		t.Fatalf("a 3× slower canary with 20%% errors is not drifting (started=%v)", started)
	}
	if d.Drifting(keyA, "v1") {
		t.Fatal("the baseline is reported drifting")
	}
	var ended []Verdict
	for range 20 {
		feed(d, keyA, "v1", 97*20, 1, 1000)
		now = now.Add(5 * time.Second)
		for _, v := range d.Evaluate(now) {
			if v.Changed {
				ended = append(ended, v)
			}
		}
	}
	if len(ended) != 2 || ended[0].Drifting || ended[1].Drifting {
		t.Fatalf("after the canary went quiet: changed verdicts %+v, want latency and errors ending", ended)
	}
	if d.Drifting(keyA, "v2") {
		t.Fatal("expired canary still drifting")
	}
	if st := d.Stats(); st.ExpiredSeries != 1 || st.Series != 1 {
		t.Fatalf("stats %+v, want the canary expired", st)
	}
}

func TestMinSamplesHoldsVerdict(t *testing.T) {
	t.Parallel()
	d := NewDetector(Config{MinSamples: 100000, Signals: []Signal{SignalErrors}})
	now := simStart
	for range 10 {
		feed(d, keyA, "v1", 1000, 1, 0)
		feed(d, keyA, "v2", 100, 1, 1)
		now = now.Add(5 * time.Second)
		for _, v := range d.Evaluate(now) {
			if v.Drifting {
				t.Fatal("drifting before MinSamples spans")
			}
			if v.Statistic < v.Threshold && now.Sub(simStart) > 20*time.Second {
				t.Fatalf("statistic %v below threshold %v for a canary failing every span", v.Statistic, v.Threshold)
			}
		}
	}
}

func TestConfigValidate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		cfg     Config
		wantErr string
	}{
		{"zero is valid", Config{}, ""},
		{"full", Config{Significance: 0.05, Signals: []Signal{SignalErrors}, Baseline: "1.2.3", MinSamples: 10, MaxKeys: 5, MaxCohortsPerKey: 3, Horizon: time.Hour, IdleTimeout: time.Hour}, ""},
		{"significance 1", Config{Significance: 1}, "significance must be in (0, 1): 1"},
		{"significance negative", Config{Significance: -0.1}, "significance must be in (0, 1): -0.1"},
		{"unknown signal", Config{Signals: []Signal{7}}, "signals: unknown signal Signal(7)"},
		{"min samples", Config{MinSamples: -1}, "min_samples is negative: -1"},
		{"max keys", Config{MaxKeys: -2}, "max_keys is negative: -2"},
		{"one cohort", Config{MaxCohortsPerKey: 1}, "max_cohorts_per_key must be 0 (default) or at least 2: 1"},
		{"horizon", Config{Horizon: -time.Second}, "horizon is negative: -1s"},
		{"idle", Config{IdleTimeout: -time.Second}, "idle_timeout is negative: -1s"},
	}
	for _, tt := range tests {
		err := tt.cfg.Validate()
		if tt.wantErr == "" && err != nil {
			t.Errorf("%s: unexpected error %v", tt.name, err)
		}
		if tt.wantErr != "" && (err == nil || err.Error() != tt.wantErr) {
			t.Errorf("%s: error %v, want %q", tt.name, err, tt.wantErr)
		}
	}
	// Invalid values do not break NewDetector: they take defaults.
	d := NewDetector(Config{Significance: 3, MaxCohortsPerKey: 1, Signals: []Signal{9}})
	if d.cfg.Significance != DefaultSignificance || d.cfg.MaxCohortsPerKey != DefaultMaxCohortsPerKey || len(d.cfg.Signals) != 2 {
		t.Fatalf("defaults not applied: %+v", d.cfg)
	}
}

func TestParseSignal(t *testing.T) {
	t.Parallel()
	for _, s := range []Signal{SignalLatency, SignalErrors} {
		got, err := ParseSignal(s.String())
		if err != nil || got != s {
			t.Errorf("ParseSignal(%q) = %v, %v", s.String(), got, err)
		}
	}
	if _, err := ParseSignal("throughput"); err == nil || err.Error() != `unknown drift signal "throughput" (want latency or errors)` {
		t.Errorf("ParseSignal(throughput) error %v", err)
	}
}

// When the canary overtakes the baseline in traffic (automatic baseline), the
// roles swap: the old canary's drift ends with a Changed verdict and the old
// baseline, which is faster, is tested as a canary and is not drifting.
func TestAutomaticBaselineSwap(t *testing.T) {
	t.Parallel()
	d := NewDetector(Config{Signals: []Signal{SignalLatency}})
	now := simStart
	for range 6 {
		feed(d, keyA, "old", 97*20, 1, 0)
		feed(d, keyA, "new", 97*2, 3, 0)
		now = now.Add(5 * time.Second)
		d.Evaluate(now)
	}
	if !d.Drifting(keyA, "new") {
		t.Fatal("3× slower canary not drifting before the swap")
	}
	var changed []Verdict
	var last []Verdict
	for range 10 {
		feed(d, keyA, "new", 97*60, 3, 0)
		now = now.Add(5 * time.Second)
		last = d.Evaluate(now)
		for _, v := range last {
			if v.Changed {
				changed = append(changed, v)
			}
		}
	}
	if len(changed) != 1 || changed[0].Cohort != "new" || changed[0].Drifting {
		t.Fatalf("changed verdicts %+v, want one ending the drift of new", changed)
	}
	if len(last) != 1 || last[0].Cohort != "old" || last[0].Baseline != "new" || last[0].Drifting {
		t.Fatalf("after the swap: verdicts %+v, want old tested against new, not drifting", last)
	}
}

// A test that restarts because its baseline went away and came back starts
// from no evidence: its statistic is that of a new test (the weight of one
// look), not what the old test held, and its threshold stays log(1/α).
func TestRestartedTestStartsFromNoEvidence(t *testing.T) {
	t.Parallel()
	d := NewDetector(Config{Baseline: "v1", Signals: []Signal{SignalErrors}, IdleTimeout: 20 * time.Second})
	now := simStart
	step := func(withBaseline bool, canaryErrEvery int) []Verdict {
		if withBaseline {
			feed(d, keyA, "v1", 1000, 1, 0)
		}
		feed(d, keyA, "v2", 100, 1, canaryErrEvery)
		now = now.Add(5 * time.Second)
		return d.Evaluate(now)
	}
	first := step(true, 2) // 50 canary errors, none in the baseline: strong evidence
	if len(first) != 1 || first[0].Statistic < first[0].Threshold {
		t.Fatalf("first verdicts %+v, want one with the statistic over the threshold", first)
	}
	for range 6 { // baseline silent past IdleTimeout: expires
		step(false, 0)
	}
	if st := d.Stats(); st.ExpiredSeries != 1 {
		t.Fatalf("baseline did not expire: %+v", st)
	}
	again := step(true, 0)
	wantStat := math.Log(5.0 / DefaultHorizon.Seconds()) // one look's weight, e = 1 (no errors)
	if len(again) != 1 || math.Abs(again[0].Statistic-wantStat) > 1e-9 || again[0].Threshold != first[0].Threshold || again[0].Drifting {
		t.Fatalf("after the baseline returned: %+v, want statistic %v, threshold %v, not drifting", again, wantStat, first[0].Threshold)
	}
}

// The interval before a canary's first Evaluate counts: a cohort Evaluate
// has not seen yet was created during the interval, so its counts at the
// previous call were zero. Without this the first interval of every test was
// lost (5 s of detection time with the processor's default interval).
func TestFirstIntervalCounts(t *testing.T) {
	t.Parallel()
	errStat := func(x, e, nc, n uint64) float64 {
		p := newEDetector(errorOdds[:])
		var logE [maxComponents]float64
		errorFactors(&logE, x, e, nc, n)
		p.update(math.Log(firstLook.Seconds()/DefaultHorizon.Seconds()), &logE, math.Log(1/DefaultSignificance))
		return p.logValue()
	}
	t.Run("new key", func(t *testing.T) {
		d := NewDetector(Config{})
		feed(d, keyA, "v1", 97*20, 1, 100) // 20 errors
		feed(d, keyA, "v2", 97*2, 2, 10)   // 20 errors
		vs := d.Evaluate(simStart)
		if len(vs) != 2 {
			t.Fatalf("got %d verdicts, want 2", len(vs))
		}
		if want := math.Log(firstLook.Seconds() / DefaultHorizon.Seconds()); math.Abs(vs[0].Statistic-want) > 1e-9 {
			t.Errorf("latency statistic %v, want %v (the look's weight alone): no thresholds existed before the interval", vs[0].Statistic, want)
		}
		want := errStat(20, 40, 97*2, 97*22)
		if got := vs[1].Statistic; math.Abs(got-want) > 1e-9 || got <= 0 {
			t.Errorf("error statistic %v, want %v (the first interval folded)", got, want)
		}
	})
	t.Run("new canary of a known key", func(t *testing.T) {
		d := NewDetector(Config{})
		feed(d, keyA, "v1", 97*20, 1, 0)
		d.Evaluate(simStart) // baseline alone: sets the latency thresholds
		feed(d, keyA, "v1", 97*20, 1, 100)
		feed(d, keyA, "v2", 97*2, 2, 10)
		vs := d.Evaluate(simStart.Add(5 * time.Second))
		if len(vs) != 2 {
			t.Fatalf("got %d verdicts, want 2", len(vs))
		}
		if floor := math.Log(5 / DefaultHorizon.Seconds()); vs[0].Statistic <= floor+10 {
			t.Errorf("latency statistic %v, want well above the look's weight %v for a canary twice as slow in its first interval", vs[0].Statistic, floor)
		}
		want := errStat(20, 40, 97*2, 97*22)
		if got := vs[1].Statistic; math.Abs(got-want) > 1e-9 {
			t.Errorf("error statistic %v, want %v", got, want)
		}
	})
}
