package drift

import (
	"fmt"
	"math"
	"testing"
	"time"
)

// Arbitrary names, durations (negative, huge) and clocks (standing still,
// going backwards) never panic and never produce NaN or infinite figures.
func FuzzDetector(f *testing.F) {
	f.Add("checkout", "POST /orders", "1.2.3", int64(5e7), true, int64(5e9))
	f.Add("", "", "", int64(-1), false, int64(-3e9))
	f.Add("s", "op", "c", int64(math.MaxInt64), true, int64(0))
	f.Add("s", "op", "c", int64(math.MinInt64), false, int64(math.MaxInt64/64))
	f.Fuzz(func(t *testing.T, svc, op, cohort string, ns int64, isErr bool, step int64) {
		d := NewDetector(Config{MaxKeys: 2, MaxCohortsPerKey: 2, MinSamples: 1, Horizon: time.Hour, IdleTimeout: time.Minute})
		now := simStart
		for i := range int64(60) {
			for j := range int64(20) {
				k := Key{Service: svc, Operation: fmt.Sprint(op, j%3)}
				d.Observe(k, fmt.Sprint(cohort, j%3), ns*(i+j), isErr != (j%7 == 0))
			}
			now = now.Add(time.Duration(step))
			for _, v := range d.Evaluate(now) {
				for _, x := range []float64{v.CanaryP50, v.CanaryP95, v.CanaryP99, v.BaselineP50, v.BaselineP95, v.BaselineP99, v.CanaryErrorRatio, v.BaselineErrorRatio, v.Statistic, v.Threshold} {
					if math.IsNaN(x) || math.IsInf(x, 0) {
						t.Fatalf("non-finite figure in %+v", v)
					}
				}
			}
		}
		st := d.Stats()
		if st.Keys > 3 || st.Series > 6 {
			t.Fatalf("bounds exceeded: %+v", st)
		}
	})
}
