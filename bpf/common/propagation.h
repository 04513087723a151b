// Trace context propagation: finding the parent of a span in the text of
// an HTTP/1-style header block (traceparent, b3) already in the target's
// memory. A probe locates the block; scan_headers copies and parses it.
#ifndef GOEBPF_PROPAGATION_H
#define GOEBPF_PROPAGATION_H

#include "goebpf.h"
#include "event.h"
#include <bpf/bpf_helpers.h>

// Largest header block scanned for trace context headers. net/http's
// connection reader is a 4 KiB bufio.Reader, so this covers all of it.
#define HEAD_SCAN_LEN 4096

// extract_flags
#define EXTRACT_TRACECONTEXT (1 << 0)
#define EXTRACT_B3 (1 << 1)

// Set by the loader before load (traces.propagation.extract).
volatile const u32 extract_flags = 0;

// Scratch space for the header block copy (too large for the BPF stack).
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, u32);
	__type(value, u8[HEAD_SCAN_LEN]);
} head_scratch SEC(".maps");

struct head_scan {
	u8 *buf;
	u32 len;
	u32 flags;
	int found; // 1 traceparent, 2 b3
	struct span_ids *ids;
};

static __always_inline int hex_value(u8 c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static __always_inline u8 lower(u8 c)
{
	return (c >= 'A' && c <= 'Z') ? c + 32 : c;
}

static __always_inline u8 at(struct head_scan *s, u32 i)
{
	// Keep the mask: clang drops it where it can prove i < len <= 4 KiB,
	// which the verifier cannot (it compares no two unknown registers).
	asm volatile("" : "+r"(i));
	return s->buf[i & (HEAD_SCAN_LEN - 1)];
}

// Decodes 2*n hex digits at buf[i..] into dst; returns 0 on success.
static __always_inline int decode_hex(struct head_scan *s, u32 i, u8 *dst, int n)
{
	for (int k = 0; k < 16; k++) {
		if (k >= n)
			break;
		int hi = hex_value(at(s, i + 2 * k));
		int lo = hex_value(at(s, i + 2 * k + 1));
		if (hi < 0 || lo < 0)
			return -1;
		dst[k] = (u8)(hi << 4 | lo);
	}
	return 0;
}

static __always_inline int all_zero(const u8 *b, int n)
{
	for (int k = 0; k < 16; k++) {
		if (k >= n)
			break;
		if (b[k])
			return 0;
	}
	return 1;
}

// traceparent: 00-<32 hex trace id>-<16 hex parent id>-<2 hex flags>
static __always_inline int parse_traceparent(struct head_scan *s, u32 i)
{
	if (i + 55 > s->len)
		return 0;
	if (at(s, i + 2) != '-' || at(s, i + 35) != '-' || at(s, i + 52) != '-')
		return 0;
	if (at(s, i) == 'f' && at(s, i + 1) == 'f')
		return 0;
	struct span_ids *ids = s->ids;
	if (decode_hex(s, i + 3, ids->trace_id, 16) || decode_hex(s, i + 36, ids->parent_span_id, 8))
		return 0;
	if (all_zero(ids->trace_id, 16) || all_zero(ids->parent_span_id, 8))
		return 0;
	return 1;
}

// b3: <32 or 16 hex trace id>-<16 hex span id>[-...]
static __always_inline int parse_b3(struct head_scan *s, u32 i)
{
	struct span_ids *ids = s->ids;
	if (i + 49 <= s->len && at(s, i + 32) == '-') {
		if (decode_hex(s, i, ids->trace_id, 16) || decode_hex(s, i + 33, ids->parent_span_id, 8))
			return 0;
	} else if (i + 33 <= s->len && at(s, i + 16) == '-') {
		__builtin_memset(ids->trace_id, 0, 8);
		if (decode_hex(s, i, ids->trace_id + 8, 8) || decode_hex(s, i + 17, ids->parent_span_id, 8))
			return 0;
	} else {
		return 0;
	}
	if (all_zero(ids->trace_id, 16) || all_zero(ids->parent_span_id, 8))
		return 0;
	return 1;
}

static __always_inline u32 skip_spaces(struct head_scan *s, u32 i)
{
	if (at(s, i) == ' ')
		i++;
	if (at(s, i) == ' ')
		i++;
	return i;
}

// Looks for a trace context header at p, the first byte of a line; returns
// 1 when the scan can stop (a valid traceparent: it wins over b3).
static __always_inline long check_line(struct head_scan *s, u32 p)
{
	if (p >= s->len)
		return 0;
	u8 c = lower(at(s, p));
	if (c == 't' && (s->flags & EXTRACT_TRACECONTEXT) && p + 12 < s->len) {
		if (lower(at(s, p + 1)) == 'r' && lower(at(s, p + 2)) == 'a' && lower(at(s, p + 3)) == 'c' &&
		    lower(at(s, p + 4)) == 'e' && lower(at(s, p + 5)) == 'p' && lower(at(s, p + 6)) == 'a' &&
		    lower(at(s, p + 7)) == 'r' && lower(at(s, p + 8)) == 'e' && lower(at(s, p + 9)) == 'n' &&
		    lower(at(s, p + 10)) == 't' && at(s, p + 11) == ':') {
			if (parse_traceparent(s, skip_spaces(s, p + 12))) {
				s->found = 1;
				return 1;
			}
		}
	} else if (c == 'b' && (s->flags & EXTRACT_B3) && s->found == 0 && p + 3 < s->len) {
		if (at(s, p + 1) == '3' && at(s, p + 2) == ':') {
			if (parse_b3(s, skip_spaces(s, p + 3)))
				s->found = 2;
		}
	}
	return 0;
}

// The head copy, as a type a global function can take.
struct head_bytes {
	u8 b[HEAD_SCAN_LEN];
};

// Checks the line starting at p of the head for a trace context header and
// decodes it into ids: 1 traceparent, 2 b3, 0 none. A global function, so
// the verifier checks it once, not at each of the 64 places scan_chunk calls
// it from.
__noinline int head_check_line(struct head_bytes *head, u32 len, u32 flags, u32 p, struct span_ids *ids)
{
	if (!head || !ids || len > HEAD_SCAN_LEN)
		return 0;
	struct head_scan s = {.buf = head->b, .len = len, .flags = flags, .found = 0, .ids = ids};
	check_line(&s, p);
	return s.found;
}

// Bytes of the head one bpf_loop step examines: 8 words.
#define SCAN_CHUNK 64
#define LOW7 0x7f7f7f7f7f7f7f7fULL
#define NEWLINES 0x0a0a0a0a0a0a0a0aULL

// bpf_loop callback: finds the line feeds in 64 bytes of the head a word at
// a time, without a branch per byte, and checks the header at the start of
// each following line. The old scan paid a bpf_loop step per byte; this
// pays one per 64 bytes plus one call per header line.
static long scan_chunk(u32 idx, void *data)
{
	struct head_scan *s = data;
	u32 base = idx * SCAN_CHUNK;
	if (base >= s->len)
		return 1;
#pragma unroll
	for (u32 w = 0; w < SCAN_CHUNK / 8; w++) {
		u32 off = base + w * 8;
		if (off >= s->len)
			return 1;
		u64 x = *(u64 *)(s->buf + (off & (HEAD_SCAN_LEN - 8))) ^ NEWLINES;
		// The high bit of each byte of m is set exactly where x has a zero
		// byte, i.e. where the head has '\n'.
		u64 m = ~(((x & LOW7) + LOW7) | x | LOW7);
		if (!m)
			continue;
#pragma unroll
		for (u32 j = 0; j < 8; j++) {
			if (!(m & (0x80ULL << (j * 8))))
				continue;
			// Only lines starting with t or b can be trace context.
			u8 c = at(s, off + j + 1) | 0x20;
			if (c != 't' && c != 'b')
				continue;
			u32 flags = s->flags;
			if (s->found)
				flags &= ~EXTRACT_B3; // the first b3 stays, traceparent still wins
			int r = head_check_line((struct head_bytes *)s->buf, s->len, flags, off + j + 1, s->ids);
			if (r == 1) {
				s->found = 1;
				return 1;
			}
			if (r == 2)
				s->found = 2;
		}
	}
	return 0;
}

// Scans the r bytes of header text at buf (at most 4 KiB are read) for a
// trace context header and decodes the parent into ids: one copy and one
// pass over it in 64-byte steps. The cost grows with the block's size (see
// BENCHMARKS.md, BenchmarkHeadScan), far less than by a step per byte.
// Returns whether a parent was found.
static __always_inline int scan_headers(u64 buf, s64 r, struct span_ids *ids)
{
	if (extract_flags == 0 || !buf || r <= 0)
		return 0;
	u32 n = r > HEAD_SCAN_LEN ? HEAD_SCAN_LEN : (u32)r;
	u32 zero = 0;
	u8 *scratch = bpf_map_lookup_elem(&head_scratch, &zero);
	if (!scratch)
		return 0;
	if (n > HEAD_SCAN_LEN || n == 0)
		return 0;
	if (bpf_probe_read_user(scratch, n, (void *)buf))
		return 0;
	struct head_scan s = {
		.buf = scratch,
		.len = n,
		.flags = extract_flags,
		.found = 0,
		.ids = ids,
	};
	bpf_loop((n + SCAN_CHUNK - 1) / SCAN_CHUNK, scan_chunk, &s, 0);
	return s.found != 0;
}

#endif
