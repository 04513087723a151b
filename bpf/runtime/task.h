// Minimal kernel types for the runtime programs, relocated with CO-RE
// against the running kernel's BTF (so no full vmlinux.h is needed).
#ifndef __RUNTIME_TASK_H
#define __RUNTIME_TASK_H

typedef unsigned char __u8;
typedef unsigned short __u16;
typedef unsigned int __u32;
typedef unsigned long long __u64;
typedef int __s32;
typedef long long __s64;
typedef _Bool bool;
typedef __u32 __be32;
typedef __u16 __be16;
typedef __u32 __wsum;

enum bpf_map_type {
	BPF_MAP_TYPE_HASH = 1,
	BPF_MAP_TYPE_ARRAY = 2,
	BPF_MAP_TYPE_PERCPU_HASH = 5,
	BPF_MAP_TYPE_PERCPU_ARRAY = 6,
	BPF_MAP_TYPE_LRU_HASH = 9,
};

enum {
	BPF_ANY = 0,
};

struct task_struct {
	int pid;
	int tgid;
} __attribute__((preserve_access_index));

#endif
