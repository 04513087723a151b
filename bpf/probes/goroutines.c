//go:build ignore

// Span context carried to new goroutines: with traces.goroutine_ancestry
// deep (the default) in every program, with parent only on Go < 1.21 (no
// g.parentGoid). The new goroutine gets a copy of its creator's span. The
// loader attaches it only when a probe that starts spans and one that joins
// them are both attached. With stitching, a goroutine created by one with a
// client request in flight is noted with its creator (client_requests.h):
// HTTP/2 requests are written on such a goroutine.
//
// Where it runs, 1 hit per go statement: at the one CALL of runtime.runqput
// in runtime.newproc.func1 (newproc's systemstack closure: newg :=
// newproc1(...); runqput(pp, newg, true)), a call the kernel emulates
// (~1-2 us a hit); in binaries where that call is not found exactly once,
// at runtime.newproc1's RETs (single-stepped, ~11-13 us a hit). Goroutines
// that newproc1 creates for other callers (iter.Pull's coroutines,
// testing/synctest's bubble, debugger call injection) are seen only at the
// RETs.

#include "goebpf.h"
#include "event.h"
#include "go_mem.h"
#include "go_offsets.h"
#include "goroutines.h"
#include "stitch.h"
#include "client_requests.h"
#include <bpf/bpf_helpers.h>

// copy_span_to_new_goroutine runs on the system stack (g0) of the M that
// creates newg: the creating goroutine is the M's curg.
static __always_inline int copy_span_to_new_goroutine(struct pt_regs *ctx, struct go_offsets *off, u64 newg)
{
	if (!newg)
		return 0;
	u64 m = read_ptr(GO_G(ctx) + FIELD(off, RUNTIME_G_M));
	if (!m)
		return 0;
	u32 tgid = bpf_get_current_pid_tgid() >> 32;
	struct goroutine_key parent_key = span_key(off, tgid, read_ptr(m + FIELD(off, RUNTIME_M_CURG)));
	if (stitch_enabled && bpf_map_lookup_elem(&client_requests, &parent_key)) {
		struct goroutine_key writer_key = span_key(off, tgid, newg);
		bpf_map_update_elem(&client_goroutine_creators, &writer_key, &parent_key.g, BPF_ANY);
	}
	struct span_context *parent = bpf_map_lookup_elem(&span_by_goroutine, &parent_key);
	if (!parent)
		return 0;
	struct span_context child = *parent;
	struct goroutine_key child_key = span_key(off, tgid, newg);
	bpf_map_update_elem(&span_by_goroutine, &child_key, &child, BPF_ANY);
	return 0;
}

// runtime.newproc.func1 at its call runqput(pp *p, gp *g, next bool): the
// new goroutine is the second argument, in bx.
SEC("uprobe/newproc_runqput")
int uprobe_newproc_runqput(struct pt_regs *ctx)
{
	struct go_offsets *off = probe_enter(ctx);
	if (!off || !has_goroutine(off))
		return 0;
	return copy_span_to_new_goroutine(ctx, off, GO_PARAM2(ctx));
}

// runtime.newproc1(...) *g at its RETs: the new goroutine is in ax.
SEC("uprobe/newproc1_return")
int uprobe_newproc1_return(struct pt_regs *ctx)
{
	struct go_offsets *off = probe_enter(ctx);
	if (!off || !has_goroutine(off))
		return 0;
	return copy_span_to_new_goroutine(ctx, off, GO_PARAM1(ctx));
}
