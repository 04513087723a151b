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
// before it completes the batch. The copies share the caller's Key and
// Value bytes, so the WriteMessages entry notes, for each message
// (bpf_loop, no extra hit), its Value (else Key) data pointer -> the
// producer span, unless the Writer asks for no acks (RequiredAcks none:
// no offsets come back). One hit per batch: a uprobe at writeBatch's call
// of runtime.closechan (batch.complete inlined: b.err is set, done is
// being closed), or of (*writeBatch).complete when it is not inlined,
// walks the batch's messages (bpf_loop), looks each one's span up and
// sends one kafka_offsets_event per run of consecutive messages of the
// same span: (topic, partition, first offset, count, span). The receiver
// joins consumer spans on them. It also leaves the span's partition and
// first offset where the WriteMessages return finds them
// (kafka_producer_results), so a synchronous call's span carries them:
// the probe runs before done is closed, so before the waiting call can
// return. Hits: 2 per WriteMessages call, 1 per batch sent.

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
	u32 tgid;
	u32 pad;
	struct span_context span;
};

// A message's Key and Value slice headers, read at once (Value follows
// Key in kafka.Message: kafkago.TestLayoutRule).
struct kafka_key_value {
	u64 key_ptr, key_len, key_cap;
	u64 value_ptr, value_len, value_cap;
};

// A message's Value data pointer, else its Key's (0: neither).
static __always_inline u64 kafka_message_data(u64 m, u64 key_off)
{
	struct kafka_key_value kv = {};
	if (bpf_probe_read_user(&kv, sizeof(kv), (void *)(m + key_off)))
		return 0;
	if (kv.value_ptr && (s64)kv.value_len > 0)
		return kv.value_ptr;
	if (kv.key_ptr && (s64)kv.key_len > 0)
		return kv.key_ptr;
	return 0;
}

// bpf_loop callback: message idx of a WriteMessages call -> its span.
static long kafka_note_message(u32 idx, void *data)
{
	struct kafka_note_messages *s = data;
	struct kafka_message_key k = {.tgid = s->tgid};
	k.data = kafka_message_data(s->msgs + (u64)idx * KAFKA_MESSAGE_SIZE, s->key_off);
	if (k.data)
		bpf_map_update_elem(&kafka_message_spans, &k, &s->span, BPF_ANY);
	return 0;
}

// The offsets' fields are known (the loader fills them as one group), and
// Value follows Key (kafka_message_data reads both at once).
static __always_inline int kafka_offsets_known(struct go_offsets *off)
{
	return known(off, GO_FIELD_GITHUB_COM_SEGMENTIO_KAFKA_GO_MESSAGE_KEY) && known(off, GO_FIELD_GITHUB_COM_SEGMENTIO_KAFKA_GO_MESSAGE_VALUE) &&
	       FIELD(off, GITHUB_COM_SEGMENTIO_KAFKA_GO_MESSAGE_VALUE) == FIELD(off, GITHUB_COM_SEGMENTIO_KAFKA_GO_MESSAGE_KEY) + 24 &&
	       known(off, GO_FIELD_GITHUB_COM_SEGMENTIO_KAFKA_GO_WRITEBATCH_MSGS) && known(off, GO_FIELD_GITHUB_COM_SEGMENTIO_KAFKA_GO_WRITEBATCH_ERR) &&
	       known(off, GO_FIELD_GITHUB_COM_SEGMENTIO_KAFKA_GO_WRITER_REQUIREDACKS) &&
	       known(off, GO_FIELD_GITHUB_COM_SEGMENTIO_KAFKA_GO_PARTITIONWRITER_W) && known(off, GO_FIELD_GITHUB_COM_SEGMENTIO_KAFKA_GO_MESSAGE_TOPIC) &&
	       known(off, GO_FIELD_GITHUB_COM_SEGMENTIO_KAFKA_GO_MESSAGE_PARTITION) && known(off, GO_FIELD_GITHUB_COM_SEGMENTIO_KAFKA_GO_MESSAGE_OFFSET);
}

// Writer w waits for acks, so its batches learn their offsets: with
// RequiredAcks none (0, kafka-go's default) the produce response is nil and
// writeBatch leaves each message's Offset as the caller set it.
static __always_inline int kafka_writer_acks(struct go_offsets *off, u64 w)
{
	s64 acks = 0;
	if (bpf_probe_read_user(&acks, sizeof(acks), (void *)(w + FIELD(off, GITHUB_COM_SEGMENTIO_KAFKA_GO_WRITER_REQUIREDACKS))))
		return 0;
	return acks != 0;
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
	if (kafka_note_messages && msgs && n > 0 && w && kafka_offsets_known(off) && kafka_writer_acks(off, w)) {
		struct kafka_note_messages s = {
			.msgs = msgs,
			.key_off = FIELD(off, GITHUB_COM_SEGMENTIO_KAFKA_GO_MESSAGE_KEY),
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

struct kafka_batch_walk {
	u64 msgs;
	u64 key_off;
	s64 base_offset; // the batch's first message's offset
	u32 tgid;
	u32 pad;
	// The goroutine walking its batch: a walk preempted on this CPU by
	// another one finds the state no longer its own and stops (its
	// remaining messages are not mapped; none is mapped wrongly).
	struct goroutine_key owner;
	// The run of messages being gathered (ev.count 0: none), sent as it
	// is: hdr.ids.{trace_id,span_id} are the run's span, topic and
	// partition the batch's.
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

// bpf_loop callback: message idx of a completed batch. writeBatch gave
// every message the batch's topic and partition and the offset
// base + idx, so a run only ends where the span changes.
static long kafka_walk_batch(u32 idx, void *data)
{
	struct goroutine_key *me = data;
	u32 zero = 0;
	struct kafka_batch_walk *w = bpf_map_lookup_elem(&kafka_batch_walks, &zero);
	if (!w || w->owner.tgid != me->tgid || w->owner.g != me->g)
		return 1; // another walk took the state over
	struct kafka_message_key k = {.tgid = w->tgid};
	k.data = kafka_message_data(w->msgs + (u64)idx * KAFKA_MESSAGE_SIZE, w->key_off);
	struct span_context *sp = k.data ? bpf_map_lookup_elem(&kafka_message_spans, &k) : 0;
	if (!sp) {
		kafka_flush_run(w); // a message of no known call ends the run
		return 0;
	}
	struct span_context span = *sp;
	bpf_map_delete_elem(&kafka_message_spans, &k);
	u64 cur = 0, sid = 0;
	__builtin_memcpy(&cur, w->ev.hdr.ids.span_id, 8);
	__builtin_memcpy(&sid, span.span_id, 8);
	if (w->ev.count && cur != sid)
		kafka_flush_run(w);
	if (!w->ev.count) {
		__builtin_memcpy(w->ev.hdr.ids.trace_id, span.trace_id, 16);
		__builtin_memcpy(w->ev.hdr.ids.span_id, span.span_id, 8);
		w->ev.first_offset = w->base_offset + (s64)idx;
	}
	w->ev.count++;
	return 0;
}

// A batch of partition writer ptw completed with error err (its itab
// word): on success its messages carry their topic, partition and offset.
static __always_inline void kafka_batch_completed(struct go_offsets *off, struct goroutine_key *key, u64 ptw, u64 batch, u64 err)
{
	if (err || !ptw || !batch)
		return; // the batch failed: no offsets
	u64 w = read_ptr(ptw + FIELD(off, GITHUB_COM_SEGMENTIO_KAFKA_GO_PARTITIONWRITER_W));
	if (!w || !kafka_writer_acks(off, w))
		return; // no produce response: the offsets are the caller's
	struct go_string msgs = {}; // the slice's array and length
	if (bpf_probe_read_user(&msgs, sizeof(msgs), (void *)(batch + FIELD(off, GITHUB_COM_SEGMENTIO_KAFKA_GO_WRITEBATCH_MSGS))) ||
	    !msgs.ptr || msgs.len <= 0)
		return;
	s64 partition = 0, base = 0;
	if (bpf_probe_read_user(&partition, sizeof(partition), (void *)(msgs.ptr + FIELD(off, GITHUB_COM_SEGMENTIO_KAFKA_GO_MESSAGE_PARTITION))) ||
	    bpf_probe_read_user(&base, sizeof(base), (void *)(msgs.ptr + FIELD(off, GITHUB_COM_SEGMENTIO_KAFKA_GO_MESSAGE_OFFSET))) || base < 0)
		return;
	u32 zero = 0;
	struct kafka_batch_walk *wk = bpf_map_lookup_elem(&kafka_batch_walks, &zero);
	if (!wk)
		return;
	wk->msgs = msgs.ptr;
	wk->key_off = FIELD(off, GITHUB_COM_SEGMENTIO_KAFKA_GO_MESSAGE_KEY);
	wk->base_offset = base;
	wk->tgid = key->tgid;
	wk->pad = 0;
	wk->owner = *key;
	__builtin_memset(&wk->ev, 0, sizeof(wk->ev));
	wk->ev.hdr.kind = EVENT_KAFKA_OFFSETS;
	wk->ev.hdr.pid = key->tgid;
	wk->ev.partition = partition;
	// Every message of a batch has the batch's topic (writeBatch sets it).
	wk->ev.topic_len = read_go_string(msgs.ptr + FIELD(off, GITHUB_COM_SEGMENTIO_KAFKA_GO_MESSAGE_TOPIC), wk->ev.topic, KAFKA_TOPIC_LEN);
	bpf_loop(msgs.len > KAFKA_MAX_MESSAGES ? KAFKA_MAX_MESSAGES : (u32)msgs.len, kafka_walk_batch, key, 0);
	if (wk->owner.tgid == key->tgid && wk->owner.g == key->g)
		kafka_flush_run(wk);
}

// writeBatch's call of runtime.closechan(batch.done), where kafka-go
// inlined (*writeBatch).complete(err): b.err is set, the channel in ax.
// writeBatch's arguments are in their spill slots above its frame pointer
// (Go's register ABI: ptw at bp+16, batch at bp+24; the prologue stores
// them there). The batch read there is checked against the channel being
// closed (writeBatch.done, 16 bytes before err): any other batch, or
// another layout, sends nothing.
SEC("uprobe/kafka_batch_done")
int uprobe_kafka_batch_done(struct pt_regs *ctx)
{
	struct go_offsets *off = probe_enter(ctx);
	if (!off || !kafka_offsets_known(off))
		return 0;
	u64 err_off = FIELD(off, GITHUB_COM_SEGMENTIO_KAFKA_GO_WRITEBATCH_ERR);
	if (err_off < 16)
		return 0;
	u64 fp = ctx->bp;
	u64 ptw = read_ptr(fp + 16);
	u64 batch = read_ptr(fp + 24);
	if (!batch || !GO_PARAM1(ctx) || read_ptr(batch + err_off - 16) != GO_PARAM1(ctx))
		return 0;
	struct goroutine_key key = current_goroutine(ctx);
	kafka_batch_completed(off, &key, ptw, batch, read_ptr(batch + err_off));
	return 0;
}

// writeBatch's call of (*writeBatch).complete(err) where it is not inlined:
// batch in ax, err in bx/cx; ptw in writeBatch's spill slot (bp+16).
SEC("uprobe/kafka_batch_complete")
int uprobe_kafka_batch_complete(struct pt_regs *ctx)
{
	struct go_offsets *off = probe_enter(ctx);
	if (!off || !kafka_offsets_known(off))
		return 0;
	struct goroutine_key key = current_goroutine(ctx);
	kafka_batch_completed(off, &key, read_ptr(ctx->bp + 16), GO_PARAM1(ctx), GO_PARAM2(ctx));
	return 0;
}
