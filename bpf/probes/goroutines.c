//go:build ignore

// Span context carried to new goroutines on Go < 1.21 (no g.parentGoid):
// runtime.newproc1 is probed at its RETs (1 hit per goroutine created) and
// copies the creating goroutine's span to the new one. The loader attaches
// it only when a probe that starts spans and one that joins them are both
// attached to a binary whose runtime.g has no parentGoid. With stitching, a
// goroutine created by one with a client request in flight is noted with
// its creator (client_requests.h): HTTP/2 requests are written on such a
// goroutine.

#include "goebpf.h"
#include "event.h"
#include "go_mem.h"
#include "go_offsets.h"
#include "goroutines.h"
#include "stitch.h"
#include "client_requests.h"
#include <bpf/bpf_helpers.h>

// runtime.newproc1(...) *g: at its RETs the new goroutine is in ax and the
// creating goroutine is the M's curg (newproc1 runs on the system stack).

SEC("uprobe/newproc1_return")
int uprobe_newproc1_return(struct pt_regs *ctx)
{
	struct go_offsets *off = probe_enter(ctx);
	if (!off || !has_goroutine(off))
		return 0;
	u64 newg = GO_PARAM1(ctx);
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
