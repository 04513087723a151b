// Goroutine tracking: entry and return of a probed function are paired by
// (tgid, goroutine), and the span a goroutine works for is kept so that
// spans it starts later (a client call) get it as their parent.
#ifndef GOEBPF_GOROUTINES_H
#define GOEBPF_GOROUTINES_H

#include "goebpf.h"
#include "go_mem.h"
#include "go_offsets.h"
#include <bpf/bpf_helpers.h>

// runtime.g.stack.hi: g starts with stack{lo, hi} in every Go version.
#define G_STACK_HI 8

struct goroutine_key {
	u32 tgid;
	u32 pad;
	u64 g;
};

// The span a goroutine works for, keyed by goroutine id (never reused,
// unlike g structs), or by g pointer when the goid offset is unknown.
struct span_context {
	u8 trace_id[16];
	u8 span_id[8];
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, struct goroutine_key);
	__type(value, struct span_context);
} span_by_goroutine SEC(".maps");

// Spans goroutines may work for that are still open (a server span between
// its entry and its end), by span id. A goroutine started for a request may
// outlive it; its entry in span_by_goroutine then names a closed span and is
// dropped rather than parenting calls made after the request ended.
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, u64);
	__type(value, u8);
} open_spans SEC(".maps");

// runtime.g.{m,goid} and runtime.m.curg: span context follows goroutines.
static __always_inline int has_goroutine(struct go_offsets *off)
{
	return known(off, GO_FIELD_RUNTIME_G_M) && known(off, GO_FIELD_RUNTIME_G_GOID) && known(off, GO_FIELD_RUNTIME_M_CURG);
}

static __always_inline struct goroutine_key current_goroutine(struct pt_regs *ctx)
{
	struct goroutine_key k = {};
	k.tgid = bpf_get_current_pid_tgid() >> 32;
	k.g = GO_G(ctx);
	return k;
}

// span_key identifies the current goroutine for span_by_goroutine.
static __always_inline struct goroutine_key span_key(struct go_offsets *off, u32 tgid, u64 g)
{
	struct goroutine_key k = {.tgid = tgid, .g = g};
	if (has_goroutine(off))
		k.g = read_ptr(g + FIELD(off, RUNTIME_G_GOID));
	return k;
}

// Records that goroutine g works for the span ids.
static __always_inline void set_goroutine_span(struct go_offsets *off, struct goroutine_key *key, struct span_ids *ids)
{
	struct span_context sc = {};
	__builtin_memcpy(sc.trace_id, ids->trace_id, 16);
	__builtin_memcpy(sc.span_id, ids->span_id, 8);
	struct goroutine_key sk = span_key(off, key->tgid, key->g);
	bpf_map_update_elem(&span_by_goroutine, &sk, &sc, BPF_ANY);
	u64 id = 0;
	__builtin_memcpy(&id, ids->span_id, 8);
	u8 one = 1;
	bpf_map_update_elem(&open_spans, &id, &one, BPF_ANY);
}

// The span ids ended: goroutine g no longer works for it, nor does any
// goroutine that inherited it.
static __always_inline void clear_goroutine_span(struct go_offsets *off, struct goroutine_key *key, struct span_ids *ids)
{
	struct goroutine_key sk = span_key(off, key->tgid, key->g);
	bpf_map_delete_elem(&span_by_goroutine, &sk);
	u64 id = 0;
	__builtin_memcpy(&id, ids->span_id, 8);
	bpf_map_delete_elem(&open_spans, &id);
}

// Makes ids a child of the span the current goroutine works for, or of the
// one its creator worked for (runtime.g.parentGoid, Go >= 1.21); returns
// whether a parent was found.
static __always_inline u8 inherit_span(struct go_offsets *off, struct goroutine_key *key, struct span_ids *ids)
{
	struct goroutine_key sk = span_key(off, key->tgid, key->g);
	struct span_context *parent = bpf_map_lookup_elem(&span_by_goroutine, &sk);
	if (parent) {
		u64 id = 0;
		__builtin_memcpy(&id, parent->span_id, 8);
		if (!bpf_map_lookup_elem(&open_spans, &id)) {
			// Inherited from a request that has ended: the goroutine
			// outlived it. Its creator may serve a later request by now,
			// so the creator's span is no parent either.
			bpf_map_delete_elem(&span_by_goroutine, &sk);
			return 0;
		}
	}
	if (!parent && known(off, GO_FIELD_RUNTIME_G_PARENTGOID) && has_goroutine(off)) {
		// A goroutine started by the handler: its creator's span.
		sk.g = read_ptr(key->g + FIELD(off, RUNTIME_G_PARENTGOID));
		if (sk.g)
			parent = bpf_map_lookup_elem(&span_by_goroutine, &sk);
	}
	if (!parent)
		return 0;
	__builtin_memcpy(ids->trace_id, parent->trace_id, 16);
	__builtin_memcpy(ids->parent_span_id, parent->span_id, 8);
	return 1;
}

#endif
