//go:build ignore

// The kafka-go producer probe: one PRODUCER span per call of
// github.com/segmentio/kafka-go's (*Writer).WriteMessages, whatever the
// number of messages it is given (2 hits per call: the entry and one RET).
//
// At entry the topic (Writer.Topic, else the first message's Topic) and
// the number of messages are noted; the span's parent is the span the
// calling goroutine works for (goroutines.h). At return the error is
// noted.
//
// Offsets (the kafka_offsets probe, programs below): kafka-go copies the
// messages by value into per-partition batches that a goroutine of its own
// sends; the broker's produce response gives the batch's base offset, and
// (*partitionWriter).writeBatch sets each message's Partition and Offset
// before it returns. The copies share the caller's Key and Value bytes, so
// the WriteMessages entry notes, for each message (bpf_loop, no extra
// hit), its Value (else Key) data pointer -> the producer span; the
// writeBatch entry notes the batch and its RET walks the batch's messages
// (bpf_loop), looks each one's span up and sends one kafka_offsets_event
// per run of consecutive messages of the same span: (topic, partition,
// first offset, count, span). The receiver joins consumer spans on them.
// It also leaves the span's partition and first offset where the
// WriteMessages return finds them (kafka_producer_results), so a
// synchronous call's span carries them. Hits: 2 per WriteMessages call,
// 2 per batch sent.

#include "goebpf.h"
#include "event.h"
#include "go_mem.h"
#include "go_offsets.h"
#include "goroutines.h"
#include <bpf/bpf_helpers.h>

#define KAFKA_TOPIC_LEN 128
// Messages of one call, and of one batch, that are mapped to their span.
#define KAFKA_MAX_MESSAGES 4096
// sizeof(kafka.Message): the same in every v0.4 release (Time, the last
// field, at 128; kafkago.TestLayoutRule checks it against DWARF).
#define KAFKA_MESSAGE_SIZE 152

// Set by the loader (traces.kafka.join): the WriteMessages entry notes
// each message's span for the offsets programs.
volatile const u32 kafka_note_messages = 0;

// A message's Value (else Key) bytes in the producing process.
struct kafka_message_key {
	u32 tgid;
	u32 pad;
	u64 data;
};

// The producer span of each message given to WriteMessages, until the
// batch that carries it completes.
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, struct kafka_message_key);
	__type(value, struct span_context);
} kafka_message_spans SEC(".maps");

// What completed batches said about a producer span's messages, by span
// id, until its WriteMessages returns.
struct kafka_produce_result {
	s64 partition; // -1: messages went to several partitions
	s64 offset;    // the first message's
	u64 count;     // messages whose offset is known
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 8192);
	__type(key, u64);
	__type(value, struct kafka_produce_result);
} kafka_producer_results SEC(".maps");

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
	s64 partition; // of the messages whose offset is known; -1 several
	s64 offset;    // the first message's offset, when offsets is not 0
	u64 offsets;   // messages whose offset a completed batch gave
	u8 has_error;  // WriteMessages returned a non-nil error
	u8 pad;
	u16 topic_len; // bytes of topic copied
	u32 pad2;
	char topic[KAFKA_TOPIC_LEN];
};

// One run of consecutive messages of a completed batch that one producer
// span sent: hdr.ids are the span's trace and span ids.
struct kafka_offsets_event {
	struct event_header hdr;
	s64 partition;
	s64 first_offset;
	u64 count;
	u16 topic_len;
	u16 pad;
	u32 pad2;
	char topic[KAFKA_TOPIC_LEN];
};

const struct kafka_offsets_event *unused_kafka_offsets_event __attribute__((unused));

const struct kafka_producer_event *unused_kafka_producer_event __attribute__((unused));

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 8192);
	__type(key, struct goroutine_key);
	__type(value, struct kafka_producer_inflight);
} kafka_producer_calls SEC(".maps");

struct kafka_note_messages {
	u64 msgs;
	u64 key_off;
	u64 value_off;
	u32 tgid;
	u32 pad;
	struct span_context span;
};

// A message's Value data pointer, else its Key's (0: neither).
static __always_inline u64 kafka_message_data(u64 m, u64 key_off, u64 value_off)
{
	struct go_string v = {}; // the slice's array and length
	if (!bpf_probe_read_user(&v, sizeof(v), (void *)(m + value_off)) && v.ptr && v.len > 0)
		return v.ptr;
	if (!bpf_probe_read_user(&v, sizeof(v), (void *)(m + key_off)) && v.ptr && v.len > 0)
		return v.ptr;
	return 0;
}

// bpf_loop callback: message idx of a WriteMessages call -> its span.
static long kafka_note_message(u32 idx, void *data)
{
	struct kafka_note_messages *s = data;
	struct kafka_message_key k = {.tgid = s->tgid};
	k.data = kafka_message_data(s->msgs + (u64)idx * KAFKA_MESSAGE_SIZE, s->key_off, s->value_off);
	if (k.data)
		bpf_map_update_elem(&kafka_message_spans, &k, &s->span, BPF_ANY);
	return 0;
}

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
	if (kafka_note_messages && msgs && n > 0 && known(off, GO_FIELD_GITHUB_COM_SEGMENTIO_KAFKA_GO_MESSAGE_KEY) &&
	    known(off, GO_FIELD_GITHUB_COM_SEGMENTIO_KAFKA_GO_MESSAGE_VALUE)) {
		struct kafka_note_messages s = {
			.msgs = msgs,
			.key_off = FIELD(off, GITHUB_COM_SEGMENTIO_KAFKA_GO_MESSAGE_KEY),
			.value_off = FIELD(off, GITHUB_COM_SEGMENTIO_KAFKA_GO_MESSAGE_VALUE),
			.tgid = key.tgid,
		};
		__builtin_memcpy(s.span.trace_id, st.ids.trace_id, 16);
		__builtin_memcpy(s.span.span_id, st.ids.span_id, 8);
		bpf_loop(n > KAFKA_MAX_MESSAGES ? KAFKA_MAX_MESSAGES : (u32)n, kafka_note_message, &s, 0);
	}
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
	e->partition = -1;
	e->offset = -1;
	e->offsets = 0;
	u64 sid = 0;
	__builtin_memcpy(&sid, st->ids.span_id, 8);
	struct kafka_produce_result *res = bpf_map_lookup_elem(&kafka_producer_results, &sid);
	if (res) {
		e->partition = res->partition;
		e->offset = res->offset;
		e->offsets = res->count;
		bpf_map_delete_elem(&kafka_producer_results, &sid);
	}
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

// The batch a goroutine of kafka-go's writer is sending.
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 8192);
	__type(key, struct goroutine_key);
	__type(value, u64);
} kafka_batch_calls SEC(".maps");

// (*partitionWriter).writeBatch(batch *writeBatch): ptw in ax, batch in bx.
SEC("uprobe/kafka_batch_entry")
int uprobe_kafka_batch_entry(struct pt_regs *ctx)
{
	struct go_offsets *off = probe_enter(ctx);
	if (!off)
		return 0;
	if (!known(off, GO_FIELD_GITHUB_COM_SEGMENTIO_KAFKA_GO_WRITEBATCH_MSGS) || !known(off, GO_FIELD_GITHUB_COM_SEGMENTIO_KAFKA_GO_WRITEBATCH_ERR) ||
	    !known(off, GO_FIELD_GITHUB_COM_SEGMENTIO_KAFKA_GO_MESSAGE_KEY) || !known(off, GO_FIELD_GITHUB_COM_SEGMENTIO_KAFKA_GO_MESSAGE_VALUE) ||
	    !known(off, GO_FIELD_GITHUB_COM_SEGMENTIO_KAFKA_GO_MESSAGE_TOPIC) || !known(off, GO_FIELD_GITHUB_COM_SEGMENTIO_KAFKA_GO_MESSAGE_PARTITION) ||
	    !known(off, GO_FIELD_GITHUB_COM_SEGMENTIO_KAFKA_GO_MESSAGE_OFFSET))
		return 0;
	struct goroutine_key key = current_goroutine(ctx);
	u64 batch = GO_PARAM2(ctx);
	if (batch)
		bpf_map_update_elem(&kafka_batch_calls, &key, &batch, BPF_ANY);
	return 0;
}

struct kafka_batch_walk {
	u64 msgs;
	u64 key_off;
	u64 value_off;
	u64 partition_off;
	u64 offset_off;
	u32 tgid;
	u32 pad;
	// The goroutine walking its batch: a walk preempted on this CPU by
	// another one finds the state no longer its own and stops (its
	// remaining messages are not mapped; none is mapped wrongly).
	struct goroutine_key owner;
	// The run of messages being gathered (ev.count 0: none), sent as it
	// is: hdr.ids.{trace_id,span_id} are the run's span, topic the batch's.
	struct kafka_offsets_event ev;
};

// The walk's state, per CPU: in a map rather than on the stack, so that
// the verifier need not follow the run's counters through every step of
// the bpf_loop (it does not converge on them; the load fails). The walker
// owns it for the walk (kafka_batch_walk.owner).
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, u32);
	__type(value, struct kafka_batch_walk);
} kafka_batch_walks SEC(".maps");

// Sends the run gathered in w (bpf_ringbuf_output: a record reserved in
// a bpf_loop callback is refused by the verifier), and leaves what it
// says for the span's WriteMessages return.
static __always_inline void kafka_flush_run(struct kafka_batch_walk *w)
{
	if (!w->ev.count)
		return;
	u64 sid = 0;
	__builtin_memcpy(&sid, w->ev.hdr.ids.span_id, 8);
	struct kafka_produce_result *r = bpf_map_lookup_elem(&kafka_producer_results, &sid);
	if (r) {
		if (r->partition != w->ev.partition)
			r->partition = -1;
		r->count += w->ev.count;
	} else {
		struct kafka_produce_result nr = {.partition = w->ev.partition, .offset = w->ev.first_offset, .count = w->ev.count};
		bpf_map_update_elem(&kafka_producer_results, &sid, &nr, BPF_ANY);
	}
	w->ev.hdr.start_ns = bpf_ktime_get_boot_ns();
	w->ev.hdr.end_ns = w->ev.hdr.start_ns;
	u64 flags = BPF_RB_NO_WAKEUP;
	if (bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA) >= wakeup_threshold)
		flags = BPF_RB_FORCE_WAKEUP;
	if (bpf_ringbuf_output(&events, &w->ev, sizeof(w->ev), flags))
		count_drop();
	w->ev.count = 0;
}

// bpf_loop callback: message idx of a completed batch.
static long kafka_walk_batch(u32 idx, void *data)
{
	struct goroutine_key *me = data;
	u32 zero = 0;
	struct kafka_batch_walk *w = bpf_map_lookup_elem(&kafka_batch_walks, &zero);
	if (!w || w->owner.tgid != me->tgid || w->owner.g != me->g)
		return 1; // another walk took the state over
	u64 m = w->msgs + (u64)idx * KAFKA_MESSAGE_SIZE;
	struct kafka_message_key k = {.tgid = w->tgid};
	k.data = kafka_message_data(m, w->key_off, w->value_off);
	struct span_context *sp = k.data ? bpf_map_lookup_elem(&kafka_message_spans, &k) : 0;
	if (!sp) {
		kafka_flush_run(w); // a message of no known call ends the run
		return 0;
	}
	struct span_context span = *sp;
	bpf_map_delete_elem(&kafka_message_spans, &k);
	s64 partition = 0, offset = 0;
	if (bpf_probe_read_user(&partition, sizeof(partition), (void *)(m + w->partition_off)) ||
	    bpf_probe_read_user(&offset, sizeof(offset), (void *)(m + w->offset_off)) || offset < 0) {
		kafka_flush_run(w);
		return 0;
	}
	u64 cur = 0, sid = 0;
	__builtin_memcpy(&cur, w->ev.hdr.ids.span_id, 8);
	__builtin_memcpy(&sid, span.span_id, 8);
	if (w->ev.count && (cur != sid || w->ev.partition != partition || w->ev.first_offset + (s64)w->ev.count != offset))
		kafka_flush_run(w);
	if (!w->ev.count) {
		__builtin_memcpy(w->ev.hdr.ids.trace_id, span.trace_id, 16);
		__builtin_memcpy(w->ev.hdr.ids.span_id, span.span_id, 8);
		w->ev.partition = partition;
		w->ev.first_offset = offset;
	}
	w->ev.count++;
	return 0;
}

// writeBatch's RET: the batch's messages carry their topic, partition and
// offset when batch.err is nil.
SEC("uprobe/kafka_batch_return")
int uprobe_kafka_batch_return(struct pt_regs *ctx)
{
	struct go_offsets *off = probe_enter(ctx);
	if (!off)
		return 0;
	struct goroutine_key key = current_goroutine(ctx);
	u64 *bp = bpf_map_lookup_elem(&kafka_batch_calls, &key);
	if (!bp)
		return 0;
	u64 batch = *bp;
	bpf_map_delete_elem(&kafka_batch_calls, &key);
	u64 err = 0;
	if (bpf_probe_read_user(&err, sizeof(err), (void *)(batch + FIELD(off, GITHUB_COM_SEGMENTIO_KAFKA_GO_WRITEBATCH_ERR))) || err)
		return 0; // the batch failed: no offsets
	struct go_string msgs = {}; // the slice's array and length
	if (bpf_probe_read_user(&msgs, sizeof(msgs), (void *)(batch + FIELD(off, GITHUB_COM_SEGMENTIO_KAFKA_GO_WRITEBATCH_MSGS))) ||
	    !msgs.ptr || msgs.len <= 0)
		return 0;
	u32 zero = 0;
	struct kafka_batch_walk *w = bpf_map_lookup_elem(&kafka_batch_walks, &zero);
	if (!w)
		return 0;
	w->msgs = msgs.ptr;
	w->key_off = FIELD(off, GITHUB_COM_SEGMENTIO_KAFKA_GO_MESSAGE_KEY);
	w->value_off = FIELD(off, GITHUB_COM_SEGMENTIO_KAFKA_GO_MESSAGE_VALUE);
	w->partition_off = FIELD(off, GITHUB_COM_SEGMENTIO_KAFKA_GO_MESSAGE_PARTITION);
	w->offset_off = FIELD(off, GITHUB_COM_SEGMENTIO_KAFKA_GO_MESSAGE_OFFSET);
	w->tgid = key.tgid;
	w->pad = 0;
	w->owner = key;
	__builtin_memset(&w->ev, 0, sizeof(w->ev));
	w->ev.hdr.kind = EVENT_KAFKA_OFFSETS;
	w->ev.hdr.pid = key.tgid;
	// Every message of a batch has the batch's topic (writeBatch sets it).
	w->ev.topic_len = read_go_string(msgs.ptr + FIELD(off, GITHUB_COM_SEGMENTIO_KAFKA_GO_MESSAGE_TOPIC), w->ev.topic, KAFKA_TOPIC_LEN);
	bpf_loop(msgs.len > KAFKA_MAX_MESSAGES ? KAFKA_MAX_MESSAGES : (u32)msgs.len, kafka_walk_batch, &key, 0);
	if (w->owner.tgid == key.tgid && w->owner.g == key.g)
		kafka_flush_run(w);
	return 0;
}
