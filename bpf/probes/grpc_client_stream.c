//go:build ignore

// Stitching, gRPC client side: the HTTP/2 stream an RPC goes out on.
//
// grpc-go gives a client stream its id in the caller's goroutine, under the
// transport's control buffer lock, inside (*http2Client).NewStream, and
// queues the stream's HEADERS frame for the transport's writer goroutine
// (loopy), which writes it once the caller's goroutine blocks or another
// thread takes loopy over (the id is never known on the caller's goroutine
// before the frame is queued, in v1.33 as in v1.85: initStream runs on
// loopy). This probe, at NewStream's RETs on the caller's goroutine,
// reads the stream's id and the transport's addresses and records the
// RPC's client span (grpc_client.c) under them in grpc_client_by_stream,
// where the server probe of the same host finds it (grpc_stitch.h), and
// joins a server span that looked the stream up before it was recorded
// (grpc_server_waiting). 1 hit per stream attempt. It sends no events.

#include "goebpf.h"
#include "go_mem.h"
#include "go_offsets.h"
#include "goroutines.h"
#include "grpc_stitch.h"
#include <bpf/bpf_helpers.h>

// transport.(*http2Client).NewStream(ctx, callHdr) (*Stream, error), or
// (*ClientStream, error) from v1.69: the stream in ax, the error's itab in
// bx.
SEC("uprobe/grpc_client_stream")
int uprobe_grpc_client_stream(struct pt_regs *ctx)
{
	struct go_offsets *off = probe_enter(ctx);
	if (!off || !stitch_enabled)
		return 0;
	struct goroutine_key key = current_goroutine(ctx);
	struct grpc_client_inflight *st = bpf_map_lookup_elem(&grpc_client_rpcs, &key);
	if (!st)
		return 0;
	u64 s = GO_PARAM1(ctx);
	if (!s || GO_PARAM2(ctx))
		return 0;
	// The stream's common part and its transport: ClientStream embeds
	// *Stream (v1.69-v1.76) or Stream (v1.77 on) next to ct; before v1.69
	// the Stream itself has ct (a *http2Client, or a ClientTransport
	// interface holding one in v1.66-v1.68).
	u64 base = s, t = 0;
	if (known(off, GO_FIELD_GOOGLE_GOLANG_ORG_GRPC_INTERNAL_TRANSPORT_CLIENTSTREAM_CT)) {
		t = read_ptr(s + FIELD(off, GOOGLE_GOLANG_ORG_GRPC_INTERNAL_TRANSPORT_CLIENTSTREAM_CT));
		if (known(off, GO_FIELD_GOOGLE_GOLANG_ORG_GRPC_INTERNAL_TRANSPORT_CLIENTSTREAM_STREAMPTR))
			base = read_ptr(s + FIELD(off, GOOGLE_GOLANG_ORG_GRPC_INTERNAL_TRANSPORT_CLIENTSTREAM_STREAMPTR));
		else if (known(off, GO_FIELD_GOOGLE_GOLANG_ORG_GRPC_INTERNAL_TRANSPORT_CLIENTSTREAM_STREAM))
			base = s + FIELD(off, GOOGLE_GOLANG_ORG_GRPC_INTERNAL_TRANSPORT_CLIENTSTREAM_STREAM);
		else
			return 0;
	} else if (known(off, GO_FIELD_GOOGLE_GOLANG_ORG_GRPC_INTERNAL_TRANSPORT_STREAM_CTPTR)) {
		// ct itself, or the data word of ct as a ClientTransport
		// (v1.66-v1.68): the probe's rule tells which.
		t = read_ptr(s + FIELD(off, GOOGLE_GOLANG_ORG_GRPC_INTERNAL_TRANSPORT_STREAM_CTPTR));
	}
	if (!t || !base)
		return 0;
	struct grpc_stream_key k = {};
	if (bpf_probe_read_user(&k.stream_id, sizeof(k.stream_id), (void *)(base + FIELD(off, GOOGLE_GOLANG_ORG_GRPC_INTERNAL_TRANSPORT_STREAM_ID))) || k.stream_id == 0)
		return 0;
	u32 id = k.stream_id;
	if (grpc_stream_tuple(off, t + FIELD(off, GOOGLE_GOLANG_ORG_GRPC_INTERNAL_TRANSPORT_HTTP2CLIENT_LOCALADDR),
			      t + FIELD(off, GOOGLE_GOLANG_ORG_GRPC_INTERNAL_TRANSPORT_HTTP2CLIENT_REMOTEADDR), 1, &k))
		return 0;
	k.stream_id = id;
	// A transparent retry on a new stream: the first one's entry goes.
	if (st->has_stream)
		grpc_forget_stream(&st->stream, st->ids.span_id);
	struct conn_client c = {};
	__builtin_memcpy(c.sc.trace_id, st->ids.trace_id, 16);
	__builtin_memcpy(c.sc.span_id, st->ids.span_id, 8);
	c.tgid = key.tgid;
	bpf_map_update_elem(&grpc_client_by_stream, &k, &c, BPF_ANY);
	st->stream = k;
	st->has_stream = 1;
	// The server's handleStream ran first and found nothing: join its
	// span now (grpc_stitch.h). Recorded first, looked up second: of two
	// probes racing, one at least sees the other's entry.
	struct grpc_server_wait *w = bpf_map_lookup_elem(&grpc_server_waiting, &k);
	if (w && grpc_join_waiting(w, &c, STITCH_LATE)) {
		struct conn_client *rec = bpf_map_lookup_elem(&grpc_client_by_stream, &k);
		if (rec && __builtin_memcmp(rec->sc.span_id, c.sc.span_id, 8) == 0)
			rec->matched = 1;
		bpf_map_delete_elem(&grpc_server_waiting, &k);
	}
	return 0;
}
