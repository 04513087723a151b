package drift

import (
	"flag"
	"fmt"
	"math"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
	"unsafe"
)

var (
	detectSeeds = flag.Int("drift.seeds", 50, "seeds per scenario in BenchmarkDetectionTime")
	aaRuns      = flag.Int("drift.aa_runs", 20, "24 h A/A runs in BenchmarkAAFalseAlarms24h")
	detectAlpha = flag.Float64("drift.alpha", 0.01, "significance in BenchmarkDetectionTime (e.g. 0.01/6000 for family-wise control over 1,000 keys × 3 canaries × 2 signals)")
)

func benchKeys(n int) []Key {
	keys := make([]Key, n)
	for i := range keys {
		keys[i] = Key{Service: fmt.Sprintf("svc-%d", i%10), Operation: fmt.Sprintf("GET /api/v1/items/%d", i)}
	}
	return keys
}

// mutexMapReference is what a straightforward implementation does: one mutex,
// a map lookup and a histogram increment. Measured in the same run as Observe.
type mutexMapReference struct {
	mu sync.Mutex
	m  map[seriesKey]*bucketCounts
}

func (r *mutexMapReference) observe(k Key, cohort string, ns int64) {
	r.mu.Lock()
	h := r.m[seriesKey{key: k, cohort: cohort}]
	if h == nil {
		h = new(bucketCounts)
		r.m[seriesKey{key: k, cohort: cohort}] = h
	}
	h[bucketIndex(ns)]++
	r.mu.Unlock()
}

// observeLoad makes n calls of an Observe-like function, split over procs
// goroutines, the way both sides of BenchmarkObserve are driven: 200 keys ×
// 2 cohorts, durations 1-17 ms, 0.1% errors, each goroutine from its own offset.
func observeLoad(n, procs int, keys []Key, observe func(k Key, cohort string, ns int64, isErr bool)) {
	cohorts := [2]string{"1.2.3", "1.2.4"}
	var wg sync.WaitGroup
	for p := range procs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := p * 7919; i < p*7919+n/procs; i++ {
				observe(keys[i%len(keys)], cohorts[i&1], int64(1e6+i&0xffffff), i%1000 == 0)
			}
		}()
	}
	wg.Wait()
}

// processCPU returns the CPU time (user+system) the process has used. On a
// shared, oversubscribed machine wall-clock ns/op mostly measures waiting for
// a core; CPU time per op is the steadier figure.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkObserve: the hot path over 200 keys × 2 cohorts, on one goroutine
// and on every core, with a mutex+map reference driven identically in the
// same run. Reports wall and CPU ns/op for both and their ratios
// (ratio < 1: Observe is faster).
func BenchmarkObserve(b *testing.B) {
	keys := benchKeys(200)
	for _, procs := range []int{1, runtime.GOMAXPROCS(0)} {
		b.Run(fmt.Sprintf("goroutines=%d", procs), func(b *testing.B) {
			d := NewDetector(Config{})
			ref := &mutexMapReference{m: map[seriesKey]*bucketCounts{}}
			refObserve := func(k Key, c string, ns int64, _ bool) { ref.observe(k, c, ns) }
			observeLoad(len(keys)*2, 1, keys, d.Observe)
			observeLoad(len(keys)*2, 1, keys, refObserve)
			b.ReportAllocs()
			cpu0 := processCPU()
			b.ResetTimer()
			observeLoad(b.N, procs, keys, d.Observe)
			b.StopTimer()
			cpu1 := processCPU()
			wall := float64(b.Elapsed().Nanoseconds()) / float64(b.N)
			cpu := float64((cpu1 - cpu0).Nanoseconds()) / float64(b.N)

			start := time.Now()
			observeLoad(b.N, procs, keys, refObserve)
			refWall := float64(time.Since(start).Nanoseconds()) / float64(b.N)
			refCPU := float64((processCPU() - cpu1).Nanoseconds()) / float64(b.N)

			b.ReportMetric(cpu, "cpu_ns/op")
			b.ReportMetric(refWall, "ref_ns/op")
			b.ReportMetric(refCPU, "ref_cpu_ns/op")
			b.ReportMetric(wall/refWall, "ratio_vs_ref")
			b.ReportMetric(cpu/refCPU, "cpu_ratio_vs_ref")
		})
	}
}

// BenchmarkEvaluate: one Evaluate over 1,000 keys × 2 cohorts, the work the
// processor's timer does; also reports the memory held per key-cohort pair.
func BenchmarkEvaluate(b *testing.B) {
	keys := benchKeys(1000)
	d := NewDetector(Config{})
	now := simStart
	for _, k := range keys {
		feed(d, k, "1.2.3", 97, 1, 50)
		feed(d, k, "1.2.4", 10, 1, 50)
	}
	d.Evaluate(now)
	b.ReportAllocs()
	cpu0 := processCPU()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		now = now.Add(5 * time.Second)
		d.Evaluate(now)
	}
	b.StopTimer()
	b.ReportMetric(float64((processCPU()-cpu0).Nanoseconds())/float64(b.N)/2000, "cpu_ns/series")
	b.ReportMetric(float64(unsafe.Sizeof(series{})), "bytes/series")
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/2000, "ns/series")
}

// BenchmarkDetectionTime: simulated seconds until a 5% canary at 1,000
// spans/s (Evaluate every 5 s or 15 s, α = -drift.alpha) is reported drifting, over
// -drift.seeds seeds. Goal ≤ 60 s; goal_ratio = worst / 60 s.
// Run with -benchtime=1x: each iteration simulates every seed.
func BenchmarkDetectionTime(b *testing.B) {
	scenarios := []struct {
		name   string
		sigma  float64
		canary simCohort
		signal Signal
	}{
		{"latency+30%/sigma=0.5", 0.5, simCohort{name: "v2", share: 0.05, slowdown: 1.3, errorRate: 0.001}, SignalLatency},
		{"latency+30%/sigma=1.0", 1.0, simCohort{name: "v2", share: 0.05, slowdown: 1.3, errorRate: 0.001}, SignalLatency},
		{"errors0.1%->1%", 0.5, simCohort{name: "v2", share: 0.05, slowdown: 1, errorRate: 0.01}, SignalErrors},
	}
	for _, every := range []time.Duration{5 * time.Second, 15 * time.Second} {
		for _, sc := range scenarios {
			b.Run(fmt.Sprintf("eval=%v/%s", every, sc.name), func(b *testing.B) {
				var secs []float64
				missed := 0
				for i := 0; i < b.N; i++ {
					secs = secs[:0]
					missed = 0
					for seed := 1; seed <= *detectSeeds; seed++ {
						d := NewDetector(Config{Significance: *detectAlpha})
						sim := newSimulation(d, uint64(seed), sc.sigma, []simCohort{{name: "v1", share: 0.95, slowdown: 1, errorRate: 0.001}, sc.canary})
						sim.viaObserve = true
						sim.evalEvery = every
						took, ok := sim.timeToDetect("v2", sc.signal, 10*time.Minute)
						if !ok {
							missed++
							continue
						}
						secs = append(secs, took.Seconds())
					}
				}
				slices.Sort(secs)
				if len(secs) > 0 {
					b.ReportMetric(secs[len(secs)/2], "median_s")
					b.ReportMetric(secs[(len(secs)*95+99)/100-1], "p95_s")
					b.ReportMetric(secs[len(secs)-1], "max_s")
					b.ReportMetric(secs[len(secs)-1]/60, "goal_ratio")
				}
				b.ReportMetric(float64(missed), "missed_in_10min")
				b.ReportMetric(float64(*detectSeeds), "seeds")
			})
		}
	}
}

// naiveErrorTest is the reference a dashboard alert amounts to: a one-sided
// two-proportion z-test at the 1% level on the verdict's windowed error
// ratios, checked at every evaluation as if each look were the only one.
func naiveErrorTest(v *Verdict) bool {
	nc, nb := float64(v.CanarySpans), float64(v.BaselineSpans)
	if nc < DefaultMinSamples || nb < DefaultMinSamples {
		return false
	}
	p := (v.CanaryErrorRatio*nc + v.BaselineErrorRatio*nb) / (nc + nb)
	if p == 0 {
		return false
	}
	z := (v.CanaryErrorRatio - v.BaselineErrorRatio) / math.Sqrt(p*(1-p)*(1/nc+1/nb))
	return z > 2.326
}

// BenchmarkAAFalseAlarms24h: -drift.aa_runs runs of 24 h of simulated A/A
// traffic (5% "canary" identical to the baseline, 1,000 spans/s, both
// signals, α = 0.01, Evaluate every 5 s: 17,280 looks per run); reports the
// fraction of runs with any false alarm. Goal ≤ 0.01. Spans go straight to
// each cohort's series (Observe minus its map lookup) to keep 86.4 M spans
// per run affordable. naive_ztest_fraction is the same for a fixed-sample
// z-test on the error ratios repeated at every look (naiveErrorTest), on the
// same runs. Run with -benchtime=1x.
func BenchmarkAAFalseAlarms24h(b *testing.B) {
	var alarms, latencyAlarms, errorAlarms, naiveAlarms atomic.Int64
	runs := *aaRuns
	for i := 0; i < b.N; i++ {
		alarms.Store(0)
		latencyAlarms.Store(0)
		errorAlarms.Store(0)
		naiveAlarms.Store(0)
		next := atomic.Int64{}
		var wg sync.WaitGroup
		for range runtime.GOMAXPROCS(0) {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					run := next.Add(1)
					if run > int64(runs) {
						return
					}
					d := NewDetector(Config{Significance: 0.01})
					sim := newSimulation(d, uint64(1_000_000+run), 0.8, aaCohorts())
					var lat, errs, naive bool
					sim.run(24*time.Hour, func(_ time.Duration, vs []Verdict) bool {
						for _, v := range vs {
							if v.Drifting {
								lat = lat || v.Signal == SignalLatency
								errs = errs || v.Signal == SignalErrors
							}
							if v.Signal == SignalErrors && naiveErrorTest(&v) {
								naive = true
							}
						}
						return false
					})
					if naive {
						naiveAlarms.Add(1)
					}
					if lat || errs {
						alarms.Add(1)
					}
					if lat {
						latencyAlarms.Add(1)
					}
					if errs {
						errorAlarms.Add(1)
					}
				}
			}()
		}
		wg.Wait()
	}
	b.ReportMetric(float64(alarms.Load())/float64(runs), "false_alarm_fraction")
	b.ReportMetric(float64(latencyAlarms.Load())/float64(runs), "latency_fraction")
	b.ReportMetric(float64(errorAlarms.Load())/float64(runs), "errors_fraction")
	b.ReportMetric(float64(alarms.Load())/float64(runs)/0.01, "goal_ratio")
	b.ReportMetric(float64(naiveAlarms.Load())/float64(runs), "naive_ztest_fraction")
	b.ReportMetric(float64(runs), "runs")
}
