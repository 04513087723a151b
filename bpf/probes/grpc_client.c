//go:build ignore

// The grpc-go client probe: one CLIENT span per unary RPC, and (the
// streaming part, below) one per stream.
//
// grpc.(*ClientConn).Invoke is probed at its entry and at every RET (2 hits
// per RPC). The span's parent is the span the calling goroutine works for
// (goroutines.h). The status code is read from the returned error, a
// *internal/status.Error, so the span carries the code the server sent (or
// the one grpc made up locally: UNAVAILABLE, DEADLINE_EXCEEDED, ...).
//
// With stitching, grpc_client_stream.c records the span under the RPC's
// HTTP/2 stream (grpc_stitch.h) and notes the stream here; the return
// reports whether a server span of this host joined it and deletes the
// entry.

#include "goebpf.h"
#include "event.h"
#include "go_mem.h"
#include "go_offsets.h"
#include "goroutines.h"
#include "grpc.h"
#include "grpc_stitch.h"
#include <bpf/bpf_helpers.h>

#define GRPC_CLIENT_METHOD_LEN 128
#define GRPC_CLIENT_TARGET_LEN 64

struct grpc_client_inflight {
	u64 start_ns;
	u64 conn;
	struct span_ids ids;
	u8 has_parent;
	u8 has_stream; // stream is the RPC's stream, in grpc_client_by_stream
	u8 pad[2];
	u16 method_len;
	u16 pad2;
	struct grpc_stream_key stream;
	char method[GRPC_CLIENT_METHOD_LEN];
};

struct grpc_client_event {
	struct event_header hdr;
	u32 code; // 0 for a nil error; GRPC_CODE_UNKNOWN_READ when unreadable
	u16 method_len;
	u16 target_len;
	u8 stitch; // STITCH_* (stitch.h)
	u8 pad[7];
	char method[GRPC_CLIENT_METHOD_LEN];
	char target[GRPC_CLIENT_TARGET_LEN];
};

const struct grpc_client_event *unused_grpc_client_event __attribute__((unused));

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, struct goroutine_key);
	__type(value, struct grpc_client_inflight);
} grpc_client_rpcs SEC(".maps");

// Scratch for the in-flight state (too large for the BPF stack with the
// method name).
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, u32);
	__type(value, struct grpc_client_inflight);
} grpc_client_scratch SEC(".maps");

// Starts the span of an RPC of method (ptr, len) on ClientConn cc, made by
// the current goroutine, in grpc_client_rpcs.
static __always_inline void grpc_client_begin(struct go_offsets *off, struct pt_regs *ctx, u64 cc, u64 mptr, s64 mlen)
{
	u32 zero = 0;
	struct grpc_client_inflight *st = bpf_map_lookup_elem(&grpc_client_scratch, &zero);
	if (!st)
		return;
	struct goroutine_key key = current_goroutine(ctx);
	st->start_ns = bpf_ktime_get_boot_ns();
	st->conn = cc;
	__builtin_memset(&st->ids, 0, sizeof(st->ids));
	st->has_parent = inherit_span(off, &key, &st->ids);
	st->has_stream = 0;
	new_span(&st->ids, st->has_parent);
	u32 n = mlen > GRPC_CLIENT_METHOD_LEN ? GRPC_CLIENT_METHOD_LEN : (mlen < 0 ? 0 : (u32)mlen);
	st->method_len = 0;
	if (n > 0 && n <= GRPC_CLIENT_METHOD_LEN && bpf_probe_read_user(st->method, n, (void *)mptr) == 0)
		st->method_len = (u16)n;
	bpf_map_update_elem(&grpc_client_rpcs, &key, st, BPF_ANY);
}

// grpc.(*ClientConn).Invoke(ctx, method string, args, reply any, opts ...CallOption) error:
// cc in ax, ctx (itab, data) in bx/cx, method (ptr, len) in di/si.
SEC("uprobe/grpc_client_entry")
int uprobe_grpc_client_entry(struct pt_regs *ctx)
{
	struct go_offsets *off = probe_enter(ctx);
	if (!off)
		return 0;
	grpc_client_begin(off, ctx, GO_PARAM1(ctx), GO_PARAM4(ctx), (s64)GO_PARAM5(ctx));
	return 0;
}

// Whether a server span joined the RPC's span (STITCH_*).
static __always_inline u8 grpc_client_stitch_end(struct grpc_client_inflight *st)
{
	if (!st->has_stream)
		return STITCH_NONE;
	struct conn_client *c = bpf_map_lookup_elem(&grpc_client_by_stream, &st->stream);
	if (c && c->matched && __builtin_memcmp(c->sc.span_id, st->ids.span_id, 8) == 0)
		return STITCH_MATCHED;
	return STITCH_UNMATCHED;
}

// Sends the span of the RPC st that ended with the error (itab, data) and
// deletes its stitching entry.
static __always_inline void grpc_client_emit(struct go_offsets *off, u32 tgid, struct grpc_client_inflight *st, u64 err_itab, u64 err)
{
	struct grpc_client_event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e) {
		count_drop();
		goto out;
	}
	fill_header(&e->hdr, EVENT_GRPC_CLIENT, tgid, st->start_ns, &st->ids, st->has_parent);
	e->code = 0;
	if (err_itab) {
		// *status.Error{s *Status} (older grpc: {e *spb.Status}): grpc
		// returns its errors as these.
		e->code = GRPC_CODE_UNKNOWN_READ;
		if (err && known(off, GO_FIELD_GOOGLE_GOLANG_ORG_GRPC_INTERNAL_STATUS_ERROR_S) && known(off, GO_FIELD_GOOGLE_GOLANG_ORG_GRPC_INTERNAL_STATUS_STATUS_S))
			e->code = grpc_status_code(off, read_ptr(err + FIELD(off, GOOGLE_GOLANG_ORG_GRPC_INTERNAL_STATUS_ERROR_S)));
		else if (err && known(off, GO_FIELD_GOOGLE_GOLANG_ORG_GRPC_INTERNAL_STATUS_ERROR_E))
			e->code = grpc_status_message_code(off, read_ptr(err + FIELD(off, GOOGLE_GOLANG_ORG_GRPC_INTERNAL_STATUS_ERROR_E)));
	}
	u16 n = st->method_len;
	if (n > GRPC_CLIENT_METHOD_LEN)
		n = GRPC_CLIENT_METHOD_LEN;
	__builtin_memcpy(e->method, st->method, GRPC_CLIENT_METHOD_LEN);
	e->method_len = n;
	e->target_len = read_go_string(st->conn + FIELD(off, GOOGLE_GOLANG_ORG_GRPC_CLIENTCONN_TARGET), e->target, GRPC_CLIENT_TARGET_LEN);
	e->stitch = grpc_client_stitch_end(st);
	__builtin_memset(e->pad, 0, sizeof(e->pad));
	submit(e);
out:
	if (st->has_stream)
		grpc_forget_stream(&st->stream, st->ids.span_id);
}

// Invoke's result: error (itab, data) in ax/bx.
SEC("uprobe/grpc_client_return")
int uprobe_grpc_client_return(struct pt_regs *ctx)
{
	struct go_offsets *off = probe_enter(ctx);
	if (!off)
		return 0;
	struct goroutine_key key = current_goroutine(ctx);
	struct grpc_client_inflight *st = bpf_map_lookup_elem(&grpc_client_rpcs, &key);
	if (!st)
		return 0;
	grpc_client_emit(off, key.tgid, st, GO_PARAM1(ctx), GO_PARAM2(ctx));
	bpf_map_delete_elem(&grpc_client_rpcs, &key);
	return 0;
}

// ---------------------------------------------------------------------------
// Streaming RPCs: one CLIENT span per stream, from the entry of
// grpc.(*ClientConn).NewStream to the entry of (*clientStream).finish,
// which grpc calls once the stream ends (its last message read, an error,
// the context cancelled), on whatever goroutine saw the end, with the
// status as a *status.Error, or io.EOF (or nil) for OK. Not
// (*csAttempt).finish: grpc also ends an attempt it gives up before a
// (transparent) retry that way, with the given-up attempt's error. grpc
// calls clientStream.finish again when the stream was already finished
// (its context watcher, once the stream's context is cancelled at the
// end; RecvMsg after the end): the first call ends the span, the others
// find nothing. Between the two the span waits in grpc_client_streams
// under the stream (*clientStream). 4 hits per stream (NewStream entry and
// RET, 2 finish); a unary RPC ends through the same finish, which finds no
// entry for it (1 hit).

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, u64); // *clientStream
	__type(value, struct grpc_client_inflight);
} grpc_client_streams SEC(".maps");

// grpc.(*ClientConn).NewStream(ctx, desc *StreamDesc, method string, opts ...CallOption):
// cc in ax, ctx in bx/cx, desc in di, method (ptr, len) in si/r8.
SEC("uprobe/grpc_client_stream_entry")
int uprobe_grpc_client_stream_entry(struct pt_regs *ctx)
{
	struct go_offsets *off = probe_enter(ctx);
	if (!off)
		return 0;
	grpc_client_begin(off, ctx, GO_PARAM1(ctx), GO_PARAM5(ctx), (s64)ctx->r8);
	return 0;
}

// NewStream's results: ClientStream (itab, data) in ax/bx, error (itab,
// data) in cx/di. A stream that could not be created ends here; otherwise
// its span waits for the stream's finish, keyed by the *clientStream (an
// interceptor that returns a stream of its own leaves the span unended:
// the LRU map forgets it, and no span is sent).
SEC("uprobe/grpc_client_stream_return")
int uprobe_grpc_client_stream_return(struct pt_regs *ctx)
{
	struct go_offsets *off = probe_enter(ctx);
	if (!off)
		return 0;
	struct goroutine_key key = current_goroutine(ctx);
	struct grpc_client_inflight *st = bpf_map_lookup_elem(&grpc_client_rpcs, &key);
	if (!st)
		return 0;
	u64 cs = GO_PARAM2(ctx);
	// From v1.84 a *clientStreamWrapper whose ClientStream (itab, data) is
	// the *clientStream.
	if (cs && known(off, GO_FIELD_GOOGLE_GOLANG_ORG_GRPC_CLIENTSTREAMWRAPPER_CLIENTSTREAM))
		cs = read_ptr(cs + FIELD(off, GOOGLE_GOLANG_ORG_GRPC_CLIENTSTREAMWRAPPER_CLIENTSTREAM) + 8);
	if (GO_PARAM3(ctx) || !cs)
		grpc_client_emit(off, key.tgid, st, GO_PARAM3(ctx), GO_PARAM4(ctx));
	else
		bpf_map_update_elem(&grpc_client_streams, &cs, st, BPF_ANY);
	bpf_map_delete_elem(&grpc_client_rpcs, &key);
	return 0;
}

// is_io_eof tells whether the error (itab, data) is io.EOF, which
// clientStream.finish receives for a stream read to its end (OK): an
// *errors.errorString{s string} holding "EOF". A *status.Error (grpc's
// other errors) starts with a pointer, never followed by the length 3 and
// pointing at "EOF" in practice.
static __always_inline int is_io_eof(u64 err_itab, u64 err)
{
	if (!err_itab || !err)
		return 0;
	struct {
		u64 ptr;
		s64 len;
	} str = {};
	if (bpf_probe_read_user(&str, sizeof(str), (void *)err) || str.len != 3 || !str.ptr)
		return 0;
	char b[3] = {};
	if (bpf_probe_read_user(b, sizeof(b), (void *)str.ptr))
		return 0;
	return b[0] == 'E' && b[1] == 'O' && b[2] == 'F';
}

// grpc.(*clientStream).finish(err error): cs in ax, err (itab, data) in bx/cx.
SEC("uprobe/grpc_client_stream_finish")
int uprobe_grpc_client_stream_finish(struct pt_regs *ctx)
{
	struct go_offsets *off = probe_enter(ctx);
	if (!off)
		return 0;
	u64 cs = GO_PARAM1(ctx);
	if (!cs)
		return 0;
	struct grpc_client_inflight *st = bpf_map_lookup_elem(&grpc_client_streams, &cs);
	if (!st)
		return 0;
	// grpc can call finish on two goroutines at once (a cancelled stream:
	// the caller's failed read and the context watcher), and this probe
	// runs before finish's own lock: both runs may find the stream. Only
	// the run whose delete removes it sends the span, from a copy taken
	// before the delete.
	u32 zero = 0;
	struct grpc_client_inflight *cp = bpf_map_lookup_elem(&grpc_client_scratch, &zero);
	if (!cp)
		return 0;
	__builtin_memcpy(cp, st, sizeof(*cp));
	if (bpf_map_delete_elem(&grpc_client_streams, &cs))
		return 0;
	u64 err_itab = GO_PARAM2(ctx), err = GO_PARAM3(ctx);
	if (is_io_eof(err_itab, err))
		err_itab = err = 0;
	grpc_client_emit(off, (u32)(bpf_get_current_pid_tgid() >> 32), cp, err_itab, err);
	return 0;
}
