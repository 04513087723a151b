package sloburnprocessor

import (
	"context"
	"encoding/binary"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.opentelemetry.io/otel/sdk/metric/metricdata/metricdatatest"

	"github.com/otelcol-goebpf/otelcol-goebpf/processor/sloburnprocessor/internal/metadata"
	"github.com/otelcol-goebpf/otelcol-goebpf/processor/sloburnprocessor/internal/metadatatest"
)

// hintTraffic builds one batch of checkout server spans over 4 routes and 2 versions
// (1.4.0 on every 20th request of each route), each with a unique trace and span ID; bad(route,
// version, i) says which fail (HTTP 503). A failing span's trace ID is returned in bad.
// With children, each server span has a child client span to server.address
// downstream(i), put in the same batch (before the parent) or returned separately.
type hintTraffic struct {
	seq        uint64
	routes     []string
	downstream func(i int) string
	childLater bool
}

func (g *hintTraffic) batch(n int, isBad func(route, version string, i int) bool) (td, children ptrace.Traces, bad []pcommon.TraceID) {
	td, children = ptrace.NewTraces(), ptrace.NewTraces()
	res := map[string]ptrace.SpanSlice{}
	spansFor := func(dst ptrace.Traces, version string, child bool) ptrace.SpanSlice {
		key := version
		if child {
			key += "/child"
		}
		if ss, ok := res[key]; ok {
			return ss
		}
		rs := dst.ResourceSpans().AppendEmpty()
		rs.Resource().Attributes().PutStr("service.name", "checkout")
		rs.Resource().Attributes().PutStr("service.version", version)
		ss := rs.ScopeSpans().AppendEmpty().Spans()
		res[key] = ss
		return ss
	}
	now := pcommon.NewTimestampFromTime(epoch)
	for i := 0; i < n; i++ {
		g.seq++
		route := g.routes[i%len(g.routes)]
		version := "1.3.0"
		if (i/len(g.routes))%20 == 0 {
			version = "1.4.0"
		}
		var tid pcommon.TraceID
		var sid, cid pcommon.SpanID
		binary.BigEndian.PutUint64(tid[8:], g.seq)
		tid[0] = 0xab
		binary.BigEndian.PutUint64(sid[:], g.seq*2+1)
		binary.BigEndian.PutUint64(cid[:], g.seq*2+2)
		failing := isBad(route, version, i)
		if g.downstream != nil {
			dst := td
			if g.childLater {
				dst = children
			}
			c := spansFor(dst, version, g.childLater).AppendEmpty()
			c.SetKind(ptrace.SpanKindClient)
			c.SetName("POST")
			c.SetTraceID(tid)
			c.SetSpanID(cid)
			c.SetParentSpanID(sid)
			c.SetStartTimestamp(now)
			c.SetEndTimestamp(now + 1000)
			c.Attributes().PutStr("server.address", g.downstream(i))
		}
		s := spansFor(td, version, false).AppendEmpty()
		s.SetKind(ptrace.SpanKindServer)
		s.SetName("GET " + route)
		s.SetTraceID(tid)
		s.SetSpanID(sid)
		s.SetStartTimestamp(now)
		s.SetEndTimestamp(now + 2000)
		s.Attributes().PutStr(attrHTTPRoute, route)
		code := int64(200)
		if failing {
			code = 503
			bad = append(bad, tid)
		}
		s.Attributes().PutInt(attrHTTPResponseStatus, code)
	}
	return td, children, bad
}

func hintConfig() *Config {
	cfg := testConfig(availabilitySLO("checkout-availability", "checkout", 99.9))
	cfg.EmitInterval = 10 * time.Second
	cfg.Alerting.Tiers = []TierConfig{{Severity: "page", Long: Duration(10 * time.Minute), Short: Duration(time.Minute), BurnRate: 10}}
	cfg.Alerting.ResolveFor = 0
	cfg.Hints.Window = 2 * time.Minute
	return cfg
}

func firingRecords(h *harness) []plog.LogRecord {
	var out []plog.LogRecord
	for _, lr := range alertRecords(h.lsink) {
		if attrStr(lr, "alert.state") == "firing" {
			out = append(out, lr)
		}
	}
	return out
}

// A firing record names the route the errors come from, carries trace IDs of bad spans
// that were sent, and the burn-rate and event metrics carry those spans as exemplars.
func TestAlertRecordCarriesHintAndExemplars(t *testing.T) {
	h := newHarness(t, hintConfig(), nil)
	g := &hintTraffic{routes: []string{"/orders", "/cart", "/search", "/login"}}
	sentBad := map[string]bool{}
	r := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 12; i++ {
		td, _, bad := g.batch(400, func(route, _ string, _ int) bool { return route == "/orders" && r.IntN(8) < 6 })
		for _, id := range bad {
			sentBad[id.String()] = true
		}
		h.send(td)
		h.step(10 * time.Second)
	}
	recs := firingRecords(h)
	require.NotEmpty(t, recs, "the SLO must fire")
	lr := recs[0]
	assert.Equal(t, "http.route=/orders", attrStr(lr, "annotation.hint_values"))
	assert.Regexp(t, `^http\.route=/orders: 100% of bad events, 2\d% of all\. Bad events are http\.response\.status_code=503 \(100%\)$`, attrStr(lr, "annotation.hint"))
	assert.Contains(t, attrStr(lr, "annotation.summary"), "bad events concentrate on http.route=/orders")
	ids := strings.Split(attrStr(lr, "annotation.exemplar_trace_ids"), ",")
	require.Len(t, ids, 3)
	for _, id := range ids {
		assert.True(t, sentBad[id], "exemplar %s is not a bad span that was sent", id)
	}

	var burnExemplars, eventExemplars int
	for _, md := range h.msink.AllMetrics() {
		ms := md.ResourceMetrics().At(0).ScopeMetrics().At(0).Metrics()
		for i := 0; i < ms.Len(); i++ {
			m := ms.At(i)
			var dps pmetric.NumberDataPointSlice
			switch m.Name() {
			case "slo.burn_rate":
				dps = m.Gauge().DataPoints()
			case "slo.events":
				dps = m.Sum().DataPoints()
			default:
				continue
			}
			for j := 0; j < dps.Len(); j++ {
				exs := dps.At(j).Exemplars()
				for k := 0; k < exs.Len(); k++ {
					assert.True(t, sentBad[exs.At(k).TraceID().String()], "metric exemplar is not a bad span")
					if m.Name() == "slo.burn_rate" {
						burnExemplars++
					} else {
						eventExemplars++
					}
				}
			}
		}
	}
	assert.Positive(t, burnExemplars)
	assert.Positive(t, eventExemplars)
}

// While the alert fires, a moved concentration is re-emitted as a firing record with the
// new hint; an unchanged hint emits nothing more.
func TestHintMovesWhileFiring(t *testing.T) {
	h := newHarness(t, hintConfig(), nil)
	g := &hintTraffic{routes: []string{"/orders", "/cart", "/search", "/login"}}
	r := rand.New(rand.NewPCG(1, 2))
	failOn := func(want string) func(string, string, int) bool {
		return func(route, _ string, _ int) bool { return route == want && r.IntN(8) < 6 }
	}
	for i := 0; i < 12; i++ {
		td, _, _ := g.batch(400, failOn("/orders"))
		h.send(td)
		h.step(10 * time.Second)
	}
	require.Len(t, firingRecords(h), 1, "an unchanged hint is not re-emitted")
	for i := 0; i < 18; i++ {
		td, _, _ := g.batch(400, failOn("/login"))
		h.send(td)
		h.step(10 * time.Second)
	}
	recs := firingRecords(h)
	require.GreaterOrEqual(t, len(recs), 2)
	last := recs[len(recs)-1]
	assert.Equal(t, "http.route=/login", attrStr(last, "annotation.hint_values"))
	for _, lr := range alertRecords(h.lsink) {
		assert.NotEqual(t, "resolved", attrStr(lr, "alert.state"), "the alert kept firing")
	}
}

// The downstream a failing span's child called is named, also when the child client span
// arrives in a later batch than its parent; the late links are counted.
func TestHintNamesDownstreamFromLateChild(t *testing.T) {
	for _, later := range []bool{false, true} {
		name := "child first"
		if later {
			name = "child in a later batch"
		}
		t.Run(name, func(t *testing.T) {
			tel := componenttest.NewTelemetry()
			t.Cleanup(func() { require.NoError(t, tel.Shutdown(context.Background())) })
			set := metadatatest.NewSettings(tel)
			set.ID = component.NewIDWithName(metadata.Type, t.Name())
			h := newHarnessWith(t, hintConfig(), nil, epoch, set)
			downstreams := []string{"payments:443", "inventory:8080", "postgres:5432"}
			g := &hintTraffic{routes: []string{"/orders", "/cart"}, childLater: later,
				downstream: func(i int) string { return downstreams[i%3] }}
			var pending ptrace.Traces
			for i := 0; i < 12; i++ {
				td, children, _ := g.batch(300, func(_, _ string, i int) bool { return i%3 == 0 && i%6 < 5 })
				h.send(td)
				if later {
					if i > 0 {
						h.send(pending)
					}
					pending = children
				}
				h.step(10 * time.Second)
			}
			// With late children the first record may come before any child did; the
			// hint is updated once they arrive.
			recs := firingRecords(h)
			require.NotEmpty(t, recs)
			last := recs[len(recs)-1]
			assert.Equal(t, "downstream server.address=payments:443", attrStr(last, "annotation.hint_values"), attrStr(last, "annotation.hint"))
			if later {
				// Every server span but those of the last batch got its child late.
				metadatatest.AssertEqualProcessorSloBurnHintDownstreamLate(t, tel, []metricdata.DataPoint[int64]{{Value: 11 * 300}}, metricdatatest.IgnoreTimestamp())
			}
		})
	}
}

// With hints off, records carry no hint and spans pay nothing for them.
func TestHintsDisabled(t *testing.T) {
	cfg := hintConfig()
	cfg.Hints.Enabled = false
	h := newHarness(t, cfg, nil)
	g := &hintTraffic{routes: []string{"/orders", "/cart"}}
	for i := 0; i < 12; i++ {
		td, _, _ := g.batch(400, func(route, _ string, i int) bool { return route == "/orders" && i%8 < 6 })
		h.send(td)
		h.step(10 * time.Second)
	}
	recs := firingRecords(h)
	require.NotEmpty(t, recs)
	_, ok := recs[0].Attributes().Get("annotation.hint")
	assert.False(t, ok)
	assert.Nil(t, h.p.hints)
}
