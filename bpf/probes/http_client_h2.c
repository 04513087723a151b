//go:build ignore

// Stitching, client side, HTTP/2: the connection and stream a request of
// net/http's bundled HTTP/2 client (or of golang.org/x/net/http2's own)
// goes out on.
//
// (*Transport).roundTrip (http_client.c) opens the client span on the
// caller's goroutine (x/net's roundTripOpt likewise). For HTTP/2 the
// request is then written by a goroutine the client starts for it
// ((*http2ClientConn).roundTrip: go cs.doRequest), in Go 1.19 through 1.26
// and x/net, which takes the stream's id and calls
// (*http2clientStream).encodeAndWriteHeaders, once per request, before the
// HEADERS frame is written. This probe, at that entry (1 hit per HTTP/2
// request sent), finds the request's client span through the writing
// goroutine's creator (runtime.g.parentGoid on Go >= 1.21; on older Go
// what the goroutines probe noted when the writer was created; the
// caller's own goroutine if it writes the request itself), reads the
// connection's 4-tuple from the kernel socket and records the span under
// (tuple, stream id) in client_by_h2_stream (h2_stitch.h), where the
// h2_server probe of the same host finds it.

#include "goebpf.h"
#include "go_mem.h"
#include "go_offsets.h"
#include "goroutines.h"
#include "stitch.h"
#include "h2_stitch.h"
#include "client_requests.h"
#include <bpf/bpf_helpers.h>

// The request in flight in map requests (client_requests or
// xnet_client_requests) that the current goroutine writes.
static __always_inline struct client_inflight *writer_request(struct go_offsets *off, struct goroutine_key *key, void *requests)
{
	struct goroutine_key ck = client_key(off, key);
	struct client_inflight *st = bpf_map_lookup_elem(requests, &ck);
	if (st)
		return st;
	if (known(off, GO_FIELD_RUNTIME_G_PARENTGOID) && has_goroutine(off)) {
		ck.g = read_ptr(key->g + FIELD(off, RUNTIME_G_PARENTGOID));
		return ck.g ? bpf_map_lookup_elem(requests, &ck) : 0;
	}
	u64 *creator = bpf_map_lookup_elem(&client_goroutine_creators, &ck);
	if (!creator)
		return 0;
	struct goroutine_key wk = ck;
	ck.g = *creator;
	st = bpf_map_lookup_elem(requests, &ck);
	if (st)
		bpf_map_delete_elem(&client_goroutine_creators, &wk);
	return st;
}

// Where a client stream leads to its id and connection, in one HTTP/2
// client implementation: clientStream.cc, clientStream.ID,
// ClientConn.tconn.
struct h2_client_layout {
	u64 cc;
	u64 id;
	u64 tconn;
};

// Records request st's span under the connection and id of stream cs.
static __always_inline void record_stream(struct h2_client_layout *l, u32 tgid, u64 cs, struct client_inflight *st)
{
	u64 cc = read_ptr(cs + l->cc);
	if (!cc)
		return;
	struct h2_stream_tuple k = {};
	if (bpf_probe_read_user(&k.stream_id, sizeof(k.stream_id), (void *)(cs + l->id)) || !k.stream_id)
		return;
	// net.Conn is (itab, data): the data word (*tls.Conn, or the TCP
	// connection itself for h2c).
	u64 conn = read_ptr(cc + l->tconn + 8);
	if (conn_tuple_of(conn, 1, &k.conn))
		return;
	// A retry on another stream (a refused stream, a connection that
	// went away): the first one's entry goes.
	if (st->has_stream) {
		struct h2_stream_tuple old = {.conn = st->conn, .stream_id = st->stream_id};
		forget_h2_stream(&old, st->ids.span_id);
	}
	struct conn_client c = {};
	__builtin_memcpy(c.sc.trace_id, st->ids.trace_id, 16);
	__builtin_memcpy(c.sc.span_id, st->ids.span_id, 8);
	c.tgid = tgid;
	bpf_map_update_elem(&client_by_h2_stream, &k, &c, BPF_ANY);
	st->conn = k.conn;
	st->stream_id = k.stream_id;
	st->has_stream = 1;
}

// net/http.(*http2clientStream).encodeAndWriteHeaders(req *Request) error:
// cs in ax.
SEC("uprobe/h2_client_stream")
int uprobe_h2_client_stream(struct pt_regs *ctx)
{
	struct go_offsets *off = probe_enter(ctx);
	if (!off || !stitch_enabled)
		return 0;
	struct goroutine_key key = current_goroutine(ctx);
	struct client_inflight *st = writer_request(off, &key, &client_requests);
	if (!st)
		return 0;
	struct h2_client_layout l = {
		.cc = FIELD(off, NET_HTTP_HTTP2CLIENTSTREAM_CC),
		.id = FIELD(off, NET_HTTP_HTTP2CLIENTSTREAM_ID),
		.tconn = FIELD(off, NET_HTTP_HTTP2CLIENTCONN_TCONN),
	};
	record_stream(&l, key.tgid, GO_PARAM1(ctx), st);
	return 0;
}

// golang.org/x/net/http2.(*clientStream).encodeAndWriteHeaders(req
// *http.Request) error: the same in x/net's client, whose request's span
// is x/net's Transport's (xnet_client_requests) or, under net/http's
// Transport (x/net's ConfigureTransport), net/http's.
SEC("uprobe/xnet_h2_client_stream")
int uprobe_xnet_h2_client_stream(struct pt_regs *ctx)
{
	struct go_offsets *off = probe_enter(ctx);
	if (!off || !stitch_enabled)
		return 0;
	if (!known(off, GO_FIELD_GOLANG_ORG_X_NET_HTTP2_CLIENTSTREAM_CC) || !known(off, GO_FIELD_GOLANG_ORG_X_NET_HTTP2_CLIENTSTREAM_ID) ||
	    !known(off, GO_FIELD_GOLANG_ORG_X_NET_HTTP2_CLIENTCONN_TCONN))
		return 0;
	struct goroutine_key key = current_goroutine(ctx);
	struct client_inflight *st = writer_request(off, &key, &client_requests);
	if (!st)
		st = writer_request(off, &key, &xnet_client_requests);
	if (!st)
		return 0;
	struct h2_client_layout l = {
		.cc = FIELD(off, GOLANG_ORG_X_NET_HTTP2_CLIENTSTREAM_CC),
		.id = FIELD(off, GOLANG_ORG_X_NET_HTTP2_CLIENTSTREAM_ID),
		.tconn = FIELD(off, GOLANG_ORG_X_NET_HTTP2_CLIENTCONN_TCONN),
	};
	record_stream(&l, key.tgid, GO_PARAM1(ctx), st);
	return 0;
}
