package tailsamplingdriftprocessor

import (
	"context"
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"runtime"
	"slices"
	"syscall"
	"testing"
	"time"

	tsp "github.com/open-telemetry/opentelemetry-collector-contrib/processor/tailsamplingprocessor"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/featuregate"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/processor"
	"go.opentelemetry.io/collector/processor/processortest"
	"golang.org/x/sys/unix"
)

// benchPolicies are the policies the benchmark names.
const benchPolicies = `
policies:
  - {name: slow, type: latency, latency: {threshold_ms: 500}}
  - {name: errors, type: status_code, status_code: {status_codes: [ERROR]}}
  - {name: sample, type: probabilistic, probabilistic: {sampling_percentage: 10}}
  - {name: checkout, type: string_attribute, string_attribute: {key: http.route, values: [/checkout]}}
`

const (
	benchTracesPerBatch = 100
	benchSpansPerTrace  = 5
)

// benchBatch makes one batch of realistic HTTP spans: 100 traces of 5 spans,
// interleaved, 8 attributes per span and 5 per resource, roots last (spans end
// children first).
func benchBatch(r *rand.Rand) ptrace.Traces {
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	ra := rs.Resource().Attributes()
	ra.PutStr("service.name", "checkout")
	ra.PutStr("service.version", "1.4.2")
	ra.PutStr("host.name", "node-17")
	ra.PutStr("k8s.pod.name", "checkout-7d9f8b6c5-x2x4q")
	ra.PutStr("telemetry.sdk.language", "go")
	ss := rs.ScopeSpans().AppendEmpty()
	ss.Scope().SetName("otelcol-goebpf/ebpf")
	ids := make([]pcommon.TraceID, benchTracesPerBatch)
	for i := range ids {
		binary.BigEndian.PutUint64(ids[i][:8], r.Uint64())
		binary.BigEndian.PutUint64(ids[i][8:], r.Uint64())
	}
	// A realistic keep rate (~15%): 3% of traces slow, 2% with an error, 1%
	// on the /checkout route, plus the 10% probabilistic share.
	routes := []string{"/cart", "/search", "/product/{id}", "/login", "/home"}
	slow := make([]bool, len(ids))
	failed := make([]bool, len(ids))
	checkout := make([]bool, len(ids))
	for i := range ids {
		slow[i] = r.IntN(100) < 3
		failed[i] = r.IntN(100) < 2
		checkout[i] = r.IntN(100) < 1
	}
	base := time.Unix(1_700_000_000, 0)
	for k := benchSpansPerTrace - 1; k >= 0; k-- {
		for i, id := range ids {
			sp := ss.Spans().AppendEmpty()
			sp.SetTraceID(id)
			sp.SetSpanID(pcommon.SpanID{byte(k + 1), byte(i)})
			if k > 0 {
				sp.SetParentSpanID(pcommon.SpanID{1, byte(i)})
			}
			sp.SetName("GET")
			sp.SetKind(ptrace.SpanKindServer)
			dur := time.Duration(5+r.IntN(300)) * time.Millisecond
			if slow[i] {
				dur += 500 * time.Millisecond
			}
			if k > 0 {
				dur /= 4
			}
			route := routes[i%len(routes)]
			if checkout[i] {
				route = "/checkout"
			}
			fillBenchSpan(sp, r, base, dur, route, failed[i] && k == benchSpansPerTrace-1)
		}
	}
	return td
}

// fillBenchSpan sets the timestamps, status and the 8 attributes of a
// generated HTTP span.
func fillBenchSpan(sp ptrace.Span, r *rand.Rand, base time.Time, dur time.Duration, route string, failed bool) {
	sp.SetStartTimestamp(pcommon.NewTimestampFromTime(base))
	sp.SetEndTimestamp(pcommon.NewTimestampFromTime(base.Add(dur)))
	if failed {
		sp.Status().SetCode(ptrace.StatusCodeError)
	}
	a := sp.Attributes()
	a.PutStr("http.request.method", "GET")
	a.PutStr("http.route", route)
	a.PutStr("url.path", fmt.Sprintf("/product/%d", r.IntN(100000)))
	a.PutInt("http.response.status_code", 200)
	a.PutStr("server.address", "checkout.internal")
	a.PutInt("server.port", 8080)
	a.PutStr("network.protocol.version", "1.1")
	a.PutStr("user_agent.original", "Mozilla/5.0 (X11; Linux x86_64) Chrome/120.0")
}

// cpuTime is the CPU time of the whole process (every goroutine).
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// threadCPUTime is the CPU time of the calling OS thread; with the goroutine
// locked to its thread it measures what that goroutine alone spent.
func threadCPUTime() time.Duration {
	var ts unix.Timespec
	_ = unix.ClockGettime(unix.CLOCK_THREAD_CPUTIME_ID, &ts)
	return time.Duration(ts.Nano())
}

type benchSubject struct {
	name string
	// build returns a started processor with the given decision_wait, and a
	// function that reports whether every trace has been decided, given when
	// the last batch was sent.
	build func(b *testing.B, wait time.Duration) (processor.Traces, func(last time.Time) bool)
}

// passThrough is a processor that drops everything at once: the CPU a run
// costs with it is the harness's own (input generation is subtracted, but the
// runtime's work for the generated input, GC above all, is not).
type passThrough struct{}

func (passThrough) Start(context.Context, component.Host) error { return nil }
func (passThrough) Shutdown(context.Context) error              { return nil }
func (passThrough) Capabilities() consumer.Capabilities {
	return consumer.Capabilities{MutatesData: true}
}
func (passThrough) ConsumeTraces(context.Context, ptrace.Traces) error { return nil }

func benchSubjects() []benchSubject {
	return []benchSubject{
		{"stock", func(b *testing.B, wait time.Duration) (processor.Traces, func(time.Time) bool) {
			f := tsp.NewFactory()
			cfg := f.CreateDefaultConfig().(*tsp.Config)
			loadYAML(b, benchPolicies, cfg)
			cfg.DecisionWait = wait
			cfg.NumTraces = 1 << 20
			p, err := f.CreateTraces(context.Background(), processortest.NewNopSettings(f.Type()), cfg, consumertest.NewNop())
			require.NoError(b, err)
			require.NoError(b, p.Start(context.Background(), nil))
			// The stock processor decides between decision_wait and decision_wait + 1s.
			return p, func(last time.Time) bool { return time.Since(last) > wait+1500*time.Millisecond }
		}},
		{"ours", func(b *testing.B, wait time.Duration) (processor.Traces, func(time.Time) bool) {
			cfg := createDefaultConfig().(*Config)
			loadYAML(b, benchPolicies, cfg)
			cfg.DecisionWait = wait
			cfg.NumTraces = 1 << 20
			p, err := NewFactory().CreateTraces(context.Background(), testSettings(b), cfg, consumertest.NewNop())
			require.NoError(b, err)
			require.NoError(b, p.Start(context.Background(), nil))
			e := p.(*tracesProcessor).Unwrap().engine
			return p, func(time.Time) bool { n, _ := e.inMemory(); return n == 0 }
		}},
	}
}

// BenchmarkVersusStock measures, in one run on the same input, the spans per
// CPU-second (all goroutines: ingest, decisions, forwarding) and the retained
// heap per in-flight span of the stock tail_sampling processor and of this one,
// both with their default settings, and reports the ratios. Two inputs:
// "realistic" (each trace's spans exported by three services in their own
// batches over 5 s, paced in real time, decision_wait 6s) and
// "one_batch_root_last" (every trace whole in one batch, root last, one
// resource, decision_wait 1s).
func BenchmarkVersusStock(b *testing.B) {
	b.Run("realistic", func(b *testing.B) {
		benchVersusStock(b, 6*time.Second, func(i int) benchInput { return newRealisticInput(uint64(i), 40000) })
	})
	b.Run("one_batch_root_last", func(b *testing.B) {
		benchVersusStock(b, time.Second, func(i int) benchInput { return oneBatchInput{seed: uint64(i), batches: 400} })
	})
}

func benchVersusStock(b *testing.B, wait time.Duration, input func(i int) benchInput) {
	cpuPerSpan := map[string]float64{}
	heapPerSpan := map[string]float64{}
	subjects := append(benchSubjects(), benchSubject{"passthrough", func(*testing.B, time.Duration) (processor.Traces, func(time.Time) bool) {
		return passThrough{}, func(time.Time) bool { return true }
	}})
	// For profiling one subject: TSD_BENCH_SUBJECT=ours (ratios are then meaningless).
	if only := os.Getenv("TSD_BENCH_SUBJECT"); only != "" {
		subjects = slices.DeleteFunc(subjects, func(s benchSubject) bool { return s.name != only })
	}
	// With TSD_BENCH_RECORD_POLICY=1 both processors run with the stock
	// recordpolicy gate on (the gate is global, so both read it).
	if os.Getenv("TSD_BENCH_RECORD_POLICY") == "1" {
		require.NoError(b, featuregate.GlobalRegistry().Set(recordPolicyGate, true))
		b.Cleanup(func() { _ = featuregate.GlobalRegistry().Set(recordPolicyGate, false) })
	}
	cpuSum := map[string]time.Duration{}
	heapSum := map[string]float64{}
	worst := math.Inf(1)
	spansPerRun := input(0).spans()
	// Rounds interleave the subjects, each round starting with the next one,
	// so that a slow spell of a shared machine, or the heap state one run
	// leaves to the next, does not fall on one subject only.
	for i := 0; i < b.N; i++ {
		round := map[string]time.Duration{}
		for k := range subjects {
			subject := subjects[(i+k)%len(subjects)]
			cpu, heap := runSubject(b, subject, wait, func() benchInput { return input(i) })
			round[subject.name] = cpu
			cpuSum[subject.name] += cpu
			heapSum[subject.name] += heap
		}
		if round["ours"] > 0 && round["stock"] > 0 {
			b.Logf("round %d: CPU stock %v, ours %v, passthrough %v: ratio %.2f", i, round["stock"].Round(time.Millisecond),
				round["ours"].Round(time.Millisecond), round["passthrough"].Round(time.Millisecond), float64(round["stock"])/float64(round["ours"]))
			worst = min(worst, float64(round["stock"])/float64(round["ours"]))
		}
	}
	spans := float64(b.N * spansPerRun)
	for name, cpu := range cpuSum {
		cpuPerSpan[name] = cpu.Seconds() / spans
		heapPerSpan[name] = heapSum[name] / float64(b.N)
	}
	b.ReportMetric(worst, "throughput_ratio_worst_round")
	b.ReportMetric(1/cpuPerSpan["stock"], "stock_spans/cpu-s")
	base := cpuPerSpan["passthrough"]
	b.ReportMetric(1/base, "harness_spans/cpu-s")
	b.ReportMetric((cpuPerSpan["stock"]-base)/(cpuPerSpan["ours"]-base), "throughput_ratio_net")
	b.ReportMetric(1/cpuPerSpan["ours"], "ours_spans/cpu-s")
	b.ReportMetric(cpuPerSpan["stock"]/cpuPerSpan["ours"], "throughput_ratio")
	b.ReportMetric(heapPerSpan["stock"], "stock_heap_B/span")
	b.ReportMetric(heapPerSpan["ours"], "ours_heap_B/span")
	b.ReportMetric(heapPerSpan["ours"]/heapPerSpan["stock"], "memory_ratio")
	b.ReportMetric(0, "ns/op")
}

// runSubject measures one subject once: the CPU time to take and decide the
// input (its generation excluded), and the retained heap per in-flight span.
func runSubject(b *testing.B, subject benchSubject, wait time.Duration, input func() benchInput) (time.Duration, float64) {
	// Throughput: ingest everything (paced when the input says so), then
	// wait until all is decided. Batches are generated as they are sent (so
	// that the live heap is the processor's own, as in a collector); the
	// generating goroutine is locked to its thread and its CPU time
	// subtracted.
	in := input()
	runtime.GC()
	p, done := subject.build(b, wait)
	runtime.LockOSThread()
	var gen time.Duration
	before := cpuTime()
	in.feed(true, &gen, func(td ptrace.Traces) { require.NoError(b, p.ConsumeTraces(context.Background(), td)) })
	last := time.Now()
	for !done(last) {
		time.Sleep(10 * time.Millisecond)
	}
	cpu := cpuTime() - before - gen
	runtime.UnlockOSThread()
	require.NoError(b, p.Shutdown(context.Background()))

	// Memory: the same spans in flight (decision_wait far away), input
	// released, heap measured after a full GC. The input's plan is made
	// before the baseline is read.
	in = input()
	runtime.GC()
	var m0, m1 runtime.MemStats
	runtime.ReadMemStats(&m0)
	p, _ = subject.build(b, time.Hour)
	in.feed(false, new(time.Duration), func(td ptrace.Traces) { require.NoError(b, p.ConsumeTraces(context.Background(), td)) })
	time.Sleep(100 * time.Millisecond) // let the stock loop goroutine take its queue
	runtime.GC()
	runtime.ReadMemStats(&m1)
	heap := float64(int64(m1.HeapAlloc)-int64(m0.HeapAlloc)) / float64(in.spans())
	runtime.KeepAlive(p)
	runtime.KeepAlive(in)
	require.NoError(b, p.Shutdown(context.Background()))
	return cpu, heap
}
