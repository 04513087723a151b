//go:build ignore

// The sarama consumer probe: one CONSUMER span ("receive") per message
// github.com/IBM/sarama's (and github.com/Shopify/sarama's) partition
// consumer fetches, 2 hits per fetched batch whatever its size: the entry
// and one RET of (*partitionConsumer).parseResponse, which turns one
// partition's part of a fetch response into the []*ConsumerMessage that
// sarama then feeds, one by one through a channel, to the application
// (a consumer group's ConsumeClaim reading claim.Messages(), or a
// PartitionConsumer's Messages()). A bpf_loop over the returned slice
// sends one event per message (at most SARAMA_MAX_BATCH; the rest are
// counted in the receiver's dropped-events counter).
//
// The span covers the parsing of the batch (all the batch's spans share it)
// and has no ambient parent: it runs on sarama's own feeding goroutine, not
// the application's. A `traceparent` header the producing application set
// in the message (among its first SARAMA_MAX_HEADERS) makes it a child of
// that span. It carries the message's topic, partition and offset (the
// receiver joins it to the producer's span of the same message) and the
// consumer group's name, noted at (*consumerGroup).Consume's entry (1 hit
// per consumer group session) under the group's *consumer, which every
// partition consumer of the group points to.

#include "goebpf.h"
#include "event.h"
#include "go_mem.h"
#include "go_offsets.h"
#include "goroutines.h"
#include "propagation.h"
#include <bpf/bpf_helpers.h>

#define SARAMA_CONSUMER_TOPIC_LEN 128
#define SARAMA_GROUP_LEN 64
#define SARAMA_MAX_BATCH 4096
#define SARAMA_MAX_HEADERS 4
#define SARAMA_TRACEPARENT_LEN 55

struct sarama_consumer_inflight {
	u64 start_ns;
	u64 child; // *partitionConsumer
};

struct sarama_group_name {
	u16 len;
	char name[SARAMA_GROUP_LEN];
};

struct sarama_consumer_event {
	struct event_header hdr;
	s64 partition;
	s64 offset;
	u64 batch; // messages in the fetched batch
	u16 topic_len;
	u16 group_len;
	u32 pad;
	char topic[SARAMA_CONSUMER_TOPIC_LEN];
	char group[SARAMA_GROUP_LEN];
};

const struct sarama_consumer_event *unused_sarama_consumer_event __attribute__((unused));

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 8192);
	__type(key, struct goroutine_key);
	__type(value, struct sarama_consumer_inflight);
} sarama_consumer_calls SEC(".maps");

// A consumer group's name by its *consumer: the key is the process's tgid
// and the pointer (a goroutine_key, so that the loader clears a process's
// entries when it exits, as for its goroutines).
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 1024);
	__type(key, struct goroutine_key);
	__type(value, struct sarama_group_name);
} sarama_consumer_groups SEC(".maps");

// What the per-message loop needs.
struct sarama_batch {
	u64 msgs;  // the slice's array of *ConsumerMessage
	u64 n;     // its length
	u64 start_ns;
	u32 tgid;
	u16 topic_len;
	u16 group_len;
	u64 topic_off, partition_off, offset_off;
	u64 headers_off, key_off, value_off; // known when has_headers
	u8 has_headers;
	char topic[SARAMA_CONSUMER_TOPIC_LEN];
	char group[SARAMA_GROUP_LEN];
};

// Scratch space for the batch (too large for the stack), one per CPU.
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, u32);
	__type(value, struct sarama_batch);
} sarama_batch_scratch SEC(".maps");

struct sarama_byte_slice {
	u64 ptr;
	s64 len;
	s64 cap;
};

// Looks for a traceparent header among the first SARAMA_MAX_HEADERS of
// message m (ConsumerMessage.Headers, a []*RecordHeader) and, when valid,
// puts its trace and parent span ids into ids; returns 1 then.
static __always_inline int sarama_find_traceparent(struct sarama_batch *b, u64 m, struct span_ids *ids)
{
	struct sarama_byte_slice hs = {};
	if (bpf_probe_read_user(&hs, sizeof(hs), (void *)(m + b->headers_off)) || !hs.ptr || hs.len <= 0)
		return 0;
	u32 zero = 0;
	u8 *buf = bpf_map_lookup_elem(&head_scratch, &zero);
	if (!buf)
		return 0;
#pragma unroll
	for (int i = 0; i < SARAMA_MAX_HEADERS; i++) {
		if (i >= hs.len)
			break;
		u64 h = read_ptr(hs.ptr + (u64)i * 8);
		if (!h)
			continue;
		struct sarama_byte_slice key = {};
		if (bpf_probe_read_user(&key, sizeof(key), (void *)(h + b->key_off)) || key.len != 11 || !key.ptr)
			continue;
		u8 k[11] = {};
		if (bpf_probe_read_user(k, sizeof(k), (void *)key.ptr) || __builtin_memcmp(k, "traceparent", 11) != 0)
			continue;
		struct sarama_byte_slice v = {};
		if (bpf_probe_read_user(&v, sizeof(v), (void *)(h + b->value_off)) || v.len < SARAMA_TRACEPARENT_LEN || !v.ptr)
			return 0;
		if (bpf_probe_read_user(buf, SARAMA_TRACEPARENT_LEN, (void *)v.ptr))
			return 0;
		struct head_scan s = {.buf = buf, .len = SARAMA_TRACEPARENT_LEN, .ids = ids};
		return parse_traceparent(&s, 0);
	}
	return 0;
}

// bpf_loop callback: the span of message idx of the batch in the scratch
// space (bpf_loop's context must be on the stack: it is not used).
static long sarama_message_span(u32 idx, void *data)
{
	u32 zero = 0;
	struct sarama_batch *b = bpf_map_lookup_elem(&sarama_batch_scratch, &zero);
	if (!b)
		return 1;
	u64 m = 0;
	if (bpf_probe_read_user(&m, sizeof(m), (void *)(b->msgs + (u64)idx * 8)) || !m)
		return 0;
	struct sarama_consumer_event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e) {
		count_drop();
		return 0;
	}
	__s32 p = -1;
	e->offset = -1;
	bpf_probe_read_user(&p, sizeof(p), (void *)(m + b->partition_off));
	bpf_probe_read_user(&e->offset, sizeof(e->offset), (void *)(m + b->offset_off));
	e->partition = p;
	e->batch = b->n;
	e->pad = 0;
	e->topic_len = b->topic_len > SARAMA_CONSUMER_TOPIC_LEN ? SARAMA_CONSUMER_TOPIC_LEN : b->topic_len;
	e->group_len = b->group_len > SARAMA_GROUP_LEN ? SARAMA_GROUP_LEN : b->group_len;
	__builtin_memcpy(e->topic, b->topic, SARAMA_CONSUMER_TOPIC_LEN);
	__builtin_memcpy(e->group, b->group, SARAMA_GROUP_LEN);
	// A traceparent the producing application put in the message makes
	// the span its child, in the producer's trace.
	struct span_ids ids = {};
	u8 has_parent = b->has_headers && sarama_find_traceparent(b, m, &ids);
	new_span(&ids, has_parent);
	fill_header(&e->hdr, EVENT_SARAMA_CONSUMER, b->tgid, b->start_ns, &ids, has_parent);
	submit(e);
	return 0;
}

// (*consumerGroup).Consume(ctx, topics, handler): c in ax.
SEC("uprobe/sarama_group_consume_entry")
int uprobe_sarama_group_consume_entry(struct pt_regs *ctx)
{
	struct go_offsets *off = probe_enter(ctx);
	if (!off)
		return 0;
	if (!known(off, GO_FIELD_GITHUB_COM_IBM_SARAMA_CONSUMERGROUP_CONSUMER) || !known(off, GO_FIELD_GITHUB_COM_IBM_SARAMA_CONSUMERGROUP_GROUPID))
		return 0;
	u64 c = GO_PARAM1(ctx);
	if (!c)
		return 0;
	struct goroutine_key key = current_goroutine(ctx);
	// The Consumer interface's data word: the group's *consumer.
	key.g = read_ptr(c + FIELD(off, GITHUB_COM_IBM_SARAMA_CONSUMERGROUP_CONSUMER) + 8);
	if (!key.g)
		return 0;
	struct sarama_group_name g = {};
	g.len = read_go_string(c + FIELD(off, GITHUB_COM_IBM_SARAMA_CONSUMERGROUP_GROUPID), g.name, SARAMA_GROUP_LEN);
	bpf_map_update_elem(&sarama_consumer_groups, &key, &g, BPF_ANY);
	return 0;
}

// (*partitionConsumer).parseResponse(response *FetchResponse)
// ([]*ConsumerMessage, error): child in ax.
SEC("uprobe/sarama_parse_entry")
int uprobe_sarama_parse_entry(struct pt_regs *ctx)
{
	struct go_offsets *off = probe_enter(ctx);
	if (!off)
		return 0;
	if (!known(off, GO_FIELD_GITHUB_COM_IBM_SARAMA_CONSUMERMESSAGE_TOPIC) || !known(off, GO_FIELD_GITHUB_COM_IBM_SARAMA_CONSUMERMESSAGE_PARTITION) ||
	    !known(off, GO_FIELD_GITHUB_COM_IBM_SARAMA_CONSUMERMESSAGE_OFFSET))
		return 0;
	struct goroutine_key key = current_goroutine(ctx);
	struct sarama_consumer_inflight st = {
		.start_ns = bpf_ktime_get_boot_ns(),
		.child = GO_PARAM1(ctx),
	};
	bpf_map_update_elem(&sarama_consumer_calls, &key, &st, BPF_ANY);
	return 0;
}

// parseResponse's results: the slice in ax/bx/cx, the error in di/si.
SEC("uprobe/sarama_parse_return")
int uprobe_sarama_parse_return(struct pt_regs *ctx)
{
	struct go_offsets *off = probe_enter(ctx);
	if (!off)
		return 0;
	struct goroutine_key key = current_goroutine(ctx);
	struct sarama_consumer_inflight *stp = bpf_map_lookup_elem(&sarama_consumer_calls, &key);
	if (!stp)
		return 0;
	struct sarama_consumer_inflight st = *stp;
	bpf_map_delete_elem(&sarama_consumer_calls, &key);
	u64 msgs = GO_PARAM1(ctx);
	s64 n = (s64)GO_PARAM2(ctx);
	if (!msgs || n <= 0)
		return 0; // nothing fetched, or an error
	u32 zero = 0;
	struct sarama_batch *b = bpf_map_lookup_elem(&sarama_batch_scratch, &zero);
	if (!b)
		return 0;
	b->msgs = msgs;
	b->n = (u64)n;
	b->start_ns = st.start_ns;
	b->tgid = key.tgid;
	b->topic_off = FIELD(off, GITHUB_COM_IBM_SARAMA_CONSUMERMESSAGE_TOPIC);
	b->partition_off = FIELD(off, GITHUB_COM_IBM_SARAMA_CONSUMERMESSAGE_PARTITION);
	b->offset_off = FIELD(off, GITHUB_COM_IBM_SARAMA_CONSUMERMESSAGE_OFFSET);
	b->has_headers = known(off, GO_FIELD_GITHUB_COM_IBM_SARAMA_CONSUMERMESSAGE_HEADERS) &&
			 known(off, GO_FIELD_GITHUB_COM_IBM_SARAMA_RECORDHEADER_KEY) && known(off, GO_FIELD_GITHUB_COM_IBM_SARAMA_RECORDHEADER_VALUE);
	b->headers_off = FIELD(off, GITHUB_COM_IBM_SARAMA_CONSUMERMESSAGE_HEADERS);
	b->key_off = FIELD(off, GITHUB_COM_IBM_SARAMA_RECORDHEADER_KEY);
	b->value_off = FIELD(off, GITHUB_COM_IBM_SARAMA_RECORDHEADER_VALUE);
	// Every message of the batch is of the child's topic: read it once.
	b->topic_len = read_go_string(read_ptr(msgs) + b->topic_off, b->topic, SARAMA_CONSUMER_TOPIC_LEN);
	b->group_len = 0;
	if (st.child && known(off, GO_FIELD_GITHUB_COM_IBM_SARAMA_PARTITIONCONSUMER_CONSUMER)) {
		struct goroutine_key gk = {.tgid = key.tgid};
		gk.g = read_ptr(st.child + FIELD(off, GITHUB_COM_IBM_SARAMA_PARTITIONCONSUMER_CONSUMER));
		struct sarama_group_name *g = gk.g ? bpf_map_lookup_elem(&sarama_consumer_groups, &gk) : 0;
		if (g) {
			u16 gl = g->len > SARAMA_GROUP_LEN ? SARAMA_GROUP_LEN : g->len;
			b->group_len = gl;
			__builtin_memcpy(b->group, g->name, SARAMA_GROUP_LEN);
		}
	}
	u32 count = n > SARAMA_MAX_BATCH ? SARAMA_MAX_BATCH : (u32)n;
	u64 unused = 0;
	bpf_loop(count, sarama_message_span, &unused, 0);
	if (n > count) {
		// Beyond the limit: counted as dropped, one per message.
		u64 *v = bpf_map_lookup_elem(&ringbuf_drops, &zero);
		if (v)
			*v += (u64)n - count;
	}
	return 0;
}
