package drift

import (
	"testing"
	"time"
)

// A 5% canary at 1,000 spans/s, 30% slower or with 10× the errors, is found
// within a minute of simulated time, on the right signal.
func TestSimulationDetectsShift(t *testing.T) {
	tests := []struct {
		name   string
		sigma  float64
		canary simCohort
		signal Signal
	}{
		{"latency+30% sigma0.5", 0.5, simCohort{name: "v2", share: 0.05, slowdown: 1.3, errorRate: 0.001}, SignalLatency},
		{"latency+30% sigma1.0", 1.0, simCohort{name: "v2", share: 0.05, slowdown: 1.3, errorRate: 0.001}, SignalLatency},
		{"errors 0.1%->1%", 0.5, simCohort{name: "v2", share: 0.05, slowdown: 1, errorRate: 0.01}, SignalErrors},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			for seed := uint64(1); seed <= 5; seed++ {
				d := NewDetector(Config{Significance: 0.01})
				sim := newSimulation(d, seed, tt.sigma, []simCohort{{name: "v1", share: 0.95, slowdown: 1, errorRate: 0.001}, tt.canary})
				sim.viaObserve = true
				took, ok := sim.timeToDetect("v2", tt.signal, 5*time.Minute)
				if !ok {
					t.Fatalf("seed %d: not detected within 5 min", seed)
				}
				if took > 60*time.Second {
					t.Errorf("seed %d: detected after %v, want ≤ 60s", seed, took)
				}
			}
		})
	}
}

// A canary that is faster or has fewer errors is different, not worse: it
// must not be reported drifting.
func TestSimulationBetterCanaryIsNotDrifting(t *testing.T) {
	t.Parallel()
	d := NewDetector(Config{Significance: 0.01})
	sim := newSimulation(d, 7, 0.7, []simCohort{
		{name: "v1", share: 0.95, slowdown: 1, errorRate: 0.01},
		{name: "v2", share: 0.05, slowdown: 0.7, errorRate: 0.001},
	})
	var last []Verdict
	alarm := false
	sim.run(scaled(30*time.Minute, 5*time.Minute), func(_ time.Duration, vs []Verdict) bool {
		last = vs
		for _, v := range vs {
			alarm = alarm || v.Drifting
		}
		return false
	})
	if alarm {
		t.Fatal("a faster canary with fewer errors was reported drifting")
	}
	if len(last) != 2 {
		t.Fatalf("got %d verdicts, want latency and errors for v2", len(last))
	}
	for _, v := range last {
		if v.Statistic >= 0 {
			t.Errorf("%v: log e-value %v, want negative evidence for a better canary", v.Signal, v.Statistic)
		}
	}
}

// Reduced A/A check span by span through Observe (TestAAFalseAlarmsPerDay
// and BenchmarkAAFalseAlarms24h simulate whole days): two identical cohorts
// for 1 h of simulated time over 16 seeds. Each run's false-alarm
// probability is at most 2α/24 (two signals, an hour of a 24 h horizon); a
// valid test gives on average at most 0.014 alarms here, a broken one
// (two-sided, or a threshold ignoring repeated looks) gives several.
func TestSimulationAANoFalseAlarm(t *testing.T) {
	t.Parallel()
	alarms := 0
	for seed := uint64(100); seed < scaled[uint64](116, 102); seed++ {
		d := NewDetector(Config{Significance: 0.01})
		sim := newSimulation(d, seed, 0.8, aaCohorts())
		if sim.falseAlarm(time.Hour) {
			alarms++
			t.Logf("seed %d: false alarm", seed)
		}
	}
	if alarms > 1 {
		t.Fatalf("%d of 16 A/A runs raised a false alarm", alarms)
	}
}

// A drift that begins after an hour of healthy canary traffic (span by span,
// through Observe) is found within the usual detection time, and ends once
// the canary recovers.
func TestSimulationDetectsLateDrift(t *testing.T) {
	t.Parallel()
	d := NewDetector(Config{Significance: 0.01})
	cohorts := aaCohorts()
	sim := newSimulation(d, 3, 0.7, cohorts)
	sim.viaObserve = true
	if sim.falseAlarm(scaled(time.Hour, 15*time.Minute)) {
		t.Fatal("false alarm during the healthy period")
	}
	sim.cohorts[1].slowdown = 1.3
	took, ok := sim.timeToDetect("v2", SignalLatency, 30*time.Minute)
	if !ok || took > 90*time.Second {
		t.Fatalf("late drift detected=%v after %v, want within 90 s", ok, took)
	}
	t.Logf("late drift detected %v after it began", took)
	// Five more minutes of drift, then recovery: the drift ends (the
	// statistic drains below 0) with exactly one Changed verdict.
	sim.run(5*time.Minute, func(time.Duration, []Verdict) bool { return false })
	sim.cohorts[1].slowdown = 1
	changes := 0
	ended := false
	var endedAfter time.Duration
	sim.run(10*time.Minute, func(elapsed time.Duration, vs []Verdict) bool {
		endedAfter = elapsed
		for _, v := range vs {
			if v.Signal == SignalLatency && v.Changed {
				changes++
				ended = !v.Drifting
			}
		}
		return ended
	})
	if !ended || changes != 1 {
		t.Fatalf("after recovery: ended=%v with %d changes, want one change to not drifting within 10 min", ended, changes)
	}
	t.Logf("drift ended %v after the canary recovered", endedAfter)
}
