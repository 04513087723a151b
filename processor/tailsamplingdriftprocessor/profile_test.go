package tailsamplingdriftprocessor

import (
	"context"
	"math/rand/v2"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/ptrace"
)

// BenchmarkIngest measures ConsumeTraces alone for one subject (ns per batch of
// 500 spans), for profiling.
func BenchmarkIngest(b *testing.B) {
	for _, subject := range benchSubjects() {
		b.Run(subject.name, func(b *testing.B) {
			r := rand.New(rand.NewPCG(1, 2))
			const pool = 200
			batches := make([]ptrace.Traces, pool)
			p, _ := subject.build(b, 2*time.Second)
			defer func() { _ = p.Shutdown(context.Background()) }()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if i%pool == 0 {
					b.StopTimer()
					for j := range batches {
						batches[j] = benchBatch(r)
					}
					b.StartTimer()
				}
				_ = p.ConsumeTraces(context.Background(), batches[i%pool])
			}
		})
	}
}
