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
#ifndef GOEBPF_GRPC_STITCH_H
#define GOEBPF_GRPC_STITCH_H

#include "goebpf.h"
#include "go_mem.h"
#include "go_offsets.h"
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
