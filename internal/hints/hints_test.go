package hints

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"sort"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

// event is one synthetic server span and, optionally, its child client span.
type event struct {
	route, version, pod string
	status              int64
	downstream          string // server.address of the child client span; "" for none
	bad                 bool
}

// stream makes n events; pick decides each event's fields from its index and a seeded
// random source.
func stream(n int, seed uint64, pick func(i int, r *rand.Rand) event) []event {
	r := rand.New(rand.NewPCG(seed, 1))
	out := make([]event, n)
	for i := range out {
		out[i] = pick(i, r)
	}
	return out
}

// healthy picks a route of 4, a pod of 6, version 1.3.0 (1.4.0 on 5%: a canary), a
// downstream of 3, and fails with probability pBad.
func healthy(i int, r *rand.Rand, pBad float64) event {
	ev := event{
		route:      []string{"/orders", "/cart", "/search", "/login"}[r.IntN(4)],
		pod:        fmt.Sprintf("checkout-7d9f-%d", r.IntN(6)),
		version:    "1.3.0",
		downstream: []string{"payments:443", "inventory:8080", "postgres:5432"}[r.IntN(3)],
		status:     200,
	}
	if r.Float64() < 0.05 {
		ev.version = "1.4.0"
	}
	if r.Float64() < pBad {
		ev.bad = true
	}
	return ev
}

// feed sends events to subject s through the engine the way a processor does, in batches
// of batch events: one resource per (version, pod), the child client span before its
// parent in the same batch unless childLater, in which case children come one batch late.
func feed(e *Engine, s *Subject, events []event, batch int, childLater bool) {
	var late []ptrace.Traces
	for start := 0; start < len(events); start += batch {
		parents := ptrace.NewTraces()
		children := ptrace.NewTraces()
		byRes := map[string]ptrace.SpanSlice{}
		spansOf := func(td ptrace.Traces, ev event) ptrace.SpanSlice {
			k := fmt.Sprintf("%v|%s|%s", td == children, ev.version, ev.pod)
			if ss, ok := byRes[k]; ok {
				return ss
			}
			rs := td.ResourceSpans().AppendEmpty()
			rs.Resource().Attributes().PutStr("service.name", "checkout")
			rs.Resource().Attributes().PutStr("service.version", ev.version)
			rs.Resource().Attributes().PutStr("k8s.pod.name", ev.pod)
			ss := rs.ScopeSpans().AppendEmpty().Spans()
			byRes[k] = ss
			return ss
		}
		for i := start; i < min(start+batch, len(events)); i++ {
			ev := events[i]
			var tid pcommon.TraceID
			var sid, cid pcommon.SpanID
			copy(tid[:], fmt.Sprintf("t%015d", i))
			copy(sid[:], fmt.Sprintf("s%07d", i))
			copy(cid[:], fmt.Sprintf("c%07d", i))
			if ev.downstream != "" {
				c := spansOf(children, ev).AppendEmpty()
				c.SetKind(ptrace.SpanKindClient)
				c.SetTraceID(tid)
				c.SetSpanID(cid)
				c.SetParentSpanID(sid)
				c.Attributes().PutStr("server.address", ev.downstream)
				if ev.bad {
					c.Status().SetCode(ptrace.StatusCodeError)
				}
			}
			p := spansOf(parents, ev).AppendEmpty()
			p.SetKind(ptrace.SpanKindServer)
			p.SetTraceID(tid)
			p.SetSpanID(sid)
			p.Attributes().PutStr("http.route", ev.route)
			status := ev.status
			if ev.bad {
				p.Status().SetCode(ptrace.StatusCodeError)
				status = 503
			}
			p.Attributes().PutInt("http.response.status_code", status)
		}
		if childLater {
			late = append(late, children)
			if len(late) > 1 {
				consume(e, s, late[0])
				late = late[1:]
			}
			consume(e, s, parents)
		} else {
			consume(e, s, children)
			consume(e, s, parents)
		}
	}
	for _, td := range late {
		consume(e, s, td)
	}
}

// consume is the processor side: client spans feed the downstream table; server spans
// are counted for the subject.
func consume(e *Engine, s *Subject, td ptrace.Traces) {
	var res, v Values
	for i := 0; i < td.ResourceSpans().Len(); i++ {
		rs := td.ResourceSpans().At(i)
		e.Resource(rs.Resource().Attributes(), &res)
		spans := rs.ScopeSpans().At(0).Spans()
		for k := 0; k < spans.Len(); k++ {
			span := spans.At(k)
			bad := span.Status().Code() == ptrace.StatusCodeError
			if span.Kind() == ptrace.SpanKindClient {
				e.Client(span, bad)
				continue
			}
			v.Reset()
			e.Span(&res, span.Attributes(), &v)
			s.Observe(&v, 1, bad)
			if bad {
				s.Exemplar(span)
			}
			var l Linked
			l.Add(s, bad)
			if e.WantsParent() {
				e.Parent(span, &l, 1)
			}
		}
	}
}

func newTestEngine(t testing.TB, mutate func(*Config)) *Engine {
	cfg := DefaultConfig()
	if mutate != nil {
		mutate(&cfg)
	}
	require.NoError(t, cfg.Validate("hints"))
	e := NewEngine(cfg)
	e.Advance(0)
	return e
}

func hintValues(r Report) []string {
	var out []string
	for _, h := range r.Hints {
		out = append(out, h.String())
	}
	sort.Strings(out)
	return out
}

// Each synthetic stream of 20,000 events (a 5% error rate outside the cause) names exactly
// the values that cause its errors, and none when errors are spread.
func TestReportNamesTheCause(t *testing.T) {
	const n = 20000
	tests := []struct {
		name       string
		pick       func(i int, r *rand.Rand) event
		childLater bool
		want       []string
	}{
		{"one route", func(i int, r *rand.Rand) event {
			ev := healthy(i, r, 0.001)
			ev.bad = ev.bad || (ev.route == "/orders" && r.Float64() < 0.3)
			return ev
		}, false, []string{"http.route=/orders"}},
		{"one version (canary)", func(i int, r *rand.Rand) event {
			ev := healthy(i, r, 0.001)
			ev.bad = ev.bad || (ev.version == "1.4.0" && r.Float64() < 0.5)
			return ev
		}, false, []string{"service.version=1.4.0"}},
		{"one pod", func(i int, r *rand.Rand) event {
			ev := healthy(i, r, 0.001)
			ev.bad = ev.bad || (ev.pod == "checkout-7d9f-3" && r.Float64() < 0.4)
			return ev
		}, false, []string{"k8s.pod.name=checkout-7d9f-3"}},
		{"one downstream, child in the same batch", func(i int, r *rand.Rand) event {
			ev := healthy(i, r, 0.001)
			ev.bad = ev.bad || (ev.downstream == "payments:443" && r.Float64() < 0.3)
			return ev
		}, false, []string{"downstream server.address=payments:443"}},
		{"one downstream, child in a later batch", func(i int, r *rand.Rand) event {
			ev := healthy(i, r, 0.001)
			ev.bad = ev.bad || (ev.downstream == "payments:443" && r.Float64() < 0.3)
			return ev
		}, true, []string{"downstream server.address=payments:443"}},
		{"two dimensions at once", func(i int, r *rand.Rand) event {
			ev := healthy(i, r, 0.001)
			ev.bad = ev.bad || (ev.route == "/search" && r.Float64() < 0.2) || (ev.version == "1.4.0" && r.Float64() < 0.6)
			return ev
		}, false, []string{"http.route=/search", "service.version=1.4.0"}},
		{"spread uniformly", func(i int, r *rand.Rand) event {
			return healthy(i, r, 0.05)
		}, false, nil},
		{"hot value that is most of the traffic", func(i int, r *rand.Rand) event {
			ev := healthy(i, r, 0.05)
			if r.Float64() < 0.9 {
				ev.route = "/orders"
			}
			return ev
		}, false, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newTestEngine(t, nil)
			s := e.NewSubject()
			events := stream(n, 42, tt.pick)
			feed(e, s, events, 100, tt.childLater)
			r := s.Report()
			assert.Equal(t, tt.want, hintValues(r), "hint: %s", r.Text())
			if tt.want == nil {
				assert.Contains(t, r.Text(), "spread evenly")
			}
			// The status code of failing spans (200 here: the failure is the span status)
			// is never named as a place.
			for _, h := range r.Hints {
				assert.NotEqual(t, "http.response.status_code", h.Dimension)
			}
			stats := e.Stats()
			assert.Zero(t, stats.Folded)
			if tt.childLater {
				assert.Greater(t, stats.LateLinked, int64(n/2), "children in later batches must be linked")
			}
		})
	}
}

// The same seeds under other streams: a stream with no cause never claims one, over many
// seeds (the guard's false-positive rate, at the z of the package).
func TestReportNoFalseHintsOverSeeds(t *testing.T) {
	claimed := 0
	const seeds = 40
	for seed := uint64(1); seed <= seeds; seed++ {
		e := newTestEngine(t, nil)
		s := e.NewSubject()
		feed(e, s, stream(5000, seed, func(i int, r *rand.Rand) event { return healthy(i, r, 0.1) }), 100, false)
		if r := s.Report(); len(r.Hints) > 0 {
			claimed++
			t.Logf("seed %d: false hint %s", seed, r.Text())
		}
	}
	assert.LessOrEqual(t, claimed, 1, "false hints in %d of %d uniform streams", claimed, seeds)
}

// The hint follows the concentration: after a window of errors on one route, a window of
// errors on another names the second.
func TestReportMovesWithTheConcentration(t *testing.T) {
	e := newTestEngine(t, func(c *Config) { c.Window = time.Minute })
	s := e.NewSubject()
	onRoute := func(route string) func(i int, r *rand.Rand) event {
		return func(i int, r *rand.Rand) event {
			ev := healthy(i, r, 0)
			ev.bad = ev.route == route && r.Float64() < 0.3
			return ev
		}
	}
	feed(e, s, stream(8000, 1, onRoute("/orders")), 100, false)
	assert.Equal(t, []string{"http.route=/orders"}, hintValues(s.Report()))
	now := int64(0)
	for range 2 { // two half-windows: the old counts are gone
		now += int64(30 * time.Second)
		e.Advance(now)
	}
	feed(e, s, stream(8000, 2, onRoute("/login")), 100, false)
	assert.Equal(t, []string{"http.route=/login"}, hintValues(s.Report()))
}

// Exemplars are the most recent bad spans, at most 3, newest first, and only of the window.
func TestExemplarsAreRecentBadSpans(t *testing.T) {
	e := newTestEngine(t, func(c *Config) { c.Window = time.Minute })
	s := e.NewSubject()
	events := stream(1000, 3, func(i int, r *rand.Rand) event {
		ev := healthy(i, r, 0)
		ev.bad = i%100 == 7
		return ev
	})
	feed(e, s, events, 100, false)
	ex := s.Exemplars(3)
	require.Len(t, ex, 3)
	for i, want := range []int{907, 807, 707} {
		var tid pcommon.TraceID
		copy(tid[:], fmt.Sprintf("t%015d", want))
		assert.Equal(t, tid, ex[i].TraceID, "exemplar %d", i)
	}
	e.Advance(int64(30 * time.Second))
	assert.Len(t, s.Exemplars(3), 3, "still inside the window")
	e.Advance(int64(60 * time.Second))
	assert.Empty(t, s.Exemplars(3), "the window has passed")
}

// A dimension with a million distinct values keeps at most max_values of them; the rest
// fold into other (counted), the heap does not grow with the values, and values unseen
// for a window are recycled for new ones.
func TestMemoryBoundedWithAMillionValues(t *testing.T) {
	e := newTestEngine(t, func(c *Config) { c.Dimensions = []string{"k8s.pod.name"}; c.MaxValues = 64 })
	s := e.NewSubject()
	var res, v Values
	resAttrs := pcommon.NewMap()
	val := resAttrs.PutEmpty("k8s.pod.name")
	attrs := pcommon.NewMap()
	heap := func() uint64 {
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		return ms.HeapAlloc
	}
	before := heap()
	const n = 1_000_000
	for i := range n {
		val.SetStr(fmt.Sprintf("pod-%07d", i))
		e.Resource(resAttrs, &res)
		v.Reset()
		e.Span(&res, attrs, &v)
		s.Observe(&v, 1, i%10 == 0)
		if i == n/2 {
			e.Advance(int64(10 * time.Minute)) // a window later: ids are recycled
		}
	}
	after := heap()
	in := e.interners[0]
	assert.LessOrEqual(t, in.size(), 64)
	stats := e.Stats()
	assert.Equal(t, int64(n-2*64), stats.Folded, "all but the first 64 values of each window fold into other")
	growth := int64(after) - int64(before)
	t.Logf("heap growth over %d distinct values: %d bytes", n, growth)
	assert.Less(t, growth, int64(1<<20), "heap grew by %d bytes", growth)
	r := s.Report()
	assert.Empty(t, r.Hints, "other is never named: %s", r.Text())
}

// Observing a span allocates nothing once its values are interned.
func TestObserveAllocatesNothing(t *testing.T) {
	e := newTestEngine(t, nil)
	s := e.NewSubject()
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	rs.Resource().Attributes().PutStr("service.version", "1.3.0")
	span := rs.ScopeSpans().AppendEmpty().Spans().AppendEmpty()
	span.SetSpanID(pcommon.SpanID{1})
	span.Attributes().PutStr("http.route", "/orders")
	span.Attributes().PutInt("http.response.status_code", 503)
	var res, v Values
	allocs := testing.AllocsPerRun(1000, func() {
		e.Resource(rs.Resource().Attributes(), &res)
		v.Reset()
		e.Span(&res, span.Attributes(), &v)
		s.Observe(&v, 1, true)
		s.Exemplar(span)
		var l Linked
		l.Add(s, true)
		if e.WantsParent() {
			e.Parent(span, &l, 1)
		}
	})
	assert.Zero(t, allocs)
}

func TestConfigValidate(t *testing.T) {
	ok := DefaultConfig()
	require.NoError(t, ok.Validate("hints"))
	off := Config{}
	require.NoError(t, off.Validate("hints"), "a disabled section is not checked")
	tests := []struct {
		name   string
		mutate func(*Config)
		want   string
	}{
		{"no dimensions", func(c *Config) { c.Dimensions = nil }, "hints.dimensions must not be empty"},
		{"too many dimensions", func(c *Config) {
			c.Dimensions = nil
			for i := range 17 {
				c.Dimensions = append(c.Dimensions, fmt.Sprintf("a%d", i))
			}
		}, "hints.dimensions has 17 entries"},
		{"empty alternative", func(c *Config) { c.Dimensions = []string{"http.route|"} }, `hints.dimensions[0] "http.route|" has an empty attribute name`},
		{"duplicate", func(c *Config) { c.Dimensions = []string{"a", "a"} }, `hints.dimensions[1] "a" repeats hints.dimensions[0]`},
		{"max_values zero", func(c *Config) { c.MaxValues = 0 }, "hints.max_values must be between 1 and 1024, got 0"},
		{"window", func(c *Config) { c.Window = time.Second }, "hints.window must be at least 2s, got 1s"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := DefaultConfig()
			tt.mutate(&c)
			assert.ErrorContains(t, c.Validate("hints"), tt.want)
		})
	}
}

// A value that turns heavy after the table filled with one-off values gets an id at the
// next rotation (light values are evicted into other) and is named, within one half-window.
func TestHeavyValueAfterTableFilledIsNamed(t *testing.T) {
	e := newTestEngine(t, func(c *Config) { c.Window = time.Minute; c.Dimensions = []string{"k8s.pod.name"}; c.MaxValues = 64 })
	s := e.NewSubject()
	var res, v Values
	resAttrs := pcommon.NewMap()
	val := resAttrs.PutEmpty("k8s.pod.name")
	attrs := pcommon.NewMap()
	r := rand.New(rand.NewPCG(7, 8))
	observe := func(pod string, bad bool) {
		val.SetStr(pod)
		e.Resource(resAttrs, &res)
		v.Reset()
		e.Span(&res, attrs, &v)
		s.Observe(&v, 1, bad)
	}
	for i := range 10000 { // one-off pods, 5% errors everywhere
		observe(fmt.Sprintf("job-%06d", i), r.Float64() < 0.05)
	}
	require.Positive(t, e.Stats().Folded, "the table is full")
	e.Advance(int64(30 * time.Second))
	for i := range 10000 {
		if i%2 == 0 {
			observe("pod-hot", r.Float64() < 0.3)
		} else {
			observe(fmt.Sprintf("job-b-%06d", i), r.Float64() < 0.05)
		}
	}
	assert.Equal(t, []string{"k8s.pod.name=pod-hot"}, hintValues(s.Report()), s.Report().Text())
	assert.LessOrEqual(t, e.interners[0].size(), 64)
}

// A report with few bad events says it cannot tell rather than calling them spread evenly.
func TestReportWithFewBadEventsSaysSo(t *testing.T) {
	e := newTestEngine(t, nil)
	s := e.NewSubject()
	feed(e, s, stream(200, 9, func(i int, r *rand.Rand) event {
		ev := healthy(i, r, 0)
		ev.bad = ev.route == "/orders" && i%5 == 0
		return ev
	}), 100, false)
	r := s.Report()
	require.Empty(t, r.Hints)
	assert.Contains(t, r.Text(), "too few bad events to say where they concentrate")
}
