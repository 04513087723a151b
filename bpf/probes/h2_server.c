//go:build ignore

// net/http's bundled HTTP/2 server: incoming trace context per stream.
//
// An HTTP/2 request is served by the HTTP server probe (http_server.c) like
// an HTTP/1 one: serverHandler.ServeHTTP runs on the stream's handler
// goroutine. Its headers, though, are not in a connection read buffer: they
// are decoded (HPACK) on the connection's serve goroutine into
// MetaHeadersFrame.Fields, a slice of hpack.HeaderField{Name, Value string;
// Sensitive bool}, which (*http2serverConn).newWriterAndRequest gets, once
// per new stream (not for trailers), before the handler goroutine starts.
// This probe, at its entry (1 hit per request), walks that slice with
// bpf_loop (one step per field, the name read only when its length is that
// of traceparent or b3) and records the parent it finds under the stream
// (h2.h), where the server probe takes it at ServeHTTP's entry.
//
// Stitching (h2_stitch.h): without a traceparent or b3 header (the client's
// own context wins, as for HTTP/1), the stream's connection 4-tuple and id
// are looked up in client_by_h2_stream; a client span of this host that
// sent the stream becomes its parent the same way. Nothing is recorded for
// a request without trace context when stitching is off.

#include "goebpf.h"
#include "event.h"
#include "go_mem.h"
#include "go_offsets.h"
#include "h2.h"
#include "propagation.h"
#include "stitch.h"
#include "h2_stitch.h"
#include <bpf/bpf_helpers.h>

// Header fields examined per request: pseudo-headers come first, then the
// request's headers in the order the client sent them.
#define H2_MAX_FIELDS 256

struct h2_field_scan {
	u64 fields;    // the slice's array
	u64 stride;    // sizeof(hpack.HeaderField)
	u64 name_off;  // HeaderField.Name
	u64 value_off; // HeaderField.Value
	u32 flags;     // extract_flags
	u32 found;     // 1: traceparent at tp, 2: b3 at b3 (no traceparent yet)
	struct go_string tp;
	struct go_string b3;
};

// bpf_loop callback: field idx of the header list.
static long h2_scan_field(u32 idx, void *data)
{
	struct h2_field_scan *s = data;
	u64 field = s->fields + (u64)idx * s->stride;
	struct go_string name = {};
	if (bpf_probe_read_user(&name, sizeof(name), (void *)(field + s->name_off)) || !name.ptr)
		return 0;
	// HTTP/2 header names are lower case on the wire (net/http rejects
	// others), so the bytes compare as they are.
	if (name.len == 11 && (s->flags & EXTRACT_TRACECONTEXT)) {
		u8 n[11] = {};
		if (bpf_probe_read_user(n, sizeof(n), (void *)name.ptr))
			return 0;
		if (n[0] != 't' || n[1] != 'r' || n[2] != 'a' || n[3] != 'c' || n[4] != 'e' || n[5] != 'p' ||
		    n[6] != 'a' || n[7] != 'r' || n[8] != 'e' || n[9] != 'n' || n[10] != 't')
			return 0;
		if (bpf_probe_read_user(&s->tp, sizeof(s->tp), (void *)(field + s->value_off)))
			return 0;
		s->found = 1;
		return 1; // traceparent wins over b3
	}
	if (name.len == 2 && (s->flags & EXTRACT_B3) && s->found == 0) {
		u8 n[2] = {};
		if (bpf_probe_read_user(n, sizeof(n), (void *)name.ptr))
			return 0;
		if (n[0] != 'b' || n[1] != '3')
			return 0;
		if (bpf_probe_read_user(&s->b3, sizeof(s->b3), (void *)(field + s->value_off)))
			return 0;
		s->found = 2;
	}
	return 0;
}

// Parses a header value (traceparent: which 1, b3: which 2) into ids,
// through the head scan's scratch buffer.
static __always_inline int h2_parse_value(struct go_string *v, int which, struct span_ids *ids)
{
	if (!v->ptr || v->len < 16 || v->len > 128)
		return 0;
	u32 zero = 0;
	u8 *buf = bpf_map_lookup_elem(&head_scratch, &zero);
	if (!buf)
		return 0;
	u32 n = (u32)v->len & 255;
	if (n > 128 || bpf_probe_read_user(buf, n, (void *)v->ptr))
		return 0;
	struct head_scan s = {.buf = buf, .len = n, .flags = extract_flags, .ids = ids};
	if (which == 1)
		return parse_traceparent(&s, 0);
	return parse_b3(&s, 0);
}

// Where a stream's decoded header list is, in one HTTP/2 server
// implementation.
struct h2_headers_layout {
	u64 fields;    // MetaHeadersFrame.Fields
	u64 name;      // hpack.HeaderField.Name
	u64 value;     // hpack.HeaderField.Value
	u64 sensitive; // hpack.HeaderField.Sensitive
	u64 id;        // stream.id
	u64 conn;      // serverConn.conn (GO_FIELD_UNKNOWN: no stitching)
};

// Stitching: the client span of this host that sent stream id on the
// connection conn (a net.Conn's data word) becomes p's parent.
static __always_inline void h2_stitch_stream(u64 conn, u32 id, struct h2_stream_parent *p)
{
	struct h2_stream_tuple k = {.stream_id = id};
	if (conn_tuple_of(conn, 0, &k.conn))
		return; // STITCH_NONE: not a TCP connection
	struct conn_client *c = bpf_map_lookup_elem(&client_by_h2_stream, &k);
	if (!c) {
		p->stitch = STITCH_UNMATCHED;
		return;
	}
	__builtin_memcpy(p->ids.trace_id, c->sc.trace_id, 16);
	__builtin_memcpy(p->ids.parent_span_id, c->sc.span_id, 8);
	c->matched = 1;
	p->has_parent = 1;
	p->stitch = STITCH_MATCHED;
}

// Scans the header list of frame f for trace context (into p); returns
// whether a parent was found.
static __always_inline int h2_scan_parent(struct h2_headers_layout *l, u64 f, struct h2_stream_parent *p)
{
	if (extract_flags == 0)
		return 0;
	struct go_string list = {}; // the slice's array and length
	if (bpf_probe_read_user(&list, sizeof(list), (void *)(f + l->fields)))
		return 0;
	if (!list.ptr || list.len <= 0)
		return 0;
	struct h2_field_scan s = {
		.fields = list.ptr,
		// A bool after two strings: the size is the next multiple of 8.
		.stride = (l->sensitive + 8) & ~7ULL,
		.name_off = l->name,
		.value_off = l->value,
		.flags = extract_flags,
	};
	u32 n = list.len > H2_MAX_FIELDS ? H2_MAX_FIELDS : (u32)list.len;
	bpf_loop(n, h2_scan_field, &s, 0);
	if (!s.found)
		return 0;
	int ok = 0;
	if (s.found == 1)
		ok = h2_parse_value(&s.tp, 1, &p->ids);
	if (!ok && s.b3.ptr)
		ok = h2_parse_value(&s.b3, 2, &p->ids);
	return ok;
}

// Finds the parent of the stream (sc, stream) whose headers are in frame
// f, in its headers or else by stitching, and records it (and what
// stitching found) under the stream.
static __always_inline void h2_record_parent(struct h2_headers_layout *l, u64 sc, u64 stream, u64 f)
{
	if (!sc || !stream || !f)
		return;
	struct h2_stream_parent p = {};
	struct h2_stream_key k = {.tgid = bpf_get_current_pid_tgid() >> 32, .sc = sc, .stream = stream};
	bpf_probe_read_user(&k.id, sizeof(k.id), (void *)(stream + l->id));
	p.has_parent = h2_scan_parent(l, f, &p);
	if (!p.has_parent && stitch_enabled && l->conn != GO_FIELD_UNKNOWN)
		// net.Conn is (itab, data): the data word.
		h2_stitch_stream(read_ptr(sc + l->conn + 8), k.id, &p);
	if (!p.has_parent && p.stitch == STITCH_NONE)
		return;
	p.seen_ns = bpf_ktime_get_boot_ns();
	bpf_map_update_elem(&h2_stream_parents, &k, &p, BPF_ANY);
}

// net/http.(*http2serverConn).newWriterAndRequest(st *http2stream, f
// *http2MetaHeadersFrame): sc in ax, st in bx, f in cx.
SEC("uprobe/h2_server_headers")
int uprobe_h2_server_headers(struct pt_regs *ctx)
{
	struct go_offsets *off = probe_enter(ctx);
	if (!off || (extract_flags == 0 && !stitch_enabled))
		return 0;
	if (!known(off, GO_FIELD_NET_HTTP_HTTP2METAHEADERSFRAME_FIELDS) ||
	    !known(off, GO_FIELD_VENDOR_GOLANG_ORG_X_NET_HTTP2_HPACK_HEADERFIELD_NAME) ||
	    !known(off, GO_FIELD_VENDOR_GOLANG_ORG_X_NET_HTTP2_HPACK_HEADERFIELD_VALUE) ||
	    !known(off, GO_FIELD_VENDOR_GOLANG_ORG_X_NET_HTTP2_HPACK_HEADERFIELD_SENSITIVE) || !known(off, GO_FIELD_NET_HTTP_HTTP2STREAM_ID))
		return 0;
	struct h2_headers_layout l = {
		.fields = FIELD(off, NET_HTTP_HTTP2METAHEADERSFRAME_FIELDS),
		.name = FIELD(off, VENDOR_GOLANG_ORG_X_NET_HTTP2_HPACK_HEADERFIELD_NAME),
		.value = FIELD(off, VENDOR_GOLANG_ORG_X_NET_HTTP2_HPACK_HEADERFIELD_VALUE),
		.sensitive = FIELD(off, VENDOR_GOLANG_ORG_X_NET_HTTP2_HPACK_HEADERFIELD_SENSITIVE),
		.id = FIELD(off, NET_HTTP_HTTP2STREAM_ID),
		.conn = FIELD(off, NET_HTTP_HTTP2SERVERCONN_CONN),
	};
	h2_record_parent(&l, GO_PARAM1(ctx), GO_PARAM2(ctx), GO_PARAM3(ctx));
	return 0;
}

// golang.org/x/net/http2.(*serverConn).newWriterAndRequest(st *stream, f
// *MetaHeadersFrame): the same, in the standalone server.
SEC("uprobe/xnet_h2_server_headers")
int uprobe_xnet_h2_server_headers(struct pt_regs *ctx)
{
	struct go_offsets *off = probe_enter(ctx);
	if (!off || (extract_flags == 0 && !stitch_enabled))
		return 0;
	if (!known(off, GO_FIELD_GOLANG_ORG_X_NET_HTTP2_METAHEADERSFRAME_FIELDS) ||
	    !known(off, GO_FIELD_GOLANG_ORG_X_NET_HTTP2_HPACK_HEADERFIELD_NAME) ||
	    !known(off, GO_FIELD_GOLANG_ORG_X_NET_HTTP2_HPACK_HEADERFIELD_VALUE) ||
	    !known(off, GO_FIELD_GOLANG_ORG_X_NET_HTTP2_HPACK_HEADERFIELD_SENSITIVE) || !known(off, GO_FIELD_GOLANG_ORG_X_NET_HTTP2_STREAM_ID))
		return 0;
	struct h2_headers_layout l = {
		.fields = FIELD(off, GOLANG_ORG_X_NET_HTTP2_METAHEADERSFRAME_FIELDS),
		.name = FIELD(off, GOLANG_ORG_X_NET_HTTP2_HPACK_HEADERFIELD_NAME),
		.value = FIELD(off, GOLANG_ORG_X_NET_HTTP2_HPACK_HEADERFIELD_VALUE),
		.sensitive = FIELD(off, GOLANG_ORG_X_NET_HTTP2_HPACK_HEADERFIELD_SENSITIVE),
		.id = FIELD(off, GOLANG_ORG_X_NET_HTTP2_STREAM_ID),
		.conn = FIELD(off, GOLANG_ORG_X_NET_HTTP2_SERVERCONN_CONN), // unknown: no stitching
	};
	h2_record_parent(&l, GO_PARAM1(ctx), GO_PARAM2(ctx), GO_PARAM3(ctx));
	return 0;
}
