package tailsamplingdriftprocessor

import (
	"encoding/binary"
	"fmt"
	"math"
	"unsafe"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

// keptChunk is one stored chunk of a kept trace on its way to the next
// consumer: the interned encodings of its resource and scope (immutable
// strings) and the trace's own span bytes, which nothing writes once the trace
// is decided. Handing these over costs no copy.
type keptChunk struct {
	resource, scope string
	spans           []byte
	// mark, when the recordpolicy gate is on, is written on the scope.
	mark *policyMark
}

// appendKeptChunks appends the chunks of a decided trace's data.
func (it *internTable) appendKeptChunks(dst []keptChunk, data []byte, mark *policyMark) []keptChunk {
	for len(data) > 0 {
		c, rest, ok := nextChunk(data)
		if !ok {
			return dst
		}
		dst = append(dst, keptChunk{resource: it.keyOf(c.resource), scope: it.keyOf(c.scope), spans: c.spans, mark: mark})
		data = rest
	}
	return dst
}

func (it *internTable) keyOf(id uint32) string {
	if int(id) >= len(it.entries) {
		return ""
	}
	return it.entries[id].key
}

// decodeKept builds the pdata the next consumer gets from kept chunks. Chunks
// with the same resource, scope and policy mark share one ResourceSpans and ScopeSpans (a
// flush usually holds many traces of few resources), each resource and scope
// is decoded once, and spans are decoded by decodeSpan straight into pdata,
// their strings pointing into the chunk bytes instead of being copied.
func decodeKept(chunks []keptChunk) (ptrace.Traces, error) {
	td := ptrace.NewTraces()
	type scopeGroup struct {
		scope string
		mark  *policyMark
		spans ptrace.SpanSlice
		n     int
	}
	type resourceGroup struct {
		rs     ptrace.ResourceSpans
		scopes []scopeGroup
	}
	var groups []resourceGroup
	byResource := make(map[string]int, 4)
	where := make([]int32, 2*len(chunks)) // resource group, scope group per chunk
	for i, c := range chunks {
		ri, ok := byResource[c.resource]
		if !ok {
			ri = len(groups)
			byResource[c.resource] = ri
			rs := td.ResourceSpans().AppendEmpty()
			if err := decodeResourceInto(rs, c.resource); err != nil {
				return td, err
			}
			groups = append(groups, resourceGroup{rs: rs})
		}
		g := &groups[ri]
		si := -1
		for k := range g.scopes {
			if g.scopes[k].scope == c.scope && g.scopes[k].mark == c.mark {
				si = k
				break
			}
		}
		if si < 0 {
			ss := g.rs.ScopeSpans().AppendEmpty()
			if err := decodeScopeInto(ss, c.scope); err != nil {
				return td, err
			}
			if c.mark != nil {
				c.mark.apply(ss.Scope().Attributes())
			}
			si = len(g.scopes)
			g.scopes = append(g.scopes, scopeGroup{scope: c.scope, mark: c.mark, spans: ss.Spans()})
		}
		n, err := countFields(c.spans, fieldScopeSpansSpans)
		if err != nil {
			return td, err
		}
		g.scopes[si].n += n
		where[2*i], where[2*i+1] = int32(ri), int32(si)
	}
	for _, g := range groups {
		for _, s := range g.scopes {
			s.spans.EnsureCapacity(s.n)
		}
	}
	for i, c := range chunks {
		spans := groups[where[2*i]].scopes[where[2*i+1]].spans
		b := c.spans
		for len(b) > 0 {
			f, payload, raw, rest, err := nextField(b)
			if err != nil {
				return td, err
			}
			if f == fieldScopeSpansSpans {
				sp := spans.AppendEmpty()
				if !decodeSpan(sp, payload) {
					if err := decodeSpanWithPdata(sp, raw); err != nil {
						return td, err
					}
				}
			}
			b = rest
		}
	}
	return td, nil
}

// countFields counts the occurrences of field at the top level of b.
func countFields(b []byte, want int) (int, error) {
	n := 0
	for len(b) > 0 {
		f, _, _, rest, err := nextField(b)
		if err != nil {
			return 0, err
		}
		if f == want {
			n++
		}
		b = rest
	}
	return n, nil
}

// decodeResourceInto decodes an interned ResourceSpans content (resource and
// schema URL) with pdata itself: it happens once per resource per flush, and
// covers every field the resource may have.
func decodeResourceInto(dst ptrace.ResourceSpans, content string) error {
	msg := appendLenField(make([]byte, 0, len(content)+6), fieldTracesResourceSpans, len(content))
	msg = append(msg, content...)
	src, err := (&ptrace.ProtoUnmarshaler{}).UnmarshalTraces(msg)
	if err != nil || src.ResourceSpans().Len() != 1 {
		return fmt.Errorf("decode kept resource: %w", errOr(err))
	}
	rs := src.ResourceSpans().At(0)
	rs.Resource().MoveTo(dst.Resource())
	dst.SetSchemaUrl(rs.SchemaUrl())
	return nil
}

// decodeScopeInto decodes an interned ScopeSpans content (scope and schema URL).
func decodeScopeInto(dst ptrace.ScopeSpans, content string) error {
	inner := lenFieldSize(fieldResourceSpansScope, len(content))
	msg := appendLenField(make([]byte, 0, inner+12), fieldTracesResourceSpans, inner)
	msg = appendLenField(msg, fieldResourceSpansScope, len(content))
	msg = append(msg, content...)
	src, err := (&ptrace.ProtoUnmarshaler{}).UnmarshalTraces(msg)
	if err != nil || src.ResourceSpans().Len() != 1 || src.ResourceSpans().At(0).ScopeSpans().Len() != 1 {
		return fmt.Errorf("decode kept scope: %w", errOr(err))
	}
	ss := src.ResourceSpans().At(0).ScopeSpans().At(0)
	ss.Scope().MoveTo(dst.Scope())
	dst.SetSchemaUrl(ss.SchemaUrl())
	return nil
}

// decodeSpanWithPdata decodes one `spans` entry (raw, tag included) with pdata
// into dst, replacing whatever decodeSpan had filled in.
func decodeSpanWithPdata(dst ptrace.Span, raw []byte) error {
	inner := lenFieldSize(fieldResourceSpansScope, len(raw))
	msg := appendLenField(make([]byte, 0, inner+12), fieldTracesResourceSpans, inner)
	msg = appendLenField(msg, fieldResourceSpansScope, len(raw))
	msg = append(msg, raw...)
	src, err := (&ptrace.ProtoUnmarshaler{}).UnmarshalTraces(msg)
	if err != nil || src.SpanCount() != 1 {
		return fmt.Errorf("decode kept span: %w", errOr(err))
	}
	src.ResourceSpans().At(0).ScopeSpans().At(0).Spans().At(0).MoveTo(dst)
	return nil
}

func errOr(err error) error {
	if err != nil {
		return err
	}
	return errMalformed
}

// str views b as a string without copying. The bytes are a kept chunk's,
// which nothing writes after the decision.
func str(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(&b[0], len(b))
}

// decodeSpan decodes an encoded Span message into dst, the fields
// appendSpan writes. It reports false, leaving dst partly filled, when the
// bytes hold anything else (an unexpected field or wire type) or a repeated
// attribute key, which pdata keeps and a pcommon.Map cannot hold: the caller
// then decodes the span with pdata, so the result is always what pdata's
// decoder gives.
func decodeSpan(dst ptrace.Span, b []byte) bool {
	nAttrs := 0
	for len(b) > 0 {
		field, wire, payload, v, rest, ok := nextWireField(b)
		if !ok {
			return false
		}
		b = rest
		ok = true
		switch {
		case field == spanTraceID && wire == wireBytes:
			var id pcommon.TraceID
			ok = copyID(id[:], payload)
			dst.SetTraceID(id)
		case field == spanSpanID && wire == wireBytes:
			var id pcommon.SpanID
			ok = copyID(id[:], payload)
			dst.SetSpanID(id)
		case field == spanParentSpanID && wire == wireBytes:
			var id pcommon.SpanID
			ok = copyID(id[:], payload)
			dst.SetParentSpanID(id)
		case field == spanTraceState && wire == wireBytes:
			dst.TraceState().FromRaw(str(payload))
		case field == spanName && wire == wireBytes:
			dst.SetName(str(payload))
		case field == spanKind && wire == wireVarint:
			dst.SetKind(ptrace.SpanKind(int32(v)))
		case field == spanStart && wire == wireFixed64:
			dst.SetStartTimestamp(pcommon.Timestamp(v))
		case field == spanEnd && wire == wireFixed64:
			dst.SetEndTimestamp(pcommon.Timestamp(v))
		case field == spanAttributes && wire == wireBytes:
			if nAttrs == 0 {
				// The attributes are written one after the other: count
				// them, to allocate the map once.
				dst.Attributes().EnsureCapacity(1 + countRun(rest, byte(spanAttributes<<3|wireBytes)))
			}
			nAttrs++
			ok = decodeKeyValue(dst.Attributes(), payload)
		case field == spanDroppedAttributes && wire == wireVarint:
			dst.SetDroppedAttributesCount(uint32(v))
		case field == spanEvents && wire == wireBytes:
			ok = decodeEvent(dst.Events().AppendEmpty(), payload)
		case field == spanDroppedEvents && wire == wireVarint:
			dst.SetDroppedEventsCount(uint32(v))
		case field == spanLinks && wire == wireBytes:
			ok = decodeLink(dst.Links().AppendEmpty(), payload)
		case field == spanDroppedLinks && wire == wireVarint:
			dst.SetDroppedLinksCount(uint32(v))
		case field == spanStatus && wire == wireBytes:
			ok = decodeStatus(dst.Status(), payload)
		case field == spanFlags && wire == wireFixed32:
			dst.SetFlags(uint32(v))
		default:
			ok = false
		}
		if !ok {
			return false
		}
	}
	return dst.Attributes().Len() == nAttrs
}

// copyID sets id from an ID field's payload: empty (all zeros) or exactly
// the ID's size.
func copyID(id, payload []byte) bool {
	if len(payload) == 0 {
		return true
	}
	return copy(id, payload) == len(payload) && len(payload) == len(id)
}

// fields walks the fields of b, calling f for each with its payload (length-
// delimited) or value (varint, fixed); it stops and reports false when b is
// malformed or f returns false.
func fields(b []byte, f func(field, wire int, payload []byte, v uint64) bool) bool {
	for len(b) > 0 {
		field, wire, payload, v, rest, ok := nextWireField(b)
		if !ok || !f(field, wire, payload, v) {
			return false
		}
		b = rest
	}
	return true
}

// nextWireField splits the first field off b: its number and wire type, its
// payload (length-delimited) or value (varint, fixed64, fixed32).
func nextWireField(b []byte) (field, wire int, payload []byte, v uint64, rest []byte, ok bool) {
	tag, n := uvarint(b)
	if n <= 0 {
		return 0, 0, nil, 0, nil, false
	}
	field, wire = int(tag>>3), int(tag&7)
	b = b[n:]
	switch wire {
	case wireBytes:
		l, m := uvarint(b)
		if m <= 0 || uint64(len(b)-m) < l {
			return 0, 0, nil, 0, nil, false
		}
		return field, wire, b[m : m+int(l)], 0, b[m+int(l):], true
	case wireVarint:
		x, m := uvarint(b)
		if m <= 0 {
			return 0, 0, nil, 0, nil, false
		}
		return field, wire, nil, x, b[m:], true
	case wireFixed64:
		if len(b) < 8 {
			return 0, 0, nil, 0, nil, false
		}
		return field, wire, nil, binary.LittleEndian.Uint64(b), b[8:], true
	case wireFixed32:
		if len(b) < 4 {
			return 0, 0, nil, 0, nil, false
		}
		return field, wire, nil, uint64(binary.LittleEndian.Uint32(b)), b[4:], true
	}
	return 0, 0, nil, 0, nil, false
}

func decodeEvent(dst ptrace.SpanEvent, b []byte) bool {
	n := 0
	ok := fields(b, func(field, wire int, payload []byte, v uint64) bool {
		switch {
		case field == eventTime && wire == wireFixed64:
			dst.SetTimestamp(pcommon.Timestamp(v))
		case field == eventName && wire == wireBytes:
			dst.SetName(str(payload))
		case field == eventAttributes && wire == wireBytes:
			n++
			return decodeKeyValue(dst.Attributes(), payload)
		case field == eventDropped && wire == wireVarint:
			dst.SetDroppedAttributesCount(uint32(v))
		default:
			return false
		}
		return true
	})
	return ok && dst.Attributes().Len() == n
}

func decodeLink(dst ptrace.SpanLink, b []byte) bool {
	n := 0
	ok := fields(b, func(field, wire int, payload []byte, v uint64) bool {
		switch {
		case field == linkTraceID && wire == wireBytes:
			var id pcommon.TraceID
			if !copyID(id[:], payload) {
				return false
			}
			dst.SetTraceID(id)
		case field == linkSpanID && wire == wireBytes:
			var id pcommon.SpanID
			if !copyID(id[:], payload) {
				return false
			}
			dst.SetSpanID(id)
		case field == linkTraceState && wire == wireBytes:
			dst.TraceState().FromRaw(str(payload))
		case field == linkAttributes && wire == wireBytes:
			n++
			return decodeKeyValue(dst.Attributes(), payload)
		case field == linkDropped && wire == wireVarint:
			dst.SetDroppedAttributesCount(uint32(v))
		case field == linkFlags && wire == wireFixed32:
			dst.SetFlags(uint32(v))
		default:
			return false
		}
		return true
	})
	return ok && dst.Attributes().Len() == n
}

func decodeStatus(dst ptrace.Status, b []byte) bool {
	return fields(b, func(field, wire int, payload []byte, v uint64) bool {
		switch {
		case field == statusMessage && wire == wireBytes:
			dst.SetMessage(str(payload))
		case field == statusCode && wire == wireVarint:
			dst.SetCode(ptrace.StatusCode(int32(v)))
		default:
			return false
		}
		return true
	})
}

// decodeKeyValue decodes one KeyValue message into m.
func decodeKeyValue(m pcommon.Map, b []byte) bool {
	// Fast path, what appendAttributes writes for nearly every attribute:
	// key (field 1), then value (field 2) holding a string or an int.
	if len(b) > 2 && b[0] == kvKey<<3|wireBytes {
		kl, n := uvarint(b[1:])
		if n > 0 && uint64(len(b)-1-n) > kl {
			key := str(b[1+n : 1+n+int(kl)])
			rest := b[1+n+int(kl):]
			if len(rest) > 2 && rest[0] == kvValue<<3|wireBytes {
				vl, n := uvarint(rest[1:])
				if n > 0 && uint64(len(rest)-1-n) == vl && vl > 1 {
					value := rest[1+n:]
					switch value[0] {
					case anyString<<3 | wireBytes:
						if sl, k := uvarint(value[1:]); k > 0 && uint64(len(value)-1-k) == sl {
							m.PutStr(key, str(value[1+k:]))
							return true
						}
					case anyInt<<3 | wireVarint:
						if x, k := uvarint(value[1:]); k > 0 && 1+k == len(value) {
							m.PutInt(key, int64(x))
							return true
						}
					}
				}
			}
		}
	}
	var key string
	var value []byte
	hasValue := false
	ok := fields(b, func(field, wire int, payload []byte, _ uint64) bool {
		switch {
		case field == kvKey && wire == wireBytes:
			key = str(payload)
		case field == kvValue && wire == wireBytes && !hasValue:
			// (A repeated value merges into the first in protobuf: left to pdata.)
			value, hasValue = payload, true
		default:
			return false
		}
		return true
	})
	if !ok {
		return false
	}
	if !hasValue {
		m.PutEmpty(key)
		return true
	}
	return decodeAnyValue(m.PutEmpty(key), value)
}

// countRun counts the length-delimited fields with the one-byte tag at the
// start of b, up to the first other field.
func countRun(b []byte, tag byte) int {
	n := 0
	for len(b) > 1 && b[0] == tag {
		l, m := uvarint(b[1:])
		if m <= 0 || uint64(len(b)-1-m) < l {
			break
		}
		b = b[1+m+int(l):]
		n++
	}
	return n
}

// uvarint is binary.Uvarint with the one-byte case (most tags and lengths)
// inlined.
func uvarint(b []byte) (uint64, int) {
	if len(b) > 0 && b[0] < 0x80 {
		return uint64(b[0]), 1
	}
	return binary.Uvarint(b)
}

// decodeAnyValue decodes one AnyValue message into dst (an empty value).
func decodeAnyValue(dst pcommon.Value, b []byte) bool {
	set := false
	return fields(b, func(field, wire int, payload []byte, v uint64) bool {
		if set {
			return false // one value per AnyValue
		}
		set = true
		switch {
		case field == anyString && wire == wireBytes:
			dst.SetStr(str(payload))
		case field == anyBool && wire == wireVarint:
			dst.SetBool(v != 0)
		case field == anyInt && wire == wireVarint:
			dst.SetInt(int64(v))
		case field == anyDouble && wire == wireFixed64:
			dst.SetDouble(math.Float64frombits(v))
		case field == anyBytes && wire == wireBytes:
			// Copied: a consumer may write into a byte slice value.
			dst.SetEmptyBytes().Append(payload...)
		case field == anyArray && wire == wireBytes:
			sl := dst.SetEmptySlice()
			return fields(payload, func(field, wire int, payload []byte, _ uint64) bool {
				if field != listValues || wire != wireBytes {
					return false
				}
				return decodeAnyValue(sl.AppendEmpty(), payload)
			})
		case field == anyKvlist && wire == wireBytes:
			m := dst.SetEmptyMap()
			n := 0
			ok := fields(payload, func(field, wire int, payload []byte, _ uint64) bool {
				if field != listValues || wire != wireBytes {
					return false
				}
				n++
				return decodeKeyValue(m, payload)
			})
			return ok && m.Len() == n
		default:
			return false
		}
		return true
	})
}
