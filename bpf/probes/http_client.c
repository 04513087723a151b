//go:build ignore

// The net/http client probe: one CLIENT span per request a Transport makes.
//
// (*Transport).roundTrip is probed at its entry and at every RET (2 hits
// per request). The span's parent is the span the calling goroutine works
// for, or the one of the goroutine that started it (goroutines.h). With
// stitching, http_client_conn.c records the connection the request goes
// out on (stitch.h), http_client_h2.c the connection and stream of an
// HTTP/2 request (h2_stitch.h), and the return reports whether a server
// span joined it.

#include "goebpf.h"
#include "event.h"
#include "go_mem.h"
#include "go_offsets.h"
#include "goroutines.h"
#include "stitch.h"
#include "h2_stitch.h"
#include "client_requests.h"
#include "inject.h"
#include <bpf/bpf_helpers.h>

#define CLIENT_METHOD_LEN 8
#define CLIENT_SCHEME_LEN 8
#define CLIENT_HOST_LEN 64
#define CLIENT_PATH_LEN 128
#define CLIENT_QUERY_LEN 64

struct http_client_event {
	struct event_header hdr;
	u8 has_response;
	u8 has_error;
	u8 has_user; // the URL carries user info (credentials): never read, only flagged
	u8 stitch; // STITCH_* (stitch.h)
	u16 status;
	u16 method_len;
	u16 scheme_len;
	u16 host_len;
	u16 path_len;
	u16 query_len;
	u32 pad;
	char method[CLIENT_METHOD_LEN];
	char scheme[CLIENT_SCHEME_LEN];
	char host[CLIENT_HOST_LEN];
	char path[CLIENT_PATH_LEN];
	char query[CLIENT_QUERY_LEN];
};

const struct http_client_event *unused_http_client_event __attribute__((unused));

// ---------------------------------------------------------------------------
// net/http client: (*Transport).roundTrip(req *Request) (*Response, error)
// t in ax, req in bx; results: *Response in ax, error (itab, data) in bx/cx.

SEC("uprobe/client_entry")
int uprobe_client_entry(struct pt_regs *ctx)
{
	struct go_offsets *off = probe_enter(ctx);
	if (!off)
		return 0;
	struct goroutine_key key = current_goroutine(ctx);
	struct client_inflight st = {};
	st.start_ns = bpf_ktime_get_boot_ns();
	st.request = GO_PARAM2(ctx);
	st.has_parent = inherit_span(off, &key, &st.ids);
	new_span(&st.ids, st.has_parent);
	struct goroutine_key ck = client_key(off, &key);
	bpf_map_update_elem(&client_requests, &ck, &st, BPF_ANY);
	return 0;
}

// Whether a server span joined the request's span (STITCH_*).
static __always_inline u8 client_stitch_end(struct client_inflight *st)
{
	struct conn_client *c = 0;
	if (st->has_conn) {
		c = bpf_map_lookup_elem(&client_by_conn, &st->conn);
	} else if (st->has_stream) {
		struct h2_stream_tuple k = {.conn = st->conn, .stream_id = st->stream_id};
		c = bpf_map_lookup_elem(&client_by_h2_stream, &k);
	} else {
		return STITCH_NONE;
	}
	if (c && c->matched && __builtin_memcmp(c->sc.span_id, st->ids.span_id, 8) == 0)
		return STITCH_MATCHED;
	return STITCH_UNMATCHED;
}

// Sends the CLIENT span of the request st, at a RET of the probed round
// trip function (its results in the registers).
static __always_inline void emit_client(struct pt_regs *ctx, struct go_offsets *off, struct goroutine_key *key, struct client_inflight *st)
{
	struct http_client_event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e) {
		count_drop();
		return;
	}
	// The application sent its own traceparent (inject.h): the span joins
	// the application's trace under the application's span.
	if (inject_enabled && st->has_conn && inject_adopt_app_context(&st->conn, &st->ids))
		st->has_parent = 1;
	fill_header(&e->hdr, EVENT_HTTP_CLIENT, key->tgid, st->start_ns, &st->ids, st->has_parent);

	u64 resp = GO_PARAM1(ctx);
	e->has_error = GO_PARAM2(ctx) != 0;
	e->has_response = resp != 0;
	e->status = resp ? (u16)read_ptr(resp + FIELD(off, NET_HTTP_RESPONSE_STATUSCODE)) : 0;

	u64 req = st->request;
	e->method_len = read_go_string(req + FIELD(off, NET_HTTP_REQUEST_METHOD), e->method, CLIENT_METHOD_LEN);
	u64 url = read_ptr(req + FIELD(off, NET_HTTP_REQUEST_URL));
	if (url) {
		e->scheme_len = read_go_string(url + FIELD(off, NET_URL_URL_SCHEME), e->scheme, CLIENT_SCHEME_LEN);
		e->host_len = read_go_string(url + FIELD(off, NET_URL_URL_HOST), e->host, CLIENT_HOST_LEN);
		e->path_len = read_go_string(url + FIELD(off, NET_URL_URL_PATH), e->path, CLIENT_PATH_LEN);
		e->has_user = known(off, GO_FIELD_NET_URL_URL_USER) && read_ptr(url + FIELD(off, NET_URL_URL_USER)) != 0;
		if (known(off, GO_FIELD_NET_URL_URL_RAWQUERY))
			e->query_len = read_go_string(url + FIELD(off, NET_URL_URL_RAWQUERY), e->query, CLIENT_QUERY_LEN);
		else
			e->query_len = 0;
	} else {
		e->has_user = 0;
		e->scheme_len = 0;
		e->host_len = 0;
		e->path_len = 0;
		e->query_len = 0;
	}
	e->stitch = client_stitch_end(st);
	submit(e);
}

SEC("uprobe/client_return")
int uprobe_client_return(struct pt_regs *ctx)
{
	struct go_offsets *off = probe_enter(ctx);
	if (!off)
		return 0;
	struct goroutine_key key = current_goroutine(ctx);
	struct goroutine_key ck = client_key(off, &key);
	struct client_inflight *st = bpf_map_lookup_elem(&client_requests, &ck);
	if (!st)
		return 0;
	emit_client(ctx, off, &key, st);
	if (st->has_conn) {
		forget_conn(&st->conn, st->ids.span_id);
		// A context no request took must not reach a later one.
		if (inject_enabled)
			inject_withdraw(&st->conn, st->ids.span_id);
	}
	if (st->has_stream) {
		struct h2_stream_tuple k = {.conn = st->conn, .stream_id = st->stream_id};
		forget_h2_stream(&k, st->ids.span_id);
	}
	bpf_map_delete_elem(&client_requests, &ck);
	return 0;
}

// ---------------------------------------------------------------------------
// golang.org/x/net/http2's own client: (*Transport).roundTripOpt(req
// *http.Request, opt RoundTripOpt) (*http.Response, error), and
// RoundTripOpt in x/net versions where that is the implementation (t in
// ax, req in bx; the same results). Probed where both exist, the outer
// frame's span is the one: the entry depth (g.stack.hi - sp) tells a
// nested call from a new one, and only the RET at the entry's depth ends
// the span. A call under net/http's Transport.roundTrip (x/net's
// ConfigureTransport) is left to that span. Keyed by span_key, as
// client_requests.

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, struct goroutine_key);
	__type(value, struct client_inflight);
} xnet_client_requests SEC(".maps");

// How soon after the outer entry a nested one comes (it is the outer's
// first call).
#define XNET_NESTED_NS (1000ULL * 1000 * 1000)

SEC("uprobe/xnet_client_entry")
int uprobe_xnet_client_entry(struct pt_regs *ctx)
{
	struct go_offsets *off = probe_enter(ctx);
	if (!off)
		return 0;
	struct goroutine_key key = current_goroutine(ctx);
	struct goroutine_key ck = client_key(off, &key);
	if (bpf_map_lookup_elem(&client_requests, &ck))
		return 0;
	u64 depth = read_ptr(key.g + G_STACK_HI) - ctx->sp;
	u64 now = bpf_ktime_get_boot_ns();
	struct client_inflight *cur = bpf_map_lookup_elem(&xnet_client_requests, &ck);
	// RoundTripOpt calling roundTripOpt: deeper, at once. An entry left by
	// a call that never returned (a panic) is older, and is replaced.
	if (cur && depth > cur->entry_depth && now - cur->start_ns < XNET_NESTED_NS)
		return 0;
	struct client_inflight st = {};
	st.start_ns = now;
	st.request = GO_PARAM2(ctx);
	st.entry_depth = depth;
	st.has_parent = inherit_span(off, &key, &st.ids);
	new_span(&st.ids, st.has_parent);
	bpf_map_update_elem(&xnet_client_requests, &ck, &st, BPF_ANY);
	return 0;
}

SEC("uprobe/xnet_client_return")
int uprobe_xnet_client_return(struct pt_regs *ctx)
{
	struct go_offsets *off = probe_enter(ctx);
	if (!off)
		return 0;
	struct goroutine_key key = current_goroutine(ctx);
	struct goroutine_key ck = client_key(off, &key);
	struct client_inflight *st = bpf_map_lookup_elem(&xnet_client_requests, &ck);
	if (!st || read_ptr(key.g + G_STACK_HI) - ctx->sp != st->entry_depth)
		return 0;
	emit_client(ctx, off, &key, st);
	if (st->has_stream) {
		struct h2_stream_tuple k = {.conn = st->conn, .stream_id = st->stream_id};
		forget_h2_stream(&k, st->ids.span_id);
	}
	bpf_map_delete_elem(&xnet_client_requests, &ck);
	return 0;
}

