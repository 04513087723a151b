//go:build ignore

// Stitching, client side: the connection a client request goes out on.
//
// (*Transport).roundTrip (http_client.c) runs before a connection is
// chosen. Its HTTP/1 path then calls (*persistConn).roundTrip on the same
// goroutine with the connection in hand, before the request is written:
// this probe, at that entry (1 hit per request sent on an HTTP/1
// connection, retries included), reads the connection's 4-tuple from the
// kernel socket and records the request's span under it in client_by_conn
// (stitch.h), where the server probe of the same host finds it. With
// injection (inject.h) it also offers the span's traceparent for that
// connection's next request, which the sk_msg program of the inject object
// inserts when the writeLoop goroutine writes the request: no extra hit.

#include "goebpf.h"
#include "go_mem.h"
#include "go_offsets.h"
#include "goroutines.h"
#include "stitch.h"
#include "inject.h"
#include <bpf/bpf_helpers.h>

// net/http.(*persistConn).roundTrip(req *transportRequest): pc in ax.
SEC("uprobe/client_conn")
int uprobe_client_conn(struct pt_regs *ctx)
{
	struct go_offsets *off = probe_enter(ctx);
	if (!off)
		return 0;
	struct goroutine_key key = current_goroutine(ctx);
	struct goroutine_key ck = client_key(off, &key);
	struct client_inflight *st = bpf_map_lookup_elem(&client_requests, &ck);
	if (!st)
		return 0;
	// net.Conn is (itab, data): the data word.
	u64 conn = read_ptr(GO_PARAM1(ctx) + FIELD(off, NET_HTTP_PERSISTCONN_CONN) + 8);
	struct conn_tuple t = {};
	u8 tls = 0;
	if (conn_tuple_tls_of(conn, 1, &t, &tls))
		return 0;
	// A retry on another connection: the first one's entry goes.
	if (st->has_conn) {
		forget_conn(&st->conn, st->ids.span_id);
		if (inject_enabled)
			inject_withdraw(&st->conn, st->ids.span_id);
	}
	if (stitch_enabled) {
		struct conn_client c = {};
		__builtin_memcpy(c.sc.trace_id, st->ids.trace_id, 16);
		__builtin_memcpy(c.sc.span_id, st->ids.span_id, 8);
		c.tgid = key.tgid;
		bpf_map_update_elem(&client_by_conn, &t, &c, BPF_ANY);
	}
	// TLS bytes cannot take a header: no offer (the inject object would
	// only skip it).
	if (inject_enabled && !tls) {
		// What the application sent with an earlier request is not this one's.
		inject_forget_app_context(&t);
		inject_offer(&t, &st->ids);
	}
	st->conn = t;
	st->has_conn = 1;
	return 0;
}
