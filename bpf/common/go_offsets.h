// Per-binary struct field offsets, by field ID (go_fields.h).
//
// One program set serves every instrumented process. Each uprobe carries an
// attach cookie: its low 32 bits name the binary it was attached to and
// select that binary's offsets here; its high 32 bits are the program's
// slot in probe_hits (event.h).
#ifndef GOEBPF_GO_OFFSETS_H
#define GOEBPF_GO_OFFSETS_H

#include "goebpf.h"
#include "event.h"
#include "go_fields.h"
#include <bpf/bpf_helpers.h>

// Struct field offsets of one Go binary by field ID (GO_FIELD_UNKNOWN where
// not known), filled by the loader from DWARF or the offsets table for the
// binary's Go version.
struct go_offsets {
	u64 field[GO_FIELD_COUNT];
	u64 gopanic_vaddr; // unrelocated address of runtime.gopanic (load bias of PIE)
};

// Force the type into BTF so bpf2go generates its Go equivalent.
const struct go_offsets *unused_go_offsets __attribute__((unused));

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, u32);
	__type(value, struct go_offsets);
} go_offsets_by_cookie SEC(".maps");

#define FIELD(off, name) ((off)->field[GO_FIELD_##name])

static __always_inline int known(struct go_offsets *off, enum go_field f)
{
	return off->field[f] != GO_FIELD_UNKNOWN;
}

static __always_inline struct go_offsets *offsets_for(struct pt_regs *ctx)
{
	u32 cookie = (u32)bpf_get_attach_cookie(ctx);
	return bpf_map_lookup_elem(&go_offsets_by_cookie, &cookie);
}

// The start of every probe program: counts the hit and returns the offsets
// of the binary the probe was attached to (NULL: not registered).
static __always_inline struct go_offsets *probe_enter(struct pt_regs *ctx)
{
	count_hit(ctx);
	return offsets_for(ctx);
}

#endif
