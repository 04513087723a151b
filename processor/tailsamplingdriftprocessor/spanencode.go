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
	// pdata sizes a span faster than the public API allows (it reads its
	// structs directly); the sizes agree exactly (TestSpanEncodingRoundTrip).
	dst = appendLenField(dst, fieldScopeSpansSpans, marshaler.SpanSize(sp))
	return appendSpan(dst, sp)
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

func keySize(field int) int { return uvarintSize(uint64(field << 3)) }

func appendKey(b []byte, field, wire int) []byte {
	return binary.AppendUvarint(b, uint64(field<<3|wire))
}

func stringFieldSize(field int, s string) int {
	if s == "" {
		return 0
	}
	return lenFieldSize(field, len(s))
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

func idFieldSize(field int, id []byte) int { return lenFieldSize(field, idLen(id)) }

func appendIDField(b []byte, field int, id []byte) []byte {
	n := idLen(id)
	b = appendLenField(b, field, n)
	return append(b, id[:n]...)
}

func varintFieldSize(field int, v uint64) int {
	if v == 0 {
		return 0
	}
	return keySize(field) + uvarintSize(v)
}

func appendVarintField(b []byte, field int, v uint64) []byte {
	if v == 0 {
		return b
	}
	return binary.AppendUvarint(appendKey(b, field, wireVarint), v)
}

func fixed64FieldSize(field int, v uint64) int {
	if v == 0 {
		return 0
	}
	return keySize(field) + 8
}

func appendFixed64Field(b []byte, field int, v uint64) []byte {
	if v == 0 {
		return b
	}
	return binary.LittleEndian.AppendUint64(appendKey(b, field, wireFixed64), v)
}

func fixed32FieldSize(field int, v uint32) int {
	if v == 0 {
		return 0
	}
	return keySize(field) + 4
}

func appendFixed32Field(b []byte, field int, v uint32) []byte {
	if v == 0 {
		return b
	}
	return binary.LittleEndian.AppendUint32(appendKey(b, field, wireFixed32), v)
}

func spanSize(sp ptrace.Span) int {
	tid, sid, pid := sp.TraceID(), sp.SpanID(), sp.ParentSpanID()
	n := idFieldSize(spanTraceID, tid[:]) + idFieldSize(spanSpanID, sid[:]) +
		stringFieldSize(spanTraceState, sp.TraceState().AsRaw()) + idFieldSize(spanParentSpanID, pid[:]) +
		fixed32FieldSize(spanFlags, sp.Flags()) + stringFieldSize(spanName, sp.Name()) +
		varintFieldSize(spanKind, uint64(sp.Kind())) +
		fixed64FieldSize(spanStart, uint64(sp.StartTimestamp())) + fixed64FieldSize(spanEnd, uint64(sp.EndTimestamp())) +
		attributesSize(spanAttributes, sp.Attributes()) + varintFieldSize(spanDroppedAttributes, uint64(sp.DroppedAttributesCount())) +
		varintFieldSize(spanDroppedEvents, uint64(sp.DroppedEventsCount())) + varintFieldSize(spanDroppedLinks, uint64(sp.DroppedLinksCount()))
	events := sp.Events()
	for i := 0; i < events.Len(); i++ {
		n += lenFieldSize(spanEvents, eventSize(events.At(i)))
	}
	links := sp.Links()
	for i := 0; i < links.Len(); i++ {
		n += lenFieldSize(spanLinks, linkSize(links.At(i)))
	}
	// Status is always written, as pdata does.
	return n + lenFieldSize(spanStatus, statusSize(sp.Status()))
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
		b = appendLenField(b, spanEvents, eventSize(ev))
		b = appendFixed64Field(b, eventTime, uint64(ev.Timestamp()))
		b = appendStringField(b, eventName, ev.Name())
		b = appendAttributes(b, eventAttributes, ev.Attributes())
		b = appendVarintField(b, eventDropped, uint64(ev.DroppedAttributesCount()))
	}
	b = appendVarintField(b, spanDroppedEvents, uint64(sp.DroppedEventsCount()))
	links := sp.Links()
	for i := 0; i < links.Len(); i++ {
		l := links.At(i)
		b = appendLenField(b, spanLinks, linkSize(l))
		ltid, lsid := l.TraceID(), l.SpanID()
		b = appendIDField(b, linkTraceID, ltid[:])
		b = appendIDField(b, linkSpanID, lsid[:])
		b = appendStringField(b, linkTraceState, l.TraceState().AsRaw())
		b = appendAttributes(b, linkAttributes, l.Attributes())
		b = appendVarintField(b, linkDropped, uint64(l.DroppedAttributesCount()))
		b = appendFixed32Field(b, linkFlags, l.Flags())
	}
	b = appendVarintField(b, spanDroppedLinks, uint64(sp.DroppedLinksCount()))
	st := sp.Status()
	b = appendLenField(b, spanStatus, statusSize(st))
	b = appendStringField(b, statusMessage, st.Message())
	b = appendVarintField(b, statusCode, uint64(st.Code()))
	return appendFixed32Field(b, spanFlags, sp.Flags())
}

func eventSize(ev ptrace.SpanEvent) int {
	return fixed64FieldSize(eventTime, uint64(ev.Timestamp())) + stringFieldSize(eventName, ev.Name()) +
		attributesSize(eventAttributes, ev.Attributes()) + varintFieldSize(eventDropped, uint64(ev.DroppedAttributesCount()))
}

func linkSize(l ptrace.SpanLink) int {
	tid, sid := l.TraceID(), l.SpanID()
	return idFieldSize(linkTraceID, tid[:]) + idFieldSize(linkSpanID, sid[:]) +
		stringFieldSize(linkTraceState, l.TraceState().AsRaw()) + attributesSize(linkAttributes, l.Attributes()) +
		varintFieldSize(linkDropped, uint64(l.DroppedAttributesCount())) + fixed32FieldSize(linkFlags, l.Flags())
}

func statusSize(st ptrace.Status) int {
	return stringFieldSize(statusMessage, st.Message()) + varintFieldSize(statusCode, uint64(st.Code()))
}

func attributesSize(field int, m pcommon.Map) int {
	n := 0
	for k, v := range m.All() {
		n += lenFieldSize(field, keyValueSize(k, v))
	}
	return n
}

func appendAttributes(b []byte, field int, m pcommon.Map) []byte {
	for k, v := range m.All() {
		b = appendLenField(b, field, keyValueSize(k, v))
		b = appendStringField(b, kvKey, k)
		b = appendLenField(b, kvValue, anyValueSize(v))
		b = appendAnyValue(b, v)
	}
	return b
}

func keyValueSize(k string, v pcommon.Value) int {
	return stringFieldSize(kvKey, k) + lenFieldSize(kvValue, anyValueSize(v))
}

// anyValueSize is the size of an AnyValue's content. A set oneof member is
// written even when it holds its type's zero value.
func anyValueSize(v pcommon.Value) int {
	switch v.Type() {
	case pcommon.ValueTypeStr:
		return lenFieldSize(anyString, len(v.Str()))
	case pcommon.ValueTypeBool:
		return keySize(anyBool) + 1
	case pcommon.ValueTypeInt:
		return keySize(anyInt) + uvarintSize(uint64(v.Int()))
	case pcommon.ValueTypeDouble:
		return keySize(anyDouble) + 8
	case pcommon.ValueTypeBytes:
		return lenFieldSize(anyBytes, v.Bytes().Len())
	case pcommon.ValueTypeSlice:
		return lenFieldSize(anyArray, sliceSize(v.Slice()))
	case pcommon.ValueTypeMap:
		return lenFieldSize(anyKvlist, attributesSize(listValues, v.Map()))
	default:
		return 0
	}
}

func sliceSize(s pcommon.Slice) int {
	n := 0
	for i := 0; i < s.Len(); i++ {
		n += lenFieldSize(listValues, anyValueSize(s.At(i)))
	}
	return n
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
		b = appendLenField(b, anyArray, sliceSize(s))
		for i := 0; i < s.Len(); i++ {
			e := s.At(i)
			b = appendLenField(b, listValues, anyValueSize(e))
			b = appendAnyValue(b, e)
		}
		return b
	case pcommon.ValueTypeMap:
		m := v.Map()
		b = appendLenField(b, anyKvlist, attributesSize(listValues, m))
		return appendAttributes(b, listValues, m)
	default:
		return b
	}
}
