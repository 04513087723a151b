package drift

import (
	"math"
	"math/rand/v2"
	"time"
)

// simCohort describes one cohort of simulated traffic for one key.
type simCohort struct {
	name      string
	share     float64 // fraction of the key's spans
	slowdown  float64 // latency multiplier (1 = like the baseline)
	errorRate float64
}

// simulation feeds the detector synthetic spans at a fixed rate in simulated
// time: durations lognormal (median 50 ms, shape sigma), errors Bernoulli.
type simulation struct {
	d          *Detector
	key        Key
	cohorts    []simCohort
	spansPerS  int
	evalEvery  time.Duration
	viaObserve bool // true: Detector.Observe; false: resolve each series once (same counting, no map lookup)

	rng    *rand.Rand
	pool   [1 << 16]float64 // lognormal durations in ns, shared by all cohorts
	shareT []uint64         // cumulative cohort thresholds on 20 random bits
	errT   []uint64         // error thresholds on 28 random bits
	series []*series
	clock  time.Duration // simulated time since simStart, kept across runs
}

var simStart = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func newSimulation(d *Detector, seed uint64, sigma float64, cohorts []simCohort) *simulation {
	s := &simulation{
		d: d, key: Key{Service: "checkout", Operation: "POST /orders"}, cohorts: cohorts,
		spansPerS: 1000, evalEvery: 5 * time.Second,
		rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)),
	}
	for i := range s.pool {
		s.pool[i] = 50e6 * math.Exp(sigma*s.rng.NormFloat64())
	}
	var cum float64
	for _, c := range cohorts {
		cum += c.share
		s.shareT = append(s.shareT, uint64(cum*(1<<20)))
		s.errT = append(s.errT, uint64(c.errorRate*(1<<28)))
	}
	s.shareT[len(s.shareT)-1] = 1 << 20
	return s
}

// run simulates up to d more traffic, calling onEval after each Evaluate with
// the simulated time since this run began; it stops early when onEval returns true.
func (s *simulation) run(d time.Duration, onEval func(elapsed time.Duration, vs []Verdict) bool) {
	if !s.viaObserve && s.series == nil {
		for _, c := range s.cohorts {
			s.series = append(s.series, s.d.resolve(seriesKey{key: s.key, cohort: c.name}))
		}
	}
	evalSeconds := int(s.evalEvery / time.Second)
	for sec := 1; sec <= int(d/time.Second); sec++ {
		for range s.spansPerS {
			r := s.rng.Uint64()
			pick := (r >> 16) & (1<<20 - 1)
			ci := 0
			for pick >= s.shareT[ci] {
				ci++
			}
			c := &s.cohorts[ci]
			ns := int64(s.pool[r&0xffff] * c.slowdown)
			isErr := r>>36 < s.errT[ci]
			if s.viaObserve {
				s.d.Observe(s.key, c.name, ns, isErr)
			} else {
				s.series[ci].observe(ns, isErr)
			}
		}
		s.clock += time.Second
		if sec%evalSeconds == 0 {
			elapsed := time.Duration(sec) * time.Second
			if onEval(elapsed, s.d.Evaluate(simStart.Add(s.clock))) {
				return
			}
		}
	}
}

// timeToDetect runs until the canary drifts on sig and returns the simulated
// time, or ok false after limit.
func (s *simulation) timeToDetect(canary string, sig Signal, limit time.Duration) (time.Duration, bool) {
	var found time.Duration
	s.run(limit, func(elapsed time.Duration, vs []Verdict) bool {
		for _, v := range vs {
			if v.Cohort == canary && v.Signal == sig && v.Drifting {
				found = elapsed
				return true
			}
		}
		return false
	})
	return found, found > 0
}

// falseAlarm runs for d and reports whether any verdict was ever drifting.
func (s *simulation) falseAlarm(d time.Duration) bool {
	alarm := false
	s.run(d, func(_ time.Duration, vs []Verdict) bool {
		for _, v := range vs {
			if v.Drifting {
				alarm = true
				return true
			}
		}
		return false
	})
	return alarm
}

func aaCohorts() []simCohort {
	return []simCohort{
		{name: "v1", share: 0.95, slowdown: 1, errorRate: 0.001},
		{name: "v2", share: 0.05, slowdown: 1, errorRate: 0.001},
	}
}

// scaled returns full, or small under the race detector.
func scaled[T any](full, small T) T {
	if raceEnabled {
		return small
	}
	return full
}
