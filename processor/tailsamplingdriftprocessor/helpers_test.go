package tailsamplingdriftprocessor

import (
	"context"
	"encoding/binary"
	"math/rand/v2"
	"sort"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/processor"
	"go.opentelemetry.io/collector/processor/processortest"
	"gopkg.in/yaml.v3"

	"github.com/otelcol-goebpf/otelcol-goebpf/processor/tailsamplingdriftprocessor/internal/metadata"
)

// genTrace describes one generated trace.
type genTrace struct {
	id       pcommon.TraceID
	spans    int
	duration time.Duration
	errorAt  int // index of the span with status ERROR, -1 for none
	attrs    map[string]any
	// noRoot leaves out the root span (its parent ID is set on every span).
	noRoot bool
}

func traceIDFromInt(r *rand.Rand) pcommon.TraceID {
	var id pcommon.TraceID
	binary.BigEndian.PutUint64(id[:8], r.Uint64())
	binary.BigEndian.PutUint64(id[8:], r.Uint64())
	return id
}

// genTraces builds n varied traces deterministically from seed.
func genTraces(seed uint64, n int) []genTrace {
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	out := make([]genTrace, n)
	routes := []string{"/checkout", "/cart", "/health", "/search"}
	for i := range out {
		g := genTrace{
			id:       traceIDFromInt(r),
			spans:    1 + r.IntN(6),
			duration: time.Duration(r.IntN(400)) * time.Millisecond,
			errorAt:  -1,
			attrs: map[string]any{
				"http.route":                routes[r.IntN(len(routes))],
				"http.response.status_code": int64(200 + 100*r.IntN(4)),
				"cache.hit":                 r.IntN(2) == 0,
			},
		}
		if r.IntN(10) == 0 {
			g.errorAt = r.IntN(g.spans)
		}
		out[i] = g
	}
	return out
}

// appendSpans adds the spans of g to a fresh resource of td. Span k starts
// k ms after the root and the root covers the whole duration.
func appendSpans(td ptrace.Traces, g genTrace, service string, base time.Time) {
	rs := td.ResourceSpans().AppendEmpty()
	rs.Resource().Attributes().PutStr("service.name", service)
	ss := rs.ScopeSpans().AppendEmpty()
	ss.Scope().SetName("test")
	var rootID pcommon.SpanID
	binary.BigEndian.PutUint64(rootID[:], 1)
	for k := 0; k < g.spans; k++ {
		sp := ss.Spans().AppendEmpty()
		sp.SetTraceID(g.id)
		var sid pcommon.SpanID
		binary.BigEndian.PutUint64(sid[:], uint64(k+1))
		sp.SetSpanID(sid)
		if k > 0 || g.noRoot {
			sp.SetParentSpanID(rootID)
			if g.noRoot && k == 0 {
				binary.BigEndian.PutUint64(sid[:], 99)
				sp.SetSpanID(sid)
			}
		}
		sp.SetName("op")
		start := base.Add(time.Duration(k) * time.Millisecond)
		end := base.Add(g.duration)
		if k > 0 {
			end = start.Add(g.duration / 4)
		}
		sp.SetStartTimestamp(pcommon.NewTimestampFromTime(start))
		sp.SetEndTimestamp(pcommon.NewTimestampFromTime(end))
		if k == g.errorAt {
			sp.Status().SetCode(ptrace.StatusCodeError)
		}
		if k == 0 {
			for key, v := range g.attrs {
				switch v := v.(type) {
				case string:
					sp.Attributes().PutStr(key, v)
				case int64:
					sp.Attributes().PutInt(key, v)
				case bool:
					sp.Attributes().PutBool(key, v)
				}
			}
		}
	}
}

// batchOf puts all traces in one ptrace.Traces, children first so that the
// root arrives last, as spans end.
func batchOf(gs []genTrace) ptrace.Traces {
	td := ptrace.NewTraces()
	base := time.Unix(1_700_000_000, 0)
	for _, g := range gs {
		appendSpans(td, g, "svc", base)
	}
	return td
}

func sampledIDs(sink *consumertest.TracesSink) []string {
	seen := map[string]bool{}
	for _, td := range sink.AllTraces() {
		for _, rs := range td.ResourceSpans().All() {
			for _, ss := range rs.ScopeSpans().All() {
				for _, sp := range ss.Spans().All() {
					seen[sp.TraceID().String()] = true
				}
			}
		}
	}
	ids := make([]string, 0, len(seen))
	for id := range seen {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids
}

func testSettings(t testing.TB) processor.Settings {
	set := processortest.NewNopSettings(metadata.Type)
	set.ID = component.NewIDWithName(metadata.Type, t.Name())
	return set
}

// startProcessor builds and starts a traces processor from cfg.
func startProcessor(t testing.TB, cfg *Config, next consumer.Traces) processor.Traces {
	t.Helper()
	p, err := NewFactory().CreateTraces(context.Background(), testSettings(t), cfg, next)
	require.NoError(t, err)
	require.NoError(t, p.Start(context.Background(), nil))
	t.Cleanup(func() { _ = p.Shutdown(context.Background()) })
	return p
}

func defaultTestConfig() *Config {
	cfg := createDefaultConfig().(*Config)
	cfg.TickInterval = 10 * time.Millisecond
	return cfg
}

func loadYAML(t testing.TB, text string, dst any) {
	t.Helper()
	var raw map[string]any
	require.NoError(t, yaml.Unmarshal([]byte(text), &raw))
	require.NoError(t, confmap.NewFromStringMap(raw).Unmarshal(dst))
}
