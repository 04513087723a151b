package tailsamplingdriftprocessor

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

// spanSpec builds one span of the test trace.
type spanSpec struct {
	dur        time.Duration
	status     ptrace.StatusCode
	attrs      map[string]any
	tracestate string
	flags      uint32
	event      string
	child      bool
}

var testTraceID = pcommon.TraceID{0xaa, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15}

func putAttrs(m pcommon.Map, attrs map[string]any) {
	for k, v := range attrs {
		switch v := v.(type) {
		case string:
			m.PutStr(k, v)
		case int:
			m.PutInt(k, int64(v))
		case bool:
			m.PutBool(k, v)
		}
	}
}

func buildTrace(resAttrs map[string]any, specs ...spanSpec) ptrace.Traces {
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	putAttrs(rs.Resource().Attributes(), resAttrs)
	ss := rs.ScopeSpans().AppendEmpty()
	base := time.Unix(1_700_000_000, 0)
	for i, s := range specs {
		sp := ss.Spans().AppendEmpty()
		sp.SetTraceID(testTraceID)
		sp.SetSpanID(pcommon.SpanID{byte(i + 1)})
		if s.child {
			sp.SetParentSpanID(pcommon.SpanID{0xff})
		}
		sp.SetName("op")
		sp.SetStartTimestamp(pcommon.NewTimestampFromTime(base))
		sp.SetEndTimestamp(pcommon.NewTimestampFromTime(base.Add(s.dur)))
		sp.Status().SetCode(s.status)
		putAttrs(sp.Attributes(), s.attrs)
		sp.TraceState().FromRaw(s.tracestate)
		sp.SetFlags(s.flags)
		if s.event != "" {
			sp.Events().AppendEmpty().SetName(s.event)
		}
	}
	return td
}

// decideOn compiles policies and decides one trace the way a shard does.
func decideOn(t *testing.T, policies string, td ptrace.Traces) (Decision, int64) {
	t.Helper()
	cfgs := policiesFrom(t, policies)
	ps, err := compilePolicies(cfgs, nopTelemetrySettings(), 1, true, false)
	require.NoError(t, err)
	tr := &trace{id: testTraceID}
	for _, rs := range td.ResourceSpans().All() {
		ps.observe(tr, rs)
	}
	tr.spanCount = int64(td.SpanCount())
	tr.stockSize = int64(marshaler.TracesSize(td))
	var errs int64
	return ps.decide(testTraceID, tr, &errs), errs
}

func TestPolicies(t *testing.T) {
	ms := time.Millisecond
	tests := []struct {
		name     string
		policies string
		td       ptrace.Traces
		want     decisionKind
	}{
		{"always_sample", "- {name: p, type: always_sample}", buildTrace(nil, spanSpec{}), decisionSampled},
		{"latency above", "- {name: p, type: latency, latency: {threshold_ms: 100}}", buildTrace(nil, spanSpec{dur: 150 * ms}), decisionSampled},
		{"latency below", "- {name: p, type: latency, latency: {threshold_ms: 100}}", buildTrace(nil, spanSpec{dur: 50 * ms}), decisionNotSampled},
		{"latency across spans", "- {name: p, type: latency, latency: {threshold_ms: 100}}", buildTrace(nil, spanSpec{dur: 60 * ms, child: true}, spanSpec{dur: 120 * ms}), decisionSampled},
		{"latency in band", "- {name: p, type: latency, latency: {threshold_ms: 100, upper_threshold_ms: 200}}", buildTrace(nil, spanSpec{dur: 150 * ms}), decisionSampled},
		{"latency above band", "- {name: p, type: latency, latency: {threshold_ms: 100, upper_threshold_ms: 200}}", buildTrace(nil, spanSpec{dur: 250 * ms}), decisionNotSampled},
		{"numeric in range", "- {name: p, type: numeric_attribute, numeric_attribute: {key: code, min_value: 500, max_value: 599}}", buildTrace(nil, spanSpec{attrs: map[string]any{"code": 503}}), decisionSampled},
		{"numeric out of range", "- {name: p, type: numeric_attribute, numeric_attribute: {key: code, min_value: 500, max_value: 599}}", buildTrace(nil, spanSpec{attrs: map[string]any{"code": 200}}), decisionNotSampled},
		{"numeric on resource", "- {name: p, type: numeric_attribute, numeric_attribute: {key: code, min_value: 500}}", buildTrace(map[string]any{"code": 501}, spanSpec{}), decisionSampled},
		{"numeric invert match", "- {name: p, type: numeric_attribute, numeric_attribute: {key: code, min_value: 500, max_value: 599, invert_match: true}}", buildTrace(nil, spanSpec{attrs: map[string]any{"code": 503}}), decisionNotSampled},
		{"numeric invert missing key", "- {name: p, type: numeric_attribute, numeric_attribute: {key: code, min_value: 500, invert_match: true}}", buildTrace(nil, spanSpec{}), decisionSampled},
		{"status error", "- {name: p, type: status_code, status_code: {status_codes: [ERROR]}}", buildTrace(nil, spanSpec{}, spanSpec{status: ptrace.StatusCodeError, child: true}), decisionSampled},
		{"status unset only", "- {name: p, type: status_code, status_code: {status_codes: [ERROR, OK]}}", buildTrace(nil, spanSpec{}), decisionNotSampled},
		{"string exact", "- {name: p, type: string_attribute, string_attribute: {key: route, values: [/a, /b]}}", buildTrace(nil, spanSpec{attrs: map[string]any{"route": "/b"}}), decisionSampled},
		{"string no match", "- {name: p, type: string_attribute, string_attribute: {key: route, values: [/a]}}", buildTrace(nil, spanSpec{attrs: map[string]any{"route": "/ab"}}), decisionNotSampled},
		{"string regex", "- {name: p, type: string_attribute, string_attribute: {key: route, values: ['^/a.*'], enabled_regex_matching: true}}", buildTrace(nil, spanSpec{attrs: map[string]any{"route": "/ab"}}), decisionSampled},
		{"string invert match", "- {name: p, type: string_attribute, string_attribute: {key: route, values: [/a], invert_match: true}}", buildTrace(nil, spanSpec{attrs: map[string]any{"route": "/a"}}), decisionNotSampled},
		{"string invert other", "- {name: p, type: string_attribute, string_attribute: {key: route, values: [/a], invert_match: true}}", buildTrace(nil, spanSpec{attrs: map[string]any{"route": "/z"}}), decisionSampled},
		// Like the stock policy: an empty resource value is matched, an empty span value is not.
		{"string empty resource value", "- {name: p, type: string_attribute, string_attribute: {key: route, values: ['^$'], enabled_regex_matching: true}}", buildTrace(map[string]any{"route": ""}, spanSpec{}), decisionSampled},
		{"string empty span value", "- {name: p, type: string_attribute, string_attribute: {key: route, values: ['^$'], enabled_regex_matching: true}}", buildTrace(nil, spanSpec{attrs: map[string]any{"route": ""}}), decisionNotSampled},
		{"boolean", "- {name: p, type: boolean_attribute, boolean_attribute: {key: hit, value: true}}", buildTrace(nil, spanSpec{attrs: map[string]any{"hit": true}}), decisionSampled},
		{"boolean other value", "- {name: p, type: boolean_attribute, boolean_attribute: {key: hit, value: true}}", buildTrace(nil, spanSpec{attrs: map[string]any{"hit": false}}), decisionNotSampled},
		{"boolean invert", "- {name: p, type: boolean_attribute, boolean_attribute: {key: hit, value: true, invert_match: true}}", buildTrace(nil, spanSpec{attrs: map[string]any{"hit": false}}), decisionSampled},
		{"span_count min", "- {name: p, type: span_count, span_count: {min_spans: 2}}", buildTrace(nil, spanSpec{}, spanSpec{child: true}), decisionSampled},
		{"span_count below", "- {name: p, type: span_count, span_count: {min_spans: 3}}", buildTrace(nil, spanSpec{}, spanSpec{child: true}), decisionNotSampled},
		{"span_count above max", "- {name: p, type: span_count, span_count: {min_spans: 1, max_spans: 1}}", buildTrace(nil, spanSpec{}, spanSpec{child: true}), decisionNotSampled},
		{"trace_state", "- {name: p, type: trace_state, trace_state: {key: k3, values: [v1]}}", buildTrace(nil, spanSpec{tracestate: "x=1,k3=v1"}), decisionSampled},
		{"trace_state other", "- {name: p, type: trace_state, trace_state: {key: k3, values: [v1]}}", buildTrace(nil, spanSpec{tracestate: "k3=v2"}), decisionNotSampled},
		{"trace_flags", "- {name: p, type: trace_flags}", buildTrace(nil, spanSpec{flags: 1}), decisionSampled},
		{"trace_flags unset", "- {name: p, type: trace_flags}", buildTrace(nil, spanSpec{}), decisionNotSampled},
		{"ottl span", `- {name: p, type: ottl_condition, ottl_condition: {span: ['attributes["route"] == "/x"']}}`, buildTrace(nil, spanSpec{attrs: map[string]any{"route": "/x"}}), decisionSampled},
		{"ottl span with context", `- {name: p, type: ottl_condition, ottl_condition: {span: ['span.name == "nope"']}}`, buildTrace(nil, spanSpec{}), decisionNotSampled},
		{"ottl spanevent", `- {name: p, type: ottl_condition, ottl_condition: {spanevent: ['name == "exception"']}}`, buildTrace(nil, spanSpec{event: "exception"}), decisionSampled},
		{"probabilistic 0", "- {name: p, type: probabilistic, probabilistic: {sampling_percentage: 0}}", buildTrace(nil, spanSpec{}), decisionNotSampled},
		{"probabilistic 100", "- {name: p, type: probabilistic, probabilistic: {sampling_percentage: 100}}", buildTrace(nil, spanSpec{}), decisionSampled},
		{"and all", "- {name: p, type: and, and: {and_sub_policy: [{name: a, type: always_sample}, {name: b, type: status_code, status_code: {status_codes: [ERROR]}}]}}", buildTrace(nil, spanSpec{status: ptrace.StatusCodeError}), decisionSampled},
		{"and one fails", "- {name: p, type: and, and: {and_sub_policy: [{name: a, type: always_sample}, {name: b, type: status_code, status_code: {status_codes: [ERROR]}}]}}", buildTrace(nil, spanSpec{}), decisionNotSampled},
		{"not", "- {name: p, type: not, not: {not_sub_policy: {name: s, type: status_code, status_code: {status_codes: [ERROR]}}}}", buildTrace(nil, spanSpec{}), decisionSampled},
		{"not of match", "- {name: p, type: not, not: {not_sub_policy: {name: s, type: status_code, status_code: {status_codes: [ERROR]}}}}", buildTrace(nil, spanSpec{status: ptrace.StatusCodeError}), decisionNotSampled},
		{"drop wins over sample", "- {name: all, type: always_sample}\n- {name: d, type: drop, drop: {drop_sub_policy: [{name: h, type: string_attribute, string_attribute: {key: route, values: [/health]}}]}}", buildTrace(nil, spanSpec{attrs: map[string]any{"route": "/health"}}), decisionDropped},
		{"drop not matching", "- {name: all, type: always_sample}\n- {name: d, type: drop, drop: {drop_sub_policy: [{name: h, type: string_attribute, string_attribute: {key: route, values: [/health]}}]}}", buildTrace(nil, spanSpec{attrs: map[string]any{"route": "/x"}}), decisionSampled},
		{"any sampled samples", "- {name: a, type: status_code, status_code: {status_codes: [ERROR]}}\n- {name: b, type: always_sample}", buildTrace(nil, spanSpec{}), decisionSampled},
		{"none sampled", "- {name: a, type: status_code, status_code: {status_codes: [ERROR]}}\n- {name: b, type: probabilistic, probabilistic: {sampling_percentage: 0}}", buildTrace(nil, spanSpec{}), decisionNotSampled},
		{"composite within budget", "- {name: c, type: composite, composite: {max_total_spans_per_second: 10, composite_sub_policy: [{name: e, type: status_code, status_code: {status_codes: [ERROR]}}, {name: a, type: always_sample}]}}", buildTrace(nil, spanSpec{}), decisionSampled},
		{"composite over budget", "- {name: c, type: composite, composite: {max_total_spans_per_second: 2, composite_sub_policy: [{name: a, type: always_sample}]}}", buildTrace(nil, spanSpec{}, spanSpec{child: true}, spanSpec{child: true}), decisionNotSampled},
		{"rate_limiting within", "- {name: r, type: rate_limiting, rate_limiting: {spans_per_second: 1, burst_capacity: 2}}", buildTrace(nil, spanSpec{}, spanSpec{child: true}), decisionSampled},
		{"rate_limiting over burst", "- {name: r, type: rate_limiting, rate_limiting: {spans_per_second: 1, burst_capacity: 2}}", buildTrace(nil, spanSpec{}, spanSpec{child: true}, spanSpec{child: true}), decisionNotSampled},
		{"bytes_limiting within", "- {name: b, type: bytes_limiting, bytes_limiting: {bytes_per_second: 10000}}", buildTrace(nil, spanSpec{}), decisionSampled},
		{"bytes_limiting over burst", "- {name: b, type: bytes_limiting, bytes_limiting: {bytes_per_second: 10, burst_capacity: 20}}", buildTrace(nil, spanSpec{}), decisionNotSampled},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, errs := decideOn(t, indent(tt.policies), tt.td)
			assert.Equal(t, tt.want.String(), got.Kind.String())
			assert.Zero(t, errs)
		})
	}
}

// A policy that fails takes no part in the decision and is counted.
func TestPolicyErrorIsIgnoredAndCounted(t *testing.T) {
	td := buildTrace(nil, spanSpec{attrs: map[string]any{"n": "abc"}})
	got, errs := decideOn(t, indent(`- {name: bad, type: ottl_condition, ottl_condition: {error_mode: propagate, span: ['ParseJSON(attributes["n"])["x"] == 1']}}
- {name: e, type: status_code, status_code: {status_codes: [ERROR]}}`), td)
	assert.Equal(t, decisionNotSampled.String(), got.Kind.String())
	assert.Equal(t, int64(1), errs)
}

func TestProbabilisticThresholdReported(t *testing.T) {
	// Trace ID randomness 0x0203...0f >= threshold of 99%: sampled at threshold 0x028f5c28f5c28f.
	got, _ := decideOn(t, indent("- {name: p, type: probabilistic, probabilistic: {sampling_percentage: 99}}"), buildTrace(nil, spanSpec{}))
	require.Equal(t, decisionSampled, got.Kind)
	assert.NotZero(t, got.Threshold.Unsigned())
	// Kept by a certain policy too: the smallest threshold (certainty) wins.
	got, _ = decideOn(t, indent("- {name: p, type: probabilistic, probabilistic: {sampling_percentage: 99}}\n- {name: a, type: always_sample}"), buildTrace(nil, spanSpec{}))
	assert.Zero(t, got.Threshold.Unsigned())
}

func indent(s string) string {
	out := "  "
	for _, r := range s {
		out += string(r)
		if r == '\n' {
			out += "  "
		}
	}
	return out + "\n"
}

// elapsedMillis computes what the stock latency policy computes through
// time.Time, including at the int64 edges.
func TestElapsedMillis(t *testing.T) {
	vals := []pcommon.Timestamp{0, 1, 999_999, 1_000_000, 1_700_000_000_000_000_000, 1 << 62, 1<<63 - 1, 1 << 63, 1<<63 + 5, 1<<64 - 1}
	for _, a := range vals {
		for _, b := range vals {
			require.Equal(t, b.AsTime().Sub(a.AsTime()).Milliseconds(), elapsedMillis(a, b), "start %d end %d", a, b)
		}
	}
}
