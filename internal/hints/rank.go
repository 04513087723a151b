package hints

import (
	"fmt"
	"math"
	"sort"
	"strings"
)

const (
	// z is the normal quantile of the significance guard. Both error ratios get a Wilson
	// interval at this z; a value is over-represented only if the intervals do not
	// overlap. 3.29 is two-sided 0.1%, strict because a report tests every value of
	// every dimension.
	z = 3.29
	// minBadShare keeps values holding only a sliver of the bad events out of the hint.
	minBadShare = 0.1
	// maxHints is how many values a report names.
	maxHints = 5
	// minBadToCallEven is how many bad events a report needs before it says they are
	// spread evenly; with fewer, no value could pass the guard anyway, and the report
	// says so instead.
	minBadToCallEven = 30
	// minOutcomeShare is the share of bad events an outcome value (status code,
	// error.type) needs to be named as what the errors are.
	minOutcomeShare = 0.5
)

// Hint is one value over-represented among the bad events.
type Hint struct {
	Dimension string // the attribute key the value came from (downstream: prefixed "downstream ")
	Value     string
	// BadShare and AllShare are the value's shares of the bad events and of all events.
	BadShare, AllShare float64
	// Lift is BadShare / AllShare.
	Lift float64
}

// String is "http.route=/orders".
func (h Hint) String() string { return h.Dimension + "=" + h.Value }

// Report is what a subject's alert says about where its bad events are.
type Report struct {
	// Hints are the over-represented values, by decreasing lift.
	Hints []Hint
	// Outcomes are the dominant outcome values (status code, error.type) among bad
	// events; their AllShare and Lift are not known (outcomes of good events are not
	// read) and are zero.
	Outcomes []Hint
	// Bad and All are the window's event counts (adjusted).
	Bad, All float64
	// Dimensions lists the dimensions that were examined, for "spread evenly".
	Dimensions []string
}

// Report ranks the subject's values now; outcome dimensions are reported as a breakdown
// of the bad events.
func (s *Subject) Report() Report {
	e := s.e
	stride := e.maxValues + 1
	cur, prev := &s.gens[e.gen&1], &s.gens[(e.gen+1)&1]
	r := Report{Bad: cur.badTotal + prev.badTotal, All: cur.allTotal + prev.allTotal}
	for d, dim := range e.dims {
		outcome := dim.Outcome
		if !outcome {
			r.Dimensions = append(r.Dimensions, dimensionName(dim))
		}
		if r.Bad <= 0 {
			continue
		}
		for id := 1; id < stride; id++ {
			i := d*stride + id
			bad := cur.bad[i] + prev.bad[i]
			if bad <= 0 {
				continue
			}
			all := cur.all[i] + prev.all[i]
			h := Hint{Dimension: e.keyName(d, int32(id)), Value: e.interners[d].values[id], BadShare: bad / r.Bad}
			if outcome {
				if h.BadShare >= minOutcomeShare {
					r.Outcomes = append(r.Outcomes, h)
				}
				continue
			}
			h.AllShare = all / r.All
			h.Lift = h.BadShare / h.AllShare
			if h.BadShare >= minBadShare && overRepresented(bad, all, r.Bad, r.All) {
				r.Hints = append(r.Hints, h)
			}
		}
	}
	sort.SliceStable(r.Hints, func(i, j int) bool {
		if r.Hints[i].Lift != r.Hints[j].Lift {
			return r.Hints[i].Lift > r.Hints[j].Lift
		}
		return r.Hints[i].BadShare > r.Hints[j].BadShare
	})
	if len(r.Hints) > maxHints {
		r.Hints = r.Hints[:maxHints]
	}
	sort.SliceStable(r.Outcomes, func(i, j int) bool { return r.Outcomes[i].BadShare > r.Outcomes[j].BadShare })
	return r
}

// overRepresented tests whether events with the value fail more often than events
// without it: the Wilson interval of the value's bad ratio lies wholly above that of the
// rest. Comparing the value with the rest (not with the whole) keeps a value that is most
// of the traffic from looking over-represented just because it is most of the bad events
// too, and still names it when the rest has no errors at all.
func overRepresented(bad, all, badTotal, allTotal float64) bool {
	restBad, restAll := badTotal-bad, allTotal-all
	if restAll <= 0 {
		return false // every event has the value: nothing to compare with
	}
	lo, _ := wilson(bad, all)
	_, hi := wilson(restBad, restAll)
	return lo > hi
}

// wilson is the Wilson score interval of k successes in n trials at z.
func wilson(k, n float64) (lo, hi float64) {
	if n <= 0 {
		return 0, 1
	}
	k = min(max(k, 0), n)
	p := k / n
	z2 := z * z
	den := 1 + z2/n
	mid := (p + z2/(2*n)) / den
	half := z * math.Sqrt(p*(1-p)/n+z2/(4*n*n)) / den
	return max(mid-half, 0), min(mid+half, 1)
}

func dimensionName(d Dimension) string {
	if d.Downstream {
		return DownstreamDimension
	}
	return strings.Join(d.Keys, "|")
}

// keyName names the value's attribute: the alternative it came from.
func (e *Engine) keyName(d int, id int32) string {
	dim := e.dims[d]
	k := dim.Keys[min(int(e.interners[d].keys[id]), len(dim.Keys)-1)]
	if dim.Downstream {
		return DownstreamDimension + " " + k
	}
	return k
}

// Text is the hint as an alert annotation: the over-represented values with their
// shares, or that the bad events are spread evenly; then the dominant outcomes.
func (r Report) Text() string {
	var b strings.Builder
	switch {
	case r.Bad <= 0:
		b.WriteString("no bad events in the hint window")
	case len(r.Hints) == 0 && r.Bad < minBadToCallEven:
		fmt.Fprintf(&b, "too few bad events to say where they concentrate (%s bad of %s events)", count(r.Bad), count(r.All))
	case len(r.Hints) == 0:
		fmt.Fprintf(&b, "bad events spread evenly: no value of %s is over-represented (%s bad of %s events)",
			strings.Join(r.Dimensions, ", "), count(r.Bad), count(r.All))
	default:
		for i, h := range r.Hints {
			if i > 0 {
				b.WriteString("; ")
			}
			fmt.Fprintf(&b, "%s: %s of bad events, %s of all", h, percent(h.BadShare), percent(h.AllShare))
		}
	}
	if len(r.Outcomes) > 0 {
		b.WriteString(". Bad events are ")
		for i, h := range r.Outcomes {
			if i > 0 {
				b.WriteString(", ")
			}
			fmt.Fprintf(&b, "%s (%s)", h, percent(h.BadShare))
		}
	}
	return b.String()
}

// Values is the machine-readable form: "http.route=/orders,service.version=1.4.0", in
// rank order; empty when the bad events are spread evenly.
func (r Report) Values() string {
	parts := make([]string, len(r.Hints))
	for i, h := range r.Hints {
		parts[i] = h.String()
	}
	return strings.Join(parts, ",")
}

func percent(f float64) string {
	p := f * 100
	if p >= 10 || p == 0 {
		return fmt.Sprintf("%.0f%%", p)
	}
	return fmt.Sprintf("%.1f%%", p)
}

func count(f float64) string {
	if f == math.Trunc(f) {
		return fmt.Sprintf("%.0f", f)
	}
	return fmt.Sprintf("%.1f", f)
}
