package tailsamplingdriftprocessor

import (
	"encoding/binary"
	"math/rand/v2"
	"strings"
	"testing"
	"unsafe"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

// assemble is the reference the decoder is checked against: the OTLP
// encoding (a Traces message, one ResourceSpans per chunk) of stored chunks,
// for pdata's own decoder.
func (it *internTable) assemble(dst, data []byte) []byte {
	for len(data) > 0 {
		c, rest, ok := nextChunk(data)
		if !ok {
			return dst
		}
		res, scope := it.bytesOf(c.resource), it.bytesOf(c.scope)
		ss := len(scope) + len(c.spans)
		rs := len(res) + lenFieldSize(fieldResourceSpansScope, ss)
		dst = appendLenField(dst, fieldTracesResourceSpans, rs)
		dst = append(dst, res...)
		dst = appendLenField(dst, fieldResourceSpansScope, ss)
		dst = append(dst, scope...)
		dst = append(dst, c.spans...)
		data = rest
	}
	return dst
}

// storeChunks encodes every ResourceSpans/ScopeSpans of td as one chunk, the
// way ingest stores spans, and returns the table and the chunk data.
func storeChunks(t testing.TB, td ptrace.Traces) (*internTable, []byte) {
	t.Helper()
	sc := newIngestScratch()
	it := &internTable{}
	var data []byte
	for _, rs := range td.ResourceSpans().All() {
		res := encodeResource(sc, rs)
		for _, ss := range rs.ScopeSpans().All() {
			scope := encodeScope(sc, ss)
			var spans []byte
			for _, sp := range ss.Spans().All() {
				spans = appendSpanEntry(spans, sp)
			}
			rid, _ := it.acquire(res)
			sid, _ := it.acquire(scope)
			data = appendChunkHeader(data, rid, sid, len(spans))
			data = append(data, spans...)
		}
	}
	return it, data
}

// decodeStored decodes chunk data with decodeKept.
func decodeStored(t testing.TB, it *internTable, data []byte) ptrace.Traces {
	t.Helper()
	td, err := decodeKept(it.appendKeptChunks(nil, data, nil))
	require.NoError(t, err)
	return td
}

// richTraces has every span field set, every attribute value type, events,
// links, two resources and two scopes, spread over chunks that repeat them.
func richTraces() ptrace.Traces {
	td := ptrace.NewTraces()
	for r := range 4 {
		rs := td.ResourceSpans().AppendEmpty()
		rs.SetSchemaUrl("https://opentelemetry.io/schemas/1.26.0")
		rs.Resource().Attributes().PutStr("service.name", []string{"a", "b"}[r%2])
		rs.Resource().Attributes().PutInt("pid", 7)
		rs.Resource().SetDroppedAttributesCount(1)
		for s := range 2 {
			ss := rs.ScopeSpans().AppendEmpty()
			ss.Scope().SetName([]string{"scope-x", "scope-y"}[s])
			ss.Scope().SetVersion("1.0")
			ss.Scope().Attributes().PutBool("lib", true)
			ss.SetSchemaUrl("s")
			for k := range 3 {
				fillFullSpan(ss.Spans().AppendEmpty(), byte(r*3+k))
				ss.Spans().AppendEmpty() // an all-default span
			}
		}
	}
	return td
}

// The decoder gives what pdata's decoder gives for the same stored bytes, and
// groups the chunks of one resource and scope.
func TestDecodeKeptMatchesPdata(t *testing.T) {
	for name, td := range map[string]ptrace.Traces{
		"rich":  richTraces(),
		"bench": benchBatch(rand.New(rand.NewPCG(3, 4))),
		"empty": ptrace.NewTraces(),
	} {
		t.Run(name, func(t *testing.T) {
			it, data := storeChunks(t, td)
			want, err := (&ptrace.ProtoUnmarshaler{}).UnmarshalTraces(it.assemble(nil, data))
			require.NoError(t, err)
			got := decodeStored(t, it, data)
			require.Equal(t, canonicalSpans(t, want), canonicalSpans(t, got))
			require.Equal(t, canonicalSpans(t, td), canonicalSpans(t, got))
		})
	}
	// Four chunks of two distinct resources, each with two scopes: two
	// ResourceSpans of two ScopeSpans of 12 spans (6 per chunk).
	it, data := storeChunks(t, richTraces())
	got := decodeStored(t, it, data)
	require.Equal(t, 2, got.ResourceSpans().Len())
	for _, rs := range got.ResourceSpans().All() {
		require.Equal(t, 2, rs.ScopeSpans().Len())
		for _, ss := range rs.ScopeSpans().All() {
			require.Equal(t, 12, ss.Spans().Len())
		}
	}
}

// A repeated attribute key (valid protobuf; pdata's decoder keeps both
// entries, a pcommon.Map built through its API cannot) makes the span fall
// back to pdata's decoder, so the result is still pdata's.
func TestDecodeKeptRepeatedKey(t *testing.T) {
	sp := ptrace.NewSpan()
	sp.SetName("dup")
	sp.Attributes().PutStr("k", "first")
	body := appendSpan(nil, sp)
	// A second `attributes` entry with the same key, and one inside an event.
	kv := appendStringField(nil, kvKey, "k")
	val := appendStringField(nil, anyString, "second")
	kv = append(appendLenField(kv, kvValue, len(val)), val...)
	body = append(appendLenField(body, spanAttributes, len(kv)), kv...)
	ev := append(appendLenField(nil, eventAttributes, len(kv)), kv...)
	ev = append(appendLenField(ev, eventAttributes, len(kv)), kv...)
	body = append(appendLenField(body, spanEvents, len(ev)), ev...)
	entry := append(appendLenField(nil, fieldScopeSpansSpans, len(body)), body...)

	got, err := decodeKept([]keptChunk{{spans: entry}})
	require.NoError(t, err)
	gs := got.ResourceSpans().At(0).ScopeSpans().At(0).Spans().At(0)
	require.Equal(t, 2, gs.Attributes().Len())
	require.Equal(t, 2, gs.Events().At(0).Attributes().Len())
	require.False(t, decodeSpan(ptrace.NewSpan(), body))
}

// Kept spans' strings point into the chunk bytes (no copy per string); byte
// slice values are copied, because a consumer may write into them.
func TestDecodeKeptSharesStrings(t *testing.T) {
	td := ptrace.NewTraces()
	sp := td.ResourceSpans().AppendEmpty().ScopeSpans().AppendEmpty().Spans().AppendEmpty()
	sp.SetName("shared-name")
	sp.Attributes().PutEmptyBytes("b").FromRaw([]byte{1, 2, 3})
	it, data := storeChunks(t, td)
	got := decodeStored(t, it, data)
	gs := got.ResourceSpans().At(0).ScopeSpans().At(0).Spans().At(0)
	name := gs.Name()
	require.Equal(t, "shared-name", name)
	i := strings.Index(string(data), "shared-name")
	require.GreaterOrEqual(t, i, 0)
	require.Equal(t, &data[i], unsafeStringData(name))
	b, _ := gs.Attributes().Get("b")
	b.Bytes().SetAt(0, 9)
	require.NotContains(t, string(data), string([]byte{9, 2, 3}))
}

// FuzzDecodeSpan: whatever bytes decodeSpan accepts, it decodes to exactly
// what pdata's decoder makes of them; nothing makes it panic.
func FuzzDecodeSpan(f *testing.F) {
	for _, td := range []ptrace.Traces{richTraces(), benchBatch(rand.New(rand.NewPCG(1, 1)))} {
		for _, sp := range td.ResourceSpans().At(0).ScopeSpans().At(0).Spans().All() {
			f.Add(appendSpan(nil, sp))
		}
	}
	f.Add(binary.AppendUvarint(nil, 99<<3))
	f.Fuzz(func(t *testing.T, body []byte) {
		got := ptrace.NewSpan()
		if !decodeSpan(got, body) {
			return
		}
		entry := append(appendLenField(nil, fieldScopeSpansSpans, len(body)), body...)
		want := ptrace.NewSpan()
		if err := decodeSpanWithPdata(want, entry); err != nil {
			t.Fatalf("decodeSpan accepted what pdata refuses (%v): %x", err, body)
		}
		wt, gt := ptrace.NewTraces(), ptrace.NewTraces()
		want.CopyTo(wt.ResourceSpans().AppendEmpty().ScopeSpans().AppendEmpty().Spans().AppendEmpty())
		got.CopyTo(gt.ResourceSpans().AppendEmpty().ScopeSpans().AppendEmpty().Spans().AppendEmpty())
		require.Equal(t, canonicalSpans(t, wt), canonicalSpans(t, gt))
	})
}

// BenchmarkDecodeKept compares decodeKept with pdata's decoder on the kept
// traces of the throughput benchmark's batches (per span).
func BenchmarkDecodeKept(b *testing.B) {
	it, data := storeChunks(b, benchBatch(rand.New(rand.NewPCG(1, 2))))
	n := float64(benchTracesPerBatch * benchSpansPerTrace)
	b.Run("ours", func(b *testing.B) {
		b.ReportAllocs()
		for range b.N {
			if _, err := decodeKept(it.appendKeptChunks(nil, data, nil)); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/(n*float64(b.N)), "ns/span")
	})
	b.Run("pdata", func(b *testing.B) {
		b.ReportAllocs()
		for range b.N {
			if _, err := (&ptrace.ProtoUnmarshaler{}).UnmarshalTraces(it.assemble(nil, data)); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/(n*float64(b.N)), "ns/span")
	})
}

func unsafeStringData(s string) *byte { return unsafe.StringData(s) }
