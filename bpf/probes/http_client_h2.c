//go:build ignore

// Stitching, client side, HTTP/2: the connection and stream a request of
// net/http's bundled HTTP/2 client goes out on.
//
// (*Transport).roundTrip (http_client.c) opens the client span on the
// caller's goroutine. For HTTP/2 the request is then written by a
// goroutine the bundled client starts for it ((*http2ClientConn).roundTrip:
// go cs.doRequest), in Go 1.19 through 1.26, which takes the stream's id and
// calls (*http2clientStream).encodeAndWriteHeaders, once per request, before
// the HEADERS frame is written. This probe, at that entry (1 hit per
// HTTP/2 request sent), finds the request's client span through the
// writing goroutine's creator (runtime.g.parentGoid on Go >= 1.21; on
// older Go what the goroutines probe noted when the writer was created;
// the caller's own goroutine if it writes the request itself), reads the
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

// net/http.(*http2clientStream).encodeAndWriteHeaders(req *Request) error:
// cs in ax.
SEC("uprobe/h2_client_stream")
int uprobe_h2_client_stream(struct pt_regs *ctx)
{
	struct go_offsets *off = probe_enter(ctx);
	if (!off || !stitch_enabled)
		return 0;
	struct goroutine_key key = current_goroutine(ctx);
	struct goroutine_key ck = client_key(off, &key);
	struct client_inflight *st = bpf_map_lookup_elem(&client_requests, &ck);
	if (!st && known(off, GO_FIELD_RUNTIME_G_PARENTGOID) && has_goroutine(off)) {
		ck.g = read_ptr(key.g + FIELD(off, RUNTIME_G_PARENTGOID));
		if (ck.g)
			st = bpf_map_lookup_elem(&client_requests, &ck);
	} else if (!st) {
		u64 *creator = bpf_map_lookup_elem(&client_goroutine_creators, &ck);
		if (creator) {
			struct goroutine_key wk = ck;
			ck.g = *creator;
			bpf_map_delete_elem(&client_goroutine_creators, &wk);
			st = bpf_map_lookup_elem(&client_requests, &ck);
		}
	}
	if (!st)
		return 0;
	u64 cs = GO_PARAM1(ctx);
	u64 cc = read_ptr(cs + FIELD(off, NET_HTTP_HTTP2CLIENTSTREAM_CC));
	if (!cc)
		return 0;
	struct h2_stream_tuple k = {};
	if (bpf_probe_read_user(&k.stream_id, sizeof(k.stream_id), (void *)(cs + FIELD(off, NET_HTTP_HTTP2CLIENTSTREAM_ID))) || !k.stream_id)
		return 0;
	// net.Conn is (itab, data): the data word (*tls.Conn, or the TCP
	// connection itself for h2c).
	u64 conn = read_ptr(cc + FIELD(off, NET_HTTP_HTTP2CLIENTCONN_TCONN) + 8);
	if (conn_tuple_of(conn, 1, &k.conn))
		return 0;
	// A retry on another stream (a refused stream, a connection that
	// went away): the first one's entry goes.
	if (st->has_stream) {
		struct h2_stream_tuple old = {.conn = st->conn, .stream_id = st->stream_id};
		forget_h2_stream(&old, st->ids.span_id);
	}
	struct conn_client c = {};
	__builtin_memcpy(c.sc.trace_id, st->ids.trace_id, 16);
	__builtin_memcpy(c.sc.span_id, st->ids.span_id, 8);
	c.tgid = key.tgid;
	bpf_map_update_elem(&client_by_h2_stream, &k, &c, BPF_ANY);
	st->conn = k.conn;
	st->stream_id = k.stream_id;
	st->has_stream = 1;
	return 0;
}
