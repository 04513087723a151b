package drift_test

import (
	"fmt"
	"time"

	"github.com/otelcol-goebpf/otelcol-goebpf/processor/tailsamplingdriftprocessor/internal/drift"
)

// A canary that fails one request in ten while the baseline fails one in a
// thousand is reported drifting on errors, not on latency.
func ExampleDetector() {
	d := drift.NewDetector(drift.Config{Significance: 0.01, Baseline: "1.2.3"})
	key := drift.Key{Service: "checkout", Operation: "POST /orders"}
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for tick := range 6 {
		for i := range 1000 {
			dur := int64(20_000_000 + (i%50)*1_000_000) // 20-69 ms, same for both
			d.Observe(key, "1.2.3", dur, i%1000 == 0)
			if i%10 == 0 {
				d.Observe(key, "1.3.0", dur, i%100 == 0)
			}
		}
		now = now.Add(5 * time.Second)
		for _, v := range d.Evaluate(now) {
			if v.Changed {
				fmt.Printf("after %ds: %s %s vs %s on %v: drifting=%v\n", (tick+1)*5, v.Key.Operation, v.Cohort, v.Baseline, v.Signal, v.Drifting)
			}
		}
	}
	fmt.Println("drifting now:", d.Drifting(key, "1.3.0"))
	// Output:
	// after 5s: POST /orders 1.3.0 vs 1.2.3 on errors: drifting=true
	// drifting now: true
}
