package hints

import (
	"strings"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
)

// MaxExemplars is how many trace IDs of recent bad spans an alert record carries.
const MaxExemplars = exemplarSlots

// PutAnnotations adds the hint and exemplar annotations of docs/alerts.md to an alert
// record's attributes.
func (r *Report) PutAnnotations(a pcommon.Map, ex []Exemplar) {
	a.PutStr("annotation.hint", r.Text())
	a.PutStr("annotation.hint_values", r.Values())
	if len(ex) > 0 {
		ids := make([]string, len(ex))
		for i, x := range ex {
			ids[i] = x.TraceID.String()
		}
		a.PutStr("annotation.exemplar_trace_ids", strings.Join(ids, ","))
	}
}

// PutExemplars links a metric data point to recent bad spans (value 1: one bad event
// each); ts stands in for a span without an end time.
func PutExemplars(dp pmetric.NumberDataPoint, ex []Exemplar, ts pcommon.Timestamp) {
	for _, x := range ex {
		e := dp.Exemplars().AppendEmpty()
		e.SetTraceID(x.TraceID)
		e.SetSpanID(x.SpanID)
		e.SetTimestamp(pcommon.Timestamp(x.Time))
		if x.Time == 0 {
			e.SetTimestamp(ts)
		}
		e.SetDoubleValue(1)
	}
}
