package tailsamplingdriftprocessor

import (
	"encoding/binary"
	"errors"
	"unsafe"
)

// A trace's spans are stored as chunks, one per (resource, scope) the spans
// came with in one batch:
//
//	uvarint(resource ID) uvarint(scope ID) uvarint(n) n bytes of encoded spans
//
// The spans are the `spans` field entries of an OTLP ScopeSpans message,
// protobuf-encoded. Resources and scopes (with their schema URLs) are encoded
// once per batch and interned per shard, so a trace does not repeat its
// resource for every batch: most of the stored bytes are spans.

// Protobuf field numbers of the OTLP trace messages this file frames.
const (
	fieldTracesResourceSpans = 1
	fieldResourceSpansScope  = 2
	fieldScopeSpansSpans     = 2
	wireBytes                = 2
)

var errMalformed = errors.New("malformed protobuf")

func tagSize(field int) int { return uvarintSize(uint64(field<<3 | wireBytes)) }

func uvarintSize(v uint64) int {
	n := 1
	for v >= 0x80 {
		v >>= 7
		n++
	}
	return n
}

// lenFieldSize is the encoded size of a length-delimited field with n bytes of payload.
func lenFieldSize(field, n int) int { return tagSize(field) + uvarintSize(uint64(n)) + n }

func appendLenField(b []byte, field, n int) []byte {
	b = binary.AppendUvarint(b, uint64(field<<3|wireBytes))
	return binary.AppendUvarint(b, uint64(n))
}

// nextField splits the first field off b. For length-delimited fields payload
// is its content; raw is the whole field (tag included).
func nextField(b []byte) (field int, payload, raw, rest []byte, err error) {
	tag, n := binary.Uvarint(b)
	if n <= 0 {
		return 0, nil, nil, nil, errMalformed
	}
	field, typ := int(tag>>3), int(tag&7)
	p := b[n:]
	switch typ {
	case 0:
		_, m := binary.Uvarint(p)
		if m <= 0 {
			return 0, nil, nil, nil, errMalformed
		}
		return field, nil, b[:n+m], p[m:], nil
	case 1:
		if len(p) < 8 {
			return 0, nil, nil, nil, errMalformed
		}
		return field, nil, b[:n+8], p[8:], nil
	case 5:
		if len(p) < 4 {
			return 0, nil, nil, nil, errMalformed
		}
		return field, nil, b[:n+4], p[4:], nil
	case wireBytes:
		l, m := binary.Uvarint(p)
		if m <= 0 || uint64(len(p)-m) < l {
			return 0, nil, nil, nil, errMalformed
		}
		end := m + int(l)
		return field, p[m:end], b[:n+end], p[end:], nil
	default:
		return 0, nil, nil, nil, errMalformed
	}
}

// firstLenField returns the payload of the first occurrence of field in b.
func firstLenField(b []byte, want int) ([]byte, error) {
	for len(b) > 0 {
		f, payload, _, rest, err := nextField(b)
		if err != nil {
			return nil, err
		}
		if f == want {
			return payload, nil
		}
		b = rest
	}
	return nil, nil
}

// resourceContent extracts, from an encoded Traces holding one ResourceSpans
// without scopes, that ResourceSpans' content (resource and schema_url).
func resourceContent(enc []byte) ([]byte, error) {
	return firstLenField(enc, fieldTracesResourceSpans)
}

// scopeContent extracts, from an encoded Traces holding one ResourceSpans with
// one ScopeSpans without spans, the ScopeSpans' content (scope and schema_url).
func scopeContent(enc []byte) ([]byte, error) {
	rs, err := firstLenField(enc, fieldTracesResourceSpans)
	if err != nil {
		return nil, err
	}
	return firstLenField(rs, fieldResourceSpansScope)
}

// appendSpanEntries appends, from an encoded Traces holding one ResourceSpans
// with one ScopeSpans, the raw `spans` entries of that ScopeSpans.
func appendSpanEntries(dst, enc []byte) ([]byte, error) {
	ss, err := scopeContent(enc)
	if err != nil {
		return dst, err
	}
	for len(ss) > 0 {
		f, _, raw, rest, err := nextField(ss)
		if err != nil {
			return dst, err
		}
		if f == fieldScopeSpansSpans {
			dst = append(dst, raw...)
		}
		ss = rest
	}
	return dst, nil
}

// chunk is one decoded chunk header.
type chunk struct {
	resource, scope uint32
	spans           []byte
}

// nextChunk splits the first chunk off data.
func nextChunk(data []byte) (chunk, []byte, bool) {
	r, n := binary.Uvarint(data)
	if n <= 0 {
		return chunk{}, nil, false
	}
	data = data[n:]
	s, n := binary.Uvarint(data)
	if n <= 0 {
		return chunk{}, nil, false
	}
	data = data[n:]
	l, n := binary.Uvarint(data)
	if n <= 0 || uint64(len(data)-n) < l {
		return chunk{}, nil, false
	}
	data = data[n:]
	return chunk{resource: uint32(r), scope: uint32(s), spans: data[:l]}, data[l:], true
}

func appendChunkHeader(b []byte, resource, scope uint32, n int) []byte {
	b = binary.AppendUvarint(b, uint64(resource))
	b = binary.AppendUvarint(b, uint64(scope))
	return binary.AppendUvarint(b, uint64(n))
}

// stockSize is the size this chunk has in the stock processor's encoding (one
// ResourceSpans with one ScopeSpans in a Traces message), which bytes_limiting
// and maximum_trace_size_bytes measure.
func stockSize(resourceLen, scopeLen, spansLen int) int {
	ss := scopeLen + spansLen
	rs := resourceLen + lenFieldSize(fieldResourceSpansScope, ss)
	return lenFieldSize(fieldTracesResourceSpans, rs)
}

// internTable interns encoded resources and scopes of one shard, with
// reference counts so that an entry lives exactly as long as a stored trace
// refers to it.
type internTable struct {
	index   map[string]uint32
	entries []internEntry
	free    []uint32
}

type internEntry struct {
	key  string
	refs int32
}

// internOverhead approximates the bookkeeping bytes of one entry.
const internOverhead = 96

// acquire returns the ID of b, adding a reference; grown reports the bytes a
// new entry costs (0 when b was already interned).
func (it *internTable) acquire(b []byte) (id uint32, grown int) {
	if it.index == nil {
		it.index = make(map[string]uint32)
	}
	if id, ok := it.index[string(b)]; ok {
		it.entries[id].refs++
		return id, 0
	}
	key := string(b)
	e := internEntry{key: key, refs: 1}
	if n := len(it.free); n > 0 {
		id = it.free[n-1]
		it.free = it.free[:n-1]
		it.entries[id] = e
	} else {
		id = uint32(len(it.entries))
		it.entries = append(it.entries, e)
	}
	it.index[key] = id
	return id, len(b) + internOverhead
}

// release drops a reference; freed reports the bytes given back.
func (it *internTable) release(id uint32) (freed int) {
	if int(id) >= len(it.entries) {
		return 0
	}
	e := &it.entries[id]
	e.refs--
	if e.refs > 0 {
		return 0
	}
	freed = len(e.key) + internOverhead
	delete(it.index, e.key)
	*e = internEntry{}
	it.free = append(it.free, id)
	return freed
}

func (it *internTable) bytesOf(id uint32) []byte {
	if int(id) >= len(it.entries) {
		return nil
	}
	// A read-only view of the interned string; nothing writes through it.
	k := it.entries[id].key
	return unsafe.Slice(unsafe.StringData(k), len(k))
}

// releaseAll drops the references of every chunk in data.
func (it *internTable) releaseAll(data []byte) (freed int) {
	for len(data) > 0 {
		c, rest, ok := nextChunk(data)
		if !ok {
			return freed
		}
		freed += it.release(c.resource)
		freed += it.release(c.scope)
		data = rest
	}
	return freed
}
