package tailsamplingdriftprocessor

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

func fillAllAttrTypes(m pcommon.Map) {
	m.PutStr("s", "value")
	m.PutStr("empty", "")
	m.PutBool("t", true)
	m.PutBool("f", false)
	m.PutInt("i", 42)
	m.PutInt("neg", -7)
	m.PutInt("zero", 0)
	m.PutDouble("d", 3.25)
	m.PutDouble("nan", math.Inf(-1))
	m.PutEmptyBytes("b").FromRaw([]byte{0, 1, 2})
	sl := m.PutEmptySlice("arr")
	sl.AppendEmpty().SetStr("x")
	sl.AppendEmpty().SetInt(1)
	sl.AppendEmpty() // empty value
	inner := m.PutEmptyMap("map")
	inner.PutStr("k", "v")
	inner.PutEmptyMap("nested").PutBool("deep", true)
	m.PutEmpty("nothing")
}

// fillFullSpan sets every field of sp, every attribute value type, an event
// and an empty one, and a link; k varies the IDs.
func fillFullSpan(full ptrace.Span, k byte) {
	full.SetTraceID(pcommon.TraceID{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16 + k})
	full.SetSpanID(pcommon.SpanID{1, 2, 3, 4, 5, 6, 7, 8 + k})
	full.SetParentSpanID(pcommon.SpanID{8, 7, 6, 5, 4, 3, 2, 1})
	full.TraceState().FromRaw("ot=th:8,vendor=x")
	full.SetFlags(0x301)
	full.SetName("GET /things/{id}")
	full.SetKind(ptrace.SpanKindClient)
	full.SetStartTimestamp(1_700_000_000_123_456_789)
	full.SetEndTimestamp(1_700_000_001_000_000_000)
	fillAllAttrTypes(full.Attributes())
	// A length of two varint bytes.
	full.Attributes().PutStr("long", strings.Repeat("x", 300))
	full.SetDroppedAttributesCount(3)
	ev := full.Events().AppendEmpty()
	ev.SetName("exception")
	ev.SetTimestamp(1_700_000_000_500_000_000)
	fillAllAttrTypes(ev.Attributes())
	ev.SetDroppedAttributesCount(1)
	full.Events().AppendEmpty() // empty event
	full.SetDroppedEventsCount(4)
	l := full.Links().AppendEmpty()
	l.SetTraceID(pcommon.TraceID{9})
	l.SetSpanID(pcommon.SpanID{9})
	l.TraceState().FromRaw("a=b")
	l.Attributes().PutStr("k", "v")
	l.SetDroppedAttributesCount(2)
	l.SetFlags(1)
	full.SetDroppedLinksCount(5)
	full.Status().SetCode(ptrace.StatusCodeError)
	full.Status().SetMessage("boom")
}

// Spans encoded by appendSpanEntry decode (with pdata) to the same spans.
func TestSpanEncodingRoundTrip(t *testing.T) {
	td := ptrace.NewTraces()
	ss := td.ResourceSpans().AppendEmpty().ScopeSpans().AppendEmpty()
	full := ss.Spans().AppendEmpty()
	fillFullSpan(full, 0)
	// Lengths of three varint bytes (the encoder reserves one for
	// attributes, two for spans, and moves the content when that is wrong).
	full.Attributes().PutStr("longer", strings.Repeat("y", 20000))
	ss.Spans().AppendEmpty() // an all-default span

	var entries []byte
	for _, sp := range ss.Spans().All() {
		entries = appendSpanEntry(entries, sp)
	}
	var it internTable
	rid, _ := it.acquire(nil)
	c := appendChunkHeader(nil, rid, rid, len(entries))
	c = append(c, entries...)
	decoded, err := (&ptrace.ProtoUnmarshaler{}).UnmarshalTraces(it.assemble(nil, c))
	require.NoError(t, err)
	require.Equal(t, canonicalSpans(t, td), canonicalSpans(t, decoded))

	// And the encoding has exactly the size pdata gives it (minimal length
	// varints, as pdata writes them), for spans of one-, two- and three-byte
	// lengths.
	small := ss.Spans().AppendEmpty()
	small.SetName("x")
	for _, sp := range ss.Spans().All() {
		require.Equal(t, lenFieldSize(fieldScopeSpansSpans, marshaler.SpanSize(sp)), len(appendSpanEntry(nil, sp)))
	}
}

// BenchmarkSpanEncoding measures appendSpanEntry on the spans of the
// throughput benchmark (8 attributes each).
func BenchmarkSpanEncoding(b *testing.B) {
	spans := benchBatch(rand.New(rand.NewPCG(1, 2))).ResourceSpans().At(0).ScopeSpans().At(0).Spans()
	buf := make([]byte, 0, 1<<20)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		buf = buf[:0]
		for _, sp := range spans.All() {
			buf = appendSpanEntry(buf, sp)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*spans.Len()), "ns/span")
}
