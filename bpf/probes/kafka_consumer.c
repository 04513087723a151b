//go:build ignore

// The kafka-go consumer probe: one CONSUMER span ("receive") per message
// github.com/segmentio/kafka-go's (*Reader).FetchMessage returns
// (ReadMessage calls it), 2 hits per message: the entry and one RET.
//
// FetchMessage(ctx) (Message, error) returns its Message on the stack (the
// struct takes more than the 9 integer registers of the Go register ABI):
// at the RET the caller's result slot starts at sp+8. The error is in
// ax/bx. A fetch that returns an error (the reader closed, the context
// cancelled) received no message and gets no span.
//
// Parents: the span the calling goroutine works for, if any; a
// `traceparent` header the producing application set in the message
// (Message.Headers, the first KAFKA_MAX_HEADERS looked at) becomes the
// parent when there is no such span, else a link. A span with no ambient
// parent is made the goroutine's span until its next fetch, so what the
// consumer does with the message (a query, an HTTP call) is its child.

#include "goebpf.h"
#include "event.h"
#include "go_mem.h"
#include "go_offsets.h"
#include "goroutines.h"
#include <bpf/bpf_helpers.h>

#define KAFKA_CONSUMER_TOPIC_LEN 128
#define KAFKA_GROUP_LEN 64
#define KAFKA_MAX_HEADERS 8
#define TRACEPARENT_LEN 55

// kafka-go's Header (protocol.Header): {Key string; Value []byte}, the
// same in every v0.4 release.
#define KAFKA_HEADER_SIZE 40
#define KAFKA_HEADER_VALUE 16

struct kafka_consumer_inflight {
	u64 start_ns;
	u64 reader;
	struct span_ids ids;
	u8 has_parent;
};

struct kafka_consumer_event {
	struct event_header hdr;
	s64 partition;
	s64 offset;
	u8 link_trace_id[16];
	u8 link_span_id[8];
	u8 has_link;  // link_* hold the message's traceparent
	u8 pad;
	u16 topic_len;
	u16 group_len;
	u16 pad2;
	char topic[KAFKA_CONSUMER_TOPIC_LEN];
	char group[KAFKA_GROUP_LEN];
};

const struct kafka_consumer_event *unused_kafka_consumer_event __attribute__((unused));

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 8192);
	__type(key, struct goroutine_key);
	__type(value, struct kafka_consumer_inflight);
} kafka_consumer_calls SEC(".maps");

// The consumer span a goroutine was made to work for at its last fetch
// (cleared at its next fetch).
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 8192);
	__type(key, struct goroutine_key);
	__type(value, struct span_ids);
} kafka_consumer_spans SEC(".maps");

struct kafka_go_slice {
	u64 ptr;
	s64 len;
	s64 cap;
};

static __always_inline int kafka_hex(u8 c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

// Decodes "00-<32 hex>-<16 hex>-<2 hex>" into trace and span ids; returns
// 1 when valid (lower-case hex, ids not all zero).
static __always_inline int kafka_parse_traceparent(const u8 *s, u8 *trace_id, u8 *span_id)
{
	if (s[0] != '0' || s[1] != '0' || s[2] != '-' || s[35] != '-' || s[52] != '-')
		return 0;
	u8 any_t = 0, any_s = 0;
#pragma unroll
	for (int i = 0; i < 16; i++) {
		int hi = kafka_hex(s[3 + 2 * i]), lo = kafka_hex(s[4 + 2 * i]);
		if (hi < 0 || lo < 0)
			return 0;
		trace_id[i] = (u8)(hi << 4 | lo);
		any_t |= trace_id[i];
	}
#pragma unroll
	for (int i = 0; i < 8; i++) {
		int hi = kafka_hex(s[36 + 2 * i]), lo = kafka_hex(s[37 + 2 * i]);
		if (hi < 0 || lo < 0)
			return 0;
		span_id[i] = (u8)(hi << 4 | lo);
		any_s |= span_id[i];
	}
	return any_t && any_s;
}

// Looks for a traceparent header among the message's first headers.
static __always_inline int kafka_find_traceparent(u64 headers, s64 n, u8 *trace_id, u8 *span_id)
{
	u8 buf[64] = {};
#pragma unroll
	for (int i = 0; i < KAFKA_MAX_HEADERS; i++) {
		if (i >= n)
			break;
		u64 h = headers + (u64)i * KAFKA_HEADER_SIZE;
		struct go_string key = {};
		if (bpf_probe_read_user(&key, sizeof(key), (void *)h) || key.len != 11 || !key.ptr)
			continue;
		if (bpf_probe_read_user(buf, 11, (void *)key.ptr))
			continue;
		if (__builtin_memcmp(buf, "traceparent", 11) != 0)
			continue;
		struct kafka_go_slice v = {};
		if (bpf_probe_read_user(&v, sizeof(v), (void *)(h + KAFKA_HEADER_VALUE)) || v.len < TRACEPARENT_LEN || !v.ptr)
			return 0;
		if (bpf_probe_read_user(buf, TRACEPARENT_LEN, (void *)v.ptr))
			return 0;
		return kafka_parse_traceparent(buf, trace_id, span_id);
	}
	return 0;
}

// (*Reader).FetchMessage(ctx context.Context) (Message, error): r in ax.
SEC("uprobe/kafka_fetch_entry")
int uprobe_kafka_fetch_entry(struct pt_regs *ctx)
{
	struct go_offsets *off = probe_enter(ctx);
	if (!off)
		return 0;
	if (!known(off, GO_FIELD_GITHUB_COM_SEGMENTIO_KAFKA_GO_MESSAGE_TOPIC) || !known(off, GO_FIELD_GITHUB_COM_SEGMENTIO_KAFKA_GO_MESSAGE_PARTITION) ||
	    !known(off, GO_FIELD_GITHUB_COM_SEGMENTIO_KAFKA_GO_MESSAGE_OFFSET))
		return 0;
	struct goroutine_key key = current_goroutine(ctx);
	struct span_ids *prev = bpf_map_lookup_elem(&kafka_consumer_spans, &key);
	if (prev) {
		// The previous message's processing ends here.
		struct span_ids p = *prev;
		clear_goroutine_span(off, &key, &p);
		bpf_map_delete_elem(&kafka_consumer_spans, &key);
	}
	struct kafka_consumer_inflight st = {};
	st.start_ns = bpf_ktime_get_boot_ns();
	st.reader = GO_PARAM1(ctx);
	st.has_parent = inherit_span(off, &key, &st.ids);
	bpf_map_update_elem(&kafka_consumer_calls, &key, &st, BPF_ANY);
	return 0;
}

// FetchMessage's results: the Message at sp+8, the error in ax/bx.
SEC("uprobe/kafka_fetch_return")
int uprobe_kafka_fetch_return(struct pt_regs *ctx)
{
	struct go_offsets *off = probe_enter(ctx);
	if (!off)
		return 0;
	struct goroutine_key key = current_goroutine(ctx);
	struct kafka_consumer_inflight *stp = bpf_map_lookup_elem(&kafka_consumer_calls, &key);
	if (!stp)
		return 0;
	struct kafka_consumer_inflight st = *stp;
	bpf_map_delete_elem(&kafka_consumer_calls, &key);
	if (GO_PARAM1(ctx))
		return 0; // an error: no message
	struct kafka_consumer_event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e) {
		count_drop();
		return 0;
	}
	u64 m = ctx->sp + 8;
	e->pad = 0;
	e->pad2 = 0;
	e->partition = 0;
	e->offset = 0;
	bpf_probe_read_user(&e->partition, sizeof(e->partition), (void *)(m + FIELD(off, GITHUB_COM_SEGMENTIO_KAFKA_GO_MESSAGE_PARTITION)));
	bpf_probe_read_user(&e->offset, sizeof(e->offset), (void *)(m + FIELD(off, GITHUB_COM_SEGMENTIO_KAFKA_GO_MESSAGE_OFFSET)));
	e->topic_len = read_go_string(m + FIELD(off, GITHUB_COM_SEGMENTIO_KAFKA_GO_MESSAGE_TOPIC), e->topic, KAFKA_CONSUMER_TOPIC_LEN);
	e->group_len = 0;
	if (st.reader && known(off, GO_FIELD_GITHUB_COM_SEGMENTIO_KAFKA_GO_READER_CONFIG) &&
	    known(off, GO_FIELD_GITHUB_COM_SEGMENTIO_KAFKA_GO_READERCONFIG_GROUPID))
		e->group_len = read_go_string(st.reader + FIELD(off, GITHUB_COM_SEGMENTIO_KAFKA_GO_READER_CONFIG) +
						      FIELD(off, GITHUB_COM_SEGMENTIO_KAFKA_GO_READERCONFIG_GROUPID),
					      e->group, KAFKA_GROUP_LEN);
	__builtin_memset(e->link_trace_id, 0, 16);
	__builtin_memset(e->link_span_id, 0, 8);
	e->has_link = 0;
	u8 ambient = st.has_parent;
	struct kafka_go_slice hs = {};
	if (known(off, GO_FIELD_GITHUB_COM_SEGMENTIO_KAFKA_GO_MESSAGE_HEADERS))
		bpf_probe_read_user(&hs, sizeof(hs), (void *)(m + FIELD(off, GITHUB_COM_SEGMENTIO_KAFKA_GO_MESSAGE_HEADERS)));
	if (hs.ptr && hs.len > 0 && kafka_find_traceparent(hs.ptr, hs.len, e->link_trace_id, e->link_span_id)) {
		if (!st.has_parent) {
			// The producing application's span is the parent.
			__builtin_memcpy(st.ids.trace_id, e->link_trace_id, 16);
			__builtin_memcpy(st.ids.parent_span_id, e->link_span_id, 8);
			st.has_parent = 1;
			__builtin_memset(e->link_trace_id, 0, 16);
			__builtin_memset(e->link_span_id, 0, 8);
		} else {
			e->has_link = 1;
		}
	}
	new_span(&st.ids, st.has_parent);
	fill_header(&e->hdr, EVENT_KAFKA_CONSUMER, key.tgid, st.start_ns, &st.ids, st.has_parent);
	submit(e);
	if (!ambient) {
		// A consumer loop's goroutine: it works for this message until
		// its next fetch.
		set_goroutine_span(off, &key, &st.ids);
		bpf_map_update_elem(&kafka_consumer_spans, &key, &st.ids, BPF_ANY);
	}
	return 0;
}
