package hints

import "go.opentelemetry.io/collector/pdata/pcommon"

// exemplarSlots is how many recent bad spans a subject remembers.
const exemplarSlots = 3

// Exemplar identifies one bad span.
type Exemplar struct {
	TraceID pcommon.TraceID
	SpanID  pcommon.SpanID
	// Time is the span's end (unix ns).
	Time int64
	gen  int64
}

// exemplarRing holds the last exemplarSlots bad spans.
type exemplarRing struct {
	slots [exemplarSlots]Exemplar
	next  int
	n     int
}

func (r *exemplarRing) add(tid pcommon.TraceID, sid pcommon.SpanID, at, gen int64) {
	r.slots[r.next] = Exemplar{TraceID: tid, SpanID: sid, Time: at, gen: gen}
	r.next = (r.next + 1) % exemplarSlots
	if r.n < exemplarSlots {
		r.n++
	}
}

// recent returns up to max exemplars counted in generation since or later, newest first.
func (r *exemplarRing) recent(max int, since int64) []Exemplar {
	var out []Exemplar
	for i := 1; i <= r.n && len(out) < max; i++ {
		e := r.slots[(r.next-i+exemplarSlots)%exemplarSlots]
		if e.gen >= since {
			out = append(out, e)
		}
	}
	return out
}
