//go:build ignore

// The one BPF object of the ebpf receiver: every probe of bpf/probes
// (included by the generated probes/all.h), sharing the maps of the common
// headers: per-binary offsets (go_offsets.h), goroutine→span state
// (goroutines.h), the ring buffer and counters (event.h).
//
// Probes sit at function entry and at every RET instruction of the function
// (never uretprobes: Go moves goroutine stacks), and entry/return are paired
// by (tgid, goroutine).

#include "goebpf.h"
#include "event.h"
#include <bpf/bpf_helpers.h>

char __license[] SEC("license") = "Dual MIT/GPL";

#include "all.h"

// An empty program attached at the same places as the real ones: the
// benchmark's baseline for the kernel's bare uprobe cost.
SEC("uprobe/empty")
int uprobe_empty(struct pt_regs *ctx)
{
	return 0;
}
