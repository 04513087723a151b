//go:build ignore

// The sarama producer probe: one PRODUCER span per call of
// github.com/IBM/sarama's (and github.com/Shopify/sarama's) SyncProducer
// SendMessage or SendMessages, 2 hits per call (the entry and one RET),
// whatever the number of messages.
//
// At entry the topic (the first message's Topic) and the number of
// messages are noted; the span's parent is the span the calling goroutine
// works for (goroutines.h). SendMessage returns the partition and offset
// the broker gave the message (in registers): the span carries them, so
// the receiver can join a consumer span of the same message to it. After a
// one-message SendMessages the message's Partition and Offset fields hold
// them (sarama fills them in before it acknowledges the message).

#include "goebpf.h"
#include "event.h"
#include "go_mem.h"
#include "go_offsets.h"
#include "goroutines.h"
#include "propagation.h"
#include <bpf/bpf_helpers.h>

#define SARAMA_TOPIC_LEN 128

struct sarama_producer_inflight {
	u64 start_ns;
	u64 messages;
	u64 first; // *ProducerMessage of a one-message SendMessages, else 0
	struct span_ids ids;
	u8 has_parent;
	u8 pad;
	u16 topic_len;
	u32 pad2;
	char topic[SARAMA_TOPIC_LEN];
};

struct sarama_producer_event {
	struct event_header hdr;
	s64 partition; // the broker's partition and offset (has_coords)
	s64 offset;
	u64 messages;  // messages given
	u8 has_error;  // the call returned a non-nil error
	u8 has_coords; // partition and offset are set
	u16 topic_len; // bytes of topic copied
	u32 pad;
	char topic[SARAMA_TOPIC_LEN];
};

const struct sarama_producer_event *unused_sarama_producer_event __attribute__((unused));

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 8192);
	__type(key, struct goroutine_key);
	__type(value, struct sarama_producer_inflight);
} sarama_producer_calls SEC(".maps");

static __always_inline int sarama_producer_known(struct go_offsets *off)
{
	return known(off, GO_FIELD_GITHUB_COM_IBM_SARAMA_PRODUCERMESSAGE_TOPIC) &&
	       known(off, GO_FIELD_GITHUB_COM_IBM_SARAMA_PRODUCERMESSAGE_OFFSET) &&
	       known(off, GO_FIELD_GITHUB_COM_IBM_SARAMA_PRODUCERMESSAGE_PARTITION);
}

static __always_inline void sarama_produce_begin(struct pt_regs *ctx, struct go_offsets *off, u64 msg, u64 messages, u64 first)
{
	struct sarama_producer_inflight st = {};
	struct goroutine_key key = current_goroutine(ctx);
	st.start_ns = bpf_ktime_get_boot_ns();
	st.messages = messages;
	st.first = first;
	if (msg)
		st.topic_len = read_go_string(msg + FIELD(off, GITHUB_COM_IBM_SARAMA_PRODUCERMESSAGE_TOPIC), st.topic, SARAMA_TOPIC_LEN);
	st.has_parent = inherit_span(off, &key, &st.ids);
	new_span(&st.ids, st.has_parent);
	bpf_map_update_elem(&sarama_producer_calls, &key, &st, BPF_ANY);
}

// Sends the span of the call the goroutine is in; coords: 1 when partition
// and offset are the message's.
static __always_inline void sarama_produce_end(struct pt_regs *ctx, u8 has_error, u8 coords, s64 partition, s64 offset)
{
	struct goroutine_key key = current_goroutine(ctx);
	struct sarama_producer_inflight *st = bpf_map_lookup_elem(&sarama_producer_calls, &key);
	if (!st)
		return;
	struct sarama_producer_event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e) {
		count_drop();
		goto out;
	}
	fill_header(&e->hdr, EVENT_SARAMA_PRODUCER, key.tgid, st->start_ns, &st->ids, st->has_parent);
	e->messages = st->messages;
	e->has_error = has_error;
	e->has_coords = coords;
	e->partition = partition;
	e->offset = offset;
	e->pad = 0;
	u16 n = st->topic_len;
	e->topic_len = n > SARAMA_TOPIC_LEN ? SARAMA_TOPIC_LEN : n;
	__builtin_memcpy(e->topic, st->topic, SARAMA_TOPIC_LEN);
	submit(e);
out:
	bpf_map_delete_elem(&sarama_producer_calls, &key);
}

// (*syncProducer).SendMessage(msg *ProducerMessage) (partition int32,
// offset int64, err error): sp in ax, msg in bx.
SEC("uprobe/sarama_send_entry")
int uprobe_sarama_send_entry(struct pt_regs *ctx)
{
	struct go_offsets *off = probe_enter(ctx);
	if (!off || !sarama_producer_known(off))
		return 0;
	sarama_produce_begin(ctx, off, GO_PARAM2(ctx), 1, 0);
	return 0;
}

// SendMessage's results: partition in ax (int32), offset in bx, the
// error in cx/di (-1, -1 with an error).
SEC("uprobe/sarama_send_return")
int uprobe_sarama_send_return(struct pt_regs *ctx)
{
	struct go_offsets *off = probe_enter(ctx);
	if (!off)
		return 0;
	u8 has_error = GO_PARAM3(ctx) != 0;
	s64 partition = (s64)(__s32)(u32)GO_PARAM1(ctx);
	s64 offset = (s64)GO_PARAM2(ctx);
	sarama_produce_end(ctx, has_error, !has_error && partition >= 0 && offset >= 0, partition, offset);
	return 0;
}

// (*syncProducer).SendMessages(msgs []*ProducerMessage) error: sp in ax,
// msgs in bx/cx/di (pointer, length, capacity).
SEC("uprobe/sarama_send_many_entry")
int uprobe_sarama_send_many_entry(struct pt_regs *ctx)
{
	struct go_offsets *off = probe_enter(ctx);
	if (!off || !sarama_producer_known(off))
		return 0;
	u64 msgs = GO_PARAM2(ctx);
	s64 n = (s64)GO_PARAM3(ctx);
	u64 first = 0;
	if (msgs && n > 0)
		first = read_ptr(msgs);
	sarama_produce_begin(ctx, off, first, n > 0 ? (u64)n : 0, n == 1 ? first : 0);
	return 0;
}

// SendMessages' result: the error in ax/bx. A one-message call's
// coordinates are read from the message.
SEC("uprobe/sarama_send_many_return")
int uprobe_sarama_send_many_return(struct pt_regs *ctx)
{
	struct go_offsets *off = probe_enter(ctx);
	if (!off)
		return 0;
	u8 has_error = GO_PARAM1(ctx) != 0;
	s64 partition = -1, offset = -1;
	if (!has_error) {
		struct goroutine_key key = current_goroutine(ctx);
		struct sarama_producer_inflight *st = bpf_map_lookup_elem(&sarama_producer_calls, &key);
		if (st && st->first) {
			__s32 p = -1;
			bpf_probe_read_user(&p, sizeof(p), (void *)(st->first + FIELD(off, GITHUB_COM_IBM_SARAMA_PRODUCERMESSAGE_PARTITION)));
			bpf_probe_read_user(&offset, sizeof(offset), (void *)(st->first + FIELD(off, GITHUB_COM_IBM_SARAMA_PRODUCERMESSAGE_OFFSET)));
			partition = p;
		}
	}
	sarama_produce_end(ctx, has_error, !has_error && partition >= 0 && offset >= 0, partition, offset);
	return 0;
}

// The AsyncProducer. The application hands a message over by a channel
// send on Input(), which no probe sees; every message then leaves sarama
// through one of three real (never inlined) calls, once per batch of a
// partition, whatever the batch's size:
//   (*asyncProducer).returnSuccesses(batch []*ProducerMessage): the broker
//     acknowledged the batch; each message's Partition and Offset are set;
//   (*asyncProducer).returnErrors(batch, err) (v1.41 on; returnError, a
//     one-message wrapper, is inlined into its callers and calls it);
//   (*asyncProducer).returnError(msg, err) (v1.40 and Shopify v1.38, where
//     returnErrors is the inlined loop calling it).
// At the entry of each, one PRODUCER span per message is sent (bpf_loop),
// except for the messages a SyncProducer sent (their expectation channel
// is set): the sync probe above has their span. It ends there. Its
// parent: a valid traceparent header the application put among the
// message's first 4 headers (ProducerMessage.Headers); else none (nothing
// links the channel send to the goroutine that made it), in a new trace.
//
// Start of an acknowledged message's span: when its batch's request began
// to be built, (*produceSet).buildRequest's entry (1 hit per request),
// noted by the set's address and taken, on the broker producer's
// goroutine, at (*brokerProducer).handleSuccess's entry (1 hit per
// response), whose returnSuccesses calls (the only ones) follow on the
// same goroutine. handleSuccess's response is nil when RequiredAcks is
// NoResponse: the messages' offsets were then never set, and their spans
// carry no coordinates. A failed message's span has no batch start (most
// failures happen before any request): it starts and ends at the failure.

#define SARAMA_ASYNC_MAX_MESSAGES 1024

struct sarama_build_key {
	u32 tgid;
	u32 pad;
	u64 set; // *produceSet
};

// When each produce set's request began to be built.
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 8192);
	__type(key, struct sarama_build_key);
	__type(value, u64);
} sarama_async_builds SEC(".maps");

struct sarama_async_ack {
	u64 start_ns;    // the acknowledged batch's buildRequest, 0 if unseen
	u8 no_response;  // RequiredAcks NoResponse: no offsets
	u8 pad[7];
};

// The response the broker producer's goroutine is handling.
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 8192);
	__type(key, struct goroutine_key);
	__type(value, struct sarama_async_ack);
} sarama_async_acks SEC(".maps");

struct sarama_async_walk {
	u64 msgs;    // *[]*ProducerMessage's array, or 0 with one message
	u64 one;     // the message of returnError
	u64 topic_off, partition_off, offset_off, expectation_off;
	u64 start_ns; // 0: the span starts when it ends
	u64 headers_off, key_off, value_off;
	u8 has_headers; // the three offsets are known
	u8 pad[3];
	u32 tgid;
	u8 has_error;
	u8 no_coords;
};

#define SARAMA_PRODUCER_MAX_HEADERS 4
#define SARAMA_PRODUCER_TRACEPARENT_LEN 55
#define SARAMA_RECORD_HEADER_SIZE 48 // RecordHeader{Key, Value []byte}

struct sarama_producer_bytes {
	u64 ptr;
	s64 len;
	s64 cap;
};

// Looks for a traceparent header among the first
// SARAMA_PRODUCER_MAX_HEADERS of message msg (ProducerMessage.Headers, a
// []RecordHeader) and, when valid, puts its trace and parent span ids
// into ids; returns 1 then.
static __always_inline int sarama_producer_traceparent(struct sarama_async_walk *w, u64 msg, struct span_ids *ids)
{
	struct sarama_producer_bytes hs = {};
	if (bpf_probe_read_user(&hs, sizeof(hs), (void *)(msg + w->headers_off)) || !hs.ptr || hs.len <= 0)
		return 0;
	u32 zero = 0;
	u8 *buf = bpf_map_lookup_elem(&head_scratch, &zero);
	if (!buf)
		return 0;
#pragma unroll
	for (int i = 0; i < SARAMA_PRODUCER_MAX_HEADERS; i++) {
		if (i >= hs.len)
			break;
		u64 h = hs.ptr + (u64)i * SARAMA_RECORD_HEADER_SIZE;
		struct sarama_producer_bytes key = {};
		if (bpf_probe_read_user(&key, sizeof(key), (void *)(h + w->key_off)) || key.len != 11 || !key.ptr)
			continue;
		u8 k[11] = {};
		if (bpf_probe_read_user(k, sizeof(k), (void *)key.ptr) || __builtin_memcmp(k, "traceparent", 11) != 0)
			continue;
		struct sarama_producer_bytes v = {};
		if (bpf_probe_read_user(&v, sizeof(v), (void *)(h + w->value_off)) || v.len < SARAMA_PRODUCER_TRACEPARENT_LEN || !v.ptr)
			return 0;
		if (bpf_probe_read_user(buf, SARAMA_PRODUCER_TRACEPARENT_LEN, (void *)v.ptr))
			return 0;
		struct head_scan s = {.buf = buf, .len = SARAMA_PRODUCER_TRACEPARENT_LEN, .ids = ids};
		return parse_traceparent(&s, 0);
	}
	return 0;
}

static __always_inline void sarama_async_message(struct sarama_async_walk *w, u64 msg)
{
	if (!msg)
		return;
	u64 expectation = read_ptr(msg + w->expectation_off);
	if (expectation)
		return; // a SyncProducer's message
	struct sarama_producer_event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e) {
		count_drop();
		return;
	}
	struct span_ids ids = {};
	u8 has_parent = w->has_headers && sarama_producer_traceparent(w, msg, &ids);
	new_span(&ids, has_parent);
	u64 now = bpf_ktime_get_boot_ns();
	u64 start = w->start_ns && w->start_ns <= now ? w->start_ns : now;
	fill_header(&e->hdr, EVENT_SARAMA_PRODUCER, w->tgid, start, &ids, has_parent);
	e->hdr.end_ns = now;
	e->messages = 1;
	e->has_error = w->has_error;
	e->pad = 0;
	__s32 p = -1;
	s64 offset = -1;
	if (!w->has_error && !w->no_coords) {
		bpf_probe_read_user(&p, sizeof(p), (void *)(msg + w->partition_off));
		bpf_probe_read_user(&offset, sizeof(offset), (void *)(msg + w->offset_off));
	}
	e->partition = p;
	e->offset = offset;
	e->has_coords = !w->has_error && !w->no_coords && p >= 0 && offset >= 0;
	__builtin_memset(e->topic, 0, SARAMA_TOPIC_LEN);
	e->topic_len = read_go_string(msg + w->topic_off, e->topic, SARAMA_TOPIC_LEN);
	submit(e);
}

// bpf_loop callback: message idx of a batch.
static long sarama_async_step(u32 idx, void *data)
{
	struct sarama_async_walk *w = data;
	sarama_async_message(w, read_ptr(w->msgs + (u64)idx * 8));
	return 0;
}

static __always_inline int sarama_async_known(struct go_offsets *off)
{
	return sarama_producer_known(off) && known(off, GO_FIELD_GITHUB_COM_IBM_SARAMA_PRODUCERMESSAGE_EXPECTATION);
}

static __always_inline void sarama_async_batch(struct go_offsets *off, u64 msgs, s64 n, u64 one, u8 has_error, struct sarama_async_ack *ack)
{
	struct sarama_async_walk w = {
		.msgs = msgs,
		.one = one,
		.topic_off = FIELD(off, GITHUB_COM_IBM_SARAMA_PRODUCERMESSAGE_TOPIC),
		.partition_off = FIELD(off, GITHUB_COM_IBM_SARAMA_PRODUCERMESSAGE_PARTITION),
		.offset_off = FIELD(off, GITHUB_COM_IBM_SARAMA_PRODUCERMESSAGE_OFFSET),
		.expectation_off = FIELD(off, GITHUB_COM_IBM_SARAMA_PRODUCERMESSAGE_EXPECTATION),
		.tgid = bpf_get_current_pid_tgid() >> 32,
		.has_error = has_error,
	};
	if (known(off, GO_FIELD_GITHUB_COM_IBM_SARAMA_PRODUCERMESSAGE_HEADERS) && known(off, GO_FIELD_GITHUB_COM_IBM_SARAMA_RECORDHEADER_KEY) &&
	    known(off, GO_FIELD_GITHUB_COM_IBM_SARAMA_RECORDHEADER_VALUE)) {
		w.has_headers = 1;
		w.headers_off = FIELD(off, GITHUB_COM_IBM_SARAMA_PRODUCERMESSAGE_HEADERS);
		w.key_off = FIELD(off, GITHUB_COM_IBM_SARAMA_RECORDHEADER_KEY);
		w.value_off = FIELD(off, GITHUB_COM_IBM_SARAMA_RECORDHEADER_VALUE);
	}
	if (ack) {
		w.start_ns = ack->start_ns;
		w.no_coords = ack->no_response;
	}
	if (one) {
		sarama_async_message(&w, one);
		return;
	}
	if (!msgs || n <= 0)
		return;
	if (n > SARAMA_ASYNC_MAX_MESSAGES) {
		count_drop(); // the messages beyond the cap get no span
		n = SARAMA_ASYNC_MAX_MESSAGES;
	}
	bpf_loop((u32)n, sarama_async_step, &w, 0);
}

// (*asyncProducer).returnSuccesses(batch []*ProducerMessage): p in ax,
// batch in bx/cx/di.
SEC("uprobe/sarama_async_successes")
int uprobe_sarama_async_successes(struct pt_regs *ctx)
{
	struct go_offsets *off = probe_enter(ctx);
	if (!off || !sarama_async_known(off))
		return 0;
	struct goroutine_key key = current_goroutine(ctx);
	struct sarama_async_ack *ack = bpf_map_lookup_elem(&sarama_async_acks, &key);
	sarama_async_batch(off, GO_PARAM2(ctx), (s64)GO_PARAM3(ctx), 0, 0, ack);
	return 0;
}

// (*asyncProducer).returnErrors(batch []*ProducerMessage, err error): p in
// ax, batch in bx/cx/di, err in si/r8.
SEC("uprobe/sarama_async_errors")
int uprobe_sarama_async_errors(struct pt_regs *ctx)
{
	struct go_offsets *off = probe_enter(ctx);
	if (!off || !sarama_async_known(off))
		return 0;
	sarama_async_batch(off, GO_PARAM2(ctx), (s64)GO_PARAM3(ctx), 0, 1, 0);
	return 0;
}

// (*asyncProducer).returnError(msg *ProducerMessage, err error): p in ax,
// msg in bx, err in cx/di.
SEC("uprobe/sarama_async_error")
int uprobe_sarama_async_error(struct pt_regs *ctx)
{
	struct go_offsets *off = probe_enter(ctx);
	if (!off || !sarama_async_known(off))
		return 0;
	u64 msg = GO_PARAM2(ctx);
	if (msg)
		sarama_async_batch(off, 0, 0, msg, 1, 0);
	return 0;
}

// (*produceSet).buildRequest(): ps in ax.
SEC("uprobe/sarama_async_build")
int uprobe_sarama_async_build(struct pt_regs *ctx)
{
	struct go_offsets *off = probe_enter(ctx);
	if (!off)
		return 0;
	struct sarama_build_key k = {.tgid = bpf_get_current_pid_tgid() >> 32, .set = GO_PARAM1(ctx)};
	u64 now = bpf_ktime_get_boot_ns();
	bpf_map_update_elem(&sarama_async_builds, &k, &now, BPF_ANY);
	return 0;
}

// (*brokerProducer).handleSuccess(sent *produceSet, response
// *ProduceResponse): bp in ax, sent in bx, response in cx. Every call
// replaces the goroutine's record, so returnSuccesses never sees an older
// batch's.
SEC("uprobe/sarama_async_success")
int uprobe_sarama_async_success(struct pt_regs *ctx)
{
	struct go_offsets *off = probe_enter(ctx);
	if (!off)
		return 0;
	struct sarama_build_key k = {.tgid = bpf_get_current_pid_tgid() >> 32, .set = GO_PARAM2(ctx)};
	struct sarama_async_ack ack = {.no_response = GO_PARAM3(ctx) == 0};
	u64 *start = bpf_map_lookup_elem(&sarama_async_builds, &k);
	if (start) {
		ack.start_ns = *start;
		bpf_map_delete_elem(&sarama_async_builds, &k);
	}
	struct goroutine_key key = current_goroutine(ctx);
	bpf_map_update_elem(&sarama_async_acks, &key, &ack, BPF_ANY);
	return 0;
}
