// Events to user space: the ring buffer, the header every event starts
// with, and the counters of lost events and probe hits.
#ifndef GOEBPF_EVENT_H
#define GOEBPF_EVENT_H

#include "goebpf.h"
#include <bpf/bpf_helpers.h>

// Largest number of programs the loader gives a probe_hits slot.
#define MAX_PROGRAMS 64

struct span_ids {
	u8 trace_id[16];
	u8 span_id[8];
	u8 parent_span_id[8];
};

// The start of every ring buffer record. kind is an enum event_kind value
// (generated from the event structs of bpf/probes, see probes/all.h).
struct event_header {
	u8 kind;
	u8 has_parent; // ids.parent_span_id is set
	u16 pad;
	u32 pid;
	u64 start_ns; // CLOCK_BOOTTIME
	u64 end_ns;
	struct span_ids ids;
};

// Force the types into BTF so bpf2go generates Go equivalents.
const struct event_header *unused_event_header __attribute__((unused));

// Submit with a wakeup once this many bytes wait in the ring; below it the
// reader drains on its own timer (BPF_RB_NO_WAKEUP avoids a wakeup per event).
volatile const u64 wakeup_threshold = 1 << 20;

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 23); // resized by the loader (ring_buffer_size)
} events SEC(".maps");

// Failed ring buffer reservations (events lost), per CPU.
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, u32);
	__type(value, u64);
} ringbuf_drops SEC(".maps");

// Probe hits per program, per CPU: the benchmark's hits-per-request figure.
// The slot is the high half of the attach cookie, given by the loader.
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, MAX_PROGRAMS);
	__type(key, u32);
	__type(value, u64);
} probe_hits SEC(".maps");

static __always_inline void count_hit(struct pt_regs *ctx)
{
	u32 slot = bpf_get_attach_cookie(ctx) >> 32;
	u64 *v = bpf_map_lookup_elem(&probe_hits, &slot);
	if (v)
		*v += 1;
}

static __always_inline void count_drop(void)
{
	u32 zero = 0;
	u64 *v = bpf_map_lookup_elem(&ringbuf_drops, &zero);
	if (v)
		*v += 1;
}

static __always_inline void submit(void *e)
{
	u64 flags = BPF_RB_NO_WAKEUP;
	if (bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA) >= wakeup_threshold)
		flags = BPF_RB_FORCE_WAKEUP;
	bpf_ringbuf_submit(e, flags);
}

static __always_inline void random_bytes(u8 *dst, int n)
{
#pragma unroll
	for (int i = 0; i < 16; i += 4) {
		if (i >= n)
			break;
		u32 r = bpf_get_prandom_u32();
		__builtin_memcpy(dst + i, &r, 4);
	}
}

// Gives ids a new span id, and a new trace id unless it has a parent.
static __always_inline void new_span(struct span_ids *ids, u8 has_parent)
{
	if (!has_parent)
		random_bytes(ids->trace_id, 16);
	random_bytes(ids->span_id, 8);
}

// Fills the header of a reserved event.
static __always_inline void fill_header(struct event_header *h, u8 kind, u32 pid, u64 start_ns, struct span_ids *ids, u8 has_parent)
{
	h->kind = kind;
	h->has_parent = has_parent;
	h->pad = 0;
	h->pid = pid;
	h->start_ns = start_ns;
	h->end_ns = bpf_ktime_get_boot_ns();
	h->ids = *ids;
}

#endif
