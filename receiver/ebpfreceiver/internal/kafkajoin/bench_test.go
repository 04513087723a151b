package kafkajoin

import (
	"fmt"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/ptrace"
)

// BenchmarkProcess measures the join's cost per span of a drain's batch
// (1000 spans: server and client spans) in three cases of one run: "copy"
// (the baseline: copying the batch, about what building it costs the
// receiver anyway), "idle" (no Kafka span, nothing held: the two scans for
// producer and consumer spans), and "busy" (each batch brings 10 consumer
// spans, held, then joined when their producers' records come, and the
// spans of recently joined traces rewritten as they pass). Only the copy,
// or only Process, is timed. It prints ns per span and the ratios to the
// baseline.
func BenchmarkProcess(b *testing.B) {
	const spans = 1000
	template := func(kafka bool, round int) ptrace.Traces {
		bt := newBatch()
		for i := 0; i < spans; i++ {
			tr := byte(i % 251)
			if kafka && i < 10 {
				s := bt.consumer(tr, byte(i+1), "orders", 0, int64(round*10+i))
				s.SetName("receive")
				continue
			}
			kind := ptrace.SpanKindServer
			if i%2 == 1 {
				kind = ptrace.SpanKindClient
			}
			bt.span("svc", kind, tr, byte(i), 0)
		}
		return bt.td
	}
	base := template(false, 0)
	results := map[string]float64{}
	for _, mode := range []string{"copy", "idle", "busy"} {
		b.Run(mode, func(b *testing.B) {
			j := New(DefaultConfig(2 * time.Second))
			now := t0
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				var src ptrace.Traces
				if mode == "busy" {
					src = template(true, i)
				} else {
					src = base
				}
				td := ptrace.NewTraces()
				if mode == "copy" {
					b.StartTimer()
					src.CopyTo(td)
					continue
				}
				src.CopyTo(td)
				b.StartTimer()
				j.Process(td, now)
				if mode == "busy" {
					j.AddProduced(produced("orders", 0, int64(i*10), 10, 0xa0, 0xa1), now)
				}
				now = now.Add(10 * time.Millisecond)
			}
			b.StopTimer()
			ns := float64(b.Elapsed().Nanoseconds()) / float64(b.N) / spans
			b.ReportMetric(ns, "ns/span")
			results[mode] = ns
		})
	}
	if results["copy"] > 0 {
		fmt.Printf("per span: copy %.1f ns (baseline), idle %.1f ns (%.2fx), busy %.1f ns (%.2fx)\n",
			results["copy"], results["idle"], results["idle"]/results["copy"], results["busy"], results["busy"]/results["copy"])
	}
}
