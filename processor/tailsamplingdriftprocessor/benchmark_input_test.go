package tailsamplingdriftprocessor

import (
	"encoding/binary"
	"math/rand/v2"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

// benchInput is the traffic of one benchmark run.
type benchInput interface {
	// spans is how many spans feed sends.
	spans() int
	// feed generates the batches and sends each; when paced, at its time.
	// The CPU time the calling thread spends generating is added to gen.
	feed(paced bool, gen *time.Duration, send func(ptrace.Traces))
}

// oneBatchInput: every trace whole in one batch, root last, one resource
// (benchBatch), sent as fast as the processor takes it.
type oneBatchInput struct {
	seed    uint64
	batches int
}

func (in oneBatchInput) spans() int { return in.batches * benchTracesPerBatch * benchSpansPerTrace }

func (in oneBatchInput) feed(_ bool, gen *time.Duration, send func(ptrace.Traces)) {
	r := rand.New(rand.NewPCG(in.seed, 99))
	for j := 0; j < in.batches; j++ {
		g0 := threadCPUTime()
		td := benchBatch(r)
		*gen += threadCPUTime() - g0
		send(td)
	}
}

// The realistic input: a request enters at the frontend (the root span) and
// calls checkout and payments (two spans each), each service exporting its
// own spans in its own batches, as SDKs do: the frontend's batch with the
// root first, each other service's spans of the trace 0-5 s later (an SDK's
// default export delay is 5 s). Time runs in slots of realisticSlot; new
// traces start over realisticStartSlots slots, so the last spans arrive
// 5 s after the last root.
const (
	realisticSlot       = 100 * time.Millisecond
	realisticStartSlots = 60 // 6 s of new traces
	realisticMaxDelay   = 50 // 5 s
)

var realisticServices = [...]struct {
	name  string
	spans int
}{{"frontend", 1}, {"checkout", 2}, {"payments", 2}}

type realisticTrace struct {
	id                      pcommon.TraceID
	slow, failed, checkout  bool
	failedService, rootSlot int8
}

type realisticEntry struct {
	trace   int32
	service int8
}

type realisticInput struct {
	seed   uint64
	traces []realisticTrace
	// bySlot lists, per slot, the (trace, service) pairs whose spans that
	// service exports in that slot.
	bySlot [][]realisticEntry
}

func newRealisticInput(seed uint64, n int) *realisticInput {
	r := rand.New(rand.NewPCG(seed, 7))
	in := &realisticInput{seed: seed, traces: make([]realisticTrace, n)}
	in.bySlot = make([][]realisticEntry, realisticStartSlots+realisticMaxDelay+1)
	for i := range in.traces {
		t := &in.traces[i]
		binary.BigEndian.PutUint64(t.id[:8], r.Uint64())
		binary.BigEndian.PutUint64(t.id[8:], r.Uint64())
		// The same keep rate as benchBatch: 3% slow, 2% failing, 1% /checkout.
		t.slow, t.failed, t.checkout = r.IntN(100) < 3, r.IntN(100) < 2, r.IntN(100) < 1
		t.failedService = int8(r.IntN(len(realisticServices)))
		root := i * realisticStartSlots / n
		in.bySlot[root] = append(in.bySlot[root], realisticEntry{int32(i), 0})
		for s := 1; s < len(realisticServices); s++ {
			slot := root + r.IntN(realisticMaxDelay+1)
			in.bySlot[slot] = append(in.bySlot[slot], realisticEntry{int32(i), int8(s)})
		}
	}
	return in
}

func (in *realisticInput) spans() int {
	per := 0
	for _, s := range realisticServices {
		per += s.spans
	}
	return len(in.traces) * per
}

func (in *realisticInput) feed(paced bool, gen *time.Duration, send func(ptrace.Traces)) {
	r := rand.New(rand.NewPCG(in.seed, 99))
	start := time.Now()
	routes := []string{"/cart", "/search", "/product/{id}", "/login", "/home"}
	base := time.Unix(1_700_000_000, 0)
	for slot, entries := range in.bySlot {
		if paced {
			time.Sleep(time.Until(start.Add(time.Duration(slot) * realisticSlot)))
		}
		for s, svc := range realisticServices {
			g0 := threadCPUTime()
			td := ptrace.NewTraces()
			rs := td.ResourceSpans().AppendEmpty()
			ra := rs.Resource().Attributes()
			ra.PutStr("service.name", svc.name)
			ra.PutStr("service.version", "1.4.2")
			ra.PutStr("host.name", "node-17")
			ra.PutStr("k8s.pod.name", svc.name+"-7d9f8b6c5-x2x4q")
			ra.PutStr("telemetry.sdk.language", "go")
			ss := rs.ScopeSpans().AppendEmpty()
			ss.Scope().SetName("go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp")
			for _, e := range entries {
				if int(e.service) != s {
					continue
				}
				t := &in.traces[e.trace]
				route := routes[int(e.trace)%len(routes)]
				if t.checkout {
					route = "/checkout"
				}
				for k := 0; k < svc.spans; k++ {
					sp := ss.Spans().AppendEmpty()
					sp.SetTraceID(t.id)
					sp.SetSpanID(pcommon.SpanID{byte(s), byte(k + 1), byte(e.trace), byte(e.trace >> 8), byte(e.trace >> 16)})
					if s > 0 {
						sp.SetParentSpanID(pcommon.SpanID{0, 1, byte(e.trace), byte(e.trace >> 8), byte(e.trace >> 16)})
					}
					sp.SetName("GET")
					sp.SetKind(ptrace.SpanKindServer)
					dur := time.Duration(5+r.IntN(300)) * time.Millisecond
					if t.slow {
						dur += 500 * time.Millisecond
					}
					if s > 0 {
						dur /= 4
					}
					fillBenchSpan(sp, r, base, dur, route, t.failed && int(t.failedService) == s && k == 0)
				}
			}
			*gen += threadCPUTime() - g0
			if ss.Spans().Len() > 0 {
				send(td)
			}
		}
	}
}
