// Socket-level injection, the uprobe side (traces.propagation.inject).
//
// The inject object (receiver/ebpfreceiver/internal/inject) inserts a
// traceparent line into a plaintext HTTP/1.1 request at the socket layer,
// taking the context from its pending map, keyed by the connection's
// 4-tuple. The context must be there before the request's bytes are
// written, which happens on the transport's writeLoop goroutine moments
// after the client probe runs: too soon to go through user space. So the
// client probe offers it here, in the same map: the receiver creates the
// map with the inject object and hands it to this object
// (MapReplacements), which is why the key and value layouts below must
// stay byte for byte those of inject's conn_key and pending_ctx (struct
// conn_tuple from the client's side is exactly conn_key), and its
// live_conns map (key conn_key, value the socket cookie) is shared the
// same way. The sk_msg program uses a context only when its cookie is the
// sending socket's: the probe copies the cookie from live_conns, and
// offers nothing for a connection that is not there (not tracked, or
// already closing).
#ifndef GOEBPF_INJECT_H
#define GOEBPF_INJECT_H

#include "goebpf.h"
#include "event.h"
#include "stitch.h"
#include <bpf/bpf_helpers.h>

// Whether the client probe offers contexts (set at load when the injector
// opened).
volatile const u32 inject_enabled = 0;

#define INJECT_TRACEPARENT_LEN 55
// Where the span id's hex starts in "00-<32>-<16>-<2>".
#define INJECT_SPAN_HEX_AT 36

// inject's pending_ctx: 55 bytes of traceparent, one pad byte, then the
// socket cookie at offset 56 (64 bytes in all). Also the value type of
// app_contexts, where the sk_msg program leaves the cookie 0.
struct inject_pending_ctx {
	u8 traceparent[INJECT_TRACEPARENT_LEN];
	u8 pad;
	u64 cookie;
};
_Static_assert(sizeof(struct inject_pending_ctx) == 64, "inject_pending_ctx is inject's pending_ctx");
_Static_assert(__builtin_offsetof(struct inject_pending_ctx, cookie) == 56, "inject_pending_ctx is inject's pending_ctx");

const struct inject_pending_ctx *unused_inject_pending_ctx __attribute__((unused));

// Shared with the inject object (its map "pending"): same type, sizes,
// max_entries and flags, or the receiver cannot hand it over. Without
// injection the loader shrinks it to one entry.
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, struct conn_tuple);
	__type(value, struct inject_pending_ctx);
} inject_pending SEC(".maps");

// The traceparent the application sent itself on a connection, found by
// the inject object's sk_msg program in the request head (its map
// "app_contexts", handed over like inject_pending): the client span adopts
// it. Shrunk to one entry without injection.
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, struct conn_tuple);
	__type(value, struct inject_pending_ctx);
} inject_app_contexts SEC(".maps");

// The open tracked connections (inject's map "live_conns", handed over
// like inject_pending): the socket cookie by 4-tuple, entered when the
// connection is established on a tracked socket, removed at the first step
// of its close. Shrunk to one entry without injection.
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__type(key, struct conn_tuple);
	__type(value, u64);
} inject_live_conns SEC(".maps");

// Contexts the client probe withdrew because their request ended without
// being written on a tracked socket (index 0), offers the pending map
// refused because it was full (index 1), and offers not made because the
// connection is not in live_conns, not tracked or already closing (index
// 2).
enum inject_counter {
	INJECT_WITHDRAWN = 0,
	INJECT_OFFER_FAILED = 1,
	INJECT_NOT_TRACKED = 2,
	INJECT_COUNTERS = 3,
};

// Force the enum into BTF so bpf2go generates the indexes the receiver reads.
const enum inject_counter *unused_inject_counter __attribute__((unused));
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, INJECT_COUNTERS);
	__type(key, u32);
	__type(value, u64);
} inject_counters SEC(".maps");

static __always_inline void inject_count(u32 idx)
{
	u64 *v = bpf_map_lookup_elem(&inject_counters, &idx);
	if (v)
		__sync_fetch_and_add(v, 1);
}

static __always_inline void hex_bytes(u8 *dst, const u8 *src, int n)
{
	const char digits[] = "0123456789abcdef";
	for (int i = 0; i < n; i++) {
		dst[2 * i] = digits[src[i] >> 4];
		dst[2 * i + 1] = digits[src[i] & 0xf];
	}
}

// Offers the span's traceparent to the next request sent on connection t,
// with the connection's socket cookie; nothing when t is not an open
// tracked connection (the sk_msg program would never take the context:
// the socket is not in its sockhash, or it is closing).
static __always_inline void inject_offer(struct conn_tuple *t, struct span_ids *ids)
{
	u64 *live = bpf_map_lookup_elem(&inject_live_conns, t);
	if (!live) {
		inject_count(INJECT_NOT_TRACKED);
		return;
	}
	u64 cookie = *live;
	struct inject_pending_ctx p = {};
	p.cookie = cookie;
	p.traceparent[0] = '0';
	p.traceparent[1] = '0';
	p.traceparent[2] = '-';
	hex_bytes(p.traceparent + 3, ids->trace_id, 16);
	p.traceparent[35] = '-';
	hex_bytes(p.traceparent + INJECT_SPAN_HEX_AT, ids->span_id, 8);
	p.traceparent[52] = '-';
	// Sampled: the receiver records every span it makes.
	p.traceparent[53] = '0';
	p.traceparent[54] = '1';
	if (bpf_map_update_elem(&inject_pending, t, &p, BPF_ANY)) {
		inject_count(INJECT_OFFER_FAILED);
		return;
	}
	// The close callback leaves live_conns before it withdraws the
	// connection's context: gone now, it may have run before the update,
	// so the context is withdrawn here (as inject's SetPending does).
	live = bpf_map_lookup_elem(&inject_live_conns, t);
	if (!live || *live != cookie) {
		struct inject_pending_ctx *q = bpf_map_lookup_elem(&inject_pending, t);
		if (q && q->cookie == p.cookie)
			bpf_map_delete_elem(&inject_pending, t);
		inject_count(INJECT_NOT_TRACKED);
	}
}

// Withdraws the context of span span_id from connection t if no request
// took it (the request failed before it was written, or its socket is not
// tracked), so it can never go to a later request.
static __always_inline void inject_withdraw(struct conn_tuple *t, u8 *span_id)
{
	struct inject_pending_ctx *p = bpf_map_lookup_elem(&inject_pending, t);
	if (!p)
		return;
	u8 hex[16];
	hex_bytes(hex, span_id, 8);
	if (__builtin_memcmp(p->traceparent + INJECT_SPAN_HEX_AT, hex, 16) != 0)
		return;
	if (bpf_map_delete_elem(&inject_pending, t) == 0)
		inject_count(INJECT_WITHDRAWN);
}

static __always_inline int hex_nibble(u8 c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1; // W3C trace context: lower-case hex only
}

// Parses n bytes of lower-case hex at src into dst; 0 when valid and not
// all zero.
static __always_inline int parse_hex(u8 *dst, const u8 *src, int n)
{
	u8 any = 0;
	for (int i = 0; i < n; i++) {
		int hi = hex_nibble(src[2 * i]), lo = hex_nibble(src[2 * i + 1]);
		if (hi < 0 || lo < 0)
			return -1;
		dst[i] = (u8)(hi << 4 | lo);
		any |= dst[i];
	}
	return any ? 0 : -1;
}

// Forgets what the application sent on connection t for an earlier request.
static __always_inline void inject_forget_app_context(struct conn_tuple *t)
{
	bpf_map_delete_elem(&inject_app_contexts, t);
}

// When the application sent its own traceparent with this request on
// connection t (version 00, valid ids), makes ids a child of it: the
// client span takes the application's trace, the application's span as
// parent. Returns 1 when it did.
static __always_inline int inject_adopt_app_context(struct conn_tuple *t, struct span_ids *ids)
{
	struct inject_pending_ctx *p = bpf_map_lookup_elem(&inject_app_contexts, t);
	if (!p)
		return 0;
	struct inject_pending_ctx v = *p;
	bpf_map_delete_elem(&inject_app_contexts, t);
	u8 *tp = v.traceparent;
	if (tp[0] != '0' || tp[1] != '0' || tp[2] != '-' || tp[35] != '-' || tp[52] != '-')
		return 0;
	u8 trace_id[16], parent[8];
	if (parse_hex(trace_id, tp + 3, 16) || parse_hex(parent, tp + INJECT_SPAN_HEX_AT, 8))
		return 0;
	__builtin_memcpy(ids->trace_id, trace_id, 16);
	__builtin_memcpy(ids->parent_span_id, parent, 8);
	return 1;
}

#endif
