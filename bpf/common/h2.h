// net/http's bundled HTTP/2 server: the trace context of a stream, found in
// its decoded request headers by the h2_server probe (bpf/probes/h2_server.c)
// on the connection's serve goroutine, or the client span of this host that
// sent the stream (stitching, h2_stitch.h), and taken by the HTTP server
// probe when the stream's handler starts on a goroutine of its own.
#ifndef GOEBPF_H2_H
#define GOEBPF_H2_H

#include "goebpf.h"
#include "event.h"
#include "go_mem.h"
#include "go_offsets.h"
#include <bpf/bpf_helpers.h>

// A stream of one process: its connection (*http2serverConn), its
// *http2stream and its id. The three together make a stale entry (a
// stream whose handler never ran) unlikely to be taken by a later stream
// that reuses the memory of both structs and the id.
struct h2_stream_key {
	u32 tgid;
	u32 id;
	u64 sc;
	u64 stream;
};

struct h2_stream_parent {
	u64 seen_ns; // when the headers were read (CLOCK_BOOTTIME)
	struct span_ids ids; // trace_id and parent_span_id set when has_parent
	u8 has_parent;
	u8 stitch; // STITCH_* (stitch.h): what stitching found for the stream
	u8 pad[6];
};

// A stream whose handler has not started this long after its headers were
// read is taken for one that never got a handler (a rejected request).
#define H2_PARENT_MAX_AGE_NS (60ULL * 1000 * 1000 * 1000)

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, struct h2_stream_key);
	__type(value, struct h2_stream_parent);
} h2_stream_parents SEC(".maps");

// Where a response writer leads to its stream in one HTTP/2 server
// implementation: responseWriter.rws, responseWriterState.stream,
// stream.sc and stream.id (net/http's bundled copy or golang.org/x/net's).
struct h2_stream_path {
	u64 rws;
	u64 stream;
	u64 sc;
	u64 id;
};

// The bundled server's path; returns 0 when a field is unknown.
static __always_inline int bundled_stream_path(struct go_offsets *off, struct h2_stream_path *p)
{
	if (!known(off, GO_FIELD_NET_HTTP_HTTP2RESPONSEWRITER_RWS) || !known(off, GO_FIELD_NET_HTTP_HTTP2RESPONSEWRITERSTATE_STREAM) ||
	    !known(off, GO_FIELD_NET_HTTP_HTTP2STREAM_SC) || !known(off, GO_FIELD_NET_HTTP_HTTP2STREAM_ID))
		return 0;
	p->rws = FIELD(off, NET_HTTP_HTTP2RESPONSEWRITER_RWS);
	p->stream = FIELD(off, NET_HTTP_HTTP2RESPONSEWRITERSTATE_STREAM);
	p->sc = FIELD(off, NET_HTTP_HTTP2STREAM_SC);
	p->id = FIELD(off, NET_HTTP_HTTP2STREAM_ID);
	return 1;
}

// golang.org/x/net/http2's path; returns 0 when a field is unknown.
static __always_inline int xnet_stream_path(struct go_offsets *off, struct h2_stream_path *p)
{
	if (!known(off, GO_FIELD_GOLANG_ORG_X_NET_HTTP2_RESPONSEWRITER_RWS) ||
	    !known(off, GO_FIELD_GOLANG_ORG_X_NET_HTTP2_RESPONSEWRITERSTATE_STREAM) || !known(off, GO_FIELD_GOLANG_ORG_X_NET_HTTP2_STREAM_SC) ||
	    !known(off, GO_FIELD_GOLANG_ORG_X_NET_HTTP2_STREAM_ID))
		return 0;
	p->rws = FIELD(off, GOLANG_ORG_X_NET_HTTP2_RESPONSEWRITER_RWS);
	p->stream = FIELD(off, GOLANG_ORG_X_NET_HTTP2_RESPONSEWRITERSTATE_STREAM);
	p->sc = FIELD(off, GOLANG_ORG_X_NET_HTTP2_STREAM_SC);
	p->id = FIELD(off, GOLANG_ORG_X_NET_HTTP2_STREAM_ID);
	return 1;
}

// The parent found for the stream an HTTP/2 request's response writer rw
// belongs to (in its headers or by stitching): copied into ids and
// forgotten. Returns whether there was one; *stitch is what stitching
// found (STITCH_NONE when it did not look).
static __always_inline int h2_take_parent(struct h2_stream_path *path, u32 tgid, u64 rw, struct span_ids *ids, u8 *stitch)
{
	if (!rw)
		return 0;
	u64 rws = read_ptr(rw + path->rws);
	if (!rws)
		return 0;
	u64 stream = read_ptr(rws + path->stream);
	if (!stream)
		return 0;
	struct h2_stream_key k = {.tgid = tgid, .stream = stream};
	k.sc = read_ptr(stream + path->sc);
	bpf_probe_read_user(&k.id, sizeof(k.id), (void *)(stream + path->id));
	struct h2_stream_parent *p = bpf_map_lookup_elem(&h2_stream_parents, &k);
	if (!p)
		return 0;
	int ok = bpf_ktime_get_boot_ns() - p->seen_ns < H2_PARENT_MAX_AGE_NS;
	if (ok)
		*stitch = p->stitch;
	ok = ok && p->has_parent;
	if (ok) {
		__builtin_memcpy(ids->trace_id, p->ids.trace_id, 16);
		__builtin_memcpy(ids->parent_span_id, p->ids.parent_span_id, 8);
	}
	bpf_map_delete_elem(&h2_stream_parents, &k);
	return ok;
}

#endif
