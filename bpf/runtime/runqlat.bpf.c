//go:build ignore

// Run-queue latency of the threads of instrumented Go processes: the time
// from a thread becoming runnable (woken, or preempted while still runnable)
// to it getting a CPU. Kernel-side only (sched tracepoints); nothing runs in
// the target's own code. Aggregated in BPF into log2 buckets per process.

#include "task.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>

char LICENSE[] SEC("license") = "Dual BSD/GPL";

#define LOG2_BUCKETS 64
#define TASK_RUNNING 0

// One histogram per instrumented process (tgid). Userspace creates the entry
// when it attaches; a missing entry means "not instrumented", which is the
// early filter every event goes through first.
struct runq_hist {
	__u64 zero;  // latencies of 0 units
	__u64 one;   // latencies of exactly 1 unit
	__u64 buckets[LOG2_BUCKETS];
	__u64 count;
	__u64 sum_ns;
	__u64 hits;  // tracepoint hits that concerned this process
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, 1024);
	__type(key, __u32);  // tgid
	__type(value, struct runq_hist);
} runq_hists SEC(".maps");

// Enqueue timestamps of runnable threads, keyed by thread id. LRU, so
// threads that exit while runnable never fill it.
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, __u32);  // tid
	__type(value, __u64); // ktime ns
} runq_enqueued SEC(".maps");

// Every tracepoint invocation, tracked process or not: the system-wide cost.
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} runq_calls SEC(".maps");

static __always_inline void count_call(void)
{
	__u32 zero = 0;
	__u64 *c = bpf_map_lookup_elem(&runq_calls, &zero);
	if (c)
		(*c)++;
}

static __always_inline void enqueue(struct task_struct *p)
{
	__u32 tgid = BPF_CORE_READ(p, tgid);
	struct runq_hist *h = bpf_map_lookup_elem(&runq_hists, &tgid);
	if (!h)
		return;
	h->hits++;
	__u32 tid = BPF_CORE_READ(p, pid);
	__u64 ts = bpf_ktime_get_ns();
	bpf_map_update_elem(&runq_enqueued, &tid, &ts, BPF_ANY);
}

// Same arithmetic as nsToUnits / log2Bucket in histogram.go: units of
// 2^-30 s, floor(ns * 2^27 / 125e6) split so it is exact and cannot overflow.
static __always_inline __u64 ns_to_units(__u64 ns)
{
	__u64 q = ns / 125000000ULL, r = ns % 125000000ULL;
	return (q << 27) + (r << 27) / 125000000ULL;
}

static __always_inline __u32 log2_u64(__u64 v)
{
	__u32 r = 0;
	if (v >> 32) { v >>= 32; r += 32; }
	if (v >> 16) { v >>= 16; r += 16; }
	if (v >> 8)  { v >>= 8;  r += 8; }
	if (v >> 4)  { v >>= 4;  r += 4; }
	if (v >> 2)  { v >>= 2;  r += 2; }
	if (v >> 1)  { r += 1; }
	return r;
}

SEC("tp_btf/sched_wakeup")
int BPF_PROG(runq_wakeup, struct task_struct *p)
{
	count_call();
	enqueue(p);
	return 0;
}

SEC("tp_btf/sched_wakeup_new")
int BPF_PROG(runq_wakeup_new, struct task_struct *p)
{
	count_call();
	enqueue(p);
	return 0;
}

SEC("tp_btf/sched_switch")
int BPF_PROG(runq_switch, bool preempt, struct task_struct *prev, struct task_struct *next,
	     unsigned int prev_state)
{
	count_call();
	// A thread preempted while runnable goes straight back to the run queue.
	if (prev_state == TASK_RUNNING)
		enqueue(prev);

	__u32 tgid = BPF_CORE_READ(next, tgid);
	struct runq_hist *h = bpf_map_lookup_elem(&runq_hists, &tgid);
	if (!h)
		return 0;
	h->hits++;
	__u32 tid = BPF_CORE_READ(next, pid);
	__u64 *tsp = bpf_map_lookup_elem(&runq_enqueued, &tid);
	if (!tsp)
		return 0;
	__u64 now = bpf_ktime_get_ns();
	__u64 delta = now > *tsp ? now - *tsp : 0;
	bpf_map_delete_elem(&runq_enqueued, &tid);

	__u64 v = ns_to_units(delta);
	if (v == 0)
		h->zero++;
	else if (v == 1)
		h->one++;
	else {
		__u32 b = log2_u64(v - 1);
		if (b < LOG2_BUCKETS)
			h->buckets[b]++;
	}
	h->count++;
	h->sum_ns += delta;
	return 0;
}
