//go:build ignore

// The kafka-go producer probe: one PRODUCER span per call of
// github.com/segmentio/kafka-go's (*Writer).WriteMessages, whatever the
// number of messages it is given (2 hits per call: the entry and one RET).
//
// At entry the topic (Writer.Topic, else the first message's Topic) and
// the number of messages are noted; the span's parent is the span the
// calling goroutine works for (goroutines.h). At return the error is
// noted. kafka-go hands the messages to its per-partition batching
// goroutines by value and never tells the caller the offsets the broker
// gave them, so the span carries no offset (see the receiver README).

#include "goebpf.h"
#include "event.h"
#include "go_mem.h"
#include "go_offsets.h"
#include "goroutines.h"
#include <bpf/bpf_helpers.h>

#define KAFKA_TOPIC_LEN 128

struct kafka_producer_inflight {
	u64 start_ns;
	u64 messages;
	struct span_ids ids;
	u8 has_parent;
	u8 pad;
	u16 topic_len;
	u32 pad2;
	char topic[KAFKA_TOPIC_LEN];
};

struct kafka_producer_event {
	struct event_header hdr;
	u64 messages;  // len(msgs)
	u8 has_error;  // WriteMessages returned a non-nil error
	u8 pad;
	u16 topic_len; // bytes of topic copied
	u32 pad2;
	char topic[KAFKA_TOPIC_LEN];
};

const struct kafka_producer_event *unused_kafka_producer_event __attribute__((unused));

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 8192);
	__type(key, struct goroutine_key);
	__type(value, struct kafka_producer_inflight);
} kafka_producer_calls SEC(".maps");

// (*Writer).WriteMessages(ctx context.Context, msgs ...Message) error: w in
// ax, ctx in bx/cx, msgs in di/si/r8 (pointer, length, capacity).
SEC("uprobe/kafka_produce_entry")
int uprobe_kafka_produce_entry(struct pt_regs *ctx)
{
	struct go_offsets *off = probe_enter(ctx);
	if (!off)
		return 0;
	if (!known(off, GO_FIELD_GITHUB_COM_SEGMENTIO_KAFKA_GO_WRITER_TOPIC) || !known(off, GO_FIELD_GITHUB_COM_SEGMENTIO_KAFKA_GO_MESSAGE_TOPIC))
		return 0;
	struct kafka_producer_inflight st = {};
	struct goroutine_key key = current_goroutine(ctx);
	st.start_ns = bpf_ktime_get_boot_ns();
	u64 w = GO_PARAM1(ctx);
	u64 msgs = GO_PARAM4(ctx);
	s64 n = (s64)GO_PARAM5(ctx);
	st.messages = n > 0 ? (u64)n : 0;
	if (w)
		st.topic_len = read_go_string(w + FIELD(off, GITHUB_COM_SEGMENTIO_KAFKA_GO_WRITER_TOPIC), st.topic, KAFKA_TOPIC_LEN);
	if (!st.topic_len && msgs && n > 0)
		st.topic_len = read_go_string(msgs + FIELD(off, GITHUB_COM_SEGMENTIO_KAFKA_GO_MESSAGE_TOPIC), st.topic, KAFKA_TOPIC_LEN);
	st.has_parent = inherit_span(off, &key, &st.ids);
	new_span(&st.ids, st.has_parent);
	bpf_map_update_elem(&kafka_producer_calls, &key, &st, BPF_ANY);
	return 0;
}

// WriteMessages' result: error in ax/bx.
SEC("uprobe/kafka_produce_return")
int uprobe_kafka_produce_return(struct pt_regs *ctx)
{
	struct go_offsets *off = probe_enter(ctx);
	if (!off)
		return 0;
	struct goroutine_key key = current_goroutine(ctx);
	struct kafka_producer_inflight *st = bpf_map_lookup_elem(&kafka_producer_calls, &key);
	if (!st)
		return 0;
	struct kafka_producer_event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e) {
		count_drop();
		goto out;
	}
	fill_header(&e->hdr, EVENT_KAFKA_PRODUCER, key.tgid, st->start_ns, &st->ids, st->has_parent);
	e->messages = st->messages;
	e->has_error = GO_PARAM1(ctx) != 0;
	e->pad = 0;
	e->pad2 = 0;
	u16 n = st->topic_len;
	e->topic_len = n > KAFKA_TOPIC_LEN ? KAFKA_TOPIC_LEN : n;
	__builtin_memcpy(e->topic, st->topic, KAFKA_TOPIC_LEN);
	submit(e);
out:
	bpf_map_delete_elem(&kafka_producer_calls, &key);
	return 0;
}
