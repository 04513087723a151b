//go:build ignore

// The net/http server probe: one SERVER span per request served.
//
// serverHandler.ServeHTTP is probed at its entry and at every RET (2 hits
// per request). At entry the request head still in the connection's
// bufio.Reader is scanned for trace context (propagation.h; an HTTP/2
// request's was found in its stream's headers by the h2_server probe, h2.h)
// and the span becomes the goroutine's current span (goroutines.h), so
// client calls the handler makes become its children. A handler that panics never reaches a
// RET: runtime.gopanic (entry) and the resume of runtime.recovery (its call
// of gogo) are probed, and run only when a program panics and recovers, so a
// request that does not panic costs no extra hit.

#include "goebpf.h"
#include "event.h"
#include "go_mem.h"
#include "go_offsets.h"
#include "goroutines.h"
#include "h2.h"
#include "propagation.h"
#include "stitch.h"
#include <bpf/bpf_helpers.h>

#define METHOD_LEN 8
#define PATH_LEN 128
#define PATTERN_LEN 64
#define HOST_LEN 64
#define REMOTE_LEN 64
#define QUERY_LEN 64
#define PANIC_MSG_LEN 64

// http_server_event.status when it could not be read (an enum so that
// bpf2go generates the Go constant).
enum http_status {
	STATUS_UNKNOWN = 0xffff,
};

// Whether server spans read url.RawQuery (traces.http.capture_query).
volatile const u32 capture_query = 1;

struct server_inflight {
	u64 start_ns;
	u64 request;
	u64 response; // ANCHOR_XNET: the *responseWriterState
	u64 stream;   // ANCHOR_XNET: its *stream at entry
	u64 writer;   // ANCHOR_XNET: the *responseWriter
	// g.stack.hi - SP at ServeHTTP entry: how deep the frame is, which a
	// stack copy does not change.
	u64 entry_depth;
	struct span_ids ids;
	u8 has_parent;
	u8 panicking; // runtime.gopanic ran in this goroutine since entry
	u16 panic_msg_len;
	u8 stitch;  // STITCH_* (stitch.h)
	u8 anchor;  // ANCHOR_*: the function whose entry opened the span
	u8 handoff;    // an h2c connection handed to an HTTP/2 server by the handler
	u8 panic_seen; // runtime.gopanic ran in this goroutine since entry (never cleared)
	u64 panic_type; // unrelocated address of the panic value's type
	char panic_msg[PANIC_MSG_LEN];
};

// server_inflight.anchor
#define ANCHOR_SERVEHTTP 0 // net/http.serverHandler.ServeHTTP
#define ANCHOR_XNET 1      // golang.org/x/net/http2.(*serverConn).runHandler

// How soon after x/net's runHandler entry a ServeHTTP under it starts.
#define XNET_NESTED_SERVE_NS (1000ULL * 1000 * 1000)

struct http_server_event {
	struct event_header hdr;
	u8 proto_major;
	u8 proto_minor;
	u8 tls;      // 0: unknown, 1: plain, 2: TLS
	u8 panicked; // the handler panicked and net/http recovered
	u16 status;
	u16 method_len;
	u16 path_len;
	u16 pattern_len;
	u16 host_len;
	u16 remote_len;
	u16 query_len;
	u16 panic_msg_len;
	u8 stitch;      // STITCH_* (stitch.h)
	u8 h2c_handoff; // not a request: an h2c connection handed to an HTTP/2 server
	u16 pad;
	u64 panic_type; // unrelocated address of the panic value's type (0: unknown)
	char method[METHOD_LEN];
	char path[PATH_LEN];
	char pattern[PATTERN_LEN];
	char host[HOST_LEN];
	char remote[REMOTE_LEN];
	char query[QUERY_LEN];
	char panic_msg[PANIC_MSG_LEN];
};

const struct http_server_event *unused_http_server_event __attribute__((unused));

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, struct goroutine_key);
	__type(value, struct server_inflight);
} server_requests SEC(".maps");

// response.conn, conn.bufr, bufio.Reader.{buf,r}: the request head can be
// scanned for trace context.
static __always_inline int has_head_scan(struct go_offsets *off)
{
	return known(off, GO_FIELD_NET_HTTP_RESPONSE_CONN) && known(off, GO_FIELD_NET_HTTP_CONN_BUFR) &&
	       known(off, GO_FIELD_BUFIO_READER_BUF) && known(off, GO_FIELD_BUFIO_READER_R);
}

// http2responseWriter.rws and http2responseWriterState.status: the status
// of HTTP/2 requests.
static __always_inline int has_h2_status(struct go_offsets *off)
{
	return known(off, GO_FIELD_NET_HTTP_HTTP2RESPONSEWRITER_RWS) && known(off, GO_FIELD_NET_HTTP_HTTP2RESPONSEWRITERSTATE_STATUS);
}

// Finds the parent span in the request head still held in the connection's
// bufio.Reader.
static __always_inline int extract_parent(struct go_offsets *off, u64 request, u64 response, struct span_ids *ids)
{
	if (!has_head_scan(off) || extract_flags == 0 || response == 0)
		return 0;
	// Only HTTP/1's *response has a connection read buffer to scan.
	if (read_ptr(request + FIELD(off, NET_HTTP_REQUEST_PROTOMAJOR)) != 1)
		return 0;
	u64 conn = read_ptr(response + FIELD(off, NET_HTTP_RESPONSE_CONN));
	if (!conn)
		return 0;
	u64 bufr = read_ptr(conn + FIELD(off, NET_HTTP_CONN_BUFR));
	if (!bufr)
		return 0;
	u64 buf = read_ptr(bufr + FIELD(off, BUFIO_READER_BUF));
	s64 r = (s64)read_ptr(bufr + FIELD(off, BUFIO_READER_R));
	return scan_headers(buf, r, ids);
}

// Stitching, server side: the request's connection (response.conn.rwc) is
// looked up in client_by_conn; a client span of this host in flight on it
// becomes the server span's parent, and its trace the server span's (and,
// through the goroutine's span, its local subtree's). HTTP/1 only: one
// request at a time on a connection, so the one in flight is this one.
static __always_inline u8 stitch_server(struct go_offsets *off, u64 request, u64 response, struct span_ids *ids, u8 *has_parent)
{
	if (!stitch_enabled || response == 0 || !known(off, GO_FIELD_NET_HTTP_RESPONSE_CONN) || !known(off, GO_FIELD_NET_HTTP_CONN_RWC))
		return STITCH_NONE;
	if (read_ptr(request + FIELD(off, NET_HTTP_REQUEST_PROTOMAJOR)) != 1)
		return STITCH_NONE;
	u64 conn = read_ptr(response + FIELD(off, NET_HTTP_RESPONSE_CONN));
	if (!conn)
		return STITCH_NONE;
	// rwc is a net.Conn (itab, data): the data word.
	u64 rwc = read_ptr(conn + FIELD(off, NET_HTTP_CONN_RWC) + 8);
	struct conn_tuple t = {};
	if (conn_tuple_of(rwc, 0, &t))
		return STITCH_NONE;
	struct conn_client *c = bpf_map_lookup_elem(&client_by_conn, &t);
	if (!c)
		return STITCH_UNMATCHED;
	__builtin_memcpy(ids->trace_id, c->sc.trace_id, 16);
	__builtin_memcpy(ids->parent_span_id, c->sc.span_id, 8);
	c->matched = 1;
	*has_parent = 1;
	return STITCH_MATCHED;
}

// The HTTP/2 connection preface read as an HTTP/1 request ("PRI *
// HTTP/2.0"): net/http hands it to the handler, where
// golang.org/x/net/http2/h2c takes the connection over (prior knowledge).
static __always_inline int is_h2c_preface(struct go_offsets *off, u64 request)
{
	struct go_string m = {};
	if (bpf_probe_read_user(&m, sizeof(m), (void *)(request + FIELD(off, NET_HTTP_REQUEST_METHOD))) || m.len != 3 || !m.ptr)
		return 0;
	char b[3] = {};
	if (bpf_probe_read_user(b, sizeof(b), (void *)m.ptr))
		return 0;
	return b[0] == 'P' && b[1] == 'R' && b[2] == 'I';
}

// ---------------------------------------------------------------------------
// net/http server: serverHandler.ServeHTTP(rw ResponseWriter, req *Request)
// receiver (one pointer) in ax, rw (itab, data) in bx/cx, req in di.

SEC("uprobe/server_entry")
int uprobe_server_entry(struct pt_regs *ctx)
{
	struct go_offsets *off = probe_enter(ctx);
	if (!off)
		return 0;
	struct goroutine_key key = current_goroutine(ctx);
	u64 now = bpf_ktime_get_boot_ns();
	// Under x/net's runHandler (its server behind net/http's TLSNextProto):
	// the stream's span is open already. runHandler calls the handler at
	// once; an older entry was left by a goroutine that never returned
	// (runtime.Goexit) and whose g is reused: it is replaced.
	struct server_inflight *cur = bpf_map_lookup_elem(&server_requests, &key);
	if (cur && cur->anchor == ANCHOR_XNET && now - cur->start_ns < XNET_NESTED_SERVE_NS)
		return 0;
	struct server_inflight st = {};
	st.start_ns = now;
	st.request = GO_PARAM4(ctx);
	st.response = GO_PARAM3(ctx);
	st.entry_depth = read_ptr(key.g + G_STACK_HI) - ctx->sp;
	st.anchor = ANCHOR_SERVEHTTP;
	u64 major = read_ptr(st.request + FIELD(off, NET_HTTP_REQUEST_PROTOMAJOR));
	if (major == 2 && is_h2c_preface(off, st.request)) {
		// golang.org/x/net/http2/h2c takes the connection over in this
		// handler and serves its streams (each with a span of its own,
		// see xnet_handler_entry): no span, no parent for them.
		st.handoff = 1;
		bpf_map_update_elem(&server_requests, &key, &st, BPF_ANY);
		return 0;
	}
	st.has_parent = extract_parent(off, st.request, st.response, &st.ids);
	struct h2_stream_path path = {};
	// HTTP/2: what the h2_server probe found in the stream's headers or,
	// stitching, the client span of this host that sent the stream.
	if (!st.has_parent && major == 2 && bundled_stream_path(off, &path))
		st.has_parent = h2_take_parent(&path, key.tgid, st.response, &st.ids, &st.stitch);
	// A traceparent the client's own SDK sent wins over stitching.
	if (!st.has_parent && major == 1)
		st.stitch = stitch_server(off, st.request, st.response, &st.ids, &st.has_parent);
	new_span(&st.ids, st.has_parent);
	bpf_map_update_elem(&server_requests, &key, &st, BPF_ANY);
	set_goroutine_span(off, &key, &st.ids);
	return 0;
}

// ---------------------------------------------------------------------------
// golang.org/x/net/http2's server runs each stream's handler itself, in
// (*serverConn).runHandler(rw *responseWriter, req *http.Request, handler
// func(...)) on a goroutine of its own (sc in ax, rw in bx, req in cx):
// its entry and RETs bound the stream's span as ServeHTTP's do for
// net/http's servers. The trace context comes from x/net's
// newWriterAndRequest (h2_server.c).

// x/net's responseWriter.rws, responseWriterState.{status,stream}: the
// stream's status (DWARF only; unknown in a stripped binary).
static __always_inline int has_xnet_status(struct go_offsets *off)
{
	return known(off, GO_FIELD_GOLANG_ORG_X_NET_HTTP2_RESPONSEWRITER_RWS) &&
	       known(off, GO_FIELD_GOLANG_ORG_X_NET_HTTP2_RESPONSEWRITERSTATE_STATUS) &&
	       known(off, GO_FIELD_GOLANG_ORG_X_NET_HTTP2_RESPONSEWRITERSTATE_STREAM);
}

SEC("uprobe/xnet_handler_entry")
int uprobe_xnet_handler_entry(struct pt_regs *ctx)
{
	struct go_offsets *off = probe_enter(ctx);
	if (!off)
		return 0;
	struct goroutine_key key = current_goroutine(ctx);
	struct server_inflight st = {};
	st.start_ns = bpf_ktime_get_boot_ns();
	st.request = GO_PARAM3(ctx);
	u64 rw = GO_PARAM2(ctx);
	st.entry_depth = read_ptr(key.g + G_STACK_HI) - ctx->sp;
	st.anchor = ANCHOR_XNET;
	// runHandler's deferred handlerDone sets rw.rws to nil and may put
	// the state back in a pool before the RET: keep the state and its
	// stream now, and check at the end that it still is this stream's.
	st.writer = rw;
	if (rw && has_xnet_status(off)) {
		st.response = read_ptr(rw + FIELD(off, GOLANG_ORG_X_NET_HTTP2_RESPONSEWRITER_RWS));
		if (st.response)
			st.stream = read_ptr(st.response + FIELD(off, GOLANG_ORG_X_NET_HTTP2_RESPONSEWRITERSTATE_STREAM));
	}
	struct h2_stream_path path = {};
	if (xnet_stream_path(off, &path))
		st.has_parent = h2_take_parent(&path, key.tgid, rw, &st.ids, &st.stitch);
	new_span(&st.ids, st.has_parent);
	bpf_map_update_elem(&server_requests, &key, &st, BPF_ANY);
	set_goroutine_span(off, &key, &st.ids);
	return 0;
}

// Sends the SERVER span of the request st and forgets it. panicked: the
// handler panicked and ServeHTTP's frame was unwound (no RET ran).
static __always_inline void emit_server(struct go_offsets *off, struct goroutine_key *key, struct server_inflight *st, u8 panicked)
{
	struct http_server_event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e) {
		count_drop();
		goto out;
	}
	fill_header(&e->hdr, EVENT_HTTP_SERVER, key->tgid, st->start_ns, &st->ids, st->has_parent);

	u64 req = st->request;
	e->proto_major = (u8)read_ptr(req + FIELD(off, NET_HTTP_REQUEST_PROTOMAJOR));
	e->proto_minor = (u8)read_ptr(req + FIELD(off, NET_HTTP_REQUEST_PROTOMINOR));
	// x/net serves HTTP/2 only; an h2c upgrade's request (stream 1) keeps
	// the HTTP/1.1 it was sent with.
	if (st->anchor == ANCHOR_XNET) {
		e->proto_major = 2;
		e->proto_minor = 0;
	}
	e->method_len = read_go_string(req + FIELD(off, NET_HTTP_REQUEST_METHOD), e->method, METHOD_LEN);
	e->host_len = read_go_string(req + FIELD(off, NET_HTTP_REQUEST_HOST), e->host, HOST_LEN);
	e->remote_len = read_go_string(req + FIELD(off, NET_HTTP_REQUEST_REMOTEADDR), e->remote, REMOTE_LEN);
	if (known(off, GO_FIELD_NET_HTTP_REQUEST_TLS))
		e->tls = read_ptr(req + FIELD(off, NET_HTTP_REQUEST_TLS)) ? 2 : 1;
	else
		e->tls = 0;
	if (known(off, GO_FIELD_NET_HTTP_REQUEST_PATTERN))
		e->pattern_len = read_go_string(req + FIELD(off, NET_HTTP_REQUEST_PATTERN), e->pattern, PATTERN_LEN);
	else
		e->pattern_len = 0;
	u64 url = read_ptr(req + FIELD(off, NET_HTTP_REQUEST_URL));
	e->path_len = 0;
	e->query_len = 0;
	if (url) {
		e->path_len = read_go_string(url + FIELD(off, NET_URL_URL_PATH), e->path, PATH_LEN);
		if (known(off, GO_FIELD_NET_URL_URL_RAWQUERY) && capture_query)
			e->query_len = read_go_string(url + FIELD(off, NET_URL_URL_RAWQUERY), e->query, QUERY_LEN);
	}
	// The ResponseWriter is net/http's *response for HTTP/1.x and its
	// bundled *http2responseWriter for HTTP/2.
	e->status = STATUS_UNKNOWN;
	if (st->handoff) {
		// No response of its own: the connection went to the HTTP/2 server.
	} else if (st->anchor == ANCHOR_XNET) {
		// The status first, then whether the state still is this
		// stream's (a pooled state is zeroed, then given its new stream).
		if (st->response && st->stream && has_xnet_status(off)) {
			u16 status = (u16)read_ptr(st->response + FIELD(off, GOLANG_ORG_X_NET_HTTP2_RESPONSEWRITERSTATE_STATUS));
			if (read_ptr(st->response + FIELD(off, GOLANG_ORG_X_NET_HTTP2_RESPONSEWRITERSTATE_STREAM)) == st->stream)
				e->status = status;
		}
	} else if (e->proto_major == 1 && st->response) {
		e->status = (u16)read_ptr(st->response + FIELD(off, NET_HTTP_RESPONSE_STATUS));
	} else if (e->proto_major == 2 && st->response && has_h2_status(off)) {
		u64 rws = read_ptr(st->response + FIELD(off, NET_HTTP_HTTP2RESPONSEWRITER_RWS));
		if (rws)
			e->status = (u16)read_ptr(rws + FIELD(off, NET_HTTP_HTTP2RESPONSEWRITERSTATE_STATUS));
	}
	e->stitch = st->stitch;
	e->h2c_handoff = st->handoff;
	e->pad = 0;
	e->panicked = panicked;
	e->panic_type = 0;
	e->panic_msg_len = 0;
	if (panicked) {
		e->panic_type = st->panic_type;
		u16 n = st->panic_msg_len;
		if (n > PANIC_MSG_LEN)
			n = PANIC_MSG_LEN;
		__builtin_memcpy(e->panic_msg, st->panic_msg, PANIC_MSG_LEN);
		e->panic_msg_len = n;
	}
	submit(e);
out:
	clear_goroutine_span(off, key, &st->ids);
	bpf_map_delete_elem(&server_requests, key);
}

SEC("uprobe/server_return")
int uprobe_server_return(struct pt_regs *ctx)
{
	struct go_offsets *off = probe_enter(ctx);
	if (!off)
		return 0;
	struct goroutine_key key = current_goroutine(ctx);
	struct server_inflight *st = bpf_map_lookup_elem(&server_requests, &key);
	if (!st || st->anchor != ANCHOR_SERVEHTTP)
		return 0;
	emit_server(off, &key, st, 0);
	return 0;
}

// golang.org/x/net/http2.(*Server).serveConn (ServeConn in older x/net),
// entry: an HTTP/1 request whose handler hands its connection to x/net's
// server (h2c's Upgrade path: the request becomes the connection's stream
// 1, which gets its own span) is no request of its own: its span becomes a
// handoff (counted, not sent) and parents nothing. The prior-knowledge
// preface was recognised at ServeHTTP's entry already.
SEC("uprobe/xnet_serve_conn")
int uprobe_xnet_serve_conn(struct pt_regs *ctx)
{
	struct go_offsets *off = probe_enter(ctx);
	if (!off)
		return 0;
	struct goroutine_key key = current_goroutine(ctx);
	struct server_inflight *st = bpf_map_lookup_elem(&server_requests, &key);
	if (!st || st->anchor != ANCHOR_SERVEHTTP || st->handoff)
		return 0;
	st->handoff = 1;
	clear_goroutine_span(off, &key, &st->ids);
	return 0;
}

SEC("uprobe/xnet_handler_return")
int uprobe_xnet_handler_return(struct pt_regs *ctx)
{
	struct go_offsets *off = probe_enter(ctx);
	if (!off)
		return 0;
	struct goroutine_key key = current_goroutine(ctx);
	struct server_inflight *st = bpf_map_lookup_elem(&server_requests, &key);
	if (!st || st->anchor != ANCHOR_XNET)
		return 0;
	// x/net's runHandler recovers a handler's panic itself and then
	// returns normally, skipping handlerDone, which would have cleared
	// rw.rws: a panic seen and rws still set is a panic runHandler caught
	// (one the handler recovered itself returns through handlerDone).
	u8 panicked = st->panic_seen && st->writer && has_xnet_status(off) &&
		      read_ptr(st->writer + FIELD(off, GOLANG_ORG_X_NET_HTTP2_RESPONSEWRITER_RWS)) != 0;
	emit_server(off, &key, st, panicked);
	return 0;
}

// ---------------------------------------------------------------------------
// Panics. runtime.gopanic(e any): the value's type in ax, its data in bx,
// running on the panicking goroutine. Only the goroutine's open server
// request (if any) is touched: the panic is remembered, not yet reported,
// because the handler may recover it itself and return normally.

// Kinds of runtime._type.kind (internal/abi), masked with KIND_MASK.
#define KIND_MASK 0x1f
#define KIND_PTR 22
#define KIND_STRING 24
#define KIND_STRUCT 25
// Layout of internal/abi.Type, PtrType, StructType and StructField (and of
// the runtime's _type before them), unchanged from Go 1.17 through 1.26.
#define TYPE_KIND 23
#define PTRTYPE_ELEM 48
#define STRUCTTYPE_FIELDS 56
#define STRUCTFIELD_TYP 8
#define STRUCTFIELD_OFFSET 16

static __always_inline u8 type_kind(u64 typ)
{
	u8 k = 0;
	bpf_probe_read_user(&k, 1, (void *)(typ + TYPE_KIND));
	return k & KIND_MASK;
}

// The panic value's text, when it has one without calling code: a string
// (panic("boom"), runtime.errorString), or a pointer to a struct whose first
// field is a string (errors.New's *errorString, fmt.Errorf's *wrapError).
static __always_inline u16 panic_text(u64 typ, u64 data, char *dst)
{
	u8 kind = type_kind(typ);
	if (kind == KIND_STRING)
		return read_go_string(data, dst, PANIC_MSG_LEN);
	if (kind != KIND_PTR || !data)
		return 0;
	u64 elem = read_ptr(typ + PTRTYPE_ELEM);
	if (!elem || type_kind(elem) != KIND_STRUCT)
		return 0;
	u64 fields = read_ptr(elem + STRUCTTYPE_FIELDS);
	s64 nfields = (s64)read_ptr(elem + STRUCTTYPE_FIELDS + 8);
	if (!fields || nfields < 1)
		return 0;
	u64 ftyp = read_ptr(fields + STRUCTFIELD_TYP);
	if (!ftyp || read_ptr(fields + STRUCTFIELD_OFFSET) != 0 || type_kind(ftyp) != KIND_STRING)
		return 0;
	return read_go_string(data, dst, PANIC_MSG_LEN);
}

SEC("uprobe/gopanic")
int uprobe_gopanic(struct pt_regs *ctx)
{
	struct go_offsets *off = probe_enter(ctx);
	if (!off)
		return 0;
	struct goroutine_key key = current_goroutine(ctx);
	struct server_inflight *st = bpf_map_lookup_elem(&server_requests, &key);
	if (!st)
		return 0;
	u64 typ = GO_PARAM1(ctx);
	u64 data = GO_PARAM2(ctx);
	st->panicking = 1;
	st->panic_seen = 1;
	// The probe sits at gopanic's entry: ip - its unrelocated address is the
	// load bias, so user space gets the type's address in the file.
	st->panic_type = typ ? typ - (ctx->ip - off->gopanic_vaddr) : 0;
	st->panic_msg_len = typ ? panic_text(typ, data, st->panic_msg) : 0;
	return 0;
}

// runtime.recovery(gp) ends with gogo(&gp.sched) (ABI0: the argument on the
// stack), resuming gp in the frame that deferred the recovering call; this
// probe sits on that call. gobuf starts with sp, pc, g. When the frame
// resumed is above ServeHTTP's (less deep), ServeHTTP will never return:
// net/http's own recover caught the panic and closes the connection, so the
// span ends here, as an error. A panic the handler recovers itself resumes
// deeper, and the request goes on to a normal RET.
SEC("uprobe/recovery_resume")
int uprobe_recovery_resume(struct pt_regs *ctx)
{
	struct go_offsets *off = probe_enter(ctx);
	if (!off)
		return 0;
	u64 sched = read_ptr(ctx->sp);
	if (!sched)
		return 0;
	u64 buf[3] = {};
	if (bpf_probe_read_user(buf, sizeof(buf), (void *)sched))
		return 0;
	u64 resume_sp = buf[0], gp = buf[2];
	struct goroutine_key key = {.tgid = bpf_get_current_pid_tgid() >> 32, .g = gp};
	struct server_inflight *st = bpf_map_lookup_elem(&server_requests, &key);
	if (!st || !st->panicking)
		return 0;
	u64 depth = read_ptr(gp + G_STACK_HI) - resume_sp;
	if (depth >= st->entry_depth) {
		st->panicking = 0; // recovered inside the handler
		return 0;
	}
	emit_server(off, &key, st, 1);
	return 0;
}

