// Stitching gRPC calls on this host by wire identity. An HTTP/2 connection
// carries many RPCs at once, so the TCP 4-tuple alone (stitch.h, HTTP/1.1)
// does not single one out: the key is the 4-tuple and the HTTP/2 stream id
// of the RPC. The client side (grpc_client_stream.c) records the client
// span under it once grpc-go has given the stream its id; the server probe
// (grpc_server.c), at handleStream, looks the stream it serves up there and
// takes the client span's trace, with the client span as parent. The
// tuple is built from the addresses grpc-go's transports keep
// (http2Client.{localAddr,remoteAddr}, http2Server's peer), so plaintext
// and TLS connections are keyed alike; nothing is written to either
// process.
//
// The client records its span when NewStream returns, after the stream's
// HEADERS frame was queued for grpc's writer goroutine: on a loaded host
// (or with a client stats handler that is slow on OutHeader, which grpc
// calls before NewStream returns) the server's handleStream can look the
// stream up first. It then leaves a waiting entry under the stream's key
// (grpc_server_waiting), naming the server span and where its goroutine's
// span context is kept; the client probe, right after recording its span,
// looks for one and, when found, rewrites the server side's BPF map state
// (never the target's memory): the server span in flight
// (grpc_server_rpcs) and its goroutine's span context (span_by_goroutine)
// take the client span's trace, with the client span as the server span's
// parent. The server span, and every span started from its goroutine (or a
// goroutine it starts) after that moment, join the client's trace; spans
// started inside the window keep the server span's first trace (with the
// server span as their parent). Such a server span is reported as
// STITCH_LATE (counted in spans_stitched and spans_stitched_late). The
// server also retries the lookup at the span's end (writeStatus), which
// joins the server span itself whatever the order of the two probes.
#ifndef GOEBPF_GRPC_STITCH_H
#define GOEBPF_GRPC_STITCH_H

#include "goebpf.h"
#include "go_mem.h"
#include "go_offsets.h"
#include "event.h"
#include "goroutines.h"
#include "stitch.h"
#include <bpf/bpf_helpers.h>

struct grpc_stream_key {
	struct conn_tuple conn;
	u32 stream_id;
	u32 pad;
};

// One entry per client stream of an RPC in flight, deleted by the client
// probe when the RPC's span ends (grpc_client.c): the wait for the server
// side is bounded by the client span, and the LRU bounds the memory.
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, struct grpc_stream_key);
	__type(value, struct conn_client);
} grpc_client_by_stream SEC(".maps");

// A server RPC in flight, by the goroutine serving it (grpc_server.c).
struct grpc_server_inflight {
	u64 start_ns;
	u64 stream;
	struct span_ids ids;
	u8 has_parent;
	u8 stitch;  // STITCH_* (stitch.h), STITCH_LATE
	u8 waiting; // wait is the stream's key in grpc_server_waiting
	u8 pad[5];
	struct grpc_stream_key wait;
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, struct goroutine_key);
	__type(value, struct grpc_server_inflight);
} grpc_server_rpcs SEC(".maps");

// A server span whose stream had no client span recorded yet: the keys of
// its entries in grpc_server_rpcs and span_by_goroutine, and its id (an
// entry names the span only while they still hold this id).
struct grpc_server_wait {
	struct goroutine_key rpc;
	struct goroutine_key span;
	u8 span_id[8];
};

// Deleted by the client probe that joins the span, or at the server span's
// end (grpc_server.c); the LRU bounds what a lost end leaves.
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, struct grpc_stream_key);
	__type(value, struct grpc_server_wait);
} grpc_server_waiting SEC(".maps");

// Joins the waiting server span w to the client span c: the span in
// flight takes c's trace and c as parent, and so does the span context of
// its goroutine (trace only: the goroutine still works for the server
// span). result is what the server span will report. Returns whether the
// span was still in flight.
static __always_inline int grpc_join_waiting(struct grpc_server_wait *w, struct conn_client *c, u8 result)
{
	struct grpc_server_inflight *st = bpf_map_lookup_elem(&grpc_server_rpcs, &w->rpc);
	if (!st || __builtin_memcmp(st->ids.span_id, w->span_id, 8) != 0)
		return 0;
	__builtin_memcpy(st->ids.trace_id, c->sc.trace_id, 16);
	__builtin_memcpy(st->ids.parent_span_id, c->sc.span_id, 8);
	st->has_parent = 1;
	st->stitch = result;
	struct span_context *sc = bpf_map_lookup_elem(&span_by_goroutine, &w->span);
	if (sc && __builtin_memcmp(sc->span_id, w->span_id, 8) == 0)
		__builtin_memcpy(sc->trace_id, c->sc.trace_id, 16);
	return 1;
}

// Deletes the stream's waiting entry if it is still the one of span_id.
static __always_inline void grpc_forget_waiting(struct grpc_stream_key *k, u8 *span_id)
{
	struct grpc_server_wait *w = bpf_map_lookup_elem(&grpc_server_waiting, k);
	if (w && __builtin_memcmp(w->span_id, span_id, 8) == 0)
		bpf_map_delete_elem(&grpc_server_waiting, k);
}

// Reads the net.Addr interface stored at iface when it holds a *net.TCPAddr:
// its IP as IPv6 (IPv4 mapped, as in conn_tuple) and its port. A
// *net.UnixAddr (two strings) never has an IP slice of length and capacity
// 4 or 16. Returns 0 on success.
static __always_inline int grpc_tcp_addr(struct go_offsets *off, u64 iface, u8 *ip, u16 *port)
{
	u64 addr = read_ptr(iface + 8);
	if (!addr)
		return -1;
	u64 slice[3] = {};
	if (bpf_probe_read_user(slice, sizeof(slice), (void *)(addr + FIELD(off, NET_TCPADDR_IP))))
		return -1;
	if (!slice[0] || slice[1] != slice[2])
		return -1;
	if (slice[1] == 4) {
		__be32 a = 0;
		if (bpf_probe_read_user(&a, 4, (void *)slice[0]))
			return -1;
		v4_mapped(ip, a);
	} else if (slice[1] == 16) {
		if (bpf_probe_read_user(ip, 16, (void *)slice[0]))
			return -1;
	} else {
		return -1;
	}
	s64 p = (s64)read_ptr(addr + FIELD(off, NET_TCPADDR_PORT));
	if (p <= 0 || p > 0xffff)
		return -1;
	*port = (u16)p;
	return 0;
}

// Fills k's tuple from a transport's local and remote net.Addr fields (at
// local and remote); client: the transport is the connection's client.
static __always_inline int grpc_stream_tuple(struct go_offsets *off, u64 local, u64 remote, int client, struct grpc_stream_key *k)
{
	u8 lip[16], rip[16];
	u16 lport = 0, rport = 0;
	if (grpc_tcp_addr(off, local, lip, &lport) || grpc_tcp_addr(off, remote, rip, &rport))
		return -1;
	if (client) {
		__builtin_memcpy(k->conn.client_addr, lip, 16);
		__builtin_memcpy(k->conn.server_addr, rip, 16);
		k->conn.client_port = lport;
		k->conn.server_port = rport;
	} else {
		__builtin_memcpy(k->conn.client_addr, rip, 16);
		__builtin_memcpy(k->conn.server_addr, lip, 16);
		k->conn.client_port = rport;
		k->conn.server_port = lport;
	}
	k->conn.pad = 0;
	k->pad = 0;
	return 0;
}

// Deletes the stream's entry if it is still the one of span span_id.
static __always_inline void grpc_forget_stream(struct grpc_stream_key *k, u8 *span_id)
{
	struct conn_client *c = bpf_map_lookup_elem(&grpc_client_by_stream, k);
	if (c && __builtin_memcmp(c->sc.span_id, span_id, 8) == 0)
		bpf_map_delete_elem(&grpc_client_by_stream, k);
}

#endif
