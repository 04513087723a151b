package kafkajoin

import (
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

var t0 = time.Unix(1_700_000_000, 0)

func tid(b byte) pcommon.TraceID {
	var t pcommon.TraceID
	for i := range t {
		t[i] = b
	}
	return t
}

func sid(b byte) pcommon.SpanID {
	var s pcommon.SpanID
	for i := range s {
		s[i] = b
	}
	return s
}

// batch builds the spans one drain gives: one resource per service.
type batch struct {
	td  ptrace.Traces
	res map[string]ptrace.ScopeSpans
}

func newBatch() *batch { return &batch{td: ptrace.NewTraces(), res: map[string]ptrace.ScopeSpans{}} }

func (b *batch) span(service string, kind ptrace.SpanKind, trace, span, parent byte) ptrace.Span {
	ss, ok := b.res[service]
	if !ok {
		rs := b.td.ResourceSpans().AppendEmpty()
		rs.Resource().Attributes().PutStr("service.name", service)
		ss = rs.ScopeSpans().AppendEmpty()
		b.res[service] = ss
	}
	s := ss.Spans().AppendEmpty()
	s.SetKind(kind)
	s.SetTraceID(tid(trace))
	s.SetSpanID(sid(span))
	if parent != 0 {
		s.SetParentSpanID(sid(parent))
	}
	s.SetName(service)
	return s
}

func (b *batch) consumer(trace, span byte, topic string, partition, offset int64) ptrace.Span {
	s := b.span("worker", ptrace.SpanKindConsumer, trace, span, 0)
	s.Attributes().PutStr(AttrDestinationName, topic)
	s.Attributes().PutStr(AttrPartitionID, "0")
	if partition != 0 {
		s.Attributes().PutStr(AttrPartitionID, itoa(partition))
	}
	s.Attributes().PutInt(AttrOffset, offset)
	return s
}

func itoa(v int64) string { return pcommon.NewValueInt(v).AsString() }

// spans lists every span of td by span id's first byte.
func spans(td ptrace.Traces) map[byte]ptrace.Span {
	m := map[byte]ptrace.Span{}
	forEachSpan(td, func(s ptrace.Span) { m[s.SpanID()[0]] = s })
	return m
}

func produced(topic string, partition, first, count int64, trace, span byte) Produced {
	return Produced{Topic: topic, Partition: partition, FirstOffset: first, Count: count, TraceID: tid(trace), SpanID: sid(span)}
}

func cfg() Config { return DefaultConfig(2 * time.Second) }

func checkJoined(t *testing.T, s ptrace.Span, trace, parent byte) {
	t.Helper()
	if s.TraceID() != tid(trace) || s.ParentSpanID() != sid(parent) {
		t.Errorf("span %x: trace %s parent %s, want trace %x.. parent %x..", s.SpanID(), s.TraceID(), s.ParentSpanID(), trace, parent)
	}
}

// The producer's record comes first (the usual order): the consumer span
// and its child in the same drain are joined at once, nothing is held.
func TestRecordBeforeConsumer(t *testing.T) {
	j := New(cfg())
	j.AddProduced(produced("orders", 0, 10, 3, 0xa0, 0xa1), t0)
	b := newBatch()
	b.span("worker", ptrace.SpanKindClient, 0xb0, 0xb2, 0xb1) // child first in the batch
	b.consumer(0xb0, 0xb1, "orders", 0, 11)
	c := j.Process(b.td, t0)
	if c.Joined != 1 || c.Unjoined != 0 || j.Held() != 0 {
		t.Fatalf("counts %+v held %d", c, j.Held())
	}
	got := spans(b.td)
	checkJoined(t, got[0xb1], 0xa0, 0xa1)
	checkJoined(t, got[0xb2], 0xa0, 0xb1)
	// A later child of the subtree takes the producer's trace too.
	b2 := newBatch()
	b2.span("worker", ptrace.SpanKindClient, 0xb0, 0xb3, 0xb1)
	j.Process(b2.td, t0.Add(time.Second))
	checkJoined(t, spans(b2.td)[0xb3], 0xa0, 0xb1)
}

// The record arrives after the consumer span: the span and its children
// (before and after the record) are held, then released joined.
func TestRecordAfterConsumer(t *testing.T) {
	j := New(cfg())
	b := newBatch()
	b.consumer(0xb0, 0xb1, "orders", 2, 7)
	b.span("other", ptrace.SpanKindServer, 0xc0, 0xc1, 0) // unrelated: passes
	if c := j.Process(b.td, t0); c != (Counts{}) {
		t.Fatalf("counts %+v", c)
	}
	if got := spans(b.td); len(got) != 1 || got[0xc1].Name() != "other" {
		t.Fatalf("first drain sent %d spans", len(got))
	}
	if b.td.ResourceSpans().Len() != 1 {
		t.Errorf("empty resource spans left: %d", b.td.ResourceSpans().Len())
	}
	b2 := newBatch()
	b2.span("worker", ptrace.SpanKindClient, 0xb0, 0xb2, 0xb1)
	j.Process(b2.td, t0.Add(100*time.Millisecond))
	if b2.td.SpanCount() != 0 || j.Held() != 2 {
		t.Fatalf("child not held: sent %d held %d", b2.td.SpanCount(), j.Held())
	}
	// Another offset of the same partition does not match.
	j.AddProduced(produced("orders", 2, 8, 1, 0xe0, 0xe1), t0.Add(200*time.Millisecond))
	j.AddProduced(produced("orders", 1, 7, 1, 0xe0, 0xe1), t0.Add(200*time.Millisecond))
	if j.Held() != 2 {
		t.Fatal("joined on the wrong key")
	}
	j.AddProduced(produced("orders", 2, 5, 4, 0xa0, 0xa1), t0.Add(300*time.Millisecond))
	b3 := newBatch()
	b3.span("worker", ptrace.SpanKindClient, 0xb0, 0xb3, 0xb2) // after the record
	c := j.Process(b3.td, t0.Add(300*time.Millisecond))
	if c.Joined != 1 || j.Held() != 0 {
		t.Fatalf("counts %+v held %d", c, j.Held())
	}
	got := spans(b3.td)
	if len(got) != 3 {
		t.Fatalf("released %d spans", len(got))
	}
	checkJoined(t, got[0xb1], 0xa0, 0xa1)
	checkJoined(t, got[0xb2], 0xa0, 0xb1)
	checkJoined(t, got[0xb3], 0xa0, 0xb2)
	if name := got[0xb1].Name(); name != "worker" {
		t.Errorf("released span lost its content: %q", name)
	}
	var svc []string
	for i := 0; i < b3.td.ResourceSpans().Len(); i++ {
		v, _ := b3.td.ResourceSpans().At(i).Resource().Attributes().Get("service.name")
		svc = append(svc, v.Str())
	}
	for _, s := range svc {
		if s != "worker" {
			t.Errorf("released spans under resource %q", s)
		}
	}
}

// A producer span with the three attributes registers its key, in the
// same batch as the consumer or an earlier one.
func TestProducerSpanRegisters(t *testing.T) {
	for _, sameBatch := range []bool{true, false} {
		j := New(cfg())
		b := newBatch()
		b.consumer(0xb0, 0xb1, "pay", 3, 42)
		p := newBatch()
		if sameBatch {
			p = b
		}
		ps := p.span("orders", ptrace.SpanKindProducer, 0xa0, 0xa1, 0xa2)
		ps.Attributes().PutStr(AttrDestinationName, "pay")
		ps.Attributes().PutStr(AttrPartitionID, "3")
		ps.Attributes().PutStr(AttrOffset, "42") // a string is read too
		if !sameBatch {
			j.Process(p.td, t0)
		}
		c := j.Process(b.td, t0.Add(time.Millisecond))
		if c.Joined != 1 {
			t.Fatalf("same batch %v: counts %+v", sameBatch, c)
		}
		checkJoined(t, spans(b.td)[0xb1], 0xa0, 0xa1)
	}
}

// A consumer span with a parent (a traceparent header the application set,
// or a span of its goroutine) is left alone, key or not.
func TestParentedConsumerUntouched(t *testing.T) {
	j := New(cfg())
	j.AddProduced(produced("orders", 0, 1, 1, 0xa0, 0xa1), t0)
	b := newBatch()
	s := b.consumer(0xd0, 0xb1, "orders", 0, 1)
	s.SetParentSpanID(sid(0xd1))
	if c := j.Process(b.td, t0); c != (Counts{}) {
		t.Fatalf("counts %+v", c)
	}
	checkJoined(t, spans(b.td)[0xb1], 0xd0, 0xd1)
}

// No record within the wait: the consumer span and its subtree go out as
// they were, and later spans of the trace pass straight through.
func TestWaitExpires(t *testing.T) {
	j := New(cfg())
	b := newBatch()
	b.consumer(0xb0, 0xb1, "orders", 0, 1)
	j.Process(b.td, t0)
	b2 := newBatch()
	b2.span("worker", ptrace.SpanKindClient, 0xb0, 0xb2, 0xb1)
	if c := j.Process(b2.td, t0.Add(1999*time.Millisecond)); c != (Counts{}) || b2.td.SpanCount() != 0 {
		t.Fatalf("released early: %+v, %d spans", c, b2.td.SpanCount())
	}
	b3 := newBatch()
	c := j.Process(b3.td, t0.Add(2*time.Second))
	if c.Unjoined != 1 || b3.td.SpanCount() != 2 || j.Held() != 0 {
		t.Fatalf("counts %+v, %d spans, held %d", c, b3.td.SpanCount(), j.Held())
	}
	got := spans(b3.td)
	checkJoined(t, got[0xb2], 0xb0, 0xb1)
	if !got[0xb1].ParentSpanID().IsEmpty() {
		t.Error("unjoined consumer span got a parent")
	}
	// The record after the wait changes nothing.
	j.AddProduced(produced("orders", 0, 1, 1, 0xa0, 0xa1), t0.Add(3*time.Second))
	b4 := newBatch()
	b4.span("worker", ptrace.SpanKindClient, 0xb0, 0xb3, 0xb1)
	if c := j.Process(b4.td, t0.Add(3*time.Second)); c != (Counts{}) {
		t.Fatalf("counts %+v", c)
	}
	checkJoined(t, spans(b4.td)[0xb3], 0xb0, 0xb1)
}

// Beyond MaxHeldSpans the oldest held traces are released unjoined
// (evicted), never dropped.
func TestEviction(t *testing.T) {
	c := cfg()
	c.MaxHeldSpans = 3
	j := New(c)
	b := newBatch()
	for i := byte(1); i <= 5; i++ {
		b.consumer(0x10+i, 0x20+i, "orders", 0, int64(i))
	}
	got := j.Process(b.td, t0)
	if got.Evicted != 2 || j.Held() != 3 || b.td.SpanCount() != 2 {
		t.Fatalf("counts %+v held %d sent %d", got, j.Held(), b.td.SpanCount())
	}
	if s := spans(b.td); s[0x21].TraceID() != tid(0x11) || s[0x22].TraceID() != tid(0x12) {
		t.Error("not the oldest evicted")
	}
	// The rest still join.
	j.AddProduced(produced("orders", 0, 3, 3, 0xa0, 0xa1), t0)
	b2 := newBatch()
	if got := j.Process(b2.td, t0); got.Joined != 3 || b2.td.SpanCount() != 3 {
		t.Fatalf("counts %+v sent %d", got, b2.td.SpanCount())
	}
	// Flush releases whatever is held.
	b3 := newBatch()
	b3.consumer(0x30, 0x31, "orders", 0, 99)
	j.Process(b3.td, t0)
	out := ptrace.NewTraces()
	if got := j.Flush(out); got.Unjoined != 1 || out.SpanCount() != 1 {
		t.Fatalf("flush: %+v, %d spans", got, out.SpanCount())
	}
}

// Keys are bounded in number and age.
func TestKeysBounded(t *testing.T) {
	c := cfg()
	c.MaxKeys = 10
	j := New(c)
	j.AddProduced(produced("orders", 0, 0, 100, 0xa0, 0xa1), t0)
	if j.Keys() != 10 {
		t.Fatalf("%d keys", j.Keys())
	}
	b := newBatch()
	b.consumer(0xb0, 0xb1, "orders", 0, 95) // one of the newest: kept
	if got := j.Process(b.td, t0); got.Joined != 1 {
		t.Fatalf("newest key gone: %+v", got)
	}
	j.Process(newBatch().td, t0.Add(c.KeyTTL))
	if j.Keys() != 0 {
		t.Errorf("%d keys after their TTL", j.Keys())
	}
}

// Spans without the three attributes, or with unreadable ones, are not
// candidates.
func TestKeyOf(t *testing.T) {
	for _, c := range []struct {
		attrs map[string]any
		ok    bool
		want  Key
	}{
		{map[string]any{AttrDestinationName: "t", AttrPartitionID: "3", AttrOffset: int64(9)}, true, Key{"t", 3, 9}},
		{map[string]any{AttrDestinationName: "t", AttrPartitionID: int64(3), AttrOffset: "9"}, true, Key{"t", 3, 9}},
		{map[string]any{AttrDestinationName: "t", AttrPartitionID: "3"}, false, Key{}},
		{map[string]any{AttrDestinationName: "t", AttrPartitionID: "x", AttrOffset: int64(9)}, false, Key{}},
		{map[string]any{AttrPartitionID: "3", AttrOffset: int64(9)}, false, Key{}},
		{map[string]any{AttrDestinationName: "t", AttrPartitionID: 1.5, AttrOffset: int64(9)}, false, Key{}},
	} {
		m := pcommon.NewMap()
		if err := m.FromRaw(c.attrs); err != nil {
			t.Fatal(err)
		}
		if got, ok := keyOf(m); ok != c.ok || got != c.want {
			t.Errorf("%v: %+v %v, want %+v %v", c.attrs, got, ok, c.want, c.ok)
		}
	}
}
