// Minimal kernel ABI definitions for the project's BPF programs.
//
// A hand-written subset instead of a generated vmlinux.h: the programs only
// need fixed-width integer types, a handful of BPF constants and the x86-64
// register layout that uprobes receive. Keeping it small keeps it reviewable
// and independent of the build machine's kernel.
#ifndef GOEBPF_COMMON_H
#define GOEBPF_COMMON_H

typedef unsigned char __u8;
typedef signed char __s8;
typedef unsigned short __u16;
typedef signed short __s16;
typedef unsigned int __u32;
typedef signed int __s32;
typedef unsigned long long __u64;
typedef signed long long __s64;
typedef __u16 __be16;
typedef __u32 __be32;
typedef __u32 __wsum;

typedef __u8 u8;
typedef __u16 u16;
typedef __u32 u32;
typedef __u64 u64;
typedef __s64 s64;

// enum bpf_map_type (include/uapi/linux/bpf.h).
enum {
	BPF_MAP_TYPE_HASH = 1,
	BPF_MAP_TYPE_ARRAY = 2,
	BPF_MAP_TYPE_PERCPU_ARRAY = 6,
	BPF_MAP_TYPE_LRU_HASH = 9,
	BPF_MAP_TYPE_RINGBUF = 27,
};

// Update flags and ring buffer flags (include/uapi/linux/bpf.h).
enum {
	BPF_ANY = 0,
	BPF_NOEXIST = 1,
	BPF_EXIST = 2,
};
enum {
	BPF_RB_NO_WAKEUP = 1,
	BPF_RB_FORCE_WAKEUP = 2,
};
enum {
	BPF_RB_AVAIL_DATA = 0,
	BPF_RB_RING_SIZE = 1,
};

// struct pt_regs on x86-64: what a uprobe program receives as its context.
// Go's register ABI (ABIInternal, Go >= 1.17) passes integer arguments and
// results in ax, bx, cx, di, si, r8-r11 and keeps the current goroutine (g)
// in r14.
struct pt_regs {
	unsigned long r15;
	unsigned long r14;
	unsigned long r13;
	unsigned long r12;
	unsigned long bp;
	unsigned long bx;
	unsigned long r11;
	unsigned long r10;
	unsigned long r9;
	unsigned long r8;
	unsigned long ax;
	unsigned long cx;
	unsigned long dx;
	unsigned long si;
	unsigned long di;
	unsigned long orig_ax;
	unsigned long ip;
	unsigned long cs;
	unsigned long flags;
	unsigned long sp;
	unsigned long ss;
};

#define GO_PARAM1(ctx) ((ctx)->ax)
#define GO_PARAM2(ctx) ((ctx)->bx)
#define GO_PARAM3(ctx) ((ctx)->cx)
#define GO_PARAM4(ctx) ((ctx)->di)
#define GO_PARAM5(ctx) ((ctx)->si)
#define GO_G(ctx) ((ctx)->r14)

#endif
