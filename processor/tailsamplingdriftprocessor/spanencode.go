package tailsamplingdriftprocessor

import (
	"encoding/binary"
	"math"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

// appendSpanEntry appends span as one `spans` entry of an OTLP ScopeSpans
// message (opentelemetry/proto/trace/v1/trace.proto), encoded directly from
// pdata: no intermediate message is built and nothing is allocated beyond dst.
// Decoding with pdata gives back an equal span (TestSpanEncodingRoundTrip).
func appendSpanEntry(dst []byte, sp ptrace.Span) []byte {
	// Most spans take 128 B to 16 KiB: two length bytes.
	dst, start := beginLen(dst, fieldScopeSpansSpans, 2)
	dst = appendSpan(dst, sp)
	return endLen(dst, start, 2)
}

// beginLen starts a length-delimited field whose length is not known yet: it
// appends the field's tag and reserved placeholder bytes for the length, and
// returns where the content starts. Encoding the content first and writing its
// length after (endLen) spares a separate sizing pass over every nested
// message, which cost as much as encoding itself.
func beginLen(b []byte, field, reserved int) ([]byte, int) {
	b = binary.AppendUvarint(b, uint64(field<<3|wireBytes))
	for range reserved {
		b = append(b, 0)
	}
	return b, len(b)
}

// endLen writes the length of the content b[start:] into the placeholder
// beginLen reserved, moving the content when the minimal varint needs more or
// fewer bytes, so the encoding is byte for byte what pdata writes.
func endLen(b []byte, start, reserved int) []byte {
	n := len(b) - start
	size := uvarintSize(uint64(n))
	switch {
	case size > reserved:
		extra := size - reserved
		b = append(b, make([]byte, extra)...)
		copy(b[start+extra:], b[start:start+n])
	case size < reserved:
		copy(b[start-reserved+size:], b[start:start+n])
		b = b[:len(b)-(reserved-size)]
	}
	binary.PutUvarint(b[start-reserved:], uint64(n))
	return b
}

// Field numbers of the OTLP messages encoded here.
const (
	spanTraceID, spanSpanID, spanTraceState, spanParentSpanID = 1, 2, 3, 4
	spanName, spanKind, spanStart, spanEnd                    = 5, 6, 7, 8
	spanAttributes, spanDroppedAttributes, spanEvents         = 9, 10, 11
	spanDroppedEvents, spanLinks, spanDroppedLinks            = 12, 13, 14
	spanStatus, spanFlags                                     = 15, 16
	eventTime, eventName, eventAttributes, eventDropped       = 1, 2, 3, 4
	linkTraceID, linkSpanID, linkTraceState, linkAttributes   = 1, 2, 3, 4
	linkDropped, linkFlags                                    = 5, 6
	statusMessage, statusCode                                 = 2, 3
	kvKey, kvValue                                            = 1, 2
	anyString, anyBool, anyInt, anyDouble                     = 1, 2, 3, 4
	anyArray, anyKvlist, anyBytes                             = 5, 6, 7
	listValues                                                = 1
)

const (
	wireVarint  = 0
	wireFixed64 = 1
	wireFixed32 = 5
)

func appendKey(b []byte, field, wire int) []byte {
	return binary.AppendUvarint(b, uint64(field<<3|wire))
}

func appendStringField(b []byte, field int, s string) []byte {
	if s == "" {
		return b
	}
	b = appendLenField(b, field, len(s))
	return append(b, s...)
}

// ID fields are always written, empty (length 0) when the ID is all zeros,
// as pdata writes them, so that sizes agree with the stock processor's.
func idLen(id []byte) int {
	for _, c := range id {
		if c != 0 {
			return len(id)
		}
	}
	return 0
}

func appendIDField(b []byte, field int, id []byte) []byte {
	n := idLen(id)
	b = appendLenField(b, field, n)
	return append(b, id[:n]...)
}

func appendVarintField(b []byte, field int, v uint64) []byte {
	if v == 0 {
		return b
	}
	return binary.AppendUvarint(appendKey(b, field, wireVarint), v)
}

func appendFixed64Field(b []byte, field int, v uint64) []byte {
	if v == 0 {
		return b
	}
	return binary.LittleEndian.AppendUint64(appendKey(b, field, wireFixed64), v)
}

func appendFixed32Field(b []byte, field int, v uint32) []byte {
	if v == 0 {
		return b
	}
	return binary.LittleEndian.AppendUint32(appendKey(b, field, wireFixed32), v)
}

func appendSpan(b []byte, sp ptrace.Span) []byte {
	tid, sid, pid := sp.TraceID(), sp.SpanID(), sp.ParentSpanID()
	b = appendIDField(b, spanTraceID, tid[:])
	b = appendIDField(b, spanSpanID, sid[:])
	b = appendStringField(b, spanTraceState, sp.TraceState().AsRaw())
	b = appendIDField(b, spanParentSpanID, pid[:])
	b = appendStringField(b, spanName, sp.Name())
	b = appendVarintField(b, spanKind, uint64(sp.Kind()))
	b = appendFixed64Field(b, spanStart, uint64(sp.StartTimestamp()))
	b = appendFixed64Field(b, spanEnd, uint64(sp.EndTimestamp()))
	b = appendAttributes(b, spanAttributes, sp.Attributes())
	b = appendVarintField(b, spanDroppedAttributes, uint64(sp.DroppedAttributesCount()))
	events := sp.Events()
	for i := 0; i < events.Len(); i++ {
		ev := events.At(i)
		var start int
		b, start = beginLen(b, spanEvents, 1)
		b = appendFixed64Field(b, eventTime, uint64(ev.Timestamp()))
		b = appendStringField(b, eventName, ev.Name())
		b = appendAttributes(b, eventAttributes, ev.Attributes())
		b = appendVarintField(b, eventDropped, uint64(ev.DroppedAttributesCount()))
		b = endLen(b, start, 1)
	}
	b = appendVarintField(b, spanDroppedEvents, uint64(sp.DroppedEventsCount()))
	links := sp.Links()
	for i := 0; i < links.Len(); i++ {
		l := links.At(i)
		var start int
		b, start = beginLen(b, spanLinks, 1)
		ltid, lsid := l.TraceID(), l.SpanID()
		b = appendIDField(b, linkTraceID, ltid[:])
		b = appendIDField(b, linkSpanID, lsid[:])
		b = appendStringField(b, linkTraceState, l.TraceState().AsRaw())
		b = appendAttributes(b, linkAttributes, l.Attributes())
		b = appendVarintField(b, linkDropped, uint64(l.DroppedAttributesCount()))
		b = appendFixed32Field(b, linkFlags, l.Flags())
		b = endLen(b, start, 1)
	}
	b = appendVarintField(b, spanDroppedLinks, uint64(sp.DroppedLinksCount()))
	st := sp.Status()
	b, start := beginLen(b, spanStatus, 1)
	b = appendStringField(b, statusMessage, st.Message())
	b = appendVarintField(b, statusCode, uint64(st.Code()))
	b = endLen(b, start, 1)
	return appendFixed32Field(b, spanFlags, sp.Flags())
}

func appendAttributes(b []byte, field int, m pcommon.Map) []byte {
	for k, v := range m.All() {
		// Scalars, nearly every attribute, have sizes known up front: their
		// fields are written directly, without placeholders to fix up. The
		// value's type is asked once (it is a type switch in pdata).
		keyLen := 0
		if k != "" {
			keyLen = lenFieldSize(kvKey, len(k))
		}
		switch v.Type() {
		case pcommon.ValueTypeStr:
			sv := v.Str()
			anyLen := lenFieldSize(anyString, len(sv))
			b = appendLenField(b, field, keyLen+lenFieldSize(kvValue, anyLen))
			b = appendStringField(b, kvKey, k)
			b = appendLenField(b, kvValue, anyLen)
			b = appendLenField(b, anyString, len(sv))
			b = append(b, sv...)
		case pcommon.ValueTypeInt:
			x := uint64(v.Int())
			anyLen := 1 + uvarintSize(x)
			b = appendLenField(b, field, keyLen+lenFieldSize(kvValue, anyLen))
			b = appendStringField(b, kvKey, k)
			b = appendLenField(b, kvValue, anyLen)
			b = binary.AppendUvarint(appendKey(b, anyInt, wireVarint), x)
		default:
			var kv, val int
			b, kv = beginLen(b, field, 1)
			b = appendStringField(b, kvKey, k)
			b, val = beginLen(b, kvValue, 1)
			b = appendAnyValue(b, v)
			b = endLen(b, val, 1)
			b = endLen(b, kv, 1)
		}
	}
	return b
}

func appendAnyValue(b []byte, v pcommon.Value) []byte {
	switch v.Type() {
	case pcommon.ValueTypeStr:
		s := v.Str()
		b = appendLenField(b, anyString, len(s))
		return append(b, s...)
	case pcommon.ValueTypeBool:
		x := uint64(0)
		if v.Bool() {
			x = 1
		}
		return binary.AppendUvarint(appendKey(b, anyBool, wireVarint), x)
	case pcommon.ValueTypeInt:
		return binary.AppendUvarint(appendKey(b, anyInt, wireVarint), uint64(v.Int()))
	case pcommon.ValueTypeDouble:
		return binary.LittleEndian.AppendUint64(appendKey(b, anyDouble, wireFixed64), math.Float64bits(v.Double()))
	case pcommon.ValueTypeBytes:
		raw := v.Bytes().AsRaw()
		b = appendLenField(b, anyBytes, len(raw))
		return append(b, raw...)
	case pcommon.ValueTypeSlice:
		s := v.Slice()
		b, arr := beginLen(b, anyArray, 1)
		for i := 0; i < s.Len(); i++ {
			var e int
			b, e = beginLen(b, listValues, 1)
			b = appendAnyValue(b, s.At(i))
			b = endLen(b, e, 1)
		}
		return endLen(b, arr, 1)
	case pcommon.ValueTypeMap:
		m := v.Map()
		b, kvl := beginLen(b, anyKvlist, 1)
		b = appendAttributes(b, listValues, m)
		return endLen(b, kvl, 1)
	default:
		return b
	}
}
