package runtimemetrics

import "testing"

func TestLeakDetector(t *testing.T) {
	site := goroutineSite{Creation: codeSite{Function: "main.spawn", File: "main.go", Line: 10}, Start: codeSite{Function: "main.work"}}
	steady := goroutineSite{Creation: codeSite{Function: "main.pool"}}
	tests := []struct {
		name    string
		counts  []int64 // blocked goroutines at site, one per collection
		leaking []bool
		crossed []bool
	}{
		{"grows past threshold", []int64{50, 90, 130, 170}, []bool{false, false, true, true}, []bool{false, false, true, false}},
		{"below threshold", []int64{10, 20, 30, 40}, []bool{false, false, false, false}, []bool{false, false, false, false}},
		{"flat above threshold", []int64{500, 500, 500}, []bool{false, false, false}, []bool{false, false, false}},
		{"drops re-arms", []int64{100, 150, 200, 50, 100, 150, 200}, []bool{false, false, true, false, false, true, true}, []bool{false, false, true, false, false, true, false}},
		{"plateau stays flagged", []int64{100, 150, 200, 200, 200}, []bool{false, false, true, true, true}, []bool{false, false, true, false, false}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := newLeakDetector(100, 3, 10)
			for i, n := range tt.counts {
				vs := d.observe([]siteBlocked{{Site: site, Count: n}, {Site: steady, Count: 1000}})
				var got leakVerdict
				for _, v := range vs {
					if v.Site == steady {
						t.Fatalf("steady site flagged at step %d", i)
					}
					got = v
				}
				if got.Leaking != tt.leaking[i] || got.Crossed != tt.crossed[i] {
					t.Errorf("step %d (count %d): leaking=%v crossed=%v, want %v %v", i, n, got.Leaking, got.Crossed, tt.leaking[i], tt.crossed[i])
				}
			}
		})
	}
}

func TestLeakDetectorBoundsSites(t *testing.T) {
	d := newLeakDetector(1, 2, 3)
	var sites []siteBlocked
	for i := range 10 {
		sites = append(sites, siteBlocked{Site: goroutineSite{Creation: codeSite{Function: string(rune('a' + i))}}, Count: 5})
	}
	d.observe(sites)
	if len(d.history) != 3 {
		t.Errorf("tracked %d sites, bound is 3", len(d.history))
	}
	d.observe(nil)
	if len(d.history) != 0 {
		t.Errorf("vanished sites kept: %d", len(d.history))
	}
}
