// Stitching over HTTP/2: many requests share one connection, each on a
// stream of its own, so the client span is recorded under the connection's
// 4-tuple and the stream's id (client_by_h2_stream), not the tuple alone
// (stitch.h's client_by_conn, HTTP/1).
//
// The client side is net/http's bundled HTTP/2 client: the h2_client_stream
// probe (bpf/probes/h2_client.c) records the span once the stream has its
// id and before its HEADERS frame is written; the client probe's return
// reports whether a server span joined it and forgets the entry. The server
// side is the h2_server probe (bpf/probes/h2_server.c), where the stream's
// headers are decoded on the connection's serve goroutine: it looks the
// (tuple, id) up and leaves the client span as the stream's parent for the
// server probe (h2.h), as it does for a traceparent header.
#ifndef GOEBPF_H2_STITCH_H
#define GOEBPF_H2_STITCH_H

#include "goebpf.h"
#include "stitch.h"
#include <bpf/bpf_helpers.h>

struct h2_stream_tuple {
	struct conn_tuple conn;
	u32 stream_id;
	u32 pad;
};

// One entry per HTTP/2 client stream of this host with its request in
// flight; the client probe deletes it when its round trip returns (the
// response's headers came, so the server has long read the request's).
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, struct h2_stream_tuple);
	__type(value, struct conn_client);
} client_by_h2_stream SEC(".maps");

// Deletes the stream's entry if it is still the one of span span_id.
static __always_inline void forget_h2_stream(struct h2_stream_tuple *k, u8 *span_id)
{
	struct conn_client *c = bpf_map_lookup_elem(&client_by_h2_stream, k);
	if (c && __builtin_memcmp(c->sc.span_id, span_id, 8) == 0)
		bpf_map_delete_elem(&client_by_h2_stream, k);
}

#endif
