package sloburnprocessor

import (
	"context"
	"encoding/binary"
	"testing"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/otelcol-goebpf/otelcol-goebpf/processor/sloburnprocessor/internal/metadata"
)

// benchTracesWithChildren is benchTraces with unique trace and span IDs, one failing
// request (HTTP 500) per service and batch, and per server span one child client span
// (to one of three downstreams), placed before its parent as an SDK exports them.
func benchTracesWithChildren() ptrace.Traces {
	td := benchTraces()
	downstreams := []string{"payments:443", "inventory:8080", "postgres:5432"}
	var seq uint64
	rss := td.ResourceSpans()
	for i := 0; i < rss.Len(); i++ {
		spans := rss.At(i).ScopeSpans().At(0).Spans()
		servers := ptrace.NewSpanSlice()
		spans.MoveAndAppendTo(servers)
		for k := 0; k < servers.Len(); k++ {
			seq++
			srv := servers.At(k)
			var tid pcommon.TraceID
			var sid, cid pcommon.SpanID
			binary.BigEndian.PutUint64(tid[8:], seq)
			binary.BigEndian.PutUint64(sid[:], 2*seq)
			binary.BigEndian.PutUint64(cid[:], 2*seq+1)
			srv.SetTraceID(tid)
			srv.SetSpanID(sid)
			if k == 3 {
				srv.Attributes().PutInt(attrHTTPResponseStatus, 500)
			}
			c := spans.AppendEmpty()
			c.SetKind(ptrace.SpanKindClient)
			c.SetName("POST")
			c.SetTraceID(tid)
			c.SetSpanID(cid)
			c.SetParentSpanID(sid)
			c.SetStartTimestamp(srv.StartTimestamp())
			c.SetEndTimestamp(srv.EndTimestamp())
			c.Attributes().PutStr("server.address", downstreams[k%3])
			c.Attributes().PutInt("server.port", 443)
			srv.CopyTo(spans.AppendEmpty())
		}
	}
	return td
}

// BenchmarkHintsCost measures slo_burn's cost per span (20 SLOs) with hints on (the
// default dimensions) next to hints off, in the same run: two instances fed the same
// batches in alternating rounds, so that load from other processes hits both alike.
// server-spans is BenchmarkSpanCost's batch (100 server spans, no errors, no client
// spans: no span waits for a child); with-children adds a child client span per server
// span and one failure per service and batch (200 spans per batch: the downstream join,
// the outcome read and the exemplar path run). No SLO fires during the measurement.
//
//	go test -run '^$' -bench BenchmarkHintsCost -benchtime 20000x -count 3 ./processor/sloburnprocessor/
func BenchmarkHintsCost(b *testing.B) {
	for _, v := range []struct {
		name string
		td   func() ptrace.Traces
	}{
		{"server-spans", benchTraces},
		{"with-children", benchTracesWithChildren},
	} {
		b.Run(v.name, func(b *testing.B) {
			ctx := context.Background()
			td := v.td()
			spans := td.SpanCount()
			on := newHarness(b, benchConfig(), nil)
			offCfg := benchConfig()
			offCfg.Hints.Enabled = false
			set := processortestSettings(b)
			set.ID = component.NewIDWithName(metadata.Type, b.Name()+"-off")
			off := newHarnessWith(b, offCfg, nil, epoch, set)
			// Warm up on error-free traffic: no SLO fires (a firing SLO writes attributes
			// into every span it selects, a cost of its own that is not the hints').
			warmUp(b, on, benchTraces())
			warmUp(b, off, benchTraces())
			var onT, offT consumer.Traces = on.traces, off.traces
			onAllocs := allocsPerSpan(spans, func() error { return onT.ConsumeTraces(ctx, td) })
			offAllocs := allocsPerSpan(spans, func() error { return offT.ConsumeTraces(ctx, td) })

			const round = 10
			var onCPU, offCPU time.Duration
			run := func(t consumer.Traces, acc *time.Duration) {
				c0 := cpuTime()
				for i := 0; i < round; i++ {
					if err := t.ConsumeTraces(ctx, td); err != nil {
						b.Fatal(err)
					}
				}
				*acc += cpuTime() - c0
			}
			b.ResetTimer()
			rounds := 0
			for n := 0; n*round < b.N; n++ {
				on.spans.Reset()
				off.spans.Reset()
				if n%2 == 0 {
					run(onT, &onCPU)
					run(offT, &offCPU)
				} else {
					run(offT, &offCPU)
					run(onT, &onCPU)
				}
				rounds++
			}
			b.StopTimer()
			perSpan := func(d time.Duration) float64 { return float64(d.Nanoseconds()) / float64(rounds*round*spans) }
			b.ReportMetric(perSpan(onCPU), "on-cpu-ns/span")
			b.ReportMetric(perSpan(offCPU), "off-cpu-ns/span")
			b.ReportMetric(perSpan(onCPU)-perSpan(offCPU), "hints-cpu-ns/span")
			b.ReportMetric(perSpan(onCPU)/perSpan(offCPU), "on/off")
			b.ReportMetric(onAllocs, "on-allocs/span")
			b.ReportMetric(offAllocs, "off-allocs/span")
		})
	}
}
