package tailsamplingdriftprocessor

import (
	"context"
	"encoding/binary"
	"math/rand/v2"
	"sort"
	"testing"
	"time"

	tsp "github.com/open-telemetry/opentelemetry-collector-contrib/processor/tailsamplingprocessor"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/processor"
	"go.opentelemetry.io/collector/processor/processortest"
)

// These tests feed the stock tail_sampling processor and this one, both with
// their default settings, the same batches at the same real times, spans of a
// trace arriving from several services seconds apart, and require the same
// output. Batches are sent half-way between whole seconds after both started:
// the stock processor decides on a ticker started at its Start, so every
// arrival is 0.5 s away from any decision time of either processor, which
// keeps the comparison reliable on a loaded machine.

// arrivalSpan is one span of a generated trace and the slot (second) in which
// its service exports it.
type arrivalSpan struct {
	service string
	slot    int
	root    bool
	id      pcommon.SpanID
	failed  bool
	dur     time.Duration
	route   string
}

type arrivalTrace struct {
	id    pcommon.TraceID
	spans []arrivalSpan
}

// arrivalPair runs both processors side by side.
type arrivalPair struct {
	stock, ours         processor.Traces
	stockSink, oursSink *consumertest.TracesSink
	t0                  time.Time
}

func startArrivalPair(t *testing.T, policiesYAML string, wait time.Duration) *arrivalPair {
	t.Helper()
	f := tsp.NewFactory()
	scfg := f.CreateDefaultConfig().(*tsp.Config)
	loadYAML(t, policiesYAML, scfg)
	scfg.DecisionWait = wait
	ocfg := createDefaultConfig().(*Config)
	loadYAML(t, policiesYAML, ocfg)
	ocfg.DecisionWait = wait
	require.NoError(t, ocfg.Validate())

	p := &arrivalPair{stockSink: new(consumertest.TracesSink), oursSink: new(consumertest.TracesSink)}
	var err error
	p.stock, err = f.CreateTraces(context.Background(), processortest.NewNopSettings(f.Type()), scfg, p.stockSink)
	require.NoError(t, err)
	p.ours, err = NewFactory().CreateTraces(context.Background(), testSettings(t), ocfg, p.oursSink)
	require.NoError(t, err)
	require.NoError(t, p.stock.Start(context.Background(), nil))
	require.NoError(t, p.ours.Start(context.Background(), nil))
	p.t0 = time.Now()
	return p
}

// sendAt sends td to both processors at t0 + slot + 0.5 s.
func (p *arrivalPair) sendAt(t *testing.T, slot int, td ptrace.Traces) {
	t.Helper()
	time.Sleep(time.Until(p.t0.Add(time.Duration(slot)*time.Second + 500*time.Millisecond)))
	for _, next := range []processor.Traces{p.stock, p.ours} {
		c := ptrace.NewTraces()
		td.CopyTo(c)
		require.NoError(t, next.ConsumeTraces(context.Background(), c))
	}
}

// finish waits until both have decided everything (the stock processor by
// its last tick, ours with nothing left in memory) and taken the last batch,
// sent in lastSlot, then shuts both down.
func (p *arrivalPair) finish(t *testing.T, lastFirstSlot, lastSlot int, wait time.Duration) {
	t.Helper()
	// The stock processor decides a trace first seen in slot s at tick
	// s+1+wait (whole seconds); leave it one more second.
	decided := p.t0.Add(time.Duration(lastFirstSlot+2)*time.Second + wait.Truncate(time.Second))
	time.Sleep(time.Until(decided))
	time.Sleep(time.Until(p.t0.Add(time.Duration(lastSlot+1) * time.Second)))
	e := p.ours.(*tracesProcessor).Unwrap().engine
	require.Eventually(t, func() bool { n, _ := e.inMemory(); return n == 0 }, 10*time.Second, 20*time.Millisecond)
	time.Sleep(200 * time.Millisecond)
	require.NoError(t, p.stock.Shutdown(context.Background()))
	require.NoError(t, p.ours.Shutdown(context.Background()))
}

// forwardedSpans lists "traceID/spanID" of every forwarded span, sorted.
func forwardedSpans(sink *consumertest.TracesSink) []string {
	var out []string
	for _, td := range sink.AllTraces() {
		for _, rs := range td.ResourceSpans().All() {
			for _, ss := range rs.ScopeSpans().All() {
				for _, sp := range ss.Spans().All() {
					out = append(out, sp.TraceID().String()+"/"+sp.SpanID().String())
				}
			}
		}
	}
	sort.Strings(out)
	return out
}

// requireSameSpans fails, listing a few differences, unless both forwarded
// the same spans of the same traces.
func requireSameSpans(t *testing.T, stock, ours *consumertest.TracesSink) {
	t.Helper()
	want, got := forwardedSpans(stock), forwardedSpans(ours)
	in := func(list []string) map[string]bool {
		m := make(map[string]bool, len(list))
		for _, s := range list {
			m[s] = true
		}
		return m
	}
	wantSet, gotSet := in(want), in(got)
	var missing, extra []string
	for _, s := range want {
		if !gotSet[s] {
			missing = append(missing, s)
		}
	}
	for _, s := range got {
		if !wantSet[s] {
			extra = append(extra, s)
		}
	}
	require.Equal(t, sampledIDs(stock), sampledIDs(ours), "sampled trace IDs")
	require.True(t, len(missing) == 0 && len(extra) == 0 && len(want) == len(got),
		"stock forwarded %d spans, ours %d; %d missing from ours (first: %v), %d extra (first: %v)",
		len(want), len(got), len(missing), missing[:min(5, len(missing))], len(extra), extra[:min(5, len(extra))])
}

// arrivalBatches groups the spans of traces by slot and service: one batch per
// service per slot, as each service's SDK exports its own spans.
func arrivalBatches(traces []arrivalTrace) map[int][]ptrace.Traces {
	type key struct {
		slot    int
		service string
	}
	groups := map[key]ptrace.SpanSlice{}
	tds := map[key]ptrace.Traces{}
	var keys []key
	base := time.Unix(1_700_000_000, 0)
	for _, tr := range traces {
		var rootID pcommon.SpanID
		for _, s := range tr.spans {
			if s.root {
				rootID = s.id
			}
		}
		for _, s := range tr.spans {
			k := key{s.slot, s.service}
			if _, ok := groups[k]; !ok {
				td := ptrace.NewTraces()
				rs := td.ResourceSpans().AppendEmpty()
				rs.Resource().Attributes().PutStr("service.name", s.service)
				rs.Resource().Attributes().PutStr("service.version", "1.0.0")
				ss := rs.ScopeSpans().AppendEmpty()
				ss.Scope().SetName("io.opentelemetry.sdk")
				groups[k], tds[k] = ss.Spans(), td
				keys = append(keys, k)
			}
			sp := groups[k].AppendEmpty()
			sp.SetTraceID(tr.id)
			sp.SetSpanID(s.id)
			if !s.root {
				sp.SetParentSpanID(rootID)
			}
			sp.SetName(s.service + " " + s.route)
			sp.SetStartTimestamp(pcommon.NewTimestampFromTime(base))
			sp.SetEndTimestamp(pcommon.NewTimestampFromTime(base.Add(s.dur)))
			sp.Attributes().PutStr("http.route", s.route)
			if s.failed {
				sp.Status().SetCode(ptrace.StatusCodeError)
				sp.Attributes().PutInt("http.response.status_code", 500)
			} else {
				sp.Attributes().PutInt("http.response.status_code", 200)
			}
		}
	}
	sort.Slice(keys, func(a, b int) bool {
		if keys[a].slot != keys[b].slot {
			return keys[a].slot < keys[b].slot
		}
		return keys[a].service < keys[b].service
	})
	out := map[int][]ptrace.Traces{}
	for _, k := range keys {
		out[k.slot] = append(out[k.slot], tds[k])
	}
	return out
}

func randomTraceID(r *rand.Rand) pcommon.TraceID {
	var id pcommon.TraceID
	binary.BigEndian.PutUint64(id[:8], r.Uint64())
	binary.BigEndian.PutUint64(id[8:], r.Uint64())
	return id
}

func runArrival(t *testing.T, policiesYAML string, wait time.Duration, traces []arrivalTrace) (stock, ours *consumertest.TracesSink) {
	t.Helper()
	batches := arrivalBatches(traces)
	slots := make([]int, 0, len(batches))
	for s := range batches {
		slots = append(slots, s)
	}
	sort.Ints(slots)
	lastFirst := 0
	for _, tr := range traces {
		first := tr.spans[0].slot
		for _, s := range tr.spans {
			first = min(first, s.slot)
		}
		lastFirst = max(lastFirst, first)
	}
	p := startArrivalPair(t, policiesYAML, wait)
	for _, slot := range slots {
		for _, td := range batches[slot] {
			p.sendAt(t, slot, td)
		}
	}
	p.finish(t, lastFirst, slots[len(slots)-1], wait)
	return p.stockSink, p.oursSink
}

// The issue's scenario, as a new user meets it: 200 traces whose root
// arrives first and whose one child, from another service, arrives 3 s later
// in its own batch, half of the children failing; one status_code ERROR
// policy; decision_wait 6s. The stock processor keeps the 100 failing traces
// whole, and so must this one with its default settings.
func TestIssueRootFirstChildFromAnotherServiceLater(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(15, 3))
	traces := make([]arrivalTrace, 200)
	for i := range traces {
		traces[i] = arrivalTrace{id: randomTraceID(r), spans: []arrivalSpan{
			{service: "frontend", slot: 0, root: true, id: pcommon.SpanID{1, byte(i)}, dur: 40 * time.Millisecond, route: "/orders"},
			{service: "payments", slot: 3, id: pcommon.SpanID{2, byte(i)}, failed: i%2 == 0, dur: 20 * time.Millisecond, route: "/charge"},
		}}
	}
	stock, ours := runArrival(t, `policies: [{name: errors, type: status_code, status_code: {status_codes: [ERROR]}}]`, 6*time.Second, traces)

	require.Len(t, sampledIDs(stock), 100, "the stock processor keeps every failing trace")
	require.Equal(t, 200, stock.SpanCount(), "whole: root and child")
	requireSameSpans(t, stock, ours)
}

// A realistic arrival: each trace's spans come from three or four services in
// their own batches; the first span of a trace is usually the root but
// sometimes a child; children arrive up to 5 s after the first span; some
// traces get a span after their decision (kept traces forward it, dropped ones
// discard it, whether it fails or not). Deterministic policies of every kind.
// Both processors, default settings, must keep exactly the same spans.
func TestDifferentialRealisticArrival(t *testing.T) {
	t.Parallel()
	const wait = 6 * time.Second
	r := rand.New(rand.NewPCG(2026, 12))
	services := []string{"checkout", "payments", "inventory"}
	routes := []string{"/checkout", "/cart", "/health", "/search"}
	traces := make([]arrivalTrace, 600)
	late := 0
	for i := range traces {
		first := r.IntN(3)
		tr := arrivalTrace{id: randomTraceID(r)}
		route := routes[r.IntN(len(routes))]
		rootSlot := first
		if r.IntN(5) == 0 {
			// The root ends last: a child is the first span seen.
			rootSlot = first + 1 + r.IntN(3)
		}
		tr.spans = append(tr.spans, arrivalSpan{service: "frontend", slot: rootSlot, root: true,
			id: spanIDOf(i, 0), dur: time.Duration(r.IntN(400)) * time.Millisecond, route: route})
		nChildren := 1 + r.IntN(5)
		for c := 1; c <= nChildren; c++ {
			slot := first + r.IntN(6) // 0-5 s after the first span
			if c == 1 && rootSlot != first {
				slot = first
			}
			tr.spans = append(tr.spans, arrivalSpan{service: services[r.IntN(len(services))], slot: slot,
				id: spanIDOf(i, c), dur: time.Duration(r.IntN(200)) * time.Millisecond, route: route, failed: r.IntN(15) == 0})
		}
		if r.IntN(6) == 0 {
			// After the decision: both decide 6.5 s after the first span
			// (on the tick 7 s after its slot began); this one comes 8 s
			// after it. It fails half the time.
			late++
			tr.spans = append(tr.spans, arrivalSpan{service: services[r.IntN(len(services))], slot: first + 8,
				id: spanIDOf(i, 9), dur: 10 * time.Millisecond, route: route, failed: r.IntN(2) == 0})
		}
		traces[i] = tr
	}
	stock, ours := runArrival(t, differentialPolicies, wait, traces)

	stockIDs := sampledIDs(stock)
	t.Logf("%d traces (%d with a span after the decision): stock kept %d traces, %d spans; ours %d traces, %d spans",
		len(traces), late, len(stockIDs), stock.SpanCount(), len(sampledIDs(ours)), ours.SpanCount())
	require.Greater(t, len(stockIDs), len(traces)/10, "policies should keep a fair share")
	require.Less(t, len(stockIDs), len(traces)*9/10, "policies should drop a fair share")
	requireSameSpans(t, stock, ours)
}

func spanIDOf(trace, k int) pcommon.SpanID {
	var id pcommon.SpanID
	binary.BigEndian.PutUint32(id[:4], uint32(trace)+1)
	binary.BigEndian.PutUint32(id[4:], uint32(k)+1)
	return id
}

// decision_grace is the opt-in faster mode, and this is its trade-off: with
// a 1 s grace, the issue's children arriving 3 s after their root miss the
// decision (and are dropped as late spans of a dropped trace).
func TestDecisionGraceOptInMissesChildrenArrivingAfterIt(t *testing.T) {
	cfg := defaultTestConfig()
	cfg.DecisionWait = 6 * time.Second
	cfg.DecisionGrace = time.Second
	cfg.PolicyCfgs = policiesFrom(t, "  - {name: errors, type: status_code, status_code: {status_codes: [ERROR]}}\n")
	te := newTestEngine(t, cfg)
	r := rand.New(rand.NewPCG(15, 3))
	traces := make([]arrivalTrace, 20)
	for i := range traces {
		traces[i] = arrivalTrace{id: randomTraceID(r), spans: []arrivalSpan{
			{service: "frontend", slot: 0, root: true, id: spanIDOf(i, 0), dur: time.Millisecond, route: "/orders"},
			{service: "payments", slot: 3, id: spanIDOf(i, 1), failed: true, dur: time.Millisecond, route: "/charge"},
		}}
	}
	batches := arrivalBatches(traces)
	te.consume(t, batches[0][0])
	te.advance(3 * time.Second)
	te.consume(t, batches[3][0])
	te.advance(10 * time.Second)
	require.Zero(t, te.sink.SpanCount(), "with the grace the failing children came too late")
	require.Equal(t, int64(20), te.counter(t, "processor_tail_sampling_drift_late_spans"))
}
