// Reading Go values (pointers, strings) from the target's memory.
#ifndef GOEBPF_GO_MEM_H
#define GOEBPF_GO_MEM_H

#include "goebpf.h"
#include <bpf/bpf_helpers.h>

static __always_inline u64 read_ptr(u64 addr)
{
	u64 v = 0;
	bpf_probe_read_user(&v, sizeof(v), (void *)addr);
	return v;
}

struct go_string {
	u64 ptr;
	s64 len;
};

// Copies at most cap bytes of the Go string at addr into dst; returns the
// number of bytes copied.
static __always_inline u16 read_go_string(u64 addr, char *dst, u32 cap)
{
	struct go_string s = {};
	if (bpf_probe_read_user(&s, sizeof(s), (void *)addr))
		return 0;
	if (s.len <= 0 || s.ptr == 0)
		return 0;
	u32 n = s.len > cap ? cap : (u32)s.len;
	if (n > cap)
		return 0;
	if (bpf_probe_read_user(dst, n, (void *)s.ptr))
		return 0;
	return (u16)n;
}

#endif
