// The client requests in flight: the client probe's state per request
// (bpf/probes/http_client.c), shared with the probes that add to it (the
// connection or HTTP/2 stream the request goes out on) and with the
// goroutines probe, which notes the goroutines such a request starts.
#ifndef GOEBPF_CLIENT_REQUESTS_H
#define GOEBPF_CLIENT_REQUESTS_H

#include "goebpf.h"
#include "event.h"
#include "go_offsets.h"
#include "goroutines.h"
#include "stitch.h"
#include <bpf/bpf_helpers.h>

struct client_inflight {
	u64 start_ns;
	u64 request;
	struct span_ids ids;
	u8 has_parent;
	u8 has_conn;   // conn is the request's connection, in client_by_conn
	u8 has_stream; // conn and stream_id are its HTTP/2 stream, in client_by_h2_stream
	u8 pad;
	u32 stream_id;
	struct conn_tuple conn;
	u64 entry_depth; // g.stack.hi - sp at entry (the x/net client's)
};

// Keyed by span_key (the goroutine's id where known, never reused): the
// HTTP/2 client writes a request on a goroutine of its own, which finds the
// request's entry by its creator's id (runtime.g.parentGoid).
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, struct goroutine_key);
	__type(value, struct client_inflight);
} client_requests SEC(".maps");

// The key of the current goroutine's entry in client_requests.
static __always_inline struct goroutine_key client_key(struct go_offsets *off, struct goroutine_key *key)
{
	return span_key(off, key->tgid, key->g);
}

// Go < 1.21 (no runtime.g.parentGoid): the goroutines a client request's
// goroutine creates while the request is in flight, by their span_key, and
// the span_key id of their creator (the goroutines probe notes them). The
// HTTP/2 client writes each request on such a goroutine; the
// http_client_h2 probe finds the request through it and forgets it. The
// few others (a dial) age out of the LRU.
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 4096);
	__type(key, struct goroutine_key);
	__type(value, u64);
} client_goroutine_creators SEC(".maps");

#endif
